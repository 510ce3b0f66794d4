//! Append, snapshot, reopen, recover on a real PostgreSQL server: recovery must return exactly what was
//! committed, with the chain hashes of the published formula; plus the open-time rules (locking,
//! durability settings, schema checks).

mod common;

use common::{OwnedBatch, assert_batches_eq, make_batches};
use journal::chain::record_hash;
use journal::{BatchId, BatchIn, GENESIS_HASH, JournalConfig, JournalError, JournalStore, RecordIn, Seq, SnapshotIn, StateHash};
use journal_pg::{PgConfig, PgJournal};

#[test]
fn round_trip_with_snapshot_and_reopen() {
    let db = pg_or_skip!("round_trip");
    let batches = make_batches(1, &[3, 1, 5, 2, 4, 1, 7], 1);
    let mut receipts = Vec::new();
    let snapshot_state = b"engine-state-after-batch-3".to_vec();
    {
        let mut j = db.open();
        assert_eq!(j.last_seq(), Seq(0));
        for (i, b) in batches.iter().enumerate() {
            receipts.push(b.append(&mut j).expect("append"));
            if i == 2 {
                j.write_snapshot(&SnapshotIn { last_seq: Seq(9), batch_id: BatchId(3), state_hash: b.state_hash, state: &snapshot_state })
                    .expect("snapshot");
            }
        }
        assert_eq!(j.last_seq(), Seq(23));
        j.close().expect("close");
    }
    let mut next = 1;
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r.batch_id, BatchId(i as u64 + 1));
        assert_eq!(r.first_seq, Seq(next));
        next += batches[i].records.len() as u64;
        assert_eq!(r.last_seq, Seq(next - 1));
    }

    let mut j = db.open();
    assert_eq!(j.last_seq(), Seq(23));
    let rec = j.recover().expect("recover");
    let snap = rec.snapshot.as_ref().expect("snapshot present");
    assert_eq!((snap.last_seq, snap.batch_id), (Seq(9), BatchId(3)));
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

    let full = j.recover_from_genesis().expect("recover from genesis");
    assert!(full.snapshot.is_none());
    assert_batches_eq(&full.batches, &batches);

    let more = make_batches(24, &[2], 2);
    let r = more[0].append(&mut j).expect("append after recovery");
    assert_eq!((r.batch_id, r.first_seq), (BatchId(8), Seq(24)));
    let stats = j.stats().expect("stats");
    assert_eq!(stats.head.last_seq, Seq(25));
    assert_eq!(stats.snapshot_count, 1);
    assert_eq!(stats.latest_snapshot_seq, Seq(9));
    assert!(stats.storage_bytes > 0);
}

#[test]
fn recovery_walks_more_rows_than_one_fetch() {
    // 10_000 records: the records cursor crosses nine boundaries of the default 1024-row fetch.
    let db = pg_or_skip!("many_rows");
    let batches = make_batches(1, &[1000; 10], 8);
    let mut j = db.open();
    for b in &batches {
        b.append(&mut j).expect("append");
    }
    let rec = j.recover().expect("recover");
    assert_eq!(rec.verified_records, 10_000);
    assert_batches_eq(&rec.batches, &batches);
}

#[test]
fn chain_hashes_follow_the_documented_formula() {
    let db = pg_or_skip!("chain_formula");
    let batches = make_batches(1, &[2, 3], 3);
    let mut j = db.open();
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
    let db = pg_or_skip!("result_of");
    let batches = make_batches(1, &[4, 4], 4);
    let mut j = db.open();
    for b in &batches {
        b.append(&mut j).expect("append");
    }
    let r = j.result_of(Seq(6)).expect("read").expect("present");
    assert_eq!((r.seq, r.batch_id), (Seq(6), BatchId(2)));
    assert_eq!(r.command, batches[1].records[1].1);
    assert_eq!(r.result, batches[1].records[1].2);
    assert_eq!(j.result_of(Seq(0)).expect("read"), None);
    assert_eq!(j.result_of(Seq(9)).expect("read"), None);
}

