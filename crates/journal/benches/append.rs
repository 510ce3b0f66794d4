//! Durable append throughput (commands per second) for several batch sizes, with ~100-byte commands and
//! ~60-byte results, on a real file (WAL + synchronous=FULL, so every batch is fsynced).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-journal cargo bench -p journal --bench append`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use journal::{BatchIn, JournalConfig, JournalStore, RecordIn, Seq, SqliteJournal, StateHash};

const COMMAND_BYTES: usize = 100;
const RESULT_BYTES: usize = 60;

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
    for batch_size in [1usize, 100, 1000, 10_000] {
        let path = dir.join(format!("bench-{batch_size}.sqlite"));
        let mut journal = SqliteJournal::open(&path, JournalConfig::default()).expect("open");
        // Payloads vary per record so nothing is accidentally deduplicated or compressed.
        let commands: Vec<Vec<u8>> = (0..batch_size)
            .map(|i| {
                let mut c = format!("{{\"id\":\"cmd-{i}\",\"kind\":\"place_order\",\"qty\":\"{i}\"}}").into_bytes();
                c.resize(COMMAND_BYTES, b' ');
                c
            })
            .collect();
        let results: Vec<Vec<u8>> = (0..batch_size)
            .map(|i| {
                let mut r = format!("{{\"status\":\"accepted\",\"n\":{i}}}").into_bytes();
                r.resize(RESULT_BYTES, b' ');
                r
            })
            .collect();
        group.throughput(Throughput::Elements(batch_size as u64));
        group.bench_function(format!("batch_{batch_size}"), |b| {
            b.iter(|| {
                let first = journal.last_seq().0 + 1;
                let records: Vec<RecordIn<'_>> =
                    (0..batch_size).map(|i| RecordIn { seq: Seq(first + i as u64), command: &commands[i], result: &results[i] }).collect();
                let receipt = journal.append_batch(&BatchIn { records: &records, state_hash: StateHash([7; 32]) }).expect("append");
                black_box(receipt)
            })
        });
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
