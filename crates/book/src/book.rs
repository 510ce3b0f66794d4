//! The book: command dispatch, validation (every check before any mutation), cancel and amend.

use crate::matching::Taker;
use crate::store::{Node, Store};
use crate::{
    AccountId, BookError, CancelReason, ClientOrderId, Command, Event, MarketSpec, Matching, NewOrder, OrderId, OrderKind, OrderRef,
    OrderView, Position, Price, Qty, Side,
};

/// One market's order book. See the crate documentation for the model and its invariants.
#[derive(Debug, Clone)]
pub struct Book {
    pub(crate) spec: MarketSpec,
    pub(crate) next_order_id: u64,
    pub(crate) reference_price: Option<Price>,
    pub(crate) store: Store,
    /// Reused buffer for slot lists, so that no command allocates once warm.
    pub(crate) scratch: Vec<u32>,
}

impl Book {
    pub fn new(spec: MarketSpec) -> Result<Book, BookError> {
        spec.validate()?;
        Ok(Book { spec, next_order_id: 1, reference_price: None, store: Store::default(), scratch: Vec::new() })
    }

    pub fn spec(&self) -> &MarketSpec {
        &self.spec
    }

    pub fn reference_price(&self) -> Option<Price> {
        self.reference_price
    }

    /// Forgets the reference price (the oracle's price can no longer be expressed on this book):
    /// every order is refused until the next [`Command::SetReferencePrice`]; cancels still work.
    pub fn clear_reference_price(&mut self) {
        self.reference_price = None;
    }

    /// Applies one command. On success `events` holds what happened; on error the book is
    /// unchanged and `events` is empty. `events` is cleared first so the caller can reuse it.
    pub fn apply(&mut self, command: &Command, events: &mut Vec<Event>) -> Result<(), BookError> {
        events.clear();
        let result = match *command {
            Command::Place(order) => self.place(&order, events),
            Command::Cancel { account, order } => self.cancel(account, order, events),
            Command::CancelAll { account, side } => {
                self.cancel_all(account, side, events);
                Ok(())
            }
            Command::Amend { account, order, price, qty } => self.amend(account, order, price, qty, events),
            Command::SetReferencePrice { price } => self.set_reference_price(price, events),
            Command::SetPosition { account, position } => {
                self.set_position(account, position, events);
                Ok(())
            }
        };
        assert!(result.is_ok() || events.is_empty(), "a rejected command produced events");
        assert!(events.len() as u64 <= self.spec.events_per_command_max(), "a command exceeded its event bound");
        self.assert_not_crossed();
        result
    }

    /// The book is never crossed after a command: O(log levels), kept in release builds. A
    /// dark book is crossed when its best bid and best ask both accept the reference price.
    fn assert_not_crossed(&self) {
        if let (Some((bid, _)), Some((ask, _))) = (self.store.best(Side::Buy), self.store.best(Side::Sell)) {
            match self.spec.matching {
                Matching::PriceTime => assert!(bid < ask, "crossed book: best bid {bid} >= best ask {ask}"),
                Matching::DarkMid => assert!(self.executable_heads().is_none(), "dark book crossed at the reference price"),
            }
        }
    }

    /// The price at which a taker of `side` limited at `limit` would trade with a resting order
    /// at `maker_price`, if it would.
    pub(crate) fn execution_price(&self, side: Side, limit: i64, maker_price: i64) -> Option<i64> {
        match self.spec.matching {
            Matching::PriceTime => crosses(side, limit, maker_price).then_some(maker_price),
            Matching::DarkMid => {
                let mid = self.reference_price?.0;
                (crosses(side, limit, mid) && crosses(side.opposite(), maker_price, mid)).then_some(mid)
            }
        }
    }

    /// The best resting bid price, for the operator and the engine (in a dark market this is
    /// private: publish [`Book::depth`] instead, which is empty there).
    pub fn best_bid(&self) -> Option<Price> {
        self.store.best(Side::Buy).map(|(price, _)| Price(price))
    }

    /// The best resting ask price; private like [`Book::best_bid`].
    pub fn best_ask(&self) -> Option<Price> {
        self.store.best(Side::Sell).map(|(price, _)| Price(price))
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        self.store.slot_of_id(id.0).map(|slot| self.store.node(slot).view())
    }

