//! Damage the database behind the journal's back (with a second SQLite connection or by editing the file)
//! and check that recovery REFUSES with the specific typed error.

mod common;

use std::path::Path;

use common::{OwnedBatch, Scratch, make_batches, open};
use journal::chain::{batch_checksum, record_hash, snapshot_checksum};
use journal::{BatchId, ChainHash, JournalConfig, JournalError, JournalStore, Recovery, Seq, SnapshotIn, SqliteJournal, StateHash};
use rusqlite::{Connection, params};

/// Six batches of four records (seqs 1..=24), a snapshot after batch 3 (seq 12), journal closed.
fn standard_journal(scratch: &Scratch) -> Vec<OwnedBatch> {
    let batches = make_batches(1, &[4; 6], 11);
    let mut j = open(&scratch.db());
    for (i, b) in batches.iter().enumerate() {
        b.append(&mut j).expect("append");
        if i == 2 {
            j.write_snapshot(&SnapshotIn {
                last_seq: Seq(12),
                batch_id: BatchId(3),
                state_hash: b.state_hash,
                state: b"snapshot-state-bytes-after-batch-3",
            })
            .expect("snapshot");
        }
    }
    drop(j);
    // Sanity: the undamaged journal recovers.
    let mut j = open(&scratch.db());
    let rec = j.recover().expect("undamaged journal recovers");
    assert_eq!(rec.head.last_seq, Seq(24));
    batches
}

fn tamper(path: &Path, sql: &str, params: impl rusqlite::Params) {
    let conn = Connection::open(path).expect("open raw connection");
    let changed = conn.execute(sql, params).expect("tamper");
    assert!(changed >= 1, "tampering statement changed nothing: {sql}");
}

fn read_blob(path: &Path, sql: &str, key: i64) -> Vec<u8> {
    let conn = Connection::open(path).expect("open raw connection");
    conn.query_row(sql, [key], |r| r.get(0)).expect("read blob")
}

fn flip(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 0x01;
    bytes
}

fn recover(path: &Path) -> Result<Recovery, JournalError> {
    SqliteJournal::open(path, JournalConfig::default()).and_then(|mut j| j.recover())
}

#[test]
fn flipped_command_byte_is_reported_at_its_seq() {
    let s = Scratch::new("flip_command");
    standard_journal(&s);
    let c = flip(read_blob(&s.db(), "SELECT command FROM records WHERE seq = ?1", 5), 10);
    tamper(&s.db(), "UPDATE records SET command = ?1 WHERE seq = 5", [c]);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 5, batch_id: 2 }));
}

#[test]
fn flipped_result_byte_is_reported_at_its_seq() {
    let s = Scratch::new("flip_result");
    standard_journal(&s);
    let r = flip(read_blob(&s.db(), "SELECT result FROM records WHERE seq = ?1", 18), 0);
    tamper(&s.db(), "UPDATE records SET result = ?1 WHERE seq = 18", [r]);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 18, batch_id: 5 }));
}

#[test]
fn flipped_hash_byte_is_reported_at_its_seq() {
    let s = Scratch::new("flip_hash");
    standard_journal(&s);
    let h = flip(read_blob(&s.db(), "SELECT hash FROM records WHERE seq = ?1", 9), 31);
    tamper(&s.db(), "UPDATE records SET hash = ?1 WHERE seq = 9", [h]);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 9, batch_id: 3 }));
}

#[test]
fn flipped_prev_hash_byte_is_reported_at_its_seq() {
    let s = Scratch::new("flip_prev_hash");
    standard_journal(&s);
    let h = flip(read_blob(&s.db(), "SELECT prev_hash FROM records WHERE seq = ?1", 2), 0);
    tamper(&s.db(), "UPDATE records SET prev_hash = ?1 WHERE seq = 2", [h]);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 2, batch_id: 1 }));
}

#[test]
fn tampering_with_pre_snapshot_records_is_still_detected() {
    // The snapshot is at seq 12, so seq 3 is not replayed; the full-chain walk still checks it.
    let s = Scratch::new("flip_before_snapshot");
    standard_journal(&s);
    let c = flip(read_blob(&s.db(), "SELECT command FROM records WHERE seq = ?1", 3), 3);
    tamper(&s.db(), "UPDATE records SET command = ?1 WHERE seq = 3", [c]);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 3, batch_id: 1 }));
}

