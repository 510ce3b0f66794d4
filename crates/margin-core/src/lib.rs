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
//! Requirement (`docs/margin-core.md`), mirroring `risk::Engine::margin`:
//! - `ES` = expected shortfall at `tail` of the `n` equally likely FHS losses, mixed with one
//!   entry per protocol the account has a claim on (its failure loss at its probability);
//! - `floor` = the largest `loss_f x weight_f` over the floor scenarios;
//! - `concentration` = the largest `failure_j x C^2 / (C^2 + K^2)` (`C` the owner's claim);
//! - `IM = max(ES, floor, concentration, 0) + liquidity`, `MM = ceil(IM x maintenance)`;
//!   every term an exact rational rounded up.
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
/// Parts per billion (protocol failure probabilities).
pub const PPB: u64 = 1_000_000_000;
/// Protocols in one model.
pub const PROTOCOLS_MAX: usize = 256;
/// Points of the shared liquidity grid.
pub const LIQUIDITY_POINTS_MAX: usize = 1_024;
/// Fine units (the loss vectors' `10^-15` USD) per micro-USD.
pub const FINE_PER_MICRO: i128 = 1_000_000_000;

mod bounds;
mod charges;
mod es;
pub use bounds::{Decision, RiskSummary, UnitBounds};
pub use charges::OwnerTotals;

/// Errors of the integer margin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarginError {
    #[error("risk model invalid: {0}")]
    InvalidModel(String),
    #[error("instrument {0} is not in the risk model")]
    UnknownInstrument(String),
    #[error("no current price for underlying {0}")]
    MissingPrice(String),
    #[error("account summary marked at another price of {0}: rebuild it after re-marking")]
    StaleSummary(String),
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
    /// The first `fhs_scenarios` columns are equally likely FHS scenarios (none in a model from
    /// the embedded calibration).
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
    /// Protocol failures, concentration and liquidity (empty: market risk only).
    pub charges: ChargeTables,
}

/// One protocol whose failure the model prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolArray {
    pub name: String,
    /// Probability of failure within the margin period of risk, parts per billion (rounded up).
    pub pd_ppb: u64,
    /// Loss given failure as a fraction of the claim, ppm (rounded up).
    pub lgd_ppm: u32,
    /// Instruments lost with the protocol (claim fraction 1, or issued by it): they do not
    /// survive into the failure scenario's market loss. Sorted, unique.
    pub frozen: Vec<u32>,
}

/// What an instrument adds besides its scenario P&L.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentCharges {
    /// Value of one whole unit at the model's prices, micro-USD (claims on protocols).
    pub value_musd: i64,
    /// USD notional of one whole unit, micro-USD (the liquidity charge's size).
    pub notional_musd: i64,
    /// Protocols the instrument is a claim on: (protocol index, fraction at stake in ppm).
    pub links: Vec<(u16, u32)>,
    /// The protocol whose failure collapses the token (an unbacked token's issuer).
    pub collapse: Option<u16>,
    /// The extra loss of a held collapsing token, ppm of its value: `c (1 - LGD frac)`.
    pub collapse_loss_ppm: u32,
    /// Close-out cost at each point of [`ChargeTables::liquidity_grid_musd`], micro-USD, rounded
    /// up; empty: no close-out cost (cash).
    pub liquidity_cost_musd: Vec<i128>,
}

/// The tables of the charges beside the market loss.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeTables {
    pub protocols: Vec<ProtocolArray>,
    /// `K` of the concentration weight `C^2 / (C^2 + K^2)`, milli-USD (rounded down).
    pub concentration_scale_musd_e3: i128,
    /// Notional points (micro-USD, strictly increasing from 0) at which close-out costs are given.
    pub liquidity_grid_musd: Vec<i128>,
    /// Empty, or one entry per instrument (in the order of `RiskModel::instruments`).
    pub instruments: Vec<InstrumentCharges>,
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
    /// Expected shortfall of the FHS scenarios mixed with protocol failures.
    pub expected_shortfall: UsdValue,
    /// Worst weighted floor scenario loss.
    pub floor: UsdValue,
    /// Largest concentration charge over protocols.
    pub concentration: UsdValue,
    /// Close-out cost of the positions.
    pub liquidity: UsdValue,
}

