//! Property tests over random command streams, against a naive O(n) reference matcher written
//! here independently of the book (a flat list of orders with arrival sequence numbers, best
//! order found by a scan, fill-or-kill decided by trying it on a clone).

use std::collections::{BTreeMap, BTreeSet};

use book::*;
use proptest::prelude::*;

const LOT: u64 = 100;

/// (id, account, client, price, qty, reduce-only, post-only) of a resting order.
type Resting = (u64, u32, u64, i64, u64, bool, bool);

fn spec(stp: SelfTradePrevention, matching: Matching) -> MarketSpec {
    MarketSpec {
        tick: 10,
        lot: LOT,
        qty_min: 100,
        qty_max: 2_000,
        open_orders_per_account_max: 4,
        book_orders_max: 12,
        price_band_bps: 500,
        self_trade_prevention: stp,
        matching,
    }
}

#[derive(Debug, Clone)]
struct RefOrder {
    id: u64,
    account: u32,
    client: u64,
    side: Side,
    price: i64,
    qty: u64,
    seq: u64,
    post_only: bool,
    reduce_only: bool,
    stp: SelfTradePrevention,
}

#[derive(Debug, Clone)]
struct RefTaker {
    id: u64,
    account: u32,
    client: u64,
    side: Side,
    rests: bool,
    post_only: bool,
    limit: i64,
    remaining: u64,
    filled: u64,
    stp: SelfTradePrevention,
    reduce_only: Option<i128>,
}

#[derive(Debug, Clone)]
struct Reference {
    spec: MarketSpec,
    reference: Option<i64>,
    next_id: u64,
    seq: u64,
    orders: Vec<RefOrder>,
    positions: BTreeMap<u32, i128>,
    fills: Vec<(u64, u64, i64, u64)>,
}

fn capacity(side: Side, position: i128) -> u64 {
    let reduces = (side == Side::Buy && position < 0) || (side == Side::Sell && position > 0);
    if !reduces {
        return 0;
    }
    let magnitude = position.unsigned_abs().min(u128::from(u64::MAX)) as u64;
    magnitude / LOT * LOT
}

fn signed(side: Side, qty: u64) -> i128 {
    if side == Side::Buy { i128::from(qty) } else { -i128::from(qty) }
}

fn crosses(side: Side, limit: i64, price: i64) -> bool {
    if side == Side::Buy { price <= limit } else { price >= limit }
}

impl Reference {
    fn new(spec: MarketSpec) -> Reference {
        Reference { spec, reference: None, next_id: 1, seq: 0, orders: vec![], positions: BTreeMap::new(), fills: vec![] }
    }

    fn apply(&mut self, command: &Command) -> Result<(), BookError> {
        self.fills.clear();
        let result = match *command {
            Command::Place(order) => self.place(&order),
            Command::Cancel { account, order } => self.find(account, order).map(|index| {
                self.orders.remove(index);
            }),
            Command::CancelAll { account, side } => {
                self.orders.retain(|o| o.account != account.0 || side.is_some_and(|side| side != o.side));
                Ok(())
            }
            Command::Amend { account, order, price, qty } => self.amend(account, order, price, qty),
            Command::SetReferencePrice { price } => {
                self.reference = Some(price.0);
                if self.spec.matching == Matching::DarkMid {
                    self.uncross();
                }
                Ok(())
            }
            Command::SetPosition { account, position } => {
                if self.has_reduce_only(account.0) {
                    self.positions.insert(account.0, i128::from(position.0));
                    self.trim(account.0);
                }
                Ok(())
            }
        };
        let tracked: BTreeSet<u32> = self.orders.iter().filter(|o| o.reduce_only).map(|o| o.account).collect();
        self.positions.retain(|account, _| tracked.contains(account));
        result
    }

    fn has_reduce_only(&self, account: u32) -> bool {
        self.orders.iter().any(|o| o.account == account && o.reduce_only)
    }

