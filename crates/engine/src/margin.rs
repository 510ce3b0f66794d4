//! Margin in the loop (docs/engine.md, "Margin"): an account's equity and its initial and
//! maintenance margin from the risk model in force, at the engine's own prices, and the gates
//! on orders, withdrawals and transfers out.
//!
//! What margin counts of an account (its *holdings*): per asset, the posted balance minus
//! everything reserved (pending withdrawals and the holds of open orders count as gone). Its
//! equity is their value at the oracle prices, each rounded down; its positions for
//! `margin-core` are the same quantities, the asset's symbol being the instrument's id. A borrow
//! from the house counts as a negative holding of its asset; a perp position's unrealised P&L at
//! the less favourable of the oracle and stable index (rounded down; `stable_price.rs`) as a holding of its settlement asset, and the position itself
//! as a position in its market's instrument (10^-9 of the underlying); an option position as a
//! position in its instrument, valued at the installed model's value of one unit (the model's
//! age is bounded by `risk_model_max_age_ms`).
//!
//! Gates (when `engine.risk_model_max_age_ms` is set; without it no margin is computed and
//! the order holds alone keep every account fully collateralized):
//! - an order is priced as fully filled at its limit (a market order at its protective
//!   limit): what it holds is spent, what it buys received (a sale less the larger fee); it is
//!   accepted if it reduces risk (IM after <= IM before and no position changes sign), else only
//!   with a usable model, an account not flagged below IM, and `equity after >= IM after`;
//! - a withdrawal or transfer out is accepted only if `equity - IM >= 0` with it removed, and
//!   a confirmation only if that still holds (else the withdrawal stays pending).
//!
//! Every rounding is against the account: values down, requirements up.

use crate::*;
use margin_core::{AccountRisk, MarginError, Position, Requirement, RiskModel};
use money::{Amount, Rounding, UsdValue};
use std::sync::Arc;

/// Loss vectors kept for the most recently priced accounts (a cache: results never depend on it).
pub const MARGIN_CACHE_ACCOUNTS_MAX: usize = 64;

/// An account's margin at the engine's current prices, as the reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountMargin {
    pub account: String,
    pub equity_usd: String,
    pub initial_usd: String,
    pub maintenance_usd: String,
    /// Equity minus initial margin (negative below IM).
    pub free_collateral_usd: String,
    pub health: crate::health::Health,
    pub worst_scenario: u32,
    pub model_digest: String,
}

/// What margin measured of an account: equity and requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Measured {
    pub equity: UsdValue,
    pub requirement: Requirement,
}

/// A cached loss vector: valid while the positions, prices and model are the same.
#[derive(Debug, Clone)]
pub(crate) struct CachedRisk {
    key: (Vec<Position>, Vec<Option<UsdPrice>>, [u8; 32]),
    risk: AccountRisk,
    requirement: Requirement,
}

pub(crate) fn margin_error(e: MarginError) -> EngineError {
    match e {
        MarginError::UnknownInstrument(instrument) => EngineError::RiskModelUnknownName { name: instrument },
        MarginError::MissingPrice(symbol) => EngineError::MissingPrice { symbol },
        MarginError::InvalidModel(why) => EngineError::RiskModelRefused { why },
        // The engine keeps no `RiskSummary` (it calls `with`), so this cannot arise from it.
        MarginError::StaleSummary(why) => EngineError::RiskModelStale { why },
        MarginError::Overflow => EngineError::Overflow { what: "margin aggregation".into() },
    }
}

fn usd(v: i128) -> String {
    UsdValue(v).to_string()
}

impl Engine {
    /// Margin is computed only when configured.
    pub(crate) fn margin_enabled(&self) -> bool {
        self.config.settings.risk_model_max_age_ms.is_some()
    }

