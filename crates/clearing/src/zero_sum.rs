//! Exact settlement between the holders of one contract, the house included.
//!
//! Funding and option expiry move money from one side of a market to the other. Every payer's
//! amount is rounded up and every receiver's amount down, so the payers always cover the
//! receivers; the rounding residue (never negative) is credited to the house, which is always a
//! party to the result. The payments then sum to exactly zero, asserted in release builds.

use crate::{ClearingError, add, checked_abs};
use money::Rounding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The most positions one settlement may read (accounts of one market, the house included).
pub const POSITIONS_MAX: usize = 1_000_000;

/// A signed change of an account's balance in the settlement asset: positive is credited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment<A> {
    pub account: A,
    pub amount: i128,
}

/// Which side of the market is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    Longs,
    Shorts,
    /// Nothing moves (a zero funding rate, an option that expires worthless).
    Nobody,
}

/// Settles `positions` (account, signed quantity) whose quantities net to zero. `magnitude`
/// gives what one holder of `|quantity|` pays or receives, rounded as asked: `Ceil` for payers,
/// `Floor` for receivers; it must be monotone in the rounding (floor <= ceil). The result has one
/// payment per position, in order, then the house's residue: added to the house's own payment
/// if the house holds a position, else appended.
pub fn settle<A, F>(positions: &[(A, i128)], house: &A, receiver: Receiver, magnitude: F) -> Result<Vec<Payment<A>>, ClearingError>
where
    A: Clone + Ord,
    F: Fn(i128, Rounding) -> Result<i128, ClearingError>,
{
    check_positions(positions)?;
    let mut payments = Vec::with_capacity(positions.len() + 1);
    let mut total: i128 = 0;
    for (account, quantity) in positions {
        let amount = payment_of(*quantity, receiver, &magnitude)?;
        total = add(total, amount, "settlement total")?;
        payments.push(Payment { account: account.clone(), amount });
    }
    // Payers were rounded up and receivers down, so what was paid in covers what is paid out.
    assert!(total <= 0, "settlement pays out {total} more than it takes in");
    credit_house(&mut payments, house, -total)?;
    let sum = payments.iter().try_fold(0i128, |sum, payment| add(sum, payment.amount, "settlement check"))?;
    assert_eq!(sum, 0, "a settlement between holders must sum to exactly zero");
    Ok(payments)
}

/// One holder's payment: received (positive, floored) or paid (negative, ceiled).
fn payment_of<F>(quantity: i128, receiver: Receiver, magnitude: &F) -> Result<i128, ClearingError>
where
    F: Fn(i128, Rounding) -> Result<i128, ClearingError>,
{
    let receives = match receiver {
        Receiver::Nobody => return Ok(0),
        _ if quantity == 0 => return Ok(0),
        Receiver::Longs => quantity > 0,
        Receiver::Shorts => quantity < 0,
    };
    let size = checked_abs(quantity, "position size")?;
    let rounding = if receives { Rounding::Floor } else { Rounding::Ceil };
    let amount = magnitude(size, rounding)?;
    assert!(amount >= 0, "a settlement magnitude is never negative");
    Ok(if receives { amount } else { -amount })
}

/// Quantities must net to zero, each account appear once, and the count stay bounded.
fn check_positions<A: Ord>(positions: &[(A, i128)]) -> Result<(), ClearingError> {
    if positions.len() > POSITIONS_MAX {
        return Err(ClearingError::TooManyPositions { count: positions.len(), max: POSITIONS_MAX });
    }
    let mut seen = BTreeSet::new();
    let mut net: i128 = 0;
    for (index, (account, quantity)) in positions.iter().enumerate() {
        if !seen.insert(account) {
            return Err(ClearingError::DuplicateAccount { index });
        }
        net = add(net, *quantity, "net position")?;
    }
    if net != 0 {
        return Err(ClearingError::PositionsDoNotNet { net });
    }
    Ok(())
}

fn credit_house<A: Clone + Ord>(payments: &mut Vec<Payment<A>>, house: &A, residue: i128) -> Result<(), ClearingError> {
    assert!(residue >= 0);
    match payments.iter_mut().find(|payment| &payment.account == house) {
        Some(payment) => payment.amount = add(payment.amount, residue, "house residue")?,
        None => payments.push(Payment { account: house.clone(), amount: residue }),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use money::div_round;

    /// One third of a unit per contract: every holder of a quantity not divisible by 3 rounds.
    fn third(size: i128, rounding: Rounding) -> Result<i128, ClearingError> {
        Ok(div_round(size, 3, rounding)?)
    }

    #[test]
    fn the_house_takes_the_rounding_residue() {
        // Longs a:1 b:1 receive floor(1/3) = 0 each; short c:-2 pays ceil(2/3) = 1.
        // Residue 1 goes to the house, which holds no position and is appended.
        let positions = [("a", 1), ("b", 1), ("c", -2)];
        let payments = settle(&positions, &"house", Receiver::Longs, third).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("a", 0), ("b", 0), ("c", -1), ("house", 1)]);
    }

    #[test]
    fn a_house_position_receives_its_share_and_the_residue() {
        // Shorts receive: house -4 gets floor(4/3) = 1, d -2 gets floor(2/3) = 0;
        // long e +6 pays ceil(6/3) = 2. Residue 2 - 1 = 1 is added to the house: 2.
        let positions = [("house", -4), ("d", -2), ("e", 6)];
        let payments = settle(&positions, &"house", Receiver::Shorts, third).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("house", 2), ("d", 0), ("e", -2)]);
    }

    #[test]
    fn positions_must_net_and_be_unique() {
        assert_eq!(settle(&[("a", 1), ("b", -2)], &"h", Receiver::Longs, third), Err(ClearingError::PositionsDoNotNet { net: -1 }));
        assert_eq!(settle(&[("a", 1), ("a", -1)], &"h", Receiver::Longs, third), Err(ClearingError::DuplicateAccount { index: 1 }));
    }

    #[test]
    fn nobody_paid_moves_nothing() {
        let payments = settle(&[("a", 5), ("b", -5)], &"h", Receiver::Nobody, third).unwrap();
        assert!(payments.iter().all(|p| p.amount == 0));
        assert_eq!(payments.len(), 3);
    }
}
