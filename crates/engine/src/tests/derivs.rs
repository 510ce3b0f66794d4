//! Derivative markets against hand-computed examples: a perp round trip (open, the mark moves,
//! funding twice, close), an option expiry (a call in the money, a put out of it), a loss
//! beyond the balance becoming a borrow that accrues interest, and the market's limits.

use super::*;
use markets::{OrderKind::*, OrderSide::*};

const PERP: &str = "ETH-PERP";
const CALL: &str = "ETH-20261225-3000-C";
const PUT: &str = "ETH-20261225-2500-P";
/// 2026-01-01T00:00:00Z, a funding boundary (a multiple of 8 hours).
const T0: u64 = 1_767_225_600_000;
const HOUR: u64 = 3_600_000;
/// 2026-12-25T08:00:00Z, the options' expiry.
const EXPIRY: u64 = 1_798_185_600_000;
const MINUTE: u64 = 60_000;

fn place(market: &str, account: &str, cid: u64, side: markets::OrderSide, kind: markets::OrderKind, price: &str, qty: &str) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: market.into(),
        client_order_id: cid,
        side,
        kind,
        price: Some(price.into()),
        qty: qty.into(),
    }
}

fn price(symbol: &str, usd: &str) -> Command {
    Command::SetPrice { symbol: symbol.into(), price_usd: usd.into() }
}

fn clock(now_ms: u64) -> Command {
    Command::AdvanceTime { now_ms }
}

/// alice 1000 USDC (from `engine`), bob 1000 USDC; USDC at 1, ETH at 3000, the clock at `start`.
fn derivs_engine(start: u64) -> Engine {
    let mut e = engine();
    applied(e.apply(&op(10, deposit("bob/main", "USDC", "1000", USDC_ETH, "0xbob"))));
    applied(e.apply(&op(11, price("USDC", "1"))));
    applied(e.apply(&op(12, price("ETH", "3000"))));
    applied(e.apply(&op(13, clock(start))));
    e
}

fn position(e: &Engine, account: &str, market: &str) -> Option<(String, String)> {
    e.positions_of(account).unwrap().into_iter().find(|p| p.market == market).map(|p| (p.qty, p.entry_cost))
}

fn settled(events: &[Event], account: &str, reason: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::Settled { account: a, amount, reason: r, .. } if a == account && r == reason => Some(amount.clone()),
            _ => None,
        })
        .collect()
}

