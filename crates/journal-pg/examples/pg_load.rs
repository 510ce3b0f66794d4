//! Load generator: durable append throughput and per-batch commit latency of the PostgreSQL journal.
//!
//! Usage: `CARGO_TARGET_DIR=/work/target-pg cargo run --release -p journal-pg --example pg_load
//! [-- <commands per batch size>]`. Uses the server named by `CLEARHOUSE_TEST_PG_URL`, else starts a
//! throwaway local cluster (fsync=on, synchronous_commit=on) exactly like the tests and stops it at the
//! end. Prints:
//! 1. the latency of an empty durable commit (one row updated, COMMIT): the floor under any batch;
//! 2. per batch size (1, 100, 1000, 10000): commands/s, and p50/p99/max latency of `append_batch`
//!    (hashing, round trips, COMMIT with WAL flush);
//! 3. the three ways of inserting a batch's records, timed alone inside a committed transaction: one
//!    INSERT per row (prepared), one INSERT of unnested arrays (what `PgJournal` does below 2048 records
//!    per half batch), COPY BINARY (what it does from 2048 on);
//! 4. bytes per command in the journal's tables (heap, TOAST, indexes);
//! 5. recovery speed (full chain walk) over the largest journal, for several fetch sizes, and with amcheck.

#[path = "../tests/common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use journal::{BatchIn, JournalConfig, JournalStore, RecordIn, Seq, StateHash};
use journal_pg::{PgConfig, PgJournal};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

const COMMAND_BYTES: usize = 100;
const RESULT_BYTES: usize = 60;
const BATCH_SIZES: [usize; 4] = [1, 100, 1000, 10_000];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn payloads(n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let commands = (0..n)
        .map(|i| {
            let mut c =
                format!("{{\"id\":\"cmd-{i}\",\"kind\":\"place_order\",\"account\":\"acct-{}\",\"qty\":\"{i}\"}}", i % 97).into_bytes();
            c.resize(COMMAND_BYTES, b' ');
            c
        })
        .collect();
    let results = (0..n)
        .map(|i| {
            let mut r = format!("{{\"status\":\"accepted\",\"n\":{i}}}").into_bytes();
            r.resize(RESULT_BYTES, b' ');
            r
        })
        .collect();
    (commands, results)
}

/// Latency of the smallest durable transaction on this server: one row updated, then COMMIT.
fn empty_commit_baseline(conninfo: &str) -> (Duration, Duration) {
    let mut c = Client::connect(conninfo, NoTls).expect("connect");
    c.batch_execute("SET synchronous_commit = on").expect("sync");
    let mut lat = Vec::new();
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS public.clearhouse_commit_probe (id int PRIMARY KEY, n bigint); \
                     INSERT INTO public.clearhouse_commit_probe VALUES (0, 0) ON CONFLICT DO NOTHING",
    )
    .expect("probe table");
    for _ in 0..200 {
        let t = Instant::now();
        let mut tx = c.transaction().expect("begin");
        tx.execute("UPDATE public.clearhouse_commit_probe SET n = n + 1 WHERE id = 0", &[]).expect("update");
        tx.commit().expect("commit");
        lat.push(t.elapsed());
    }
    c.batch_execute("DROP TABLE public.clearhouse_commit_probe").expect("drop probe");
    lat.sort();
    (percentile(&lat, 0.5), percentile(&lat, 0.99))
}

