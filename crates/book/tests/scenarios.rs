//! One scenario per order type and edge case, with expected events written out by hand.

use book::*;

const A: AccountId = AccountId(1);
const B: AccountId = AccountId(2);
const C: AccountId = AccountId(3);

fn spec() -> MarketSpec {
    MarketSpec {
        tick: 10,
        lot: 100,
        qty_min: 100,
        qty_max: 100_000,
        open_orders_per_account_max: 4,
        book_orders_max: 1000,
        price_band_bps: 1000,
        self_trade_prevention: SelfTradePrevention::CancelTaker,
        matching: Matching::PriceTime,
    }
}

fn book() -> Book {
    let mut book = Book::new(spec()).expect("valid spec");
    book.apply(&Command::SetReferencePrice { price: Price(10_000) }, &mut Vec::new()).expect("reference");
    book
}

fn order(account: AccountId, client: u64, side: Side, kind: OrderKind, price: i64, qty: u64) -> NewOrder {
    NewOrder {
        account,
        client_order_id: ClientOrderId(client),
        side,
        kind,
        price: Price(price),
        qty: Qty(qty),
        reduce_only: None,
        self_trade_prevention: None,
    }
}

fn place(book: &mut Book, order: NewOrder) -> Result<Vec<Event>, BookError> {
    let mut events = Vec::new();
    book.apply(&Command::Place(order), &mut events).map(|()| events)
}

fn limit(book: &mut Book, account: AccountId, client: u64, side: Side, price: i64, qty: u64) -> Vec<Event> {
    place(book, order(account, client, side, OrderKind::Limit, price, qty)).expect("limit order accepted")
}

fn run(book: &mut Book, command: Command) -> Result<Vec<Event>, BookError> {
    let mut events = Vec::new();
    book.apply(&command, &mut events).map(|()| events)
}

/// The fills among events as (maker id, taker id, price, qty).
fn fills(events: &[Event]) -> Vec<(u64, u64, i64, u64)> {
    events
        .iter()
        .filter_map(|event| match *event {
            Event::Fill { maker_order_id, taker_order_id, price, qty, .. } => Some((maker_order_id.0, taker_order_id.0, price.0, qty.0)),
            _ => None,
        })
        .collect()
}

fn assert_rejected(book: &mut Book, order: NewOrder, expected: BookError) {
    let before = book.digest();
    assert_eq!(place(book, order), Err(expected));
    assert_eq!(book.digest(), before, "a rejected order changed the book");
}

#[test]
fn limit_orders_fill_partially_and_rest_the_remainder() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Sell, 10_000, 300);
    let events = limit(&mut book, B, 1, Side::Buy, 10_000, 100);
    assert_eq!(
        events,
        vec![
            Event::Accepted {
                order_id: OrderId(2),
                account: B,
                client_order_id: ClientOrderId(1),
                side: Side::Buy,
                price: Price(10_000),
                qty: Qty(100)
            },
            Event::Fill {
                maker_order_id: OrderId(1),
                maker_account: A,
                taker_order_id: OrderId(2),
                taker_account: B,
                taker_side: Side::Buy,
                price: Price(10_000),
                qty: Qty(100)
            },
        ]
    );
    assert_eq!(book.order(OrderId(1)).map(|order| order.qty), Some(Qty(200)));
    let events = limit(&mut book, B, 2, Side::Buy, 10_010, 500);
    assert_eq!(fills(&events), vec![(1, 3, 10_000, 200)]);
    assert_eq!(events.last(), Some(&Event::Rested { order_id: OrderId(3), price: Price(10_010), qty: Qty(300) }));
    assert_eq!((book.best_bid(), book.best_ask()), (Some(Price(10_010)), None));
}

#[test]
fn better_price_first_then_arrival() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Sell, 10_000, 100);
    limit(&mut book, B, 1, Side::Sell, 10_000, 100);
    limit(&mut book, C, 1, Side::Sell, 9_990, 100);
    limit(&mut book, A, 2, Side::Sell, 10_010, 100);
    let events = limit(&mut book, AccountId(9), 1, Side::Buy, 10_000, 300);
    assert_eq!(fills(&events), vec![(3, 5, 9_990, 100), (1, 5, 10_000, 100), (2, 5, 10_000, 100)]);
    assert_eq!(book.best_ask(), Some(Price(10_010)));
}

