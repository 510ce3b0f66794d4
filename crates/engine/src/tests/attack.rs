//! Adversarial tests: each tries to break one claim of `docs/engine.md` as a hostile client, a
//! careless operator or a risk manager would. The ones named `defect_...` failed before the fix
//! they came with; the others document attacks that held.

use super::*;
use markets::{OrderKind::*, OrderSide::*};

const ETH_USDC: &str = "ETH/USDC";

fn order(account: &str, cid: u64, side: markets::OrderSide, kind: markets::OrderKind, price: Option<&str>, qty: &str) -> Command {
    order_on(ETH_USDC, account, cid, side, kind, price, qty)
}

fn order_on(
    market: &str,
    account: &str,
    cid: u64,
    side: markets::OrderSide,
    kind: markets::OrderKind,
    price: Option<&str>,
    qty: &str,
) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: market.into(),
        client_order_id: cid,
        side,
        kind,
        price: price.map(String::from),
        qty: qty.into(),
    }
}

fn amend(account: &str, order_id: u64, price: &str, qty: &str) -> Command {
    Command::AmendOrder { account: account.into(), market: ETH_USDC.into(), order_id, price: price.into(), qty: qty.into() }
}

fn set_price(symbol: &str, price: &str) -> Command {
    Command::SetPrice { symbol: symbol.into(), price_usd: price.into() }
}

fn configure(change: ConfigChange) -> Command {
    Command::Configure { change }
}

/// alice holds 2 ETH (and 1000 USDC), bob 10,000 USDC; ETH at 3000, USDC at 1. One-lot orders
/// are allowed (`dust_config`); the default market's dust rules have their own test.
fn market_engine() -> Engine {
    market_engine_from(dust_config())
}

fn market_engine_from(config: StateConfig) -> Engine {
    let mut e = engine_from(config);
    applied(e.apply(&op(10, deposit("alice/main", "ETH", "2", USDC_ETH, "0xeth"))));
    applied(e.apply(&op(11, deposit("bob/main", "USDC", "10000", USDC_ETH, "0xusdc"))));
    applied(e.apply(&op(12, set_price("USDC", "1"))));
    applied(e.apply(&op(13, set_price("ETH", "3000"))));
    e
}

fn reserved(e: &Engine, account: &str, asset: &str) -> String {
    e.balances().into_iter().find(|r| r.account == account && r.asset == asset).map(|r| r.reserved).unwrap_or_else(|| "0".into())
}

fn open_order_ids(e: &Engine, account: &str) -> Vec<u64> {
    e.open_orders(ETH_USDC, account).unwrap().iter().map(|o| o.order_id.0).collect()
}

fn error_of(outcome: Outcome) -> EngineError {
    match outcome {
        Outcome::Rejected { error, .. } | Outcome::Refused { error } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Asserts that every command fails (rejected or refused) with a message containing its
/// expected text, and that none of them changes the books.
fn all_fail(e: &mut Engine, cases: Vec<(Envelope, &str)>) {
    let books = e.books_hash();
    for (envelope, expected) in cases {
        let text = error_of(e.apply(&envelope)).to_string();
        assert!(text.contains(expected), "{envelope:?}: {text:?} should mention {expected:?}");
        assert_eq!(e.books_hash(), books, "{envelope:?} changed the books");
    }
    e.check_invariants().unwrap();
}

#[test]
fn defect_an_oracle_price_the_market_cannot_express_halts_it_instead_of_keeping_a_stale_band() {
    let mut e = market_engine();
    applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "1"))));
    // ETH collapses to a billionth of a dollar: 1e-9 USDC per ETH is below the smallest unit of
    // USDC, so the reference price rounds to zero. The market must not keep trading in the band
    // around the last representable price (3000): a market buy would pay 3100 for what the
    // oracle says is worth nothing.
    applied(e.apply(&op(20, set_price("ETH", "0.000000001"))));
    let error = rejected(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "1"))));
    assert!(error.to_string().contains("no oracle price"), "{error}");
    assert_eq!(posted(&e, "bob/main", "ETH"), "0");
    // A limit order is refused too (no reference to check its band against); cancels work.
    assert!(rejected(e.apply(&as_("bob", 2, order("bob/main", 2, Buy, Limit, Some("3100"), "1")))).to_string().contains("reference"));
    let id = open_order_ids(&e, "alice/main")[0];
    applied(e.apply(&as_("alice", 3, Command::CancelOrder { account: "alice/main".into(), market: ETH_USDC.into(), order_id: id })));
    // A representable price restores trading.
    applied(e.apply(&op(21, set_price("ETH", "3000"))));
    applied(e.apply(&as_("bob", 3, order("bob/main", 3, Buy, Limit, Some("2990"), "1"))));
    // The same for a price above what a book price can hold (i64 units of USDC per lot).
    applied(e.apply(&op(22, set_price("USDC", "0.000000000000000001"))));
    let error = rejected(e.apply(&as_("bob", 4, order("bob/main", 4, Buy, Market, None, "0.001"))));
    assert!(error.to_string().contains("no oracle price"), "{error}");
    e.check_invariants().unwrap();
    let mut restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    assert_eq!(restored.state_hash(), e.state_hash());
}

