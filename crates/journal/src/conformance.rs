//! The journal conformance suite: every check a [`JournalStore`] backend must pass, written once against
//! the trait, run by every backend (feature `conformance`; the backends enable it as a dev-dependency).
//!
//! A backend's test file implements [`Backend`] (how to open its journal, read-only too, and how to damage
//! its tables behind its back with SQL) and expands [`conformance_tests!`] once, which generates one
//! `#[test]` per check plus the `crash_child` entry point the crash checks re-run in a child process. A
//! third backend gets every check for free. Checks that only make sense for one storage engine (SQLite
//! page damage, PostgreSQL lock and fsync behaviour) stay in that backend's crate.
//!
//! This is test support: a failed check panics (with the values compared), as a test does.
//!
//! The checks compare what recovery returns with what was appended, and damage with the specific typed
//! [`JournalError`]: both backends share `journal::verify`, so they must give the same verdict on the
//! same rows.

use std::process::Command;

use crate::chain::{batch_checksum, record_hash, snapshot_checksum};
use crate::failpoint::{ENV_VAR, names};
use crate::{
    BatchId, BatchIn, BatchReceipt, ChainHash, FORMAT_VERSION, GENESIS_HASH, JournalConfig, JournalError, JournalStore, RecordIn,
    RecoveredBatch, Recovery, Seq, SnapshotIn, StateHash,
};

/// A parameter of a tampering statement.
#[derive(Clone, Debug)]
pub enum Param {
    Int(i64),
    Blob(Vec<u8>),
}

/// One journal location of one backend, for one check.
pub trait Backend {
    /// Opens (creating on first use) the journal as its writer.
    fn open(&self, config: JournalConfig) -> Result<Box<dyn JournalStore>, JournalError>;
    /// Opens the journal read-only (`verify`): no schema creation, no write of any kind.
    fn open_read_only(&self, config: JournalConfig) -> Result<Box<dyn JournalStore>, JournalError>;
    /// Runs one SQL statement on the journal's tables (`records`, `batches`, `snapshots`, `head`, `meta`,
    /// unqualified) through a separate connection, with placeholders `$1`, `$2`, ... used once each and in
    /// order. Returns the number of rows changed.
    fn execute(&self, sql: &str, params: &[Param]) -> u64;
    /// Reads one blob column of one row; `sql` has one placeholder `$1`, the key.
    fn read_blob(&self, sql: &str, key: i64) -> Vec<u8>;
    /// Creates, where the journal would live, a table that has nothing to do with a journal.
    fn create_foreign_table(&self);
    /// A string from which the backend's `reopen` function finds this journal in a child process.
    fn location(&self) -> String;
    /// How many bytes of a transaction reached storage before its COMMIT, for backends that can tell
    /// (SQLite: the size of the `-wal` file). Used to prove the big crash workload really spilled.
    fn spilled_bytes(&self) -> Option<u64> {
        None
    }
    /// True when [`JournalStore::append_batches`] writes its batches in one transaction (all or
    /// none survive a crash), false when it writes one transaction per batch.
    fn groups_atomically(&self) -> bool;
}

// ----- deterministic data -----

/// An owned batch as the checks expect to read it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedBatch {
    pub records: Vec<(u64, Vec<u8>, Vec<u8>)>,
    pub state_hash: StateHash,
}

impl OwnedBatch {
    pub fn append(&self, j: &mut dyn JournalStore) -> Result<BatchReceipt, JournalError> {
        j.append_batch(&BatchIn { records: &self.record_ins(), state_hash: self.state_hash })
    }

    /// The batch's records as the journal takes them.
    pub fn record_ins(&self) -> Vec<RecordIn<'_>> {
        self.records.iter().map(|(seq, c, r)| RecordIn { seq: Seq(*seq), command: c, result: r }).collect()
    }
}

/// Appends `batches` as one group ([`JournalStore::append_batches`]).
pub fn append_group(j: &mut dyn JournalStore, batches: &[OwnedBatch]) -> Result<Vec<BatchReceipt>, JournalError> {
    let ins: Vec<Vec<RecordIn<'_>>> = batches.iter().map(OwnedBatch::record_ins).collect();
    let group: Vec<BatchIn<'_>> =
        ins.iter().zip(batches).map(|(records, batch)| BatchIn { records, state_hash: batch.state_hash }).collect();
    j.append_batches(&group)
}

/// Deterministic batches: `sizes[i]` records in batch i+1, commands ~100 bytes and results ~60 bytes that
/// differ per seq and salt, state hash = blake3 of the batch number (the journal treats it as opaque).
pub fn make_batches(first_seq: u64, sizes: &[usize], salt: u8) -> Vec<OwnedBatch> {
    let mut seq = first_seq;
    let mut out = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let mut records = Vec::new();
        for _ in 0..n {
            let command = format!(
                "{{\"id\":\"cmd-{seq}\",\"kind\":\"place_order\",\"account\":\"acct-{}\",\"qty\":\"{}\",\"salt\":{salt}}}",
                seq % 7,
                seq * 13
            )
            .into_bytes();
            let result = format!("{{\"seq\":{seq},\"status\":\"accepted\",\"fill\":\"{}\"}}", seq * 3).into_bytes();
            records.push((seq, command, result));
            seq += 1;
        }
        let state_hash = StateHash(*blake3::hash(format!("state-{salt}-{i}-{seq}").as_bytes()).as_bytes());
        out.push(OwnedBatch { records, state_hash });
    }
    out
}

/// Compares recovered batches with the expected owned batches.
pub fn assert_batches_eq(recovered: &[RecoveredBatch], expected: &[OwnedBatch]) {
    assert_eq!(recovered.len(), expected.len(), "number of batches");
    for (r, e) in recovered.iter().zip(expected) {
        assert_eq!(r.state_hash, e.state_hash, "state hash of batch {:?}", r.batch_id);
        let got: Vec<(u64, Vec<u8>, Vec<u8>)> = r.records.iter().map(|s| (s.seq.0, s.command.clone(), s.result.clone())).collect();
        assert_eq!(got, e.records, "records of batch {:?}", r.batch_id);
        for s in &r.records {
            assert_eq!(s.batch_id, r.batch_id);
        }
    }
}

fn open(b: &dyn Backend) -> Box<dyn JournalStore> {
    b.open(JournalConfig::default()).expect("open journal")
}

fn recover(b: &dyn Backend) -> Result<Recovery, JournalError> {
    b.open(JournalConfig::default()).and_then(|mut j| j.recover())
}

fn recover_with(b: &dyn Backend, config: JournalConfig) -> Result<Recovery, JournalError> {
    b.open(config).and_then(|mut j| j.recover())
}

fn tamper(b: &dyn Backend, sql: &str, params: &[Param]) {
    let changed = b.execute(sql, params);
    assert!(changed >= 1, "tampering statement changed nothing: {sql}");
}

fn flip(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 0x01;
    bytes
}

fn hash32(bytes: Vec<u8>) -> ChainHash {
    ChainHash(bytes.try_into().expect("32 bytes"))
}

/// Flips one bit of one blob column of one row.
fn flip_column(b: &dyn Backend, table: &str, column: &str, key_column: &str, key: i64, at: usize) {
    let value = flip(b.read_blob(&format!("SELECT {column} FROM {table} WHERE {key_column} = $1"), key), at);
    tamper(b, &format!("UPDATE {table} SET {column} = $1 WHERE {key_column} = {key}"), &[Param::Blob(value)]);
}

