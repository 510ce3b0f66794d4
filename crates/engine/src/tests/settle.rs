//! Lazy settlement by per-market indices (`crate::settle`, docs/clearing.md "Settlement by
//! indices"): funding over three holders across two boundaries with a trade between, against
//! values computed by hand; ten thousand holders of one perp, whose boundary moves one index and
//! whose sweep drains in bounded results, replayed from genesis and from a snapshot mid-sweep;
//! margin equal before and after the sweep settles an account.

use super::*;
use markets::{OrderKind::*, OrderSide::*};

const PERP: &str = "ETH-PERP";
/// 2026-01-01T00:00:00Z, a funding boundary (a multiple of 8 hours).
const T0: u64 = 1_767_225_600_000;
const HOUR: u64 = 3_600_000;

fn place(account: &str, cid: u64, side: markets::OrderSide, kind: markets::OrderKind, price: &str, qty: &str) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: PERP.into(),
        client_order_id: cid,
        side,
        kind,
        price: Some(price.into()),
        qty: qty.into(),
    }
}

fn set_price(symbol: &str, usd: &str) -> Command {
    Command::SetPrice { symbol: symbol.into(), price_usd: usd.into() }
}

fn clock(now_ms: u64) -> Command {
    Command::AdvanceTime { now_ms }
}

