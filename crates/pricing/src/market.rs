//! The market state an instrument is valued against: fixed-capacity arrays indexed by small integer ids,
//! so that a scenario is a clone of the base state plus a few in-place shocks, with no heap allocation.

use crate::error::{FactorKind, PricingError};
use crate::vol_surface::VolSurface;

/// Number of underlyings (risk-factor price series) a market state can hold, USD included at id 0.
pub const MAX_UNDERLYINGS: usize = 32;
/// Number of peg ratios a market state can hold, the fixed par peg included at id 0.
pub const MAX_PEGS: usize = 32;
/// Number of prediction-market outcomes a market state can hold.
pub const MAX_OUTCOMES: usize = 64;
/// Number of lending reserves a market state can hold.
pub const MAX_RESERVES: usize = 16;
/// Number of staking exchange rates a market state can hold.
pub const MAX_STAKES: usize = 16;

/// Seconds in the year used throughout the crate: 365 days, as Aave's `SECONDS_PER_YEAR`.
pub const SECONDS_PER_YEAR: f64 = 31_536_000.0;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $cap:expr, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u16);

        impl $name {
            /// Array index of this id, or `FactorIdOutOfRange` if it exceeds the capacity.
            #[inline]
            pub fn index(self) -> Result<usize, PricingError> {
                let i = usize::from(self.0);
                if i < $cap {
                    Ok(i)
                } else {
                    Err(PricingError::FactorIdOutOfRange { kind: $kind, id: self.0, capacity: $cap })
                }
            }
        }
    };
}

id_type!(
    /// An underlying price series (BTC, ETH, ...). Id 0 is the USD numeraire, fixed at 1.0.
    UnderlyingId, MAX_UNDERLYINGS, FactorKind::Spot
);
id_type!(
    /// A peg ratio of a wrapped/synthetic/staked asset to its underlying (sBTC/BTC, stETH/ETH, USDC/USD).
    /// Id 0 is the par peg, fixed at 1.0, for an asset that *is* its underlying.
    PegId, MAX_PEGS, FactorKind::Peg
);
id_type!(
    /// A binary prediction-market outcome.
    OutcomeId, MAX_OUTCOMES, FactorKind::Outcome
);
id_type!(
    /// A lending reserve (one asset on one lending protocol).
    ReserveId, MAX_RESERVES, FactorKind::Reserve
);
id_type!(
    /// A staking derivative's exchange rate to the staked coin (wstETH -> stETH, rETH -> ETH).
    StakeId, MAX_STAKES, FactorKind::Stake
);

impl UnderlyingId {
    /// The USD numeraire: spot fixed at 1.0, never shocked, never reported as a delta.
    pub const USD: UnderlyingId = UnderlyingId(0);
}

impl PegId {
    /// The par peg: ratio fixed at 1.0.
    pub const PAR: PegId = PegId(0);
}

/// A priced asset: USD price = spot of the underlying x peg ratio of the asset to that underlying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asset {
    /// Which underlying price series it tracks.
    pub underlying: UnderlyingId,
    /// Its own peg ratio to that underlying (`PegId::PAR` for the underlying itself).
    pub peg: PegId,
}

impl Asset {
    /// An asset that is its underlying (BTC, ETH).
    #[must_use]
    pub const fn native(underlying: UnderlyingId) -> Self {
        Asset { underlying, peg: PegId::PAR }
    }

    /// A wrapped or synthetic asset with its own peg ratio.
    #[must_use]
    pub const fn pegged(underlying: UnderlyingId, peg: PegId) -> Self {
        Asset { underlying, peg }
    }
}

/// Resolution state of a binary prediction-market outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// Not resolved: a YES share is worth the market probability.
    #[default]
    Open,
    /// Resolved YES: a YES share pays 1.
    Yes,
    /// Resolved NO: a YES share pays 0.
    No,
}

/// State of one Aave-style lending reserve, as read at its last on-chain update.
///
/// Indices are dimensionless (the on-chain ray value divided by 1e27). Rates are the on-chain annual
/// rates (ray / 1e27), per 365-day year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LendingReserve {
    /// The asset lent and borrowed.
    pub asset: Asset,
    /// Liquidity (supply) index at `last_update_years`.
    pub liquidity_index: f64,
    /// Variable borrow index at `last_update_years`.
    pub variable_borrow_index: f64,
    /// Current liquidity (supply) rate, per year.
    pub liquidity_rate_annual: f64,
    /// Current variable borrow rate, per year.
    pub variable_borrow_rate_annual: f64,
    /// Time of the last index update, years on the market-state clock.
    pub last_update_years: f64,
}

