//! The pre-trade bound: an upper bound on an account's initial margin with an order added, from a
//! small per-account summary and per-instrument unit bounds, without touching the scenario
//! vectors. Derivation and proof: `docs/margin-core.md` ("Pre-trade bound").

use crate::charges::{Exposure, OwnerTotals};
use crate::es::{es_from_top, es_upper_from_top, k_needed};
use crate::{AccountRisk, Held, MarginError, PPB, PPM, Position, Requirement, RiskModel, Scaling, fine_to_usd, mul_div_ceil};
use money::{Rounding, UsdPrice, UsdValue, mul_div};
use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Per-instrument bounds of a model, computed once when the model is installed (not serialized:
/// a pure function of the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitBounds {
    /// Per instrument: the smallest and largest P&L per unit over the FHS columns (micro-USD).
    fhs_range: Vec<(i64, i64)>,
    /// Fine units added for the rounding of the ES terms: at least the number of terms of any
    /// ES of the model (`k_needed` with every protocol's entry, plus one per protocol, plus one).
    slack: i128,
    /// Per instrument: the step constant `L_i` of [`UnitBounds::im_upper_step`], fine units per
    /// effective nano-unit; `None` for an instrument that carries a claim (protocol links, an
    /// issuer's collapse) or a close-out cost, whose effect on IM depends on the owner's totals.
    step: Vec<Option<i128>>,
    /// The digest of the model these bounds are of; every summary built with them carries it.
    model: [u8; 32],
    /// The summary of the empty book (IM zero, no loss): an anchor every account has, for the
    /// step bound (docs/margin-core.md §9, "The empty anchor"). `None` only while being built.
    empty: Option<Box<RiskSummary>>,
}

/// What the bound needs of an account, kept by the engine per account instead of its loss vector:
/// the holdings, the largest FHS losses (enough for any ES of the model), the floor columns'
/// losses, the claims per protocol and the ES of each protocol's survivors. Valid at the prices it
/// was built at (checked for the underlyings of its linear holdings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskSummary {
    held: Vec<Held>,
    /// (underlying, price) of every linear instrument held.
    marked_at: Vec<(u16, UsdPrice)>,
    /// The largest FHS losses with their columns, descending (enough for any ES of the model).
    top: Vec<(i128, u32)>,
    /// The floor columns' losses.
    floor: Vec<i128>,
    /// Per protocol: the signed claim, and (collapsing tokens' value, their extra loss).
    claims: Vec<i128>,
    ww: Vec<(i128, i128)>,
    /// Per protocol: the ES (may be negative) of the positions that survive its failure.
    survivors: Vec<i128>,
    /// The liquidity charge (fine units).
    liquidity: i128,
    /// The exact initial margin of the account.
    im: UsdValue,
    /// The digest of the model the summary was built on.
    model: [u8; 32],
}

/// The outcome of a pre-trade check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The bound alone shows the account meets initial margin with the order: `im_upper` is at
    /// least the exact requirement.
    Accepted { im_upper: UsdValue },
    /// The bound did not decide: the exact requirement with the order.
    Exact(Requirement),
}

impl RiskSummary {
    /// The exact initial margin of the account the summary was built from.
    pub fn initial(&self) -> UsdValue {
        self.im
    }
}

impl RiskModel {
    /// The unit bounds of the model (`O(instruments x columns)`, once per installed model).
    pub fn unit_bounds(&self) -> UnitBounds {
        let n = self.fhs_scenarios as usize;
        let fhs_range = self
            .instruments
            .iter()
            .map(|a| {
                let fhs = a.pnl.get(..n).unwrap_or(&[]);
                (fhs.iter().copied().min().unwrap_or(0), fhs.iter().copied().max().unwrap_or(0))
            })
            .collect();
        let slack = (self.kept() + self.charges.protocols.len() + 1) as i128;
        let step = (0..self.instruments.len()).map(|i| self.step_constant(i)).collect();
        let mut bounds = UnitBounds { fhs_range, slack, step, model: self.digest(), empty: None };
        // The empty book holds no linear instrument, so no price is read; a model that passes
        // `validate` aggregates it without error (its requirement is zero, asserted).
        let empty = self.summary(&bounds, &self.empty(), &[]);
        bounds.empty = empty.ok().filter(|s| s.im.0 == 0 && s.held.is_empty()).map(Box::new);
        bounds
    }

