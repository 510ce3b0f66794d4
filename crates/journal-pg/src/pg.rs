//! The PostgreSQL journal: connection, schema, writes and verified recovery.
//!
//! Schema (format version [`FORMAT_VERSION`]), all inside the schema named by [`PgConfig::schema`]:
//! - `meta(key text PRIMARY KEY, value bigint)`: `format_version`;
//! - `records(seq bigint PRIMARY KEY, batch_id, prev_hash bytea, hash bytea, command bytea, result bytea)`;
//! - `batches(batch_id bigint PRIMARY KEY, first_seq, last_seq, state_hash, last_hash, checksum)`;
//! - `snapshots(last_seq bigint PRIMARY KEY, batch_id, state_hash, chain_hash, checksum, state bytea)`, where
//!   `state` is the snapshot's chunk 0 (the whole state when it fits one chunk);
//! - `snapshot_chunks(last_seq, chunk_index, bytes bytea, PRIMARY KEY (last_seq, chunk_index))`: chunks 1, 2,
//!   ... of larger snapshots, written in the snapshot's transaction (added to older journals by a writer's
//!   open; a reader treats its absence as "no chunks");
//! - `head(id int PRIMARY KEY CHECK (id = 0), last_seq, last_batch_id, last_hash, checksum)`: one row.
//!
//! The columns and their meaning are those of the SQLite backend, and every verdict on them is reached by
//! the shared code of [`journal::verify`], so both backends give the same answers on the same rows.

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::str::FromStr;
use std::time::Duration;

use journal::chain::{batch_checksum, head_checksum, record_hash, snapshot_checksum};
use journal::failpoint::{self, names};
use journal::verify::{self, ChainRows, Columns, batch_row, head_row, to_sql_int};
use journal::{
    BatchId, BatchIn, BatchReceipt, ChainHash, FORMAT_VERSION, GENESIS_HASH, Head, JournalConfig, JournalError, JournalStats, JournalStore,
    RecoveredSnapshot, Recovery, Seq, SnapshotIn, StoredRecord,
};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Portal, Row, Statement, Transaction};

/// Longest schema name accepted: PostgreSQL truncates identifiers at 63 bytes, and a silently truncated
/// name could make two journals share tables.
const MAX_SCHEMA_NAME_BYTES: usize = 48;

/// Default of [`PgConfig::recovery_fetch_rows`].
const DEFAULT_RECOVERY_FETCH_ROWS: u32 = 1024;

/// Upper limit of [`PgConfig::recovery_fetch_rows`].
const MAX_RECOVERY_FETCH_ROWS: u32 = 65_536;

/// How long a batch waits for the head row lock before failing with `Locked`. Only a writer that bypassed
/// the advisory lock can hold it, so waiting longer would only delay the error.
const HEAD_LOCK_TIMEOUT: &str = "2s";

/// From this many records per half of a batch on, the batch's records travel by `COPY ... FROM STDIN
/// BINARY` instead of INSERTs of unnested arrays. Measured with the `pg_load` example (see
/// `docs/journal-postgres.md`): both cost the same up to about 1000 records, COPY is 25-45% faster at
/// 10000 (it takes PostgreSQL's multi-insert path).
const COPY_MIN_RECORDS: usize = 2048;

/// Column types of `copy_records`, in order.
const RECORD_COPY_TYPES: [Type; 6] = [Type::INT8, Type::INT8, Type::BYTEA, Type::BYTEA, Type::BYTEA, Type::BYTEA];

/// Default of [`PgConfig::lock_wait`].
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(1);

/// Pause between two attempts to take the advisory lock.
const LOCK_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Connection timeout used when the connection string does not set one.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const TABLES: [&str; 5] = ["meta", "records", "batches", "snapshots", "head"];

/// Where a [`PgJournal`] lives.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// A libpq-style connection string (`host=127.0.0.1 port=5432 user=postgres dbname=postgres`) or URL
    /// (`postgresql://user@host:port/db`). TLS is not supported: connect over loopback or a Unix socket, or
    /// through a TLS-terminating proxy.
    pub conninfo: String,
    /// The PostgreSQL schema holding this journal's tables, created on first open. Lower-case ASCII
    /// letters, digits and `_`, starting with a letter or `_`, not starting with `pg_`, at most 48 bytes.
    pub schema: String,
    /// How long [`PgJournal::open`] keeps retrying when another session holds the journal's lock before it
    /// fails with [`JournalError::Locked`]. A previous owner that just exited or crashed holds the lock
    /// until the server has noticed its connection closed, which takes a moment; a live second writer
    /// keeps it, and is refused after this wait.
    pub lock_wait: Duration,
    /// Rows fetched per round trip while recovery walks the tables (1 to 65 536). Recovery buffers at
    /// most this many rows per table, so its buffer memory is bounded by `recovery_fetch_rows x
    /// (max_command_bytes + max_result_bytes)` whatever the journal's length: about 300 KB with the
    /// default 1024 and 160-byte records, 2 GiB in the worst case of 1 MiB commands and results. Larger
    /// values save round trips (see `docs/journal-postgres.md`).
    pub recovery_fetch_rows: u32,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may carry a password: never print it.
        f.debug_struct("PgConfig").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl PgConfig {
    pub fn new(conninfo: impl Into<String>, schema: impl Into<String>) -> Self {
        Self {
            conninfo: conninfo.into(),
            schema: schema.into(),
            lock_wait: DEFAULT_LOCK_WAIT,
            recovery_fetch_rows: DEFAULT_RECOVERY_FETCH_ROWS,
        }
    }
}

fn validate_schema_name(schema: &str) -> Result<(), JournalError> {
    let bytes = schema.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(JournalError::ConfigInvalid { reason: "schema name must not be empty" });
    };
    if bytes.len() > MAX_SCHEMA_NAME_BYTES {
        return Err(JournalError::ConfigInvalid { reason: "schema name must be at most 48 bytes" });
    }
    if !(first.is_ascii_lowercase() || first == b'_') {
        return Err(JournalError::ConfigInvalid { reason: "schema name must start with a lower-case letter or '_'" });
    }
    if !bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_') {
        return Err(JournalError::ConfigInvalid { reason: "schema name may contain only a-z, 0-9 and '_'" });
    }
    if schema.starts_with("pg_") {
        return Err(JournalError::ConfigInvalid { reason: "schema names starting with pg_ are reserved by PostgreSQL" });
    }
    Ok(())
}

