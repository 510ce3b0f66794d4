//! Perpetual funding: a premium index from mark and index observations, the BitMEX/Binance
//! funding-rate formula (premium plus a clamped interest component) capped per interval as
//! dYdX v4 caps it, and the exact payment of every position at the end of an interval.
//!
//! Payments are settled per interval between all holders of the market (the house included, as
//! the counterparty of its net position): `payment = quantity * index_price * rate`, longs pay
//! shorts when the rate is positive. Payers round up, receivers down, the house takes the
//! residue, and the payments sum to exactly zero ([`crate::zero_sum`]).

use crate::twap::{Window, time_weighted_average};
use crate::zero_sum::{Payment, Receiver, settle};
use crate::{ClearingError, ContractSpec, ONE_E18, Price, add, sub};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// One sample of a perpetual market: its mark (the venue's own price) and the oracle index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PremiumObservation {
    pub time_ms: u64,
    pub mark: Price,
    pub index: Price,
}

/// A market's funding parameters. Rates are fractions per interval with 18 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FundingParamsFields")]
pub struct FundingParams {
    interval_ms: u64,
    gap_max_ms: u64,
    interest_rate_e18: i128,
    damper_e18: i128,
    cap_e18: i128,
}

/// The serialised form of [`FundingParams`], validated on the way in.
#[derive(Deserialize)]
struct FundingParamsFields {
    interval_ms: u64,
    gap_max_ms: u64,
    interest_rate_e18: i128,
    damper_e18: i128,
    cap_e18: i128,
}

impl TryFrom<FundingParamsFields> for FundingParams {
    type Error = ClearingError;
    fn try_from(f: FundingParamsFields) -> Result<FundingParams, ClearingError> {
        FundingParams::new(f.interval_ms, f.gap_max_ms, f.interest_rate_e18, f.damper_e18, f.cap_e18)
    }
}

impl FundingParams {
    /// Validates: a positive interval and gap, `0 <= damper`, `0 < cap <= 1` (100% per interval)
    /// and `|interest| <= cap`.
    pub fn new(
        interval_ms: u64,
        gap_max_ms: u64,
        interest_rate_e18: i128,
        damper_e18: i128,
        cap_e18: i128,
    ) -> Result<FundingParams, ClearingError> {
        let refuse = |name, reason| Err(ClearingError::InvalidParameter { name, reason });
        if interval_ms == 0 {
            return refuse("interval_ms", "must be positive");
        }
        if gap_max_ms == 0 {
            return refuse("gap_max_ms", "must be positive");
        }
        if !(1..=ONE_E18).contains(&cap_e18) {
            return refuse("cap_e18", "must lie in 1..=1e18 (at most 100% per interval)");
        }
        if !(0..=cap_e18).contains(&damper_e18) {
            return refuse("damper_e18", "must lie in 0..=cap");
        }
        if interest_rate_e18.abs() > cap_e18 {
            return refuse("interest_rate_e18", "must not exceed the cap");
        }
        Ok(FundingParams { interval_ms, gap_max_ms, interest_rate_e18, damper_e18, cap_e18 })
    }
    pub const fn interval_ms(self) -> u64 {
        self.interval_ms
    }

    /// The funding rate of the interval ending at `end_ms` from the premium observations
    /// covering `[end_ms - interval_ms, end_ms)`.
    pub fn interval_rate(self, observations: &[PremiumObservation], end_ms: u64) -> Result<i128, ClearingError> {
        let start_ms = end_ms.checked_sub(self.interval_ms).ok_or(ClearingError::EmptyWindow { start_ms: 0, end_ms })?;
        let window = Window { start_ms, end_ms, gap_max_ms: self.gap_max_ms };
        let premium = premium_index(observations, window)?;
        self.rate_from_premium(premium)
    }

    /// `clamp(P + clamp(I - P, -damper, damper), -cap, cap)`: with no damper the rate is the
    /// premium alone; the interest component pulls it toward `I` by at most the damper.
    pub fn rate_from_premium(self, premium_e18: i128) -> Result<i128, ClearingError> {
        let pull = sub(self.interest_rate_e18, premium_e18, "funding interest pull")?.clamp(-self.damper_e18, self.damper_e18);
        let rate = add(premium_e18, pull, "funding rate")?.clamp(-self.cap_e18, self.cap_e18);
        assert!(rate.abs() <= self.cap_e18);
        Ok(rate)
    }
}

