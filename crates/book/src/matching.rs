//! Price-time matching of an accepted order, self-trade prevention, reduce-only trimming and the
//! fill-or-kill dry run. Everything here runs after validation and cannot fail.

use crate::book::{crosses, reducing_capacity};
use crate::store::Node;
use crate::{AccountId, Book, CancelReason, ClientOrderId, Event, NewOrder, OrderId, OrderKind, Price, Qty, SelfTradePrevention, Side};

/// An accepted order while it trades.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Taker {
    pub id: OrderId,
    pub account: AccountId,
    pub client: ClientOrderId,
    pub side: Side,
    pub kind: OrderKind,
    pub limit: i64,
    pub remaining: u64,
    pub filled: u64,
    pub stp: SelfTradePrevention,
    /// The account's position before this order, for a reduce-only order.
    pub reduce_only: Option<i128>,
}

impl Taker {
    pub fn new(order: &NewOrder, id: OrderId, qty: u64, stp: SelfTradePrevention) -> Taker {
        Taker {
            id,
            account: order.account,
            client: order.client_order_id,
            side: order.side,
            kind: order.kind,
            limit: order.price.0,
            remaining: qty,
            filled: 0,
            stp,
            reduce_only: order.reduce_only.map(|position| i128::from(position.0)),
        }
    }
}

impl Book {
    /// Trades an accepted order against the book, then rests or cancels its remainder.
    pub(crate) fn execute(&mut self, mut taker: Taker, events: &mut Vec<Event>) {
        if let Some(position) = taker.reduce_only {
            self.sync_position(taker.account.0, position, events);
        }
        if taker.kind != OrderKind::PostOnly {
            self.match_taker(&mut taker, events);
        }
        assert!(taker.kind != OrderKind::FillOrKill || taker.remaining == 0, "fill-or-kill passed its dry run but did not fill");
        self.finish(taker, events);
    }

    /// A reduce-only order brings the account's known position up to date.
    fn sync_position(&mut self, account: u32, position: i128, events: &mut Vec<Event>) {
        let Some(entry) = self.store.accounts.get_mut(&account) else { return };
        if entry.position.is_some() {
            entry.position = Some(position);
            self.trim_reduce_only(account, events);
        }
    }

    fn match_taker(&mut self, taker: &mut Taker, events: &mut Vec<Event>) {
        while taker.remaining > 0 {
            let Some((price, level)) = self.store.best(taker.side.opposite()) else { break };
            let Some(execution_price) = self.execution_price(taker.side, taker.limit, price) else { break };
            let slot = level.head;
            if self.store.node(slot).account != taker.account.0 {
                self.fill(taker, slot, execution_price, events);
            } else if !self.prevent_self_trade(taker, slot, events) {
                break;
            }
        }
    }

    fn fill(&mut self, taker: &mut Taker, slot: u32, price: i64, events: &mut Vec<Event>) {
        let maker = *self.store.node(slot);
        assert!(crosses(taker.side, taker.limit, price), "fill outside the taker's limit");
        assert!(crosses(maker.side, maker.price, price), "fill outside the maker's limit");
        let qty = taker.remaining.min(maker.qty);
        events.push(Event::Fill {
            maker_order_id: OrderId(maker.id),
            maker_account: AccountId(maker.account),
            taker_order_id: taker.id,
            taker_account: taker.account,
            taker_side: taker.side,
            price: Price(price),
            qty: Qty(qty),
        });
        taker.remaining -= qty;
        taker.filled += qty;
        if qty == maker.qty {
            self.store.remove(slot);
        } else {
            self.store.reduce(slot, qty);
        }
        self.on_fill(maker.account, maker.side, qty, events);
        self.on_fill(taker.account.0, taker.side, qty, events);
    }

    /// A fill moves a tracked position; reduce-only orders shrink with it.
    pub(crate) fn on_fill(&mut self, account: u32, side: Side, qty: u64, events: &mut Vec<Event>) {
        let Some(entry) = self.store.accounts.get_mut(&account) else { return };
        let Some(position) = entry.position.as_mut() else { return };
        *position += side.signed(qty);
        self.trim_reduce_only(account, events);
    }

    /// Cuts every resting reduce-only order of `account` down to what its position lets it
    /// reduce; an order left with nothing is cancelled. A trimmed order keeps its priority.
    pub(crate) fn trim_reduce_only(&mut self, account: u32, events: &mut Vec<Event>) {
        let Some(position) = self.store.account(account).position else { return };
        let mut slots = std::mem::take(&mut self.scratch);
        self.store.account_slots(account, &mut slots);
        for slot in slots.iter().copied() {
            let node = *self.store.node(slot);
            let capacity = reducing_capacity(node.side, position, self.spec.lot);
            if !node.reduce_only || node.qty <= capacity {
                continue;
            }
            if capacity == 0 {
                self.cancel_slot(slot, CancelReason::ReduceOnly, events);
            } else {
                self.reduce_slot(slot, &node, node.qty - capacity, CancelReason::ReduceOnly, events);
            }
        }
        self.scratch = slots;
    }

    fn reduce_slot(&mut self, slot: u32, node: &Node, by: u64, reason: CancelReason, events: &mut Vec<Event>) {
        self.store.reduce(slot, by);
        let (order_id, account) = (OrderId(node.id), AccountId(node.account));
        events.push(Event::Reduced { order_id, account, removed: Qty(by), remaining: Qty(node.qty - by), reason });
    }

