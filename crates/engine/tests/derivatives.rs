//! Random sessions mixing spot and derivative trading, funding, an option expiry, borrows and
//! price moves (`docs/clearing.md`, "In the engine"):
//! - conservation per asset, no trader balance below zero, the positions of every derivative
//!   market netting to zero, after every command (`check_invariants`);
//! - the money a session moved is all accounted: client balances, fees, the house and the
//!   clearing accounts sum to what custody holds, and what the house lent is exactly what it is
//!   owed minus the interest and residues it earned;
//! - a rejected command leaves the books unchanged;
//! - ETH-PERP's open interest never exceeds its cap ([`OI_CAP`]), and orders do reach it;
//! - a replay from scratch, or from a snapshot taken midway, gives the same outcomes and hashes.

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::{Config, Role};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const OWNERS: [&str; 3] = ["alice", "bob", "carol"];
const MARKETS: [&str; 5] = ["ETH/USDC", "ETH-PERP", "BTC-PERP", "ETH-20261225-3000-C", "ETH-20261225-2500-P"];
/// 2026-12-25T08:00:00Z, the options' expiry; sessions start 12 hours before it.
const EXPIRY: u64 = 1_798_185_600_000;
const START: u64 = EXPIRY - 12 * 3_600_000;
/// ETH-PERP's open-interest cap (whole ETH): low enough for the sessions to reach it.
const OI_CAP: &str = "2.5";

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    (0..items.len()).prop_map(move |i| items[i].clone())
}

/// A price near the market's: spot and perps around the underlying, options around a premium.
fn price_for(market: &str, step: i64) -> String {
    let base: i64 = match market {
        "BTC-PERP" => 60_000,
        "ETH-20261225-3000-C" => 200,
        "ETH-20261225-2500-P" => 40,
        _ => 3_000,
    };
    (base + step * base / 100).to_string()
}

fn order() -> impl Strategy<Value = (String, Command)> {
    let side = prop_oneof![Just(OrderSide::Buy), Just(OrderSide::Sell)];
    let kind = prop_oneof![3 => Just(OrderKind::Limit), 1 => Just(OrderKind::ImmediateOrCancel), 1 => Just(OrderKind::PostOnly)];
    let qty = pick(&["0.01", "0.1", "0.5", "1", "2"]);
    (pick(&OWNERS), pick(&MARKETS), side, kind, -2i64..3, qty, 0u64..6).prop_map(|(owner, market, side, kind, step, qty, cid)| {
        let qty = if market == "BTC-PERP" { "0.01".to_string() } else { qty.to_string() };
        let command = Command::PlaceOrder {
            account: format!("{owner}/main"),
            market: market.into(),
            client_order_id: cid,
            side,
            kind,
            price: Some(price_for(market, step)),
            qty,
        };
        (owner.to_string(), command)
    })
}

fn operator(command: Command) -> (String, Command) {
    ("operator".to_string(), command)
}

fn command() -> impl Strategy<Value = (String, Command)> {
    prop_oneof![
        10 => order(),
        1 => (pick(&OWNERS), pick(&MARKETS)).prop_map(|(o, m)| (o.to_string(), Command::CancelAllOrders { account: format!("{o}/main"), market: m.into() })),
        2 => pick(&["2700", "2950", "3000", "3050", "3300", "3600"]).prop_map(|p| operator(Command::SetPrice { symbol: "ETH".into(), price_usd: p.into() })),
        1 => pick(&["55000", "60000", "66000"]).prop_map(|p| operator(Command::SetPrice { symbol: "BTC".into(), price_usd: p.into() })),
        2 => pick(&[600_000u64, 1_800_000, 3_600_000, 14_400_000]).prop_map(|step| operator(Command::AdvanceTime { now_ms: step })),
        1 => (pick(&OWNERS), pick(&["5", "100", "2000"]), 0u32..1_000_000).prop_map(|(o, a, r)| operator(Command::Deposit {
            account: format!("{o}/main"),
            asset: "USDC".into(),
            amount: a.into(),
            custodian: "ethereum".into(),
            external_ref: format!("0xtop-{r}"),
        })),
    ]
}

