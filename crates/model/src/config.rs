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
    /// Who may send commands at genesis: operators and auditors (owners are registered later
    /// by an operator's `register_principal`).
    pub principals: Vec<PrincipalConfig>,
    #[serde(default)]
    pub instruments: Vec<Instrument>,
    /// Markets the broker crosses client orders on (engine state, like assets).
    #[serde(default)]
    pub markets: Vec<Market>,
    /// The house's hedging limits (absent: the engine requests no hedge).
    #[serde(default)]
    pub hedging: Option<crate::Hedging>,
    /// Liquidation in the engine (docs/liquidation.md, "In the engine"). Absent: accounts below
    /// maintenance are flagged but nothing is closed out.
    #[serde(default)]
    pub liquidation: Option<LiquidationConfig>,
    /// Guarded oracles (`docs/oracle-guards.md`, "In the engine"): the symbols whose price is the
    /// median of several named sources under staleness and move limits. A symbol without one is
    /// priced by any operator's `set_price` alone (the single-operator feed).
    #[serde(default)]
    pub oracles: Vec<OracleDef>,
}

/// Every parameter of the engine's liquidation, all required (no default is invented): the
/// target of a partial liquidation, the chunking and throttle of `liquidation::select`, the Dutch
/// auction of `liquidation::auction`, the last resort of the waterfall and the work bound per
/// command. The engine validates them (docs/liquidation.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidationConfig {
    /// A partial liquidation ends at `equity - costs >= target x IM` (ppm; 10^6 = back to IM).
    pub target_ppm: u32,
    /// Chunk size, ppm of a group's size when the liquidation started.
    pub step_ppm: u32,
    /// The most of a group one liquidation round may put up for auction, ppm.
    pub throttle_ppm: u32,
    /// Dutch auction: discount at the start, growth per second, cap (bps of the mark).
    pub start_discount_bps: u32,
    pub growth_bps_per_s: u32,
    pub cap_bps: u32,
    /// After this long the house takes the rest over at the mark.
    pub duration_ms: u64,
    /// Penalty on the notional at mark, paid by the liquidated account (bps).
    pub penalty_bps: u32,
    /// Share of the penalty paid to `@insurance` (ppm); the rest goes to the filler.
    pub insurance_ppm: u32,
    /// Accounts a single command starts liquidating, and auctions it hands to the house, at most.
    pub accounts_per_command_max: u32,
    /// Who bears what the insurance fund and the broker's capital cannot.
    pub last_resort: LastResort,
    /// Share of every fill's net trading fee (taker fee plus maker fee, a rebate counted
    /// negative) moved from `@fees` to `@insurance` at the fill (ppm, 0 to 10^6, rounded up:
    /// in the fund's favour). Absent: none (and the configuration's digest is as before).
    #[serde(default)]
    pub insurance_fee_ppm: Option<u32>,
}

/// The last step of the default waterfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LastResort {
    /// Spread across the holders of the defaulter's markets, pro rata to their position size.
    Socialise,
    /// Charged to the most profitable opposite positions (profit x leverage), each up to its profit.
    Adl,
}

/// The oracle guard of one symbol: which principals are its sources (role `feed` or
/// `operator`; a source's `set_price` is its print) and the guard's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleDef {
    /// An asset or underlying symbol.
    pub symbol: String,
    /// Principal names, at most 16, distinct.
    pub sources: Vec<String>,
    /// Fresh sources needed for a price (1 to the number of sources).
    pub quorum: u32,
    /// A source's print counts for this long after it was applied.
    pub staleness_ms: u64,
    /// The largest move of the guarded price per applied print, basis points (1 to 9999).
    pub max_move_bps: u32,
    /// The stable price follows the guarded one by at most this much per hour, basis points.
    pub stable_growth_bps_per_hour: u32,
}

/// A market the broker crosses client orders on. Spot (the default): `base` bought and sold for
/// `quote`, both assets of the ledger. Perp and option (`kind`): contracts on the underlying
/// `base` (an `[[underlyings]]` symbol, counted at [`DERIVATIVE_DECIMALS`] decimals), settled in
/// the asset `quote`; the market clears the `instrument` it names, listed at venue `clearhouse`.
/// Prices are decimal strings of quote per one whole base unit; quantities of base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    pub id: String,
    pub base: String,
    pub quote: String,
    /// Price step, quote per whole base unit (decimal string).
    pub tick: String,
    /// Quantity step, base (decimal string; a power of ten of the base's smallest unit).
    pub lot: String,
    pub qty_min: String,
    pub qty_max: String,
    /// The smallest quote amount (price × quantity) of an order: dust cannot fill the book.
    pub min_notional: String,
    pub open_orders_per_account_max: u32,
    /// Resting orders in the whole book (bounds the result of one command: every resting order
    /// may fill against one taker).
    pub book_orders_max: u32,
    /// Collar around the oracle reference price, in basis points.
    pub price_band_bps: u32,
    /// Fee of the resting side, in basis points of the quote amount; negative is a rebate.
    pub maker_fee_bps: i32,
    /// Fee of the taking side, in basis points; at least the maker rebate.
    pub taker_fee_bps: u32,
    /// `spot` (default), `perp` or `option`.
    #[serde(default)]
    pub kind: MarketKind,
    /// Perp and option: the `[[instruments]]` entry this market clears (venue `clearhouse`, the
    /// same underlying as `base`, settlement asset `quote`).
    #[serde(default)]
    pub instrument: Option<String>,
    /// Perp: funding is paid every this many milliseconds (at multiples of it since the epoch).
    #[serde(default)]
    pub funding_interval_ms: Option<u64>,
    /// Perp: the largest funding rate of one interval, in basis points of the index notional.
    #[serde(default)]
    pub funding_cap_bps: Option<u32>,
    /// Option: strike (quote per whole base), expiry (`YYYY-MM-DDTHH:MM:SSZ`) and right, the
    /// instrument's own (the engine's state carries markets, not instruments; the loader checks
    /// they agree).
    #[serde(default)]
    pub strike: Option<String>,
    #[serde(default)]
    pub expiry: Option<String>,
    #[serde(default)]
    pub right: Option<OptionRight>,
    /// Option: the settlement price is the time-weighted average of the underlying's oracle
    /// prints over this window before expiry.
    #[serde(default)]
    pub twap_window_ms: Option<u64>,
    /// Perp and option: the most accounts that may hold a position on the market at once.
    #[serde(default)]
    pub positions_max: Option<u32>,
    /// Perp and option: the largest open interest (sum of the long positions, decimal string in
    /// whole underlying units); an order that could open positions beyond it is refused
    /// (`open_interest_cap`). Absent: no cap beyond `positions_max` and margin.
    #[serde(default)]
    pub open_interest_max: Option<String>,
    /// The largest net position in base one account may build with its orders (decimal string,
    /// base units); absent: no limit beyond margin.
    #[serde(default)]
    pub position_max: Option<String>,
    /// The house fills client market and immediate-or-cancel orders that find no internal
    /// liquidity, as principal at the oracle price plus a spread (docs/engine.md, "House
    /// liquidity"); absent: it never does.
    #[serde(default)]
    pub house_quote: Option<HouseQuote>,
}

