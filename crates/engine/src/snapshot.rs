//! Snapshots: a versioned image of the whole engine state, configuration included, encoded
//! compactly with postcard (varint integers). Restoring one and replaying the commands after it
//! gives the same state hash as replaying from the start; the image's own state hash is
//! checked after restoring. The largest image the limits allow is computed in [`crate::limits`].

use crate::sessions::Session;
use crate::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    pub format_version: u32,
    pub config: StateConfig,
    pub ledger: ledger::LedgerSnapshot,
    pub account_names: Vec<String>,
    pub account_kinds: Vec<AccountKind>,
    pub prices: Vec<(String, UsdPrice, u64)>,
    pub holds: Vec<AccountIdx>,
    pub withdrawals: Vec<(String, Withdrawal)>,
    pub external_refs: Vec<[u8; 32]>,
    /// One image per market, in the order of `config.markets`.
    pub books: Vec<book::BookImage>,
    pub order_holds: Vec<(markets::HoldKey, markets::Hold)>,
    /// Derivative positions, borrows and their indices.
    pub positions: Vec<((AccountIdx, u16), clearing::pnl::PerpPosition, crate::settle::SettledAt)>,
    pub borrows: Vec<((AccountIdx, AssetIdx), Borrow)>,
    pub borrow_indices: Vec<(AssetIdx, clearing::interest::InterestIndex)>,
    /// Per derivative market: its index, last funding boundary, expiry state, premium prints
    /// and settlement indices.
    pub derivatives: Vec<(u16, Option<u64>, Expiry, crate::funding::PremiumAverage, crate::settle::MarketIndices)>,
    /// Where the next settlement sweep starts.
    pub sweep_cursor: (AccountIdx, u16),
    /// Oracle prints of option underlyings.
    pub price_history: Vec<(String, Vec<(u64, i128)>)>,
    pub sessions: Vec<(String, Session)>,
    /// [`sessions::Sessions::full_digest`] of `sessions`, checked when restoring.
    pub sessions_digest: [u8; 32],
    pub books_log: FactLog,
    pub session_log: FactLog,
    pub now_ms: u64,
    pub next_seq: u64,
    pub next_pending: u64,
    /// The risk model in force, its canonical (postcard) encoding.
    pub risk_model: Option<Vec<u8>>,
    pub risk_staging: Option<RiskStaging>,
    pub health_flags: Vec<(AccountIdx, Health)>,
    pub health_backlog: Vec<AccountIdx>,
    pub stable_prints: Vec<(String, Vec<UsdPrice>)>,
    pub house_exposure: Vec<(AssetIdx, i128)>,
    /// The guard of every configured oracle.
    pub oracle_guards: Vec<(String, oracle::Guard)>,
    /// `[hedging]` limits and outstanding hedges (absent before limits are installed).
    pub hedging: Option<hedging::HedgingImage>,
    pub liquidation: liquidate::LiquidationState,
    /// Initial-margin add-ons by owner (10^-18 USD, positive), in owner order (format 6).
    pub margin_add_ons: Vec<(String, i128)>,
    /// The state hash at the moment of the snapshot, checked again after restoring.
    pub state_hash: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format {found} is not the supported {supported}")]
    Version { found: u32, supported: u32 },
    #[error("snapshot is inconsistent: {what}")]
    Inconsistent { what: String },
    #[error("snapshot does not decode: {what}")]
    Decode { what: String },
}

fn inconsistent(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Inconsistent { what: what.into() }
}

