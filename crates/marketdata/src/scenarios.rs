//! Filtered historical simulation (FHS) and realised moves.
//!
//! A scenario is the joint move of every factor over one historical window of `mpor_hours`. Price
//! moves are rescaled by `sigma_now / sigma_then` (both EWMA forecasts, both floored), so a crash
//! observed in a calm regime is amplified if markets are volatile now and a crash observed in a
//! volatile regime is scaled to today's level, never below the floor. The full procedure and its
//! parameters are documented in `docs/market-data.md`.

use crate::error::{MarketDataError, Result};
use crate::panel::{FactorKind, FactorPanel};
use crate::time::Hour;
use crate::vol::{self, EwmaParams, HOURS_PER_YEAR};
use serde::{Deserialize, Serialize};

/// How a factor's historical move is rescaled by the volatility ratio `sigma_now / sigma_then`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleRule {
    /// Multiply by the ratio (classic FHS).
    Ratio,
    /// Multiply by `max(1, ratio)`: never scaled down by a calm present.
    AtLeastOne,
    /// Use the historical move as it was.
    Unscaled,
}

impl ScaleRule {
    fn apply(self, ratio: f64) -> f64 {
        match self {
            ScaleRule::Ratio => ratio,
            ScaleRule::AtLeastOne => ratio.max(1.0),
            ScaleRule::Unscaled => 1.0,
        }
    }
}

/// Parameters of [`fhs_scenarios`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FhsParams {
    /// Margin period of risk in hours (default 24).
    pub mpor_hours: i64,
    /// Window ends are the grid instants whose Unix hour is a multiple of this (default 8); windows
    /// overlap when `stride_hours < mpor_hours`.
    pub stride_hours: i64,
    /// First instant a window may start at; `None` = the start of the panel (all history since 2019).
    pub lookback_start: Option<Hour>,
    /// EWMA estimator for `sigma_now` and `sigma_then`.
    pub ewma: EwmaParams,
    /// `sigma_now` is floored at this fraction of the long-run volatility before as-of (default 0.75).
    pub floor_fraction: f64,
    /// `sigma_then` is floored at this fraction of the long-run volatility before the window
    /// (default 0.25), so a stale, near-zero-vol stretch cannot blow a move up without bound.
    pub then_floor_fraction: f64,
    /// Rule for price factors (default [`ScaleRule::Ratio`]).
    pub price_rule: ScaleRule,
    /// Rule for implied-vol factors (default [`ScaleRule::AtLeastOne`]).
    pub vol_rule: ScaleRule,
    /// Rule for peg factors (default [`ScaleRule::Unscaled`]).
    pub peg_rule: ScaleRule,
    /// Rule for basis factors (default [`ScaleRule::Unscaled`]).
    pub basis_rule: ScaleRule,
    /// Rule for funding factors (default [`ScaleRule::Unscaled`]).
    pub funding_rule: ScaleRule,
    /// Upper bound on the number of scenarios (default 100 000).
    pub max_scenarios: usize,
}

impl Default for FhsParams {
    fn default() -> Self {
        FhsParams {
            mpor_hours: 24,
            stride_hours: 8,
            lookback_start: None,
            ewma: EwmaParams::default(),
            floor_fraction: 0.75,
            then_floor_fraction: 0.25,
            price_rule: ScaleRule::Ratio,
            vol_rule: ScaleRule::AtLeastOne,
            peg_rule: ScaleRule::Unscaled,
            basis_rule: ScaleRule::Unscaled,
            funding_rule: ScaleRule::Unscaled,
            max_scenarios: 100_000,
        }
    }
}

impl FhsParams {
    /// The rule for a factor kind.
    pub fn rule(&self, kind: FactorKind) -> ScaleRule {
        match kind {
            FactorKind::Price => self.price_rule,
            FactorKind::Vol => self.vol_rule,
            FactorKind::Peg => self.peg_rule,
            FactorKind::Basis => self.basis_rule,
            FactorKind::Funding => self.funding_rule,
        }
    }

