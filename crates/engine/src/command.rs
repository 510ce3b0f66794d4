//! Commands, outcomes and events: the engine's public boundary, versioned with
//! [`crate::ENGINE_FORMAT_VERSION`]. Commands and outcomes are journalled as JSON.

use crate::EngineError;
use crate::markets::{OrderKind, OrderSide};
use crate::state_config::{ConfigChange, StateConfig};
use model::Role;
use serde::{Deserialize, Serialize};

/// The principal a JSON line acts as when it names none (`run` and `serve` on stdin are the
/// operator's own channel; the network service binds principals to signatures).
pub const DEFAULT_PRINCIPAL: &str = "operator";
/// The node's own principal: it installs the genesis configuration and applies migrations.
pub const SYSTEM_PRINCIPAL: &str = "@system";

/// A command as a principal sends it: who sends it (`client`, a registered principal), the
/// principal's own id for it (a retry reuses the id and gets the first result back), and the
/// command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(default = "default_principal")]
    pub client: String,
    pub id: u64,
    pub command: Command,
}

fn default_principal() -> String {
    DEFAULT_PRINCIPAL.to_string()
}

/// An envelope with its journal record, encoded once: the bytes are exactly
/// `serde_json::to_vec(envelope)`, and within them the command's own encoding (the bytes its
/// exactly-once digest is taken of), so [`crate::Engine::apply_encoded`] and the journal share
/// one encoding of each command.
pub struct EncodedEnvelope<'a> {
    envelope: &'a Envelope,
    bytes: Vec<u8>,
    command: std::ops::Range<usize>,
}

impl<'a> EncodedEnvelope<'a> {
    /// Encodes the envelope as serde encodes the struct (fields in declaration order, compact),
    /// noting where its command starts and ends.
    pub fn new(envelope: &'a Envelope) -> EncodedEnvelope<'a> {
        let mut bytes = Vec::with_capacity(160);
        bytes.extend_from_slice(b"{\"client\":");
        write_str(&mut bytes, &envelope.client);
        bytes.extend_from_slice(b",\"id\":");
        write_json(&mut bytes, &envelope.id);
        bytes.extend_from_slice(b",\"command\":");
        let start = bytes.len();
        write_command(&mut bytes, &envelope.command);
        let command = start..bytes.len();
        bytes.push(b'}');
        EncodedEnvelope { envelope, bytes, command }
    }

    pub fn envelope(&self) -> &'a Envelope {
        self.envelope
    }

    /// The command's canonical encoding.
    pub fn command_bytes(&self) -> &[u8] {
        &self.bytes[self.command.clone()]
    }

    /// The whole envelope's encoding (the journal's command record).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Envelopes, commands and their fields are plain data (string keys, no maps with other keys,
/// no floats): serde_json cannot fail on them.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("plain data always serialises");
}

