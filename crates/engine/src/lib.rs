//! The clearhouse engine: a deterministic state machine.
//!
//! Commands go in ([`Envelope`]), outcomes with events come out ([`Outcome`]). The engine
//! reads no clock (time arrives as [`Command::AdvanceTime`]), draws no random numbers and does
//! no I/O; the journal and server around it do that. The same sequence of envelopes therefore
//! gives the same outcomes and the same [`Engine::state_hash`] on every replay.
//!
//! Invariants:
//! - every movement of money is a double-entry ledger transfer; per asset the posted balances
//!   sum to zero after every command (the ledger asserts it);
//! - a rejected command changes no balance, account, price or withdrawal: all checks run
//!   before any mutation; it only consumes a sequence number;
//! - each (client, id) is applied at most once: a retry answers `Duplicate { first_seq }`;
//! - every collection that grows has a limit from the configuration.
//!
//! Account names: trader accounts are `owner/sub` (`owner/main` by default); the broker's own
//! accounts are `@house`, `@fees`, `@insurance` and `@custody/<custodian>`, one per custodian.

mod command;
mod error;
mod snapshot;

pub use command::*;
pub use error::EngineError;
pub use snapshot::{EngineSnapshot, SnapshotError};

use ledger::{AccountIdx, AccountPolicy, AssetIdx, Ledger, LedgerError, PendingId, Reason, Transfer};
use model::Config;
use money::{Amount, Scale, UsdPrice};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the command, outcome, snapshot and state-hash formats.
pub const ENGINE_FORMAT_VERSION: u32 = 1;
/// Longest external reference or withdrawal id accepted.
pub const EXTERNAL_REF_LEN_MAX: usize = 128;
/// Append-only facts are folded into the state hash's chain in chunks of this many.
pub const LOG_CHUNK_FACTS: u32 = 1024;

pub const HOUSE: &str = "@house";
pub const FEES: &str = "@fees";
pub const INSURANCE: &str = "@insurance";

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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Withdrawal {
    pub pending: PendingId,
    pub account: AccountIdx,
    pub due_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    config_digest: [u8; 32],
    assets: Vec<AssetInfo>,
    asset_index: HashMap<String, AssetIdx>,
    custody: HashMap<String, AccountIdx>,
    account_names: Vec<String>,
    account_kinds: Vec<AccountKind>,
    account_index: HashMap<String, AccountIdx>,
    subs_per_owner: HashMap<String, u32>,
    ledger: Ledger,
    prices: BTreeMap<String, (UsdPrice, u64)>,
    holds: BTreeSet<AccountIdx>,
    withdrawals: BTreeMap<String, Withdrawal>,
    withdrawals_due: BTreeSet<(u64, PendingId, String)>,
    withdrawals_per_account: HashMap<AccountIdx, u32>,
    withdrawals_digest: ledger::MultisetDigest,
    external_refs: HashSet<String>,
    /// Client names interned to small numbers, so the seen-table key needs no allocation.
    clients: HashMap<String, u32>,
    client_names: Vec<String>,
    /// (client, client's command id) -> the sequence number of its first (journalled) outcome.
    seen: HashMap<(u32, u64), u64>,
    /// Append-only facts (account creations, used references, seen client ids) are hashed as a
    /// chain over fixed chunks of [`LOG_CHUNK_FACTS`] facts: `log_digest = blake3(log_digest ||
    /// chunk)`. Chunk boundaries depend only on the sequence of facts, never on when the state
    /// hash is asked for, so the hash stays canonical; the partial chunk is hashed as it stands.
    log_digest: [u8; 32],
    log_buffer: Vec<u8>,
    log_buffer_facts: u32,
    now_ms: u64,
    next_seq: u64,
    next_pending: u64,
}