    /// Returns whether the taker keeps matching.
    fn prevent_self_trade(&mut self, taker: &mut Taker, slot: u32, events: &mut Vec<Event>) -> bool {
        match taker.stp {
            SelfTradePrevention::CancelMaker => {
                self.cancel_slot(slot, CancelReason::SelfTrade, events);
                true
            }
            SelfTradePrevention::CancelTaker => {
                cancel_taker(taker, events);
                false
            }
            SelfTradePrevention::CancelBoth => {
                self.cancel_slot(slot, CancelReason::SelfTrade, events);
                cancel_taker(taker, events);
                false
            }
            SelfTradePrevention::DecrementAndCancel => self.decrement_both(taker, slot, events),
        }
    }

    fn decrement_both(&mut self, taker: &mut Taker, slot: u32, events: &mut Vec<Event>) -> bool {
        let maker = *self.store.node(slot);
        let by = taker.remaining.min(maker.qty);
        if by == maker.qty {
            self.cancel_slot(slot, CancelReason::SelfTrade, events);
        } else {
            self.reduce_slot(slot, &maker, by, CancelReason::SelfTrade, events);
        }
        if by == taker.remaining {
            cancel_taker(taker, events);
            return false;
        }
        taker.remaining -= by;
        let remaining = Qty(taker.remaining);
        events.push(Event::Reduced {
            order_id: taker.id,
            account: taker.account,
            removed: Qty(by),
            remaining,
            reason: CancelReason::SelfTrade,
        });
        true
    }

    /// Rests the remainder of a good-till-cancelled or post-only order; cancels any other.
    fn finish(&mut self, taker: Taker, events: &mut Vec<Event>) {
        if taker.remaining == 0 {
            return;
        }
        let (order_id, account, removed) = (taker.id, taker.account, Qty(taker.remaining));
        if !taker.kind.rests() {
            events.push(Event::Cancelled { order_id, account, removed, reason: CancelReason::Unfilled });
            return;
        }
        self.store.insert(resting_node(&taker));
        if let Some(before) = taker.reduce_only {
            self.track_position(&taker, before + taker.side.signed(taker.filled));
        }
        events.push(Event::Rested { order_id, price: Price(taker.limit), qty: removed });
    }

    fn track_position(&mut self, taker: &Taker, position: i128) {
        let Some(entry) = self.store.accounts.get_mut(&taker.account.0) else {
            panic!("account of an order just rested has no entry");
        };
        assert!(entry.position.is_none_or(|tracked| tracked == position), "tracked position out of step with fills");
        entry.position = Some(position);
        assert!(
            taker.remaining <= reducing_capacity(taker.side, position, self.spec.lot),
            "resting reduce-only order exceeds its position"
        );
    }

    /// How much of `taker` the book would fill now, honouring self-trade prevention and
    /// reduce-only trimming of makers, without changing anything (the fill-or-kill dry run).
    pub(crate) fn fillable(&self, taker: &Taker) -> u64 {
        let mut positions: Vec<(u32, i128)> = Vec::new();
        let mut got = 0u64;
        for node in self.store.side_in_priority(taker.side.opposite()) {
            if got == taker.remaining || self.execution_price(taker.side, taker.limit, node.price).is_none() {
                break;
            }
            if node.account == taker.account.0 {
                if taker.stp == SelfTradePrevention::CancelMaker || self.cancelled_by_sync(taker, node) {
                    continue;
                }
                break;
            }
            let position = self.simulated_position(&mut positions, node.account);
            let available = match &position {
                Some(position) if node.reduce_only => node.qty.min(reducing_capacity(node.side, **position, self.spec.lot)),
                _ => node.qty,
            };
            let take = available.min(taker.remaining - got);
            got += take;
            if let Some(position) = position {
                *position += node.side.signed(take);
            }
        }
        got
    }

    /// Whether a reduce-only taker's position update will cancel this own resting order before
    /// matching starts (it always does for the opposite side: a position one side can reduce is
    /// one the other side can only grow).
    fn cancelled_by_sync(&self, taker: &Taker, node: &Node) -> bool {
        let Some(position) = taker.reduce_only else { return false };
        node.reduce_only && reducing_capacity(node.side, position, self.spec.lot) == 0
    }

    fn simulated_position<'a>(&self, positions: &'a mut Vec<(u32, i128)>, account: u32) -> Option<&'a mut i128> {
        let tracked = self.store.account(account).position?;
        let index = match positions.iter().position(|(known, _)| *known == account) {
            Some(index) => index,
            None => {
                positions.push((account, tracked));
                positions.len() - 1
            }
        };
        Some(&mut positions[index].1)
    }
}

fn cancel_taker(taker: &mut Taker, events: &mut Vec<Event>) {
    let removed = Qty(taker.remaining);
    events.push(Event::Cancelled { order_id: taker.id, account: taker.account, removed, reason: CancelReason::SelfTrade });
    taker.remaining = 0;
}

fn resting_node(taker: &Taker) -> Node {
    Node {
        id: taker.id.0,
        account: taker.account.0,
        client: taker.client.0,
        price: taker.limit,
        qty: taker.remaining,
        side: taker.side,
        reduce_only: taker.reduce_only.is_some(),
        post_only: taker.kind == OrderKind::PostOnly,
        stp: taker.stp,
        prev: crate::store::NIL,
        next: crate::store::NIL,
    }
}
