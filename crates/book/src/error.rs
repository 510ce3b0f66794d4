use crate::{AccountId, ClientOrderId, OrderRef, Position, Price, Side};

/// Why a command was refused. A refused command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("invalid market spec: {reason}")]
    InvalidSpec { reason: &'static str },
    #[error("price {price:?} is not a positive multiple of the tick {tick}")]
    PriceOffTick { price: Price, tick: i64 },
    #[error("quantity {qty} is not a positive multiple of the lot {lot}")]
    QtyOffLot { qty: u64, lot: u64 },
    #[error("quantity {qty} outside [{min}, {max}]")]
    QtyOutOfRange { qty: u64, min: u64, max: u64 },
    #[error("reference price {price:?} is not positive")]
    ReferencePriceNotPositive { price: Price },
    #[error("no reference price set: the band cannot be checked")]
    NoReferencePrice,
    #[error("price {price:?} outside the band [{low}, {high}] around the reference {reference:?}")]
    OutsidePriceBand { price: Price, reference: Price, low: i128, high: i128 },
    #[error("account {account:?} already has an open order with client id {client_order_id:?}")]
    DuplicateClientOrderId { account: AccountId, client_order_id: ClientOrderId },
    #[error("account {account:?} has {limit} open orders, the limit")]
    TooManyOpenOrders { account: AccountId, limit: u32 },
    #[error("the book holds {limit} resting orders, the limit")]
    BookFull { limit: u32 },
    #[error("account {account:?} has no open order {order:?}")]
    UnknownOrder { account: AccountId, order: OrderRef },
    /// `would_trade_at` is the best opposite price (lit) or the reference price (dark).
    #[error("post-only order at {price:?} would trade at {would_trade_at:?}")]
    PostOnlyWouldCross { price: Price, would_trade_at: Price },
    /// `available` is withheld (`None`) in a dark market, where it would reveal hidden liquidity.
    #[error("fill-or-kill for {requested} can take only {available:?}")]
    FillOrKillNotFillable { requested: u64, available: Option<u64> },
    #[error("reduce-only {side:?} cannot reduce position {position:?}")]
    ReduceOnlyWouldIncrease { side: Side, position: Position },
    #[error("amend changes neither price nor quantity")]
    AmendWithoutChange,
    #[error("order ids exhausted")]
    OrderIdsExhausted,
    #[error("book invariant broken: {reason}")]
    InvariantBroken { reason: &'static str },
    #[error("invalid book image: {reason}")]
    InvalidImage { reason: &'static str },
}