/// Envelopes with ids in order; an `advance_time` carries a step, turned into an absolute time.
fn envelopes() -> impl Strategy<Value = Vec<Envelope>> {
    proptest::collection::vec(command(), 1..200).prop_map(|commands| {
        let mut now = START;
        commands
            .into_iter()
            .enumerate()
            .map(|(i, (client, command))| {
                let command = match command {
                    Command::AdvanceTime { now_ms: step } => {
                        now += step;
                        Command::AdvanceTime { now_ms: now }
                    }
                    other => other,
                };
                Envelope { client, id: 1000 + i as u64, command }
            })
            .collect()
    })
}

fn genesis() -> Engine {
    let mut config = StateConfig::from_model(&Config::default_config());
    let perp = config.markets.iter_mut().find(|m| m.id == "ETH-PERP").unwrap();
    perp.open_interest_max = Some(OI_CAP.into());
    let mut engine = Engine::with_genesis(config).unwrap();
    let mut setup: Vec<Command> =
        OWNERS.iter().map(|owner| Command::RegisterPrincipal { name: owner.to_string(), role: Role::Owner }).collect();
    setup.push(Command::AdvanceTime { now_ms: START });
    for (symbol, price) in [("USDC", "1"), ("ETH", "3000"), ("BTC", "60000")] {
        setup.push(Command::SetPrice { symbol: symbol.into(), price_usd: price.into() });
    }
    // carol is thin (her perp orders hold fees only): her losses become borrows.
    for (owner, usdc) in [("alice", "20000"), ("bob", "20000"), ("carol", "100")] {
        setup.push(Command::CreateAccount { owner: owner.into(), sub: "main".into() });
        for (asset, amount) in [("ETH", "10"), ("USDC", usdc)] {
            let external_ref = format!("0xgenesis-{owner}-{asset}");
            let account = format!("{owner}/main");
            setup.push(Command::Deposit {
                account,
                asset: asset.into(),
                amount: amount.into(),
                custodian: "ethereum".into(),
                external_ref,
            });
        }
    }
    for (i, command) in setup.into_iter().enumerate() {
        let outcome = engine.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id: 10 + i as u64, command });
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    }
    engine
}

fn units(text: &str, decimals: u8) -> i128 {
    money::Amount::parse(text, money::Scale::new(decimals).unwrap()).unwrap().units()
}

