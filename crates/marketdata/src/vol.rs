//! EWMA (RiskMetrics) volatility with a long-run floor.
//!
//! Conventions: a factor's hourly *move* series `m` has `m[0] = 0` and `m[i]` = move from grid index
//! `i-1` to `i` (see [`crate::panel::FactorKind`] for the move of each kind). The *forecast* variance
//! `v[i]` is the EWMA of squared moves strictly before index `i`, i.e. it is known once the level at
//! index `i-1` is known, and it is the conditional variance of move `m[i]`:
//!
//! `v[i] = lambda * v[i-1] + (1 - lambda) * m[i-1]^2`, seeded with the mean square of the first
//! `seed_hours` moves. RiskMetrics uses lambda = 0.94 for daily data; the hourly equivalent with the
//! same half-life (about 11.2 days) is `0.94^(1/24) = 0.997425`.

use crate::error::{MarketDataError, Result};
use serde::{Deserialize, Serialize};

/// Hours per year, used to annualise hourly volatilities (crypto trades 24/7).
pub const HOURS_PER_YEAR: f64 = 8760.0;

/// RiskMetrics daily decay factor.
pub const RISKMETRICS_LAMBDA_DAILY: f64 = 0.94;

/// Converts a daily decay factor to the hourly one with the same half-life: `lambda_daily^(1/24)`.
pub fn hourly_lambda(lambda_daily: f64) -> f64 {
    lambda_daily.powf(1.0 / 24.0)
}

/// Parameters of the EWMA estimator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EwmaParams {
    /// Hourly decay factor in (0, 1).
    pub lambda_hourly: f64,
    /// Number of initial moves whose mean square seeds the recursion.
    pub seed_hours: usize,
}

impl Default for EwmaParams {
    fn default() -> Self {
        EwmaParams { lambda_hourly: hourly_lambda(RISKMETRICS_LAMBDA_DAILY), seed_hours: 168 }
    }
}

impl EwmaParams {
    /// Checks `0 < lambda < 1` and a non-zero seed.
    pub fn validate(&self) -> Result<()> {
        if !(self.lambda_hourly > 0.0 && self.lambda_hourly < 1.0) {
            return Err(MarketDataError::InvalidParameter { name: "lambda_hourly", value: self.lambda_hourly, why: "must lie in (0, 1)" });
        }
        if self.seed_hours == 0 {
            return Err(MarketDataError::InvalidParameter { name: "seed_hours", value: 0.0, why: "must be positive" });
        }
        Ok(())
    }
}

/// Forecast variances `v[0..=n]` for a move series of length `n` (see module doc). The extra last
/// element is the forecast for the move after the final one, i.e. "now" at the end of the data.
pub fn ewma_forecast_variance(moves: &[f64], params: &EwmaParams) -> Vec<f64> {
    let n = moves.len();
    let mut out = Vec::with_capacity(n + 1);
    let seed_n = params.seed_hours.min(n.saturating_sub(1)).max(1);
    let seed = moves.iter().skip(1).take(seed_n).map(|m| m * m).sum::<f64>() / seed_n as f64;
    let lam = params.lambda_hourly;
    let mut v = seed;
    out.push(v);
    for m in moves {
        v = lam * v + (1.0 - lam) * m * m;
        out.push(v);
    }
    debug_assert_eq!(out.len(), n + 1);
    out
}

/// Cumulative sums of squared moves: `c[i] = sum_{j<i} m[j]^2`, length `n+1`. The long-run variance
/// before index `i` is `c[i] / (i - 1)` (move 0 is the zero placeholder).
pub fn cumulative_squares(moves: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(moves.len() + 1);
    let mut acc = 0.0;
    out.push(0.0);
    for m in moves {
        acc += m * m;
        out.push(acc);
    }
    out
}

/// Long-run hourly variance from the cumulative squares, using moves strictly before index `i`.
pub fn long_run_variance(cum: &[f64], i: usize) -> f64 {
    let i = i.min(cum.len() - 1);
    if i < 2 { 0.0 } else { cum[i] / (i - 1) as f64 }
}

/// Floored volatility: `max(sigma, floor_fraction * sigma_long_run)`; the anti-procyclicality floor
/// (EMIR Art. 28 spirit: margin may not fall far below its long-run level in calm markets).
pub fn floored(sigma: f64, sigma_long_run: f64, floor_fraction: f64) -> f64 {
    sigma.max(floor_fraction * sigma_long_run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_lambda_has_same_half_life() {
        let lh = hourly_lambda(0.94);
        // Half-life in days: ln(0.5)/ln(0.94) = 11.20 (independent arithmetic).
        let half_life_hours = 0.5f64.ln() / lh.ln();
        assert!((half_life_hours / 24.0 - 11.2021).abs() < 1e-3, "{half_life_hours}");
    }

    #[test]
    fn recursion_matches_hand_computation() {
        let p = EwmaParams { lambda_hourly: 0.9, seed_hours: 2 };
        let m = [0.0, 0.1, -0.2, 0.3];
        let v = ewma_forecast_variance(&m, &p);
        // seed = (0.01 + 0.04) / 2 = 0.025
        let mut e = 0.025;
        assert!((v[0] - e).abs() < 1e-15);
        for (i, x) in m.iter().enumerate() {
            e = 0.9 * e + 0.1 * x * x;
            assert!((v[i + 1] - e).abs() < 1e-15);
        }
        let c = cumulative_squares(&m);
        assert!((long_run_variance(&c, 4) - (0.01 + 0.04 + 0.09) / 3.0).abs() < 1e-15);
        assert_eq!(floored(0.1, 1.0, 0.5), 0.5);
        assert_eq!(floored(0.9, 1.0, 0.5), 0.9);
    }

    #[test]
    fn rejects_bad_lambda() {
        assert!(EwmaParams { lambda_hourly: 1.0, seed_hours: 1 }.validate().is_err());
        assert!(EwmaParams::default().validate().is_ok());
    }
}
