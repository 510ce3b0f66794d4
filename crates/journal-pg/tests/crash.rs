//! Crash tests: a child process (this very test binary, running only `crash_child`) appends batches to a
//! journal on the parent's PostgreSQL server with a failpoint armed through `CLEARHOUSE_CRASH_AT`, and is
//! aborted there (its connection drops mid-transaction or right after COMMIT). The parent then reopens
//! the journal and checks that recovery returns exactly the batches that committed before the abort.

mod common;

use std::process::Command;

use common::{TestDb, assert_batches_eq, make_batches};
use journal::failpoint::{ENV_VAR, names};
use journal::{BatchId, JournalStore, Seq, SnapshotIn};

/// Tells the child which schema to write. Absent in normal test runs, where `crash_child` does nothing.
const CHILD_ENV: &str = "JOURNAL_PG_CRASH_CHILD_SCHEMA";
/// Selects the big-batch workload in the child.
const CHILD_BIG_ENV: &str = "JOURNAL_PG_CRASH_CHILD_BIG";
const BATCH_SIZES: [usize; 5] = [3, 4, 2, 5, 3];
/// About 2.5 MB of rows in one transaction.
const BIG_BATCH: usize = 20_000;

/// The child's workload: five batches, with a snapshot after batch 2 and after batch 4.
fn workload(db: &TestDb) {
    let batches = make_batches(1, &BATCH_SIZES, 21);
    let mut j = db.open();
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

fn big_workload(db: &TestDb) {
    let batches = make_batches(1, &[3, BIG_BATCH], 22);
    let mut j = db.open();
    for b in &batches {
        b.append(&mut j).expect("append");
    }
}

#[test]
fn crash_child() {
    if let Ok(schema) = std::env::var(CHILD_ENV) {
        let conninfo = std::env::var(common::URL_ENV).expect("the parent passes its server");
        let db = TestDb::existing(conninfo, schema);
        if std::env::var(CHILD_BIG_ENV).is_ok() {
            big_workload(&db);
        } else {
            workload(&db);
        }
        // Only the parent's TestDb may drop the schema.
        std::mem::forget(db);
    }
}

/// Runs the workload in a child aborted at `failpoint:nth`, on the test's own schema.
fn crash_child_at(db: &TestDb, failpoint: &str, nth: u64, big: bool) {
    let exe = std::env::current_exe().expect("current test binary");
    let scratch = std::env::temp_dir().join(format!("clearhouse-pg-crash-{}-{}", std::process::id(), db.schema));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut cmd = Command::new(exe);
    if big {
        cmd.env(CHILD_BIG_ENV, "1");
    }
    let output = cmd
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &db.schema)
        .env(common::URL_ENV, &db.conninfo)
        .env(ENV_VAR, format!("{failpoint}:{nth}"))
        // Any core file lands in the scratch dir, not in the source tree.
        .current_dir(&scratch)
        .output()
        .expect("spawn child");
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(!output.status.success(), "child was expected to abort at {failpoint}:{nth} but exited normally: {output:?}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(6), "child should die of SIGABRT: {output:?}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("failpoint {failpoint} hit {nth}")), "{stderr}");
}

/// Recovers and checks the snapshot position and that the journal holds exactly `committed` batches.
fn assert_recovers_to(db: &TestDb, committed: usize, snapshot_batch: Option<u64>) {
    let expected = make_batches(1, &BATCH_SIZES[..committed], 21);
    let mut j = db.open();
    let rec = j.recover().expect("recover after crash");
    assert_eq!(rec.head.last_batch_id, BatchId(committed as u64));
    let total: usize = BATCH_SIZES[..committed].iter().sum();
    assert_eq!(rec.head.last_seq, Seq(total as u64));
    assert_eq!(rec.snapshot.as_ref().map(|s| s.batch_id.0), snapshot_batch);
    let first_tail = snapshot_batch.unwrap_or(0) as usize;
    assert_batches_eq(&rec.batches, &expected[first_tail..]);
    let full = j.recover_from_genesis().expect("full recovery");
    assert_batches_eq(&full.batches, &expected);
    let next = make_batches(total as u64 + 1, &[2], 99);
    let receipt = next[0].append(&mut j).expect("append after crash");
    assert_eq!(receipt.batch_id, BatchId(committed as u64 + 1));
}

fn crash_and_check(name: &str, failpoint: &str, nth: u64, committed: usize, snapshot_batch: Option<u64>) {
    let Some(db) = TestDb::new(name) else {
        eprintln!("SKIPPED: no PostgreSQL");
        return;
    };
    crash_child_at(&db, failpoint, nth, false);
    assert_recovers_to(&db, committed, snapshot_batch);
}

#[test]
fn abort_mid_batch_loses_exactly_that_batch() {
    crash_and_check("mid_batch_3", names::MID_BATCH, 3, 2, Some(2));
}

#[test]
fn abort_in_the_first_batch_leaves_an_empty_journal() {
    crash_and_check("mid_batch_1", names::MID_BATCH, 1, 0, None);
}

#[test]
fn abort_before_commit_loses_exactly_that_batch() {
    crash_and_check("before_commit_4", names::BEFORE_COMMIT, 4, 3, Some(2));
}

#[test]
fn abort_after_commit_keeps_that_batch() {
    crash_and_check("after_commit_3", names::AFTER_COMMIT, 3, 3, Some(2));
}

#[test]
fn abort_after_the_last_commit_keeps_everything() {
    crash_and_check("after_commit_5", names::AFTER_COMMIT, 5, 5, Some(4));
}

#[test]
fn abort_mid_snapshot_keeps_the_previous_snapshot() {
    crash_and_check("mid_snapshot_2", names::MID_SNAPSHOT, 2, 4, Some(2));
}

#[test]
fn abort_mid_first_snapshot_leaves_no_snapshot() {
    crash_and_check("mid_snapshot_1", names::MID_SNAPSHOT, 1, 2, None);
}

#[test]
fn abort_before_commit_of_a_big_batch_loses_it_entirely() {
    let db = pg_or_skip!("big_before_commit");
    crash_child_at(&db, names::BEFORE_COMMIT, 2, true);
    let expected = make_batches(1, &[3], 22);
    let mut j = db.open();
    let rec = j.recover().expect("recover");
    assert_eq!(rec.head.last_seq, Seq(3));
    assert_batches_eq(&rec.batches, &expected);
}

#[test]
fn abort_after_commit_of_a_big_batch_keeps_it_entirely() {
    let db = pg_or_skip!("big_after_commit");
    crash_child_at(&db, names::AFTER_COMMIT, 2, true);
    let expected = make_batches(1, &[3, BIG_BATCH], 22);
    let mut j = db.open();
    let rec = j.recover().expect("recover");
    assert_eq!(rec.head.last_seq, Seq(3 + BIG_BATCH as u64));
    assert_batches_eq(&rec.batches, &expected);
}
