//! Liquidation in the engine (docs/liquidation.md, "In the engine"): after every applied command,
//! accounts flagged below maintenance margin are put up for Dutch auction in chunks chosen by
//! `liquidation::select::plan`, in account-index order and at most
//! `accounts_per_command_max` per command (the others wait, flagged, for the next command);
//! auctions past their end are handed to `@house` at the mark. Registered liquidators bid with
//! `bid_liquidation`. The penalty of every fill goes `insurance_ppm` to `@insurance` and the rest
//! to the filler. An account left without derivative positions and with negative equity is
//! bankrupt: its deficit is covered by the default waterfall ([`crate::waterfall`]).
//!
//! What is closed: perpetual positions by auction; tokens with a spot market (held or borrowed,
//! alone or the legs of a basis) by `@house` at once at the guarded index less the penalty
//! ([`crate::liquidate_legs`]); live options by `@house` at once at the model's mark, the penalty
//! on the premium ([`crate::liquidate_options`]). The perp legs of a group with a token or option
//! leg are handed to the house in the same command, so the riskier leg of a hedge is never left
//! alone.

use crate::*;
use ledger::Reason;
use liquidation::auction::{self, Auction, AuctionParams, Side};
use liquidation::select::{self, Group, SelectParams};
use margin_core::{Position, RiskModel};
use money::{Amount, Rounding, UsdValue, mul_div};
use serde::{Deserialize, Serialize};

/// One open liquidation auction: a chunk of one account's position on one market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiquidationAuction {
    pub account: AccountIdx,
    pub market: u16,
    /// Side from the liquidated account's view (`Sell` closes a long); mark in 18-decimal
    /// settlement units per whole underlying; quantity in 10^-9 of the underlying.
    pub auction: Auction,
}

/// A liquidation in progress: the markets put up for auction with the sign of the account's
/// position there, and the insurance share of the penalties it paid, by asset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub markets: BTreeMap<u16, i8>,
    pub penalties: BTreeMap<AssetIdx, i128>,
}

/// Liquidation state (in snapshots and the state hash).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiquidationState {
    pub auctions: BTreeMap<u64, LiquidationAuction>,
    pub next_auction_id: u64,
    /// Trader accounts the operator approved as liquidators.
    pub liquidators: BTreeSet<AccountIdx>,
    pub cases: BTreeMap<AccountIdx, Case>,
    /// The last flagged account the liquidation step took: the next command starts after it.
    pub cursor: Option<AccountIdx>,
    /// Deleveraged positions still to close against `@house`: (holder, market) to the signed
    /// quantity (the holder's side). Closed by the liquidation step as its record room allows.
    pub adl_pending: BTreeMap<(AccountIdx, u16), i128>,
}

impl LiquidationState {
    fn is_empty(&self) -> bool {
        self.auctions.is_empty()
            && self.liquidators.is_empty()
            && self.cases.is_empty()
            && self.next_auction_id == 0
            && self.cursor.is_none()
            && self.adl_pending.is_empty()
    }
}

/// An open auction as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionView {
    pub auction_id: u64,
    pub account: String,
    pub market: String,
    pub side: String,
    pub qty_left: String,
    pub mark: String,
    pub price_now: String,
    pub ends_ms: u64,
}

/// Checks a liquidation configuration: auction parameters as `liquidation::auction` requires,
/// chunk and throttle in (0, 1], a target at or above IM, a positive work bound.
pub(crate) fn validate(c: &model::LiquidationConfig) -> Result<(), EngineError> {
    let refused = |key: &str, why: String| EngineError::ConfigRefused { key: format!("liquidation.{key}"), why };
    auction_params(c).validate().map_err(|e| refused("auction", e.to_string()))?;
    for (key, v) in [("step_ppm", c.step_ppm), ("throttle_ppm", c.throttle_ppm)] {
        if v == 0 || v > 1_000_000 {
            return Err(refused(key, format!("{v}, expected 1 to 1000000")));
        }
    }
    if !(1_000_000..=10_000_000).contains(&c.target_ppm) {
        return Err(refused("target_ppm", format!("{}, expected 1000000 (back to IM) to 10000000", c.target_ppm)));
    }
    if let Some(ppm) = c.insurance_fee_ppm.filter(|p| *p > 1_000_000) {
        return Err(refused("insurance_fee_ppm", format!("{ppm}, expected 0 to 1000000")));
    }
    if c.accounts_per_command_max == 0 || c.accounts_per_command_max > 64 {
        return Err(refused("accounts_per_command_max", format!("{}, expected 1 to 64", c.accounts_per_command_max)));
    }
    Ok(())
}

