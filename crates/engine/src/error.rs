use serde::{Deserialize, Serialize};

/// Why a command was rejected or refused. A rejected command changes no balance, price,
/// account, withdrawal or configuration; it is journalled with its error like any other
/// outcome. A refused command (see [`crate::Outcome::Refused`]) is not even journalled.
/// Every string a variant carries is bounded (the shape check refuses longer input first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum EngineError {
    #[error("unknown account {account:?}")]
    UnknownAccount { account: String },
    #[error("unknown asset {symbol:?}")]
    UnknownAsset { symbol: String },
    #[error("unknown custodian {custodian:?}")]
    UnknownCustodian { custodian: String },
    #[error("custodian {custodian:?} does not hold {asset:?}")]
    AssetNotAtCustodian { custodian: String, asset: String },
    #[error("custodian {custodian:?} holds {held} {asset} after pending withdrawals, {needed} needed")]
    InsufficientCustody { custodian: String, asset: String, needed: String, held: String },
    #[error("venue {venue:?} refused: {why}")]
    VenueRefused { venue: String, why: String },
    #[error("malformed amount {input:?}: {reason}")]
    MalformedAmount { input: String, reason: String },
    #[error("amount must be positive, got {amount}")]
    NonPositiveAmount { amount: String },
    #[error("insufficient balance on {account} in {asset}: needed {needed}, available {available}")]
    InsufficientBalance { account: String, asset: String, needed: String, available: String },
    #[error("account {account:?} already exists")]
    DuplicateAccount { account: String },
    #[error("principal {name:?} already exists")]
    DuplicatePrincipal { name: String },
    #[error("external reference {external_ref:?} was already used")]
    DuplicateReference { external_ref: String },
    #[error("no pending withdrawal {withdrawal_id:?}")]
    UnknownWithdrawal { withdrawal_id: String },
    #[error("{account:?} may not be used here: {why}")]
    WrongAccountKind { account: String, why: String },
    #[error("{from:?} and {to:?} belong to different owners")]
    DifferentOwners { from: String, to: String },
    #[error("cannot transfer from {account:?} to itself")]
    SameAccount { account: String },
    #[error("account {account:?} is on hold")]
    AccountOnHold { account: String },
    #[error("limit {limit} of {max} reached")]
    LimitExceeded { limit: String, max: u64 },
    #[error("invalid name {name:?}: {why}")]
    InvalidName { name: String, why: String },
    #[error("field {field} is malformed: {why}")]
    MalformedField { field: String, why: String },
    #[error("time may not go backwards: now {now_ms}, given {given_ms}")]
    TimeWentBackwards { now_ms: u64, given_ms: u64 },
    #[error("time step of {step_ms} ms exceeds engine.time_step_ms_max = {max_ms} ms")]
    TimeStepTooLarge { step_ms: u64, max_ms: u64 },
    #[error("time {given_ms} ms is beyond {max_ms} ms (2200-01-01): not Unix milliseconds")]
    TimeOutOfRange { given_ms: u64, max_ms: u64 },
    #[error("{symbol} is the numeraire: its price is 1 by definition")]
    NumerairePrice { symbol: String },
    #[error("no price for {symbol}: set one with set_price")]
    MissingPrice { symbol: String },
    #[error("arithmetic overflow: {what}")]
    Overflow { what: String },
    #[error("principal {principal:?} may not {action}: {why}")]
    Unauthorized { principal: String, action: String, why: String },
    #[error("command id {id} of {principal:?} was used for a different command (first at seq {first_seq})")]
    IdReusedWithDifferentCommand { principal: String, id: u64, first_seq: u64 },
    #[error("command id {id} of {principal:?} is at or below the forgotten watermark {watermark}; its result can no longer be told")]
    IdTooOld { principal: String, id: u64, watermark: u64 },
    #[error("the engine has no configuration yet: the first command must be genesis")]
    NotInitialised,
    #[error("the engine already has its genesis configuration")]
    AlreadyInitialised,
    #[error("unknown market {market:?}")]
    UnknownMarket { market: String },
    #[error("order refused by {market}: {reason}")]
    OrderRefused { market: String, reason: String },
    #[error("configuration change refused at `{key}`: {why}")]
    ConfigRefused { key: String, why: String },
    #[error("risk model refused: {why}")]
    RiskModelRefused { why: String },
    #[error("the risk model names {name:?}, which is neither an asset nor an underlying here")]
    RiskModelUnknownName { name: String },
    #[error("no usable risk model: {why}")]
    RiskModelStale { why: String },
    #[error("insufficient margin on {account}: initial margin {required} USD, equity {available} USD")]
    InsufficientMargin { account: String, required: String, available: String },
    #[error("insufficient free collateral on {account}: initial margin {required} USD, equity {available} USD after it")]
    InsufficientFreeCollateral { account: String, required: String, available: String },
    #[error("position limit of {account} on {market}: {position} after the order, at most {limit}")]
    PositionLimitExceeded { account: String, market: String, position: String, limit: String },
    #[error("open-interest cap of {market}: open interest {open_interest}, the order opens {opening}, cap {cap}")]
    OpenInterestCap { market: String, open_interest: String, opening: String, cap: String },
    #[error("account {account} is {health:?}: only orders that reduce risk")]
    ReduceOnlyAccount { account: String, health: crate::Health },
    #[error("clearing of market {market} failed: {why}")]
    ClearingFailed { market: String, why: String },
    #[error("price print of {symbol} by {principal:?} rejected: {why}")]
    PricePrintRejected { symbol: String, principal: String, why: String },
    #[error("no outstanding hedge {hedge_id}")]
    UnknownHedge { hedge_id: u64 },
    #[error("execution of hedge {hedge_id} refused: {why}")]
    HedgeRefused { hedge_id: u64, why: String },
    #[error("liquidation is not configured (no [liquidation] section at genesis)")]
    LiquidationDisabled,
    #[error("no open liquidation auction {auction_id}")]
    UnknownAuction { auction_id: u64 },
    #[error("account {account} is not a registered liquidator")]
    NotALiquidator { account: String },
    #[error("{account} may not bid for {liquidated}: the same owner")]
    OwnLiquidation { account: String, liquidated: String },
    #[error("liquidation auction {auction_id} has ended; the rest goes to the house")]
    AuctionEnded { auction_id: u64 },
    #[error("bid of {qty} on liquidation auction {auction_id}: only {left} left")]
    BidQuantityTooLarge { auction_id: u64, qty: String, left: String },
    #[error("bid on liquidation auction {auction_id} refused: {why}")]
    BidRefused { auction_id: u64, why: String },
    #[error("liquidation failed: {why}")]
    LiquidationFailed { why: String },
    #[error("unknown owner {owner:?} (not a registered owner principal)")]
    UnknownOwner { owner: String },
    #[error("margin add-on {amount} USD out of range: 0 to {max} USD")]
    MarginAddOnOutOfRange { amount: String, max: String },
}