#[test]
fn market_order_trades_inside_its_protective_limit_and_never_rests() {
    let mut book = book();
    // Reference 10_000, band 10 %: buys up to 11_000, sells down to 9_000.
    assert_eq!(spec().protective_limit(Side::Buy, Price(10_000)), Some(Price(11_000)));
    assert_eq!(spec().protective_limit(Side::Sell, Price(10_005)), Some(Price(9_010)));
    limit(&mut book, A, 1, Side::Sell, 10_500, 100);
    limit(&mut book, A, 2, Side::Sell, 11_000, 100);
    let order_above_band = order(B, 1, Side::Buy, OrderKind::Market, 11_010, 300);
    let band_error = BookError::OutsidePriceBand { price: Price(11_010), reference: Price(10_000), low: 9_000, high: 11_000 };
    assert_rejected(&mut book, order_above_band, band_error);
    let events = place(&mut book, order(B, 1, Side::Buy, OrderKind::Market, 11_000, 300)).expect("market order");
    assert_eq!(fills(&events), vec![(1, 3, 10_500, 100), (2, 3, 11_000, 100)]);
    let cancelled = Event::Cancelled { order_id: OrderId(3), account: B, removed: Qty(100), reason: CancelReason::Unfilled };
    assert_eq!(events.last(), Some(&cancelled));
    assert!(book.is_empty());
}

#[test]
fn band_applies_to_limit_orders_and_needs_a_reference() {
    let mut fresh = Book::new(spec()).expect("valid spec");
    let zero = Command::SetReferencePrice { price: Price(0) };
    assert_eq!(run(&mut fresh, zero), Err(BookError::ReferencePriceNotPositive { price: Price(0) }));
    assert_eq!(place(&mut fresh, order(A, 1, Side::Buy, OrderKind::Limit, 10_000, 100)), Err(BookError::NoReferencePrice));
    let mut book = book();
    let error = BookError::OutsidePriceBand { price: Price(8_990), reference: Price(10_000), low: 9_000, high: 11_000 };
    assert_rejected(&mut book, order(A, 1, Side::Sell, OrderKind::Limit, 8_990, 100), error);
    // A passive buy far below the reference is not aggressive and is allowed.
    limit(&mut book, A, 1, Side::Buy, 10, 100);
}

#[test]
fn immediate_or_cancel_cancels_its_remainder() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Buy, 10_000, 200);
    let events = place(&mut book, order(B, 1, Side::Sell, OrderKind::ImmediateOrCancel, 9_990, 500)).expect("ioc");
    assert_eq!(fills(&events), vec![(1, 2, 10_000, 200)]);
    let cancelled = Event::Cancelled { order_id: OrderId(2), account: B, removed: Qty(300), reason: CancelReason::Unfilled };
    assert_eq!(events.last(), Some(&cancelled));
    assert!(book.is_empty());
}

#[test]
fn fill_or_kill_fills_in_full_or_changes_nothing() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Sell, 10_000, 200);
    limit(&mut book, A, 2, Side::Sell, 10_020, 200);
    let fok = |qty, price| order(B, 1, Side::Buy, OrderKind::FillOrKill, price, qty);
    assert_rejected(&mut book, fok(300, 10_010), BookError::FillOrKillNotFillable { requested: 300, available: Some(200) });
    let events = place(&mut book, fok(300, 10_020)).expect("fillable");
    assert_eq!(fills(&events), vec![(1, 3, 10_000, 200), (2, 3, 10_020, 100)]);
    // Own liquidity does not count when self-trade prevention would cancel the taker.
    limit(&mut book, B, 2, Side::Sell, 10_020, 500);
    limit(&mut book, C, 1, Side::Sell, 10_020, 500);
    assert_rejected(&mut book, fok(300, 10_020), BookError::FillOrKillNotFillable { requested: 300, available: Some(100) });
    // With cancel-maker the own order is skipped and the rest is enough.
    let skip_own = NewOrder { self_trade_prevention: Some(SelfTradePrevention::CancelMaker), ..fok(600, 10_020) };
    let events = place(&mut book, skip_own).expect("fillable past own order");
    assert_eq!(fills(&events), vec![(2, 6, 10_020, 100), (5, 6, 10_020, 500)]);
    assert!(events.contains(&Event::Cancelled { order_id: OrderId(4), account: B, removed: Qty(500), reason: CancelReason::SelfTrade }));
}