/// A risk factor that a scenario can shock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Factor {
    /// Spot price of an underlying, USD.
    Spot(UnderlyingId),
    /// Peg ratio.
    Peg(PegId),
    /// Parallel shift of an underlying's implied volatility surface (added to every point), per 1.00.
    VolShift(UnderlyingId),
    /// Carry (dividend/staking) yield of an underlying, per year.
    Carry(UnderlyingId),
    /// Perpetual funding rate of an underlying, per year (positive: longs pay shorts).
    FundingRate(UnderlyingId),
    /// Perpetual mark premium over the index, as a fraction (mark = spot x (1 + premium)).
    MarkPremium(UnderlyingId),
    /// Probability of a prediction-market outcome.
    Probability(OutcomeId),
    /// Resolution of a prediction-market outcome, the jump factor: `Shift::Set(1.0)` resolves YES,
    /// `Shift::Set(0.0)` resolves NO; any other shift is `FactorInvalid`.
    Resolution(OutcomeId),
    /// Staking exchange rate.
    StakeRate(StakeId),
    /// Risk-free rate of the settlement currency, per year.
    Rate,
    /// Market clock, years.
    Time,
}

/// How a shock changes a factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shift {
    /// New value = old x (1 + x).
    Relative(f64),
    /// New value = old + x.
    Absolute(f64),
    /// New value = x.
    Set(f64),
}

impl Shift {
    #[inline]
    fn apply(self, old: f64) -> f64 {
        match self {
            Shift::Relative(x) => old * (1.0 + x),
            Shift::Absolute(x) => old + x,
            Shift::Set(x) => x,
        }
    }
}

/// Prices, pegs, volatilities, rates, probabilities, indices and the clock: everything a valuation reads.
///
/// Unset entries are NaN (or `None` for surfaces and reserves); reading one is a `FactorMissing` error,
/// never a silent zero. The state is about 30 KiB and lives inline (no heap), so cloning it per scenario
/// is a single memcpy.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketState {
    now_years: f64,
    rate_annual: f64,
    spot_usd: [f64; MAX_UNDERLYINGS],
    carry_annual: [f64; MAX_UNDERLYINGS],
    funding_rate_annual: [f64; MAX_UNDERLYINGS],
    mark_premium: [f64; MAX_UNDERLYINGS],
    vol_shift: [f64; MAX_UNDERLYINGS],
    surfaces: [Option<VolSurface>; MAX_UNDERLYINGS],
    peg_ratio: [f64; MAX_PEGS],
    probability: [f64; MAX_OUTCOMES],
    resolution: [Resolution; MAX_OUTCOMES],
    reserves: [Option<LendingReserve>; MAX_RESERVES],
    stake_rate: [f64; MAX_STAKES],
}

impl MarketState {
    /// An empty market at time `now_years` with risk-free rate `rate_annual`. USD spot and the par peg are
    /// 1.0; carries, funding rates, premia and vol shifts are 0; everything else is unset.
    #[must_use]
    pub fn new(now_years: f64, rate_annual: f64) -> Self {
        let mut spot_usd = [f64::NAN; MAX_UNDERLYINGS];
        spot_usd[0] = 1.0;
        let mut peg_ratio = [f64::NAN; MAX_PEGS];
        peg_ratio[0] = 1.0;
        MarketState {
            now_years,
            rate_annual,
            spot_usd,
            carry_annual: [0.0; MAX_UNDERLYINGS],
            funding_rate_annual: [0.0; MAX_UNDERLYINGS],
            mark_premium: [0.0; MAX_UNDERLYINGS],
            vol_shift: [0.0; MAX_UNDERLYINGS],
            surfaces: [None; MAX_UNDERLYINGS],
            peg_ratio,
            probability: [f64::NAN; MAX_OUTCOMES],
            resolution: [Resolution::Open; MAX_OUTCOMES],
            reserves: [None; MAX_RESERVES],
            stake_rate: [f64::NAN; MAX_STAKES],
        }
    }