/// Six batches of four records (seqs 1..=24), a snapshot after batch 3 (seq 12), journal closed.
pub fn standard_journal(b: &dyn Backend) -> Vec<OwnedBatch> {
    let batches = make_batches(1, &[4; 6], 11);
    let mut j = open(b);
    for (i, batch) in batches.iter().enumerate() {
        batch.append(j.as_mut()).expect("append");
        if i == 2 {
            j.write_snapshot(&SnapshotIn {
                last_seq: Seq(12),
                batch_id: BatchId(3),
                state_hash: batch.state_hash,
                state: b"snapshot-state-bytes-after-batch-3",
            })
            .expect("snapshot");
        }
    }
    drop(j);
    let rec = recover(b).expect("undamaged journal recovers");
    assert_eq!(rec.head.last_seq, Seq(24));
    batches
}

// ----- round trip -----

pub fn round_trip_with_snapshot_and_reopen(b: &dyn Backend) {
    let batches = make_batches(1, &[3, 1, 5, 2, 4, 1, 7], 1);
    let mut receipts = Vec::new();
    let snapshot_state = b"engine-state-after-batch-3".to_vec();
    {
        let mut j = open(b);
        assert_eq!(j.last_seq(), Seq(0));
        for (i, batch) in batches.iter().enumerate() {
            receipts.push(batch.append(j.as_mut()).expect("append"));
            if i == 2 {
                let snapshot = SnapshotIn { last_seq: Seq(9), batch_id: BatchId(3), state_hash: batch.state_hash, state: &snapshot_state };
                j.write_snapshot(&snapshot).expect("snapshot");
            }
        }
        assert_eq!(j.last_seq(), Seq(23));
    }
    let mut next = 1;
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!((r.batch_id, r.first_seq), (BatchId(i as u64 + 1), Seq(next)));
        next += batches[i].records.len() as u64;
        assert_eq!(r.last_seq, Seq(next - 1));
    }
    let mut j = open(b);
    assert_eq!(j.last_seq(), Seq(23));
    let rec = j.recover().expect("recover");
    let snap = rec.snapshot.as_ref().expect("snapshot present");
    assert_eq!((snap.last_seq, snap.batch_id), (Seq(9), BatchId(3)));
    assert_eq!(snap.state, snapshot_state);
    assert_eq!(snap.state_hash, batches[2].state_hash);
    assert_eq!(snap.chain_hash, receipts[2].chain_hash);
    assert_batches_eq(&rec.batches, &batches[3..]);
    for (batch, r) in rec.batches.iter().zip(&receipts[3..]) {
        assert_eq!((batch.batch_id, batch.chain_hash), (r.batch_id, r.chain_hash));
    }
    assert_eq!((rec.head.last_seq, rec.head.last_batch_id, rec.head.chain_hash), (Seq(23), BatchId(7), receipts[6].chain_hash));
    assert_eq!(rec.verified_records, 23);
    let full = j.recover_from_genesis().expect("recover from genesis");
    assert!(full.snapshot.is_none());
    assert_batches_eq(&full.batches, &batches);
    let r = make_batches(24, &[2], 2)[0].append(j.as_mut()).expect("append after recovery");
    assert_eq!((r.batch_id, r.first_seq), (BatchId(8), Seq(24)));
    let stats = j.stats().expect("stats");
    assert_eq!((stats.head.last_seq, stats.snapshot_count, stats.latest_snapshot_seq), (Seq(25), 1, Seq(9)));
    assert!(stats.storage_bytes > 0);
}

pub fn chain_hashes_follow_the_documented_formula(b: &dyn Backend) {
    // The chain is recomputed here from the published formula, record by record, starting at zeros.
    let batches = make_batches(1, &[2, 3], 3);
    let mut j = open(b);
    let mut prev = GENESIS_HASH;
    for (i, batch) in batches.iter().enumerate() {
        let receipt = batch.append(j.as_mut()).expect("append");
        for (seq, c, r) in &batch.records {
            let h = record_hash(Seq(*seq), BatchId(i as u64 + 1), &prev, c, r);
            assert_eq!(j.result_of(Seq(*seq)).expect("read").expect("present").hash, h);
            prev = h;
        }
        assert_eq!(receipt.chain_hash, prev);
    }
}

pub fn result_of_returns_the_committed_record(b: &dyn Backend) {
    let batches = make_batches(1, &[4, 4], 4);
    let mut j = open(b);
    for batch in &batches {
        batch.append(j.as_mut()).expect("append");
    }
    let r = j.result_of(Seq(6)).expect("read").expect("present");
    assert_eq!((r.seq, r.batch_id), (Seq(6), BatchId(2)));
    assert_eq!(r.command, batches[1].records[1].1);
    assert_eq!(r.result, batches[1].records[1].2);
    assert_eq!(j.result_of(Seq(0)).expect("read"), None);
    assert_eq!(j.result_of(Seq(9)).expect("read"), None);
}

pub fn empty_payloads_round_trip(b: &dyn Backend) {
    let batch = OwnedBatch { records: vec![(1, Vec::new(), Vec::new()), (2, b"x".to_vec(), Vec::new())], state_hash: StateHash([9; 32]) };
    batch.append(open(b).as_mut()).expect("append");
    assert_batches_eq(&recover(b).expect("recover").batches, &[batch]);
}

