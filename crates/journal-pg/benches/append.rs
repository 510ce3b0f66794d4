//! Durable append throughput (commands per second) of the PostgreSQL journal for several batch sizes, with
//! ~100-byte commands and ~60-byte results, on a real server (fsync=on, synchronous_commit=on): every batch
//! is one transaction whose COMMIT flushes the WAL. The body is the conformance suite's
//! (`journal::conformance::bench`), shared with the SQLite bench, so the two are comparable.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-pg cargo bench -p journal-pg --bench append`. Uses
//! `CLEARHOUSE_TEST_PG_URL` if set, else starts (and stops) a throwaway local server like the tests.

#[path = "../tests/common/server.rs"]
mod server;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use journal::JournalConfig;
use journal::conformance::bench::{BATCH_SIZES, Payloads};
use journal_pg::{PgConfig, PgJournal};

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
    for batch_size in BATCH_SIZES {
        let schema = format!("bench_{batch_size}_{}", std::process::id());
        let mut journal = PgJournal::open(&PgConfig::new(conninfo.clone(), schema.clone()), JournalConfig::default()).expect("open");
        schemas.push(schema);
        let payloads = Payloads::new(batch_size);
        group.throughput(Throughput::Elements(batch_size as u64));
        group.bench_function(format!("batch_{batch_size}"), |b| b.iter(|| black_box(payloads.append(&mut journal))));
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