#[test]
fn post_only_that_would_cross_is_rejected_not_slid() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Sell, 10_000, 100);
    let crossing = order(B, 1, Side::Buy, OrderKind::PostOnly, 10_000, 100);
    assert_rejected(&mut book, crossing, BookError::PostOnlyWouldCross { price: Price(10_000), would_trade_at: Price(10_000) });
    let events = place(&mut book, order(B, 1, Side::Buy, OrderKind::PostOnly, 9_990, 100)).expect("passive post-only");
    assert_eq!(events.last(), Some(&Event::Rested { order_id: OrderId(2), price: Price(9_990), qty: Qty(100) }));
}

fn self_trade(mode: SelfTradePrevention, maker_qty: u64, taker_qty: u64) -> (Book, Vec<Event>) {
    let mut book = book();
    limit(&mut book, A, 1, Side::Sell, 10_000, maker_qty);
    limit(&mut book, C, 1, Side::Sell, 10_010, 1_000);
    let taker = NewOrder { self_trade_prevention: Some(mode), ..order(A, 2, Side::Buy, OrderKind::Limit, 10_010, taker_qty) };
    let events = place(&mut book, taker).expect("taker accepted");
    (book, events)
}

#[test]
fn self_trade_cancel_taker_keeps_the_maker() {
    let (book, events) = self_trade(SelfTradePrevention::CancelTaker, 300, 500);
    assert!(fills(&events).is_empty());
    assert_eq!(events[1], Event::Cancelled { order_id: OrderId(3), account: A, removed: Qty(500), reason: CancelReason::SelfTrade });
    assert_eq!(book.order(OrderId(1)).map(|order| order.qty), Some(Qty(300)));
}

#[test]
fn self_trade_cancel_maker_keeps_matching() {
    let (book, events) = self_trade(SelfTradePrevention::CancelMaker, 300, 500);
    assert_eq!(events[1], Event::Cancelled { order_id: OrderId(1), account: A, removed: Qty(300), reason: CancelReason::SelfTrade });
    assert_eq!(fills(&events), vec![(2, 3, 10_010, 500)]);
    assert_eq!(book.order(OrderId(1)), None);
}

#[test]
fn self_trade_cancel_both() {
    let (book, events) = self_trade(SelfTradePrevention::CancelBoth, 300, 500);
    assert!(fills(&events).is_empty());
    assert_eq!(events.len(), 3);
    assert_eq!(book.order(OrderId(1)), None);
    assert_eq!(book.len(), 1);
}

#[test]
fn self_trade_decrement_and_cancel() {
    // Taker larger: the maker goes, the taker shrinks by 300 and trades the rest with C.
    let (book, events) = self_trade(SelfTradePrevention::DecrementAndCancel, 300, 500);
    assert_eq!(events[1], Event::Cancelled { order_id: OrderId(1), account: A, removed: Qty(300), reason: CancelReason::SelfTrade });
    assert_eq!(
        events[2],
        Event::Reduced { order_id: OrderId(3), account: A, removed: Qty(300), remaining: Qty(200), reason: CancelReason::SelfTrade }
    );
    assert_eq!(fills(&events), vec![(2, 3, 10_010, 200)]);
    assert_eq!(book.order(OrderId(2)).map(|order| order.qty), Some(Qty(800)));
    // Maker larger: the maker shrinks and keeps its place, the taker is gone.
    let (book, events) = self_trade(SelfTradePrevention::DecrementAndCancel, 500, 300);
    assert!(fills(&events).is_empty());
    assert_eq!(book.order(OrderId(1)).map(|order| order.qty), Some(Qty(200)));
    assert_eq!(book.best_ask(), Some(Price(10_000)));
}