pub(crate) fn auction_params(c: &model::LiquidationConfig) -> AuctionParams {
    AuctionParams {
        start_discount_bps: c.start_discount_bps,
        growth_bps_per_s: c.growth_bps_per_s,
        cap_bps: c.cap_bps,
        duration_ms: c.duration_ms,
        penalty_bps: c.penalty_bps,
        insurance_ppm: c.insurance_ppm,
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Sell => "sell",
        Side::Buy => "buy",
    }
}

/// A deferral's reason, cut to [`limits::DEFERRED_WHY_BYTES_MAX`] bytes at a character boundary.
fn deferred_why(mut why: String) -> String {
    if why.len() > limits::DEFERRED_WHY_BYTES_MAX {
        let mut end = limits::DEFERRED_WHY_BYTES_MAX;
        while !why.is_char_boundary(end) {
            end -= 1;
        }
        why.truncate(end);
    }
    why
}

fn overflow(what: &str) -> EngineError {
    EngineError::Overflow { what: what.into() }
}

/// A bid as the command carries it.
pub(crate) struct Bid<'a> {
    pub auction_id: u64,
    pub account: &'a str,
    pub qty: &'a str,
    pub limit_price: &'a str,
}

impl Engine {
    /// Open liquidation auctions, by id.
    pub fn liquidation_auctions(&self) -> Vec<AuctionView> {
        let params = self.config.liquidation.as_ref().map(auction_params);
        self.liq
            .auctions
            .iter()
            .map(|(id, a)| {
                let market = &self.markets[a.market as usize];
                let price = params.and_then(|p| auction::price(&p, &a.auction, self.now_ms).ok());
                AuctionView {
                    auction_id: *id,
                    account: self.account_names[a.account.0 as usize].clone(),
                    market: market.def.id.clone(),
                    side: side_name(a.auction.side).into(),
                    qty_left: money::format_decimal(a.auction.qty_left, market.base_scale),
                    mark: self.format_price(a.market, a.auction.mark),
                    price_now: price.map_or_else(|| "ended".into(), |p| self.format_price(a.market, p)),
                    ends_ms: a.auction.started_ms.saturating_add(params.map_or(0, |p| p.duration_ms)),
                }
            })
            .collect()
    }

    /// Accounts the operator approved as liquidators.
    pub fn liquidators(&self) -> Vec<String> {
        self.liq.liquidators.iter().map(|a| self.account_names[a.0 as usize].clone()).collect()
    }

    /// A price in 18-decimal settlement units as a decimal of the settlement asset.
    pub(crate) fn format_price(&self, m: u16, price_e18: i128) -> String {
        let market = &self.markets[m as usize];
        let unit_e18 = market.derivative.as_ref().map_or(1, |d| d.unit_e18);
        money::format_decimal(price_e18 / unit_e18, self.assets[market.quote.0 as usize].scale)
    }

    /// Operator: approves (or withdraws the approval of) a trader account as a liquidator.
    pub(crate) fn register_liquidator(&mut self, account: &str, approved: bool, events: &mut Vec<Event>) -> Result<(), EngineError> {
        self.config.liquidation.as_ref().ok_or(EngineError::LiquidationDisabled)?;
        let idx = self.trader_account(account)?;
        if approved {
            self.liq.liquidators.insert(idx);
        } else {
            self.liq.liquidators.remove(&idx);
        }
        events.push(Event::LiquidatorRegistered { account: account.into(), approved });
        Ok(())
    }