#[test]
fn record_deleted_from_the_middle_is_reported_as_missing() {
    let s = Scratch::new("delete_middle");
    standard_journal(&s);
    tamper(&s.db(), "DELETE FROM records WHERE seq = 10", []);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordMissing { expected_seq: 10, found_seq: 11 }));
}

#[test]
fn deleted_last_record_is_reported_as_a_missing_tail() {
    let s = Scratch::new("delete_last_record");
    standard_journal(&s);
    tamper(&s.db(), "DELETE FROM records WHERE seq = 24", []);
    assert_eq!(
        recover(&s.db()),
        Err(JournalError::TailMissing { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 23, found_last_batch_id: 6 })
    );
}

#[test]
fn deleted_last_batch_is_reported_as_a_missing_tail() {
    let s = Scratch::new("delete_last_batch");
    standard_journal(&s);
    tamper(&s.db(), "DELETE FROM records WHERE batch_id = 6", []);
    tamper(&s.db(), "DELETE FROM batches WHERE batch_id = 6", []);
    assert_eq!(
        recover(&s.db()),
        Err(JournalError::TailMissing { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 20, found_last_batch_id: 5 })
    );
}

#[test]
fn deleted_last_records_of_a_batch_are_reported_as_a_missing_tail() {
    // Only records go (the batch row of batch 6 stays): the log now ends inside batch 6.
    let s = Scratch::new("delete_tail_records");
    standard_journal(&s);
    tamper(&s.db(), "DELETE FROM records WHERE seq >= 22", []);
    let err = recover(&s.db()).expect_err("must refuse");
    assert!(matches!(err, JournalError::TailMissing { head_last_seq: 24, found_last_seq: 21, .. }), "{err:?}");
}

#[test]
fn swapped_payloads_of_two_records_are_detected() {
    let s = Scratch::new("swap_payloads");
    standard_journal(&s);
    let conn = Connection::open(s.db()).expect("raw");
    let row = |seq: i64| -> (Vec<u8>, Vec<u8>) {
        conn.query_row("SELECT command, result FROM records WHERE seq = ?1", [seq], |r| Ok((r.get(0)?, r.get(1)?))).expect("read")
    };
    let (c14, r14) = row(14);
    let (c15, r15) = row(15);
    conn.execute("UPDATE records SET command = ?1, result = ?2 WHERE seq = 14", params![c15, r15]).expect("swap");
    conn.execute("UPDATE records SET command = ?1, result = ?2 WHERE seq = 15", params![c14, r14]).expect("swap");
    drop(conn);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 14, batch_id: 4 }));
}

#[test]
fn swapped_whole_rows_are_detected() {
    // Reordering: rows 7 and 8 trade every column but their seq (the primary key).
    let s = Scratch::new("swap_rows");
    standard_journal(&s);
    let conn = Connection::open(s.db()).expect("raw");
    conn.execute_batch(
        "UPDATE records SET seq = -7 WHERE seq = 7;
         UPDATE records SET seq = 7 WHERE seq = 8;
         UPDATE records SET seq = 8 WHERE seq = -7;",
    )
    .expect("swap rows");
    drop(conn);
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 7, batch_id: 2 }));
}

#[test]
fn self_consistent_record_that_does_not_link_breaks_the_chain() {
    // A record replaced by another record that carries a valid checksum of its own but was computed on a
    // different predecessor: only the chain link can catch it.
    let s = Scratch::new("chain_broken");
    standard_journal(&s);
    let fake_prev = ChainHash([0xAB; 32]);
    let h = record_hash(Seq(6), BatchId(2), &fake_prev, b"forged", b"ok");
    tamper(
        &s.db(),
        "UPDATE records SET prev_hash = ?1, hash = ?2, command = ?3, result = ?4 WHERE seq = 6",
        params![&fake_prev.0[..], &h.0[..], &b"forged"[..], &b"ok"[..]],
    );
    assert_eq!(recover(&s.db()), Err(JournalError::ChainBroken { seq: 6, prev_seq: 5 }));
}

#[test]
fn altered_batch_state_hash_is_reported_by_batch() {
    let s = Scratch::new("batch_state_hash");
    standard_journal(&s);
    let h = flip(read_blob(&s.db(), "SELECT state_hash FROM batches WHERE batch_id = ?1", 4), 7);
    tamper(&s.db(), "UPDATE batches SET state_hash = ?1 WHERE batch_id = 4", [h]);
    assert_eq!(recover(&s.db()), Err(JournalError::BatchCorrupt { batch_id: 4 }));
}