impl Engine {
    /// A fresh engine: the broker's own accounts are opened in a fixed order.
    pub fn new(config: Config) -> Engine {
        let assets: Vec<AssetInfo> = config
            .assets
            .iter()
            .map(|a| AssetInfo {
                symbol: a.symbol.clone(),
                // The model validated decimals <= SCALE_MAX at load.
                scale: Scale::new(a.decimals).expect("decimals validated by model::Config"),
            })
            .collect();
        assert!(!assets.is_empty() && assets.len() <= u16::MAX as usize, "asset count out of range");
        let asset_index = assets.iter().enumerate().map(|(i, a)| (a.symbol.clone(), AssetIdx(i as u16))).collect();
        // Broker accounts do not count against the trader account limit.
        let broker_accounts = 3 + config.custodians.len() as u32;
        let ledger = Ledger::new(assets.len() as u16, config.limits.accounts_max.saturating_add(broker_accounts));
        let config_digest = config_digest(&config);
        let mut engine = Engine {
            config,
            config_digest,
            assets,
            asset_index,
            custody: HashMap::default(),
            account_names: Vec::new(),
            account_kinds: Vec::new(),
            account_index: HashMap::default(),
            subs_per_owner: HashMap::default(),
            ledger,
            prices: BTreeMap::new(),
            holds: BTreeSet::new(),
            withdrawals: BTreeMap::new(),
            withdrawals_due: BTreeSet::new(),
            withdrawals_per_account: HashMap::default(),
            withdrawals_digest: ledger::MultisetDigest::default(),
            external_refs: HashSet::default(),
            clients: HashMap::default(),
            client_names: Vec::new(),
            seen: HashMap::default(),
            log_digest: [0; 32],
            log_buffer: Vec::new(),
            log_buffer_facts: 0,
            now_ms: 0,
            next_seq: 1,
            next_pending: 1,
        };
        let custodians: Vec<String> = engine.config.custodians.iter().map(|c| c.id.clone()).collect();
        for name in [HOUSE, FEES, INSURANCE] {
            engine
                .open_account(name.to_string(), AccountKind::Broker, AccountPolicy::MayGoNegative)
                .expect("broker accounts fit the limit");
        }
        for custodian in custodians {
            let idx = engine
                .open_account(custody_account(&custodian), AccountKind::Broker, AccountPolicy::MayGoNegative)
                .expect("broker accounts fit the limit");
            engine.custody.insert(custodian, idx);
        }
        engine
    }

