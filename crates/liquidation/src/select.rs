//! Partial liquidation: which positions to close, and how much.
//!
//! An account below maintenance is brought back to `equity - costs >= target x IM`, where `IM`
//! is the integer initial margin of `margin-core` after the closes and `target` is a fraction of
//! one (ppm; one is Mango v4's "liquidation end" at initial health zero). Positions are grouped:
//! the legs of a hedge (delta-one positions on the same underlying with opposite signs) form one
//! group and are closed together in proportion, so the riskier leg is never left alone.
//!
//! Greedy, deterministic: at each step every group with something left offers a chunk of
//! `step_ppm` of its original size (at most `throttle_ppm` per liquidation, so one liquidation
//! cannot push the internal market further than configured); the chunk that removes the most
//! initial margin per unit of closing cost is taken (ties: lower group index). A chunk that does
//! not lower the initial margin is never taken, so a liquidation never raises the account's risk
//! (asserted). When no chunk helps and the target is not reached the plan says so: the account
//! is closed out in full and its deficit goes to the waterfall.

use crate::{LiquidationError, PPM};
use margin_core::{AccountRisk, Position, RiskModel, Scaling};
use money::{Rounding, UsdPrice, UsdValue, mul_div};

/// The most groups one plan may consider (an account's positions are bounded far below).
pub const GROUPS_MAX: usize = 256;

/// Parameters of the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectParams {
    /// Back to `equity - costs >= target_ppm x IM`.
    pub target_ppm: u32,
    /// Chunk size as a fraction of a group's original size.
    pub step_ppm: u32,
    /// The most of a group one liquidation may close.
    pub throttle_ppm: u32,
}

/// A group of legs closed together, and what closing all of it costs (spread and penalty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub legs: Vec<Position>,
    pub close_cost: UsdValue,
}

/// One chosen chunk: the closing trades (signed, opposite to the legs), its cost and the
/// initial margin before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub group: usize,
    pub closes: Vec<Position>,
    pub cost: UsdValue,
    pub im_before: UsdValue,
    pub im_after: UsdValue,
    /// The chunk, as a fraction of the group's original size (ppm).
    pub chunk_ppm: u32,
}

/// The plan and whether it reaches the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub reached: bool,
    pub im_after: UsdValue,
    pub cost: UsdValue,
}

/// Groups positions: delta-one legs on one underlying with both signs present form one group;
/// every other position is its own group. Order: by first appearance.
pub fn hedge_groups(model: &RiskModel, positions: &[Position]) -> Vec<Vec<Position>> {
    let underlying_of = |p: &Position| match model.instruments.get(p.instrument.0 as usize).map(|a| a.scaling) {
        Some(Scaling::Linear { underlying }) => Some(underlying),
        _ => None,
    };
    let mut groups: Vec<(Option<u16>, Vec<Position>)> = Vec::new();
    for p in positions.iter().filter(|p| p.qty != 0) {
        let u = underlying_of(p);
        let mixed = |g: &(Option<u16>, Vec<Position>)| g.0.is_some() && g.0 == u;
        match groups.iter_mut().find(|g| mixed(g)) {
            Some(g) => g.1.push(*p),
            None => groups.push((u, vec![*p])),
        }
    }
    // A same-underlying group whose legs all have one sign is no hedge: split it back.
    let mut out = Vec::new();
    for (_, legs) in groups {
        let hedged = legs.iter().any(|p| p.qty > 0) && legs.iter().any(|p| p.qty < 0);
        if hedged {
            out.push(legs);
        } else {
            out.extend(legs.into_iter().map(|p| vec![p]));
        }
    }
    out
}