    fn find(&self, account: AccountId, order: OrderRef) -> Result<usize, BookError> {
        let found = self.orders.iter().position(|o| {
            o.account == account.0
                && match order {
                    OrderRef::Id(id) => o.id == id.0,
                    OrderRef::Client(client) => o.client == client.0,
                }
        });
        found.ok_or(BookError::UnknownOrder { account, order })
    }

    fn check_price(&self, side: Side, price: Price) -> Result<(), BookError> {
        if price.0 <= 0 || price.0 % self.spec.tick != 0 {
            return Err(BookError::PriceOffTick { price, tick: self.spec.tick });
        }
        let reference = self.reference.ok_or(BookError::NoReferencePrice)?;
        let delta = i128::from(reference) * i128::from(self.spec.price_band_bps) / 10_000;
        let (low, high) = (i128::from(reference) - delta, i128::from(reference) + delta);
        let p = i128::from(price.0);
        if (side == Side::Buy && p > high) || (side == Side::Sell && p < low) {
            return Err(BookError::OutsidePriceBand { price, reference: Price(reference), low, high });
        }
        Ok(())
    }

    fn check_qty(&self, qty: Qty) -> Result<(), BookError> {
        if qty.0 == 0 || !qty.0.is_multiple_of(LOT) {
            return Err(BookError::QtyOffLot { qty: qty.0, lot: LOT });
        }
        if qty.0 < self.spec.qty_min || qty.0 > self.spec.qty_max {
            return Err(BookError::QtyOutOfRange { qty: qty.0, min: self.spec.qty_min, max: self.spec.qty_max });
        }
        Ok(())
    }

    /// Lit: at the maker's price if the limits cross. Dark: at the reference if both accept it.
    fn execution_price(&self, side: Side, limit: i64, maker_price: i64) -> Option<i64> {
        match self.spec.matching {
            Matching::PriceTime => crosses(side, limit, maker_price).then_some(maker_price),
            Matching::DarkMid => {
                let mid = self.reference?;
                let maker_accepts = if side == Side::Buy { maker_price <= mid } else { maker_price >= mid };
                (crosses(side, limit, mid) && maker_accepts).then_some(mid)
            }
        }
    }

    fn check_post_only(&self, side: Side, price: Price) -> Result<(), BookError> {
        let trades = self.orders.iter().filter(|o| o.side != side).filter_map(|o| self.execution_price(side, price.0, o.price));
        let best = if side == Side::Buy { trades.min() } else { trades.max() };
        match best {
            Some(at) => Err(BookError::PostOnlyWouldCross { price, would_trade_at: Price(at) }),
            None => Ok(()),
        }
    }

    /// Dark only: resting orders that both accept a new reference trade, the later one aggressing.
    fn uncross(&mut self) {
        let Some(mid) = self.reference else { return };
        loop {
            let head = |side: Side| {
                let candidates = self.orders.iter().enumerate().filter(|(_, o)| o.side == side);
                candidates.min_by_key(|(_, o)| (if side == Side::Buy { -o.price } else { o.price }, o.seq)).map(|(i, o)| (i, o.price))
            };
            let (Some((bid, bid_price)), Some((ask, ask_price))) = (head(Side::Buy), head(Side::Sell)) else { return };
            if bid_price < mid || ask_price > mid {
                return;
            }
            let (newer, older) = if self.orders[bid].id > self.orders[ask].id { (bid, ask) } else { (ask, bid) };
            let (taker, maker) = (self.orders[newer].clone(), self.orders[older].clone());
            if taker.account == maker.account {
                self.resting_self_trade(&taker, &maker);
                continue;
            }
            let qty = taker.qty.min(maker.qty);
            self.fills.push((maker.id, taker.id, mid, qty));
            for o in self.orders.iter_mut().filter(|o| o.id == maker.id || o.id == taker.id) {
                o.qty -= qty;
            }
            self.orders.retain(|o| o.qty > 0);
            self.move_positions(maker.account, maker.side, taker.account, taker.side, qty);
        }
    }

