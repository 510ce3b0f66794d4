//! The default waterfall in the engine (docs/liquidation.md, "In the engine"): an account whose
//! liquidation left it without perp positions or open auctions, with negative equity and a debt
//! to the house, is bankrupt. Per asset it owes, the deficit (the debt after its own balance of
//! that asset repaid what it could) is met by `liquidation::waterfall::allocate`:
//!
//! 1. `collateral`: the defaulter's other tokens, sold to `@house` at their collateral price
//!    (rounded down): the tokens to the house, their value in the owed asset to the defaulter;
//! 2. `penalty`: the insurance share of the penalties this liquidation collected, back from
//!    `@insurance`;
//! 3. `insurance_fund`: the rest of `@insurance`'s balance of the asset;
//! 4. `broker_capital`: `@house`'s own capital in the asset (its balance plus everything it
//!    lent, never below zero);
//! 5. `socialised` or `deleveraged` (configured): the holders of the defaulter's markets, pro
//!    rata to their position size, or the most profitable opposite positions (profit x
//!    leverage), each up to its profit; what nobody can bear is `house_uncovered`, paid by
//!    `@house` beyond its capital and reported as such.
//!
//! Each step is one ledger transfer to the defaulter (a `transferred` event with reason
//! `waterfall`) and one `waterfall_step` event; the defaulter then repays its debt. The steps
//! sum to the deficit exactly (asserted in release builds), so every unit of loss is traceable
//! to a step, an account and the command's sequence number.

use crate::*;
use ledger::Reason;
use liquidation::waterfall::{self, AdlCandidate, Resources};
use money::{Rounding, mul_div};

/// One market's part of a deficit deleveraged: the bankrupt quantity closed there, its share
/// of the deficit, the index and the sign of the bankrupt position.
struct AdlShare {
    market: u16,
    closed: i128,
    share: i128,
    index: i128,
    sign: i128,
}

