//! Risk parameters (`config/risk.toml`, embedded), every one explained in
//! `docs/margin-methodology.md` and `docs/protocol-risk.md`.

use crate::error::RiskError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The parameter file shipped with the crate.
pub const DEFAULT_RISK_PARAMS_TOML: &str = include_str!("../config/risk.toml");

/// Every tunable number of the margin engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskParams {
    /// Margin period of risk, hours (1..=720).
    pub mpor_hours: i64,
    /// Expected-shortfall confidence, e.g. 0.99.
    pub confidence: f64,
    /// FHS window stride, hours.
    pub fhs_stride_hours: i64,
    /// EWMA floor as a fraction of long-run volatility.
    pub floor_fraction: f64,
    /// Whether stress, vol-shock and resolution scenarios floor the margin.
    pub stress_floor: bool,
    /// Maintenance margin = this x initial margin.
    pub maintenance_fraction: f64,
    /// Claims on one protocol above this are charged their failure loss in full, USD.
    pub concentration_threshold_usd: f64,
    /// Window of the stable (median) price of the manipulation guard, hours.
    pub stable_price_hours: i64,
    /// Factor a missing factor follows (e.g. `peg:WBTC` -> `peg:sBTC`).
    #[serde(default)]
    pub factor_proxies: BTreeMap<String, String>,
    /// Protocol failure model.
    pub protocol: ProtocolParams,
    /// Close-out cost model.
    pub liquidity: LiquidityParams,
    /// Weight-based comparator.
    pub weights: WeightParams,
}

/// Parameters of the protocol failure model (`docs/protocol-risk.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolParams {
    pub base_pd_annual: f64,
    pub pd_annual_cap: f64,
    pub age_coefficient: f64,
    pub audits_none_multiplier: f64,
    pub audits_few_multiplier: f64,
    pub upgradeable_multiplier: f64,
    pub incident_loss_multiplier: f64,
    pub incident_no_loss_multiplier: f64,
    pub overcollateralized_multiplier: f64,
    /// By oracle design (snake_case name of `model::OracleDesign`).
    pub oracle_multiplier: BTreeMap<String, f64>,
    /// By peg mechanism (snake_case name of `model::PegMechanism`).
    pub peg_multiplier: BTreeMap<String, f64>,
    /// Loss given failure by protocol kind, plus `algorithmic_peg`.
    pub lgd: BTreeMap<String, f64>,
}

/// How a market absorbs a close-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepthKind {
    /// Linear order book: `depth_usd` of notional moves the price by 1%.
    OrderBook,
    /// Constant-product pool: `depth_usd` is the USD reserve of the side sold into.
    Amm,
}

/// The depth of one market.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDepth {
    /// Instrument id, asset symbol, underlying symbol or venue protocol id.
    pub market: String,
    pub kind: DepthKind,
    pub depth_usd: f64,
    pub half_spread_bps: f64,
}

/// Parameters of the liquidity charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidityParams {
    pub default_half_spread_bps: f64,
    /// Order-book depth (USD per 1%) by asset kind when no market matches.
    pub default_depth_usd: BTreeMap<String, f64>,
    #[serde(default)]
    pub markets: Vec<MarketDepth>,
}

/// Initial asset and liability weights of the Mango-v4-style comparator, `[asset, liability]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightParams {
    pub perp: [f64; 2],
    pub by_kind: BTreeMap<String, [f64; 2]>,
    #[serde(default)]
    pub by_asset: BTreeMap<String, [f64; 2]>,
}

/// Upper bound on markets and proxies in a parameter file.
pub const MAX_PARAM_ENTRIES: usize = 10_000;

impl RiskParams {
    /// Parses and validates a parameter file.
    pub fn from_toml(text: &str) -> Result<RiskParams, RiskError> {
        let p: RiskParams = toml::from_str(text).map_err(|e| RiskError::ParamsInvalid { problem: e.to_string() })?;
        p.validate()?;
        Ok(p)
    }

    /// The shipped parameters.
    pub fn default_params() -> RiskParams {
        // The embedded file is parsed by this crate's tests, so a failure here is a build defect.
        RiskParams::from_toml(DEFAULT_RISK_PARAMS_TOML).expect("config/risk.toml is valid (tested)")
    }

    /// Checks ranges; every error names the key.
    pub fn validate(&self) -> Result<(), RiskError> {
        let bad = |key: &str, why: &str| Err(RiskError::ParamsInvalid { problem: format!("{key}: {why}") });
        if !(1..=720).contains(&self.mpor_hours) {
            return bad("mpor_hours", "must lie in 1..=720");
        }
        if !(0.5..1.0).contains(&self.confidence) {
            return bad("confidence", "must lie in [0.5, 1)");
        }
        if self.fhs_stride_hours < 1 {
            return bad("fhs_stride_hours", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.floor_fraction) {
            return bad("floor_fraction", "must lie in [0, 1]");
        }
        if !(self.maintenance_fraction > 0.0 && self.maintenance_fraction <= 1.0) {
            return bad("maintenance_fraction", "must lie in (0, 1]");
        }
        if !(self.concentration_threshold_usd >= 0.0 && self.concentration_threshold_usd.is_finite()) {
            return bad("concentration_threshold_usd", "must be a finite non-negative amount");
        }
        if !(1..=24 * 30).contains(&self.stable_price_hours) {
            return bad("stable_price_hours", "must lie in 1..=720");
        }
        if self.liquidity.markets.len() + self.factor_proxies.len() > MAX_PARAM_ENTRIES {
            return bad("liquidity.markets", "too many entries");
        }
        for m in &self.liquidity.markets {
            if m.depth_usd.is_nan()
                || m.depth_usd <= 0.0
                || !m.depth_usd.is_finite()
                || m.half_spread_bps.is_nan()
                || m.half_spread_bps < 0.0
            {
                return bad("liquidity.markets", &format!("{}: depth must be positive and spread non-negative", m.market));
            }
        }
        for (k, v) in self.protocol.lgd.iter() {
            if !(0.0..=1.0).contains(v) {
                return bad("protocol.lgd", &format!("{k} = {v} is not a fraction"));
            }
        }
        let p = &self.protocol;
        let open_unit = |x: f64| x > 0.0 && x < 1.0;
        if !open_unit(p.base_pd_annual) || !open_unit(p.pd_annual_cap) {
            return bad("protocol.base_pd_annual", "probabilities must lie in (0, 1)");
        }
        Ok(())
    }

    /// Tail probability of the expected shortfall, `1 - confidence`.
    pub fn tail(&self) -> f64 {
        1.0 - self.confidence
    }
}