impl Engine {
    pub fn to_snapshot(&mut self) -> EngineSnapshot {
        let state_hash = self.state_hash();
        EngineSnapshot {
            format_version: ENGINE_FORMAT_VERSION,
            config: self.config.clone(),
            ledger: self.ledger.to_snapshot(),
            account_names: self.account_names.clone(),
            account_kinds: self.account_kinds.clone(),
            prices: self.prices.iter().map(|(s, (p, t))| (s.clone(), *p, *t)).collect(),
            holds: self.holds.iter().copied().collect(),
            withdrawals: self.withdrawals.iter().map(|(k, w)| (k.clone(), w.clone())).collect(),
            external_refs: self.external_refs.iter().copied().collect(),
            books: self.markets.iter().map(|m| m.book.image()).collect(),
            order_holds: self.order_holds.iter().map(|(k, v)| (*k, *v)).collect(),
            positions: self.positions.iter().map(|(k, v)| (*k, *v, self.settled[k])).collect(),
            sweep_cursor: self.sweep_cursor,
            borrows: self.borrows.iter().map(|(k, v)| (*k, *v)).collect(),
            borrow_indices: self.borrow_indices.iter().map(|(k, v)| (*k, *v)).collect(),
            derivatives: (0..self.markets.len() as u16)
                .filter_map(|m| {
                    self.markets[m as usize].derivative.as_ref().map(|d| (m, d.last_funding_ms, d.expiry, d.premium, d.indices))
                })
                .collect(),
            price_history: self.price_history.iter().map(|(s, h)| (s.clone(), h.iter().copied().collect())).collect(),
            sessions: self.sessions.iter().map(|(n, s)| (n.clone(), s.clone())).collect(),
            sessions_digest: self.sessions.full_digest(),
            books_log: self.books_log.clone(),
            session_log: self.session_log.clone(),
            now_ms: self.now_ms,
            next_seq: self.next_seq,
            next_pending: self.next_pending,
            risk_model: self.risk_model_bytes(),
            risk_staging: self.risk_model.staging.clone(),
            health_flags: self.health_flags.iter().map(|(a, h)| (*a, *h)).collect(),
            health_backlog: self.health_backlog.iter().copied().collect(),
            stable_prints: self.stable_prints_image(),
            house_exposure: self.house_exposure.iter().map(|(a, u)| (*a, *u)).collect(),
            oracle_guards: self.oracle_guards_image(),
            hedging: self.hedging_image(),
            liquidation: self.liq.clone(),
            margin_add_ons: self.margin_add_ons.iter().map(|(o, u)| (o.clone(), *u)).collect(),
            state_hash,
        }
    }

    pub fn from_snapshot(s: EngineSnapshot) -> Result<Engine, SnapshotError> {
        if s.format_version != ENGINE_FORMAT_VERSION {
            return Err(SnapshotError::Version { found: s.format_version, supported: ENGINE_FORMAT_VERSION });
        }
        s.config.validate().map_err(|e| inconsistent(format!("configuration: {e}")))?;
        let mut engine = Engine::new();
        engine.initialised = true;
        engine.restore_assets(&s)?;
        engine.restore_accounts(&s)?;
        engine.restore_custodians(&s.config)?;
        engine.restore_markets(&s)?;
        engine.restore_derivatives(&s)?;
        engine.config = s.config;
        engine.config_digest = engine.config.digest();
        engine.prices = s.prices.into_iter().map(|(sym, p, t)| (sym, (p, t))).collect();
        engine.holds = s.holds.into_iter().collect();
        for (id, w) in s.withdrawals {
            if engine.ledger.pending_transfer(w.pending).is_none_or(|p| p.transfer.debit != w.account) {
                return Err(inconsistent("a withdrawal has no pending transfer of its account"));
            }
            engine.insert_withdrawal(&id, w);
        }
        engine.external_refs = s.external_refs.into_iter().collect();
        engine.sessions = sessions::Sessions::from_sessions(s.sessions);
        if engine.sessions.full_digest() != s.sessions_digest {
            return Err(inconsistent("sessions differ from their recorded digest"));
        }
        if !s.books_log.is_well_formed() || !s.session_log.is_well_formed() {
            return Err(inconsistent("partial fact chunk is not partial"));
        }
        engine.books_log = s.books_log;
        engine.session_log = s.session_log;
        engine.now_ms = s.now_ms;
        engine.next_seq = s.next_seq;
        engine.next_pending = s.next_pending;
        engine.restore_risk_model(s.risk_model.as_deref(), s.risk_staging).map_err(inconsistent)?;
        engine.restore_health(s.health_flags, s.health_backlog).map_err(inconsistent)?;
        engine.restore_stable_prints(s.stable_prints).map_err(inconsistent)?;
        engine.restore_house(s.house_exposure).map_err(inconsistent)?;
        engine.restore_oracle_guards(s.oracle_guards).map_err(inconsistent)?;
        engine.restore_hedging(s.hedging).map_err(inconsistent)?;
        engine.restore_liquidation(s.liquidation).map_err(inconsistent)?;
        engine.restore_add_ons(s.margin_add_ons).map_err(inconsistent)?;
        engine.check_invariants().map_err(inconsistent)?;
        if engine.state_hash() != s.state_hash {
            return Err(inconsistent("restored state hash differs from the recorded one"));
        }
        Ok(engine)
    }

