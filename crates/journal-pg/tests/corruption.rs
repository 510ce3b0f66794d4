//! Damage the journal's tables behind its back (with a second PostgreSQL session) and check that recovery
//! REFUSES with the same typed error as the SQLite backend gives for the same damage
//! (`crates/journal/tests/corruption.rs`). File-level damage (truncated or zeroed database files) is the
//! storage engine's business and has no row-level counterpart here.

mod common;

use common::{OwnedBatch, TestDb, make_batches};
use journal::chain::{batch_checksum, record_hash, snapshot_checksum};
use journal::{BatchId, ChainHash, JournalConfig, JournalError, JournalStore, Recovery, Seq, SnapshotIn, StateHash};

/// Six batches of four records (seqs 1..=24), a snapshot after batch 3 (seq 12), journal closed.
fn standard_journal(db: &TestDb) -> Vec<OwnedBatch> {
    let batches = make_batches(1, &[4; 6], 11);
    let mut j = db.open();
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
    j.close().expect("close");
    let mut j = db.open();
    let rec = j.recover().expect("undamaged journal recovers");
    assert_eq!(rec.head.last_seq, Seq(24));
    batches
}

fn flip(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 0x01;
    bytes
}

fn recover(db: &TestDb) -> Result<Recovery, JournalError> {
    db.try_open(JournalConfig::default()).and_then(|mut j| j.recover())
}

fn hash32(bytes: Vec<u8>) -> ChainHash {
    ChainHash(bytes.try_into().expect("32 bytes"))
}

#[test]
fn flipped_command_byte_is_reported_at_its_seq() {
    let db = pg_or_skip!("flip_command");
    standard_journal(&db);
    let c = flip(db.read_blob("SELECT command FROM records WHERE seq = $1", 5), 10);
    db.tamper("UPDATE records SET command = $1 WHERE seq = 5", &[&c]);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 5, batch_id: 2 }));
}

#[test]
fn flipped_result_byte_is_reported_at_its_seq() {
    let db = pg_or_skip!("flip_result");
    standard_journal(&db);
    let r = flip(db.read_blob("SELECT result FROM records WHERE seq = $1", 18), 0);
    db.tamper("UPDATE records SET result = $1 WHERE seq = 18", &[&r]);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 18, batch_id: 5 }));
}

#[test]
fn flipped_hash_byte_is_reported_at_its_seq() {
    let db = pg_or_skip!("flip_hash");
    standard_journal(&db);
    let h = flip(db.read_blob("SELECT hash FROM records WHERE seq = $1", 9), 31);
    db.tamper("UPDATE records SET hash = $1 WHERE seq = 9", &[&h]);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 9, batch_id: 3 }));
}

#[test]
fn flipped_prev_hash_byte_is_reported_at_its_seq() {
    let db = pg_or_skip!("flip_prev_hash");
    standard_journal(&db);
    let h = flip(db.read_blob("SELECT prev_hash FROM records WHERE seq = $1", 2), 0);
    db.tamper("UPDATE records SET prev_hash = $1 WHERE seq = 2", &[&h]);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 2, batch_id: 1 }));
}

#[test]
fn truncated_hash_is_a_malformed_row() {
    let db = pg_or_skip!("short_hash");
    standard_journal(&db);
    db.tamper("UPDATE records SET hash = substring(hash from 1 for 31) WHERE seq = 4", &[]);
    assert_eq!(recover(&db), Err(JournalError::RowMalformed { table: "records", key: 4, column: "hash" }));
}

#[test]
fn tampering_with_pre_snapshot_records_is_still_detected() {
    let db = pg_or_skip!("flip_before_snapshot");
    standard_journal(&db);
    let c = flip(db.read_blob("SELECT command FROM records WHERE seq = $1", 3), 3);
    db.tamper("UPDATE records SET command = $1 WHERE seq = 3", &[&c]);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 3, batch_id: 1 }));
}

#[test]
fn record_deleted_from_the_middle_is_reported_as_missing() {
    let db = pg_or_skip!("delete_middle");
    standard_journal(&db);
    db.tamper("DELETE FROM records WHERE seq = 10", &[]);
    assert_eq!(recover(&db), Err(JournalError::RecordMissing { expected_seq: 10, found_seq: 11 }));
}

#[test]
fn deleted_last_record_is_reported_as_a_missing_tail() {
    let db = pg_or_skip!("delete_last_record");
    standard_journal(&db);
    db.tamper("DELETE FROM records WHERE seq = 24", &[]);
    assert_eq!(
        recover(&db),
        Err(JournalError::TailMissing { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 23, found_last_batch_id: 6 })
    );
}