fn funding(events: &[Event], account: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::FundingPaid { account: a, amount, .. } if a == account => Some(amount.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_perp_round_trip_pays_fees_funding_and_variation_margin_to_the_unit() {
    let mut e = derivs_engine(T0);
    // Open: bob rests a sell of 1 ETH at 3000, alice takes it. Taker fee 5 bps of 3000 = 1.5.
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "1"))));
    let events = applied(e.apply(&as_("alice", 101, place(PERP, "alice/main", 1, Buy, Limit, "3000", "1"))));
    assert!(
        events.iter().any(|ev| matches!(ev, Event::PositionChanged { account, qty, entry_cost, .. }
        if account == "alice/main" && qty == "1" && entry_cost == "3000")),
        "{events:?}"
    );
    assert_eq!(position(&e, "bob/main", PERP), Some(("-1".into(), "-3000".into())));
    assert_eq!((posted(&e, "alice/main", "USDC"), posted(&e, "bob/main", "USDC")), ("998.5".into(), "1000".into()));
    assert_eq!(e.open_interest(PERP).unwrap(), 1_000_000_000);
    assert_eq!(e.derivative_exposures("bob/main").unwrap(), vec![("ETH-PERP@clearhouse".to_string(), -1_000_000_000)]);

    // A bid at 3110 and an ask at 3130 make the mark 3120; then the index moves to 3100, and its
    // print takes the premium, which holds for the whole interval.
    applied(e.apply(&as_("alice", 102, place(PERP, "alice/main", 2, Buy, PostOnly, "3110", "0.01"))));
    applied(e.apply(&as_("bob", 102, place(PERP, "bob/main", 2, Sell, PostOnly, "3130", "0.01"))));
    applied(e.apply(&op(20, price("ETH", "3100"))));
    // First boundary: premium (3120 - 3100) / 3100 = 0.006451612903225806 (below the 0.75% cap).
    // The long pays 1 * 3100 * rate = 19.99999999999999866 -> 20.000000 (up); the short gets
    // 19.999999 (down); the residue 0.000001 stays in the clearing account. Variation margin at
    // the mark 3120: alice +120, bob -120. The boundary moves the index; the sweep after the
    // command settles both holders in the same result.
    let events = applied(e.apply(&op(21, clock(T0 + 8 * HOUR))));
    assert_eq!(funding(&events, "alice/main"), vec!["-20"]);
    assert_eq!(funding(&events, "bob/main"), vec!["19.999999"]);
    assert!(funding(&events, HOUSE).is_empty());
    assert_eq!(settled(&events, "alice/main", "mark_to_market"), vec!["120"]);
    assert_eq!(settled(&events, "bob/main", "mark_to_market"), vec!["-120"]);
    assert_eq!((posted(&e, "alice/main", "USDC"), posted(&e, "bob/main", "USDC")), ("1098.5".into(), "899.999999".into()));
    assert_eq!(position(&e, "alice/main", PERP), Some(("1".into(), "3120".into())));

    // Second boundary: the index falls to 3000 under the same mark: premium 4% capped at 0.75%,
    // 1 * 3000 * 0.0075 = 22.5 exactly; no variation (the entry is already the mark).
    applied(e.apply(&op(22, price("ETH", "3000"))));
    let events = applied(e.apply(&op(23, clock(T0 + 16 * HOUR))));
    assert_eq!(funding(&events, "alice/main"), vec!["-22.5"]);
    assert_eq!(funding(&events, "bob/main"), vec!["22.5"]);
    assert!(settled(&events, "alice/main", "mark_to_market").is_empty(), "{events:?}");
    assert_eq!((posted(&e, "alice/main", "USDC"), posted(&e, "bob/main", "USDC")), ("1076".into(), "922.499999".into()));

    // Close: alice sells 1 at 3050 against bob's buy. alice realises 3050 - 3120 = -70, bob +70
    // and pays the taker fee 5 bps of 3050 = 1.525.
    applied(e.apply(&as_("alice", 103, Command::CancelAllOrders { account: "alice/main".into(), market: PERP.into() })));
    applied(e.apply(&as_("bob", 103, Command::CancelAllOrders { account: "bob/main".into(), market: PERP.into() })));
    applied(e.apply(&as_("alice", 104, place(PERP, "alice/main", 4, Sell, Limit, "3050", "1"))));
    let events = applied(e.apply(&as_("bob", 104, place(PERP, "bob/main", 4, Buy, Limit, "3050", "1"))));
    assert_eq!(settled(&events, "alice/main", "fill"), vec!["-70"]);
    assert_eq!(settled(&events, "bob/main", "fill"), vec!["70"]);
    assert_eq!((posted(&e, "alice/main", "USDC"), posted(&e, "bob/main", "USDC")), ("1006".into(), "990.974999".into()));
    assert_eq!((position(&e, "alice/main", PERP), position(&e, "bob/main", PERP)), (None, None));
    assert_eq!(e.open_interest(PERP).unwrap(), 0);
    // The clearing account keeps the funding residue, the fees 1.5 + 1.525.
    assert_eq!(posted(&e, "@clearing/ETH-PERP", "USDC"), "0.000001");
    assert_eq!(posted(&e, FEES, "USDC"), "3.025");
    assert_eq!(posted(&e, HOUSE, "USDC"), "0");
    e.check_invariants().unwrap();
}