    fn restore_assets(&mut self, s: &EngineSnapshot) -> Result<(), SnapshotError> {
        self.ledger = Ledger::from_snapshot(&s.ledger).map_err(|e| inconsistent(e.to_string()))?;
        if self.ledger.assets_count() as usize != s.config.assets.len() {
            return Err(inconsistent("ledger and configuration differ in assets"));
        }
        for (i, a) in s.config.assets.iter().enumerate() {
            let scale = Scale::new(a.decimals).map_err(|e| inconsistent(e.to_string()))?;
            self.assets.push(AssetInfo { symbol: a.symbol.clone(), scale });
            self.asset_index.insert(a.symbol.clone(), AssetIdx(i as u16));
        }
        Ok(())
    }

    fn restore_accounts(&mut self, s: &EngineSnapshot) -> Result<(), SnapshotError> {
        if s.account_names.len() != s.account_kinds.len() || s.account_names.len() != s.ledger.policies.len() {
            return Err(inconsistent("account tables differ in length"));
        }
        for (i, (name, kind)) in s.account_names.iter().zip(&s.account_kinds).enumerate() {
            if self.account_index.insert(name.clone(), AccountIdx(i as u32)).is_some() {
                return Err(inconsistent(format!("account {name} listed twice")));
            }
            if *kind == AccountKind::Trader {
                self.trader_accounts += 1;
                *self.subs_per_owner.entry(owner_of(name).to_string()).or_insert(0) += 1;
            }
        }
        self.account_names = s.account_names.clone();
        self.account_kinds = s.account_kinds.clone();
        self.owners = crate::owners::OwnerIndex::default();
        for (i, kind) in self.account_kinds.iter().enumerate() {
            self.owners.add(&self.account_names[..=i], *kind);
        }
        Ok(())
    }

    fn restore_markets(&mut self, s: &EngineSnapshot) -> Result<(), SnapshotError> {
        if s.books.len() != s.config.markets.len() {
            return Err(inconsistent("books and configured markets differ in number"));
        }
        for (m, (def, image)) in s.config.markets.iter().zip(&s.books).enumerate() {
            let mut market = markets::MarketState::new(def, &self.asset_index, &self.assets, s.config.limits.market_orders_max)
                .map_err(|e| inconsistent(e.to_string()))?;
            let book = book::Book::from_image(image).map_err(|e| inconsistent(format!("book {}: {e}", def.id)))?;
            if book.spec() != market.book.spec() {
                return Err(inconsistent(format!("book {} has another spec than its market", def.id)));
            }
            market.book = book;
            self.market_index.insert(def.id.clone(), m as u16);
            self.markets.push(market);
        }
        for &(key, (pending, amount)) in &s.order_holds {
            let (account, m, asset) = key;
            if self
                .ledger
                .pending_transfer(pending)
                .is_none_or(|p| p.transfer.debit != account || p.transfer.asset != asset || p.transfer.amount != amount)
            {
                return Err(inconsistent("an order hold has no pending transfer of its account"));
            }
            self.holds_digest.add(&markets::hold_hash(account, m, asset, pending, amount));
            self.order_holds.insert(key, (pending, amount));
        }
        Ok(())
    }

