//! # margin-core: integer portfolio margin inside the engine
//!
//! The engine must replay bit for bit on any machine, so its margin decisions cannot depend on a
//! platform's floating point. After SPAN, the `risk` crate computes (in f64, documented and
//! backtested) each instrument's P&L per whole unit under every scenario, quantizes it to
//! integers and publishes it as a [`RiskModel`]; an operator command installs the model in the
//! engine (identified by its [`RiskModel::digest`]); this crate aggregates an account's positions
//! over the model's scenarios in integers only.
//!
//! Units:
//! - A position's quantity is an integer count of `10^-decimals` of one whole unit of the
//!   instrument (the instrument's `decimals`; for a token, its ledger scale).
//! - Arrays hold P&L per whole unit in micro-USD (`PNL_DECIMALS = 6`), as `i64`.
//! - Quantities are brought to nano-units (`QTY_DECIMALS = 9`) rounding away from zero, then a
//!   `Linear` instrument's quantity is scaled by `price_now / ref_price` (away from zero), so a
//!   delta-one array computed at the model's prices follows the engine's current prices.
//! - Loss vectors are `i128` in `10^-15` USD (nano-units x micro-USD); requirements are
//!   [`UsdValue`] (18 decimals), rounded up.
//!
//! Requirement (`docs/margin-core.md`):
//! - `ES` = the mean of the `k = ceil(tail x n)` largest of the `n` FHS losses, rounded up;
//! - `floor` = the largest `loss_f x weight_f` over the floor scenarios, rounded up;
//! - `IM = max(ES, floor, 0)`, `MM = ceil(IM x maintenance)`.
//!
//! ## Invariants
//! - Integer only; every rounding is against the account (losses and requirements round up).
//! - Every container has a limit, checked by [`RiskModel::validate`]; overflow is a typed error.
//! - The result does not depend on the order of positions (sums of integers).

use money::{MoneyError, Rounding, UsdPrice, UsdValue, mul_div};
use serde::{Deserialize, Serialize};

/// Scenario columns in one model (FHS and floor together).
pub const SCENARIOS_MAX: usize = 16_384;
/// Instruments in one model.
pub const INSTRUMENTS_MAX: usize = 1_024;
/// Underlyings whose prices scale linear instruments.
pub const UNDERLYINGS_MAX: usize = 256;
/// Bytes of a label or an id.
pub const NAME_LEN_MAX: usize = 64;
/// Decimals of the P&L in arrays (micro-USD per whole unit).
pub const PNL_DECIMALS: u32 = 6;
/// Decimals of quantities inside the aggregation (nano-units).
pub const QTY_DECIMALS: u32 = 9;
/// Parts per million.
pub const PPM: u32 = 1_000_000;

/// Errors of the integer margin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarginError {
    #[error("risk model invalid: {0}")]
    InvalidModel(String),
    #[error("instrument {0} is not in the risk model")]
    UnknownInstrument(String),
    #[error("no current price for underlying {0}")]
    MissingPrice(String),
    #[error("arithmetic overflow in the margin aggregation")]
    Overflow,
}

impl From<MoneyError> for MarginError {
    fn from(_: MoneyError) -> MarginError {
        MarginError::Overflow
    }
}

/// How an instrument's array follows the current price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scaling {
    /// The array is P&L per unit at the model's prices, used as is (options, LP shares, pegged
    /// tokens valued by their own factor).
    Fixed,
    /// Delta-one on an underlying: P&L scales with `price_now / ref_price` of that underlying.
    Linear { underlying: u16 },
}

/// One underlying whose current price scales linear instruments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Underlying {
    pub name: String,
    /// The price the arrays were computed at.
    pub ref_price: UsdPrice,
}

/// One instrument's quantized scenario P&L.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentArray {
    /// Asset symbol for a token, instrument id for a derivative.
    pub id: String,
    /// Quantities are counts of `10^-decimals` whole units.
    pub decimals: u8,
    pub scaling: Scaling,
    /// P&L of one whole unit held long, micro-USD, one entry per scenario column.
    pub pnl: Vec<i64>,
}

