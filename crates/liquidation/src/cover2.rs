//! Cover-2: is the default fund big enough for the two worst defaults?
//!
//! PFMI principle 4 asks a CCP with a complex risk profile to hold resources that cover the
//! default of the two participants (with their affiliates) that would cause the largest
//! aggregate credit exposure in extreme but plausible conditions. Here, for every stress
//! scenario `s` and account `a` (an owner, all its sub-accounts together), the uncovered loss is
//! `u(a, s) = max(0, loss(a, s) - equity(a))`; the requirement is
//! `max over s of (the two largest u(., s))`, and separately the broker's loss from the failure of
//! its largest single protocol. The resources are the insurance fund plus the broker's capital;
//! a shortfall is charged back as initial-margin add-ons to the two accounts that cause it, pro
//! rata to their uncovered losses, rounded up.

use crate::{LiquidationError, add};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// The most accounts and scenarios one test reads.
pub const ACCOUNTS_MAX: usize = 10_000_000;
pub const SCENARIOS_MAX: usize = 65_536;

/// One account's stress losses (USD, 18 decimals; positive is a loss) and its equity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StressedAccount<A> {
    pub account: A,
    pub equity: i128,
    pub losses: Vec<i128>,
}

/// The cover-2 result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cover2<A> {
    /// The scenario whose two worst defaults cost most (None when nothing is uncovered).
    pub scenario: Option<usize>,
    /// The two (or fewer) defaulters and their uncovered losses.
    pub defaulters: Vec<(A, i128)>,
    /// Cover-2 requirement from the accounts.
    pub cover2: i128,
    /// The largest single-protocol failure loss, and its protocol.
    pub protocol: Option<(String, i128)>,
    /// `max(cover2, protocol loss)`.
    pub requirement: i128,
    pub resources: i128,
    pub shortfall: i128,
    /// Add-ons charged to the defaulters that cause the shortfall.
    pub add_ons: Vec<(A, i128)>,
}

/// Runs the test. `protocol_losses`: per protocol, what its failure would cost the broker beyond
/// the accounts' collateral.
pub fn cover2<A: Clone>(
    accounts: &[StressedAccount<A>],
    protocol_losses: &[(String, i128)],
    resources: i128,
) -> Result<Cover2<A>, LiquidationError> {
    check(accounts, resources)?;
    let (scenario, defaulters, cover2) = worst_pair(accounts)?;
    let protocol = protocol_losses.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).cloned();
    let requirement = cover2.max(protocol.as_ref().map_or(0, |p| p.1)).max(0);
    let shortfall = (requirement - resources).max(0);
    let add_ons = add_ons(&defaulters, cover2, shortfall)?;
    Ok(Cover2 { scenario, defaulters, cover2, protocol, requirement, resources, shortfall, add_ons })
}

fn check<A>(accounts: &[StressedAccount<A>], resources: i128) -> Result<(), LiquidationError> {
    if accounts.len() > ACCOUNTS_MAX || resources < 0 {
        return Err(LiquidationError::OutOfRange("account count or resources"));
    }
    let n = accounts.first().map_or(0, |a| a.losses.len());
    if n > SCENARIOS_MAX || accounts.iter().any(|a| a.losses.len() != n) {
        return Err(LiquidationError::OutOfRange("every account has one loss per scenario"));
    }
    Ok(())
}

type Pair<A> = (Option<usize>, Vec<(A, i128)>, i128);

/// The scenario and the two accounts with the largest summed uncovered loss (ties: lower
/// scenario, then lower account index).
fn worst_pair<A: Clone>(accounts: &[StressedAccount<A>]) -> Result<Pair<A>, LiquidationError> {
    let n = accounts.first().map_or(0, |a| a.losses.len());
    let mut best: Pair<A> = (None, Vec::new(), 0);
    for s in 0..n {
        let mut top: [(i128, usize); 2] = [(0, usize::MAX); 2];
        for (i, a) in accounts.iter().enumerate() {
            let u = (a.losses[s].checked_sub(a.equity).ok_or(LiquidationError::Overflow("uncovered loss"))?).max(0);
            if u > top[0].0 {
                top = [(u, i), top[0]];
            } else if u > top[1].0 {
                top[1] = (u, i);
            }
        }
        let total = add(top[0].0, top[1].0, "cover-2 pair")?;
        if total > best.2 {
            let pair = top.iter().filter(|(u, _)| *u > 0).map(|(u, i)| (accounts[*i].account.clone(), *u)).collect();
            best = (Some(s), pair, total);
        }
    }
    Ok(best)
}

fn add_ons<A: Clone>(defaulters: &[(A, i128)], cover2: i128, shortfall: i128) -> Result<Vec<(A, i128)>, LiquidationError> {
    if shortfall == 0 || cover2 == 0 {
        return Ok(Vec::new());
    }
    // A shortfall from the protocol test alone is charged to the same pair, capped at the pair's
    // share of what they cause (the whole shortfall when they cause it all).
    let charged = shortfall.min(cover2);
    defaulters.iter().map(|(a, u)| Ok((a.clone(), mul_div(charged, *u, cover2, Rounding::Ceil)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(name: &'static str, equity: i128, losses: &[i128]) -> StressedAccount<&'static str> {
        StressedAccount { account: name, equity, losses: losses.to_vec() }
    }

    #[test]
    fn two_worst_defaults_in_the_worst_scenario() {
        let accounts = vec![
            acct("a", 100, &[150, 400, 0]), // uncovered 50, 300, 0
            acct("b", 50, &[300, 100, 0]),  // 250, 50, 0
            acct("c", 10, &[20, 200, 500]), // 10, 190, 490
        ];
        // Scenario 0: 250 + 50 = 300; scenario 1: 300 + 190 = 490; scenario 2: 490.
        // Tie at 490: the lower scenario wins.
        let r = cover2(&accounts, &[], 400).unwrap();
        assert_eq!(r.scenario, Some(1));
        assert_eq!(r.defaulters, vec![("a", 300), ("c", 190)]);
        assert_eq!((r.cover2, r.requirement, r.shortfall), (490, 490, 90));
        // 90 x 300/490 = 55.1 -> 56; 90 x 190/490 = 34.9 -> 35.
        assert_eq!(r.add_ons, vec![("a", 56), ("c", 35)]);
    }

    #[test]
    fn protocol_failure_can_set_the_requirement() {
        let accounts = vec![acct("a", 100, &[150])];
        let protocols = vec![("lido".to_string(), 700), ("circle".to_string(), 900)];
        let r = cover2(&accounts, &protocols, 1_000).unwrap();
        assert_eq!(r.protocol, Some(("circle".to_string(), 900)));
        assert_eq!((r.requirement, r.shortfall), (900, 0));
        assert!(r.add_ons.is_empty());
        let bad = vec![acct("a", 0, &[1, 2]), acct("b", 0, &[1])];
        assert!(cover2(&bad, &[], 0).is_err());
    }
}
