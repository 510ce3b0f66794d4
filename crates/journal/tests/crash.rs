//! Crash tests: a child process (this very test binary, running only `crash_child`) appends batches with a
//! failpoint armed through `CLEARHOUSE_CRASH_AT` and is aborted there. The parent then reopens the
//! journal and checks that recovery returns exactly the batches that committed before the abort: each
//! batch is all-or-nothing.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Scratch, assert_batches_eq, make_batches, open};
use journal::failpoint::{ENV_VAR, names};
use journal::{BatchId, JournalStore, Seq, SnapshotIn};

/// Tells the child where the journal is. Absent in normal test runs, where `crash_child` does nothing.
const CHILD_ENV: &str = "JOURNAL_CRASH_CHILD_DB";
const BATCH_SIZES: [usize; 5] = [3, 4, 2, 5, 3];

/// The child's workload: five batches, with a snapshot after batch 2 and after batch 4.
fn workload(path: &Path) {
    let batches = make_batches(1, &BATCH_SIZES, 21);
    let mut j = open(path);
    let mut last_seq = 0u64;
    for (i, b) in batches.iter().enumerate() {
        b.append(&mut j).expect("append");
        last_seq += b.records.len() as u64;
        if i == 1 || i == 3 {
            j.write_snapshot(&SnapshotIn {
                last_seq: Seq(last_seq),
                batch_id: BatchId(i as u64 + 1),
                state_hash: b.state_hash,
                state: format!("state after batch {}", i + 1).as_bytes(),
            })
            .expect("snapshot");
        }
    }
}

/// Selects the big-batch workload in the child.
const CHILD_BIG_ENV: &str = "JOURNAL_CRASH_CHILD_BIG";
/// Big enough (about 3.5 MB of rows) to overflow SQLite's default 2 MB page cache, so dirty pages of the
/// uncommitted transaction are spilled into the WAL before COMMIT; recovery must still ignore them.
const BIG_BATCH: usize = 20_000;

/// One small batch, then one batch that spills to the WAL before it commits.
fn big_workload(path: &Path) {
    let batches = make_batches(1, &[3, BIG_BATCH], 22);
    let mut j = open(path);
    for b in &batches {
        b.append(&mut j).expect("append");
    }
}

#[test]
fn crash_child() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        if std::env::var(CHILD_BIG_ENV).is_ok() {
            big_workload(Path::new(&path));
        } else {
            workload(Path::new(&path));
        }
    }
}

/// Runs the workload in a child aborted at `failpoint:nth`; returns the scratch dir holding the journal.
fn crash_at(failpoint: &str, nth: u64) -> Scratch {
    crash_child_at(failpoint, nth, false)
}

fn crash_child_at(failpoint: &str, nth: u64, big: bool) -> Scratch {
    let scratch = Scratch::new(&format!("crash-{failpoint}-{nth}"));
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(exe);
    if big {
        cmd.env(CHILD_BIG_ENV, "1");
    }
    let output = cmd
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scratch.db())
        .env(ENV_VAR, format!("{failpoint}:{nth}"))
        // Any core file lands in the scratch dir, not in the source tree.
        .current_dir(&scratch.dir)
        .output()
        .expect("spawn child");
    assert!(!output.status.success(), "child was expected to abort at {failpoint}:{nth} but exited normally");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(6), "child should die of SIGABRT: {output:?}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("failpoint {failpoint} hit {nth}")), "{stderr}");
    scratch
}

/// Recovers and checks the snapshot position and that the journal holds exactly `committed` batches.
fn assert_recovers_to(scratch: &Scratch, committed: usize, snapshot_batch: Option<u64>) {
    let expected = make_batches(1, &BATCH_SIZES[..committed], 21);
    let mut j = open(&scratch.db());
    let rec = j.recover().expect("recover after crash");
    assert_eq!(rec.head.last_batch_id, BatchId(committed as u64));
    let total: usize = BATCH_SIZES[..committed].iter().sum();
    assert_eq!(rec.head.last_seq, Seq(total as u64));
    assert_eq!(rec.snapshot.as_ref().map(|s| s.batch_id.0), snapshot_batch);
    let first_tail = snapshot_batch.unwrap_or(0) as usize;
    assert_batches_eq(&rec.batches, &expected[first_tail..]);
    let full = j.recover_from_genesis().expect("full recovery");
    assert_batches_eq(&full.batches, &expected);
    // The journal continues after the crash with the next seq.
    let next = make_batches(total as u64 + 1, &[2], 99);
    let receipt = next[0].append(&mut j).expect("append after crash");
    assert_eq!(receipt.batch_id, BatchId(committed as u64 + 1));
}

#[test]
fn abort_mid_batch_loses_exactly_that_batch() {
    let s = crash_at(names::MID_BATCH, 3);
    assert_recovers_to(&s, 2, Some(2));
}

#[test]
fn abort_in_the_first_batch_leaves_an_empty_journal() {
    let s = crash_at(names::MID_BATCH, 1);
    assert_recovers_to(&s, 0, None);
}

#[test]
fn abort_before_commit_loses_exactly_that_batch() {
    let s = crash_at(names::BEFORE_COMMIT, 4);
    assert_recovers_to(&s, 3, Some(2));
}

#[test]
fn abort_after_commit_keeps_that_batch() {
    let s = crash_at(names::AFTER_COMMIT, 3);
    assert_recovers_to(&s, 3, Some(2));
}

#[test]
fn abort_after_the_last_commit_keeps_everything() {
    let s = crash_at(names::AFTER_COMMIT, 5);
    assert_recovers_to(&s, 5, Some(4));
}

#[test]
fn abort_mid_snapshot_keeps_the_previous_snapshot() {
    // Second snapshot (after batch 4) is interrupted: batches 1-4 are committed, snapshot 2 remains.
    let s = crash_at(names::MID_SNAPSHOT, 2);
    assert_recovers_to(&s, 4, Some(2));
}

#[test]
fn abort_mid_first_snapshot_leaves_no_snapshot() {
    let s = crash_at(names::MID_SNAPSHOT, 1);
    assert_recovers_to(&s, 2, None);
}

#[test]
fn abort_before_commit_of_a_batch_spilled_to_the_wal_loses_it_entirely() {
    let s = crash_child_at(names::BEFORE_COMMIT, 2, true);
    // The uncommitted frames really reached the WAL file before the abort.
    let wal_bytes = std::fs::metadata(s.dir.join("journal.sqlite-wal")).map_or(0, |m| m.len());
    assert!(wal_bytes > 2_000_000, "expected a spilled transaction in the WAL, found {wal_bytes} bytes");
    let expected = make_batches(1, &[3], 22);
    let mut j = open(&s.db());
    let rec = j.recover().expect("recover");
    assert_eq!(rec.head.last_seq, Seq(3));
    assert_batches_eq(&rec.batches, &expected);
}

#[test]
fn abort_after_commit_of_a_big_batch_keeps_it_entirely() {
    let s = crash_child_at(names::AFTER_COMMIT, 2, true);
    let expected = make_batches(1, &[3, BIG_BATCH], 22);
    let mut j = open(&s.db());
    let rec = j.recover().expect("recover");
    assert_eq!(rec.head.last_seq, Seq(3 + BIG_BATCH as u64));
    assert_batches_eq(&rec.batches, &expected);
}
