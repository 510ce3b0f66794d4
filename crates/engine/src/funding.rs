//! Perp funding and mark-to-market, run by `advance_time` at every funding boundary it crosses
//! (multiples of the market's `funding_interval_ms` since the epoch; see `docs/clearing.md`,
//! "In the engine").
//!
//! With `index` the oracle price of the underlying in settlement units (`price(underlying) /
//! price(quote)`, floor) and `mark` the book's mid when both sides rest (else the index), a
//! *premium print* `p = (mark - index) / index` (floor, 18 decimals) is taken after every
//! `set_price` of the underlying or the settlement asset. The premium of a funding step from the
//! last boundary `L` to the boundary `B` is their time-weighted average: each print holds until
//! the next one (the last print before `L` holds from `L`),
//! `premium = floor(sum_i p_i x (t_(i+1) - t_i) / (B - S))` over `[S, B)`, where `S = max(L, time
//! of the market's first print)`; with no print before `B`, or `S = B`, the premium is the print
//! in force at `B` (taken at the boundary when there was none). Then `rate = clamp(premium, -cap,
//! cap)` per interval, times the intervals crossed in this step. Longs pay
//! shorts `|q| * index * rate` when the rate is positive, shorts pay longs when it is negative
//! (`clearing::funding::settle_funding`: payers rounded up, receivers down, the residue to
//! `@house`, summing to exactly zero), all through `@clearing/<market>`. Then every position's
//! unrealised P&L at the mark is realised into the settlement asset (variation margin) and its
//! entry reset to the mark.
//!
//! Everything is computed before anything moves: a missing oracle price (or an arithmetic
//! limit) rejects the `advance_time` with nothing changed.

use crate::derivatives::Contract;
use crate::*;
use clearing::{ONE_E18, Price};
use money::{Rounding, mul_div};

/// The largest premium print, 10^-18 (100%: a mark at twice the index or at zero); a print
/// beyond it counts as it. The rate is capped at 100% per interval anyway (`funding_cap_bps`).
pub const PREMIUM_PRINT_MAX: i128 = ONE_E18;

/// The premium prints of a perp's current funding interval, summed over time (state: hashed and
/// in snapshots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PremiumAverage {
    /// `sum p_i x duration_i` (10^-18 x ms) over the interval, up to the last print's time.
    pub sum_e18_ms: i128,
    /// When the sum starts: the last boundary, or the market's first print if later.
    pub since_ms: u64,
    /// The last print: (time, premium 10^-18); it holds until the next print.
    pub last: Option<(u64, i128)>,
}

impl PremiumAverage {
    /// Adds a print at `now_ms` (never before the previous one). Prints are within
    /// [`PREMIUM_PRINT_MAX`] and times below 2200-01-01 (about 7.3 x 10^12 ms), so the sum stays
    /// below 10^31: it cannot overflow.
    fn print(&mut self, now_ms: u64, premium_e18: i128) {
        assert!(premium_e18.abs() <= PREMIUM_PRINT_MAX, "a premium print is clamped");
        if let Some((t, p)) = self.last {
            let held = now_ms.checked_sub(t.max(self.since_ms)).expect("prints in time order, never before the interval");
            self.sum_e18_ms += p * i128::from(held);
        } else {
            self.since_ms = now_ms;
        }
        self.last = Some((now_ms, premium_e18));
    }

    /// The average over `[since, boundary)` (the last print holding to the boundary, floor), or
    /// `None` without a print or for an interval of no length.
    fn average(&self, boundary_ms: u64) -> Option<i128> {
        let (t, p) = self.last?;
        let span = boundary_ms.checked_sub(self.since_ms).filter(|s| *s > 0)?;
        let held = boundary_ms.checked_sub(t.max(self.since_ms))?;
        Some((self.sum_e18_ms + p * i128::from(held)).div_euclid(i128::from(span)))
    }

    /// What a snapshot may carry: a print within bounds, at or after the start of the sum.
    pub(crate) fn well_formed(&self) -> bool {
        match self.last {
            None => self.sum_e18_ms == 0,
            Some((_, p)) => p.abs() <= PREMIUM_PRINT_MAX && self.sum_e18_ms.abs() <= PREMIUM_PRINT_MAX * i128::from(u64::MAX),
        }
    }

    /// Starts the next interval at `boundary_ms`, the last print holding into it.
    fn restart(&mut self, boundary_ms: u64) {
        self.sum_e18_ms = 0;
        if self.last.is_some() {
            self.since_ms = boundary_ms;
        }
    }
}

