//! Interest on lending receipts and borrows by cumulative index, after Aave v3 (ReserveLogic
//! `_updateIndexes`, MathUtils `calculateLinearInterest` and `calculateCompoundedInterest`,
//! WadRayMath, and the scaled balances of the aToken and variable debt token).
//!
//! Rates are annual fractions in ray (27 decimals); the per-second rate is `rate / SECONDS_PER_YEAR`
//! with Aave's 365-day year. A supply (liquidity) index grows by linear interest, a borrow index by
//! Aave's three-term binomial approximation of compounding. A balance is held scaled:
//! `balance = scaled * index / RAY`, so interest accrues to every holder by moving one index.
//!
//! Where this deviates from Aave, it does so for the broker's favour: Aave's `rayMul`/`rayDiv`
//! round half up; here every division rounds down on the supply side (what the broker owes a
//! lender: index growth, shares minted on deposit, balances) and up on the borrow side (what a
//! borrower owes: index growth, debt shares minted on borrow, debt balances), and shares burnt on a
//! withdrawal round up, on a repayment down. The interest factors themselves are Aave's formulas
//! term by term, each term rounded the same way.

use crate::{ClearingError, add, mul};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// One in ray fixed point (27 decimals).
pub const RAY: i128 = 1_000_000_000_000_000_000_000_000_000;
/// Aave's year: 365 days, leap years ignored.
pub const SECONDS_PER_YEAR: i128 = 365 * 24 * 3600;

/// Which side of a lending market a balance is on: decides every rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// A lending receipt (aToken-like): the broker owes the holder. Linear interest.
    Supply,
    /// A borrow (variable debt): the holder owes the broker. Compounded interest.
    Borrow,
}

impl Side {
    /// The rounding of what this side's holder is owed (Supply) or owes (Borrow).
    const fn in_brokers_favour(self) -> Rounding {
        match self {
            Side::Supply => Rounding::Floor,
            Side::Borrow => Rounding::Ceil,
        }
    }
    const fn opposite(self) -> Rounding {
        match self {
            Side::Supply => Rounding::Ceil,
            Side::Borrow => Rounding::Floor,
        }
    }
}

/// `a * b / RAY`, rounded as told (Aave's `rayMul` rounds half up).
pub fn ray_mul(a: i128, b: i128, rounding: Rounding) -> Result<i128, ClearingError> {
    Ok(mul_div(a, b, RAY, rounding)?)
}

/// `a * RAY / b`, rounded as told (Aave's `rayDiv` rounds half up).
pub fn ray_div(a: i128, b: i128, rounding: Rounding) -> Result<i128, ClearingError> {
    Ok(mul_div(a, RAY, b, rounding)?)
}

/// `RAY + rate * elapsed / SECONDS_PER_YEAR` (Aave `calculateLinearInterest`, which floors).
pub fn linear_interest(rate_ray: i128, elapsed_s: u64, rounding: Rounding) -> Result<i128, ClearingError> {
    check_rate(rate_ray)?;
    let accrued = mul_div(rate_ray, i128::from(elapsed_s), SECONDS_PER_YEAR, rounding)?;
    add(RAY, accrued, "linear interest")
}

/// Aave's `calculateCompoundedInterest`: with `x = rate / SECONDS_PER_YEAR` and `n = elapsed`,
/// `RAY + n*x + n(n-1)/2 * x^2 + n(n-1)(n-2)/6 * x^3`, every division rounded as told. The
/// truncated series is below true compounding (Aave: it "slightly undercharges borrowers").
///
/// Deviation: Aave rounds `x^2` and `x^3` to whole ray units per second before multiplying by
/// `n^2` and `n^3`, which can lose up to `n^3/6` units; here each term is formed in 256 bits before
/// its last division, so each is within one unit (`x^3`: two) of the exact term.
pub fn compounded_interest(rate_ray: i128, elapsed_s: u64, rounding: Rounding) -> Result<i128, ClearingError> {
    check_rate(rate_ray)?;
    if elapsed_s == 0 {
        return Ok(RAY);
    }
    let n = i128::from(elapsed_s);
    // `rate^2 / RAY`: the square in ray, per year squared.
    let rate_squared = ray_mul(rate_ray, rate_ray, rounding)?;
    // n(n-1) is even and n(n-1)(n-2) a multiple of 6: both binomial coefficients are exact.
    let pairs = mul(n, n - 1, "compounding")? / 2;
    let triples = mul(mul(n, n - 1, "compounding")?, (n - 2).max(0), "compounding")? / 6;
    let first = mul_div(rate_ray, n, SECONDS_PER_YEAR, rounding)?;
    let second = mul_div(pairs, rate_squared, SECONDS_PER_YEAR * SECONDS_PER_YEAR, rounding)?;
    let cubed_share = mul_div(triples, rate_squared, SECONDS_PER_YEAR * SECONDS_PER_YEAR * SECONDS_PER_YEAR, rounding)?;
    let third = ray_mul(cubed_share, rate_ray, rounding)?;
    add(add(add(RAY, first, "compounding")?, second, "compounding")?, third, "compounding")
}

