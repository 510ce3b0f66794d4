//! Durable append throughput (commands per second) for several batch sizes, with ~100-byte commands and
//! ~60-byte results, on a real file (WAL + synchronous=FULL, so every batch is fsynced). The body is the
//! conformance suite's (`journal::conformance::bench`), shared with the PostgreSQL bench.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-journal cargo bench -p journal --bench append`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use journal::conformance::bench::{BATCH_SIZES, Payloads};
use journal::{JournalConfig, SqliteJournal};

fn bench_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clearhouse-journal-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench dir");
    dir
}

fn append_throughput(c: &mut Criterion) {
    let dir = bench_dir();
    let mut group = c.benchmark_group("durable_append");
    group.sample_size(10);
    for batch_size in BATCH_SIZES {
        let mut journal = SqliteJournal::open(dir.join(format!("bench-{batch_size}.sqlite")), JournalConfig::default()).expect("open");
        let payloads = Payloads::new(batch_size);
        group.throughput(Throughput::Elements(batch_size as u64));
        group.bench_function(format!("batch_{batch_size}"), |b| b.iter(|| black_box(payloads.append(&mut journal))));
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cost of an unarmed failpoint, which sits on the journal's hot path.
fn failpoint_unarmed(c: &mut Criterion) {
    c.bench_function("failpoint_hit_unarmed", |b| b.iter(|| journal::failpoint::hit(black_box("journal.before_commit"))));
}

criterion_group!(benches, append_throughput, failpoint_unarmed);
criterion_main!(benches);
