//! A lending reserve on a utilisation rate curve (Aave-style two-slope model), for funding legs: a
//! borrow of `amount` of the asset "converts" into the amount repaid after the configured horizon.

use super::{TokenId, Venue, VenueKind, pair_not_traded, positive_input};
use crate::error::RouterError;
use money::{Amount, Rounding, mul_div};

/// Basis-point denominator.
const BPS: i128 = 10_000;
/// Seconds in the 365-day year the rate is quoted on.
const SECONDS_PER_YEAR: i128 = 31_536_000;

/// Annual borrow rate as a function of utilisation U = borrowed / supplied, in basis points:
/// base + slope1 U / U* below the kink U*, base + slope1 + slope2 (U - U*) / (1 - U*) above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCurve {
    /// Rate at zero utilisation.
    pub base_bps: i128,
    /// Rise from zero to the kink.
    pub slope1_bps: i128,
    /// Rise from the kink to full utilisation.
    pub slope2_bps: i128,
    /// The kink U*, in basis points of utilisation (0 < U* < 10,000).
    pub optimal_utilisation_bps: i128,
}

impl RateCurve {
    /// Borrow rate (bps per year, rounded up: the house pays it) at utilisation `u_bps`.
    ///
    /// # Errors
    /// `Money` on overflow.
    pub fn borrow_rate_bps(&self, u_bps: i128) -> Result<i128, RouterError> {
        let kink = self.optimal_utilisation_bps;
        if u_bps <= kink {
            return Ok(self.base_bps + mul_div(self.slope1_bps, u_bps, kink, Rounding::Ceil)?);
        }
        Ok(self.base_bps + self.slope1_bps + mul_div(self.slope2_bps, u_bps - kink, BPS - kink, Rounding::Ceil)?)
    }
}

/// One lending reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LendingVenue {
    /// Configured id.
    pub id: String,
    /// The reserve's asset.
    pub asset: TokenId,
    /// Total supplied, raw units.
    pub supplied: Amount,
    /// Total borrowed, raw units (<= supplied).
    pub borrowed: Amount,
    /// The rate model.
    pub rates: RateCurve,
    /// How long a funding leg is held, seconds.
    pub horizon_seconds: i128,
}

impl LendingVenue {
    /// A reserve with 0 <= borrowed <= supplied and a valid curve.
    ///
    /// # Errors
    /// `ConfigInvalid`.
    pub fn new(
        id: &str,
        asset: TokenId,
        supplied: Amount,
        borrowed: Amount,
        rates: RateCurve,
        horizon_seconds: i128,
    ) -> Result<Self, RouterError> {
        let ok = supplied.0 > 0
            && (0..=supplied.0).contains(&borrowed.0)
            && (1..BPS).contains(&rates.optimal_utilisation_bps)
            && rates.base_bps >= 0
            && rates.slope1_bps >= 0
            && rates.slope2_bps >= 0
            && horizon_seconds > 0;
        if !ok {
            return Err(RouterError::ConfigInvalid {
                field: id.to_string(),
                value: format!("{supplied:?}/{borrowed:?}/{rates:?}"),
                reason: "0 <= borrowed <= supplied > 0, 0 < kink < 100%, rates >= 0, horizon > 0",
            });
        }
        Ok(LendingVenue { id: id.to_string(), asset, supplied, borrowed, rates, horizon_seconds })
    }

    /// Utilisation in bps after borrowing `extra`, rounded up.
    ///
    /// # Errors
    /// `InsufficientLiquidity` if the reserve cannot lend that much.
    pub fn utilisation_after_bps(&self, extra: i128) -> Result<i128, RouterError> {
        let borrowed = self.borrowed.0.checked_add(extra).ok_or(RouterError::AmountInvalid { amount: extra, reason: "overflow" })?;
        if borrowed > self.supplied.0 {
            return Err(RouterError::InsufficientLiquidity {
                venue: self.id.clone(),
                requested: extra,
                available: self.supplied.0 - self.borrowed.0,
            });
        }
        Ok(mul_div(borrowed, BPS, self.supplied.0, Rounding::Ceil)?)
    }

    /// Interest owed on a new borrow of `amount` over the horizon at the post-borrow rate, rounded up.
    ///
    /// # Errors
    /// As `utilisation_after_bps`.
    pub fn interest(&self, amount: i128) -> Result<i128, RouterError> {
        let rate_bps = self.rates.borrow_rate_bps(self.utilisation_after_bps(amount)?)?;
        let per_year = mul_div(amount, rate_bps, BPS, Rounding::Ceil)?;
        Ok(mul_div(per_year, self.horizon_seconds, SECONDS_PER_YEAR, Rounding::Ceil)?)
    }

    fn check_pair(&self, from: TokenId, to: TokenId) -> Result<(), RouterError> {
        if from == self.asset && to == self.asset { Ok(()) } else { Err(pair_not_traded(&self.id, from, to)) }
    }
}

impl Venue for LendingVenue {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> VenueKind {
        VenueKind::Lending
    }

    fn fee_bps(&self) -> f64 {
        0.0
    }

    fn trades(&self, from: TokenId, to: TokenId) -> bool {
        self.check_pair(from, to).is_ok()
    }

    /// The amount repaid at the horizon for a borrow of `amount_in`.
    fn quote(&self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        self.check_pair(from, to)?;
        positive_input(amount_in)?;
        Ok(Amount(amount_in.0 + self.interest(amount_in.0)?))
    }

    fn execute(&mut self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let repaid = self.quote(from, to, amount_in)?;
        self.borrowed = Amount(self.borrowed.0 + amount_in.0);
        Ok(repaid)
    }

    /// Repayment per unit borrowed at vanishing size: 1 + r(U) T.
    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError> {
        self.check_pair(from, to)?;
        let rate_bps = self.rates.borrow_rate_bps(self.utilisation_after_bps(0)?)?;
        Ok(1.0 + rate_bps as f64 / BPS as f64 * self.horizon_seconds as f64 / SECONDS_PER_YEAR as f64)
    }

    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError> {
        self.check_pair(from, to)?;
        Ok(Amount(self.supplied.0 - self.borrowed.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usdc_reserve() -> LendingVenue {
        let curve = RateCurve { base_bps: 0, slope1_bps: 400, slope2_bps: 6_000, optimal_utilisation_bps: 9_000 };
        LendingVenue::new("aave-usdc", TokenId(0), Amount(500_000_000_000_000), Amount(400_000_000_000_000), curve, 86_400).unwrap()
    }

    #[test]
    fn a_borrow_repays_interest_at_the_post_borrow_rate() {
        let venue = usdc_reserve();
        // 1M USDC: utilisation 401/500 = 80.2% -> 400 x 8020 / 9000 = 356.4 -> 357 bp (rounded up);
        // a day of it on 1e12 raw: 1e12 x 0.0357 / 365 = 97,808,219.2 -> 97,808,220 (rounded up).
        let repaid = venue.quote(TokenId(0), TokenId(0), Amount(1_000_000_000_000)).unwrap();
        assert_eq!(repaid, Amount(1_000_000_000_000 + 97_808_220));
        // Above the kink the second slope applies: 95% -> 400 + 6000 x 500 / 1000 = 3,400 bp.
        assert_eq!(venue.rates.borrow_rate_bps(9_500).unwrap(), 3_400);
        // More than the reserve holds is refused and changes nothing.
        let mut v = venue.clone();
        assert!(v.execute(TokenId(0), TokenId(0), Amount(100_000_000_000_001)).is_err());
        assert_eq!(v, venue);
    }
}
