//! # oracle: guarded prices for margin and liquidation
//!
//! One manipulated print must neither trigger mass liquidations nor inflate collateral
//! (`docs/oracle-guards.md`). Per symbol, a [`Guard`] keeps the latest print of each configured
//! source and turns them into a [`Reading`]:
//! 1. **Staleness:** a source whose latest print is older than `staleness_ms_max` does not count;
//!    with fewer than `quorum` fresh sources there is no price (a typed error, never the last
//!    price silently reused).
//! 2. **Median** of the fresh sources: one bad source among three moves nothing. With an even
//!    count the two middle prints bound an interval and no majority names a price inside it, so
//!    the guarded price moves only to the nearest point of that interval (not at all when it is
//!    already inside): one hostile source of two fresh ones cannot drag the price, however often
//!    it prints. The reported `median` is the interval's midpoint, rounded down.
//! 3. **Maximum move per update:** the guarded price moves from the previous guarded price by at
//!    most `max_move_bps`; a larger move is reached over several updates.
//! 4. **Stable price** (after Mango v4's stable-price model, without its delay buffer): it
//!    follows the guarded price, moving at most `stable_growth_bps_per_hour x hours elapsed`
//!    relative per update. Collateral is valued at `min(guarded, stable)` and liabilities at
//!    `max(guarded, stable)`, so a pump is believed slowly and a crash at once.
//!
//! ## What it must never do
//! Read a clock (time arrives as input), use floating point, or accept a print from the future,
//! a repeated or older print of a source, or a non-positive price.
//!
//! ## Invariants
//! - `guarded` lies within `max_move_bps` of the previous guarded price and between the previous
//!   guarded price and the median.
//! - `stable` lies between its previous value and `guarded`.

use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// Sources per symbol.
pub const SOURCES_MAX: usize = 16;
/// Basis points in one.
const BPS: i128 = 10_000;
/// Milliseconds per hour.
const HOUR_MS: i128 = 3_600_000;

/// Errors of the guard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OracleError {
    #[error("invalid oracle parameters: {0}")]
    InvalidParams(&'static str),
    #[error("unknown source {0}")]
    UnknownSource(usize),
    #[error("price must be positive")]
    NonPositivePrice,
    #[error("print from the future: at {at_ms} ms, now {now_ms} ms")]
    FuturePrint { at_ms: u64, now_ms: u64 },
    #[error("print not newer than the source's last (at {at_ms} ms, last {last_ms} ms)")]
    OutOfOrder { at_ms: u64, last_ms: u64 },
    #[error("only {fresh} fresh sources, {quorum} needed")]
    NotEnoughFreshSources { fresh: usize, quorum: usize },
    #[error("time went backwards")]
    TimeBackwards,
    #[error("arithmetic overflow")]
    Overflow,
}

impl From<money::MoneyError> for OracleError {
    fn from(_: money::MoneyError) -> OracleError {
        OracleError::Overflow
    }
}

/// Guard parameters of one symbol (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardParams {
    pub sources: usize,
    pub quorum: usize,
    pub staleness_ms_max: u64,
    pub max_move_bps: u32,
    pub stable_growth_bps_per_hour: u32,
}

impl GuardParams {
    pub fn validate(&self) -> Result<(), OracleError> {
        let bad = OracleError::InvalidParams;
        if self.sources == 0 || self.sources > SOURCES_MAX || self.quorum == 0 || self.quorum > self.sources {
            return Err(bad("1 <= quorum <= sources <= 16"));
        }
        if self.staleness_ms_max == 0 || self.max_move_bps == 0 || self.max_move_bps as i128 >= BPS {
            return Err(bad("positive staleness, 0 < max move < 10000 bps"));
        }
        if self.stable_growth_bps_per_hour == 0 {
            return Err(bad("the stable price must be able to move"));
        }
        Ok(())
    }
}

/// One guarded reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// Median of the fresh sources.
    pub median: i128,
    /// The median after the maximum move per update.
    pub guarded: i128,
    pub stable: i128,
    /// Fresh sources counted.
    pub fresh: usize,
}

impl Reading {
    /// The price collateral is valued at.
    pub fn collateral(&self) -> i128 {
        self.guarded.min(self.stable)
    }

    /// The price liabilities are valued at.
    pub fn liability(&self) -> i128 {
        self.guarded.max(self.stable)
    }
}