/// The advisory lock key of a journal: 64 bits of a domain-separated hash of its schema name. Two schemas
/// whose keys collide (probability about 2^-64 per pair) would merely exclude each other: `Locked`, never
/// interleaved writes.
fn advisory_lock_key(schema: &str) -> i64 {
    let mut h = blake3::Hasher::new();
    h.update(b"clearhouse.journal-pg.lock\0");
    h.update(schema.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    i64::from_le_bytes(first)
}

/// Maps a PostgreSQL error to the journal's error, keeping only text so no `postgres` type leaks out.
fn pg(operation: &'static str) -> impl FnOnce(postgres::Error) -> JournalError {
    move |err| {
        let detail = error_detail(&err);
        let code = err.code();
        if code == Some(&SqlState::DISK_FULL) {
            JournalError::StorageFull { operation, detail }
        } else if code == Some(&SqlState::DATA_CORRUPTED) || code == Some(&SqlState::INDEX_CORRUPTED) {
            JournalError::StorageCorrupt { operation, detail }
        } else if code == Some(&SqlState::LOCK_NOT_AVAILABLE)
            || code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        {
            JournalError::Locked
        } else {
            JournalError::Storage { operation, detail }
        }
    }
}

/// The server's own words (severity, SQLSTATE, message, detail) for database errors, else the error and
/// its chain of causes (e.g. the I/O error behind a lost connection): `postgres::Error`'s `Display` alone
/// says only "db error".
fn error_detail(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut out = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            out.push_str(" (");
            out.push_str(detail);
            out.push(')');
        }
        return out;
    }
    let mut out = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// A PostgreSQL row seen through [`Columns`] (a newtype, as both the trait and `postgres::Row` are
/// foreign to this crate).
#[derive(Clone, Copy)]
struct PgRow<'r>(&'r Row);

impl<'r> Columns<'r> for PgRow<'r> {
    fn get_u64(&self, idx: usize, table: &'static str, key: u64, column: &'static str) -> Result<u64, JournalError> {
        let malformed = JournalError::RowMalformed { table, key, column };
        match self.0.try_get::<_, Option<i64>>(idx) {
            Ok(Some(v)) => u64::try_from(v).map_err(|_| malformed),
            _ => Err(malformed),
        }
    }

    fn get_blob(&self, idx: usize, table: &'static str, key: u64, column: &'static str) -> Result<&'r [u8], JournalError> {
        match self.0.try_get::<_, Option<&[u8]>>(idx) {
            Ok(Some(b)) => Ok(b),
            _ => Err(JournalError::RowMalformed { table, key, column }),
        }
    }
}

/// The SQL text of every statement, qualified with the journal's schema (validated to be a plain
/// identifier, so it can be spliced into SQL safely).
struct Sql {
    head_and_first_records: String,
    rest_records_and_batch: String,
    copy_records: String,
    insert_batch: String,
    update_head: String,
    count_head: String,
    select_head: String,
    select_batch: String,
    select_record: String,
    select_record_hash: String,
    select_batches_from: String,
    select_records_from: String,
    select_snapshots: String,
    insert_snapshot: String,
    prune_snapshots: String,
    insert_chunk: String,
    prune_chunks: String,
    has_chunk_table: String,
    chunk_bytes: String,
    select_chunks: String,
    last_record: String,
    max_batch: String,
    max_snapshot_seq: String,
    count_snapshots: String,
    stray_rows: [(&'static str, &'static str, String); 3],
}

