//! Property: the SQLite and PostgreSQL backends, fed the same random batches, snapshots and reopens,
//! return identical receipts, records and `Recovery` values (same chain hashes, same verified counts).
//! The SQLite backend is the reference implementation here: it is tested on its own against the Python
//! fixture of the hash layout (`crates/journal/tests/reference_hashes.rs`).

mod common;

use common::TestDb;
use journal::{BatchId, BatchIn, JournalConfig, JournalStore, RecordIn, Seq, SnapshotIn, SqliteJournal, StateHash};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Step {
    records: Vec<(Vec<u8>, Vec<u8>)>,
    state_hash: [u8; 32],
    snapshot: Option<Vec<u8>>,
    reopen: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::collection::vec((prop::collection::vec(any::<u8>(), 0..48), prop::collection::vec(any::<u8>(), 0..24)), 1..6),
        any::<[u8; 32]>(),
        prop::option::weighted(0.3, prop::collection::vec(any::<u8>(), 0..64)),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(records, state_hash, snapshot, reopen)| Step { records, state_hash, snapshot, reopen })
}

/// A SQLite file in its own temp dir, removed on drop.
struct SqliteScratch {
    dir: std::path::PathBuf,
}

impl SqliteScratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("clearhouse-journal-pg-equiv-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        SqliteScratch { dir }
    }

    fn open(&self, config: JournalConfig) -> SqliteJournal {
        SqliteJournal::open(self.dir.join("journal.sqlite"), config).expect("open sqlite")
    }
}

impl Drop for SqliteScratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_and_postgres_recover_identically(steps in prop::collection::vec(step(), 1..10), keep in 1usize..3) {
        let Some(db) = TestDb::new("equiv") else {
            eprintln!("SKIPPED: no PostgreSQL");
            return Ok(());
        };
        let n = CASE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let sqlite_dir = SqliteScratch::new(&n.to_string());
        let config = JournalConfig { keep_snapshots: keep, ..JournalConfig::default() };
        let mut lite: Box<dyn JournalStore> = Box::new(sqlite_dir.open(config));
        let mut pg: Box<dyn JournalStore> = Box::new(db.try_open(config).expect("open pg"));
        let mut seq = 0u64;
        for (i, st) in steps.iter().enumerate() {
            let records: Vec<RecordIn<'_>> = st.records.iter().map(|(c, r)| { seq += 1; RecordIn { seq: Seq(seq), command: c, result: r } }).collect();
            let batch = BatchIn { records: &records, state_hash: StateHash(st.state_hash) };
            let a = lite.append_batch(&batch).expect("sqlite append");
            let b = pg.append_batch(&batch).expect("pg append");
            prop_assert_eq!(a, b);
            if let Some(state) = &st.snapshot {
                let snap = SnapshotIn { last_seq: Seq(seq), batch_id: BatchId(i as u64 + 1), state_hash: StateHash(st.state_hash), state };
                lite.write_snapshot(&snap).expect("sqlite snapshot");
                pg.write_snapshot(&snap).expect("pg snapshot");
            }
            if st.reopen {
                drop(lite);
                drop(pg);
                lite = Box::new(sqlite_dir.open(config));
                pg = Box::new(db.try_open(config).expect("reopen pg"));
            }
            prop_assert_eq!(lite.head(), pg.head());
        }
        prop_assert_eq!(lite.recover().expect("sqlite recover"), pg.recover().expect("pg recover"));
        prop_assert_eq!(lite.recover_from_genesis().expect("sqlite genesis"), pg.recover_from_genesis().expect("pg genesis"));
        for s in [0, 1, seq / 2, seq, seq + 1] {
            prop_assert_eq!(lite.result_of(Seq(s)).expect("sqlite result_of"), pg.result_of(Seq(s)).expect("pg result_of"));
        }
        let (sa, sb) = (lite.stats().expect("sqlite stats"), pg.stats().expect("pg stats"));
        prop_assert_eq!((sa.head, sa.snapshot_count, sa.latest_snapshot_seq), (sb.head, sb.snapshot_count, sb.latest_snapshot_seq));
    }
}