    // ---- readers (hot path) ----

    /// Market clock, years.
    #[inline]
    #[must_use]
    pub fn now_years(&self) -> f64 {
        self.now_years
    }

    /// Risk-free rate of the settlement currency, per year, continuously compounded.
    #[inline]
    #[must_use]
    pub fn rate_annual(&self) -> f64 {
        self.rate_annual
    }

    /// Spot price of an underlying, USD.
    ///
    /// # Errors
    /// `FactorIdOutOfRange` or `FactorMissing`.
    #[inline]
    pub fn spot_usd(&self, id: UnderlyingId) -> Result<f64, PricingError> {
        let v = self.spot_usd[id.index()?];
        if v.is_nan() {
            return Err(PricingError::FactorMissing { kind: FactorKind::Spot, id: id.0 });
        }
        Ok(v)
    }

    /// Peg ratio of an asset to its underlying.
    ///
    /// # Errors
    /// `FactorIdOutOfRange` or `FactorMissing`.
    #[inline]
    pub fn peg_ratio(&self, id: PegId) -> Result<f64, PricingError> {
        let v = self.peg_ratio[id.index()?];
        if v.is_nan() {
            return Err(PricingError::FactorMissing { kind: FactorKind::Peg, id: id.0 });
        }
        Ok(v)
    }

    /// USD price of an asset: spot of its underlying x its peg ratio.
    ///
    /// # Errors
    /// As `spot_usd` and `peg_ratio`.
    #[inline]
    pub fn asset_price_usd(&self, asset: Asset) -> Result<f64, PricingError> {
        Ok(self.spot_usd(asset.underlying)? * self.peg_ratio(asset.peg)?)
    }

    /// Carry yield of an underlying, per year.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`.
    #[inline]
    pub fn carry_annual(&self, id: UnderlyingId) -> Result<f64, PricingError> {
        Ok(self.carry_annual[id.index()?])
    }

    /// Perpetual funding rate, per year (positive: longs pay shorts).
    ///
    /// # Errors
    /// `FactorIdOutOfRange`.
    #[inline]
    pub fn funding_rate_annual(&self, id: UnderlyingId) -> Result<f64, PricingError> {
        Ok(self.funding_rate_annual[id.index()?])
    }

    /// Perpetual mark premium over the index spot, fraction.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`.
    #[inline]
    pub fn mark_premium(&self, id: UnderlyingId) -> Result<f64, PricingError> {
        Ok(self.mark_premium[id.index()?])
    }

    /// Implied volatility of an underlying for a strike and an absolute expiry, per 1.00 per year,
    /// including the scenario's parallel shift.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `VolSurfaceMissing`, or `FactorInvalid` if the shifted vol is not positive.
    #[inline]
    pub fn implied_vol(&self, id: UnderlyingId, strike_usd: f64, expiry_years: f64) -> Result<f64, PricingError> {
        let i = id.index()?;
        let Some(surface) = &self.surfaces[i] else {
            return Err(PricingError::VolSurfaceMissing { underlying: id.0 });
        };
        let vol = surface.vol(strike_usd, expiry_years, self.now_years) + self.vol_shift[i];
        if vol > 0.0 && vol.is_finite() {
            Ok(vol)
        } else {
            Err(PricingError::FactorInvalid { kind: FactorKind::Vol, id: id.0, value: vol })
        }
    }

    /// d(implied vol)/d(market clock) at a fixed strike and absolute expiry, per year: non-zero only where
    /// the surface interpolates total variance between expiries. Central difference of the interpolation
    /// (step 1e-6 years), which is exact for its piecewise-smooth formula away from grid points.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `VolSurfaceMissing`.
    pub fn implied_vol_time_slope(&self, id: UnderlyingId, strike_usd: f64, expiry_years: f64) -> Result<f64, PricingError> {
        let i = id.index()?;
        let Some(surface) = &self.surfaces[i] else {
            return Err(PricingError::VolSurfaceMissing { underlying: id.0 });
        };
        let h = 1e-6;
        let up = surface.vol(strike_usd, expiry_years, self.now_years + h);
        let down = surface.vol(strike_usd, expiry_years, self.now_years - h);
        Ok((up - down) / (2.0 * h))
    }