#[test]
fn defect_lowering_market_orders_max_below_a_book_is_refused() {
    let mut e = market_engine();
    let mut limits = e.config().limits.clone();
    limits.market_orders_max = 10;
    // The books allow 500 orders: a smaller limit contradicts them (and a snapshot of the
    // engine would no longer restore).
    let error = rejected(e.apply(&op(20, configure(ConfigChange::SetLimits { limits }))));
    assert!(matches!(&error, EngineError::ConfigRefused { key, .. } if key == "limits.market_orders_max"), "{error:?}");
    let mut restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    assert_eq!(restored.state_hash(), e.state_hash());
}

fn a_market(id: &str) -> model::Market {
    let mut market = config().markets[0].clone();
    market.id = id.into();
    market
}

#[test]
fn defect_a_market_id_is_a_short_printable_identifier() {
    let mut e = market_engine();
    let long = "M".repeat(60_000);
    let mut long_tick = a_market("ETH-USDC-2");
    long_tick.tick = format!("0.0{}", "0".repeat(60_000));
    let cases = vec![
        (op(20, configure(ConfigChange::AddMarket { market: Box::new(a_market(&long)) })), "invalid name"),
        (op(21, configure(ConfigChange::AddMarket { market: Box::new(a_market("ETH\nUSDC")) })), "invalid name"),
        (op(22, configure(ConfigChange::AddMarket { market: Box::new(a_market("ETH/USDC\u{202e}")) })), "invalid name"),
        (op(23, configure(ConfigChange::AddMarket { market: Box::new(a_market("")) })), "invalid name"),
        (op(24, configure(ConfigChange::AddMarket { market: Box::new(long_tick) })), "tick"),
    ];
    all_fail(&mut e, cases);
    // A genesis from elsewhere is held to the same rule.
    let mut hostile = config();
    hostile.markets[0].id = long;
    assert!(matches!(Engine::with_genesis(hostile), Err(EngineError::InvalidName { .. })));
    // An identifier with a slash, as the configuration file names markets, is fine.
    applied(e.apply(&op(30, configure(ConfigChange::AddMarket { market: Box::new(a_market("ETH/USDC.v2")) }))));
}