/// Plans the partial liquidation of an account with loss vector `risk` and `equity` at `prices`.
pub fn plan(
    model: &RiskModel,
    risk: &AccountRisk,
    equity: UsdValue,
    groups: &[Group],
    prices: &[Option<UsdPrice>],
    params: &SelectParams,
) -> Result<Plan, LiquidationError> {
    validate(groups, params)?;
    let mut risk = risk.clone();
    let mut left: Vec<Vec<i128>> = groups.iter().map(|g| g.legs.iter().map(|p| p.qty).collect()).collect();
    let mut closed_ppm = vec![0u32; groups.len()];
    let mut steps = Vec::new();
    let mut cost = 0i128;
    loop {
        let im = model.requirement(&risk)?.initial;
        if reached(equity, cost, im, params)? {
            return Ok(Plan { steps, reached: true, im_after: im, cost: UsdValue(cost) });
        }
        let Some(step) = best_chunk(model, &risk, groups, &left, &closed_ppm, prices, params, im)? else {
            return Ok(Plan { steps, reached: false, im_after: im, cost: UsdValue(cost) });
        };
        assert!(step.im_after.0 < step.im_before.0, "a liquidation step never raises initial margin");
        model.add(&mut risk, &step.closes, prices)?;
        for (l, c) in left[step.group].iter_mut().zip(&step.closes) {
            *l += c.qty;
        }
        closed_ppm[step.group] += step.chunk_ppm;
        cost = crate::add(cost, step.cost.0, "liquidation cost")?;
        steps.push(step);
    }
}

fn validate(groups: &[Group], params: &SelectParams) -> Result<(), LiquidationError> {
    let ppm = PPM as u32;
    if params.step_ppm == 0 || params.step_ppm > ppm || params.throttle_ppm == 0 || params.throttle_ppm > ppm {
        return Err(LiquidationError::InvalidParameter("step and throttle in (0, 1]"));
    }
    if groups.len() > GROUPS_MAX || groups.iter().any(|g| g.close_cost.0 < 0 || g.legs.is_empty()) {
        return Err(LiquidationError::InvalidParameter("groups: bounded, non-empty, non-negative costs"));
    }
    Ok(())
}

fn reached(equity: UsdValue, cost: i128, im: UsdValue, params: &SelectParams) -> Result<bool, LiquidationError> {
    let needed = mul_div(im.0, params.target_ppm as i128, PPM, Rounding::Ceil)?;
    Ok(equity.0 - cost >= needed)
}

/// The chunk (as ppm of the original size) a group offers now; 0 when nothing is left.
fn chunk_ppm(left: &[i128], params: &SelectParams, closed: u32) -> u32 {
    if left.iter().all(|q| *q == 0) {
        return 0;
    }
    params.step_ppm.min(params.throttle_ppm.saturating_sub(closed))
}

#[allow(clippy::too_many_arguments)]
fn best_chunk(
    model: &RiskModel,
    risk: &AccountRisk,
    groups: &[Group],
    left: &[Vec<i128>],
    closed_ppm: &[u32],
    prices: &[Option<UsdPrice>],
    params: &SelectParams,
    im: UsdValue,
) -> Result<Option<Step>, LiquidationError> {
    let mut best: Option<(i128, Step)> = None;
    for (g, group) in groups.iter().enumerate() {
        let chunk = chunk_ppm(&left[g], params, closed_ppm[g]);
        if chunk == 0 {
            continue;
        }
        let closes = closing_trades(group, &left[g], chunk)?;
        let after = model.with(risk, &closes, prices)?.initial;
        let benefit = im.0 - after.0;
        if benefit <= 0 {
            continue;
        }
        let cost = mul_div(group.close_cost.0, chunk as i128, PPM, Rounding::Ceil)?;
        let score = mul_div(benefit, PPM, cost.max(1), Rounding::Floor)?;
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            let step = Step { group: g, closes, cost: UsdValue(cost), im_before: im, im_after: after, chunk_ppm: chunk };
            best = Some((score, step));
        }
    }
    Ok(best.map(|(_, s)| s))
}

/// Closing trades for `chunk` ppm of a group's original legs, never more than what is left.
fn closing_trades(group: &Group, left: &[i128], chunk: u32) -> Result<Vec<Position>, LiquidationError> {
    let mut closes = Vec::with_capacity(group.legs.len());
    for (leg, l) in group.legs.iter().zip(left) {
        // Toward zero, but at least one unit while something is left, and never past zero.
        let toward_zero = if leg.qty > 0 { Rounding::Floor } else { Rounding::Ceil };
        let part = mul_div(leg.qty, chunk as i128, PPM, toward_zero)?;
        let part = if leg.qty > 0 { part.max(1).min(*l) } else { part.min(-1).max(*l) };
        let part = if *l == 0 { 0 } else { part };
        closes.push(Position { instrument: leg.instrument, qty: -part });
    }
    Ok(closes)
}

#[cfg(test)]
mod tests;