/// What one perp market's indices do at a boundary, computed before anything moves.
#[derive(Debug, Clone)]
pub(crate) struct FundingPlan {
    pub m: u16,
    pub boundary_ms: u64,
    pub rate_e18: i128,
    pub mark_e18: i128,
    pub index_e18: i128,
    /// The funding index after the boundary; `None` without holders (only the clock moves).
    pub funding_e18: Option<i128>,
}

impl Engine {
    /// The oracle index of a derivative market's underlying in settlement units (18 decimals).
    pub(crate) fn index_price_e18(&self, m: u16) -> Result<i128, EngineError> {
        let market = &self.markets[m as usize];
        let quote = &self.assets[market.quote.0 as usize].symbol;
        let price = |symbol: &str| {
            self.prices.get(symbol).map(|(p, _)| p.usd_e18()).ok_or_else(|| EngineError::MissingPrice { symbol: symbol.into() })
        };
        let (underlying_usd, quote_usd) = (price(&market.def.base)?, price(quote)?);
        mul_div(underlying_usd, ONE_E18, quote_usd, Rounding::Floor)
            .map_err(|e| EngineError::Overflow { what: format!("index price: {e}") })
    }

    /// The mark: the book's mid when both sides rest, else the index.
    fn mark_price_e18(&self, m: u16, index_e18: i128) -> Result<i128, EngineError> {
        let market = &self.markets[m as usize];
        let (Some(bid), Some(ask)) = (market.book.best_bid(), market.book.best_ask()) else { return Ok(index_e18) };
        let overflow = || EngineError::Overflow { what: format!("mark price of {}", market.def.id) };
        let sum = market.price_e18(book::Price(bid.0)).and_then(|b| market.price_e18(book::Price(ask.0)).map(|a| (a, b)));
        let (a, b) = sum.map_err(|_| overflow())?;
        Ok(a.checked_add(b).ok_or_else(overflow)? / 2)
    }

    /// Takes a premium print on every live perp market whose index `symbol` moves (its
    /// underlying or settlement asset), after a `set_price`. A market whose index is not known
    /// yet (the other price missing) takes none.
    pub(crate) fn record_premiums(&mut self, symbol: &str) {
        for m in 0..self.markets.len() as u16 {
            let market = &self.markets[m as usize];
            let perp = market.derivative.as_ref().is_some_and(|d| matches!(d.contract, Contract::Perp { .. }));
            if !perp || (market.def.base != symbol && self.assets[market.quote.0 as usize].symbol != symbol) {
                continue;
            }
            // No index yet (the other price missing), or a mark beyond 18-decimal arithmetic
            // (not for book prices within the market's limits): no print.
            let Ok(index_e18) = self.index_price_e18(m) else { continue };
            let Ok(mark_e18) = self.mark_price_e18(m, index_e18) else { continue };
            let premium = premium_of(mark_e18, index_e18);
            let now_ms = self.now_ms;
            let d = self.markets[m as usize].derivative.as_mut().expect("a perp market");
            d.premium.print(now_ms, premium);
        }
    }

    /// The funding of a perp market for the boundaries `now_ms` crosses (`None` if none).
    pub(crate) fn plan_funding(&self, m: u16, now_ms: u64) -> Result<Option<FundingPlan>, EngineError> {
        let market = &self.markets[m as usize];
        let Some(d) = &market.derivative else { return Ok(None) };
        let Contract::Perp { params } = d.contract else { return Ok(None) };
        let interval_ms = params.interval_ms();
        let boundary_ms = now_ms / interval_ms * interval_ms;
        let empty = FundingPlan { m, boundary_ms, rate_e18: 0, mark_e18: 0, index_e18: 0, funding_e18: None };
        let last_ms = match d.last_funding_ms {
            // The first clock reading after the market opened starts its schedule.
            None => return Ok(Some(empty)),
            Some(last) if boundary_ms <= last => return Ok(None),
            Some(last) => last,
        };
        if d.holders == 0 {
            return Ok(Some(empty));
        }
        let refused = |e: clearing::ClearingError| EngineError::ClearingFailed { market: market.def.id.clone(), why: e.to_string() };
        let index_e18 = self.index_price_e18(m)?;
        let mark_e18 = self.mark_price_e18(m, index_e18)?;
        let premium = match d.premium.average(boundary_ms) {
            Some(average) => average,
            None => d.premium.last.map_or_else(|| premium_of(mark_e18, index_e18), |(_, p)| p),
        };
        let intervals = i128::from((boundary_ms - last_ms) / interval_ms);
        let rate_e18 = params.rate_from_premium(premium).map_err(refused)?.checked_mul(intervals).unwrap_or(i128::MAX);
        let overflow = || EngineError::Overflow { what: format!("funding index of {}", market.def.id) };
        let step = crate::settle::funding_step(index_e18, rate_e18).map_err(|_| overflow())?;
        let funding_e18 = d.indices.funding_e18.checked_add(step).ok_or_else(overflow)?;
        // The mark must value every position the market may hold (as a fill would).
        d.spec.value_e18(d.open_interest, Price(mark_e18), Rounding::Ceil).map_err(refused)?;
        Ok(Some(FundingPlan { m, boundary_ms, rate_e18, mark_e18, index_e18, funding_e18: Some(funding_e18) }))
    }

