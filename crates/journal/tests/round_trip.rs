//! Append, snapshot, reopen, recover: recovery must return exactly what was committed.

mod common;

use common::{OwnedBatch, Scratch, assert_batches_eq, make_batches, open};
use journal::chain::record_hash;
use journal::{
    BatchId, BatchIn, GENESIS_HASH, JournalConfig, JournalError, JournalStore, RecordIn, Seq, SnapshotIn, SqliteJournal, StateHash,
};

#[test]
fn round_trip_with_snapshot_and_reopen() {
    let scratch = Scratch::new("round_trip");
    let batches = make_batches(1, &[3, 1, 5, 2, 4, 1, 7], 1);
    let mut receipts = Vec::new();
    let snapshot_state = b"engine-state-after-batch-3".to_vec();
    {
        let mut j = open(&scratch.db());
        assert_eq!(j.last_seq(), Seq(0));
        for (i, b) in batches.iter().enumerate() {
            receipts.push(b.append(&mut j).expect("append"));
            if i == 2 {
                j.write_snapshot(&SnapshotIn { last_seq: Seq(9), batch_id: BatchId(3), state_hash: b.state_hash, state: &snapshot_state })
                    .expect("snapshot");
            }
        }
        assert_eq!(j.last_seq(), Seq(23));
    }
    // Receipts: consecutive batch ids and seq ranges.
    let mut next = 1;
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r.batch_id, BatchId(i as u64 + 1));
        assert_eq!(r.first_seq, Seq(next));
        next += batches[i].records.len() as u64;
        assert_eq!(r.last_seq, Seq(next - 1));
    }

    let mut j = open(&scratch.db());
    assert_eq!(j.last_seq(), Seq(23));
    let rec = j.recover().expect("recover");
    let snap = rec.snapshot.as_ref().expect("snapshot present");
    assert_eq!(snap.last_seq, Seq(9));
    assert_eq!(snap.batch_id, BatchId(3));
    assert_eq!(snap.state, snapshot_state);
    assert_eq!(snap.state_hash, batches[2].state_hash);
    assert_eq!(snap.chain_hash, receipts[2].chain_hash);
    assert_batches_eq(&rec.batches, &batches[3..]);
    for (b, r) in rec.batches.iter().zip(&receipts[3..]) {
        assert_eq!(b.batch_id, r.batch_id);
        assert_eq!(b.chain_hash, r.chain_hash);
    }
    assert_eq!(rec.head.last_seq, Seq(23));
    assert_eq!(rec.head.last_batch_id, BatchId(7));
    assert_eq!(rec.head.chain_hash, receipts[6].chain_hash);
    assert_eq!(rec.verified_records, 23);

    // Ignoring snapshots returns the whole log.
    let full = j.recover_from_genesis().expect("recover from genesis");
    assert!(full.snapshot.is_none());
    assert_batches_eq(&full.batches, &batches);

    // The journal keeps going where it stopped.
    let more = make_batches(24, &[2], 2);
    let r = more[0].append(&mut j).expect("append after recovery");
    assert_eq!(r.batch_id, BatchId(8));
    assert_eq!(r.first_seq, Seq(24));
}

#[test]
fn chain_hashes_follow_the_documented_formula() {
    // The chain is recomputed here from the published formula, record by record, starting at zeros.
    let scratch = Scratch::new("chain_formula");
    let batches = make_batches(1, &[2, 3], 3);
    let mut j = open(&scratch.db());
    let mut prev = GENESIS_HASH;
    for (i, b) in batches.iter().enumerate() {
        let receipt = b.append(&mut j).expect("append");
        for (seq, c, r) in &b.records {
            let h = record_hash(Seq(*seq), BatchId(i as u64 + 1), &prev, c, r);
            let stored = j.result_of(Seq(*seq)).expect("read").expect("present");
            assert_eq!(stored.hash, h);
            prev = h;
        }
        assert_eq!(receipt.chain_hash, prev);
    }
}

#[test]
fn result_of_returns_the_committed_record() {
    let scratch = Scratch::new("result_of");
    let batches = make_batches(1, &[4, 4], 4);
    let mut j = open(&scratch.db());
    for b in &batches {
        b.append(&mut j).expect("append");
    }
    let r = j.result_of(Seq(6)).expect("read").expect("present");
    assert_eq!(r.seq, Seq(6));
    assert_eq!(r.batch_id, BatchId(2));
    assert_eq!(r.command, batches[1].records[1].1);
    assert_eq!(r.result, batches[1].records[1].2);
    assert_eq!(j.result_of(Seq(0)).expect("read"), None);
    assert_eq!(j.result_of(Seq(9)).expect("read"), None);
}

#[test]
fn empty_payloads_round_trip() {
    let scratch = Scratch::new("empty_payloads");
    let batch = OwnedBatch { records: vec![(1, Vec::new(), Vec::new()), (2, b"x".to_vec(), Vec::new())], state_hash: StateHash([9; 32]) };
    {
        let mut j = open(&scratch.db());
        batch.append(&mut j).expect("append");
    }
    let mut j = open(&scratch.db());
    let rec = j.recover().expect("recover");
    assert_batches_eq(&rec.batches, &[batch]);
}