/// One instrument held by an account: the raw quantity (instrument units) and the effective
/// nano-unit quantity its loss vector was built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) ix: u32,
    pub(crate) qty: i128,
    pub(crate) effective: i128,
}

/// An account's loss vector (`10^-15` USD per scenario column) and net holdings, kept to price
/// orders incrementally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRisk {
    loss: Vec<i128>,
    /// Sorted by instrument, one entry per instrument held.
    held: Vec<Held>,
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
        // No FHS columns is allowed (a model from the embedded calibration: floor scenarios and
        // protocol failures only), no columns at all is not.
        if columns == 0 || columns > SCENARIOS_MAX {
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
        self.charges.validate(self.instruments.len())
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
        AccountRisk { loss: vec![0; self.columns()], held: Vec::new() }
    }

    /// The loss vector of `positions` at `prices` (current price per model underlying, in the
    /// order of `underlyings`; `None` where the engine has none).
    pub fn account(&self, positions: &[Position], prices: &[Option<UsdPrice>]) -> Result<AccountRisk, MarginError> {
        let mut risk = self.empty();
        self.add(&mut risk, positions, prices)?;
        Ok(risk)
    }

    /// Adds `positions` to an account's loss vector and holdings.
    pub fn add(&self, risk: &mut AccountRisk, positions: &[Position], prices: &[Option<UsdPrice>]) -> Result<(), MarginError> {
        for p in positions {
            let array = self.instruments.get(p.instrument.0 as usize).ok_or(MarginError::Overflow)?;
            let q = self.effective_qty(array, p.qty, prices)?;
            subtract_scaled(&mut risk.loss, &array.pnl, q)?;
            risk.hold(p.instrument.0, p.qty, q)?;
        }
        Ok(())
    }

    /// The requirement of an account held alone (its owner holds nothing else).
    pub fn requirement(&self, risk: &AccountRisk) -> Result<Requirement, MarginError> {
        let owner = self.owner_totals(&[risk])?;
        self.requirement_in_owner(risk, &owner)
    }

    /// The requirement of one sub-account of an owner whose totals ([`RiskModel::owner_totals`])
    /// include it: concentration and liquidity are charged at the owner's size, so splitting a
    /// book across sub-accounts never lowers the owner's total.
    pub fn requirement_in_owner(&self, risk: &AccountRisk, owner: &OwnerTotals) -> Result<Requirement, MarginError> {
        self.requirement_given(risk, owner, None)
    }

    /// The requirement, with the survivors' ES per protocol when already known (`survivors`,
    /// one per protocol, as [`RiskModel::failures`] would compute them).
    pub(crate) fn requirement_given(
        &self,
        risk: &AccountRisk,
        owner: &OwnerTotals,
        survivors: Option<&[i128]>,
    ) -> Result<Requirement, MarginError> {
        let (mut top, mut buf) = (Vec::new(), Vec::new());
        let exposed = self.exposed(risk)?;
        let p_extra: u128 = exposed.iter().map(|e| self.charges.protocols[e.protocol].pd_ppb as u128).sum();
        let market = self.market_terms(&risk.loss, p_extra, &mut top)?;
        let exposures = match survivors {
            Some(es) => charges::add_survivors(exposed, es)?,
            None => self.failures(risk, exposed, market.es_fhs_raw, &mut buf)?,
        };
        let es_mix = self.es_mixed(&top, &exposures)?.max(market.es_fhs);
        let concentration = self.concentration(&exposures, owner)?;
        let liquidity = self.liquidity(risk, owner)?;
        let core = es_mix.max(market.floor).max(concentration).max(0);
        let im_fine = core.checked_add(liquidity).ok_or(MarginError::Overflow)?;
        assert!(im_fine >= 0, "the initial margin is never negative");
        let initial = fine_to_usd(im_fine)?;
        let maintenance = UsdValue(mul_div(initial.0, self.maintenance_ppm as i128, PPM as i128, Rounding::Ceil)?);
        Ok(Requirement {
            initial,
            maintenance,
            worst_scenario: market.worst,
            expected_shortfall: fine_to_usd(es_mix.max(0))?,
            floor: fine_to_usd(market.floor)?,
            concentration: fine_to_usd(concentration)?,
            liquidity: fine_to_usd(liquidity)?,
        })
    }

    /// The requirement of an account with `delta` added (a pre-trade check: the account's loss
    /// vector plus the order's), without changing the account's vector.
    pub fn with(&self, risk: &AccountRisk, delta: &[Position], prices: &[Option<UsdPrice>]) -> Result<Requirement, MarginError> {
        if delta.is_empty() {
            return self.requirement(risk);
        }
        let after = self.with_delta(risk, delta, prices)?;
        self.requirement(&after)
    }

    /// [`RiskModel::with`] for one sub-account of an owner: `owner` are the owner's totals with
    /// the order added ([`RiskModel::owner_totals_of`] over the sub-accounts' positions, this one's
    /// with `delta`).
    pub fn with_in_owner(
        &self,
        risk: &AccountRisk,
        delta: &[Position],
        prices: &[Option<UsdPrice>],
        owner: &OwnerTotals,
    ) -> Result<Requirement, MarginError> {
        if delta.is_empty() {
            return self.requirement_in_owner(risk, owner);
        }
        let after = self.with_delta(risk, delta, prices)?;
        self.requirement_in_owner(&after, owner)
    }

    /// A copy of the account with `delta` added.
    fn with_delta(&self, risk: &AccountRisk, delta: &[Position], prices: &[Option<UsdPrice>]) -> Result<AccountRisk, MarginError> {
        let Some((first, rest)) = delta.split_first() else { return Ok(risk.clone()) };
        // The first position is applied while copying the vector (one pass instead of two).
        let array = self.instruments.get(first.instrument.0 as usize).ok_or(MarginError::Overflow)?;
        let q = self.effective_qty(array, first.qty, prices)?;
        let q = i64::try_from(q).map_err(|_| MarginError::Overflow)?;
        let mut overflow = false;
        let loss = risk
            .loss
            .iter()
            .zip(&array.pnl)
            .map(|(l, p)| {
                let (v, o) = l.overflowing_sub(q as i128 * *p as i128);
                overflow |= o;
                v
            })
            .collect();
        if overflow {
            return Err(MarginError::Overflow);
        }
        let mut after = AccountRisk { loss, held: risk.held.clone() };
        after.hold(first.instrument.0, first.qty, q as i128)?;
        self.add(&mut after, rest, prices)?;
        Ok(after)
    }

    /// The totals of an owner whose sub-accounts hold `sub_accounts` at `prices`, from the
    /// holdings alone (no loss vector is built): equal to [`RiskModel::owner_totals`] of the
    /// sub-accounts built with [`RiskModel::account`] from the same positions.
    pub fn owner_totals_of(&self, sub_accounts: &[&[Position]], prices: &[Option<UsdPrice>]) -> Result<OwnerTotals, MarginError> {
        let mut risks = Vec::with_capacity(sub_accounts.len());
        for positions in sub_accounts {
            let mut risk = AccountRisk { loss: Vec::new(), held: Vec::new() };
            for p in positions.iter() {
                let array = self.instruments.get(p.instrument.0 as usize).ok_or(MarginError::Overflow)?;
                let q = self.effective_qty(array, p.qty, prices)?;
                risk.hold(p.instrument.0, p.qty, q)?;
            }
            risks.push(risk);
        }
        self.owner_totals(&risks.iter().collect::<Vec<_>>())
    }

    /// Re-marks an account's linear instruments at new prices: each one's effective quantity is
    /// recomputed from its raw quantity and the loss vector corrected by the difference, so the
    /// result equals building the account afresh at `prices` (exactly when each instrument was
    /// added once; an instrument added in several parts rounds each part, so within one nano-unit
    /// per part).
    pub fn remark(&self, risk: &mut AccountRisk, prices: &[Option<UsdPrice>]) -> Result<(), MarginError> {
        for h in risk.held.iter_mut() {
            let array = &self.instruments[h.ix as usize];
            if array.scaling == Scaling::Fixed {
                continue;
            }
            let now = self.effective_qty(array, h.qty, prices)?;
            subtract_scaled(&mut risk.loss, &array.pnl, now - h.effective)?;
            h.effective = now;
        }
        Ok(())
    }

    /// After one price update: re-marks every account and returns its requirement (each held
    /// alone), in the order given. The batch path of the engine's health recomputation.
    pub fn remark_batch(&self, accounts: &mut [AccountRisk], prices: &[Option<UsdPrice>]) -> Result<Vec<Requirement>, MarginError> {
        let mut out = Vec::with_capacity(accounts.len());
        for a in accounts.iter_mut() {
            self.remark(a, prices)?;
            out.push(self.requirement(a)?);
        }
        Ok(out)
    }

    /// After the price of one underlying moved: re-marks only the accounts holding a linear
    /// instrument on it and returns their indices and new requirements (each held alone); the
    /// others' requirements have not changed. The batch path of the engine's health
    /// recomputation after one `set_price`.
    pub fn remark_underlying(
        &self,
        accounts: &mut [AccountRisk],
        underlying: u16,
        prices: &[Option<UsdPrice>],
    ) -> Result<Vec<(usize, Requirement)>, MarginError> {
        let moved = |h: &Held| self.instruments[h.ix as usize].scaling == Scaling::Linear { underlying };
        let mut out = Vec::new();
        for (a, risk) in accounts.iter_mut().enumerate() {
            if !risk.held.iter().any(moved) {
                continue;
            }
            self.remark(risk, prices)?;
            out.push((a, self.requirement(risk)?));
        }
        Ok(out)
    }

    /// Nano-units, away from zero, scaled by the price ratio for a linear instrument.
    pub(crate) fn effective_qty(&self, array: &InstrumentArray, qty: i128, prices: &[Option<UsdPrice>]) -> Result<i128, MarginError> {
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

    /// Records `qty` (raw) and `effective` (nano-units) more of instrument `ix`.
    fn hold(&mut self, ix: u32, qty: i128, effective: i128) -> Result<(), MarginError> {
        hold(&mut self.held, ix, qty, effective)
    }
}