/// Whether JSON writes `s` as it is between its quotes: printable ASCII, no quote, no
/// backslash (every name and amount the engine accepts; `check_shape`).
fn plain(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// A string as serde_json writes it: a plain one copied between quotes, any other escaped by
/// serde_json itself.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if !plain(s) {
        return write_json(out, s);
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// `"key":"value"` after `prefix` (the bytes before the key: `{` or `,`).
fn write_field(out: &mut Vec<u8>, prefix_and_key: &[u8], value: &str) {
    out.extend_from_slice(prefix_and_key);
    write_str(out, value);
}

/// A command's canonical encoding, byte for byte `serde_json::to_vec(command)`: the transfer,
/// the commonest command, written field by field (its strings as [`write_str`] writes them),
/// every other command by serde_json (tested against serde_json on arbitrary strings:
/// `tests/encoded_envelope.rs`).
pub fn write_command(out: &mut Vec<u8>, command: &Command) {
    match command {
        Command::Transfer { from, to, asset, amount } => {
            write_field(out, b"{\"type\":\"transfer\",\"from\":", from);
            write_field(out, b",\"to\":", to);
            write_field(out, b",\"asset\":", asset);
            write_field(out, b",\"amount\":", amount);
            out.push(b'}');
        }
        _ => write_json(out, command),
    }
}

/// An outcome's journal encoding, byte for byte `serde_json::to_vec(outcome)`: an applied
/// command's transfers written field by field, every other event and outcome by serde_json
/// (tested against serde_json: `tests/encoded_envelope.rs`).
pub fn write_outcome(out: &mut Vec<u8>, outcome: &Outcome) {
    let Outcome::Applied { seq, events } = outcome else { return write_json(out, outcome) };
    out.extend_from_slice(b"{\"status\":\"applied\",\"seq\":");
    write_json(out, seq);
    out.extend_from_slice(b",\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match event {
            Event::Transferred { debit, credit, asset, amount, reason } => {
                write_field(out, b"{\"event\":\"transferred\",\"debit\":", debit);
                write_field(out, b",\"credit\":", credit);
                write_field(out, b",\"asset\":", asset);
                write_field(out, b",\"amount\":", amount);
                out.extend_from_slice(b",\"reason\":");
                write_json(out, reason);
                out.push(b'}');
            }
            _ => write_json(out, event),
        }
    }
    out.extend_from_slice(b"]}");
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Installs the first configuration (assets, custodians, limits, principals). Only the
    /// first command of a journal; the node writes it from the configuration file.
    Genesis { config: Box<StateConfig> },
    /// Operator: changes the configuration on a live journal (add an asset, a custodian, an
    /// asset a custodian may hold, new limits or settings).
    Configure { change: ConfigChange },
    /// Operator: admits a principal (an account owner, another operator, an auditor).
    RegisterPrincipal { name: String, role: Role },
    /// Operator, or the owner itself: opens the trader account `owner/sub` (`sub` defaults to `main`).
    CreateAccount {
        owner: String,
        #[serde(default = "main_sub")]
        sub: String,
    },
    /// Operator: credits coins observed at `custodian`; idempotent on `external_ref` (a tx hash).
    Deposit { account: String, asset: String, amount: String, custodian: String, external_ref: String },
    /// Owner: reserves `amount` for a withdrawal to `destination` through `custodian`; it moves
    /// only when the operator confirms it with the chain reference.
    RequestWithdrawal { account: String, asset: String, amount: String, custodian: String, destination: String, withdrawal_id: String },
    /// Operator: the withdrawal was sent on chain as `chain_ref`; posts the reserved amount.
    ConfirmWithdrawal { withdrawal_id: String, chain_ref: String },
    /// Owner of the account, or operator: releases a pending withdrawal.
    CancelWithdrawal { withdrawal_id: String },
    /// Owner: moves an asset between two of its own sub-accounts.
    Transfer { from: String, to: String, asset: String, amount: String },
    /// Operator or feed: an oracle price for an asset or an underlying (not USD), in USD per
    /// whole unit. For a symbol with a configured oracle the sender is the source and the
    /// print goes through the guard (`docs/oracle-guards.md`, "In the engine").
    SetPrice { symbol: String, price_usd: String },
    /// Operator: puts an account on hold (nothing moves out: no withdrawal requested or confirmed,
    /// no transfer from it, no new or amended order) or releases it.
    SetHold { account: String, held: bool },
    /// Operator: the only clock the engine knows. Moves forward by at most
    /// `engine.time_step_ms_max`; reports withdrawals left unconfirmed past their timeout.
    AdvanceTime { now_ms: u64 },
    /// Owner: an order on a market (see `docs/order-book.md`); `price` is quote per whole base,
    /// required except for `market` orders, which trade up to the band around the oracle price.
    PlaceOrder {
        account: String,
        market: String,
        client_order_id: u64,
        side: OrderSide,
        kind: OrderKind,
        #[serde(default)]
        price: Option<String>,
        qty: String,
    },
    /// Owner: a new price and open quantity for an open order (a size reduction keeps priority).
    AmendOrder { account: String, market: String, order_id: u64, price: String, qty: String },
    /// Owner or operator: cancels one open order.
    CancelOrder { account: String, market: String, order_id: u64 },
    /// Owner or operator: cancels every open order of the account on the market.
    CancelAllOrders { account: String, market: String },
    /// Operator: one part of a risk model's canonical encoding (lowercase hex of at most
    /// `risk_model::RISK_MODEL_PART_BYTES_MAX` bytes); the last of `parts` installs the model
    /// whose digest is `digest` (see `docs/engine.md`, "Risk model").
    InstallRiskModelPart { digest: String, part: u32, parts: u32, data: String },
    /// Operator: installs the house's `[hedging]` limits (cancels every outstanding hedge).
    SetHedging { config: model::Hedging },
    /// Operator (the hedge executor's feed): one execution of hedge `hedge_id` on `venue` (a
    /// custodian): the house paid `amount_in` of `asset_in` and received `amount_out` of
    /// `asset_out`, on chain as `chain_ref` (used once).
    HedgeExecuted {
        hedge_id: u64,
        venue: String,
        asset_in: String,
        amount_in: String,
        asset_out: String,
        amount_out: String,
        chain_ref: String,
    },
    /// Operator: closes what is left of an outstanding hedge.
    CancelHedge { hedge_id: u64 },
    /// Operator: approves (or withdraws) a trader account as a liquidator, which may then bid
    /// in liquidation auctions (see `docs/liquidation.md`, "In the engine").
    RegisterLiquidator { account: String, approved: bool },
    /// Owner of a registered liquidator account: takes `qty` (of the underlying) of auction
    /// `auction_id` at its current price if that is within `limit_price` (settlement asset per
    /// whole underlying: at most it when the liquidated account sells, at least it when it buys).
    BidLiquidation { auction_id: u64, account: String, qty: String, limit_price: String },
    /// Operator: moves `amount` of `asset` from `@house`'s capital (its balance plus what it
    /// lent) into the insurance fund `@insurance` (docs/liquidation.md, "Funding the fund").
    FundInsurance { asset: String, amount: String },
    /// Operator: sets the initial-margin add-on of owner `owner` to `amount_usd` (USD; 0 removes
    /// it), charged to each of its sub-accounts that holds risk (docs/liquidation.md, "Margin
    /// add-ons"; e.g. from `clearhouse cover2 --emit-commands`).
    SetMarginAddOn { owner: String, amount_usd: String },
    /// Operator: moves `amount` of `asset` from `@house`'s capital to its collateral at `venue`
    /// (`@house/<venue>`), the coins from custodian `custodian` to the venue's custody
    /// (docs/liquidation.md, "The house's venue collateral on the ledger").
    VenueFund { venue: String, asset: String, amount: String, custodian: String },
    /// Operator: the reverse of `venue_fund`, back to `@house` and custodian `custodian`.
    VenueDefund { venue: String, asset: String, amount: String, custodian: String },
    /// Operator (the venue's report): the house's collateral of `asset` at `venue` is now
    /// `balance` (after the P&L the venue realised, and, with `liquidated`, what it kept when it
    /// liquidated the house's leg); the difference is booked. `external_ref` is used once.
    VenueSettled { venue: String, asset: String, balance: String, liquidated: bool, external_ref: String },
    /// Operator: `amount` of `asset` of the broker's own capital, observed at `custodian`,
    /// credited to `@house`; idempotent on `external_ref` as a deposit.
    DepositHouseCapital { asset: String, amount: String, custodian: String, external_ref: String },
}

