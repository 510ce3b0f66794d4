//! Liquidation after a crash, measured (figures in docs/performance.md, "Liquidation sweep"):
//! a crowd of ACCOUNTS spot accounts (1 ETH and 1,000 to 3,000 USDC each) and PERPS accounts each
//! long 1 ETH-PERP at 3000 with 1,000 to 1,300 USDC; ETH falls 30% in one `set_price`. Figures:
//! the time of that command (every exposed account re-marked, every account below maintenance
//! flagged or in the backlog, the first liquidations started), then the commands (`advance_time`
//! by the auction's duration) until every perp account below maintenance has been liquidated by
//! the house: liquidations processed per second.
//!
//! `cargo run --release -p engine --example liquidation_sweep [-- ACCOUNTS PERPS SCENARIOS CRASH_TO]`
//! (defaults 100000 200 1000 2100; at most about 215 perp accounts fit the liquidation bound of one journal record; the engine's snapshot limit refuses a crowd much above 200,000)

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use margin_core::{InstrumentArray, RiskModel, Scaling, Underlying};
use money::UsdPrice;
use std::time::Instant;

/// A deterministic pseudo-random stream (no dependency, no clock).
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// ETH and its perp linear on ETH (scenario moves of -33% to +27%), USDC fixed.
fn model(scenarios: u32) -> RiskModel {
    let mut rng = Lcg(7);
    let pnl: Vec<i64> = (0..scenarios).map(|_| ((rng.unit() - 0.55) * 0.6 * 3000e6) as i64).collect();
    let linear =
        |id: &str, decimals: u8| InstrumentArray { id: id.into(), decimals, scaling: Scaling::Linear { underlying: 0 }, pnl: pnl.clone() };
    RiskModel {
        label: "sweep".into(),
        as_of_ms: 0,
        fhs_scenarios: scenarios,
        floor_weights_ppm: vec![],
        tail_ppm: 10_000,
        maintenance_ppm: 600_000,
        underlyings: vec![Underlying { name: "ETH".into(), ref_price: UsdPrice::parse("3000").unwrap() }],
        instruments: vec![
            linear("ETH", 18),
            linear("ETH-PERP@clearhouse", 9),
            InstrumentArray { id: "USDC".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0; scenarios as usize] },
        ],
        charges: Default::default(),
    }
}

struct Bench {
    e: Engine,
    id: u64,
}

impl Bench {
    fn apply(&mut self, client: &str, command: Command) -> Vec<Event> {
        self.id += 1;
        match self.e.apply(&Envelope { client: client.into(), id: self.id, command }) {
            Outcome::Applied { events, .. } => events,
            other => panic!("{other:?}"),
        }
    }

    fn op(&mut self, command: Command) -> Vec<Event> {
        self.apply(SYSTEM_PRINCIPAL, command)
    }

    fn account(&mut self, owner: &str, usdc: u64, eth: bool) {
        self.op(Command::RegisterPrincipal { name: owner.into(), role: model::Role::Owner });
        self.op(Command::CreateAccount { owner: owner.into(), sub: "main".into() });
        let account = format!("{owner}/main");
        for (asset, amount) in [("USDC", usdc.to_string()), ("ETH", "1".to_string())].into_iter().take(if eth { 2 } else { 1 }) {
            let external_ref = format!("0x{owner}-{asset}");
            self.op(Command::Deposit { account: account.clone(), asset: asset.into(), amount, custodian: "ethereum".into(), external_ref });
        }
    }

    fn perp(&mut self, owner: &str, side: OrderSide, qty: &str) {
        let order = Command::PlaceOrder {
            account: format!("{owner}/main"),
            market: "ETH-PERP".into(),
            client_order_id: self.id,
            side,
            kind: OrderKind::Limit,
            price: Some("3000".into()),
            qty: qty.into(),
        };
        self.apply(owner, order);
    }
}