    /// The liquidation step of an applied command: hand expired auctions to the house, then start
    /// liquidating flagged accounts, both bounded per command (by `accounts_per_command_max` and
    /// by the room left in the command's journal record, measured); then the health of what moved.
    pub(crate) fn liquidation_step(&mut self, seq: u64, events: &mut Vec<Event>) {
        let Some(config) = self.config.liquidation.clone() else { return };
        if !self.margin_enabled() {
            return;
        }
        let mut budget = config.accounts_per_command_max as usize;
        let mut touched = BTreeSet::new();
        let mut room = limits::ResultRoom::new();
        self.reconcile_auctions(seq, events);
        self.expire_auctions(&config, budget, seq, events, &mut touched, &mut room);
        // Passes until no flagged account is left untaken (each account once per command): what a
        // pass moves (a socialised share, say) is re-marked before the next pass looks.
        let mut done = BTreeSet::new();
        let mut full = false;
        while !full {
            if !touched.is_empty() {
                let now: Vec<AccountIdx> = std::mem::take(&mut touched).into_iter().collect();
                self.refresh_health(&now, None, false, health::HEALTH_EVENTS_PER_COMMAND_MAX, events);
            }
            let due = self.due_accounts(&done, budget);
            if due.is_empty() {
                // A deleveraging close can leave its holder below MM (its hedge gone): close the
                // queue now and look again, so that holder is taken in this command too.
                self.run_adl_closes(seq, events, &mut room, &mut touched);
                if touched.is_empty() {
                    break;
                }
                continue;
            }
            for account in due {
                if !room.fits(events, self.liquidation_account_bytes()) {
                    full = true;
                    break;
                }
                budget -= 1;
                done.insert(account);
                touched.insert(account);
                self.liq.cursor = Some(account);
                if let Err(why) = self.start_liquidation(&config, account, seq, events, &mut touched, &mut room) {
                    let account = self.account_names[account.0 as usize].clone();
                    events.push(Event::LiquidationDeferred { seq, account, why: deferred_why(why.to_string()) });
                }
            }
        }
        self.run_adl_closes(seq, events, &mut room, &mut touched);
        if !touched.is_empty() {
            let now: Vec<AccountIdx> = touched.into_iter().collect();
            self.refresh_health(&now, None, false, health::HEALTH_EVENTS_PER_COMMAND_MAX, events);
        }
    }

    /// Closes queued deleveraged positions against `@house` while the record has room; the
    /// rest stay queued (and their holders' positions open) for the next command. A queued
    /// quantity is cut to what the holder still holds on its side.
    fn run_adl_closes(&mut self, seq: u64, events: &mut Vec<Event>, room: &mut limits::ResultRoom, touched: &mut BTreeSet<AccountIdx>) {
        let queued: Vec<((AccountIdx, u16), i128)> = self.liq.adl_pending.iter().map(|(k, q)| (*k, *q)).collect();
        for ((holder, m), qty) in queued {
            if !room.fits(events, limits::adl_close_bytes()) {
                return;
            }
            let held = self.position(holder, m).quantity;
            let close = if qty < 0 { qty.max(-held.max(0)) } else { qty.min((-held).max(0)) };
            if close != 0 && !self.adl_close(holder, m, close, seq, events) {
                continue;
            }
            self.liq.adl_pending.remove(&(holder, m));
            touched.insert(holder);
        }
    }

    /// The most bytes starting one account's liquidation may add to a result.
    fn liquidation_account_bytes(&self) -> u64 {
        let markets: Vec<&model::Market> = self.markets.iter().map(|m| &m.def).collect();
        limits::liquidation_account_bytes(&markets, u64::from(self.config.limits.assets_max))
    }

    /// Accounts flagged `liquidation` without an open auction, holding perps or with a
    /// liquidation in progress, not yet taken by this command: at most `budget`, in account-index
    /// order starting after the last account taken (round robin), so accounts that stay flagged
    /// without anything to auction (a basis waiting with its spot leg) never keep the others out.
    fn due_accounts(&self, done: &BTreeSet<AccountIdx>, budget: usize) -> Vec<AccountIdx> {
        let busy: BTreeSet<AccountIdx> = self.liq.auctions.values().map(|a| a.account).collect();
        let start = self.liq.cursor.map_or(0, |a| a.0.saturating_add(1));
        let after = self.health_flags.range(AccountIdx(start)..);
        let before = self.health_flags.range(..AccountIdx(start));
        after
            .chain(before)
            .filter(|(a, h)| **h == Health::Liquidation && !busy.contains(a) && !done.contains(*a))
            .filter(|(a, _)| self.liq.cases.contains_key(a) || self.has_closable(**a))
            .map(|(a, _)| *a)
            .take(budget)
            .collect()
    }

    fn expire_auctions(
        &mut self,
        config: &model::LiquidationConfig,
        budget: usize,
        seq: u64,
        events: &mut Vec<Event>,
        touched: &mut BTreeSet<AccountIdx>,
        room: &mut limits::ResultRoom,
    ) {
        let now = self.now_ms;
        let ended: Vec<u64> = self
            .liq
            .auctions
            .iter()
            .filter(|(_, a)| a.auction.started_ms.saturating_add(config.duration_ms) <= now)
            .map(|(id, _)| *id)
            .take(budget)
            .collect();
        let house = self.account_index[HOUSE];
        let chunk = limits::liquidation_chunk_bytes();
        for id in ended {
            if !room.fits(events, chunk) {
                return;
            }
            let open = self.liq.auctions[&id].clone();
            let mut a = open.auction.clone();
            let fill = auction::house_takeover(&mut a).expect("an open auction has something left");
            if !self.has_room(open.market, house, open.account, fill.qty) {
                let account = self.account_names[open.account.0 as usize].clone();
                let why = format!(
                    "positions_max of {} reached: the house cannot take the position yet",
                    self.markets[open.market as usize].def.id
                );
                events.push(Event::LiquidationDeferred { seq, account, why });
                continue;
            }
            touched.insert(open.account);
            self.close_chunk(config, id, house, fill, seq, events);
        }
    }

