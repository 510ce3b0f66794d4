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

fn bad<T>(key: &str, why: &str) -> Result<T, RiskError> {
    Err(RiskError::ParamsInvalid { problem: format!("{key}: {why}") })
}

/// `x` must be finite and lie in `[lo, hi]`.
fn range(key: &str, x: f64, lo: f64, hi: f64) -> Result<(), RiskError> {
    if x.is_finite() && x >= lo && x <= hi { Ok(()) } else { bad(key, &format!("{x} must lie in [{lo}, {hi}]")) }
}

/// Depth of a market in USD (per 1% or pool side).
const DEPTH_USD_BOUNDS: (f64, f64) = (1e3, 1e13);
/// Half spread in basis points.
const HALF_SPREAD_BPS_BOUNDS: (f64, f64) = (0.0, 1_000.0);
/// A PD multiplier: it may lower a probability at most tenfold and raise it at most a hundredfold.
const MULTIPLIER_BOUNDS: (f64, f64) = (0.1, 100.0);

impl LiquidityParams {
    fn validate(&self) -> Result<(), RiskError> {
        let (s0, s1) = HALF_SPREAD_BPS_BOUNDS;
        let (d0, d1) = DEPTH_USD_BOUNDS;
        range("liquidity.default_half_spread_bps", self.default_half_spread_bps, s0, s1)?;
        for (k, v) in &self.default_depth_usd {
            range(&format!("liquidity.default_depth_usd.{k}"), *v, d0, d1)?;
        }
        for m in &self.markets {
            range(&format!("liquidity.markets.{}.depth_usd", m.market), m.depth_usd, d0, d1)?;
            range(&format!("liquidity.markets.{}.half_spread_bps", m.market), m.half_spread_bps, s0, s1)?;
        }
        Ok(())
    }
}

impl ProtocolParams {
    fn validate(&self) -> Result<(), RiskError> {
        let (m0, m1) = MULTIPLIER_BOUNDS;
        range("protocol.base_pd_annual", self.base_pd_annual, 1e-6, 0.5)?;
        range("protocol.pd_annual_cap", self.pd_annual_cap, self.base_pd_annual, 0.99)?;
        range("protocol.age_coefficient", self.age_coefficient, 0.0, 10.0)?;
        for (key, x) in [
            ("audits_none_multiplier", self.audits_none_multiplier),
            ("audits_few_multiplier", self.audits_few_multiplier),
            ("upgradeable_multiplier", self.upgradeable_multiplier),
            ("incident_loss_multiplier", self.incident_loss_multiplier),
            ("incident_no_loss_multiplier", self.incident_no_loss_multiplier),
            ("overcollateralized_multiplier", self.overcollateralized_multiplier),
        ] {
            range(&format!("protocol.{key}"), x, m0, m1)?;
        }
        for (table, map) in [("oracle_multiplier", &self.oracle_multiplier), ("peg_multiplier", &self.peg_multiplier)] {
            for (k, v) in map {
                range(&format!("protocol.{table}.{k}"), *v, m0, m1)?;
            }
        }
        for (k, v) in &self.lgd {
            range(&format!("protocol.lgd.{k}"), *v, 0.0, 1.0)?;
        }
        Ok(())
    }
}

impl WeightParams {
    fn validate(&self) -> Result<(), RiskError> {
        let one = |key: String, [wa, wl]: [f64; 2]| -> Result<(), RiskError> {
            range(&format!("{key} asset weight"), wa, 0.0, 1.0)?;
            range(&format!("{key} liability weight"), wl, 1.0, 10.0)
        };
        one("weights.perp".into(), self.perp)?;
        for (k, w) in &self.by_kind {
            one(format!("weights.by_kind.{k}"), *w)?;
        }
        for (k, w) in &self.by_asset {
            one(format!("weights.by_asset.{k}"), *w)?;
        }
        Ok(())
    }
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

    /// Checks ranges; every error names the key. The bounds are documented in
    /// `docs/margin-methodology.md` section 2.1 and beside each key in `config/risk.toml`.
    pub fn validate(&self) -> Result<(), RiskError> {
        let int = |key: &str, x: i64, lo: i64, hi: i64| -> Result<(), RiskError> {
            if (lo..=hi).contains(&x) { Ok(()) } else { bad(key, &format!("{x} must lie in {lo}..={hi}")) }
        };
        int("mpor_hours", self.mpor_hours, 1, 720)?;
        int("fhs_stride_hours", self.fhs_stride_hours, 1, 720)?;
        int("stable_price_hours", self.stable_price_hours, 1, 720)?;
        range("confidence", self.confidence, 0.5, 0.9999)?;
        range("floor_fraction", self.floor_fraction, 0.0, 1.0)?;
        range("maintenance_fraction", self.maintenance_fraction, 0.01, 1.0)?;
        range("concentration_threshold_usd", self.concentration_threshold_usd, 0.0, 1e15)?;
        if self.liquidity.markets.len() + self.factor_proxies.len() > MAX_PARAM_ENTRIES {
            return bad("liquidity.markets", "too many entries");
        }
        self.liquidity.validate()?;
        self.protocol.validate()?;
        self.weights.validate()
    }
    /// Tail probability of the expected shortfall, `1 - confidence`.
    pub fn tail(&self) -> f64 {
        1.0 - self.confidence
    }
}