/// A market BIG/USDC whose prices and quantities reach the edges of a book's integers: BIG has
/// no decimals, a lot of 1 and a maximum size of `u64::MAX` lots; at 8.7e12 USD a BIG is
/// 8.7e18 units of USDC per lot (near `i64::MAX`), so one order can need 1.6e38 units of USDC,
/// near `i128::MAX`.
fn extreme_engine() -> Engine {
    let mut e = engine();
    applied(e.apply(&op(20, configure(ConfigChange::AddAsset { symbol: "BIG".into(), decimals: 0 }))));
    applied(e.apply(&op(21, configure(ConfigChange::AllowCustodyAsset { custodian: USDC_ETH.into(), asset: "BIG".into() }))));
    let market = model::Market {
        id: "BIG/USDC".into(),
        base: "BIG".into(),
        quote: "USDC".into(),
        tick: "0.000001".into(),
        lot: "1".into(),
        qty_min: "1".into(),
        qty_max: u64::MAX.to_string(),
        min_notional: "0.000001".into(),
        open_orders_per_account_max: 64,
        // A level's total must fit a u64: one order of up to u64::MAX lots.
        book_orders_max: 1,
        price_band_bps: 500,
        maker_fee_bps: 0,
        taker_fee_bps: 0,
        position_max: None,
        house_quote: None,
        open_interest_max: None,
        kind: model::MarketKind::Spot,
        instrument: None,
        funding_interval_ms: None,
        funding_cap_bps: None,
        strike: None,
        expiry: None,
        right: None,
        twap_window_ms: None,
        positions_max: None,
    };
    applied(e.apply(&op(22, configure(ConfigChange::AddMarket { market: Box::new(market) }))));
    applied(e.apply(&op(23, set_price("USDC", "1"))));
    applied(e.apply(&op(24, set_price("BIG", "8700000000000"))));
    e
}

const BIG_PRICE: &str = "8700000000000";
const BIG_QTY: &str = "18000000000000000000";

#[test]
fn defect_order_holds_near_i128_max_are_refused_not_overflowed() {
    let mut e = extreme_engine();
    // 1.6e38 units of USDC: one order of 1.8e19 BIG at 8.7e18 units per lot needs 1.566e38.
    applied(e.apply(&op(30, deposit("bob/main", "USDC", "160000000000000000000000000000000", USDC_ETH, "0xbig"))));
    applied(e.apply(&as_("bob", 1, order_on("BIG/USDC", "bob/main", 1, Buy, Limit, Some(BIG_PRICE), BIG_QTY))));
    // A second one would hold 3.1e38 in all: more than bob has, and more than an i128 counts.
    let books = e.books_hash();
    let second = e.apply(&as_("bob", 2, order_on("BIG/USDC", "bob/main", 2, Buy, Limit, Some(BIG_PRICE), BIG_QTY)));
    assert!(matches!(error_of(second), EngineError::Overflow { .. } | EngineError::InsufficientBalance { .. }));
    assert_eq!(e.books_hash(), books);
    e.check_invariants().unwrap();
}

#[test]
fn defect_client_holdings_of_an_asset_never_exceed_what_an_i128_counts() {
    let mut e = extreme_engine();
    // Two custodians each hold 1.6e38 units of USDC for clients: together more than any
    // balance can count. Had both deposits been accepted, bob's purchase would credit alice
    // 1.566e38 on top of her 1.6e38 and overflow her balance inside the settlement of a fill,
    // which cannot fail: the node would stop.
    let huge = "160000000000000000000000000000000";
    applied(e.apply(&op(30, deposit("alice/main", "USDC", huge, USDC_ETH, "0xa-big"))));
    let books = e.books_hash();
    let error = rejected(e.apply(&op(31, deposit("bob/main", "USDC", huge, "arbitrum", "0xb-big"))));
    assert!(matches!(error, EngineError::Overflow { .. } | EngineError::LimitExceeded { .. }), "{error:?}");
    assert_eq!(e.books_hash(), books);
    // What fits is accepted and trades without trouble.
    applied(e.apply(&op(32, deposit("bob/main", "USDC", "1000000000000000000000000000000", "arbitrum", "0xb-ok"))));
    applied(e.apply(&op(33, deposit("alice/main", "BIG", "1000", USDC_ETH, "0xa-bigs"))));
    applied(e.apply(&as_("alice", 2, order_on("BIG/USDC", "alice/main", 1, Sell, Limit, Some(BIG_PRICE), "1000"))));
    applied(e.apply(&as_("bob", 1, order_on("BIG/USDC", "bob/main", 1, Buy, ImmediateOrCancel, Some(BIG_PRICE), "1000"))));
    assert_eq!(posted(&e, "bob/main", "BIG"), "1000");
    e.check_invariants().unwrap();
}