/// A risk model as installed in the engine: scenario columns and per-instrument arrays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskModel {
    pub label: String,
    /// The instant the arrays were computed at (ms since the epoch).
    pub as_of_ms: u64,
    /// The first `fhs_scenarios` columns are equally likely FHS scenarios.
    pub fhs_scenarios: u32,
    /// The remaining columns are floor scenarios; each loss counts at this weight (ppm).
    pub floor_weights_ppm: Vec<u32>,
    /// Expected-shortfall tail probability (ppm; 10_000 = 99% ES).
    pub tail_ppm: u32,
    /// Maintenance margin as a fraction of initial margin (ppm).
    pub maintenance_ppm: u32,
    pub underlyings: Vec<Underlying>,
    /// Sorted by id, unique.
    pub instruments: Vec<InstrumentArray>,
}

/// Index of an instrument in a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstrumentIx(pub u32);

/// A position: an instrument of the model and a signed quantity in the instrument's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub instrument: InstrumentIx,
    pub qty: i128,
}

/// Margin requirements of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    pub initial: UsdValue,
    pub maintenance: UsdValue,
    /// The scenario column of the largest loss (for the explanation).
    pub worst_scenario: u32,
}

/// An account's loss vector (`10^-15` USD per scenario column), kept to price orders
/// incrementally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRisk {
    loss: Vec<i128>,
}

impl RiskModel {
    /// Scenario columns (FHS then floor).
    pub fn columns(&self) -> usize {
        self.fhs_scenarios as usize + self.floor_weights_ppm.len()
    }

    /// Checks every bound and rule; a model that passes cannot make the aggregation panic.
    pub fn validate(&self) -> Result<(), MarginError> {
        let bad = |m: &str| Err(MarginError::InvalidModel(m.to_string()));
        let columns = self.columns();
        if self.fhs_scenarios == 0 || columns > SCENARIOS_MAX {
            return bad("scenario count out of range");
        }
        if self.tail_ppm == 0 || self.tail_ppm > PPM || self.maintenance_ppm > PPM {
            return bad("tail or maintenance out of range");
        }
        if self.floor_weights_ppm.iter().any(|w| *w > PPM) {
            return bad("floor weight above one");
        }
        if self.label.len() > NAME_LEN_MAX || self.underlyings.len() > UNDERLYINGS_MAX {
            return bad("label or underlyings too long");
        }
        if self.underlyings.iter().any(|u| u.ref_price.0 <= 0 || u.name.len() > NAME_LEN_MAX) {
            return bad("underlying reference price must be positive");
        }
        if self.instruments.len() > INSTRUMENTS_MAX {
            return bad("too many instruments");
        }
        if self.instruments.windows(2).any(|w| w[0].id >= w[1].id) {
            return bad("instruments not sorted and unique");
        }
        for i in &self.instruments {
            if i.pnl.len() != columns || i.id.len() > NAME_LEN_MAX || i.decimals > 36 {
                return bad("instrument array shape");
            }
            if let Scaling::Linear { underlying } = i.scaling
                && underlying as usize >= self.underlyings.len()
            {
                return bad("linear instrument names no underlying");
            }
        }
        Ok(())
    }

    /// BLAKE3 of the canonical (postcard) encoding: the model's identity in the journal.
    pub fn digest(&self) -> [u8; 32] {
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        *blake3::hash(&bytes).as_bytes()
    }

    /// The instrument with this id.
    pub fn instrument(&self, id: &str) -> Option<InstrumentIx> {
        let i = self.instruments.binary_search_by(|a| a.id.as_str().cmp(id)).ok()?;
        Some(InstrumentIx(i as u32))
    }

    /// The quantity decimals of an instrument.
    pub fn decimals(&self, ix: InstrumentIx) -> u8 {
        self.instruments[ix.0 as usize].decimals
    }

    /// An empty account's risk (no positions).
    pub fn empty(&self) -> AccountRisk {
        AccountRisk { loss: vec![0; self.columns()] }
    }

    /// The loss vector of `positions` at `prices` (current price per model underlying, in the
    /// order of `underlyings`; `None` where the engine has none).
    pub fn account(&self, positions: &[Position], prices: &[Option<UsdPrice>]) -> Result<AccountRisk, MarginError> {
        let mut risk = self.empty();
        self.add(&mut risk, positions, prices)?;
        Ok(risk)
    }

