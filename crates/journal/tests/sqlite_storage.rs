//! What only the SQLite backend has: its database file. Damage to the file itself (garbage, truncation, a
//! zeroed page), the durability settings, and the read-only open of `verify` with its open/closed marker
//! and `-wal` handling. Everything backend-neutral is in the conformance suite (`tests/conformance.rs`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Scratch, make_batches, open};
use journal::{BatchId, JournalConfig, JournalError, JournalStore, Recovery, Seq, SnapshotIn, SqliteJournal};

fn recover(path: &Path) -> Result<Recovery, JournalError> {
    SqliteJournal::open(path, JournalConfig::default()).and_then(|mut j| j.recover())
}

fn recover_read_only(path: &Path) -> Result<Recovery, JournalError> {
    SqliteJournal::open_read_only(path, JournalConfig::default()).and_then(|mut j| j.recover())
}

/// The marker as the MAIN file says it, read without touching the file (immutable, no -wal).
fn main_file_writer_state(path: &Path) -> Option<i64> {
    let uri = format!("file:{}?mode=ro&immutable=1", path.display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(uri, flags).expect("open main file");
    conn.query_row("SELECT value FROM meta WHERE key = 'writer_state'", [], |r| r.get(0)).ok()
}

/// Every file of a directory with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .map(|p| (p.clone(), std::fs::read(&p).expect("read")))
        .collect()
}

#[test]
fn non_database_file_is_reported_as_corrupt_storage() {
    let s = Scratch::new("garbage_file");
    std::fs::write(s.db(), vec![0x5Au8; 64 * 1024]).expect("write garbage");
    let err = recover(&s.db()).expect_err("must refuse");
    assert!(matches!(err, JournalError::StorageCorrupt { .. }), "{err:?}");
    assert!(err.is_corruption());
    let err = recover_read_only(&s.db()).expect_err("must refuse");
    assert_eq!(err, JournalError::NotAJournal { reason: "the file is not an SQLite database".into() });
}

#[test]
fn database_truncated_to_half_is_reported_as_corrupt_storage() {
    let s = Scratch::new("truncate_half");
    // Enough data for many pages, so that half the file loses records, batches and the snapshot.
    let batches = make_batches(1, &[50; 40], 12);
    {
        let mut j = open(&s.db());
        for b in &batches {
            b.append(&mut j).expect("append");
        }
        let snapshot =
            SnapshotIn { last_seq: Seq(2000), batch_id: BatchId(40), state_hash: batches[39].state_hash, state: &[0x42; 50_000] };
        j.write_snapshot(&snapshot).expect("snapshot");
    }
    // Closing checkpoints the WAL into the main file and removes it.
    assert!(!s.dir.join("journal.sqlite-wal").exists(), "WAL should be checkpointed on close");
    let len = std::fs::metadata(s.db()).expect("metadata").len();
    assert!(len > 200_000, "database unexpectedly small: {len}");
    let f = std::fs::OpenOptions::new().write(true).open(s.db()).expect("open file");
    f.set_len(len / 2).expect("truncate");
    drop(f);
    for err in [recover(&s.db()).expect_err("must refuse"), recover_read_only(&s.db()).expect_err("must refuse")] {
        assert!(matches!(err, JournalError::StorageCorrupt { .. }), "{err:?}");
    }
}

#[test]
fn zeroed_page_in_the_middle_is_reported_as_corrupt_storage() {
    let s = Scratch::new("zero_page");
    let batches = make_batches(1, &[50; 20], 13);
    {
        let mut j = open(&s.db());
        for b in &batches {
            b.append(&mut j).expect("append");
        }
    }
    let mut bytes = std::fs::read(s.db()).expect("read file");
    let page = 4096;
    let mid = (bytes.len() / page / 2) * page;
    bytes[mid..mid + page].fill(0);
    std::fs::write(s.db(), &bytes).expect("write file");
    assert!(recover(&s.db()).expect_err("must refuse").is_corruption());
}

