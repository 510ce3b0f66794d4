use serde::{Deserialize, Serialize};

/// Why a command was rejected. A rejected command changes no balance, price, account or
/// withdrawal; it is journalled with its error like any other outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum EngineError {
    #[error("unknown account {account:?}")]
    UnknownAccount { account: String },
    #[error("unknown asset {symbol:?}")]
    UnknownAsset { symbol: String },
    #[error("unknown custodian {custodian:?}")]
    UnknownCustodian { custodian: String },
    #[error("malformed amount {input:?}: {reason}")]
    MalformedAmount { input: String, reason: String },
    #[error("amount must be positive, got {amount}")]
    NonPositiveAmount { amount: String },
    #[error("insufficient balance on {account} in {asset}: needed {needed}, available {available}")]
    InsufficientBalance { account: String, asset: String, needed: String, available: String },
    #[error("account {account:?} already exists")]
    DuplicateAccount { account: String },
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
    #[error("limit {limit} of {max} reached")]
    LimitExceeded { limit: String, max: u64 },
    #[error("invalid name {name:?}: {why}")]
    InvalidName { name: String, why: String },
    #[error("time may not go backwards: now {now_ms}, given {given_ms}")]
    TimeWentBackwards { now_ms: u64, given_ms: u64 },
    #[error("arithmetic overflow: {what}")]
    Overflow { what: String },
}
