//! Load generator: durable append throughput and per-batch commit latency of the SQLite journal.
//!
//! Usage: `CARGO_TARGET_DIR=/work/target-journal cargo run --release -p journal --example journal_load
//! [-- <dir> [<commands per size>]]`. Writes to `<dir>` (default: the system temp dir), which must be on
//! the disk whose durability you want to measure. Prints, per batch size, commands/s and the p50/p99/max
//! latency of `append_batch` (which includes the fsync of the WAL), plus the raw fsync latency of the
//! same disk as a baseline.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use journal::{BatchIn, JournalConfig, JournalStore, RecordIn, Seq, SqliteJournal, StateHash};

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

/// Latency of overwriting 4 KiB inside an existing file and fdatasync-ing it: the floor under any durable
/// commit (the WAL is rewritten in place after each checkpoint, so it rarely grows).
fn fsync_baseline(dir: &Path) -> (Duration, Duration) {
    let path = dir.join("fsync-probe.bin");
    let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&path).expect("open probe file");
    let block = vec![0xA5u8; 4096];
    for _ in 0..64 {
        f.write_all(&block).expect("preallocate probe");
    }
    f.sync_all().expect("fsync probe");
    let mut lat = Vec::new();
    for i in 0..200u64 {
        let t = Instant::now();
        f.write_all_at(&block, (i % 64) * 4096).expect("write probe");
        f.sync_data().expect("fdatasync probe");
        lat.push(t.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    lat.sort();
    (percentile(&lat, 0.5), percentile(&lat, 0.99))
}

/// CPU time consumed by this process so far (Linux `/proc/self/schedstat`, nanoseconds on CPU), or None
/// elsewhere. CPU per command is a contention-independent measure of the journal's CPU ceiling.
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
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

/// Runs one batch size; returns a line describing recovery speed when it measured it.
fn run(dir: &Path, batch_size: usize, commands_total: usize) -> Option<String> {
    let mut recovery_line = None;
    let path = dir.join(format!("load-{batch_size}.sqlite"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let config = JournalConfig { max_batch_records: batch_size.max(1), ..JournalConfig::default() };
    let mut j = SqliteJournal::open(&path, config).expect("open journal");
    let (commands, results) = payloads(batch_size);
    let batches = (commands_total / batch_size).clamp(20, 20_000);
    let mut lat = Vec::with_capacity(batches);
    let mut records = Vec::with_capacity(batch_size);
    let cpu_start = cpu_ns();
    let start = Instant::now();
    for b in 0..batches {
        let first = j.last_seq().0 + 1;
        records.clear();
        records.extend((0..batch_size).map(|i| RecordIn { seq: Seq(first + i as u64), command: &commands[i], result: &results[i] }));
        let t = Instant::now();
        j.append_batch(&BatchIn { records: &records, state_hash: StateHash([(b % 251) as u8; 32]) }).expect("append");
        lat.push(t.elapsed());
    }
    let elapsed = start.elapsed();
    let cpu_per_cmd = match (cpu_start, cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / (batches * batch_size) as f64,
        _ => f64::NAN,
    };
    lat.sort();
    let cmds = (batches * batch_size) as f64;
    let bytes = j.stats().expect("stats").storage_bytes;
    println!(
        "{:>10} {:>8} {:>14.0} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>12.0}",
        batch_size,
        batches,
        cmds / elapsed.as_secs_f64(),
        micros(percentile(&lat, 0.5)),
        micros(percentile(&lat, 0.99)),
        micros(lat[lat.len() - 1]),
        bytes as f64 / cmds,
        cpu_per_cmd,
    );
    drop(j);
    if batch_size == 1000 {
        // Full verification speed: reopen and recover the whole log (no snapshot, chain walked from seq 1).
        let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("reopen");
        let t = Instant::now();
        let rec = j.recover().expect("recover");
        let d = t.elapsed();
        recovery_line = Some(format!(
            "recovery of {} records ({} batches, quick_check + full chain walk, payloads loaded): {:.2} s = {:.0} records/s",
            rec.verified_records,
            rec.batches.len(),
            d.as_secs_f64(),
            rec.verified_records as f64 / d.as_secs_f64()
        ));
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    recovery_line
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir: PathBuf = args.next().map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("clearhouse-journal-load"));
    let commands_total: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(500_000);
    std::fs::create_dir_all(&dir).expect("create load dir");
    let (p50, p99) = fsync_baseline(&dir);
    println!("dir {}: raw 4 KiB write+fdatasync p50 {:.1} us, p99 {:.1} us", dir.display(), micros(p50), micros(p99));
    println!("commands {COMMAND_BYTES} B, results {RESULT_BYTES} B, WAL + synchronous=FULL");
    println!(
        "{:>10} {:>8} {:>14} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "batch", "batches", "commands/s", "p50 us", "p99 us", "max us", "B/command", "cpu ns/cmd"
    );
    let mut notes = Vec::new();
    for size in BATCH_SIZES {
        notes.extend(run(&dir, size, commands_total));
    }
    for note in notes {
        println!("{note}");
    }
}