    fn restore_derivatives(&mut self, s: &EngineSnapshot) -> Result<(), SnapshotError> {
        let mut unsettled = Vec::new();
        for &(m, last_funding_ms, expiry, premium, indices) in &s.derivatives {
            let d = self
                .markets
                .get_mut(m as usize)
                .and_then(|market| market.derivative.as_mut())
                .ok_or_else(|| inconsistent("derivative state of a spot market"))?;
            d.last_funding_ms = last_funding_ms;
            d.expiry = expiry;
            if !premium.well_formed() {
                return Err(inconsistent("a premium average out of range"));
            }
            d.premium = premium;
            // The count is rebuilt as the positions are restored, then compared.
            d.indices = crate::settle::MarketIndices { unsettled: 0, ..indices };
            unsettled.push((m, indices.unsettled));
        }
        let accounts = self.account_names.len();
        for &((account, m), position, at) in &s.positions {
            let derivative = self.markets.get(m as usize).and_then(|market| market.derivative.as_ref());
            let outside = derivative.is_none_or(|d| d.holders >= d.positions_max || at.epoch > d.indices.epoch);
            if account.0 as usize >= accounts || outside || position.quantity == 0 {
                return Err(inconsistent("a position outside the derivative markets or their limits"));
            }
            self.set_position_at(account, m, position, at);
        }
        for (m, count) in unsettled {
            if self.markets[m as usize].derivative.as_ref().is_none_or(|d| d.indices.unsettled != count) {
                return Err(inconsistent("the count of unsettled positions"));
            }
        }
        self.sweep_cursor = s.sweep_cursor;
        for &((account, asset), borrow) in &s.borrows {
            if account.0 as usize >= accounts || asset.0 as usize >= self.assets.len() || borrow.scaled <= 0 {
                return Err(inconsistent("a borrow of an unknown account or asset"));
            }
            self.borrows_digest.add(&borrows::borrow_hash(account, asset, borrow));
            self.borrows.insert((account, asset), borrow);
        }
        self.borrow_indices = s.borrow_indices.iter().copied().collect();
        if self.borrows.keys().any(|(_, asset)| !self.borrow_indices.contains_key(asset)) {
            return Err(inconsistent("a borrow without its asset's index"));
        }
        for (symbol, history) in &s.price_history {
            if history.len() > PRICE_HISTORY_MAX || history.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(inconsistent(format!("price history of {symbol}")));
            }
            self.price_history.insert(symbol.clone(), history.iter().copied().collect());
        }
        Ok(())
    }

    fn restore_custodians(&mut self, config: &StateConfig) -> Result<(), SnapshotError> {
        for c in &config.custodians {
            let account =
                *self.account_index.get(&custody_account(&c.id)).ok_or_else(|| inconsistent(format!("no custody account for {}", c.id)))?;
            let assets = c.assets.iter().map(|a| self.asset_index[a]).collect();
            self.custodians.insert(c.id.clone(), Custody { account, assets });
        }
        Ok(())
    }

    /// Snapshot encoded for the journal (postcard; versioned by `format_version`).
    pub fn encode_snapshot(&mut self) -> Vec<u8> {
        postcard::to_allocvec(&self.to_snapshot()).expect("an EngineSnapshot always serialises")
    }

    pub fn decode_snapshot(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let snapshot: EngineSnapshot = postcard::from_bytes(bytes).map_err(|e| SnapshotError::Decode { what: e.to_string() })?;
        Engine::from_snapshot(snapshot)
    }
}