    fn validate(&self) -> Result<()> {
        self.ewma.validate()?;
        let bad = |name, value: f64, why| Err(MarketDataError::InvalidParameter { name, value, why });
        if self.mpor_hours < 1 || self.mpor_hours > 24 * 30 {
            return bad("mpor_hours", self.mpor_hours as f64, "must lie in 1..=720");
        }
        if self.stride_hours < 1 {
            return bad("stride_hours", self.stride_hours as f64, "must be positive");
        }
        if !(0.0..=1.0).contains(&self.floor_fraction) {
            return bad("floor_fraction", self.floor_fraction, "must lie in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.then_floor_fraction) {
            return bad("then_floor_fraction", self.then_floor_fraction, "must lie in [0, 1]");
        }
        Ok(())
    }
}

/// EWMA forecast variances and cumulative squares for every factor of a panel; compute once and reuse
/// for many as-of dates (a backtest).
#[derive(Clone, Debug)]
pub struct VolModel {
    params: EwmaParams,
    /// `var[f][i]`: forecast variance of move `i` of factor `f` (length `len + 1`).
    var: Vec<Vec<f64>>,
    /// `cum[f][i]`: sum of squared moves before index `i` (length `len + 1`).
    cum: Vec<Vec<f64>>,
}

impl VolModel {
    /// Computes the model for every factor.
    pub fn compute(panel: &FactorPanel, params: &EwmaParams) -> Result<VolModel> {
        params.validate()?;
        let f = panel.n_factors();
        let var = (0..f).map(|k| vol::ewma_forecast_variance(panel.moves(k), params)).collect();
        let cum = (0..f).map(|k| vol::cumulative_squares(panel.moves(k))).collect();
        Ok(VolModel { params: *params, var, cum })
    }

    /// The EWMA parameters used.
    pub fn params(&self) -> &EwmaParams {
        &self.params
    }

    /// Hourly EWMA volatility of factor `f` for the move after index `i`, using moves up to and
    /// including index `i` (i.e. known at instant `i`).
    pub fn sigma_after(&self, f: usize, i: usize) -> f64 {
        self.var[f][(i + 1).min(self.var[f].len() - 1)].sqrt()
    }

    /// Hourly long-run volatility of factor `f` from all moves up to and including index `i`.
    pub fn long_run_sigma_after(&self, f: usize, i: usize) -> f64 {
        vol::long_run_variance(&self.cum[f], i + 1).sqrt()
    }

    /// `max(sigma_after, floor_fraction * long_run_sigma_after)`.
    pub fn floored_sigma_after(&self, f: usize, i: usize, floor_fraction: f64) -> f64 {
        vol::floored(self.sigma_after(f, i), self.long_run_sigma_after(f, i), floor_fraction)
    }

    /// Annualised [`VolModel::sigma_after`].
    pub fn sigma_annual_after(&self, f: usize, i: usize) -> f64 {
        self.sigma_after(f, i) * HOURS_PER_YEAR.sqrt()
    }
}

/// A scenario matrix for the risk engine: one row per scenario, one column per factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSet {
    /// Factor names, the column order of `moves`.
    pub factor_names: Vec<String>,
    /// Kind of each factor: how to apply a move to a level ([`FactorKind::apply_move`]).
    pub factor_kinds: Vec<FactorKind>,
    /// Row-major `len() x factor_names.len()` moves (log-returns for price/vol, absolute changes otherwise).
    pub moves: Vec<f64>,
    /// Start instant of the historical window of each scenario.
    pub window_start: Vec<Hour>,
    /// Margin period of risk of every scenario, in hours.
    pub mpor_hours: i64,
    /// The as-of instant the set was built for.
    pub as_of: Hour,
    /// Per factor, the floored `sigma_now` (hourly) used for the rescaling.
    pub sigma_now_hourly: Vec<f64>,
}

impl ScenarioSet {
    /// Number of scenarios.
    pub fn len(&self) -> usize {
        self.window_start.len()
    }

    /// True if there is no scenario.
    pub fn is_empty(&self) -> bool {
        self.window_start.is_empty()
    }

    /// Number of factors (columns).
    pub fn n_factors(&self) -> usize {
        self.factor_names.len()
    }

    /// Moves of scenario `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        assert!(i < self.len(), "scenario {i} out of {}", self.len());
        let k = self.n_factors();
        &self.moves[i * k..(i + 1) * k]
    }

    /// Column index of a factor.
    pub fn factor_index(&self, name: &str) -> Result<usize> {
        self.factor_names.iter().position(|n| n == name).ok_or_else(|| MarketDataError::UnknownFactor { name: name.into() })
    }

    /// The level of factor `f` after scenario `i`, starting from `level` (natural units of the
    /// factor: log price, ratio, rate or vol).
    pub fn shocked_level(&self, i: usize, f: usize, level: f64) -> f64 {
        self.factor_kinds[f].apply_move(level, self.row(i)[f])
    }

    /// Human-readable label of scenario `i`: `FHS <window start> +<mpor>h`.
    pub fn label(&self, i: usize) -> String {
        format!("FHS {} +{}h", self.window_start[i], self.mpor_hours)
    }
}

