//! Execution of an authorized command. Every function checks everything before it changes
//! anything, so an error leaves the books exactly as they were.

use crate::state_config::{self, ConfigChange};
use crate::*;
use ledger::Reason;
use money::Amount;

/// Longest external reference, withdrawal id, destination or chain reference: 1 to this many of
/// `A-Z a-z 0-9 _ - . :` (a transaction hash, an address, `venue-transfer-88412`).
pub const REFERENCE_LEN_MAX: usize = 128;
/// The latest time the engine accepts: 2200-01-01T00:00:00Z in Unix milliseconds (a value in
/// microseconds or nanoseconds is far above it and refused).
pub const TIME_MS_MAX: u64 = 7_258_118_400_000;

impl Engine {
    pub(crate) fn execute(&mut self, principal: &str, command: &Command, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        match command {
            Command::Genesis { .. } => Err(EngineError::AlreadyInitialised),
            Command::Configure { change } => self.configure(change, events),
            Command::RegisterPrincipal { name, role } => self.register_principal(name, *role, events),
            Command::CreateAccount { owner, sub } => self.create_account(owner, sub, events),
            Command::Deposit { account, asset, amount, custodian, external_ref } => {
                self.deposit(account, asset, amount, custodian, external_ref, seq, events)
            }
            Command::RequestWithdrawal { account, asset, amount, custodian, destination, withdrawal_id } => {
                let request = withdrawals::Request { account, asset, amount, custodian, destination, withdrawal_id };
                self.request_withdrawal(&request, seq, events)
            }
            Command::ConfirmWithdrawal { withdrawal_id, chain_ref } => self.confirm_withdrawal(withdrawal_id, chain_ref, seq, events),
            Command::CancelWithdrawal { withdrawal_id } => self.cancel_withdrawal(withdrawal_id, events),
            Command::Transfer { from, to, asset, amount } => self.transfer(from, to, asset, amount, seq, events),
            Command::SetPrice { symbol, price_usd } => self.set_price(principal, symbol, price_usd, seq, events),
            Command::SetHold { account, held } => self.set_hold(account, *held, events),
            Command::AdvanceTime { now_ms } => self.advance_time(*now_ms, seq, events),
            Command::PlaceOrder { account, market, client_order_id, side, kind, price, qty } => {
                let request = PlaceRequest {
                    account,
                    market,
                    client_order_id: *client_order_id,
                    side: *side,
                    kind: *kind,
                    price: price.as_deref(),
                    qty,
                };
                self.place_order(&request, seq, events)
            }
            Command::AmendOrder { account, market, order_id, price, qty } => {
                self.amend_order(account, market, *order_id, price, qty, seq, events)
            }
            Command::CancelOrder { account, market, order_id } => {
                let (account, m) = (self.trader_account(account)?, self.market(market)?);
                let order = book::OrderRef::Id(book::OrderId(*order_id));
                self.apply_book(m, &book::Command::Cancel { account: book::AccountId(account.0), order }, seq, events)
            }
            Command::CancelAllOrders { account, market } => {
                let (account, m) = (self.trader_account(account)?, self.market(market)?);
                self.apply_book(m, &book::Command::CancelAll { account: book::AccountId(account.0), side: None }, seq, events)
            }
            Command::InstallRiskModelPart { digest, part, parts, data } => {
                let part = risk_model::ModelPart { digest, part: *part, parts: *parts, data };
                self.install_risk_model_part(&part, events)
            }
            Command::SetHedging { config } => self.set_hedging(config, events),
            Command::HedgeExecuted { hedge_id, venue, asset_in, amount_in, asset_out, amount_out, chain_ref } => {
                let x = hedging::Execution { hedge_id: *hedge_id, venue, asset_in, amount_in, asset_out, amount_out, chain_ref };
                self.hedge_executed(&x, seq, events)
            }
            Command::CancelHedge { hedge_id } => self.cancel_hedge(*hedge_id, events),
            Command::RegisterLiquidator { account, approved } => self.register_liquidator(account, *approved, events),
            Command::FundInsurance { asset, amount } => self.fund_insurance(asset, amount, seq, events),
            Command::SetMarginAddOn { owner, amount_usd } => self.set_margin_add_on(owner, amount_usd, events),
            Command::VenueFund { venue, asset, amount, custodian } => {
                self.venue_fund(&venue_collateral::VenueMove { venue, asset, amount, custodian }, seq, events)
            }
            Command::VenueDefund { venue, asset, amount, custodian } => {
                self.venue_defund(&venue_collateral::VenueMove { venue, asset, amount, custodian }, seq, events)
            }
            Command::VenueSettled { venue, asset, balance, liquidated, external_ref } => {
                let s = venue_collateral::VenueSettlement { venue, asset, balance, liquidated: *liquidated, external_ref };
                self.venue_settled(&s, seq, events)
            }
            Command::DepositHouseCapital { asset, amount, custodian, external_ref } => {
                self.deposit_house_capital(asset, amount, custodian, external_ref, seq, events)
            }
            Command::BidLiquidation { auction_id, account, qty, limit_price } => {
                let bid = liquidate::Bid { auction_id: *auction_id, account, qty, limit_price };
                self.bid_liquidation(&bid, seq, events)
            }
        }
    }