fn main_sub() -> String {
    "main".to_string()
}

impl Command {
    /// Every free-text field of the command, named, for the shape check that precedes
    /// everything else (configuration payloads are checked by their own validation).
    pub fn text_fields(&self) -> Vec<(&'static str, &str)> {
        match self {
            Command::Genesis { .. } | Command::Configure { .. } | Command::AdvanceTime { .. } => vec![],
            Command::RegisterPrincipal { name, .. } => vec![("name", name)],
            Command::CreateAccount { owner, sub } => vec![("owner", owner), ("sub", sub)],
            Command::Deposit { account, asset, amount, custodian, external_ref } => {
                vec![("account", account), ("asset", asset), ("amount", amount), ("custodian", custodian), ("external_ref", external_ref)]
            }
            Command::RequestWithdrawal { account, asset, amount, custodian, destination, withdrawal_id } => vec![
                ("account", account),
                ("asset", asset),
                ("amount", amount),
                ("custodian", custodian),
                ("destination", destination),
                ("withdrawal_id", withdrawal_id),
            ],
            Command::ConfirmWithdrawal { withdrawal_id, chain_ref } => vec![("withdrawal_id", withdrawal_id), ("chain_ref", chain_ref)],
            Command::CancelWithdrawal { withdrawal_id } => vec![("withdrawal_id", withdrawal_id)],
            Command::Transfer { from, to, asset, amount } => vec![("from", from), ("to", to), ("asset", asset), ("amount", amount)],
            Command::SetPrice { symbol, price_usd } => vec![("symbol", symbol), ("price_usd", price_usd)],
            Command::SetHold { account, .. } => vec![("account", account)],
            Command::PlaceOrder { account, market, price, qty, .. } => {
                let mut fields = vec![("account", account.as_str()), ("market", market.as_str()), ("qty", qty.as_str())];
                fields.extend(price.as_deref().map(|p| ("price", p)));
                fields
            }
            Command::AmendOrder { account, market, price, qty, .. } => {
                vec![("account", account), ("market", market), ("price", price), ("qty", qty)]
            }
            Command::CancelOrder { account, market, .. } | Command::CancelAllOrders { account, market } => {
                vec![("account", account), ("market", market)]
            }
            // `data` is checked by its own rule (hex, bounded by the part size).
            Command::InstallRiskModelPart { digest, .. } => vec![("digest", digest)],
            // The hedging configuration is checked by its own validation (known assets, custodians).
            Command::SetHedging { .. } | Command::CancelHedge { .. } => vec![],
            Command::HedgeExecuted { venue, asset_in, amount_in, asset_out, amount_out, chain_ref, .. } => vec![
                ("venue", venue),
                ("asset_in", asset_in),
                ("amount_in", amount_in),
                ("asset_out", asset_out),
                ("amount_out", amount_out),
                ("chain_ref", chain_ref),
            ],
            Command::RegisterLiquidator { account, .. } => vec![("account", account)],
            Command::FundInsurance { asset, amount } => vec![("asset", asset), ("amount", amount)],
            Command::SetMarginAddOn { owner, amount_usd } => vec![("owner", owner), ("amount_usd", amount_usd)],
            Command::VenueFund { venue, asset, amount, custodian } | Command::VenueDefund { venue, asset, amount, custodian } => {
                vec![("venue", venue), ("asset", asset), ("amount", amount), ("custodian", custodian)]
            }
            Command::VenueSettled { venue, asset, balance, external_ref, .. } => {
                vec![("venue", venue), ("asset", asset), ("balance", balance), ("external_ref", external_ref)]
            }
            Command::DepositHouseCapital { asset, amount, custodian, external_ref } => {
                vec![("asset", asset), ("amount", amount), ("custodian", custodian), ("external_ref", external_ref)]
            }
            Command::BidLiquidation { account, qty, limit_price, .. } => {
                vec![("account", account), ("qty", qty), ("limit_price", limit_price)]
            }
        }
    }
}

