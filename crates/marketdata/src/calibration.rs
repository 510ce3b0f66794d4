//! The committed calibration summary: per-factor volatilities, correlations, stress moves and proxy
//! parameters computed from the raw history, embedded in the binary so the broker starts without
//! the raw data. Regenerate with `cargo run -p marketdata --release --example calibrate`.

use crate::error::{MarketDataError, Result};
use crate::panel::{FactorKind, FactorPanel, ProxyParams};
use crate::scenarios::{FhsParams, VolModel};
use crate::stress::{STRESS_EVENTS, StressScenario, VolShockParams, compute_stress_scenario};
use crate::time::Hour;
use crate::vol::HOURS_PER_YEAR;
use serde::{Deserialize, Serialize};

/// The calibration JSON committed with the crate.
pub const EMBEDDED_JSON: &str = include_str!("../calibration/default.json");

/// The command that regenerates [`EMBEDDED_JSON`].
pub const REGENERATE_COMMAND: &str = "cargo run -p marketdata --release --example calibrate";

/// Quantile of margin-period implied-vol log changes used for the committed vol shocks.
pub const DEFAULT_VOL_SHOCK_QUANTILE: f64 = 0.995;

/// Statistics of one factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactorCalibration {
    /// Factor name.
    pub name: String,
    /// Factor kind (defines the units: log-return for price/vol, absolute change otherwise).
    pub kind: FactorKind,
    /// Level at the end of the data (ln USD for prices; natural units otherwise).
    pub level_at_end: f64,
    /// Root-mean-square hourly move over all history, annualised (x sqrt(8760)).
    pub long_run_vol_annual: f64,
    /// Highest EWMA volatility over history (first 30 days excluded as seed), annualised.
    pub stressed_vol_annual: f64,
    /// Instant of the stressed volatility.
    pub stressed_vol_at: Hour,
    /// EWMA volatility at the end of the data, annualised.
    pub current_ewma_vol_annual: f64,
    /// Current EWMA volatility after the FHS floor, annualised.
    pub current_floored_vol_annual: f64,
    /// Fractions of grid cells that are observed / carried forward / proxy.
    pub observed_fraction: f64,
    /// See `observed_fraction`.
    pub filled_fraction: f64,
    /// See `observed_fraction`.
    pub proxy_fraction: f64,
    /// First and last instants with real (non-proxy) data.
    pub real_span: Option<(Hour, Hour)>,
}

/// Pearson correlation of daily (00:00 UTC to 00:00 UTC) factor moves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// Factor order of the matrix.
    pub factors: Vec<String>,
    /// Symmetric matrix, unit diagonal.
    pub matrix: Vec<Vec<f64>>,
    /// Number of daily observations.
    pub observations: usize,
}

/// The calibration summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Bumped on incompatible format changes.
    pub schema_version: u32,
    /// The command that produced this file.
    pub generated_by: String,
    /// First grid instant of the data used.
    pub data_start: Hour,
    /// Last grid instant of the data used.
    pub data_end: Hour,
    /// Margin period of the stress moves and vol shocks.
    pub mpor_hours: i64,
    /// Default FHS parameters (EWMA, floor, scaling rules).
    pub fhs: FhsParams,
    /// Per-factor statistics, panel order.
    pub factors: Vec<FactorCalibration>,
    /// Correlation of daily moves.
    pub correlation: Correlation,
    /// The named stress scenarios for `mpor_hours`.
    pub stress_scenarios: Vec<StressScenario>,
    /// Implied-vol shocks.
    pub vol_shock: VolShockParams,
    /// Proxy construction parameters and calibrated values.
    pub proxies: ProxyParams,
}

/// Current schema version.
pub const SCHEMA_VERSION: u32 = 1;

impl Calibration {
    /// The calibration committed in `calibration/default.json`.
    pub fn embedded() -> Result<Calibration> {
        Calibration::from_json(EMBEDDED_JSON)
    }

    /// Parses a calibration JSON.
    pub fn from_json(text: &str) -> Result<Calibration> {
        let c: Calibration = serde_json::from_str(text).map_err(|e| MarketDataError::Calibration { reason: e.to_string() })?;
        if c.schema_version != SCHEMA_VERSION {
            return Err(MarketDataError::Calibration { reason: format!("schema {} (expected {SCHEMA_VERSION})", c.schema_version) });
        }
        Ok(c)
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map(|s| s + "\n").map_err(|e| MarketDataError::Calibration { reason: e.to_string() })
    }

    /// Statistics of the named factor.
    pub fn factor(&self, name: &str) -> Result<&FactorCalibration> {
        self.factors.iter().find(|f| f.name == name).ok_or_else(|| MarketDataError::UnknownFactor { name: name.into() })
    }