#[test]
fn empty_payloads_round_trip() {
    let db = pg_or_skip!("empty_payloads");
    let batch = OwnedBatch { records: vec![(1, Vec::new(), Vec::new()), (2, b"x".to_vec(), Vec::new())], state_hash: StateHash([9; 32]) };
    {
        let mut j = db.open();
        batch.append(&mut j).expect("append");
    }
    let mut j = db.open();
    let rec = j.recover().expect("recover");
    assert_batches_eq(&rec.batches, &[batch]);
}

#[test]
fn append_rejects_bad_batches_without_writing() {
    let db = pg_or_skip!("bad_batches");
    let config = JournalConfig { max_batch_records: 3, max_command_bytes: 10, max_result_bytes: 5, ..JournalConfig::default() };
    let mut j = db.try_open(config).expect("open");
    let sh = StateHash([1; 32]);
    let rec = |seq, command: &'static [u8], result: &'static [u8]| RecordIn { seq: Seq(seq), command, result };
    let append = |j: &mut PgJournal, records: &[RecordIn<'_>]| j.append_batch(&BatchIn { records, state_hash: sh });
    assert_eq!(append(&mut j, &[]), Err(JournalError::EmptyBatch));
    assert_eq!(append(&mut j, &[rec(2, b"a", b"b")]), Err(JournalError::SeqNotContiguous { index: 0, expected: 1, got: 2 }));
    assert_eq!(
        append(&mut j, &[rec(1, b"a", b"b"), rec(2, b"a", b"b"), rec(3, b"a", b"b"), rec(4, b"a", b"b")]),
        Err(JournalError::BatchTooLarge { records: 4, limit: 3 })
    );
    assert_eq!(append(&mut j, &[rec(1, b"0123456789X", b"b")]), Err(JournalError::CommandTooLarge { seq: 1, bytes: 11, limit: 10 }));
    assert_eq!(append(&mut j, &[rec(1, b"a", b"012345")]), Err(JournalError::ResultTooLarge { seq: 1, bytes: 6, limit: 5 }));
    assert_eq!(j.last_seq(), Seq(0));
    let r = append(&mut j, &[rec(1, b"a", b"b")]).expect("good batch");
    assert_eq!(r.batch_id, BatchId(1));
    assert_eq!(append(&mut j, &[rec(1, b"a", b"b")]), Err(JournalError::SeqNotContiguous { index: 0, expected: 2, got: 1 }));
}

#[test]
fn snapshot_must_sit_on_a_batch_boundary_and_match_its_state_hash() {
    let db = pg_or_skip!("snapshot_rules");
    let batches = make_batches(1, &[3, 2], 5);
    let mut j = db.open();
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
    let db = pg_or_skip!("snapshot_prune");
    let config = JournalConfig { keep_snapshots: 2, ..JournalConfig::default() };
    let mut j = db.try_open(config).expect("open");
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
    assert_eq!(rec.snapshot.expect("snapshot").state, vec![3u8; 10]);
    assert!(rec.batches.is_empty());
    assert_eq!(j.recover_from_genesis().expect("genesis").batches.len(), 4);
}

#[test]
fn second_writer_is_refused_until_the_first_closes() {
    let db = pg_or_skip!("locked");
    let mut first = db.open();
    make_batches(1, &[2], 7)[0].append(&mut first).expect("append");
    let second = db.try_open(JournalConfig::default());
    assert!(matches!(second, Err(JournalError::Locked)), "{second:?}");
    first.close().expect("close");
    let second = db.try_open(JournalConfig::default()).expect("the lock is released with the connection");
    assert_eq!(second.last_seq(), Seq(2));
}

#[test]
fn journals_in_different_schemas_are_independent() {
    let a = pg_or_skip!("schema_a");
    let b = common::TestDb::new("schema_b").expect("server is up");
    let mut ja = a.open();
    let mut jb = b.open();
    make_batches(1, &[3], 1)[0].append(&mut ja).expect("append a");
    make_batches(1, &[5], 2)[0].append(&mut jb).expect("append b");
    assert_eq!(ja.recover().expect("a").head.last_seq, Seq(3));
    assert_eq!(jb.recover().expect("b").head.last_seq, Seq(5));
}

#[test]
fn a_writer_that_bypasses_the_lock_cannot_interleave() {
    // Another session moves the head behind the journal's back (a rogue writer ignoring the advisory lock):
    // the next batch's compare-and-swap on the head matches no row and is refused as Locked.
    let db = pg_or_skip!("rogue_writer");
    let mut j = db.open();
    let batches = make_batches(1, &[2, 2], 8);
    batches[0].append(&mut j).expect("append");
    db.tamper("UPDATE head SET last_seq = 99", &[]);
    assert_eq!(batches[1].append(&mut j), Err(JournalError::Locked));
    assert_eq!(batches[1].append(&mut j), Err(JournalError::Poisoned));
    let count: i64 = db.raw().query_one(&format!("SELECT count(*) FROM {}.records", db.schema), &[]).expect("count").get(0);
    assert_eq!(count, 2, "the refused batch left no record behind");
}

#[test]
fn a_batch_waiting_on_a_locked_head_row_fails_as_locked() {
    // Another session holds the head row lock in an open transaction: the batch gives up after the lock
    // timeout with Locked, and nothing of it is written.
    let db = pg_or_skip!("row_locked");
    let mut j = db.open();
    let batches = make_batches(1, &[2, 2], 9);
    batches[0].append(&mut j).expect("append");
    let mut other = db.raw();
    let mut tx = other.transaction().expect("begin");
    tx.query(&format!("SELECT * FROM {}.head FOR UPDATE", db.schema), &[]).expect("lock head");
    assert_eq!(batches[1].append(&mut j), Err(JournalError::Locked));
    tx.rollback().expect("rollback");
    drop(j);
    let mut j = db.open();
    assert_eq!(j.recover().expect("recover").head.last_seq, Seq(2));
}

#[test]
fn synchronous_commit_is_forced_on_whatever_the_connection_asks() {
    let db = pg_or_skip!("sync_commit");
    let conninfo = format!("{} options='-c synchronous_commit=off'", db.conninfo);
    let j = PgJournal::open(&PgConfig::new(conninfo, db.schema.clone()), JournalConfig::default()).expect("open");
    assert_eq!(j.session_setting("synchronous_commit").expect("setting"), "on");
    assert_eq!(j.session_setting("fsync").expect("setting"), "on");
}

#[test]
fn foreign_schema_is_not_a_journal_and_bad_names_are_refused() {
    let db = pg_or_skip!("foreign");
    db.raw().batch_execute(&format!("CREATE SCHEMA {s}; CREATE TABLE {s}.accounts (id int)", s = db.schema)).expect("create");
    assert!(matches!(db.try_open(JournalConfig::default()), Err(JournalError::NotAJournal { .. })));
    let bad = PgConfig::new(db.conninfo.clone(), "x; DROP TABLE y");
    assert!(matches!(PgJournal::open(&bad, JournalConfig::default()), Err(JournalError::ConfigInvalid { .. })));
}

#[test]
fn wrong_format_version_is_refused() {
    let db = pg_or_skip!("format_version");
    drop(db.open());
    db.tamper("UPDATE meta SET value = 99 WHERE key = 'format_version'", &[]);
    assert_eq!(
        db.try_open(JournalConfig::default()).map(|_| ()),
        Err(JournalError::FormatVersionMismatch { found: 99, supported: journal::FORMAT_VERSION })
    );
}

#[test]
fn invalid_config_is_refused() {
    let db = pg_or_skip!("config");
    let config = JournalConfig { keep_snapshots: 0, ..JournalConfig::default() };
    assert!(matches!(db.try_open(config), Err(JournalError::ConfigInvalid { .. })));
}

#[test]
fn the_store_is_usable_as_a_trait_object() {
    let db = pg_or_skip!("dyn");
    let mut store: Box<dyn JournalStore> = Box::new(db.open());
    let batches = make_batches(1, &[2], 7);
    batches[0].append(store.as_mut()).expect("append");
    assert_eq!(store.head().last_seq, Seq(2));
    assert_batches_eq(&store.recover().expect("recover").batches, &batches);
}

#[test]
fn large_batches_travel_by_copy_and_round_trip() {
    // Halves of 2048 records or more go through COPY BINARY, smaller ones through INSERT ... unnest: a
    // batch of 4999 (halves 2500 and 2499), one of 1, one of 6000; the chain is recomputed independently.
    let db = pg_or_skip!("copy_path");
    let batches = make_batches(1, &[4999, 1, 6000], 12);
    let mut j = db.open();
    let mut prev = GENESIS_HASH;
    for (i, b) in batches.iter().enumerate() {
        let receipt = b.append(&mut j).expect("append");
        for (seq, c, r) in &b.records {
            prev = record_hash(Seq(*seq), BatchId(i as u64 + 1), &prev, c, r);
        }
        assert_eq!(receipt.chain_hash, prev, "batch {}", i + 1);
    }
    drop(j);
    let mut j = db.open();
    let rec = j.recover().expect("recover");
    assert_eq!(rec.verified_records, 11_000);
    assert_batches_eq(&rec.batches, &batches);
    assert_eq!(j.result_of(Seq(2500)).expect("read").expect("present").result, batches[0].records[2499].2);
}

#[test]
fn a_lost_connection_poisons_writes_until_reopen() {
    // The server ends the journal's session (as after a server restart or a network cut): the next batch
    // fails with a storage error, later writes are refused as Poisoned, and a reopen resyncs with what
    // was committed.
    let db = pg_or_skip!("lost_connection");
    let mut j = db.open();
    let batches = make_batches(1, &[3, 2], 13);
    batches[0].append(&mut j).expect("append");
    let pid = j.backend_pid().expect("pid");
    let terminated: bool = db.raw().query_one("SELECT pg_terminate_backend($1)", &[&pid]).expect("terminate").get(0);
    assert!(terminated);
    let err = batches[1].append(&mut j).expect_err("the session is gone");
    assert!(matches!(err, JournalError::Storage { .. }), "{err:?}");
    assert_eq!(batches[1].append(&mut j), Err(JournalError::Poisoned));
    drop(j);
    let mut j = db.open();
    let rec = j.recover().expect("recover");
    assert_eq!(rec.head.last_seq, Seq(3));
    assert_batches_eq(&rec.batches, &batches[..1]);
    batches[1].append(&mut j).expect("writes resume after reopen");
}

#[test]
fn recovery_is_the_same_whatever_the_fetch_size() {
    // Fetch sizes that divide the row counts exactly (the last fetch is full, the next one empty) and
    // that do not; 12 records in 4 batches.
    let db = pg_or_skip!("fetch_rows");
    let batches = make_batches(1, &[3, 3, 3, 3], 14);
    let mut j = db.open();
    for b in &batches {
        b.append(&mut j).expect("append");
    }
    drop(j);
    let reference = db.open().recover().expect("recover with the default fetch size");
    for fetch_rows in [1u32, 2, 3, 4, 5, 12, 13] {
        let cfg = PgConfig { recovery_fetch_rows: fetch_rows, ..db.pg_config() };
        let mut j = PgJournal::open(&cfg, JournalConfig::default()).expect("open");
        assert_eq!(j.recover().expect("recover"), reference, "fetch_rows = {fetch_rows}");
    }
    assert_batches_eq(&reference.batches, &batches);
    for bad in [0u32, 65_537] {
        let cfg = PgConfig { recovery_fetch_rows: bad, ..db.pg_config() };
        assert!(matches!(PgJournal::open(&cfg, JournalConfig::default()), Err(JournalError::ConfigInvalid { .. })), "{bad}");
    }
}
