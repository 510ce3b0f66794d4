//! The clearhouse engine: a deterministic state machine.
//!
//! Commands go in ([`Envelope`]), outcomes with events come out ([`Outcome`]). The engine
//! reads no clock (time arrives as [`Command::AdvanceTime`]), draws no random numbers and does
//! no I/O; the journal and server around it do that. The same sequence of envelopes therefore
//! gives the same outcomes and the same [`Engine::state_hash`] on every replay.
//!
//! Order of checks for one envelope ([`Engine::apply`]):
//! 1. shape: the principal's name and every text field are bounded, visible ASCII;
//! 2. the principal is registered (the first command of a journal is `genesis` instead);
//! 3. its session: a remembered id answers `Duplicate` (same command) or is refused
//!    (`id_reused_with_different_command`); an id below the watermark is refused (`id_too_old`);
//! 4. authorization by role ([`auth`]);
//!    a failure in 1-4 is `Refused`: answered, never journalled, nothing changes;
//! 5. the command takes the next sequence number, is remembered, and executes: `Applied`
//!    with events, or `Rejected` with a typed error and no other change.
//!
//! Invariants (asserted in release builds after every journalled command):
//! - every movement of money is a double-entry ledger transfer; per asset the posted balances
//!   sum to zero (the ledger's O(1) running totals, checked arithmetic);
//! - a trader account never goes below zero; a custody account never crosses zero: no
//!   custodian releases more of an asset than clients deposited there;
//! - a rejected command changes nothing but the sequence number and its principal's session
//!   ([`Engine::books_hash`] is unchanged);
//! - every collection that grows has a configured limit, reconciled with the journal's record
//!   and snapshot limits by computation ([`limits`]).
//!
//! Account names: trader accounts are `owner/sub`; the broker's own accounts are `@house`,
//! `@fees`, `@insurance` and `@custody/<custodian>`, one per custodian.

mod add_ons;
mod auth;
mod borrows;
mod command;
mod derivatives;
mod error;
mod execute;
mod expiry;
mod factlog;
mod funding;
pub mod headroom;
pub mod health;
pub mod hedging;
pub mod house;
mod insurance;
pub mod limits;
pub mod liquidate;
mod liquidate_legs;
mod liquidate_options;
pub mod margin;
pub mod margin_view;
pub mod markets;
mod oracle_feed;
mod owners;
pub mod risk_model;
pub mod sessions;
pub mod settle;
mod snapshot;
pub mod stable_price;
pub mod state_config;
mod valuation;
pub mod venue_collateral;
mod waterfall;
mod withdrawals;

pub use borrows::Borrow;
pub use command::*;
pub use derivatives::{Expiry, PositionView, clearing_account};
pub use error::EngineError;
pub use expiry::PRICE_HISTORY_MAX;
pub use funding::{PREMIUM_PRINT_MAX, PremiumAverage};
pub use margin::PreTrade;
pub use snapshot::{EngineSnapshot, SnapshotError};
pub use state_config::{ConfigChange, ConfigConflict, StateConfig};
pub use valuation::{Valuation, ValuedBalance};

/// Names hashed with foldhash (seeded per process, as std's SipHash is, and several times
/// faster on short names); nothing depends on a map's order.
use foldhash::HashMap;
use ledger::{AccountIdx, AccountPolicy, AssetIdx, Ledger, LedgerError, PendingId, Transfer};
use model::Role;
use money::{Scale, UsdPrice};
use sessions::{Seen, Sessions};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Version of the command, outcome, snapshot and state-hash formats.
pub const ENGINE_FORMAT_VERSION: u32 = 9;
/// Longest free-text field of a command (references, ids, amounts, names), in bytes: an
/// account name `owner/sub` of two names of [`model::NAME_LEN_MAX`].
pub const FIELD_BYTES_MAX: usize = 2 * model::NAME_LEN_MAX as usize + 1;
pub use add_ons::MARGIN_ADD_ON_USD_MAX;
pub use factlog::{FactLog, LOG_CHUNK_FACTS};
pub use health::Health;
pub use insurance::Cover2Report;
pub use liquidate::AuctionView;
pub use margin::AccountMargin;
pub use margin_view::{MarginCharges, MarginContribution, MarginExplained, MarginWhatIf};
pub use risk_model::{RiskStaging, risk_model_parts};
/// Broker accounts opened before any custodian's.
pub const BROKER_ACCOUNTS: [&str; 4] = [HOUSE, FEES, INSURANCE, ORDERS];

pub const HOUSE: &str = "@house";
pub const FEES: &str = "@fees";
pub const INSURANCE: &str = "@insurance";
/// The nominal counterparty of what open orders hold (pending transfers, never posted).
pub const ORDERS: &str = "@orders";
/// The numeraire: priced at 1 by definition, never by command.
pub const NUMERAIRE: &str = "USD";

