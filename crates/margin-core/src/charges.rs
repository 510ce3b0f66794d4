//! The charges beside the market loss, mirroring `risk::Engine`: protocol failures (the claim,
//! the wrong-way loss of collapsing tokens and the market loss of the survivors), concentration
//! at the owner's claim, and the close-out cost on a piecewise-linear upper bound of each
//! instrument's cost curve. Formulas and bounds: `docs/margin-core.md`.

use crate::es::expected_shortfall_of;
use crate::{AccountRisk, ChargeTables, FINE_PER_MICRO, LIQUIDITY_POINTS_MAX, MarginError, PPB, PPM, PROTOCOLS_MAX, RiskModel};
use money::{Rounding, mul_div};

/// One protocol the account has a claim on, and its loss if the protocol fails (fine units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exposure {
    pub(crate) protocol: usize,
    /// The account's positive claim plus the value of the collapsing tokens it holds.
    pub(crate) claim: i128,
    /// `LGD x claim + wrong-way loss + max(ES of the survivors, 0)`.
    pub(crate) failure: i128,
}

/// Per protocol: the signed claim, and (value of collapsing tokens, their extra loss).
type Claims = (Vec<i128>, Vec<(i128, i128)>);

/// What an owner holds over all its sub-accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerTotals {
    /// Per protocol: the sum over sub-accounts of each one's positive claim plus its collapsing
    /// tokens' value, fine units.
    pub(crate) claims: Vec<i128>,
    /// Per instrument held: the owner's net effective quantity (nano-units), sorted.
    pub(crate) net: Vec<(u32, i128)>,
}

impl ChargeTables {
    /// Checks the tables against a model of `instruments` instruments.
    pub(crate) fn validate(&self, instruments: usize) -> Result<(), MarginError> {
        let bad = |m: &str| Err(MarginError::InvalidModel(m.to_string()));
        let np = self.protocols.len();
        if np > PROTOCOLS_MAX || self.liquidity_grid_musd.len() > LIQUIDITY_POINTS_MAX {
            return bad("too many protocols or liquidity points");
        }
        if !self.instruments.is_empty() && self.instruments.len() != instruments {
            return bad("charges must cover every instrument");
        }
        for p in &self.protocols {
            if p.pd_ppb > PPB || p.lgd_ppm > PPM || p.frozen.iter().any(|i| *i as usize >= instruments) {
                return bad("protocol probability, LGD or frozen instrument out of range");
            }
            if p.frozen.windows(2).any(|w| w[0] >= w[1]) {
                return bad("frozen instruments not sorted and unique");
            }
        }
        if np > 0 && self.concentration_scale_musd_e3 <= 0 {
            return bad("concentration scale must be positive");
        }
        let grid = &self.liquidity_grid_musd;
        if grid.first().is_some_and(|g| *g != 0) || grid.windows(2).any(|w| w[0] >= w[1]) {
            return bad("liquidity grid must rise strictly from 0");
        }
        for c in &self.instruments {
            if c.links.iter().any(|(j, f)| *j as usize >= np || *f > PPM) || c.collapse.is_some_and(|j| j as usize >= np) {
                return bad("instrument link out of range");
            }
            if c.collapse_loss_ppm > PPM || c.notional_musd < 0 {
                return bad("collapse loss or notional out of range");
            }
            let cost = &c.liquidity_cost_musd;
            if !(cost.is_empty() || cost.len() == grid.len()) || cost.first().is_some_and(|c| *c != 0) {
                return bad("liquidity costs must match the grid and start at 0");
            }
            if cost.windows(2).any(|w| w[0] > w[1]) {
                return bad("liquidity costs must not fall with size");
            }
        }
        Ok(())
    }
}

impl RiskModel {
    /// The totals of an owner over its sub-accounts.
    pub fn owner_totals(&self, sub_accounts: &[&AccountRisk]) -> Result<OwnerTotals, MarginError> {
        let mut claims = vec![0i128; self.charges.protocols.len()];
        let mut net: Vec<(u32, i128)> = Vec::new();
        for a in sub_accounts {
            let (c, ww) = self.claims(a)?;
            for (j, total) in claims.iter_mut().enumerate() {
                *total = total.checked_add(c[j].max(0) + ww[j].0).ok_or(MarginError::Overflow)?;
            }
            for h in &a.held {
                match net.binary_search_by_key(&h.ix, |n| n.0) {
                    Ok(k) => net[k].1 = net[k].1.checked_add(h.effective).ok_or(MarginError::Overflow)?,
                    Err(k) => net.insert(k, (h.ix, h.effective)),
                }
            }
        }
        Ok(OwnerTotals { claims, net })
    }