/// Appends `commands_total` commands in batches of `batch_size` to a fresh journal; prints one line.
fn run(conninfo: &str, batch_size: usize, commands_total: usize) -> PgConfig {
    let schema = format!("load_{batch_size}_{}", std::process::id());
    let cfg = PgConfig::new(conninfo, schema);
    let mut j = PgJournal::open(&cfg, JournalConfig::default()).expect("open journal");
    let (commands, results) = payloads(batch_size);
    let batches = commands_total.div_ceil(batch_size);
    let mut lat = Vec::with_capacity(batches);
    let started = Instant::now();
    for b in 0..batches {
        let first = (b * batch_size) as u64 + 1;
        let records: Vec<RecordIn<'_>> =
            (0..batch_size).map(|i| RecordIn { seq: Seq(first + i as u64), command: &commands[i], result: &results[i] }).collect();
        let t = Instant::now();
        j.append_batch(&BatchIn { records: &records, state_hash: StateHash([b as u8; 32]) }).expect("append");
        lat.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    lat.sort();
    let total = (batches * batch_size) as f64;
    let bytes = j.stats().expect("stats").storage_bytes as f64;
    println!(
        "batch {batch_size:>6}: {batches:>5} batches, {:>10.0} commands/s, commit p50 {:>9.0} us, p99 {:>9.0} us, max {:>9.0} us, \
         {:>4.0} bytes/command in tables",
        total / elapsed.as_secs_f64(),
        micros(percentile(&lat, 0.5)),
        micros(percentile(&lat, 0.99)),
        micros(lat[lat.len() - 1]),
        bytes / total,
    );
    j.close().expect("close");
    cfg
}

/// Times the three insert strategies for `n` records into a scratch journal schema's `records` table
/// (same columns and primary key), each in its own committed transaction. Returns microseconds.
fn insert_methods(conninfo: &str, n: usize, rounds: usize) {
    let schema = format!("load_ins_{n}_{}", std::process::id());
    // Creates the journal tables; the records written below are not a valid chain and are never recovered.
    drop(PgJournal::open(&PgConfig::new(conninfo, schema.clone()), JournalConfig::default()).expect("create scratch schema"));
    let mut c = Client::connect(conninfo, NoTls).expect("connect");
    c.batch_execute("SET synchronous_commit = on").expect("sync");
    let (commands, results) = payloads(n);
    let hash = [7u8; 32];
    let row_stmt = c
        .prepare(&format!("INSERT INTO {schema}.records (seq, batch_id, prev_hash, hash, command, result) VALUES ($1, $2, $3, $4, $5, $6)"))
        .expect("prepare row insert");
    let unnest_stmt = c
        .prepare(&format!(
            "INSERT INTO {schema}.records (seq, batch_id, prev_hash, hash, command, result) \
             SELECT u.seq, $2, u.prev_hash, u.hash, u.command, u.result \
             FROM unnest($1::int8[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[]) AS u(seq, prev_hash, hash, command, result)"
        ))
        .expect("prepare unnest insert");
    let copy_sql = format!("COPY {schema}.records (seq, batch_id, prev_hash, hash, command, result) FROM STDIN BINARY");
    let mut next_seq = 1i64;
    let mut times: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (m, slot) in times.iter_mut().enumerate() {
            let batch_id = (round * 3 + m) as i64 + 1;
            let first = next_seq;
            next_seq += n as i64;
            let t = Instant::now();
            let mut tx = c.transaction().expect("begin");
            match m {
                0 => {
                    for i in 0..n {
                        let seq = first + i as i64;
                        tx.execute(&row_stmt, &[&seq, &batch_id, &&hash[..], &&hash[..], &commands[i], &results[i]]).expect("row insert");
                    }
                }
                1 => {
                    let seqs: Vec<i64> = (0..n as i64).map(|i| first + i).collect();
                    let hashes: Vec<&[u8]> = vec![&hash[..]; n];
                    let cs: Vec<&[u8]> = commands.iter().map(|v| v.as_slice()).collect();
                    let rs: Vec<&[u8]> = results.iter().map(|v| v.as_slice()).collect();
                    let params: [&(dyn ToSql + Sync); 6] = [&seqs, &batch_id, &hashes, &hashes, &cs, &rs];
                    tx.execute(&unnest_stmt, &params).expect("unnest insert");
                }
                _ => {
                    let writer = tx.copy_in(copy_sql.as_str()).expect("copy in");
                    let mut w =
                        BinaryCopyInWriter::new(writer, &[Type::INT8, Type::INT8, Type::BYTEA, Type::BYTEA, Type::BYTEA, Type::BYTEA]);
                    for i in 0..n {
                        let seq = first + i as i64;
                        w.write(&[&seq, &batch_id, &&hash[..], &&hash[..], &commands[i].as_slice(), &results[i].as_slice()])
                            .expect("copy row");
                    }
                    w.finish().expect("copy finish");
                }
            }
            tx.commit().expect("commit");
            slot.push(t.elapsed());
        }
    }
    let med = |v: &mut Vec<Duration>| {
        v.sort();
        micros(percentile(v, 0.5))
    };
    let [mut rows, mut unnest, mut copy] = times;
    println!(
        "insert {n:>6} records + COMMIT (median of {rounds}): row-by-row {:>9.0} us, unnest arrays {:>9.0} us, COPY BINARY {:>9.0} us",
        med(&mut rows),
        med(&mut unnest),
        med(&mut copy)
    );
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).expect("drop scratch schema");
}