pub fn custody_account(custodian: &str) -> String {
    format!("@custody/{custodian}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetInfo {
    symbol: String,
    scale: Scale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Trader,
    Broker,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Custody {
    account: AccountIdx,
    assets: BTreeSet<AssetIdx>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Withdrawal {
    pub pending: PendingId,
    pub account: AccountIdx,
    pub destination: String,
    pub due_ms: u64,
    /// Reported overdue once (by the `advance_time` that passed `due_ms`).
    pub overdue_reported: bool,
}

#[derive(Debug, Clone)]
pub struct Engine {
    initialised: bool,
    config: StateConfig,
    config_digest: [u8; 32],
    assets: Vec<AssetInfo>,
    asset_index: BTreeMap<String, AssetIdx>,
    custodians: BTreeMap<String, Custody>,
    account_names: Vec<String>,
    account_kinds: Vec<AccountKind>,
    account_index: HashMap<String, AccountIdx>,
    subs_per_owner: BTreeMap<String, u32>,
    /// Each trader account's owner and each owner's sub-accounts by integer id (derived).
    owners: owners::OwnerIndex,
    trader_accounts: u32,
    ledger: Ledger,
    prices: BTreeMap<String, (UsdPrice, u64)>,
    /// The last `settings.stable_price_prints` prints per symbol ([`stable_price`]).
    stable_prints: BTreeMap<String, std::collections::VecDeque<UsdPrice>>,
    /// The guard of every symbol with a configured oracle (`oracle_feed`).
    oracle_guards: BTreeMap<String, oracle::Guard>,
    holds: BTreeSet<AccountIdx>,
    withdrawals: BTreeMap<String, Withdrawal>,
    /// Withdrawals not yet reported overdue, by due time.
    overdue_queue: BTreeSet<(u64, String)>,
    withdrawals_per_account: BTreeMap<AccountIdx, u32>,
    withdrawals_digest: ledger::MultisetDigest,
    markets: Vec<markets::MarketState>,
    market_index: BTreeMap<String, u16>,
    /// (account, market, asset) -> the pending transfer holding what its open orders need.
    order_holds: BTreeMap<markets::HoldKey, markets::Hold>,
    holds_digest: ledger::MultisetDigest,
    /// (account, market) -> derivative position (perps and options; flat positions are absent).
    positions: BTreeMap<(AccountIdx, u16), clearing::pnl::PerpPosition>,
    positions_digest: ledger::MultisetDigest,
    /// (account, market) -> the indices the position last settled at ([`settle`]); exactly the
    /// keys of `positions`, hashed with them.
    settled: BTreeMap<(AccountIdx, u16), settle::SettledAt>,
    /// Where the next sweep starts ([`settle`]).
    sweep_cursor: (AccountIdx, u16),
    /// (account, asset) -> what the account borrowed from the house, scaled by the asset's index.
    borrows: BTreeMap<(AccountIdx, AssetIdx), borrows::Borrow>,
    borrows_digest: ledger::MultisetDigest,
    borrow_indices: BTreeMap<AssetIdx, clearing::interest::InterestIndex>,
    /// Oracle prints (time, USD e18) of the underlyings of live option markets, bounded.
    price_history: BTreeMap<String, VecDeque<(u64, i128)>>,
    /// BLAKE3 of every used external reference (namespaced: deposit, withdrawal id, chain ref).
    external_refs: BTreeSet<[u8; 32]>,
    sessions: Sessions,
    /// Append-only facts of the books (account creations, used references, principals).
    books_log: FactLog,
    /// Append-only facts of the sessions (every remembered id with its command digest): the
    /// windows and watermarks follow from them and the configured window, so this chain
    /// commits to the sessions at the cost of appending a few bytes per command.
    session_log: FactLog,
    /// The risk model in force and one being installed in parts.
    risk_model: risk_model::RiskModelState,
    /// Accounts below initial (reduce-only) or maintenance (liquidation) margin.
    health_flags: BTreeMap<AccountIdx, Health>,
    health_digest: ledger::MultisetDigest,
    /// Accounts whose flag change waits for a later command (see [`health`]).
    health_backlog: BTreeSet<AccountIdx>,
    /// Per account, what the last full margin computation left for the health bound (a cache:
    /// never hashed, rebuilt after a restore).
    health_summaries: Vec<Option<health::Slot>>,
    /// Accounts whose summary is pending ([`health::Slot::Pending`]; an account may be listed
    /// twice, a listed one may since have been built: checked when building).
    health_pending: Vec<AccountIdx>,
    /// The price symbols the summaries name, by their index there (a cache, like them).
    health_symbols: Vec<String>,
    /// Per symbol of `health_symbols`, whether a summary has named it: a move of a symbol none
    /// has named re-marks no summarised account.
    health_symbols_named: Vec<bool>,
    /// The `health_symbols` index of each asset, underlying of the model and market base
    /// (a cache of the names for the model in force).
    health_ids: margin::OfModel<health::HealthIds>,
    /// The house's net position per base asset from its fills of client orders ([`house`]).
    house_exposure: BTreeMap<AssetIdx, i128>,
    house_digest: ledger::MultisetDigest,
    /// `[hedging]` limits, outstanding hedges and their id counter ([`hedging`]).
    hedging: hedging::HedgingState,
    /// Liquidation auctions, liquidators and cases in progress ([`liquidate`]).
    liq: liquidate::LiquidationState,
    /// Initial-margin add-ons by owner, 10^-18 USD, each positive ([`add_ons`]).
    margin_add_ons: BTreeMap<String, i128>,
    /// Accounts recomputed by the last health step (a statistic).
    health_recomputed: usize,
    /// Loss vectors of recently priced accounts (a cache).
    margin_cache: BTreeMap<AccountIdx, margin::CachedRisk>,
    /// Summaries of earlier books for the headroom bound (a cache, [`headroom`]).
    bound_anchors: BTreeMap<AccountIdx, margin_core::RiskSummary>,
    /// The free-collateral gate's covering for the health step of its command (a cache,
    /// [`headroom::GateBound`]).
    gate_bound: Option<headroom::GateBound>,
    /// Whether the headroom bound may decide (a setting for comparisons, not state).
    headroom_bound: bool,
    /// Margin decisions the headroom bound took (a statistic).
    headroom_decided: u64,
    /// Of those, decided by the step bound alone (a statistic).
    headroom_stepped: u64,
    /// The prices of the model's underlyings in its order, for the model they were read for
    /// (a cache: dropped by every price print, never hashed).
    underlying_prices_cache: margin::OfModel<std::sync::Arc<[Option<UsdPrice>]>>,
    /// Each asset's instrument in the model it was read for, by asset index (a cache: rebuilt
    /// when the model or the asset table changes, never hashed).
    asset_instruments_cache: margin::OfModel<Vec<Option<margin_core::InstrumentIx>>>,
    /// Reused buffer for the canonical encoding of a command (its digest).
    scratch: Vec<u8>,
    /// The market whose book command is settling its fills: the holds released for it are not
    /// free money, so a payment leaves what the open orders will hold again, and repayments of
    /// borrows wait until those holds are taken. Transient (`None` between commands, asserted),
    /// never part of the state.
    settling_book: Option<u16>,
    now_ms: u64,
    next_seq: u64,
    next_pending: u64,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    /// An engine with no configuration: its first command must be [`Command::Genesis`].
    pub fn new() -> Engine {
        let config = StateConfig {
            assets: vec![],
            underlyings: vec![],
            custodians: vec![],
            principals: vec![],
            markets: vec![],
            limits: model::Limits {
                accounts_max: 1,
                sub_accounts_per_owner_max: 1,
                assets_max: 1,
                custodians_max: 1,
                principals_max: 1,
                client_ids_window: 1,
                batch_commands_max: 1,
                pending_withdrawals_max: 1,
                pending_withdrawals_per_account_max: 1,
                deposit_refs_max: 1,
                name_len_max: 1,
                markets_max: 1,
                market_orders_max: 1,
            },
            settings: state_config::Settings {
                withdrawal_confirm_timeout_ms: 1,
                time_step_ms_max: 1,
                risk_model_max_age_ms: None,
                stable_price_prints: None,
                borrow_rate_bps: 0,
            },
            liquidation: None,
            oracles: vec![],
        };
        Engine {
            initialised: false,
            config_digest: [0; 32],
            config,
            assets: Vec::new(),
            asset_index: BTreeMap::new(),
            custodians: BTreeMap::new(),
            account_names: Vec::new(),
            account_kinds: Vec::new(),
            account_index: HashMap::default(),
            subs_per_owner: BTreeMap::new(),
            owners: owners::OwnerIndex::default(),
            trader_accounts: 0,
            ledger: Ledger::new(0, 1),
            prices: BTreeMap::new(),
            stable_prints: BTreeMap::new(),
            oracle_guards: BTreeMap::new(),
            holds: BTreeSet::new(),
            withdrawals: BTreeMap::new(),
            overdue_queue: BTreeSet::new(),
            withdrawals_per_account: BTreeMap::new(),
            withdrawals_digest: ledger::MultisetDigest::default(),
            external_refs: BTreeSet::new(),
            markets: Vec::new(),
            market_index: BTreeMap::new(),
            order_holds: BTreeMap::new(),
            holds_digest: ledger::MultisetDigest::default(),
            positions: BTreeMap::new(),
            positions_digest: ledger::MultisetDigest::default(),
            settled: BTreeMap::new(),
            sweep_cursor: (AccountIdx(0), 0),
            borrows: BTreeMap::new(),
            borrows_digest: ledger::MultisetDigest::default(),
            borrow_indices: BTreeMap::new(),
            price_history: BTreeMap::new(),
            sessions: Sessions::default(),
            books_log: FactLog::default(),
            session_log: FactLog::default(),
            risk_model: risk_model::RiskModelState::default(),
            health_flags: BTreeMap::new(),
            health_digest: ledger::MultisetDigest::default(),
            health_backlog: BTreeSet::new(),
            health_summaries: Vec::new(),
            health_pending: Vec::new(),
            health_symbols: Vec::new(),
            health_symbols_named: Vec::new(),
            health_ids: None,
            margin_cache: BTreeMap::new(),
            bound_anchors: BTreeMap::new(),
            gate_bound: None,
            headroom_bound: true,
            headroom_decided: 0,
            headroom_stepped: 0,
            health_recomputed: 0,
            house_exposure: BTreeMap::new(),
            house_digest: ledger::MultisetDigest::default(),
            hedging: hedging::HedgingState::default(),
            liq: liquidate::LiquidationState::default(),
            margin_add_ons: BTreeMap::new(),
            underlying_prices_cache: None,
            asset_instruments_cache: None,
            scratch: Vec::new(),
            settling_book: None,
            now_ms: 0,
            next_seq: 1,
            next_pending: 1,
        }
    }

    /// An engine with `config` installed by a genesis command (seq 1), for tools and tests.
    pub fn with_genesis(config: StateConfig) -> Result<Engine, EngineError> {
        let mut engine = Engine::new();
        match engine.apply(&genesis_envelope(config)) {
            Outcome::Applied { .. } => Ok(engine),
            Outcome::Refused { error } | Outcome::Rejected { error, .. } => Err(error),
            Outcome::Duplicate { .. } => unreachable!("a fresh engine has no session"),
        }
    }

    pub fn is_initialised(&self) -> bool {
        self.initialised
    }
    pub fn config(&self) -> &StateConfig {
        &self.config
    }
    pub fn config_digest(&self) -> [u8; 32] {
        self.config_digest
    }
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
    /// Sequence number the next journalled command will get (the first is 1).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
    pub fn principals(&self) -> BTreeMap<String, Role> {
        self.sessions.roles()
    }
    /// Ids remembered for exactly-once, over all principals.
    pub fn remembered_ids(&self) -> usize {
        self.sessions.iter().map(|(_, s)| s.window.len()).sum()
    }
    pub fn price(&self, symbol: &str) -> Option<(UsdPrice, u64)> {
        self.prices.get(symbol).copied()
    }

    /// Applies one command. Deterministic; never panics on any input (a panic is a broken
    /// invariant, which stops the node before anything is acknowledged).
    pub fn apply(&mut self, envelope: &Envelope) -> Outcome {
        self.apply_digested(envelope, |scratch| command_digest(&envelope.command, scratch))
    }

    /// [`Engine::apply`] of an envelope already encoded for the journal: the command's digest
    /// is taken of the encoding's command bytes (the same bytes `apply` encodes), so the
    /// outcome and the state are those of `apply`.
    pub fn apply_encoded(&mut self, encoded: &EncodedEnvelope<'_>) -> Outcome {
        self.apply_digested(encoded.envelope(), |_| digest_of(encoded.command_bytes()))
    }

    fn apply_digested(&mut self, envelope: &Envelope, digest: impl FnOnce(&mut Vec<u8>) -> sessions::CommandDigest) -> Outcome {
        if let Err(error) = check_shape(envelope) {
            return Outcome::Refused { error };
        }
        if !self.initialised {
            return self.apply_genesis(envelope, digest);
        }
        let principal = envelope.client.as_str();
        let Some((role, seen)) = self.sessions.lookup(principal, envelope.id) else {
            let why = "not a registered principal".to_string();
            return Outcome::Refused { error: EngineError::Unauthorized { principal: principal.into(), action: "act".into(), why } };
        };
        let digest = digest(&mut self.scratch);
        match seen {
            Seen::Remembered { first_seq, digest: first } if first == digest => return Outcome::Duplicate { first_seq },
            Seen::Remembered { first_seq, .. } => {
                let error = EngineError::IdReusedWithDifferentCommand { principal: principal.into(), id: envelope.id, first_seq };
                return Outcome::Refused { error };
            }
            Seen::TooOld { watermark } => {
                return Outcome::Refused { error: EngineError::IdTooOld { principal: principal.into(), id: envelope.id, watermark } };
            }
            Seen::New => {}
        }
        if let Err(error) = self.authorize(principal, role, &envelope.command) {
            return Outcome::Refused { error };
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.remember(principal, envelope.id, seq, digest);
        let mut events = Vec::new();
        let (before, price) = (self.accounts_before(&envelope.command), self.price_before(&envelope.command));
        if price.is_some() {
            self.build_pending_summaries();
        }
        self.gate_bound = None;
        let outcome = match self.execute(principal, &envelope.command, seq, &mut events) {
            Ok(()) => {
                self.after_command(&envelope.command, before, price, &mut events);
                // The gate's covering is of the book its command left: not after liquidations.
                self.gate_bound = None;
                self.liquidation_step(seq, &mut events);
                self.sweep(seq, &mut events);
                self.after_hedging(&envelope.command, &mut events);
                Outcome::Applied { seq, events }
            }
            Err(error) => {
                assert!(events.is_empty(), "a rejected command emits no event");
                Outcome::Rejected { seq, error }
            }
        };
        assert!(self.settling_book.is_none(), "repayments are deferred only within a book command");
        self.assert_invariants();
        outcome
    }

    fn apply_genesis(&mut self, envelope: &Envelope, digest: impl FnOnce(&mut Vec<u8>) -> sessions::CommandDigest) -> Outcome {
        let Command::Genesis { config } = &envelope.command else {
            return Outcome::Refused { error: EngineError::NotInitialised };
        };
        if let Err(error) = config.validate() {
            return Outcome::Refused { error };
        }
        let is_operator =
            envelope.client == SYSTEM_PRINCIPAL || config.principals.iter().any(|p| p.name == envelope.client && p.role == Role::Operator);
        if !is_operator {
            let why = "genesis is installed by the node or a configured operator".to_string();
            return Outcome::Refused {
                error: EngineError::Unauthorized { principal: envelope.client.clone(), action: "genesis".into(), why },
            };
        }
        self.install(config);
        let seq = self.next_seq;
        self.next_seq += 1;
        let digest = digest(&mut self.scratch);
        self.remember(&envelope.client, envelope.id, seq, digest);
        self.assert_invariants();
        Outcome::Applied { seq, events: vec![Event::Initialised { config_digest: hex(&self.config_digest) }] }
    }

    /// Installs a validated genesis configuration: assets, custodians, the broker's accounts
    /// in a fixed order, principals (and the node's own `@system` operator).
    fn install(&mut self, config: &StateConfig) {
        let broker_max = broker_accounts_max(&config.limits);
        self.ledger = Ledger::new(0, config.limits.accounts_max.saturating_add(broker_max));
        self.config = StateConfig { assets: vec![], custodians: vec![], markets: vec![], ..config.clone() };
        for asset in &config.assets {
            self.add_asset(&asset.symbol, asset.decimals).expect("validated genesis assets fit");
        }
        for name in BROKER_ACCOUNTS {
            self.open_account(name.to_string(), AccountKind::Broker, AccountPolicy::MayGoNegative).expect("broker accounts fit");
        }
        for custodian in &config.custodians {
            self.add_custodian(&custodian.id, &custodian.assets).expect("validated genesis custodians fit");
        }
        for market in &config.markets {
            self.add_market(market).expect("validated genesis markets fit");
        }
        self.register(SYSTEM_PRINCIPAL, Role::Operator);
        for p in &config.principals {
            self.register(&p.name, p.role);
        }
        self.install_oracle_guards();
        self.initialised = true;
        self.config_digest = self.config.digest();
        assert_eq!(&self.config, config, "the installed configuration is the genesis one");
    }

    pub(crate) fn add_asset(&mut self, symbol: &str, decimals: u8) -> Result<AssetIdx, EngineError> {
        let scale = Scale::new(decimals).map_err(|e| EngineError::ConfigRefused { key: format!("assets.{symbol}"), why: e.to_string() })?;
        let idx = self.ledger.add_asset().map_err(|e| self.ledger_error(e))?;
        assert_eq!(idx.0 as usize, self.assets.len(), "ledger and engine agree on asset indices");
        self.assets.push(AssetInfo { symbol: symbol.to_string(), scale });
        self.asset_index.insert(symbol.to_string(), idx);
        self.config.assets.push(state_config::AssetDef { symbol: symbol.into(), decimals });
        Ok(idx)
    }

    pub(crate) fn add_custodian(&mut self, id: &str, assets: &[String]) -> Result<(), EngineError> {
        let account =
            self.open_account(custody_account(id), AccountKind::Broker, AccountPolicy::NonPositive).map_err(|e| self.ledger_error(e))?;
        let assets = assets.iter().map(|a| self.asset_index[a]).collect();
        self.custodians.insert(id.to_string(), Custody { account, assets });
        self.config.custodians.push(state_config::CustodianDef { id: id.into(), assets: vec![] });
        let symbols: Vec<String> = self.custodians[id].assets.iter().map(|a| self.assets[a.0 as usize].symbol.clone()).collect();
        self.config.custodians.last_mut().expect("just pushed").assets = symbols;
        Ok(())
    }

    pub(crate) fn add_market(&mut self, def: &model::Market) -> Result<(), EngineError> {
        let market = markets::MarketState::new(def, &self.asset_index, &self.assets, self.config.limits.market_orders_max)?;
        let m = u16::try_from(self.markets.len())
            .map_err(|_| EngineError::LimitExceeded { limit: "markets_max".into(), max: u16::MAX.into() })?;
        if market.derivative.is_some() {
            if !self.config.underlyings.contains(&def.base) {
                return Err(EngineError::ConfigRefused {
                    key: format!("markets.{}.base", def.id),
                    why: format!("unknown underlying {:?}", def.base),
                });
            }
            let others: Vec<&model::Market> = self.config.markets.iter().chain([def]).collect();
            limits::check_settlement_result(&others)
                .map_err(|e| EngineError::ConfigRefused { key: format!("markets.{}", def.id), why: e.to_string() })?;
            let name = derivatives::clearing_account(&def.id);
            self.open_account(name, AccountKind::Broker, AccountPolicy::MayGoNegative).map_err(|e| self.ledger_error(e))?;
        }
        self.market_index.insert(def.id.clone(), m);
        self.markets.push(market);
        self.config.markets.push(def.clone());
        Ok(())
    }

    fn open_account(&mut self, name: String, kind: AccountKind, policy: AccountPolicy) -> Result<AccountIdx, LedgerError> {
        let idx = self.ledger.open_account(policy)?;
        assert_eq!(idx.0 as usize, self.account_names.len(), "ledger and engine agree on account indices");
        self.log_fact(b'A', name.as_bytes(), idx.0 as u64, kind as u64);
        self.account_index.insert(name.clone(), idx);
        self.account_names.push(name);
        self.account_kinds.push(kind);
        self.owners.add(&self.account_names, kind);
        if kind == AccountKind::Trader {
            self.trader_accounts += 1;
        }
        Ok(idx)
    }

    fn log_fact(&mut self, tag: u8, text: &[u8], a: u64, b: u64) {
        self.books_log.push(tag, &[text], a, b);
    }

    /// Admits a principal (the caller checked name and limit); a fact of the books.
    pub(crate) fn register(&mut self, name: &str, role: Role) {
        self.books_log.push(b'P', &[name.as_bytes()], role as u64, 0);
        self.sessions.register(name, role);
    }

    /// Remembers a journalled command in its principal's session; a fact of the sessions.
    fn remember(&mut self, principal: &str, id: u64, seq: u64, digest: sessions::CommandDigest) {
        self.session_log.push(b'C', &[principal.as_bytes(), &digest], id, seq);
        self.sessions.remember(principal, id, seq, digest, self.config.limits.client_ids_window);
    }

    fn format(&self, asset: AssetIdx, units: i128) -> String {
        money::format_decimal(units, self.assets[asset.0 as usize].scale)
    }

    fn transferred_event(&self, t: &Transfer) -> Event {
        Event::Transferred {
            debit: self.account_names[t.debit.0 as usize].clone(),
            credit: self.account_names[t.credit.0 as usize].clone(),
            asset: self.assets[t.asset.0 as usize].symbol.clone(),
            amount: self.format(t.asset, t.amount),
            reason: t.reason,
        }
    }

    pub(crate) fn ledger_error(&self, e: LedgerError) -> EngineError {
        let name = |a: AccountIdx| self.account_names.get(a.0 as usize).cloned().unwrap_or_else(|| format!("#{}", a.0));
        let symbol = |s: AssetIdx| self.assets.get(s.0 as usize).map(|a| a.symbol.clone()).unwrap_or_else(|| format!("#{}", s.0));
        match e {
            LedgerError::InsufficientBalance { account, asset, needed, available } => EngineError::InsufficientBalance {
                account: name(account),
                asset: symbol(asset),
                needed: self.format(asset, needed),
                available: self.format(asset, available),
            },
            LedgerError::InsufficientHolding { account, asset, needed, held } => EngineError::InsufficientCustody {
                custodian: name(account).trim_start_matches("@custody/").to_string(),
                asset: symbol(asset),
                needed: self.format(asset, needed),
                held: self.format(asset, held),
            },
            LedgerError::Overflow { account, asset } => {
                EngineError::Overflow { what: format!("balance of {} in {}", name(account), symbol(asset)) }
            }
            LedgerError::AccountLimit { max } => EngineError::LimitExceeded { limit: "accounts_max".into(), max: max.into() },
            LedgerError::UnknownAccount { account } => EngineError::UnknownAccount { account: name(account) },
            LedgerError::UnknownAsset { asset } => EngineError::UnknownAsset { symbol: symbol(asset) },
            LedgerError::NonPositiveAmount { amount } => EngineError::NonPositiveAmount { amount: amount.to_string() },
            LedgerError::SameAccount { account } => EngineError::SameAccount { account: name(account) },
            // The engine checks these before calling the ledger; reaching here is a bug.
            other @ (LedgerError::DuplicatePending { .. }
            | LedgerError::UnknownPending { .. }
            | LedgerError::AssetLimit { .. }
            | LedgerError::Inconsistent { .. }) => panic!("internal ledger error the engine rules out: {other}"),
        }
    }

    /// Hash of the broker's books: configuration, balances, accounts, references, prices,
    /// holds, withdrawals and time, without the exactly-once bookkeeping (sequence number and
    /// principals' sessions). A rejected or refused command leaves it unchanged.
    pub fn books_hash(&mut self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"clearhouse.engine.books");
        h.update(&ENGINE_FORMAT_VERSION.to_le_bytes());
        h.update(&[self.initialised as u8]);
        h.update(&self.config_digest);
        h.update(&self.ledger.digest());
        self.books_log.hash_into(&mut h);
        h.update(&self.now_ms.to_le_bytes());
        h.update(&self.next_pending.to_le_bytes());
        h.update(&(self.prices.len() as u64).to_le_bytes());
        for (symbol, (price, at_ms)) in &self.prices {
            h.update(&(symbol.len() as u32).to_le_bytes());
            h.update(symbol.as_bytes());
            h.update(&price.usd_e18().to_le_bytes());
            h.update(&at_ms.to_le_bytes());
        }
        h.update(&(self.holds.len() as u64).to_le_bytes());
        for hold in &self.holds {
            h.update(&hold.0.to_le_bytes());
        }
        h.update(&(self.withdrawals.len() as u64).to_le_bytes());
        h.update(&self.withdrawals_digest.to_bytes());
        for market in &self.markets {
            h.update(&market.book.digest());
        }
        h.update(&(self.order_holds.len() as u64).to_le_bytes());
        h.update(&self.holds_digest.to_bytes());
        self.hash_derivatives(&mut h);
        self.hash_risk_model(&mut h);
        self.hash_health(&mut h);
        self.hash_stable_prints(&mut h);
        self.hash_oracle_guards(&mut h);
        self.hash_house(&mut h);
        self.hash_hedging(&mut h);
        self.hash_liquidation(&mut h);
        self.hash_add_ons(&mut h);
        *h.finalize().as_bytes()
    }

    /// Derivative state: positions and borrows (multiset digests), borrow indices, each
    /// derivative market's funding boundary and expiry, the oracle history of option underlyings.
    fn hash_derivatives(&self, h: &mut blake3::Hasher) {
        h.update(&(self.positions.len() as u64).to_le_bytes());
        h.update(&self.positions_digest.to_bytes());
        h.update(&(self.borrows.len() as u64).to_le_bytes());
        h.update(&self.borrows_digest.to_bytes());
        for (asset, index) in &self.borrow_indices {
            h.update(&asset.0.to_le_bytes());
            h.update(&index.index_ray().to_le_bytes());
            h.update(&index.updated_s().to_le_bytes());
        }
        for market in &self.markets {
            if let Some(d) = &market.derivative {
                h.update(&d.last_funding_ms.map_or(u64::MAX, |t| t).to_le_bytes());
                h.update(&[d.expiry as u8]);
                let ix = &d.indices;
                for part in [ix.funding_e18, ix.mark_e18, ix.social_e18, ix.social_due, ix.expiry_price_e18.unwrap_or(i128::MIN)] {
                    h.update(&part.to_le_bytes());
                }
                for part in [ix.epoch, ix.boundaries, u64::from(ix.unsettled)] {
                    h.update(&part.to_le_bytes());
                }
                let (t, p) = d.premium.last.unwrap_or((u64::MAX, 0));
                for part in [
                    d.premium.sum_e18_ms.to_le_bytes(),
                    i128::from(d.premium.since_ms).to_le_bytes(),
                    i128::from(t).to_le_bytes(),
                    p.to_le_bytes(),
                ] {
                    h.update(&part);
                }
            }
        }
        h.update(&self.sweep_cursor.0.0.to_le_bytes());
        h.update(&self.sweep_cursor.1.to_le_bytes());
        for (symbol, history) in &self.price_history {
            h.update(&(symbol.len() as u32).to_le_bytes());
            h.update(symbol.as_bytes());
            h.update(&(history.len() as u64).to_le_bytes());
            for (t, p) in history {
                h.update(&t.to_le_bytes());
                h.update(&p.to_le_bytes());
            }
        }
    }

    /// The canonical state hash journalled after every batch: the books and the sessions.
    /// Cost: one hash per entry changed since the last call.
    pub fn state_hash(&mut self) -> [u8; 32] {
        let books = self.books_hash();
        let mut h = blake3::Hasher::new();
        h.update(b"clearhouse.engine");
        h.update(&books);
        self.session_log.hash_into(&mut h);
        h.update(&self.next_seq.to_le_bytes());
        *h.finalize().as_bytes()
    }

    /// Balances of every account, by name and asset symbol, as decimal strings (sorted).
    pub fn balances(&self) -> Vec<BalanceRow> {
        self.ledger
            .balances()
            .into_iter()
            .filter(|(_, _, b)| b.posted != 0 || b.reserved != 0 || b.incoming != 0)
            .map(|(account, asset, b)| BalanceRow {
                account: self.account_names[account.0 as usize].clone(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                posted: self.format(asset, b.posted),
                reserved: self.format(asset, b.reserved),
                incoming: self.format(asset, b.incoming),
            })
            .collect()
    }

    /// Cheap checks kept on in release builds after every journalled command: O(assets).
    pub fn assert_invariants(&self) {
        self.ledger.assert_all_conserved();
        assert_eq!(
            self.withdrawals.len() + self.order_holds.len(),
            self.ledger.pending_count(),
            "every pending transfer is a withdrawal or an order hold"
        );
        assert_eq!(self.account_names.len(), self.ledger.accounts_count() as usize, "account tables agree");
        assert!(self.trader_accounts <= self.config.limits.accounts_max, "trader accounts within the limit");
        assert!(self.withdrawals.len() <= self.config.limits.pending_withdrawals_max as usize, "withdrawals within the limit");
        assert!(self.external_refs.len() as u64 <= self.config.limits.deposit_refs_max, "references within the limit");
        assert!(self.health_flags.len() + self.health_backlog.len() <= 2 * self.trader_accounts as usize, "health of traders only");
        assert!(self.risk_model.staging.as_ref().is_none_or(|s| s.received < s.parts), "a staging is unfinished");
        for (asset, units) in &self.house_exposure {
            let max = self.markets.iter().filter(|m| m.base == *asset).filter_map(|m| m.house.map(|h| h.exposure_max)).max();
            assert!(max.is_some_and(|max| units.abs() <= max), "the house's exposure within its limit");
        }
    }

    /// Checks every invariant from scratch (for tests, recovery and audits).
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.ledger.is_conserved() {
            return Err(format!("conservation broken: {:?}", self.ledger.posted_sums()));
        }
        for (account, asset, balance) in self.ledger.balances() {
            let broken = match self.ledger.policy(account) {
                Some(AccountPolicy::NonNegative) => balance.available() < 0,
                Some(AccountPolicy::NonPositive) => balance.posted + balance.incoming > 0,
                _ => false,
            };
            if broken {
                let (name, symbol) = (&self.account_names[account.0 as usize], &self.assets[asset.0 as usize].symbol);
                return Err(format!("{name} crosses zero in {symbol}"));
            }
        }
        let pending = self.ledger.pending().count();
        if self.withdrawals.len() + self.order_holds.len() != pending {
            return Err(format!(
                "{} withdrawals and {} order holds but {pending} pending transfers",
                self.withdrawals.len(),
                self.order_holds.len()
            ));
        }
        for market in &self.markets {
            market.book.verify().map_err(|e| format!("book {}: {e}", market.def.id))?;
        }
        for (&(account, m, asset), &(id, amount)) in &self.order_holds {
            let market = &self.markets[m as usize];
            let expected = market.holds_of(account).map_err(|e| e.to_string())?;
            if !expected.contains(&(asset, amount)) || self.ledger.pending_transfer(id).is_none_or(|p| p.transfer.amount != amount) {
                let name = &self.account_names[account.0 as usize];
                return Err(format!("order hold of {name} in {} differs from its open orders", market.def.id));
            }
        }
        self.check_derivatives()?;
        self.check_settlement()?;
        for (id, w) in &self.withdrawals {
            let Some(p) = self.ledger.pending_transfer(w.pending) else { return Err(format!("withdrawal {id} has no pending transfer")) };
            if p.transfer.debit != w.account {
                return Err(format!("withdrawal {id} reserves another account"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BalanceRow {
    pub account: String,
    pub asset: String,
    pub posted: String,
    /// Pending debits (withdrawals requested, not yet confirmed).
    pub reserved: String,
    /// Pending credits (a custody account's outgoing withdrawals).
    pub incoming: String,
}

/// The envelope the node journals first: the genesis configuration, sent by `@system`.
pub fn genesis_envelope(config: StateConfig) -> Envelope {
    Envelope { client: SYSTEM_PRINCIPAL.into(), id: 1, command: Command::Genesis { config: Box::new(config) } }
}

/// Broker accounts beyond the trader accounts: the fixed ones, one custody account per
/// custodian, one house venue account (`@house/<venue>`) per custodian and one clearing account
/// per market.
pub(crate) fn broker_accounts_max(limits: &model::Limits) -> u32 {
    (BROKER_ACCOUNTS.len() as u32).saturating_add(limits.custodians_max.saturating_mul(2)).saturating_add(limits.markets_max)
}

pub(crate) fn owner_of(account: &str) -> &str {
    account.split_once('/').map(|(owner, _)| owner).unwrap_or(account)
}

/// Bounded, visible-ASCII principal name and text fields, before anything else is looked at:
/// every string an outcome may echo is then short and printable.
fn check_shape(envelope: &Envelope) -> Result<(), EngineError> {
    let client = envelope.client.as_str();
    if client != SYSTEM_PRINCIPAL && !model::is_principal_name(client, model::NAME_LEN_MAX as usize) {
        let why = format!("a principal is 1 to {} of a-z 0-9 _ -", model::NAME_LEN_MAX);
        return Err(EngineError::InvalidName { name: model::printable(client), why });
    }
    for (field, text) in envelope.command.text_fields() {
        let why = if text.is_empty() || text.len() > FIELD_BYTES_MAX {
            format!("{} bytes, expected 1 to {FIELD_BYTES_MAX}", text.len())
        } else if !text.bytes().all(|b| b.is_ascii_graphic()) {
            "only visible ASCII characters (no spaces, control or non-ASCII characters)".to_string()
        } else {
            continue;
        };
        return Err(EngineError::MalformedField { field: field.into(), why });
    }
    Ok(())
}

/// BLAKE3 of the command's canonical JSON, truncated; `scratch` is reused between calls.
fn command_digest(command: &Command, scratch: &mut Vec<u8>) -> sessions::CommandDigest {
    scratch.clear();
    command::write_command(scratch, command);
    digest_of(scratch)
}

/// BLAKE3 of a command's canonical JSON, truncated.
fn digest_of(command_json: &[u8]) -> sessions::CommandDigest {
    let mut digest = [0u8; sessions::COMMAND_DIGEST_LEN];
    digest.copy_from_slice(&blake3::hash(command_json).as_bytes()[..sessions::COMMAND_DIGEST_LEN]);
    digest
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
