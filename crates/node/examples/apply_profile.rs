//! In-memory apply rate of the engine, split by what costs what (scratch profile).
//! `cargo run --release -p node --example apply_profile`
use engine::{Command, Engine, Envelope};
use std::time::Instant;

fn main() {
    let accounts = 1000u64;
    let mut id = 0u64;
    let mut next = |command| {
        id += 1;
        Envelope { client: "load".into(), id, command }
    };
    let mut setup = Vec::new();
    for i in 0..accounts {
        setup.push(next(Command::CreateAccount { owner: format!("t{i}"), sub: "main".into() }));
        setup.push(next(Command::CreateAccount { owner: format!("t{i}"), sub: "hedge".into() }));
        setup.push(next(Command::Deposit {
            account: format!("t{i}/main"),
            asset: "USDC".into(),
            amount: "1000000".into(),
            custodian: "ethereum".into(),
            external_ref: format!("0x{i}"),
        }));
    }
    let n = 1_000_000u64;
    let commands: Vec<Envelope> = (0..n)
        .map(|k| {
            let i = k % accounts;
            let (from, to) = if (k / accounts).is_multiple_of(2) { ("main", "hedge") } else { ("hedge", "main") };
            next(Command::Transfer { from: format!("t{i}/{from}"), to: format!("t{i}/{to}"), asset: "USDC".into(), amount: "1.25".into() })
        })
        .collect();
    for hash_every in [0usize, 1000, 10_000] {
        let mut engine = Engine::new(model::Config::default_config());
        for c in &setup {
            engine.apply(c);
        }
        let t0 = Instant::now();
        for (k, c) in commands.iter().enumerate() {
            let out = engine.apply(c);
            debug_assert!(matches!(out, engine::Outcome::Applied { .. }));
            if hash_every > 0 && k % hash_every == hash_every - 1 {
                engine.state_hash();
            }
        }
        let s = t0.elapsed().as_secs_f64();
        println!(
            "state hash every {hash_every:>6}: {:>10.0} transfers/s applied in memory ({:.0} ns each)",
            n as f64 / s,
            s * 1e9 / n as f64
        );
    }
}