    fn configure(&mut self, change: &ConfigChange, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let limits = self.config.limits.clone();
        match change {
            ConfigChange::AddAsset { symbol, decimals } => {
                let existing = self.asset_index.keys().map(String::as_str).collect();
                state_config::check_asset(&state_config::AssetDef { symbol: symbol.clone(), decimals: *decimals }, &existing)?;
                check_room("assets_max", self.assets.len(), limits.assets_max)?;
                self.add_asset(symbol, *decimals)?;
            }
            ConfigChange::AddUnderlying { symbol } => {
                state_config::check_identifier("underlying", symbol)?;
                if self.config.underlyings.contains(symbol) {
                    return Err(EngineError::ConfigRefused { key: format!("underlyings.{symbol}"), why: "already exists".into() });
                }
                check_room("assets_max", self.config.underlyings.len(), limits.assets_max)?;
                self.config.underlyings.push(symbol.clone());
            }
            ConfigChange::AddCustodian { id, assets } => {
                let known = self.asset_index.keys().map(String::as_str).collect();
                state_config::check_custodian(&state_config::CustodianDef { id: id.clone(), assets: assets.clone() }, &known)?;
                if self.custodians.contains_key(id) {
                    return Err(EngineError::ConfigRefused { key: format!("custodians.{id}"), why: "already exists".into() });
                }
                check_room("custodians_max", self.custodians.len(), limits.custodians_max)?;
                self.add_custodian(id, assets)?;
            }
            ConfigChange::AllowCustodyAsset { custodian, asset } => self.allow_custody_asset(custodian, asset)?,
            ConfigChange::AddMarket { market } => {
                if self.market_index.contains_key(&market.id) {
                    return Err(EngineError::ConfigRefused { key: format!("markets.{}", market.id), why: "already exists".into() });
                }
                check_room("markets_max", self.markets.len(), limits.markets_max)?;
                crate::limits::check_market(market)
                    .map_err(|e| EngineError::ConfigRefused { key: format!("markets.{}", market.id), why: e.to_string() })?;
                let mut markets: Vec<&model::Market> = self.markets.iter().map(|m| &m.def).collect();
                markets.push(market);
                self.check_liquidation_room(&markets, &limits)?;
                self.add_market(market)?;
            }
            ConfigChange::SetLimits { limits } => self.set_limits(limits)?,
            ConfigChange::SetSettings { settings } => {
                state_config::validate_settings(settings)?;
                self.config.settings = settings.clone();
            }
            ConfigChange::SetOracle { oracle } => self.set_oracle(oracle)?,
        }
        self.config_digest = self.config.digest();
        events.push(Event::ConfigChanged { change: change.clone(), config_digest: hex(&self.config_digest) });
        Ok(())
    }

    fn allow_custody_asset(&mut self, custodian: &str, asset: &str) -> Result<(), EngineError> {
        let asset_idx = *self.asset_index.get(asset).ok_or_else(|| EngineError::UnknownAsset { symbol: asset.into() })?;
        let custody = self.custodians.get_mut(custodian).ok_or_else(|| EngineError::UnknownCustodian { custodian: custodian.into() })?;
        if !custody.assets.insert(asset_idx) {
            return Err(EngineError::ConfigRefused {
                key: format!("custodians.{custodian}.assets"),
                why: format!("already holds {asset}"),
            });
        }
        let def = self.config.custodians.iter_mut().find(|c| c.id == custodian).expect("configured custodians mirror the table");
        def.assets.push(asset.to_string());
        Ok(())
    }