    /// An account's open orders in client id order.
    pub fn open_orders(&self, account: AccountId) -> Vec<OrderView> {
        let range = (account.0, 0)..=(account.0, u64::MAX);
        self.store.by_client.range(range).map(|(_, slot)| self.store.node(*slot).view()).collect()
    }

    /// Recomputes every derived structure (level totals, queue links, indices, per-account counts,
    /// tracked positions) and every resting order's validity, and reports the first mismatch.
    /// O(orders): for tests, audits and after restoring, not per command.
    pub fn verify(&self) -> Result<(), BookError> {
        let invalid = |reason| BookError::InvariantBroken { reason };
        self.store.verify().map_err(invalid)?;
        for node in self.store.side_in_priority(Side::Buy).chain(self.store.side_in_priority(Side::Sell)) {
            let room = self.store.account(node.account).position.map(|position| reducing_capacity(node.side, position, self.spec.lot));
            if node.reduce_only && room.is_none_or(|room| node.qty > room) {
                return Err(invalid("a reduce-only order exceeds its position's room"));
            }
        }
        Ok(())
    }

    /// The position the book tracks for an account with resting reduce-only orders.
    pub fn tracked_position(&self, account: AccountId) -> Option<i128> {
        self.store.account(account.0).position
    }

    /// Every resting order of one side in priority order (best price first, then arrival).
    pub fn orders_in_priority(&self, side: Side) -> Vec<OrderView> {
        self.store.side_in_priority(side).map(Node::view).collect()
    }

    fn set_reference_price(&mut self, price: Price, events: &mut Vec<Event>) -> Result<(), BookError> {
        if price.0 <= 0 {
            return Err(BookError::ReferencePriceNotPositive { price });
        }
        self.reference_price = Some(price);
        if self.spec.matching == Matching::DarkMid {
            self.uncross_at_reference(events);
        }
        Ok(())
    }

    fn set_position(&mut self, account: AccountId, position: Position, events: &mut Vec<Event>) {
        let Some(entry) = self.store.accounts.get_mut(&account.0) else { return };
        if entry.position.is_some() {
            entry.position = Some(i128::from(position.0));
            self.trim_reduce_only(account.0, events);
        }
    }

    pub(crate) fn check_price(&self, side: Side, price: Price) -> Result<(), BookError> {
        if price.0 <= 0 || price.0 % self.spec.tick != 0 {
            return Err(BookError::PriceOffTick { price, tick: self.spec.tick });
        }
        let reference = self.reference_price.ok_or(BookError::NoReferencePrice)?;
        let (low, high) = self.spec.band(reference);
        let outside = match side {
            Side::Buy => i128::from(price.0) > high,
            Side::Sell => i128::from(price.0) < low,
        };
        if outside {
            return Err(BookError::OutsidePriceBand { price, reference, low, high });
        }
        Ok(())
    }

    pub(crate) fn check_qty(&self, qty: Qty) -> Result<(), BookError> {
        let spec = &self.spec;
        if qty.0 == 0 || !qty.0.is_multiple_of(spec.lot) {
            return Err(BookError::QtyOffLot { qty: qty.0, lot: spec.lot });
        }
        if qty.0 < spec.qty_min || qty.0 > spec.qty_max {
            return Err(BookError::QtyOutOfRange { qty: qty.0, min: spec.qty_min, max: spec.qty_max });
        }
        Ok(())
    }

    /// Room for one more resting order of `account`, and a free client id.
    fn check_capacity(&self, order: &NewOrder) -> Result<(), BookError> {
        let (account, client) = (order.account, order.client_order_id);
        if self.store.slot_of_client(account.0, client.0).is_some() {
            return Err(BookError::DuplicateClientOrderId { account, client_order_id: client });
        }
        if !order.kind.rests() {
            return Ok(());
        }
        let limit = self.spec.open_orders_per_account_max;
        if self.store.account(account.0).open_orders >= limit {
            return Err(BookError::TooManyOpenOrders { account, limit });
        }
        let limit = self.spec.book_orders_max;
        if self.store.len() >= limit as usize {
            return Err(BookError::BookFull { limit });
        }
        Ok(())
    }