    /// `L_i = max(max_s |pnl_i[s]| over the FHS columns, max_f ceil(|pnl_i[f]| w_f / 10^6) over
    /// the floor columns)`: the most one effective nano-unit more or less of instrument `i` moves
    /// the FHS losses or the weighted floor losses (docs/margin-core.md §9, "The step bound").
    /// `None` when the instrument carries a claim or a close-out cost.
    fn step_constant(&self, i: usize) -> Option<i128> {
        let c = self.charges.instruments.get(i);
        if c.is_some_and(|c| !c.links.is_empty() || c.collapse.is_some() || !c.liquidity_cost_musd.is_empty()) {
            return None;
        }
        let n = self.fhs_scenarios as usize;
        let pnl = &self.instruments[i].pnl;
        let fhs = pnl.get(..n)?.iter().map(|p| i128::from(*p).abs()).max().unwrap_or(0);
        let mut floor = 0i128;
        for (p, w) in pnl.get(n..)?.iter().zip(&self.floor_weights_ppm) {
            floor = floor.max(mul_div_ceil(i128::from(*p).abs(), i128::from(*w), PPM as i128).ok()?);
        }
        Some(fhs.max(floor))
    }

    /// How many of the largest FHS losses a summary keeps: as many as any ES of the model can
    /// reach (every protocol's failure entry in; all columns if their probabilities sum to one).
    fn kept(&self) -> usize {
        let n = self.fhs_scenarios as usize;
        let pd_total: u128 = self.charges.protocols.iter().map(|p| p.pd_ppb as u128).sum();
        if pd_total >= PPB as u128 { n } else { k_needed(n, pd_total, self.tail_ppm) }
    }

    /// The summary of an account marked at `prices` (one requirement's work: a tail selection
    /// per distinct set of frozen holdings), for use with `bounds` (of this model).
    pub fn summary(&self, bounds: &UnitBounds, risk: &AccountRisk, prices: &[Option<UsdPrice>]) -> Result<RiskSummary, MarginError> {
        let n = self.fhs_scenarios as usize;
        if risk.loss.len() != self.columns() || bounds.fhs_range.len() != self.instruments.len() {
            return Err(MarginError::InvalidModel("account or unit bounds of another model".into()));
        }
        let top = top_columns(&risk.loss[..n], self.kept());
        let (claims, ww) = self.claims(risk)?;
        let owner = self.owner_totals(&[risk])?;
        let survivors = self.all_survivors(risk, &top)?;
        Ok(RiskSummary {
            held: risk.held.clone(),
            marked_at: self.marked_at(&risk.held, prices)?,
            top,
            floor: risk.loss[n..].to_vec(),
            claims,
            ww,
            im: self.requirement_given(risk, &owner, Some(&survivors))?.initial,
            survivors,
            liquidity: self.liquidity(risk, &owner)?,
            model: bounds.model,
        })
    }

    fn marked_at(&self, held: &[Held], prices: &[Option<UsdPrice>]) -> Result<Vec<(u16, UsdPrice)>, MarginError> {
        let mut out: Vec<(u16, UsdPrice)> = Vec::new();
        for h in held {
            if let Scaling::Linear { underlying } = self.instruments[h.ix as usize].scaling {
                let p = prices.get(underlying as usize).copied().flatten();
                let p = p.ok_or_else(|| MarginError::MissingPrice(self.underlyings[underlying as usize].name.clone()))?;
                if !out.iter().any(|m| m.0 == underlying) {
                    out.push((underlying, p));
                }
            }
        }
        Ok(out)
    }