    /// New limits must hold what exists already and must reconcile with the journal's limits.
    /// With liquidation configured, one account's liquidation at its worst must fit a record
    /// beside the largest ordinary result (`limits::check_liquidation`).
    fn check_liquidation_room(&self, markets: &[&model::Market], limits: &model::Limits) -> Result<(), EngineError> {
        if self.config.liquidation.is_none() {
            return Ok(());
        }
        crate::limits::check_liquidation(markets, limits)
            .map_err(|e| EngineError::ConfigRefused { key: "liquidation".into(), why: e.to_string() })
    }

    fn set_limits(&mut self, limits: &model::Limits) -> Result<(), EngineError> {
        state_config::validate_limits(limits)?;
        self.config.check_counts(limits)?;
        self.check_liquidation_room(&self.markets.iter().map(|m| &m.def).collect::<Vec<_>>(), limits)?;
        let too_small = |key: &str, used: u64, max: u64| {
            (used > max).then(|| EngineError::ConfigRefused { key: format!("limits.{key}"), why: format!("{used} already in use") })
        };
        let max_subs = self.subs_per_owner.values().copied().max().unwrap_or(0);
        let max_per_account = self.withdrawals_per_account.values().copied().max().unwrap_or(0);
        let checks = [
            too_small("accounts_max", self.trader_accounts.into(), limits.accounts_max.into()),
            too_small("sub_accounts_per_owner_max", max_subs.into(), limits.sub_accounts_per_owner_max.into()),
            too_small("principals_max", self.sessions.len() as u64 - 1, limits.principals_max.into()),
            too_small("pending_withdrawals_max", self.withdrawals.len() as u64, limits.pending_withdrawals_max.into()),
            too_small("pending_withdrawals_per_account_max", max_per_account.into(), limits.pending_withdrawals_per_account_max.into()),
            too_small("deposit_refs_max", self.external_refs.len() as u64, limits.deposit_refs_max),
            too_small(
                "market_orders_max",
                self.markets.iter().map(|m| u64::from(m.def.book_orders_max)).max().unwrap_or(0),
                limits.market_orders_max.into(),
            ),
        ];
        if let Some(error) = checks.into_iter().flatten().next() {
            return Err(error);
        }
        let broker_max = broker_accounts_max(limits);
        self.ledger.set_accounts_max(limits.accounts_max.saturating_add(broker_max)).map_err(|e| self.ledger_error(e))?;
        self.sessions.trim(limits.client_ids_window);
        self.config.limits = limits.clone();
        Ok(())
    }

    fn register_principal(&mut self, name: &str, role: model::Role, events: &mut Vec<Event>) -> Result<(), EngineError> {
        state_config::check_principal_name(name)?;
        if self.sessions.contains(name) {
            return Err(EngineError::DuplicatePrincipal { name: name.into() });
        }
        // The node's own @system principal does not count against the limit.
        check_room("principals_max", self.sessions.len() - 1, self.config.limits.principals_max)?;
        self.register(name, role);
        events.push(Event::PrincipalRegistered { name: name.into(), role });
        Ok(())
    }