impl Sql {
    fn new(s: &str) -> Self {
        Sql {
            // The first statement of a batch: the head's compare-and-swap and the first half of the records,
            // in one round trip. The records are inserted only if the head moved (`EXISTS (SELECT 1 FROM h)`),
            // and the statement returns how many head rows moved (0 or 1). The columns of any number of
            // records travel as five arrays that PostgreSQL unnests into rows.
            head_and_first_records: format!(
                "WITH h AS (UPDATE {s}.head SET last_seq = $1, last_batch_id = $2, last_hash = $3, checksum = $4 \
                            WHERE id = 0 AND last_seq = $5 AND last_batch_id = $6 AND last_hash = $7 RETURNING 1), \
                      r AS (INSERT INTO {s}.records (seq, batch_id, prev_hash, hash, command, result) \
                            SELECT u.seq, $2, u.prev_hash, u.hash, u.command, u.result \
                            FROM unnest($8::int8[], $9::bytea[], $10::bytea[], $11::bytea[], $12::bytea[]) \
                                 AS u(seq, prev_hash, hash, command, result) \
                            WHERE EXISTS (SELECT 1 FROM h)) \
                 SELECT count(*) FROM h"
            ),
            // The second statement: the rest of the records (possibly none) and the batch row.
            rest_records_and_batch: format!(
                "WITH r AS (INSERT INTO {s}.records (seq, batch_id, prev_hash, hash, command, result) \
                            SELECT u.seq, $1, u.prev_hash, u.hash, u.command, u.result \
                            FROM unnest($2::int8[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[]) \
                                 AS u(seq, prev_hash, hash, command, result)) \
                 INSERT INTO {s}.batches (batch_id, first_seq, last_seq, state_hash, last_hash, checksum) \
                 VALUES ($1, $7, $8, $9, $10, $11)"
            ),
            copy_records: format!("COPY {s}.records (seq, batch_id, prev_hash, hash, command, result) FROM STDIN BINARY"),
            insert_batch: format!(
                "INSERT INTO {s}.batches (batch_id, first_seq, last_seq, state_hash, last_hash, checksum) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            // Compare-and-swap: the head moves only from the head this writer last saw. The UPDATE also
            // row-locks the head until COMMIT, so a concurrent writer waits and then matches no row.
            update_head: format!(
                "UPDATE {s}.head SET last_seq = $1, last_batch_id = $2, last_hash = $3, checksum = $4 \
                 WHERE id = 0 AND last_seq = $5 AND last_batch_id = $6 AND last_hash = $7"
            ),
            count_head: format!("SELECT count(*) FROM {s}.head"),
            select_head: format!("SELECT last_seq, last_batch_id, last_hash, checksum FROM {s}.head"),
            select_batch: format!(
                "SELECT batch_id, first_seq, last_seq, state_hash, last_hash, checksum FROM {s}.batches WHERE batch_id = $1"
            ),
            select_record: format!("SELECT seq, batch_id, prev_hash, hash, command, result FROM {s}.records WHERE seq = $1"),
            select_record_hash: format!("SELECT hash FROM {s}.records WHERE seq = $1"),
            select_batches_from: format!(
                "SELECT batch_id, first_seq, last_seq, state_hash, last_hash, checksum FROM {s}.batches \
                 WHERE batch_id >= $1 ORDER BY batch_id"
            ),
            select_records_from: format!(
                "SELECT seq, batch_id, prev_hash, hash, command, result FROM {s}.records WHERE seq >= $1 ORDER BY seq"
            ),
            select_snapshots: format!(
                "SELECT last_seq, batch_id, state_hash, chain_hash, checksum, state FROM {s}.snapshots ORDER BY last_seq DESC"
            ),
            insert_snapshot: format!(
                "INSERT INTO {s}.snapshots (last_seq, batch_id, state_hash, chain_hash, checksum, state) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            prune_snapshots: format!(
                "DELETE FROM {s}.snapshots WHERE last_seq NOT IN \
                 (SELECT last_seq FROM {s}.snapshots ORDER BY last_seq DESC LIMIT $1)"
            ),
            insert_chunk: format!("INSERT INTO {s}.snapshot_chunks (last_seq, chunk_index, bytes) VALUES ($1, $2, $3)"),
            prune_chunks: format!("DELETE FROM {s}.snapshot_chunks WHERE last_seq NOT IN (SELECT last_seq FROM {s}.snapshots)"),
            has_chunk_table: format!("SELECT to_regclass('{s}.snapshot_chunks') IS NOT NULL"),
            chunk_bytes: format!("SELECT coalesce(sum(octet_length(bytes)), 0)::int8 FROM {s}.snapshot_chunks WHERE last_seq = $1"),
            select_chunks: format!("SELECT chunk_index, bytes FROM {s}.snapshot_chunks WHERE last_seq = $1 ORDER BY chunk_index"),
            last_record: format!("SELECT seq, hash FROM {s}.records ORDER BY seq DESC LIMIT 1"),
            max_batch: format!("SELECT max(batch_id) FROM {s}.batches"),
            max_snapshot_seq: format!("SELECT max(last_seq) FROM {s}.snapshots"),
            count_snapshots: format!("SELECT count(*) FROM {s}.snapshots"),
            stray_rows: [
                ("records", "seq", format!("SELECT min(seq) FROM {s}.records WHERE seq < 1")),
                ("batches", "batch_id", format!("SELECT min(batch_id) FROM {s}.batches WHERE batch_id < 1")),
                ("snapshots", "last_seq", format!("SELECT min(last_seq) FROM {s}.snapshots WHERE last_seq < 1")),
            ],
        }
    }
}

/// Statements on the append and lookup paths, prepared once at open.
struct Prepared {
    head_and_first_records: Statement,
    rest_records_and_batch: Statement,
    insert_batch: Statement,
    update_head: Statement,
    select_record: Statement,
    select_batch: Statement,
}

/// The PostgreSQL journal. One writer per journal (schema): a second [`PgJournal::open`] of the same schema
/// fails with [`JournalError::Locked`] until the first one's connection closes.
pub struct PgJournal {
    /// The connection, in a `RefCell` because `result_of` and `stats` take `&self` while every `postgres`
    /// call needs `&mut Client`. Borrows never outlive one method call and no method calls another while
    /// holding one, so a failed borrow is impossible; it is still reported as an error, not a panic.
    client: RefCell<Client>,
    sql: Sql,
    prepared: Prepared,
    config: JournalConfig,
    schema: String,
    recovery_fetch_rows: u32,
    head: Head,
    latest_snapshot_seq: Seq,
    /// Set after a storage failure during a write (the outcome of the COMMIT may be unknown, e.g. when the
    /// connection dropped while it was in flight) and when recovery finds corruption. Cleared by reopening.
    poisoned: bool,
    /// Opened by [`PgJournal::open_read_only`]: writes are refused.
    read_only: bool,
}

impl std::fmt::Debug for PgJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgJournal")
            .field("schema", &self.schema)
            .field("head", &self.head)
            .field("latest_snapshot_seq", &self.latest_snapshot_seq)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

/// Creates the schema objects. `{s}` is replaced by the validated schema name.
const SCHEMA_DDL: &str = "
CREATE TABLE {s}.meta (
    key   text PRIMARY KEY,
    value bigint NOT NULL
);
CREATE TABLE {s}.records (
    seq       bigint PRIMARY KEY,
    batch_id  bigint NOT NULL,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL,
    command   bytea NOT NULL,
    result    bytea NOT NULL
);
CREATE TABLE {s}.batches (
    batch_id   bigint PRIMARY KEY,
    first_seq  bigint NOT NULL,
    last_seq   bigint NOT NULL,
    state_hash bytea NOT NULL,
    last_hash  bytea NOT NULL,
    checksum   bytea NOT NULL
);
CREATE TABLE {s}.snapshots (
    last_seq   bigint PRIMARY KEY,
    batch_id   bigint NOT NULL,
    state_hash bytea NOT NULL,
    chain_hash bytea NOT NULL,
    checksum   bytea NOT NULL,
    state      bytea NOT NULL
);
CREATE TABLE {s}.head (
    id            integer PRIMARY KEY CHECK (id = 0),
    last_seq      bigint NOT NULL,
    last_batch_id bigint NOT NULL,
    last_hash     bytea NOT NULL,
    checksum      bytea NOT NULL
);
";

/// The table of snapshot chunks after the first, created with the schema and added to journals created
/// before it.
const CHUNKS_DDL: &str = "
CREATE TABLE IF NOT EXISTS {s}.snapshot_chunks (
    last_seq    bigint NOT NULL,
    chunk_index bigint NOT NULL,
    bytes       bytea NOT NULL,
    PRIMARY KEY (last_seq, chunk_index)
);
";

impl PgJournal {
    /// Connects, enforces the durability settings, takes the journal's advisory lock, creates the schema on
    /// first use (or checks its format version), and checks the head against the last record.
    ///
    /// Fails with [`JournalError::DurabilitySettingRefused`] if the session does not report
    /// `synchronous_commit = on` and `fsync = on`, with [`JournalError::Locked`] if another connection holds
    /// the journal, with [`JournalError::NotAJournal`] / [`JournalError::FormatVersionMismatch`] for foreign
    /// or newer schemas, and with the head errors when the head disagrees with the stored log.
    pub fn open(pg_config: &PgConfig, config: JournalConfig) -> Result<Self, JournalError> {
        let mut client = connect(pg_config, &config)?;
        enforce_settings(&mut client)?;
        take_advisory_lock(&mut client, advisory_lock_key(&pg_config.schema), pg_config.lock_wait)?;
        init_or_check_schema(&mut client, &pg_config.schema)?;
        Self::with_client(client, pg_config, config, false)
    }

    /// Opens the journal for reading only, as `clearhouse verify` does: the session runs with
    /// `default_transaction_read_only = on` (read back), so every statement is refused by the server if it
    /// would write; the schema is checked, never created; writes are refused with [`JournalError::ReadOnly`].
    /// No advisory lock is taken: recovery reads one REPEATABLE READ snapshot, consistent even while the
    /// writer appends. Fails with [`JournalError::NotAJournal`] when the schema holds no journal.
    pub fn open_read_only(pg_config: &PgConfig, config: JournalConfig) -> Result<Self, JournalError> {
        let mut client = connect(pg_config, &config)?;
        enforce_read_only(&mut client)?;
        let mut tx = client.transaction().map_err(pg("begin schema check"))?;
        if schema_tables(&mut tx, &pg_config.schema)?.is_empty() {
            return Err(JournalError::NotAJournal { reason: format!("schema {} holds no journal tables", pg_config.schema) });
        }
        check_schema(&mut tx, &pg_config.schema)?;
        tx.commit().map_err(pg("end schema check"))?;
        Self::with_client(client, pg_config, config, true)
    }