#[test]
fn batch_row_with_a_wrong_range_is_reported_even_with_a_valid_checksum() {
    let s = Scratch::new("batch_range");
    let batches = standard_journal(&s);
    // Batch 2 claims seqs 6..=8 (really 5..=8); the checksum is recomputed so only the range check fails.
    let last_hash = ChainHash(read_blob(&s.db(), "SELECT last_hash FROM batches WHERE batch_id = ?1", 2).try_into().expect("32 bytes"));
    let sum = batch_checksum(BatchId(2), Seq(6), Seq(8), &last_hash, &batches[1].state_hash);
    tamper(&s.db(), "UPDATE batches SET first_seq = 6, checksum = ?1 WHERE batch_id = 2", [&sum[..]]);
    assert_eq!(recover(&s.db()), Err(JournalError::BatchRangeMismatch { batch_id: 2, first_seq: 6, last_seq: 8, expected_first_seq: 5 }));
}

#[test]
fn batch_row_with_a_wrong_chain_hash_is_reported_even_with_a_valid_checksum() {
    let s = Scratch::new("batch_hash");
    let batches = standard_journal(&s);
    let wrong = ChainHash([0x11; 32]);
    let sum = batch_checksum(BatchId(2), Seq(5), Seq(8), &wrong, &batches[1].state_hash);
    tamper(&s.db(), "UPDATE batches SET last_hash = ?1, checksum = ?2 WHERE batch_id = 2", params![&wrong.0[..], &sum[..]]);
    assert_eq!(recover(&s.db()), Err(JournalError::BatchHashMismatch { batch_id: 2, last_seq: 8 }));
}

#[test]
fn batch_deleted_from_the_middle_is_reported_as_missing() {
    let s = Scratch::new("batch_missing");
    standard_journal(&s);
    tamper(&s.db(), "DELETE FROM batches WHERE batch_id = 2", []);
    assert_eq!(recover(&s.db()), Err(JournalError::BatchMissing { expected_batch_id: 2, found_batch_id: 3 }));
}

#[test]
fn changed_snapshot_byte_is_reported_as_snapshot_corruption() {
    let s = Scratch::new("snapshot_flip");
    standard_journal(&s);
    let st = flip(read_blob(&s.db(), "SELECT state FROM snapshots WHERE last_seq = ?1", 12), 4);
    tamper(&s.db(), "UPDATE snapshots SET state = ?1 WHERE last_seq = 12", [st]);
    assert_eq!(recover(&s.db()), Err(JournalError::SnapshotCorrupt { last_seq: 12 }));
    // The documented way out: ignore snapshots and replay the whole log, which is intact.
    let mut j = open(&s.db());
    let full = j.recover_from_genesis().expect("full replay still possible");
    assert!(full.snapshot.is_none());
    assert_eq!(full.batches.len(), 6);
}

#[test]
fn snapshot_that_disagrees_with_its_batch_is_reported() {
    // A snapshot with a valid checksum but a state hash that is not the batch's.
    let s = Scratch::new("snapshot_inconsistent");
    standard_journal(&s);
    let chain = ChainHash(read_blob(&s.db(), "SELECT chain_hash FROM snapshots WHERE last_seq = ?1", 12).try_into().expect("32 bytes"));
    let wrong = StateHash([0x22; 32]);
    let state = b"snapshot-state-bytes-after-batch-3";
    let sum = snapshot_checksum(Seq(12), BatchId(3), &wrong, &chain, state);
    tamper(&s.db(), "UPDATE snapshots SET state_hash = ?1, checksum = ?2 WHERE last_seq = 12", params![&wrong.0[..], &sum[..]]);
    let err = recover(&s.db()).expect_err("must refuse");
    assert!(matches!(err, JournalError::SnapshotInconsistent { last_seq: 12, batch_id: 3, .. }), "{err:?}");
}

#[test]
fn altered_head_row_is_reported() {
    let s = Scratch::new("head_flip");
    standard_journal(&s);
    tamper(&s.db(), "UPDATE head SET last_seq = 23", []);
    assert_eq!(recover(&s.db()).map(|_| ()), Err(JournalError::HeadCorrupt));
}