    /// Per protocol, the ES of the positions surviving its failure; one pass per distinct set,
    /// none for the set of no frozen holding (the whole book's ES, from its largest losses `top`).
    fn all_survivors(&self, risk: &AccountRisk, top: &[(i128, u32)]) -> Result<Vec<i128>, MarginError> {
        let mut buf = Vec::new();
        let losses: Vec<i128> = top.iter().map(|t| t.0).collect();
        let whole = es_from_top(&losses, self.fhs_scenarios as usize, &[], self.tail_ppm)?;
        let mut known: Vec<(Vec<u32>, i128)> = vec![(Vec::new(), whole)];
        let mut out = Vec::with_capacity(self.charges.protocols.len());
        for p in &self.charges.protocols {
            let held: Vec<u32> = risk.held.iter().map(|h| h.ix).filter(|ix| p.frozen.binary_search(ix).is_ok()).collect();
            let es = match known.iter().find(|k| k.0 == held) {
                Some(k) => k.1,
                None => {
                    let es = self.survivors_es(risk, &held, &mut buf)?;
                    known.push((held, es));
                    es
                }
            };
            out.push(es);
        }
        Ok(out)
    }

    /// Decides an order: accepted on the bound when `equity_after` covers it, else the exact
    /// requirement with the order, on the account `account` returns (its loss vector, built or
    /// cached by the caller only when needed).
    pub fn pre_trade<A: Borrow<AccountRisk>>(
        &self,
        bounds: &UnitBounds,
        summary: &RiskSummary,
        equity_after: UsdValue,
        delta: &[Position],
        prices: &[Option<UsdPrice>],
        account: impl FnOnce() -> Result<A, MarginError>,
    ) -> Result<Decision, MarginError> {
        let im_upper = bounds.im_upper(self, summary, delta, prices)?;
        if equity_after >= im_upper {
            return Ok(Decision::Accepted { im_upper });
        }
        Ok(Decision::Exact(self.with(account()?.borrow(), delta, prices)?))
    }
}

/// The account's state with the order added, as far as the bound needs it.
struct After {
    held: Vec<Held>,
    floor: Vec<i128>,
    claims: Vec<i128>,
    ww: Vec<(i128, i128)>,
    liquidity: i128,
    /// The order's lines: (instrument, effective nano-units).
    lines: Vec<(u32, i128)>,
    /// Upper bound of the FHS loss change, over all positions and per protocol's survivors.
    up_all: i128,
    up_survivors: Vec<i128>,
}

impl UnitBounds {
    /// How much `delta` can raise the initial margin of the summarised account (may be negative).
    pub fn im_increase_bound(
        &self,
        model: &RiskModel,
        summary: &RiskSummary,
        delta: &[Position],
        prices: &[Option<UsdPrice>],
    ) -> Result<UsdValue, MarginError> {
        let up = self.im_upper(model, summary, delta, prices)?;
        Ok(UsdValue(up.0.checked_sub(summary.im.0).ok_or(MarginError::Overflow)?))
    }

    /// An upper bound of the initial margin of the summarised account with `delta` added:
    /// `max(ES_up, floor, concentration_up, 0) + liquidity`, the floor and liquidity exact.
    pub fn im_upper(
        &self,
        model: &RiskModel,
        summary: &RiskSummary,
        delta: &[Position],
        prices: &[Option<UsdPrice>],
    ) -> Result<UsdValue, MarginError> {
        self.check(model, summary, prices)?;
        let after = self.after(model, summary, delta, prices)?;
        self.upper_of(model, summary, &after, &OwnerTotals { claims: Vec::new(), net: Vec::new() })
    }