    /// Plans one flagged account's liquidation and opens its auctions; an account with nothing
    /// left to auction goes to the bankruptcy check.
    fn start_liquidation(
        &mut self,
        config: &model::LiquidationConfig,
        account: AccountIdx,
        seq: u64,
        events: &mut Vec<Event>,
        touched: &mut BTreeSet<AccountIdx>,
        room: &mut limits::ResultRoom,
    ) -> Result<(), EngineError> {
        let model = self.usable_model()?;
        let holdings = self.holdings_of(account)?;
        let measured = self.measure(&model, account, &holdings)?;
        if measured.equity.0 >= measured.requirement.maintenance.0 {
            self.liq.cases.remove(&account);
            return Ok(());
        }
        // Bankrupt with no perp or option left: the waterfall sells the remaining tokens (its
        // first step).
        if measured.equity.0 < 0 && !self.has_perps(account) && !self.has_live_options(account) {
            return self.settle_bankruptcy(config, account, seq, events, touched);
        }
        let mut positions = self.positions_from(&model, &holdings)?;
        positions.extend(self.derivative_margin_positions(&model, account, &[])?.0);
        let prices = self.underlying_prices(&model);
        let legs = liquidate_legs::Legs {
            perps: self.perp_instruments(&model, account)?,
            tokens: self.token_legs(&model),
            options: self.option_legs(&model, account)?,
        };
        let groups = self.closable_groups(config, &model, &positions, &legs)?;
        if groups.is_empty() {
            return self.settle_bankruptcy(config, account, seq, events, touched);
        }
        let risk = model.account(&positions, &prices).map_err(margin::margin_error)?;
        let params = SelectParams { target_ppm: config.target_ppm, step_ppm: config.step_ppm, throttle_ppm: config.throttle_ppm };
        let plan = select::plan(&model, &risk, measured.equity, &groups, &prices, &params)
            .map_err(|e| EngineError::LiquidationFailed { why: e.to_string() })?;
        let chosen: Vec<(usize, Position)> = if plan.reached || !plan.steps.is_empty() {
            plan.steps.iter().flat_map(|s| s.closes.iter().map(|c| (s.group, *c))).collect()
        } else {
            // Nothing lowers IM and the target is missed: close every closable group in full.
            let all = groups.iter().enumerate().flat_map(|(g, x)| x.legs.iter().map(move |p| (g, p)));
            all.map(|(g, p)| (g, Position { instrument: p.instrument, qty: -p.qty })).collect()
        };
        // A group with a token or option leg closes at once (its perp legs handed to the
        // house); the others go to auction.
        let immediate = |g: usize| groups[g].legs.iter().any(|p| legs.is_immediate(p));
        let later: Vec<Position> = chosen.iter().filter(|(g, _)| !immediate(*g)).map(|(_, c)| *c).collect();
        let by_market = self.split_closes(&later, &legs).perps;
        let now: Vec<(usize, Position)> = chosen.iter().filter(|(g, _)| immediate(*g)).copied().collect();
        let closes = self.immediate_closes(config, &model, account, &now, &legs);
        let bytes = closes.perps.len() as u64 * limits::liquidation_chunk_bytes()
            + closes.tokens.len() as u64 * liquidate_legs::token_close_bytes()
            + closes.options.len() as u64 * liquidate_options::option_close_bytes();
        let nothing_now = closes.tokens.is_empty() && closes.options.is_empty();
        if let Some(why) = closes.why.clone().filter(|_| by_market.is_empty() && nothing_now) {
            return Err(EngineError::LiquidationFailed { why });
        }
        if !room.fits(events, bytes) {
            return Err(EngineError::LiquidationFailed { why: "no room left in this command's record: next command".into() });
        }
        self.liquidation_started(account, &measured, plan.reached, seq, events);
        if let Some(why) = closes.why.clone() {
            events.push(Event::LiquidationDeferred {
                seq,
                account: self.account_names[account.0 as usize].clone(),
                why: deferred_why(why),
            });
        }
        self.close_at_once(config, account, &closes, seq, events)?;
        for (m, qty) in by_market {
            self.open_auction(config, account, m, qty, seq, events)?;
        }
        if !self.liq.auctions.values().any(|a| a.account == account) {
            return self.settle_bankruptcy(config, account, seq, events, touched);
        }
        Ok(())
    }