fn check_rate(rate_ray: i128) -> Result<(), ClearingError> {
    if rate_ray < 0 {
        return Err(ClearingError::Negative { what: "interest rate", value: rate_ray });
    }
    Ok(())
}

/// A cumulative interest index in ray and the second it was last brought forward to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "InterestIndexFields")]
pub struct InterestIndex {
    index_ray: i128,
    updated_s: u64,
}

/// The serialised form of an [`InterestIndex`], validated on the way in.
#[derive(Deserialize)]
struct InterestIndexFields {
    index_ray: i128,
    updated_s: u64,
}

impl TryFrom<InterestIndexFields> for InterestIndex {
    type Error = ClearingError;
    fn try_from(fields: InterestIndexFields) -> Result<InterestIndex, ClearingError> {
        InterestIndex::restore(fields.index_ray, fields.updated_s)
    }
}

impl InterestIndex {
    /// A fresh index: one ray at `start_s`.
    pub const fn new(start_s: u64) -> InterestIndex {
        InterestIndex { index_ray: RAY, updated_s: start_s }
    }
    /// An index restored from state; refused below one ray.
    pub fn restore(index_ray: i128, updated_s: u64) -> Result<InterestIndex, ClearingError> {
        if index_ray < RAY {
            return Err(ClearingError::IndexBelowRay { index: index_ray });
        }
        Ok(InterestIndex { index_ray, updated_s })
    }
    pub const fn index_ray(self) -> i128 {
        self.index_ray
    }
    pub const fn updated_s(self) -> u64 {
        self.updated_s
    }

    /// Brings the index forward to `now_s` at the annual `rate_ray` in force since the last
    /// update: `index * factor / RAY`, the factor linear for supply and compounded for borrows,
    /// rounded in the broker's favour. The index never decreases.
    pub fn accrue(self, side: Side, rate_ray: i128, now_s: u64) -> Result<InterestIndex, ClearingError> {
        let elapsed_s = now_s.checked_sub(self.updated_s).ok_or(ClearingError::TimeWentBackwards { last_s: self.updated_s, now_s })?;
        let rounding = side.in_brokers_favour();
        let factor = match side {
            Side::Supply => linear_interest(rate_ray, elapsed_s, rounding)?,
            Side::Borrow => compounded_interest(rate_ray, elapsed_s, rounding)?,
        };
        let index_ray = ray_mul(factor, self.index_ray, rounding)?;
        assert!(factor >= RAY && index_ray >= self.index_ray, "an interest index never decreases");
        Ok(InterestIndex { index_ray, updated_s: now_s })
    }
}

/// Scaled units minted for `amount` added at `index`: `amount * RAY / index`, down for a
/// deposit (the lender gets no more than paid for), up for a borrow (the debt is no less).
pub fn mint_scaled(side: Side, amount: i128, index: InterestIndex) -> Result<i128, ClearingError> {
    check_amount(amount)?;
    ray_div(amount, index.index_ray, side.in_brokers_favour())
}

/// Scaled units burnt for `amount` removed at `index` from `scaled_balance`: up for a
/// withdrawal, down for a repayment. More than the balance holds is refused.
pub fn burn_scaled(side: Side, scaled_balance: i128, amount: i128, index: InterestIndex) -> Result<i128, ClearingError> {
    check_amount(amount)?;
    let burnt = ray_div(amount, index.index_ray, side.opposite())?;
    if burnt > scaled_balance {
        return Err(ClearingError::InsufficientScaledBalance { needed: burnt, available: scaled_balance });
    }
    Ok(burnt)
}

/// The balance of `scaled` units at `index`: `scaled * index / RAY`, down for a lender's
/// balance and up for a borrower's debt.
pub fn balance_of(side: Side, scaled: i128, index: InterestIndex) -> Result<i128, ClearingError> {
    check_amount(scaled)?;
    ray_mul(scaled, index.index_ray, side.in_brokers_favour())
}