    fn with_client(mut client: Client, pg_config: &PgConfig, config: JournalConfig, read_only: bool) -> Result<Self, JournalError> {
        let sql = Sql::new(&pg_config.schema);
        let prepared = Prepared {
            head_and_first_records: client.prepare(&sql.head_and_first_records).map_err(pg("prepare batch statements"))?,
            rest_records_and_batch: client.prepare(&sql.rest_records_and_batch).map_err(pg("prepare batch statements"))?,
            insert_batch: client.prepare(&sql.insert_batch).map_err(pg("prepare batch insert"))?,
            update_head: client.prepare(&sql.update_head).map_err(pg("prepare head update"))?,
            select_record: client.prepare(&sql.select_record).map_err(pg("prepare record lookup"))?,
            select_batch: client.prepare(&sql.select_batch).map_err(pg("prepare batch lookup"))?,
        };
        let mut journal = PgJournal {
            client: RefCell::new(client),
            sql,
            prepared,
            config,
            schema: pg_config.schema.clone(),
            recovery_fetch_rows: pg_config.recovery_fetch_rows,
            head: Head::default(),
            latest_snapshot_seq: Seq(0),
            poisoned: false,
            read_only,
        };
        journal.head = read_head(journal.client.get_mut(), &journal.sql)?;
        journal.check_head_against_last_record()?;
        journal.latest_snapshot_seq = read_latest_snapshot_seq(journal.client.get_mut(), &journal.sql)?;
        Ok(journal)
    }

    /// True for a journal opened by [`PgJournal::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn ensure_writer(&self) -> Result<(), JournalError> {
        if self.read_only {
            return Err(JournalError::ReadOnly);
        }
        Ok(())
    }

    /// Closes the connection (which releases the advisory lock), reporting any error.
    pub fn close(self) -> Result<(), JournalError> {
        self.client.into_inner().close().map_err(pg("close"))
    }

    /// The schema holding this journal.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The configuration in force.
    pub fn config(&self) -> &JournalConfig {
        &self.config
    }

    /// The value of a server setting as this journal's session sees it (`current_setting(name)`), e.g. to
    /// confirm `synchronous_commit`.
    pub fn session_setting(&self, name: &str) -> Result<String, JournalError> {
        let mut client = self.client()?;
        client.query_one("SELECT current_setting($1)", &[&name]).and_then(|row| row.try_get(0)).map_err(pg("read setting"))
    }

    /// The process id of this journal's server session (`pg_backend_pid()`): what an operator looks for in
    /// `pg_stat_activity` or `pg_locks`, and what `pg_terminate_backend` takes.
    pub fn backend_pid(&self) -> Result<i32, JournalError> {
        let mut client = self.client()?;
        client.query_one("SELECT pg_backend_pid()", &[]).and_then(|row| row.try_get(0)).map_err(pg("read backend pid"))
    }