/// The premium index: the time-weighted average over `window` of `(mark - index) / index`
/// (18 decimals), each sample and the average rounded down (Floor).
pub fn premium_index(observations: &[PremiumObservation], window: Window) -> Result<i128, ClearingError> {
    let mut samples = Vec::with_capacity(observations.len());
    for observation in observations {
        let index = observation.index.positive("index price")?.e18();
        let mark = observation.mark.positive("mark price")?.e18();
        let premium = mul_div(sub(mark, index, "premium")?, ONE_E18, index, Rounding::Floor)?;
        samples.push((observation.time_ms, premium));
    }
    time_weighted_average(&samples, window, Rounding::Floor)
}

/// What one holder of `size` (positive quantity) pays or receives at `index_price` and
/// `|rate|`: `size * index_price / 10^q` (18-decimal value), times `|rate| / 1e18`, then in
/// settlement units, every step rounded as told. The result is within one unit plus `|rate|`
/// of a unit of the exact value, always on the side of `rounding`.
pub fn payment_magnitude(
    size: i128,
    index_price: Price,
    rate_abs_e18: i128,
    spec: ContractSpec,
    rounding: Rounding,
) -> Result<i128, ClearingError> {
    assert!(size >= 0 && rate_abs_e18 >= 0);
    let notional = spec.value_e18(size, index_price, rounding)?;
    let payment_e18 = mul_div(notional, rate_abs_e18, ONE_E18, rounding)?;
    spec.to_settlement_units(payment_e18, rounding)
}