#[test]
fn deleted_last_batch_is_reported_as_a_missing_tail() {
    let db = pg_or_skip!("delete_last_batch");
    standard_journal(&db);
    db.tamper("DELETE FROM records WHERE batch_id = 6", &[]);
    db.tamper("DELETE FROM batches WHERE batch_id = 6", &[]);
    assert_eq!(
        recover(&db),
        Err(JournalError::TailMissing { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 20, found_last_batch_id: 5 })
    );
}

#[test]
fn deleted_last_records_of_a_batch_are_reported_as_a_missing_tail() {
    let db = pg_or_skip!("delete_tail_records");
    standard_journal(&db);
    db.tamper("DELETE FROM records WHERE seq >= 22", &[]);
    let err = recover(&db).expect_err("must refuse");
    assert!(matches!(err, JournalError::TailMissing { head_last_seq: 24, found_last_seq: 21, .. }), "{err:?}");
}

#[test]
fn swapped_payloads_of_two_records_are_detected() {
    let db = pg_or_skip!("swap_payloads");
    standard_journal(&db);
    let c14 = db.read_blob("SELECT command FROM records WHERE seq = $1", 14);
    let r14 = db.read_blob("SELECT result FROM records WHERE seq = $1", 14);
    let c15 = db.read_blob("SELECT command FROM records WHERE seq = $1", 15);
    let r15 = db.read_blob("SELECT result FROM records WHERE seq = $1", 15);
    db.tamper("UPDATE records SET command = $1, result = $2 WHERE seq = 14", &[&c15, &r15]);
    db.tamper("UPDATE records SET command = $1, result = $2 WHERE seq = 15", &[&c14, &r14]);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 14, batch_id: 4 }));
}

#[test]
fn swapped_whole_rows_are_detected() {
    let db = pg_or_skip!("swap_rows");
    standard_journal(&db);
    db.tamper("UPDATE records SET seq = -7 WHERE seq = 7", &[]);
    db.tamper("UPDATE records SET seq = 7 WHERE seq = 8", &[]);
    db.tamper("UPDATE records SET seq = 8 WHERE seq = -7", &[]);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 7, batch_id: 2 }));
}

#[test]
fn self_consistent_record_that_does_not_link_breaks_the_chain() {
    let db = pg_or_skip!("chain_broken");
    standard_journal(&db);
    let fake_prev = ChainHash([0xAB; 32]);
    let h = record_hash(Seq(6), BatchId(2), &fake_prev, b"forged", b"ok");
    db.tamper(
        "UPDATE records SET prev_hash = $1, hash = $2, command = $3, result = $4 WHERE seq = 6",
        &[&&fake_prev.0[..], &&h.0[..], &&b"forged"[..], &&b"ok"[..]],
    );
    assert_eq!(recover(&db), Err(JournalError::ChainBroken { seq: 6, prev_seq: 5 }));
}

#[test]
fn altered_batch_state_hash_is_reported_by_batch() {
    let db = pg_or_skip!("batch_state_hash");
    standard_journal(&db);
    let h = flip(db.read_blob("SELECT state_hash FROM batches WHERE batch_id = $1", 4), 7);
    db.tamper("UPDATE batches SET state_hash = $1 WHERE batch_id = 4", &[&h]);
    assert_eq!(recover(&db), Err(JournalError::BatchCorrupt { batch_id: 4 }));
}

#[test]
fn batch_row_with_a_wrong_range_is_reported_even_with_a_valid_checksum() {
    let db = pg_or_skip!("batch_range");
    let batches = standard_journal(&db);
    let last_hash = hash32(db.read_blob("SELECT last_hash FROM batches WHERE batch_id = $1", 2));
    let sum = batch_checksum(BatchId(2), Seq(6), Seq(8), &last_hash, &batches[1].state_hash);
    db.tamper("UPDATE batches SET first_seq = 6, checksum = $1 WHERE batch_id = 2", &[&&sum[..]]);
    assert_eq!(recover(&db), Err(JournalError::BatchRangeMismatch { batch_id: 2, first_seq: 6, last_seq: 8, expected_first_seq: 5 }));
}

