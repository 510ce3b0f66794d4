//! European options: Black-Scholes-Merton (spot with continuous carry yield) and Black-76 (forward/futures).
//!
//! Conventions (identical to QuantLib's `AnalyticEuropeanEngine` and to Hull):
//! - `time_years` is the time to expiry in years; rates are continuously compounded per year.
//! - delta is dV/dS in units of the underlying (for Black-76: dV/dF, units of the futures contract).
//! - gamma is d2V/dS2 per USD of underlying price.
//! - vega is dV/dsigma per 1.00 (100 vol points) of annualised volatility.
//! - theta is dV/dt per year of calendar time (negative for a long vanilla option in most states),
//!   i.e. minus the derivative with respect to time to expiry.
//! - rho is dV/dr per 1.00 (10,000 bp) of the settlement-currency rate.

use crate::error::PricingError;
use crate::normal::{cdf, pdf};

/// Call (right to buy) or put (right to sell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionRight {
    /// Pays max(S - K, 0) at expiry.
    Call,
    /// Pays max(K - S, 0) at expiry.
    Put,
}

/// Which forward the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionModel {
    /// Black-Scholes-Merton on a spot price with a continuous carry yield q (dividends, staking yield).
    BlackScholes,
    /// Black-76 on a forward or futures price: the underlying factor *is* the forward, no carry.
    Black76,
}

/// The inputs of one analytic evaluation, all in the units named.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionInputs {
    /// Spot price (Black-Scholes) or forward price (Black-76) of the underlying, USD.
    pub underlying_usd: f64,
    /// Strike, USD.
    pub strike_usd: f64,
    /// Time to expiry, years (> 0).
    pub time_years: f64,
    /// Continuously compounded risk-free rate of the settlement currency, per year.
    pub rate_annual: f64,
    /// Continuous carry yield of the underlying, per year (ignored by Black-76).
    pub carry_annual: f64,
    /// Annualised implied volatility (0.2 = 20%).
    pub vol_annual: f64,
}

/// Price and analytic Greeks of one European option, per unit of underlying.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OptionGreeks {
    /// Present value, USD.
    pub price_usd: f64,
    /// dV/dS, units of underlying.
    pub delta: f64,
    /// d2V/dS2, units of underlying per USD.
    pub gamma: f64,
    /// dV/dsigma, USD per 1.00 of volatility.
    pub vega: f64,
    /// dV/dt, USD per year of calendar time.
    pub theta_per_year: f64,
    /// dV/dr, USD per 1.00 of rate.
    pub rho: f64,
}

/// Carry yield the model applies: Black-76 is Black-Scholes with q = r.
#[inline]
fn effective_carry(model: OptionModel, inp: &OptionInputs) -> f64 {
    match model {
        OptionModel::BlackScholes => inp.carry_annual,
        OptionModel::Black76 => inp.rate_annual,
    }
}

fn check_inputs(inp: &OptionInputs) -> Result<(), PricingError> {
    let checks = [
        ("underlying_usd", inp.underlying_usd, inp.underlying_usd > 0.0),
        ("strike_usd", inp.strike_usd, inp.strike_usd > 0.0),
        ("time_years", inp.time_years, inp.time_years > 0.0),
        ("vol_annual", inp.vol_annual, inp.vol_annual > 0.0),
        ("rate_annual", inp.rate_annual, inp.rate_annual.is_finite()),
        ("carry_annual", inp.carry_annual, inp.carry_annual.is_finite()),
    ];
    for (name, value, ok) in checks {
        // `ok` is false for NaN too, because every comparison with NaN is false.
        if !ok || !value.is_finite() {
            return Err(PricingError::InstrumentInvalid { name, value });
        }
    }
    Ok(())
}