    fn liquidation_started(&self, account: AccountIdx, measured: &margin::Measured, reached: bool, seq: u64, events: &mut Vec<Event>) {
        events.push(Event::LiquidationStarted {
            seq,
            account: self.account_names[account.0 as usize].clone(),
            equity: measured.equity.to_string(),
            im: measured.requirement.initial.to_string(),
            mm: measured.requirement.maintenance.to_string(),
            target_reached: reached,
        });
    }

    /// The closes through the house: tokens, options, then the perp legs of their hedges. A
    /// liquidation that closed only tokens and options (no auction) ends here.
    fn close_at_once(
        &mut self,
        config: &model::LiquidationConfig,
        account: AccountIdx,
        closes: &liquidate_legs::Immediate,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        for c in &closes.tokens {
            self.close_token(account, c, seq, events);
        }
        for c in &closes.options {
            self.close_option(account, c, seq, events);
        }
        for (&m, &qty) in &closes.perps {
            self.take_over_perp(config, account, m, qty, seq, events)?;
        }
        let moved = !closes.tokens.is_empty() || !closes.options.is_empty();
        if moved && closes.perps.is_empty() && !self.liq.auctions.values().any(|a| a.account == account) {
            events.push(Event::LiquidationEnded { seq, account: self.account_names[account.0 as usize].clone() });
        }
        Ok(())
    }

    /// Whether the account holds something liquidation may close: a derivative position, a
    /// borrow, or a token that is the base of a spot market.
    fn has_closable(&self, account: AccountIdx) -> bool {
        self.positions.range((account, 0)..=(account, u16::MAX)).next().is_some()
            || self.borrows_of(account).next().is_some()
            || self.markets.iter().any(|m| m.derivative.is_none() && self.ledger.balance(account, m.base).posted != 0)
    }

    pub(crate) fn has_perps(&self, account: AccountIdx) -> bool {
        self.positions
            .range((account, 0)..=(account, u16::MAX))
            .any(|(&(_, m), _)| self.markets[m as usize].derivative.as_ref().is_some_and(|d| !d.is_option()))
    }

