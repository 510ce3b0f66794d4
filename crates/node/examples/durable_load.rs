//! Durable throughput of the journalled engine: internal transfers among 1000 accounts,
//! group-committed in batches of several sizes to a fresh SQLite journal (WAL, synchronous=FULL).
//! Prints commands/s and the per-batch acknowledgement latency (p50/p99): a command is
//! acknowledged when its batch's transaction is durable.
//!
//! `cargo run --release -p node --example durable_load [-- TOTAL_COMMANDS [SCENARIOS [BATCH...]]]`
//!
//! With `SCENARIOS`, margin is on (`risk_model_max_age_ms`) with a synthetic model of that many
//! scenarios over every asset (each linear on its own price): every transfer out passes the
//! free-collateral gate and both accounts are re-marked after it. `BATCH...`: the batch sizes
//! (default 1, 10, 100, 1000, 10000).
//!
//! With `--pipelined` (anywhere among the arguments) the node is split ([`Node::into_pipeline`]):
//! this thread applies the next batches while a commit thread makes the earlier ones durable,
//! committing every batch waiting for it (at most four) in one transaction; a batch's
//! acknowledgement still waits for its own commit.

use engine::{Command, Envelope};
use journal::{JournalConfig, SqliteJournal};
use node::Node;
use std::time::Instant;