    fn resting_self_trade(&mut self, newer: &RefOrder, older: &RefOrder) {
        let (drop_newer, drop_older, by) = match newer.stp {
            SelfTradePrevention::CancelTaker => (true, false, 0),
            SelfTradePrevention::CancelMaker => (false, true, 0),
            SelfTradePrevention::CancelBoth => (true, true, 0),
            SelfTradePrevention::DecrementAndCancel => (false, false, newer.qty.min(older.qty)),
        };
        for o in self.orders.iter_mut() {
            if (o.id == newer.id && drop_newer) || (o.id == older.id && drop_older) {
                o.qty = 0;
            } else if o.id == newer.id || o.id == older.id {
                o.qty -= by;
            }
        }
        self.orders.retain(|o| o.qty > 0);
    }

    fn move_positions(&mut self, maker: u32, maker_side: Side, taker: u32, taker_side: Side, qty: u64) {
        for (account, side) in [(maker, maker_side), (taker, taker_side)] {
            if let Some(position) = self.positions.get_mut(&account) {
                *position += signed(side, qty);
                self.trim(account);
            }
        }
    }

    fn place(&mut self, order: &NewOrder) -> Result<(), BookError> {
        self.check_price(order.side, order.price)?;
        self.check_qty(order.qty)?;
        let (account, client) = (order.account.0, order.client_order_id.0);
        if self.orders.iter().any(|o| o.account == account && o.client == client) {
            return Err(BookError::DuplicateClientOrderId { account: order.account, client_order_id: order.client_order_id });
        }
        let rests = matches!(order.kind, OrderKind::Limit | OrderKind::PostOnly);
        if rests && self.orders.iter().filter(|o| o.account == account).count() >= self.spec.open_orders_per_account_max as usize {
            return Err(BookError::TooManyOpenOrders { account: order.account, limit: self.spec.open_orders_per_account_max });
        }
        if rests && self.orders.len() >= self.spec.book_orders_max as usize {
            return Err(BookError::BookFull { limit: self.spec.book_orders_max });
        }
        let mut qty = order.qty.0;
        if let Some(position) = order.reduce_only {
            let room = capacity(order.side, i128::from(position.0));
            if room == 0 {
                return Err(BookError::ReduceOnlyWouldIncrease { side: order.side, position });
            }
            if order.kind == OrderKind::FillOrKill && room < qty {
                return Err(BookError::FillOrKillNotFillable { requested: qty, available: Some(room) });
            }
            qty = qty.min(room);
        }
        if order.kind == OrderKind::PostOnly {
            self.check_post_only(order.side, order.price)?;
        }
        let taker = RefTaker {
            id: self.next_id,
            account,
            client,
            side: order.side,
            rests,
            post_only: order.kind == OrderKind::PostOnly,
            limit: order.price.0,
            remaining: qty,
            filled: 0,
            stp: order.self_trade_prevention.unwrap_or(self.spec.self_trade_prevention),
            reduce_only: order.reduce_only.map(|p| i128::from(p.0)),
        };
        if order.kind == OrderKind::FillOrKill {
            let mut trial = self.clone();
            let done = trial.execute(taker.clone());
            if done.filled < qty {
                return Err(BookError::FillOrKillNotFillable { requested: qty, available: None });
            }
        }
        self.next_id += 1;
        self.execute(taker);
        Ok(())
    }

    fn amend(&mut self, account: AccountId, order: OrderRef, price: Price, qty: Qty) -> Result<(), BookError> {
        let index = self.find(account, order)?;
        let current = self.orders[index].clone();
        self.check_price(current.side, price)?;
        self.check_qty(qty)?;
        let mut qty = qty.0;
        if current.reduce_only {
            qty = qty.min(capacity(current.side, self.positions[&current.account]));
        }
        if price.0 == current.price {
            if qty == current.qty {
                return Err(BookError::AmendWithoutChange);
            }
            if qty > current.qty {
                self.seq += 1;
                self.orders[index].seq = self.seq;
            }
            self.orders[index].qty = qty;
            return Ok(());
        }
        if current.post_only {
            self.check_post_only(current.side, price)?;
        }
        self.orders.remove(index);
        let taker = RefTaker {
            id: current.id,
            account: current.account,
            client: current.client,
            side: current.side,
            rests: true,
            post_only: current.post_only,
            limit: price.0,
            remaining: qty,
            filled: 0,
            stp: current.stp,
            reduce_only: current.reduce_only.then(|| self.positions[&current.account]),
        };
        self.execute(taker);
        Ok(())
    }