    /// Adds `positions` to an account's loss vector.
    pub fn add(&self, risk: &mut AccountRisk, positions: &[Position], prices: &[Option<UsdPrice>]) -> Result<(), MarginError> {
        for p in positions {
            let array = self.instruments.get(p.instrument.0 as usize).ok_or(MarginError::Overflow)?;
            let q = self.effective_qty(array, p.qty, prices)?;
            if q == 0 {
                continue;
            }
            for (l, pnl) in risk.loss.iter_mut().zip(&array.pnl) {
                let d = q.checked_mul(*pnl as i128).ok_or(MarginError::Overflow)?;
                *l = l.checked_sub(d).ok_or(MarginError::Overflow)?;
            }
        }
        Ok(())
    }

    /// The requirement of an account's loss vector.
    pub fn requirement(&self, risk: &AccountRisk) -> Result<Requirement, MarginError> {
        let n = self.fhs_scenarios as usize;
        let (fhs, floor) = risk.loss.split_at(n);
        let k = (n as u128 * self.tail_ppm as u128).div_ceil(PPM as u128).max(1) as usize;
        let mut tail: Vec<(i128, u32)> = fhs.iter().enumerate().map(|(i, l)| (*l, i as u32)).collect();
        let key = |a: &(i128, u32), b: &(i128, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if k < tail.len() {
            tail.select_nth_unstable_by(k - 1, key);
        }
        tail[..k].sort_by(key);
        let sum = tail[..k].iter().try_fold(0i128, |s, (l, _)| s.checked_add(*l)).ok_or(MarginError::Overflow)?;
        let es = div_ceil(sum, k as i128)?;
        let mut worst = (es, tail[0].1);
        for (f, (l, w)) in floor.iter().zip(&self.floor_weights_ppm).enumerate() {
            let weighted = mul_div(*l, *w as i128, PPM as i128, Rounding::Ceil)?;
            if weighted > worst.0 {
                worst = (weighted, (n + f) as u32);
            }
        }
        let im_fine = worst.0.max(0);
        // 10^-15 USD to 10^-18 USD: exact.
        let initial = UsdValue(im_fine.checked_mul(1_000).ok_or(MarginError::Overflow)?);
        let maintenance = UsdValue(mul_div(initial.0, self.maintenance_ppm as i128, PPM as i128, Rounding::Ceil)?);
        Ok(Requirement { initial, maintenance, worst_scenario: worst.1 })
    }

    /// The requirement of an account with `delta` added (a pre-trade check: the account's loss
    /// vector plus the order's), without changing the account's vector.
    pub fn with(&self, risk: &AccountRisk, delta: &[Position], prices: &[Option<UsdPrice>]) -> Result<Requirement, MarginError> {
        let mut after = risk.clone();
        self.add(&mut after, delta, prices)?;
        self.requirement(&after)
    }

    /// Nano-units, away from zero, scaled by the price ratio for a linear instrument.
    fn effective_qty(&self, array: &InstrumentArray, qty: i128, prices: &[Option<UsdPrice>]) -> Result<i128, MarginError> {
        let rounding = if qty >= 0 { Rounding::Ceil } else { Rounding::Floor };
        let dec = array.decimals as u32;
        let q = if dec >= QTY_DECIMALS {
            mul_div(qty, 1, 10i128.pow(dec - QTY_DECIMALS), rounding)?
        } else {
            qty.checked_mul(10i128.pow(QTY_DECIMALS - dec)).ok_or(MarginError::Overflow)?
        };
        match array.scaling {
            Scaling::Fixed => Ok(q),
            Scaling::Linear { underlying } => {
                let u = &self.underlyings[underlying as usize];
                let now = prices.get(underlying as usize).copied().flatten();
                let now = now.ok_or_else(|| MarginError::MissingPrice(u.name.clone()))?;
                Ok(mul_div(q, now.0, u.ref_price.0, rounding)?)
            }
        }
    }
}

impl AccountRisk {
    /// The loss per scenario column, `10^-15` USD.
    pub fn losses(&self) -> &[i128] {
        &self.loss
    }
}

fn div_ceil(n: i128, d: i128) -> Result<i128, MarginError> {
    Ok(money::div_round(n, d, Rounding::Ceil)?)
}

#[cfg(test)]
mod tests;