/// The service's allocator (`crates/server`): every binary that runs the node as a service links
/// it, so the benchmark measures the node with it (docs/performance.md, "Durable transfers with
/// margin on: the applier's share").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let pipelined = std::env::args().any(|a| a == "--pipelined");
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--pipelined").collect();
    let total: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let accounts = 1000u64;
    let scenarios: Option<u32> = args.get(1).map(|s| s.parse().expect("SCENARIOS"));
    let batches: Vec<usize> = args.iter().skip(2).map(|s| s.parse().expect("BATCH")).collect();
    let batches = if batches.is_empty() { vec![1, 10, 100, 1000, 10_000] } else { batches };
    println!(
        "{:>10} {:>12} {:>14} {:>12} {:>12} {:>16}",
        "batch", "commands", "durable cmd/s", "p50 ack ms", "p99 ack ms", "in-memory cmd/s"
    );
    for batch in batches {
        let commands_here = if batch == 1 {
            total.min(5_000)
        } else if batch == 10 {
            total.min(50_000)
        } else {
            total
        };
        let dir = std::env::temp_dir().join(format!("clearhouse-durable-load-{}-{batch}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("journal.sqlite");
        let journal = SqliteJournal::open(&path, JournalConfig::default()).expect("open journal");
        let mut config = model::Config::default_config();
        config.engine.snapshot_interval_batches = u64::MAX;
        if scenarios.is_some() {
            config.engine.risk_model_max_age_ms = Some(u64::MAX / 2);
        }
        let (mut node, _) = Node::open(node::NodeOptions::from_config(&config), Box::new(journal)).expect("open node");
        node.install(&config, false).expect("genesis");
        let mut id = 0u64;
        let mut next = |client: &str, command| {
            id += 1;
            Envelope { client: client.into(), id, command }
        };
        let mut setup = Vec::new();
        if let Some(n) = scenarios {
            for a in &config.assets {
                setup.push(next("operator", Command::SetPrice { symbol: a.symbol.clone(), price_usd: "1".into() }));
            }
            for part in engine::risk_model_parts(&margin_model(&config, n)) {
                setup.push(next("operator", part));
            }
        }
        for i in 0..accounts {
            let owner = format!("t{i}");
            setup.push(next("operator", Command::RegisterPrincipal { name: owner.clone(), role: model::Role::Owner }));
            setup.push(next("operator", Command::CreateAccount { owner: owner.clone(), sub: "main".into() }));
            setup.push(next("operator", Command::CreateAccount { owner, sub: "hedge".into() }));
            setup.push(next(
                "operator",
                Command::Deposit {
                    account: format!("t{i}/main"),
                    asset: "USDC".into(),
                    amount: "1000000".into(),
                    custodian: "ethereum".into(),
                    external_ref: format!("0x{i}"),
                },
            ));
        }
        for chunk in setup.chunks(1000) {
            node.submit_batch(chunk).expect("setup");
        }
        let commands: Vec<Envelope> = (0..commands_here as u64)
            .map(|k| {
                let i = k % accounts;
                let (from, to) = if (k / accounts).is_multiple_of(2) { ("main", "hedge") } else { ("hedge", "main") };
                next(
                    &format!("t{i}"),
                    Command::Transfer {
                        from: format!("t{i}/{from}"),
                        to: format!("t{i}/{to}"),
                        asset: "USDC".into(),
                        amount: "1.25".into(),
                    },
                )
            })
            .collect();
        let started = Instant::now();
        let mut latencies_ms = if pipelined { run_pipelined(node, &commands, batch) } else { run_serial(&mut node, &commands, batch) };
        let elapsed = started.elapsed().as_secs_f64();
        // Apply-only time for the same commands, to show where the time goes.
        let mut engine = engine::Engine::with_genesis(engine::StateConfig::from_model(&config)).expect("genesis");
        for c in &setup {
            engine.apply(c);
        }
        let t0 = Instant::now();
        for chunk in commands.chunks(batch) {
            for c in chunk {
                engine.apply(c);
            }
            engine.state_hash();
        }
        let apply_s = t0.elapsed().as_secs_f64();
        latencies_ms.sort_by(f64::total_cmp);
        let pct = |p: f64| latencies_ms[((latencies_ms.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "{:>10} {:>12} {:>14.0} {:>12.3} {:>12.3} {:>16.0}",
            batch,
            commands_here,
            commands_here as f64 / elapsed,
            pct(0.50),
            pct(0.99),
            commands_here as f64 / apply_s
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Each batch applied and committed before the next: per batch, the milliseconds to its acks.
fn run_serial(node: &mut Node, commands: &[Envelope], batch: usize) -> Vec<f64> {
    let mut latencies_ms = Vec::new();
    for chunk in commands.chunks(batch) {
        let t0 = Instant::now();
        let acks = node.submit_batch(chunk).expect("batch");
        assert_eq!(acks.len(), chunk.len());
        latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    latencies_ms
}

/// Batches applied while a commit thread makes the earlier ones durable: at most
/// [`QUEUED_BATCHES_MAX`] wait for it, and it commits the batches waiting, at most that many, as
/// one group ([`node::Journaller::commit_group`]: one transaction, one fsync). Per batch, the milliseconds
/// from the start of its apply to its commit.
fn run_pipelined(node: Node, commands: &[Envelope], batch: usize) -> Vec<f64> {
    let (mut applier, mut journaller) = node.into_pipeline();
    let (to_commit, staged) = std::sync::mpsc::sync_channel::<(Instant, node::Staged)>(QUEUED_BATCHES_MAX);
    let committer = std::thread::spawn(move || {
        let (mut latencies_ms, mut busy_s, mut groups) = (Vec::new(), 0.0, 0usize);
        while let Ok(first) = staged.recv() {
            let mut group = vec![first];
            group.extend(staged.try_iter().take(QUEUED_BATCHES_MAX - 1));
            let t1 = Instant::now();
            journaller.commit_group(&group.iter().map(|(_, s)| s).collect::<Vec<_>>()).expect("commit");
            busy_s += t1.elapsed().as_secs_f64();
            groups += 1;
            // Only now may the batches' acks be sent.
            for (t0, staged) in group {
                assert!(!staged.into_acks().is_empty());
                latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        (latencies_ms, busy_s, groups)
    });
    let mut apply_busy_s = 0.0;
    let batches = commands.len().div_ceil(batch);
    for chunk in commands.chunks(batch) {
        let t0 = Instant::now();
        let staged = applier.stage(chunk).expect("batch");
        apply_busy_s += t0.elapsed().as_secs_f64();
        assert_eq!(staged.acks().len(), chunk.len());
        to_commit.send((t0, staged)).expect("the commit thread runs");
    }
    drop(to_commit);
    let (latencies_ms, commit_busy_s, groups) = committer.join().expect("the commit thread ends");
    eprintln!(
        "busy per batch: applier {:.3} ms, journaller {:.3} ms ({batches} batches in {groups} commits)",
        apply_busy_s * 1e3 / batches as f64,
        commit_busy_s * 1e3 / batches as f64
    );
    latencies_ms
}

/// Staged batches that may wait for the commit thread (and be committed together).
const QUEUED_BATCHES_MAX: usize = 4;

/// Every asset linear on its own price (reference 1 USD), P&L within +-30% of its value.
fn margin_model(config: &model::Config, scenarios: u32) -> margin_core::RiskModel {
    let mut state = 7u64;
    let mut unit = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut assets: Vec<(String, u8)> = config.assets.iter().map(|a| (a.symbol.clone(), a.decimals)).collect();
    assets.sort();
    let one = money::UsdPrice::parse("1").expect("a price");
    let underlyings = assets.iter().map(|(s, _)| margin_core::Underlying { name: s.clone(), ref_price: one }).collect();
    let instruments = assets
        .iter()
        .enumerate()
        .map(|(i, (s, d))| margin_core::InstrumentArray {
            id: s.clone(),
            decimals: *d,
            scaling: margin_core::Scaling::Linear { underlying: i as u16 },
            pnl: (0..scenarios).map(|_| ((unit() - 0.5) * 0.6e6) as i64).collect(),
        })
        .collect();
    margin_core::RiskModel {
        label: "durable-load".into(),
        as_of_ms: 0,
        fhs_scenarios: scenarios,
        floor_weights_ppm: vec![],
        tail_ppm: 10_000,
        maintenance_ppm: 600_000,
        underlyings,
        instruments,
        charges: Default::default(),
    }
}