    /// Probability of an outcome, or 0/1 once it has resolved.
    ///
    /// # Errors
    /// `FactorIdOutOfRange` or `FactorMissing`.
    #[inline]
    pub fn outcome_probability(&self, id: OutcomeId) -> Result<f64, PricingError> {
        let i = id.index()?;
        match self.resolution[i] {
            Resolution::Yes => Ok(1.0),
            Resolution::No => Ok(0.0),
            Resolution::Open => {
                let p = self.probability[i];
                if p.is_nan() { Err(PricingError::FactorMissing { kind: FactorKind::Outcome, id: id.0 }) } else { Ok(p) }
            }
        }
    }

    /// Resolution state of an outcome.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`.
    #[inline]
    pub fn resolution(&self, id: OutcomeId) -> Result<Resolution, PricingError> {
        Ok(self.resolution[id.index()?])
    }

    /// A lending reserve's state.
    ///
    /// # Errors
    /// `FactorIdOutOfRange` or `FactorMissing`.
    #[inline]
    pub fn reserve(&self, id: ReserveId) -> Result<&LendingReserve, PricingError> {
        self.reserves[id.index()?].as_ref().ok_or(PricingError::FactorMissing { kind: FactorKind::Reserve, id: id.0 })
    }

    /// Staking exchange rate (staked coins per derivative share).
    ///
    /// # Errors
    /// `FactorIdOutOfRange` or `FactorMissing`.
    #[inline]
    pub fn stake_rate(&self, id: StakeId) -> Result<f64, PricingError> {
        let v = self.stake_rate[id.index()?];
        if v.is_nan() {
            return Err(PricingError::FactorMissing { kind: FactorKind::Stake, id: id.0 });
        }
        Ok(v)
    }

    // ---- writers (validate their input) ----

    /// Set an underlying's spot price, USD (> 0, finite). The USD numeraire cannot be set.
    ///
    /// # Errors
    /// `FixedUnitImmutable`, `FactorIdOutOfRange`, `FactorInvalid`.
    pub fn set_spot_usd(&mut self, id: UnderlyingId, price_usd: f64) -> Result<(), PricingError> {
        if id == UnderlyingId::USD {
            return Err(PricingError::FixedUnitImmutable { kind: FactorKind::Spot });
        }
        let i = id.index()?;
        positive(FactorKind::Spot, id.0, price_usd)?;
        self.spot_usd[i] = price_usd;
        Ok(())
    }

    /// Set a peg ratio (> 0, finite). The par peg cannot be set.
    ///
    /// # Errors
    /// `FixedUnitImmutable`, `FactorIdOutOfRange`, `FactorInvalid`.
    pub fn set_peg_ratio(&mut self, id: PegId, ratio: f64) -> Result<(), PricingError> {
        if id == PegId::PAR {
            return Err(PricingError::FixedUnitImmutable { kind: FactorKind::Peg });
        }
        let i = id.index()?;
        positive(FactorKind::Peg, id.0, ratio)?;
        self.peg_ratio[i] = ratio;
        Ok(())
    }

    /// Attach an implied volatility surface to an underlying.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`.
    pub fn set_vol_surface(&mut self, id: UnderlyingId, surface: VolSurface) -> Result<(), PricingError> {
        self.surfaces[id.index()?] = Some(surface);
        Ok(())
    }

    /// Set an underlying's carry yield, per year.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `FactorInvalid` if not finite.
    pub fn set_carry_annual(&mut self, id: UnderlyingId, carry_annual: f64) -> Result<(), PricingError> {
        let i = id.index()?;
        finite(FactorKind::Scalar, id.0, carry_annual)?;
        self.carry_annual[i] = carry_annual;
        Ok(())
    }

    /// Set the perpetual funding rate of an underlying, per year.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `FactorInvalid` if not finite.
    pub fn set_funding_rate_annual(&mut self, id: UnderlyingId, rate_annual: f64) -> Result<(), PricingError> {
        let i = id.index()?;
        finite(FactorKind::Scalar, id.0, rate_annual)?;
        self.funding_rate_annual[i] = rate_annual;
        Ok(())
    }

    /// Set the perpetual mark premium of an underlying, fraction (> -1).
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `FactorInvalid`.
    pub fn set_mark_premium(&mut self, id: UnderlyingId, premium: f64) -> Result<(), PricingError> {
        let i = id.index()?;
        if !(premium > -1.0 && premium.is_finite()) {
            return Err(PricingError::FactorInvalid { kind: FactorKind::Spot, id: id.0, value: premium });
        }
        self.mark_premium[i] = premium;
        Ok(())
    }