#[test]
fn batch_row_with_a_wrong_chain_hash_is_reported_even_with_a_valid_checksum() {
    let db = pg_or_skip!("batch_hash");
    let batches = standard_journal(&db);
    let wrong = ChainHash([0x11; 32]);
    let sum = batch_checksum(BatchId(2), Seq(5), Seq(8), &wrong, &batches[1].state_hash);
    db.tamper("UPDATE batches SET last_hash = $1, checksum = $2 WHERE batch_id = 2", &[&&wrong.0[..], &&sum[..]]);
    assert_eq!(recover(&db), Err(JournalError::BatchHashMismatch { batch_id: 2, last_seq: 8 }));
}

#[test]
fn batch_deleted_from_the_middle_is_reported_as_missing() {
    let db = pg_or_skip!("batch_missing");
    standard_journal(&db);
    db.tamper("DELETE FROM batches WHERE batch_id = 2", &[]);
    assert_eq!(recover(&db), Err(JournalError::BatchMissing { expected_batch_id: 2, found_batch_id: 3 }));
}

#[test]
fn changed_snapshot_byte_is_reported_as_snapshot_corruption() {
    let db = pg_or_skip!("snapshot_flip");
    standard_journal(&db);
    let st = flip(db.read_blob("SELECT state FROM snapshots WHERE last_seq = $1", 12), 4);
    db.tamper("UPDATE snapshots SET state = $1 WHERE last_seq = 12", &[&st]);
    assert_eq!(recover(&db), Err(JournalError::SnapshotCorrupt { last_seq: 12 }));
    let mut j = db.open();
    let full = j.recover_from_genesis().expect("full replay still possible");
    assert!(full.snapshot.is_none());
    assert_eq!(full.batches.len(), 6);
}

#[test]
fn snapshot_that_disagrees_with_its_batch_is_reported() {
    let db = pg_or_skip!("snapshot_inconsistent");
    standard_journal(&db);
    let chain = hash32(db.read_blob("SELECT chain_hash FROM snapshots WHERE last_seq = $1", 12));
    let wrong = StateHash([0x22; 32]);
    let sum = snapshot_checksum(Seq(12), BatchId(3), &wrong, &chain, b"snapshot-state-bytes-after-batch-3");
    db.tamper("UPDATE snapshots SET state_hash = $1, checksum = $2 WHERE last_seq = 12", &[&&wrong.0[..], &&sum[..]]);
    let err = recover(&db).expect_err("must refuse");
    assert!(matches!(err, JournalError::SnapshotInconsistent { last_seq: 12, batch_id: 3, .. }), "{err:?}");
}

#[test]
fn altered_head_row_is_reported() {
    let db = pg_or_skip!("head_flip");
    standard_journal(&db);
    db.tamper("UPDATE head SET last_seq = 23", &[]);
    assert_eq!(recover(&db).map(|_| ()), Err(JournalError::HeadCorrupt));
}

#[test]
fn deleted_head_row_is_reported() {
    let db = pg_or_skip!("head_delete");
    standard_journal(&db);
    db.tamper("DELETE FROM head", &[]);
    assert_eq!(recover(&db).map(|_| ()), Err(JournalError::HeadMissing));
}

#[test]
fn records_beyond_the_head_are_reported() {
    let db = pg_or_skip!("beyond_head");
    standard_journal(&db);
    let last = hash32(db.read_blob("SELECT hash FROM records WHERE seq = $1", 24));
    let h = record_hash(Seq(25), BatchId(7), &last, b"c", b"r");
    let sh = StateHash([3; 32]);
    let sum = batch_checksum(BatchId(7), Seq(25), Seq(25), &h, &sh);
    db.tamper(
        "INSERT INTO records (seq, batch_id, prev_hash, hash, command, result) VALUES (25, 7, $1, $2, $3, $4)",
        &[&&last.0[..], &&h.0[..], &&b"c"[..], &&b"r"[..]],
    );
    db.tamper(
        "INSERT INTO batches (batch_id, first_seq, last_seq, state_hash, last_hash, checksum) VALUES (7, 25, 25, $1, $2, $3)",
        &[&&sh.0[..], &&h.0[..], &&sum[..]],
    );
    assert_eq!(
        recover(&db),
        Err(JournalError::RecordsBeyondHead { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 25, found_last_batch_id: 7 })
    );
}

#[test]
fn dropped_table_makes_the_schema_not_a_journal() {
    let db = pg_or_skip!("dropped_table");
    standard_journal(&db);
    db.raw().batch_execute(&format!("DROP TABLE {}.snapshots", db.schema)).expect("drop");
    assert!(matches!(recover(&db), Err(JournalError::NotAJournal { .. })));
}