/// The result of one command. `Applied` and `Rejected` are journalled with the command and
/// take a sequence number; `Duplicate` answers a retried id with the first result's sequence
/// number; `Refused` (malformed, unauthorized, a reused or too old id) is answered at once,
/// never journalled, and changes nothing at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied { seq: u64, events: Vec<Event> },
    Rejected { seq: u64, error: EngineError },
    Duplicate { first_seq: u64 },
    Refused { error: EngineError },
}

impl Outcome {
    /// The journal sequence number this outcome is (or was first) recorded under.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Outcome::Applied { seq, .. } | Outcome::Rejected { seq, .. } => Some(*seq),
            Outcome::Duplicate { first_seq } => Some(*first_seq),
            Outcome::Refused { .. } => None,
        }
    }

    /// True for the outcomes that are journalled (they took a new sequence number).
    pub fn is_journalled(&self) -> bool {
        matches!(self, Outcome::Applied { .. } | Outcome::Rejected { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The genesis configuration was installed; `config_digest` identifies it.
    Initialised {
        config_digest: String,
    },
    ConfigChanged {
        change: ConfigChange,
        config_digest: String,
    },
    PrincipalRegistered {
        name: String,
        role: Role,
    },
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
        destination: String,
        due_ms: u64,
    },
    WithdrawalConfirmed {
        withdrawal_id: String,
        chain_ref: String,
    },
    WithdrawalVoided {
        withdrawal_id: String,
        why: String,
    },
    /// A withdrawal still unconfirmed at its due time (reported once).
    WithdrawalOverdue {
        withdrawal_id: String,
        due_ms: u64,
    },
    PriceSet {
        symbol: String,
        price_usd: String,
    },
    /// A guarded symbol's median moved further than `max_move_bps`: the price set is the
    /// clamped one (`oracle_feed`).
    PriceClamped {
        symbol: String,
        median_usd: String,
        guarded_usd: String,
    },
    /// A source's print was recorded, but fewer than `quorum` sources are fresh: the symbol's
    /// price did not move.
    PricePrintPending {
        symbol: String,
        source: String,
        fresh: usize,
        quorum: usize,
    },
    OrderAccepted {
        market: String,
        order_id: u64,
        account: String,
        client_order_id: u64,
        side: OrderSide,
        price: String,
        qty: String,
    },
    /// One trade at the maker's price, settled at once: base seller -> buyer, `quote_amount`
    /// buyer -> seller, fees to `@fees` (a negative maker fee is a rebate from it).
    OrderFilled {
        market: String,
        maker_order_id: u64,
        maker_account: String,
        taker_order_id: u64,
        taker_account: String,
        taker_side: OrderSide,
        price: String,
        qty: String,
        quote_amount: String,
        maker_fee: String,
        taker_fee: String,
    },
    OrderRested {
        market: String,
        order_id: u64,
        price: String,
        qty: String,
    },
    OrderReduced {
        market: String,
        order_id: u64,
        account: String,
        removed: String,
        remaining: String,
        reason: String,
    },
    OrderCancelled {
        market: String,
        order_id: u64,
        account: String,
        removed: String,
        reason: String,
    },
    OrderAmended {
        market: String,
        order_id: u64,
        account: String,
        price: String,
        qty: String,
        priority_kept: bool,
    },
    HoldSet {
        account: String,
        held: bool,
    },
    TimeAdvanced {
        now_ms: u64,
    },
    /// A part of a risk model was staged.
    RiskModelPartReceived {
        digest: String,
        part: u32,
        parts: u32,
    },
    /// A risk model is in force from now on.
    RiskModelInstalled {
        digest: String,
        label: String,
        as_of_ms: u64,
        scenarios: u32,
        instruments: u32,
    },
    /// `@house` filled a client order as principal (the order never entered the book).
    HouseFilled {
        market: String,
        account: String,
        client_order_id: u64,
        side: OrderSide,
        price: String,
        qty: String,
        quote_amount: String,
        fee: String,
    },
    /// The house's net position in `asset` is now `exposure` (decimal, negative short).
    HouseExposureChanged {
        asset: String,
        exposure: String,
    },
    /// An account's health flag changed (USD amounts as decimal strings).
    HealthChanged {
        account: String,
        from: crate::Health,
        to: crate::Health,
        equity: String,
        im: String,
        mm: String,
    },
    /// A derivative position after a fill: signed quantity of the underlying, entry cost in the
    /// settlement asset (rounded up), and what the fill realised (settled at once, `Settled`).
    PositionChanged {
        seq: u64,
        market: String,
        account: String,
        qty: String,
        entry_cost: String,
        realised: String,
    },
    /// Perp funding of one account as its position settles, through `@clearing/<market>`:
    /// positive received, negative paid, in `asset`; `rate` the change of the market's funding
    /// index since the position last settled (settlement asset per whole underlying, 18
    /// decimals). The rounding residue stays in the clearing account.
    FundingPaid {
        seq: u64,
        market: String,
        account: String,
        asset: String,
        amount: String,
        rate: String,
    },
    /// A perp funding boundary moved the market's indices (O(1) in its holders, who settle
    /// later, each with `funding_paid` and a `mark_to_market` `settled`): `rate` per the
    /// intervals crossed (18 decimals), the oracle `index` and the `mark` the positions settle
    /// at (settlement asset per whole underlying), and the cumulative `funding_index`
    /// (settlement asset per whole underlying, 18 decimals).
    FundingIndexMoved {
        seq: u64,
        market: String,
        rate: String,
        index: String,
        mark: String,
        funding_index: String,
    },
    /// Realised P&L of a derivative position settled in `asset` with `@clearing/<market>`:
    /// positive received. `reason`: `fill`, `mark_to_market` or `expiry`; `price` the fill, mark
    /// or settlement price (settlement asset per whole underlying).
    Settled {
        seq: u64,
        market: String,
        account: String,
        asset: String,
        amount: String,
        price: String,
        reason: String,
    },
    /// A borrow from `@house`: `amount` positive lent (credited to the account), negative
    /// repaid (debited); `debt` owed after it, interest included.
    BorrowChanged {
        seq: u64,
        account: String,
        asset: String,
        amount: String,
        debt: String,
    },
    /// Interest added to a borrow since its last change (reported when it changes next).
    InterestAccrued {
        seq: u64,
        account: String,
        asset: String,
        interest: String,
        debt: String,
    },
    /// An option market settled at expiry (settlement asset per whole underlying); its
    /// positions are closed and it takes no order again.
    OptionExpired {
        seq: u64,
        market: String,
        settlement_price: String,
    },
    /// An option market reached expiry without a settlement price: closed for orders, its
    /// positions kept for an operator's settlement.
    OptionExpiryFailed {
        seq: u64,
        market: String,
        why: String,
    },
    /// `[hedging]` limits are in force (`factors` of them).
    HedgingSet {
        factors: u32,
    },
    /// The house asks for a hedge of `qty` of `factor` against `quote` on one of `venues`, at a
    /// price no worse than `limit_price` (quote per whole factor unit), before `expires_ms`.
    HedgeRequested {
        hedge_id: u64,
        factor: String,
        quote: String,
        side: OrderSide,
        qty: String,
        limit_price: String,
        max_cost_bps: u32,
        venues: Vec<String>,
        expires_ms: u64,
    },
    /// An execution of a hedge was booked; `rest` is left of it (closed at zero).
    HedgeFilled {
        hedge_id: u64,
        venue: String,
        qty: String,
        rest: String,
        chain_ref: String,
    },
    /// What was left of a hedge is closed: `operator`, `expired`, `exposure_changed` or
    /// `limits_changed`.
    HedgeCancelled {
        hedge_id: u64,
        rest: String,
        reason: String,
    },
    /// A factor beyond its residual limit could not be hedged (no oracle price, too many
    /// outstanding hedges); looked at again when its exposure or price changes.
    HedgeBlocked {
        factor: String,
        why: String,
    },
    /// `@house` took over a token leg of a liquidated account at once (`sell`: the account's
    /// holding; `buy`: what it borrowed), at `price` (quote per whole unit) less the penalty.
    TokenLegTakenOver {
        seq: u64,
        account: String,
        asset: String,
        side: String,
        qty: String,
        price: String,
        value: String,
        penalty: String,
        insurance_share: String,
    },
    /// `@house` took over an option leg of a liquidated account at once (`buy`: a short bought
    /// back; `sell`: a long sold) at the risk model's mark `price` (settlement asset per whole
    /// underlying), the account paying `penalty` on the premium `value`.
    OptionLegTakenOver {
        seq: u64,
        account: String,
        market: String,
        side: String,
        qty: String,
        price: String,
        value: String,
        penalty: String,
        insurance_share: String,
    },
    /// An owner's initial-margin add-on was set (`"0"`: removed).
    /// The house's collateral at `venue` changed by `amount` (`action`: `fund`, `defund`,
    /// `settled` or `liquidated`; signed for the last two); `posted` is what `@house/<venue>`
    /// holds after it.
    VenueCollateralChanged {
        venue: String,
        asset: String,
        action: String,
        amount: String,
        posted: String,
    },
    MarginAddOnSet {
        owner: String,
        amount_usd: String,
    },
    /// An account was approved as a liquidator (or its approval withdrawn).
    LiquidatorRegistered {
        account: String,
        approved: bool,
    },
    /// An account below maintenance is being liquidated (USD amounts at the start);
    /// `target_reached`: the chunks put up for auction bring it back to the configured target.
    LiquidationStarted {
        seq: u64,
        account: String,
        equity: String,
        im: String,
        mm: String,
        target_reached: bool,
    },
    /// A liquidation of this account could not proceed now (a missing price, say); retried by
    /// the next command.
    LiquidationDeferred {
        seq: u64,
        account: String,
        why: String,
    },
    /// A Dutch auction for a chunk of a position: `side` is the liquidated account's (`sell`
    /// closes a long), `mark` the index at the start (settlement asset per whole underlying).
    AuctionOpened {
        seq: u64,
        auction_id: u64,
        account: String,
        market: String,
        side: String,
        qty: String,
        mark: String,
        ends_ms: u64,
    },
    /// A liquidator took `qty` at `price`; the liquidated account paid `penalty`, of which
    /// `insurance_share` to `@insurance` and the rest to the liquidator.
    AuctionFilled {
        seq: u64,
        auction_id: u64,
        account: String,
        liquidator: String,
        market: String,
        qty: String,
        price: String,
        penalty: String,
        insurance_share: String,
    },
    /// The auction ended: `@house` took the rest over at the mark, with the penalty's
    /// non-insurance share.
    AuctionHouseTakeover {
        seq: u64,
        auction_id: u64,
        account: String,
        market: String,
        qty: String,
        price: String,
        penalty: String,
        insurance_share: String,
    },
    /// The account has no open auction left.
    LiquidationEnded {
        seq: u64,
        account: String,
    },
    /// One step of the default waterfall covering `account`'s deficit: `step` is `collateral`,
    /// `penalty`, `insurance_fund`, `broker_capital`, `socialised`, `deleveraged` or
    /// `house_uncovered`.
    WaterfallStep {
        seq: u64,
        account: String,
        step: String,
        asset: String,
        amount: String,
    },
    /// A holder's share of a socialised loss.
    Socialised {
        seq: u64,
        account: String,
        holder: String,
        asset: String,
        amount: String,
    },
    /// A profitable opposite position's share of a deficit (auto-deleveraging).
    Deleveraged {
        seq: u64,
        account: String,
        holder: String,
        market: String,
        asset: String,
        amount: String,
        /// The quantity of the holder's position closed against `@house`, and the bankrupt
        /// price it was closed at (the index moved against the holder by `amount / qty`).
        /// Absent in results journalled before positions were closed.
        #[serde(default)]
        qty: String,
        #[serde(default)]
        price: String,
    },
}