pub fn append_rejects_bad_batches_without_writing(b: &dyn Backend) {
    let config = JournalConfig { max_batch_records: 3, max_command_bytes: 10, max_result_bytes: 5, ..JournalConfig::default() };
    let mut j = b.open(config).expect("open");
    let sh = StateHash([1; 32]);
    let rec = |seq, command: &'static [u8], result: &'static [u8]| RecordIn { seq: Seq(seq), command, result };
    let mut append = |records: &[RecordIn<'_>]| j.append_batch(&BatchIn { records, state_hash: sh });
    assert_eq!(append(&[]), Err(JournalError::EmptyBatch));
    assert_eq!(append(&[rec(2, b"a", b"b")]), Err(JournalError::SeqNotContiguous { index: 0, expected: 1, got: 2 }));
    assert_eq!(append(&[rec(1, b"a", b"b"), rec(3, b"a", b"b")]), Err(JournalError::SeqNotContiguous { index: 1, expected: 2, got: 3 }));
    let four = [rec(1, b"a", b"b"), rec(2, b"a", b"b"), rec(3, b"a", b"b"), rec(4, b"a", b"b")];
    assert_eq!(append(&four), Err(JournalError::BatchTooLarge { records: 4, limit: 3 }));
    assert_eq!(append(&[rec(1, b"0123456789X", b"b")]), Err(JournalError::CommandTooLarge { seq: 1, bytes: 11, limit: 10 }));
    assert_eq!(append(&[rec(1, b"a", b"012345")]), Err(JournalError::ResultTooLarge { seq: 1, bytes: 6, limit: 5 }));
    // Nothing was written, and the journal still accepts a good batch.
    assert_eq!(append(&[rec(1, b"a", b"b")]).expect("good batch").batch_id, BatchId(1));
    assert_eq!(append(&[rec(1, b"a", b"b")]), Err(JournalError::SeqNotContiguous { index: 0, expected: 2, got: 1 }));
}

/// Batches appended together read back exactly as the same batches appended one by one: the same
/// batch ids, rows, receipts and chain (group commit changes only when they become durable).
pub fn batches_appended_together_are_the_batches_appended_one_by_one(b: &dyn Backend) {
    let batches = make_batches(1, &[2, 3, 1, 4], 8);
    let mut j = open(b);
    let first = append_group(j.as_mut(), &batches[..1]).expect("one");
    let rest = append_group(j.as_mut(), &batches[1..]).expect("three at once");
    let receipts: Vec<BatchReceipt> = first.into_iter().chain(rest).collect();
    assert_eq!(receipts.iter().map(|r| r.batch_id).collect::<Vec<_>>(), [BatchId(1), BatchId(2), BatchId(3), BatchId(4)]);
    assert_eq!(j.head().last_seq, Seq(10));
    drop(j);
    let rec = recover(b).expect("recover");
    assert_batches_eq(&rec.batches, &batches);
    let mut prev = GENESIS_HASH;
    for ((i, batch), receipt) in batches.iter().enumerate().zip(&receipts) {
        for (seq, c, r) in &batch.records {
            prev = record_hash(Seq(*seq), BatchId(i as u64 + 1), &prev, c, r);
        }
        assert_eq!((receipt.first_seq, receipt.last_seq), (Seq(batch.records[0].0), Seq(batch.records.last().expect("records").0)));
        assert_eq!(receipt.chain_hash, prev, "batch {}", i + 1);
    }
    assert_eq!(rec.head.chain_hash, prev);
}

/// A snapshot due at a batch inside a group is written after the group, as the node does: it
/// anchors on that batch (its id, last seq and chain hash), not on the group's last, and recovery
/// starts from it and replays the batches after it.
pub fn a_snapshot_of_a_batch_inside_a_group_anchors_on_that_batch(b: &dyn Backend) {
    let batches = make_batches(1, &[2, 3, 1, 4], 10);
    let mut j = open(b);
    let receipts = append_group(j.as_mut(), &batches).expect("four at once");
    let inside = &receipts[1];
    let snapshot =
        SnapshotIn { last_seq: inside.last_seq, batch_id: inside.batch_id, state_hash: batches[1].state_hash, state: b"after 2" };
    j.write_snapshot(&snapshot).expect("a snapshot of batch 2 after batch 4 is in");
    drop(j);
    let rec = recover(b).expect("recover");
    let snap = rec.snapshot.expect("the snapshot");
    assert_eq!((snap.batch_id, snap.last_seq, snap.chain_hash), (BatchId(2), Seq(5), inside.chain_hash));
    assert_eq!((snap.state_hash, snap.state.as_slice()), (batches[1].state_hash, &b"after 2"[..]));
    assert_batches_eq(&rec.batches, &batches[2..]);
    assert_eq!(rec.head.last_seq, Seq(10));
}

/// A bad batch anywhere in a group is refused before anything is written: the good batches
/// before it are not written either, and the journal takes them afterwards.
pub fn a_group_with_a_bad_batch_writes_nothing(b: &dyn Backend) {
    let batches = make_batches(1, &[2, 2], 9);
    let ins: Vec<Vec<RecordIn<'_>>> = batches.iter().map(OwnedBatch::record_ins).collect();
    let good = BatchIn { records: &ins[0], state_hash: batches[0].state_hash };
    let mut j = open(b);
    assert_eq!(j.append_batches(&[]), Err(JournalError::EmptyBatch));
    let gap = BatchIn { records: &ins[1][1..], state_hash: batches[1].state_hash };
    assert_eq!(j.append_batches(&[good, gap]), Err(JournalError::SeqNotContiguous { index: 0, expected: 3, got: 4 }));
    assert_eq!(j.append_batches(&[good, BatchIn { records: &[], state_hash: batches[1].state_hash }]), Err(JournalError::EmptyBatch));
    assert_eq!(j.head().last_seq, Seq(0));
    let second = BatchIn { records: &ins[1], state_hash: batches[1].state_hash };
    assert_eq!(j.append_batches(&[good, second]).expect("both").len(), 2);
    drop(j);
    assert_batches_eq(&recover(b).expect("recover").batches, &batches);
}

pub fn snapshot_must_sit_on_a_batch_boundary_and_match_its_state_hash(b: &dyn Backend) {
    let batches = make_batches(1, &[3, 2], 5);
    let mut j = open(b);
    for batch in &batches {
        batch.append(j.as_mut()).expect("append");
    }
    let snap =
        |last_seq, batch_id, state_hash| SnapshotIn { last_seq: Seq(last_seq), batch_id: BatchId(batch_id), state_hash, state: b"s" };
    let err = j.write_snapshot(&snap(2, 1, batches[0].state_hash));
    assert!(matches!(err, Err(JournalError::SnapshotNotAtBatchBoundary { batch_id: 1, last_seq: 2, .. })), "{err:?}");
    let err = j.write_snapshot(&snap(5, 3, batches[1].state_hash));
    assert!(matches!(err, Err(JournalError::SnapshotNotAtBatchBoundary { batch_id: 3, .. })), "{err:?}");
    assert_eq!(j.write_snapshot(&snap(3, 1, batches[1].state_hash)), Err(JournalError::SnapshotStateHashMismatch { batch_id: 1 }));
    j.write_snapshot(&snap(5, 2, batches[1].state_hash)).expect("good snapshot");
    assert_eq!(j.write_snapshot(&snap(3, 1, batches[0].state_hash)), Err(JournalError::SnapshotNotNewer { last_seq: 3, latest_seq: 5 }));
}

pub fn old_snapshots_are_pruned_to_the_configured_count(b: &dyn Backend) {
    let mut j = b.open(JournalConfig { keep_snapshots: 2, ..JournalConfig::default() }).expect("open");
    let batches = make_batches(1, &[1, 1, 1, 1], 6);
    for (i, batch) in batches.iter().enumerate() {
        batch.append(j.as_mut()).expect("append");
        let state = vec![i as u8; 10];
        let n = i as u64 + 1;
        j.write_snapshot(&SnapshotIn { last_seq: Seq(n), batch_id: BatchId(n), state_hash: batch.state_hash, state: &state })
            .expect("snapshot");
    }
    let stats = j.stats().expect("stats");
    assert_eq!((stats.snapshot_count, stats.latest_snapshot_seq), (2, Seq(4)));
    let rec = j.recover().expect("recover");
    assert_eq!(rec.snapshot.expect("snapshot").state, vec![3u8; 10]);
    assert!(rec.batches.is_empty());
    // Records are never pruned.
    assert_eq!(j.recover_from_genesis().expect("genesis").batches.len(), 4);
}

pub fn second_writer_is_refused_until_the_first_closes(b: &dyn Backend) {
    let mut first = open(b);
    make_batches(1, &[2], 7)[0].append(first.as_mut()).expect("append");
    let second = b.open(JournalConfig::default()).map(|j| j.head());
    assert!(matches!(second, Err(JournalError::Locked)), "{second:?}");
    drop(first);
    let second = b.open(JournalConfig::default()).expect("the journal is free once its writer closed");
    assert_eq!(second.last_seq(), Seq(2));
}

pub fn invalid_config_is_refused(b: &dyn Backend) {
    let config = JournalConfig { keep_snapshots: 0, ..JournalConfig::default() };
    assert!(matches!(b.open(config), Err(JournalError::ConfigInvalid { .. })));
    assert!(matches!(b.open_read_only(config), Err(JournalError::ConfigInvalid { .. })));
}

pub fn wrong_format_version_is_refused(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "UPDATE meta SET value = 99 WHERE key = 'format_version'", &[]);
    let expected = Err(JournalError::FormatVersionMismatch { found: 99, supported: FORMAT_VERSION });
    assert_eq!(recover(b).map(|_| ()), expected);
    assert_eq!(b.open_read_only(JournalConfig::default()).map(|_| ()), expected);
}

pub fn foreign_tables_are_not_a_journal(b: &dyn Backend) {
    b.create_foreign_table();
    assert!(matches!(recover(b), Err(JournalError::NotAJournal { .. })));
    assert!(matches!(b.open_read_only(JournalConfig::default()).map(|_| ()), Err(JournalError::NotAJournal { .. })));
}

pub fn dropped_table_makes_it_not_a_journal(b: &dyn Backend) {
    standard_journal(b);
    b.execute("DROP TABLE snapshots", &[]);
    assert!(matches!(recover(b), Err(JournalError::NotAJournal { .. })));
}

// ----- read-only (verify) -----