#[test]
fn deleted_head_row_is_reported() {
    let s = Scratch::new("head_delete");
    standard_journal(&s);
    tamper(&s.db(), "DELETE FROM head", []);
    assert_eq!(recover(&s.db()).map(|_| ()), Err(JournalError::HeadMissing));
}

#[test]
fn records_beyond_the_head_are_reported() {
    // A well-formed extra batch 7 that the head does not know about (e.g. a head row restored from an old
    // copy of the file).
    let s = Scratch::new("beyond_head");
    standard_journal(&s);
    let last = ChainHash(read_blob(&s.db(), "SELECT hash FROM records WHERE seq = ?1", 24).try_into().expect("32 bytes"));
    let h = record_hash(Seq(25), BatchId(7), &last, b"c", b"r");
    let sh = StateHash([3; 32]);
    let sum = batch_checksum(BatchId(7), Seq(25), Seq(25), &h, &sh);
    tamper(
        &s.db(),
        "INSERT INTO records (seq, batch_id, prev_hash, hash, command, result) VALUES (25, 7, ?1, ?2, ?3, ?4)",
        params![&last.0[..], &h.0[..], &b"c"[..], &b"r"[..]],
    );
    tamper(
        &s.db(),
        "INSERT INTO batches (batch_id, first_seq, last_seq, state_hash, last_hash, checksum) VALUES (7, 25, 25, ?1, ?2, ?3)",
        params![&sh.0[..], &h.0[..], &sum[..]],
    );
    assert_eq!(
        recover(&s.db()),
        Err(JournalError::RecordsBeyondHead { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 25, found_last_batch_id: 7 })
    );
}

#[test]
fn wrong_format_version_is_refused() {
    let s = Scratch::new("format_version");
    standard_journal(&s);
    tamper(&s.db(), "UPDATE meta SET value = 99 WHERE key = 'format_version'", []);
    assert_eq!(recover(&s.db()).map(|_| ()), Err(JournalError::FormatVersionMismatch { found: 99, supported: journal::FORMAT_VERSION }));
}

#[test]
fn foreign_sqlite_database_is_not_a_journal() {
    let s = Scratch::new("foreign_db");
    let conn = Connection::open(s.db()).expect("raw");
    conn.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY)").expect("create");
    drop(conn);
    assert!(matches!(recover(&s.db()), Err(JournalError::NotAJournal { .. })));
}

#[test]
fn non_database_file_is_reported_as_corrupt_storage() {
    let s = Scratch::new("garbage_file");
    std::fs::write(s.db(), vec![0x5Au8; 64 * 1024]).expect("write garbage");
    let err = recover(&s.db()).expect_err("must refuse");
    assert!(matches!(err, JournalError::StorageCorrupt { .. }), "{err:?}");
    assert!(err.is_corruption());
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
        j.write_snapshot(&SnapshotIn {
            last_seq: Seq(2000),
            batch_id: BatchId(40),
            state_hash: batches[39].state_hash,
            state: &vec![0x42; 50_000],
        })
        .expect("snapshot");
    }
    // Closing the last connection checkpoints the WAL into the main file and removes it.
    assert!(!s.dir.join("journal.sqlite-wal").exists(), "WAL should be checkpointed on close");
    let len = std::fs::metadata(s.db()).expect("metadata").len();
    assert!(len > 200_000, "database unexpectedly small: {len}");
    let f = std::fs::OpenOptions::new().write(true).open(s.db()).expect("open file");
    f.set_len(len / 2).expect("truncate");
    drop(f);
    let err = recover(&s.db()).expect_err("must refuse");
    assert!(matches!(err, JournalError::StorageCorrupt { .. }), "{err:?}");
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
    let err = recover(&s.db()).expect_err("must refuse");
    assert!(err.is_corruption(), "{err:?}");
}

