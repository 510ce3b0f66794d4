//! Cash settlement of European options at expiry (Deribit settlement).
//!
//! The settlement price is the time-weighted average of the oracle's index observations over
//! the window before expiry (Deribit: the 30 minutes before 08:00 UTC), rounded down. Missing
//! data is an error: the window must be covered with no observation standing in longer than the
//! configured gap ([`crate::twap`]). Each contract pays its intrinsic value, `max(S - K, 0)` for a
//! call and `max(K - S, 0)` for a put, from the shorts to the longs: longs receive rounded down,
//! shorts pay rounded up, the house takes the residue, and the payments sum to zero.

use crate::twap::{Window, time_weighted_average};
use crate::zero_sum::{Payment, Receiver, settle};
use crate::{ClearingError, ContractSpec, Price, sub};
use money::Rounding;
use serde::{Deserialize, Serialize};

/// Deribit's settlement window: the 30 minutes before expiry.
pub const DERIBIT_SETTLEMENT_WINDOW_MS: u64 = 30 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptionKind {
    Call,
    Put,
}

/// One oracle observation of the underlying's index price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceObservation {
    pub time_ms: u64,
    pub price: Price,
}

/// The settlement price: the time-weighted average of `observations` over
/// `[expiry - window, expiry)`, rounded down. Every price must be positive.
pub fn settlement_price(
    observations: &[PriceObservation],
    expiry_ms: u64,
    window_ms: u64,
    gap_max_ms: u64,
) -> Result<Price, ClearingError> {
    if window_ms == 0 || gap_max_ms == 0 {
        return Err(ClearingError::InvalidParameter { name: "window_ms/gap_max_ms", reason: "must be positive" });
    }
    let start_ms = expiry_ms.checked_sub(window_ms).ok_or(ClearingError::EmptyWindow { start_ms: 0, end_ms: expiry_ms })?;
    let mut samples = Vec::with_capacity(observations.len());
    for observation in observations {
        samples.push((observation.time_ms, observation.price.positive("oracle price")?.e18()));
    }
    let average = time_weighted_average(&samples, Window { start_ms, end_ms: expiry_ms, gap_max_ms }, Rounding::Floor)?;
    assert!(average > 0, "an average of positive prices is positive");
    Ok(Price(average))
}

/// The intrinsic value of one whole contract at `settlement`: `max(S - K, 0)` for a call,
/// `max(K - S, 0)` for a put, in 18-decimal settlement units.
pub fn intrinsic_value(kind: OptionKind, strike: Price, settlement: Price) -> Result<Price, ClearingError> {
    strike.positive("strike")?;
    settlement.positive("settlement price")?;
    let difference = match kind {
        OptionKind::Call => sub(settlement.e18(), strike.e18(), "call payoff")?,
        OptionKind::Put => sub(strike.e18(), settlement.e18(), "put payoff")?,
    };
    Ok(Price(difference.max(0)))
}

/// The expiry payments of a series: `positions` (account, signed contracts) of every holder,
/// the house included, netting to zero. Longs receive `|q| * intrinsic` rounded down, shorts pay
/// it rounded up; the house takes the residue; the payments sum to exactly zero.
pub fn settle_expiry<A: Clone + Ord>(
    positions: &[(A, i128)],
    house: &A,
    kind: OptionKind,
    strike: Price,
    settlement: Price,
    spec: ContractSpec,
) -> Result<Vec<Payment<A>>, ClearingError> {
    let payoff = intrinsic_value(kind, strike, settlement)?;
    let receiver = if payoff.e18() > 0 { Receiver::Longs } else { Receiver::Nobody };
    settle(positions, house, receiver, |size, rounding| spec.settlement_value(size, payoff, rounding))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ONE_E18;

    fn price(whole: i128) -> Price {
        Price(whole * ONE_E18)
    }

    #[test]
    fn the_settlement_price_is_the_30_minute_twap_before_expiry() {
        // Expiry at 08:00 (28_800_000 ms into the day); window 07:30-08:00.
        // 3000 from 07:29:50 (carried in) until 07:40, 3030 until 07:55, 2990 until 08:00:
        // (3000 * 10 + 3030 * 15 + 2990 * 5) / 30 = (30_000 + 45_450 + 14_950) / 30 = 3013.333...
        let expiry = 28_800_000;
        let minute = 60_000;
        let observations = [
            PriceObservation { time_ms: expiry - 30 * minute - 10_000, price: price(3000) },
            PriceObservation { time_ms: expiry - 20 * minute, price: price(3030) },
            PriceObservation { time_ms: expiry - 5 * minute, price: price(2990) },
        ];
        let settlement = settlement_price(&observations, expiry, DERIBIT_SETTLEMENT_WINDOW_MS, 15 * minute).unwrap();
        assert_eq!(settlement, Price(3_013_333_333_333_333_333_333));
        // With a 10-minute gap limit the 15-minute step is missing data, not a default.
        assert!(matches!(
            settlement_price(&observations, expiry, DERIBIT_SETTLEMENT_WINDOW_MS, 10 * minute),
            Err(ClearingError::ObservationGap { gap_max_ms: 600_000, .. })
        ));
        // No observation at all in force at 07:30.
        assert!(matches!(
            settlement_price(&observations[1..], expiry, DERIBIT_SETTLEMENT_WINDOW_MS, 15 * minute),
            Err(ClearingError::NoObservationAtStart { .. })
        ));
    }

    #[test]
    fn calls_and_puts_pay_their_intrinsic_value() {
        assert_eq!(intrinsic_value(OptionKind::Call, price(3000), price(3100)).unwrap(), price(100));
        assert_eq!(intrinsic_value(OptionKind::Call, price(3000), price(2900)).unwrap(), price(0));
        assert_eq!(intrinsic_value(OptionKind::Put, price(3000), price(2900)).unwrap(), price(100));
        assert_eq!(intrinsic_value(OptionKind::Put, price(3000), price(3100)).unwrap(), price(0));
        assert!(intrinsic_value(OptionKind::Put, price(0), price(3100)).is_err());
    }

    #[test]
    fn longs_receive_floor_shorts_pay_ceil_and_the_house_keeps_the_residue() {
        // ETH call, strike 3000, settlement 3013.333...333 (the TWAP above); contracts at scale 1
        // (0.1 ETH), USDC (6). Intrinsic 13.333333333333333333 per ETH.
        // Long a 0.7: 9.3333333333333333331 -> receives 9_333_333.
        // Long b 0.2: 2.6666666666666666666 -> receives 2_666_666.
        // Short c -0.4: 5.3333333333333333332 -> pays 5_333_334.
        // Short house -0.5: 6.6666666666666666665 -> pays 6_666_667, then takes the residue
        //   5_333_334 + 6_666_667 - 9_333_333 - 2_666_666 = 2: house -6_666_665.
        let spec = ContractSpec::new(1, 6).unwrap();
        let positions = [("a", 7), ("b", 2), ("c", -4), ("house", -5)];
        let settlement = Price(3_013_333_333_333_333_333_333);
        let payments = settle_expiry(&positions, &"house", OptionKind::Call, price(3000), settlement, spec).unwrap();
        let amounts: Vec<_> = payments.iter().map(|p| (p.account, p.amount)).collect();
        assert_eq!(amounts, [("a", 9_333_333), ("b", 2_666_666), ("c", -5_333_334), ("house", -6_666_665)]);
        // The same series as a put expires worthless: nothing moves.
        let payments = settle_expiry(&positions, &"house", OptionKind::Put, price(3000), settlement, spec).unwrap();
        assert!(payments.iter().all(|p| p.amount == 0));
    }
}