    fn create_account(&mut self, owner: &str, sub: &str, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let len_max = self.config.limits.name_len_max as usize;
        for part in [owner, sub] {
            if !model::is_principal_name(part, len_max) {
                return Err(EngineError::InvalidName { name: part.into(), why: format!("1 to {len_max} of a-z 0-9 _ -") });
            }
        }
        let name = format!("{owner}/{sub}");
        if self.account_index.contains_key(&name) {
            return Err(EngineError::DuplicateAccount { account: name });
        }
        let subs = self.subs_per_owner.get(owner).copied().unwrap_or(0);
        check_room("sub_accounts_per_owner_max", subs as usize, self.config.limits.sub_accounts_per_owner_max)?;
        check_room("accounts_max", self.trader_accounts as usize, self.config.limits.accounts_max)?;
        self.open_account(name.clone(), AccountKind::Trader, AccountPolicy::NonNegative).map_err(|e| self.ledger_error(e))?;
        *self.subs_per_owner.entry(owner.to_string()).or_insert(0) += 1;
        events.push(Event::AccountCreated { account: name });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn deposit(
        &mut self,
        account: &str,
        asset: &str,
        amount: &str,
        custodian: &str,
        external_ref: &str,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let account_idx = self.trader_account(account)?;
        let (asset_idx, units) = self.asset_amount(asset, amount)?;
        let custody = self.custody_for(custodian, asset_idx)?;
        self.check_held_for_clients(asset_idx, units)?;
        let reference = self.new_reference("deposit", external_ref)?;
        let transfer =
            Transfer { debit: custody, credit: account_idx, asset: asset_idx, amount: units, reason: Reason::Deposit, command_seq: seq };
        self.ledger.post(&transfer).map_err(|e| self.ledger_error(e))?;
        self.use_reference(reference, seq);
        events.push(self.transferred_event(&transfer));
        self.repay_borrow(account_idx, asset_idx, seq, events);
        Ok(())
    }

    /// What all custodians hold of an asset for clients, plus `units`, stays within an `i128`.
    /// Every other balance of the asset is at least zero and together they sum to that total, so
    /// no balance can overflow when a trade or a fee credits it.
    pub(crate) fn check_held_for_clients(&self, asset: AssetIdx, units: i128) -> Result<(), EngineError> {
        let held = self.custodians.values().try_fold(0i128, |sum, c| sum.checked_sub(self.ledger.balance(c.account, asset).posted));
        match held.and_then(|h| h.checked_add(units)) {
            Some(_) => Ok(()),
            None => Err(EngineError::Overflow { what: format!("{} held for clients beyond i128", self.assets[asset.0 as usize].symbol) }),
        }
    }

    /// A held account moves nothing out: no withdrawal, transfer or new order.
    pub(crate) fn check_not_held(&self, account: AccountIdx) -> Result<(), EngineError> {
        if self.holds.contains(&account) {
            return Err(EngineError::AccountOnHold { account: self.account_names[account.0 as usize].clone() });
        }
        Ok(())
    }

    fn transfer(&mut self, from: &str, to: &str, asset: &str, amount: &str, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let from_idx = self.trader_account(from)?;
        self.check_not_held(from_idx)?;
        let to_idx = self.trader_account(to)?;
        if owner_of(from) != owner_of(to) {
            return Err(EngineError::DifferentOwners { from: from.into(), to: to.into() });
        }
        let (asset_idx, units) = self.asset_amount(asset, amount)?;
        self.check_pending_owed(from_idx, asset_idx, units)?;
        self.check_free_collateral(from_idx, asset_idx, units)?;
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
        self.repay_borrow(to_idx, asset_idx, seq, events);
        Ok(())
    }

    /// A print: through the symbol's guard where it has one (`oracle_feed`), else the price.
    fn set_price(&mut self, principal: &str, symbol: &str, price_usd: &str, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        if symbol == NUMERAIRE {
            return Err(EngineError::NumerairePrice { symbol: symbol.into() });
        }
        if !self.asset_index.contains_key(symbol) && !self.config.underlyings.iter().any(|u| u == symbol) {
            return Err(EngineError::UnknownAsset { symbol: symbol.into() });
        }
        let price =
            UsdPrice::parse(price_usd).map_err(|e| EngineError::MalformedAmount { input: price_usd.into(), reason: e.to_string() })?;
        if price.usd_e18() <= 0 {
            return Err(EngineError::NonPositiveAmount { amount: price_usd.into() });
        }
        if self.oracle_def(symbol).is_some() {
            return self.guarded_print(principal, symbol, price, seq, events);
        }
        if self.sessions.role(principal) == Some(Role::Feed) {
            let why = "a feed prints only symbols whose oracle names it".into();
            return Err(EngineError::PricePrintRejected { symbol: symbol.into(), principal: principal.into(), why });
        }
        self.apply_price(symbol, price, seq, events);
        Ok(())
    }

    /// The engine's price of `symbol` becomes `price` (recorded for expiry, references moved).
    pub(crate) fn apply_price(&mut self, symbol: &str, price: UsdPrice, seq: u64, events: &mut Vec<Event>) {
        self.prices.insert(symbol.to_string(), (price, self.now_ms));
        self.record_print(symbol, price.usd_e18());
        events.push(Event::PriceSet { symbol: symbol.into(), price_usd: price.to_string() });
        self.update_reference_prices(symbol, seq, events);
        self.record_premiums(symbol);
    }

    /// Adds or replaces the guard of a symbol.
    fn set_oracle(&mut self, def: &model::OracleDef) -> Result<(), EngineError> {
        let priced = |s: &str| self.asset_index.contains_key(s) || self.config.underlyings.iter().any(|u| u == s);
        crate::oracle_feed::check_oracle(def, &priced)?;
        let existing = self.config.oracles.iter().position(|o| o.symbol == def.symbol);
        if existing.is_none() {
            check_room("oracles", self.config.oracles.len(), self.config.limits.assets_max)?;
        }
        match existing {
            Some(i) => self.config.oracles[i] = def.clone(),
            None => self.config.oracles.push(def.clone()),
        }
        self.oracle_guards.remove(&def.symbol);
        self.install_oracle_guards();
        Ok(())
    }

    fn set_hold(&mut self, account: &str, held: bool, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let idx = self.trader_account(account)?;
        if held {
            self.holds.insert(idx);
        } else {
            self.holds.remove(&idx);
        }
        events.push(Event::HoldSet { account: account.into(), held });
        Ok(())
    }

    /// Moves the clock forward by at most `time_step_ms_max`; every check precedes the change.
    fn advance_time(&mut self, now_ms: u64, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        if now_ms > TIME_MS_MAX {
            return Err(EngineError::TimeOutOfRange { given_ms: now_ms, max_ms: TIME_MS_MAX });
        }
        if now_ms < self.now_ms {
            return Err(EngineError::TimeWentBackwards { now_ms: self.now_ms, given_ms: now_ms });
        }
        let step_ms = now_ms - self.now_ms;
        let max_ms = self.config.settings.time_step_ms_max;
        // The very first clock setting of a journal may jump from zero to the present.
        if step_ms > max_ms && self.now_ms != 0 {
            return Err(EngineError::TimeStepTooLarge { step_ms, max_ms });
        }
        let clearing = self.plan_clock(now_ms)?;
        self.now_ms = now_ms;
        events.push(Event::TimeAdvanced { now_ms });
        self.report_overdue(events);
        self.apply_clock(clearing, seq, events);
        Ok(())
    }

    pub(crate) fn trader_account(&self, name: &str) -> Result<AccountIdx, EngineError> {
        let idx = *self.account_index.get(name).ok_or_else(|| EngineError::UnknownAccount { account: name.into() })?;
        if self.account_kinds[idx.0 as usize] != AccountKind::Trader {
            let why = "a broker account is not moved by client commands".to_string();
            return Err(EngineError::WrongAccountKind { account: name.into(), why });
        }
        Ok(idx)
    }

    /// The custody account of `custodian`, which must be allowed to hold `asset`.
    pub(crate) fn custody_for(&self, custodian: &str, asset: AssetIdx) -> Result<AccountIdx, EngineError> {
        let custody = self.custodians.get(custodian).ok_or_else(|| EngineError::UnknownCustodian { custodian: custodian.into() })?;
        if !custody.assets.contains(&asset) {
            let asset = self.assets[asset.0 as usize].symbol.clone();
            return Err(EngineError::AssetNotAtCustodian { custodian: custodian.into(), asset });
        }
        Ok(custody.account)
    }

    pub(crate) fn asset_amount(&self, symbol: &str, amount: &str) -> Result<(AssetIdx, i128), EngineError> {
        let asset = *self.asset_index.get(symbol).ok_or_else(|| EngineError::UnknownAsset { symbol: symbol.into() })?;
        let units = Amount::parse(amount, self.assets[asset.0 as usize].scale)
            .map_err(|e| EngineError::MalformedAmount { input: amount.into(), reason: e.to_string() })?;
        if !units.is_positive() {
            return Err(EngineError::NonPositiveAmount { amount: amount.into() });
        }
        Ok((asset, units.units()))
    }

    /// A reference not used before in its namespace, well formed, within the limit.
    pub(crate) fn new_reference(&self, namespace: &str, raw: &str) -> Result<[u8; 32], EngineError> {
        check_reference_text(raw)?;
        let mut h = blake3::Hasher::new();
        h.update(namespace.as_bytes());
        h.update(b":");
        h.update(raw.as_bytes());
        let key = *h.finalize().as_bytes();
        if self.external_refs.contains(&key) {
            return Err(EngineError::DuplicateReference { external_ref: raw.into() });
        }
        let max = self.config.limits.deposit_refs_max;
        if self.external_refs.len() as u64 >= max {
            return Err(EngineError::LimitExceeded { limit: "deposit_refs_max".into(), max });
        }
        Ok(key)
    }

    pub(crate) fn use_reference(&mut self, key: [u8; 32], seq: u64) {
        self.log_fact(b'R', &key, seq, 0);
        assert!(self.external_refs.insert(key), "a reference is used once");
    }
}

pub(crate) struct PlaceRequest<'a> {
    account: &'a str,
    market: &'a str,
    client_order_id: u64,
    side: markets::OrderSide,
    kind: markets::OrderKind,
    price: Option<&'a str>,
    qty: &'a str,
}

