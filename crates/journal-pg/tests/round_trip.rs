//! What only the PostgreSQL backend has: cursors and fetch sizes, the COPY path, schemas, the advisory
//! lock and the head compare-and-swap against rogue writers, session settings, lost connections, and the
//! read-only session of `verify`. Everything backend-neutral is in the conformance suite
//! (`tests/conformance.rs`).

mod common;

use common::{assert_batches_eq, make_batches};
use journal::chain::record_hash;
use journal::{BatchId, GENESIS_HASH, JournalConfig, JournalError, JournalStore, Seq};
use journal_pg::{PgConfig, PgJournal};

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
fn bad_schema_names_are_refused() {
    let db = pg_or_skip!("bad_names");
    let bad = PgConfig::new(db.conninfo.clone(), "x; DROP TABLE y");
    assert!(matches!(PgJournal::open(&bad, JournalConfig::default()), Err(JournalError::ConfigInvalid { .. })));
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

#[test]
fn verify_reads_in_a_read_only_session_next_to_a_live_writer_and_never_creates_the_schema() {
    let db = pg_or_skip!("read_only");
    let absent = PgJournal::open_read_only(&db.pg_config(), JournalConfig::default()).map(|_| ());
    assert!(matches!(absent, Err(JournalError::NotAJournal { .. })), "{absent:?}");
    let schemas: i64 =
        db.raw().query_one("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1", &[&db.schema]).expect("count schemas").get(0);
    assert_eq!(schemas, 0, "a reader must not create the schema");

    let batches = make_batches(1, &[3, 2], 15);
    let mut writer = db.open();
    for b in &batches {
        b.append(&mut writer).expect("append");
    }
    // No advisory lock for a reader: it reads one consistent snapshot while the writer holds the journal.
    let mut reader = PgJournal::open_read_only(&db.pg_config(), JournalConfig::default()).expect("open read-only");
    assert!(reader.is_read_only());
    assert_eq!(reader.session_setting("default_transaction_read_only").expect("setting"), "on");
    assert_batches_eq(&reader.recover().expect("recover").batches, &batches);
    assert_eq!(make_batches(6, &[1], 15)[0].append(&mut reader), Err(JournalError::ReadOnly));
    make_batches(6, &[1], 16)[0].append(&mut writer).expect("the writer goes on");
}
