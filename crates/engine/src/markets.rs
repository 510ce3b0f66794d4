//! Spot markets: client orders crossed internally on the engine's own books (`crates/book`),
//! settled at once through the ledger.
//!
//! Units: a book price is smallest quote units per lot of base; a book quantity is a number of
//! lots (the book's own lot is 1), so an 18-decimal asset is not limited to the 18.4 whole units
//! a `u64` of its smallest unit could count. The lot is a power of ten of the base's smallest
//! unit, so a decimal price of quote per whole base converts exactly
//! (`per_lot = per_base / lots_per_base`) and the quote amount of a fill is `price * lots`.
//!
//! Collateral for open orders: every open order holds what it could still spend, reserved in
//! the ledger (a pending transfer account -> `@orders` per account, market and asset): a sell
//! holds its base quantity; a buy holds `price * qty / lot` of quote plus the larger of the two
//! fees, rounded up, plus `2 * qty / lot` units of slack for the per-fill rounding of fees. The
//! hold is a function of the book: after every book command the holds of the accounts it
//! touched are released, the fills settled, and the holds of the orders still open taken again.
//! A place or amend is accepted only if the account can hold its orders after it (checked before
//! the book is touched), so taking them again cannot fail (asserted).
//!
//! Settlement of a fill of `qty` at `price` (quote amount `q = price * qty / lot`, exact): the
//! seller delivers `qty` base to the buyer and the buyer pays `q` quote to the seller
//! (`Reason::Trade`); the taker pays `ceil(q * taker_fee_bps / 10^4)` quote to `@fees`; the maker
//! pays `ceil(q * maker_fee_bps / 10^4)` or receives the rebate `floor(q * |maker_fee_bps| / 10^4)`
//! (`Reason::Fee`). A rebate is never above the taker fee (configuration rule), so `@fees` never
//! pays out more on a fill than it takes in.

use crate::*;
use book::{Book, MarketSpec, OrderKind as BookKind, Side};
use ledger::Reason;
use money::{Amount, Rounding};

/// An order's side, as clients send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    Buy,
    Sell,
}

/// An order's kind, as clients send it (see `docs/order-book.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Limit,
    /// Immediate-or-cancel at the protective limit of the market's band around the oracle price.
    Market,
    ImmediateOrCancel,
    FillOrKill,
    PostOnly,
}

/// Key of an order hold: (account, market, asset).
pub type HoldKey = (AccountIdx, u16, AssetIdx);
/// An order hold: the pending transfer and its amount.
pub type Hold = (PendingId, i128);

/// A market's parameters in the book's integer units.
#[derive(Debug, Clone)]
pub(crate) struct MarketState {
    pub def: model::Market,
    pub book: Book,
    pub base: AssetIdx,
    pub quote: AssetIdx,
    pub lot: u64,
    /// Lots in one whole base unit.
    pub lots_per_base: i128,
    /// The smallest quote amount of an order, in quote units.
    pub min_notional: i128,
    pub fees: clearing::fees::FeeSchedule,
    /// The larger of the two fees as a taker fee: what a buy order holds for its fee.
    pub hold_fees: clearing::fees::FeeSchedule,
    /// The largest net base position of one account, base units.
    pub position_max: Option<i128>,
    /// The house's quote, if it provides liquidity here.
    pub house: Option<crate::house::HouseParams>,
    /// Decimals of a quantity: the base asset's, or [`model::DERIVATIVE_DECIMALS`].
    pub base_scale: Scale,
    /// Perp and option terms and clearing state (`None` for spot). A derivative market has no
    /// base asset: `base` is its quote, so every hold is in the settlement asset.
    pub derivative: Option<derivatives::Derivative>,
}

/// The fees of a fill of `quote` units (`clearing::fees`): positive charged, negative a rebate.
pub(crate) fn fill_fees(schedule: clearing::fees::FeeSchedule, quote: i128) -> Result<clearing::fees::FillFees, EngineError> {
    schedule.fill_fees(Amount(quote)).map_err(|e| EngineError::Overflow { what: format!("fee: {e}") })
}

