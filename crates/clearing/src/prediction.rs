//! Resolution of binary prediction markets (Polymarket's conditional tokens, resolved by UMA).
//!
//! YES and NO shares are minted in complete sets against collateral: one YES plus one NO for one
//! whole unit of the settlement asset, held in the market's escrow. At resolution each YES share
//! pays exactly one whole unit if the outcome is YES, else nothing; NO the reverse. An *invalid*
//! resolution (the question was ambiguous or unresolvable, UMA's "50-50" answer) pays one half per
//! share on both sides, so a complete set still returns its unit. A holder's payout rounds down;
//! what the escrow releases is the collateral exactly, the residue going to the house.

use crate::zero_sum::Payment;
use crate::{ClearingError, ContractSpec, ONE_E18, Price, add, sub};
use money::Rounding;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Yes,
    No,
    /// Neither: every share, YES or NO, pays one half.
    Invalid,
}

/// A holder's shares of one market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding<A> {
    pub account: A,
    pub yes: i128,
    pub no: i128,
}

/// The payout per (YES, NO) share in 18-decimal whole settlement units.
pub const fn payout_per_share(outcome: Outcome) -> (Price, Price) {
    match outcome {
        Outcome::Yes => (Price(ONE_E18), Price(0)),
        Outcome::No => (Price(0), Price(ONE_E18)),
        Outcome::Invalid => (Price(ONE_E18 / 2), Price(ONE_E18 / 2)),
    }
}

/// Pays every holder from the escrow's `collateral` (settlement units): `yes * p_yes + no *
/// p_no`, rounded down; the house gets the rest. The payments sum to exactly `collateral`.
/// YES and NO totals must match (complete sets) and the collateral must cover the payouts.
pub fn resolve<A: Clone + Ord>(
    holdings: &[Holding<A>],
    outcome: Outcome,
    spec: ContractSpec,
    house: &A,
    collateral: i128,
) -> Result<Vec<Payment<A>>, ClearingError> {
    let (yes_pays, no_pays) = payout_per_share(outcome);
    check_sets(holdings)?;
    let mut payments = Vec::with_capacity(holdings.len() + 1);
    let mut paid: i128 = 0;
    for holding in holdings {
        let from_yes = spec.settlement_value(holding.yes, yes_pays, Rounding::Floor)?;
        let from_no = spec.settlement_value(holding.no, no_pays, Rounding::Floor)?;
        let amount = add(from_yes, from_no, "prediction payout")?;
        paid = add(paid, amount, "prediction payouts")?;
        payments.push(Payment { account: holding.account.clone(), amount });
    }
    if paid > collateral {
        return Err(ClearingError::InsufficientCollateral { collateral, payouts: paid });
    }
    let residue = sub(collateral, paid, "prediction residue")?;
    match payments.iter_mut().find(|payment| &payment.account == house) {
        Some(payment) => payment.amount = add(payment.amount, residue, "prediction residue")?,
        None => payments.push(Payment { account: house.clone(), amount: residue }),
    }
    let released = payments.iter().try_fold(0i128, |sum, payment| add(sum, payment.amount, "prediction check"))?;
    assert_eq!(released, collateral, "a resolution releases exactly the collateral");
    Ok(payments)
}

/// Shares are non-negative balances, each account once, and YES and NO totals are equal.
fn check_sets<A: Ord>(holdings: &[Holding<A>]) -> Result<(), ClearingError> {
    let mut seen = std::collections::BTreeSet::new();
    let (mut yes, mut no) = (0i128, 0i128);
    for (index, holding) in holdings.iter().enumerate() {
        if !seen.insert(&holding.account) {
            return Err(ClearingError::DuplicateAccount { index });
        }
        if holding.yes < 0 || holding.no < 0 {
            return Err(ClearingError::Negative { what: "shares", value: holding.yes.min(holding.no) });
        }
        yes = add(yes, holding.yes, "YES shares")?;
        no = add(no, holding.no, "NO shares")?;
    }
    if yes != no {
        return Err(ClearingError::UnpairedShares { yes, no });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(account: &'static str, yes: i128, no: i128) -> Holding<&'static str> {
        Holding { account, yes, no }
    }

    /// Shares at scale 0 (whole shares), USDC settlement (6 decimals).
    fn spec() -> ContractSpec {
        ContractSpec::new(0, 6).unwrap()
    }

    #[test]
    fn yes_pays_one_unit_per_share_and_no_nothing() {
        // 10 sets: a holds 7 YES, b 3 YES and 10 NO. YES: a 7 USDC, b 3 USDC, house 0.
        let holdings = [holding("a", 7, 0), holding("b", 3, 10)];
        let payments = resolve(&holdings, Outcome::Yes, spec(), &"house", 10_000_000).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("a", 7_000_000), ("b", 3_000_000), ("house", 0)]);
        let payments = resolve(&holdings, Outcome::No, spec(), &"house", 10_000_000).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("a", 0), ("b", 10_000_000), ("house", 0)]);
    }

    #[test]
    fn invalid_pays_half_on_both_sides_rounded_down() {
        // Shares at scale 0, settlement in whole units (scale 0) to make the half visible:
        // a 3 YES -> 1.5 -> 1; b 3 NO -> 1; the house gets 3 - 2 = 1.
        let whole = ContractSpec::new(0, 0).unwrap();
        let holdings = [holding("a", 3, 0), holding("b", 0, 3)];
        let payments = resolve(&holdings, Outcome::Invalid, whole, &"house", 3).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("a", 1), ("b", 1), ("house", 1)]);
    }

    #[test]
    fn unpaired_or_uncovered_markets_are_refused() {
        assert_eq!(
            resolve(&[holding("a", 2, 1)], Outcome::Yes, spec(), &"h", 2_000_000),
            Err(ClearingError::UnpairedShares { yes: 2, no: 1 })
        );
        assert_eq!(
            resolve(&[holding("a", 2, 2)], Outcome::Yes, spec(), &"h", 1_999_999),
            Err(ClearingError::InsufficientCollateral { collateral: 1_999_999, payouts: 2_000_000 })
        );
        assert!(resolve(&[holding("a", -1, -1)], Outcome::Yes, spec(), &"h", 0).is_err());
        assert_eq!(
            resolve(&[holding("a", 1, 0), holding("a", 0, 1)], Outcome::Yes, spec(), &"h", 1),
            Err(ClearingError::DuplicateAccount { index: 1 })
        );
    }
}
