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
use margin_core::{AccountRisk, MarginError, OwnerTotals, Position, Requirement, RiskModel, RiskSummary};
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
    /// Equity minus initial margin (negative below IM), with the open derivative orders counted
    /// filled as the withdrawal gate counts them: what a withdrawal can take now.
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

/// What an account's loss vector and requirement depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RiskKey {
    positions: Vec<Position>,
    /// Every underlying's price, in the model's order.
    prices: Vec<Option<UsdPrice>>,
    model: [u8; 32],
    /// The positions of the owner's other sub-accounts that hold any (none: priced alone).
    siblings: Vec<Vec<Position>>,
}

/// A cached loss vector: valid while the positions (its own and its siblings'), prices and model
/// are the same.
#[derive(Debug, Clone)]
pub(crate) struct CachedRisk {
    key: RiskKey,
    risk: AccountRisk,
    requirement: Requirement,
    /// The pre-trade bound's summary of `risk` (built at the first order that needs it).
    summary: Option<RiskSummary>,
}

/// Which way the pre-trade gate decides: the bound first (the engine's way), or always the exact
/// requirement (for comparison in tests and benchmarks; the decisions are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTrade {
    BoundFirst,
    ExactOnly,
}

/// A cache of what was read for one risk model (`None`: nothing cached); checked against the
/// model in force by pointer before use.
pub(crate) type OfModel<T> = Option<(Arc<RiskModel>, T)>;