/// Price only (no Greeks), the cheapest path for scenario revaluation.
///
/// # Errors
/// `InstrumentInvalid` when an input is non-finite or non-positive where it must be positive.
#[inline]
pub fn price(model: OptionModel, right: OptionRight, inp: &OptionInputs) -> Result<f64, PricingError> {
    check_inputs(inp)?;
    Ok(price_unchecked(model, right, inp))
}

#[inline]
fn price_unchecked(model: OptionModel, right: OptionRight, inp: &OptionInputs) -> f64 {
    let q = effective_carry(model, inp);
    let sqrt_t = inp.time_years.sqrt();
    let sig_sqrt_t = inp.vol_annual * sqrt_t;
    let d1 = ((inp.underlying_usd / inp.strike_usd).ln() + (inp.rate_annual - q + 0.5 * inp.vol_annual * inp.vol_annual) * inp.time_years)
        / sig_sqrt_t;
    let d2 = d1 - sig_sqrt_t;
    let df_r = (-inp.rate_annual * inp.time_years).exp();
    let df_q = (-q * inp.time_years).exp();
    match right {
        OptionRight::Call => inp.underlying_usd * df_q * cdf(d1) - inp.strike_usd * df_r * cdf(d2),
        OptionRight::Put => inp.strike_usd * df_r * cdf(-d2) - inp.underlying_usd * df_q * cdf(-d1),
    }
}

/// Price and all analytic Greeks.
///
/// # Errors
/// `InstrumentInvalid` when an input is non-finite or non-positive where it must be positive.
pub fn greeks(model: OptionModel, right: OptionRight, inp: &OptionInputs) -> Result<OptionGreeks, PricingError> {
    check_inputs(inp)?;
    let s = inp.underlying_usd;
    let k = inp.strike_usd;
    let t = inp.time_years;
    let r = inp.rate_annual;
    let q = effective_carry(model, inp);
    let sigma = inp.vol_annual;
    let sqrt_t = t.sqrt();
    let sig_sqrt_t = sigma * sqrt_t;
    let d1 = ((s / k).ln() + (r - q + 0.5 * sigma * sigma) * t) / sig_sqrt_t;
    let d2 = d1 - sig_sqrt_t;
    let df_r = (-r * t).exp();
    let df_q = (-q * t).exp();
    let nd1 = pdf(d1);
    let gamma = df_q * nd1 / (s * sig_sqrt_t);
    let vega = s * df_q * nd1 * sqrt_t;
    let decay = -s * df_q * nd1 * sigma / (2.0 * sqrt_t);
    let (price_usd, delta, theta_carry, rho_bs) = match right {
        OptionRight::Call => {
            let (n1, n2) = (cdf(d1), cdf(d2));
            let price = s * df_q * n1 - k * df_r * n2;
            let theta = -r * k * df_r * n2 + q * s * df_q * n1;
            (price, df_q * n1, theta, k * t * df_r * n2)
        }
        OptionRight::Put => {
            let (n1, n2) = (cdf(-d1), cdf(-d2));
            let price = k * df_r * n2 - s * df_q * n1;
            let theta = r * k * df_r * n2 - q * s * df_q * n1;
            (price, -df_q * n1, theta, -k * t * df_r * n2)
        }
    };
    // For Black-76 the forward does not move with r, but the whole price is discounted: dV/dr = -T V.
    let rho = match model {
        OptionModel::BlackScholes => rho_bs,
        OptionModel::Black76 => -t * price_usd,
    };
    Ok(OptionGreeks { price_usd, delta, gamma, vega, theta_per_year: decay + theta_carry, rho })
}

/// No-arbitrage bounds (lower, upper) of a European option price in USD.
#[must_use]
pub fn price_bounds(model: OptionModel, right: OptionRight, inp: &OptionInputs) -> (f64, f64) {
    let q = effective_carry(model, inp);
    let fwd_pv = inp.underlying_usd * (-q * inp.time_years).exp();
    let strike_pv = inp.strike_usd * (-inp.rate_annual * inp.time_years).exp();
    match right {
        OptionRight::Call => ((fwd_pv - strike_pv).max(0.0), fwd_pv),
        OptionRight::Put => ((strike_pv - fwd_pv).max(0.0), strike_pv),
    }
}