    /// Per protocol: the signed claim (a debt on a venue offsets collateral there) and (value of
    /// the collapsing tokens it issued, their extra loss), fine units, rounded against the account.
    pub(crate) fn claims(&self, risk: &AccountRisk) -> Result<Claims, MarginError> {
        let np = self.charges.protocols.len();
        let (mut claims, mut ww) = (vec![0i128; np], vec![(0i128, 0i128); np]);
        if np == 0 {
            return Ok((claims, ww));
        }
        for h in &risk.held {
            self.claim_parts(h.ix, h.effective, 1, &mut claims, &mut ww)?;
        }
        Ok((claims, ww))
    }

    /// Adds (`sign` 1) or removes (`sign` -1) the part of the claims and wrong-way terms of
    /// `effective` nano-units of instrument `ix`. Needs charge tables (one entry per instrument).
    pub(crate) fn claim_parts(
        &self,
        ix: u32,
        effective: i128,
        sign: i128,
        claims: &mut [i128],
        ww: &mut [(i128, i128)],
    ) -> Result<(), MarginError> {
        let c = &self.charges.instruments[ix as usize];
        let v = effective.checked_mul(c.value_musd as i128).ok_or(MarginError::Overflow)?;
        for (j, frac) in &c.links {
            let part = mul_div(v, *frac as i128, PPM as i128, Rounding::Ceil)?.checked_mul(sign).ok_or(MarginError::Overflow)?;
            claims[*j as usize] = claims[*j as usize].checked_add(part).ok_or(MarginError::Overflow)?;
        }
        if let (Some(j), true) = (c.collapse, v > 0) {
            let extra =
                mul_div(v, c.collapse_loss_ppm as i128, PPM as i128, Rounding::Ceil)?.checked_mul(sign).ok_or(MarginError::Overflow)?;
            let e = &mut ww[j as usize];
            *e = (
                e.0.checked_add(v.checked_mul(sign).ok_or(MarginError::Overflow)?).ok_or(MarginError::Overflow)?,
                e.1.checked_add(extra).ok_or(MarginError::Overflow)?,
            );
        }
        Ok(())
    }

    /// The protocols the account is exposed to (a positive claim or collapsing tokens held),
    /// with the LGD and wrong-way parts of their failure loss.
    pub(crate) fn exposed(&self, risk: &AccountRisk) -> Result<Vec<Exposure>, MarginError> {
        let (claims, ww) = self.claims(risk)?;
        let mut out = Vec::new();
        for (j, p) in self.charges.protocols.iter().enumerate() {
            let claim = claims[j].max(0);
            if claim == 0 && ww[j].0 == 0 {
                continue;
            }
            let lost = mul_div(claim, p.lgd_ppm as i128, PPM as i128, Rounding::Ceil)?;
            let failure = lost.checked_add(ww[j].1).ok_or(MarginError::Overflow)?;
            out.push(Exposure { protocol: j, claim: claim + ww[j].0, failure });
        }
        Ok(out)
    }

    /// Adds to each exposure's failure loss the ES of the positions that survive it (those the
    /// protocol does not freeze). Protocols that freeze the same held positions share one ES, and
    /// one that freezes none takes the whole book's (`es_all`).
    pub(crate) fn failures(
        &self,
        risk: &AccountRisk,
        mut exposed: Vec<Exposure>,
        es_all: i128,
        buf: &mut Vec<i128>,
    ) -> Result<Vec<Exposure>, MarginError> {
        let mut known: Vec<(Vec<u32>, i128)> = vec![(Vec::new(), es_all)];
        for e in exposed.iter_mut() {
            let frozen = &self.charges.protocols[e.protocol].frozen;
            let held: Vec<u32> = risk.held.iter().map(|h| h.ix).filter(|ix| frozen.binary_search(ix).is_ok()).collect();
            let es = match known.iter().find(|k| k.0 == held) {
                Some(k) => k.1,
                None => {
                    let es = self.survivors_es(risk, &held, buf)?;
                    known.push((held, es));
                    es
                }
            };
            e.failure = e.failure.checked_add(es.max(0)).ok_or(MarginError::Overflow)?;
        }
        Ok(exposed)
    }

    /// ES of the FHS losses of the positions that survive a failure (`frozen` removed): the
    /// account's loss with the frozen positions' losses added back, computed in the one pass that
    /// selects the tail (no copy of the loss vector).
    pub(crate) fn survivors_es(&self, risk: &AccountRisk, frozen: &[u32], buf: &mut Vec<i128>) -> Result<i128, MarginError> {
        let n = self.fhs_scenarios as usize;
        let mut back: Vec<(&[i64], i64)> = Vec::with_capacity(frozen.len());
        for h in risk.held.iter().filter(|h| frozen.binary_search(&h.ix).is_ok()) {
            // The position's loss was `-q x pnl`; adding `q x pnl` back removes it.
            let q = i64::try_from(h.effective).map_err(|_| MarginError::Overflow)?;
            back.push((&self.instruments[h.ix as usize].pnl[..n], q));
        }
        let mut overflow = false;
        let losses = risk.loss[..n].iter().enumerate().map(|(s, l)| {
            back.iter().fold(*l, |acc, (pnl, q)| {
                let (v, o) = acc.overflowing_add(*q as i128 * pnl[s] as i128);
                overflow |= o;
                v
            })
        });
        let es = expected_shortfall_of(losses, n, self.tail_ppm, buf)?;
        if overflow { Err(MarginError::Overflow) } else { Ok(es) }
    }