fn reduce_only(account: AccountId, client: u64, side: Side, price: i64, qty: u64, position: i64) -> NewOrder {
    NewOrder { reduce_only: Some(Position(position)), ..order(account, client, side, OrderKind::Limit, price, qty) }
}

#[test]
fn reduce_only_is_capped_to_the_position_and_never_grows_it() {
    let mut book = book();
    let buy_while_long = reduce_only(A, 1, Side::Buy, 10_000, 100, 300);
    assert_rejected(&mut book, buy_while_long, BookError::ReduceOnlyWouldIncrease { side: Side::Buy, position: Position(300) });
    assert_rejected(
        &mut book,
        reduce_only(A, 1, Side::Sell, 10_000, 100, 0),
        BookError::ReduceOnlyWouldIncrease { side: Side::Sell, position: Position(0) },
    );
    // A position of 350 with a lot of 100 can reduce by 300.
    let events = place(&mut book, reduce_only(A, 1, Side::Sell, 10_000, 500, 350)).expect("capped");
    assert_eq!(
        events[0],
        Event::Accepted {
            order_id: OrderId(1),
            account: A,
            client_order_id: ClientOrderId(1),
            side: Side::Sell,
            price: Price(10_000),
            qty: Qty(300)
        }
    );
    assert_eq!(book.tracked_position(A), Some(350));
}

#[test]
fn reduce_only_across_a_flip_is_trimmed_then_cancelled() {
    let mut book = book();
    // A is long 300 with a resting reduce-only sell of 300.
    place(&mut book, reduce_only(A, 1, Side::Sell, 10_050, 300, 300)).expect("resting reduce-only");
    // A sells 200 as a taker into B's bid: long 100, the reduce-only order is trimmed to 100.
    limit(&mut book, B, 1, Side::Buy, 10_000, 1_000);
    let events = place(&mut book, order(A, 2, Side::Sell, OrderKind::ImmediateOrCancel, 10_000, 200)).expect("sell");
    let trimmed =
        Event::Reduced { order_id: OrderId(1), account: A, removed: Qty(200), remaining: Qty(100), reason: CancelReason::ReduceOnly };
    assert_eq!(events.last(), Some(&trimmed));
    // A sells 200 more and is now short 100: the sell can only grow the short, so it goes.
    let events = place(&mut book, order(A, 3, Side::Sell, OrderKind::ImmediateOrCancel, 10_000, 200)).expect("sell");
    let cancelled = Event::Cancelled { order_id: OrderId(1), account: A, removed: Qty(100), reason: CancelReason::ReduceOnly };
    assert_eq!(events.last(), Some(&cancelled));
    assert_eq!(book.open_orders(A), vec![]);
    assert_eq!(book.tracked_position(A), None);
}

#[test]
fn two_reduce_only_makers_never_flip_the_position() {
    let mut book = book();
    place(&mut book, reduce_only(A, 1, Side::Sell, 10_000, 300, 300)).expect("first");
    place(&mut book, reduce_only(A, 2, Side::Sell, 10_000, 300, 300)).expect("second");
    let events = limit(&mut book, B, 1, Side::Buy, 10_000, 600);
    assert_eq!(fills(&events), vec![(1, 3, 10_000, 300)]);
    assert!(events.contains(&Event::Cancelled { order_id: OrderId(2), account: A, removed: Qty(300), reason: CancelReason::ReduceOnly }));
    assert_eq!(events.last(), Some(&Event::Rested { order_id: OrderId(3), price: Price(10_000), qty: Qty(300) }));
    // Fill-or-kill sees the same: only 300 of A's reduce-only liquidity is real.
    let mut book = self::book();
    place(&mut book, reduce_only(A, 1, Side::Sell, 10_000, 300, 300)).expect("first");
    place(&mut book, reduce_only(A, 2, Side::Sell, 10_000, 300, 300)).expect("second");
    let fok = order(B, 1, Side::Buy, OrderKind::FillOrKill, 10_000, 600);
    assert_rejected(&mut book, fok, BookError::FillOrKillNotFillable { requested: 600, available: Some(300) });
}