#[test]
fn append_rejects_bad_batches_without_writing() {
    let scratch = Scratch::new("bad_batches");
    let config = JournalConfig { max_batch_records: 3, max_command_bytes: 10, max_result_bytes: 5, ..JournalConfig::default() };
    let mut j = SqliteJournal::open(scratch.db(), config).expect("open");
    let sh = StateHash([1; 32]);
    let rec = |seq, command: &'static [u8], result: &'static [u8]| RecordIn { seq: Seq(seq), command, result };
    let append = |j: &mut SqliteJournal, records: &[RecordIn<'_>]| j.append_batch(&BatchIn { records, state_hash: sh });
    assert_eq!(append(&mut j, &[]), Err(JournalError::EmptyBatch));
    assert_eq!(append(&mut j, &[rec(2, b"a", b"b")]), Err(JournalError::SeqNotContiguous { index: 0, expected: 1, got: 2 }));
    assert_eq!(
        append(&mut j, &[rec(1, b"a", b"b"), rec(3, b"a", b"b")]),
        Err(JournalError::SeqNotContiguous { index: 1, expected: 2, got: 3 })
    );
    assert_eq!(
        append(&mut j, &[rec(1, b"a", b"b"), rec(2, b"a", b"b"), rec(3, b"a", b"b"), rec(4, b"a", b"b")]),
        Err(JournalError::BatchTooLarge { records: 4, limit: 3 })
    );
    assert_eq!(append(&mut j, &[rec(1, b"0123456789X", b"b")]), Err(JournalError::CommandTooLarge { seq: 1, bytes: 11, limit: 10 }));
    assert_eq!(append(&mut j, &[rec(1, b"a", b"012345")]), Err(JournalError::ResultTooLarge { seq: 1, bytes: 6, limit: 5 }));
    // Nothing was written, and the journal still accepts a good batch.
    assert_eq!(j.last_seq(), Seq(0));
    let r = append(&mut j, &[rec(1, b"a", b"b")]).expect("good batch");
    assert_eq!(r.batch_id, BatchId(1));
    assert_eq!(append(&mut j, &[rec(1, b"a", b"b")]), Err(JournalError::SeqNotContiguous { index: 0, expected: 2, got: 1 }));
}

#[test]
fn snapshot_must_sit_on_a_batch_boundary_and_match_its_state_hash() {
    let scratch = Scratch::new("snapshot_rules");
    let batches = make_batches(1, &[3, 2], 5);
    let mut j = open(&scratch.db());
    for b in &batches {
        b.append(&mut j).expect("append");
    }
    let snap =
        |last_seq, batch_id, state_hash| SnapshotIn { last_seq: Seq(last_seq), batch_id: BatchId(batch_id), state_hash, state: b"s" };
    assert!(matches!(
        j.write_snapshot(&snap(2, 1, batches[0].state_hash)),
        Err(JournalError::SnapshotNotAtBatchBoundary { batch_id: 1, last_seq: 2, .. })
    ));
    assert!(matches!(
        j.write_snapshot(&snap(5, 3, batches[1].state_hash)),
        Err(JournalError::SnapshotNotAtBatchBoundary { batch_id: 3, .. })
    ));
    assert_eq!(j.write_snapshot(&snap(3, 1, batches[1].state_hash)), Err(JournalError::SnapshotStateHashMismatch { batch_id: 1 }));
    j.write_snapshot(&snap(5, 2, batches[1].state_hash)).expect("good snapshot");
    assert_eq!(j.write_snapshot(&snap(3, 1, batches[0].state_hash)), Err(JournalError::SnapshotNotNewer { last_seq: 3, latest_seq: 5 }));
}

#[test]
fn old_snapshots_are_pruned_to_the_configured_count() {
    let scratch = Scratch::new("snapshot_prune");
    let config = JournalConfig { keep_snapshots: 2, ..JournalConfig::default() };
    let mut j = SqliteJournal::open(scratch.db(), config).expect("open");
    let batches = make_batches(1, &[1, 1, 1, 1], 6);
    for (i, b) in batches.iter().enumerate() {
        b.append(&mut j).expect("append");
        let state = vec![i as u8; 10];
        j.write_snapshot(&SnapshotIn {
            last_seq: Seq(i as u64 + 1),
            batch_id: BatchId(i as u64 + 1),
            state_hash: b.state_hash,
            state: &state,
        })
        .expect("snapshot");
    }
    let stats = j.stats().expect("stats");
    assert_eq!(stats.snapshot_count, 2);
    assert_eq!(stats.latest_snapshot_seq, Seq(4));
    let rec = j.recover().expect("recover");
    let snap = rec.snapshot.expect("snapshot");
    assert_eq!(snap.state, vec![3u8; 10]);
    assert!(rec.batches.is_empty());
    // Records are never pruned.
    assert_eq!(j.recover_from_genesis().expect("genesis").batches.len(), 4);
}

#[test]
fn second_open_of_the_same_journal_is_refused() {
    let scratch = Scratch::new("locked");
    let _first = open(&scratch.db());
    let second = SqliteJournal::open(scratch.db(), JournalConfig::default());
    assert!(matches!(second, Err(JournalError::Locked)), "{second:?}");
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
fn invalid_config_is_refused() {
    let scratch = Scratch::new("config");
    let config = JournalConfig { keep_snapshots: 0, ..JournalConfig::default() };
    assert!(matches!(SqliteJournal::open(scratch.db(), config), Err(JournalError::ConfigInvalid { .. })));
}

#[test]
fn the_store_is_usable_as_a_trait_object() {
    let scratch = Scratch::new("dyn");
    let mut store: Box<dyn JournalStore> = Box::new(open(&scratch.db()));
    let batches = make_batches(1, &[2], 7);
    batches[0].append(store.as_mut()).expect("append");
    assert_eq!(store.head().last_seq, Seq(2));
    assert_batches_eq(&store.recover().expect("recover").batches, &batches);
}
