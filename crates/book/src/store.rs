//! Storage of resting orders: a slab of nodes, each price level an intrusive doubly linked
//! FIFO of slab slots, levels in a `BTreeMap` per side, and two indices (by order id, by
//! account and client id). Nothing here decides anything; it keeps the structures consistent.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::{AccountId, ClientOrderId, OrderId, OrderView, Price, Qty, SelfTradePrevention, Side};

pub(crate) const NIL: u32 = u32::MAX;

/// Hashes book-assigned order ids (never client-chosen keys, so no adversary picks them) by a
/// multiplication. The map is only looked up, never iterated, so its order cannot leak into
/// behaviour.
#[derive(Default)]
pub(crate) struct OrderIdHasher(u64);

impl Hasher for OrderIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub id: u64,
    pub account: u32,
    pub client: u64,
    pub price: i64,
    pub qty: u64,
    pub side: Side,
    pub reduce_only: bool,
    pub post_only: bool,
    pub stp: SelfTradePrevention,
    pub prev: u32,
    pub next: u32,
}

impl Node {
    pub fn view(&self) -> OrderView {
        OrderView {
            order_id: OrderId(self.id),
            account: AccountId(self.account),
            client_order_id: ClientOrderId(self.client),
            side: self.side,
            price: Price(self.price),
            qty: Qty(self.qty),
            post_only: self.post_only,
            reduce_only: self.reduce_only,
            self_trade_prevention: self.stp,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Level {
    pub head: u32,
    pub tail: u32,
    /// Sum of the open quantities of the level's orders.
    pub qty: u64,
}

/// Per-account bookkeeping; an entry exists only while the account has an open order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AccountBook {
    pub open_orders: u32,
    pub reduce_only_orders: u32,
    /// Known exactly while `reduce_only_orders > 0` (and only then), kept up to date by fills.
    pub position: Option<i128>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub nodes: Vec<Node>,
    free: Vec<u32>,
    pub bids: BTreeMap<i64, Level>,
    pub asks: BTreeMap<i64, Level>,
    by_id: HashMap<u64, u32, BuildHasherDefault<OrderIdHasher>>,
    pub by_client: BTreeMap<(u32, u64), u32>,
    pub accounts: BTreeMap<u32, AccountBook>,
}

impl Store {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn slot_of_id(&self, id: u64) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    pub fn slot_of_client(&self, account: u32, client: u64) -> Option<u32> {
        self.by_client.get(&(account, client)).copied()
    }

    pub fn node(&self, slot: u32) -> &Node {
        &self.nodes[slot as usize]
    }

    pub fn account(&self, account: u32) -> AccountBook {
        self.accounts.get(&account).copied().unwrap_or_default()
    }

    pub fn best(&self, side: Side) -> Option<(i64, &Level)> {
        let entry = match side {
            Side::Buy => self.bids.last_key_value(),
            Side::Sell => self.asks.first_key_value(),
        };
        entry.map(|(price, level)| (*price, level))
    }

    /// Adds an order at the back of its level and indexes it.
    pub fn insert(&mut self, node: Node) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                let slot = u32::try_from(self.nodes.len()).unwrap_or(NIL);
                assert!(slot != NIL, "slab exceeds u32 slots: book_orders_max bounds it far lower");
                self.nodes.push(node);
                slot
            }
        };
        let previous = self.by_id.insert(node.id, slot);
        assert!(previous.is_none(), "order id {} indexed twice", node.id);
        let previous = self.by_client.insert((node.account, node.client), slot);
        assert!(previous.is_none(), "client id indexed twice");
        let entry = self.accounts.entry(node.account).or_default();
        entry.open_orders += 1;
        entry.reduce_only_orders += u32::from(node.reduce_only);
        self.link_back(slot);
        slot
    }

    /// Removes an order from its level and every index; returns it.
    pub fn remove(&mut self, slot: u32) -> Node {
        self.unlink(slot);
        let node = self.nodes[slot as usize];
        assert!(self.by_id.remove(&node.id) == Some(slot), "order id index out of step");
        assert!(self.by_client.remove(&(node.account, node.client)) == Some(slot), "client index out of step");
        self.forget_account_order(&node);
        self.free.push(slot);
        node
    }

    fn forget_account_order(&mut self, node: &Node) {
        let Some(entry) = self.accounts.get_mut(&node.account) else {
            panic!("account of a resting order has no entry");
        };
        assert!(entry.open_orders > 0, "open order count underflow");
        entry.open_orders -= 1;
        if node.reduce_only {
            assert!(entry.reduce_only_orders > 0, "reduce-only count underflow");
            entry.reduce_only_orders -= 1;
            if entry.reduce_only_orders == 0 {
                entry.position = None;
            }
        }
        if entry.open_orders == 0 {
            self.accounts.remove(&node.account);
        }
    }

    /// Lowers an order's open quantity in place (it keeps its priority).
    pub fn reduce(&mut self, slot: u32, by: u64) {
        let node = &mut self.nodes[slot as usize];
        assert!(by > 0 && by < node.qty, "reduce by {by} of {} must leave a positive remainder", node.qty);
        node.qty -= by;
        let (side, price) = (node.side, node.price);
        let level = level_mut(levels_mut(&mut self.bids, &mut self.asks, side), price);
        level.qty = level.qty.checked_sub(by).unwrap_or_else(|| panic!("level quantity below its orders' sum"));
    }

    /// Moves an order to the back of its level with a new open quantity (it loses priority).
    pub fn requeue(&mut self, slot: u32, qty: u64) {
        assert!(qty > 0, "requeue with zero quantity");
        self.unlink(slot);
        self.nodes[slot as usize].qty = qty;
        self.link_back(slot);
    }

    fn link_back(&mut self, slot: u32) {
        let node = self.nodes[slot as usize];
        let levels = levels_mut(&mut self.bids, &mut self.asks, node.side);
        let level = levels.entry(node.price).or_insert(Level { head: NIL, tail: NIL, qty: 0 });
        let old_tail = level.tail;
        level.tail = slot;
        // Cannot overflow: the spec bounds qty_max * book_orders_max by u64::MAX.
        level.qty = level.qty.checked_add(node.qty).unwrap_or_else(|| panic!("level quantity overflows u64"));
        if old_tail == NIL {
            level.head = slot;
        } else {
            self.nodes[old_tail as usize].next = slot;
        }
        let node = &mut self.nodes[slot as usize];
        node.prev = old_tail;
        node.next = NIL;
    }

    fn unlink(&mut self, slot: u32) {
        let node = self.nodes[slot as usize];
        let levels = levels_mut(&mut self.bids, &mut self.asks, node.side);
        let level = level_mut(levels, node.price);
        if node.prev == NIL {
            level.head = node.next;
        } else {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next == NIL {
            level.tail = node.prev;
        } else {
            self.nodes[node.next as usize].prev = node.prev;
        }
        level.qty = level.qty.checked_sub(node.qty).unwrap_or_else(|| panic!("level quantity below its orders' sum"));
        if level.head == NIL {
            assert!(level.qty == 0, "empty level with quantity left");
            levels.remove(&node.price);
        }
    }

    /// Recomputes every derived figure from the nodes and compares: level totals and links, the
    /// two indices, the per-account counts. O(orders); for tests and audits, not the hot path.
    pub fn verify(&self) -> Result<(), &'static str> {
        let mut accounts: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
        let mut orders = 0usize;
        for side in [Side::Buy, Side::Sell] {
            let levels = if side == Side::Buy { &self.bids } else { &self.asks };
            for (price, level) in levels {
                let (mut sum, mut previous, mut slot) = (0u64, NIL, level.head);
                while slot != NIL {
                    let node = &self.nodes[slot as usize];
                    if node.price != *price || node.side != side || node.prev != previous || node.qty == 0 {
                        return Err("a node sits in the wrong level or its links are broken");
                    }
                    if self.by_id.get(&node.id) != Some(&slot) || self.by_client.get(&(node.account, node.client)) != Some(&slot) {
                        return Err("an index does not point at its node");
                    }
                    let entry = accounts.entry(node.account).or_default();
                    entry.0 += 1;
                    entry.1 += u32::from(node.reduce_only);
                    (sum, previous, slot, orders) = (sum + node.qty, slot, node.next, orders + 1);
                }
                if sum != level.qty || previous != level.tail || sum == 0 {
                    return Err("a level's total or tail is wrong, or the level is empty");
                }
            }
        }
        self.verify_accounts(&accounts, orders)
    }

    fn verify_accounts(&self, counted: &BTreeMap<u32, (u32, u32)>, orders: usize) -> Result<(), &'static str> {
        if orders != self.by_id.len() || orders != self.by_client.len() || counted.len() != self.accounts.len() {
            return Err("indices hold orders that are not in any level");
        }
        for (account, (open, reduce_only)) in counted {
            let Some(entry) = self.accounts.get(account) else { return Err("an account with orders has no entry") };
            if entry.open_orders != *open || entry.reduce_only_orders != *reduce_only {
                return Err("an account's order counts are wrong");
            }
            if entry.position.is_some() != (*reduce_only > 0) {
                return Err("a position is tracked without reduce-only orders, or not tracked with them");
            }
        }
        Ok(())
    }

    /// The slots of an account's open orders, in client id order, into `out`.
    pub fn account_slots(&self, account: u32, out: &mut Vec<u32>) {
        out.clear();
        out.extend(self.by_client.range((account, 0)..=(account, u64::MAX)).map(|(_, slot)| *slot));
    }

    /// Orders of one side in priority order: best price first, then arrival.
    pub fn side_in_priority(&self, side: Side) -> impl Iterator<Item = &Node> + '_ {
        let levels: Box<dyn Iterator<Item = &Level>> = match side {
            Side::Buy => Box::new(self.bids.values().rev()),
            Side::Sell => Box::new(self.asks.values()),
        };
        levels.flat_map(move |level| LevelIter { nodes: &self.nodes, slot: level.head })
    }
}