impl Engine {
    fn place_order(&mut self, r: &PlaceRequest<'_>, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let account = self.trader_account(r.account)?;
        self.check_not_held(account)?;
        let m = self.market(r.market)?;
        self.check_derivative_order(m)?;
        let market = &self.markets[m as usize];
        let refused = |reason: String| EngineError::OrderRefused { market: r.market.into(), reason };
        let side: book::Side = r.side.into();
        let qty = market.qty_from_decimal(r.qty, &self.assets)?;
        let price = match (r.kind, r.price) {
            (markets::OrderKind::Market, None) => {
                let reference = market.book.reference_price().ok_or_else(|| refused("no oracle price yet for this market".into()))?;
                market
                    .book
                    .spec()
                    .protective_limit(side, reference)
                    .ok_or_else(|| refused("the price band is narrower than a tick".into()))?
            }
            (markets::OrderKind::Market, Some(_)) => {
                return Err(EngineError::MalformedField {
                    field: "price".into(),
                    why: "a market order trades within the band; it takes no price".into(),
                });
            }
            (_, Some(text)) => market.price_from_decimal(text, &self.assets)?,
            (_, None) => return Err(EngineError::MalformedField { field: "price".into(), why: "required for this kind of order".into() }),
        };
        // A price off the grid or outside the band is the book's to refuse, before any hold.
        let rests = matches!(r.kind, markets::OrderKind::Limit | markets::OrderKind::PostOnly);
        self.check_market_rules(m, price, qty, rests)?;
        if rests {
            self.check_owner_room(m, account)?;
        }
        let market = &self.markets[m as usize];
        let hold = market.hold_of(side, price, qty)?;
        self.check_can_hold(account, m, hold, None)?;
        self.check_order_risk(account, m, side, price, qty, None)?;
        let house = house::HouseOrder { account, m, client_order_id: r.client_order_id, side, kind: r.kind, limit: price, qty };
        if self.try_house_fill(&house, seq, events)? {
            return Ok(());
        }
        let order = book::NewOrder {
            account: book::AccountId(account.0),
            client_order_id: book::ClientOrderId(r.client_order_id),
            side,
            kind: r.kind.into(),
            price,
            qty,
            reduce_only: None,
            self_trade_prevention: None,
        };
        self.apply_book(m, &book::Command::Place(order), seq, events)
    }