    /// What margin counts of each asset of an account: posted minus reserved, minus what it owes
    /// the house, plus its perps' unrealised P&L at the oracle index in their settlement asset.
    pub(crate) fn holdings_of(&self, account: AccountIdx) -> Result<Vec<i128>, EngineError> {
        let mut holdings: Vec<i128> =
            (0..self.assets.len()).map(|a| self.ledger.balance(account, AssetIdx(a as u16)).available()).collect();
        let overflow = || EngineError::Overflow { what: "margin holdings".into() };
        for (asset, debt) in self.borrows_of(account) {
            let slot = &mut holdings[asset.0 as usize];
            *slot = slot.checked_sub(debt).ok_or_else(overflow)?;
        }
        for (&(_, m), position) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            let market = &self.markets[m as usize];
            let Some(d) = market.derivative.as_ref().filter(|d| !d.is_option()) else { continue };
            let index = self.margin_index_price_e18(m, position.quantity)?;
            let unrealised = position.unrealised(clearing::Price(index), d.spec).map_err(|_| overflow())?;
            let slot = &mut holdings[market.quote.0 as usize];
            *slot = slot.checked_add(unrealised).ok_or_else(overflow)?;
        }
        Ok(holdings)
    }

    /// An account's derivative positions in the model (with `delta`, a market and a quantity an
    /// order would add) and the value of its options at the model's unit values, 10^-18 USD.
    pub(crate) fn derivative_margin_positions(
        &self,
        model: &RiskModel,
        account: AccountIdx,
        delta: Option<(u16, i128)>,
    ) -> Result<(Vec<Position>, i128), EngineError> {
        let overflow = || EngineError::Overflow { what: "derivative positions".into() };
        let mut quantities: Vec<(u16, i128)> =
            self.positions.range((account, 0)..=(account, u16::MAX)).map(|(&(_, m), p)| (m, p.quantity)).collect();
        if let Some((m, q)) = delta {
            match quantities.iter_mut().find(|(x, _)| *x == m) {
                Some(slot) => slot.1 = slot.1.checked_add(q).ok_or_else(overflow)?,
                None => quantities.push((m, q)),
            }
        }
        let (mut positions, mut option_value) = (Vec::new(), 0i128);
        for (m, qty) in quantities.into_iter().filter(|(_, q)| *q != 0) {
            let market = &self.markets[m as usize];
            let (instrument, id) = self.market_instrument(model, m)?;
            positions.push(Position { instrument, qty });
            if market.derivative.as_ref().is_some_and(|d| d.is_option()) {
                let unit = model.charges.instruments.get(instrument.0 as usize).map(|c| c.value_musd);
                let unit = unit.ok_or_else(|| EngineError::MissingPrice { symbol: id.into() })?;
                // 10^-9 units x micro-USD = 10^-15 USD: times 1000 for 10^-18, exact.
                let value = qty.checked_mul(i128::from(unit)).and_then(|v| v.checked_mul(1_000)).ok_or_else(overflow)?;
                option_value = option_value.checked_add(value).ok_or_else(overflow)?;
            }
        }
        Ok((positions, option_value))
    }

    /// The model instrument a derivative market clears, and its id.
    fn market_instrument(&self, model: &RiskModel, m: u16) -> Result<(margin_core::InstrumentIx, &str), EngineError> {
        let def = &self.markets[m as usize].def;
        let id = def.instrument.as_deref().unwrap_or(def.id.as_str());
        let instrument = model.instrument(id).ok_or_else(|| EngineError::RiskModelUnknownName { name: id.into() })?;
        Ok((instrument, id))
    }

    /// The account's positions in the model in force (token balances, pending withdrawals and
    /// order holds counted as gone).
    pub fn margin_positions_of(&self, account: AccountIdx) -> Result<Vec<Position>, EngineError> {
        let model = self.usable_model()?;
        let mut positions = self.positions_from(&model, &self.holdings_of(account)?)?;
        positions.extend(self.derivative_margin_positions(&model, account, None)?.0);
        Ok(positions)
    }

    /// Positions of holdings: one per non-zero asset, the asset's symbol being the instrument.
    pub(crate) fn positions_from(&self, model: &RiskModel, holdings: &[i128]) -> Result<Vec<Position>, EngineError> {
        let mut positions = Vec::new();
        for (a, &units) in holdings.iter().enumerate().filter(|(_, u)| **u != 0) {
            let symbol = &self.assets[a].symbol;
            let instrument = model.instrument(symbol).ok_or_else(|| EngineError::RiskModelUnknownName { name: symbol.clone() })?;
            positions.push(Position { instrument, qty: units });
        }
        Ok(positions)
    }

    /// Equity of holdings: each asset at its oracle price, rounded down; a missing price is an
    /// error.
    pub(crate) fn equity_of(&self, holdings: &[i128]) -> Result<UsdValue, EngineError> {
        let mut total = 0i128;
        for (a, &units) in holdings.iter().enumerate().filter(|(_, u)| **u != 0) {
            let info = &self.assets[a];
            let price = self.collateral_price(&info.symbol, units)?;
            let overflow = || EngineError::Overflow { what: format!("equity in {}", info.symbol) };
            let value = money::value_usd(Amount(units), info.scale, price, Rounding::Floor).map_err(|_| overflow())?;
            total = total.checked_add(value.0).ok_or_else(overflow)?;
        }
        Ok(UsdValue(total))
    }

    /// The price a holding of `units` is valued at: the less favourable of the oracle and the
    /// stable price (the lower for a long holding, the higher for a short one).
    pub(crate) fn collateral_price(&self, symbol: &str, units: i128) -> Result<UsdPrice, EngineError> {
        let (low, high) = self.collateral_bounds(symbol).ok_or_else(|| EngineError::MissingPrice { symbol: symbol.into() })?;
        Ok(if units >= 0 { low } else { high })
    }

    /// Current prices of the model's underlyings, in the model's order (the numeraire at 1).
    pub(crate) fn underlying_prices(&self, model: &RiskModel) -> Vec<Option<UsdPrice>> {
        let one = UsdPrice(money::USD_SCALE.one());
        model.underlyings.iter().map(|u| if u.name == NUMERAIRE { Some(one) } else { self.prices.get(&u.name).map(|(p, _)| *p) }).collect()
    }

    /// Equity and requirement of holdings; the account's loss vector for them is left in the
    /// cache (computed unless the cached one has the same positions, prices and model).
    pub(crate) fn measure(&mut self, model: &Arc<RiskModel>, account: AccountIdx, holdings: &[i128]) -> Result<Measured, EngineError> {
        let mut positions = self.positions_from(model, holdings)?;
        let (derivatives, option_value) = self.derivative_margin_positions(model, account, None)?;
        positions.extend(derivatives);
        let prices = self.underlying_prices(model);
        let key = (positions, prices, self.risk_model.digest);
        let requirement = match self.margin_cache.get(&account).filter(|c| c.key == key) {
            Some(c) => c.requirement,
            None => {
                let risk = model.account(&key.0, &key.1).map_err(margin_error)?;
                let requirement = model.requirement(&risk).map_err(margin_error)?;
                if self.margin_cache.len() >= MARGIN_CACHE_ACCOUNTS_MAX && !self.margin_cache.contains_key(&account) {
                    self.margin_cache.pop_first();
                }
                self.margin_cache.insert(account, CachedRisk { key, risk, requirement });
                requirement
            }
        };
        Ok(Measured { equity: add_usd(self.equity_of(holdings)?, option_value)?, requirement })
    }

    pub(crate) fn margin_cache_clear(&mut self) {
        self.margin_cache.clear();
    }

    /// The pre-trade gate of an order with `effect` when fully filled.
    pub(crate) fn check_order_margin(&mut self, account: AccountIdx, effect: &OrderEffect) -> Result<(), EngineError> {
        if !self.margin_enabled() {
            return Ok(());
        }
        let model = self.usable_model()?;
        let before = self.holdings_of(account)?;
        let after = apply_deltas(&before, &effect.assets)?;
        let now = self.measure(&model, account, &before)?;
        let prices = self.underlying_prices(&model);
        let mut delta_positions = self.positions_from(&model, &deltas_as_holdings(self.assets.len(), &effect.assets))?;
        let (_, option_value_after) = self.derivative_margin_positions(&model, account, effect.derivative)?;
        if let Some((m, qty)) = effect.derivative {
            delta_positions.push(Position { instrument: self.market_instrument(&model, m)?.0, qty });
        }
        let cached = &self.margin_cache[&account]; // `measure` just left it there (evicting another).
        let requirement = model.with(&cached.risk, &delta_positions, &prices).map_err(margin_error)?;
        let flips =
            before.iter().zip(&after).any(|(b, a)| (*b > 0 && *a < 0) || (*b < 0 && *a > 0)) || self.derivative_flips(account, effect);
        if requirement.initial <= now.requirement.initial && !flips {
            return Ok(());
        }
        let name = &self.account_names[account.0 as usize];
        if let Some(health) = self.health_flags.get(&account).filter(|h| **h != health::Health::Healthy) {
            return Err(EngineError::ReduceOnlyAccount { account: name.clone(), health: *health });
        }
        let equity = add_usd(self.equity_of(&after)?, option_value_after)?;
        if equity.0 < requirement.initial.0 {
            return Err(EngineError::InsufficientMargin {
                account: name.clone(),
                required: usd(requirement.initial.0),
                available: usd(equity.0),
            });
        }
        Ok(())
    }

    /// The gate on moving `units` of `asset` out of `account` (0 units: a confirmation of what
    /// is already reserved): equity minus IM stays non-negative.
    pub(crate) fn check_free_collateral(&mut self, account: AccountIdx, asset: AssetIdx, units: i128) -> Result<(), EngineError> {
        if !self.margin_enabled() {
            return Ok(());
        }
        let model = self.usable_model()?;
        let after = apply_deltas(&self.holdings_of(account)?, &[(asset, -units)])?;
        let measured = self.measure(&model, account, &after)?;
        if measured.equity.0 < measured.requirement.initial.0 {
            return Err(EngineError::InsufficientFreeCollateral {
                account: self.account_names[account.0 as usize].clone(),
                required: usd(measured.requirement.initial.0),
                available: usd(measured.equity.0),
            });
        }
        Ok(())
    }

    /// Margin of an account at the engine's current prices and the model in force.
    pub fn account_margin(&mut self, account: &str) -> Result<AccountMargin, EngineError> {
        let idx = self.trader_account(account)?;
        let model = self.usable_model()?;
        let holdings = self.holdings_of(idx)?;
        let m = self.measure(&model, idx, &holdings)?;
        let free =
            m.equity.0.checked_sub(m.requirement.initial.0).ok_or_else(|| EngineError::Overflow { what: "free collateral".into() })?;
        Ok(AccountMargin {
            account: account.into(),
            equity_usd: usd(m.equity.0),
            initial_usd: usd(m.requirement.initial.0),
            maintenance_usd: usd(m.requirement.maintenance.0),
            free_collateral_usd: usd(free),
            health: self.health_flags.get(&idx).copied().unwrap_or(health::Health::Healthy),
            worst_scenario: m.requirement.worst_scenario,
            model_digest: hex(&self.risk_model.digest),
        })
    }
}