impl MarketState {
    /// Builds a market from its definition against the ledger's assets; every parameter is
    /// checked and converted exactly.
    pub fn new(
        def: &model::Market,
        asset_index: &BTreeMap<String, AssetIdx>,
        assets: &[AssetInfo],
        orders_max: u32,
    ) -> Result<MarketState, EngineError> {
        if !model::is_identifier(&def.id.replace('/', "-"), model::NAME_LEN_MAX as usize) {
            let why = format!("market: 1 to {} of A-Z a-z 0-9 _ - . @ /", model::NAME_LEN_MAX);
            return Err(EngineError::InvalidName { name: model::printable(&def.id), why });
        }
        let refused = |why: String| EngineError::ConfigRefused { key: format!("markets.{}", def.id), why };
        // Decimal texts are echoed by the configuration and its events: short and printable.
        for (field, text) in [("tick", &def.tick), ("lot", &def.lot), ("qty_min", &def.qty_min), ("qty_max", &def.qty_max)] {
            if text.is_empty() || text.len() > FIELD_BYTES_MAX || !text.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(refused(format!("{field}: 1 to {FIELD_BYTES_MAX} visible ASCII characters")));
            }
        }
        let asset = |symbol: &str| asset_index.get(symbol).copied().ok_or_else(|| refused(format!("unknown asset {symbol:?}")));
        let quote = asset(&def.quote)?;
        let quote_scale = assets[quote.0 as usize].scale;
        let derivative = derivatives::Derivative::from_def(def, quote_scale).map_err(refused)?;
        let base = if derivative.is_some() {
            if !model::is_identifier(&def.base, model::NAME_LEN_MAX as usize) {
                return Err(refused("base: the underlying, 1 to 64 of A-Z a-z 0-9 _ - . @".into()));
            }
            quote
        } else {
            let base = asset(&def.base)?;
            if base == quote {
                return Err(refused("base and quote are the same asset".into()));
            }
            base
        };
        let base_scale = match derivative {
            Some(_) => Scale::new(model::DERIVATIVE_DECIMALS).map_err(|e| refused(e.to_string()))?,
            None => assets[base.0 as usize].scale,
        };
        let parse = |field: &str, text: &str, scale: Scale| {
            Amount::parse(text, scale).map(Amount::units).map_err(|e| refused(format!("{field}: {e}")))
        };
        let lot = parse("lot", &def.lot, base_scale)?;
        if lot <= 0 || base_scale.one() % lot != 0 {
            return Err(refused("lot must be a positive power of ten of the base's smallest unit, at most one whole unit".into()));
        }
        let lots_per_base = base_scale.one() / lot;
        let tick_per_base = parse("tick", &def.tick, quote_scale)?;
        if tick_per_base <= 0 || tick_per_base % lots_per_base != 0 {
            return Err(refused("tick must be positive and a whole number of quote units per lot".into()));
        }
        let to_u64 = |field: &str, v: i128| u64::try_from(v).map_err(|_| refused(format!("{field} out of range")));
        if def.book_orders_max > orders_max {
            return Err(refused(format!("book_orders_max {} above limits.market_orders_max {orders_max}", def.book_orders_max)));
        }
        let lots = |field: &str| -> Result<u64, EngineError> {
            let units = parse(field, if field == "qty_min" { &def.qty_min } else { &def.qty_max }, base_scale)?;
            if units <= 0 || units % lot != 0 {
                return Err(refused(format!("{field} must be a positive multiple of the lot")));
            }
            to_u64(field, units / lot)
        };
        let spec = MarketSpec {
            tick: i64::try_from(tick_per_base / lots_per_base).map_err(|_| refused("tick out of range".into()))?,
            lot: 1,
            qty_min: lots("qty_min")?,
            qty_max: lots("qty_max")?,
            open_orders_per_account_max: def.open_orders_per_account_max,
            book_orders_max: def.book_orders_max,
            price_band_bps: def.price_band_bps,
            self_trade_prevention: book::SelfTradePrevention::CancelTaker,
            matching: book::Matching::PriceTime,
        };
        let taker_bps = i32::try_from(def.taker_fee_bps).map_err(|_| refused("taker_fee_bps out of range".into()))?;
        let fees = clearing::fees::FeeSchedule::new(def.maker_fee_bps, taker_bps).map_err(|e| refused(e.to_string()))?;
        let hold_fees = clearing::fees::FeeSchedule::new(0, taker_bps.max(def.maker_fee_bps)).map_err(|e| refused(e.to_string()))?;
        let book = Book::new(spec).map_err(|e| refused(e.to_string()))?;
        let min_notional = parse("min_notional", &def.min_notional, quote_scale)?;
        if min_notional <= 0 {
            return Err(refused("min_notional must be positive".into()));
        }
        if derivative.is_some() && (def.position_max.is_some() || def.house_quote.is_some()) {
            return Err(refused("position_max and house_quote are for spot markets".into()));
        }
        let position_max = def.position_max.as_deref().map(|t| parse("position_max", t, base_scale)).transpose()?;
        if position_max.is_some_and(|p| p <= 0) {
            return Err(refused("position_max must be positive".into()));
        }
        let house = def.house_quote.as_ref().map(|q| crate::house::HouseParams::new(q, base_scale, lot)).transpose().map_err(refused)?;
        Ok(MarketState {
            def: def.clone(),
            book,
            base,
            quote,
            lot: to_u64("lot", lot)?,
            lots_per_base,
            min_notional,
            fees,
            hold_fees,
            position_max,
            house,
            base_scale,
            derivative,
        })
    }

    /// Checks a market definition against asset definitions (genesis validation).
    pub fn check(def: &model::Market, assets: &[state_config::AssetDef], orders_max: u32) -> Result<(), EngineError> {
        let mut index = BTreeMap::new();
        let mut infos = Vec::new();
        for (i, a) in assets.iter().enumerate() {
            let scale = Scale::new(a.decimals)
                .map_err(|e| EngineError::ConfigRefused { key: format!("assets.{}", a.symbol), why: e.to_string() })?;
            index.insert(a.symbol.clone(), AssetIdx(i as u16));
            infos.push(AssetInfo { symbol: a.symbol.clone(), scale });
        }
        MarketState::new(def, &index, &infos, orders_max).map(|_| ())
    }

    /// A decimal price of quote per whole base, in book units (quote units per lot), exactly.
    pub fn price_from_decimal(&self, text: &str, assets: &[AssetInfo]) -> Result<book::Price, EngineError> {
        let per_base = Amount::parse(text, assets[self.quote.0 as usize].scale)
            .map_err(|e| EngineError::MalformedAmount { input: text.into(), reason: e.to_string() })?
            .units();
        if per_base <= 0 || per_base % self.lots_per_base != 0 {
            let why = format!("not a positive whole number of quote units per lot of {}", self.def.lot);
            return Err(EngineError::MalformedAmount { input: text.into(), reason: why });
        }
        let per_lot = i64::try_from(per_base / self.lots_per_base)
            .map_err(|_| EngineError::MalformedAmount { input: text.into(), reason: "price out of range".into() })?;
        Ok(book::Price(per_lot))
    }

    /// A decimal quantity of base, in lots, exactly.
    /// (`_assets`: a quantity's decimals are the market's own, [`MarketState::base_scale`].)
    pub fn qty_from_decimal(&self, text: &str, _assets: &[AssetInfo]) -> Result<book::Qty, EngineError> {
        let units = Amount::parse(text, self.base_scale)
            .map_err(|e| EngineError::MalformedAmount { input: text.into(), reason: e.to_string() })?
            .units();
        if units <= 0 {
            return Err(EngineError::NonPositiveAmount { amount: text.into() });
        }
        if units % i128::from(self.lot) != 0 {
            let why = format!("not a whole number of lots of {}", self.def.lot);
            return Err(EngineError::MalformedAmount { input: text.into(), reason: why });
        }
        let lots = u64::try_from(units / i128::from(self.lot))
            .map_err(|_| EngineError::MalformedAmount { input: text.into(), reason: "quantity out of range".into() })?;
        Ok(book::Qty(lots))
    }

    /// Smallest base units of a quantity of lots.
    pub fn base_units(&self, qty: book::Qty) -> i128 {
        i128::from(qty.0) * i128::from(self.lot)
    }

    pub fn price_to_decimal(&self, price: book::Price, assets: &[AssetInfo]) -> String {
        money::format_decimal(i128::from(price.0) * self.lots_per_base, assets[self.quote.0 as usize].scale)
    }

    pub fn qty_to_decimal(&self, qty: book::Qty) -> String {
        money::format_decimal(self.base_units(qty), self.base_scale)
    }

    /// A book price as an 18-decimal price of whole settlement units per whole underlying.
    pub fn price_e18(&self, price: book::Price) -> Result<i128, EngineError> {
        let unit_e18 = self.derivative.as_ref().map_or(1, |d| d.unit_e18);
        i128::from(price.0)
            .checked_mul(self.lots_per_base)
            .and_then(|p| p.checked_mul(unit_e18))
            .ok_or_else(|| EngineError::Overflow { what: format!("price in {}", self.def.id) })
    }

    /// The quote amount of `qty` lots at `price` per lot, exact.
    pub fn quote_amount(&self, price: book::Price, qty: book::Qty) -> Result<i128, EngineError> {
        i128::from(price.0)
            .checked_mul(i128::from(qty.0))
            .ok_or_else(|| EngineError::Overflow { what: format!("quote amount in {}", self.def.id) })
    }

    /// What an open order must hold: (asset, amount). See the module doc.
    pub fn hold_of(&self, side: Side, price: book::Price, qty: book::Qty) -> Result<(AssetIdx, i128), EngineError> {
        if let Some(d) = &self.derivative {
            // Fees on both sides, and an option buyer's premium, in the settlement asset.
            let quote = self.quote_amount(price, qty)?;
            let fee = if quote > 0 { fill_fees(self.hold_fees, quote)?.taker } else { 0 };
            let premium = if d.is_option() && side == Side::Buy { quote } else { 0 };
            let total = premium.checked_add(fee).and_then(|t| t.checked_add(2 * i128::from(qty.0)));
            return Ok((self.quote, total.ok_or_else(|| EngineError::Overflow { what: "order hold".into() })?));
        }
        match side {
            Side::Sell => Ok((self.base, self.base_units(qty))),
            Side::Buy => {
                let quote = self.quote_amount(price, qty)?;
                let slack = 2 * i128::from(qty.0);
                let fee = if quote > 0 { fill_fees(self.hold_fees, quote)?.taker } else { 0 };
                let total = quote.checked_add(fee).and_then(|t| t.checked_add(slack));
                Ok((self.quote, total.ok_or_else(|| EngineError::Overflow { what: "order hold".into() })?))
            }
        }
    }

    /// What all open orders of an account hold, per asset (base, quote).
    pub fn holds_of(&self, account: AccountIdx) -> Result<[(AssetIdx, i128); 2], EngineError> {
        let mut holds = [(self.base, 0i128), (self.quote, 0i128)];
        for order in self.book.open_orders(book::AccountId(account.0)) {
            let (asset, amount) = self.hold_of(order.side, order.price, order.qty)?;
            let slot = if asset == self.base { 0 } else { 1 };
            holds[slot].1 = holds[slot].1.checked_add(amount).ok_or_else(|| EngineError::Overflow { what: "order holds".into() })?;
        }
        Ok(holds)
    }

    /// The book's reference price from the oracle prices of base and quote, rounded down onto
    /// the tick grid; `None` while either price is missing or the result is not positive.
    pub fn reference_price(&self, base_usd: UsdPrice, quote_usd: UsdPrice, assets: &[AssetInfo]) -> Option<book::Price> {
        let quote_one = assets[self.quote.0 as usize].scale.one();
        let per_base = money::mul_div(base_usd.usd_e18(), quote_one, quote_usd.usd_e18(), Rounding::Floor).ok()?;
        let per_lot = per_base / self.lots_per_base;
        let tick = i128::from(self.book.spec().tick);
        let on_grid = per_lot / tick * tick;
        i64::try_from(on_grid).ok().filter(|p| *p > 0).map(book::Price)
    }
}