    /// The largest `failure x C^2 / (C^2 + K^2)` over the exposures, `C` the owner's claim (at
    /// least this account's) and `K` the concentration scale, in milli-USD; rounded up.
    pub(crate) fn concentration(&self, exposures: &[Exposure], owner: &OwnerTotals) -> Result<i128, MarginError> {
        let k = self.charges.concentration_scale_musd_e3;
        let k2 = k.checked_mul(k).ok_or(MarginError::Overflow)?;
        let mut worst = 0i128;
        for e in exposures {
            let owner_claim = owner.claims.get(e.protocol).copied().unwrap_or(0).max(e.claim);
            // Fine units (10^-15) to milli-USD (10^-3), rounded up: a larger claim weighs more.
            let c = money::div_round(owner_claim, 1_000_000_000_000, Rounding::Ceil)?;
            let c2 = c.checked_mul(c).ok_or(MarginError::Overflow)?;
            let charge = mul_div(e.failure, c2, c2.checked_add(k2).ok_or(MarginError::Overflow)?, Rounding::Ceil)?;
            worst = worst.max(charge);
        }
        Ok(worst)
    }

    /// Close-out cost of every position on its market, at the average cost rate of the larger
    /// of this account's and its owner's net notional, fine units, rounded up.
    pub(crate) fn liquidity(&self, risk: &AccountRisk, owner: &OwnerTotals) -> Result<i128, MarginError> {
        if self.charges.instruments.is_empty() {
            return Ok(0);
        }
        let mut total = 0i128;
        for h in &risk.held {
            let owner_q = owner.net.binary_search_by_key(&h.ix, |n| n.0).map_or(0, |k| owner.net[k].1);
            let cost = self.close_out(h.ix, h.effective, owner_q)?;
            total = total.checked_add(cost).ok_or(MarginError::Overflow)?;
        }
        Ok(total)
    }
}

impl RiskModel {
    /// Close-out cost (fine units) of `effective` nano-units of instrument `ix`, at the average
    /// cost rate of the larger of its notional and that of the owner's net `owner_q`.
    pub(crate) fn close_out(&self, ix: u32, effective: i128, owner_q: i128) -> Result<i128, MarginError> {
        let Some(c) = self.charges.instruments.get(ix as usize) else { return Ok(0) };
        if c.liquidity_cost_musd.is_empty() || effective == 0 {
            return Ok(0);
        }
        let own = notional_musd(effective, c.notional_musd)?;
        let at = own.max(notional_musd(owner_q, c.notional_musd)?);
        if at == 0 {
            return Ok(0);
        }
        let cost_at = cost_on_grid(&self.charges.liquidity_grid_musd, &c.liquidity_cost_musd, at)?;
        let cost = mul_div(own, cost_at, at, Rounding::Ceil)?;
        cost.checked_mul(FINE_PER_MICRO).ok_or(MarginError::Overflow)
    }
}

/// Adds to each exposure's failure loss the known ES of its survivors (one per protocol).
pub(crate) fn add_survivors(mut exposed: Vec<Exposure>, survivors: &[i128]) -> Result<Vec<Exposure>, MarginError> {
    for e in exposed.iter_mut() {
        let es = survivors.get(e.protocol).copied().ok_or(MarginError::Overflow)?;
        e.failure = e.failure.checked_add(es.max(0)).ok_or(MarginError::Overflow)?;
    }
    Ok(exposed)
}

/// `|q| x notional per unit`, nano-units x micro-USD to micro-USD, rounded up.
fn notional_musd(q: i128, notional_per_unit: i64) -> Result<i128, MarginError> {
    Ok(mul_div(q.checked_abs().ok_or(MarginError::Overflow)?, notional_per_unit as i128, FINE_PER_MICRO, Rounding::Ceil)?)
}

/// The close-out cost of `at` micro-USD: linear between grid points (a chord lies above a convex
/// cost curve), capped at `at`; beyond the last point the whole notional.
fn cost_on_grid(grid: &[i128], cost: &[i128], at: i128) -> Result<i128, MarginError> {
    let j = grid.partition_point(|g| *g <= at);
    if j == 0 || j >= grid.len() {
        return Ok(at);
    }
    let (g0, g1, c0, c1) = (grid[j - 1], grid[j], cost[j - 1], cost[j]);
    let rise = mul_div(c1 - c0, at - g0, g1 - g0, Rounding::Ceil)?;
    Ok(c0.checked_add(rise).ok_or(MarginError::Overflow)?.min(at))
}