#[test]
fn an_option_expiry_pays_an_in_the_money_call_and_nothing_on_an_out_of_the_money_put() {
    let mut e = derivs_engine(EXPIRY - 40 * MINUTE);
    // alice buys 2 calls at 150 from bob (premium 300, taker fee 3 bps = 0.09); bob buys a put
    // at 20 from alice (taker fee 0.006).
    applied(e.apply(&as_("bob", 101, place(CALL, "bob/main", 1, Sell, Limit, "150", "2"))));
    applied(e.apply(&as_("alice", 101, place(CALL, "alice/main", 1, Buy, Limit, "150", "2"))));
    applied(e.apply(&as_("alice", 102, place(PUT, "alice/main", 2, Sell, Limit, "20", "1"))));
    applied(e.apply(&as_("bob", 102, place(PUT, "bob/main", 2, Buy, Limit, "20", "1"))));
    assert_eq!((posted(&e, "alice/main", "USDC"), posted(&e, "bob/main", "USDC")), ("719.91".into(), "1279.994".into()));
    // A resting order that will be cancelled at expiry.
    applied(e.apply(&as_("alice", 103, place(CALL, "alice/main", 3, Buy, Limit, "100", "1"))));
    // Prints: 3200 from E-40m (set at genesis of the clock), 3300 from E-20m, 3400 from E-10m.
    // The 30-minute TWAP before expiry: (3200 * 10 + 3300 * 10 + 3400 * 10) / 30 = 3300.
    applied(e.apply(&op(20, price("ETH", "3200"))));
    applied(e.apply(&op(21, clock(EXPIRY - 20 * MINUTE))));
    applied(e.apply(&op(22, price("ETH", "3300"))));
    applied(e.apply(&op(23, clock(EXPIRY - 10 * MINUTE))));
    applied(e.apply(&op(24, price("ETH", "3400"))));
    let events = applied(e.apply(&op(25, clock(EXPIRY))));
    assert!(
        events.iter().any(|ev| matches!(ev, Event::OptionExpired { market, settlement_price, .. }
        if market == CALL && settlement_price == "3300")),
        "{events:?}"
    );
    // The call pays 2 * (3300 - 3000) = 600 from bob to alice; the put pays nothing.
    assert_eq!(settled(&events, "alice/main", "expiry"), vec!["600", "0"]);
    assert_eq!(settled(&events, "bob/main", "expiry"), vec!["-600", "0"]);
    assert_eq!((posted(&e, "alice/main", "USDC"), posted(&e, "bob/main", "USDC")), ("1319.91".into(), "679.994".into()));
    assert_eq!(reserved_usdc(&e, "alice/main"), "0", "the resting order's hold is released");
    assert!(e.positions_of("alice/main").unwrap().is_empty() && e.positions_of("bob/main").unwrap().is_empty());
    assert_eq!(posted(&e, "@clearing/ETH-20261225-3000-C", "USDC"), "0");
    // The market takes no order again.
    let error = rejected(e.apply(&as_("alice", 104, place(CALL, "alice/main", 4, Buy, Limit, "100", "1"))));
    assert!(matches!(&error, EngineError::OrderRefused { reason, .. } if reason.contains("expired")), "{error:?}");
    e.check_invariants().unwrap();
}

fn reserved_usdc(e: &Engine, account: &str) -> String {
    e.balances().into_iter().find(|r| r.account == account && r.asset == "USDC").map(|r| r.reserved).unwrap_or_else(|| "0".into())
}

#[test]
fn an_expiry_without_a_covered_window_closes_the_market_and_keeps_the_positions() {
    let mut e = derivs_engine(EXPIRY - 2 * HOUR);
    applied(e.apply(&as_("bob", 101, place(CALL, "bob/main", 1, Sell, Limit, "150", "1"))));
    applied(e.apply(&as_("alice", 101, place(CALL, "alice/main", 1, Buy, Limit, "150", "1"))));
    // The only print (3000, at E-2h) stands in for longer than the 30-minute window allows.
    applied(e.apply(&op(20, clock(EXPIRY - HOUR))));
    let events = applied(e.apply(&op(21, clock(EXPIRY + MINUTE))));
    assert!(events.iter().any(|ev| matches!(ev, Event::OptionExpiryFailed { market, .. } if market == CALL)), "{events:?}");
    assert_eq!(position(&e, "alice/main", CALL).map(|p| p.0), Some("1".into()));
    rejected(e.apply(&as_("alice", 102, place(CALL, "alice/main", 2, Buy, Limit, "100", "1"))));
    e.check_invariants().unwrap();
}

