//! Helpers shared by the integration tests: one real PostgreSQL server per test binary, one schema per
//! test, deterministic batches.
//!
//! The server is `CLEARHOUSE_TEST_PG_URL` when set, else a throwaway cluster started on first use (see
//! `server.rs`) and stopped when the test binary exits. Without PostgreSQL binaries the tests print
//! `SKIPPED: no PostgreSQL` and pass, unless `CI` is set, where they fail.
#![allow(dead_code, unused_imports)]

pub mod server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

pub use journal::conformance::{OwnedBatch, assert_batches_eq, make_batches};
use journal::{JournalConfig, JournalError};
use journal_pg::{PgConfig, PgJournal};
use postgres::{Client, NoTls};

/// Environment variable naming an existing server to use instead of starting one.
pub const URL_ENV: &str = "CLEARHOUSE_TEST_PG_URL";

enum Server {
    External(String),
    Local(Mutex<server::PgServer>, String),
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();

extern "C" fn stop_server_at_exit() {
    if let Some(Some(Server::Local(server, _))) = SERVER.get()
        && let Ok(mut s) = server.lock()
    {
        s.stop();
    }
}

fn start_server() -> Option<Server> {
    if let Ok(url) = std::env::var(URL_ENV) {
        return Some(Server::External(url));
    }
    let Some(bin) = server::find_bin_dir() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but no PostgreSQL binaries (initdb and pg_ctl) were found under /usr/lib/postgresql/*/bin \
                 or on PATH: install them (apt-get install -y postgresql) or set {URL_ENV}"
            );
        }
        return None;
    };
    let server = server::PgServer::start(&bin).unwrap_or_else(|e| panic!("could not start PostgreSQL from {}: {e}", bin.display()));
    let conninfo = server.conninfo();
    // Statics are never dropped, so the server is stopped by an exit handler (the test harness leaves
    // through `exit`, also when tests failed); the watchdog covers deaths that skip exit handlers.
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> i32;
    }
    // SAFETY: registering a plain `extern "C" fn()` with the C runtime; the callback only touches a static.
    unsafe {
        atexit(stop_server_at_exit);
    }
    // Recovery's storage check uses amcheck when the extension is installed.
    let mut client = Client::connect(&conninfo, NoTls).expect("connect to the test server");
    client.batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck").expect("create amcheck");
    Some(Server::Local(Mutex::new(server), conninfo))
}

/// The connection string of the test server, or `None` when PostgreSQL is not available (and `CI` unset).
pub fn conninfo() -> Option<String> {
    match SERVER.get_or_init(start_server) {
        None => None,
        Some(Server::External(url)) => Some(url.clone()),
        Some(Server::Local(_, conninfo)) => Some(conninfo.clone()),
    }
}

/// Runs `f` on the local throwaway server; `None` when the tests use an external server (whose files
/// they must not touch) or no server.
pub fn with_local_server<R>(f: impl FnOnce(&mut server::PgServer) -> R) -> Option<R> {
    conninfo()?;
    match SERVER.get() {
        Some(Some(Server::Local(server, _))) => {
            let mut guard = server.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            Some(f(&mut guard))
        }
        _ => None,
    }
}

/// Returns the test's [`TestDb`] or prints `SKIPPED: no PostgreSQL` and returns from the test.
#[macro_export]
macro_rules! pg_or_skip {
    ($name:expr) => {
        match common::TestDb::new($name) {
            Some(db) => db,
            None => {
                eprintln!("SKIPPED: no PostgreSQL");
                return;
            }
        }
    };
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// One test's journal location: its own schema on the shared server, dropped at the end when the server
/// is an external one (a local cluster is deleted whole).
pub struct TestDb {
    pub conninfo: String,
    pub schema: String,
}

impl TestDb {
    pub fn new(name: &str) -> Option<TestDb> {
        let conninfo = conninfo()?;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut clean: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(24).collect();
        if clean.is_empty() {
            clean.push('x');
        }
        Some(TestDb { conninfo, schema: format!("t_{clean}_{}_{n}", std::process::id()) })
    }

    /// The same schema seen from another process (the crash tests' children).
    pub fn existing(conninfo: String, schema: String) -> TestDb {
        TestDb { conninfo, schema }
    }

    pub fn pg_config(&self) -> PgConfig {
        PgConfig::new(self.conninfo.clone(), self.schema.clone())
    }

    pub fn try_open(&self, config: JournalConfig) -> Result<PgJournal, JournalError> {
        PgJournal::open(&self.pg_config(), config)
    }

    pub fn open(&self) -> PgJournal {
        self.try_open(JournalConfig::default()).expect("open journal")
    }

    /// A raw connection for tampering behind the journal's back.
    pub fn raw(&self) -> Client {
        Client::connect(&self.conninfo, NoTls).expect("raw connection")
    }

    /// Runs one tampering statement (unqualified table names resolve to the test's schema) and checks that
    /// it changed something.
    pub fn tamper(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) {
        let mut c = self.raw();
        c.batch_execute(&format!("SET search_path = {}", self.schema)).expect("search_path");
        let changed = c.execute(sql, params).expect("tamper");
        assert!(changed >= 1, "tampering statement changed nothing: {sql}");
    }

    /// Reads one bytea column (unqualified table names resolve to the test's schema).
    pub fn read_blob(&self, sql: &str, key: i64) -> Vec<u8> {
        let mut c = self.raw();
        c.batch_execute(&format!("SET search_path = {}", self.schema)).expect("search_path");
        c.query_one(sql, &[&key]).expect("read blob").get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if matches!(SERVER.get(), Some(Some(Server::External(_))))
            && let Ok(mut c) = Client::connect(&self.conninfo, NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}