    /// `max(ES_up, floor, concentration_up, 0) + liquidity` of the account `after`, concentration
    /// at the owner's claims.
    fn upper_of(&self, model: &RiskModel, summary: &RiskSummary, after: &After, owner: &OwnerTotals) -> Result<UsdValue, MarginError> {
        let exposures = self.exposures(model, summary, after)?;
        let es = self.es_upper(model, summary, after, &exposures)?;
        let mut floor = 0i128;
        for (l, w) in after.floor.iter().zip(&model.floor_weights_ppm) {
            floor = floor.max(mul_div_ceil(*l, *w as i128, PPM as i128)?);
        }
        let concentration = model.concentration(&exposures, owner)?;
        let core = es.max(floor).max(concentration).max(0);
        fine_to_usd(core.checked_add(after.liquidity).ok_or(MarginError::Overflow)?)
    }

    /// An upper bound of the initial margin of an account that now holds `target` (its whole
    /// book, not a change), in an owner whose totals with `target` are `owner`, from the summary
    /// of an earlier state of the same account at the same prices. The change per instrument is
    /// the difference of the effective quantities, so the loss vector it bounds is the one the
    /// exact requirement builds from `target`; the floor, claims, liquidity and owner totals
    /// are exact, the FHS losses bounded as in [`UnitBounds::im_upper`], and concentration and
    /// liquidity are charged at the owner's size as in [`RiskModel::requirement_in_owner`].
    pub fn im_upper_target(
        &self,
        model: &RiskModel,
        summary: &RiskSummary,
        target: &[Position],
        prices: &[Option<UsdPrice>],
        owner: &OwnerTotals,
    ) -> Result<UsdValue, MarginError> {
        self.check(model, summary, prices)?;
        let after = self.after_target(model, summary, target, prices, owner)?;
        self.upper_of(model, summary, &after, owner)
    }

    /// The step bound: an upper bound of the initial margin of an account that now holds
    /// `target`, from the summary of an earlier book of it at the same prices, without any
    /// scenario: `IM_summary + T + sum_i L_i |eff_now_i - eff_summary_i|` (fine units, to
    /// `UsdValue`), `L_i` the step constants. `None` when an instrument of either book has no step
    /// constant (the caller then uses [`UnitBounds::im_upper_target`]). Where every instrument
    /// has one, no claim, failure entry, concentration or close-out cost arises, so the bound
    /// holds in any owner (docs/margin-core.md §9, "The step bound").
    pub fn im_upper_step(
        &self,
        model: &RiskModel,
        summary: &RiskSummary,
        target: &[Position],
        prices: &[Option<UsdPrice>],
    ) -> Result<Option<UsdValue>, MarginError> {
        self.check(model, summary, prices)?;
        let mut held: Vec<Held> = Vec::with_capacity(target.len());
        for p in target {
            let array = model
                .instruments
                .get(p.instrument.0 as usize)
                .ok_or_else(|| MarginError::UnknownInstrument(format!("#{}", p.instrument.0)))?;
            crate::hold(&mut held, p.instrument.0, p.qty, model.effective_qty(array, p.qty, prices)?)?;
        }
        let Some(drift) = self.drift(&held, &summary.held)? else { return Ok(None) };
        let extra = fine_to_usd(drift.checked_add(self.slack).ok_or(MarginError::Overflow)?)?;
        Ok(Some(UsdValue(summary.im.0.checked_add(extra.0).ok_or(MarginError::Overflow)?)))
    }

    /// The summary of the empty book under these bounds' model: the anchor of an account that
    /// has no anchor of its own (its IM is exactly zero; `None` if the model could not
    /// aggregate the empty book, which `validate` rules out).
    pub fn empty_book(&self) -> Option<&RiskSummary> {
        self.empty.as_deref()
    }

