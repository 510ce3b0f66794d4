//! Durable append throughput (commands per second) of the PostgreSQL journal for several batch sizes, with
//! ~100-byte commands and ~60-byte results, on a real server (fsync=on, synchronous_commit=on): every batch
//! is one transaction whose COMMIT flushes the WAL. Same payloads as the SQLite bench
//! (`crates/journal/benches/append.rs`), so the two are comparable.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-pg cargo bench -p journal-pg --bench append`. Uses
//! `CLEARHOUSE_TEST_PG_URL` if set, else starts (and stops) a throwaway local server like the tests.

#[path = "../tests/common/server.rs"]
mod server;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use journal::{BatchIn, JournalConfig, JournalStore, RecordIn, Seq, StateHash};
use journal_pg::{PgConfig, PgJournal};

const COMMAND_BYTES: usize = 100;
const RESULT_BYTES: usize = 60;

fn append_throughput(c: &mut Criterion) {
    let mut local = None;
    let conninfo = match std::env::var("CLEARHOUSE_TEST_PG_URL") {
        Ok(url) => url,
        Err(_) => {
            let Some(bin) = server::find_bin_dir() else {
                eprintln!("SKIPPED: no PostgreSQL");
                return;
            };
            let s = server::PgServer::start(&bin).expect("start PostgreSQL");
            let conninfo = s.conninfo();
            local = Some(s);
            conninfo
        }
    };
    let mut group = c.benchmark_group("pg_durable_append");
    group.sample_size(10);
    let mut schemas = Vec::new();
    for batch_size in [1usize, 100, 1000, 10_000] {
        let schema = format!("bench_{batch_size}_{}", std::process::id());
        let mut journal = PgJournal::open(&PgConfig::new(conninfo.clone(), schema.clone()), JournalConfig::default()).expect("open");
        schemas.push(schema);
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
    if let Ok(mut client) = postgres::Client::connect(&conninfo, postgres::NoTls) {
        for schema in &schemas {
            let _ = client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
    drop(local);
}

criterion_group!(benches, append_throughput);
criterion_main!(benches);
