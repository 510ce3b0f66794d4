//! Maker/taker fees on a fill's quote notional (the maker/taker model of every order-book venue;
//! negative maker fees are rebates as on dYdX v4 and Binance).
//!
//! A fee charged rounds up, a rebate paid rounds down; a schedule whose maker rebate exceeds its
//! taker fee is refused, so the fee account never loses on a fill.

use crate::ClearingError;
use money::{Amount, Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// Basis points in one: a fee of 10_000 bps is the whole notional.
pub const BPS_ONE: i128 = 10_000;
/// The largest fee or rebate a schedule may name: 10% of the notional.
pub const FEE_BPS_MAX: i32 = 1_000;

/// A market's fees in basis points of the quote notional. A negative maker fee is a rebate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FeeScheduleFields")]
pub struct FeeSchedule {
    maker_bps: i32,
    taker_bps: i32,
}

/// The fees of one fill, in quote-asset units. Positive is paid by the party to `@fees`,
/// negative is paid by `@fees` to the party (a maker rebate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillFees {
    pub maker: i128,
    pub taker: i128,
}

impl FillFees {
    /// What the fee account gains on the fill: `maker + taker`, never negative.
    pub fn fee_account_net(self) -> i128 {
        self.maker + self.taker
    }
}

/// The serialised form of a [`FeeSchedule`], validated on the way in.
#[derive(Deserialize)]
struct FeeScheduleFields {
    maker_bps: i32,
    taker_bps: i32,
}

impl TryFrom<FeeScheduleFields> for FeeSchedule {
    type Error = ClearingError;
    fn try_from(fields: FeeScheduleFields) -> Result<FeeSchedule, ClearingError> {
        FeeSchedule::new(fields.maker_bps, fields.taker_bps)
    }
}

impl FeeSchedule {
    /// Validates: `0 <= taker <= FEE_BPS_MAX`, `|maker| <= FEE_BPS_MAX`, and a maker rebate no
    /// larger than the taker fee (`maker + taker >= 0`).
    pub fn new(maker_bps: i32, taker_bps: i32) -> Result<FeeSchedule, ClearingError> {
        let refuse = |reason| Err(ClearingError::InvalidFeeSchedule { maker_bps, taker_bps, reason });
        if !(0..=FEE_BPS_MAX).contains(&taker_bps) {
            return refuse("the taker fee must lie in 0..=1000 bps");
        }
        if !(-FEE_BPS_MAX..=FEE_BPS_MAX).contains(&maker_bps) {
            return refuse("the maker fee must lie in -1000..=1000 bps");
        }
        if maker_bps + taker_bps < 0 {
            return refuse("the maker rebate exceeds the taker fee: the fee account would pay out on a fill");
        }
        Ok(FeeSchedule { maker_bps, taker_bps })
    }
    pub const fn maker_bps(self) -> i32 {
        self.maker_bps
    }
    pub const fn taker_bps(self) -> i32 {
        self.taker_bps
    }

    /// The fees of a fill of `notional` quote units (positive).
    pub fn fill_fees(self, notional: Amount) -> Result<FillFees, ClearingError> {
        if notional.0 <= 0 {
            return Err(ClearingError::NonPositive { what: "fill notional", value: notional.0 });
        }
        let taker = fee_in_brokers_favour(notional.0, self.taker_bps)?;
        let maker = fee_in_brokers_favour(notional.0, self.maker_bps)?;
        let fees = FillFees { maker, taker };
        // ceil(n*t) >= n*t >= n*|m| >= floor(n*|m|) because t >= -m: never negative.
        assert!(fees.fee_account_net() >= 0, "fee account lost on a fill: {fees:?}");
        assert!(taker >= 0);
        Ok(fees)
    }
}

/// `notional * bps / 10_000`: a charge (bps >= 0) rounds up, a rebate (bps < 0) is paid
/// rounded down in magnitude, which `Ceil` also gives for a negative quotient.
fn fee_in_brokers_favour(notional: i128, bps: i32) -> Result<i128, ClearingError> {
    // Ceil is the broker's side in both signs: up for a charge, toward zero for a rebate.
    Ok(mul_div(notional, i128::from(bps), BPS_ONE, Rounding::Ceil)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taker_fee_rounds_up_and_maker_rebate_rounds_down() {
        // Maker -2 bps, taker 5 bps, on a notional of 1_234_567 units (1.234567 USDC):
        // taker 1_234_567 * 5 / 10_000 = 617.2835 -> 618 charged;
        // maker 1_234_567 * 2 / 10_000 = 246.9134 -> 246 rebated.
        let schedule = FeeSchedule::new(-2, 5).unwrap();
        let fees = schedule.fill_fees(Amount(1_234_567)).unwrap();
        assert_eq!(fees, FillFees { maker: -246, taker: 618 });
        assert_eq!(fees.fee_account_net(), 372);
    }

    #[test]
    fn a_positive_maker_fee_also_rounds_up() {
        // 1 bps on 9_999 units: 0.9999 -> 1; 3 bps: 2.9997 -> 3.
        let fees = FeeSchedule::new(1, 3).unwrap().fill_fees(Amount(9_999)).unwrap();
        assert_eq!(fees, FillFees { maker: 1, taker: 3 });
    }

    #[test]
    fn a_rebate_equal_to_the_taker_fee_leaves_the_fee_account_at_least_even() {
        // -5 / 5 on 1_001 units: taker ceil(0.5005) = 1, rebate floor(0.5005) = 0.
        let fees = FeeSchedule::new(-5, 5).unwrap().fill_fees(Amount(1_001)).unwrap();
        assert_eq!(fees, FillFees { maker: 0, taker: 1 });
        // 20_000 units: exactly 10 each way, the fee account nets zero.
        let fees = FeeSchedule::new(-5, 5).unwrap().fill_fees(Amount(20_000)).unwrap();
        assert_eq!(fees, FillFees { maker: -10, taker: 10 });
    }

    #[test]
    fn schedules_that_could_lose_are_refused() {
        assert!(matches!(FeeSchedule::new(-6, 5), Err(ClearingError::InvalidFeeSchedule { maker_bps: -6, taker_bps: 5, .. })));
        assert!(FeeSchedule::new(0, -1).is_err());
        assert!(FeeSchedule::new(0, 1_001).is_err());
        assert!(FeeSchedule::new(-1_001, 1_000).is_err());
        assert!(FeeSchedule::new(-1_000, 1_000).is_ok());
    }

    #[test]
    fn a_non_positive_notional_is_refused() {
        let schedule = FeeSchedule::new(0, 5).unwrap();
        assert_eq!(schedule.fill_fees(Amount(0)), Err(ClearingError::NonPositive { what: "fill notional", value: 0 }));
        assert!(schedule.fill_fees(Amount(-1)).is_err());
    }
}