pub fn read_only_open_recovers_the_same_and_refuses_writes(b: &dyn Backend) {
    let batches = standard_journal(b);
    let written = recover(b).expect("writer recovers");
    let mut j = b.open_read_only(JournalConfig::default()).expect("open read-only");
    assert_eq!(j.recover().expect("read-only recovery"), written);
    assert_batches_eq(&j.recover_from_genesis().expect("genesis").batches, &batches);
    assert_eq!(j.result_of(Seq(5)).expect("read").map(|r| r.result), Some(batches[1].records[0].2.clone()));
    let extra = make_batches(25, &[1], 40);
    assert_eq!(extra[0].append(j.as_mut()), Err(JournalError::ReadOnly));
    let (seq, command, result) = &extra[0].records[0];
    let records = [RecordIn { seq: Seq(*seq), command, result }];
    assert_eq!(j.append_batches(&[BatchIn { records: &records, state_hash: extra[0].state_hash }]), Err(JournalError::ReadOnly));
    let snapshot = SnapshotIn { last_seq: Seq(24), batch_id: BatchId(6), state_hash: batches[5].state_hash, state: b"s" };
    assert_eq!(j.write_snapshot(&snapshot), Err(JournalError::ReadOnly));
    drop(j);
    // The reader changed nothing: the writer continues at seq 25 with one snapshot.
    let mut j = open(b);
    assert_eq!(j.recover().expect("recover"), written);
    assert_eq!(j.stats().expect("stats").snapshot_count, 1);
}

pub fn read_only_open_never_creates_a_journal(b: &dyn Backend) {
    for _ in 0..2 {
        let got = b.open_read_only(JournalConfig::default()).map(|_| ());
        assert!(matches!(got, Err(JournalError::NotAJournal { .. })), "{got:?}");
    }
    // A writer then finds nothing either: it creates a fresh, empty journal.
    assert_eq!(open(b).last_seq(), Seq(0));
}

// ----- damage -----

pub fn flipped_command_byte_is_reported_at_its_seq(b: &dyn Backend) {
    standard_journal(b);
    flip_column(b, "records", "command", "seq", 5, 10);
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 5, batch_id: 2 }));
    assert_eq!(
        b.open_read_only(JournalConfig::default()).and_then(|mut j| j.recover()),
        Err(JournalError::RecordCorrupt { seq: 5, batch_id: 2 })
    );
}

pub fn flipped_result_byte_is_reported_at_its_seq(b: &dyn Backend) {
    standard_journal(b);
    flip_column(b, "records", "result", "seq", 18, 0);
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 18, batch_id: 5 }));
}

pub fn flipped_hash_byte_is_reported_at_its_seq(b: &dyn Backend) {
    standard_journal(b);
    flip_column(b, "records", "hash", "seq", 9, 31);
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 9, batch_id: 3 }));
}

pub fn flipped_prev_hash_byte_is_reported_at_its_seq(b: &dyn Backend) {
    standard_journal(b);
    flip_column(b, "records", "prev_hash", "seq", 2, 0);
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 2, batch_id: 1 }));
}

pub fn truncated_hash_is_a_malformed_row(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "UPDATE records SET hash = substr(hash, 1, 31) WHERE seq = 4", &[]);
    assert_eq!(recover(b), Err(JournalError::RowMalformed { table: "records", key: 4, column: "hash" }));
}

pub fn tampering_with_pre_snapshot_records_is_still_detected(b: &dyn Backend) {
    // The snapshot is at seq 12, so seq 3 is not replayed; the full-chain walk still checks it.
    standard_journal(b);
    flip_column(b, "records", "command", "seq", 3, 3);
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 3, batch_id: 1 }));
}

pub fn record_deleted_from_the_middle_is_reported_as_missing(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "DELETE FROM records WHERE seq = 10", &[]);
    assert_eq!(recover(b), Err(JournalError::RecordMissing { expected_seq: 10, found_seq: 11 }));
}

pub fn deleted_last_record_is_reported_as_a_missing_tail(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "DELETE FROM records WHERE seq = 24", &[]);
    let expected = JournalError::TailMissing { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 23, found_last_batch_id: 6 };
    assert_eq!(recover(b), Err(expected));
}

pub fn deleted_last_batch_is_reported_as_a_missing_tail(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "DELETE FROM records WHERE batch_id = 6", &[]);
    tamper(b, "DELETE FROM batches WHERE batch_id = 6", &[]);
    let expected = JournalError::TailMissing { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 20, found_last_batch_id: 5 };
    assert_eq!(recover(b), Err(expected));
}

pub fn deleted_last_records_of_a_batch_are_reported_as_a_missing_tail(b: &dyn Backend) {
    // Only records go (the batch row of batch 6 stays): the log now ends inside batch 6.
    standard_journal(b);
    tamper(b, "DELETE FROM records WHERE seq >= 22", &[]);
    let err = recover(b).expect_err("must refuse");
    assert!(matches!(err, JournalError::TailMissing { head_last_seq: 24, found_last_seq: 21, .. }), "{err:?}");
}

pub fn swapped_payloads_of_two_records_are_detected(b: &dyn Backend) {
    standard_journal(b);
    let read = |column: &str, seq: i64| b.read_blob(&format!("SELECT {column} FROM records WHERE seq = $1"), seq);
    let (c14, r14, c15, r15) = (read("command", 14), read("result", 14), read("command", 15), read("result", 15));
    tamper(b, "UPDATE records SET command = $1, result = $2 WHERE seq = 14", &[Param::Blob(c15), Param::Blob(r15)]);
    tamper(b, "UPDATE records SET command = $1, result = $2 WHERE seq = 15", &[Param::Blob(c14), Param::Blob(r14)]);
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 14, batch_id: 4 }));
}

pub fn swapped_whole_rows_are_detected(b: &dyn Backend) {
    // Reordering: rows 7 and 8 trade every column but their seq (the primary key).
    standard_journal(b);
    tamper(b, "UPDATE records SET seq = -7 WHERE seq = 7", &[]);
    tamper(b, "UPDATE records SET seq = 7 WHERE seq = 8", &[]);
    tamper(b, "UPDATE records SET seq = 8 WHERE seq = -7", &[]);
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 7, batch_id: 2 }));
}

/// Replaces record `seq` of batch `batch_id` by one with a valid checksum of its own, computed on a wrong
/// predecessor.
fn forge_record(b: &dyn Backend, seq: u64, batch_id: u64, fake_prev: ChainHash) {
    let h = record_hash(Seq(seq), BatchId(batch_id), &fake_prev, b"forged", b"ok");
    let params =
        [Param::Blob(fake_prev.0.to_vec()), Param::Blob(h.0.to_vec()), Param::Blob(b"forged".to_vec()), Param::Blob(b"ok".to_vec())];
    tamper(b, &format!("UPDATE records SET prev_hash = $1, hash = $2, command = $3, result = $4 WHERE seq = {seq}"), &params);
}

pub fn self_consistent_record_that_does_not_link_breaks_the_chain(b: &dyn Backend) {
    standard_journal(b);
    forge_record(b, 6, 2, ChainHash([0xAB; 32]));
    assert_eq!(recover(b), Err(JournalError::ChainBroken { seq: 6, prev_seq: 5 }));
}

pub fn altered_batch_state_hash_is_reported_by_batch(b: &dyn Backend) {
    standard_journal(b);
    flip_column(b, "batches", "state_hash", "batch_id", 4, 7);
    assert_eq!(recover(b), Err(JournalError::BatchCorrupt { batch_id: 4 }));
}

pub fn batch_row_with_a_wrong_range_is_reported_even_with_a_valid_checksum(b: &dyn Backend) {
    let batches = standard_journal(b);
    // Batch 2 claims seqs 6..=8 (really 5..=8); the checksum is recomputed so only the range check fails.
    let last_hash = hash32(b.read_blob("SELECT last_hash FROM batches WHERE batch_id = $1", 2));
    let sum = batch_checksum(BatchId(2), Seq(6), Seq(8), &last_hash, &batches[1].state_hash);
    tamper(b, "UPDATE batches SET first_seq = 6, checksum = $1 WHERE batch_id = 2", &[Param::Blob(sum.to_vec())]);
    assert_eq!(recover(b), Err(JournalError::BatchRangeMismatch { batch_id: 2, first_seq: 6, last_seq: 8, expected_first_seq: 5 }));
}