    fn client(&self) -> Result<RefMut<'_, Client>, JournalError> {
        self.client.try_borrow_mut().map_err(|_| JournalError::Storage {
            operation: "use connection",
            detail: "the connection is already in use by this journal (re-entrant call)".into(),
        })
    }

    /// Cheap open-time check that the last stored record and batch are the ones the head names.
    fn check_head_against_last_record(&mut self) -> Result<(), JournalError> {
        let client = self.client.get_mut();
        let last = client.query_opt(&self.sql.last_record, &[]).map_err(pg("read last record"))?;
        let last_batch = client.query_one(&self.sql.max_batch, &[]).map_err(pg("read last batch"))?;
        let (found_seq, found_hash) = match &last {
            None => (0u64, GENESIS_HASH.0.to_vec()),
            Some(row) => (PgRow(row).get_u64(0, "records", 0, "seq")?, PgRow(row).get_blob(1, "records", 0, "hash")?.to_vec()),
        };
        let found_batch = match last_batch.try_get::<_, Option<i64>>(0).map_err(pg("read last batch"))? {
            None => 0,
            Some(b) => u64::try_from(b).map_err(|_| JournalError::RowMalformed { table: "batches", key: 0, column: "batch_id" })?,
        };
        verify::check_head_against_last(&self.head, found_seq, &found_hash, found_batch)
    }

    /// Writes one validated batch in one transaction. Returns the new head.
    fn write_batch(&mut self, batch: &BatchIn<'_>, batch_id: BatchId) -> Result<Head, JournalError> {
        let records = batch.records;
        debug_assert!(!records.is_empty(), "validate_batch rejects empty batches");
        debug_assert_eq!(records[0].seq.0, self.head.last_seq.0 + 1, "validated: seqs continue the log");
        let batch_id_sql = to_sql_int("batch id", batch_id.0)?;

        // The chain is computed before the transaction starts, so the transaction holds locks only for the
        // time the rows take to travel.
        let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(records.len());
        let mut prev = self.head.chain_hash;
        for r in records {
            let hash = record_hash(r.seq, batch_id, &prev, r.command, r.result);
            hashes.push(hash.0);
            prev = hash;
        }
        let first_seq = records[0].seq;
        let last_seq = records[records.len() - 1].seq;
        let new_head = Head { last_seq, last_batch_id: batch_id, chain_hash: prev };
        let head_sum = head_checksum(new_head.last_seq, new_head.last_batch_id, &new_head.chain_hash);
        let batch_sum = batch_checksum(batch_id, first_seq, last_seq, &prev, &batch.state_hash);
        // validate_batch proved every seq of the batch fits in an i64.
        let first_seq_sql = to_sql_int("seq", first_seq.0)?;
        let last_seq_sql = to_sql_int("seq", last_seq.0)?;
        let old_seq_sql = to_sql_int("seq", self.head.last_seq.0)?;
        let old_batch_sql = to_sql_int("batch id", self.head.last_batch_id.0)?;
        let old_hash = self.head.chain_hash;

        // Seqs are contiguous from first_seq and were proven to fit in an i64 above.
        let seq_of = |i: usize| first_seq_sql + i as i64;
        let prev_of = |i: usize| if i == 0 { &old_hash.0[..] } else { &hashes[i - 1][..] };
        let half = records.len().div_ceil(2);
        let client = self.client.get_mut();
        let mut tx = client.transaction().map_err(pg("begin batch"))?;
        // Records in two statements so that the mid-batch failpoint sits between them, as in SQLite; the
        // head's compare-and-swap comes first, so a concurrent writer is turned away before any record.
        if half >= COPY_MIN_RECORDS {
            // Large batches: separate statements, records by COPY BINARY (5 round trips plus the data).
            let moved = tx
                .execute(
                    &self.prepared.update_head,
                    &[&last_seq_sql, &batch_id_sql, &&prev.0[..], &&head_sum[..], &old_seq_sql, &old_batch_sql, &&old_hash.0[..]],
                )
                .map_err(pg("update head"))?;
            if moved != 1 {
                return Err(head_not_moved(&mut tx, &self.sql));
            }
            for (part, range) in [(0usize, 0..half), (1, half..records.len())] {
                let writer = tx.copy_in(self.sql.copy_records.as_str()).map_err(pg("insert records"))?;
                let mut copy = BinaryCopyInWriter::new(writer, &RECORD_COPY_TYPES);
                for i in range {
                    copy.write(&[&seq_of(i), &batch_id_sql, &prev_of(i), &&hashes[i][..], &records[i].command, &records[i].result])
                        .map_err(pg("insert records"))?;
                }
                copy.finish().map_err(pg("insert records"))?;
                if part == 0 {
                    failpoint::hit(names::MID_BATCH);
                }
            }
            tx.execute(
                &self.prepared.insert_batch,
                &[&batch_id_sql, &first_seq_sql, &last_seq_sql, &&batch.state_hash.0[..], &&prev.0[..], &&batch_sum[..]],
            )
            .map_err(pg("insert batch"))?;
        } else {
            // Small and medium batches: BEGIN, two statements, COMMIT (4 round trips whatever the size).
            let columns = |range: std::ops::Range<usize>| {
                let seqs: Vec<i64> = range.clone().map(seq_of).collect();
                let prevs: Vec<&[u8]> = range.clone().map(prev_of).collect();
                let hs: Vec<&[u8]> = range.clone().map(|i| &hashes[i][..]).collect();
                let commands: Vec<&[u8]> = range.clone().map(|i| records[i].command).collect();
                let results: Vec<&[u8]> = range.map(|i| records[i].result).collect();
                (seqs, prevs, hs, commands, results)
            };
            let (seqs, prevs, hs, commands, results) = columns(0..half);
            let moved: i64 = tx
                .query_one(
                    &self.prepared.head_and_first_records,
                    &[
                        &last_seq_sql,
                        &batch_id_sql,
                        &&prev.0[..],
                        &&head_sum[..],
                        &old_seq_sql,
                        &old_batch_sql,
                        &&old_hash.0[..],
                        &seqs,
                        &prevs,
                        &hs,
                        &commands,
                        &results,
                    ],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg("update head and insert records"))?;
            if moved != 1 {
                return Err(head_not_moved(&mut tx, &self.sql));
            }
            failpoint::hit(names::MID_BATCH);
            let (seqs, prevs, hs, commands, results) = columns(half..records.len());
            tx.execute(
                &self.prepared.rest_records_and_batch,
                &[
                    &batch_id_sql,
                    &seqs,
                    &prevs,
                    &hs,
                    &commands,
                    &results,
                    &first_seq_sql,
                    &last_seq_sql,
                    &&batch.state_hash.0[..],
                    &&prev.0[..],
                    &&batch_sum[..],
                ],
            )
            .map_err(pg("insert records and batch"))?;
        }
        failpoint::hit(names::BEFORE_COMMIT);
        tx.commit().map_err(pg("commit batch"))?;
        failpoint::hit(names::AFTER_COMMIT);
        Ok(new_head)
    }

    fn write_snapshot_tx(&mut self, snapshot: &SnapshotIn<'_>, chain_hash: ChainHash) -> Result<(), JournalError> {
        let checksum = snapshot_checksum(snapshot.last_seq, snapshot.batch_id, &snapshot.state_hash, &chain_hash, snapshot.state);
        let keep = i64::try_from(self.config.keep_snapshots).unwrap_or(i64::MAX);
        let last_seq_sql = to_sql_int("seq", snapshot.last_seq.0)?;
        let batch_id_sql = to_sql_int("batch id", snapshot.batch_id.0)?;
        let client = self.client.get_mut();
        let mut chunks = verify::snapshot_chunks(snapshot.state, self.config.snapshot_chunk_bytes);
        let (_, first) = chunks.next().ok_or(JournalError::SnapshotCorrupt { last_seq: snapshot.last_seq.0 })?;
        let mut tx = client.transaction().map_err(pg("begin snapshot"))?;
        tx.execute(
            &self.sql.insert_snapshot,
            &[&last_seq_sql, &batch_id_sql, &&snapshot.state_hash.0[..], &&chain_hash.0[..], &&checksum[..], &first],
        )
        .map_err(pg("insert snapshot"))?;
        failpoint::hit(names::MID_SNAPSHOT);
        let insert_chunk = tx.prepare(&self.sql.insert_chunk).map_err(pg("prepare chunk insert"))?;
        for (index, bytes) in chunks {
            tx.execute(&insert_chunk, &[&last_seq_sql, &to_sql_int("chunk index", index)?, &bytes]).map_err(pg("insert snapshot chunk"))?;
            failpoint::hit(names::MID_SNAPSHOT_CHUNKS);
        }
        tx.execute(&self.sql.prune_snapshots, &[&keep]).map_err(pg("prune snapshots"))?;
        tx.execute(&self.sql.prune_chunks, &[]).map_err(pg("prune snapshot chunks"))?;
        tx.commit().map_err(pg("commit snapshot"))
    }

    fn recover_impl(&mut self, use_snapshots: bool) -> Result<Recovery, JournalError> {
        let storage_check = self.config.storage_check_on_recover;
        let schema = self.schema.clone();
        let client = self.client.get_mut();
        // One consistent, read-only view of every table for the whole verification.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(pg("begin recovery"))?;
        if storage_check {
            storage_check_amcheck(&mut tx, &schema)?;
        }
        let outcome = walk(&mut tx, &self.sql, &self.config, self.recovery_fetch_rows, use_snapshots)?;
        tx.commit().map_err(pg("end recovery"))?;
        self.head = outcome.recovery.head;
        self.latest_snapshot_seq = outcome.latest_snapshot_seq;
        Ok(outcome.recovery)
    }
}

/// Why a head compare-and-swap matched no row: the head row is gone, or another writer moved it since this
/// journal last read it.
fn head_not_moved(tx: &mut Transaction<'_>, sql: &Sql) -> JournalError {
    match tx.query_one(sql.count_head.as_str(), &[]).and_then(|r| r.try_get::<_, i64>(0)) {
        Ok(0) => JournalError::HeadMissing,
        Ok(_) => JournalError::Locked,
        Err(err) => pg("read head")(err),
    }
}