#[test]
fn fill_or_kill_reduce_only_sees_its_own_reduce_only_orders_go() {
    let mut book = book();
    // A was short 300 and rests a reduce-only buy at the top of the bids.
    place(&mut book, reduce_only(A, 1, Side::Buy, 10_000, 300, -300)).expect("resting reduce-only buy");
    limit(&mut book, B, 1, Side::Buy, 9_990, 300);
    // A is long 300 now: its reduce-only sell refreshes the position, which cancels the buy,
    // so the dry run must not stop at it as a self-trade.
    let fok = NewOrder { kind: OrderKind::FillOrKill, ..reduce_only(A, 2, Side::Sell, 9_990, 300, 300) };
    let events = place(&mut book, fok).expect("fillable once the own buy is gone");
    assert_eq!(events[1], Event::Cancelled { order_id: OrderId(1), account: A, removed: Qty(300), reason: CancelReason::ReduceOnly });
    assert_eq!(fills(&events), vec![(2, 3, 9_990, 300)]);
    assert!(book.is_empty());
}

#[test]
fn set_position_trims_resting_reduce_only_orders() {
    let mut book = book();
    place(&mut book, reduce_only(A, 1, Side::Buy, 9_000, 500, -500)).expect("resting");
    let events = run(&mut book, Command::SetPosition { account: A, position: Position(-200) }).expect("set");
    assert_eq!(
        events,
        vec![Event::Reduced { order_id: OrderId(1), account: A, removed: Qty(300), remaining: Qty(200), reason: CancelReason::ReduceOnly }]
    );
    // An account without reduce-only orders is not tracked.
    assert_eq!(run(&mut book, Command::SetPosition { account: B, position: Position(7) }), Ok(vec![]));
    assert_eq!(book.tracked_position(B), None);
}

fn bid_ids(book: &Book) -> Vec<u64> {
    book.orders_in_priority(Side::Buy).iter().map(|order| order.order_id.0).collect()
}

#[test]
fn amend_priority_rules() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Buy, 10_000, 500);
    limit(&mut book, B, 1, Side::Buy, 10_000, 500);
    let amend = |qty, price| Command::Amend { account: A, order: OrderRef::Client(ClientOrderId(1)), price: Price(price), qty: Qty(qty) };
    let events = run(&mut book, amend(300, 10_000)).expect("size down");
    assert_eq!(events, vec![Event::Amended { order_id: OrderId(1), account: A, price: Price(10_000), qty: Qty(300), priority_kept: true }]);
    assert_eq!(bid_ids(&book), vec![1, 2]);
    assert_eq!(run(&mut book, amend(300, 10_000)), Err(BookError::AmendWithoutChange));
    run(&mut book, amend(400, 10_000)).expect("size up");
    assert_eq!(bid_ids(&book), vec![2, 1]);
    run(&mut book, amend(400, 9_990)).expect("price down");
    run(&mut book, amend(400, 10_000)).expect("price back");
    assert_eq!(bid_ids(&book), vec![2, 1]);
    assert_eq!(book.depth(5).bids, vec![DepthLevel { price: Price(10_000), qty: Qty(900) }]);
    // A price change that crosses trades at once, keeping its ids.
    limit(&mut book, C, 1, Side::Sell, 10_010, 100);
    let events = run(&mut book, amend(400, 10_010)).expect("crossing amend");
    assert_eq!(fills(&events), vec![(3, 1, 10_010, 100)]);
    assert_eq!(book.order(OrderId(1)).map(|order| (order.price, order.qty)), Some((Price(10_010), Qty(300))));
}

