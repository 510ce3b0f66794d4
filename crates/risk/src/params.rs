//! Risk parameters (`config/risk.toml`, embedded), every one explained in
//! `docs/margin-methodology.md` and `docs/protocol-risk.md`.

use crate::error::RiskError;
use crate::protocol::enum_name;
use model::{AssetKind, OracleDesign, PegMechanism, ProtocolKind};
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
    /// Scale `K` of the concentration weight `C / (C + K)` of an owner's claim `C`, USD.
    pub concentration_scale_usd: f64,
    /// Window of the stable (median) price of the manipulation guard, hours.
    pub stable_price_hours: i64,
    /// Risk-free rate, annual (option valuation; a portfolio may override it).
    pub rate_annual: f64,
    /// Amplification of a stableswap pool whose `[[pools]]` entry gives none (Curve 3pool: 2000).
    pub stableswap_amp_default: f64,
    /// EWMA volatility estimator of the FHS rescaling.
    pub fhs: FhsSettings,
    /// Implied-vol shock calibration.
    pub vol_shock: VolShockSettings,
    /// Caps of the broker's total claim on each protocol.
    pub broker: BrokerParams,
    /// Hypothetical scenarios (price scans, decorrelation, peg breaks, through the strike).
    pub hypothetical: HypotheticalParams,
    /// How each receipt-issuing lending protocol's receipts accrue: `rebasing` (aTokens: one
    /// receipt = one underlying) or `exchange_rate` (cTokens: underlying = receipts x rate).
    pub receipt_model: BTreeMap<String, ReceiptModel>,
    /// Factor a missing price, basis, funding or vol factor follows (never a peg: pegs are named
    /// per asset in `peg_sources`).
    #[serde(default)]
    pub factor_proxies: BTreeMap<String, String>,
    /// Where each pegged asset's peg ratio comes from, by asset symbol: its own history factor, or
    /// an explicit proxy with its reason. Every asset of a pegged kind needs an entry.
    #[serde(default)]
    pub peg_sources: BTreeMap<String, PegSource>,
    /// Protocol failure model.
    pub protocol: ProtocolParams,
    /// Close-out cost model.
    pub liquidity: LiquidityParams,
    /// Weight-based comparator.
    pub weights: WeightParams,
}

/// Hypothetical scenarios (`docs/margin-methodology.md` section 4.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypotheticalParams {
    /// Scan points as fractions of the scan range (each taken up and down, vol up and down).
    pub scan_points: Vec<f64>,
    /// Quantile of the absolute rescaled FHS moves that sets the scan range.
    pub scan_quantile: f64,
    /// The extreme move, in scan ranges, and the weight of its loss.
    pub extreme_multiple: f64,
    pub extreme_weight: f64,
    /// The weight of the extreme move's down side (the first-of-a-kind crash; calibrated in
    /// `docs/margin-methodology.md` section 4.6); `extreme_weight` weighs the up side.
    pub extreme_weight_down: f64,
    /// Anti-procyclical floor: the range is at least this fraction of the largest unscaled move
    /// ever observed for the underlying (and the spread move of a pair likewise).
    pub stressed_floor_fraction: f64,
    /// Absolute floors (log moves) of a scan range and of a decorrelation spread move.
    pub scan_range_min: f64,
    pub decorrelation_min: f64,
    /// Smallest peg break of a kind (fraction of par).
    pub peg_break_min: f64,
    /// Options expiring within this many days are scanned through their strike.
    pub short_dated_days: f64,
    /// An underlying with less own price history than this (days) gets at least `young_scan_range`
    /// on its crash side (the down range).
    pub min_own_history_days: f64,
    pub young_scan_range: f64,
    /// The up range's anti-procyclical floor: at least this fraction of the largest unscaled rise
    /// ever observed (`stressed_floor_fraction` is the down range's).
    pub up_floor_fraction: f64,
    /// An underlying with less own price history than this (days) gets at least
    /// `young_scan_range_up` on its rising side (the up range).
    pub min_own_history_days_up: f64,
    pub young_scan_range_up: f64,
    /// Two underlyings crash jointly (one crash scan moves both, each by its own down range, and
    /// their spread is left to the decorrelation scenarios) when the data before as-of show it: in
    /// the unscaled 24h windows where either fell more than `joint_crash_fall` (log), the other's
    /// stressed beta (the sum of its moves over the sum of the faller's) is at least
    /// `joint_crash_beta`, both ways, over at least `joint_crash_min_windows` windows each way.
    /// Rises are scanned one coin at a time (section 4.7.1). `joint_crash_scan = false`: every
    /// underlying is scanned alone.
    pub joint_crash_scan: bool,
    pub joint_crash_fall: f64,
    pub joint_crash_beta: f64,
    pub joint_crash_min_windows: f64,
    /// Rises by the same test: two underlyings whose rises beyond `joint_crash_fall` the data before
    /// as-of show joint (stressed beta at least `joint_crash_beta` both ways, over at least
    /// `joint_crash_min_windows` windows) take one rise scan (section 4.7.2).
    pub joint_rise_scan: bool,
    /// Decorrelation scanned like a price: the spread's own stressed range per side (its history
    /// rescaled to today's spread volatility, floored at `up_floor_fraction` of its worst move and
    /// at `decorrelation_min`), every scan point and the extreme at `extreme_weight` (section 4.7.2).
    /// `false`: one spread move `max(q, stressed_floor_fraction x worst, decorrelation_min)`.
    pub spread_scan: bool,
}