/// USDC held by clients, fees, house and clearing accounts equals what custody holds (the
/// ledger's own conservation, restated from the balances a user sees), and the house's lending
/// is matched by debts: `-house = debts - earned` with what it earned never negative.
fn check_money(engine: &Engine) -> Result<(), TestCaseError> {
    let rows = engine.balances();
    let usdc: Vec<_> = rows.iter().filter(|r| r.asset == "USDC").collect();
    let sum: i128 = usdc.iter().map(|r| units(&r.posted, 6)).sum();
    prop_assert_eq!(sum, 0, "USDC does not sum to zero: {:?}", usdc);
    let house = usdc.iter().find(|r| r.account == HOUSE).map_or(0, |r| units(&r.posted, 6));
    let debts: i128 = OWNERS.iter().map(|o| engine.debt(&format!("{o}/main"), "USDC").unwrap()).sum();
    // The house lent `debts` (less the interest accrued on them, not yet paid) and earned
    // funding and expiry residues and the interest repaid: its balance is at least -debts.
    prop_assert!(house + debts >= 0, "house {house} lent more than it is owed ({debts})");
    for owner in OWNERS {
        let account = format!("{owner}/main");
        let debt = engine.debt(&account, "USDC").unwrap();
        let available =
            rows.iter().find(|r| r.account == account && r.asset == "USDC").map_or(0, |r| units(&r.posted, 6) - units(&r.reserved, 6));
        // A debt is repaid first: an account owing the house has nothing free to repay it with.
        prop_assert!(debt == 0 || available == 0, "{account} owes {debt} with {available} available");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn derivative_sessions_conserve_and_replay(commands in envelopes(), batch in 1usize..12, snapshot_at in 0usize..8) {
        let mut engine = genesis();
        let (mut outcomes, mut hashes, mut snapshot) = (Vec::new(), Vec::new(), None);
        for (b, chunk) in commands.chunks(batch).enumerate() {
            for envelope in chunk {
                let books_before = engine.books_hash();
                let outcome = engine.apply(envelope);
                if !matches!(outcome, Outcome::Applied { .. }) {
                    prop_assert_eq!(engine.books_hash(), books_before, "{:?} changed the books", outcome);
                }
                if let Err(broken) = engine.check_invariants() {
                    prop_assert!(false, "after {:?}: {}", envelope, broken);
                }
                check_money(&engine)?;
                let oi = engine.open_interest("ETH-PERP").unwrap();
                prop_assert!(oi <= units(OI_CAP, 9), "ETH-PERP open interest {} above the cap after {:?}", oi, envelope);
                outcomes.push(outcome);
            }
            hashes.push(engine.state_hash());
            if b == snapshot_at {
                snapshot = Some((b, engine.encode_snapshot()));
            }
        }
        let mut replay = genesis();
        let mut replay_outcomes = Vec::new();
        for (b, chunk) in commands.chunks(batch).enumerate() {
            for envelope in chunk {
                replay_outcomes.push(replay.apply(envelope));
            }
            prop_assert_eq!(replay.state_hash(), hashes[b]);
        }
        prop_assert_eq!(replay_outcomes, outcomes);
        if let Some((b, bytes)) = snapshot {
            let mut restored = Engine::decode_snapshot(&bytes).unwrap();
            prop_assert_eq!(restored.state_hash(), hashes[b]);
            for (k, chunk) in commands.chunks(batch).enumerate().skip(b + 1) {
                for envelope in chunk {
                    restored.apply(envelope);
                }
                prop_assert_eq!(restored.state_hash(), hashes[k]);
            }
        }
    }
}

/// The sessions above do reach what they are meant to test: fills on every kind of market,
/// funding, an expiry and a borrow (a generator that never trades would prove nothing).
#[test]
fn the_sessions_trade_fund_expire_and_borrow() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut fills, mut funding, mut expired, mut borrows) = (std::collections::BTreeSet::new(), 0, 0, 0);
    let (mut capped, mut at_cap) = (0, 0);
    for _ in 0..40 {
        let mut engine = genesis();
        for envelope in envelopes().new_tree(&mut runner).unwrap().current() {
            let outcome = engine.apply(&envelope);
            capped += usize::from(matches!(&outcome, Outcome::Rejected { error: EngineError::OpenInterestCap { .. }, .. }));
            at_cap += usize::from(engine.open_interest("ETH-PERP").unwrap() * 2 > units(OI_CAP, 9));
            let Outcome::Applied { events, .. } = outcome else { continue };
            for event in events {
                match event {
                    Event::OrderFilled { market, .. } => {
                        fills.insert(market);
                    }
                    Event::FundingPaid { .. } => funding += 1,
                    Event::OptionExpired { .. } => expired += 1,
                    Event::BorrowChanged { .. } => borrows += 1,
                    _ => {}
                }
            }
        }
    }
    assert_eq!(fills.len(), MARKETS.len(), "fills on {fills:?}");
    assert!(funding > 0 && expired > 0 && borrows > 0, "funding {funding}, expiries {expired}, borrows {borrows}");
    assert!(capped > 0 && at_cap > 0, "open-interest cap refusals {capped}, commands above half the cap {at_cap}");
}