#[test]
fn amend_of_a_post_only_order_may_not_cross() {
    let mut book = book();
    place(&mut book, order(A, 1, Side::Buy, OrderKind::PostOnly, 9_990, 100)).expect("post-only");
    limit(&mut book, B, 1, Side::Sell, 10_000, 100);
    let before = book.digest();
    let amend = Command::Amend { account: A, order: OrderRef::Id(OrderId(1)), price: Price(10_000), qty: Qty(100) };
    assert_eq!(run(&mut book, amend), Err(BookError::PostOnlyWouldCross { price: Price(10_000), would_trade_at: Price(10_000) }));
    assert_eq!(book.digest(), before);
}

#[test]
fn tick_and_lot_violations_are_refused() {
    let mut book = book();
    assert_rejected(
        &mut book,
        order(A, 1, Side::Buy, OrderKind::Limit, 10_005, 100),
        BookError::PriceOffTick { price: Price(10_005), tick: 10 },
    );
    assert_rejected(&mut book, order(A, 1, Side::Buy, OrderKind::Limit, 0, 100), BookError::PriceOffTick { price: Price(0), tick: 10 });
    assert_rejected(&mut book, order(A, 1, Side::Buy, OrderKind::Limit, 10_000, 150), BookError::QtyOffLot { qty: 150, lot: 100 });
    assert_rejected(&mut book, order(A, 1, Side::Buy, OrderKind::Limit, 10_000, 0), BookError::QtyOffLot { qty: 0, lot: 100 });
    let too_big = BookError::QtyOutOfRange { qty: 100_100, min: 100, max: 100_000 };
    assert_rejected(&mut book, order(A, 1, Side::Buy, OrderKind::Limit, 10_000, 100_100), too_big);
    let bad = MarketSpec { qty_min: 150, ..spec() };
    assert!(matches!(Book::new(bad), Err(BookError::InvalidSpec { .. })));
    let overflowing = MarketSpec { qty_max: u64::MAX / 100 * 100, ..spec() };
    assert!(matches!(Book::new(overflowing), Err(BookError::InvalidSpec { .. })));
}

#[test]
fn open_order_limit_and_client_ids() {
    let mut book = book();
    for client in 1..=4 {
        limit(&mut book, A, client, Side::Buy, 9_000 + 10 * client as i64, 100);
    }
    assert_rejected(&mut book, order(A, 5, Side::Buy, OrderKind::Limit, 9_000, 100), BookError::TooManyOpenOrders { account: A, limit: 4 });
    let duplicate = BookError::DuplicateClientOrderId { account: A, client_order_id: ClientOrderId(4) };
    assert_rejected(&mut book, order(A, 4, Side::Sell, OrderKind::ImmediateOrCancel, 9_000, 100), duplicate);
    // An order that cannot rest is not held to the open-order limit.
    place(&mut book, order(A, 5, Side::Sell, OrderKind::ImmediateOrCancel, 10_000, 100)).expect("ioc at the limit");
    // Cancelling frees both the slot and the client id.
    run(&mut book, Command::Cancel { account: A, order: OrderRef::Client(ClientOrderId(4)) }).expect("cancel");
    limit(&mut book, A, 4, Side::Buy, 9_000, 100);
}

#[test]
fn cancel_checks_ownership_and_cancel_all_honours_the_side() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Buy, 9_990, 100);
    limit(&mut book, A, 2, Side::Sell, 10_010, 100);
    limit(&mut book, A, 3, Side::Sell, 10_020, 100);
    let foreign = Command::Cancel { account: B, order: OrderRef::Id(OrderId(1)) };
    assert_eq!(run(&mut book, foreign), Err(BookError::UnknownOrder { account: B, order: OrderRef::Id(OrderId(1)) }));
    let events = run(&mut book, Command::CancelAll { account: A, side: Some(Side::Sell) }).expect("cancel sells");
    assert_eq!(events.len(), 2);
    assert_eq!(book.open_orders(A).iter().map(|order| order.order_id.0).collect::<Vec<_>>(), vec![1]);
    run(&mut book, Command::CancelAll { account: A, side: None }).expect("cancel all");
    assert!(book.is_empty());
    let gone = BookError::UnknownOrder { account: A, order: OrderRef::Id(OrderId(1)) };
    assert_eq!(run(&mut book, Command::Cancel { account: A, order: OrderRef::Id(OrderId(1)) }), Err(gone));
}