/// The house's quote on a spot market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HouseQuote {
    /// Spread around the oracle price, basis points (at most 10,000).
    pub spread_bps: u32,
    /// The largest quantity of one house fill (decimal string, base).
    pub size_max: String,
    /// The largest absolute net position the house may hold in the base (decimal string).
    pub exposure_max: String,
}

/// Decimals of a derivative market's quantities: one unit is 10^-9 of a whole underlying unit.
pub const DERIVATIVE_DECIMALS: u8 = 9;

/// What a market trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketKind {
    #[default]
    Spot,
    /// A perpetual future: positions, funding every interval, mark-to-market.
    Perp,
    /// A European option, cash-settled at expiry.
    Option,
}

/// A limit on everything that grows. Every value must be positive. The limits are part of the
/// engine's state (installed at genesis, changed by journalled `configure` commands) and are
/// reconciled with the journal's record and snapshot limits by computation (`engine::limits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Trader accounts (sub-accounts included).
    pub accounts_max: u32,
    pub sub_accounts_per_owner_max: u32,
    /// Assets the ledger may ever hold (each asset widens every account).
    pub assets_max: u32,
    pub custodians_max: u32,
    /// Registered principals (operators, owners, auditors).
    pub principals_max: u32,
    /// Command ids remembered per principal for exactly-once; older ids fall below the
    /// principal's watermark and are refused as too old, never applied twice.
    pub client_ids_window: u32,
    pub batch_commands_max: u32,
    pub pending_withdrawals_max: u32,
    pub pending_withdrawals_per_account_max: u32,
    /// External deposit references (transaction hashes) remembered against double credit.
    pub deposit_refs_max: u64,
    /// Longest account owner, sub-account, principal, asset or custodian name.
    pub name_len_max: u32,
    pub markets_max: u32,
    /// Resting orders one market's book may hold at most (each market sets its own, up to this).
    pub market_orders_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// A withdrawal not confirmed (with its chain reference) this long after it was requested
    /// is reported as overdue.
    pub withdrawal_confirm_timeout_ms: u64,
    /// The largest step one `advance_time` may take.
    pub time_step_ms_max: u64,
    /// The journal takes a snapshot after this many batches (node setting, not engine state).
    pub snapshot_interval_batches: u64,
    /// Margin in the loop (docs/engine.md, "Margin"): when set, every risk-increasing order and
    /// every withdrawal or transfer out needs an installed risk model at most this old (engine
    /// time minus the model's `as_of_ms`). Absent: accounts are fully collateralized only (order
    /// holds), and no margin is computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_model_max_age_ms: Option<u64>,
    /// The stable price of a symbol is the median of its last this many `set_price` prints (1 to
    /// 64); margin values collateral at the less favourable of it and the oracle price. Absent:
    /// no history is kept and collateral is valued at the oracle price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_price_prints: Option<u32>,
    /// Yearly interest on what an account borrows from the house to cover a derivative loss
    /// beyond its balance, in basis points (compounded per second by the Aave index).
    pub borrow_rate_bps: u32,
}

/// What a principal may do (see docs/engine.md for the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Credits deposits observed at custodians, confirms withdrawals, sets prices, time, holds
    /// and configuration, registers principals and opens accounts.
    Operator,
    /// Acts on its own accounts only (`<name>/<sub>`): withdrawals, transfers between its own
    /// sub-accounts, opening its own sub-accounts.
    Owner,
    /// Reads only; every command is refused.
    Auditor,
    /// An oracle source: sends `set_price` prints for the symbols whose guard names it, nothing else.
    Feed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    pub name: String,
    pub role: Role,
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
    /// The broker itself clearing perps and options on its own books (`clearhouse`).
    ClearingHouse,
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
    /// The assets this custodian may hold: a deposit or withdrawal of any other is refused.
    pub assets: Vec<String>,
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