impl Engine {
    /// The bankruptcy check of an account whose liquidation has nothing left to auction.
    pub(crate) fn settle_bankruptcy(
        &mut self,
        config: &model::LiquidationConfig,
        account: AccountIdx,
        seq: u64,
        events: &mut Vec<Event>,
        touched: &mut BTreeSet<AccountIdx>,
    ) -> Result<(), EngineError> {
        if self.has_perps(account) || self.has_live_options(account) || self.liq.auctions.values().any(|a| a.account == account) {
            return Ok(());
        }
        let case = self.liq.cases.get(&account).cloned().unwrap_or_default();
        let model = self.usable_model()?;
        let holdings = self.holdings_of(account)?;
        let equity = self.measure(&model, account, &holdings)?.equity;
        if equity.0 >= 0 {
            self.liq.cases.remove(&account);
            return Ok(());
        }
        let owed: Vec<AssetIdx> = self.borrows_of(account).map(|(a, _)| a).collect();
        for asset in owed {
            self.repay_borrow(account, asset, seq, events);
            let deficit = self.debt_of(account, asset);
            if deficit > 0 {
                self.cover_deficit(config, account, asset, deficit, &case, seq, events, touched)?;
            }
        }
        self.liq.cases.remove(&account);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn cover_deficit(
        &mut self,
        config: &model::LiquidationConfig,
        account: AccountIdx,
        asset: AssetIdx,
        deficit: i128,
        case: &liquidate::Case,
        seq: u64,
        events: &mut Vec<Event>,
        touched: &mut BTreeSet<AccountIdx>,
    ) -> Result<(), EngineError> {
        let (house, insurance) = (self.account_index[HOUSE], self.account_index[INSURANCE]);
        let collateral = self.collateral_value(account, asset)?;
        let fund = self.ledger.balance(insurance, asset).posted.max(0);
        let penalty = case.penalties.get(&asset).copied().unwrap_or(0).min(fund);
        let resources = Resources {
            collateral: collateral.iter().map(|(_, _, v)| v).sum(),
            penalty,
            insurance_fund: fund - penalty,
            broker_capital: self.house_capital(asset)?,
        };
        let plan = waterfall::allocate(deficit, &resources).map_err(|e| EngineError::LiquidationFailed { why: e.to_string() })?;
        self.sell_collateral(account, asset, &collateral, plan.collateral, seq, events);
        self.waterfall_step(account, asset, "penalty", insurance, plan.penalty, seq, events);
        self.waterfall_step(account, asset, "insurance_fund", insurance, plan.insurance_fund, seq, events);
        self.waterfall_step(account, asset, "broker_capital", house, plan.broker_capital, seq, events);
        let last = match config.last_resort {
            model::LastResort::Socialise => self.socialise(account, asset, plan.last_resort, case, seq, events, touched)?,
            model::LastResort::Adl => self.deleverage(account, asset, plan.last_resort, case, seq, events, touched)?,
        };
        self.waterfall_step(account, asset, "house_uncovered", house, plan.last_resort - last, seq, events);
        self.repay_borrow(account, asset, seq, events);
        assert_eq!(plan.total().ok(), Some(deficit), "waterfall steps sum to the deficit");
        assert_eq!(self.debt_of(account, asset), 0, "the waterfall covers the whole deficit");
        Ok(())
    }

    /// One step: `amount` from `from` to the defaulter, reported.
    #[allow(clippy::too_many_arguments)]
    fn waterfall_step(
        &mut self,
        account: AccountIdx,
        asset: AssetIdx,
        step: &str,
        from: AccountIdx,
        amount: i128,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        if amount <= 0 {
            return;
        }
        let t = Transfer { debit: from, credit: account, asset, amount, reason: Reason::Waterfall, command_seq: seq };
        self.ledger.post(&t).expect("broker accounts may go negative and a credit fits what custody holds");
        events.push(self.transferred_event(&t));
        events.push(self.step_event(account, asset, step, amount, seq));
    }

    /// A waterfall payment from a trader account: what it lacks is lent by the house first (as
    /// every derivative payment); the receiver repays nothing yet, so the defaulter's debt is
    /// repaid once, in full, after the last step (a partial repayment rounds against it).
    fn charge(&mut self, from: AccountIdx, to: AccountIdx, asset: AssetIdx, amount: i128, seq: u64, events: &mut Vec<Event>) {
        if amount <= 0 {
            return;
        }
        let available = self.ledger.balance(from, asset).available();
        if available < amount {
            self.borrow(from, asset, amount - available.max(0), seq, events);
        }
        let t = Transfer { debit: from, credit: to, asset, amount, reason: Reason::Waterfall, command_seq: seq };
        self.ledger.post(&t).expect("the shortfall was borrowed just before");
        events.push(self.transferred_event(&t));
    }

    fn step_event(&self, account: AccountIdx, asset: AssetIdx, step: &str, amount: i128, seq: u64) -> Event {
        Event::WaterfallStep {
            seq,
            account: self.account_names[account.0 as usize].clone(),
            step: step.into(),
            asset: self.assets[asset.0 as usize].symbol.clone(),
            amount: self.format(asset, amount),
        }
    }

    /// The defaulter's other tokens: (asset, units, value in `owed` units at the collateral
    /// prices, rounded down), in asset order.
    fn collateral_value(&self, account: AccountIdx, owed: AssetIdx) -> Result<Vec<(AssetIdx, i128, i128)>, EngineError> {
        let owed_info = &self.assets[owed.0 as usize];
        let owed_price = self.collateral_price(&owed_info.symbol, -1)?.0;
        let mut out = Vec::new();
        for a in (0..self.assets.len() as u16).map(AssetIdx).filter(|a| *a != owed) {
            let units = self.ledger.balance(account, a).available();
            if units <= 0 || self.debt_of(account, a) > 0 {
                continue;
            }
            let info = &self.assets[a.0 as usize];
            let usd = money::value_usd(money::Amount(units), info.scale, self.collateral_price(&info.symbol, units)?, Rounding::Floor)
                .map_err(|_| EngineError::Overflow { what: "collateral value".into() })?;
            let value = mul_div(usd.0, owed_info.scale.one(), owed_price, Rounding::Floor)
                .map_err(|_| EngineError::Overflow { what: "collateral value".into() })?;
            out.push((a, units, value));
        }
        Ok(out)
    }

    /// Step 1: the house buys the defaulter's tokens at their value (all of them while the
    /// deficit needs their value; the last one in proportion, rounded up in units).
    fn sell_collateral(
        &mut self,
        account: AccountIdx,
        owed: AssetIdx,
        collateral: &[(AssetIdx, i128, i128)],
        mut amount: i128,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        let house = self.account_index[HOUSE];
        let total = amount;
        for &(asset, units, value) in collateral {
            if amount == 0 {
                break;
            }
            let (take_value, take_units) = if value <= amount {
                (value, units)
            } else {
                (amount, mul_div(units, amount, value, Rounding::Ceil).expect("a fraction of a balance").min(units))
            };
            amount -= take_value;
            let tokens = Transfer { debit: account, credit: house, asset, amount: take_units, reason: Reason::Waterfall, command_seq: seq };
            self.ledger.post(&tokens).expect("the defaulter's own available tokens");
            events.push(self.transferred_event(&tokens));
            if take_value > 0 {
                let paid = Transfer {
                    debit: house,
                    credit: account,
                    asset: owed,
                    amount: take_value,
                    reason: Reason::Waterfall,
                    command_seq: seq,
                };
                self.ledger.post(&paid).expect("the house may go negative");
                events.push(self.transferred_event(&paid));
            }
        }
        assert_eq!(amount, 0, "the collateral step takes at most what the tokens are worth");
        if total > 0 {
            events.push(self.step_event(account, owed, "collateral", total, seq));
        }
    }

    /// The house's capital in an asset: its balance plus everything lent (the defaulter's debt
    /// included: the deficit is the part of it the other steps do not return), never below zero.
    pub(crate) fn house_capital(&self, asset: AssetIdx) -> Result<i128, EngineError> {
        let house = self.account_index[HOUSE];
        let mut capital = self.ledger.balance(house, asset).posted;
        for &(a, x) in self.borrows.keys() {
            if x == asset {
                capital = capital.checked_add(self.debt_of(a, x)).ok_or_else(|| EngineError::Overflow { what: "house capital".into() })?;
            }
        }
        Ok(capital.max(0))
    }

    /// Trader accounts other than the defaulter holding positions on its markets: (account,
    /// market, signed quantity), in account order.
    fn holders(&self, defaulter: AccountIdx, case: &liquidate::Case) -> Vec<(AccountIdx, u16, i128)> {
        let mut out = Vec::new();
        for &m in case.markets.keys() {
            for (a, q) in self.market_positions(m) {
                if a != defaulter && self.account_kinds[a.0 as usize] == AccountKind::Trader {
                    out.push((a, m, q));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Last resort, socialised through the market indices (`crate::settle`): each of the
    /// defaulter's perp markets settled in `asset` advances its share (pro rata to the market's
    /// `|quantity|` held by traders, the house's position excepted) from its clearing account
    /// at once and raises its socialised-loss index by `ceil(share x 10^9 x unit / weight)`
    /// per whole unit, so each holder pays its share, rounded up, when its position settles.
    /// O(markets) in this command. Returns what the holders bear.
    #[allow(clippy::too_many_arguments)]
    fn socialise(
        &mut self,
        account: AccountIdx,
        asset: AssetIdx,
        amount: i128,
        case: &liquidate::Case,
        seq: u64,
        events: &mut Vec<Event>,
        touched: &mut BTreeSet<AccountIdx>,
    ) -> Result<i128, EngineError> {
        if amount == 0 {
            return Ok(0);
        }
        let weights: Vec<(u16, i128)> = case
            .markets
            .keys()
            .filter(|m| self.markets[**m as usize].quote == asset)
            .map(|&m| (m, self.social_weight(m)))
            .filter(|(_, w)| *w > 0)
            .collect();
        let total: i128 = weights.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return Ok(0);
        }
        let failed = |what: &str| EngineError::LiquidationFailed { why: format!("socialising: {what}") };
        let mut shares = Vec::with_capacity(weights.len());
        for &(m, w) in &weights {
            shares.push((m, w, mul_div(amount, w, total, Rounding::Floor).map_err(|_| failed("share overflow"))?));
        }
        shares[0].2 += amount - shares.iter().map(|s| s.2).sum::<i128>();
        let mut steps = Vec::with_capacity(shares.len());
        for &(m, w, share) in &shares {
            let d = self.markets[m as usize].derivative.as_ref().expect("cases are on perps");
            let per_unit = 1_000_000_000i128.checked_mul(d.unit_e18).ok_or_else(|| failed("unit"))?;
            let step = mul_div(share, per_unit, w, Rounding::Ceil).map_err(|_| failed("index overflow"))?;
            let index = d.indices.social_e18.checked_add(step).ok_or_else(|| failed("index overflow"))?;
            steps.push((m, share, index));
        }
        for (m, share, index) in steps {
            if share == 0 {
                continue;
            }
            let clearing = self.account_index[&derivatives::clearing_account(&self.markets[m as usize].def.id)];
            let d = self.markets[m as usize].derivative.as_mut().expect("cases are on perps");
            d.indices.social_e18 = index;
            d.indices.social_due += share;
            self.bump_epoch(m);
            let t = Transfer { debit: clearing, credit: account, asset, amount: share, reason: Reason::Waterfall, command_seq: seq };
            self.ledger.post(&t).expect("a clearing account may go negative and a credit fits what custody holds");
            events.push(self.transferred_event(&t));
            events.push(Event::Socialised {
                seq,
                account: self.account_names[account.0 as usize].clone(),
                holder: self.account_names[clearing.0 as usize].clone(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                amount: self.format(asset, share),
            });
            touched.extend(
                self.market_positions(m).into_iter().map(|(a, _)| a).filter(|a| self.account_kinds[a.0 as usize] == AccountKind::Trader),
            );
        }
        events.push(self.step_event(account, asset, "socialised", amount, seq));
        Ok(amount)
    }

    /// What a market's socialised loss is spread over: `|quantity|` of every position but the
    /// house's (the defaulter holds none when it is bankrupt).
    fn social_weight(&self, m: u16) -> i128 {
        let d = self.markets[m as usize].derivative.as_ref().expect("a derivative market");
        let house = self.position(self.account_index[HOUSE], m).quantity.abs();
        2 * d.open_interest - house
    }

    /// Last resort, auto-deleveraging (docs/liquidation.md, "Auto-deleveraging"): the bankrupt
    /// position (the quantity the case's auctions closed, per market) is closed against the
    /// opposite positions in the order of `liquidation::waterfall::adl_queue`, at the bankrupt
    /// price. The deficit is split over the case's markets pro rata to that quantity's notional
    /// at the index; on a market, a holder closing `qty` of the bankrupt `closed` pays
    /// `ceil(share x qty / closed)` (never more than its profit at the index), and `qty` of
    /// its position is queued to close against `@house` at the index (which holds the bankrupt
    /// position it took over); the liquidation step closes it as its record room allows
    /// (`Engine::run_adl_closes`). Returns what the holders bore; the rest is the house's.
    #[allow(clippy::too_many_arguments)]
    fn deleverage(
        &mut self,
        account: AccountIdx,
        asset: AssetIdx,
        amount: i128,
        case: &liquidate::Case,
        seq: u64,
        events: &mut Vec<Event>,
        touched: &mut BTreeSet<AccountIdx>,
    ) -> Result<i128, EngineError> {
        if amount == 0 {
            return Ok(0);
        }
        let candidates = self.adl_candidates(account, asset, case)?;
        let mut queue = waterfall::adl_queue(&candidates).map_err(|e| EngineError::LiquidationFailed { why: e.to_string() })?;
        // The record bound: at most `ADL_SHARES_MAX` opposite positions bear a share (each
        // candidate is on one market, so it is charged once at most); the rest is the house's.
        queue.truncate(limits::ADL_SHARES_MAX as usize);
        let mut shares = self.adl_shares(asset, amount, case)?;
        if shares.is_empty() {
            // Liquidators bought the bankrupt position: nothing is left to close, the opposite
            // positions give up profit without closing (`qty` 0), as a last resort still.
            shares = self.adl_profit_shares(amount, case);
        }
        let mut borne = 0i128;
        for share in shares {
            borne += self.deleverage_market(account, asset, &share, amount - borne, &candidates, &queue, seq, events, touched)?;
        }
        assert!((0..=amount).contains(&borne), "deleveraging bears at most the deficit");
        if borne > 0 {
            events.push(self.step_event(account, asset, "deleveraged", borne, seq));
        }
        Ok(borne)
    }

    /// The deficit's share per market of the case settled in `asset`: the bankrupt quantity
    /// there is what `@house` holds on the defaulter's side (the auctions' remainders it took
    /// over), and each market's share is that quantity's notional at the index over the total,
    /// floored, the last market taking the remainder. Empty when the house holds none of it.
    fn adl_shares(&self, asset: AssetIdx, amount: i128, case: &liquidate::Case) -> Result<Vec<AdlShare>, EngineError> {
        let overflow = || EngineError::Overflow { what: "deleveraging shares".into() };
        let house = self.account_index[HOUSE];
        let mut markets = Vec::new();
        let mut total = 0i128;
        for (&m, &sign) in case.markets.iter().filter(|(m, _)| self.markets[**m as usize].quote == asset) {
            let sign = i128::from(sign);
            let closed = (self.position(house, m).quantity * sign).max(0);
            if closed == 0 {
                continue;
            }
            let d = self.markets[m as usize].derivative.as_ref().expect("cases are on perps");
            let index = self.index_price_e18(m)?;
            let notional = d.spec.settlement_value(closed, clearing::Price(index), Rounding::Ceil).map_err(|_| overflow())?.max(1);
            total = total.checked_add(notional).ok_or_else(overflow)?;
            markets.push((m, closed, notional, index, sign));
        }
        let mut left = amount;
        let mut out = Vec::with_capacity(markets.len());
        for (k, (market, closed, notional, index, sign)) in markets.iter().copied().enumerate() {
            let share =
                if k + 1 == markets.len() { left } else { mul_div(amount, notional, total, Rounding::Floor).map_err(|_| overflow())? };
            left -= share;
            out.push(AdlShare { market, closed, share, index, sign });
        }
        Ok(out)
    }

    /// The whole deficit on every market of the case with nothing to close (`closed` 0): the
    /// holders in queue order each give up to their profit.
    fn adl_profit_shares(&self, amount: i128, case: &liquidate::Case) -> Vec<AdlShare> {
        let markets: Vec<(u16, i8)> = case.markets.iter().map(|(m, s)| (*m, *s)).collect();
        markets.into_iter().map(|(market, sign)| AdlShare { market, closed: 0, share: amount, index: 0, sign: i128::from(sign) }).collect()
    }

    /// One market's share: the queue's holders on it close the bankrupt quantity in order.
    #[allow(clippy::too_many_arguments)]
    fn deleverage_market(
        &mut self,
        account: AccountIdx,
        asset: AssetIdx,
        s: &AdlShare,
        budget: i128,
        candidates: &[AdlCandidate<(AccountIdx, u16)>],
        queue: &[usize],
        seq: u64,
        events: &mut Vec<Event>,
        touched: &mut BTreeSet<AccountIdx>,
    ) -> Result<i128, EngineError> {
        let overflow = || EngineError::Overflow { what: "deleveraging".into() };
        let price = if s.closed > 0 { self.bankrupt_price(s)? } else { 0 };
        let (mut qty_left, mut left) = (s.closed, s.share.min(budget));
        for c in queue.iter().map(|&i| &candidates[i]).filter(|c| c.account.1 == s.market) {
            if (s.closed > 0 && qty_left == 0) || left == 0 {
                break;
            }
            let qty = c.qty.min(qty_left);
            let due = match s.closed {
                0 => left,
                _ => mul_div(s.share, qty, s.closed, Rounding::Ceil).map_err(|_| overflow())?.min(left),
            };
            let take = due.min(c.unrealised_pnl.max(0));
            let holder = c.account.0;
            if take == 0 {
                continue;
            }
            if qty > 0 {
                *self.liq.adl_pending.entry((holder, s.market)).or_insert(0) += s.sign * qty;
            }
            qty_left -= qty;
            left -= take;
            touched.insert(holder);
            self.charge(holder, account, asset, take, seq, events);
            let market = &self.markets[s.market as usize];
            events.push(Event::Deleveraged {
                seq,
                account: self.account_names[account.0 as usize].clone(),
                holder: self.account_names[holder.0 as usize].clone(),
                market: market.def.id.clone(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                amount: self.format(asset, take),
                qty: money::format_decimal(qty, market.base_scale),
                price: if qty > 0 { self.format_price(s.market, price) } else { String::new() },
            });
        }
        Ok(s.share.min(budget) - left)
    }

    /// The bankrupt price: the index moved against the opposite side by the share per unit
    /// closed (rounded away from the index), in 18-decimal settlement units per underlying.
    fn bankrupt_price(&self, s: &AdlShare) -> Result<i128, EngineError> {
        let d = self.markets[s.market as usize].derivative.as_ref().expect("cases are on perps");
        let per_unit = s.share.checked_mul(d.unit_e18).and_then(|x| x.checked_mul(1_000_000_000)).map(|x| {
            let q = x / s.closed;
            if x % s.closed == 0 { q } else { q + 1 }
        });
        let per_unit = per_unit.ok_or_else(|| EngineError::Overflow { what: "bankrupt price".into() })?;
        Ok(s.index + s.sign * per_unit)
    }

    /// Closes `qty` (signed, the holder's side) of a holder's position against `@house` at the
    /// index, as a fill on both sides; false (nothing moved) if the house has no place left on
    /// the market or the index is missing.
    pub(crate) fn adl_close(&mut self, holder: AccountIdx, m: u16, qty: i128, seq: u64, events: &mut Vec<Event>) -> bool {
        let house = self.account_index[HOUSE];
        let d = self.markets[m as usize].derivative.as_ref().expect("deleveraging is on perps");
        let frees = self.position(holder, m).quantity == -qty;
        if self.position(house, m).quantity == 0 && d.holders >= d.positions_max && !frees {
            return false;
        }
        let Ok(index) = self.index_price_e18(m) else { return false };
        self.fill_position(m, holder, qty, index, seq, events);
        self.fill_position(m, house, -qty, index, seq, events);
        true
    }

    /// Opposite positions settled in `asset`, with profit, cost, notional and equity in
    /// settlement units (equity: what margin counts of the asset, unrealised P&L included).
    fn adl_candidates(
        &self,
        account: AccountIdx,
        asset: AssetIdx,
        case: &liquidate::Case,
    ) -> Result<Vec<AdlCandidate<(AccountIdx, u16)>>, EngineError> {
        let overflow = || EngineError::Overflow { what: "deleveraging candidates".into() };
        let mut out = Vec::new();
        for (holder, m, q) in self.holders(account, case) {
            let defaulter_sign = i128::from(case.markets[&m]);
            if q.signum() == defaulter_sign || self.markets[m as usize].quote != asset {
                continue;
            }
            let d = self.markets[m as usize].derivative.as_ref().expect("cases are on perps");
            let position = self.position(holder, m);
            let index = clearing::Price(self.index_price_e18(m)?);
            let pnl = position.unrealised(index, d.spec).map_err(|_| overflow())?;
            let entry_cost = d.spec.to_settlement_units(position.cost_e18.abs(), Rounding::Ceil).map_err(|_| overflow())?;
            let notional = d.spec.settlement_value(q.abs(), index, Rounding::Ceil).map_err(|_| overflow())?;
            let equity = self.holdings_of(holder)?[asset.0 as usize];
            if entry_cost <= 0 || notional <= 0 {
                continue;
            }
            out.push(AdlCandidate { account: (holder, m), qty: q.abs(), unrealised_pnl: pnl, entry_cost, notional, equity });
        }
        Ok(out)
    }
}