pub fn batch_row_with_a_wrong_chain_hash_is_reported_even_with_a_valid_checksum(b: &dyn Backend) {
    let batches = standard_journal(b);
    let wrong = ChainHash([0x11; 32]);
    let sum = batch_checksum(BatchId(2), Seq(5), Seq(8), &wrong, &batches[1].state_hash);
    tamper(
        b,
        "UPDATE batches SET last_hash = $1, checksum = $2 WHERE batch_id = 2",
        &[Param::Blob(wrong.0.to_vec()), Param::Blob(sum.to_vec())],
    );
    assert_eq!(recover(b), Err(JournalError::BatchHashMismatch { batch_id: 2, last_seq: 8 }));
}

pub fn batch_deleted_from_the_middle_is_reported_as_missing(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "DELETE FROM batches WHERE batch_id = 2", &[]);
    assert_eq!(recover(b), Err(JournalError::BatchMissing { expected_batch_id: 2, found_batch_id: 3 }));
}

pub fn changed_snapshot_byte_is_reported_as_snapshot_corruption(b: &dyn Backend) {
    standard_journal(b);
    flip_column(b, "snapshots", "state", "last_seq", 12, 4);
    assert_eq!(recover(b), Err(JournalError::SnapshotCorrupt { last_seq: 12 }));
    // The documented way out: ignore snapshots and replay the whole log, which is intact.
    let full = open(b).recover_from_genesis().expect("full replay still possible");
    assert!(full.snapshot.is_none());
    assert_eq!(full.batches.len(), 6);
}

pub fn snapshot_that_disagrees_with_its_batch_is_reported(b: &dyn Backend) {
    // A snapshot with a valid checksum but a state hash that is not the batch's.
    standard_journal(b);
    let chain = hash32(b.read_blob("SELECT chain_hash FROM snapshots WHERE last_seq = $1", 12));
    let wrong = StateHash([0x22; 32]);
    let sum = snapshot_checksum(Seq(12), BatchId(3), &wrong, &chain, b"snapshot-state-bytes-after-batch-3");
    let params = [Param::Blob(wrong.0.to_vec()), Param::Blob(sum.to_vec())];
    tamper(b, "UPDATE snapshots SET state_hash = $1, checksum = $2 WHERE last_seq = 12", &params);
    let err = recover(b).expect_err("must refuse");
    assert!(matches!(err, JournalError::SnapshotInconsistent { last_seq: 12, batch_id: 3, .. }), "{err:?}");
}

pub fn altered_head_row_is_reported(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "UPDATE head SET last_seq = 23", &[]);
    assert_eq!(recover(b).map(|_| ()), Err(JournalError::HeadCorrupt));
}

pub fn deleted_head_row_is_reported(b: &dyn Backend) {
    standard_journal(b);
    tamper(b, "DELETE FROM head", &[]);
    assert_eq!(recover(b).map(|_| ()), Err(JournalError::HeadMissing));
}

pub fn records_beyond_the_head_are_reported(b: &dyn Backend) {
    // A well-formed extra batch 7 that the head does not know about (e.g. a head row restored from an old
    // copy).
    standard_journal(b);
    let last = hash32(b.read_blob("SELECT hash FROM records WHERE seq = $1", 24));
    let h = record_hash(Seq(25), BatchId(7), &last, b"c", b"r");
    let sh = StateHash([3; 32]);
    let sum = batch_checksum(BatchId(7), Seq(25), Seq(25), &h, &sh);
    let blob = |bytes: &[u8]| Param::Blob(bytes.to_vec());
    tamper(
        b,
        "INSERT INTO records (seq, batch_id, prev_hash, hash, command, result) VALUES (25, 7, $1, $2, $3, $4)",
        &[blob(&last.0), blob(&h.0), blob(b"c"), blob(b"r")],
    );
    tamper(
        b,
        "INSERT INTO batches (batch_id, first_seq, last_seq, state_hash, last_hash, checksum) VALUES (7, 25, 25, $1, $2, $3)",
        &[blob(&sh.0), blob(&h.0), blob(&sum)],
    );
    let expected = JournalError::RecordsBeyondHead { head_last_seq: 24, head_last_batch_id: 6, found_last_seq: 25, found_last_batch_id: 7 };
    assert_eq!(recover(b), Err(expected));
}

pub fn tail_only_verification_skips_pre_snapshot_records_but_checks_the_tail(b: &dyn Backend) {
    let tail_only = JournalConfig { verify_full_chain: false, ..JournalConfig::default() };
    standard_journal(b);
    // Damage before the snapshot (seq 3) is out of scope of a tail-only check: recovery succeeds and
    // verifies only the 12 tail records, while the default configuration refuses the same journal.
    flip_column(b, "records", "command", "seq", 3, 3);
    let rec = recover_with(b, tail_only).expect("tail-only recovery ignores pre-snapshot records");
    assert_eq!((rec.verified_records, rec.batches.len()), (12, 3));
    assert_eq!(recover(b), Err(JournalError::RecordCorrupt { seq: 3, batch_id: 1 }));
    // Damage after the snapshot is caught either way.
    flip_column(b, "records", "result", "seq", 13, 1);
    assert_eq!(recover_with(b, tail_only), Err(JournalError::RecordCorrupt { seq: 13, batch_id: 4 }));
}

pub fn first_tail_record_must_link_to_the_snapshot_in_tail_only_mode(b: &dyn Backend) {
    standard_journal(b);
    forge_record(b, 13, 4, ChainHash([0xCD; 32]));
    let tail_only = JournalConfig { verify_full_chain: false, ..JournalConfig::default() };
    assert_eq!(recover_with(b, tail_only), Err(JournalError::ChainBroken { seq: 13, prev_seq: 12 }));
}

pub fn recovery_tail_longer_than_the_limit_is_refused(b: &dyn Backend) {
    standard_journal(b);
    let config = JournalConfig { max_recovery_tail_records: 5, ..JournalConfig::default() };
    assert_eq!(recover_with(b, config), Err(JournalError::RecoveryTailTooLong { records: 12, limit: 5 }));
}

pub fn result_of_refuses_a_damaged_record(b: &dyn Backend) {
    let batches = standard_journal(b);
    flip_column(b, "records", "command", "seq", 7, 0);
    let j = open(b);
    assert_eq!(j.result_of(Seq(7)), Err(JournalError::RecordCorrupt { seq: 7, batch_id: 2 }));
    assert_eq!(j.result_of(Seq(8)).expect("undamaged record").expect("present").result, batches[1].records[3].2);
}

pub fn stray_record_keyed_below_one_is_reported(b: &dyn Backend) {
    // A row the in-order walk from seq 1 would never visit.
    standard_journal(b);
    let zeros = || Param::Blob(vec![0; 32]);
    tamper(
        b,
        "INSERT INTO records (seq, batch_id, prev_hash, hash, command, result) VALUES (0, 1, $1, $2, $3, $4)",
        &[zeros(), zeros(), Param::Blob(Vec::new()), Param::Blob(Vec::new())],
    );
    assert_eq!(recover(b).map(|_| ()), Err(JournalError::RowOutOfRange { table: "records", column: "seq", value: 0 }));
}

pub fn a_journal_found_corrupt_refuses_further_writes(b: &dyn Backend) {
    standard_journal(b);
    flip_column(b, "records", "command", "seq", 5, 10);
    let mut j = open(b);
    assert_eq!(j.recover().map(|_| ()), Err(JournalError::RecordCorrupt { seq: 5, batch_id: 2 }));
    assert_eq!(make_batches(25, &[1], 30)[0].append(j.as_mut()), Err(JournalError::Poisoned));
}