    #[allow(clippy::too_many_arguments)]
    fn amend_order(
        &mut self,
        account: &str,
        market: &str,
        order_id: u64,
        price: &str,
        qty: &str,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let account = self.trader_account(account)?;
        self.check_not_held(account)?;
        let m = self.market(market)?;
        let state = &self.markets[m as usize];
        let (price, qty) = (state.price_from_decimal(price, &self.assets)?, state.qty_from_decimal(qty, &self.assets)?);
        self.check_market_rules(m, price, qty, true)?;
        let state = &self.markets[m as usize];
        let order_ref = book::OrderRef::Id(book::OrderId(order_id));
        let unknown = || EngineError::OrderRefused { market: market.into(), reason: format!("no open order {order_id} of this account") };
        let open = state.book.order(book::OrderId(order_id)).filter(|o| o.account.0 == account.0).ok_or_else(unknown)?;
        let removed = state.hold_of(open.side, open.price, open.qty)?;
        let added = state.hold_of(open.side, price, qty)?;
        self.check_can_hold(account, m, added, Some(removed))?;
        self.check_order_risk(account, m, open.side, price, qty, Some((open.order_id, removed)))?;
        let command = book::Command::Amend { account: book::AccountId(account.0), order: order_ref, price, qty };
        self.apply_book(m, &command, seq, events)
    }
}

/// 1 to [`REFERENCE_LEN_MAX`] of `A-Z a-z 0-9 _ - . :`.
pub(crate) fn check_reference_text(raw: &str) -> Result<(), EngineError> {
    let well_formed = !raw.is_empty()
        && raw.len() <= REFERENCE_LEN_MAX
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if !well_formed {
        return Err(EngineError::InvalidName { name: raw.into(), why: format!("1 to {REFERENCE_LEN_MAX} of A-Z a-z 0-9 _ - . :") });
    }
    Ok(())
}

fn check_room(limit: &str, used: usize, max: u32) -> Result<(), EngineError> {
    if used >= max as usize {
        return Err(EngineError::LimitExceeded { limit: limit.into(), max: max.into() });
    }
    Ok(())
}