    /// Set an open outcome's probability, in [0, 1].
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `FactorInvalid`.
    pub fn set_probability(&mut self, id: OutcomeId, probability: f64) -> Result<(), PricingError> {
        let i = id.index()?;
        if !(0.0..=1.0).contains(&probability) {
            return Err(PricingError::FactorInvalid { kind: FactorKind::Outcome, id: id.0, value: probability });
        }
        self.probability[i] = probability;
        Ok(())
    }

    /// Resolve (or re-open) an outcome. This is the jump-to-0-or-1 risk factor.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`.
    pub fn set_resolution(&mut self, id: OutcomeId, resolution: Resolution) -> Result<(), PricingError> {
        self.resolution[id.index()?] = resolution;
        Ok(())
    }

    /// Set a lending reserve's state.
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `FactorInvalid` if an index is not positive or a rate/time not finite.
    pub fn set_reserve(&mut self, id: ReserveId, reserve: LendingReserve) -> Result<(), PricingError> {
        let i = id.index()?;
        positive(FactorKind::Reserve, id.0, reserve.liquidity_index)?;
        positive(FactorKind::Reserve, id.0, reserve.variable_borrow_index)?;
        finite(FactorKind::Reserve, id.0, reserve.liquidity_rate_annual)?;
        finite(FactorKind::Reserve, id.0, reserve.variable_borrow_rate_annual)?;
        finite(FactorKind::Reserve, id.0, reserve.last_update_years)?;
        self.reserves[i] = Some(reserve);
        Ok(())
    }

    /// Set a staking exchange rate (> 0).
    ///
    /// # Errors
    /// `FactorIdOutOfRange`, `FactorInvalid`.
    pub fn set_stake_rate(&mut self, id: StakeId, rate: f64) -> Result<(), PricingError> {
        let i = id.index()?;
        positive(FactorKind::Stake, id.0, rate)?;
        self.stake_rate[i] = rate;
        Ok(())
    }

    /// Set the market clock, years.
    ///
    /// # Errors
    /// `FactorInvalid` if not finite.
    pub fn set_now_years(&mut self, now_years: f64) -> Result<(), PricingError> {
        finite(FactorKind::Scalar, 0, now_years)?;
        self.now_years = now_years;
        Ok(())
    }

    /// Set the risk-free rate, per year.
    ///
    /// # Errors
    /// `FactorInvalid` if not finite.
    pub fn set_rate_annual(&mut self, rate_annual: f64) -> Result<(), PricingError> {
        finite(FactorKind::Scalar, 0, rate_annual)?;
        self.rate_annual = rate_annual;
        Ok(())
    }

    /// Apply a list of shocks in order (a scenario). Stops at the first invalid shock, leaving the earlier
    /// ones applied; callers revalue from a fresh clone of the base state per scenario.
    ///
    /// # Errors
    /// The first shock's error, with its position.
    pub fn apply_shocks(&mut self, shocks: &[(Factor, Shift)]) -> Result<(), (usize, PricingError)> {
        for (i, &(factor, shift)) in shocks.iter().enumerate() {
            self.shock(factor, shift).map_err(|e| (i, e))?;
        }
        Ok(())
    }