/// The engine's side of the books: order commands, holds and settlement.
impl Engine {
    /// The market's own rules on an order, before the book sees it: a quote amount of at least
    /// `min_notional`; for an order that may rest, a price within the band on both sides of the
    /// reference (a bid far below the market would only take a slot of the book) and room under
    /// the open-order limit for the owner's sub-accounts together.
    pub(crate) fn check_market_rules(&self, m: u16, price: book::Price, qty: book::Qty, rests: bool) -> Result<(), EngineError> {
        let market = &self.markets[m as usize];
        let refused = |reason: String| EngineError::OrderRefused { market: market.def.id.clone(), reason };
        let quote_scale = self.assets[market.quote.0 as usize].scale;
        if market.quote_amount(price, qty)? < market.min_notional {
            return Err(refused(format!(
                "the order's quote amount is below min_notional {}",
                money::format_decimal(market.min_notional, quote_scale)
            )));
        }
        if !rests {
            return Ok(());
        }
        if let Some(reference) = market.book.reference_price() {
            let (low, high) = market.book.spec().band(reference);
            if !(low..=high).contains(&i128::from(price.0)) {
                let (low, high) = (i64::try_from(low).unwrap_or(i64::MAX), i64::try_from(high).unwrap_or(i64::MAX));
                let text = |p: i64| market.price_to_decimal(book::Price(p), &self.assets);
                return Err(refused(format!("a resting order's price lies outside the band [{}, {}]", text(low), text(high))));
            }
        }
        Ok(())
    }

