//! Staking rewards by exchange rate (Lido wstETH: `stEthPerToken`, Rocket Pool rETH alike).
//!
//! A staking receipt is a ledger balance of shares that never changes as rewards arrive; the
//! rewards are in the exchange rate, `value = shares * rate`. The rate is underlying smallest
//! units per share smallest unit with 18 decimals (for wstETH/stETH, both 18-decimal, this is
//! `stEthPerToken`). What a holder is credited or counted as holding rounds down; shares taken
//! from a holder for an amount round up. The rate may fall (slashing): a reward can be negative.

use crate::{ClearingError, ONE_E18, sub};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// Underlying units per share unit, 18 decimals, always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i128", into = "i128")]
pub struct ExchangeRate(i128);

impl TryFrom<i128> for ExchangeRate {
    type Error = ClearingError;
    fn try_from(rate_e18: i128) -> Result<ExchangeRate, ClearingError> {
        ExchangeRate::new(rate_e18)
    }
}

impl From<ExchangeRate> for i128 {
    fn from(rate: ExchangeRate) -> i128 {
        rate.0
    }
}

impl ExchangeRate {
    pub fn new(rate_e18: i128) -> Result<ExchangeRate, ClearingError> {
        if rate_e18 <= 0 {
            return Err(ClearingError::NonPositive { what: "exchange rate", value: rate_e18 });
        }
        Ok(ExchangeRate(rate_e18))
    }
    pub const fn e18(self) -> i128 {
        self.0
    }
}

/// The underlying value of `shares`: `shares * rate / 1e18`, rounded down.
pub fn value_of_shares(shares: i128, rate: ExchangeRate) -> Result<i128, ClearingError> {
    non_negative(shares, "shares")?;
    Ok(mul_div(shares, rate.0, ONE_E18, Rounding::Floor)?)
}

/// Shares issued for `amount` of the underlying (wrap): `amount * 1e18 / rate`, rounded down.
pub fn shares_for_deposit(amount: i128, rate: ExchangeRate) -> Result<i128, ClearingError> {
    non_negative(amount, "amount")?;
    Ok(mul_div(amount, ONE_E18, rate.0, Rounding::Floor)?)
}

/// Shares taken to pay out `amount` of the underlying (unwrap): rounded up.
pub fn shares_for_withdrawal(amount: i128, rate: ExchangeRate) -> Result<i128, ClearingError> {
    non_negative(amount, "amount")?;
    Ok(mul_div(amount, ONE_E18, rate.0, Rounding::Ceil)?)
}

/// The reward of holding `shares` while the rate moved from `before` to `after`: the change
/// of their (rounded-down) value, negative after a slashing.
pub fn reward(shares: i128, before: ExchangeRate, after: ExchangeRate) -> Result<i128, ClearingError> {
    sub(value_of_shares(shares, after)?, value_of_shares(shares, before)?, "staking reward")
}

fn non_negative(value: i128, what: &'static str) -> Result<(), ClearingError> {
    if value < 0 {
        return Err(ClearingError::Negative { what, value });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_grows_with_the_rate_and_rounds_down() {
        // 2 wstETH (2e18 units) at 1.15 stETH per wstETH: 2.3 stETH exactly.
        let rate = ExchangeRate::new(1_150_000_000_000_000_000).unwrap();
        assert_eq!(value_of_shares(2 * ONE_E18, rate).unwrap(), 2_300_000_000_000_000_000);
        // 3 units at 1.15: 3.45 -> 3.
        assert_eq!(value_of_shares(3, rate).unwrap(), 3);
        // The rate moves to 1.150001: reward on 2 wstETH = 2 * 0.000001 = 0.000002 stETH.
        let after = ExchangeRate::new(1_150_001_000_000_000_000).unwrap();
        assert_eq!(reward(2 * ONE_E18, rate, after).unwrap(), 2_000_000_000_000);
        // A slashing back to 1.15 is a negative reward of the same size.
        assert_eq!(reward(2 * ONE_E18, after, rate).unwrap(), -2_000_000_000_000);
    }

    #[test]
    fn wrapping_and_unwrapping_never_create_value() {
        // Wrap 10 units at 1.15: floor(8.695...) = 8 shares, worth floor(9.2) = 9 <= 10.
        // Take 9 units out: ceil(7.826...) = 8 shares.
        let rate = ExchangeRate::new(1_150_000_000_000_000_000).unwrap();
        assert_eq!(shares_for_deposit(10, rate).unwrap(), 8);
        assert_eq!(value_of_shares(8, rate).unwrap(), 9);
        assert_eq!(shares_for_withdrawal(9, rate).unwrap(), 8);
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(ExchangeRate::new(0).is_err());
        let rate = ExchangeRate::new(ONE_E18).unwrap();
        assert_eq!(value_of_shares(-1, rate), Err(ClearingError::Negative { what: "shares", value: -1 }));
        assert!(shares_for_deposit(-1, rate).is_err());
    }
}