fn check_amount(amount: i128) -> Result<(), ClearingError> {
    if amount < 0 {
        return Err(ClearingError::Negative { what: "amount", value: amount });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERCENT: i128 = RAY / 100;

    #[test]
    fn linear_interest_for_a_year_at_five_percent() {
        // 5% for 365 days: RAY + 0.05 RAY exactly.
        assert_eq!(linear_interest(5 * PERCENT, 31_536_000, Rounding::Floor).unwrap(), RAY + 5 * PERCENT);
        // 5% for one second: 0.05e27 / 31_536_000 = 1_585_489_599_188_229_325.2... -> floor.
        assert_eq!(linear_interest(5 * PERCENT, 1, Rounding::Floor).unwrap(), RAY + 1_585_489_599_188_229_325);
        assert_eq!(linear_interest(5 * PERCENT, 1, Rounding::Ceil).unwrap(), RAY + 1_585_489_599_188_229_326);
    }

    #[test]
    fn compounded_interest_by_hand_over_three_seconds() {
        // rate = SECONDS_PER_YEAR * 1e18 (x = 1e-9 per second: 1e18 in ray), n = 3:
        // first = 3e18; rate^2 / RAY = SPY^2 * 1e9, pairs 3: second = 3 * 1e9 = 3e9 exactly;
        // triples 1: third = 1 * SPY^2 * 1e9 / SPY^3 * SPY * 1e18 / 1e27 = 1 (x^3 = 1e-27 ray),
        // but through the intermediate 1e9 / SPY = 31.7: floor 31 -> 31 * SPY / 1e9 = 0.98 -> 0,
        // ceil 32 -> 1.009 -> 2. Each side stays within two units of the exact 1.
        let rate = SECONDS_PER_YEAR * 1_000_000_000_000_000_000;
        let exact_without_third = RAY + 3_000_000_000_000_000_000 + 3_000_000_000;
        assert_eq!(compounded_interest(rate, 3, Rounding::Floor).unwrap(), exact_without_third);
        assert_eq!(compounded_interest(rate, 3, Rounding::Ceil).unwrap(), exact_without_third + 2);
        assert_eq!(compounded_interest(rate, 0, Rounding::Ceil).unwrap(), RAY);
        // Two seconds: no third term, second = 1 * 1e9.
        assert_eq!(compounded_interest(rate, 2, Rounding::Ceil).unwrap(), RAY + 2_000_000_000_000_000_000 + 1_000_000_000);
    }

    #[test]
    fn indices_accrue_and_never_run_backwards() {
        let index = InterestIndex::new(1_000);
        // A year of supply at 10%: 1.1 ray.
        let supply = index.accrue(Side::Supply, 10 * PERCENT, 1_000 + 31_536_000).unwrap();
        assert_eq!(supply.index_ray(), RAY + 10 * PERCENT);
        assert_eq!(index.accrue(Side::Supply, PERCENT, 999), Err(ClearingError::TimeWentBackwards { last_s: 1_000, now_s: 999 }));
        assert!(matches!(index.accrue(Side::Borrow, -1, 2_000), Err(ClearingError::Negative { .. })));
        assert_eq!(InterestIndex::restore(RAY - 1, 0), Err(ClearingError::IndexBelowRay { index: RAY - 1 }));
    }

    #[test]
    fn scaled_balances_round_against_the_holder() {
        // Index 1.5 ray. Deposit 100 units: scaled floor(66.67) = 66, worth floor(66 * 1.5) = 99.
        // Borrow 100: scaled ceil(66.67) = 67, owing ceil(67 * 1.5) = 101 (100.5 up).
        let index = InterestIndex::restore(RAY + RAY / 2, 0).unwrap();
        assert_eq!(mint_scaled(Side::Supply, 100, index).unwrap(), 66);
        assert_eq!(balance_of(Side::Supply, 66, index).unwrap(), 99);
        assert_eq!(mint_scaled(Side::Borrow, 100, index).unwrap(), 67);
        assert_eq!(balance_of(Side::Borrow, 67, index).unwrap(), 101);
        // Withdrawing 99 burns ceil(66) = 66; withdrawing 10 burns ceil(6.67) = 7.
        assert_eq!(burn_scaled(Side::Supply, 66, 99, index).unwrap(), 66);
        assert_eq!(burn_scaled(Side::Supply, 66, 10, index).unwrap(), 7);
        // Repaying 10 burns floor(6.67) = 6 debt shares; repaying 101 burns floor(67.33) = 67.
        assert_eq!(burn_scaled(Side::Borrow, 67, 10, index).unwrap(), 6);
        assert_eq!(burn_scaled(Side::Borrow, 67, 101, index).unwrap(), 67);
        // Withdrawing 100 would need 67 shares of the 66 held.
        assert_eq!(burn_scaled(Side::Supply, 66, 100, index), Err(ClearingError::InsufficientScaledBalance { needed: 67, available: 66 }));
    }
}