pub(crate) struct LevelIter<'a> {
    pub nodes: &'a [Node],
    pub slot: u32,
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = &'a Node;
    fn next(&mut self) -> Option<&'a Node> {
        if self.slot == NIL {
            return None;
        }
        let node = &self.nodes[self.slot as usize];
        self.slot = node.next;
        Some(node)
    }
}

fn levels_mut<'a>(bids: &'a mut BTreeMap<i64, Level>, asks: &'a mut BTreeMap<i64, Level>, side: Side) -> &'a mut BTreeMap<i64, Level> {
    match side {
        Side::Buy => bids,
        Side::Sell => asks,
    }
}

fn level_mut(levels: &mut BTreeMap<i64, Level>, price: i64) -> &mut Level {
    match levels.get_mut(&price) {
        Some(level) => level,
        None => panic!("resting order at {price} has no level"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, price: i64, qty: u64) -> Node {
        Node {
            id,
            account: id as u32 % 2,
            client: id,
            price,
            qty,
            side: Side::Buy,
            reduce_only: false,
            post_only: false,
            stp: SelfTradePrevention::CancelTaker,
            prev: NIL,
            next: NIL,
        }
    }

    fn queue(store: &Store) -> Vec<(u64, u64)> {
        store.side_in_priority(Side::Buy).map(|n| (n.id, n.qty)).collect()
    }

    #[test]
    fn levels_keep_fifo_order_and_totals_through_removal_and_requeue() {
        let mut store = Store::default();
        let slots: Vec<u32> =
            [(1, 100, 5), (2, 100, 7), (3, 110, 1), (4, 100, 9)].map(|(id, price, qty)| store.insert(node(id, price, qty))).to_vec();
        assert_eq!(queue(&store), vec![(3, 1), (1, 5), (2, 7), (4, 9)]);
        assert_eq!(store.bids[&100].qty, 21);
        store.remove(slots[1]);
        store.requeue(slots[0], 6);
        store.reduce(slots[3], 4);
        assert_eq!(queue(&store), vec![(3, 1), (4, 5), (1, 6)]);
        assert_eq!(store.bids[&100].qty, 11);
        store.remove(slots[2]);
        assert!(!store.bids.contains_key(&110), "an emptied level is dropped");
        // The freed slot is reused by the next insert.
        assert_eq!(store.insert(node(5, 100, 1)), slots[2]);
        assert_eq!(store.accounts[&1].open_orders, 2);
        assert_eq!(store.len(), 3);
    }
}
