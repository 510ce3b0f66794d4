//! Margin in the loop, measured (figures in docs/performance.md):
//! 1. the pre-trade margin check of a risk-increasing order for an account of 10 positions at
//!    8,000 scenarios (goal: p99 under 20 us), and a whole `place_order` with margin on;
//! 2. one `set_price` re-marking the health of 100,000 accounts (goal: under 50 ms), for a small
//!    move (the bound proves every flag) and a large one (some accounts recomputed).
//!
//! `cargo run --release -p engine --example margin_bench [-- ACCOUNTS [small [ROUNDS]]]`

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use margin_core::{InstrumentArray, RiskModel, Scaling, Underlying};
use money::UsdPrice;
use std::time::Instant;

const SCENARIOS: u32 = 8_000;

/// A deterministic pseudo-random stream (no dependency, no clock).
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn price_of(symbol: &str) -> &'static str {
    match symbol {
        "ETH" | "stETH" | "cETH" => "3000",
        "WBTC" | "sBTC" => "60000",
        "PM-ETH-5K-2026-YES" => "0.4",
        _ => "1",
    }
}

/// Every asset linear on its own price.
fn model(engine: &Engine) -> RiskModel {
    let mut rng = Lcg(7);
    let mut assets: Vec<(String, u8)> = engine.config().assets.iter().map(|a| (a.symbol.clone(), a.decimals)).collect();
    assets.sort();
    let underlyings =
        assets.iter().map(|(s, _)| Underlying { name: s.clone(), ref_price: UsdPrice::parse(price_of(s)).unwrap() }).collect();
    let instruments = assets
        .iter()
        .enumerate()
        .map(|(i, (s, d))| {
            let micro = price_of(s).parse::<f64>().unwrap() * 1e6;
            // ETH as leveraged as the derivatives to come (a worst loss of about 1.6 times its
            // value), so that a large move does flag some of the crowd; the rest within +-30%.
            let spread = if s == "ETH" { 3.0 } else { 0.6 };
            let pnl = (0..SCENARIOS).map(|_| ((rng.unit() - 0.55) * spread * micro) as i64).collect();
            InstrumentArray { id: s.clone(), decimals: *d, scaling: Scaling::Linear { underlying: i as u16 }, pnl }
        })
        .collect();
    RiskModel {
        label: "bench".into(),
        as_of_ms: 0,
        fhs_scenarios: SCENARIOS,
        floor_weights_ppm: vec![],
        tail_ppm: 10_000,
        maintenance_ppm: 600_000,
        underlyings,
        instruments,
        charges: Default::default(),
    }
}

fn ok(outcome: Outcome) -> Vec<Event> {
    match outcome {
        Outcome::Applied { events, .. } => events,
        other => panic!("{other:?}"),
    }
}

fn setup(accounts: u32) -> (Engine, u64) {
    let mut config = StateConfig::from_model(&model::Config::default_config());
    config.settings.risk_model_max_age_ms = Some(u64::MAX / 2);
    config.limits.accounts_max = config.limits.accounts_max.max(accounts + 1);
    let mut e = Engine::with_genesis(config).unwrap();
    let mut id = 10;
    let mut op = |e: &mut Engine, command: Command| {
        id += 1;
        ok(e.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id, command }))
    };
    let symbols: Vec<String> = e.config().assets.iter().map(|a| a.symbol.clone()).collect();
    for s in &symbols {
        op(&mut e, Command::SetPrice { symbol: s.clone(), price_usd: price_of(s).into() });
    }
    let m = model(&e);
    for part in risk_model_parts(&m) {
        op(&mut e, part);
    }
    op(&mut e, Command::RegisterPrincipal { name: "trader".into(), role: model::Role::Owner });
    op(&mut e, Command::CreateAccount { owner: "trader".into(), sub: "main".into() });
    // The trader: 10 positions (the ten first assets, USDC and ETH among them).
    for (i, s) in symbols.iter().take(10).enumerate() {
        let amount = if s == "USDC" { "1000000" } else { "10" };
        op(&mut e, deposit("trader/main", s, amount, &format!("0xt{i}")));
    }
    // The crowd: USDC and ETH, the USDC spread so that a large move flags some of them.
    let mut rng = Lcg(11);
    for a in 0..accounts.saturating_sub(1) {
        let owner = format!("u{a}");
        op(&mut e, Command::CreateAccount { owner: owner.clone(), sub: "main".into() });
        let usdc = format!("{}", 200 + (rng.unit() * 4000.0) as u64);
        op(&mut e, deposit(&format!("{owner}/main"), "USDC", &usdc, &format!("0xu{a}")));
        op(&mut e, deposit(&format!("{owner}/main"), "ETH", "1", &format!("0xe{a}")));
    }
    (e, id)
}