#[test]
fn a_loss_beyond_the_balance_is_lent_by_the_house_accrues_and_is_repaid_first() {
    let mut e = derivs_engine(T0);
    applied(e.apply(&op(14, Command::RegisterPrincipal { name: "carol".into(), role: Role::Owner })));
    applied(e.apply(&op(15, create("carol", "main"))));
    applied(e.apply(&op(16, deposit("carol/main", "USDC", "10", USDC_ETH, "0xcarol"))));
    // carol buys 1 ETH at 3000 (fee 1.5) with 10 USDC; bob sells.
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("carol", 101, place(PERP, "carol/main", 1, Buy, Limit, "3000", "1"))));
    assert_eq!(posted(&e, "carol/main", "USDC"), "8.5");
    // ETH falls to 2900: variation margin -100 against a balance of 8.5: the house lends 91.5.
    applied(e.apply(&op(20, price("ETH", "2900"))));
    let events = applied(e.apply(&op(21, clock(T0 + 8 * HOUR))));
    assert!(
        events.iter().any(|ev| matches!(ev, Event::BorrowChanged { account, amount, debt, .. }
        if account == "carol/main" && amount == "91.5" && debt == "91.5")),
        "{events:?}"
    );
    assert_eq!(posted(&e, "carol/main", "USDC"), "0");
    assert_eq!(posted(&e, "bob/main", "USDC"), "1100");
    assert_eq!(posted(&e, HOUSE, "USDC"), "-91.5");
    assert_eq!(e.debt("carol/main", "USDC").unwrap(), 91_500_000);
    assert_eq!(e.derivative_exposures("carol/main").unwrap().last(), Some(&("USDC".to_string(), -91_500_000)));
    // One day at 10% a year, compounded per second: 91.5 * (1 + x + x^2/2 + x^3/6) with
    // x = 0.1 * 86400 / 31536000: 91.52507192750... -> 91.525072 (rounded up).
    applied(e.apply(&op(22, clock(T0 + 32 * HOUR))));
    assert_eq!(e.debt("carol/main", "USDC").unwrap(), 91_525_072);
    // A deposit of 100 repays the debt first, reporting the interest since the borrow.
    let events = applied(e.apply(&op(23, deposit("carol/main", "USDC", "100", USDC_ETH, "0xcarol2"))));
    assert!(
        events.iter().any(|ev| matches!(ev, Event::InterestAccrued { interest, debt, .. }
        if interest == "0.025072" && debt == "91.525072")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|ev| matches!(ev, Event::BorrowChanged { amount, debt, .. } if amount == "-91.525072" && debt == "0")),
        "{events:?}"
    );
    assert_eq!(posted(&e, "carol/main", "USDC"), "8.474928");
    assert_eq!(posted(&e, HOUSE, "USDC"), "0.025072");
    assert_eq!(e.debt("carol/main", "USDC").unwrap(), 0);
    e.check_invariants().unwrap();
}