    /// Room for one more resting order under the open-order limit, counted over all the
    /// sub-accounts of the account's owner (sub-accounts are free to open).
    pub(crate) fn check_owner_room(&self, m: u16, account: AccountIdx) -> Result<(), EngineError> {
        let market = &self.markets[m as usize];
        let owner = owner_of(&self.account_names[account.0 as usize]);
        let open: usize = self.owners.subs_named(owner).iter().map(|idx| market.book.open_orders(book::AccountId(idx.0)).len()).sum();
        let max = market.def.open_orders_per_account_max;
        if open >= max as usize {
            return Err(EngineError::LimitExceeded {
                limit: format!("open_orders_per_account_max of {owner}'s accounts in {}", market.def.id),
                max: max.into(),
            });
        }
        Ok(())
    }

    /// The open orders of an account on a market (for its owner and the operator).
    pub fn open_orders(&self, market: &str, account: &str) -> Result<Vec<book::OrderView>, EngineError> {
        let m = self.market(market)?;
        let account = *self.account_index.get(account).ok_or_else(|| EngineError::UnknownAccount { account: account.into() })?;
        Ok(self.markets[m as usize].book.open_orders(book::AccountId(account.0)))
    }

    /// Aggregated depth of a market (price levels and quantities, never orders or owners).
    pub fn depth(&self, market: &str, levels_max: usize) -> Result<book::Depth, EngineError> {
        Ok(self.markets[self.market(market)? as usize].book.depth(levels_max))
    }

