//! House liquidity: on a market configured with a `house_quote`, a client `market` or
//! `immediate_or_cancel` order that finds no internal liquidity (the best opposite level of the
//! book does not reach its limit) is filled by `@house` as principal at the oracle reference
//! price plus the spread (a buy at `ceil_tick(ref x (1 + spread))`, a sell at
//! `floor_tick(ref x (1 - spread))`, rounded against the client), if that price is within the
//! order's limit, for at most `size_max` and as far as the house's net position in the base stays
//! within `exposure_max` either way. The fill settles through the ledger like any other (base and
//! quote between the client and `@house`, the taker fee to `@fees`); whatever is not filled is
//! cancelled, as for any immediate order.
//!
//! The house's net exposure per base asset (its delta: base units bought minus sold from
//! clients) is state (hashed, in snapshots), readable with [`Engine::house_exposure`] (the input
//! of the hedging router) and reported by an event on every change.

use crate::*;
use ledger::Reason;
use money::{Amount, Rounding};

/// A market's house quote in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HouseParams {
    pub spread_bps: u32,
    /// Base units.
    pub size_max: i128,
    /// Base units.
    pub exposure_max: i128,
}

impl HouseParams {
    pub fn new(q: &model::HouseQuote, base_scale: Scale, lot: i128) -> Result<HouseParams, String> {
        if q.spread_bps > 10_000 {
            return Err("house_quote.spread_bps at most 10000".into());
        }
        let parse = |field: &str, text: &str| -> Result<i128, String> {
            if text.is_empty() || text.len() > FIELD_BYTES_MAX || !text.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("house_quote.{field}: 1 to {FIELD_BYTES_MAX} visible ASCII characters"));
            }
            let units = Amount::parse(text, base_scale).map_err(|e| format!("house_quote.{field}: {e}"))?.units();
            if units <= 0 || units % lot != 0 {
                return Err(format!("house_quote.{field} must be a positive multiple of the lot"));
            }
            Ok(units)
        };
        Ok(HouseParams {
            spread_bps: q.spread_bps,
            size_max: parse("size_max", &q.size_max)?,
            exposure_max: parse("exposure_max", &q.exposure_max)?,
        })
    }

    /// The house's price for a client order on `side`, on the tick grid, against the client.
    fn price(&self, side: book::Side, reference: book::Price, tick: i64) -> Option<book::Price> {
        let (factor, rounding) = match side {
            book::Side::Buy => (10_000 + i128::from(self.spread_bps), Rounding::Ceil),
            book::Side::Sell => (10_000 - i128::from(self.spread_bps), Rounding::Floor),
        };
        let ticks = money::mul_div(i128::from(reference.0), factor, 10_000 * i128::from(tick), rounding).ok()?;
        let price = ticks.checked_mul(i128::from(tick))?;
        i64::try_from(price).ok().filter(|p| *p > 0).map(book::Price)
    }

    /// Base units the house may still take on from a client order on `side`, given its exposure.
    fn room(&self, side: book::Side, exposure: i128) -> i128 {
        match side {
            // The client buys: the house sells, its exposure falls toward -exposure_max.
            book::Side::Buy => self.exposure_max.saturating_add(exposure),
            book::Side::Sell => self.exposure_max.saturating_sub(exposure),
        }
        .max(0)
    }
}

/// A client order the house may fill.
pub(crate) struct HouseOrder {
    pub account: AccountIdx,
    pub m: u16,
    pub client_order_id: u64,
    pub side: book::Side,
    pub kind: markets::OrderKind,
    pub limit: book::Price,
    pub qty: book::Qty,
}

impl Engine {
    /// The house's net position per base asset (decimal strings), non-zero ones, by symbol.
    pub fn house_exposure(&self) -> Vec<(String, String)> {
        self.house_exposure.iter().map(|(a, units)| (self.assets[a.0 as usize].symbol.clone(), self.format(*a, *units))).collect()
    }