    /// The account's perp positions: (model instrument, market).
    fn perp_instruments(&self, model: &RiskModel, account: AccountIdx) -> Result<Vec<(margin_core::InstrumentIx, u16)>, EngineError> {
        let mut out = Vec::new();
        for (&(_, m), _) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            let market = &self.markets[m as usize];
            if market.derivative.as_ref().is_some_and(|d| !d.is_option()) {
                let id = market.def.instrument.as_deref().unwrap_or(market.def.id.as_str());
                let ix = model.instrument(id).ok_or_else(|| EngineError::RiskModelUnknownName { name: id.into() })?;
                out.push((ix, m));
            }
        }
        Ok(out)
    }

    /// Hedge groups of legs liquidation can close (perps, tokens with a spot market, live
    /// options; see [`liquidate_options::groups_with_options`]), each with its closing cost:
    /// penalty plus the auction's largest discount on the notional (perps at the index, tokens at
    /// the higher of oracle and stable price, options at the model's mark).
    fn closable_groups(
        &self,
        config: &model::LiquidationConfig,
        model: &RiskModel,
        positions: &[Position],
        legs: &liquidate_legs::Legs,
    ) -> Result<Vec<Group>, EngineError> {
        let mut groups = Vec::new();
        for group in liquidate_options::groups_with_options(model, positions, &legs.options) {
            let mut notional = 0i128;
            let mut closable = true;
            for p in &group {
                match self.leg_notional(model, legs, p)? {
                    Some(value) => notional = notional.checked_add(value).ok_or_else(|| overflow("notional"))?,
                    None => closable = false,
                }
            }
            if !closable {
                continue;
            }
            let bps = i128::from(config.penalty_bps) + i128::from(config.cap_bps);
            let cost = mul_div(notional, bps, 10_000, Rounding::Ceil).map_err(|_| overflow("closing cost"))?;
            groups.push(Group { legs: group, close_cost: UsdValue(cost) });
        }
        Ok(groups)
    }

    /// The notional of one leg in 10^-18 USD, rounded up; `None` for a leg liquidation does not
    /// close (a fixed-value token such as the stablecoin, an expired option).
    fn leg_notional(&self, model: &RiskModel, legs: &liquidate_legs::Legs, p: &Position) -> Result<Option<i128>, EngineError> {
        if let Some(leg) = legs.tokens.iter().find(|l| l.instrument == p.instrument) {
            return self.token_notional(leg, p.qty).map(Some);
        }
        if let Some(leg) = legs.options.iter().find(|l| l.instrument == p.instrument) {
            return self.option_notional_usd(model, leg, p.qty).map(Some);
        }
        let Some(&(_, m)) = legs.perps.iter().find(|(i, _)| *i == p.instrument) else { return Ok(None) };
        let base = &self.markets[m as usize].def.base;
        let price = self.prices.get(base).map(|(p, _)| p.usd_e18()).ok_or_else(|| EngineError::MissingPrice { symbol: base.clone() })?;
        mul_div(p.qty.abs(), price, 1_000_000_000, Rounding::Ceil).map(Some).map_err(|_| overflow("notional"))
    }

    pub(crate) fn open_auction(
        &mut self,
        config: &model::LiquidationConfig,
        account: AccountIdx,
        m: u16,
        close: i128,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let mark = self.index_price_e18(m)?;
        let side = if close < 0 { Side::Sell } else { Side::Buy };
        let id = self.liq.next_auction_id;
        self.liq.next_auction_id += 1;
        let auction = Auction { side, qty_left: close.abs(), mark, started_ms: self.now_ms };
        let sign = if close < 0 { 1 } else { -1 };
        self.liq.cases.entry(account).or_default().markets.insert(m, sign);
        let market = &self.markets[m as usize];
        events.push(Event::AuctionOpened {
            seq,
            auction_id: id,
            account: self.account_names[account.0 as usize].clone(),
            market: market.def.id.clone(),
            side: side_name(side).into(),
            qty: money::format_decimal(close.abs(), market.base_scale),
            mark: self.format_price(m, mark),
            ends_ms: self.now_ms.saturating_add(config.duration_ms),
        });
        self.liq.auctions.insert(id, LiquidationAuction { account, market: m, auction });
        Ok(())
    }

    /// Owner of a registered liquidator account: takes `qty` of an auction at its current price
    /// if that is within `limit_price`. Everything is checked before anything moves.
    pub(crate) fn bid_liquidation(&mut self, bid: &Bid, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let config = self.config.liquidation.clone().ok_or(EngineError::LiquidationDisabled)?;
        let bidder = self.trader_account(bid.account)?;
        let open = self.liq.auctions.get(&bid.auction_id).cloned().ok_or(EngineError::UnknownAuction { auction_id: bid.auction_id })?;
        if !self.liq.liquidators.contains(&bidder) {
            return Err(EngineError::NotALiquidator { account: bid.account.into() });
        }
        let liquidated = &self.account_names[open.account.0 as usize];
        if owner_of(liquidated) == owner_of(bid.account) {
            return Err(EngineError::OwnLiquidation { account: bid.account.into(), liquidated: liquidated.clone() });
        }
        let (qty, limit) = self.bid_amounts(open.market, bid)?;
        if qty > open.auction.qty_left {
            let market = &self.markets[open.market as usize];
            return Err(EngineError::BidQuantityTooLarge {
                auction_id: bid.auction_id,
                qty: bid.qty.into(),
                left: money::format_decimal(open.auction.qty_left, market.base_scale),
            });
        }
        let mut trial = open.auction.clone();
        let fill = auction::fill(&auction_params(&config), &mut trial, qty, limit, self.now_ms).map_err(|e| match e {
            liquidation::LiquidationError::AuctionEnded => EngineError::AuctionEnded { auction_id: bid.auction_id },
            other => EngineError::BidRefused { auction_id: bid.auction_id, why: other.to_string() },
        })?;
        if !self.has_room(open.market, bidder, open.account, fill.qty) {
            let market = &self.markets[open.market as usize];
            let max = market.derivative.as_ref().map_or(0, |d| d.positions_max);
            return Err(EngineError::LimitExceeded { limit: format!("positions_max of {}", market.def.id), max: max.into() });
        }
        let taken = if open.auction.side == Side::Sell { fill.qty } else { -fill.qty };
        self.check_bidder_margin(bidder, open.market, taken)?;
        self.close_chunk(&config, bid.auction_id, bidder, fill, seq, events);
        // The liquidation step after this command checks the account again (bankruptcy included).
        Ok(())
    }

    /// Whether `filler` may take `qty` of the liquidated account's position on market `m`
    /// within the market's `positions_max`: it holds a position there already, the market has
    /// room, or the fill closes the liquidated account's whole position (freeing its place).
    pub(crate) fn has_room(&self, m: u16, filler: AccountIdx, liquidated: AccountIdx, qty: i128) -> bool {
        let d = self.markets[m as usize].derivative.as_ref().expect("auctions are on perps");
        self.position(filler, m).quantity != 0 || d.holders < d.positions_max || self.position(liquidated, m).quantity.abs() == qty
    }

    /// A bid's quantity (10^-9 of the underlying, positive) and limit (18-decimal price).
    fn bid_amounts(&self, m: u16, bid: &Bid) -> Result<(i128, i128), EngineError> {
        let market = &self.markets[m as usize];
        let malformed = |input: &str, e: money::MoneyError| EngineError::MalformedAmount { input: input.into(), reason: e.to_string() };
        let qty = Amount::parse(bid.qty, market.base_scale).map_err(|e| malformed(bid.qty, e))?.units();
        let limit =
            Amount::parse(bid.limit_price, self.assets[market.quote.0 as usize].scale).map_err(|e| malformed(bid.limit_price, e))?.units();
        if qty <= 0 {
            return Err(EngineError::NonPositiveAmount { amount: bid.qty.into() });
        }
        if limit <= 0 {
            return Err(EngineError::NonPositiveAmount { amount: bid.limit_price.into() });
        }
        let unit_e18 = market.derivative.as_ref().map_or(1, |d| d.unit_e18);
        Ok((qty, limit.checked_mul(unit_e18).ok_or_else(|| overflow("limit price"))?))
    }

    /// The bidder's equity must cover its initial margin with the position it takes (its gain
    /// from the discount and the penalty share not counted), sized at its owner's totals as the
    /// order gate sizes them (`RiskModel::with_in_owner`), so a bid split across sub-accounts
    /// of one owner cannot take on more than the owner could in one.
    fn check_bidder_margin(&mut self, bidder: AccountIdx, m: u16, qty: i128) -> Result<(), EngineError> {
        let model = self.usable_model()?;
        let holdings = self.holdings_of(bidder)?;
        self.measure(&model, bidder, &holdings)?;
        let (_, option_value) = self.derivative_margin_positions(&model, bidder, &[(m, qty)])?;
        let delta = [Position { instrument: self.market_instrument(&model, m)?.0, qty }];
        let cached = self.margin_cache.get(&bidder).expect("`measure` just cached the bidder");
        let im = self.with_add_on(bidder, margin::requirement_with(&model, cached, &delta)?)?.initial;
        let equity = self.equity_of(&holdings)?.0.checked_add(option_value).ok_or_else(|| overflow("equity"))?;
        if equity < im.0 {
            return Err(EngineError::InsufficientFreeCollateral {
                account: self.account_names[bidder.0 as usize].clone(),
                required: im.to_string(),
                available: UsdValue(equity).to_string(),
            });
        }
        Ok(())
    }

    /// Moves a filled chunk from the liquidated account to the filler at the fill price, like a
    /// trade (realised P&L settled with the clearing account), and the penalty on the notional
    /// at mark: the insurance share to `@insurance`, the rest to the filler.
    pub(crate) fn close_chunk(
        &mut self,
        config: &model::LiquidationConfig,
        id: u64,
        filler: AccountIdx,
        fill: auction::Fill,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        let open = self.liq.auctions[&id].clone();
        let (account, m) = (open.account, open.market);
        let close = if open.auction.side == Side::Sell { -fill.qty } else { fill.qty };
        self.fill_position(m, account, close, fill.price, seq, events);
        self.fill_position(m, filler, -close, fill.price, seq, events);
        let d = self.markets[m as usize].derivative.as_ref().expect("auctions are on perps");
        let notional =
            d.spec.settlement_value(fill.qty, clearing::Price(open.auction.mark), Rounding::Ceil).expect("a notional within the position");
        let (to_insurance, to_filler) = auction::penalty(&auction_params(config), notional).expect("a non-negative notional");
        let asset = self.markets[m as usize].quote;
        let insurance = self.account_index[INSURANCE];
        self.pay_reported(account, insurance, asset, to_insurance, Reason::LiquidationPenalty, seq, events);
        self.pay_reported(account, filler, asset, to_filler, Reason::LiquidationPenalty, seq, events);
        let case = self.liq.cases.entry(account).or_default();
        *case.penalties.entry(asset).or_insert(0) += to_insurance;
        let left = open.auction.qty_left - fill.qty;
        match self.liq.auctions.get_mut(&id) {
            Some(a) if left > 0 => a.auction.qty_left = left,
            _ => {
                self.liq.auctions.remove(&id);
            }
        }
        let market = &self.markets[m as usize];
        let (account_name, filler_name) = (self.account_names[account.0 as usize].clone(), self.account_names[filler.0 as usize].clone());
        let scale = self.assets[asset.0 as usize].scale;
        let (qty, price) = (money::format_decimal(fill.qty, market.base_scale), self.format_price(m, fill.price));
        let penalty = money::format_decimal(to_insurance + to_filler, scale);
        let insurance_share = money::format_decimal(to_insurance, scale);
        let market_id = market.def.id.clone();
        let event = if filler == self.account_index[HOUSE] {
            Event::AuctionHouseTakeover {
                seq,
                auction_id: id,
                account: account_name.clone(),
                market: market_id,
                qty,
                price,
                penalty,
                insurance_share,
            }
        } else {
            let liquidator = filler_name;
            Event::AuctionFilled {
                seq,
                auction_id: id,
                account: account_name.clone(),
                liquidator,
                market: market_id,
                qty,
                price,
                penalty,
                insurance_share,
            }
        };
        events.push(event);
        if !self.liq.auctions.values().any(|a| a.account == account) {
            events.push(Event::LiquidationEnded { seq, account: account_name });
        }
    }

    /// A payment (borrowing what the payer lacks, as every derivative payment) reported as a
    /// `transferred` event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pay_reported(
        &mut self,
        from: AccountIdx,
        to: AccountIdx,
        asset: AssetIdx,
        amount: i128,
        reason: Reason,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        if amount <= 0 {
            return;
        }
        let mut later = Vec::new();
        self.pay(from, to, asset, amount, reason, seq, &mut later);
        let t = Transfer { debit: from, credit: to, asset, amount, reason, command_seq: seq };
        // The borrow the payment needed comes first, then the payment, then a repayment.
        let split =
            later.iter().position(|e| matches!(e, Event::BorrowChanged { account, .. } if *account == self.account_names[to.0 as usize]));
        let tail = split.map(|i| later.split_off(i)).unwrap_or_default();
        events.extend(later);
        events.push(self.transferred_event(&t));
        events.extend(tail);
    }

    /// Liquidation state into the state hash (only when there is any).
    pub(crate) fn hash_liquidation(&self, h: &mut blake3::Hasher) {
        if self.liq.is_empty() {
            return;
        }
        h.update(b"liquidation");
        let bytes = postcard::to_allocvec(&self.liq).expect("liquidation state always encodes");
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }

    /// Restores the liquidation state from a snapshot, checked against the accounts and markets.
    pub(crate) fn restore_liquidation(&mut self, state: LiquidationState) -> Result<(), String> {
        let trader = |a: &AccountIdx| self.account_kinds.get(a.0 as usize) == Some(&AccountKind::Trader);
        let perp = |m: u16| self.markets.get(m as usize).and_then(|x| x.derivative.as_ref()).is_some_and(|d| !d.is_option());
        let auctions_ok = state.auctions.iter().all(|(id, a)| *id < state.next_auction_id && trader(&a.account) && perp(a.market));
        let cursor_ok = state.cursor.is_none_or(|a| (a.0 as usize) < self.account_kinds.len())
            && state.adl_pending.keys().all(|(a, m)| trader(a) && perp(*m));
        if !auctions_ok || !cursor_ok || !state.liquidators.iter().all(trader) || !state.cases.keys().all(trader) {
            return Err("liquidation state names unknown accounts or markets".into());
        }
        self.liq = state;
        Ok(())
    }

    /// Open auctions never offer more than the account still holds on their side: a position
    /// reduced by the account's own orders meanwhile shrinks (or ends) its auction.
    fn reconcile_auctions(&mut self, seq: u64, events: &mut Vec<Event>) {
        let ids: Vec<u64> = self.liq.auctions.keys().copied().collect();
        for id in ids {
            let a = &self.liq.auctions[&id];
            let held = self.position(a.account, a.market).quantity;
            let room = match a.auction.side {
                Side::Sell => held.max(0),
                Side::Buy => (-held).max(0),
            };
            if room >= a.auction.qty_left {
                continue;
            }
            let account = a.account;
            if room == 0 {
                self.liq.auctions.remove(&id);
            } else if let Some(a) = self.liq.auctions.get_mut(&id) {
                a.auction.qty_left = room;
            }
            if !self.liq.auctions.values().any(|a| a.account == account) {
                events.push(Event::LiquidationEnded { seq, account: self.account_names[account.0 as usize].clone() });
            }
        }
    }
}
