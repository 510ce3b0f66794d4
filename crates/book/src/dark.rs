//! Dark crossing at the reference price: when the reference moves, resting orders that both
//! accept the new price trade with each other at it.

use crate::{AccountId, Book, CancelReason, Event, OrderId, Qty, SelfTradePrevention, Side};

impl Book {
    /// The heads of the best bid and best ask levels when both accept the reference price.
    /// Levels are ordered by aggressiveness, so if the heads do not both accept it, no pair does.
    pub(crate) fn executable_heads(&self) -> Option<(u32, u32)> {
        let mid = self.reference_price?.0;
        let (bid_price, bid) = self.store.best(Side::Buy)?;
        let (ask_price, ask) = self.store.best(Side::Sell)?;
        (bid_price >= mid && ask_price <= mid).then_some((bid.head, ask.head))
    }

    /// Trades resting orders against each other until the heads no longer both accept the
    /// reference price. Every turn removes at least one order, so it ends.
    pub(crate) fn uncross_at_reference(&mut self, events: &mut Vec<Event>) {
        while let Some((bid, ask)) = self.executable_heads() {
            let (newer, older) = if self.store.node(bid).id > self.store.node(ask).id { (bid, ask) } else { (ask, bid) };
            let length = self.store.len();
            if self.store.node(newer).account == self.store.node(older).account {
                self.prevent_resting_self_trade(newer, older, events);
            } else {
                self.cross_resting(newer, older, events);
            }
            assert!(self.store.len() < length, "an uncrossing turn removed no order");
        }
    }

    /// The later arrival is the aggressor (taker) of the fill.
    fn cross_resting(&mut self, taker_slot: u32, maker_slot: u32, events: &mut Vec<Event>) {
        let (taker, maker) = (*self.store.node(taker_slot), *self.store.node(maker_slot));
        let Some(mid) = self.reference_price else { panic!("uncrossing without a reference price") };
        let qty = taker.qty.min(maker.qty);
        events.push(Event::Fill {
            maker_order_id: OrderId(maker.id),
            maker_account: AccountId(maker.account),
            taker_order_id: OrderId(taker.id),
            taker_account: AccountId(taker.account),
            taker_side: taker.side,
            price: mid,
            qty: Qty(qty),
        });
        self.take_from_resting(maker_slot, maker.qty, qty);
        self.take_from_resting(taker_slot, taker.qty, qty);
        self.on_fill(maker.account, maker.side, qty, events);
        self.on_fill(taker.account, taker.side, qty, events);
    }

    fn take_from_resting(&mut self, slot: u32, open: u64, qty: u64) {
        if qty == open {
            self.store.remove(slot);
        } else {
            self.store.reduce(slot, qty);
        }
    }

    /// The later arrival's mode decides, as if it were the incoming order.
    fn prevent_resting_self_trade(&mut self, newer: u32, older: u32, events: &mut Vec<Event>) {
        let reason = CancelReason::SelfTrade;
        match self.store.node(newer).stp {
            SelfTradePrevention::CancelTaker => self.cancel_slot(newer, reason, events),
            SelfTradePrevention::CancelMaker => self.cancel_slot(older, reason, events),
            SelfTradePrevention::CancelBoth => {
                self.cancel_slot(older, reason, events);
                self.cancel_slot(newer, reason, events);
            }
            SelfTradePrevention::DecrementAndCancel => {
                let by = self.store.node(newer).qty.min(self.store.node(older).qty);
                self.decrement_resting(older, by, events);
                self.decrement_resting(newer, by, events);
            }
        }
    }

    fn decrement_resting(&mut self, slot: u32, by: u64, events: &mut Vec<Event>) {
        let node = *self.store.node(slot);
        if by == node.qty {
            self.cancel_slot(slot, CancelReason::SelfTrade, events);
            return;
        }
        self.store.reduce(slot, by);
        let (order_id, account, remaining) = (OrderId(node.id), AccountId(node.account), Qty(node.qty - by));
        events.push(Event::Reduced { order_id, account, removed: Qty(by), remaining, reason: CancelReason::SelfTrade });
    }
}