/// Smallest and largest volatility the solver searches, per year.
const IV_MIN: f64 = 1e-6;
const IV_MAX: f64 = 20.0;
/// The solver gives up after this many steps; bisection alone needs about 60 to reach f64 resolution.
const IV_MAX_ITERATIONS: u32 = 200;

/// Implied volatility from a price: safeguarded Newton (falls back to bisection whenever the Newton step
/// leaves the bracket), so it converges for any price strictly inside the no-arbitrage bounds.
///
/// `inputs.vol_annual` is ignored.
///
/// # Errors
/// - `ImpliedVolOutOfBounds` when the price is not strictly inside the no-arbitrage bounds, or needs a
///   volatility outside [1e-6, 20] per year.
/// - `ImpliedVolNoConvergence` if the iteration limit is reached (not observed in tests).
/// - `InstrumentInvalid` for invalid spot, strike or time.
pub fn implied_vol(model: OptionModel, right: OptionRight, price_usd: f64, inputs: &OptionInputs) -> Result<f64, PricingError> {
    let mut inp = OptionInputs { vol_annual: 0.2, ..*inputs };
    check_inputs(&inp)?;
    let (lower_usd, upper_usd) = price_bounds(model, right, &inp);
    let out_of_bounds = PricingError::ImpliedVolOutOfBounds { price_usd, lower_usd, upper_usd };
    if !price_usd.is_finite() || price_usd <= lower_usd || price_usd >= upper_usd {
        return Err(out_of_bounds);
    }
    let value_at = |inp: &mut OptionInputs, vol: f64| {
        inp.vol_annual = vol;
        price_unchecked(model, right, inp)
    };
    let mut lo = IV_MIN;
    let mut hi = IV_MAX;
    if value_at(&mut inp, lo) >= price_usd || value_at(&mut inp, hi) <= price_usd {
        return Err(out_of_bounds);
    }
    // Start at the vol that makes the option at-the-money-forward-like in total variance; 2 |ln(F/K)| / T
    // is the inflection point of the price in sigma (Manaster-Koehler), where Newton converges monotonically.
    let q = effective_carry(model, &inp);
    let log_moneyness = (inp.underlying_usd / inp.strike_usd).ln() + (inp.rate_annual - q) * inp.time_years;
    let mut vol = (2.0 * log_moneyness.abs() / inp.time_years).sqrt().clamp(0.05, 5.0);
    let tolerance_usd = 1e-13 * price_usd.max(1e-300) + 1e-15 * upper_usd;
    let mut residual = f64::INFINITY;
    for _ in 0..IV_MAX_ITERATIONS {
        inp.vol_annual = vol;
        let g = greeks(model, right, &inp)?;
        residual = g.price_usd - price_usd;
        if residual.abs() <= tolerance_usd {
            return Ok(vol);
        }
        if residual > 0.0 {
            hi = vol;
        } else {
            lo = vol;
        }
        let newton = vol - residual / g.vega;
        vol = if g.vega > 0.0 && newton > lo && newton < hi { newton } else { 0.5 * (lo + hi) };
        if hi - lo <= 4.0 * f64::EPSILON * hi {
            return Ok(vol);
        }
    }
    Err(PricingError::ImpliedVolNoConvergence { iterations: IV_MAX_ITERATIONS, residual_usd: residual })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(s: f64, k: f64, t: f64, r: f64, vol: f64) -> OptionInputs {
        OptionInputs { underlying_usd: s, strike_usd: k, time_years: t, rate_annual: r, carry_annual: 0.0, vol_annual: vol }
    }

    #[test]
    fn quantlib_reference_atm_call() {
        // S=K=100, r=5%, vol=20%, T=1: QuantLib 1.44 gives 10.450583572185577 (a case of
        // tests/fixtures/options_quantlib.json, scripts/quantlib_options.py).
        let g = greeks(OptionModel::BlackScholes, OptionRight::Call, &inputs(100.0, 100.0, 1.0, 0.05, 0.2)).unwrap();
        assert!((g.price_usd - 10.450_584).abs() < 1e-6);
        assert!((g.delta - 0.636_831).abs() < 1e-6);
        assert!((g.gamma - 0.018_762).abs() < 1e-6);
        assert!((g.vega - 37.524).abs() < 1e-3);
    }

    #[test]
    fn hull_example_15_6_call_and_put() {
        // Hull, Options, Futures and Other Derivatives (8th ed.), Example 15.6:
        // S=42, K=40, r=10%, sigma=20%, T=0.5 gives c = 4.76, p = 0.81.
        let inp = inputs(42.0, 40.0, 0.5, 0.1, 0.2);
        let c = price(OptionModel::BlackScholes, OptionRight::Call, &inp).unwrap();
        let p = price(OptionModel::BlackScholes, OptionRight::Put, &inp).unwrap();
        assert!((c - 4.76).abs() < 0.005, "{c}");
        assert!((p - 0.81).abs() < 0.005, "{p}");
    }

    #[test]
    fn hull_chapter_19_greeks_example() {
        // Hull (8th ed.), Examples 19.1/19.4-19.6: S=49, K=50, r=5%, sigma=20%, T=20 weeks = 0.3846 years.
        // Delta 0.522, gamma 0.066, vega 12.1 (per 1.00 of vol), theta -4.31 per year, rho 8.91.
        let g = greeks(OptionModel::BlackScholes, OptionRight::Call, &inputs(49.0, 50.0, 0.3846, 0.05, 0.2)).unwrap();
        assert!((g.delta - 0.522).abs() < 0.0005, "{}", g.delta);
        assert!((g.gamma - 0.066).abs() < 0.0005, "{}", g.gamma);
        assert!((g.vega - 12.1).abs() < 0.05, "{}", g.vega);
        assert!((g.theta_per_year - (-4.31)).abs() < 0.005, "{}", g.theta_per_year);
        assert!((g.rho - 8.91).abs() < 0.005, "{}", g.rho);
    }

    #[test]
    fn hull_black76_futures_put() {
        // Hull (8th ed.), Example 18.7: European put on crude-oil futures, F=K=20, r=9%, sigma=25%,
        // T=4 months gives 1.12.
        let p = price(OptionModel::Black76, OptionRight::Put, &inputs(20.0, 20.0, 4.0 / 12.0, 0.09, 0.25)).unwrap();
        assert!((p - 1.12).abs() < 0.005, "{p}");
    }

    #[test]
    fn implied_vol_rejects_prices_outside_bounds() {
        let inp = inputs(100.0, 100.0, 1.0, 0.05, 0.2);
        let below = implied_vol(OptionModel::BlackScholes, OptionRight::Call, 4.0, &inp);
        assert!(matches!(below, Err(PricingError::ImpliedVolOutOfBounds { .. })));
        let above = implied_vol(OptionModel::BlackScholes, OptionRight::Call, 100.0, &inp);
        assert!(matches!(above, Err(PricingError::ImpliedVolOutOfBounds { .. })));
    }

    #[test]
    fn implied_vol_recovers_hull_vol() {
        // Hull (8th ed.) Section 15.11 example: a call with S=21, K=20, r=10%, T=0.25 priced at 1.875 has
        // implied volatility 0.235.
        let inp = inputs(21.0, 20.0, 0.25, 0.1, 0.0);
        let vol = implied_vol(OptionModel::BlackScholes, OptionRight::Call, 1.875, &inp).unwrap();
        assert!((vol - 0.235).abs() < 0.0005, "{vol}");
    }
}