fn deposit(account: &str, asset: &str, amount: &str, reference: &str) -> Command {
    Command::Deposit {
        account: account.into(),
        asset: asset.into(),
        amount: amount.into(),
        custodian: "ethereum".into(),
        external_ref: reference.into(),
    }
}

fn percentiles(mut ns: Vec<u128>) -> String {
    ns.sort();
    let p = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    format!("p50 {:.1} us, p99 {:.1} us, max {:.1} us ({} samples)", p(0.5), p(0.99), p(1.0), ns.len())
}

fn main() {
    let accounts: u32 = std::env::args().nth(1).map_or(100_000, |a| a.parse().expect("ACCOUNTS"));
    let t = Instant::now();
    let (mut e, mut id) = setup(accounts);
    println!("setup: {accounts} accounts in {:.1} s", t.elapsed().as_secs_f64());

    // 1. Pre-trade check (what-if) and whole place_order + cancel.
    println!("trader: {:?}", e.account_margin("trader/main"));
    for (label, mode) in [("bound first", PreTrade::BoundFirst), ("exact only", PreTrade::ExactOnly)] {
        let mut checks = Vec::new();
        for i in 0..20_000 {
            let qty = ["1", "1.001", "7.5", "20"][i % 4];
            let t = Instant::now();
            e.order_margin_check("trader/main", "ETH/USDC", OrderSide::Buy, "3000", qty, mode).expect("the trader has margin");
            checks.push(t.elapsed().as_nanos());
            if mode == PreTrade::ExactOnly && i == 2_000 {
                break;
            }
        }
        println!("pre-trade margin check, {label} (10 positions, {SCENARIOS} scenarios): {}", percentiles(checks));
    }
    let mut places = Vec::new();
    for i in 0..500u64 {
        let place = Command::PlaceOrder {
            account: "trader/main".into(),
            market: "ETH/USDC".into(),
            client_order_id: i,
            side: OrderSide::Buy,
            kind: OrderKind::Limit,
            price: Some("2990".into()),
            qty: "1".into(),
        };
        let t = Instant::now();
        let events = ok(e.apply(&Envelope { client: "trader".into(), id: 2 * i + 1, command: place }));
        places.push(t.elapsed().as_nanos());
        let Some(Event::OrderAccepted { order_id, .. }) = events.first() else { panic!("{events:?}") };
        let cancel = Command::CancelOrder { account: "trader/main".into(), market: "ETH/USDC".into(), order_id: *order_id };
        ok(e.apply(&Envelope { client: "trader".into(), id: 2 * i + 2, command: cancel }));
    }
    println!("place_order with margin (gate + health of the account): {}", percentiles(places));

    // The unit of a re-mark: one account's full computation (2 positions; the cache misses).
    let mut full = Vec::new();
    for a in 0..2_000.min(accounts.saturating_sub(1)) {
        let account = format!("u{a}/main");
        let t = Instant::now();
        e.account_margin(&account).expect("a crowd account has margin");
        full.push(t.elapsed().as_nanos());
    }
    println!("full margin computation of one account (2 positions, {SCENARIOS} scenarios): {}", percentiles(full));

    // 2. Health re-mark of every account on one price update.
    // `-- ACCOUNTS small`: the small moves only (for profiling the bound path).
    let small_only = std::env::args().nth(2).is_some_and(|a| a == "small");
    let moves = [("small moves (0.1%)", ["3003", "3000", "3003", "3000"]), ("large moves (+-25%)", ["3750", "2250", "3750", "3000"])];
    // `-- ACCOUNTS small N`: the small moves N times over (for a profile of the re-mark alone).
    let rounds: usize = std::env::args().nth(3).map_or(1, |n| n.parse().expect("ROUNDS"));
    for (label, prices) in moves.into_iter().take(if small_only { 1 } else { 2 }) {
        let rounds = if small_only { rounds } else { 1 };
        for p in prices.iter().cycle().take(4 * rounds).copied() {
            id += 1;
            let t = Instant::now();
            let events = ok(e.apply(&Envelope {
                client: SYSTEM_PRINCIPAL.into(),
                id,
                command: Command::SetPrice { symbol: "ETH".into(), price_usd: p.into() },
            }));
            let changed = events.iter().filter(|ev| matches!(ev, Event::HealthChanged { .. })).count();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let (recomputed, backlog) = (e.health_recomputed(), e.health_backlog());
            println!(
                "set_price ETH {p} ({label}): {ms:.2} ms, {recomputed} accounts recomputed, {changed} flags changed, backlog {backlog}"
            );
        }
    }
}