    /// `sum_i L_i |now_i - then_i|` over the instruments of either book (both sorted by
    /// instrument); `None` if one of them has no step constant.
    fn drift(&self, now: &[Held], then: &[Held]) -> Result<Option<i128>, MarginError> {
        let (mut a, mut b, mut total) = (0, 0, 0i128);
        while a < now.len() || b < then.len() {
            let (ix, q) = match (now.get(a), then.get(b)) {
                (Some(x), Some(y)) if x.ix == y.ix => {
                    (a, b) = (a + 1, b + 1);
                    (x.ix, x.effective.checked_sub(y.effective).ok_or(MarginError::Overflow)?)
                }
                (Some(x), Some(y)) if x.ix < y.ix => {
                    a += 1;
                    (x.ix, x.effective)
                }
                (Some(x), None) => {
                    a += 1;
                    (x.ix, x.effective)
                }
                (_, Some(y)) => {
                    b += 1;
                    (y.ix, y.effective)
                }
                (None, None) => break,
            };
            let Some(l) = self.step.get(ix as usize).copied().flatten() else { return Ok(None) };
            let step = q.checked_abs().and_then(|q| q.checked_mul(l)).ok_or(MarginError::Overflow)?;
            total = total.checked_add(step).ok_or(MarginError::Overflow)?;
        }
        Ok(Some(total))
    }

    /// The account holding `target`, as far as the bound needs it: holdings, floor losses,
    /// claims and liquidity (at the owner's size) exactly; one line per instrument whose
    /// effective quantity differs from the summary's.
    fn after_target(
        &self,
        model: &RiskModel,
        summary: &RiskSummary,
        target: &[Position],
        prices: &[Option<UsdPrice>],
        owner: &OwnerTotals,
    ) -> Result<After, MarginError> {
        let n = model.fhs_scenarios as usize;
        let mut held: Vec<Held> = Vec::with_capacity(target.len());
        for p in target {
            let array = model
                .instruments
                .get(p.instrument.0 as usize)
                .ok_or_else(|| MarginError::UnknownInstrument(format!("#{}", p.instrument.0)))?;
            crate::hold(&mut held, p.instrument.0, p.qty, model.effective_qty(array, p.qty, prices)?)?;
        }
        let now = AccountRisk { loss: Vec::new(), held };
        let (claims, ww) = model.claims(&now)?;
        let mut a = After {
            floor: summary.floor.clone(),
            claims,
            ww,
            liquidity: model.liquidity(&now, owner)?,
            held: now.held,
            lines: Vec::new(),
            up_all: 0,
            up_survivors: vec![0; model.charges.protocols.len()],
        };
        let effective = |h: &[Held], ix: u32| h.binary_search_by_key(&ix, |x| x.ix).map_or(0, |k| h[k].effective);
        let mut ixs: Vec<u32> = a.held.iter().chain(&summary.held).map(|h| h.ix).collect();
        ixs.sort_unstable();
        ixs.dedup();
        for ix in ixs {
            let q = effective(&a.held, ix).checked_sub(effective(&summary.held, ix)).ok_or(MarginError::Overflow)?;
            if q == 0 {
                continue;
            }
            let pnl = &model.instruments[ix as usize].pnl;
            for (l, p) in a.floor.iter_mut().zip(&pnl[n..]) {
                *l = l.checked_sub(q.checked_mul(*p as i128).ok_or(MarginError::Overflow)?).ok_or(MarginError::Overflow)?;
            }
            a.lines.push((ix, q));
            let up = self.max_loss(ix, q)?;
            a.up_all = a.up_all.checked_add(up).ok_or(MarginError::Overflow)?;
            for (j, proto) in model.charges.protocols.iter().enumerate() {
                if proto.frozen.binary_search(&ix).is_err() {
                    a.up_survivors[j] = a.up_survivors[j].checked_add(up).ok_or(MarginError::Overflow)?;
                }
            }
        }
        Ok(a)
    }

    /// The summary was built with these bounds, of a model of `model`'s shape (the bounds are
    /// installed with their model), at the current prices of its linear holdings.
    fn check(&self, model: &RiskModel, summary: &RiskSummary, prices: &[Option<UsdPrice>]) -> Result<(), MarginError> {
        let n = model.fhs_scenarios as usize;
        if summary.model != self.model || self.fhs_range.len() != model.instruments.len() || summary.floor.len() != model.columns() - n {
            return Err(MarginError::InvalidModel("unit bounds or summary of another model".into()));
        }
        for (u, p) in &summary.marked_at {
            if prices.get(*u as usize).copied().flatten() != Some(*p) {
                return Err(MarginError::StaleSummary(model.underlyings[*u as usize].name.clone()));
            }
        }
        Ok(())
    }