#[test]
fn a_derivative_market_is_added_by_configuration_and_replays_from_a_snapshot() {
    let mut config = config();
    let perp = config.markets.iter().find(|m| m.id == PERP).unwrap().clone();
    config.markets.retain(|m| m.kind == model::MarketKind::Spot);
    let mut e = engine_from(config);
    applied(e.apply(&op(10, Command::Configure { change: ConfigChange::AddMarket { market: Box::new(perp.clone()) } })));
    // A spot market that carries derivative terms, or a perp on an unknown underlying, is refused.
    let mut bad = perp.clone();
    bad.id = "BAD-PERP".into();
    bad.base = "DOGE".into();
    assert!(matches!(
        rejected(e.apply(&op(11, Command::Configure { change: ConfigChange::AddMarket { market: Box::new(bad) } }))),
        EngineError::ConfigRefused { .. }
    ));
    let mut spot = perp;
    spot.id = "SPOT-WITH-FUNDING".into();
    spot.kind = model::MarketKind::Spot;
    spot.base = "ETH".into();
    assert!(matches!(
        rejected(e.apply(&op(12, Command::Configure { change: ConfigChange::AddMarket { market: Box::new(spot) } }))),
        EngineError::ConfigRefused { .. }
    ));
    applied(e.apply(&op(13, deposit("bob/main", "USDC", "1000", USDC_ETH, "0xbob"))));
    applied(e.apply(&op(14, price("USDC", "1"))));
    applied(e.apply(&op(15, price("ETH", "3000"))));
    applied(e.apply(&op(16, clock(T0))));
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 101, place(PERP, "alice/main", 1, Buy, Limit, "3000", "0.5"))));
    let mut restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    assert_eq!(restored.state_hash(), e.state_hash());
    for envelope in [op(17, price("ETH", "2500")), op(18, clock(T0 + 8 * HOUR))] {
        assert_eq!(restored.apply(&envelope), e.apply(&envelope));
    }
    assert_eq!(restored.state_hash(), e.state_hash());
    assert_eq!(restored.debt("alice/main", "USDC").unwrap(), e.debt("alice/main", "USDC").unwrap());
    restored.check_invariants().unwrap();
}

#[test]
fn funding_without_an_oracle_price_rejects_the_clock_step_and_changes_nothing() {
    let mut e = derivs_engine(T0);
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 101, place(PERP, "alice/main", 1, Buy, Limit, "3000", "1"))));
    // No command removes a price; an engine whose settlement asset lost its price stands in for
    // a market configured before its quote was ever priced.
    e.prices.remove("USDC");
    let before = e.books_hash();
    let error = rejected(e.apply(&op(21, clock(T0 + 8 * HOUR))));
    assert!(matches!(error, EngineError::MissingPrice { ref symbol } if symbol == "USDC"), "{error:?}");
    assert_eq!(e.books_hash(), before);
    assert_eq!(e.now_ms(), T0);
    applied(e.apply(&op(22, price("USDC", "1"))));
    applied(e.apply(&op(23, clock(T0 + 8 * HOUR))));
}

#[test]
fn positions_are_bounded_by_the_market() {
    let mut config = config();
    for m in &mut config.markets {
        if m.id == PERP {
            m.positions_max = Some(2);
        }
    }
    let mut e = engine_from(config);
    applied(e.apply(&op(10, deposit("bob/main", "USDC", "1000", USDC_ETH, "0xbob"))));
    applied(e.apply(&op(11, price("USDC", "1"))));
    applied(e.apply(&op(12, price("ETH", "3000"))));
    applied(e.apply(&op(13, Command::RegisterPrincipal { name: "carol".into(), role: Role::Owner })));
    applied(e.apply(&op(14, create("carol", "main"))));
    applied(e.apply(&op(15, deposit("carol/main", "USDC", "100", USDC_ETH, "0xcarol"))));
    // bob's resting order and alice's would make two holders; carol's a possible third.
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "0.01"))));
    applied(e.apply(&as_("alice", 101, place(PERP, "alice/main", 1, Sell, Limit, "3001", "0.01"))));
    let error = rejected(e.apply(&as_("carol", 101, place(PERP, "carol/main", 1, Buy, Limit, "3000", "0.01"))));
    assert!(matches!(&error, EngineError::LimitExceeded { limit, max: 2 } if limit.contains("positions_max")), "{error:?}");
}