fn setup(accounts: u32, perps: u32, scenarios: u32) -> Bench {
    let mut config = StateConfig::from_model(&model::Config::default_config());
    config.settings.risk_model_max_age_ms = Some(u64::MAX / 2);
    config.limits.accounts_max = config.limits.accounts_max.max(accounts + perps + 2);
    config.limits.principals_max = config.limits.principals_max.max(accounts + perps + 8);
    // Room for a large crowd within the journal's snapshot limit: no more assets than configured,
    // the references the deposits use, few withdrawals.
    if accounts > 100_000 {
        config.limits.assets_max = config.assets.len() as u32;
        config.limits.deposit_refs_max = u64::from(2 * (accounts + perps) + 16);
        config.limits.pending_withdrawals_max = 16;
    }
    // The only derivative market: the settlement of all its positions must fit one journal record.
    config.markets.retain(|m| m.kind == model::MarketKind::Spot || m.id == "ETH-PERP");
    let market = config.markets.iter_mut().find(|m| m.id == "ETH-PERP").expect("the default ETH-PERP");
    market.positions_max = Some(perps + 2);
    market.qty_max = "100000".into();
    config.liquidation = Some(model::LiquidationConfig {
        target_ppm: 1_000_000,
        step_ppm: 250_000,
        throttle_ppm: 1_000_000,
        start_discount_bps: 50,
        growth_bps_per_s: 10,
        cap_bps: 100,
        duration_ms: 1_000,
        penalty_bps: 50,
        insurance_ppm: 500_000,
        accounts_per_command_max: 64,
        last_resort: model::LastResort::Socialise,
        insurance_fee_ppm: None,
    });
    let mut b = Bench { e: Engine::with_genesis(config).expect("a valid configuration"), id: 10 };
    b.op(Command::AdvanceTime { now_ms: 1_000_000 });
    b.op(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
    b.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    for part in risk_model_parts(&model(scenarios)) {
        b.op(part);
    }
    let mut rng = Lcg(11);
    b.account("maker", 100_000_000, false);
    b.perp("maker", OrderSide::Sell, &perps.to_string());
    for p in 0..perps {
        let owner = format!("p{p}");
        b.account(&owner, 1_000 + (rng.unit() * 300.0) as u64, false);
        b.perp(&owner, OrderSide::Buy, "1");
    }
    for a in 0..accounts {
        b.account(&format!("u{a}"), 1_000 + (rng.unit() * 2_000.0) as u64, true);
    }
    b
}

fn count(events: &[Event], started: &mut usize, takeovers: &mut usize, steps: &mut usize) {
    for e in events {
        match e {
            Event::LiquidationStarted { .. } => *started += 1,
            Event::AuctionHouseTakeover { .. } => *takeovers += 1,
            Event::WaterfallStep { .. } => *steps += 1,
            _ => {}
        }
    }
}

fn main() {
    let arg = |i: usize, default: u32| std::env::args().nth(i).map_or(default, |a| a.parse().expect("a number"));
    let (accounts, perps, scenarios) = (arg(1, 100_000), arg(2, 200), arg(3, 1_000));
    let t = Instant::now();
    let mut b = setup(accounts, perps, scenarios);
    println!("setup: {accounts} spot + {perps} perp accounts, {scenarios} scenarios, in {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let crash_to = arg(4, 2100);
    let events = b.op(Command::SetPrice { symbol: "ETH".into(), price_usd: crash_to.to_string() });
    let crash = t.elapsed();
    let flagged = events.iter().filter(|e| matches!(e, Event::HealthChanged { to: Health::Liquidation, .. })).count();
    let (mut started, mut takeovers, mut steps) = (0, 0, 0);
    count(&events, &mut started, &mut takeovers, &mut steps);
    println!(
        "set_price ETH 3000 -> {crash_to}: {:.3} s; {flagged} flagged for liquidation in it, {} in the backlog, {started} liquidations started",
        crash.as_secs_f64(),
        b.e.health_backlog()
    );

    let t = Instant::now();
    let mut commands = 0;
    let mut largest = result_bytes(&events);
    loop {
        let busy = !b.e.liquidation_auctions().is_empty();
        let waiting = b.e.health_flags().iter().any(|(a, h)| *h == Health::Liquidation && a.starts_with('p'));
        if !busy && !waiting && b.e.health_backlog() == 0 {
            break;
        }
        let now = b.e.now_ms() + 1_000;
        let events = b.op(Command::AdvanceTime { now_ms: now });
        count(&events, &mut started, &mut takeovers, &mut steps);
        largest = largest.max(result_bytes(&events));
        commands += 1;
    }
    let sweep = t.elapsed().as_secs_f64();
    let perp_left = (0..perps).filter(|p| !b.e.positions_of(&format!("p{p}/main")).unwrap().is_empty()).count();
    println!(
        "liquidation: {started} started, {takeovers} auctions taken over by the house, {steps} waterfall steps, in {commands} commands, {sweep:.3} s: {:.0} liquidations/s ({perp_left} perp accounts keep a position)",
        takeovers as f64 / sweep.max(1e-9)
    );
    println!("largest result of those commands: {largest} bytes (journal record: {})", engine::limits::RECORD_BYTES_MAX);
    b.e.check_invariants().expect("invariants hold after the sweep");
}

/// The journalled size of an applied command's result.
fn result_bytes(events: &[Event]) -> usize {
    serde_json::to_vec(&Outcome::Applied { seq: u64::MAX, events: events.to_vec() }).expect("events serialise").len()
}