fn apply_deltas(holdings: &[i128], deltas: &[(AssetIdx, i128)]) -> Result<Vec<i128>, EngineError> {
    let mut after = holdings.to_vec();
    for &(asset, delta) in deltas {
        let slot = &mut after[asset.0 as usize];
        *slot = slot.checked_add(delta).ok_or_else(|| EngineError::Overflow { what: "holdings after the order".into() })?;
    }
    Ok(after)
}

/// What an order changes when fully filled: its account's assets and, on a derivative market,
/// its position there (market, signed quantity in 10^-9 of the underlying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderEffect {
    pub assets: Vec<(AssetIdx, i128)>,
    pub derivative: Option<(u16, i128)>,
}

fn add_usd(value: UsdValue, more: i128) -> Result<UsdValue, EngineError> {
    value.0.checked_add(more).map(UsdValue).ok_or_else(|| EngineError::Overflow { what: "equity".into() })
}

fn deltas_as_holdings(assets: usize, deltas: &[(AssetIdx, i128)]) -> Vec<i128> {
    let mut v = vec![0i128; assets];
    for &(asset, delta) in deltas {
        v[asset.0 as usize] = v[asset.0 as usize].saturating_add(delta);
    }
    v
}

impl Engine {
    /// How an order changes its account's holdings when fully filled at `price`: what it holds
    /// is spent, what it buys received (a sale's proceeds less the larger of the two fees).
    pub(crate) fn order_effect(
        &self,
        account: AccountIdx,
        m: u16,
        side: book::Side,
        price: book::Price,
        qty: book::Qty,
    ) -> Result<OrderEffect, EngineError> {
        let market = &self.markets[m as usize];
        let (held_asset, held) = market.hold_of(side, price, qty)?;
        if let Some(d) = &market.derivative {
            // The hold (fees, an option buyer's premium) is spent; an option seller receives the
            // premium less the larger fee; the position moves by the quantity.
            let mut assets = vec![(held_asset, -held)];
            if d.is_option() && side == book::Side::Sell {
                let premium = market.quote_amount(price, qty)?;
                let fee = markets::fill_fees(market.hold_fees, premium)?.taker;
                assets.push((market.quote, premium - fee));
            }
            // The account's other open orders on the same side of this market could fill too:
            // the order is priced as if they all did (an amended order counts twice, which only
            // errs on the side of caution).
            let open: i128 = market
                .book
                .open_orders(book::AccountId(account.0))
                .iter()
                .filter(|o| o.side == side)
                .map(|o| market.base_units(o.qty))
                .sum();
            let units = market.base_units(qty).checked_add(open).ok_or_else(|| EngineError::Overflow { what: "open quantity".into() })?;
            let signed = if side == book::Side::Buy { units } else { -units };
            return Ok(OrderEffect { assets, derivative: Some((m, signed)) });
        }
        let received = match side {
            book::Side::Buy => (market.base, market.base_units(qty)),
            book::Side::Sell => {
                let quote = market.quote_amount(price, qty)?;
                let fee = market.hold_fees.fill_fees(Amount(quote)).map_err(|e| EngineError::Overflow { what: format!("fee: {e}") })?.taker;
                (market.quote, quote - fee)
            }
        };
        Ok(OrderEffect { assets: vec![(held_asset, -held), received], derivative: None })
    }