#[test]
fn defect_a_held_account_moves_nothing_out() {
    let mut e = market_engine();
    applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "0.5"))));
    applied(e.apply(&op(20, Command::SetHold { account: "alice/main".into(), held: true })));
    // The hold stops withdrawals from alice/main. A transfer to her other account, from which
    // she may withdraw, or trades against her other account at the edges of the band (about
    // 10% of the notional per round trip), would move the value out all the same.
    let id = open_order_ids(&e, "alice/main")[0];
    all_fail(
        &mut e,
        vec![
            (as_("alice", 3, transfer("alice/main", "alice/hedge", "500")), "on hold"),
            (as_("alice", 4, order("alice/main", 2, Buy, Limit, Some("3150"), "0.1")), "on hold"),
            (as_("alice", 5, amend("alice/main", id, "2850", "0.5")), "on hold"),
        ],
    );
    // Cancelling reduces what is at risk and stays allowed; so does receiving.
    applied(e.apply(&as_("alice", 6, Command::CancelOrder { account: "alice/main".into(), market: ETH_USDC.into(), order_id: id })));
    applied(e.apply(&op(22, deposit("alice/hedge", "USDC", "10", USDC_ETH, "0xhedge"))));
    applied(e.apply(&as_("alice", 7, transfer("alice/hedge", "alice/main", "10"))));
    e.check_invariants().unwrap();
}

#[test]
fn held_amending_beyond_the_balance_or_onto_someone_elses_order_changes_nothing() {
    let mut e = market_engine();
    applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "1"))));
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Limit, Some("3000"), "3"))));
    let (alice_id, bob_id) = (open_order_ids(&e, "alice/main")[0], open_order_ids(&e, "bob/main")[0]);
    all_fail(
        &mut e,
        vec![
            // 4 ETH at 3000 needs 12,006.008 USDC; bob has 10,000.
            (as_("bob", 2, amend("bob/main", bob_id, "3000", "4")), "insufficient balance"),
            // alice's order named with bob's account, by bob or by the operator.
            (as_("bob", 3, amend("bob/main", alice_id, "3000", "0.5")), "no open order"),
            (
                as_("bob", 4, Command::CancelOrder { account: "bob/main".into(), market: ETH_USDC.into(), order_id: alice_id }),
                "no open order",
            ),
            (op(20, Command::CancelOrder { account: "bob/main".into(), market: ETH_USDC.into(), order_id: alice_id }), "order"),
            // ... or by bob with alice's account: not his.
            (as_("bob", 5, amend("alice/main", alice_id, "3000", "0.5")), "not its own account"),
            // Ids out of any range.
            (as_("bob", 6, amend("bob/main", u64::MAX, "3000", "1")), "no open order"),
            (as_("bob", 7, amend("bob/main", bob_id, "3000", "0")), "positive"),
            (as_("bob", 8, amend("bob/main", bob_id, "-3000", "1")), "quote units per lot"),
            (as_("bob", 9, amend("bob/main", bob_id, "3000", "3")), "changes neither"),
        ],
    );
}

#[test]
fn held_an_amend_that_crosses_trades_at_the_makers_price() {
    let mut e = market_engine();
    applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "1"))));
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Limit, Some("3000"), "1"))));
    let bob_id = open_order_ids(&e, "bob/main")[0];
    let events = applied(e.apply(&as_("bob", 2, amend("bob/main", bob_id, "3150", "1"))));
    assert!(events.iter().any(|ev| matches!(ev, Event::OrderFilled { price, .. } if price == "3100")), "{events:?}");
    // bob pays 3100 + 5 bps (1.55); alice gets 3100 + a 1 bp rebate (0.31); @fees keeps 1.24.
    assert_eq!(posted(&e, "bob/main", "USDC"), "6898.45");
    assert_eq!(posted(&e, "alice/main", "USDC"), "4100.31");
    assert_eq!(posted(&e, "@fees", "USDC"), "1.24");
    assert_eq!((reserved(&e, "bob/main", "USDC"), reserved(&e, "alice/main", "ETH")), ("0".into(), "0".into()));
    e.check_invariants().unwrap();
}