    /// Applies the order to the summary: holdings, floor losses, claims and liquidity exactly;
    /// the FHS losses through their bound.
    fn after(
        &self,
        model: &RiskModel,
        summary: &RiskSummary,
        delta: &[Position],
        prices: &[Option<UsdPrice>],
    ) -> Result<After, MarginError> {
        let n = model.fhs_scenarios as usize;
        let mut a = After {
            held: summary.held.clone(),
            floor: summary.floor.clone(),
            claims: summary.claims.clone(),
            ww: summary.ww.clone(),
            liquidity: summary.liquidity,
            lines: Vec::with_capacity(delta.len()),
            up_all: 0,
            up_survivors: vec![0; model.charges.protocols.len()],
        };
        let has_charges = !model.charges.instruments.is_empty();
        for p in delta {
            let array = model
                .instruments
                .get(p.instrument.0 as usize)
                .ok_or_else(|| MarginError::UnknownInstrument(format!("#{}", p.instrument.0)))?;
            let q = model.effective_qty(array, p.qty, prices)?;
            for (l, pnl) in a.floor.iter_mut().zip(&array.pnl[n..]) {
                *l = l.checked_sub(q.checked_mul(*pnl as i128).ok_or(MarginError::Overflow)?).ok_or(MarginError::Overflow)?;
            }
            a.lines.push((p.instrument.0, q));
            let up = self.max_loss(p.instrument.0, q)?;
            a.up_all = a.up_all.checked_add(up).ok_or(MarginError::Overflow)?;
            for (j, proto) in model.charges.protocols.iter().enumerate() {
                if proto.frozen.binary_search(&p.instrument.0).is_err() {
                    a.up_survivors[j] = a.up_survivors[j].checked_add(up).ok_or(MarginError::Overflow)?;
                }
            }
            let before = a.held.binary_search_by_key(&p.instrument.0, |h| h.ix).map_or(0, |k| a.held[k].effective);
            let now = before.checked_add(q).ok_or(MarginError::Overflow)?;
            if has_charges {
                model.claim_parts(p.instrument.0, before, -1, &mut a.claims, &mut a.ww)?;
                model.claim_parts(p.instrument.0, now, 1, &mut a.claims, &mut a.ww)?;
            }
            // The account alone: its own net is the owner's.
            let cost = model.close_out(p.instrument.0, now, now)? - model.close_out(p.instrument.0, before, before)?;
            a.liquidity = a.liquidity.checked_add(cost).ok_or(MarginError::Overflow)?;
            crate::hold(&mut a.held, p.instrument.0, p.qty, q)?;
        }
        Ok(a)
    }

    /// `max_s (-q x pnl_s)` over the FHS columns: the most `q` nano-units add to any FHS loss.
    fn max_loss(&self, ix: u32, q: i128) -> Result<i128, MarginError> {
        let (lo, hi) = self.fhs_range[ix as usize];
        let worst = if q >= 0 { lo } else { hi };
        q.checked_mul(worst as i128).and_then(i128::checked_neg).ok_or(MarginError::Overflow)
    }