/// The funding payments of one interval: `positions` are (account, signed quantity) of every
/// holder of the market, the house included with its net position, netting to zero. A positive
/// rate makes longs pay shorts. The house receives the rounding residue; the sum is zero.
pub fn settle_funding<A: Clone + Ord>(
    positions: &[(A, i128)],
    house: &A,
    index_price: Price,
    rate_e18: i128,
    spec: ContractSpec,
) -> Result<Vec<Payment<A>>, ClearingError> {
    index_price.positive("index price")?;
    let receiver = match rate_e18.signum() {
        1 => Receiver::Shorts,
        -1 => Receiver::Longs,
        _ => Receiver::Nobody,
    };
    let rate_abs = crate::checked_abs(rate_e18, "funding rate")?;
    if rate_abs > ONE_E18 {
        return Err(ClearingError::InvalidParameter { name: "rate_e18", reason: "a funding rate beyond 100% per interval" });
    }
    settle(positions, house, receiver, |size, rounding| payment_magnitude(size, index_price, rate_abs, spec, rounding))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(whole: i128) -> Price {
        Price(whole * ONE_E18)
    }

    /// 8-hour intervals, 1-minute gaps allowed, interest 0.01%, damper 0.05%, cap 0.75%.
    fn params() -> FundingParams {
        FundingParams::new(8 * 3_600_000, 60_000, 100_000_000_000_000, 500_000_000_000_000, 7_500_000_000_000_000).unwrap()
    }

    #[test]
    fn premium_index_is_the_time_weighted_relative_premium() {
        // Window [0, 3000): mark 2002 / index 2000 for 1000 ms (premium 0.001), then mark 1999 /
        // index 2000 for 2000 ms (premium -0.0005).
        // (0.001 * 1000 + -0.0005 * 2000) / 3000 = 0.
        let observations = [
            PremiumObservation { time_ms: 0, mark: price(2002), index: price(2000) },
            PremiumObservation { time_ms: 1000, mark: price(1999), index: price(2000) },
        ];
        let window = Window { start_ms: 0, end_ms: 3000, gap_max_ms: 2000 };
        assert_eq!(premium_index(&observations, window).unwrap(), 0);
        // Index 3000, mark 3001 for the whole window: 1/3000 = 0.000333... -> 333_333_333_333_333 (floor).
        let observations = [PremiumObservation { time_ms: 0, mark: price(3001), index: price(3000) }];
        let window = Window { start_ms: 0, end_ms: 1000, gap_max_ms: 1000 };
        assert_eq!(premium_index(&observations, window).unwrap(), 333_333_333_333_333);
    }

    #[test]
    fn the_rate_is_premium_plus_a_clamped_interest_pull_capped() {
        let p = params();
        // Premium 0.03%: I - P = -0.02% within the damper, rate = I = 0.01%.
        assert_eq!(p.rate_from_premium(300_000_000_000_000).unwrap(), 100_000_000_000_000);
        // Premium 0.2%: I - P = -0.19% clamped to -0.05%, rate = 0.15%.
        assert_eq!(p.rate_from_premium(2_000_000_000_000_000).unwrap(), 1_500_000_000_000_000);
        // Premium -0.1%: I - P = 0.11% clamped to 0.05%, rate = -0.05%.
        assert_eq!(p.rate_from_premium(-1_000_000_000_000_000).unwrap(), -500_000_000_000_000);
        // Premium 2%: 1.95% capped to 0.75%; premium -2%: -1.95% capped to -0.75%.
        assert_eq!(p.rate_from_premium(20_000_000_000_000_000).unwrap(), 7_500_000_000_000_000);
        assert_eq!(p.rate_from_premium(-20_000_000_000_000_000).unwrap(), -7_500_000_000_000_000);
    }

    #[test]
    fn interval_rate_reads_the_whole_interval() {
        // A constant premium of 0.1% (mark 2002, index 2000) over 8 hours, sampled every minute:
        // rate = 0.1% + clamp(0.01% - 0.1%, +-0.05%) = 0.05%.
        let end_ms = 10 * 8 * 3_600_000;
        let start_ms = end_ms - 8 * 3_600_000;
        let observations: Vec<_> =
            (0..480).map(|i| PremiumObservation { time_ms: start_ms + i * 60_000, mark: price(2002), index: price(2000) }).collect();
        assert_eq!(params().interval_rate(&observations, end_ms).unwrap(), 500_000_000_000_000);
        // Drop one minute: a two-minute hole is missing data, not a default.
        let holed: Vec<_> = observations.iter().copied().filter(|o| o.time_ms != start_ms + 60_000).collect();
        assert!(matches!(params().interval_rate(&holed, end_ms), Err(ClearingError::ObservationGap { .. })));
    }

    #[test]
    fn payments_round_against_each_holder_and_the_house_takes_the_residue() {
        // BTC perp, quantity scale 3 (0.001 BTC), USDC settlement (6). Index 50_000.5, rate 0.01%.
        // Long a 1.234 BTC: 1.234 * 50_000.5 = 61_700.617 USD; * 0.0001 = 6.1700617 USD -> pays
        //   ceil = 6_170_062 units.
        // Short b -1.000: 50_000.5 * 0.0001 = 5.00005 -> receives floor = 5_000_050.
        // Short house -0.234: 11_700.117 * 0.0001 = 1.1700117 -> floor 1_170_011, plus the
        //   residue 6_170_062 - 5_000_050 - 1_170_011 = 1: house 1_170_012.
        let spec = ContractSpec::new(3, 6).unwrap();
        let index = Price(50_000_500_000_000_000_000_000);
        let positions = [("a", 1_234), ("b", -1_000), ("house", -234)];
        let payments = settle_funding(&positions, &"house", index, 100_000_000_000_000, spec).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("a", -6_170_062), ("b", 5_000_050), ("house", 1_170_012)]);
        // A negative rate reverses the flow: a receives floor(6.1700617) = 6_170_061; b pays
        // 5_000_050 exactly; the house pays ceil(1.1700117) = 1_170_012, plus residue 1.
        let payments = settle_funding(&positions, &"house", index, -100_000_000_000_000, spec).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("a", 6_170_061), ("b", -5_000_050), ("house", -1_170_011)]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(FundingParams::new(0, 1, 0, 0, 1).is_err());
        assert!(FundingParams::new(1, 1, 0, 0, ONE_E18 + 1).is_err());
        assert!(FundingParams::new(1, 1, 0, 2, 1).is_err());
        assert!(FundingParams::new(1, 1, 2, 0, 1).is_err());
        let spec = ContractSpec::new(0, 6).unwrap();
        assert!(settle_funding(&[("a", 1), ("b", -1)], &"h", Price(0), 1, spec).is_err());
        assert!(settle_funding(&[("a", 1), ("b", -1)], &"h", price(1), ONE_E18 + 1, spec).is_err());
    }
}