fn amounts(events: &[Event], reason: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::FundingPaid { account, amount, .. } if reason == "funding" => Some((account.clone(), amount.clone())),
            Event::Settled { account, amount, reason: r, .. } if r == reason => Some((account.clone(), amount.clone())),
            _ => None,
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// alice long 1, bob and carol short 0.5 each at 3000. Boundary 1: mark 3120 (a bid at 3110 and
/// an ask at 3130), index 3100, premium 20 / 3100 = 0.006451612903225806; the funding index
/// rises by 3100 x that = 19.9999999999999986 per ETH: alice pays ceil(19.9999999999999986) =
/// 20, bob and carol get floor(9.9999999999999993) = 9.999999 each; marks at 3120: alice +120,
/// bob and carol -60. Between the boundaries carol buys back her 0.5 from alice at 3050 (carol
/// realises (3120 - 3050) x 0.5 = +35, alice -35). Boundary 2: mark 3020 (bob's bid 3010 and
/// ask 3030), index 3000, premium 20 / 3000 = 0.006666666666666666; the index rises by
/// 19.999999999999998: alice (0.5) pays 10, bob (-0.5) gets 9.999999, carol (flat) nothing;
/// marks at 3020 from the entries 3120: alice -50, bob +50. The clearing account keeps the
/// residues 0.000002 + 0.000001.
#[test]
fn funding_over_three_holders_across_two_boundaries_with_a_trade_between() {
    let mut e = engine();
    applied(e.apply(&op(10, Command::RegisterPrincipal { name: "carol".into(), role: Role::Owner })));
    applied(e.apply(&op(11, create("carol", "main"))));
    applied(e.apply(&op(12, deposit("bob/main", "USDC", "1000", USDC_ETH, "0xbob"))));
    applied(e.apply(&op(13, deposit("carol/main", "USDC", "1000", USDC_ETH, "0xcarol"))));
    applied(e.apply(&op(14, set_price("USDC", "1"))));
    applied(e.apply(&op(15, set_price("ETH", "3000"))));
    applied(e.apply(&op(16, clock(T0))));
    applied(e.apply(&as_("bob", 101, place("bob/main", 1, Sell, Limit, "3000", "0.5"))));
    applied(e.apply(&as_("carol", 101, place("carol/main", 1, Sell, Limit, "3000", "0.5"))));
    applied(e.apply(&as_("alice", 101, place("alice/main", 1, Buy, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 102, place("alice/main", 2, Buy, PostOnly, "3110", "0.01"))));
    applied(e.apply(&as_("bob", 102, place("bob/main", 2, Sell, PostOnly, "3130", "0.01"))));
    applied(e.apply(&op(17, set_price("ETH", "3100"))));
    let clearing_before = posted(&e, "@clearing/ETH-PERP", "USDC");
    assert_eq!(clearing_before, "0");

    let events = applied(e.apply(&op(18, clock(T0 + 8 * HOUR))));
    assert!(
        events.iter().any(|ev| matches!(ev, Event::FundingIndexMoved { rate, funding_index, .. }
        if rate == "0.006451612903225806" && funding_index == "19.9999999999999986")),
        "{events:?}"
    );
    assert_eq!(amounts(&events, "funding"), pairs(&[("alice/main", "-20"), ("bob/main", "9.999999"), ("carol/main", "9.999999")]));
    assert_eq!(amounts(&events, "mark_to_market"), pairs(&[("alice/main", "120"), ("bob/main", "-60"), ("carol/main", "-60")]));
    assert_eq!(e.unsettled_positions(), 0);

    for (who, id) in [("alice", 103), ("bob", 103)] {
        applied(e.apply(&as_(who, id, Command::CancelAllOrders { account: format!("{who}/main"), market: PERP.into() })));
    }
    applied(e.apply(&as_("alice", 104, place("alice/main", 4, Sell, Limit, "3050", "0.5"))));
    let events = applied(e.apply(&as_("carol", 104, place("carol/main", 4, Buy, Limit, "3050", "0.5"))));
    assert_eq!(amounts(&events, "fill"), pairs(&[("carol/main", "35"), ("alice/main", "-35")]));
    applied(e.apply(&as_("bob", 105, place("bob/main", 5, Buy, PostOnly, "3010", "0.01"))));
    applied(e.apply(&as_("bob", 106, place("bob/main", 6, Sell, PostOnly, "3030", "0.01"))));
    applied(e.apply(&op(19, set_price("ETH", "3000"))));

    let events = applied(e.apply(&op(20, clock(T0 + 16 * HOUR))));
    assert!(
        events.iter().any(|ev| matches!(ev, Event::FundingIndexMoved { rate, funding_index, mark, .. }
        if rate == "0.006666666666666666" && funding_index == "39.9999999999999966" && mark == "3020")),
        "{events:?}"
    );
    assert_eq!(amounts(&events, "funding"), pairs(&[("alice/main", "-10"), ("bob/main", "9.999999")]));
    assert_eq!(amounts(&events, "mark_to_market"), pairs(&[("alice/main", "-50"), ("bob/main", "50")]));
    assert_eq!(posted(&e, "@clearing/ETH-PERP", "USDC"), "0.000003");
    e.check_invariants().unwrap();
}

/// The default configuration with ETH-PERP alone among the derivatives, holding up to `holders`
/// plus the whale (and room for the whale's resting order, which the order check counts).
fn many_config(holders: u32) -> StateConfig {
    let mut c = config();
    c.markets.retain(|m| m.kind == model::MarketKind::Spot || m.id == PERP);
    c.markets.iter_mut().find(|m| m.id == PERP).unwrap().positions_max = Some(holders + 2);
    c
}

/// `holders` accounts (64 per owner) each buy 0.01 ETH-PERP at 3000 from the whale's one order.
fn many_holders(holders: u32) -> (Engine, Vec<Envelope>) {
    let mut e = Engine::with_genesis(many_config(holders)).unwrap();
    let mut log = Vec::new();
    let mut run = |e: &mut Engine, envelope: Envelope| {
        applied(e.apply(&envelope));
        log.push(envelope);
    };
    let mut id = 1;
    let mut next = || {
        id += 1;
        id
    };
    run(&mut e, op(next(), Command::RegisterPrincipal { name: "whale".into(), role: Role::Owner }));
    run(&mut e, op(next(), create("whale", "main")));
    run(&mut e, op(next(), deposit("whale/main", "USDC", "1000000", USDC_ETH, "0xwhale")));
    run(&mut e, op(next(), set_price("USDC", "1")));
    run(&mut e, op(next(), set_price("ETH", "3000")));
    run(&mut e, op(next(), clock(T0)));
    let qty = format!("{}", f64::from(holders) / 100.0);
    run(&mut e, as_("whale", 1, place("whale/main", 1, Sell, Limit, "3000", &qty)));
    for i in 0..holders {
        let owner = format!("o{}", i / 64);
        let account = format!("{owner}/s{}", i % 64);
        if i % 64 == 0 {
            run(&mut e, op(next(), Command::RegisterPrincipal { name: owner.clone(), role: Role::Owner }));
        }
        run(&mut e, op(next(), create(&owner, &format!("s{}", i % 64))));
        run(&mut e, op(next(), deposit(&account, "USDC", "100", USDC_ETH, &format!("0xd{i}"))));
        run(&mut e, as_(&owner, u64::from(i % 64) + 1, place(&account, 1, Buy, Limit, "3000", "0.01")));
    }
    run(&mut e, op(next(), set_price("ETH", "3100")));
    (e, log)
}

fn result_bytes(outcome: &Outcome) -> usize {
    serde_json::to_vec(outcome).unwrap().len()
}

/// Ten thousand holders of ETH-PERP (each long 0.01 against the whale's short of 100). The
/// boundary after ETH moved 3000 -> 3100 (the mark, no book) moves one index: its own events are
/// the same few hundred bytes as with ten holders, and the sweep after it settles what fits the
/// record; further commands drain the rest (each holder +1 USDC at the mark, the whale -10,000),
/// without any operator action. A snapshot mid-sweep restores to the same hash, and a replay
/// from genesis gives the same hash at the end.
#[test]
fn ten_thousand_holders_settle_by_index_and_the_sweep_drains_them() {
    const HOLDERS: u32 = 10_000;
    let boundary_bytes = |holders: u32| {
        let (mut e, mut log) = many_holders(holders);
        let whale = e.ledger().balance(e.account_index["whale/main"], e.asset_index["USDC"]).posted;
        let envelope = op(1_000_000, clock(T0 + 8 * HOUR));
        let outcome = e.apply(&envelope);
        log.push(envelope);
        let Outcome::Applied { events, .. } = &outcome else { panic!("{outcome:?}") };
        let own: usize = events
            .iter()
            .filter_map(|ev| match ev.clone() {
                // The sequence number's digits aside.
                Event::FundingIndexMoved { market, rate, index, mark, funding_index, .. } => {
                    Some(Event::FundingIndexMoved { seq: 0, market, rate, index, mark, funding_index })
                }
                time @ Event::TimeAdvanced { .. } => Some(time),
                _ => None,
            })
            .map(|ev| serde_json::to_vec(&ev).unwrap().len() + 1)
            .sum();
        (e, log, own, result_bytes(&outcome), whale)
    };
    let (small, _, small_own, small_total, _) = boundary_bytes(10);
    assert_eq!(small.unsettled_positions(), 0, "ten holders settle in the boundary's own result");
    let (mut e, mut log, own, total, whale) = boundary_bytes(HOLDERS);
    println!("boundary result: 10 holders {small_total} bytes ({small_own} of index events), {HOLDERS} holders {total} bytes ({own})");
    assert_eq!(own, small_own, "the boundary's own events do not depend on the holders");
    assert!(total <= limits::RECORD_BYTES_MAX, "{total}");
    let first = HOLDERS as u64 + 1 - e.unsettled_positions();
    assert!(first > 0 && e.unsettled_positions() > 0, "the sweep settled {first} in the boundary's command");

    // One holder's pending amount counts as settled: +1 USDC before the sweep reaches it.
    let last = e.account_index["o156/s15"];
    let m = e.market_index[PERP];
    assert_eq!(e.settled_view(last, m).unwrap().0, 1_000_000);
    assert_eq!(posted(&e, "o156/s15", "USDC"), "99.985");

    // A snapshot mid-sweep.
    let (bytes, hash) = (e.encode_snapshot(), e.state_hash());
    let mut commands = 0;
    while e.unsettled_positions() > 0 {
        commands += 1;
        let envelope = op(2_000_000 + commands, set_price("USDC", "1"));
        let outcome = e.apply(&envelope);
        assert!(result_bytes(&outcome) <= limits::RECORD_BYTES_MAX);
        log.push(envelope);
        assert!(commands < 100, "the sweep makes progress");
    }
    println!("the sweep settled {first} holders with the boundary and drained the rest in {commands} more commands");
    assert_eq!(posted(&e, "o156/s15", "USDC"), "100.985");
    let whale_after = e.ledger().balance(e.account_index["whale/main"], e.asset_index["USDC"]).posted;
    assert_eq!(whale - whale_after, 10_000_000_000, "the whale's short of 100 lost 10,000 at the mark");
    e.check_invariants().unwrap();

    // Mid-sweep snapshot: restored, then the same commands, to the same end.
    let mut restored = Engine::decode_snapshot(&bytes).unwrap();
    assert_eq!(restored.state_hash(), hash);
    for envelope in log.iter().filter(|env| env.id > 2_000_000 && env.client == "operator") {
        restored.apply(envelope);
    }
    assert_eq!(restored.state_hash(), e.state_hash());
    // From genesis.
    let mut replay = Engine::with_genesis(many_config(HOLDERS)).unwrap();
    for envelope in &log {
        replay.apply(envelope);
    }
    assert_eq!(replay.state_hash(), e.state_hash());
}

/// Margin counts pending amounts exactly as settled: alice long 1 and bob short 1 at 3000 with
/// a model in force; a boundary's index moves (applied here without the sweep), then the sweep
/// settles them: equity, IM and MM of both accounts are equal before and after, and so are the
/// health flags.
#[test]
fn margin_is_the_same_before_and_after_the_sweep_settles() {
    let mut c = config();
    c.settings.risk_model_max_age_ms = Some(400 * 86_400_000);
    let mut e = engine_from(c);
    applied(e.apply(&op(10, deposit("bob/main", "USDC", "100000", USDC_ETH, "0xbob"))));
    applied(e.apply(&op(11, deposit("alice/main", "USDC", "20000", USDC_ETH, "0xalice"))));
    applied(e.apply(&op(12, set_price("USDC", "1"))));
    applied(e.apply(&op(13, set_price("ETH", "3000"))));
    applied(e.apply(&op(14, clock(T0))));
    for (i, part) in risk_model_parts(&super::margin_tests_model(T0)).into_iter().enumerate() {
        applied(e.apply(&op(100 + i as u64, part)));
    }
    applied(e.apply(&as_("bob", 101, place("bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 101, place("alice/main", 1, Buy, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 102, place("alice/main", 2, Buy, PostOnly, "3110", "0.01"))));
    applied(e.apply(&as_("bob", 102, place("bob/main", 2, Sell, PostOnly, "3130", "0.01"))));
    applied(e.apply(&op(15, set_price("ETH", "3100"))));
    let m = e.market_index[PERP];
    let plan = e.plan_funding(m, T0 + 8 * HOUR).unwrap().unwrap();
    let mut events = Vec::new();
    e.apply_funding(plan, 999, &mut events);
    assert_eq!(e.unsettled_positions(), 2);
    let margins = |e: &mut Engine| {
        ["alice/main", "bob/main"].map(|a| {
            let m = e.account_margin(a).unwrap();
            (m.equity_usd, m.initial_usd, m.maintenance_usd, posted(e, a, "USDC"))
        })
    };
    let before = margins(&mut e);
    e.sweep(999, &mut events);
    assert_eq!(e.unsettled_positions(), 0);
    let after = margins(&mut e);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((&b.0, &b.1, &b.2), (&a.0, &a.1, &a.2));
        assert_ne!(b.3, a.3, "the sweep moved the balance");
    }
    // alice paid 20 of funding and got 120 at the mark: equity was already 100 higher.
    assert_eq!(amounts(&events, "funding"), pairs(&[("alice/main", "-20"), ("bob/main", "19.999999")]));
}

/// A withdrawal may not take what pending funding owes: alice (long 1) owes 20 of funding and
/// is owed 120 of mark; her loss case: with the index moved and nothing settled, a withdrawal of
/// everything posted but what she owes is refused.
#[test]
fn a_withdrawal_leaves_what_pending_settlement_owes() {
    let mut e = engine();
    applied(e.apply(&op(10, deposit("bob/main", "USDC", "1000", USDC_ETH, "0xbob"))));
    applied(e.apply(&op(12, set_price("USDC", "1"))));
    applied(e.apply(&op(13, set_price("ETH", "3000"))));
    applied(e.apply(&op(14, clock(T0))));
    applied(e.apply(&as_("bob", 101, place("bob/main", 1, Sell, Limit, "3000", "1"))));
    applied(e.apply(&as_("alice", 101, place("alice/main", 1, Buy, Limit, "3000", "1"))));
    applied(e.apply(&op(15, set_price("ETH", "2900"))));
    let m = e.market_index[PERP];
    let plan = e.plan_funding(m, T0 + 8 * HOUR).unwrap().unwrap();
    let mut events = Vec::new();
    e.apply_funding(plan, 999, &mut events);
    // alice: 998.5 posted, 100 pending at the mark 2900 (no funding: no premium).
    let alice = e.account_index["alice/main"];
    assert_eq!(e.settled_view(alice, m).unwrap().0, -100_000_000);
    let hash = e.books_hash();
    let error = rejected(e.apply(&as_("alice", 201, withdraw("alice/main", "USDC", "898.500001", USDC_ETH, "w1"))));
    assert!(matches!(&error, EngineError::InsufficientBalance { available, .. } if available == "898.5"), "{error:?}");
    assert_eq!(e.books_hash(), hash);
    applied(e.apply(&as_("alice", 202, withdraw("alice/main", "USDC", "898.5", USDC_ETH, "w2"))));
}

/// One step of a random session for [`pending_counts_as_settled_over_random_sessions`].
#[derive(Debug, Clone)]
enum Step {
    /// (buyer is alice, else bob; carol sells; quantity in 0.01; price step in %).
    Trade(bool, u8, i8),
    Price(i8),
    /// A boundary moves the indices without the sweep; margin is compared before and after it
    /// settles.
    Boundary,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (any::<bool>(), 1u8..50, -3i8..4).prop_map(|(a, q, p)| Step::Trade(a, q, p)),
        2 => (-8i8..9).prop_map(Step::Price),
        2 => Just(Step::Boundary),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]
    /// Random trades (a maker's rest crossed by a taker), price moves and boundaries with a model
    /// in force: after every step the invariants hold (conservation, positions netting to zero,
    /// pending funding and socialised charges reconciled with the clearing account); at every
    /// boundary equity, IM and MM of every account are the same with the amounts pending and
    /// after the sweep settled them, and a snapshot taken while they are pending restores to the
    /// same hash.
    #[test]
    fn pending_counts_as_settled_over_random_sessions(steps in proptest::collection::vec(step(), 1..30)) {
        let mut c = config();
        c.settings.risk_model_max_age_ms = Some(400 * 86_400_000);
        let mut e = engine_from(c);
        applied(e.apply(&op(9, Command::RegisterPrincipal { name: "carol".into(), role: Role::Owner })));
        applied(e.apply(&op(10, create("carol", "main"))));
        for (i, who) in ["alice/main", "bob/main", "carol/main"].iter().enumerate() {
            applied(e.apply(&op(11 + i as u64, deposit(who, "USDC", "1000000", USDC_ETH, &format!("0xp{i}")))));
        }
        applied(e.apply(&op(20, set_price("USDC", "1"))));
        applied(e.apply(&op(21, set_price("ETH", "3000"))));
        applied(e.apply(&op(22, clock(T0))));
        for (i, part) in risk_model_parts(&super::margin_tests_model(T0)).into_iter().enumerate() {
            applied(e.apply(&op(100 + i as u64, part)));
        }
        let m = e.market_index[PERP];
        let (mut id, mut eth, mut boundary) = (1_000u64, 3000i64, T0);
        for s in steps {
            id += 1;
            match s {
                Step::Trade(alice, q, p) => {
                    let buyer = if alice { ("alice", "alice/main") } else { ("bob", "bob/main") };
                    let price = (eth + eth * i64::from(p) / 100).to_string();
                    let qty = format!("{}", f64::from(q) / 100.0);
                    applied(e.apply(&as_("carol", id, place("carol/main", id, Sell, Limit, &price, &qty))));
                    let _ = e.apply(&as_(buyer.0, id, place(buyer.1, id, Buy, ImmediateOrCancel, &price, &qty)));
                    applied(e.apply(&as_("carol", id + 1, Command::CancelAllOrders { account: "carol/main".into(), market: PERP.into() })));
                    id += 1;
                }
                Step::Price(p) => {
                    eth = (eth + eth * i64::from(p) / 100).max(100);
                    applied(e.apply(&op(id, set_price("ETH", &eth.to_string()))));
                }
                Step::Boundary => {
                    boundary += 8 * HOUR;
                    let Some(plan) = e.plan_funding(m, boundary).unwrap() else { continue };
                    let mut events = Vec::new();
                    e.apply_funding(plan, 999, &mut events);
                    let accounts = ["alice/main", "bob/main", "carol/main"];
                    let margins = |e: &mut Engine| accounts.map(|a| e.account_margin(a).map(|m| (m.equity_usd, m.initial_usd, m.maintenance_usd)).ok());
                    let before = margins(&mut e);
                    let (bytes, hash) = (e.encode_snapshot(), e.state_hash());
                    proptest::prop_assert_eq!(Engine::decode_snapshot(&bytes).unwrap().state_hash(), hash);
                    e.sweep(999, &mut events);
                    proptest::prop_assert_eq!(e.unsettled_positions(), 0);
                    proptest::prop_assert_eq!(before, margins(&mut e));
                    applied(e.apply(&op(id, clock(boundary))));
                }
            }
            e.check_invariants().map_err(proptest::test_runner::TestCaseError::fail)?;
        }
    }
}
