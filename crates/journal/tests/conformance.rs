//! The journal conformance suite (`journal::conformance`) on the SQLite backend: one scratch directory per
//! check, tampering through a second SQLite connection.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use journal::conformance::{Backend, Param};
use journal::{JournalConfig, JournalError, JournalStore, SqliteJournal};

struct Sqlite {
    dir: PathBuf,
    /// The parent owns (and removes) the scratch directory; a crash child only borrows it.
    owned: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn new(name: &str) -> Option<Box<dyn Backend>> {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join("clearhouse-journal-tests").join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    Some(Box::new(Sqlite { dir, owned: true }))
}

fn reopen(location: &str) -> Box<dyn Backend> {
    Box::new(Sqlite { dir: PathBuf::from(location), owned: false })
}

impl Sqlite {
    fn db(&self) -> PathBuf {
        self.dir.join("journal.sqlite")
    }

    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db()).expect("open raw connection")
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Backend for Sqlite {
    fn open(&self, config: JournalConfig) -> Result<Box<dyn JournalStore>, JournalError> {
        Ok(Box::new(SqliteJournal::open(self.db(), config)?))
    }

    fn open_read_only(&self, config: JournalConfig) -> Result<Box<dyn JournalStore>, JournalError> {
        Ok(Box::new(SqliteJournal::open_read_only(self.db(), config)?))
    }

    fn execute(&self, sql: &str, params: &[Param]) -> u64 {
        let values = params.iter().map(|p| match p {
            Param::Int(v) => rusqlite::types::Value::Integer(*v),
            Param::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        });
        self.raw().execute(sql, rusqlite::params_from_iter(values)).expect("tamper") as u64
    }

    fn read_blob(&self, sql: &str, key: i64) -> Vec<u8> {
        self.raw().query_row(sql, [key], |r| r.get(0)).expect("read blob")
    }

    fn create_foreign_table(&self) {
        self.raw().execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY)").expect("create");
    }

    fn location(&self) -> String {
        self.dir.to_str().expect("scratch paths are UTF-8").to_string()
    }

    fn spilled_bytes(&self) -> Option<u64> {
        Some(std::fs::metadata(self.dir.join("journal.sqlite-wal")).map_or(0, |m| m.len()))
    }

    fn groups_atomically(&self) -> bool {
        true
    }
}

journal::conformance_tests!(new, reopen);