#[test]
fn a_maker_loss_beyond_its_free_balance_borrows_and_keeps_its_other_orders_held() {
    let mut e = derivs_engine(T0);
    applied(e.apply(&op(14, Command::RegisterPrincipal { name: "carol".into(), role: Role::Owner })));
    applied(e.apply(&op(15, create("carol", "main"))));
    applied(e.apply(&op(16, deposit("carol/main", "USDC", "10", USDC_ETH, "0xcarol"))));
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("carol", 101, place(PERP, "carol/main", 1, Buy, Limit, "3000", "1"))));
    // carol (8.5 USDC left) rests two sells of 0.5; each holds its fee (5 bps of 1450 and of
    // 1475) and 0.001 of slack: 0.726 + 0.7385.
    applied(e.apply(&as_("carol", 102, place(PERP, "carol/main", 2, Sell, Limit, "2900", "0.5"))));
    applied(e.apply(&as_("carol", 103, place(PERP, "carol/main", 3, Sell, Limit, "2950", "0.5"))));
    assert_eq!(reserved_usdc(&e, "carol/main"), "1.4645");
    // bob takes the first: carol realises 0.5 * (2900 - 3000) = -50 with 8.5 - 0.7385 free: the
    // house lends 42.2385 and the second order stays held.
    let events = applied(e.apply(&as_("bob", 102, place(PERP, "bob/main", 2, Buy, Limit, "2900", "0.5"))));
    assert_eq!(settled(&events, "carol/main", "fill"), vec!["-50"]);
    assert_eq!(e.debt("carol/main", "USDC").unwrap(), 42_238_500);
    assert_eq!((posted(&e, "carol/main", "USDC"), reserved_usdc(&e, "carol/main")), ("0.7385".into(), "0.7385".into()));
    e.check_invariants().unwrap();
}

#[test]
fn positions_per_market_are_bounded_by_the_record_limit() {
    // The snapshot bound counts at most this many positions per market: a market allowing more
    // is refused, because settling them would not fit one record.
    let max = limits::positions_per_market_max();
    let mut config = config();
    let perp = config.markets.iter_mut().find(|m| m.id == PERP).unwrap();
    perp.positions_max = Some(max as u32 + 1);
    config.markets.retain(|m| m.id == PERP || m.kind == model::MarketKind::Spot);
    assert!(matches!(Engine::with_genesis(config.clone()), Err(EngineError::ConfigRefused { .. })));
    let perp = config.markets.iter_mut().find(|m| m.id == PERP).unwrap();
    // A perp settles six events per position: a quarter of the bound fits.
    perp.positions_max = Some((max / 4) as u32);
    Engine::with_genesis(config).unwrap();
}