    pub(crate) fn market(&self, id: &str) -> Result<u16, EngineError> {
        self.market_index.get(id).copied().ok_or_else(|| EngineError::UnknownMarket { market: id.into() })
    }

    /// Applies one book command: the book first (a refusal there changes nothing), then the
    /// holds of every account it touched are released, its fills settled, and the holds taken
    /// again for the orders still open.
    pub(crate) fn apply_book(&mut self, m: u16, command: &book::Command, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let mut book_events = Vec::new();
        let market = &mut self.markets[m as usize];
        market
            .book
            .apply(command, &mut book_events)
            .map_err(|e| EngineError::OrderRefused { market: market.def.id.clone(), reason: e.to_string() })?;
        let mut touched: BTreeSet<AccountIdx> = book_events.iter().flat_map(event_accounts).collect();
        if let Some(account) = command_account(command) {
            touched.insert(account);
        }
        for &account in &touched {
            self.release_holds(account, m);
        }
        self.settling_book = Some(m);
        for event in &book_events {
            events.push(self.order_event(m, event));
            match event {
                book::Event::Fill { .. } if self.markets[m as usize].derivative.is_some() => {
                    self.settle_derivative_fill(m, event, seq, events)
                }
                book::Event::Fill { .. } => self.settle_fill(m, event, seq),
                _ => {}
            }
        }
        for &account in &touched {
            self.take_holds(account, m, seq).expect("an accepted order's holds were checked before the book was touched");
        }
        self.settling_book = None;
        // What the fills credited, and holds released for good, repay borrows first.
        let (base, quote) = (self.markets[m as usize].base, self.markets[m as usize].quote);
        for &account in &touched {
            self.repay_borrow(account, base, seq, events);
            if quote != base {
                self.repay_borrow(account, quote, seq, events);
            }
        }
        Ok(())
    }