/// Validates the configuration and connects.
fn connect(pg_config: &PgConfig, config: &JournalConfig) -> Result<Client, JournalError> {
    verify::validate_config(config)?;
    validate_schema_name(&pg_config.schema)?;
    if pg_config.recovery_fetch_rows == 0 || pg_config.recovery_fetch_rows > MAX_RECOVERY_FETCH_ROWS {
        return Err(JournalError::ConfigInvalid { reason: "recovery_fetch_rows must be between 1 and 65536" });
    }
    let mut conn_config = postgres::Config::from_str(&pg_config.conninfo)
        .map_err(|err| JournalError::Storage { operation: "parse connection string", detail: err.to_string() })?;
    if conn_config.get_connect_timeout().is_none() {
        conn_config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    conn_config.application_name("clearhouse-journal");
    conn_config.connect(NoTls).map_err(pg("connect"))
}

/// The value of a setting as the session sees it (`SHOW`).
fn show(client: &mut Client, setting: &str) -> Result<String, JournalError> {
    let rows = client.simple_query(&format!("SHOW {setting}")).map_err(pg("read setting"))?;
    Ok(rows
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default())
}

/// Makes every transaction of the session read-only, and reads the setting back.
fn enforce_read_only(client: &mut Client) -> Result<(), JournalError> {
    client.batch_execute("SET default_transaction_read_only = on").map_err(pg("set default_transaction_read_only"))?;
    let got = show(client, "default_transaction_read_only")?;
    if got != "on" {
        return Err(JournalError::DurabilitySettingRefused { pragma: "default_transaction_read_only", wanted: "on", got });
    }
    Ok(())
}

/// Sets `synchronous_commit = on` for the session and reads back the settings a durable commit depends on.
fn enforce_settings(client: &mut Client) -> Result<(), JournalError> {
    client
        .batch_execute(&format!("SET synchronous_commit = on; SET lock_timeout = '{HEAD_LOCK_TIMEOUT}'"))
        .map_err(pg("set synchronous_commit"))?;
    for (setting, wanted) in [("synchronous_commit", "on"), ("fsync", "on")] {
        let got = show(client, setting)?;
        if got != wanted {
            return Err(JournalError::DurabilitySettingRefused { pragma: setting, wanted, got });
        }
    }
    Ok(())
}

/// Takes the journal's session-level advisory lock, retrying for up to `wait`. The lock is held until the
/// connection closes, including when this process dies: the server then ends the session and releases it.
fn take_advisory_lock(client: &mut Client, key: i64, wait: Duration) -> Result<(), JournalError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .and_then(|row| row.try_get(0))
            .map_err(pg("take advisory lock"))?;
        if locked {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(JournalError::Locked);
        }
        std::thread::sleep(LOCK_RETRY_PAUSE);
    }
}

/// Creates the schema and its tables on first use, or checks that an existing schema is a journal of this
/// format version. Runs in one transaction, under the advisory lock taken just before.
fn init_or_check_schema(client: &mut Client, schema: &str) -> Result<(), JournalError> {
    let mut tx = client.transaction().map_err(pg("begin schema check"))?;
    if schema_tables(&mut tx, schema)?.is_empty() {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).map_err(pg("create schema"))?;
        tx.batch_execute(&SCHEMA_DDL.replace("{s}", schema)).map_err(pg("create schema"))?;
        tx.execute(&format!("INSERT INTO {schema}.meta (key, value) VALUES ('format_version', $1)"), &[&i64::from(FORMAT_VERSION)])
            .map_err(pg("create schema"))?;
        let checksum = head_checksum(Seq(0), BatchId(0), &GENESIS_HASH);
        tx.execute(
            &format!("INSERT INTO {schema}.head (id, last_seq, last_batch_id, last_hash, checksum) VALUES (0, 0, 0, $1, $2)"),
            &[&&GENESIS_HASH.0[..], &&checksum[..]],
        )
        .map_err(pg("create schema"))?;
    } else {
        check_schema(&mut tx, schema)?;
    }
    tx.batch_execute(&CHUNKS_DDL.replace("{s}", schema)).map_err(pg("create snapshot_chunks"))?;
    tx.commit().map_err(pg("commit schema"))
}

/// The names of the tables in `schema` (none when it does not exist).
fn schema_tables(tx: &mut Transaction<'_>, schema: &str) -> Result<Vec<String>, JournalError> {
    tx.query("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = $1", &[&schema])
        .map_err(pg("read schema"))?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<Result<_, _>>()
        .map_err(pg("read schema"))
}

/// Checks that an existing schema holds a journal of this format version.
fn check_schema(tx: &mut Transaction<'_>, schema: &str) -> Result<(), JournalError> {
    let present = schema_tables(tx, schema)?;
    for table in TABLES {
        if !present.iter().any(|t| t == table) {
            return Err(JournalError::NotAJournal { reason: format!("table {schema}.{table} is missing") });
        }
    }
    let version =
        tx.query_opt(&format!("SELECT value FROM {schema}.meta WHERE key = 'format_version'"), &[]).map_err(pg("read format version"))?;
    match version.map(|r| r.try_get::<_, i64>(0)).transpose().map_err(pg("read format version"))? {
        None => Err(JournalError::NotAJournal { reason: "meta has no format_version".into() }),
        Some(v) if v != i64::from(FORMAT_VERSION) => Err(JournalError::FormatVersionMismatch { found: v, supported: FORMAT_VERSION }),
        Some(_) => Ok(()),
    }
}

/// Reads and verifies the head row.
fn read_head<C: postgres::GenericClient>(client: &mut C, sql: &Sql) -> Result<Head, JournalError> {
    let rows = client.query(&sql.select_head, &[]).map_err(pg("read head"))?;
    let Some(row) = rows.first() else {
        return Err(JournalError::HeadMissing);
    };
    let head = head_row(PgRow(row))?;
    if rows.len() > 1 {
        // The primary key and CHECK (id = 0) make a second row impossible unless the table was rebuilt.
        return Err(JournalError::HeadCorrupt);
    }
    Ok(head)
}

fn read_latest_snapshot_seq<C: postgres::GenericClient>(client: &mut C, sql: &Sql) -> Result<Seq, JournalError> {
    let latest: Option<i64> = client.query_one(&sql.max_snapshot_seq, &[]).and_then(|r| r.try_get(0)).map_err(pg("read snapshots"))?;
    Ok(Seq(latest.and_then(|s| u64::try_from(s).ok()).unwrap_or(0)))
}

/// PostgreSQL's counterpart of SQLite's `PRAGMA quick_check`: when the `amcheck` extension is installed in
/// the database, checks the B-tree of every index of the journal's tables, and that every heap tuple is
/// indexed (`heapallindexed`). Without the extension this check is skipped: installing an extension needs
/// privileges a journal should not require. Page checksums (`initdb --data-checksums`) catch damaged pages
/// on read either way.
fn storage_check_amcheck(tx: &mut Transaction<'_>, schema: &str) -> Result<(), JournalError> {
    let installed: i64 = tx
        .query_one("SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'amcheck'", &[])
        .and_then(|r| r.try_get(0))
        .map_err(pg("storage check"))?;
    if installed == 0 {
        return Ok(());
    }
    tx.query(
        "SELECT bt_index_check(i.indexrelid, true) FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_am a ON a.oid = c.relam \
         WHERE n.nspname = $1 AND a.amname = 'btree'",
        &[&schema],
    )
    // amcheck reports damage as index_corrupted (XX002) or data_corrupted (XX001): StorageCorrupt.
    .map_err(pg("storage check"))?;
    Ok(())
}