/// ETH-PERP capped at 1.5 ETH of open interest: alice opens 1 long against bob's short; another
/// order opening 1 more is refused with the numbers (1 + 1 > 1.5); bob's buy of 1.5 covers his
/// short of 1 and opens only 0.5 (1 + 0.5 = 1.5, accepted); a sale that reduces alice's long is
/// accepted at the cap, and the open interest never exceeds it.
#[test]
fn the_open_interest_cap_refuses_orders_that_open_beyond_it() {
    let mut c = config();
    c.markets.iter_mut().find(|m| m.id == PERP).unwrap().open_interest_max = Some("1.5".into());
    let mut e = engine_from(c);
    applied(e.apply(&op(10, deposit("bob/main", "USDC", "1000", USDC_ETH, "0xbob"))));
    applied(e.apply(&op(11, price("USDC", "1"))));
    applied(e.apply(&op(12, price("ETH", "3000"))));
    applied(e.apply(&op(13, clock(T0))));
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 101, place(PERP, "alice/main", 1, Buy, Limit, "3000", "1"))));
    assert_eq!(e.open_interest(PERP).unwrap(), 1_000_000_000);
    // alice would open 1 more long: refused, whatever the book holds.
    let error = rejected(e.apply(&as_("alice", 102, place(PERP, "alice/main", 2, Buy, Limit, "2990", "1"))));
    assert_eq!(
        error,
        EngineError::OpenInterestCap { market: PERP.into(), open_interest: "1".into(), opening: "1".into(), cap: "1.5".into() }
    );
    // bob's buy of 1.5 covers his short of 1 first: it opens 0.5, which fits exactly.
    applied(e.apply(&as_("bob", 102, place(PERP, "bob/main", 2, Buy, Limit, "2990", "1.5"))));
    // ... and a sale of 2 by alice opens 1 beyond her long of 1: refused.
    let error = rejected(e.apply(&as_("alice", 103, place(PERP, "alice/main", 3, Sell, Limit, "2990", "2"))));
    assert!(matches!(error, EngineError::OpenInterestCap { ref opening, .. } if opening == "1"), "{error:?}");
    // A sale of 1 only reduces her long: accepted; it fills 1 of bob's bid, which covers his
    // short (bob -1 + 1 = 0, alice 1 - 1 = 0); the rest of his bid stays on the book.
    applied(e.apply(&as_("alice", 104, place(PERP, "alice/main", 4, Sell, Limit, "2990", "1"))));
    assert_eq!(e.open_interest(PERP).unwrap(), 0);
    assert_eq!(position(&e, "alice/main", PERP), None);
    assert_eq!(position(&e, "bob/main", PERP), None);
    // A spot market takes no cap.
    let mut c = config();
    c.markets.iter_mut().find(|m| m.id == "ETH/USDC").unwrap().open_interest_max = Some("1".into());
    assert!(Engine::with_genesis(c).is_err());
}

/// The funding premium is the time-weighted average of the interval's prints, not a sample at
/// the boundary. alice long 1 and bob short 1 at 3000; a bid at 3010 and an ask at 3030 make the
/// mark 3020. Prints: at T0 the index 3000 (premium 20 / 3000 = 0.006666666666666666, floor), at
/// T0 + 6h the index 3020 (premium 0). Average over the 8 hours: 0.006666666666666666 x 6 / 8 =
/// 0.0049999999999999995 -> 0.004999999999999999 (floor). The long pays 1 x 3020 x that =
/// 15.09999999999999698 -> 15.1 (up), the short gets 15.099999 (down), the clearing account
/// keeps 0.000001.
/// Sampled once at the boundary (mark 3020 = index 3020) the premium would be zero.
#[test]
fn funding_uses_the_time_weighted_premium_of_the_interval() {
    let mut e = derivs_engine(T0);
    applied(e.apply(&as_("bob", 101, place(PERP, "bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 101, place(PERP, "alice/main", 1, Buy, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 102, place(PERP, "alice/main", 2, Buy, PostOnly, "3010", "0.01"))));
    applied(e.apply(&as_("bob", 102, place(PERP, "bob/main", 2, Sell, PostOnly, "3030", "0.01"))));
    applied(e.apply(&op(20, price("ETH", "3000"))));
    applied(e.apply(&op(21, clock(T0 + 6 * HOUR))));
    applied(e.apply(&op(22, price("ETH", "3020"))));
    let events = applied(e.apply(&op(23, clock(T0 + 8 * HOUR))));
    assert_eq!(funding(&events, "alice/main"), vec!["-15.1"]);
    assert_eq!(funding(&events, "bob/main"), vec!["15.099999"]);
    assert!(funding(&events, HOUSE).is_empty());
    let rate = events.iter().find_map(|ev| match ev {
        Event::FundingIndexMoved { rate, .. } => Some(rate.clone()),
        _ => None,
    });
    assert_eq!(rate.as_deref(), Some("0.004999999999999999"));
    // The next interval starts from the print in force (premium 0): no funding.
    let events = applied(e.apply(&op(24, clock(T0 + 16 * HOUR))));
    assert!(funding(&events, "alice/main").is_empty(), "{events:?}");
    e.check_invariants().unwrap();
}