// ----- chunked snapshots -----

/// A deterministic snapshot state of `len` bytes.
fn state_bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|k| (k as u8).wrapping_mul(31).wrapping_add(salt)).collect()
}

/// How many chunk rows (beyond the first chunk) the snapshot at `last_seq` has, counted by a statement
/// that changes nothing.
fn chunk_rows(b: &dyn Backend, last_seq: i64) -> u64 {
    b.execute("UPDATE snapshot_chunks SET chunk_index = chunk_index WHERE last_seq = $1", &[Param::Int(last_seq)])
}

pub fn chunked_snapshots_round_trip_under_any_chunk_size(b: &dyn Backend) {
    // Chunks of 8 bytes: 61 bytes are 8 chunks, 17 are 3, an empty state is one empty chunk, 40 are 5.
    let config = JournalConfig { snapshot_chunk_bytes: 8, keep_snapshots: 2, ..JournalConfig::default() };
    let lens = [61usize, 17, 0, 40];
    let batches = make_batches(1, &[2, 2, 2, 2], 40);
    for (i, batch) in batches.iter().enumerate() {
        let mut j = b.open(config).expect("open");
        batch.append(j.as_mut()).expect("append");
        let state = state_bytes(lens[i], i as u8);
        let last_seq = Seq(2 * i as u64 + 2);
        j.write_snapshot(&SnapshotIn { last_seq, batch_id: BatchId(i as u64 + 1), state_hash: batch.state_hash, state: &state })
            .expect("chunked snapshot");
        drop(j);
        // Read back under another chunk size: chunking is a matter of storage, not of format.
        let snap = recover(b).expect("recover").snapshot.expect("snapshot");
        assert_eq!((snap.last_seq, snap.state), (last_seq, state));
    }
    // Pruning took the chunks of the pruned snapshots with them; the newest keeps its 4 further chunks.
    assert_eq!([2, 4, 6, 8].map(|seq| chunk_rows(b, seq)), [0, 0, 0, 4]);
    // The checksum is the one of the whole state in one piece.
    let chain = hash32(b.read_blob("SELECT chain_hash FROM snapshots WHERE last_seq = $1", 8));
    let whole = snapshot_checksum(Seq(8), BatchId(4), &batches[3].state_hash, &chain, &state_bytes(40, 3));
    assert_eq!(b.read_blob("SELECT checksum FROM snapshots WHERE last_seq = $1", 8), whole.to_vec());
    // A reader sees the same.
    let mut reader = b.open_read_only(JournalConfig::default()).expect("reader");
    assert_eq!(reader.recover().expect("read-only recovery").snapshot.expect("snapshot").state, state_bytes(40, 3));
}

/// Two batches and a snapshot of 40 bytes in chunks of 8 after the second (seq 4): chunk 0 in the
/// snapshot row, chunks 1-4 in `snapshot_chunks`.
fn chunked_journal(b: &dyn Backend) -> Vec<u8> {
    let mut j = b.open(JournalConfig { snapshot_chunk_bytes: 8, ..JournalConfig::default() }).expect("open");
    let batches = make_batches(1, &[2, 2], 41);
    for batch in &batches {
        batch.append(j.as_mut()).expect("append");
    }
    let state = state_bytes(40, 9);
    j.write_snapshot(&SnapshotIn { last_seq: Seq(4), batch_id: BatchId(2), state_hash: batches[1].state_hash, state: &state })
        .expect("snapshot");
    state
}

fn chunk(b: &dyn Backend, index: i64) -> Vec<u8> {
    b.read_blob("SELECT bytes FROM snapshot_chunks WHERE last_seq = 4 AND chunk_index = $1", index)
}

fn put_chunk(b: &dyn Backend, index: i64, bytes: Vec<u8>) {
    tamper(b, "INSERT INTO snapshot_chunks (last_seq, chunk_index, bytes) VALUES (4, $1, $2)", &[Param::Int(index), Param::Blob(bytes)]);
}

fn assert_snapshot_corrupt(b: &dyn Backend, what: &str) {
    assert_eq!(recover(b).map(|r| r.snapshot.map(|s| s.last_seq)), Err(JournalError::SnapshotCorrupt { last_seq: 4 }), "{what}");
}

pub fn missing_or_damaged_snapshot_chunk_is_snapshot_corruption(b: &dyn Backend) {
    let state = chunked_journal(b);
    assert_eq!(recover(b).expect("intact").snapshot.expect("snapshot").state, state);
    let middle = chunk(b, 2);
    flip_column(b, "snapshot_chunks", "bytes", "last_seq = 4 AND chunk_index", 2, 3);
    assert_snapshot_corrupt(b, "a flipped byte in chunk 2");
    tamper(b, "UPDATE snapshot_chunks SET bytes = $1 WHERE last_seq = 4 AND chunk_index = 2", &[Param::Blob(middle.clone())]);
    assert_eq!(recover(b).expect("restored").snapshot.expect("snapshot").state, state);
    for (what, index) in [("the middle chunk deleted", 2), ("the last chunk deleted", 4)] {
        let bytes = chunk(b, index);
        tamper(b, "DELETE FROM snapshot_chunks WHERE last_seq = 4 AND chunk_index = $1", &[Param::Int(index)]);
        assert_snapshot_corrupt(b, what);
        put_chunk(b, index, bytes);
    }
    put_chunk(b, 5, b"extra".to_vec());
    assert_snapshot_corrupt(b, "an extra chunk");
    tamper(b, "DELETE FROM snapshot_chunks WHERE last_seq = 4 AND chunk_index = 5", &[]);
    tamper(b, "UPDATE snapshot_chunks SET chunk_index = 7 WHERE last_seq = 4 AND chunk_index = 4", &[]);
    assert_snapshot_corrupt(b, "the last chunk renumbered");
    // The documented way out still works: ignore snapshots and replay the whole log.
    let full = open(b).recover_from_genesis().expect("full replay");
    assert!(full.snapshot.is_none());
    assert_batches_eq(&full.batches, &make_batches(1, &[2, 2], 41));
}

pub fn journal_without_the_chunk_table_is_read_and_upgraded(b: &dyn Backend) {
    // A journal written before snapshots were chunked: no snapshot_chunks table, one-piece snapshots.
    let batches = standard_journal(b);
    b.execute("DROP TABLE snapshot_chunks", &[]);
    let mut reader = b.open_read_only(JournalConfig::default()).expect("reader");
    let snap = reader.recover().expect("read-only recovery").snapshot.expect("snapshot");
    assert_eq!(snap.state, b"snapshot-state-bytes-after-batch-3");
    drop(reader);
    // A writer adds the table and writes chunked snapshots from then on.
    let mut j = b.open(JournalConfig { snapshot_chunk_bytes: 5, ..JournalConfig::default() }).expect("writer");
    j.recover().expect("writer recovery");
    let state = state_bytes(23, 1);
    j.write_snapshot(&SnapshotIn { last_seq: Seq(24), batch_id: BatchId(6), state_hash: batches[5].state_hash, state: &state })
        .expect("chunked snapshot");
    drop(j);
    assert_eq!(chunk_rows(b, 24), 4);
    assert_eq!(recover(b).expect("recover").snapshot.expect("snapshot").state, state);
}

// ----- crashes -----

/// Names the journal the crash child writes (absent in normal test runs, where `crash_child` does nothing).
pub const CRASH_LOCATION_ENV: &str = "JOURNAL_CONFORMANCE_CRASH_LOCATION";
/// Selects the crash child's workload: [`Workload`] by name (the small one when absent).
pub const CRASH_WORKLOAD_ENV: &str = "JOURNAL_CONFORMANCE_CRASH_WORKLOAD";

