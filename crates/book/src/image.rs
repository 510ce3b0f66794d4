//! The canonical digest and the serde image of a book.
//!
//! Both are functions of the book's logical state only: the spec, the next order id, the
//! reference price, the resting orders of each side in priority order (which is exactly what
//! decides future matching) and the positions tracked for reduce-only orders. Slab slots, free
//! lists and map layouts never enter, so two books that hold the same orders in the same queues
//! have the same digest however they got there.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::book::reducing_capacity;
use crate::store::{NIL, Node};
use crate::{AccountId, Book, BookError, MarketSpec, Matching, OrderView, Price, SelfTradePrevention, Side};

pub const BOOK_IMAGE_VERSION: u32 = 1;

/// A snapshot of a book: [`Book::from_image`] restores a book with the same digest and the same
/// future behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookImage {
    pub version: u32,
    pub spec: MarketSpec,
    pub next_order_id: u64,
    pub reference_price: Option<Price>,
    /// Best price first, then arrival.
    pub bids: Vec<OrderView>,
    pub asks: Vec<OrderView>,
    /// Accounts with resting reduce-only orders and their tracked positions, by account.
    pub positions: Vec<(AccountId, i128)>,
}

impl Book {
    pub fn image(&self) -> BookImage {
        BookImage {
            version: BOOK_IMAGE_VERSION,
            spec: self.spec,
            next_order_id: self.next_order_id,
            reference_price: self.reference_price,
            bids: self.orders_in_priority(Side::Buy),
            asks: self.orders_in_priority(Side::Sell),
            positions: self.positions(),
        }
    }

    fn positions(&self) -> Vec<(AccountId, i128)> {
        let tracked = self.store.accounts.iter().filter_map(|(account, entry)| Some((AccountId(*account), entry.position?)));
        tracked.collect()
    }