    /// Fills `o` as principal if the market quotes and the book has nothing for it; `false`
    /// leaves the order to the book.
    pub(crate) fn try_house_fill(&mut self, o: &HouseOrder, seq: u64, events: &mut Vec<Event>) -> Result<bool, EngineError> {
        let Some((price, lots)) = self.house_terms(o) else { return Ok(false) };
        let market = &self.markets[o.m as usize];
        let quote = market.quote_amount(price, lots)?;
        let fee = market.fees.fill_fees(Amount(quote)).map_err(|e| EngineError::Overflow { what: format!("fee: {e}") })?.taker;
        let (base_asset, quote_asset, base_units) = (market.base, market.quote, market.base_units(lots));
        let (house, fees) = (self.account_index[HOUSE], self.account_index[FEES]);
        let (buyer, seller) = if o.side == book::Side::Buy { (o.account, house) } else { (house, o.account) };
        let transfers = [
            (seller, buyer, base_asset, base_units, Reason::Trade),
            (buyer, seller, quote_asset, quote, Reason::Trade),
            (o.account, fees, quote_asset, fee, Reason::Fee),
        ];
        for &(debit, credit, asset, amount, reason) in transfers.iter().filter(|t| t.3 > 0) {
            let t = Transfer { debit, credit, asset, amount, reason, command_seq: seq };
            // The client's side was checked as the order's hold at its limit, which is at least
            // as favourable to the client as the house's price (fee included); `@house` may go
            // negative; no client balance can overflow (`check_held_for_clients`).
            self.ledger.post(&t).expect("a house fill is covered by the order's hold check");
        }
        self.fee_share_to_insurance(quote_asset, fee, 0, seq);
        let exposure = self.house_exposure.get(&base_asset).copied().unwrap_or(0);
        let delta = if o.side == book::Side::Buy { -base_units } else { base_units };
        let after = exposure.checked_add(delta).ok_or_else(|| EngineError::Overflow { what: "house exposure".into() })?;
        self.set_house_exposure(base_asset, exposure, after);
        let market = &self.markets[o.m as usize];
        let quote_scale = self.assets[quote_asset.0 as usize].scale;
        events.push(Event::HouseFilled {
            market: market.def.id.clone(),
            account: self.account_names[o.account.0 as usize].clone(),
            client_order_id: o.client_order_id,
            side: o.side.into(),
            price: market.price_to_decimal(price, &self.assets),
            qty: market.qty_to_decimal(lots),
            quote_amount: money::format_decimal(quote, quote_scale),
            fee: money::format_decimal(fee, quote_scale),
        });
        events.push(Event::HouseExposureChanged {
            asset: self.assets[base_asset.0 as usize].symbol.clone(),
            exposure: self.format(base_asset, after),
        });
        Ok(true)
    }

    /// The house's price and quantity for `o`, or `None` if it does not fill it.
    fn house_terms(&self, o: &HouseOrder) -> Option<(book::Price, book::Qty)> {
        let market = &self.markets[o.m as usize];
        let house = market.house?;
        if !matches!(o.kind, markets::OrderKind::Market | markets::OrderKind::ImmediateOrCancel) || self.book_reaches(o) {
            return None;
        }
        let price = house.price(o.side, market.book.reference_price()?, market.book.spec().tick)?;
        let within = match o.side {
            book::Side::Buy => price <= o.limit,
            book::Side::Sell => price >= o.limit,
        };
        let exposure = self.house_exposure.get(&market.base).copied().unwrap_or(0);
        let lot = i128::from(market.lot);
        let lots = (i128::from(o.qty.0)).min(house.size_max / lot).min(house.room(o.side, exposure) / lot);
        let lots = u64::try_from(lots).ok().filter(|l| *l > 0 && within)?;
        Some((price, book::Qty(lots)))
    }

    /// Internal liquidity: the best opposite level reaches the order's limit.
    fn book_reaches(&self, o: &HouseOrder) -> bool {
        let depth = self.markets[o.m as usize].book.depth(1);
        match o.side {
            book::Side::Buy => depth.asks.first().is_some_and(|l| l.price <= o.limit),
            book::Side::Sell => depth.bids.first().is_some_and(|l| l.price >= o.limit),
        }
    }

    pub(crate) fn set_house_exposure(&mut self, asset: AssetIdx, before: i128, after: i128) {
        if before != 0 {
            self.house_digest.remove(&exposure_hash(asset, before));
            self.house_exposure.remove(&asset);
        }
        if after != 0 {
            self.house_digest.add(&exposure_hash(asset, after));
            self.house_exposure.insert(asset, after);
        }
    }

    /// The exposure into the state hash (only when the house holds any).
    pub(crate) fn hash_house(&self, h: &mut blake3::Hasher) {
        if self.house_exposure.is_empty() {
            return;
        }
        h.update(b"house");
        h.update(&(self.house_exposure.len() as u64).to_le_bytes());
        h.update(&self.house_digest.to_bytes());
    }

    pub(crate) fn restore_house(&mut self, exposure: Vec<(AssetIdx, i128)>) -> Result<(), String> {
        for (asset, units) in exposure {
            if asset.0 as usize >= self.assets.len() || units == 0 || self.house_exposure.contains_key(&asset) {
                return Err("house exposure inconsistent".into());
            }
            self.set_house_exposure(asset, 0, units);
        }
        Ok(())
    }
}

fn exposure_hash(asset: AssetIdx, units: i128) -> [u8; 32] {
    let mut bytes = [0u8; 18];
    bytes[..2].copy_from_slice(&asset.0.to_le_bytes());
    bytes[2..].copy_from_slice(&units.to_le_bytes());
    *blake3::hash(&bytes).as_bytes()
}