#[test]
fn tail_only_verification_skips_pre_snapshot_records_but_checks_the_tail() {
    let config = JournalConfig { verify_full_chain: false, ..JournalConfig::default() };
    let open_tail_only = |p: &Path| SqliteJournal::open(p, config).and_then(|mut j| j.recover());
    // Damage before the snapshot (seq 3) is out of scope of a tail-only check: recovery succeeds and
    // verifies only the 12 tail records...
    let s = Scratch::new("tail_only_before");
    standard_journal(&s);
    let c = flip(read_blob(&s.db(), "SELECT command FROM records WHERE seq = ?1", 3), 3);
    tamper(&s.db(), "UPDATE records SET command = ?1 WHERE seq = 3", [c]);
    let rec = open_tail_only(&s.db()).expect("tail-only recovery ignores pre-snapshot records");
    assert_eq!(rec.verified_records, 12);
    assert_eq!(rec.batches.len(), 3);
    // ...while the default configuration refuses the same file.
    assert_eq!(recover(&s.db()), Err(JournalError::RecordCorrupt { seq: 3, batch_id: 1 }));

    // Damage after the snapshot is caught either way.
    let s = Scratch::new("tail_only_after");
    standard_journal(&s);
    let c = flip(read_blob(&s.db(), "SELECT result FROM records WHERE seq = ?1", 13), 1);
    tamper(&s.db(), "UPDATE records SET result = ?1 WHERE seq = 13", [c]);
    assert_eq!(open_tail_only(&s.db()), Err(JournalError::RecordCorrupt { seq: 13, batch_id: 4 }));
}

#[test]
fn first_tail_record_must_link_to_the_snapshot_in_tail_only_mode() {
    let config = JournalConfig { verify_full_chain: false, ..JournalConfig::default() };
    let s = Scratch::new("tail_only_link");
    standard_journal(&s);
    let fake_prev = ChainHash([0xCD; 32]);
    let h = record_hash(Seq(13), BatchId(4), &fake_prev, b"forged", b"ok");
    tamper(
        &s.db(),
        "UPDATE records SET prev_hash = ?1, hash = ?2, command = ?3, result = ?4 WHERE seq = 13",
        params![&fake_prev.0[..], &h.0[..], &b"forged"[..], &b"ok"[..]],
    );
    let got = SqliteJournal::open(s.db(), config).and_then(|mut j| j.recover());
    assert_eq!(got, Err(JournalError::ChainBroken { seq: 13, prev_seq: 12 }));
}

#[test]
fn recovery_tail_longer_than_the_limit_is_refused() {
    let s = Scratch::new("tail_limit");
    standard_journal(&s);
    let config = JournalConfig { max_recovery_tail_records: 5, ..JournalConfig::default() };
    let got = SqliteJournal::open(s.db(), config).and_then(|mut j| j.recover());
    assert_eq!(got, Err(JournalError::RecoveryTailTooLong { records: 12, limit: 5 }));
}

#[test]
fn result_of_refuses_a_damaged_record() {
    let s = Scratch::new("result_of_damaged");
    let batches = standard_journal(&s);
    let c = flip(read_blob(&s.db(), "SELECT command FROM records WHERE seq = ?1", 7), 0);
    tamper(&s.db(), "UPDATE records SET command = ?1 WHERE seq = 7", [c]);
    let j = open(&s.db());
    assert_eq!(j.result_of(Seq(7)), Err(JournalError::RecordCorrupt { seq: 7, batch_id: 2 }));
    let ok = j.result_of(Seq(8)).expect("undamaged record").expect("present");
    assert_eq!(ok.result, batches[1].records[3].2);
}

#[test]
fn stray_record_keyed_below_one_is_reported() {
    // A row the in-order walk from seq 1 would never visit.
    let s = Scratch::new("stray_row");
    standard_journal(&s);
    tamper(
        &s.db(),
        "INSERT INTO records (seq, batch_id, prev_hash, hash, command, result) VALUES (0, 1, ?1, ?1, x'', x'')",
        [&[0u8; 32][..]],
    );
    assert_eq!(recover(&s.db()).map(|_| ()), Err(JournalError::RowOutOfRange { table: "records", column: "seq", value: 0 }));
}

#[test]
fn a_journal_found_corrupt_refuses_further_writes() {
    let s = Scratch::new("poison_on_corruption");
    standard_journal(&s);
    let c = flip(read_blob(&s.db(), "SELECT command FROM records WHERE seq = ?1", 5), 10);
    tamper(&s.db(), "UPDATE records SET command = ?1 WHERE seq = 5", [c]);
    let mut j = open(&s.db());
    assert_eq!(j.recover().map(|_| ()), Err(JournalError::RecordCorrupt { seq: 5, batch_id: 2 }));
    let next = make_batches(25, &[1], 30);
    assert_eq!(next[0].append(&mut j), Err(JournalError::Poisoned));
}
