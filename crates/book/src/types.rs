//! Identities, quantities, the market specification, commands and events.

use serde::{Deserialize, Serialize};

use crate::BookError;

/// A limit price: smallest units of the quote asset per `lot` of the base asset, a positive
/// multiple of [`MarketSpec::tick`]. Kept in quote units (not in ticks) so that a price reads the
/// same across markets and a tick change is a configuration change, not a data migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Price(pub i64);

/// A quantity in smallest units of the base asset, a positive multiple of [`MarketSpec::lot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Qty(pub u64);

/// A signed position in smallest units of the base asset (long positive), passed by the caller
/// for reduce-only orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position(pub i64);

/// Assigned by the book, in arrival order, to every accepted order; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId(pub u32);

/// Chosen by the client; unique per account among its open orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientOrderId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// The signed change of position of the side that trades `qty`.
    pub fn signed(self, qty: u64) -> i128 {
        match self {
            Side::Buy => i128::from(qty),
            Side::Sell => -i128::from(qty),
        }
    }
}

/// Time in force and execution style of a new order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OrderKind {
    /// Good till cancelled: takes what crosses, rests the remainder.
    Limit,
    /// Carries the protective limit the caller computed from the oracle and the band
    /// ([`MarketSpec::protective_limit`]); executed as immediate-or-cancel at that limit.
    Market,
    /// Takes what crosses, cancels the remainder.
    ImmediateOrCancel,
    /// Fills in full at once or is rejected without any effect.
    FillOrKill,
    /// Rests without taking; rejected (never slid) if it would cross.
    PostOnly,
}

impl OrderKind {
    pub fn rests(self) -> bool {
        matches!(self, OrderKind::Limit | OrderKind::PostOnly)
    }
}

/// What happens when a taker would trade with a resting order of the same account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SelfTradePrevention {
    /// Cancel the remainder of the incoming (newest) order.
    CancelTaker,
    /// Cancel the resting (oldest) order and keep matching.
    CancelMaker,
    /// Cancel both.
    CancelBoth,
    /// Reduce both by the smaller of the two quantities; an order reduced to zero is cancelled.
    DecrementAndCancel,
}

/// How orders meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Matching {
    /// A lit book: price-time priority, a fill at the resting order's price, depth published.
    PriceTime,
    /// Dark crossing at the oracle mid (the reference price): nothing is displayed (no depth),
    /// two orders trade only at the reference price and only when both limits accept it; among
    /// resting orders the most aggressive limit goes first, then arrival. When the reference moves,
    /// resting orders that both accept the new price trade at once, the later arrival (higher
    /// order id) as the aggressor.
    DarkMid,
}

/// The configuration of one market. Every limit is a bound the book asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSpec {
    /// Price step, in smallest quote units per lot.
    pub tick: i64,
    /// Quantity step, in smallest base units.
    pub lot: u64,
    pub qty_min: u64,
    pub qty_max: u64,
    pub open_orders_per_account_max: u32,
    /// Resting orders in the whole book.
    pub book_orders_max: u32,
    /// Collar around the reference price: a buy above `reference * (1 + band)` or a sell below
    /// `reference * (1 - band)` is refused. In basis points, 1..=10_000.
    pub price_band_bps: u32,
    /// Applied when an order does not name its own mode.
    pub self_trade_prevention: SelfTradePrevention,
    pub matching: Matching,
}

impl MarketSpec {
    pub fn validate(&self) -> Result<(), BookError> {
        let bad = |reason: &'static str| Err(BookError::InvalidSpec { reason });
        if self.tick <= 0 {
            return bad("tick must be positive");
        }
        if self.lot == 0 {
            return bad("lot must be positive");
        }
        if self.qty_min == 0 || !self.qty_min.is_multiple_of(self.lot) || !self.qty_max.is_multiple_of(self.lot) {
            return bad("qty_min and qty_max must be positive multiples of lot");
        }
        if self.qty_max < self.qty_min {
            return bad("qty_max below qty_min");
        }
        if self.open_orders_per_account_max == 0 || self.book_orders_max == 0 {
            return bad("order limits must be positive");
        }
        if u128::from(self.qty_max) * u128::from(self.book_orders_max) > u128::from(u64::MAX) {
            return bad("qty_max * book_orders_max must fit u64 (a level's total)");
        }
        if self.price_band_bps == 0 || self.price_band_bps > 10_000 {
            return bad("price_band_bps must be in 1..=10000");
        }
        Ok(())
    }

    /// The most events one command can produce, for sizing the records that carry them.
    ///
    /// Every turn of the matching loop removes a resting order or ends the taker, so there are at
    /// most `book_orders_max + 1` turns, each with at most two events of its own (a fill, or a
    /// self-trade cancel or decrement of both sides) and, after a fill, at most one trim per
    /// reduce-only order of the two accounts. Add the reduce-only refresh at the start (one trim
    /// per order of the account), `Accepted` or `Amended`, and the final `Rested` or `Cancelled`.
    pub fn events_per_command_max(&self) -> u64 {
        let per_account = u64::from(self.open_orders_per_account_max);
        let turns = u64::from(self.book_orders_max) + 1;
        let per_turn = 2 + 2 * per_account;
        turns.saturating_mul(per_turn).saturating_add(per_account + 2)
    }