    /// Computes the calibration from a panel with FHS parameters `fhs` (its `mpor_hours` is used for
    /// the stress moves and vol shocks).
    pub fn compute(panel: &FactorPanel, fhs: &FhsParams, vol_shock_quantile: f64) -> Result<Calibration> {
        let vm = VolModel::compute(panel, &fhs.ewma)?;
        let last = panel.len() - 1;
        let ann = HOURS_PER_YEAR.sqrt();
        let seed_skip = 720.min(last);
        let mut factors = Vec::with_capacity(panel.n_factors());
        for f in 0..panel.n_factors() {
            let (mut smax, mut smax_i) = (0.0, seed_skip);
            for i in seed_skip..=last {
                let s = vm.sigma_after(f, i);
                if s > smax {
                    smax = s;
                    smax_i = i;
                }
            }
            let (o, fi, p) = panel.coverage(f);
            factors.push(FactorCalibration {
                name: panel.factor_names()[f].clone(),
                kind: panel.kind(f),
                level_at_end: panel.level(f, last),
                long_run_vol_annual: vm.long_run_sigma_after(f, last) * ann,
                stressed_vol_annual: smax * ann,
                stressed_vol_at: panel.time(smax_i),
                current_ewma_vol_annual: vm.sigma_after(f, last) * ann,
                current_floored_vol_annual: vm.floored_sigma_after(f, last, fhs.floor_fraction) * ann,
                observed_fraction: o,
                filled_fraction: fi,
                proxy_fraction: p,
                real_span: panel.real_span(f),
            });
        }
        let correlation = daily_correlation(panel);
        let stress_scenarios =
            STRESS_EVENTS.iter().map(|ev| compute_stress_scenario(panel, ev, fhs.mpor_hours)).collect::<Result<Vec<_>>>()?;
        let vol_shock = VolShockParams::calibrate(panel, panel.end(), fhs.mpor_hours, vol_shock_quantile)?;
        Ok(Calibration {
            schema_version: SCHEMA_VERSION,
            generated_by: REGENERATE_COMMAND.into(),
            data_start: panel.start(),
            data_end: panel.end(),
            mpor_hours: fhs.mpor_hours,
            fhs: fhs.clone(),
            factors,
            correlation,
            stress_scenarios,
            vol_shock,
            proxies: panel.proxy_params().clone(),
        })
    }
}

/// Pearson correlation of non-overlapping daily moves (00:00 UTC to 00:00 UTC) of all factors.
pub fn daily_correlation(panel: &FactorPanel) -> Correlation {
    let nf = panel.n_factors();
    let first = (0..panel.len()).find(|&i| panel.time(i).0 % 24 == 0).unwrap_or(0);
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); nf];
    let mut i = first;
    while i + 24 < panel.len() {
        for (f, col) in cols.iter_mut().enumerate() {
            col.push(panel.move_between(f, i, i + 24));
        }
        i += 24;
    }
    let n = cols.first().map_or(0, Vec::len);
    let stats: Vec<(f64, f64)> = cols
        .iter()
        .map(|c| {
            let m = c.iter().sum::<f64>() / n.max(1) as f64;
            let s = c.iter().map(|x| (x - m) * (x - m)).sum::<f64>().sqrt();
            (m, s)
        })
        .collect();
    let mut matrix = vec![vec![0.0; nf]; nf];
    for a in 0..nf {
        for b in 0..nf {
            matrix[a][b] = if a == b {
                1.0
            } else {
                let (ma, sa) = stats[a];
                let (mb, sb) = stats[b];
                let cov: f64 = cols[a].iter().zip(&cols[b]).map(|(x, y)| (x - ma) * (y - mb)).sum();
                if sa > 0.0 && sb > 0.0 { cov / (sa * sb) } else { 0.0 }
            };
        }
    }
    Correlation { factors: panel.factor_names().to_vec(), matrix, observations: n }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::stress_scenarios_from_calibration;

    #[test]
    fn embedded_calibration_is_complete_without_raw_data() {
        let c = Calibration::embedded().unwrap();
        assert_eq!(c.factors.len(), 19);
        assert_eq!(c.correlation.matrix.len(), 19);
        for (i, row) in c.correlation.matrix.iter().enumerate() {
            assert_eq!(row[i], 1.0);
            for (j, x) in row.iter().enumerate() {
                assert!((x - c.correlation.matrix[j][i]).abs() < 1e-12 && x.abs() <= 1.0 + 1e-12);
            }
        }
        for f in &c.factors {
            assert!(f.long_run_vol_annual > 0.0 && f.stressed_vol_annual >= f.current_ewma_vol_annual, "{}", f.name);
            assert!(f.current_floored_vol_annual >= f.current_ewma_vol_annual);
        }
        assert_eq!(c.stress_scenarios.len(), 5);
        assert!(c.vol_shock.up_log_ref > 0.0 && c.vol_shock.down_log_ref < 0.0);
        // Availability from the file alone: before the USDC depeg ended, four events are known.
        let t = Hour::from_ymdh(2023, 3, 15, 0);
        assert_eq!(stress_scenarios_from_calibration(&c, t, 24).unwrap().len(), 4);
        assert_eq!(stress_scenarios_from_calibration(&c, t.plus_hours(1), 24).unwrap().len(), 5);
        assert!(stress_scenarios_from_calibration(&c, t, 1).is_err());
        // JSON round trip is exact.
        assert_eq!(Calibration::from_json(&c.to_json().unwrap()).unwrap(), c);
        assert!(Calibration::from_json("{}").is_err());
    }
}