pub(crate) fn margin_error(e: MarginError) -> EngineError {
    match e {
        MarginError::UnknownInstrument(instrument) => EngineError::RiskModelUnknownName { name: instrument },
        MarginError::MissingPrice(symbol) => EngineError::MissingPrice { symbol },
        MarginError::InvalidModel(why) => EngineError::RiskModelRefused { why },
        // The engine's summaries are keyed by every price of the model, so this cannot arise.
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
    /// the house, plus what its positions have pending (`crate::settle`), plus its perps'
    /// unrealised P&L at the oracle index in their settlement asset (from the entry its pending
    /// mark-to-market leaves).
    pub(crate) fn holdings_of(&self, account: AccountIdx) -> Result<Vec<i128>, EngineError> {
        let mut holdings = vec![0i128; self.assets.len()];
        for (asset, balance) in self.ledger.balances_of(account) {
            holdings[asset.0 as usize] = balance.available();
        }
        let overflow = || EngineError::Overflow { what: "margin holdings".into() };
        for (asset, debt) in self.borrows_of(account) {
            let slot = &mut holdings[asset.0 as usize];
            *slot = slot.checked_sub(debt).ok_or_else(overflow)?;
        }
        for (&(_, m), _) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            let market = &self.markets[m as usize];
            // Pending funding, marks, socialised shares and expiry count as settled.
            let (pending, position) = self.settled_view(account, m)?;
            let slot = &mut holdings[market.quote.0 as usize];
            *slot = slot.checked_add(pending).ok_or_else(overflow)?;
            let Some(d) = market.derivative.as_ref().filter(|d| !d.is_option() && position.quantity != 0) else { continue };
            let index = self.margin_index_price_e18(m, position.quantity)?;
            let unrealised = position.unrealised(clearing::Price(index), d.spec).map_err(|_| overflow())?;
            *slot = slot.checked_add(unrealised).ok_or_else(overflow)?;
        }
        Ok(holdings)
    }

    /// An account's derivative positions in the model (with `deltas`, markets and quantities
    /// orders would add) and the value of its options at the model's unit values, 10^-18 USD.
    pub(crate) fn derivative_margin_positions(
        &self,
        model: &RiskModel,
        account: AccountIdx,
        deltas: &[(u16, i128)],
    ) -> Result<(Vec<Position>, i128), EngineError> {
        let overflow = || EngineError::Overflow { what: "derivative positions".into() };
        let mut quantities: Vec<(u16, i128)> = Vec::new();
        for (&(_, m), _) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            // An expired option's position is its pending payment, counted in the holdings.
            quantities.push((m, self.settled_view(account, m)?.1.quantity));
        }
        for &(m, q) in deltas {
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
    pub(crate) fn market_instrument(&self, model: &RiskModel, m: u16) -> Result<(margin_core::InstrumentIx, &str), EngineError> {
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
        positions.extend(self.derivative_margin_positions(&model, account, &[])?.0);
        Ok(positions)
    }

    /// Positions of holdings: one per non-zero asset, the asset's symbol being the instrument.
    pub(crate) fn positions_from(&self, model: &RiskModel, holdings: &[i128]) -> Result<Vec<Position>, EngineError> {
        let mut positions = Vec::new();
        for (a, &units) in holdings.iter().enumerate().filter(|(_, u)| **u != 0) {
            let instrument = self.asset_instrument(model, a);
            let instrument = instrument.ok_or_else(|| EngineError::RiskModelUnknownName { name: self.assets[a].symbol.clone() })?;
            positions.push(Position { instrument, qty: units });
        }
        Ok(positions)
    }

    /// The instrument of asset `a` in `model` (from the cache when it is of this model).
    pub(crate) fn asset_instrument(&self, model: &RiskModel, a: usize) -> Option<margin_core::InstrumentIx> {
        match &self.asset_instruments_cache {
            Some((m, ixs)) if std::ptr::eq(Arc::as_ptr(m), model) && ixs.len() == self.assets.len() => ixs[a],
            _ => model.instrument(&self.assets[a].symbol),
        }
    }

    /// Fills the cache [`Self::positions_from`] reads: each asset's instrument in `model`,
    /// looked up by name once per model and asset table instead of once per holding.
    pub(crate) fn cache_asset_instruments(&mut self, model: &Arc<RiskModel>) {
        let fresh = self.asset_instruments_cache.as_ref().is_some_and(|(m, ixs)| Arc::ptr_eq(m, model) && ixs.len() == self.assets.len());
        if !fresh {
            let ixs = self.assets.iter().map(|a| model.instrument(&a.symbol)).collect();
            self.asset_instruments_cache = Some((model.clone(), ixs));
        }
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

    /// [`Self::underlying_prices`] of the model in force, read once per model and price print.
    pub(crate) fn underlying_prices_shared(&mut self, model: &Arc<RiskModel>) -> Arc<[Option<UsdPrice>]> {
        if let Some((m, prices)) = &self.underlying_prices_cache
            && Arc::ptr_eq(m, model)
        {
            return prices.clone();
        }
        let prices: Arc<[Option<UsdPrice>]> = self.underlying_prices(model).into();
        self.underlying_prices_cache = Some((model.clone(), prices.clone()));
        prices
    }

    /// Equity and requirement of holdings; the account's loss vector for them is left in the
    /// cache (computed unless the cached one has the same positions, prices and model).
    pub(crate) fn measure(&mut self, model: &Arc<RiskModel>, account: AccountIdx, holdings: &[i128]) -> Result<Measured, EngineError> {
        let mut positions = self.positions_from(model, holdings)?;
        let (derivatives, option_value) = self.derivative_margin_positions(model, account, &[])?;
        positions.extend(derivatives);
        let prices = self.underlying_prices(model);
        let siblings = self.sibling_positions(model, account)?;
        let key = RiskKey { positions, prices, model: self.risk_model.digest, siblings };
        let requirement = match self.margin_cache.get(&account).filter(|c| c.key == key) {
            Some(c) => c.requirement,
            None => {
                let risk = model.account(&key.positions, &key.prices).map_err(margin_error)?;
                let requirement = match owner_totals(model, &key, &[])? {
                    None => model.requirement(&risk),
                    Some(owner) => model.requirement_in_owner(&risk, &owner),
                }
                .map_err(margin_error)?;
                if self.margin_cache.len() >= MARGIN_CACHE_ACCOUNTS_MAX && !self.margin_cache.contains_key(&account) {
                    self.margin_cache.pop_first();
                }
                self.margin_cache.insert(account, CachedRisk { key, risk, requirement, summary: None });
                requirement
            }
        };
        // The owner's add-on is added after the cache: the cached loss vector stays the model's.
        let requirement = self.with_add_on(account, requirement)?;
        Ok(Measured { equity: add_usd(self.equity_of(holdings)?, option_value)?, requirement })
    }

    pub(crate) fn margin_cache_clear(&mut self) {
        self.margin_cache.clear();
        self.bound_anchors.clear();
    }

    /// The pre-trade summary of the account's cached loss vector (built now if the order gate
    /// has not built it).
    pub(crate) fn cached_summary(&self, model: &RiskModel, bounds: &margin_core::UnitBounds, account: AccountIdx) -> Option<RiskSummary> {
        let cached = self.margin_cache.get(&account)?;
        cached.summary.clone().or_else(|| model.summary(bounds, &cached.risk, &cached.key.prices).ok())
    }

    /// The positions of the owner's other trader sub-accounts, those that hold any, in name
    /// order: concentration and liquidity are charged at the owner's total (docs/engine.md,
    /// "Owners").
    pub(crate) fn sibling_positions(&self, model: &RiskModel, account: AccountIdx) -> Result<Vec<Vec<Position>>, EngineError> {
        let mut out = Vec::new();
        for sibling in self.siblings_of(account) {
            let mut positions = self.positions_from(model, &self.holdings_of(sibling)?)?;
            positions.extend(self.derivative_margin_positions(model, sibling, &[])?.0);
            if !positions.is_empty() {
                out.push(positions);
            }
        }
        Ok(out)
    }

    /// The owner's other trader sub-accounts, in name order (from the owner index: no name is
    /// formatted or compared).
    pub(crate) fn siblings_of(&self, account: AccountIdx) -> Vec<AccountIdx> {
        self.owners.subs_of(account).iter().copied().filter(|a| *a != account).collect()
    }

    /// The pre-trade gate of an order with `effect` when fully filled. With the bound first, an
    /// account that is not flagged is accepted when its equity after the order covers
    /// [`margin_core::UnitBounds::im_upper`] (at least the exact IM after, so the exact path would
    /// accept too); otherwise the exact requirement decides.
    pub(crate) fn check_order_margin(&mut self, account: AccountIdx, effect: &OrderEffect, mode: PreTrade) -> Result<(), EngineError> {
        if !self.margin_enabled() {
            return Ok(());
        }
        let model = self.usable_model()?;
        let before = self.holdings_of(account)?;
        let after = apply_deltas(&before, &effect.assets)?;
        let now = self.measure(&model, account, &before)?;
        let prices = self.underlying_prices(&model);
        let mut delta_positions = self.positions_from(&model, &deltas_as_holdings(self.assets.len(), &effect.assets))?;
        let mut deltas = effect.elsewhere.clone();
        deltas.extend(effect.derivative);
        let (_, option_value_after) = self.derivative_margin_positions(&model, account, &deltas)?;
        let mut open_elsewhere = Vec::with_capacity(effect.elsewhere.len());
        for &(m, qty) in &effect.elsewhere {
            open_elsewhere.push(Position { instrument: self.market_instrument(&model, m)?.0, qty });
        }
        delta_positions.extend(open_elsewhere.iter().copied());
        if let Some((m, qty)) = effect.derivative {
            delta_positions.push(Position { instrument: self.market_instrument(&model, m)?.0, qty });
        }
        let equity_after = add_usd(self.equity_of(&after)?, option_value_after)?;
        let flagged = self.health_flags.get(&account).copied().filter(|h| *h != health::Health::Healthy);
        if mode == PreTrade::BoundFirst && flagged.is_none() && self.bound_accepts(&model, account, &delta_positions, &prices, equity_after)
        {
            return Ok(());
        }
        let cached = &self.margin_cache[&account]; // `measure` just left it there (evicting another).
        let requirement = self.with_add_on(account, requirement_with(&model, cached, &delta_positions)?)?;
        // Reducing risk is judged with the open orders elsewhere filled on both sides of the
        // comparison (they would fill with or without this order).
        let before_req = match open_elsewhere.is_empty() {
            true => now.requirement,
            false => self.with_add_on(account, requirement_with(&model, cached, &open_elsewhere)?)?,
        };
        let flips =
            before.iter().zip(&after).any(|(b, a)| (*b > 0 && *a < 0) || (*b < 0 && *a > 0)) || self.derivative_flips(account, effect);
        let name = &self.account_names[account.0 as usize];
        let short = || EngineError::InsufficientMargin {
            account: name.clone(),
            required: usd(requirement.initial.0),
            available: usd(equity_after.0),
        };
        if requirement.initial <= before_req.initial && !flips {
            if equity_after.0 >= requirement.initial.0 {
                return Ok(());
            }
            // Below IM after it, a reducing order must not make the account worse: its price
            // could hand the account's equity to the other side (an accomplice's order at the
            // edge of the band). Judged with the open orders elsewhere filled on both sides.
            let option_value_before = self.derivative_margin_positions(&model, account, &effect.elsewhere)?.1;
            let equity_before = add_usd(self.equity_of(&before)?, option_value_before)?;
            let no_worse = not_worse(equity_before, before_req, equity_after, requirement)
                .ok_or_else(|| EngineError::Overflow { what: "margin excess".into() })?;
            return if no_worse { Ok(()) } else { Err(short()) };
        }
        if let Some(health) = flagged {
            return Err(EngineError::ReduceOnlyAccount { account: name.clone(), health });
        }
        if equity_after.0 < requirement.initial.0 {
            return Err(short());
        }
        Ok(())
    }

    /// Whether the bound alone accepts: `equity_after >= im_upper` from the account's summary
    /// (built from its cached loss vector, which `measure` just left, at the first order that
    /// needs it; invalid, like the vector, once positions, a price or the model change). A bound
    /// that cannot be computed (an overflow) decides nothing: the exact path then decides, and
    /// reports its own error if it has one.
    fn bound_accepts(
        &mut self,
        model: &Arc<RiskModel>,
        account: AccountIdx,
        delta: &[Position],
        prices: &[Option<UsdPrice>],
        equity_after: UsdValue,
    ) -> bool {
        let Some(bounds) = self.risk_model.bounds.clone() else { return false };
        // The owner's add-on on top of the bound (an upper bound still: added even at IM zero).
        let add_on = self.add_on_of(account);
        let Some(cached) = self.margin_cache.get_mut(&account) else { return false };
        if cached.summary.is_none() {
            cached.summary = model.summary(&bounds, &cached.risk, &cached.key.prices).ok();
        }
        let Some(summary) = cached.summary.as_ref() else { return false };
        let covers = |im_upper: i128| im_upper.checked_add(add_on).is_some_and(|im| equity_after.0 >= im);
        if cached.key.siblings.is_empty() {
            return bounds.im_upper(model, summary, delta, prices).is_ok_and(|im_upper| covers(im_upper.0));
        }
        // In an owner with other sub-accounts holding positions: the whole book after the order,
        // concentration and liquidity at the owner's totals with it.
        let mut target = cached.key.positions.clone();
        target.extend_from_slice(delta);
        let mut subs: Vec<&[Position]> = vec![&target];
        subs.extend(cached.key.siblings.iter().map(Vec::as_slice));
        let Ok(owner) = model.owner_totals_of(&subs, prices) else { return false };
        bounds.im_upper_target(model, summary, &target, prices, &owner).is_ok_and(|im_upper| covers(im_upper.0))
    }

    /// The gate on moving `units` of `asset` out of `account` (0 units: a confirmation of what
    /// is already reserved): equity minus IM stays non-negative.
    pub(crate) fn check_free_collateral(&mut self, account: AccountIdx, asset: AssetIdx, units: i128) -> Result<(), EngineError> {
        if !self.margin_enabled() {
            return Ok(());
        }
        let model = self.usable_model()?;
        let after = apply_deltas(&self.holdings_of(account)?, &[(asset, -units)])?;
        // Open derivative orders can fill at any moment, with no gate at the fill: they count
        // filled, as in the order gate. The bound knows no order: it decides only without them.
        let open = self.open_derivative_orders(account, None);
        // The bound accepts only what the exact computation would (`headroom.rs`).
        if open.is_empty() && self.bound_covers(&model, account, &after) {
            return Ok(());
        }
        let measured = self.measure(&model, account, &after)?;
        let (required, available) = match open.is_empty() {
            true => (measured.requirement.initial, measured.equity),
            false => self.with_open_orders(&model, account, &after, &open)?,
        };
        if available.0 < required.0 {
            return Err(EngineError::InsufficientFreeCollateral {
                account: self.account_names[account.0 as usize].clone(),
                required: usd(required.0),
                available: usd(available.0),
            });
        }
        if open.is_empty() {
            self.anchor_from_cache(&model, account);
        }
        Ok(())
    }

    /// IM and equity of the just measured account (holding `after`) with its open derivative
    /// orders filled (`open_derivative_orders`: per market the side that takes the position
    /// furthest from zero), as the order gate prices them: the holds are already spent, an
    /// option's value is the model's, an option seller receives the premium less the larger fee.
    fn with_open_orders(
        &self,
        model: &RiskModel,
        account: AccountIdx,
        after: &[i128],
        open: &[(u16, i128)],
    ) -> Result<(UsdValue, UsdValue), EngineError> {
        let overflow = || EngineError::Overflow { what: "open orders filled".into() };
        let (mut delta, mut premiums) = (Vec::with_capacity(open.len()), Vec::new());
        for &(m, qty) in open {
            delta.push(Position { instrument: self.market_instrument(model, m)?.0, qty });
            let market = &self.markets[m as usize];
            if qty > 0 || !market.derivative.as_ref().is_some_and(|d| d.is_option()) {
                continue;
            }
            for o in market.book.open_orders(book::AccountId(account.0)).iter().filter(|o| o.side == book::Side::Sell) {
                let premium = market.quote_amount(o.price, o.qty)?;
                let fee = markets::fill_fees(market.hold_fees, premium)?.taker;
                premiums.push((market.quote, premium.checked_sub(fee).ok_or_else(overflow)?));
            }
        }
        let cached = &self.margin_cache[&account]; // `measure` just left it there.
        let required = self.with_add_on(account, requirement_with(model, cached, &delta)?)?.initial;
        let (_, option_value) = self.derivative_margin_positions(model, account, open)?;
        let equity = add_usd(self.equity_of(&apply_deltas(after, &premiums)?)?, option_value)?;
        Ok((required, equity))
    }

    /// Margin of an account at the engine's current prices and the model in force.
    pub fn account_margin(&mut self, account: &str) -> Result<AccountMargin, EngineError> {
        let idx = self.trader_account(account)?;
        let model = self.usable_model()?;
        let holdings = self.holdings_of(idx)?;
        let m = self.measure(&model, idx, &holdings)?;
        // What a withdrawal can take now: with open derivative orders counted filled, as the
        // withdrawal gate counts them (`check_free_collateral`).
        let open = self.open_derivative_orders(idx, None);
        let (required, available) = match open.is_empty() {
            true => (m.requirement.initial, m.equity),
            false => self.with_open_orders(&model, idx, &holdings, &open)?,
        };
        let free = available.0.checked_sub(required.0).ok_or_else(|| EngineError::Overflow { what: "free collateral".into() })?;
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

/// The owner's totals with `delta` added to the cached account (`None`: no sibling holds
/// anything, the account is priced alone).
fn owner_totals(model: &RiskModel, key: &RiskKey, delta: &[Position]) -> Result<Option<OwnerTotals>, EngineError> {
    if key.siblings.is_empty() {
        return Ok(None);
    }
    let mut own = key.positions.clone();
    own.extend_from_slice(delta);
    let mut subs: Vec<&[Position]> = vec![&own];
    subs.extend(key.siblings.iter().map(Vec::as_slice));
    model.owner_totals_of(&subs, &key.prices).map(Some).map_err(margin_error)
}

/// The exact requirement of the cached account with `delta` added, in its owner.
pub(crate) fn requirement_with(model: &RiskModel, cached: &CachedRisk, delta: &[Position]) -> Result<Requirement, EngineError> {
    match owner_totals(model, &cached.key, delta)? {
        None => model.with(&cached.risk, delta, &cached.key.prices),
        Some(owner) => model.with_in_owner(&cached.risk, delta, &cached.key.prices, &owner),
    }
    .map_err(margin_error)
}

/// Whether a risk-reducing order that leaves the account below IM leaves it no worse: its
/// equity over IM does not fall, and its equity over MM does not fall below the smaller of zero
/// and what it was (a fill past the bankruptcy price would leave a deficit for the waterfall).
/// `None` on an overflow.
fn not_worse(equity_before: UsdValue, before: Requirement, equity_after: UsdValue, after: Requirement) -> Option<bool> {
    let over = |equity: UsdValue, requirement: UsdValue| equity.0.checked_sub(requirement.0);
    let im_kept = over(equity_after, after.initial)? >= over(equity_before, before.initial)?;
    let mm_kept = over(equity_after, after.maintenance)? >= over(equity_before, before.maintenance)?.min(0);
    Some(im_kept && mm_kept)
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
    /// The account's open orders on the other derivative markets, as positions they would add
    /// (per market, the side that takes the position furthest from zero).
    pub elsewhere: Vec<(u16, i128)>,
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
            let open = market.book.open_orders(book::AccountId(account.0));
            let fills: Vec<(book::Price, book::Qty)> =
                std::iter::once((price, qty)).chain(open.iter().filter(|o| o.side == side).map(|o| (o.price, o.qty))).collect();
            let units = fills
                .iter()
                .try_fold(0i128, |sum, (_, q)| sum.checked_add(market.base_units(*q)))
                .ok_or_else(|| EngineError::Overflow { what: "open quantity".into() })?;
            let signed = if side == book::Side::Buy { units } else { -units };
            if !d.is_option() {
                assets.push((market.quote, self.perp_fill_losses(m, side, &fills)?));
            }
            return Ok(OrderEffect { assets, derivative: Some((m, signed)), elsewhere: self.open_derivative_orders(account, Some(m)) });
        }
        let received = match side {
            book::Side::Buy => (market.base, market.base_units(qty)),
            book::Side::Sell => {
                let quote = market.quote_amount(price, qty)?;
                let fee = market.hold_fees.fill_fees(Amount(quote)).map_err(|e| EngineError::Overflow { what: format!("fee: {e}") })?.taker;
                (market.quote, quote - fee)
            }
        };
        Ok(OrderEffect {
            assets: vec![(held_asset, -held), received],
            derivative: None,
            elsewhere: self.open_derivative_orders(account, None),
        })
    }

    /// What the perp fills (`(price, qty)` on one side: the order and the account's open orders
    /// on that side of the market) lose at once when filled at their prices against the margin
    /// index (a buy above it, a sale below it), in settlement units, rounded against the account;
    /// a fill on the good side of the index counts nothing (it may never fill there).
    fn perp_fill_losses(&self, m: u16, side: book::Side, fills: &[(book::Price, book::Qty)]) -> Result<i128, EngineError> {
        let market = &self.markets[m as usize];
        let overflow = || EngineError::Overflow { what: "perp fill at its price".into() };
        let Some(d) = market.derivative.as_ref() else { return Ok(0) };
        let mut total = 0i128;
        for &(p, q) in fills {
            let units = market.base_units(q);
            let signed = if side == book::Side::Buy { units } else { -units };
            let index = clearing::Price(self.margin_index_price_e18(m, signed)?);
            let cost = d.spec.value_e18(signed, clearing::Price(market.price_e18(p)?), Rounding::Ceil).map_err(|_| overflow())?;
            let gap = clearing::pnl::PerpPosition { quantity: signed, cost_e18: cost }.unrealised(index, d.spec).map_err(|_| overflow())?;
            total = total.checked_add(gap.min(0)).ok_or_else(overflow)?;
        }
        Ok(total)
    }

    /// The account's open orders on every derivative market but `except`, as the position each
    /// market's orders would add: per market, all the buys or all the sells, whichever takes the
    /// position further from zero (the buys on a tie). This is the worst fill per market for a
    /// book whose risk grows with each position's size; it is not a search over every
    /// combination of partial fills across markets.
    /// Empty when margin is off (nothing reads it then).
    fn open_derivative_orders(&self, account: AccountIdx, except: Option<u16>) -> Vec<(u16, i128)> {
        let mut out = Vec::new();
        if !self.margin_enabled() {
            return out;
        }
        for (m, market) in self.markets.iter().enumerate().filter(|(m, mk)| mk.derivative.is_some() && Some(*m as u16) != except) {
            let open = market.book.open_orders(book::AccountId(account.0));
            if open.is_empty() {
                continue;
            }
            let side = |s: book::Side| -> i128 { open.iter().filter(|o| o.side == s).map(|o| market.base_units(o.qty)).sum() };
            let position = self.position(account, m as u16).quantity;
            let (buys, sells) = (side(book::Side::Buy), side(book::Side::Sell));
            let delta = if position.saturating_add(buys).abs() >= position.saturating_sub(sells).abs() { buys } else { -sells };
            if delta != 0 {
                out.push((m as u16, delta));
            }
        }
        out
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
    /// and benchmarks): `Ok` if a `place_order` of it would pass the margin gate. `mode`:
    /// the engine's way ([`PreTrade::BoundFirst`]) or the exact requirement alone (same decision).
    pub fn order_margin_check(
        &mut self,
        account: &str,
        market: &str,
        side: markets::OrderSide,
        price: &str,
        qty: &str,
        mode: PreTrade,
    ) -> Result<(), EngineError> {
        let account = self.trader_account(account)?;
        let m = self.market(market)?;
        let state = &self.markets[m as usize];
        let (price, qty) = (state.price_from_decimal(price, &self.assets)?, state.qty_from_decimal(qty, &self.assets)?);
        let effect = self.order_effect(account, m, side.into(), price, qty)?;
        self.check_order_margin(account, &effect, mode)
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
        self.check_open_interest(account, m, side, qty)?;
        let mut effect = self.order_effect(account, m, side, price, qty)?;
        effect.assets.extend(replaces.map(|r| r.1));
        self.check_order_margin(account, &effect, PreTrade::BoundFirst)
    }

    /// On a derivative market with an open-interest cap, the part of an order beyond what
    /// reduces the account's position (its *opening* quantity) must fit under the cap with
    /// today's open interest. This keeps the open interest at or below the cap: a fill in which
    /// one side only reduces cannot raise it, so the fills of a taker raise it by at most the
    /// taker's opening quantity, and a resting order changes it only when a taker (checked at
    /// its placement) fills it.
    fn check_open_interest(&self, account: AccountIdx, m: u16, side: book::Side, qty: book::Qty) -> Result<(), EngineError> {
        let market = &self.markets[m as usize];
        let Some(d) = market.derivative.as_ref() else { return Ok(()) };
        let Some(cap) = d.open_interest_max else { return Ok(()) };
        let position = self.position(account, m).quantity;
        let reducible = if side == book::Side::Buy { position.min(0).saturating_neg() } else { position.max(0) };
        let opening = market.base_units(qty).saturating_sub(reducible).max(0);
        if opening > 0 && d.open_interest.saturating_add(opening) > cap {
            return Err(EngineError::OpenInterestCap {
                market: market.def.id.clone(),
                open_interest: money::format_decimal(d.open_interest, market.base_scale),
                opening: money::format_decimal(opening, market.base_scale),
                cap: money::format_decimal(cap, market.base_scale),
            });
        }
        Ok(())
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