/// What the crash child writes until the armed failpoint aborts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// [`CRASH_BATCH_SIZES`] one batch at a time, with two snapshots.
    Small,
    /// One small batch, then one of [`BIG_BATCH`] records.
    Big,
    /// The first of [`CRASH_BATCH_SIZES`] alone, the other four as one group.
    Group,
}
const CRASH_BATCH_SIZES: [usize; 5] = [3, 4, 2, 5, 3];
/// About 3.5 MB of rows in one transaction: more than SQLite's default 2 MB page cache, so its dirty
/// pages spill to the WAL before COMMIT; recovery must still ignore them.
const BIG_BATCH: usize = 20_000;

/// Five batches, with a snapshot after batch 2 and after batch 4, each stored in 5 chunks of 4 bytes (so
/// [`names::MID_SNAPSHOT_CHUNKS`] is hit 4 times per snapshot).
fn crash_workload(b: &dyn Backend) {
    let mut j = b.open(JournalConfig { snapshot_chunk_bytes: 4, ..JournalConfig::default() }).expect("open journal");
    let mut last_seq = 0u64;
    for (i, batch) in make_batches(1, &CRASH_BATCH_SIZES, 21).iter().enumerate() {
        batch.append(j.as_mut()).expect("append");
        last_seq += batch.records.len() as u64;
        if i == 1 || i == 3 {
            let state = format!("state after batch {}", i + 1);
            let snapshot = SnapshotIn {
                last_seq: Seq(last_seq),
                batch_id: BatchId(i as u64 + 1),
                state_hash: batch.state_hash,
                state: state.as_bytes(),
            };
            j.write_snapshot(&snapshot).expect("snapshot");
        }
    }
}

/// One small batch, then one big one.
fn big_crash_workload(b: &dyn Backend) {
    let mut j = open(b);
    for batch in &make_batches(1, &[3, BIG_BATCH], 22) {
        batch.append(j.as_mut()).expect("append");
    }
}

/// Batch 1 alone, then batches 2-5 in one [`JournalStore::append_batches`].
fn group_crash_workload(b: &dyn Backend) {
    let batches = make_batches(1, &CRASH_BATCH_SIZES, 21);
    let mut j = open(b);
    append_group(j.as_mut(), &batches[..1]).expect("batch 1");
    append_group(j.as_mut(), &batches[1..]).expect("batches 2-5 as one group");
}

/// The body of the `crash_child` test that [`conformance_tests!`] generates: in a child spawned by a crash
/// check, runs the workload on the journal at `$CRASH_LOCATION_ENV` until the armed failpoint aborts it.
pub fn crash_child(reopen: &dyn Fn(&str) -> Box<dyn Backend>) {
    if let Ok(location) = std::env::var(CRASH_LOCATION_ENV) {
        let backend = reopen(&location);
        match std::env::var(CRASH_WORKLOAD_ENV).as_deref() {
            Ok("Big") => big_crash_workload(backend.as_ref()),
            Ok("Group") => group_crash_workload(backend.as_ref()),
            Ok(other) => panic!("unknown crash workload {other}"),
            Err(_) => crash_workload(backend.as_ref()),
        }
    }
}

