//! Configuration schema (version 1). This is a public boundary: every field is documented in
//! `config/default.toml`, and a change of meaning needs a new `version`.

use serde::{Deserialize, Serialize};

/// The configuration schema version this build understands.
pub const CONFIG_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    pub limits: Limits,
    pub engine: EngineSettings,
    /// Reference prices that assets track: BTC, ETH, USD ...
    pub underlyings: Vec<Underlying>,
    pub assets: Vec<Asset>,
    pub protocols: Vec<Protocol>,
    /// External venues and chains where client assets are held; one custody account each.
    pub custodians: Vec<Custodian>,
    #[serde(default)]
    pub instruments: Vec<Instrument>,
}

/// A limit on everything that grows. Every value must be positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub accounts_max: u32,
    pub sub_accounts_per_owner_max: u32,
    pub batch_commands_max: u32,
    pub pending_withdrawals_max: u32,
    pub pending_withdrawals_per_account_max: u32,
    /// Client command ids remembered for deduplication; beyond it commands are refused
    /// (`LimitExceeded`) rather than forgetting an id and risking a double application.
    pub client_command_ids_max: u64,
    pub deposit_refs_max: u64,
    pub name_len_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// How long a withdrawal stays pending (reserved, not moved) before it may be posted.
    pub withdrawal_latency_ms: u64,
    /// The journal takes a snapshot after this many batches.
    pub snapshot_interval_batches: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Underlying {
    pub symbol: String,
    pub name: String,
    /// Where its price history is: a file of the market-data directory and a column (the margin
    /// engine loads it as the factor `price:SYMBOL`). Absent: the built-in history or a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_source: Option<PriceSource>,
}

/// A price series in the market-data directory: hourly bars stamped at their open, `column` the
/// close, quoted in `quote` (`usd`, or `usdt` converted with the USDT/USD peg).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSource {
    pub file: String,
    pub column: String,
    pub quote: PriceQuote,
}

/// The quote currency of a price source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceQuote {
    Usd,
    Usdt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    NativeCoin,
    Stablecoin,
    Wrapped,
    Synthetic,
    LendingReceipt,
    StakingDerivative,
    LpShare,
    PredictionShare,
}

/// A token the broker can hold for a client. Which optional fields are required depends on
/// `kind` (checked at load, see `validate.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    pub symbol: String,
    pub name: String,
    pub decimals: u8,
    pub kind: AssetKind,
    /// The underlying reference price it tracks (native coin, stablecoin, wrapped, synthetic).
    #[serde(default)]
    pub tracks: Option<String>,
    /// The asset it is a claim on (lending receipt: the deposited asset; staking derivative:
    /// the staked coin).
    #[serde(default)]
    pub underlying_asset: Option<String>,
    /// The protocol that issues it or whose pool it is a share of.
    #[serde(default)]
    pub protocol: Option<String>,
    /// LP share: the pool's assets, in pool order.
    #[serde(default)]
    pub pool_assets: Option<Vec<String>>,
    /// Prediction share: the market and the outcome this share pays 1 on.
    #[serde(default)]
    pub market: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolKind {
    StablecoinIssuer,
    WrappedCustodian,
    SyntheticIssuer,
    ConstantProductAmm,
    ConcentratedLiquidityAmm,
    StableswapAmm,
    Lending,
    LiquidStaking,
    PerpVenue,
    OptionVenue,
    PredictionMarket,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    pub id: String,
    pub name: String,
    pub kind: ProtocolKind,
    pub risk: RiskProfile,
    /// The protocol's own published margin rules, for the isolated-margin comparator.
    #[serde(default)]
    pub margin_rules: Option<MarginRules>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OracleDesign {
    /// Decentralised push oracle network (Chainlink-style) with deviation and heartbeat.
    PushNetwork,
    /// Pull oracle updated by users (Pyth-style).
    PullNetwork,
    /// Time-weighted average of an on-chain pool.
    OnChainTwap,
    /// Prices from the venue's own order book or AMM spot.
    OwnMarket,
    /// Off-chain attestation by an issuer or committee (reserve reports, UMA-style).
    Attestation,
    /// Needs no price (a redemption-based claim).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    Cash,
    Physical,
    /// Claims redeem continuously (pool shares, receipts).
    Redemption,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PegMechanism {
    None,
    FiatReserve,
    OvercollateralizedDebt,
    DebtPool,
    Custodial,
    StakingRedemption,
    Algorithmic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    Oracle,
    Exploit,
    Depeg,
    Governance,
    Liveness,
    Insolvency,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub kind: IncidentKind,
    /// Loss to users in USD, a decimal string.
    pub loss_usd: String,
    pub description: String,
}

/// What the margin engine needs to price a protocol's own tail risk impartially.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskProfile {
    pub oracle: OracleDesign,
    pub settlement: Settlement,
    pub peg_mechanism: PegMechanism,
    /// Collateral backing each unit of claims, in percent (100 = fully reserved; 0 = none).
    pub collateralization_pct: u32,
    /// Launch date, `YYYY-MM-DD`.
    pub launched: String,
    pub audits: u32,
    pub upgradeable: bool,
    #[serde(default)]
    pub incidents: Vec<Incident>,
}

/// A protocol's own margin rules, as published (decimal fractions as strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarginRules {
    #[serde(default)]
    pub initial_margin_fraction: Option<String>,
    #[serde(default)]
    pub maintenance_margin_fraction: Option<String>,
    /// Lending: loan-to-value per collateral asset symbol.
    #[serde(default)]
    pub ltv: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustodianKind {
    Chain,
    Exchange,
    Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custodian {
    pub id: String,
    pub kind: CustodianKind,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstrumentKind {
    Spot,
    Perpetual,
    Option,
    LpPosition,
    LendingDeposit,
    LendingBorrow,
    PredictionShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionRight {
    Call,
    Put,
}

/// A kind of position a client can hold. Which optional fields are required depends on
/// `kind` (checked at load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    pub id: String,
    pub kind: InstrumentKind,
    /// Spot, LP position, lending deposit/borrow, prediction share: the asset held or owed.
    #[serde(default)]
    pub asset: Option<String>,
    /// Perpetual and option: the underlying reference price.
    #[serde(default)]
    pub underlying: Option<String>,
    /// The protocol where the position lives (perp venue, option venue, pool, lending market).
    #[serde(default)]
    pub venue: Option<String>,
    /// Perpetual and option: the asset P&L settles in.
    #[serde(default)]
    pub settlement_asset: Option<String>,
    /// Option: strike in USD (decimal string), expiry (`YYYY-MM-DDTHH:MM:SSZ`), right.
    #[serde(default)]
    pub strike_usd: Option<String>,
    #[serde(default)]
    pub expiry: Option<String>,
    #[serde(default)]
    pub right: Option<OptionRight>,
}