    /// Apply one scenario shock in place. Shocking a factor that is unset is an error (a scenario must not
    /// silently shock nothing); the result is validated like a direct set.
    ///
    /// # Errors
    /// As the corresponding setter, or `FactorMissing` when the shocked factor is unset.
    pub fn shock(&mut self, factor: Factor, shift: Shift) -> Result<(), PricingError> {
        match factor {
            Factor::Spot(id) => {
                let old = self.spot_usd(id)?;
                self.set_spot_usd(id, shift.apply(old))
            }
            Factor::Peg(id) => {
                let old = self.peg_ratio(id)?;
                self.set_peg_ratio(id, shift.apply(old))
            }
            Factor::VolShift(id) => {
                let i = id.index()?;
                let new = shift.apply(self.vol_shift[i]);
                finite(FactorKind::Vol, id.0, new)?;
                self.vol_shift[i] = new;
                Ok(())
            }
            Factor::Carry(id) => {
                let old = self.carry_annual(id)?;
                self.set_carry_annual(id, shift.apply(old))
            }
            Factor::FundingRate(id) => {
                let old = self.funding_rate_annual(id)?;
                self.set_funding_rate_annual(id, shift.apply(old))
            }
            Factor::MarkPremium(id) => {
                let old = self.mark_premium(id)?;
                self.set_mark_premium(id, shift.apply(old))
            }
            Factor::Probability(id) => {
                let i = id.index()?;
                let old = self.probability[i];
                if old.is_nan() {
                    return Err(PricingError::FactorMissing { kind: FactorKind::Outcome, id: id.0 });
                }
                self.set_probability(id, shift.apply(old).clamp(0.0, 1.0))
            }
            Factor::Resolution(id) => {
                let resolution = match shift {
                    Shift::Set(1.0) => Resolution::Yes,
                    Shift::Set(0.0) => Resolution::No,
                    Shift::Set(x) | Shift::Relative(x) | Shift::Absolute(x) => {
                        return Err(PricingError::FactorInvalid { kind: FactorKind::Outcome, id: id.0, value: x });
                    }
                };
                self.set_resolution(id, resolution)
            }
            Factor::StakeRate(id) => {
                let old = self.stake_rate(id)?;
                self.set_stake_rate(id, shift.apply(old))
            }
            Factor::Rate => self.set_rate_annual(shift.apply(self.rate_annual)),
            Factor::Time => self.set_now_years(shift.apply(self.now_years)),
        }
    }
}

fn positive(kind: FactorKind, id: u16, value: f64) -> Result<(), PricingError> {
    if value > 0.0 && value.is_finite() { Ok(()) } else { Err(PricingError::FactorInvalid { kind, id, value }) }
}

fn finite(kind: FactorKind, id: u16, value: f64) -> Result<(), PricingError> {
    if value.is_finite() { Ok(()) } else { Err(PricingError::FactorInvalid { kind, id, value }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_factors_are_errors_not_zero() {
        let m = MarketState::new(0.0, 0.05);
        assert_eq!(m.spot_usd(UnderlyingId::USD), Ok(1.0));
        assert!(matches!(m.spot_usd(UnderlyingId(1)), Err(PricingError::FactorMissing { .. })));
        assert!(matches!(m.spot_usd(UnderlyingId(99)), Err(PricingError::FactorIdOutOfRange { .. })));
        assert!(matches!(m.outcome_probability(OutcomeId(3)), Err(PricingError::FactorMissing { .. })));
    }

    #[test]
    fn fixed_units_cannot_move() {
        let mut m = MarketState::new(0.0, 0.05);
        assert!(m.set_spot_usd(UnderlyingId::USD, 2.0).is_err());
        assert!(m.shock(Factor::Peg(PegId::PAR), Shift::Relative(-0.1)).is_err());
        assert_eq!(m.peg_ratio(PegId::PAR), Ok(1.0));
    }

    #[test]
    fn shocks_compose_in_place() {
        let mut m = MarketState::new(0.0, 0.05);
        m.set_spot_usd(UnderlyingId(1), 100.0).unwrap();
        m.apply_shocks(&[(Factor::Spot(UnderlyingId(1)), Shift::Relative(-0.2)), (Factor::Rate, Shift::Absolute(0.01))]).unwrap();
        assert!((m.rate_annual() - 0.06).abs() < 1e-15);
        assert!((m.spot_usd(UnderlyingId(1)).unwrap() - 80.0).abs() < 1e-12);
        assert!(m.shock(Factor::Spot(UnderlyingId(1)), Shift::Relative(-1.0)).is_err());
        m.set_probability(OutcomeId(2), 0.3).unwrap();
        m.shock(Factor::Resolution(OutcomeId(2)), Shift::Set(1.0)).unwrap();
        assert_eq!(m.outcome_probability(OutcomeId(2)), Ok(1.0));
        m.shock(Factor::Resolution(OutcomeId(2)), Shift::Set(0.0)).unwrap();
        assert_eq!(m.outcome_probability(OutcomeId(2)), Ok(0.0));
        assert!(m.shock(Factor::Resolution(OutcomeId(2)), Shift::Set(0.5)).is_err());
    }
}