    fn execute(&mut self, mut taker: RefTaker) -> RefTaker {
        if let Some(position) = taker.reduce_only
            && self.has_reduce_only(taker.account)
        {
            self.positions.insert(taker.account, position);
            self.trim(taker.account);
        }
        while !taker.post_only && taker.remaining > 0 {
            let best = self
                .orders
                .iter()
                .enumerate()
                .filter(|(_, o)| o.side != taker.side && self.execution_price(taker.side, taker.limit, o.price).is_some())
                .min_by_key(|(_, o)| (if taker.side == Side::Buy { o.price } else { -o.price }, o.seq))
                .map(|(index, _)| index);
            let Some(index) = best else { break };
            let Some(price) = self.execution_price(taker.side, taker.limit, self.orders[index].price) else { break };
            if self.orders[index].account == taker.account {
                if !self.self_trade(&mut taker, index) {
                    break;
                }
            } else {
                self.fill(&mut taker, index, price);
            }
        }
        if taker.remaining > 0 && taker.rests {
            self.seq += 1;
            self.orders.push(RefOrder {
                id: taker.id,
                account: taker.account,
                client: taker.client,
                side: taker.side,
                price: taker.limit,
                qty: taker.remaining,
                seq: self.seq,
                post_only: taker.post_only,
                reduce_only: taker.reduce_only.is_some(),
                stp: taker.stp,
            });
            if let Some(position) = taker.reduce_only {
                self.positions.insert(taker.account, position + signed(taker.side, taker.filled));
            }
        }
        taker
    }

    fn self_trade(&mut self, taker: &mut RefTaker, index: usize) -> bool {
        match taker.stp {
            SelfTradePrevention::CancelMaker => {
                self.orders.remove(index);
                true
            }
            SelfTradePrevention::CancelTaker => {
                taker.remaining = 0;
                false
            }
            SelfTradePrevention::CancelBoth => {
                self.orders.remove(index);
                taker.remaining = 0;
                false
            }
            SelfTradePrevention::DecrementAndCancel => {
                let by = taker.remaining.min(self.orders[index].qty);
                self.orders[index].qty -= by;
                if self.orders[index].qty == 0 {
                    self.orders.remove(index);
                }
                taker.remaining -= by;
                taker.remaining > 0
            }
        }
    }

    fn fill(&mut self, taker: &mut RefTaker, index: usize, price: i64) {
        let maker = self.orders[index].clone();
        let qty = taker.remaining.min(maker.qty);
        self.fills.push((maker.id, taker.id, price, qty));
        taker.remaining -= qty;
        taker.filled += qty;
        self.orders[index].qty -= qty;
        if self.orders[index].qty == 0 {
            self.orders.remove(index);
        }
        self.move_positions(maker.account, maker.side, taker.account, taker.side, qty);
    }

    fn trim(&mut self, account: u32) {
        let position = self.positions[&account];
        for order in self.orders.iter_mut().filter(|o| o.account == account && o.reduce_only) {
            order.qty = order.qty.min(capacity(order.side, position));
        }
        self.orders.retain(|o| o.qty > 0);
    }

    /// (id, account, client, price, qty, reduce-only, post-only) per side in priority order.
    fn sides(&self) -> [Vec<Resting>; 2] {
        [Side::Buy, Side::Sell].map(|side| {
            let mut orders: Vec<&RefOrder> = self.orders.iter().filter(|o| o.side == side).collect();
            orders.sort_by_key(|o| (if side == Side::Buy { -o.price } else { o.price }, o.seq));
            orders.iter().map(|o| (o.id, o.account, o.client, o.price, o.qty, o.reduce_only, o.post_only)).collect()
        })
    }
}

fn book_sides(book: &Book) -> [Vec<Resting>; 2] {
    [Side::Buy, Side::Sell].map(|side| {
        let orders = book.orders_in_priority(side);
        orders.iter().map(|o| (o.order_id.0, o.account.0, o.client_order_id.0, o.price.0, o.qty.0, o.reduce_only, o.post_only)).collect()
    })
}