fn main() {
    let commands_per_size: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut local = None;
    let conninfo = match std::env::var("CLEARHOUSE_TEST_PG_URL") {
        Ok(url) => url,
        Err(_) => {
            let bin = server::find_bin_dir().expect("no PostgreSQL binaries found (initdb, pg_ctl); set CLEARHOUSE_TEST_PG_URL");
            let s = server::PgServer::start(&bin).expect("start PostgreSQL");
            let conninfo = s.conninfo();
            println!("started a throwaway PostgreSQL from {} (fsync=on, synchronous_commit=on)", bin.display());
            local = Some(s);
            conninfo
        }
    };
    let (p50, p99) = empty_commit_baseline(&conninfo);
    println!("empty durable commit (1-row UPDATE + COMMIT): p50 {:.0} us, p99 {:.0} us", micros(p50), micros(p99));
    let mut written = Vec::new();
    for size in BATCH_SIZES {
        // At least 200 batches for the small sizes (stable percentiles), at most commands_per_size commands.
        let total = commands_per_size.min(size * 2000).max(size * 20);
        written.push(run(&conninfo, size, total));
    }
    for (n, rounds) in [(100, 20), (1000, 10), (10_000, 5)] {
        insert_methods(&conninfo, n, rounds);
    }
    // Recovery over the largest journal written: the chain walk alone, then with amcheck's B-tree and
    // heap-all-indexed check when the extension can be installed.
    if let Some(cfg) = written.last() {
        let amcheck = Client::connect(&conninfo, NoTls).and_then(|mut c| c.batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck")).is_ok();
        for (storage_check_on_recover, fetch_rows) in [(false, 64), (false, 1024), (false, 4096), (true, 1024)] {
            if storage_check_on_recover && !amcheck {
                println!("recover with amcheck: skipped (extension not available)");
                continue;
            }
            let config = JournalConfig { storage_check_on_recover, ..JournalConfig::default() };
            let pg_config = PgConfig { recovery_fetch_rows: fetch_rows, ..cfg.clone() };
            let mut j = PgJournal::open(&pg_config, config).expect("reopen");
            let t = Instant::now();
            let rec = j.recover().expect("recover");
            let el = t.elapsed();
            println!(
                "recover (full chain walk{}, {fetch_rows} rows per fetch): {} records in {:.3} s = {:.0} records/s",
                if storage_check_on_recover { " + amcheck" } else { "" },
                rec.verified_records,
                el.as_secs_f64(),
                rec.verified_records as f64 / el.as_secs_f64()
            );
        }
    }
    let mut c = Client::connect(&conninfo, NoTls).expect("connect");
    for cfg in &written {
        c.batch_execute(&format!("DROP SCHEMA {} CASCADE", cfg.schema)).expect("drop schema");
    }
    drop(local);
}