    /// The lowest sell and highest buy price the collar allows around `reference`, in i128 so
    /// that no reference can overflow.
    pub fn band(&self, reference: Price) -> (i128, i128) {
        let reference = i128::from(reference.0);
        let delta = reference * i128::from(self.price_band_bps) / 10_000;
        (reference - delta, reference + delta)
    }

    /// The protective limit of a market order: the far edge of the band, rounded onto the tick
    /// grid inside the band. `None` when no positive grid price lies between the reference and
    /// that edge (a band narrower than a tick): such a market order could not trade at the
    /// reference, and guessing a limit would be a silent fallback.
    pub fn protective_limit(&self, side: Side, reference: Price) -> Option<Price> {
        let (low, high) = self.band(reference);
        let tick = i128::from(self.tick);
        let (limit, reaches_reference) = match side {
            Side::Buy => {
                let limit = high.div_euclid(tick) * tick;
                (limit, limit >= i128::from(reference.0))
            }
            Side::Sell => {
                let limit = (low + tick - 1).div_euclid(tick) * tick;
                (limit, limit <= i128::from(reference.0))
            }
        };
        let limit = i64::try_from(limit).ok()?;
        (limit > 0 && reaches_reference).then_some(Price(limit))
    }
}

/// Which open order a cancel or amend names, always together with the owning account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderRef {
    Id(OrderId),
    Client(ClientOrderId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub account: AccountId,
    pub client_order_id: ClientOrderId,
    pub side: Side,
    pub kind: OrderKind,
    pub price: Price,
    pub qty: Qty,
    /// `Some(current position)` makes the order reduce-only.
    pub reduce_only: Option<Position>,
    /// `None` uses the market's mode.
    pub self_trade_prevention: Option<SelfTradePrevention>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Command {
    Place(NewOrder),
    Cancel {
        account: AccountId,
        order: OrderRef,
    },
    CancelAll {
        account: AccountId,
        side: Option<Side>,
    },
    /// `qty` is the new open quantity. A price change or a size increase loses priority; a
    /// size reduction at the same price keeps it.
    Amend {
        account: AccountId,
        order: OrderRef,
        price: Price,
        qty: Qty,
    },
    /// The oracle price the band is measured from.
    SetReferencePrice {
        price: Price,
    },
    /// Tells the book an account's position changed outside it; its resting reduce-only orders
    /// are trimmed to the new position. Ignored for an account without reduce-only orders.
    SetPosition {
        account: AccountId,
        position: Position,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelReason {
    Requested,
    CancelAll,
    SelfTrade,
    /// The remainder of a market, immediate-or-cancel order that found no more liquidity.
    Unfilled,
    /// A reduce-only order trimmed because the position shrank.
    ReduceOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Event {
    /// The order passed every check; `qty` is after the reduce-only cap.
    Accepted {
        order_id: OrderId,
        account: AccountId,
        client_order_id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
    },
    /// One trade at the maker's price.
    Fill {
        maker_order_id: OrderId,
        maker_account: AccountId,
        taker_order_id: OrderId,
        taker_account: AccountId,
        taker_side: Side,
        price: Price,
        qty: Qty,
    },
    /// The order's remainder now rests in the book.
    Rested {
        order_id: OrderId,
        price: Price,
        qty: Qty,
    },
    /// Part of an open order was removed without trading.
    Reduced {
        order_id: OrderId,
        account: AccountId,
        removed: Qty,
        remaining: Qty,
        reason: CancelReason,
    },
    /// The rest of an order was removed without trading.
    Cancelled {
        order_id: OrderId,
        account: AccountId,
        removed: Qty,
        reason: CancelReason,
    },
    Amended {
        order_id: OrderId,
        account: AccountId,
        price: Price,
        qty: Qty,
        priority_kept: bool,
    },
}

/// The public view of one resting order, for its owner and the operator, never for market data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderView {
    pub order_id: OrderId,
    pub account: AccountId,
    pub client_order_id: ClientOrderId,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    pub post_only: bool,
    pub reduce_only: bool,
    pub self_trade_prevention: SelfTradePrevention,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MarketSpec {
        MarketSpec {
            tick: 25,
            lot: 10,
            qty_min: 10,
            qty_max: 1_000,
            open_orders_per_account_max: 3,
            book_orders_max: 10,
            price_band_bps: 250,
            self_trade_prevention: SelfTradePrevention::CancelTaker,
            matching: Matching::PriceTime,
        }
    }

    #[test]
    fn protective_limit_is_on_the_grid_inside_the_band() {
        // Reference 10_010, band 2.5 %: delta floor(250.25) = 250, band [9_760, 10_260].
        assert_eq!(spec().band(Price(10_010)), (9_760, 10_260));
        assert_eq!(spec().protective_limit(Side::Buy, Price(10_010)), Some(Price(10_250)));
        assert_eq!(spec().protective_limit(Side::Sell, Price(10_010)), Some(Price(9_775)));
        // Reference 10: the band is [10, 10] and no grid price lies between it and the reference.
        assert_eq!(spec().protective_limit(Side::Sell, Price(10)), None);
        assert_eq!(spec().protective_limit(Side::Buy, Price(10)), None);
        assert_eq!(spec().protective_limit(Side::Buy, Price(25)), Some(Price(25)));
    }

    #[test]
    fn event_bound_counts_every_turn() {
        // 11 turns of (2 + 2 * 3) events, plus 3 refresh trims, plus 2.
        assert_eq!(spec().events_per_command_max(), 11 * 8 + 3 + 2);
    }
}