/// The guard of one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guard {
    params: GuardParams,
    /// Latest print per source: (price, at_ms).
    last: Vec<Option<(i128, u64)>>,
    /// Previous reading and when it was taken.
    previous: Option<(Reading, u64)>,
}

impl Guard {
    pub fn new(params: GuardParams) -> Result<Guard, OracleError> {
        params.validate()?;
        Ok(Guard { params, last: vec![None; params.sources], previous: None })
    }

    /// The parameters the guard was built with.
    pub fn params(&self) -> GuardParams {
        self.params
    }

    /// The last reading (`None` before the first quorum).
    pub fn last_reading(&self) -> Option<Reading> {
        self.previous.map(|(r, _)| r)
    }

    /// Records a print of `source` taken at `at_ms`, seen at `now_ms`.
    pub fn observe(&mut self, source: usize, price: i128, at_ms: u64, now_ms: u64) -> Result<(), OracleError> {
        let slot = self.last.get_mut(source).ok_or(OracleError::UnknownSource(source))?;
        if price <= 0 {
            return Err(OracleError::NonPositivePrice);
        }
        if at_ms > now_ms {
            return Err(OracleError::FuturePrint { at_ms, now_ms });
        }
        if let Some((_, last_ms)) = *slot
            && at_ms <= last_ms
        {
            return Err(OracleError::OutOfOrder { at_ms, last_ms });
        }
        *slot = Some((price, at_ms));
        Ok(())
    }

    /// The reading at `now_ms` (advances the guarded and stable prices).
    pub fn update(&mut self, now_ms: u64) -> Result<Reading, OracleError> {
        let (low, high, fresh) = self.median(now_ms)?;
        let median = low + (high - low) / 2;
        let reading = match self.previous {
            None => Reading { median, guarded: median, stable: median, fresh },
            Some((prev, at)) => {
                let elapsed = now_ms.checked_sub(at).ok_or(OracleError::TimeBackwards)?;
                // With an even count of fresh sources no majority names a price inside the two
                // middle prints: the guarded price moves only as far as the nearest of them, so one
                // source of two cannot drag it (module doc, "Median").
                let target = prev.guarded.clamp(low, high);
                let guarded = clamp_move(prev.guarded, target, self.params.max_move_bps as i128, BPS)?;
                let growth = self.params.stable_growth_bps_per_hour as i128 * elapsed as i128;
                let stable = clamp_move(prev.stable, guarded, growth, HOUR_MS * BPS)?;
                Reading { median, guarded, stable, fresh }
            }
        };
        self.check(&reading);
        self.previous = Some((reading, now_ms));
        Ok(reading)
    }

    /// The two middle fresh prints (equal for an odd count) and how many are fresh.
    fn median(&self, now_ms: u64) -> Result<(i128, i128, usize), OracleError> {
        let mut fresh: Vec<i128> = self
            .last
            .iter()
            .flatten()
            .filter(|(_, at)| now_ms.saturating_sub(*at) <= self.params.staleness_ms_max)
            .map(|(p, _)| *p)
            .collect();
        if fresh.len() < self.params.quorum {
            return Err(OracleError::NotEnoughFreshSources { fresh: fresh.len(), quorum: self.params.quorum });
        }
        fresh.sort_unstable();
        let n = fresh.len();
        let (low, high) = if n % 2 == 1 { (fresh[n / 2], fresh[n / 2]) } else { (fresh[n / 2 - 1], fresh[n / 2]) };
        Ok((low, high, n))
    }

    fn check(&self, r: &Reading) {
        if let Some((prev, _)) = self.previous {
            let between = |x: i128, a: i128, b: i128| a.min(b) <= x && x <= a.max(b);
            assert!(between(r.guarded, prev.guarded, r.median), "guarded moves toward the median only");
            assert!(between(r.stable, prev.stable, r.guarded), "stable moves toward guarded only");
        }
    }
}

/// Moves `from` toward `to` by at most `from x num / den` (relative), rounding toward `from`.
fn clamp_move(from: i128, to: i128, num: i128, den: i128) -> Result<i128, OracleError> {
    let step = mul_div(from, num, den, Rounding::Floor)?;
    let lo = from.checked_sub(step).ok_or(OracleError::Overflow)?.max(1);
    let hi = from.checked_add(step).ok_or(OracleError::Overflow)?;
    Ok(to.clamp(lo, hi))
}

#[cfg(test)]
mod tests;
