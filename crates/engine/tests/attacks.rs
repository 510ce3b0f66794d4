//! The broker loop attacked as a hostile liquidator, a hostile client and a hostile feed, on the
//! liquidation world of `tests/liquidation.rs` (ETH at 3000, IM 10% of the notional, MM half;
//! auctions start at 0.5% discount; penalty 0.5%, half of it to `@insurance`). Each refused
//! attack is a typed error that leaves the books' hash as it was; each accepted one keeps the
//! invariants and what it must not gain.

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::{Config, LastResort, LiquidationConfig, Role};

mod common;
use common::*;

/// alice long 3 at 3000 falls to 2805: auction 0 sells 2.25 of it; carol is a liquidator.
fn auctioned() -> World {
    let mut w = alice_long();
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    w.op(Command::RegisterLiquidator { account: "carol/main".into(), approved: true });
    assert_eq!(w.engine.liquidation_auctions().len(), 1);
    w
}

fn equity(w: &mut World, account: &str) -> i128 {
    units(&w.engine.account_margin(account).unwrap().equity_usd, 18)
}

fn rejected(outcome: Outcome) -> EngineError {
    match outcome {
        Outcome::Rejected { error, .. } | Outcome::Refused { error } => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Buying 2.25 in 2,250 one-milli-ETH bids or in one bid: the liquidator ends with no more
/// equity, the insurance fund with no less, and every penalty rounding goes up (to the fund).
/// One bid: penalty 31.55625, 15.778125 to the fund (see `a_liquidator_fills_at_the_discounted_price`).
#[test]
fn grinding_a_penalty_in_small_bids_gains_the_liquidator_nothing() {
    let mut once = auctioned();
    assert!(matches!(once.bid("carol", 0, "2.25", "2791"), Outcome::Applied { .. }));
    let mut ground = auctioned();
    for _ in 0..2_250 {
        let outcome = ground.bid("carol", 0, "0.001", "2791");
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    }
    assert!(ground.engine.liquidation_auctions().is_empty());
    assert_eq!(ground.qty("carol/main"), once.qty("carol/main"));
    // Per bid: notional 2.805, penalty ceil(0.014025, 6 dp) = 0.014025, fund ceil(0.0070125) = 0.007013.
    assert_eq!(once.balance("@insurance", "USDC"), usdc("15.778125"));
    assert_eq!(ground.balance("@insurance", "USDC"), 2_250 * usdc("0.007013"));
    assert!(equity(&mut ground, "carol/main") <= equity(&mut once, "carol/main"));
    ground.check();
}

/// A one-unit bid (10^-9 ETH, notional 0.000002805 USDC): the penalty rounds up to one micro-USDC
/// and all of it goes to the fund, none to the liquidator.
#[test]
fn a_dust_bid_pays_its_rounding_to_the_insurance_fund() {
    let mut w = auctioned();
    let before = w.balance("carol/main", "USDC");
    let Outcome::Applied { events, .. } = w.bid("carol", 0, "0.000000001", "2791") else { panic!("the bid fills") };
    let filled = events.iter().find_map(|e| match e {
        Event::AuctionFilled { penalty, insurance_share, .. } => Some((penalty.clone(), insurance_share.clone())),
        _ => None,
    });
    assert_eq!(filled, Some(("0.000001".to_string(), "0.000001".to_string())));
    assert_eq!(w.balance("@insurance", "USDC"), 1);
    assert!(w.balance("carol/main", "USDC") <= before);
    w.check();
}

/// dave (400 USDC) is long 1 at 3000; at 2805 his equity 203 is under IM 280.5 and over MM:
/// reduce-only. Buying more of alice's long through the auction adds risk: refused, nothing moves.
#[test]
fn a_reduce_only_liquidator_cannot_add_risk_by_bidding() {
    let mut w = alice_long();
    w.deposit("dave", "USDC", "400");
    w.perp("bob", OrderSide::Sell, "1");
    w.perp("dave", OrderSide::Buy, "1");
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    assert!(w.engine.health_flags().contains(&("dave/main".to_string(), Health::ReduceOnly)), "{:?}", w.engine.health_flags());
    w.op(Command::RegisterLiquidator { account: "dave/main".into(), approved: true });
    let before = w.engine.books_hash();
    let error = rejected(w.bid("dave", 0, "0.1", "2791"));
    assert!(matches!(error, EngineError::InsufficientFreeCollateral { .. } | EngineError::ReduceOnlyAccount { .. }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
}

/// A liquidator cannot bid and then take out the collateral that carried its margin: after the
/// fill its withdrawal is gated by IM like anyone's.
#[test]
fn a_liquidator_cannot_withdraw_the_margin_of_what_it_bought() {
    let mut w = alice_long();
    w.deposit("dave", "USDC", "300");
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    w.op(Command::RegisterLiquidator { account: "dave/main".into(), approved: true });
    // 1 ETH at 2790.975: IM 280.5 under 300 (+ 7.01 of penalty share).
    assert!(matches!(w.bid("dave", 0, "1", "2791"), Outcome::Applied { .. }));
    let before = w.engine.books_hash();
    let withdrawal = Command::RequestWithdrawal {
        account: "dave/main".into(),
        asset: "USDC".into(),
        amount: "100".into(),
        custodian: "ethereum".into(),
        destination: "0xdave".into(),
        withdrawal_id: "dave-w1".into(),
    };
    let error = rejected(w.send("dave", withdrawal));
    assert!(matches!(error, EngineError::InsufficientFreeCollateral { .. }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
    w.check();
}

/// A reduce-only account may close but not flip: selling 4 of a long 3 is refused.
#[test]
fn a_reduce_only_account_cannot_flip_its_position() {
    let mut w = alice_long();
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2900".into() });
    assert_eq!(w.engine.health_flags(), vec![("alice/main".to_string(), Health::ReduceOnly)]);
    w.perp("bob", OrderSide::Buy, "4");
    let before = w.engine.books_hash();
    let flip = Command::PlaceOrder {
        account: "alice/main".into(),
        market: "ETH-PERP".into(),
        client_order_id: 9_001,
        side: OrderSide::Sell,
        kind: OrderKind::ImmediateOrCancel,
        price: Some("3000".into()),
        qty: "4".into(),
    };
    let error = rejected(w.send("alice", flip));
    assert!(matches!(error, EngineError::ReduceOnlyAccount { .. }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
}

/// ETH guarded by three feeds, quorum 2, 5% per print, on the default configuration.
fn guarded_engine() -> (Engine, u64) {
    let mut config = StateConfig::from_model(&Config::default_config());
    config.oracles = vec![model::OracleDef {
        symbol: "ETH".into(),
        sources: vec!["feed-a".into(), "feed-b".into(), "feed-c".into()],
        quorum: 2,
        staleness_ms: 60_000,
        max_move_bps: 500,
        stable_growth_bps_per_hour: 1_000,
    }];
    let mut e = Engine::with_genesis(config).unwrap();
    let mut id = 10;
    let mut op = |e: &mut Engine, client: &str, command: Command| {
        id += 1;
        assert!(matches!(e.apply(&Envelope { client: client.into(), id, command }), Outcome::Applied { .. }));
    };
    op(&mut e, SYSTEM_PRINCIPAL, Command::AdvanceTime { now_ms: START });
    for feed in ["feed-a", "feed-b", "feed-c", "feed-x"] {
        op(&mut e, SYSTEM_PRINCIPAL, Command::RegisterPrincipal { name: feed.into(), role: Role::Feed });
    }
    op(&mut e, SYSTEM_PRINCIPAL, Command::RegisterPrincipal { name: "bob".into(), role: Role::Owner });
    op(&mut e, "feed-a", Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    op(&mut e, "feed-b", Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    op(&mut e, SYSTEM_PRINCIPAL, Command::AdvanceTime { now_ms: START + 1 });
    assert_eq!(e.price("ETH").unwrap().0.to_string(), "3000");
    (e, id)
}

/// Absurd prints, foreign principals and an operator on a guarded symbol: typed errors, nothing moves.
#[test]
fn absurd_and_foreign_prints_are_refused() {
    let (mut e, mut id) = guarded_engine();
    let before = e.books_hash();
    let cases = [
        ("feed-c", "0"),
        ("feed-c", "-3000"),
        ("feed-c", "1e30"),
        ("feed-c", "3000.0000000000000000001"),
        ("feed-c", "1000000000000000000000000000000"),
        ("feed-c", ""),
        ("feed-c", "NaN"),
        ("feed-c", " 3000"),
        ("feed-x", "3000"),
        (SYSTEM_PRINCIPAL, "3000"),
        ("bob", "3000"),
    ];
    for (client, price) in cases {
        id += 1;
        let command = Command::SetPrice { symbol: "ETH".into(), price_usd: price.into() };
        let outcome = e.apply(&Envelope { client: client.into(), id, command });
        assert!(matches!(outcome, Outcome::Rejected { .. } | Outcome::Refused { .. }), "{client} {price:?}: {outcome:?}");
        assert_eq!(e.books_hash(), before, "{client} {price:?} changed the books");
    }
    // A feed prints only the symbols that name it.
    id += 1;
    let usdc =
        e.apply(&Envelope { client: "feed-a".into(), id, command: Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() } });
    assert!(matches!(usdc, Outcome::Rejected { error: EngineError::PricePrintRejected { .. }, .. }), "{usdc:?}");
    assert_eq!(e.price("ETH").unwrap().0.to_string(), "3000");
}

/// One feed alone cannot move the price: three agreeing at 3000, one printing 1 or 10^12 leaves
/// the median; after the others go stale its print alone is below quorum and changes no price.
#[test]
fn one_hostile_feed_cannot_move_the_guarded_price() {
    let (mut e, mut id) = guarded_engine();
    let mut print = |e: &mut Engine, feed: &str, price: &str| {
        id += 1;
        e.apply(&Envelope { client: feed.into(), id, command: Command::SetPrice { symbol: "ETH".into(), price_usd: price.into() } })
    };
    assert!(matches!(print(&mut e, "feed-c", "3000"), Outcome::Applied { .. }));
    for (ms, price) in [(2, "1"), (3, "1000000000000"), (4, "0.000000000000000001")] {
        e.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id: 1_000 + ms, command: Command::AdvanceTime { now_ms: START + ms } });
        assert!(matches!(print(&mut e, "feed-c", price), Outcome::Applied { .. }));
        assert_eq!(e.price("ETH").unwrap().0.to_string(), "3000", "feed-c at {price}");
    }
    // a and b go stale: feed-c alone is below quorum.
    e.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id: 2_000, command: Command::AdvanceTime { now_ms: START + 120_000 } });
    let Outcome::Applied { events, .. } = print(&mut e, "feed-c", "1") else { panic!("kept as pending") };
    assert!(events.iter().any(|ev| matches!(ev, Event::PricePrintPending { fresh: 1, quorum: 2, .. })), "{events:?}");
    assert_eq!(e.price("ETH").unwrap().0.to_string(), "3000");
    e.check_invariants().unwrap();
}

/// The liquidation world with the house quoting ETH/USDC (20 bps, 5 a fill, 8 net) and hedging
/// its ETH back within 0.5 of flat on `ethereum`; dave holds 2 ETH there.
fn hedging_world() -> World {
    let mut w = World::configured(liquidation_config(LastResort::Socialise), |c| {
        let market = c.markets.iter_mut().find(|m| m.id == "ETH/USDC").unwrap();
        market.house_quote = Some(model::HouseQuote { spread_bps: 20, size_max: "5".into(), exposure_max: "8".into() });
    });
    w.deposit("bob", "USDC", "100000");
    w.deposit("dave", "ETH", "2");
    let factor = model::HedgeFactor {
        asset: "ETH".into(),
        quote: "USDC".into(),
        residual_delta_max: "0.5".into(),
        max_cost_bps: 50,
        venues: vec!["ethereum".into()],
    };
    w.op(Command::SetHedging { config: model::Hedging { expiry_ms: 60_000, outstanding_max: 4, factors: vec![factor] } });
    w
}

/// bob's market buy of 2 ETH, filled by the house: the house is left 2 ETH short.
fn bob_buys_two_eth_from_the_house() -> Command {
    Command::PlaceOrder {
        account: "bob/main".into(),
        market: "ETH/USDC".into(),
        client_order_id: 1,
        side: OrderSide::Buy,
        kind: OrderKind::Market,
        price: None,
        qty: "2".into(),
    }
}

fn executed(amount_in: &str, amount_out: &str, chain_ref: &str) -> Command {
    Command::HedgeExecuted {
        hedge_id: 1,
        venue: "ethereum".into(),
        asset_in: "USDC".into(),
        amount_in: amount_in.into(),
        asset_out: "ETH".into(),
        amount_out: amount_out.into(),
        chain_ref: chain_ref.into(),
    }
}

fn withdraw(w: &mut World, withdrawal_id: &str) {
    w.ok(
        "bob",
        Command::RequestWithdrawal {
            account: "bob/main".into(),
            asset: "USDC".into(),
            amount: "10".into(),
            custodian: "ethereum".into(),
            destination: "0xbob".into(),
            withdrawal_id: withdrawal_id.into(),
        },
    );
}

fn confirm(withdrawal_id: &str, chain_ref: &str) -> Command {
    Command::ConfirmWithdrawal { withdrawal_id: withdrawal_id.into(), chain_ref: chain_ref.into() }
}

/// One on-chain transaction settles one thing: a chain reference used to confirm a withdrawal
/// cannot also report a hedge execution, nor the reverse.
#[test]
fn a_chain_reference_is_one_transaction_across_withdrawals_and_hedges() {
    let mut w = hedging_world();
    w.ok("bob", bob_buys_two_eth_from_the_house());
    assert_eq!(w.engine.hedges().len(), 1, "the house is 2 short: one buy of 2 requested");
    withdraw(&mut w, "bob-w1");
    w.ok(SYSTEM_PRINCIPAL, confirm("bob-w1", "0xtx1"));
    let before = w.engine.books_hash();
    let error = rejected(w.send(SYSTEM_PRINCIPAL, executed("1500", "0.5", "0xtx1")));
    assert!(matches!(error, EngineError::DuplicateReference { .. }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
    // The reverse: a hedge's transaction then a withdrawal confirmed with it.
    w.ok(SYSTEM_PRINCIPAL, executed("1500", "0.5", "0xtx2"));
    withdraw(&mut w, "bob-w2");
    let before = w.engine.books_hash();
    let error = rejected(w.send(SYSTEM_PRINCIPAL, confirm("bob-w2", "0xtx2")));
    assert!(matches!(error, EngineError::DuplicateReference { .. }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
    w.check();
}

/// A cancelled hedge cannot be executed afterwards; an execution rounding the house's book
/// against it (paying a micro-USDC over the limit for 10^-18 ETH) is refused.
#[test]
fn a_cancelled_hedge_and_a_rounding_execution_are_refused() {
    let mut w = hedging_world();
    w.ok("bob", bob_buys_two_eth_from_the_house());
    let before = w.engine.books_hash();
    // 10^-18 ETH at most 3015 costs floor(3.015e-15, 6 dp) = 0: any positive payment is beyond it.
    let error = rejected(w.send(SYSTEM_PRINCIPAL, executed("0.000001", "0.000000000000000001", "0xdust")));
    assert!(matches!(error, EngineError::HedgeRefused { .. }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
    w.ok(SYSTEM_PRINCIPAL, Command::CancelHedge { hedge_id: 1 });
    let before = w.engine.books_hash();
    let error = rejected(w.send(SYSTEM_PRINCIPAL, executed("1500", "0.5", "0xlate")));
    assert!(matches!(error, EngineError::UnknownHedge { hedge_id: 1 }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
    w.check();
}

/// With two fresh sources of three, one hostile feed printing every millisecond used to step the
/// guarded price 5% a print toward the two prints' mean: 100 prints of 10^12 in 100 ms took ETH
/// from 3000 to 394,503.77. The guard now moves only to the nearest of the two middle prints
/// (`oracle` crate doc, "Median"), so one source of two moves nothing however often it prints.
#[test]
fn one_feed_printing_every_millisecond_cannot_compound_the_move_limit() {
    let (mut e, mut id) = guarded_engine();
    for ms in 2..102 {
        id += 1;
        e.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id, command: Command::AdvanceTime { now_ms: START + ms } });
        id += 1;
        let print = Command::SetPrice { symbol: "ETH".into(), price_usd: "1000000000000".into() };
        assert!(matches!(e.apply(&Envelope { client: "feed-a".into(), id, command: print }), Outcome::Applied { .. }));
    }
    // One step of 5% at most: 3150.
    let price = e.price("ETH").unwrap().0;
    assert!(price <= money::UsdPrice::parse("3150").unwrap(), "one feed moved ETH to {price}");
}

/// No penalty, so no insurance fund and no house capital from penalties: alice (long 3 at 3000,
/// 995.5 USDC) crashes to 2000 and is taken over in full; her deficit 3 x 1000 - 995.5 = 2004.5
/// falls through empty steps to the last resort, bob's short being the only holder. Every step
/// sums to the deficit, nobody is left with a debt, and the books replay to the same hash.
#[test]
fn an_empty_waterfall_reaches_the_last_resort_on_one_holder() {
    for last_resort in [LastResort::Socialise, LastResort::Adl] {
        let mut w = World::new(LiquidationConfig { penalty_bps: 0, ..liquidation_config(last_resort) });
        w.deposit("bob", "USDC", "100000");
        w.deposit("alice", "USDC", "1000");
        w.perp("bob", OrderSide::Sell, "3");
        w.perp("alice", OrderSide::Buy, "3");
        let mut events = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2000".into() });
        for minute in 1..=8 {
            events.extend(w.op(Command::AdvanceTime { now_ms: START + minute * 60_000 }));
        }
        assert!(w.engine.liquidation_auctions().is_empty(), "{last_resort:?}");
        let steps: i128 = events
            .iter()
            .filter_map(|e| match e {
                Event::WaterfallStep { amount, .. } => Some(usdc(amount)),
                _ => None,
            })
            .sum();
        assert_eq!(steps, usdc("2004.5"), "{last_resort:?}: {events:?}");
        assert_eq!(w.balance("@insurance", "USDC"), 0);
        for account in ["alice/main", "bob/main"] {
            assert_eq!(w.engine.debt(account, "USDC").unwrap(), 0, "{account}");
        }
        w.check();
    }
}

/// ETH-PERP capped at 5 of open interest: an order opening exactly to the cap passes; one lot
/// more, or a close that flips beyond it, is refused with the cap's error and changes nothing.
#[test]
fn the_open_interest_cap_holds_at_its_exact_edge() {
    let mut w = World::configured(liquidation_config(LastResort::Socialise), |c| {
        let perp = c.markets.iter_mut().find(|m| m.id == "ETH-PERP").unwrap();
        perp.open_interest_max = Some("5".into());
    });
    for owner in ["bob", "carol", "dave"] {
        w.deposit(owner, "USDC", "100000");
    }
    w.perp("bob", OrderSide::Sell, "5");
    w.perp("carol", OrderSide::Buy, "5");
    assert_eq!(w.engine.open_interest("ETH-PERP").unwrap(), 5_000_000_000);
    let before = w.engine.books_hash();
    let over = |account: &str, side: OrderSide, qty: &str| Command::PlaceOrder {
        account: format!("{account}/main"),
        market: "ETH-PERP".into(),
        client_order_id: 77,
        side,
        kind: OrderKind::Limit,
        price: Some("3000".into()),
        qty: qty.into(),
    };
    let error = rejected(w.send("dave", over("dave", OrderSide::Buy, "1")));
    assert!(matches!(error, EngineError::OpenInterestCap { .. }), "{error:?}");
    // carol closes 5 and would open 1 short: beyond the cap.
    let error = rejected(w.send("carol", over("carol", OrderSide::Sell, "6")));
    assert!(matches!(error, EngineError::OpenInterestCap { .. }), "{error:?}");
    assert_eq!(w.engine.books_hash(), before);
    // Closing passes: carol sells 1 back to bob (OI 4); dave, opening 1 within the freed room,
    // buys another of carol's (she reduces, OI stays 4).
    w.perp("carol", OrderSide::Sell, "1");
    w.perp("bob", OrderSide::Buy, "1");
    assert_eq!(w.engine.open_interest("ETH-PERP").unwrap(), 4_000_000_000);
    w.perp("carol", OrderSide::Sell, "1");
    w.perp("dave", OrderSide::Buy, "1");
    assert_eq!(w.engine.open_interest("ETH-PERP").unwrap(), 4_000_000_000);
    w.check();
}

/// alice registers a second sub-account as a liquidator and bids on her own main account's
/// auction through it (buying her own position back at the discount, the penalty paid to
/// herself): refused, nothing moved, and the auction still open for others.
#[test]
fn a_liquidator_cannot_bid_against_itself_through_another_sub_account() {
    let mut w = auctioned();
    w.op(Command::CreateAccount { owner: "alice".into(), sub: "liq".into() });
    w.op(Command::RegisterLiquidator { account: "alice/liq".into(), approved: true });
    let before = w.engine.books_hash();
    let command = Command::BidLiquidation { auction_id: 0, account: "alice/liq".into(), qty: "0.001".into(), limit_price: "2791".into() };
    let error = rejected(w.send("alice", command));
    assert!(
        matches!(&error, EngineError::OwnLiquidation { account, liquidated } if account == "alice/liq" && liquidated == "alice/main"),
        "{error:?}"
    );
    assert_eq!(w.engine.books_hash(), before);
    assert_eq!(w.engine.liquidation_auctions().len(), 1);
    assert!(matches!(w.bid("carol", 0, "2.25", "2791"), Outcome::Applied { .. }));
    w.check();
}

/// The defaulter's only counterparty closes its own position by buying the bankrupt one in
/// the auction, so nobody else holds the market when the deficit reaches the last resort.
/// alice (995.5 USDC after the fee, and 0.1 ETH deposited during the auction) long 3 at 3000 against bob's short 3; ETH 2500;
/// bob buys all 3 at 2487.5 (0.5% under the mark): alice realises 3 x -512.5 = -1,537.5 and
/// pays the penalty 37.5 (18.75 to the fund): she owes 579.5. Collateral 250, penalty 18.75,
/// fund and capital nothing, and with no holder neither socialising nor deleveraging finds
/// anyone: the house bears 310.75, as its own explicit step; no debt is left, nothing breaks.
#[test]
fn a_deficit_with_no_other_holder_in_the_market_is_the_houses_explicitly() {
    for last_resort in [LastResort::Socialise, LastResort::Adl] {
        let mut w = World::new(liquidation_config(last_resort));
        w.deposit("bob", "USDC", "100000");
        w.deposit("alice", "USDC", "1000");
        w.perp("bob", OrderSide::Sell, "3");
        w.perp("alice", OrderSide::Buy, "3");
        w.op(Command::RegisterLiquidator { account: "bob/main".into(), approved: true });
        w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2500".into() });
        // Deposited while the auction runs, so the waterfall's first step sells it.
        w.deposit("alice", "ETH", "0.1");
        let Outcome::Applied { events, .. } = w.bid("bob", 0, "3", "2500") else { panic!("bob's bid fills") };
        let steps = waterfall_steps(&events, "alice/main");
        let expected: Vec<(String, String)> = [("collateral", "250"), ("penalty", "18.75"), ("house_uncovered", "310.75")]
            .iter()
            .map(|(s, a)| (s.to_string(), a.to_string()))
            .collect();
        assert_eq!(steps, expected, "{last_resort:?}: {events:?}");
        assert!(!events.iter().any(|e| matches!(e, Event::Socialised { .. } | Event::Deleveraged { .. })));
        assert_eq!((w.qty("alice/main"), w.qty("bob/main")), (0, 0));
        assert_eq!(w.engine.debt("alice/main", "USDC").unwrap(), 0);
        w.check();
    }
}

/// Splitting a position across sub-accounts to dodge liquidation: alice holds 0.5 ETH-PERP in
/// alice/main (183.25 USDC) and 0.5 in alice/two (10,000 USDC), both bought at 3000; ETH falls to
/// 2805 and the model charges a close-out cost (0, 10, 40, 160 USD at 0, 1,000, 2,000, 4,000 USD
/// of notional). alice/main's equity: 183.25 - 0.75 fee - 0.5 x 195 = 85. Alone its 0.5 (1,402.5
/// USD) would cost 22.075 to close: IM 140.25 + 22.075 = 162.325, MM 81.1625 < 85, healthy. At
/// the owner's 1 ETH (2,805 USD: 88.3, half of it alice/main's) IM is 184.4 and MM 92.2 > 85:
/// flagged and auctioned all the same.
#[test]
fn splitting_a_position_across_sub_accounts_does_not_dodge_liquidation() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    w.deposit("bob", "USDC", "100000");
    w.deposit("alice", "USDC", "183.25");
    w.op(Command::CreateAccount { owner: "alice".into(), sub: "two".into() });
    let deposit = Command::Deposit {
        account: "alice/two".into(),
        asset: "USDC".into(),
        amount: "10000".into(),
        custodian: "ethereum".into(),
        external_ref: "0xalice-two".into(),
    };
    w.op(deposit);
    w.perp("bob", OrderSide::Sell, "1");
    w.perp("alice", OrderSide::Buy, "0.5");
    let buy = Command::PlaceOrder {
        account: "alice/two".into(),
        market: "ETH-PERP".into(),
        client_order_id: 9,
        side: OrderSide::Buy,
        kind: OrderKind::Limit,
        price: Some("3000".into()),
        qty: "0.5".into(),
    };
    w.ok("alice", buy);
    assert_eq!((w.qty("alice/main"), w.qty("alice/two")), (500_000_000, 500_000_000));
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    for part in risk_model_parts(&model_with_perp_liquidity()) {
        w.op(part);
    }
    // Any command after the install re-marks and liquidates what is flagged.
    w.op(Command::AdvanceTime { now_ms: START + 1 });
    let margin = w.engine.account_margin("alice/main").unwrap();
    assert_eq!((margin.equity_usd.as_str(), margin.initial_usd.as_str(), margin.maintenance_usd.as_str()), ("85", "184.4", "92.2"));
    assert!(w.engine.liquidation_auctions().iter().any(|a| a.account == "alice/main"), "{:?}", w.engine.health_flags());
    w.check();
}

/// A spot leg priced by one manipulated print: with a stable price over 3 prints, ETH is printed
/// 3000 three times and then pumped once to 5950. alice's unbalanced basis (1 ETH, 197 USDC,
/// short 2 ETH-PERP at 3000) is flagged at once (the short counts at the pumped price), but the
/// house buys her ETH at min(oracle, stable) = 3000, not 5950: value 3000, penalty 15 (7.5 to
/// the fund). The perp leg closes at the mark 5950 (realised -5900, penalty 59.5); her
/// 197 + 3000 - 15 - 5900 - 59.5 = -2777.5 goes to the waterfall in the same command. The
/// house (empty) pays the 3000 from its capital, below zero and reported, holding 1 ETH.
#[test]
fn a_pumped_print_does_not_price_the_spot_leg_sold_to_the_house() {
    let mut w = World::configured(liquidation_config(LastResort::Socialise), |c| c.settings.stable_price_prints = Some(3));
    w.deposit("bob", "USDC", "100000");
    w.deposit("carol", "USDC", "100000");
    w.deposit("alice", "USDC", "200");
    w.deposit("alice", "ETH", "1");
    w.perp("bob", OrderSide::Buy, "2");
    w.perp("alice", OrderSide::Sell, "2");
    for _ in 0..3 {
        w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    }
    assert_eq!(w.engine.stable_price("ETH").map(|p| p.to_string()), Some("3000".into()));
    let events = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "5950".into() });
    let sold: Vec<(String, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::TokenLegTakenOver { asset, price, value, penalty, .. } if asset == "ETH" => {
                Some((price.clone(), value.clone(), penalty.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(sold, vec![("3000".into(), "3000".into(), "15".into())], "{events:?}");
    assert_eq!((w.balance("alice/main", "ETH"), w.qty("alice/main")), (0, 0));
    assert_eq!(w.balance("@house", "ETH"), units("1", 18));
    assert!(!waterfall_steps(&events, "alice/main").is_empty(), "the deficit went to the waterfall: {events:?}");
    assert_eq!(w.engine.debt("alice/main", "USDC").unwrap(), 0);
    w.check();
}

/// An add-on dodged by splitting across sub-accounts: the add-on is the owner's, charged in full
/// to each sub-account holding risk. carol (1000 USDC) buying 1 ETH-PERP at 3000 needs IM 300
/// (10% in the hand model) against equity after 1000 - 1.502 (the fee held, 1.5, and its slack)
/// = 998.498: accepted without an add-on. With an add-on of 700 the IM is 1000 > 998.498:
/// refused. Split over carol/main and carol/b (500 USDC each), each buying 0.5: IM 150 + 700 =
/// 850 > 499.249: both refused.
#[test]
fn splitting_across_sub_accounts_does_not_dodge_an_add_on() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    w.deposit("carol", "USDC", "1000");
    let buy = |account: &str, qty: &str, id: u64| Command::PlaceOrder {
        account: account.into(),
        market: "ETH-PERP".into(),
        client_order_id: id,
        side: OrderSide::Buy,
        kind: OrderKind::Limit,
        price: Some("3000".into()),
        qty: qty.into(),
    };
    assert_eq!(w.engine.order_margin_check("carol/main", "ETH-PERP", OrderSide::Buy, "3000", "1", PreTrade::ExactOnly), Ok(()));
    w.op(Command::SetMarginAddOn { owner: "carol".into(), amount_usd: "700".into() });
    let refused = |w: &mut World, account: &str, qty: &str, id: u64| match w.send("carol", buy(account, qty, id)) {
        Outcome::Rejected { error: EngineError::InsufficientMargin { required, available, .. }, .. } => (required, available),
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(&mut w, "carol/main", "1", 1), ("1000".into(), "998.498".into()));
    w.ok("carol", Command::CreateAccount { owner: "carol".into(), sub: "b".into() });
    let transfer = Command::Transfer { from: "carol/main".into(), to: "carol/b".into(), asset: "USDC".into(), amount: "500".into() };
    w.ok("carol", transfer);
    assert_eq!(refused(&mut w, "carol/main", "0.5", 2), ("850".into(), "499.249".into()));
    assert_eq!(refused(&mut w, "carol/b", "0.5", 3), ("850".into(), "499.249".into()));
    // Removed: the same half order passes.
    w.op(Command::SetMarginAddOn { owner: "carol".into(), amount_usd: "0".into() });
    w.ok("carol", buy("carol/b", "0.5", 4));
    w.check();
}