    pub fn config(&self) -> &Config {
        &self.config
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
    pub fn seen_count(&self) -> usize {
        self.seen.len()
    }

    /// Applies one command. Deterministic; never panics on any input.
    pub fn apply(&mut self, envelope: &Envelope) -> Outcome {
        let client = self.clients.get(envelope.client.as_str()).copied();
        if let Some(&first_seq) = client.and_then(|c| self.seen.get(&(c, envelope.id))) {
            return Outcome::Duplicate { first_seq };
        }
        let seq = self.next_seq;
        if self.seen.len() as u64 >= self.config.limits.client_command_ids_max {
            // Not remembered, so a retry is evaluated again (and rejected again).
            self.next_seq += 1;
            return Outcome::Rejected {
                seq,
                error: EngineError::LimitExceeded {
                    limit: "client_command_ids_max".into(),
                    max: self.config.limits.client_command_ids_max,
                },
            };
        }
        self.next_seq += 1;
        let client = client.unwrap_or_else(|| self.intern_client(&envelope.client));
        self.log_fact(b'C', envelope.client.as_bytes(), envelope.id, seq);
        self.seen.insert((client, envelope.id), seq);
        let mut events = Vec::new();
        match self.execute(&envelope.command, seq, &mut events) {
            Ok(()) => Outcome::Applied { seq, events },
            Err(error) => {
                debug_assert!(events.is_empty(), "a rejected command emits no event");
                Outcome::Rejected { seq, error }
            }
        }
    }

    fn execute(&mut self, command: &Command, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        match command {
            Command::CreateAccount { owner, sub } => self.create_account(owner, sub, events),
            Command::Deposit { account, asset, amount, custodian, external_ref } => {
                let account_idx = self.trader_account(account)?;
                let (asset_idx, units) = self.asset_amount(asset, amount)?;
                let custody = self.custodian(custodian)?;
                let reference = format!("deposit:{external_ref}");
                self.check_new_reference(&reference, external_ref)?;
                let transfer = Transfer {
                    debit: custody,
                    credit: account_idx,
                    asset: asset_idx,
                    amount: units,
                    reason: Reason::Deposit,
                    command_seq: seq,
                };
                self.ledger.post(&transfer).map_err(|e| self.ledger_error(e))?;
                self.use_reference(reference, seq);
                events.push(self.transferred_event(&transfer));
                Ok(())
            }
            Command::RequestWithdrawal { account, asset, amount, custodian, withdrawal_id } => {
                let account_idx = self.trader_account(account)?;
                let (asset_idx, units) = self.asset_amount(asset, amount)?;
                let custody = self.custodian(custodian)?;
                let reference = format!("withdrawal:{withdrawal_id}");
                self.check_new_reference(&reference, withdrawal_id)?;
                let limits = &self.config.limits;
                if self.withdrawals.len() as u64 >= limits.pending_withdrawals_max as u64 {
                    return Err(EngineError::LimitExceeded {
                        limit: "pending_withdrawals_max".into(),
                        max: limits.pending_withdrawals_max.into(),
                    });
                }
                let per_account = self.withdrawals_per_account.get(&account_idx).copied().unwrap_or(0);
                if per_account >= limits.pending_withdrawals_per_account_max {
                    return Err(EngineError::LimitExceeded {
                        limit: "pending_withdrawals_per_account_max".into(),
                        max: limits.pending_withdrawals_per_account_max.into(),
                    });
                }
                let due_ms = self
                    .now_ms
                    .checked_add(self.config.engine.withdrawal_latency_ms)
                    .ok_or_else(|| EngineError::Overflow { what: "withdrawal due time".into() })?;
                let pending = PendingId(self.next_pending);
                let transfer = Transfer {
                    debit: account_idx,
                    credit: custody,
                    asset: asset_idx,
                    amount: units,
                    reason: Reason::Withdrawal,
                    command_seq: seq,
                };
                self.ledger.reserve(pending, &transfer).map_err(|e| self.ledger_error(e))?;
                self.next_pending += 1;
                self.use_reference(reference, seq);
                let withdrawal = Withdrawal { pending, account: account_idx, due_ms };
                self.withdrawals_digest.add(&withdrawal_hash(withdrawal_id, &withdrawal));
                self.withdrawals_due.insert((due_ms, pending, withdrawal_id.clone()));
                self.withdrawals.insert(withdrawal_id.clone(), withdrawal);
                *self.withdrawals_per_account.entry(account_idx).or_insert(0) += 1;
                events.push(Event::WithdrawalPending {
                    withdrawal_id: withdrawal_id.clone(),
                    account: account.clone(),
                    asset: asset.clone(),
                    amount: self.format(asset_idx, units),
                    due_ms,
                });
                Ok(())
            }
            Command::CancelWithdrawal { withdrawal_id } => {
                if !self.withdrawals.contains_key(withdrawal_id) {
                    return Err(EngineError::UnknownWithdrawal { withdrawal_id: withdrawal_id.clone() });
                }
                self.finish_withdrawal(withdrawal_id, false, "cancelled by client", events)
            }
            Command::Transfer { from, to, asset, amount } => {
                let from_idx = self.trader_account(from)?;
                let to_idx = self.trader_account(to)?;
                if owner_of(from) != owner_of(to) {
                    return Err(EngineError::DifferentOwners { from: from.clone(), to: to.clone() });
                }
                let (asset_idx, units) = self.asset_amount(asset, amount)?;
                let transfer = Transfer {
                    debit: from_idx,
                    credit: to_idx,
                    asset: asset_idx,
                    amount: units,
                    reason: Reason::InternalTransfer,
                    command_seq: seq,
                };
                self.ledger.post(&transfer).map_err(|e| self.ledger_error(e))?;
                events.push(self.transferred_event(&transfer));
                Ok(())
            }
            Command::SetPrice { symbol, price_usd } => {
                let known = self.asset_index.contains_key(symbol) || self.config.underlying(symbol).is_some();
                if !known {
                    return Err(EngineError::UnknownAsset { symbol: symbol.clone() });
                }
                let price = UsdPrice::parse(price_usd)
                    .map_err(|e| EngineError::MalformedAmount { input: price_usd.clone(), reason: e.to_string() })?;
                if price.usd_e18() <= 0 {
                    return Err(EngineError::NonPositiveAmount { amount: price_usd.clone() });
                }
                self.prices.insert(symbol.clone(), (price, self.now_ms));
                events.push(Event::PriceSet { symbol: symbol.clone(), price_usd: price.to_string() });
                Ok(())
            }
            Command::SetHold { account, held } => {
                let idx = self.trader_account(account)?;
                if *held {
                    self.holds.insert(idx);
                } else {
                    self.holds.remove(&idx);
                }
                events.push(Event::HoldSet { account: account.clone(), held: *held });
                Ok(())
            }
            Command::AdvanceTime { now_ms } => {
                if *now_ms < self.now_ms {
                    return Err(EngineError::TimeWentBackwards { now_ms: self.now_ms, given_ms: *now_ms });
                }
                self.now_ms = *now_ms;
                events.push(Event::TimeAdvanced { now_ms: *now_ms });
                // Post every withdrawal now due, oldest first, if still allowed.
                while let Some((due_ms, _, withdrawal_id)) = self.withdrawals_due.first().cloned() {
                    if due_ms > self.now_ms {
                        break;
                    }
                    let account = self.withdrawals[&withdrawal_id].account;
                    if self.holds.contains(&account) {
                        self.finish_withdrawal(&withdrawal_id, false, "account on hold", events)?;
                    } else {
                        self.finish_withdrawal(&withdrawal_id, true, "", events)?;
                    }
                }
                Ok(())
            }
        }
    }

    pub(crate) fn intern_client(&mut self, name: &str) -> u32 {
        if let Some(&c) = self.clients.get(name) {
            return c;
        }
        let c = self.client_names.len() as u32;
        self.client_names.push(name.to_string());
        self.clients.insert(name.to_string(), c);
        c
    }

    fn create_account(&mut self, owner: &str, sub: &str, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let len_max = self.config.limits.name_len_max as usize;
        for part in [owner, sub] {
            let ok = !part.is_empty()
                && part.len() <= len_max
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
            if !ok {
                return Err(EngineError::InvalidName { name: part.to_string(), why: format!("1 to {len_max} of a-z 0-9 _ -") });
            }
        }
        let name = format!("{owner}/{sub}");
        if self.account_index.contains_key(&name) {
            return Err(EngineError::DuplicateAccount { account: name });
        }
        let subs = self.subs_per_owner.get(owner).copied().unwrap_or(0);
        let max = self.config.limits.sub_accounts_per_owner_max;
        if subs >= max {
            return Err(EngineError::LimitExceeded { limit: "sub_accounts_per_owner_max".into(), max: max.into() });
        }
        let traders = self.account_kinds.iter().filter(|k| **k == AccountKind::Trader).count() as u64;
        if traders >= self.config.limits.accounts_max as u64 {
            return Err(EngineError::LimitExceeded { limit: "accounts_max".into(), max: self.config.limits.accounts_max.into() });
        }
        self.open_account(name.clone(), AccountKind::Trader, AccountPolicy::NonNegative).map_err(|e| self.ledger_error(e))?;
        *self.subs_per_owner.entry(owner.to_string()).or_insert(0) += 1;
        events.push(Event::AccountCreated { account: name });
        Ok(())
    }

    fn open_account(&mut self, name: String, kind: AccountKind, policy: AccountPolicy) -> Result<AccountIdx, LedgerError> {
        let idx = self.ledger.open_account(policy)?;
        debug_assert_eq!(idx.0 as usize, self.account_names.len());
        self.log_fact(b'A', name.as_bytes(), idx.0 as u64, kind as u64);
        self.account_index.insert(name.clone(), idx);
        self.account_names.push(name);
        self.account_kinds.push(kind);
        Ok(idx)
    }

    fn finish_withdrawal(&mut self, withdrawal_id: &str, post: bool, why: &str, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let withdrawal = self
            .withdrawals
            .get(withdrawal_id)
            .cloned()
            .ok_or_else(|| EngineError::UnknownWithdrawal { withdrawal_id: withdrawal_id.into() })?;
        if post {
            let transfer = self.ledger.post_pending(withdrawal.pending).map_err(|e| self.ledger_error(e))?;
            events.push(Event::WithdrawalPosted { withdrawal_id: withdrawal_id.into() });
            events.push(self.transferred_event(&transfer));
        } else {
            self.ledger.void_pending(withdrawal.pending).map_err(|e| self.ledger_error(e))?;
            events.push(Event::WithdrawalVoided { withdrawal_id: withdrawal_id.into(), why: why.into() });
        }
        self.withdrawals.remove(withdrawal_id);
        self.withdrawals_due.remove(&(withdrawal.due_ms, withdrawal.pending, withdrawal_id.to_string()));
        self.withdrawals_digest.remove(&withdrawal_hash(withdrawal_id, &withdrawal));
        if let Some(count) = self.withdrawals_per_account.get_mut(&withdrawal.account) {
            *count -= 1;
            if *count == 0 {
                self.withdrawals_per_account.remove(&withdrawal.account);
            }
        }
        Ok(())
    }

    fn trader_account(&self, name: &str) -> Result<AccountIdx, EngineError> {
        let idx = *self.account_index.get(name).ok_or_else(|| EngineError::UnknownAccount { account: name.into() })?;
        if self.account_kinds[idx.0 as usize] != AccountKind::Trader {
            return Err(EngineError::WrongAccountKind {
                account: name.into(),
                why: "a broker account is not moved by client commands".into(),
            });
        }
        Ok(idx)
    }

    fn custodian(&self, id: &str) -> Result<AccountIdx, EngineError> {
        self.custody.get(id).copied().ok_or_else(|| EngineError::UnknownCustodian { custodian: id.into() })
    }

    fn asset_amount(&self, symbol: &str, amount: &str) -> Result<(AssetIdx, i128), EngineError> {
        let asset = *self.asset_index.get(symbol).ok_or_else(|| EngineError::UnknownAsset { symbol: symbol.into() })?;
        let units = Amount::parse(amount, self.assets[asset.0 as usize].scale).map_err(|e| EngineError::MalformedAmount {
            input: amount.chars().take(money::DECIMAL_STRING_LEN_MAX).collect(),
            reason: e.to_string(),
        })?;
        if !units.is_positive() {
            return Err(EngineError::NonPositiveAmount { amount: amount.into() });
        }
        Ok((asset, units.units()))
    }

    fn check_new_reference(&self, reference: &str, raw: &str) -> Result<(), EngineError> {
        if raw.is_empty() || raw.len() > EXTERNAL_REF_LEN_MAX {
            return Err(EngineError::InvalidName {
                name: raw.chars().take(EXTERNAL_REF_LEN_MAX).collect(),
                why: format!("1 to {EXTERNAL_REF_LEN_MAX} bytes"),
            });
        }
        if self.external_refs.contains(reference) {
            return Err(EngineError::DuplicateReference { external_ref: raw.into() });
        }
        if self.external_refs.len() as u64 >= self.config.limits.deposit_refs_max {
            return Err(EngineError::LimitExceeded { limit: "deposit_refs_max".into(), max: self.config.limits.deposit_refs_max });
        }
        Ok(())
    }

    fn use_reference(&mut self, reference: String, seq: u64) {
        self.log_fact(b'R', reference.as_bytes(), seq, 0);
        self.external_refs.insert(reference);
    }

    fn log_fact(&mut self, tag: u8, text: &[u8], a: u64, b: u64) {
        self.log_buffer.push(tag);
        self.log_buffer.extend_from_slice(&(text.len() as u32).to_le_bytes());
        self.log_buffer.extend_from_slice(text);
        self.log_buffer.extend_from_slice(&a.to_le_bytes());
        self.log_buffer.extend_from_slice(&b.to_le_bytes());
        self.log_buffer_facts += 1;
        if self.log_buffer_facts == LOG_CHUNK_FACTS {
            let mut chain = blake3::Hasher::new();
            chain.update(&self.log_digest);
            chain.update(&self.log_buffer);
            self.log_digest = *chain.finalize().as_bytes();
            self.log_buffer.clear();
            self.log_buffer_facts = 0;
        }
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

    fn ledger_error(&self, e: LedgerError) -> EngineError {
        let name = |a: AccountIdx| self.account_names.get(a.0 as usize).cloned().unwrap_or_else(|| format!("#{}", a.0));
        let symbol = |s: AssetIdx| self.assets.get(s.0 as usize).map(|a| a.symbol.clone()).unwrap_or_else(|| format!("#{}", s.0));
        match e {
            LedgerError::InsufficientBalance { account, asset, needed, available } => EngineError::InsufficientBalance {
                account: name(account),
                asset: symbol(asset),
                needed: self.format(asset, needed),
                available: self.format(asset, available),
            },
            LedgerError::Overflow { account, asset } => {
                EngineError::Overflow { what: format!("balance of {} in {}", name(account), symbol(asset)) }
            }
            LedgerError::AccountLimit { max } => EngineError::LimitExceeded { limit: "accounts_max".into(), max: max.into() },
            LedgerError::UnknownAccount { account } => EngineError::UnknownAccount { account: name(account) },
            LedgerError::UnknownAsset { asset } => EngineError::UnknownAsset { symbol: symbol(asset) },
            LedgerError::NonPositiveAmount { amount } => EngineError::NonPositiveAmount { amount: amount.to_string() },
            LedgerError::SameAccount { account } => EngineError::SameAccount { account: name(account) },
            // The engine checks these before calling the ledger; reaching here is a bug, and
            // it is still reported as a rejection rather than a crash.
            other => EngineError::Overflow { what: format!("internal ledger error: {other}") },
        }
    }

    /// The canonical state hash: BLAKE3 over a versioned encoding of the whole state. Maps
    /// that change in place are folded in as multiset digests (order-free, updated per change);
    /// append-only facts as a chain. Cost: one hash per entry changed since the last call.
    pub fn state_hash(&mut self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"clearhouse.engine");
        h.update(&ENGINE_FORMAT_VERSION.to_le_bytes());
        h.update(&self.config_digest);
        h.update(&self.ledger.digest());
        h.update(&self.log_digest);
        h.update(&(self.log_buffer.len() as u64).to_le_bytes());
        h.update(&self.log_buffer);
        h.update(&self.now_ms.to_le_bytes());
        h.update(&self.next_seq.to_le_bytes());
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
        *h.finalize().as_bytes()
    }

    /// Balances of every account, by name and asset symbol, as decimal strings (sorted).
    pub fn balances(&self) -> Vec<BalanceRow> {
        self.ledger
            .balances()
            .into_iter()
            .filter(|(_, _, b)| b.posted != 0 || b.reserved != 0)
            .map(|(account, asset, b)| BalanceRow {
                account: self.account_names[account.0 as usize].clone(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                posted: self.format(asset, b.posted),
                reserved: self.format(asset, b.reserved),
            })
            .collect()
    }

    /// Checks every invariant from scratch (for tests, recovery and audits).
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.ledger.is_conserved() {
            return Err(format!("conservation broken: {:?}", self.ledger.posted_sums()));
        }
        for (account, asset, balance) in self.ledger.balances() {
            if self.ledger.policy(account) == Some(AccountPolicy::NonNegative) && balance.available() < 0 {
                return Err(format!("{} is negative in {}", self.account_names[account.0 as usize], self.assets[asset.0 as usize].symbol));
            }
        }
        let reserved_by_withdrawals = self.withdrawals.len();
        let pending_in_ledger = self.ledger.pending().count();
        if reserved_by_withdrawals != pending_in_ledger {
            return Err(format!("{reserved_by_withdrawals} withdrawals but {pending_in_ledger} pending transfers"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BalanceRow {
    pub account: String,
    pub asset: String,
    pub posted: String,
    pub reserved: String,
}

fn owner_of(account: &str) -> &str {
    account.split_once('/').map(|(owner, _)| owner).unwrap_or(account)
}

fn withdrawal_hash(id: &str, w: &Withdrawal) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&(id.len() as u32).to_le_bytes());
    h.update(id.as_bytes());
    h.update(&w.pending.0.to_le_bytes());
    h.update(&w.account.0.to_le_bytes());
    h.update(&w.due_ms.to_le_bytes());
    *h.finalize().as_bytes()
}

fn config_digest(config: &Config) -> [u8; 32] {
    // The configuration's canonical JSON; serde_json writes struct fields in declaration order.
    let json = serde_json::to_vec(config).expect("a Config always serialises");
    *blake3::hash(&json).as_bytes()
}

#[cfg(test)]
mod tests;