/// A forward cursor over a bound portal, fetching a fixed number of rows per round trip. Several
/// portals can be open in one transaction, which lets recovery walk batches and records side by side
/// without loading either table into memory.
struct Cursor {
    portal: Portal,
    buffered: VecDeque<Row>,
    fetch_rows: u32,
    exhausted: bool,
    operation: &'static str,
}

impl Cursor {
    fn new(
        tx: &mut Transaction<'_>,
        query: &str,
        params: &[&(dyn ToSql + Sync)],
        fetch_rows: u32,
        operation: &'static str,
    ) -> Result<Self, JournalError> {
        debug_assert!((1..=MAX_RECOVERY_FETCH_ROWS).contains(&fetch_rows), "validated at open");
        let portal = tx.bind(query, params).map_err(pg(operation))?;
        Ok(Cursor { portal, buffered: VecDeque::new(), fetch_rows, exhausted: false, operation })
    }

    fn next(&mut self, tx: &mut Transaction<'_>) -> Result<Option<Row>, JournalError> {
        if self.buffered.is_empty() && !self.exhausted {
            // fetch_rows <= 65 536 (validated at open) fits an i32.
            let rows = tx.query_portal(&self.portal, self.fetch_rows as i32).map_err(pg(self.operation))?;
            // A short (or empty) fetch means the portal has no more rows.
            self.exhausted = rows.len() < self.fetch_rows as usize;
            self.buffered.extend(rows);
        }
        Ok(self.buffered.pop_front())
    }
}

struct WalkOutcome {
    recovery: Recovery,
    latest_snapshot_seq: Seq,
}

/// The two row streams of the recovery walk: two cursors in one transaction, and the record row last
/// fetched (which the walk borrows until its next call).
struct WalkRows<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    batches: Cursor,
    records: Cursor,
    batch: Option<Row>,
    record: Option<Row>,
}

impl ChainRows for WalkRows<'_, '_> {
    type Row<'a>
        = PgRow<'a>
    where
        Self: 'a;

    fn next_batch(&mut self) -> Result<Option<PgRow<'_>>, JournalError> {
        self.batch = self.batches.next(self.tx)?;
        Ok(self.batch.as_ref().map(PgRow))
    }

    fn next_record(&mut self) -> Result<Option<PgRow<'_>>, JournalError> {
        self.record = self.records.next(self.tx)?;
        Ok(self.record.as_ref().map(PgRow))
    }
}

/// Recovery inside one transaction: the same steps, in the same order, as the SQLite backend's, with the
/// verdicts of [`journal::verify`].
fn walk(
    tx: &mut Transaction<'_>,
    sql: &Sql,
    config: &JournalConfig,
    fetch_rows: u32,
    use_snapshots: bool,
) -> Result<WalkOutcome, JournalError> {
    let head = read_head(tx, sql)?;
    for (table, column, query) in &sql.stray_rows {
        // The walk reads keys from 1 upwards; a row keyed 0 or below would be invisible to it.
        let stray: Option<i64> = tx.query_one(query.as_str(), &[]).and_then(|r| r.try_get(0)).map_err(pg("check key range"))?;
        if let Some(value) = stray {
            return Err(JournalError::RowOutOfRange { table, column, value });
        }
    }
    let snapshot = if use_snapshots { verified_latest_snapshot(tx, sql)? } else { None };
    let plan = verify::plan_walk(config, &head, snapshot.as_ref())?;
    let start_batch_sql = to_sql_int("batch id", plan.start_batch)?;
    let start_seq_sql = to_sql_int("seq", plan.start_seq)?;
    let batches = Cursor::new(tx, &sql.select_batches_from, &[&start_batch_sql], fetch_rows, "read batches")?;
    let records = Cursor::new(tx, &sql.select_records_from, &[&start_seq_sql], fetch_rows, "read records")?;
    let mut rows = WalkRows { tx, batches, records, batch: None, record: None };
    let walked = verify::walk_chain(&mut rows, &head, &plan)?;
    if let Some(s) = &snapshot {
        check_snapshot_anchor(tx, sql, s)?;
    }
    let latest_snapshot_seq = read_latest_snapshot_seq(tx, sql)?;
    let recovery = Recovery { snapshot, batches: walked.batches, head, verified_records: walked.verified_records };
    Ok(WalkOutcome { recovery, latest_snapshot_seq })
}

/// Verifies every snapshot's checksum and returns the latest one. Any corrupt snapshot is an error, as in
/// the SQLite backend. Snapshots and their chunks are fetched one row per round trip: a snapshot may be
/// gigabytes, and only the latest is kept.
fn verified_latest_snapshot(tx: &mut Transaction<'_>, sql: &Sql) -> Result<Option<RecoveredSnapshot>, JournalError> {
    let chunked: bool = tx.query_one(sql.has_chunk_table.as_str(), &[]).and_then(|r| r.try_get(0)).map_err(pg("read schema"))?;
    let portal = tx.bind(sql.select_snapshots.as_str(), &[]).map_err(pg("read snapshots"))?;
    let mut latest = None;
    loop {
        let rows = tx.query_portal(&portal, 1).map_err(pg("read snapshots"))?;
        let Some(row) = rows.first() else { break };
        let key = PgRow(row).get_u64(0, "snapshots", 0, "last_seq")?;
        let first = PgRow(row).get_blob(5, "snapshots", key, "state")?.len() as u64;
        let rest = if chunked { chunk_bytes(tx, sql, key)? } else { 0 };
        let total = first.checked_add(rest).ok_or(JournalError::SnapshotCorrupt { last_seq: key })?;
        let mut check = verify::SnapshotCheck::start(PgRow(row), total, latest.is_none())?;
        if chunked {
            feed_chunks(tx, sql, &mut check)?;
        }
        let snapshot = check.finish()?;
        latest.get_or_insert(snapshot);
    }
    Ok(latest)
}

/// The bytes stored in the chunks after the first of the snapshot at `last_seq`.
fn chunk_bytes(tx: &mut Transaction<'_>, sql: &Sql, last_seq: u64) -> Result<u64, JournalError> {
    let total: i64 = tx
        .query_one(sql.chunk_bytes.as_str(), &[&to_sql_int("seq", last_seq)?])
        .and_then(|r| r.try_get(0))
        .map_err(pg("read snapshot chunks"))?;
    u64::try_from(total).map_err(|_| JournalError::SnapshotCorrupt { last_seq })
}

/// Streams the chunks after the first of the snapshot being checked, in index order, one per round trip.
fn feed_chunks(tx: &mut Transaction<'_>, sql: &Sql, check: &mut verify::SnapshotCheck) -> Result<(), JournalError> {
    let last_seq = check.last_seq();
    let portal = tx.bind(sql.select_chunks.as_str(), &[&to_sql_int("seq", last_seq)?]).map_err(pg("read snapshot chunks"))?;
    loop {
        let rows = tx.query_portal(&portal, 1).map_err(pg("read snapshot chunks"))?;
        let Some(row) = rows.first() else { break };
        let index = PgRow(row).get_u64(0, "snapshot_chunks", last_seq, "chunk_index")?;
        check.add(index, PgRow(row).get_blob(1, "snapshot_chunks", last_seq, "bytes")?)?;
    }
    Ok(())
}