#[test]
fn durability_pragmas_are_in_force() {
    let scratch = Scratch::new("pragmas");
    drop(open(&scratch.db()));
    // WAL mode is persistent in the file; a plain connection sees it.
    let conn = rusqlite::Connection::open(scratch.db()).expect("open raw");
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[test]
fn the_main_file_says_open_while_a_writer_has_the_journal_and_closed_after() {
    let s = Scratch::new("marker");
    let mut j = open(&s.db());
    assert_eq!(main_file_writer_state(&s.db()), Some(1), "marked open in the main file at open");
    make_batches(1, &[3], 1)[0].append(&mut j).expect("append");
    assert!(std::fs::metadata(s.dir.join("journal.sqlite-wal")).expect("wal").len() > 0, "the batch is in the -wal");
    j.close().expect("close");
    assert_eq!(main_file_writer_state(&s.db()), Some(0));
    assert!(!s.dir.join("journal.sqlite-wal").exists());
    // Dropping instead of closing does the same.
    drop(open(&s.db()));
    assert_eq!(main_file_writer_state(&s.db()), Some(0));
}

#[test]
fn a_copy_of_the_main_file_of_a_live_journal_is_refused_and_one_with_its_wal_is_read() {
    let s = Scratch::new("live_copy");
    let batches = make_batches(1, &[3, 4], 2);
    let mut j = open(&s.db());
    for b in &batches {
        b.append(&mut j).expect("append");
    }
    let main_only = Scratch::new("live_copy_main_only");
    let with_wal = Scratch::new("live_copy_with_wal");
    std::fs::copy(s.db(), main_only.db()).expect("copy");
    std::fs::copy(s.db(), with_wal.db()).expect("copy");
    std::fs::copy(s.dir.join("journal.sqlite-wal"), with_wal.dir.join("journal.sqlite-wal")).expect("copy wal");
    let live = j.recover().expect("recover");
    drop(j);

    let before = files(&main_only.dir);
    let err = recover_read_only(&main_only.db()).expect_err("must refuse");
    assert!(matches!(err, JournalError::WalMissing { .. }), "{err:?}");
    assert_eq!(files(&main_only.dir), before, "nothing written");

    let before = files(&with_wal.dir);
    assert_eq!(recover_read_only(&with_wal.db()).expect("read through a private copy"), live);
    assert_eq!(files(&with_wal.dir), before, "nothing written, no -shm created");
}

#[test]
fn a_journal_without_the_marker_is_refused_by_the_reader_until_a_writer_adds_it() {
    let s = Scratch::new("no_marker");
    let batches = make_batches(1, &[2], 3);
    batches[0].append(&mut open(&s.db())).expect("append");
    let conn = rusqlite::Connection::open(s.db()).expect("raw");
    conn.execute("DELETE FROM meta WHERE key = 'writer_state'", []).expect("delete marker");
    drop(conn);
    assert_eq!(recover_read_only(&s.db()).map(|_| ()), Err(JournalError::WriterStateUnknown));
    drop(open(&s.db()));
    assert_eq!(recover_read_only(&s.db()).expect("marker added").head.last_seq, Seq(2));
}

#[test]
fn a_reader_refuses_checkpoints_and_an_empty_file() {
    let s = Scratch::new("reader_checkpoint");
    drop(open(&s.db()));
    let mut reader = SqliteJournal::open_read_only(s.db(), JournalConfig::default()).expect("open read-only");
    assert!(reader.is_read_only());
    assert_eq!(reader.checkpoint(), Err(JournalError::ReadOnly));
    let empty = Scratch::new("reader_empty");
    std::fs::write(empty.db(), b"").expect("write");
    let err = SqliteJournal::open_read_only(empty.db(), JournalConfig::default()).map(|_| ()).expect_err("must refuse");
    assert_eq!(err, JournalError::NotAJournal { reason: "the file is empty".into() });
    assert_eq!(std::fs::metadata(empty.db()).expect("still there").len(), 0);
    assert!(!empty.dir.join("journal.sqlite-wal").exists());
}