/// Records `qty` (raw) and `effective` (nano-units) more of instrument `ix` in sorted holdings.
pub(crate) fn hold(held: &mut Vec<Held>, ix: u32, qty: i128, effective: i128) -> Result<(), MarginError> {
    match held.binary_search_by_key(&ix, |h| h.ix) {
        Ok(k) => {
            let h = &mut held[k];
            h.qty = h.qty.checked_add(qty).ok_or(MarginError::Overflow)?;
            h.effective = h.effective.checked_add(effective).ok_or(MarginError::Overflow)?;
        }
        Err(k) => held.insert(k, Held { ix, qty, effective }),
    }
    Ok(())
}

/// `loss[s] -= q x pnl[s]` for every column: i64 arrays, i128 products, checked.
fn subtract_scaled(loss: &mut [i128], pnl: &[i64], q: i128) -> Result<(), MarginError> {
    if q == 0 {
        return Ok(());
    }
    // A quantity beyond i64 takes the checked path.
    if let Ok(q) = i64::try_from(q) {
        // i64 x i64 widened to i128: one multiply instruction, and the product cannot overflow.
        let mut overflow = false;
        for (l, p) in loss.iter_mut().zip(pnl) {
            let (v, o) = l.overflowing_sub(q as i128 * *p as i128);
            *l = v;
            overflow |= o;
        }
        return if overflow { Err(MarginError::Overflow) } else { Ok(()) };
    }
    for (l, p) in loss.iter_mut().zip(pnl) {
        let d = q.checked_mul(*p as i128).ok_or(MarginError::Overflow)?;
        *l = l.checked_sub(d).ok_or(MarginError::Overflow)?;
    }
    Ok(())
}

/// `a x b / d` rounded up: in i128 when the product fits (the common case), else in 256 bits.
pub(crate) fn mul_div_ceil(a: i128, b: i128, d: i128) -> Result<i128, MarginError> {
    match a.checked_mul(b) {
        Some(p) if d > 0 => Ok(money::div_round(p, d, Rounding::Ceil)?),
        _ => Ok(mul_div(a, b, d, Rounding::Ceil)?),
    }
}

/// Fine units (`10^-15` USD) to a [`UsdValue`] (`10^-18`): exact.
pub(crate) fn fine_to_usd(x: i128) -> Result<UsdValue, MarginError> {
    Ok(UsdValue(x.checked_mul(1_000).ok_or(MarginError::Overflow)?))
}

#[cfg(test)]
mod tests;