fn fills_of(events: &[Event]) -> Vec<(u64, u64, i64, u64)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::Fill { maker_order_id, taker_order_id, price, qty, .. } => Some((maker_order_id.0, taker_order_id.0, price.0, qty.0)),
            _ => None,
        })
        .collect()
}

/// The reference cannot know what a fill-or-kill dry run would have taken; compare the rest.
fn normalised(result: Result<(), BookError>) -> Result<(), BookError> {
    result.map_err(|error| match error {
        BookError::FillOrKillNotFillable { requested, .. } => BookError::FillOrKillNotFillable { requested, available: None },
        other => other,
    })
}

fn stp_strategy() -> impl Strategy<Value = SelfTradePrevention> {
    prop_oneof![
        Just(SelfTradePrevention::CancelTaker),
        Just(SelfTradePrevention::CancelMaker),
        Just(SelfTradePrevention::CancelBoth),
        Just(SelfTradePrevention::DecrementAndCancel),
    ]
}

fn kind_strategy() -> impl Strategy<Value = OrderKind> {
    prop_oneof![
        5 => Just(OrderKind::Limit),
        1 => Just(OrderKind::Market),
        2 => Just(OrderKind::ImmediateOrCancel),
        2 => Just(OrderKind::FillOrKill),
        2 => Just(OrderKind::PostOnly),
    ]
}

fn side_strategy() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

/// Prices around the reference 10_000 with a band of 5 %, a few off the tick grid.
fn price_strategy() -> impl Strategy<Value = Price> {
    prop_oneof![20 => (940i64..=1060).prop_map(|t| Price(t * 10)), 1 => (9_400i64..=10_600).prop_map(Price)]
}

fn qty_strategy() -> impl Strategy<Value = Qty> {
    prop_oneof![20 => (1u64..=8).prop_map(|lots| Qty(lots * LOT)), 1 => (0u64..=2_500).prop_map(Qty)]
}

fn order_ref_strategy() -> impl Strategy<Value = OrderRef> {
    prop_oneof![1 => (1u64..80).prop_map(|id| OrderRef::Id(OrderId(id))), 3 => (0u64..8).prop_map(|c| OrderRef::Client(ClientOrderId(c)))]
}

fn account_strategy() -> impl Strategy<Value = AccountId> {
    (1u32..=4).prop_map(AccountId)
}

fn place_strategy() -> impl Strategy<Value = Command> {
    let reduce_only = prop_oneof![4 => Just(None), 1 => (-8i64..=8).prop_map(|lots| Some(Position(lots * 100 + 50 * (lots % 2))))];
    let stp = prop_oneof![2 => Just(None), 1 => stp_strategy().prop_map(Some)];
    (account_strategy(), 0u64..8, side_strategy(), kind_strategy(), price_strategy(), qty_strategy(), reduce_only, stp).prop_map(
        |(account, client, side, kind, price, qty, reduce_only, self_trade_prevention)| {
            Command::Place(NewOrder {
                account,
                client_order_id: ClientOrderId(client),
                side,
                kind,
                price,
                qty,
                reduce_only,
                self_trade_prevention,
            })
        },
    )
}

/// A command, or one aimed at the n-th resting order (so that cancels and amends mostly hit).
#[derive(Debug, Clone)]
enum Step {
    Direct(Command),
    CancelNth(usize),
    AmendNth(usize, Price, Qty),
}

