//! Helpers shared by the SQLite-only integration tests: scratch directories; deterministic batches come
//! from the conformance suite.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use journal::conformance::{OwnedBatch, assert_batches_eq, make_batches};
use journal::{JournalConfig, SqliteJournal};

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

pub fn open(path: &Path) -> SqliteJournal {
    SqliteJournal::open(path, JournalConfig::default()).expect("open journal")
}