/// Checks that a snapshot names an existing batch, ends at that batch's last record, and agrees with the
/// batch's state hash and the record's chain hash.
fn check_snapshot_anchor(tx: &mut Transaction<'_>, sql: &Sql, snap: &RecoveredSnapshot) -> Result<(), JournalError> {
    let row = tx.query_opt(sql.select_batch.as_str(), &[&to_sql_int("batch id", snap.batch_id.0)?]).map_err(pg("read batch"))?;
    verify::check_snapshot_against_batch(snap, row.as_ref().map(|r| batch_row(PgRow(r))).transpose()?)?;
    let record = tx.query_opt(sql.select_record_hash.as_str(), &[&to_sql_int("seq", snap.last_seq.0)?]).map_err(pg("read record"))?;
    let hash = record.as_ref().map(|r| PgRow(r).get_blob(0, "records", snap.last_seq.0, "hash")).transpose()?;
    verify::check_snapshot_against_record(snap, hash)
}

impl JournalStore for PgJournal {
    fn append_batch(&mut self, batch: &BatchIn<'_>) -> Result<BatchReceipt, JournalError> {
        self.ensure_writer()?;
        verify::ensure_writable(self.poisoned)?;
        verify::validate_batch(&self.config, &self.head, batch)?;
        let batch_id = verify::next_batch_id(&self.head)?;
        let written = self.write_batch(batch, batch_id);
        let head = verify::poison_on_error(&mut self.poisoned, written)?;
        let receipt = verify::receipt(&self.head, &head, batch_id, batch.records.len());
        self.head = head;
        Ok(receipt)
    }

    /// Validated together, then written one transaction each (after a storage error, a prefix of
    /// them may be durable; the journal is poisoned and recovery finds it).
    fn append_batches(&mut self, batches: &[BatchIn<'_>]) -> Result<Vec<BatchReceipt>, JournalError> {
        self.ensure_writer()?;
        verify::ensure_writable(self.poisoned)?;
        verify::validate_batches(&self.config, &self.head, batches)?;
        batches.iter().map(|batch| self.append_batch(batch)).collect()
    }

    fn write_snapshot(&mut self, snapshot: &SnapshotIn<'_>) -> Result<(), JournalError> {
        self.ensure_writer()?;
        verify::ensure_writable(self.poisoned)?;
        verify::validate_snapshot(&self.config, &self.head, self.latest_snapshot_seq, snapshot)?;
        let batch_id_sql = to_sql_int("batch id", snapshot.batch_id.0)?;
        let row = self.client.get_mut().query_opt(&self.prepared.select_batch, &[&batch_id_sql]).map_err(pg("read batch"))?;
        let chain_hash = verify::snapshot_anchor(snapshot, row.as_ref().map(|r| batch_row(PgRow(r))).transpose()?)?;
        let written = self.write_snapshot_tx(snapshot, chain_hash);
        verify::poison_on_error(&mut self.poisoned, written)?;
        self.latest_snapshot_seq = snapshot.last_seq;
        Ok(())
    }

    fn recover(&mut self) -> Result<Recovery, JournalError> {
        let result = self.recover_impl(true);
        verify::poison_if_corrupt(&mut self.poisoned, &result);
        result
    }

    fn recover_from_genesis(&mut self) -> Result<Recovery, JournalError> {
        let result = self.recover_impl(false);
        verify::poison_if_corrupt(&mut self.poisoned, &result);
        result
    }

    fn result_of(&self, seq: Seq) -> Result<Option<StoredRecord>, JournalError> {
        if seq.0 == 0 || seq > self.head.last_seq {
            return Ok(None);
        }
        let seq_sql = to_sql_int("seq", seq.0)?;
        let row = self.client()?.query_opt(&self.prepared.select_record, &[&seq_sql]).map_err(pg("read record"))?;
        let Some(row) = row else {
            // The head says this seq was committed, so its absence is damage, not "not found".
            return Err(JournalError::RecordMissing { expected_seq: seq.0, found_seq: 0 });
        };
        Ok(Some(verify::verified_record(PgRow(&row))?))
    }

    fn last_seq(&self) -> Seq {
        self.head.last_seq
    }

    fn head(&self) -> Head {
        self.head
    }

    fn stats(&self) -> Result<JournalStats, JournalError> {
        let mut client = self.client()?;
        let snapshot_count: i64 =
            client.query_one(&self.sql.count_snapshots, &[]).and_then(|r| r.try_get(0)).map_err(pg("count snapshots"))?;
        // Heap, TOAST and index bytes of the journal's tables.
        let bytes: Option<i64> = client
            .query_one(
                "SELECT sum(pg_total_relation_size(c.oid))::int8 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
                &[&self.schema],
            )
            .and_then(|r| r.try_get(0))
            .map_err(pg("read relation sizes"))?;
        Ok(JournalStats {
            head: self.head,
            snapshot_count: u64::try_from(snapshot_count).unwrap_or(0),
            latest_snapshot_seq: self.latest_snapshot_seq,
            storage_bytes: bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["journal", "_j", "t_round_trip_1234_0", "a1"] {
            assert_eq!(validate_schema_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Journal", "1abc", "a-b", "a;drop", "pg_journal", "a b", "\"x\"", &"a".repeat(49)] {
            assert!(matches!(validate_schema_name(bad), Err(JournalError::ConfigInvalid { .. })), "{bad:?} must be refused");
        }
    }

    #[test]
    fn lock_keys_differ_per_schema_and_are_stable() {
        assert_ne!(advisory_lock_key("a"), advisory_lock_key("b"));
        assert_eq!(advisory_lock_key("journal"), advisory_lock_key("journal"));
        // Independent check of the derivation: the first 8 bytes of blake3 over the documented input.
        let digest = blake3::hash(b"clearhouse.journal-pg.lock\0journal");
        let expected = i64::from_le_bytes(digest.as_bytes()[..8].try_into().expect("8 bytes"));
        assert_eq!(advisory_lock_key("journal"), expected);
    }

    #[test]
    fn debug_output_never_shows_the_connection_string() {
        let cfg = PgConfig::new("postgresql://u:secret@localhost/db", "j");
        assert!(!format!("{cfg:?}").contains("secret"));
    }

    #[test]
    fn statements_are_qualified_with_the_schema() {
        let sql = Sql::new("jx");
        assert!(sql.head_and_first_records.contains("INSERT INTO jx.records"));
        assert!(sql.rest_records_and_batch.contains("INSERT INTO jx.batches"));
        assert!(sql.prune_snapshots.matches("jx.snapshots").count() == 2);
        assert!(SCHEMA_DDL.replace("{s}", "jx").matches("CREATE TABLE jx.").count() == TABLES.len());
    }
}
