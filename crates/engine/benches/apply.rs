//! Engine apply rate in memory: deposits and internal transfers among 1000 accounts.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::*;

fn setup(accounts: u64) -> (Engine, Vec<Envelope>) {
    let mut e = Engine::with_genesis(StateConfig::from_model(&model::Config::default_config())).expect("default genesis");
    let mut id = 0;
    let mut next = |client: &str, command| {
        id += 1;
        Envelope { client: client.into(), id, command }
    };
    for i in 0..accounts {
        let owner = format!("t{i}");
        e.apply(&next("operator", Command::RegisterPrincipal { name: owner.clone(), role: model::Role::Owner }));
        e.apply(&next("operator", Command::CreateAccount { owner: owner.clone(), sub: "main".into() }));
        e.apply(&next("operator", Command::CreateAccount { owner: owner.clone(), sub: "hedge".into() }));
        e.apply(&next(
            "operator",
            Command::Deposit {
                account: format!("{owner}/main"),
                asset: "USDC".into(),
                amount: "1000000".into(),
                custodian: "ethereum".into(),
                external_ref: format!("0x{i}"),
            },
        ));
    }
    let transfers = (0..100_000u64)
        .map(|k| {
            let i = k % accounts;
            let (from, to) = if (k / accounts).is_multiple_of(2) { ("main", "hedge") } else { ("hedge", "main") };
            let owner = format!("t{i}");
            next(
                &owner,
                Command::Transfer {
                    from: format!("{owner}/{from}"),
                    to: format!("{owner}/{to}"),
                    asset: "USDC".into(),
                    amount: "1.25".into(),
                },
            )
        })
        .collect();
    (e, transfers)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(100_000));
    group.sample_size(10);
    group.bench_function("apply 100k transfers, state hash per 1000", |b| {
        b.iter_batched(
            || setup(1000),
            |(mut e, commands)| {
                for chunk in commands.chunks(1000) {
                    for c in chunk {
                        let out = e.apply(c);
                        assert!(matches!(out, Outcome::Applied { .. }));
                    }
                    e.state_hash();
                }
                e
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