impl Step {
    fn resolve(&self, book: &Book) -> Command {
        let orders: Vec<OrderView> = [Side::Buy, Side::Sell].into_iter().flat_map(|side| book.orders_in_priority(side)).collect();
        let nth = |n: usize| orders.get(n % orders.len().max(1)).copied();
        match *self {
            Step::Direct(command) => command,
            Step::CancelNth(n) => match nth(n) {
                Some(o) => Command::Cancel { account: o.account, order: OrderRef::Id(o.order_id) },
                None => Command::Cancel { account: AccountId(1), order: OrderRef::Client(ClientOrderId(0)) },
            },
            Step::AmendNth(n, price, qty) => match nth(n) {
                Some(o) => Command::Amend { account: o.account, order: OrderRef::Client(o.client_order_id), price, qty },
                None => Command::Amend { account: AccountId(1), order: OrderRef::Id(OrderId(1)), price, qty },
            },
        }
    }
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => command_strategy().prop_map(Step::Direct),
        2 => (0usize..64).prop_map(Step::CancelNth),
        3 => (0usize..64, price_strategy(), qty_strategy()).prop_map(|(n, price, qty)| Step::AmendNth(n, price, qty)),
    ]
}

fn command_strategy() -> impl Strategy<Value = Command> {
    prop_oneof![
        12 => place_strategy(),
        4 => (account_strategy(), order_ref_strategy()).prop_map(|(account, order)| Command::Cancel { account, order }),
        1 => (account_strategy(), prop::option::of(side_strategy())).prop_map(|(account, side)| Command::CancelAll { account, side }),
        4 => (account_strategy(), order_ref_strategy(), price_strategy(), qty_strategy())
            .prop_map(|(account, order, price, qty)| Command::Amend { account, order, price, qty }),
        1 => (980i64..=1020).prop_map(|t| Command::SetReferencePrice { price: Price(t * 10) }),
        1 => (account_strategy(), -8i64..=8).prop_map(|(account, lots)| Command::SetPosition { account, position: Position(lots * 100) }),
    ]
}

/// Where a fill is allowed to happen for this command: the taker's side and limit.
/// The limits fills must respect: the incoming order's (from the command) and every resting
/// order's before the command (makers, and the aggressors of a dark uncrossing).
struct Limits {
    command: Option<(Side, i64)>,
    resting: BTreeMap<u64, (Side, i64)>,
    taker_rests: bool,
}

fn limits(command: &Command, before: &Book) -> Limits {
    let resting = [Side::Buy, Side::Sell].into_iter().flat_map(|side| before.orders_in_priority(side));
    Limits {
        command: taker_limit(command, before),
        resting: resting.map(|o| (o.order_id.0, (o.side, o.price.0))).collect(),
        taker_rests: matches!(command, Command::SetReferencePrice { .. }),
    }
}

fn taker_limit(command: &Command, before: &Book) -> Option<(Side, i64)> {
    match *command {
        Command::Place(order) => Some((order.side, order.price.0)),
        Command::Amend { account, order, price, .. } => {
            let open = before.open_orders(account);
            let found = open.iter().find(|o| match order {
                OrderRef::Id(id) => o.order_id == id,
                OrderRef::Client(client) => o.client_order_id == client,
            })?;
            Some((found.side, price.0))
        }
        _ => None,
    }
}

struct Ledger {
    base: BTreeMap<u32, i128>,
    quote: BTreeMap<u32, i128>,
    gone: BTreeSet<u64>,
}

impl Ledger {
    /// Fills within the limit, each moving base one way and quote the other, exactly; nothing
    /// cancelled ever trades again.
    fn check(&mut self, events: &[Event], limits: &Limits) -> Result<(), TestCaseError> {
        for event in events {
            match *event {
                Event::Fill { maker_order_id, maker_account, taker_order_id, taker_account, taker_side, price, qty } => {
                    let taker = if limits.taker_rests { limits.resting.get(&taker_order_id.0).copied() } else { limits.command };
                    let (side, limit) = taker.ok_or_else(|| TestCaseError::fail("fill without a taker"))?;
                    prop_assert_eq!(side, taker_side);
                    prop_assert!(crosses(side, limit, price.0), "fill at {} outside limit {}", price.0, limit);
                    let maker = limits.resting.get(&maker_order_id.0).copied();
                    let (maker_side, maker_limit) = maker.ok_or_else(|| TestCaseError::fail("maker was not resting"))?;
                    prop_assert_eq!(maker_side, side.opposite());
                    prop_assert!(crosses(maker_side, maker_limit, price.0), "fill at {} outside maker limit {}", price.0, maker_limit);
                    prop_assert!(
                        !self.gone.contains(&maker_order_id.0) && !self.gone.contains(&taker_order_id.0),
                        "cancelled order traded"
                    );
                    prop_assert_ne!(maker_account, taker_account);
                    prop_assert_eq!((i128::from(price.0) * i128::from(qty.0)) % i128::from(LOT), 0);
                    let quote = i128::from(price.0) * i128::from(qty.0) / i128::from(LOT);
                    let (buyer, seller) =
                        if taker_side == Side::Buy { (taker_account, maker_account) } else { (maker_account, taker_account) };
                    *self.base.entry(buyer.0).or_default() += i128::from(qty.0);
                    *self.base.entry(seller.0).or_default() -= i128::from(qty.0);
                    *self.quote.entry(buyer.0).or_default() -= quote;
                    *self.quote.entry(seller.0).or_default() += quote;
                }
                Event::Cancelled { order_id, .. } => {
                    self.gone.insert(order_id.0);
                }
                _ => {}
            }
        }
        prop_assert_eq!(self.base.values().sum::<i128>(), 0);
        prop_assert_eq!(self.quote.values().sum::<i128>(), 0);
        Ok(())
    }
}