#[test]
fn tail_only_verification_skips_pre_snapshot_records_but_checks_the_tail() {
    let config = JournalConfig { verify_full_chain: false, ..JournalConfig::default() };
    let tail_only = |db: &TestDb| db.try_open(config).and_then(|mut j| j.recover());
    let db = pg_or_skip!("tail_only_before");
    standard_journal(&db);
    let c = flip(db.read_blob("SELECT command FROM records WHERE seq = $1", 3), 3);
    db.tamper("UPDATE records SET command = $1 WHERE seq = 3", &[&c]);
    let rec = tail_only(&db).expect("tail-only recovery ignores pre-snapshot records");
    assert_eq!(rec.verified_records, 12);
    assert_eq!(rec.batches.len(), 3);
    assert_eq!(recover(&db), Err(JournalError::RecordCorrupt { seq: 3, batch_id: 1 }));

    let db = TestDb::new("tail_only_after").expect("server is up");
    standard_journal(&db);
    let c = flip(db.read_blob("SELECT result FROM records WHERE seq = $1", 13), 1);
    db.tamper("UPDATE records SET result = $1 WHERE seq = 13", &[&c]);
    assert_eq!(tail_only(&db), Err(JournalError::RecordCorrupt { seq: 13, batch_id: 4 }));
}

#[test]
fn first_tail_record_must_link_to_the_snapshot_in_tail_only_mode() {
    let config = JournalConfig { verify_full_chain: false, ..JournalConfig::default() };
    let db = pg_or_skip!("tail_only_link");
    standard_journal(&db);
    let fake_prev = ChainHash([0xCD; 32]);
    let h = record_hash(Seq(13), BatchId(4), &fake_prev, b"forged", b"ok");
    db.tamper(
        "UPDATE records SET prev_hash = $1, hash = $2, command = $3, result = $4 WHERE seq = 13",
        &[&&fake_prev.0[..], &&h.0[..], &&b"forged"[..], &&b"ok"[..]],
    );
    assert_eq!(db.try_open(config).and_then(|mut j| j.recover()), Err(JournalError::ChainBroken { seq: 13, prev_seq: 12 }));
}

#[test]
fn recovery_tail_longer_than_the_limit_is_refused() {
    let db = pg_or_skip!("tail_limit");
    standard_journal(&db);
    let config = JournalConfig { max_recovery_tail_records: 5, ..JournalConfig::default() };
    assert_eq!(db.try_open(config).and_then(|mut j| j.recover()), Err(JournalError::RecoveryTailTooLong { records: 12, limit: 5 }));
}

#[test]
fn result_of_refuses_a_damaged_record() {
    let db = pg_or_skip!("result_of_damaged");
    let batches = standard_journal(&db);
    let c = flip(db.read_blob("SELECT command FROM records WHERE seq = $1", 7), 0);
    db.tamper("UPDATE records SET command = $1 WHERE seq = 7", &[&c]);
    let j = db.open();
    assert_eq!(j.result_of(Seq(7)), Err(JournalError::RecordCorrupt { seq: 7, batch_id: 2 }));
    let ok = j.result_of(Seq(8)).expect("undamaged record").expect("present");
    assert_eq!(ok.result, batches[1].records[3].2);
}

#[test]
fn stray_record_keyed_below_one_is_reported() {
    let db = pg_or_skip!("stray_row");
    standard_journal(&db);
    db.tamper("INSERT INTO records (seq, batch_id, prev_hash, hash, command, result) VALUES (0, 1, $1, $1, '', '')", &[&&[0u8; 32][..]]);
    assert_eq!(recover(&db).map(|_| ()), Err(JournalError::RowOutOfRange { table: "records", column: "seq", value: 0 }));
}

#[test]
fn a_journal_found_corrupt_refuses_further_writes() {
    let db = pg_or_skip!("poison_on_corruption");
    standard_journal(&db);
    let c = flip(db.read_blob("SELECT command FROM records WHERE seq = $1", 5), 10);
    db.tamper("UPDATE records SET command = $1 WHERE seq = 5", &[&c]);
    let mut j = db.open();
    assert_eq!(j.recover().map(|_| ()), Err(JournalError::RecordCorrupt { seq: 5, batch_id: 2 }));
    let next = make_batches(25, &[1], 30);
    assert_eq!(next[0].append(&mut j), Err(JournalError::Poisoned));
}