    /// The failure entries after the order, each survivors' ES replaced by its bound.
    fn exposures(&self, model: &RiskModel, summary: &RiskSummary, after: &After) -> Result<Vec<Exposure>, MarginError> {
        let mut out = Vec::new();
        for (j, p) in model.charges.protocols.iter().enumerate() {
            let claim = after.claims[j].max(0);
            if claim == 0 && after.ww[j].0 == 0 {
                continue;
            }
            let lost = mul_div(claim, p.lgd_ppm as i128, PPM as i128, Rounding::Ceil)?;
            let es = summary.survivors[j].checked_add(after.up_survivors[j] + self.slack).ok_or(MarginError::Overflow)?;
            let failure = lost.checked_add(after.ww[j].1).and_then(|f| f.checked_add(es.max(0))).ok_or(MarginError::Overflow)?;
            out.push(Exposure { protocol: j, claim: claim + after.ww[j].0, failure });
        }
        Ok(out)
    }

    /// The largest FHS losses of a vector above the account's with the order: the kept columns
    /// exactly, every other column at the smallest kept loss plus the most the order adds.
    fn top_after(&self, model: &RiskModel, summary: &RiskSummary, after: &After) -> Result<Vec<i128>, MarginError> {
        let n = model.fhs_scenarios as usize;
        let k = summary.top.len();
        let mut top = Vec::with_capacity(2 * k + 1);
        for (l, s) in &summary.top {
            let mut v = *l;
            for (ix, q) in &after.lines {
                let pnl = model.instruments[*ix as usize].pnl[*s as usize] as i128;
                v = v.checked_sub(q.checked_mul(pnl).ok_or(MarginError::Overflow)?).ok_or(MarginError::Overflow)?;
            }
            top.push(v);
        }
        top.sort_unstable_by(|a, b| b.cmp(a));
        if let Some((smallest, _)) = summary.top.last().filter(|_| k < n) {
            // Merged in order: the kept losses at or above `rest`, the other columns, the rest.
            let rest = smallest.checked_add(after.up_all).ok_or(MarginError::Overflow)?;
            let below = top.split_off(top.partition_point(|v| *v >= rest));
            top.extend(std::iter::repeat_n(rest, (n - k).min(k)));
            top.extend(below);
            top.truncate(k);
        }
        Ok(top)
    }

    /// The mixed ES of the shifted largest losses and the bounded failure entries, plus the
    /// rounding slack; at least the FHS-only ES bound.
    fn es_upper(&self, model: &RiskModel, summary: &RiskSummary, after: &After, exposures: &[Exposure]) -> Result<i128, MarginError> {
        let n = model.fhs_scenarios as usize;
        if n == 0 {
            return Ok(0);
        }
        let top = self.top_after(model, summary, after)?;
        let extra: Vec<(i128, u64)> = exposures.iter().map(|e| (e.failure, model.charges.protocols[e.protocol].pd_ppb)).collect();
        let mixed = es_upper_from_top(&top, n, &extra, model.tail_ppm)?;
        let fhs = es_upper_from_top(&top, n, &[], model.tail_ppm)?.max(0);
        mixed.max(fhs).checked_add(self.slack).ok_or(MarginError::Overflow)
    }
}

/// The `k` largest losses with their columns, descending (ties: the later column first): one
/// pass keeping the `k` largest `(loss, column)` seen in a min-heap, as `es::top_k_of`, so no
/// copy of the whole vector is made (at 6,630 columns it was 212 KB per summary, a fresh mapping
/// each time).
fn top_columns(loss: &[i128], k: usize) -> Vec<(i128, u32)> {
    let k = k.min(loss.len());
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Reverse<(i128, u32)>> = BinaryHeap::with_capacity(k);
    let mut columns = loss.iter().enumerate().map(|(s, l)| (*l, s as u32));
    for c in columns.by_ref().take(k) {
        heap.push(Reverse(c));
    }
    let mut threshold = heap.peek().map_or((i128::MAX, u32::MAX), |r| r.0);
    for c in columns {
        if c > threshold {
            if let Some(mut smallest) = heap.peek_mut() {
                *smallest = Reverse(c);
            }
            threshold = heap.peek().map_or((i128::MAX, u32::MAX), |r| r.0);
        }
    }
    // Ascending `Reverse` order is descending `(loss, column)` order.
    heap.into_sorted_vec().into_iter().map(|r| r.0).collect()
}