fn restored(book: &Book) -> Result<Book, TestCaseError> {
    let json = serde_json::to_string(&book.image()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let image: BookImage = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Book::from_image(&image).map_err(|e| TestCaseError::fail(format!("restore failed: {e}")))
}

fn run_stream(stp: SelfTradePrevention, matching: Matching, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut book = Book::new(spec(stp, matching)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut reference = Reference::new(spec(stp, matching));
    let mut ledger = Ledger { base: BTreeMap::new(), quote: BTreeMap::new(), gone: BTreeSet::new() };
    let start = Step::Direct(Command::SetReferencePrice { price: Price(10_000) });
    let (mut events, mut shadow_events) = (Vec::new(), Vec::new());
    let mut previous = (book.image(), book.digest());
    for step in std::iter::once(&start).chain(steps) {
        let command = &step.resolve(&book);
        let mut shadow = restored(&book)?;
        prop_assert_eq!(shadow.digest(), book.digest());
        // The digest is canonical: it changes exactly when the logical state (the image) does.
        let current = (book.image(), book.digest());
        prop_assert_eq!(current.0 == previous.0, current.1 == previous.1);
        previous = current;
        let (before, limits) = (book.digest(), limits(command, &book));
        let result = book.apply(command, &mut events);
        let expected = normalised(reference.apply(command));
        prop_assert_eq!(normalised(result.clone()), expected, "result of {:?}", command);
        prop_assert_eq!(fills_of(&events), reference.fills.clone(), "fills of {:?}", command);
        prop_assert_eq!(book_sides(&book), reference.sides(), "book after {:?}", command);
        for account in 1..=4 {
            prop_assert_eq!(book.tracked_position(AccountId(account)), reference.positions.get(&account).copied());
        }
        if result.is_err() {
            prop_assert!(events.is_empty());
            prop_assert_eq!(book.digest(), before);
        }
        if let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) {
            match matching {
                Matching::PriceTime => prop_assert!(bid < ask, "crossed book"),
                Matching::DarkMid => {
                    let mid = book.reference_price().ok_or_else(|| TestCaseError::fail("dark orders without a reference"))?;
                    prop_assert!(bid < mid || ask > mid, "dark book crossed at the reference");
                }
            }
        }
        ledger.check(&events, &limits)?;
        book.verify().map_err(|e| TestCaseError::fail(format!("after {command:?}: {e}")))?;
        let shadow_result = shadow.apply(command, &mut shadow_events);
        prop_assert_eq!(shadow_result, result);
        prop_assert_eq!(&shadow_events, &events);
        prop_assert_eq!(shadow.digest(), book.digest());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_streams_match_the_reference(
        stp in stp_strategy(),
        matching in prop_oneof![Just(Matching::PriceTime), Just(Matching::DarkMid)],
        steps in prop::collection::vec(step_strategy(), 1..200),
    ) {
        run_stream(stp, matching, &steps)?;
    }
}
