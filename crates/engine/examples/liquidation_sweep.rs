//! Liquidation after a crash, measured (figures in docs/performance.md, "Liquidation sweep"):
//! a crowd of ACCOUNTS spot accounts (1 ETH and 1,000 to 3,000 USDC each) and PERPS accounts each
//! long 1 ETH-PERP at 3000 with 1,000 to 1,300 USDC; ETH falls 30% in one `set_price`. Figures:
//! the time of that command (every exposed account re-marked, every account below maintenance
//! flagged or in the backlog, the first liquidations started), then the commands (`advance_time`
//! by the auction's duration) until every perp account below maintenance has been liquidated by
//! the house: liquidations processed per second.
//!
//! Then the engine's snapshot is written through a SQLite journal (in a temporary directory, removed
//! after) and recovered: its size, the time to encode, write, recover and decode it, and the
//! process's peak memory (max RSS).
//!
//! `cargo run --release -p engine --example liquidation_sweep [-- ACCOUNTS PERPS SCENARIOS CRASH_TO]`
//! (defaults 100000 200 1000 2100; at most about 215 perp accounts fit the liquidation bound of one
//! journal record; 1,000,000 accounts fit the snapshot limit since snapshots are chunked)

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

    let (t, cpu) = (Instant::now(), cpu_seconds());
    let crash_to = arg(4, 2100);
    let events = b.op(Command::SetPrice { symbol: "ETH".into(), price_usd: crash_to.to_string() });
    let (crash, crash_cpu) = (t.elapsed(), cpu_seconds() - cpu);
    let flagged = events.iter().filter(|e| matches!(e, Event::HealthChanged { to: Health::Liquidation, .. })).count();
    let (mut started, mut takeovers, mut steps) = (0, 0, 0);
    count(&events, &mut started, &mut takeovers, &mut steps);
    println!(
        "set_price ETH 3000 -> {crash_to}: {:.3} s ({crash_cpu:.2} s of CPU); {flagged} flagged for liquidation in it, {} in the backlog, {started} liquidations started",
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
    // The outcome, to compare builds: the same sweep must end in the same state.
    let hash: String = b.e.state_hash().iter().map(|x| format!("{x:02x}")).collect();
    println!("state hash after the sweep: {hash}");
    snapshot_through_the_journal(&mut b.e);
    println!("peak memory (VmHWM): {}", peak_memory());
}

/// Writes the engine's snapshot through a fresh SQLite journal after one batch, recovers it, and
/// checks that the decoded engine has the same state hash.
fn snapshot_through_the_journal(e: &mut Engine) {
    use journal::{BatchIn, JournalConfig, JournalStore, RecordIn, Seq, SnapshotIn, SqliteJournal, StateHash};
    let dir = std::env::temp_dir().join(format!("liquidation-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join("journal.sqlite");
    let state_hash = StateHash(e.state_hash());
    let t = Instant::now();
    let state = e.encode_snapshot();
    let encode = t.elapsed().as_secs_f64();
    let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("journal");
    let records = [RecordIn { seq: Seq(1), command: b"{}", result: b"{}" }];
    let receipt = j.append_batch(&BatchIn { records: &records, state_hash }).expect("one batch");
    let t = Instant::now();
    let snapshot = SnapshotIn { last_seq: receipt.last_seq, batch_id: receipt.batch_id, state_hash, state: &state };
    j.write_snapshot(&snapshot).expect("snapshot written");
    let write = t.elapsed().as_secs_f64();
    drop(j);
    let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("reopen");
    let recovered = j.recover().expect("recovery").snapshot.expect("the snapshot");
    let recover = t.elapsed().as_secs_f64();
    // Decoding is two steps, timed apart: postcard into the snapshot's image, then the engine
    // rebuilt from it (indices, digests, the invariants and the state hash checked).
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let image: EngineSnapshot = postcard::from_bytes(&recovered.state).expect("decodes");
    let (parse, parse_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let mut decoded = Engine::from_snapshot(image).expect("restores");
    let (restore, restore_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let decode = parse + restore;
    println!("decode: postcard {parse:.2} s ({parse_cpu:.2} s CPU), restore {restore:.2} s ({restore_cpu:.2} s CPU)");
    assert_eq!(decoded.state_hash(), state_hash.0, "the recovered engine is the same");
    let chunks = state.len().div_ceil(JournalConfig::default().snapshot_chunk_bytes);
    println!(
        "snapshot: {} bytes ({chunks} chunks; journal file {file_bytes} bytes); encode {encode:.2} s, write {write:.2} s, recover (verify + read) {recover:.2} s, decode {decode:.2} s",
        state.len()
    );
    drop(j);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU seconds (user + system) of this process so far, from /proc/self/stat in clock ticks
/// (100 per second on Linux): a figure that a loaded machine's waiting does not inflate. 0 where
/// it cannot be read.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) closed by ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The process's peak resident memory, as the kernel reports it (Linux), or "unknown".
fn peak_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).map_or("unknown".into(), |l| l["VmHWM:".len()..].trim().to_string())
}

/// The journalled size of an applied command's result.
fn result_bytes(events: &[Event]) -> usize {
    serde_json::to_vec(&Outcome::Applied { seq: u64::MAX, events: events.to_vec() }).expect("events serialise").len()
}
