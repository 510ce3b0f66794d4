//! Times a funding boundary and the sweep's drain with many holders of one perp
//! (docs/performance.md, "Settlement at scale").
//!
//! `cargo run --release -p engine --example settle [-- HOLDERS]` (default 10,000)

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::{Config, Role};
use std::time::Instant;

const T0: u64 = 1_767_225_600_000;

fn apply(e: &mut Engine, client: &str, id: u64, command: Command) -> Outcome {
    let outcome = e.apply(&Envelope { client: client.into(), id, command });
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    outcome
}

fn place(account: &str, side: OrderSide, qty: &str) -> Command {
    let (market, client_order_id, kind, price) = ("ETH-PERP".into(), 1, OrderKind::Limit, Some("3000".into()));
    Command::PlaceOrder { account: account.into(), market, client_order_id, side, kind, price, qty: qty.into() }
}

fn deposit(account: &str, amount: &str, r: u32) -> Command {
    let (asset, custodian) = ("USDC".into(), "ethereum".into());
    Command::Deposit { account: account.into(), asset, amount: amount.into(), custodian, external_ref: format!("0xref-{r}") }
}

fn bytes(outcome: &Outcome) -> usize {
    serde_json::to_vec(outcome).map(|v| v.len()).unwrap_or(0)
}

fn main() {
    let holders: u32 = std::env::args().nth(1).map_or(10_000, |a| a.parse().expect("HOLDERS is a number"));
    let mut config = StateConfig::from_model(&Config::default_config());
    config.markets.retain(|m| m.kind == model::MarketKind::Spot || m.id == "ETH-PERP");
    config.markets.iter_mut().filter(|m| m.id == "ETH-PERP").for_each(|m| m.positions_max = Some(holders + 2));
    let mut e = Engine::with_genesis(config).expect("genesis");
    let sys = SYSTEM_PRINCIPAL;
    let mut id = 10;
    let mut next = || {
        id += 1;
        id
    };
    apply(&mut e, sys, next(), Command::RegisterPrincipal { name: "whale".into(), role: Role::Owner });
    apply(&mut e, sys, next(), Command::CreateAccount { owner: "whale".into(), sub: "main".into() });
    apply(&mut e, sys, next(), deposit("whale/main", "10000000", u32::MAX));
    apply(&mut e, sys, next(), Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
    apply(&mut e, sys, next(), Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    apply(&mut e, sys, next(), Command::AdvanceTime { now_ms: T0 });
    apply(&mut e, "whale", 1, place("whale/main", OrderSide::Sell, &format!("{}", f64::from(holders) / 100.0)));
    let setup = Instant::now();
    for i in 0..holders {
        let (owner, sub) = (format!("o{}", i / 64), format!("s{}", i % 64));
        if i % 64 == 0 {
            apply(&mut e, sys, next(), Command::RegisterPrincipal { name: owner.clone(), role: Role::Owner });
        }
        apply(&mut e, sys, next(), Command::CreateAccount { owner: owner.clone(), sub: sub.clone() });
        apply(&mut e, sys, next(), deposit(&format!("{owner}/{sub}"), "100", i));
        apply(&mut e, &owner, u64::from(i % 64) + 1, place(&format!("{owner}/{sub}"), OrderSide::Buy, "0.01"));
    }
    println!("{holders} holders opened in {:.2} s", setup.elapsed().as_secs_f64());
    apply(&mut e, sys, next(), Command::SetPrice { symbol: "ETH".into(), price_usd: "3100".into() });
    let start = Instant::now();
    let boundary = apply(&mut e, sys, next(), Command::AdvanceTime { now_ms: T0 + 8 * 3_600_000 });
    let boundary_s = start.elapsed().as_secs_f64();
    let left = e.unsettled_positions();
    println!(
        "boundary: {:.1} ms, result {} bytes, {} of {} positions settled in it",
        boundary_s * 1e3,
        bytes(&boundary),
        u64::from(holders) + 1 - left,
        holders + 1
    );
    let mut commands = 0;
    while e.unsettled_positions() > 0 {
        let before = e.unsettled_positions();
        let outcome = apply(&mut e, sys, next(), Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
        commands += 1;
        println!("  sweep command {commands}: {} settled, result {} bytes", before - e.unsettled_positions(), bytes(&outcome));
    }
    println!("boundary and full drain: {:.1} ms in {} commands", start.elapsed().as_secs_f64() * 1e3, commands + 1);
    e.check_invariants().expect("invariants");
}
