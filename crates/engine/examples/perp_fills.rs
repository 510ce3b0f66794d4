//! Perp fills through the engine, in memory: 60 accounts trade ETH-PERP among themselves, each
//! fill a resting maker order and a crossing taker order (two commands), every fill moving two
//! positions, paying a fee and, on a reduce, settling realised P&L against the clearing
//! account; the state hash after every 1000 commands. Then the funding and mark-to-market of
//! the 60 positions on one `advance_time` (the market allows 64).
//!
//! `cargo run --release -p engine --example perp_fills [FILLS]` (default 100000).

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use std::time::Instant;

const ACCOUNTS: usize = 60;
const T0: u64 = 1_767_225_600_000;

fn main() {
    let fills: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut e = Engine::with_genesis(StateConfig::from_model(&model::Config::default_config())).expect("default genesis");
    let mut id = 0;
    let mut next = |client: &str, command| {
        id += 1;
        Envelope { client: client.into(), id, command }
    };
    for (symbol, price) in [("USDC", "1"), ("ETH", "3000")] {
        e.apply(&next("operator", Command::SetPrice { symbol: symbol.into(), price_usd: price.into() }));
    }
    e.apply(&next("operator", Command::AdvanceTime { now_ms: T0 }));
    for i in 0..ACCOUNTS {
        let owner = format!("t{i}");
        e.apply(&next("operator", Command::RegisterPrincipal { name: owner.clone(), role: model::Role::Owner }));
        e.apply(&next("operator", Command::CreateAccount { owner: owner.clone(), sub: "main".into() }));
        let deposit = Command::Deposit {
            account: format!("{owner}/main"),
            asset: "USDC".into(),
            amount: "10000000".into(),
            custodian: "ethereum".into(),
            external_ref: format!("0x{i}"),
        };
        e.apply(&next("operator", deposit));
    }
    let order = |account: usize, side, price: u64, cid: u64| Command::PlaceOrder {
        account: format!("t{account}/main"),
        market: "ETH-PERP".into(),
        client_order_id: cid,
        side,
        kind: OrderKind::Limit,
        price: Some(format!("{price}")),
        qty: "0.1".into(),
    };
    // Maker k sells to taker k+1 on even rounds and buys from it on odd ones: positions open,
    // grow, reduce and flip, so most fills realise P&L.
    let commands: Vec<Envelope> = (0..fills)
        .flat_map(|k| {
            let (maker, taker) = (k % ACCOUNTS, (k + 1) % ACCOUNTS);
            let price = 2990 + (k as u64 * 7) % 20;
            let (maker_side, taker_side) =
                if (k / ACCOUNTS).is_multiple_of(2) { (OrderSide::Sell, OrderSide::Buy) } else { (OrderSide::Buy, OrderSide::Sell) };
            [next(&format!("t{maker}"), order(maker, maker_side, price, 1)), next(&format!("t{taker}"), order(taker, taker_side, price, 2))]
        })
        .collect();
    let started = Instant::now();
    let mut filled = 0usize;
    for chunk in commands.chunks(1000) {
        for c in chunk {
            match e.apply(c) {
                Outcome::Applied { events, .. } => filled += events.iter().filter(|ev| matches!(ev, Event::OrderFilled { .. })).count(),
                other => panic!("{other:?}"),
            }
        }
        e.state_hash();
    }
    let elapsed = started.elapsed();
    assert_eq!(filled, fills, "every taker fills its maker");
    println!(
        "{fills} perp fills ({} commands) in {:.3} s: {:.0} fills/s, {:.0} commands/s, {:.2} us per fill",
        commands.len(),
        elapsed.as_secs_f64(),
        fills as f64 / elapsed.as_secs_f64(),
        commands.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / fills as f64
    );
    // Leave every account with a position of its own size: account k sells (k % 4 + 1) / 10 to k + 1.
    for k in 0..ACCOUNTS {
        let qty = format!("0.{}", k % 4 + 1);
        let sized = |account: usize, side, cid| match order(account, side, 3000, cid) {
            Command::PlaceOrder { account, market, client_order_id, side, kind, price, .. } => {
                Command::PlaceOrder { account, market, client_order_id, side, kind, price, qty: qty.clone() }
            }
            other => other,
        };
        let (maker, taker) = (sized(k, OrderSide::Sell, 3), sized((k + 1) % ACCOUNTS, OrderSide::Buy, 4));
        for command in [next(&format!("t{k}"), maker), next(&format!("t{}", (k + 1) % ACCOUNTS), taker)] {
            let out = e.apply(&command);
            assert!(matches!(out, Outcome::Applied { .. }), "{out:?}");
        }
    }
    e.apply(&next("operator", Command::SetPrice { symbol: "ETH".into(), price_usd: "3030".into() }));
    let started = Instant::now();
    let out = e.apply(&next("operator", Command::AdvanceTime { now_ms: T0 + 8 * 3_600_000 }));
    let elapsed = started.elapsed();
    let Outcome::Applied { events, .. } = out else { panic!("{out:?}") };
    let settled = events.iter().filter(|ev| matches!(ev, Event::Settled { .. })).count();
    println!("funding and mark-to-market of {settled} positions in {:.1} us ({} events)", elapsed.as_secs_f64() * 1e6, events.len());
    e.check_invariants().expect("invariants hold");
}