#[test]
fn held_self_trades_and_fill_or_kill_against_own_orders_never_fill() {
    let mut e = market_engine();
    applied(e.apply(&op(20, deposit("alice/main", "USDC", "5000", USDC_ETH, "0xa-more"))));
    applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "1"))));
    let books = e.books_hash();
    let error = rejected(e.apply(&as_("alice", 3, order("alice/main", 2, Buy, FillOrKill, Some("3100"), "1"))));
    assert!(error.to_string().contains("fill-or-kill"), "{error}");
    assert_eq!(e.books_hash(), books);
    // A crossing limit order of the same account is cancelled (self-trade prevention): no fill,
    // no fee, nothing left held for it.
    let events = applied(e.apply(&as_("alice", 4, order("alice/main", 3, Buy, Limit, Some("3100"), "1"))));
    assert!(!events.iter().any(|ev| matches!(ev, Event::OrderFilled { .. })), "{events:?}");
    assert!(events.iter().any(|ev| matches!(ev, Event::OrderCancelled { reason, .. } if reason == "SelfTrade")), "{events:?}");
    assert_eq!(reserved(&e, "alice/main", "USDC"), "0");
    assert_eq!(reserved(&e, "alice/main", "ETH"), "1");
    assert_eq!(posted(&e, "@fees", "USDC"), "0");
    e.check_invariants().unwrap();
}

#[test]
fn held_no_order_trades_without_both_oracle_prices() {
    let mut e = engine();
    applied(e.apply(&op(10, deposit("bob/main", "USDC", "10000", USDC_ETH, "0xusdc"))));
    let cases = vec![
        (as_("bob", 1, order("bob/main", 1, Buy, Market, None, "1")), "no oracle price"),
        (as_("bob", 2, order("bob/main", 2, Buy, Limit, Some("3000"), "1")), "reference"),
    ];
    all_fail(&mut e, cases);
    applied(e.apply(&op(11, set_price("ETH", "3000"))));
    all_fail(&mut e, vec![(as_("bob", 3, order("bob/main", 3, Buy, Market, None, "1")), "no oracle price")]);
}

#[test]
fn held_one_lot_fills_round_fees_for_the_broker_and_never_drain_fees() {
    let mut e = market_engine();
    // ETH at a cent: one lot (0.001 ETH) is 10 units of USDC, one tick; the band is one price.
    applied(e.apply(&op(20, set_price("ETH", "0.01"))));
    for cid in 0..60 {
        applied(e.apply(&as_("alice", 10 + cid, order("alice/main", cid, Sell, Limit, Some("0.01"), "0.001"))));
    }
    let events = applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Limit, Some("0.01"), "0.06"))));
    assert_eq!(events.iter().filter(|ev| matches!(ev, Event::OrderFilled { .. })).count(), 60);
    // Each fill: 10 units, taker fee ceil(10 * 5 / 10^4) = 1 unit, maker rebate floor(10 * 1 / 10^4) = 0.
    assert_eq!(posted(&e, "bob/main", "USDC"), "9999.99934");
    assert_eq!(posted(&e, "alice/main", "USDC"), "1000.0006");
    assert_eq!(posted(&e, "@fees", "USDC"), "0.00006");
    assert_eq!(posted(&e, "bob/main", "ETH"), "0.06");
    // A market order in a one-price band trades at that price; nothing is left to take.
    let events = applied(e.apply(&as_("bob", 2, order("bob/main", 2, Buy, Market, None, "0.001"))));
    assert!(matches!(events.last(), Some(Event::OrderCancelled { reason, .. }) if reason == "Unfilled"), "{events:?}");
    e.check_invariants().unwrap();
}