    /// The quantity a reduce-only order may carry: what it can take off the position.
    fn reduce_only_qty(&self, order: &NewOrder, position: Position) -> Result<u64, BookError> {
        let capacity = reducing_capacity(order.side, i128::from(position.0), self.spec.lot);
        if capacity == 0 {
            return Err(BookError::ReduceOnlyWouldIncrease { side: order.side, position });
        }
        if order.kind == OrderKind::FillOrKill && capacity < order.qty.0 {
            return Err(BookError::FillOrKillNotFillable { requested: order.qty.0, available: Some(capacity) });
        }
        Ok(order.qty.0.min(capacity))
    }

    pub(crate) fn check_post_only(&self, side: Side, price: Price) -> Result<(), BookError> {
        let Some((best, _)) = self.store.best(side.opposite()) else { return Ok(()) };
        if let Some(would_trade_at) = self.execution_price(side, price.0, best) {
            return Err(BookError::PostOnlyWouldCross { price, would_trade_at: Price(would_trade_at) });
        }
        Ok(())
    }

    fn place(&mut self, order: &NewOrder, events: &mut Vec<Event>) -> Result<(), BookError> {
        self.check_price(order.side, order.price)?;
        self.check_qty(order.qty)?;
        self.check_capacity(order)?;
        let qty = match order.reduce_only {
            Some(position) => self.reduce_only_qty(order, position)?,
            None => order.qty.0,
        };
        let stp = order.self_trade_prevention.unwrap_or(self.spec.self_trade_prevention);
        let taker = Taker::new(order, OrderId(self.next_order_id), qty, stp);
        self.check_taker(&taker)?;
        self.next_order_id = self.next_order_id.checked_add(1).ok_or(BookError::OrderIdsExhausted)?;
        events.push(Event::Accepted {
            order_id: taker.id,
            account: taker.account,
            client_order_id: taker.client,
            side: taker.side,
            price: order.price,
            qty: Qty(qty),
        });
        self.execute(taker, events);
        Ok(())
    }

