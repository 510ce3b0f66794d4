//! Margin in the loop against a small hand-made model whose numbers can be checked by hand.
//!
//! The model: four equally likely scenarios, 75% ES (`k = ceil(4 x 0.25) = 1`: IM is the worst
//! loss), maintenance at half of IM. ETH is linear on the ETH price with a worst loss of three
//! times its value (9,000 USD per ETH at the reference 3,000: a stand-in for the leveraged
//! exposure derivatives bring, so that spot accounts can fall below IM); USDC carries no risk.
//! An account of `X` USDC and `y` ETH at price `p` has equity `X + y p`, IM `3 y p`, MM
//! `1.5 y p`: healthy iff `X >= 2 y p`, liquidation iff `X < 0.5 y p` (up to the rounding of
//! `y p / 3000` up to the nano-ETH, which hand-computed cases avoid).

use super::*;
use margin_core::{InstrumentArray, RiskModel, Scaling, Underlying};
use markets::{OrderKind::*, OrderSide::*};

const DAY_MS: u64 = 86_400_000;

fn model(as_of_ms: u64) -> RiskModel {
    RiskModel {
        label: "hand-made".into(),
        as_of_ms,
        fhs_scenarios: 4,
        floor_weights_ppm: vec![],
        tail_ppm: 250_000,
        maintenance_ppm: 500_000,
        underlyings: vec![Underlying { name: "ETH".into(), ref_price: UsdPrice::parse("3000").unwrap() }],
        instruments: vec![
            InstrumentArray {
                id: "ETH".into(),
                decimals: 18,
                scaling: Scaling::Linear { underlying: 0 },
                pnl: vec![-9_000_000_000, -600_000_000, 300_000_000, 600_000_000],
            },
            InstrumentArray { id: "USDC".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0; 4] },
        ],
        charges: Default::default(),
    }
}

fn order(account: &str, cid: u64, side: markets::OrderSide, price: &str, qty: &str) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: "ETH/USDC".into(),
        client_order_id: cid,
        side,
        kind: Limit,
        price: Some(price.into()),
        qty: qty.into(),
    }
}

fn price(symbol: &str, p: &str) -> Command {
    Command::SetPrice { symbol: symbol.into(), price_usd: p.into() }
}

fn install(e: &mut Engine, model: &RiskModel, first_id: u64) -> Vec<Event> {
    let mut events = Vec::new();
    for (i, part) in risk_model_parts(model).into_iter().enumerate() {
        events.extend(applied(e.apply(&op(first_id + i as u64, part))));
    }
    events
}

/// Margin configured (a day's model age), bob with 10,000 USDC, ETH at 3,000, the model in force.
/// alice (1,000 USDC, no ETH yet) is healthy.
fn margin_engine() -> Engine {
    let mut c = config();
    c.settings.risk_model_max_age_ms = Some(DAY_MS);
    let mut e = engine_from(c);
    applied(e.apply(&op(10, deposit("bob/main", "USDC", "10000", USDC_ETH, "0xusdc"))));
    applied(e.apply(&op(11, price("USDC", "1"))));
    applied(e.apply(&op(12, price("ETH", "3000"))));
    install(&mut e, &model(0), 100);
    e
}