#[test]
fn held_a_withdrawal_never_takes_what_an_order_holds_nor_the_reverse() {
    let mut e = market_engine();
    applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "1.5"))));
    assert!(rejected(e.apply(&as_("alice", 3, withdraw("alice/main", "ETH", "1", USDC_ETH, "w1")))).to_string().contains("insufficient"));
    applied(e.apply(&as_("alice", 4, withdraw("alice/main", "ETH", "0.5", USDC_ETH, "w2"))));
    // Nothing is left for a new order, an amend to a larger size or a transfer.
    let id = open_order_ids(&e, "alice/main")[0];
    all_fail(
        &mut e,
        vec![
            (as_("alice", 5, order("alice/main", 2, Sell, Limit, Some("3100"), "0.001")), "insufficient balance"),
            (as_("alice", 6, amend("alice/main", id, "3100", "1.501")), "insufficient balance"),
            (
                as_(
                    "alice",
                    7,
                    Command::Transfer { from: "alice/main".into(), to: "alice/hedge".into(), asset: "ETH".into(), amount: "0.001".into() },
                ),
                "insufficient balance",
            ),
        ],
    );
    // A smaller order frees room; confirming the withdrawal takes the ETH out.
    applied(e.apply(&as_("alice", 8, amend("alice/main", id, "3100", "1"))));
    applied(e.apply(&op(20, Command::ConfirmWithdrawal { withdrawal_id: "w2".into(), chain_ref: "0xc2".into() })));
    assert_eq!(posted(&e, "alice/main", "ETH"), "1.5");
    assert_eq!(posted(&e, "@custody/ethereum", "ETH"), "-1.5");
    assert_eq!(reserved(&e, "alice/main", "ETH"), "1");
    e.check_invariants().unwrap();
}

#[test]
fn held_hostile_principals_names_and_ids() {
    let mut e = market_engine();
    let books = e.books_hash();
    let advance = Command::AdvanceTime { now_ms: 1 };
    for (client, expected) in [
        ("ALICE", "invalid name"),
        ("", "invalid name"),
        ("alice bob", "invalid name"),
        ("al\u{0}ice", "invalid name"),
        ("ali\u{202e}ce", "invalid name"),
        (&"a".repeat(65), "invalid name"),
        ("mallory", "not a registered principal"),
        ("@fees", "invalid name"),
    ] {
        let text = refused(e.apply(&as_(client, 1, advance.clone()))).to_string();
        assert!(text.contains(expected), "{client:?}: {text}");
    }
    for (i, (name, expected)) in [("@evil", "invalid name"), ("Bob", "invalid name"), ("alice", "already exists")].into_iter().enumerate() {
        let text =
            rejected(e.apply(&op(100 + i as u64, Command::RegisterPrincipal { name: name.into(), role: Role::Operator }))).to_string();
        assert!(text.contains(expected), "{name:?}: {text}");
    }
    for (i, sub) in ["x/y", "..", "", "MAIN", "main "].into_iter().enumerate() {
        let error = error_of(e.apply(&as_("alice", 100 + i as u64, create("alice", sub))));
        assert!(matches!(error, EngineError::InvalidName { .. } | EngineError::MalformedField { .. }), "{sub:?}: {error:?}");
    }
    assert_eq!(e.books_hash(), books);
    // Ids at the edges are ordinary ids; a reused one with another command is refused.
    applied(e.apply(&op(u64::MAX, Command::AdvanceTime { now_ms: 5 })));
    applied(e.apply(&op(0, Command::AdvanceTime { now_ms: 6 })));
    assert_eq!(e.apply(&op(u64::MAX, Command::AdvanceTime { now_ms: 5 })), Outcome::Duplicate { first_seq: e.next_seq() - 2 });
    assert!(matches!(refused(e.apply(&op(0, Command::AdvanceTime { now_ms: 7 }))), EngineError::IdReusedWithDifferentCommand { .. }));
    e.check_invariants().unwrap();
}