    /// The checks that depend on the book's liquidity: post-only and fill-or-kill.
    fn check_taker(&self, taker: &Taker) -> Result<(), BookError> {
        match taker.kind {
            OrderKind::PostOnly => self.check_post_only(taker.side, Price(taker.limit)),
            OrderKind::FillOrKill => {
                let available = self.fillable(taker);
                if available < taker.remaining {
                    let available = (self.spec.matching == Matching::PriceTime).then_some(available);
                    return Err(BookError::FillOrKillNotFillable { requested: taker.remaining, available });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn find(&self, account: AccountId, order: OrderRef) -> Result<u32, BookError> {
        let slot = match order {
            OrderRef::Id(id) => self.store.slot_of_id(id.0).filter(|slot| self.store.node(*slot).account == account.0),
            OrderRef::Client(client) => self.store.slot_of_client(account.0, client.0),
        };
        slot.ok_or(BookError::UnknownOrder { account, order })
    }

    fn cancel(&mut self, account: AccountId, order: OrderRef, events: &mut Vec<Event>) -> Result<(), BookError> {
        let slot = self.find(account, order)?;
        self.cancel_slot(slot, CancelReason::Requested, events);
        Ok(())
    }

    fn cancel_all(&mut self, account: AccountId, side: Option<Side>, events: &mut Vec<Event>) {
        let mut slots = std::mem::take(&mut self.scratch);
        self.store.account_slots(account.0, &mut slots);
        for slot in slots.iter().copied() {
            if side.is_none_or(|side| self.store.node(slot).side == side) {
                self.cancel_slot(slot, CancelReason::CancelAll, events);
            }
        }
        self.scratch = slots;
    }

    pub(crate) fn cancel_slot(&mut self, slot: u32, reason: CancelReason, events: &mut Vec<Event>) {
        let node = self.store.remove(slot);
        events.push(Event::Cancelled { order_id: OrderId(node.id), account: AccountId(node.account), removed: Qty(node.qty), reason });
    }

    fn amend(&mut self, account: AccountId, order: OrderRef, price: Price, qty: Qty, events: &mut Vec<Event>) -> Result<(), BookError> {
        let slot = self.find(account, order)?;
        let node = *self.store.node(slot);
        self.check_price(node.side, price)?;
        self.check_qty(qty)?;
        let qty = match self.store.account(account.0).position.filter(|_| node.reduce_only) {
            Some(position) => qty.0.min(reducing_capacity(node.side, position, self.spec.lot)),
            None => qty.0,
        };
        assert!(qty > 0, "a resting reduce-only order always has room to reduce (trimmed otherwise)");
        if price.0 == node.price {
            return self.amend_size(slot, &node, qty, events);
        }
        if node.post_only {
            self.check_post_only(node.side, price)?;
        }
        self.amend_price(slot, &node, price, qty, events);
        Ok(())
    }

    fn amend_size(&mut self, slot: u32, node: &Node, qty: u64, events: &mut Vec<Event>) -> Result<(), BookError> {
        if qty == node.qty {
            return Err(BookError::AmendWithoutChange);
        }
        let priority_kept = qty < node.qty;
        if priority_kept {
            self.store.reduce(slot, node.qty - qty);
        } else {
            self.store.requeue(slot, qty);
        }
        let (order_id, account, price) = (OrderId(node.id), AccountId(node.account), Price(node.price));
        events.push(Event::Amended { order_id, account, price, qty: Qty(qty), priority_kept });
        Ok(())
    }

    /// A price change is a cancel and a new order under the same ids: it may trade at once.
    fn amend_price(&mut self, slot: u32, node: &Node, price: Price, qty: u64, events: &mut Vec<Event>) {
        let position = self.store.account(node.account).position.filter(|_| node.reduce_only);
        assert!(position.is_some() == node.reduce_only, "a resting reduce-only order's position is always tracked");
        self.store.remove(slot);
        let (order_id, account) = (OrderId(node.id), AccountId(node.account));
        events.push(Event::Amended { order_id, account, price, qty: Qty(qty), priority_kept: false });
        let kind = if node.post_only { OrderKind::PostOnly } else { OrderKind::Limit };
        let taker = Taker {
            id: order_id,
            account,
            client: ClientOrderId(node.client),
            side: node.side,
            kind,
            limit: price.0,
            remaining: qty,
            filled: 0,
            stp: node.stp,
            reduce_only: position,
        };
        self.execute(taker, events);
    }
}

pub(crate) fn crosses(side: Side, limit: i64, opposite: i64) -> bool {
    match side {
        Side::Buy => opposite <= limit,
        Side::Sell => opposite >= limit,
    }
}

/// How much an order of `side` may trade without growing or flipping `position`, rounded down to
/// the lot.
pub(crate) fn reducing_capacity(side: Side, position: i128, lot: u64) -> u64 {
    let reduces = match side {
        Side::Buy => position < 0,
        Side::Sell => position > 0,
    };
    if !reduces {
        return 0;
    }
    let magnitude = u64::try_from(position.unsigned_abs()).unwrap_or(u64::MAX);
    magnitude - magnitude % lot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reducing_capacity_never_grows_or_flips() {
        assert_eq!(reducing_capacity(Side::Sell, 350, 100), 300);
        assert_eq!(reducing_capacity(Side::Buy, 350, 100), 0);
        assert_eq!(reducing_capacity(Side::Buy, -250, 100), 200);
        assert_eq!(reducing_capacity(Side::Sell, -250, 100), 0);
        assert_eq!(reducing_capacity(Side::Sell, 0, 100), 0);
        assert_eq!(reducing_capacity(Side::Sell, 50, 100), 0);
        assert_eq!(reducing_capacity(Side::Buy, i128::MIN, 1), u64::MAX);
    }

    #[test]
    fn crossing_is_inclusive_of_the_limit() {
        assert!(crosses(Side::Buy, 100, 100) && crosses(Side::Buy, 100, 90) && !crosses(Side::Buy, 100, 110));
        assert!(crosses(Side::Sell, 100, 100) && crosses(Side::Sell, 100, 110) && !crosses(Side::Sell, 100, 90));
    }
}