fn health_events(events: &[Event]) -> Vec<(String, Health, Health, String, String, String)> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::HealthChanged { account, from, to, equity, im, mm } => {
                Some((account.clone(), *from, *to, equity.clone(), im.clone(), mm.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn an_order_breaking_initial_margin_is_refused_with_its_numbers_then_accepted_after_a_deposit() {
    let mut e = margin_engine();
    // 2 ETH at 3,000 hold 6,000 + 3 (5 bps) + 0.004 of slack; equity after the fill at the
    // oracle price 10,000 - 6,003.004 + 6,000 = 9,996.996 against IM 3 x 2 x 3,000 = 18,000.
    let buy = order("bob/main", 1, Buy, "3000", "2");
    assert_eq!(
        rejected(e.apply(&as_("bob", 1, buy.clone()))),
        EngineError::InsufficientMargin { account: "bob/main".into(), required: "18000".into(), available: "9996.996".into() }
    );
    // 8,003.004 more makes equity after exactly IM: accepted (>=).
    applied(e.apply(&op(20, deposit("bob/main", "USDC", "8003.004", USDC_ETH, "0xmore"))));
    let events = applied(e.apply(&as_("bob", 2, buy)));
    assert!(events.iter().any(|ev| matches!(ev, Event::OrderAccepted { .. })), "{events:?}");
    e.check_invariants().unwrap();
}

#[test]
fn a_risk_reducing_order_is_accepted_even_below_initial_margin() {
    let mut e = margin_engine();
    // bob: 2,000 USDC (8,000 pending withdrawal) and 1 ETH at 3,000: equity 5,000 between MM
    // 4,500 and IM 9,000: reduce-only at once.
    applied(e.apply(&as_("bob", 1, withdraw("bob/main", "USDC", "8000", USDC_ETH, "w1"))));
    let events = applied(e.apply(&op(21, deposit("bob/main", "ETH", "1", USDC_ETH, "0xeth"))));
    let changes = health_events(&events);
    assert_eq!(changes, vec![("bob/main".into(), Health::Healthy, Health::ReduceOnly, "5000".into(), "9000".into(), "4500".into())]);
    // Buying more is refused for the flag; selling the ETH reduces risk and is accepted.
    let error = rejected(e.apply(&as_("bob", 2, order("bob/main", 1, Buy, "3000", "0.1"))));
    assert_eq!(error, EngineError::ReduceOnlyAccount { account: "bob/main".into(), health: Health::ReduceOnly });
    let events = applied(e.apply(&as_("bob", 3, order("bob/main", 2, Sell, "3000", "1"))));
    // The resting sale holds the ETH: nothing at risk, the account is healthy again.
    assert_eq!(health_events(&events)[0].2, Health::Healthy);
}

#[test]
fn withdrawals_only_of_free_collateral_and_checked_again_at_confirmation() {
    let mut e = margin_engine();
    applied(e.apply(&op(21, deposit("bob/main", "ETH", "1", USDC_ETH, "0xeth"))));
    // 10,000 USDC + 1 ETH at 3,000: equity 13,000, IM 9,000, free 4,000.
    let m = e.account_margin("bob/main").unwrap();
    assert_eq!((m.equity_usd.as_str(), m.initial_usd.as_str(), m.free_collateral_usd.as_str()), ("13000", "9000", "4000"));
    assert_eq!(
        rejected(e.apply(&as_("bob", 1, withdraw("bob/main", "USDC", "4000.000001", USDC_ETH, "w1")))),
        EngineError::InsufficientFreeCollateral { account: "bob/main".into(), required: "9000".into(), available: "8999.999999".into() }
    );
    applied(e.apply(&as_("bob", 2, withdraw("bob/main", "USDC", "4000", USDC_ETH, "w2"))));
    // ETH to 3,100: equity 6,000 + 3,100 = 9,100 < IM 9,300: reduce-only, and the pending
    // withdrawal no longer passes: its confirmation is refused and it stays pending. (IM is
    // 9,300.000006: 1 ETH is 1.0333... ETH at the reference price, rounded up to the nano-ETH.)
    let events = applied(e.apply(&op(22, price("ETH", "3100"))));
    assert_eq!(health_events(&events)[0].2, Health::ReduceOnly);
    let confirm = Command::ConfirmWithdrawal { withdrawal_id: "w2".into(), chain_ref: "0xc".into() };
    assert_eq!(
        rejected(e.apply(&op(23, confirm.clone()))),
        EngineError::InsufficientFreeCollateral { account: "bob/main".into(), required: "9300.000006".into(), available: "9100".into() }
    );
    assert_eq!(e.balances().into_iter().find(|r| r.account == "bob/main" && r.asset == "USDC").unwrap().reserved, "4000");
    // Back to 3,000: it passes again.
    applied(e.apply(&op(24, price("ETH", "3000"))));
    applied(e.apply(&op(25, confirm)));
    e.check_invariants().unwrap();
}

#[test]
fn transfers_out_only_of_free_collateral() {
    let mut e = margin_engine();
    applied(e.apply(&op(21, deposit("alice/main", "ETH", "0.1", USDC_ETH, "0xeth"))));
    // alice: 1,000 USDC + 0.1 ETH at 3,000: equity 1,300, IM 900, free 400.
    let error = rejected(e.apply(&as_("alice", 11, transfer("alice/main", "alice/hedge", "400.5"))));
    assert!(matches!(error, EngineError::InsufficientFreeCollateral { .. }), "{error:?}");
    applied(e.apply(&as_("alice", 12, transfer("alice/main", "alice/hedge", "400"))));
}

/// The headroom bound (`headroom.rs`) decides the transfers far from the edge and leaves the
/// edge to the exact computation. alice: 1,000 USDC + 0.1 ETH at 3,000, equity 1,300, IM 900,
/// free 400. The first transfer out of each account is exact and leaves its anchor; then the
/// bound decides the gate and the health steps of both accounts. At the edge the exact path
/// refuses 300.000001 more with its numbers and accepts 300; an engine without the bound gives
/// the same outcomes and state hash.
#[test]
fn transfers_far_from_the_edge_are_decided_by_the_bound() {
    let run = |bound: bool| {
        let mut e = margin_engine();
        e.set_headroom_bound(bound);
        let before = e.headroom_decided();
        applied(e.apply(&op(21, deposit("alice/main", "ETH", "0.1", USDC_ETH, "0xeth"))));
        let mut outcomes = Vec::new();
        for i in 0..10u64 {
            let (from, to) = if i % 2 == 0 { ("alice/main", "alice/hedge") } else { ("alice/hedge", "alice/main") };
            outcomes.push(e.apply(&as_("alice", 100 + i, transfer(from, to, "100"))));
        }
        outcomes.push(e.apply(&as_("alice", 200, transfer("alice/main", "alice/hedge", "100"))));
        outcomes.push(e.apply(&as_("alice", 201, transfer("alice/main", "alice/hedge", "300.000001"))));
        outcomes.push(e.apply(&as_("alice", 202, transfer("alice/main", "alice/hedge", "300"))));
        (outcomes, e.state_hash(), e.headroom_decided() - before, e.account_margin("alice/main").unwrap())
    };
    let (outcomes, hash, decided, m) = run(true);
    assert!(outcomes[..11].iter().all(|o| matches!(o, Outcome::Applied { .. })), "{outcomes:?}");
    assert_eq!(
        rejected(outcomes[11].clone()),
        EngineError::InsufficientFreeCollateral { account: "alice/main".into(), required: "900".into(), available: "899.999999".into() }
    );
    assert!(matches!(outcomes[12], Outcome::Applied { .. }));
    assert_eq!((m.equity_usd.as_str(), m.initial_usd.as_str(), m.free_collateral_usd.as_str()), ("900", "900", "0"));
    // 9 of the 10 round-trip gates, and health steps of both accounts after them.
    assert!(decided >= 9 + 2 * 8, "{decided} decisions by the bound");
    let (exact_outcomes, exact_hash, exact_decided, _) = run(false);
    assert_eq!((exact_outcomes, exact_hash, exact_decided), (outcomes, hash, 0));
}

#[test]
fn health_flags_follow_the_price_hand_computed() {
    let mut e = margin_engine();
    applied(e.apply(&op(20, deposit("bob/main", "USDC", "2000", USDC_ETH, "0xmore"))));
    applied(e.apply(&op(21, deposit("bob/main", "ETH", "1", USDC_ETH, "0xeth"))));
    // X = 12,000, y = 1: healthy up to p = 6,000 (X = 2 y p), liquidation above 24,000. The
    // prices are exact multiples of the reference 3,000 in nano-units, so nothing rounds.
    assert!(health_events(&applied(e.apply(&op(22, price("ETH", "6000"))))).is_empty());
    let events = applied(e.apply(&op(23, price("ETH", "6000.003"))));
    assert_eq!(
        health_events(&events),
        vec![("bob/main".into(), Health::Healthy, Health::ReduceOnly, "18000.003".into(), "18000.009".into(), "9000.0045".into())]
    );
    assert!(health_events(&applied(e.apply(&op(24, price("ETH", "24000"))))).is_empty());
    let events = applied(e.apply(&op(25, price("ETH", "24000.003"))));
    assert_eq!(
        health_events(&events),
        vec![("bob/main".into(), Health::ReduceOnly, Health::Liquidation, "36000.003".into(), "72000.009".into(), "36000.0045".into())]
    );
    assert_eq!(e.health_flags(), vec![("bob/main".to_string(), Health::Liquidation)]);
    let events = applied(e.apply(&op(26, price("ETH", "3000"))));
    let change = &health_events(&events)[0];
    assert_eq!((change.1, change.2), (Health::Liquidation, Health::Healthy));
    assert!(e.health_flags().is_empty());
}

#[test]
fn a_stale_or_missing_model_blocks_risk_and_withdrawals() {
    let mut c = config();
    c.settings.risk_model_max_age_ms = Some(DAY_MS);
    let mut e = engine_from(c);
    applied(e.apply(&op(11, price("USDC", "1"))));
    applied(e.apply(&op(12, price("ETH", "3000"))));
    let stale = |error: EngineError| matches!(error, EngineError::RiskModelStale { .. });
    assert!(stale(rejected(e.apply(&as_("alice", 11, withdraw("alice/main", "USDC", "1", USDC_ETH, "w1"))))));
    assert!(stale(rejected(e.apply(&as_("alice", 12, order("alice/main", 1, Buy, "3000", "0.1"))))));
    install(&mut e, &model(0), 100);
    applied(e.apply(&as_("alice", 13, withdraw("alice/main", "USDC", "1", USDC_ETH, "w3"))));
    applied(e.apply(&op(13, Command::AdvanceTime { now_ms: DAY_MS + 1 })));
    assert!(stale(rejected(e.apply(&as_("alice", 14, withdraw("alice/main", "USDC", "1", USDC_ETH, "w4"))))));
    install(&mut e, &model(DAY_MS), 200);
    applied(e.apply(&as_("alice", 15, withdraw("alice/main", "USDC", "1", USDC_ETH, "w5"))));
}

#[test]
fn a_model_is_installed_in_parts_in_order_with_its_digest_checked() {
    let mut e = margin_engine();
    let m = RiskModel { label: "three parts".into(), ..model(5) };
    let bytes = postcard::to_allocvec(&m).unwrap();
    let digest = hex(&m.digest());
    let third = bytes.len().div_ceil(3);
    let part = |i: usize, digest: &str| Command::InstallRiskModelPart {
        digest: digest.into(),
        part: i as u32,
        parts: 3,
        data: hex(&bytes[i * third..((i + 1) * third).min(bytes.len())]),
    };
    let before = e.books_hash();
    // Part 1 without part 0, and a part of another digest, change nothing.
    assert!(matches!(rejected(e.apply(&op(300, part(1, &digest)))), EngineError::RiskModelRefused { .. }));
    assert_eq!(e.books_hash(), before);
    applied(e.apply(&op(301, part(0, &digest))));
    assert!(matches!(rejected(e.apply(&op(302, part(1, &"0".repeat(64))))), EngineError::RiskModelRefused { .. }));
    assert!(matches!(rejected(e.apply(&op(303, part(2, &digest)))), EngineError::RiskModelRefused { .. }));
    applied(e.apply(&op(304, part(1, &digest))));
    assert_ne!(e.books_hash(), before, "the staging is state");
    let events = applied(e.apply(&op(305, part(2, &digest))));
    assert!(events.iter().any(|ev| matches!(ev, Event::RiskModelInstalled { label, .. } if label == "three parts")));
    assert_eq!(e.risk_model_digest(), m.digest());
    // A model naming an asset the engine does not have is refused, naming it.
    let mut unknown = model(5);
    unknown.instruments.push(InstrumentArray { id: "ZZZ".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0; 4] });
    let parts = risk_model_parts(&unknown);
    assert_eq!(rejected(e.apply(&op(310, parts[0].clone()))), EngineError::RiskModelUnknownName { name: "ZZZ".into() });
    // Owners may not install models.
    assert!(matches!(refused(e.apply(&as_("alice", 9, parts[0].clone()))), EngineError::Unauthorized { .. }));
}

#[test]
fn snapshot_with_model_and_flags_restores_and_replays_identically() {
    let mut e = margin_engine();
    applied(e.apply(&op(21, deposit("bob/main", "ETH", "1", USDC_ETH, "0xeth"))));
    applied(e.apply(&op(22, price("ETH", "6000"))));
    assert_eq!(e.health_flags().len(), 1);
    let mut restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    assert_eq!(restored.state_hash(), e.state_hash());
    let tail = [
        op(23, price("ETH", "25000")),
        as_("alice", 11, order("alice/main", 1, Buy, "3000", "0.01")),
        op(24, price("ETH", "3000")),
        as_("bob", 1, withdraw("bob/main", "USDC", "3000", USDC_ETH, "w1")),
    ];
    for envelope in &tail {
        assert_eq!(e.apply(envelope), restored.apply(envelope));
        assert_eq!(e.state_hash(), restored.state_hash());
    }
    assert!(e.health_flags().is_empty());
}

#[test]
fn collateral_counts_at_the_less_favourable_of_oracle_and_stable_price() {
    let mut c = config();
    c.settings.risk_model_max_age_ms = Some(DAY_MS);
    c.settings.stable_price_prints = Some(3);
    let mut e = engine_from(c);
    applied(e.apply(&op(11, price("USDC", "1"))));
    for (i, p) in ["3000", "3000", "3000"].into_iter().enumerate() {
        applied(e.apply(&op(12 + i as u64, price("ETH", p))));
    }
    install(&mut e, &model(0), 100);
    applied(e.apply(&op(20, deposit("alice/main", "ETH", "1", USDC_ETH, "0xeth"))));
    // 1,000 USDC + 1 ETH: a print of 6,000 does not raise the collateral (median of 3,000,
    // 3,000, 6,000 is 3,000), but IM follows the oracle at once: 3 x 6,000 = 18,000.
    applied(e.apply(&op(21, price("ETH", "6000"))));
    assert_eq!(e.stable_price("ETH"), Some(UsdPrice::parse("3000").unwrap()));
    let m = e.account_margin("alice/main").unwrap();
    assert_eq!((m.equity_usd.as_str(), m.initial_usd.as_str()), ("4000", "18000"));
    // A second print makes it the median; a drop counts at once (the oracle is then lower).
    applied(e.apply(&op(22, price("ETH", "6000"))));
    assert_eq!(e.account_margin("alice/main").unwrap().equity_usd, "7000");
    applied(e.apply(&op(23, price("ETH", "1500"))));
    let m = e.account_margin("alice/main").unwrap();
    assert_eq!((m.equity_usd.as_str(), m.initial_usd.as_str()), ("2500", "4500"));
    // The history is state: a snapshot carries it.
    let restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    assert_eq!(restored.stable_price("ETH"), Some(UsdPrice::parse("6000").unwrap()));
}

/// The hand-made model with the ETH perp of the broker's own venue: the same array as ETH, per
/// whole ETH of the position (10^-9 units).
fn perp_model(as_of_ms: u64) -> RiskModel {
    let mut m = model(as_of_ms);
    let eth = m.instruments[0].pnl.clone();
    let perp = InstrumentArray { id: "ETH-PERP@clearhouse".into(), decimals: 9, scaling: Scaling::Linear { underlying: 0 }, pnl: eth };
    m.instruments.insert(1, perp);
    m
}

fn perp_order(account: &str, cid: u64, side: markets::OrderSide, price: &str, qty: &str) -> Command {
    match order(account, cid, side, price, qty) {
        Command::PlaceOrder { account, client_order_id, side, kind, price, qty, .. } => {
            Command::PlaceOrder { account, market: "ETH-PERP".into(), client_order_id, side, kind, price, qty }
        }
        _ => unreachable!("order builds a place_order"),
    }
}

#[test]
fn perp_positions_are_margined_with_their_unrealised_pnl() {
    const T0: u64 = 1_767_225_600_000;
    let mut e = margin_engine();
    applied(e.apply(&op(30, Command::AdvanceTime { now_ms: T0 })));
    install(&mut e, &perp_model(T0), 200);
    // bob rests a sale of 1 ETH-PERP at 3,000 (a short: its worst loss is 600).
    applied(e.apply(&as_("bob", 101, perp_order("bob/main", 1, Sell, "3000", "1"))));
    // alice (1,000 USDC) buying 1 would need IM 9,000; the order holds the 5 bps taker fee (1.5)
    // and 0.002 of slack, so equity after is 998.498.
    assert_eq!(
        rejected(e.apply(&as_("alice", 101, perp_order("alice/main", 1, Buy, "3000", "1")))),
        EngineError::InsufficientMargin { account: "alice/main".into(), required: "9000".into(), available: "998.498".into() }
    );
    // 0.1 needs 900: accepted and filled against bob's sale.
    let events = applied(e.apply(&as_("alice", 102, perp_order("alice/main", 2, Buy, "3000", "0.1"))));
    assert!(events.iter().any(|ev| matches!(ev, Event::PositionChanged { .. })), "{events:?}");
    let m = e.account_margin("alice/main").unwrap();
    assert_eq!((m.equity_usd.as_str(), m.initial_usd.as_str()), ("999.85", "900"));
    // ETH at 4,000: unrealised +100, equity 1,099.85; IM 0.1 x 9,000 x 4/3 = 1,200 (the nano-ETH
    // rounded up): below IM, above MM: reduce-only.
    let events = applied(e.apply(&op(31, price("ETH", "4000"))));
    let alice: Vec<_> = health_events(&events).into_iter().filter(|h| h.0 == "alice/main").collect();
    assert_eq!(alice.len(), 1, "{events:?}");
    assert_eq!((alice[0].2, alice[0].3.as_str()), (Health::ReduceOnly, "1099.85"));
    assert!(alice[0].4.starts_with("1200.00000"), "{}", alice[0].4);
    // More risk is refused for the flag; closing is a reduction and passes the gate.
    let error = rejected(e.apply(&as_("alice", 103, perp_order("alice/main", 3, Buy, "4000", "0.01"))));
    assert_eq!(error, EngineError::ReduceOnlyAccount { account: "alice/main".into(), health: Health::ReduceOnly });
    applied(e.apply(&as_("alice", 104, perp_order("alice/main", 4, Sell, "4000", "0.1"))));
    e.check_invariants().unwrap();
}

#[test]
fn a_model_may_carry_external_venue_positions_but_not_unknown_assets() {
    let mut e = margin_engine();
    let mut m = perp_model(5);
    let venue = InstrumentArray { id: "ETH-PERP@dydx".into(), decimals: 9, scaling: Scaling::Linear { underlying: 0 }, pnl: vec![0; 4] };
    m.instruments.insert(2, venue);
    install(&mut e, &m, 400);
    assert_eq!(e.risk_model_digest(), m.digest());
    let mut wrong = perp_model(6);
    wrong.instruments[1].decimals = 6;
    let parts = risk_model_parts(&wrong);
    assert!(matches!(rejected(e.apply(&op(420, parts[0].clone()))), EngineError::RiskModelRefused { .. }));
}

#[test]
fn margin_explained_matches_the_gates_and_prices_what_ifs_by_hand() {
    const T0: u64 = 1_767_225_600_000;
    let mut e = margin_engine();
    applied(e.apply(&op(30, Command::AdvanceTime { now_ms: T0 })));
    install(&mut e, &perp_model(T0), 200);
    // Nothing added: exactly the gates' numbers (bob: 10,000 USDC, no risk).
    let now = e.margin_explained("bob/main", &MarginWhatIf::default()).unwrap();
    assert_eq!(now.margin, e.account_margin("bob/main").unwrap());
    assert_eq!((now.margin.equity_usd.as_str(), now.margin.initial_usd.as_str()), ("10000", "0"));
    // Buying 1 ETH for 3,000 USDC: equity 10,000, IM 3 x 3,000, MM half of it; ETH alone is the IM.
    let spot = MarginWhatIf { assets: vec![("ETH".into(), 10i128.pow(18)), ("USDC".into(), -3_000_000_000)], derivatives: vec![] };
    let m = e.margin_explained("bob/main", &spot).unwrap();
    assert_eq!((m.margin.equity_usd.as_str(), m.margin.initial_usd.as_str(), m.margin.maintenance_usd.as_str()), ("10000", "9000", "4500"));
    assert_eq!((m.margin.free_collateral_usd.as_str(), m.margin.health), ("1000", Health::Healthy));
    let eth = m.contributions.iter().find(|c| c.instrument == "ETH").unwrap();
    assert_eq!((eth.qty.as_str(), eth.standalone_initial_usd.as_str()), ("1", "9000"));
    // A perp long of 0.1 opened at the index: no equity change, IM 0.1 x 9,000.
    let perp = MarginWhatIf { assets: vec![], derivatives: vec![("ETH-PERP".into(), 100_000_000)] };
    let m = e.margin_explained("bob/main", &perp).unwrap();
    assert_eq!((m.margin.equity_usd.as_str(), m.margin.initial_usd.as_str()), ("10000", "900"));
    // A spot market is not a derivative; a what-if changed nothing.
    let wrong = MarginWhatIf { assets: vec![], derivatives: vec![("ETH/USDC".into(), 1)] };
    assert!(matches!(e.margin_explained("bob/main", &wrong), Err(EngineError::MalformedField { .. })));
    assert_eq!(e.account_margin("bob/main").unwrap(), now.margin);
    e.check_invariants().unwrap();
}

/// The hand model with a close-out cost curve for ETH (0, 10, 40, 160 USD at 0, 1,000, 2,000,
/// 4,000 USD of notional; one ETH is 3,000 USD of notional).
fn model_with_liquidity() -> RiskModel {
    let micro = |x: i128| x * 1_000_000;
    let mut m = model(0);
    m.charges = margin_core::ChargeTables {
        liquidity_grid_musd: vec![0, micro(1000), micro(2000), micro(4000)],
        instruments: vec![
            margin_core::InstrumentCharges {
                value_musd: 3_000_000_000,
                notional_musd: 3_000_000_000,
                liquidity_cost_musd: vec![0, micro(10), micro(40), micro(160)],
                ..Default::default()
            },
            margin_core::InstrumentCharges { value_musd: 1_000_000, notional_musd: 1_000_000, ..Default::default() },
        ],
        ..Default::default()
    };
    m
}

/// An owner's book split over two sub-accounts pays the liquidity of the whole. 0.5 ETH alone
/// (1,500 USD) costs 10 + 30 x 0.5 = 25 to close; the owner's 1 ETH (3,000 USD) costs
/// 40 + 120 x 0.5 = 100, of which each half pays 50. IM = worst loss 4,500 + liquidity: 4,550
/// each in the owner (9,100 together, as one account holding 1 ETH), 4,525 each if priced alone.
/// The pre-trade gate and the withdrawal gate use the same owner-level figures.
#[test]
fn sub_accounts_pay_liquidity_at_the_owners_size() {
    let mut c = config();
    c.settings.risk_model_max_age_ms = Some(DAY_MS);
    let mut e = engine_from(c);
    applied(e.apply(&op(11, price("USDC", "1"))));
    applied(e.apply(&op(12, price("ETH", "3000"))));
    install(&mut e, &model_with_liquidity(), 100);
    applied(e.apply(&op(20, deposit("alice/main", "USDC", "9000", USDC_ETH, "0xu1"))));
    applied(e.apply(&op(21, deposit("alice/main", "ETH", "0.5", USDC_ETH, "0xe1"))));
    // alice/main alone: 4,525.
    assert_eq!(e.account_margin("alice/main").unwrap().initial_usd, "4525");
    applied(e.apply(&op(22, deposit("alice/hedge", "USDC", "10000", USDC_ETH, "0xu2"))));
    applied(e.apply(&op(23, deposit("alice/hedge", "ETH", "0.5", USDC_ETH, "0xe2"))));
    for account in ["alice/main", "alice/hedge"] {
        assert_eq!(e.account_margin(account).unwrap().initial_usd, "4550", "{account}");
    }
    // The whole book in one account: 9,000 + 100.
    applied(e.apply(&op(24, deposit("bob/main", "ETH", "1", USDC_ETH, "0xe3"))));
    applied(e.apply(&op(25, deposit("bob/main", "USDC", "20000", USDC_ETH, "0xu3"))));
    assert_eq!(e.account_margin("bob/main").unwrap().initial_usd, "9100");
    // alice/main: equity 9,000 + 1,000 + 1,500 = 11,500 - 4,550 = 6,950 free at the owner's
    // size (6,975 alone): a withdrawal of 6,960 USDC is refused with the owner-level IM.
    let withdraw = Command::RequestWithdrawal {
        account: "alice/main".into(),
        asset: "USDC".into(),
        amount: "6960".into(),
        custodian: USDC_ETH.into(),
        destination: "0xdest".into(),
        withdrawal_id: "w-split".into(),
    };
    let error = rejected(e.apply(&as_("alice", 30, withdraw)));
    assert_eq!(
        error,
        EngineError::InsufficientFreeCollateral { account: "alice/main".into(), required: "4550".into(), available: "4540".into() }
    );
    // An order: both ways of deciding agree (the bound is not used for an owner with other
    // sub-accounts holding positions: it prices the account alone).
    assert_eq!(e.order_margin_check("alice/main", "ETH/USDC", Buy, "3000", "0.1", PreTrade::ExactOnly), Ok(()));
    assert_eq!(e.order_margin_check("alice/main", "ETH/USDC", Buy, "3000", "0.1", PreTrade::BoundFirst), Ok(()));
}

/// The gate counts the account's open orders on every derivative market. The hand model with
/// ETH-PERP (the same worst loss, 9,000 USD per ETH). alice (1,000 USDC) rests a perp buy of 0.1
/// ETH at 2,900 (IM 900: accepted). A spot buy of 0.05 ETH alone would need IM 450; with the
/// perp order filled too the exposure is 0.15 ETH: IM 1,350 > equity, refused with that figure.
/// Cancelling the perp order lets the same buy through.
#[test]
fn open_derivative_orders_elsewhere_count_in_the_gate() {
    let mut m = model(0);
    let mut perp = m.instruments[0].clone();
    perp.id = "ETH-PERP@clearhouse".into();
    perp.decimals = 9;
    m.instruments.push(perp);
    m.instruments.sort_by(|a, b| a.id.cmp(&b.id));
    let mut c = config();
    c.settings.risk_model_max_age_ms = Some(DAY_MS);
    let mut e = engine_from(c);
    applied(e.apply(&op(11, price("USDC", "1"))));
    applied(e.apply(&op(12, price("ETH", "3000"))));
    install(&mut e, &m, 100);
    let perp_buy = Command::PlaceOrder {
        account: "alice/main".into(),
        market: "ETH-PERP".into(),
        client_order_id: 1,
        side: Buy,
        kind: Limit,
        price: Some("2900".into()),
        qty: "0.1".into(),
    };
    let events = applied(e.apply(&as_("alice", 10, perp_buy)));
    let Some(Event::OrderAccepted { order_id, .. }) = events.first() else { panic!("{events:?}") };
    let order_id = *order_id;
    let error = rejected(e.apply(&as_("alice", 11, order("alice/main", 2, Buy, "3000", "0.05"))));
    assert!(matches!(&error, EngineError::InsufficientMargin { required, .. } if required == "1350"), "{error:?}");
    let cancel = Command::CancelOrder { account: "alice/main".into(), market: "ETH-PERP".into(), order_id };
    applied(e.apply(&as_("alice", 12, cancel)));
    applied(e.apply(&as_("alice", 13, order("alice/main", 3, Buy, "3000", "0.05"))));
}

pub(super) fn perp_model_for(as_of_ms: u64) -> RiskModel {
    perp_model(as_of_ms)
}

fn add_on(owner: &str, amount: &str) -> Command {
    Command::SetMarginAddOn { owner: owner.into(), amount_usd: amount.into() }
}

#[test]
fn an_add_on_refuses_an_order_the_model_alone_accepts_and_removing_it_accepts_it_again() {
    let mut e = margin_engine();
    // Buying 1 ETH at 3,000 holds 3,000 + 1.5 (5 bps) + 0.002 of slack: equity after
    // 10,000 - 3,001.502 + 3,000 = 9,998.498 against IM 3 x 3,000 = 9,000: accepted.
    let buy = order("bob/main", 1, Buy, "3000", "1");
    let before = e.order_margin_check("bob/main", "ETH/USDC", Buy, "3000", "1", PreTrade::ExactOnly);
    assert_eq!(before, Ok(()));
    // An add-on of 1,000: IM 9,000 + 1,000 = 10,000 > 9,998.498.
    let events = applied(e.apply(&op(30, add_on("bob", "1000"))));
    assert!(events.contains(&Event::MarginAddOnSet { owner: "bob".into(), amount_usd: "1000".into() }), "{events:?}");
    assert_eq!(
        rejected(e.apply(&as_("bob", 1, buy.clone()))),
        EngineError::InsufficientMargin { account: "bob/main".into(), required: "10000".into(), available: "9998.498".into() }
    );
    // 998.498 makes IM after exactly equity after: accepted (>=) by the bound and the exact path.
    applied(e.apply(&op(31, add_on("bob", "998.498"))));
    for mode in [PreTrade::BoundFirst, PreTrade::ExactOnly] {
        assert_eq!(e.order_margin_check("bob/main", "ETH/USDC", Buy, "3000", "1", mode), Ok(()));
    }
    applied(e.apply(&op(32, add_on("bob", "998.498000000000000001"))));
    assert!(matches!(rejected(e.apply(&as_("bob", 2, buy.clone()))), EngineError::InsufficientMargin { .. }));
    // Removed (0): the order passes as before, and nothing is left in the state.
    let events = applied(e.apply(&op(33, add_on("bob", "0"))));
    assert!(events.contains(&Event::MarginAddOnSet { owner: "bob".into(), amount_usd: "0".into() }));
    assert!(e.margin_add_ons().is_empty());
    applied(e.apply(&as_("bob", 3, buy)));
    e.check_invariants().unwrap();
}

#[test]
fn an_add_on_gates_withdrawals_and_transfers_and_shows_in_the_explanation() {
    let mut e = margin_engine();
    applied(e.apply(&op(21, deposit("bob/main", "ETH", "1", USDC_ETH, "0xeth"))));
    applied(e.apply(&as_("bob", 1, create("bob", "b"))));
    // 10,000 USDC + 1 ETH at 3,000: equity 13,000, IM 9,000 + add-on 1,000 = 10,000, free 3,000.
    applied(e.apply(&op(30, add_on("bob", "1000"))));
    let m = e.account_margin("bob/main").unwrap();
    assert_eq!((m.equity_usd.as_str(), m.initial_usd.as_str(), m.free_collateral_usd.as_str()), ("13000", "10000", "3000"));
    assert_eq!(m.maintenance_usd, "4500", "maintenance margin carries no add-on");
    let explained = e.margin_explained("bob/main", &MarginWhatIf::default()).unwrap();
    assert_eq!((explained.margin.initial_usd.as_str(), explained.charges.add_on_usd.as_str()), ("10000", "1000"));
    // bob/b holds nothing at risk: no add-on there.
    let idle = e.margin_explained("bob/b", &MarginWhatIf::default()).unwrap();
    assert_eq!((idle.margin.initial_usd.as_str(), idle.charges.add_on_usd.as_str()), ("0", "0"));
    let required = |available: &str| EngineError::InsufficientFreeCollateral {
        account: "bob/main".into(),
        required: "10000".into(),
        available: available.into(),
    };
    assert_eq!(rejected(e.apply(&as_("bob", 2, withdraw("bob/main", "USDC", "3000.000001", USDC_ETH, "w1")))), required("9999.999999"));
    assert_eq!(rejected(e.apply(&as_("bob", 3, transfer("bob/main", "bob/b", "3000.000001")))), required("9999.999999"));
    applied(e.apply(&as_("bob", 4, transfer("bob/main", "bob/b", "3000"))));
    // At IM exactly the account is healthy; one more unit of add-on makes it reduce-only.
    let events = applied(e.apply(&op(31, add_on("bob", "1000.000001"))));
    assert_eq!(
        health_events(&events),
        vec![("bob/main".into(), Health::Healthy, Health::ReduceOnly, "10000".into(), "10000.000001".into(), "4500".into())]
    );
    e.check_invariants().unwrap();
}

#[test]
fn add_ons_are_refused_for_unknown_owners_and_out_of_range_amounts_and_change_nothing() {
    let mut e = margin_engine();
    let books = e.books_hash();
    assert_eq!(rejected(e.apply(&op(30, add_on("mallory", "10")))), EngineError::UnknownOwner { owner: "mallory".into() });
    // An operator is a principal but not an owner.
    assert_eq!(rejected(e.apply(&op(31, add_on("operator", "10")))), EngineError::UnknownOwner { owner: "operator".into() });
    let max = "1000000000000";
    let out_of_range = |amount: &str| EngineError::MarginAddOnOutOfRange { amount: amount.into(), max: max.into() };
    assert_eq!(rejected(e.apply(&op(32, add_on("bob", "-0.000000000000000001")))), out_of_range("-0.000000000000000001"));
    assert_eq!(
        rejected(e.apply(&op(33, add_on("bob", "1000000000000.000000000000000001")))),
        out_of_range("1000000000000.000000000000000001")
    );
    assert!(matches!(rejected(e.apply(&op(34, add_on("bob", "1e3")))), EngineError::MalformedAmount { .. }));
    // An owner may not set its own.
    assert!(matches!(refused(e.apply(&as_("bob", 1, add_on("bob", "0")))), EngineError::Unauthorized { .. }));
    // Rejections are journalled but change no state beyond the sequence number.
    assert_eq!(e.books_hash(), books);
    applied(e.apply(&op(35, add_on("bob", max))));
    e.check_invariants().unwrap();
}

#[test]
fn add_ons_survive_a_snapshot_and_a_replay_with_the_same_state_hash() {
    let script = |e: &mut Engine| {
        applied(e.apply(&op(21, deposit("bob/main", "ETH", "1", USDC_ETH, "0xeth"))));
        applied(e.apply(&op(30, add_on("bob", "1234.5"))));
        applied(e.apply(&op(31, add_on("alice", "7"))));
        applied(e.apply(&op(32, add_on("alice", "0"))));
        rejected(e.apply(&as_("bob", 1, withdraw("bob/main", "USDC", "2765.500001", USDC_ETH, "w1"))));
    };
    let (mut a, mut b) = (margin_engine(), margin_engine());
    let without = a.state_hash();
    script(&mut a);
    script(&mut b);
    assert_eq!(a.state_hash(), b.state_hash());
    assert_ne!(a.state_hash(), without);
    assert_eq!(a.margin_add_ons(), vec![("bob".to_string(), "1234.5".to_string())]);
    let mut restored = Engine::decode_snapshot(&a.encode_snapshot()).unwrap();
    assert_eq!(restored.state_hash(), a.state_hash());
    assert_eq!(restored.margin_add_ons(), a.margin_add_ons());
    // The restored engine gates as the original does: free 13,000 - (9,000 + 1,234.5) = 2,765.5.
    let w = as_("bob", 2, withdraw("bob/main", "USDC", "2765.5", USDC_ETH, "w2"));
    assert_eq!(restored.apply(&w), a.apply(&w));
    assert_eq!(restored.state_hash(), a.state_hash());
}

/// The step bound (`headroom.rs`, margin-core section 9 "The step bound" and "The empty
/// anchor"): ETH's step constant is 9,000 USD per ETH (its largest loss per unit), USDC's 0.
/// alice/main: 1,000 USDC + 0.1 ETH at 3,000. No exact computation has anchored either account,
/// so both are measured from the empty book (IM 0): the bound is `9,000 x ETH held + T`.
/// - 200 USDC to alice/hedge: main 900 <= 1,100 (gate and health step by the step bound); hedge
///   0 <= 200: three by the step.
/// - 0.01 ETH to hedge: main 810 <= 1,070; hedge 90 <= 230: three by the step.
/// - 0.02 ETH more: main 630 <= 1,010; hedge 270 <= 290: three by the step.
///
/// At the edge (main: equity 1,010, exact IM 630, one instrument so the bound is tight but for
/// `T`) 380.000001 USDC is refused exactly, 380 accepted exactly (630 + T exceeds 630; hedge,
/// 270 <= 670, by the step); an engine without the bound gives the same outcomes and state hash.
#[test]
fn eth_transfers_are_decided_by_the_step_bound() {
    let run = |bound: bool| {
        let mut e = margin_engine();
        e.set_headroom_bound(bound);
        let decided = e.headroom_decided();
        applied(e.apply(&op(21, deposit("alice/main", "ETH", "0.1", USDC_ETH, "0xeth"))));
        let mut outcomes = Vec::new();
        let mut stepped = Vec::new();
        let steps = [("USDC", "200"), ("ETH", "0.01"), ("ETH", "0.02"), ("USDC", "380.000001"), ("USDC", "380")];
        for (i, (asset, amount)) in steps.into_iter().enumerate() {
            let before = e.headroom_stepped();
            let transfer =
                Command::Transfer { from: "alice/main".into(), to: "alice/hedge".into(), asset: asset.into(), amount: amount.into() };
            outcomes.push(e.apply(&as_("alice", 100 + i as u64, transfer)));
            stepped.push(e.headroom_stepped() - before);
        }
        (outcomes, e.state_hash(), stepped, e.headroom_decided() - decided, e.account_margin("alice/main").unwrap())
    };
    let (outcomes, hash, stepped, decided, m) = run(true);
    assert!(outcomes[..3].iter().all(|o| matches!(o, Outcome::Applied { .. })), "{outcomes:?}");
    assert_eq!(
        rejected(outcomes[3].clone()),
        EngineError::InsufficientFreeCollateral { account: "alice/main".into(), required: "630".into(), available: "629.999999".into() }
    );
    assert!(matches!(outcomes[4], Outcome::Applied { .. }));
    assert_eq!((m.equity_usd.as_str(), m.initial_usd.as_str()), ("630", "630"));
    assert_eq!(stepped, vec![3, 3, 3, 0, 1]);
    assert!(decided >= 8, "{decided}");
    let (exact_outcomes, exact_hash, exact_stepped, exact_decided, _) = run(false);
    assert_eq!((exact_outcomes, exact_hash, exact_stepped, exact_decided), (outcomes, hash, vec![0; 5], 0));
}