#[test]
fn market_data_shows_levels_and_trades_only() {
    let mut book = book();
    limit(&mut book, A, 1, Side::Sell, 10_010, 100);
    limit(&mut book, B, 1, Side::Sell, 10_010, 200);
    limit(&mut book, B, 2, Side::Sell, 10_030, 100);
    limit(&mut book, C, 1, Side::Buy, 9_990, 400);
    let depth = book.depth(1);
    assert_eq!(depth.asks, vec![DepthLevel { price: Price(10_010), qty: Qty(300) }]);
    assert_eq!(depth.bids, vec![DepthLevel { price: Price(9_990), qty: Qty(400) }]);
    let events = limit(&mut book, C, 2, Side::Buy, 10_010, 200);
    let trades: Vec<PublicTrade> = public_trades(&events).collect();
    assert_eq!(
        trades,
        vec![
            PublicTrade { price: Price(10_010), qty: Qty(100), aggressor: Side::Buy },
            PublicTrade { price: Price(10_010), qty: Qty(100), aggressor: Side::Buy },
        ]
    );
    let json = serde_json::to_string(&book.depth(10)).expect("json");
    assert!(!json.contains("account") && !json.contains("order"), "depth leaks identities: {json}");
}

#[test]
fn digest_depends_on_the_state_not_the_path() {
    let mut left = book();
    limit(&mut left, A, 1, Side::Sell, 10_010, 500);
    run(&mut left, Command::Amend { account: A, order: OrderRef::Id(OrderId(1)), price: Price(10_010), qty: Qty(300) }).expect("amend");
    let mut right = book();
    limit(&mut right, A, 1, Side::Sell, 10_010, 300);
    assert_eq!(left.digest(), right.digest());
    // Same orders in another queue order are another state.
    limit(&mut left, B, 1, Side::Sell, 10_010, 100);
    limit(&mut right, B, 1, Side::Sell, 10_010, 100);
    assert_eq!(left.digest(), right.digest());
    run(&mut right, Command::Amend { account: A, order: OrderRef::Id(OrderId(1)), price: Price(10_010), qty: Qty(400) }).expect("up");
    run(&mut right, Command::Amend { account: A, order: OrderRef::Id(OrderId(1)), price: Price(10_010), qty: Qty(300) }).expect("down");
    assert_ne!(left.digest(), right.digest());
}

#[test]
fn image_round_trips_through_json_and_rejects_a_crossed_book() {
    let mut book = book();
    place(&mut book, reduce_only(A, 1, Side::Sell, 10_050, 300, 300)).expect("reduce-only");
    limit(&mut book, B, 1, Side::Buy, 10_000, 200);
    limit(&mut book, C, 1, Side::Buy, 10_000, 300);
    let json = serde_json::to_string(&book.image()).expect("encode");
    let image: BookImage = serde_json::from_str(&json).expect("decode");
    let restored = Book::from_image(&image).expect("restore");
    assert_eq!(restored.digest(), book.digest());
    assert_eq!(restored.image(), book.image());
    let mut crossed = image.clone();
    crossed.bids[0].price = Price(10_050);
    assert!(matches!(Book::from_image(&crossed), Err(BookError::InvalidImage { .. })));
    let mut orphan = image;
    orphan.positions.clear();
    assert_eq!(Book::from_image(&orphan).err(), Some(BookError::InvalidImage { reason: "reduce-only order without a position" }));
}