    /// BLAKE3 over a versioned, hand-written encoding (independent of any serde format).
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"clearhouse/book/v1");
        hash_spec(&mut hasher, &self.spec);
        hasher.update(&self.next_order_id.to_le_bytes());
        hasher.update(&self.reference_price.map_or(0, |price| price.0).to_le_bytes());
        for side in [Side::Buy, Side::Sell] {
            hasher.update(&(self.store.side_in_priority(side).count() as u64).to_le_bytes());
            for node in self.store.side_in_priority(side) {
                hash_node(&mut hasher, node);
            }
        }
        let positions = self.positions();
        hasher.update(&(positions.len() as u64).to_le_bytes());
        for (account, position) in positions {
            hasher.update(&account.0.to_le_bytes());
            hasher.update(&position.to_le_bytes());
        }
        *hasher.finalize().as_bytes()
    }

    /// Restores a book from an image, refusing any image a book could not have produced.
    pub fn from_image(image: &BookImage) -> Result<Book, BookError> {
        if image.version != BOOK_IMAGE_VERSION {
            return Err(BookError::InvalidImage { reason: "unknown image version" });
        }
        let mut book = Book::new(image.spec)?;
        book.next_order_id = image.next_order_id;
        book.reference_price = image.reference_price;
        check_orders(&image.spec, image)?;
        for order in image.bids.iter().chain(&image.asks) {
            book.store.insert(node_of(order));
        }
        book.restore_positions(image)?;
        book.check_limits()?;
        book.verify()?;
        Ok(book)
    }

    fn restore_positions(&mut self, image: &BookImage) -> Result<(), BookError> {
        let invalid = |reason| Err(BookError::InvalidImage { reason });
        for (account, position) in &image.positions {
            let Some(entry) = self.store.accounts.get_mut(&account.0) else { return invalid("position of an account without orders") };
            if entry.reduce_only_orders == 0 || entry.position.replace(*position).is_some() {
                return invalid("position listed twice or without reduce-only orders");
            }
        }
        for node in self.store.side_in_priority(Side::Buy).chain(self.store.side_in_priority(Side::Sell)) {
            let position = self.store.account(node.account).position;
            match position {
                None if node.reduce_only => return invalid("reduce-only order without a position"),
                Some(position) if node.reduce_only && node.qty > reducing_capacity(node.side, position, self.spec.lot) => {
                    return invalid("reduce-only order larger than its position allows");
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_limits(&self) -> Result<(), BookError> {
        let invalid = |reason| Err(BookError::InvalidImage { reason });
        if self.store.len() > self.spec.book_orders_max as usize {
            return invalid("more orders than book_orders_max");
        }
        if self.store.accounts.values().any(|entry| entry.open_orders > self.spec.open_orders_per_account_max) {
            return invalid("an account above open_orders_per_account_max");
        }
        let crossed = match self.spec.matching {
            Matching::PriceTime => matches!((self.best_bid(), self.best_ask()), (Some(bid), Some(ask)) if bid >= ask),
            Matching::DarkMid => self.executable_heads().is_some(),
        };
        if crossed {
            return invalid("crossed book");
        }
        Ok(())
    }
}

/// Every order valid on its own, ids and client ids unique, each side in priority order.
fn check_orders(spec: &MarketSpec, image: &BookImage) -> Result<(), BookError> {
    let invalid = |reason| Err(BookError::InvalidImage { reason });
    let mut ids = BTreeSet::new();
    let mut clients = BTreeSet::new();
    for (side, orders) in [(Side::Buy, &image.bids), (Side::Sell, &image.asks)] {
        for (index, order) in orders.iter().enumerate() {
            if order.side != side || order.price.0 <= 0 || order.price.0 % spec.tick != 0 {
                return invalid("order with a wrong side or an off-tick price");
            }
            if order.qty.0 == 0 || !order.qty.0.is_multiple_of(spec.lot) || order.qty.0 > spec.qty_max {
                return invalid("order with an invalid quantity");
            }
            if order.order_id.0 == 0 || order.order_id.0 >= image.next_order_id || !ids.insert(order.order_id) {
                return invalid("order id duplicated or not yet assigned");
            }
            if !clients.insert((order.account, order.client_order_id)) {
                return invalid("client order id duplicated");
            }
            let previous = index.checked_sub(1).map(|previous| orders[previous].price);
            if previous
                .is_some_and(|previous| (side == Side::Buy && previous < order.price) || (side == Side::Sell && previous > order.price))
            {
                return invalid("orders not in priority order");
            }
        }
    }
    Ok(())
}

fn node_of(order: &OrderView) -> Node {
    Node {
        id: order.order_id.0,
        account: order.account.0,
        client: order.client_order_id.0,
        price: order.price.0,
        qty: order.qty.0,
        side: order.side,
        reduce_only: order.reduce_only,
        post_only: order.post_only,
        stp: order.self_trade_prevention,
        prev: NIL,
        next: NIL,
    }
}

fn hash_spec(hasher: &mut blake3::Hasher, spec: &MarketSpec) {
    hasher.update(&spec.tick.to_le_bytes());
    hasher.update(&spec.lot.to_le_bytes());
    hasher.update(&spec.qty_min.to_le_bytes());
    hasher.update(&spec.qty_max.to_le_bytes());
    hasher.update(&spec.open_orders_per_account_max.to_le_bytes());
    hasher.update(&spec.book_orders_max.to_le_bytes());
    hasher.update(&spec.price_band_bps.to_le_bytes());
    let matching = match spec.matching {
        Matching::PriceTime => 0,
        Matching::DarkMid => 1,
    };
    hasher.update(&[stp_code(spec.self_trade_prevention), matching]);
}

fn hash_node(hasher: &mut blake3::Hasher, node: &Node) {
    hasher.update(&node.id.to_le_bytes());
    hasher.update(&node.account.to_le_bytes());
    hasher.update(&node.client.to_le_bytes());
    hasher.update(&node.price.to_le_bytes());
    hasher.update(&node.qty.to_le_bytes());
    let side = match node.side {
        Side::Buy => 0,
        Side::Sell => 1,
    };
    hasher.update(&[side, u8::from(node.reduce_only), u8::from(node.post_only), stp_code(node.stp)]);
}

fn stp_code(stp: SelfTradePrevention) -> u8 {
    match stp {
        SelfTradePrevention::CancelTaker => 0,
        SelfTradePrevention::CancelMaker => 1,
        SelfTradePrevention::CancelBoth => 2,
        SelfTradePrevention::DecrementAndCancel => 3,
    }
}
