//! Helpers shared by the integration tests: scratch directories and deterministic batches.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use journal::{BatchIn, BatchReceipt, JournalConfig, JournalStore, RecordIn, Seq, SqliteJournal, StateHash};

/// A scratch directory removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join("clearhouse-journal-tests").join(format!("{}-{}-{}", name, std::process::id(), n));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("journal.sqlite")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An owned batch as the tests expect to read it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedBatch {
    pub records: Vec<(u64, Vec<u8>, Vec<u8>)>,
    pub state_hash: StateHash,
}

impl OwnedBatch {
    pub fn append(&self, j: &mut dyn JournalStore) -> Result<BatchReceipt, journal::JournalError> {
        let recs: Vec<RecordIn<'_>> = self.records.iter().map(|(seq, c, r)| RecordIn { seq: Seq(*seq), command: c, result: r }).collect();
        j.append_batch(&BatchIn { records: &recs, state_hash: self.state_hash })
    }
}

/// Deterministic batches: `sizes[i]` records in batch i+1, commands ~100 bytes and results ~60 bytes
/// that differ per seq, state hash = blake3 of the batch number (any distinct value works: the journal
/// treats it as opaque).
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

pub fn open(path: &Path) -> SqliteJournal {
    SqliteJournal::open(path, JournalConfig::default()).expect("open journal")
}

/// Compares recovered batches with the expected owned batches.
pub fn assert_batches_eq(recovered: &[journal::RecoveredBatch], expected: &[OwnedBatch]) {
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