/// The source of one asset's peg ratio (`[peg_sources]` in `risk.toml`): exactly one of `factor`
/// (its own history already in the panel, e.g. `peg:USDC`), `file` and `column` (its own series in
/// the market-data directory, loaded as `peg:ASSET`) or `proxy` (another asset whose peg it
/// follows); a proxy needs its `reason` (listed in the report as an override).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PegSource {
    #[serde(default)]
    pub factor: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default)]
    pub proxy: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl PegSource {
    fn validate(&self, asset: &str) -> Result<(), RiskError> {
        let key = format!("peg_sources.{asset}");
        let own_file = self.file.is_some() || self.column.is_some();
        let given = [self.factor.is_some(), own_file, self.proxy.is_some()].iter().filter(|x| **x).count();
        if given != 1 {
            return bad(
                &key,
                "give exactly one of `factor` (its own history), `file` and `column` (its own series) or `proxy` (with `reason`)",
            );
        }
        if self.reason.is_some() && self.proxy.is_none() {
            return bad(&key, "`reason` belongs to a proxy");
        }
        match (&self.factor, &self.file, &self.column, &self.proxy, &self.reason) {
            (Some(f), ..) if f.starts_with("peg:") && f.len() > 4 => Ok(()),
            (Some(f), ..) => bad(&key, &format!("factor {f:?} must name a peg factor (`peg:SYMBOL`)")),
            (_, Some(f), Some(c), ..) if !f.is_empty() && !c.is_empty() => Ok(()),
            (_, Some(_), ..) | (_, _, Some(_), ..) => bad(&key, "an own series needs both `file` and `column`"),
            (.., Some(p), Some(r)) if !p.is_empty() && p != asset && !r.trim().is_empty() => Ok(()),
            (.., Some(_), None) => bad(&key, "a proxy needs its `reason` (it is listed in the report)"),
            _ => bad(&key, "a proxy names another asset and gives its reason"),
        }
    }
}

/// How a lending receipt relates to its underlying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptModel {
    /// The balance grows with the index: one receipt is one unit of the underlying (Aave aTokens).
    Rebasing,
    /// A fixed balance redeemable at a growing exchange rate (Compound cTokens).
    ExchangeRate,
}

/// Caps of the broker's total claim per protocol over all accounts (`docs/protocol-risk.md` 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerParams {
    /// Cap for a protocol without its own entry, USD.
    pub claim_cap_usd_default: f64,
    /// Cap by protocol id, USD.
    #[serde(default)]
    pub claim_cap_usd: BTreeMap<String, f64>,
}

/// The FHS volatility estimator (`docs/market-data.md` section 6.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhsSettings {
    /// RiskMetrics daily decay of the EWMA variance (converted to hourly with the same half-life).
    pub ewma_lambda_daily: f64,
    /// Hours of history that seed the EWMA variance.
    pub ewma_seed_hours: i64,
    /// `sigma_then` is floored at this fraction of the long-run volatility before the window.
    pub then_floor_fraction: f64,
}