    /// Applies a funding plan: the clock of the market, and with holders its funding index and
    /// mark in O(1); the holders settle later ([`crate::settle`]).
    pub(crate) fn apply_funding(&mut self, plan: FundingPlan, seq: u64, events: &mut Vec<Event>) {
        let m = plan.m;
        let d = self.markets[m as usize].derivative.as_mut().expect("a perp market");
        d.last_funding_ms = Some(plan.boundary_ms);
        d.premium.restart(plan.boundary_ms);
        let Some(funding_e18) = plan.funding_e18 else { return };
        d.indices.funding_e18 = funding_e18;
        d.indices.mark_e18 = plan.mark_e18;
        d.indices.boundaries += 1;
        self.bump_epoch(m);
        let market = &self.markets[m as usize];
        let scale = self.assets[market.quote.0 as usize].scale;
        let e18 = Scale::new(clearing::E18_DECIMALS).expect("18 decimals is a scale");
        let unit_e18 = market.derivative.as_ref().expect("a perp market").unit_e18;
        events.push(Event::FundingIndexMoved {
            seq,
            market: market.def.id.clone(),
            rate: money::format_decimal(plan.rate_e18, e18),
            index: money::format_decimal(plan.index_e18 / unit_e18, scale),
            mark: money::format_decimal(plan.mark_e18 / unit_e18, scale),
            funding_index: money::format_decimal(funding_e18, e18),
        });
    }
}
/// `(mark - index) / index`, 18 decimals, floor, within [`PREMIUM_PRINT_MAX`] (the index is
/// positive: a price quotient of positive prices).
fn premium_of(mark_e18: i128, index_e18: i128) -> i128 {
    let limit = if mark_e18 >= index_e18 { PREMIUM_PRINT_MAX } else { -PREMIUM_PRINT_MAX };
    let premium = mark_e18.checked_sub(index_e18).and_then(|d| mul_div(d, ONE_E18, index_e18.max(1), Rounding::Floor).ok());
    premium.map_or(limit, |p| p.clamp(-PREMIUM_PRINT_MAX, PREMIUM_PRINT_MAX))
}

/// Everything an `advance_time` clears, computed before the clock moves.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClockPlan {
    indices: Vec<(AssetIdx, clearing::interest::InterestIndex)>,
    funding: Vec<FundingPlan>,
    expiries: Vec<crate::expiry::ExpiryPlan>,
}

impl Engine {
    /// Borrow interest, funding boundaries and option expiries up to `now_ms`; an error here
    /// rejects the `advance_time` before anything changed.
    pub(crate) fn plan_clock(&self, now_ms: u64) -> Result<ClockPlan, EngineError> {
        let mut plan = ClockPlan { indices: self.accrued_indices(now_ms)?, ..ClockPlan::default() };
        for m in 0..self.markets.len() as u16 {
            plan.funding.extend(self.plan_funding(m, now_ms)?);
            plan.expiries.extend(self.plan_expiry(m, now_ms));
        }
        Ok(plan)
    }

    /// Applies a clock plan after the clock moved: interest indices, funding, expiries.
    pub(crate) fn apply_clock(&mut self, plan: ClockPlan, seq: u64, events: &mut Vec<Event>) {
        self.borrow_indices.extend(plan.indices);
        for funding in plan.funding {
            self.apply_funding(funding, seq, events);
        }
        for expiry in plan.expiries {
            self.apply_expiry(expiry, seq, events);
        }
    }
}
