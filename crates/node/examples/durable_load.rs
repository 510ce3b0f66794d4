//! Durable throughput of the journalled engine: internal transfers among 1000 accounts,
//! group-committed in batches of several sizes to a fresh SQLite journal (WAL, synchronous=FULL).
//! Prints commands/s and the per-batch acknowledgement latency (p50/p99): a command is
//! acknowledged when its batch's transaction is durable.
//!
//! `cargo run --release -p node --example durable_load [-- TOTAL_COMMANDS]`

use engine::{Command, Envelope};
use journal::{JournalConfig, SqliteJournal};
use node::Node;
use std::time::Instant;

fn main() {
    let total: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let accounts = 1000u64;
    println!(
        "{:>10} {:>12} {:>14} {:>12} {:>12} {:>16}",
        "batch", "commands", "durable cmd/s", "p50 ack ms", "p99 ack ms", "in-memory cmd/s"
    );
    for batch in [1usize, 10, 100, 1000, 10_000] {
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
        let (mut node, _) = Node::open(node::NodeOptions::from_config(&config), Box::new(journal)).expect("open node");
        node.install(&config, false).expect("genesis");
        let mut id = 0u64;
        let mut next = |client: &str, command| {
            id += 1;
            Envelope { client: client.into(), id, command }
        };
        let mut setup = Vec::new();
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
        let mut latencies_ms = Vec::new();
        let started = Instant::now();
        for chunk in commands.chunks(batch) {
            let t0 = Instant::now();
            let acks = node.submit_batch(chunk).expect("batch");
            assert_eq!(acks.len(), chunk.len());
            latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
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
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
