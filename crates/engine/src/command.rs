//! Commands, outcomes and events: the engine's public boundary, versioned with
//! [`crate::ENGINE_FORMAT_VERSION`]. Commands and outcomes are journalled as JSON.

use crate::EngineError;
use serde::{Deserialize, Serialize};

/// A command as a client sends it: who sends it, the client's own id for it (a retry reuses
/// the id and gets the first result back), and the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub client: String,
    pub id: u64,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Opens the trader account `owner/sub` (`sub` defaults to `main`).
    CreateAccount {
        owner: String,
        #[serde(default = "main_sub")]
        sub: String,
    },
    /// Credits coins that arrived at `custodian`; idempotent on `external_ref` (e.g. a tx hash).
    Deposit {
        account: String,
        asset: String,
        amount: String,
        custodian: String,
        external_ref: String,
    },
    /// Reserves `amount` now; it is posted when the withdrawal latency has passed, if still allowed.
    RequestWithdrawal {
        account: String,
        asset: String,
        amount: String,
        custodian: String,
        withdrawal_id: String,
    },
    CancelWithdrawal {
        withdrawal_id: String,
    },
    /// Moves an asset between two sub-accounts of the same owner.
    Transfer {
        from: String,
        to: String,
        asset: String,
        amount: String,
    },
    /// An oracle price update for an asset or an underlying, in USD per whole unit.
    SetPrice {
        symbol: String,
        price_usd: String,
    },
    /// Puts an account on hold (its pending withdrawals are voided when due) or releases it.
    SetHold {
        account: String,
        held: bool,
    },
    /// The only clock the engine knows: time arrives as a command.
    AdvanceTime {
        now_ms: u64,
    },
}

fn main_sub() -> String {
    "main".to_string()
}

/// The result of one command. `Applied` and `Rejected` are journalled with the command;
/// `Duplicate` answers a retried client id with the sequence number of the first result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied { seq: u64, events: Vec<Event> },
    Rejected { seq: u64, error: EngineError },
    Duplicate { first_seq: u64 },
}

impl Outcome {
    pub fn seq(&self) -> u64 {
        match self {
            Outcome::Applied { seq, .. } | Outcome::Rejected { seq, .. } => *seq,
            Outcome::Duplicate { first_seq } => *first_seq,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    AccountCreated {
        account: String,
    },
    /// A posted double-entry transfer; `amount` is a decimal string in the asset's units.
    Transferred {
        debit: String,
        credit: String,
        asset: String,
        amount: String,
        reason: ledger::Reason,
    },
    WithdrawalPending {
        withdrawal_id: String,
        account: String,
        asset: String,
        amount: String,
        due_ms: u64,
    },
    WithdrawalPosted {
        withdrawal_id: String,
    },
    WithdrawalVoided {
        withdrawal_id: String,
        why: String,
    },
    PriceSet {
        symbol: String,
        price_usd: String,
    },
    HoldSet {
        account: String,
        held: bool,
    },
    TimeAdvanced {
        now_ms: u64,
    },
}