/// Builds FHS scenarios as of `as_of` (see the module doc); computes the EWMA model on the fly.
pub fn fhs_scenarios(panel: &FactorPanel, as_of: Hour, params: &FhsParams) -> Result<ScenarioSet> {
    let vm = VolModel::compute(panel, &params.ewma)?;
    fhs_scenarios_with(panel, &vm, as_of, params)
}

/// [`fhs_scenarios`] with a precomputed [`VolModel`] (whose EWMA parameters take precedence).
///
/// Uses only panel values at instants `<= as_of`: every window ends at or before `as_of`, and
/// `sigma_now` uses moves up to `as_of`.
pub fn fhs_scenarios_with(panel: &FactorPanel, vm: &VolModel, as_of: Hour, params: &FhsParams) -> Result<ScenarioSet> {
    params.validate()?;
    let ia = panel.index_of(as_of)?;
    let h = params.mpor_hours as usize;
    let lb = match params.lookback_start {
        Some(t) if t > panel.start() => panel.index_of(t).unwrap_or(ia),
        _ => 0,
    };
    let nf = panel.n_factors();
    let sigma_now: Vec<f64> = (0..nf).map(|f| vm.floored_sigma_after(f, ia, params.floor_fraction)).collect();
    let rules: Vec<ScaleRule> = (0..nf).map(|f| params.rule(panel.kind(f))).collect();

    // Window ends: e <= ia, e - h >= lb, aligned to the stride in absolute time so the set is stable
    // from one as-of date to the next.
    let first_end = lb + h;
    if first_end > ia {
        return Err(MarketDataError::NoScenarioWindow {
            as_of: as_of.to_iso(),
            lookback_start: panel.time(lb).to_iso(),
            mpor_hours: params.mpor_hours,
        });
    }
    let stride = params.stride_hours;
    let t0 = panel.time(first_end).0;
    let offset = (stride - t0.rem_euclid(stride)) % stride;
    let mut e = first_end + offset as usize;
    let count = if e > ia { 0 } else { (ia - e) / stride as usize + 1 };
    if count == 0 {
        return Err(MarketDataError::NoScenarioWindow {
            as_of: as_of.to_iso(),
            lookback_start: panel.time(lb).to_iso(),
            mpor_hours: params.mpor_hours,
        });
    }
    if count > params.max_scenarios {
        return Err(MarketDataError::TooManyScenarios { count, limit: params.max_scenarios });
    }
    let mut moves = Vec::with_capacity(count * nf);
    let mut window_start = Vec::with_capacity(count);
    while e <= ia {
        let s = e - h;
        for f in 0..nf {
            let raw = panel.move_between(f, s, e);
            let scale = match rules[f] {
                ScaleRule::Unscaled => 1.0,
                rule => {
                    let then = vm.floored_sigma_after(f, s, params.then_floor_fraction);
                    if then > 0.0 { rule.apply(sigma_now[f] / then) } else { rule.apply(1.0) }
                }
            };
            debug_assert!(scale.is_finite() && scale > 0.0, "scale {scale} for factor {f}");
            debug_assert!(raw.is_finite(), "non-finite move of factor {f} at window {s}");
            moves.push(raw * scale);
        }
        window_start.push(panel.time(s));
        e += stride as usize;
    }
    debug_assert_eq!(moves.len(), count * nf);
    Ok(ScenarioSet {
        factor_names: panel.factor_names().to_vec(),
        factor_kinds: (0..nf).map(|f| panel.kind(f)).collect(),
        moves,
        window_start,
        mpor_hours: params.mpor_hours,
        as_of,
        sigma_now_hourly: sigma_now,
    })
}

/// The realised move of every factor from instant `t` to `t + mpor_hours` (panel factor order), for
/// comparing a margin computed at `t` with what actually happened.
pub fn realised_move(panel: &FactorPanel, t: Hour, mpor_hours: i64) -> Result<Vec<f64>> {
    if mpor_hours < 1 {
        return Err(MarketDataError::InvalidParameter { name: "mpor_hours", value: mpor_hours as f64, why: "must be positive" });
    }
    let i0 = panel.index_of(t)?;
    let i1 = panel.index_of(t.plus_hours(mpor_hours))?;
    Ok((0..panel.n_factors()).map(|f| panel.move_between(f, i0, i1)).collect())
}