/// The implied-vol shock calibration (`docs/margin-methodology.md` section 4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolShockSettings {
    /// Quantile of 24-hour DVOL changes for the up shock (`1 - quantile` for the down shock).
    pub quantile: f64,
    /// Observed DVOL windows needed before the observed changes are used.
    pub min_observed_windows: usize,
    /// Windows of the proxy vol path needed before that (fewer: refused).
    pub min_proxy_windows: usize,
}

impl RiskParams {
    /// The EWMA parameters of the FHS rescaling.
    pub fn ewma(&self) -> marketdata::vol::EwmaParams {
        marketdata::vol::EwmaParams {
            lambda_hourly: marketdata::vol::hourly_lambda(self.fhs.ewma_lambda_daily),
            seed_hours: self.fhs.ewma_seed_hours as usize,
        }
    }
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
    /// Share of an unbacked token's value lost when its issuer fails (FTT, November 2022: -90%).
    pub issuer_token_collapse: f64,
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
    /// Two-coin stableswap pool of pegged coins (a Curve pool: sBTC/WBTC): `depth_usd` of each
    /// coin, amplification `amp`.
    Stableswap,
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
    /// Amplification A of a `stableswap` market (required there, refused on any other kind).
    #[serde(default)]
    pub amp: Option<f64>,
    /// Set by `liquidity::depth_for` when no market matched (the report warns).
    #[serde(skip)]
    pub is_default: bool,
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

/// Every name of a configuration enum, as written in the parameter tables. The match in
/// [`all_names_exhaustive`] fails to compile when a variant is added without being listed here.
const ASSET_KINDS: [AssetKind; 8] = [
    AssetKind::NativeCoin,
    AssetKind::Stablecoin,
    AssetKind::Wrapped,
    AssetKind::Synthetic,
    AssetKind::LendingReceipt,
    AssetKind::StakingDerivative,
    AssetKind::LpShare,
    AssetKind::PredictionShare,
];
const ORACLES: [OracleDesign; 6] = [
    OracleDesign::PushNetwork,
    OracleDesign::PullNetwork,
    OracleDesign::OnChainTwap,
    OracleDesign::OwnMarket,
    OracleDesign::Attestation,
    OracleDesign::None,
];
const PEGS: [PegMechanism; 7] = [
    PegMechanism::None,
    PegMechanism::FiatReserve,
    PegMechanism::OvercollateralizedDebt,
    PegMechanism::DebtPool,
    PegMechanism::Custodial,
    PegMechanism::StakingRedemption,
    PegMechanism::Algorithmic,
];
const PROTOCOL_KINDS: [ProtocolKind; 12] = [
    ProtocolKind::StablecoinIssuer,
    ProtocolKind::WrappedCustodian,
    ProtocolKind::SyntheticIssuer,
    ProtocolKind::ConstantProductAmm,
    ProtocolKind::ConcentratedLiquidityAmm,
    ProtocolKind::StableswapAmm,
    ProtocolKind::Lending,
    ProtocolKind::LiquidStaking,
    ProtocolKind::PerpVenue,
    ProtocolKind::OptionVenue,
    ProtocolKind::PredictionMarket,
    ProtocolKind::ClearingHouse,
];

#[allow(dead_code)]
fn all_names_exhaustive(a: AssetKind, o: OracleDesign, p: PegMechanism, k: ProtocolKind) {
    use AssetKind as A;
    use OracleDesign as O;
    use PegMechanism as P;
    use ProtocolKind as K;
    match a {
        A::NativeCoin
        | A::Stablecoin
        | A::Wrapped
        | A::Synthetic
        | A::LendingReceipt
        | A::StakingDerivative
        | A::LpShare
        | A::PredictionShare => {}
    }
    match o {
        O::PushNetwork | O::PullNetwork | O::OnChainTwap | O::OwnMarket | O::Attestation | O::None => {}
    }
    match p {
        P::None | P::FiatReserve | P::OvercollateralizedDebt | P::DebtPool | P::Custodial | P::StakingRedemption | P::Algorithmic => {}
    }
    match k {
        K::StablecoinIssuer
        | K::WrappedCustodian
        | K::SyntheticIssuer
        | K::ConstantProductAmm
        | K::ConcentratedLiquidityAmm
        | K::StableswapAmm
        | K::Lending
        | K::LiquidStaking
        | K::PerpVenue
        | K::OptionVenue
        | K::PredictionMarket
        | K::ClearingHouse => {}
    }
}

/// A table keyed by enum names must name every variant (plus `extra`) and nothing else: an
/// unknown key is a typo, a missing one would otherwise become a silent default.
fn complete_table<V>(key: &str, map: &BTreeMap<String, V>, names: Vec<String>) -> Result<(), RiskError> {
    for n in &names {
        if !map.contains_key(n) {
            return bad(key, &format!("no entry for `{n}` (every one of {} is required)", names.join(", ")));
        }
    }
    for k in map.keys() {
        if !names.contains(k) {
            return bad(key, &format!("unknown key `{k}` (expected one of {})", names.join(", ")));
        }
    }
    Ok(())
}

fn names<T: Serialize>(xs: &[T], extra: &[&str]) -> Vec<String> {
    xs.iter().map(enum_name).chain(extra.iter().map(|s| s.to_string())).collect()
}

/// Looks up a validated table entry. Every table is checked complete by [`RiskParams::validate`]
/// (called by `from_toml` and by `Engine::new`), so a missing key is a broken invariant.
pub fn table_entry<V: Copy>(map: &BTreeMap<String, V>, table: &str, key: &str) -> V {
    match map.get(key) {
        Some(v) => *v,
        None => panic!("{table} has no entry `{key}`: RiskParams::validate guarantees every key"),
    }
}

impl LiquidityParams {
    fn validate(&self) -> Result<(), RiskError> {
        complete_table("liquidity.default_depth_usd", &self.default_depth_usd, names(&ASSET_KINDS, &[]))?;
        let (s0, s1) = HALF_SPREAD_BPS_BOUNDS;
        let (d0, d1) = DEPTH_USD_BOUNDS;
        range("liquidity.default_half_spread_bps", self.default_half_spread_bps, s0, s1)?;
        for (k, v) in &self.default_depth_usd {
            range(&format!("liquidity.default_depth_usd.{k}"), *v, d0, d1)?;
        }
        for m in &self.markets {
            range(&format!("liquidity.markets.{}.depth_usd", m.market), m.depth_usd, d0, d1)?;
            range(&format!("liquidity.markets.{}.half_spread_bps", m.market), m.half_spread_bps, s0, s1)?;
            match (m.kind, m.amp) {
                (DepthKind::Stableswap, Some(a)) => range(&format!("liquidity.markets.{}.amp", m.market), a, 1.0, 1e5)?,
                (DepthKind::Stableswap, None) => {
                    return Err(RiskError::ParamsInvalid {
                        problem: format!("liquidity.markets.{}: a stableswap market needs amp", m.market),
                    });
                }
                (_, Some(_)) => {
                    return Err(RiskError::ParamsInvalid {
                        problem: format!("liquidity.markets.{}: amp is only for a stableswap market", m.market),
                    });
                }
                (_, None) => {}
            }
        }
        Ok(())
    }
}

impl ProtocolParams {
    fn validate(&self) -> Result<(), RiskError> {
        let (m0, m1) = MULTIPLIER_BOUNDS;
        complete_table("protocol.oracle_multiplier", &self.oracle_multiplier, names(&ORACLES, &[]))?;
        complete_table("protocol.peg_multiplier", &self.peg_multiplier, names(&PEGS, &[]))?;
        complete_table("protocol.lgd", &self.lgd, names(&PROTOCOL_KINDS, &["algorithmic_peg"]))?;
        range("protocol.base_pd_annual", self.base_pd_annual, 1e-6, 0.5)?;
        range("protocol.pd_annual_cap", self.pd_annual_cap, self.base_pd_annual, 0.99)?;
        range("protocol.age_coefficient", self.age_coefficient, 0.0, 10.0)?;
        range("protocol.issuer_token_collapse", self.issuer_token_collapse, 0.0, 1.0)?;
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
        complete_table("weights.by_kind", &self.by_kind, names(&ASSET_KINDS, &["option"]))?;
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
        range("concentration_scale_usd", self.concentration_scale_usd, 1.0, 1e15)?;
        range("rate_annual", self.rate_annual, -0.1, 1.0)?;
        range("stableswap_amp_default", self.stableswap_amp_default, 1.0, 100_000.0)?;
        range("fhs.ewma_lambda_daily", self.fhs.ewma_lambda_daily, 0.5, 0.999)?;
        int("fhs.ewma_seed_hours", self.fhs.ewma_seed_hours, 1, 24 * 365)?;
        range("fhs.then_floor_fraction", self.fhs.then_floor_fraction, 0.01, 1.0)?;
        range("vol_shock.quantile", self.vol_shock.quantile, 0.5, 0.9999)?;
        int("vol_shock.min_observed_windows", self.vol_shock.min_observed_windows as i64, 20, 100_000)?;
        int("vol_shock.min_proxy_windows", self.vol_shock.min_proxy_windows as i64, 20, 100_000)?;
        if self.liquidity.markets.len() + self.factor_proxies.len() + self.peg_sources.len() > MAX_PARAM_ENTRIES {
            return bad("liquidity.markets", "too many entries");
        }
        if let Some(k) = self.factor_proxies.keys().find(|k| k.starts_with("peg:")) {
            return bad(&format!("factor_proxies.{k}"), "a peg is named per asset in [peg_sources], not proxied by factor");
        }
        for (asset, src) in &self.peg_sources {
            src.validate(asset)?;
        }
        range("broker.claim_cap_usd_default", self.broker.claim_cap_usd_default, 0.0, 1e15)?;
        for (k, v) in &self.broker.claim_cap_usd {
            range(&format!("broker.claim_cap_usd.{k}"), *v, 0.0, 1e15)?;
        }
        let h = &self.hypothetical;
        if h.scan_points.is_empty() || h.scan_points.len() > 16 {
            return bad("hypothetical.scan_points", "1 to 16 points");
        }
        for x in &h.scan_points {
            range("hypothetical.scan_points", *x, 0.01, 1.0)?;
        }
        range("hypothetical.scan_quantile", h.scan_quantile, 0.5, 1.0)?;
        range("hypothetical.extreme_multiple", h.extreme_multiple, 1.0, 10.0)?;
        range("hypothetical.extreme_weight", h.extreme_weight, 0.0, 1.0)?;
        range("hypothetical.extreme_weight_down", h.extreme_weight_down, 0.0, 1.0)?;
        range("hypothetical.stressed_floor_fraction", h.stressed_floor_fraction, 0.0, 1.0)?;
        range("hypothetical.scan_range_min", h.scan_range_min, 0.0, 2.0)?;
        range("hypothetical.decorrelation_min", h.decorrelation_min, 0.0, 2.0)?;
        range("hypothetical.peg_break_min", h.peg_break_min, 0.0, 1.0)?;
        range("hypothetical.short_dated_days", h.short_dated_days, 0.0, 365.0)?;
        range("hypothetical.min_own_history_days", h.min_own_history_days, 0.0, 3650.0)?;
        range("hypothetical.young_scan_range", h.young_scan_range, 0.0, 2.0)?;
        range("hypothetical.up_floor_fraction", h.up_floor_fraction, 0.0, 1.0)?;
        range("hypothetical.min_own_history_days_up", h.min_own_history_days_up, 0.0, 3650.0)?;
        range("hypothetical.young_scan_range_up", h.young_scan_range_up, 0.0, 2.0)?;
        range("hypothetical.joint_crash_fall", h.joint_crash_fall, 0.01, 1.0)?;
        range("hypothetical.joint_crash_beta", h.joint_crash_beta, 0.0, 2.0)?;
        range("hypothetical.joint_crash_min_windows", h.joint_crash_min_windows, 1.0, 1000.0)?;
        self.liquidity.validate()?;
        self.protocol.validate()?;
        self.weights.validate()
    }
    /// Tail probability of the expected shortfall, `1 - confidence`.
    pub fn tail(&self) -> f64 {
        1.0 - self.confidence
    }
}