#[test]
fn held_a_taker_sweeping_a_full_book_of_long_names_fits_the_record_limit() {
    let mut e = market_engine();
    let limit = e.config().markets[0].book_orders_max as usize;
    let per_account = e.config().markets[0].open_orders_per_account_max as usize;
    let mut makers = Vec::new();
    for a in 0..limit.div_ceil(per_account) {
        let owner = format!("{a}{}", "o".repeat(63));
        let account = format!("{owner}/{}", "s".repeat(64));
        applied(e.apply(&op(1000 + a as u64, Command::RegisterPrincipal { name: owner.clone(), role: Role::Owner })));
        applied(e.apply(&op(2000 + a as u64, create(&owner, &"s".repeat(64)))));
        applied(e.apply(&op(3000 + a as u64, deposit(&account, "ETH", "1", USDC_ETH, &format!("0xm{a}")))));
        makers.push((owner, account));
    }
    for i in 0..limit {
        let (owner, account) = &makers[i / per_account];
        // Prices with as many digits as the tick allows: 2850.01, 2850.02, ...
        let price = format!("{}.{:02}", 2850 + i / 100, i % 100 + 1);
        applied(e.apply(&as_(owner, 10 + i as u64, order(account, u64::MAX - i as u64, Sell, Limit, Some(&price), "0.001"))));
    }
    // Immediate-or-cancel: a limit order would be refused on the full book (see the defect below).
    let outcome = e.apply(&as_("bob", 1, order("bob/main", u64::MAX, Buy, ImmediateOrCancel, Some("3150"), "0.5")));
    let bytes = serde_json::to_vec(&outcome).unwrap().len();
    let events = applied(outcome);
    assert_eq!(events.iter().filter(|ev| matches!(ev, Event::OrderFilled { .. })).count(), limit);
    assert!(bytes as u64 <= limits::market_result_bytes(limit as u32), "{bytes}");
    assert!(bytes <= limits::RECORD_BYTES_MAX, "{bytes}");
    e.check_invariants().unwrap();
}

#[test]
fn held_a_snapshot_midway_through_orders_withdrawals_and_holds_replays_identically() {
    let script: Vec<Envelope> = vec![
        as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "1.5")),
        as_("bob", 1, order("bob/main", 1, Buy, Limit, Some("2990"), "2")),
        as_("alice", 3, withdraw("alice/main", "ETH", "0.5", USDC_ETH, "w1")),
        as_("bob", 2, order("bob/main", 2, Buy, ImmediateOrCancel, Some("3100"), "0.4")),
        op(20, Command::SetHold { account: "bob/main".into(), held: true }),
        op(21, set_price("ETH", "3050")),
        // --- snapshot here ---
        as_("bob", 3, order("bob/main", 3, Buy, Limit, Some("3100"), "0.1")),
        op(22, Command::SetHold { account: "bob/main".into(), held: false }),
        as_("bob", 4, amend("bob/main", 2, "3100", "1")),
        as_("alice", 4, Command::CancelAllOrders { account: "alice/main".into(), market: ETH_USDC.into() }),
        op(23, Command::ConfirmWithdrawal { withdrawal_id: "w1".into(), chain_ref: "0xc1".into() }),
        as_("bob", 5, order("bob/main", 5, Sell, Market, None, "0.2")),
    ];
    let mut whole = market_engine();
    let mut first = market_engine();
    let outcomes: Vec<Outcome> = script.iter().map(|c| whole.apply(c)).collect();
    for (c, expected) in script[..6].iter().zip(&outcomes) {
        assert_eq!(&first.apply(c), expected);
    }
    let mut restored = Engine::decode_snapshot(&first.encode_snapshot()).unwrap();
    for (c, expected) in script[6..].iter().zip(&outcomes[6..]) {
        assert_eq!(&restored.apply(c), expected, "{c:?}");
    }
    assert_eq!(restored.state_hash(), whole.state_hash());
    assert!(outcomes.iter().filter(|o| matches!(o, Outcome::Applied { .. })).count() >= 9, "{outcomes:?}");
    restored.check_invariants().unwrap();
}

