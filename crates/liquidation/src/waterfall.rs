//! The default waterfall: who bears a bankrupt account's deficit.
//!
//! A deficit `D` (what the close-out of a defaulted account owes beyond everything it held) is
//! met by each resource in turn, each taking `min(what is left of D, what the resource has)`:
//! 1. the defaulter's remaining collateral (already valued at close-out prices),
//! 2. the liquidation penalty charged to it,
//! 3. the insurance fund,
//! 4. the broker's own capital,
//! 5. the last resort: what remains is socialised across the holders of the market (pro rata to a
//!    weight, each rounded up, the residue to the house) or deleveraged from the most profitable
//!    opposite positions (ranked as BitMEX ranks them: profit ratio times effective leverage).
//!
//! Every step is an exact integer; the steps sum to `D`, asserted in release builds.

use crate::{LiquidationError, PPM, add};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// The most holders one socialisation or deleveraging may read.
pub const HOLDERS_MAX: usize = 1_000_000;

/// What is available to meet a deficit, in the settlement asset's smallest units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub collateral: i128,
    pub penalty: i128,
    pub insurance_fund: i128,
    pub broker_capital: i128,
}

/// How a deficit was met, step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Allocation {
    pub collateral: i128,
    pub penalty: i128,
    pub insurance_fund: i128,
    pub broker_capital: i128,
    /// Left for socialisation or auto-deleveraging.
    pub last_resort: i128,
}

impl Allocation {
    /// The sum of every step.
    pub fn total(&self) -> Result<i128, LiquidationError> {
        let steps = [self.collateral, self.penalty, self.insurance_fund, self.broker_capital, self.last_resort];
        steps.iter().try_fold(0, |s, x| add(s, *x, "waterfall total"))
    }
}

/// Meets `deficit` from `resources` in the waterfall's order.
pub fn allocate(deficit: i128, resources: &Resources) -> Result<Allocation, LiquidationError> {
    if deficit < 0 {
        return Err(LiquidationError::OutOfRange("a deficit is never negative"));
    }
    let available = [resources.collateral, resources.penalty, resources.insurance_fund, resources.broker_capital];
    if available.iter().any(|a| *a < 0) {
        return Err(LiquidationError::OutOfRange("a resource is never negative"));
    }
    let mut left = deficit;
    let mut take = |have: i128| {
        let t = left.min(have);
        left -= t;
        t
    };
    let allocation = Allocation {
        collateral: take(available[0]),
        penalty: take(available[1]),
        insurance_fund: take(available[2]),
        broker_capital: take(available[3]),
        last_resort: 0,
    };
    let allocation = Allocation { last_resort: left, ..allocation };
    assert_eq!(allocation.total()?, deficit, "waterfall steps must sum to the deficit");
    Ok(allocation)
}

/// One holder's share of a socialised loss (a positive amount it pays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share<A> {
    pub account: A,
    pub amount: i128,
}

/// Spreads `amount` across `holders` pro rata to their weights (e.g. their equity in the
/// market). Each share is rounded up, so the shares cover `amount`; the second value is the
/// residue (shares minus amount, at most one unit per holder), credited to the house.
pub fn socialise<A: Clone>(amount: i128, holders: &[(A, i128)]) -> Result<(Vec<Share<A>>, i128), LiquidationError> {
    if amount < 0 || holders.len() > HOLDERS_MAX {
        return Err(LiquidationError::OutOfRange("socialised amount or holder count"));
    }
    if holders.iter().any(|(_, w)| *w < 0) {
        return Err(LiquidationError::OutOfRange("a weight is never negative"));
    }
    let total_weight = holders.iter().try_fold(0i128, |s, (_, w)| add(s, *w, "weights"))?;
    if total_weight == 0 {
        return if amount == 0 { Ok((Vec::new(), 0)) } else { Err(LiquidationError::NothingLeft) };
    }
    let mut shares = Vec::with_capacity(holders.len());
    let mut paid = 0i128;
    for (account, weight) in holders {
        let share = mul_div(amount, *weight, total_weight, Rounding::Ceil)?;
        paid = add(paid, share, "socialised shares")?;
        shares.push(Share { account: account.clone(), amount: share });
    }
    let residue = paid - amount;
    assert!(residue >= 0 && residue <= holders.len() as i128, "rounded-up shares cover the amount");
    Ok((shares, residue))
}

/// A position that may be deleveraged: it is on the opposite side of the bankrupt one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdlCandidate<A> {
    pub account: A,
    /// Quantity that can be closed (absolute).
    pub qty: i128,
    /// Unrealised profit at mark (settlement units; may be negative).
    pub unrealised_pnl: i128,
    /// Absolute entry cost of the position (settlement units, > 0).
    pub entry_cost: i128,
    /// Notional at mark (settlement units, > 0).
    pub notional: i128,
    /// Account equity (settlement units); at or below zero ranks last.
    pub equity: i128,
}