    /// Checks, before the book is touched, that `account` can hold its orders after adding
    /// `extra` (asset, amount) and removing `removed`.
    pub(crate) fn check_can_hold(
        &self,
        account: AccountIdx,
        m: u16,
        extra: (AssetIdx, i128),
        removed: Option<(AssetIdx, i128)>,
    ) -> Result<(), EngineError> {
        let market = &self.markets[m as usize];
        let holds = market.holds_of(account)?;
        let (asset, amount) = extra;
        let current = holds.iter().find(|(a, _)| *a == asset).map_or(0, |(_, h)| *h);
        let removed = removed.filter(|(a, _)| *a == asset).map_or(0, |(_, r)| r);
        let overflow = || EngineError::Overflow { what: format!("order holds of {}", self.account_names[account.0 as usize]) };
        let needed = current.checked_sub(removed).and_then(|n| n.checked_add(amount)).ok_or_else(overflow)?;
        let held_now = self.order_holds.get(&(account, m, asset)).map_or(0, |(_, h)| *h);
        let available = self.ledger.balance(account, asset).available().checked_add(held_now).ok_or_else(overflow)?;
        if needed > available {
            return Err(EngineError::InsufficientBalance {
                account: self.account_names[account.0 as usize].clone(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                needed: self.format(asset, needed),
                available: self.format(asset, available),
            });
        }
        Ok(())
    }

    fn release_holds(&mut self, account: AccountIdx, m: u16) {
        let (base, quote) = (self.markets[m as usize].base, self.markets[m as usize].quote);
        for asset in [base, quote] {
            if let Some((pending, amount)) = self.order_holds.remove(&(account, m, asset)) {
                self.holds_digest.remove(&hold_hash(account, m, asset, pending, amount));
                self.ledger.void_pending(pending).expect("an order hold is a pending transfer");
            }
        }
    }

    fn take_holds(&mut self, account: AccountIdx, m: u16, seq: u64) -> Result<(), EngineError> {
        let orders_account = self.account_index[ORDERS];
        for (asset, amount) in self.markets[m as usize].holds_of(account)? {
            if amount == 0 {
                continue;
            }
            let pending = PendingId(self.next_pending);
            let transfer = Transfer { debit: account, credit: orders_account, asset, amount, reason: Reason::OrderHold, command_seq: seq };
            self.ledger.reserve(pending, &transfer).map_err(|e| self.ledger_error(e))?;
            self.next_pending += 1;
            self.holds_digest.add(&hold_hash(account, m, asset, pending, amount));
            self.order_holds.insert((account, m, asset), (pending, amount));
        }
        Ok(())
    }

    /// Posts the transfers of one fill (see the module doc). Cannot fail: the holds released
    /// just before covered them.
    fn settle_fill(&mut self, m: u16, fill: &book::Event, seq: u64) {
        let book::Event::Fill { maker_account, taker_account, taker_side, price, qty, .. } = *fill else { return };
        let market = &self.markets[m as usize];
        let (maker, taker) = (AccountIdx(maker_account.0), AccountIdx(taker_account.0));
        let (buyer, seller) = if taker_side == Side::Buy { (taker, maker) } else { (maker, taker) };
        let quote = market.quote_amount(price, qty).expect("a quote amount within the hold fits");
        let fees = fill_fees(market.fees, quote).expect("fees of a fitting amount");
        let (taker_fee, maker_fee) = (fees.taker, fees.maker);
        let fees = self.account_index[FEES];
        let (base_asset, quote_asset, base_units) = (market.base, market.quote, market.base_units(qty));
        let mut post = |debit, credit, asset, amount: i128, reason| {
            if amount > 0 {
                let t = Transfer { debit, credit, asset, amount, reason, command_seq: seq };
                self.ledger.post(&t).expect("a fill is covered by the holds released before it");
            }
        };
        post(seller, buyer, base_asset, base_units, Reason::Trade);
        post(buyer, seller, quote_asset, quote, Reason::Trade);
        post(taker, fees, quote_asset, taker_fee, Reason::Fee);
        post(maker, fees, quote_asset, maker_fee, Reason::Fee);
        post(fees, maker, quote_asset, -maker_fee, Reason::Fee);
        self.fee_share_to_insurance(quote_asset, taker_fee, maker_fee, seq);
    }

    fn order_event(&self, m: u16, event: &book::Event) -> Event {
        let market = &self.markets[m as usize];
        let name = |a: book::AccountId| self.account_names[a.0 as usize].clone();
        let price = |p| market.price_to_decimal(p, &self.assets);
        let qty = |q| market.qty_to_decimal(q);
        let id = market.def.id.clone();
        match *event {
            book::Event::Accepted { order_id, account, client_order_id, side, price: p, qty: q } => Event::OrderAccepted {
                market: id,
                order_id: order_id.0,
                account: name(account),
                client_order_id: client_order_id.0,
                side: side.into(),
                price: price(p),
                qty: qty(q),
            },
            book::Event::Fill { maker_order_id, maker_account, taker_order_id, taker_account, taker_side, price: p, qty: q } => {
                let quote = market.quote_amount(p, q).expect("settled above");
                let quote_scale = self.assets[market.quote.0 as usize].scale;
                let fees = fill_fees(market.fees, quote).expect("settled above");
                Event::OrderFilled {
                    market: id,
                    maker_order_id: maker_order_id.0,
                    maker_account: name(maker_account),
                    taker_order_id: taker_order_id.0,
                    taker_account: name(taker_account),
                    taker_side: taker_side.into(),
                    price: price(p),
                    qty: qty(q),
                    quote_amount: money::format_decimal(quote, quote_scale),
                    maker_fee: money::format_decimal(fees.maker, quote_scale),
                    taker_fee: money::format_decimal(fees.taker, quote_scale),
                }
            }
            book::Event::Rested { order_id, price: p, qty: q } => {
                Event::OrderRested { market: id, order_id: order_id.0, price: price(p), qty: qty(q) }
            }
            book::Event::Reduced { order_id, account, removed, remaining, reason } => Event::OrderReduced {
                market: id,
                order_id: order_id.0,
                account: name(account),
                removed: qty(removed),
                remaining: qty(remaining),
                reason: format!("{reason:?}"),
            },
            book::Event::Cancelled { order_id, account, removed, reason } => Event::OrderCancelled {
                market: id,
                order_id: order_id.0,
                account: name(account),
                removed: qty(removed),
                reason: format!("{reason:?}"),
            },
            book::Event::Amended { order_id, account, price: p, qty: q, priority_kept } => Event::OrderAmended {
                market: id,
                order_id: order_id.0,
                account: name(account),
                price: price(p),
                qty: qty(q),
                priority_kept,
            },
        }
    }

    /// Moves the reference price of every market of `symbol` after an oracle update. A
    /// derivative's base is its underlying: an option's band is around the underlying's price
    /// (a call is never worth more than the underlying; option markets set a band of 100%, so
    /// premiums lie in (0, 2 * price]).
    pub(crate) fn update_reference_prices(&mut self, symbol: &str, seq: u64, events: &mut Vec<Event>) {
        for m in 0..self.markets.len() as u16 {
            let market = &self.markets[m as usize];
            let base_symbol = match &market.derivative {
                None => &self.assets[market.base.0 as usize].symbol,
                Some(_) => &market.def.base,
            };
            let quote_symbol = &self.assets[market.quote.0 as usize].symbol;
            if base_symbol != symbol && quote_symbol != symbol {
                continue;
            }
            let price_of = |s: &str| self.prices.get(s).map(|(p, _)| *p);
            let (Some(base_usd), Some(quote_usd)) = (price_of(base_symbol), price_of(quote_symbol)) else { continue };
            match market.reference_price(base_usd, quote_usd, &self.assets) {
                // A lit book only moves its band on a new reference: no order can trade from it.
                Some(reference) => self
                    .apply_book(m, &book::Command::SetReferencePrice { price: reference }, seq, events)
                    .expect("a positive reference price on the tick grid is accepted"),
                // No silent fallback to the last band: a price the book cannot express (below
                // one tick, or beyond its integers) halts the market until one it can.
                None => self.markets[m as usize].book.clear_reference_price(),
            }
        }
    }
}

impl From<Side> for OrderSide {
    fn from(side: Side) -> OrderSide {
        match side {
            Side::Buy => OrderSide::Buy,
            Side::Sell => OrderSide::Sell,
        }
    }
}

impl From<OrderSide> for Side {
    fn from(side: OrderSide) -> Side {
        match side {
            OrderSide::Buy => Side::Buy,
            OrderSide::Sell => Side::Sell,
        }
    }
}

impl From<OrderKind> for BookKind {
    fn from(kind: OrderKind) -> BookKind {
        match kind {
            OrderKind::Limit => BookKind::Limit,
            OrderKind::Market => BookKind::Market,
            OrderKind::ImmediateOrCancel => BookKind::ImmediateOrCancel,
            OrderKind::FillOrKill => BookKind::FillOrKill,
            OrderKind::PostOnly => BookKind::PostOnly,
        }
    }
}

fn event_accounts(event: &book::Event) -> Vec<AccountIdx> {
    match *event {
        book::Event::Accepted { account, .. }
        | book::Event::Reduced { account, .. }
        | book::Event::Cancelled { account, .. }
        | book::Event::Amended { account, .. } => vec![AccountIdx(account.0)],
        book::Event::Fill { maker_account, taker_account, .. } => vec![AccountIdx(maker_account.0), AccountIdx(taker_account.0)],
        book::Event::Rested { .. } => vec![],
    }
}

fn command_account(command: &book::Command) -> Option<AccountIdx> {
    match *command {
        book::Command::Place(order) => Some(AccountIdx(order.account.0)),
        book::Command::Cancel { account, .. } | book::Command::CancelAll { account, .. } | book::Command::Amend { account, .. } => {
            Some(AccountIdx(account.0))
        }
        book::Command::SetReferencePrice { .. } | book::Command::SetPosition { .. } => None,
    }
}

pub(crate) fn hold_hash(account: AccountIdx, m: u16, asset: AssetIdx, pending: PendingId, amount: i128) -> [u8; 32] {
    let mut bytes = [0u8; 4 + 2 + 2 + 8 + 16];
    bytes[0..4].copy_from_slice(&account.0.to_le_bytes());
    bytes[4..6].copy_from_slice(&m.to_le_bytes());
    bytes[6..8].copy_from_slice(&asset.0.to_le_bytes());
    bytes[8..16].copy_from_slice(&pending.0.to_le_bytes());
    bytes[16..32].copy_from_slice(&amount.to_le_bytes());
    *blake3::hash(&bytes).as_bytes()
}