#[test]
fn defect_one_client_freezes_a_market_by_filling_its_book_with_dust() {
    // Before: one owner with 8 sub-accounts filled all 500 slots with one-lot bids at 0.01 USDC/ETH
    // (0.0065 USDC held in all) and every other client's resting order was refused. Now an order's
    // quote amount is at least min_notional (10 USDC), a resting order lies within the band on both
    // sides, and the open-order limit holds for an owner's sub-accounts together.
    let mut e = market_engine_from(config());
    applied(e.apply(&op(20, Command::RegisterPrincipal { name: "mallory".into(), role: Role::Owner })));
    let per_owner = e.config().markets[0].open_orders_per_account_max as u64;
    let refused_reason = |outcome: Outcome| match outcome {
        Outcome::Rejected { error, .. } => error.to_string(),
        other => panic!("expected a rejection, got {other:?}"),
    };
    applied(e.apply(&as_("mallory", 1, create("mallory", "s0"))));
    applied(e.apply(&op(21, deposit("mallory/s0", "USDC", "100000", USDC_ETH, "0xm0"))));
    let dust = refused_reason(e.apply(&as_("mallory", 2, order("mallory/s0", 1, Buy, Limit, Some("0.01"), "0.001"))));
    assert!(dust.contains("min_notional"), "{dust}");
    let far = refused_reason(e.apply(&as_("mallory", 3, order("mallory/s0", 1, Buy, Limit, Some("10"), "1"))));
    assert!(far.contains("outside the band"), "{far}");
    // Within the rules, the owner's sub-accounts together stop at the per-account limit.
    let (mut id, mut placed) = (100, 0);
    for a in 0..=per_owner / 32 {
        let account = format!("mallory/t{a}");
        id += 1;
        applied(e.apply(&as_("mallory", id, create("mallory", &format!("t{a}")))));
        applied(e.apply(&op(30 + a, deposit(&account, "USDC", "20000", USDC_ETH, &format!("0xt{a}")))));
        for _ in 0..32 {
            id += 1;
            placed += 1;
            let outcome = e.apply(&as_("mallory", id, order(&account, id, Buy, Limit, Some("2900"), "0.004")));
            if placed <= per_owner {
                applied(outcome);
            } else {
                assert!(matches!(outcome, Outcome::Rejected { error: EngineError::LimitExceeded { .. }, .. }), "{outcome:?}");
            }
        }
    }
    // Everyone else still trades and rests.
    applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3000"), "1"))));
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Limit, Some("2990"), "1"))));
    e.check_invariants().unwrap();
}

#[test]
fn defect_a_genesis_listing_a_custodians_assets_out_of_order_is_installed_not_a_panic() {
    // The file lists arbitrum's assets as ["USDC", "ETH", ...]: a legitimate configuration.
    let mut text = model::DEFAULT_CONFIG_TOML.to_string();
    let listed = "assets = [\"ETH\", \"USDC\", \"USDT\", \"DAI\", \"WBTC\"]";
    assert!(text.contains(listed));
    text = text.replacen(listed, "assets = [\"USDC\", \"ETH\", \"USDT\", \"DAI\", \"WBTC\"]", 1);
    let file = StateConfig::from_model(&Config::from_toml(&text).unwrap());
    let e = Engine::with_genesis(file.clone()).expect("installed");
    assert_eq!(file.diff(e.config(), &e.principals()).unwrap(), vec![]);
    // A genesis from elsewhere in another order is refused by key, never a panic.
    let mut hostile = config();
    hostile.custodians[1].assets.reverse();
    match Engine::new().apply(&genesis_envelope(hostile)) {
        Outcome::Refused { error: EngineError::ConfigRefused { key, .. } } => assert_eq!(key, "custodians.arbitrum.assets"),
        other => panic!("{other:?}"),
    }
    e.check_invariants().unwrap();
}