/// The deleveraging queue: candidates by descending score `pnl/entry_cost x notional/equity`
/// (profit ratio times effective leverage, in ppm, floored), ties by input order. Unprofitable
/// positions and accounts without equity rank last (score 0 and below).
pub fn adl_queue<A>(candidates: &[AdlCandidate<A>]) -> Result<Vec<usize>, LiquidationError> {
    if candidates.len() > HOLDERS_MAX {
        return Err(LiquidationError::OutOfRange("candidate count"));
    }
    let mut scored = Vec::with_capacity(candidates.len());
    for (i, c) in candidates.iter().enumerate() {
        scored.push((adl_score(c)?, i));
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(scored.into_iter().map(|(_, i)| i).collect())
}

fn adl_score<A>(c: &AdlCandidate<A>) -> Result<i128, LiquidationError> {
    if c.entry_cost <= 0 || c.notional <= 0 || c.qty < 0 {
        return Err(LiquidationError::OutOfRange("entry cost and notional are positive"));
    }
    if c.equity <= 0 {
        return Ok(i128::MIN);
    }
    let ratio_ppm = mul_div(c.unrealised_pnl, PPM, c.entry_cost, Rounding::Floor)?;
    Ok(mul_div(ratio_ppm, c.notional, c.equity, Rounding::Floor)?)
}

/// Takes `qty` from the queue's candidates in order: (candidate index, quantity closed).
/// Errors if the opposite side cannot absorb it all.
pub fn adl_allocate<A>(qty: i128, candidates: &[AdlCandidate<A>], queue: &[usize]) -> Result<Vec<(usize, i128)>, LiquidationError> {
    if qty < 0 {
        return Err(LiquidationError::OutOfRange("quantity to deleverage"));
    }
    let mut left = qty;
    let mut fills = Vec::new();
    for &i in queue {
        if left == 0 {
            break;
        }
        let c = candidates.get(i).ok_or(LiquidationError::OutOfRange("queue index"))?;
        let take = left.min(c.qty);
        if take > 0 {
            fills.push((i, take));
            left -= take;
        }
    }
    if left > 0 {
        return Err(LiquidationError::NothingLeft);
    }
    Ok(fills)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_in_order_and_exact() {
        let r = Resources { collateral: 100, penalty: 20, insurance_fund: 1_000, broker_capital: 5_000 };
        assert_eq!(allocate(50, &r).unwrap(), Allocation { collateral: 50, ..Default::default() });
        let a = allocate(1_500, &r).unwrap();
        assert_eq!((a.collateral, a.penalty, a.insurance_fund, a.broker_capital, a.last_resort), (100, 20, 1_000, 380, 0));
        let a = allocate(7_000, &r).unwrap();
        assert_eq!((a.insurance_fund, a.broker_capital, a.last_resort), (1_000, 5_000, 880));
        assert!(allocate(-1, &r).is_err());
    }

    #[test]
    fn socialised_shares_cover_the_loss() {
        // 100 over weights 1:1:1 -> 34 each (ceil of 33.33), residue 2 to the house.
        let (shares, residue) = socialise(100, &[("a", 1), ("b", 1), ("c", 1)]).unwrap();
        assert_eq!(shares.iter().map(|s| s.amount).collect::<Vec<_>>(), vec![34, 34, 34]);
        assert_eq!(residue, 2);
        // Exact division leaves no residue: 90 over 1:2 -> 30, 60.
        let (shares, residue) = socialise(90, &[("a", 1), ("b", 2)]).unwrap();
        assert_eq!((shares[0].amount, shares[1].amount, residue), (30, 60, 0));
        assert_eq!(socialise(5, &[("a", 0)]).unwrap_err(), LiquidationError::NothingLeft);
    }

    fn cand(account: &'static str, qty: i128, pnl: i128, cost: i128, notional: i128, equity: i128) -> AdlCandidate<&'static str> {
        AdlCandidate { account, qty, unrealised_pnl: pnl, entry_cost: cost, notional, equity }
    }

    #[test]
    fn adl_ranks_profit_times_leverage() {
        // a: +50% at 2x -> 1.0; b: +20% at 10x -> 2.0; c: -10% -> negative; d: no equity -> last.
        let c = vec![
            cand("a", 5, 500, 1_000, 1_500, 750),
            cand("b", 5, 200, 1_000, 1_200, 120),
            cand("c", 5, -100, 1_000, 900, 900),
            cand("d", 5, 900, 1_000, 1_900, 0),
        ];
        let q = adl_queue(&c).unwrap();
        assert_eq!(q, vec![1, 0, 2, 3]);
        assert_eq!(adl_allocate(7, &c, &q).unwrap(), vec![(1, 5), (0, 2)]);
        assert_eq!(adl_allocate(21, &c, &q).unwrap_err(), LiquidationError::NothingLeft);
    }
}