#[test]
fn json_boundary_round_trips_and_refuses_unknown_keys() {
    let command = Command::Place(NewOrder { reduce_only: Some(Position(-300)), ..order(A, 7, Side::Buy, OrderKind::PostOnly, 9_990, 300) });
    let json = serde_json::to_string(&command).expect("encode");
    assert_eq!(serde_json::from_str::<Command>(&json).expect("decode"), command);
    let spec_json = serde_json::to_string(&spec()).expect("encode spec");
    let with_unknown = spec_json.replacen('{', "{\"tick_size\":5,", 1);
    let error = serde_json::from_str::<MarketSpec>(&with_unknown).expect_err("unknown key refused");
    assert!(error.to_string().contains("tick_size"), "{error}");
    let cancel_unknown = r#"{"Cancel":{"account":1,"order":{"Id":1},"force":true}}"#;
    assert!(serde_json::from_str::<Command>(cancel_unknown).is_err());
    let cancel = r#"{"Cancel":{"account":1,"order":{"Id":1}}}"#;
    assert_eq!(
        serde_json::from_str::<Command>(cancel).expect("known keys"),
        Command::Cancel { account: A, order: OrderRef::Id(OrderId(1)) }
    );
}

fn dark_book() -> Book {
    let mut book = Book::new(MarketSpec { matching: Matching::DarkMid, ..spec() }).expect("valid spec");
    book.apply(&Command::SetReferencePrice { price: Price(10_000) }, &mut Vec::new()).expect("reference");
    book
}

#[test]
fn dark_orders_trade_only_at_the_reference_when_both_accept_it() {
    let mut book = dark_book();
    limit(&mut book, A, 1, Side::Sell, 9_900, 300);
    // A buy below the reference does not accept it: no trade, although the limits overlap.
    let events = limit(&mut book, B, 1, Side::Buy, 9_990, 200);
    assert_eq!(events.last(), Some(&Event::Rested { order_id: OrderId(2), price: Price(9_990), qty: Qty(200) }));
    assert_eq!(book.depth(5), Depth::default(), "a dark book publishes no depth");
    let events = limit(&mut book, C, 1, Side::Buy, 10_000, 100);
    assert_eq!(fills(&events), vec![(1, 3, 10_000, 100)], "at the reference, not at the seller's 9_900");
    let restored = Book::from_image(&serde_json::from_str(&serde_json::to_string(&book.image()).expect("encode")).expect("decode"));
    assert_eq!(restored.map(|book| book.digest()), Ok(book.digest()));
    // The reference falls to 9_950: both resting orders accept it and trade, the later one aggressing.
    let events = run(&mut book, Command::SetReferencePrice { price: Price(9_950) }).expect("move");
    assert_eq!(
        events,
        vec![Event::Fill {
            maker_order_id: OrderId(1),
            maker_account: A,
            taker_order_id: OrderId(2),
            taker_account: B,
            taker_side: Side::Buy,
            price: Price(9_950),
            qty: Qty(200),
        }]
    );
    assert!(book.is_empty());
}

#[test]
fn dark_post_only_and_fill_or_kill_reveal_no_liquidity() {
    let mut book = dark_book();
    limit(&mut book, A, 1, Side::Sell, 9_900, 300);
    let post_only = order(B, 1, Side::Buy, OrderKind::PostOnly, 10_100, 100);
    assert_rejected(&mut book, post_only, BookError::PostOnlyWouldCross { price: Price(10_100), would_trade_at: Price(10_000) });
    let fok = order(B, 1, Side::Buy, OrderKind::FillOrKill, 10_000, 500);
    assert_rejected(&mut book, fok, BookError::FillOrKillNotFillable { requested: 500, available: None });
    // A post-only buy below the reference rests: it would not trade at the reference.
    place(&mut book, order(B, 1, Side::Buy, OrderKind::PostOnly, 9_990, 100)).expect("passive in the dark");
}

#[test]
fn dark_uncrossing_applies_self_trade_prevention_of_the_later_order() {
    let mut book = dark_book();
    limit(&mut book, A, 1, Side::Sell, 9_900, 300);
    limit(&mut book, A, 2, Side::Buy, 9_990, 200);
    let events = run(&mut book, Command::SetReferencePrice { price: Price(9_950) }).expect("move");
    assert_eq!(events, vec![Event::Cancelled { order_id: OrderId(2), account: A, removed: Qty(200), reason: CancelReason::SelfTrade }]);
    assert_eq!(book.open_orders(A).len(), 1);
}