    /// Whether an order's derivative quantity would carry the account's position across zero.
    fn derivative_flips(&self, account: AccountIdx, effect: &OrderEffect) -> bool {
        let Some((m, qty)) = effect.derivative else { return false };
        let before = self.position(account, m).quantity;
        let after = before.saturating_add(qty);
        (before > 0 && after < 0) || (before < 0 && after > 0)
    }
}

impl Engine {
    /// The pre-trade margin gate of a limit order, without placing it (a what-if for clients
    /// and benchmarks): `Ok` if a `place_order` of it would pass the margin gate.
    pub fn order_margin_check(
        &mut self,
        account: &str,
        market: &str,
        side: markets::OrderSide,
        price: &str,
        qty: &str,
    ) -> Result<(), EngineError> {
        let account = self.trader_account(account)?;
        let m = self.market(market)?;
        let state = &self.markets[m as usize];
        let (price, qty) = (state.price_from_decimal(price, &self.assets)?, state.qty_from_decimal(qty, &self.assets)?);
        let effect = self.order_effect(account, m, side.into(), price, qty)?;
        self.check_order_margin(account, &effect)
    }
}

impl Engine {
    /// The risk checks of an order before the book sees it: the position limit, then margin.
    /// `replaces`: the open order an amendment replaces and what it holds.
    pub(crate) fn check_order_risk(
        &mut self,
        account: AccountIdx,
        m: u16,
        side: book::Side,
        price: book::Price,
        qty: book::Qty,
        replaces: Option<(book::OrderId, (AssetIdx, i128))>,
    ) -> Result<(), EngineError> {
        self.check_position_limit(account, m, side, qty, replaces.map(|r| r.0))?;
        let mut effect = self.order_effect(account, m, side, price, qty)?;
        effect.assets.extend(replaces.map(|r| r.1));
        self.check_order_margin(account, &effect)
    }

    /// A buy may not take the account's net base position (posted, plus what its open buys and
    /// this order would buy) above the market's `position_max`. Sales only reduce it.
    /// (Open-interest caps of derivative markets join here with the derivative positions.)
    fn check_position_limit(
        &self,
        account: AccountIdx,
        m: u16,
        side: book::Side,
        qty: book::Qty,
        replaces: Option<book::OrderId>,
    ) -> Result<(), EngineError> {
        let market = &self.markets[m as usize];
        let Some(limit) = market.position_max else { return Ok(()) };
        if side == book::Side::Sell {
            return Ok(());
        }
        let open_buys: i128 = market
            .book
            .open_orders(book::AccountId(account.0))
            .iter()
            .filter(|o| o.side == book::Side::Buy && Some(o.order_id) != replaces)
            .map(|o| market.base_units(o.qty))
            .sum();
        let position = self.ledger.balance(account, market.base).posted + open_buys + market.base_units(qty);
        if position > limit {
            return Err(EngineError::PositionLimitExceeded {
                account: self.account_names[account.0 as usize].clone(),
                market: market.def.id.clone(),
                position: self.format(market.base, position),
                limit: self.format(market.base, limit),
            });
        }
        Ok(())
    }
}