/// Re-runs this test binary's `crash_child` with the failpoint `failpoint:nth` armed, and checks that it
/// died there.
fn crash_at(b: &dyn Backend, failpoint: &str, nth: u64, workload: Workload) {
    let exe = std::env::current_exe().expect("current test binary");
    // Any core file lands in a scratch directory, not in the source tree.
    let scratch = std::env::temp_dir().join(format!("clearhouse-crash-{}-{failpoint}-{nth}-{workload:?}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut cmd = Command::new(exe);
    if workload != Workload::Small {
        cmd.env(CRASH_WORKLOAD_ENV, format!("{workload:?}"));
    }
    let output = cmd
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_LOCATION_ENV, b.location())
        .env(ENV_VAR, format!("{failpoint}:{nth}"))
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

/// Recovers and checks the snapshot position and that the journal holds exactly `committed` batches of
/// the crash workload; then the journal must continue with the next seq.
fn assert_recovers_to(b: &dyn Backend, committed: usize, snapshot_batch: Option<u64>) {
    let expected = make_batches(1, &CRASH_BATCH_SIZES[..committed], 21);
    let mut j = open(b);
    let rec = j.recover().expect("recover after crash");
    let total: usize = CRASH_BATCH_SIZES[..committed].iter().sum();
    assert_eq!((rec.head.last_batch_id, rec.head.last_seq), (BatchId(committed as u64), Seq(total as u64)));
    assert_eq!(rec.snapshot.as_ref().map(|s| s.batch_id.0), snapshot_batch);
    assert_batches_eq(&rec.batches, &expected[snapshot_batch.unwrap_or(0) as usize..]);
    assert_batches_eq(&j.recover_from_genesis().expect("full recovery").batches, &expected);
    let receipt = make_batches(total as u64 + 1, &[2], 99)[0].append(j.as_mut()).expect("append after crash");
    assert_eq!(receipt.batch_id, BatchId(committed as u64 + 1));
}

pub fn crash_mid_batch_loses_exactly_that_batch(b: &dyn Backend) {
    crash_at(b, names::MID_BATCH, 3, Workload::Small);
    assert_recovers_to(b, 2, Some(2));
}

pub fn crash_in_the_first_batch_leaves_an_empty_journal(b: &dyn Backend) {
    crash_at(b, names::MID_BATCH, 1, Workload::Small);
    assert_recovers_to(b, 0, None);
}

pub fn crash_before_commit_loses_exactly_that_batch(b: &dyn Backend) {
    crash_at(b, names::BEFORE_COMMIT, 4, Workload::Small);
    assert_recovers_to(b, 3, Some(2));
}

pub fn crash_after_commit_keeps_that_batch(b: &dyn Backend) {
    crash_at(b, names::AFTER_COMMIT, 3, Workload::Small);
    assert_recovers_to(b, 3, Some(2));
}

pub fn crash_after_the_last_commit_keeps_everything(b: &dyn Backend) {
    crash_at(b, names::AFTER_COMMIT, 5, Workload::Small);
    assert_recovers_to(b, 5, Some(4));
}

pub fn crash_mid_snapshot_keeps_the_previous_snapshot(b: &dyn Backend) {
    // The second snapshot (after batch 4) is interrupted: batches 1-4 are committed, snapshot 2 remains.
    crash_at(b, names::MID_SNAPSHOT, 2, Workload::Small);
    assert_recovers_to(b, 4, Some(2));
}

pub fn crash_mid_chunked_snapshot_keeps_the_previous_snapshot(b: &dyn Backend) {
    // Hit 6 is the second chunk row of the second snapshot: its row and first chunks were written, uncommitted.
    crash_at(b, names::MID_SNAPSHOT_CHUNKS, 6, Workload::Small);
    assert_recovers_to(b, 4, Some(2));
    assert_eq!(recover(b).expect("recover").snapshot.expect("snapshot").state, b"state after batch 2");
}

pub fn crash_mid_chunks_of_the_first_snapshot_leaves_no_snapshot(b: &dyn Backend) {
    crash_at(b, names::MID_SNAPSHOT_CHUNKS, 3, Workload::Small);
    assert_recovers_to(b, 2, None);
}

pub fn crash_mid_first_snapshot_leaves_no_snapshot(b: &dyn Backend) {
    crash_at(b, names::MID_SNAPSHOT, 1, Workload::Small);
    assert_recovers_to(b, 2, None);
}

/// A crash in the middle of the third batch of a group (batch 4) recovers whole batches only: none
/// of the group where the backend writes a group in one transaction, the two before it where
/// it writes one transaction per batch. Either way nothing of the group was acknowledged.
pub fn crash_mid_group_recovers_whole_batches(b: &dyn Backend) {
    crash_at(b, names::MID_BATCH, 4, Workload::Group);
    assert_recovers_to(b, if b.groups_atomically() { 1 } else { 3 }, None);
}

pub fn crash_before_commit_of_a_big_batch_loses_it_entirely(b: &dyn Backend) {
    crash_at(b, names::BEFORE_COMMIT, 2, Workload::Big);
    if let Some(bytes) = b.spilled_bytes() {
        assert!(bytes > 2_000_000, "expected the uncommitted transaction on disk, found {bytes} bytes");
    }
    let rec = recover(b).expect("recover");
    assert_eq!(rec.head.last_seq, Seq(3));
    assert_batches_eq(&rec.batches, &make_batches(1, &[3], 22));
}

pub fn crash_after_commit_of_a_big_batch_keeps_it_entirely(b: &dyn Backend) {
    crash_at(b, names::AFTER_COMMIT, 2, Workload::Big);
    let rec = recover(b).expect("recover");
    assert_eq!(rec.head.last_seq, Seq(3 + BIG_BATCH as u64));
    assert_batches_eq(&rec.batches, &make_batches(1, &[3, BIG_BATCH], 22));
}

/// Expands to one `#[test]` per conformance check, each running on a fresh journal from `$new` (a
/// function `fn(&str) -> Option<Box<dyn Backend>>` taking the check's name; `None` skips the check, e.g.
/// when no PostgreSQL server is available outside CI), plus the `crash_child` test the crash checks re-run
/// in a child process, which finds its journal with `$reopen` (`fn(&str) -> Box<dyn Backend>` taking
/// [`Backend::location`]). Expand it at the top level of a test file.
#[macro_export]
macro_rules! conformance_tests {
    ($new:path, $reopen:path) => {
        #[test]
        fn crash_child() {
            $crate::conformance::crash_child(&|location: &str| $reopen(location));
        }
        $crate::conformance_tests!(@checks $new;
            round_trip_with_snapshot_and_reopen,
            chain_hashes_follow_the_documented_formula,
            result_of_returns_the_committed_record,
            empty_payloads_round_trip,
            append_rejects_bad_batches_without_writing,
            batches_appended_together_are_the_batches_appended_one_by_one,
            a_snapshot_of_a_batch_inside_a_group_anchors_on_that_batch,
            a_group_with_a_bad_batch_writes_nothing,
            snapshot_must_sit_on_a_batch_boundary_and_match_its_state_hash,
            old_snapshots_are_pruned_to_the_configured_count,
            second_writer_is_refused_until_the_first_closes,
            invalid_config_is_refused,
            wrong_format_version_is_refused,
            foreign_tables_are_not_a_journal,
            dropped_table_makes_it_not_a_journal,
            read_only_open_recovers_the_same_and_refuses_writes,
            read_only_open_never_creates_a_journal,
            flipped_command_byte_is_reported_at_its_seq,
            flipped_result_byte_is_reported_at_its_seq,
            flipped_hash_byte_is_reported_at_its_seq,
            flipped_prev_hash_byte_is_reported_at_its_seq,
            truncated_hash_is_a_malformed_row,
            tampering_with_pre_snapshot_records_is_still_detected,
            record_deleted_from_the_middle_is_reported_as_missing,
            deleted_last_record_is_reported_as_a_missing_tail,
            deleted_last_batch_is_reported_as_a_missing_tail,
            deleted_last_records_of_a_batch_are_reported_as_a_missing_tail,
            swapped_payloads_of_two_records_are_detected,
            swapped_whole_rows_are_detected,
            self_consistent_record_that_does_not_link_breaks_the_chain,
            altered_batch_state_hash_is_reported_by_batch,
            batch_row_with_a_wrong_range_is_reported_even_with_a_valid_checksum,
            batch_row_with_a_wrong_chain_hash_is_reported_even_with_a_valid_checksum,
            batch_deleted_from_the_middle_is_reported_as_missing,
            changed_snapshot_byte_is_reported_as_snapshot_corruption,
            snapshot_that_disagrees_with_its_batch_is_reported,
            altered_head_row_is_reported,
            deleted_head_row_is_reported,
            records_beyond_the_head_are_reported,
            tail_only_verification_skips_pre_snapshot_records_but_checks_the_tail,
            first_tail_record_must_link_to_the_snapshot_in_tail_only_mode,
            recovery_tail_longer_than_the_limit_is_refused,
            result_of_refuses_a_damaged_record,
            stray_record_keyed_below_one_is_reported,
            a_journal_found_corrupt_refuses_further_writes,
            crash_mid_batch_loses_exactly_that_batch,
            crash_mid_group_recovers_whole_batches,
            crash_in_the_first_batch_leaves_an_empty_journal,
            crash_before_commit_loses_exactly_that_batch,
            crash_after_commit_keeps_that_batch,
            crash_after_the_last_commit_keeps_everything,
            crash_mid_snapshot_keeps_the_previous_snapshot,
            crash_mid_first_snapshot_leaves_no_snapshot,
            crash_mid_chunked_snapshot_keeps_the_previous_snapshot,
            crash_mid_chunks_of_the_first_snapshot_leaves_no_snapshot,
            chunked_snapshots_round_trip_under_any_chunk_size,
            missing_or_damaged_snapshot_chunk_is_snapshot_corruption,
            journal_without_the_chunk_table_is_read_and_upgraded,
            crash_before_commit_of_a_big_batch_loses_it_entirely,
            crash_after_commit_of_a_big_batch_keeps_it_entirely,
        );
    };
    (@checks $new:path; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                match $new(stringify!($check)) {
                    Some(backend) => $crate::conformance::$check(backend.as_ref()),
                    None => eprintln!("SKIPPED: {}: backend not available", stringify!($check)),
                }
            }
        )*
    };
}

// ----- benches -----

/// The body of the durable-append benches every backend runs (`benches/append.rs` of each backend crate),
/// so that their figures are comparable.
pub mod bench {
    use crate::{BatchIn, BatchReceipt, JournalStore, RecordIn, Seq, StateHash};

    /// Records per batch, one benchmark each.
    pub const BATCH_SIZES: [usize; 4] = [1, 100, 1000, 10_000];
    const COMMAND_BYTES: usize = 100;
    const RESULT_BYTES: usize = 60;

    /// One batch worth of ~100-byte commands and ~60-byte results. Payloads vary per record so nothing is
    /// accidentally deduplicated or compressed.
    pub struct Payloads {
        commands: Vec<Vec<u8>>,
        results: Vec<Vec<u8>>,
    }

    impl Payloads {
        pub fn new(batch_size: usize) -> Payloads {
            let padded = |mut bytes: Vec<u8>, len: usize| {
                bytes.resize(len, b' ');
                bytes
            };
            Payloads {
                commands: (0..batch_size)
                    .map(|i| padded(format!("{{\"id\":\"cmd-{i}\",\"kind\":\"place_order\",\"qty\":\"{i}\"}}").into_bytes(), COMMAND_BYTES))
                    .collect(),
                results: (0..batch_size)
                    .map(|i| padded(format!("{{\"status\":\"accepted\",\"n\":{i}}}").into_bytes(), RESULT_BYTES))
                    .collect(),
            }
        }

        /// Appends the payloads as the journal's next batch (one durable transaction).
        pub fn append(&self, journal: &mut dyn JournalStore) -> BatchReceipt {
            let first = journal.last_seq().0 + 1;
            let records: Vec<RecordIn<'_>> = self
                .commands
                .iter()
                .zip(&self.results)
                .enumerate()
                .map(|(i, (command, result))| RecordIn { seq: Seq(first + i as u64), command, result })
                .collect();
            journal.append_batch(&BatchIn { records: &records, state_hash: StateHash([7; 32]) }).expect("append")
        }
    }
}
