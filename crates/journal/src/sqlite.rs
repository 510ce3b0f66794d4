//! SQLite backend of [`JournalStore`].
//!
//! Durability settings are not requested but ENFORCED: the database is opened with `locking_mode=EXCLUSIVE`
//! (one process owns the journal), `journal_mode=WAL` and `synchronous=FULL`, and opening fails unless
//! SQLite reports those values back. With WAL + FULL, COMMIT returns only after the WAL has been fsynced,
//! so a batch whose `append_batch` returned survives power loss; a batch whose transaction did not commit
//! leaves no trace. Every batch is ONE transaction (records, batch row and head row), so batches are
//! all-or-nothing.
//!
//! Schema (format version [`FORMAT_VERSION`]):
//! - `meta(key TEXT PRIMARY KEY, value INTEGER)`: `format_version`;
//! - `records(seq INTEGER PRIMARY KEY, batch_id, prev_hash BLOB(32), hash BLOB(32), command BLOB, result BLOB)`;
//! - `batches(batch_id INTEGER PRIMARY KEY, first_seq, last_seq, state_hash BLOB(32), last_hash BLOB(32), checksum BLOB(32))`;
//! - `snapshots(last_seq INTEGER PRIMARY KEY, batch_id, state_hash, chain_hash, checksum, state BLOB)`, where
//!   `state` is the snapshot's chunk 0 (the whole state when it fits one chunk);
//! - `snapshot_chunks(last_seq, chunk_index, bytes BLOB, PRIMARY KEY (last_seq, chunk_index))`: chunks 1, 2,
//!   ... of snapshots larger than one chunk, written in the snapshot's transaction. A journal created before
//!   this table existed gets it when a writer opens it; a reader treats its absence as "no chunks";
//! - `head(id INTEGER PRIMARY KEY CHECK (id = 0), last_seq, last_batch_id, last_hash, checksum)`: one row.
//!
//! The `meta` key `writer_state` is 1 while a writer has the journal open and 0 after it closed cleanly. The
//! writer sets it and checkpoints at open, and clears it and checkpoints at a clean close, so the MAIN file
//! says whether committed batches may still live only in the `-wal` file. [`SqliteJournal::open_read_only`]
//! (`clearhouse verify`) uses it to refuse a copy of the main file of a live journal without its `-wal`,
//! which would otherwise verify as a shorter, valid journal. See `docs/journal.md`, "Verifying".

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use crate::chain::{FORMAT_VERSION, GENESIS_HASH, batch_checksum, head_checksum, record_hash, snapshot_checksum};
use crate::failpoint::{self, names};
use crate::types::{
    BatchId, BatchIn, BatchReceipt, ChainHash, Head, JournalConfig, JournalStats, RecoveredSnapshot, Recovery, Seq, SnapshotIn,
    StoredRecord,
};
use crate::verify::{self, ChainRows, Columns, batch_row, head_row, to_sql_int};
use crate::{JournalError, JournalStore};

const SCHEMA: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE records (
    seq       INTEGER PRIMARY KEY,
    batch_id  INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL,
    command   BLOB NOT NULL,
    result    BLOB NOT NULL
);
CREATE TABLE batches (
    batch_id   INTEGER PRIMARY KEY,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    state_hash BLOB NOT NULL,
    last_hash  BLOB NOT NULL,
    checksum   BLOB NOT NULL
);
CREATE TABLE snapshots (
    last_seq   INTEGER PRIMARY KEY,
    batch_id   INTEGER NOT NULL,
    state_hash BLOB NOT NULL,
    chain_hash BLOB NOT NULL,
    checksum   BLOB NOT NULL,
    state      BLOB NOT NULL
);
CREATE TABLE snapshot_chunks (
    last_seq    INTEGER NOT NULL,
    chunk_index INTEGER NOT NULL,
    bytes       BLOB NOT NULL,
    PRIMARY KEY (last_seq, chunk_index)
) WITHOUT ROWID;
CREATE TABLE head (
    id            INTEGER PRIMARY KEY CHECK (id = 0),
    last_seq      INTEGER NOT NULL,
    last_batch_id INTEGER NOT NULL,
    last_hash     BLOB NOT NULL,
    checksum      BLOB NOT NULL
);
";

const TABLES: [&str; 5] = ["meta", "records", "batches", "snapshots", "head"];

/// The table of snapshot chunks after the first; added to journals created before it (see the module
/// documentation).
const SQL_CREATE_CHUNKS: &str = "CREATE TABLE IF NOT EXISTS snapshot_chunks (
    last_seq    INTEGER NOT NULL,
    chunk_index INTEGER NOT NULL,
    bytes       BLOB NOT NULL,
    PRIMARY KEY (last_seq, chunk_index)
) WITHOUT ROWID";

/// The `meta` key of the open/closed marker (see the module documentation).
const META_WRITER_STATE: &str = "writer_state";

/// What the `writer_state` marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriterState {
    /// No writer, and everything committed is in the main file (set after a final checkpoint).
    Closed = 0,
    /// A writer opened the journal and has not closed it cleanly: the `-wal` file is part of the journal.
    Open = 1,
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Whether the journal may be written, and for a reader the private copy it reads, if any.
enum Mode {
    Writer,
    /// Opened by [`SqliteJournal::open_read_only`]: every write is refused with [`JournalError::ReadOnly`].
    Reader {
        /// A copy of the main file and its non-empty `-wal`, read instead of the originals (dropped after
        /// the connection, which is declared before it).
        _copy: Option<PrivateCopy>,
    },
}

/// A private copy of a journal and its `-wal` in a fresh temporary directory, removed on drop. Reading a
/// WAL journal needs a writable `-shm` next to it; making one next to the originals would change them.
struct PrivateCopy {
    dir: PathBuf,
    db: PathBuf,
}

static COPY_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl PrivateCopy {
    fn of(db: &Path, wal: &Path) -> Result<PrivateCopy, JournalError> {
        let n = COPY_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("clearhouse-verify-{}-{n}", std::process::id()));
        let io = |detail: std::io::Error| JournalError::Storage { operation: "copy journal for reading", detail: detail.to_string() };
        std::fs::create_dir(&dir).map_err(io)?;
        let copy = PrivateCopy { db: dir.join("journal.sqlite"), dir };
        std::fs::copy(db, &copy.db).map_err(io)?;
        std::fs::copy(wal, wal_path(&copy.db)).map_err(io)?;
        Ok(copy)
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        // Best effort: a leftover copy in the temporary directory harms nothing.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `-wal` file of a database: SQLite appends "-wal" to the path as given.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// A `file:` URI for `path` with `query`, every byte outside the unreserved set percent-encoded (a path
/// may hold `?`, `#` or `%`, which SQLite would otherwise take for URI syntax).
fn file_uri(path: &Path, query: &str) -> String {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}

/// Refuses, before SQLite sees it, a file that cannot be a journal: missing, empty, or not SQLite.
fn check_is_sqlite_file(path: &Path) -> Result<(), JournalError> {
    let io = |e: std::io::Error| JournalError::Storage { operation: "open database", detail: format!("{}: {e}", path.display()) };
    let mut file = match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(JournalError::NotAJournal { reason: format!("there is no file {}", path.display()) });
        }
        opened => opened.map_err(io)?,
    };
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match std::io::Read::read(&mut file, &mut header[read..]).map_err(io)? {
            0 => break,
            n => read += n,
        }
    }
    match read {
        0 => Err(JournalError::NotAJournal { reason: "the file is empty".into() }),
        _ if header != *SQLITE_MAGIC => Err(JournalError::NotAJournal { reason: "the file is not an SQLite database".into() }),
        _ => Ok(()),
    }
}

/// The WAL is truncated back to this size after checkpoints, so it cannot grow without bound.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 << 20;
/// The page size of a journal created here. SQLite writes the WAL a frame (one page and a 24-byte
/// header, two `pwrite`s) at a time and checkpoints it a page at a time: at 16 KiB a batch of 1,000
/// transfers (about 380 KB of records) is a quarter of the frames, system calls and b-tree pages
/// it is at SQLite's default 4 KiB, and the journaller's time per batch fell by about 15%
/// (`docs/performance.md`, "Durable transfers with margin on: 16 KiB pages"). A journal created
/// with another page size keeps it (SQLite fixes it at creation).
const PAGE_SIZE_BYTES: i64 = 16 << 10;
/// WAL bytes after which a commit checkpoints the WAL into the main file: 16 MiB, as 1,024 pages of
/// 16 KiB (or 4,096 of 4 KiB in a journal created with those; SQLite's default is 1,000 pages).
/// The checkpoint runs inside that commit and stalls the writer for its fsync of the main file (6-20
/// ms on the shared disk), so every request in flight waits for it; fewer, larger checkpoints put
/// fewer requests in that tail (`docs/journal.md`, "Settings"). No checkpoint runs inside a
/// transaction, so a group of batches ([`JournalStore::append_batches`]) is in the WAL whole before
/// one can: the WAL passes 16 MiB by at most one group, and the caller bounds the group (the
/// node's benchmark groups at most four batches of 1,000, about 1.5 MB).
const WAL_AUTOCHECKPOINT_BYTES: i64 = 16 << 20;

const SQL_INSERT_RECORD: &str = "INSERT INTO records (seq, batch_id, prev_hash, hash, command, result) \
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const SQL_INSERT_BATCH: &str = "INSERT INTO batches (batch_id, first_seq, last_seq, state_hash, last_hash, checksum) \
                                VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const SQL_UPDATE_HEAD: &str = "UPDATE head SET last_seq = ?1, last_batch_id = ?2, last_hash = ?3, checksum = ?4 WHERE id = 0";

/// Maps a SQLite error to the journal's error, keeping only text so no SQLite type leaks out.
fn sql(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> JournalError {
    move |err| {
        let detail = err.to_string();
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => JournalError::StorageCorrupt { operation, detail },
            Some(ErrorCode::DiskFull) => JournalError::StorageFull { operation, detail },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => JournalError::Locked,
            _ => JournalError::Storage { operation, detail },
        }
    }
}

/// Columns of a SQLite row, borrowed for as long as the row.
impl<'r> Columns<'r> for &'r Row<'_> {
    fn get_u64(&self, idx: usize, table: &'static str, key: u64, column: &'static str) -> Result<u64, JournalError> {
        let malformed = JournalError::RowMalformed { table, key, column };
        match self.get_ref(idx).map_err(sql("read column"))? {
            ValueRef::Integer(v) => u64::try_from(v).map_err(|_| malformed),
            _ => Err(malformed),
        }
    }

    fn get_blob(&self, idx: usize, table: &'static str, key: u64, column: &'static str) -> Result<&'r [u8], JournalError> {
        match self.get_ref(idx).map_err(sql("read column"))? {
            ValueRef::Blob(b) => Ok(b),
            _ => Err(JournalError::RowMalformed { table, key, column }),
        }
    }
}

/// The two row streams of the recovery walk, read side by side from two open statements.
struct WalkRows<'s> {
    batches: rusqlite::Rows<'s>,
    records: rusqlite::Rows<'s>,
}

impl<'s> ChainRows for WalkRows<'s> {
    type Row<'a>
        = &'a Row<'s>
    where
        Self: 'a;

    fn next_batch(&mut self) -> Result<Option<&Row<'s>>, JournalError> {
        self.batches.next().map_err(sql("read batches"))
    }

    fn next_record(&mut self) -> Result<Option<&Row<'s>>, JournalError> {
        self.records.next().map_err(sql("read records"))
    }
}

/// The SQLite journal. One per process: the database file is locked exclusively while it is open.
pub struct SqliteJournal {
    conn: Connection,
    mode: Mode,
    config: JournalConfig,
    path: PathBuf,
    head: Head,
    latest_snapshot_seq: Seq,
    /// Set after a storage failure during a write: the on-disk outcome is then unknown (e.g. a failed fsync
    /// may have dropped dirty pages), so no further write is attempted until the journal is reopened.
    /// Also set when recovery finds corruption, so nothing is appended to a damaged log.
    poisoned: bool,
    /// True from the moment this writer marked the journal open until it marked it closed: only then does
    /// closing (or dropping) mark it closed, so that a failed open or a reader writes nothing.
    marked_open: bool,
}

impl std::fmt::Debug for SqliteJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteJournal")
            .field("path", &self.path)
            .field("head", &self.head)
            .field("latest_snapshot_seq", &self.latest_snapshot_seq)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl SqliteJournal {
    /// A journal over an opened connection, before its schema and head are read.
    fn with_connection(conn: Connection, mode: Mode, config: JournalConfig, path: PathBuf) -> SqliteJournal {
        SqliteJournal { conn, mode, config, path, head: Head::default(), latest_snapshot_seq: Seq(0), poisoned: false, marked_open: false }
    }

    /// Opens the journal at `path`, creating it if the file does not exist or is empty.
    ///
    /// Fails if the durability settings cannot be enforced, if the file is not a journal of this format
    /// version, if another connection holds it, or if the head row disagrees with the last record (a
    /// cheap check; [`JournalStore::recover`] verifies everything). Marks the journal open in its main file
    /// (see the module documentation); [`SqliteJournal::close`] or dropping marks it closed again.
    pub fn open(path: impl AsRef<Path>, config: JournalConfig) -> Result<Self, JournalError> {
        verify::validate_config(&config)?;
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql("open database"))?;
        // Fail fast instead of waiting when another process holds the journal.
        conn.busy_timeout(Duration::ZERO).map_err(sql("set busy timeout"))?;
        enforce_pragmas(&conn)?;
        conn.set_prepared_statement_cache_capacity(32);

        let mut journal = SqliteJournal::with_connection(conn, Mode::Writer, config, path);
        journal.init_or_check_schema()?;
        journal.head = journal.read_head()?;
        journal.check_head_against_last_record()?;
        journal.latest_snapshot_seq = journal.read_latest_snapshot_seq()?;
        journal.set_writer_state(WriterState::Open)?;
        journal.marked_open = true;
        Ok(journal)
    }

    /// Opens the journal at `path` for reading only, as `clearhouse verify` does: no schema is created, no
    /// checkpoint runs, no `-wal` or `-shm` file is created and no byte of the journal's files changes;
    /// writes are refused with [`JournalError::ReadOnly`]. Works on files in read-only directories.
    ///
    /// Without a `-wal` file (or with an empty one) the main file is opened `immutable`, without locks.
    /// With a non-empty `-wal` (a crashed writer), both are copied to a private temporary directory and the
    /// copy is read. Fails with [`JournalError::NotAJournal`] for a missing, empty or foreign file, and with
    /// [`JournalError::WalMissing`] when the main file says a writer has it open but there is no `-wal`.
    /// The journal must not be written meanwhile: a live writer holds it exclusively.
    pub fn open_read_only(path: impl AsRef<Path>, config: JournalConfig) -> Result<Self, JournalError> {
        verify::validate_config(&config)?;
        let path = path.as_ref().to_path_buf();
        check_is_sqlite_file(&path)?;
        let wal = wal_path(&path);
        let wal_bytes = match std::fs::metadata(&wal) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(JournalError::Storage { operation: "inspect write-ahead log", detail: e.to_string() }),
        };
        let copy = match wal_bytes {
            Some(bytes) if bytes > 0 => Some(PrivateCopy::of(&path, &wal)?),
            _ => None,
        };
        let uri = match &copy {
            Some(c) => file_uri(&c.db, "mode=ro"),
            None => file_uri(&path, "mode=ro&immutable=1"),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&uri, flags).map_err(sql("open database"))?;
        conn.pragma_update(None, "query_only", true).map_err(sql("set query_only"))?;
        conn.pragma_update(None, "cell_size_check", true).map_err(sql("set cell_size_check"))?;
        conn.pragma_update(None, "trusted_schema", false).map_err(sql("set trusted_schema"))?;
        let mode = Mode::Reader { _copy: copy };
        let mut journal = SqliteJournal::with_connection(conn, mode, config, path);
        if schema_object_count(&journal.conn)? == 0 {
            return Err(JournalError::NotAJournal { reason: "the database holds no journal tables".into() });
        }
        check_schema(&journal.conn)?;
        match (journal.read_writer_state()?, wal_bytes) {
            (Some(WriterState::Open), None) => return Err(JournalError::WalMissing { wal: wal.display().to_string() }),
            (None, None) => return Err(JournalError::WriterStateUnknown),
            _ => {}
        }
        journal.head = journal.read_head()?;
        journal.check_head_against_last_record()?;
        journal.latest_snapshot_seq = journal.read_latest_snapshot_seq()?;
        Ok(journal)
    }

    /// True for a journal opened by [`SqliteJournal::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        matches!(self.mode, Mode::Reader { .. })
    }

    fn ensure_writer(&self) -> Result<(), JournalError> {
        match self.mode {
            Mode::Writer => Ok(()),
            Mode::Reader { .. } => Err(JournalError::ReadOnly),
        }
    }

    /// Records the open/closed marker and checkpoints, so that the main file itself carries it.
    fn set_writer_state(&mut self, state: WriterState) -> Result<(), JournalError> {
        self.ensure_writer()?;
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![META_WRITER_STATE, state as i64],
            )
            .map_err(sql("write writer state"))?;
        self.checkpoint()
    }

    /// The open/closed marker; `None` in journals written before it existed.
    fn read_writer_state(&self) -> Result<Option<WriterState>, JournalError> {
        let value: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [META_WRITER_STATE], |r| r.get(0))
            .optional()
            .map_err(sql("read writer state"))?;
        match value {
            None => Ok(None),
            Some(0) => Ok(Some(WriterState::Closed)),
            Some(1) => Ok(Some(WriterState::Open)),
            Some(_) => Err(JournalError::RowMalformed { table: "meta", key: 0, column: "value of writer_state" }),
        }
    }

    /// Checkpoints the WAL into the database file and truncates the WAL. SQLite also does this on its own
    /// every 1000 pages, inside the commit that crosses the threshold; a server may call this at a quiet
    /// moment to keep those pauses off the acknowledgement path.
    pub fn checkpoint(&mut self) -> Result<(), JournalError> {
        self.ensure_writer()?;
        // Returns (busy, wal frames, frames checkpointed); busy cannot be 1 with an exclusive lock.
        let busy: i64 = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).map_err(sql("checkpoint"))?;
        if busy != 0 {
            return Err(JournalError::Locked);
        }
        Ok(())
    }

    /// Closes the journal: a writer marks it cleanly closed and checkpoints, reporting any error (dropping
    /// the journal does the same but cannot report).
    pub fn close(mut self) -> Result<(), JournalError> {
        let marked = self.mark_closed();
        // Marked (or failed to): dropping the connection now only removes the emptied -wal file.
        self.marked_open = false;
        marked
    }

    /// Also after poisoning: the marker is not part of the log, and once it is committed and checkpointed
    /// the main file holds everything committed, damaged or not, which is what it says. If either step
    /// fails, the `-wal` file stays and a reader reads it.
    fn mark_closed(&mut self) -> Result<(), JournalError> {
        if !self.marked_open {
            return Ok(());
        }
        self.set_writer_state(WriterState::Closed)
    }

    /// The database file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration in force.
    pub fn config(&self) -> &JournalConfig {
        &self.config
    }

    /// Creates the schema in an empty database, or checks the format version of an existing one. Runs in an
    /// EXCLUSIVE transaction, which (with `locking_mode=EXCLUSIVE`) takes the lock this connection then
    /// keeps until it is closed.
    fn init_or_check_schema(&mut self) -> Result<(), JournalError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Exclusive).map_err(sql("lock database"))?;
        if schema_object_count(&tx)? == 0 {
            tx.execute_batch(SCHEMA).map_err(sql("create schema"))?;
            tx.execute("INSERT INTO meta (key, value) VALUES ('format_version', ?1)", [i64::from(FORMAT_VERSION)])
                .map_err(sql("create schema"))?;
            let checksum = head_checksum(Seq(0), BatchId(0), &GENESIS_HASH);
            tx.execute(
                "INSERT INTO head (id, last_seq, last_batch_id, last_hash, checksum) VALUES (0, 0, 0, ?1, ?2)",
                params![&GENESIS_HASH.0[..], &checksum[..]],
            )
            .map_err(sql("create schema"))?;
        } else {
            check_schema(&tx)?;
            tx.execute_batch(SQL_CREATE_CHUNKS).map_err(sql("create snapshot_chunks"))?;
        }
        tx.commit().map_err(sql("commit schema"))
    }

    /// Reads and verifies the head row.
    fn read_head(&self) -> Result<Head, JournalError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT last_seq, last_batch_id, last_hash, checksum FROM head").map_err(sql("read head"))?;
        let mut rows = stmt.query([]).map_err(sql("read head"))?;
        let row = rows.next().map_err(sql("read head"))?.ok_or(JournalError::HeadMissing)?;
        let head = head_row(row)?;
        if rows.next().map_err(sql("read head"))?.is_some() {
            // The CHECK constraint makes a second row impossible unless the table was rebuilt by hand.
            return Err(JournalError::HeadCorrupt);
        }
        Ok(head)
    }

    /// Cheap open-time check that the last stored record and batch are the ones the head names.
    fn check_head_against_last_record(&self) -> Result<(), JournalError> {
        let last: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(sql("read last record"))?;
        let last_batch: Option<i64> =
            self.conn.query_row("SELECT max(batch_id) FROM batches", [], |r| r.get(0)).map_err(sql("read last batch"))?;
        let (found_seq, found_hash) = match last {
            None => (0u64, GENESIS_HASH.0.to_vec()),
            Some((seq, hash)) => {
                (u64::try_from(seq).map_err(|_| JournalError::RowMalformed { table: "records", key: 0, column: "seq" })?, hash)
            }
        };
        let found_batch = match last_batch {
            None => 0,
            Some(b) => u64::try_from(b).map_err(|_| JournalError::RowMalformed { table: "batches", key: 0, column: "batch_id" })?,
        };
        verify::check_head_against_last(&self.head, found_seq, &found_hash, found_batch)
    }

    fn read_latest_snapshot_seq(&self) -> Result<Seq, JournalError> {
        let latest: Option<i64> =
            self.conn.query_row("SELECT max(last_seq) FROM snapshots", [], |r| r.get(0)).map_err(sql("read snapshots"))?;
        Ok(Seq(latest.and_then(|s| u64::try_from(s).ok()).unwrap_or(0)))
    }

    /// Writes validated batches, numbered from `first_id`, in one transaction (one fsync). Returns
    /// the head after each.
    fn write_batches(&mut self, batches: &[BatchIn<'_>], first_id: BatchId) -> Result<Vec<Head>, JournalError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql("begin batch"))?;
        let mut heads: Vec<Head> = Vec::with_capacity(batches.len());
        for (i, batch) in batches.iter().enumerate() {
            let before = heads.last().copied().unwrap_or(self.head);
            heads.push(insert_batch(&tx, batch, BatchId(first_id.0 + i as u64), &before)?);
        }
        let head = *heads.last().expect("validated: at least one batch");
        let head_sum = head_checksum(head.last_seq, head.last_batch_id, &head.chain_hash);
        let updated = tx
            .prepare_cached(SQL_UPDATE_HEAD)
            .map_err(sql("prepare head update"))?
            .execute(params![
                to_sql_int("seq", head.last_seq.0)?,
                to_sql_int("batch id", head.last_batch_id.0)?,
                &head.chain_hash.0[..],
                &head_sum[..]
            ])
            .map_err(sql("update head"))?;
        if updated != 1 {
            return Err(JournalError::HeadMissing);
        }
        failpoint::hit(names::BEFORE_COMMIT);
        tx.commit().map_err(sql("commit batch"))?;
        failpoint::hit(names::AFTER_COMMIT);
        Ok(heads)
    }

    fn write_snapshot_tx(&mut self, snapshot: &SnapshotIn<'_>, chain_hash: ChainHash) -> Result<(), JournalError> {
        let checksum = snapshot_checksum(snapshot.last_seq, snapshot.batch_id, &snapshot.state_hash, &chain_hash, snapshot.state);
        let keep = i64::try_from(self.config.keep_snapshots).unwrap_or(i64::MAX);
        let last_seq_sql = to_sql_int("seq", snapshot.last_seq.0)?;
        let mut chunks = verify::snapshot_chunks(snapshot.state, self.config.snapshot_chunk_bytes);
        let (_, first) = chunks.next().ok_or(JournalError::SnapshotCorrupt { last_seq: snapshot.last_seq.0 })?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql("begin snapshot"))?;
        tx.execute(
            "INSERT INTO snapshots (last_seq, batch_id, state_hash, chain_hash, checksum, state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                last_seq_sql,
                to_sql_int("batch id", snapshot.batch_id.0)?,
                &snapshot.state_hash.0[..],
                &chain_hash.0[..],
                &checksum[..],
                first
            ],
        )
        .map_err(sql("insert snapshot"))?;
        failpoint::hit(names::MID_SNAPSHOT);
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO snapshot_chunks (last_seq, chunk_index, bytes) VALUES (?1, ?2, ?3)")
                .map_err(sql("prepare chunk insert"))?;
            for (index, bytes) in chunks {
                insert.execute(params![last_seq_sql, to_sql_int("chunk index", index)?, bytes]).map_err(sql("insert snapshot chunk"))?;
                failpoint::hit(names::MID_SNAPSHOT_CHUNKS);
            }
        }
        tx.execute(
            "DELETE FROM snapshots WHERE last_seq NOT IN \
             (SELECT last_seq FROM snapshots ORDER BY last_seq DESC LIMIT ?1)",
            [keep],
        )
        .map_err(sql("prune snapshots"))?;
        tx.execute("DELETE FROM snapshot_chunks WHERE last_seq NOT IN (SELECT last_seq FROM snapshots)", [])
            .map_err(sql("prune snapshot chunks"))?;
        tx.commit().map_err(sql("commit snapshot"))
    }

    /// Runs SQLite's structural check of every b-tree page.
    fn storage_check(&self) -> Result<(), JournalError> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check").map_err(sql("quick_check"))?;
        let mut rows = stmt.query([]).map_err(sql("quick_check"))?;
        let mut problems = Vec::new();
        while let Some(row) = rows.next().map_err(sql("quick_check"))? {
            let line: String = row.get(0).map_err(sql("quick_check"))?;
            if line != "ok" && problems.len() < 5 {
                problems.push(line);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(JournalError::StorageCorrupt { operation: "quick_check", detail: problems.join("; ") })
        }
    }

    /// The chain walk reads keys from 1 upwards; a row keyed 0 or negative would be invisible to it, so
    /// such rows are looked for explicitly (an index range scan, cheap).
    fn check_no_rows_below_one(&self) -> Result<(), JournalError> {
        for (table, column, query) in [
            ("records", "seq", "SELECT min(seq) FROM records WHERE seq < 1"),
            ("batches", "batch_id", "SELECT min(batch_id) FROM batches WHERE batch_id < 1"),
            ("snapshots", "last_seq", "SELECT min(last_seq) FROM snapshots WHERE last_seq < 1"),
        ] {
            let stray: Option<i64> = self.conn.query_row(query, [], |r| r.get(0)).map_err(sql("check key range"))?;
            if let Some(value) = stray {
                return Err(JournalError::RowOutOfRange { table, column, value });
            }
        }
        Ok(())
    }

    /// Verifies every snapshot's checksum and returns the latest one. Any corrupt snapshot is an error:
    /// corruption anywhere means the storage cannot be trusted, and falling back silently would hide it.
    fn verified_latest_snapshot(&self) -> Result<Option<RecoveredSnapshot>, JournalError> {
        let chunked = self.has_chunk_table()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT last_seq, batch_id, state_hash, chain_hash, checksum, state FROM snapshots \
                 ORDER BY last_seq DESC",
            )
            .map_err(sql("read snapshots"))?;
        let mut rows = stmt.query([]).map_err(sql("read snapshots"))?;
        let mut latest = None;
        while let Some(row) = rows.next().map_err(sql("read snapshots"))? {
            let key = row.get_u64(0, "snapshots", 0, "last_seq")?;
            let first = row.get_blob(5, "snapshots", key, "state")?.len() as u64;
            let rest = if chunked { self.chunk_bytes(key)? } else { 0 };
            let total = first.checked_add(rest).ok_or(JournalError::SnapshotCorrupt { last_seq: key })?;
            let mut check = verify::SnapshotCheck::start(row, total, latest.is_none())?;
            if chunked {
                self.feed_chunks(&mut check)?;
            }
            let snapshot = check.finish()?;
            latest.get_or_insert(snapshot);
        }
        Ok(latest)
    }

    /// Whether the journal has the `snapshot_chunks` table (one created before it, opened read-only, has not).
    fn has_chunk_table(&self) -> Result<bool, JournalError> {
        let present: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'snapshot_chunks'", [], |r| r.get(0))
            .map_err(sql("read schema"))?;
        Ok(present == 1)
    }

    /// The bytes stored in the chunks after the first of the snapshot at `last_seq`.
    fn chunk_bytes(&self, last_seq: u64) -> Result<u64, JournalError> {
        let total: i64 = self
            .conn
            .query_row(
                "SELECT coalesce(sum(length(bytes)), 0) FROM snapshot_chunks WHERE last_seq = ?1",
                [to_sql_int("seq", last_seq)?],
                |r| r.get(0),
            )
            .map_err(sql("read snapshot chunks"))?;
        u64::try_from(total).map_err(|_| JournalError::SnapshotCorrupt { last_seq })
    }

    /// Streams the chunks after the first of the snapshot being checked, in index order.
    fn feed_chunks(&self, check: &mut verify::SnapshotCheck) -> Result<(), JournalError> {
        let last_seq = check.last_seq();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT chunk_index, bytes FROM snapshot_chunks WHERE last_seq = ?1 ORDER BY chunk_index")
            .map_err(sql("read snapshot chunks"))?;
        let mut rows = stmt.query([to_sql_int("seq", last_seq)?]).map_err(sql("read snapshot chunks"))?;
        while let Some(row) = rows.next().map_err(sql("read snapshot chunks"))? {
            let index = row.get_u64(0, "snapshot_chunks", last_seq, "chunk_index")?;
            check.add(index, row.get_blob(1, "snapshot_chunks", last_seq, "bytes")?)?;
        }
        Ok(())
    }

    /// Checks that a snapshot names an existing batch, ends at that batch's last record, and agrees with
    /// the batch's state hash and the record's chain hash.
    fn check_snapshot_anchor(&self, snap: &RecoveredSnapshot) -> Result<(), JournalError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT batch_id, first_seq, last_seq, state_hash, last_hash, checksum FROM batches \
                 WHERE batch_id = ?1",
            )
            .map_err(sql("read batch"))?;
        let mut rows = stmt.query([to_sql_int("batch id", snap.batch_id.0)?]).map_err(sql("read batch"))?;
        let batch = rows.next().map_err(sql("read batch"))?.map(batch_row).transpose()?;
        verify::check_snapshot_against_batch(snap, batch)?;
        let record_hash: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT hash FROM records WHERE seq = ?1", [to_sql_int("seq", snap.last_seq.0)?], |r| r.get(0))
            .optional()
            .map_err(sql("read record"))?;
        verify::check_snapshot_against_record(snap, record_hash.as_deref())
    }

    fn recover_impl(&mut self, use_snapshots: bool) -> Result<Recovery, JournalError> {
        if self.config.storage_check_on_recover {
            self.storage_check()?;
        }
        let head = self.read_head()?;
        self.head = head;
        self.check_no_rows_below_one()?;
        let snapshot = if use_snapshots { self.verified_latest_snapshot()? } else { None };
        let plan = verify::plan_walk(&self.config, &head, snapshot.as_ref())?;

        let mut batch_stmt = self
            .conn
            .prepare(
                "SELECT batch_id, first_seq, last_seq, state_hash, last_hash, checksum FROM batches \
                 WHERE batch_id >= ?1 ORDER BY batch_id",
            )
            .map_err(sql("read batches"))?;
        let mut record_stmt = self
            .conn
            .prepare(
                "SELECT seq, batch_id, prev_hash, hash, command, result FROM records \
                 WHERE seq >= ?1 ORDER BY seq",
            )
            .map_err(sql("read records"))?;
        let batches = batch_stmt.query([to_sql_int("batch id", plan.start_batch)?]).map_err(sql("read batches"))?;
        let records = record_stmt.query([to_sql_int("seq", plan.start_seq)?]).map_err(sql("read records"))?;
        let walked = verify::walk_chain(&mut WalkRows { batches, records }, &head, &plan)?;

        if let Some(s) = &snapshot {
            self.check_snapshot_anchor(s)?;
        }
        self.latest_snapshot_seq = self.read_latest_snapshot_seq()?;
        Ok(Recovery { snapshot, batches: walked.batches, head, verified_records: walked.verified_records })
    }
}

/// Inserts one validated batch's records and its batch row after `before`, inside `tx`. Returns
/// the head after it.
fn insert_batch(tx: &rusqlite::Transaction<'_>, batch: &BatchIn<'_>, batch_id: BatchId, before: &Head) -> Result<Head, JournalError> {
    let records = batch.records;
    debug_assert!(!records.is_empty(), "validate_batch rejects empty batches");
    debug_assert_eq!(records[0].seq.0, before.last_seq.0 + 1, "validated: seqs continue the log");
    let batch_id_sql = to_sql_int("batch id", batch_id.0)?;
    let mut prev = before.chain_hash;
    {
        let mut insert = tx.prepare_cached(SQL_INSERT_RECORD).map_err(sql("prepare record insert"))?;
        let half = records.len().div_ceil(2);
        for (i, r) in records.iter().enumerate() {
            let hash = record_hash(r.seq, batch_id, &prev, r.command, r.result);
            // validate_batch proved every seq of the batch fits in an i64.
            let seq_sql = to_sql_int("seq", r.seq.0)?;
            insert.execute(params![seq_sql, batch_id_sql, &prev.0[..], &hash.0[..], r.command, r.result]).map_err(sql("insert record"))?;
            prev = hash;
            if i + 1 == half {
                failpoint::hit(names::MID_BATCH);
            }
        }
    }
    let first_seq = records[0].seq;
    let last_seq = records[records.len() - 1].seq;
    let checksum = batch_checksum(batch_id, first_seq, last_seq, &prev, &batch.state_hash);
    tx.prepare_cached(SQL_INSERT_BATCH)
        .map_err(sql("prepare batch insert"))?
        .execute(params![
            batch_id_sql,
            to_sql_int("seq", first_seq.0)?,
            to_sql_int("seq", last_seq.0)?,
            &batch.state_hash.0[..],
            &prev.0[..],
            &checksum[..]
        ])
        .map_err(sql("insert batch"))?;
    Ok(Head { last_seq, last_batch_id: batch_id, chain_hash: prev })
}

/// How many objects the database's schema holds (0 for a new, empty database).
fn schema_object_count(conn: &Connection) -> Result<i64, JournalError> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).map_err(sql("read schema"))
}

/// Checks that a non-empty database is a journal of this format version.
fn check_schema(conn: &Connection) -> Result<(), JournalError> {
    for table in TABLES {
        let present: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))
            .map_err(sql("read schema"))?;
        if present != 1 {
            return Err(JournalError::NotAJournal { reason: format!("table {table} is missing") });
        }
    }
    let version: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'format_version'", [], |r| r.get(0))
        .optional()
        .map_err(sql("read format version"))?;
    match version {
        None => Err(JournalError::NotAJournal { reason: "meta has no format_version".into() }),
        Some(v) if v != i64::from(FORMAT_VERSION) => Err(JournalError::FormatVersionMismatch { found: v, supported: FORMAT_VERSION }),
        Some(_) => Ok(()),
    }
}

/// Sets the durability pragmas and reads them back; opening fails unless SQLite confirms each one.
fn enforce_pragmas(conn: &Connection) -> Result<(), JournalError> {
    // Before WAL mode, which writes the header of a new database and so fixes its page size.
    conn.pragma_update(None, "page_size", PAGE_SIZE_BYTES).map_err(sql("set page_size"))?;
    // EXCLUSIVE before WAL: SQLite then keeps the WAL index in heap memory instead of a shared-memory file,
    // and the lock taken at the first write is held until close, so a second server cannot open the
    // journal.
    let locking: String = conn.pragma_update_and_check(None, "locking_mode", "EXCLUSIVE", |r| r.get(0)).map_err(sql("set locking_mode"))?;
    if !locking.eq_ignore_ascii_case("exclusive") {
        return Err(JournalError::DurabilitySettingRefused { pragma: "locking_mode", wanted: "exclusive", got: locking });
    }
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(sql("set journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::DurabilitySettingRefused { pragma: "journal_mode", wanted: "wal", got: mode });
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(sql("set synchronous"))?;
    // SQLite encodes synchronous as OFF=0, NORMAL=1, FULL=2, EXTRA=3.
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).map_err(sql("read synchronous"))?;
    if sync != 2 {
        return Err(JournalError::DurabilitySettingRefused { pragma: "synchronous", wanted: "2 (FULL)", got: sync.to_string() });
    }
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES).map_err(sql("set journal_size_limit"))?;
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0)).map_err(sql("read page_size"))?;
    // SQLite's page sizes are powers of two from 512 to 65,536 bytes.
    let wanted = WAL_AUTOCHECKPOINT_BYTES / page_size.clamp(512, 65_536);
    let pages: i64 =
        conn.pragma_update_and_check(None, "wal_autocheckpoint", wanted, |r| r.get(0)).map_err(sql("set wal_autocheckpoint"))?;
    if pages != wanted {
        let got = format!("{pages} pages of {page_size} bytes");
        return Err(JournalError::DurabilitySettingRefused { pragma: "wal_autocheckpoint", wanted: "16 MiB of pages", got });
    }
    // Extra b-tree cell checks catch damaged pages earlier, at a small read cost.
    conn.pragma_update(None, "cell_size_check", true).map_err(sql("set cell_size_check"))?;
    conn.pragma_update(None, "trusted_schema", false).map_err(sql("set trusted_schema"))?;
    Ok(())
}

impl Drop for SqliteJournal {
    fn drop(&mut self) {
        // Nobody to report to: a failure leaves the journal marked open, which only makes a later `verify`
        // insist on the -wal file (and a later writer open clears it).
        let _ = self.mark_closed();
    }
}

impl JournalStore for SqliteJournal {
    fn append_batch(&mut self, batch: &BatchIn<'_>) -> Result<BatchReceipt, JournalError> {
        let mut receipts = self.append_batches(std::slice::from_ref(batch))?;
        Ok(receipts.pop().expect("one receipt per batch"))
    }

    /// One transaction for all of them: one fsync (see the trait).
    fn append_batches(&mut self, batches: &[BatchIn<'_>]) -> Result<Vec<BatchReceipt>, JournalError> {
        self.ensure_writer()?;
        verify::ensure_writable(self.poisoned)?;
        let first_id = verify::validate_batches(&self.config, &self.head, batches)?;
        let written = self.write_batches(batches, first_id);
        let heads = verify::poison_on_error(&mut self.poisoned, written)?;
        let mut before = self.head;
        let receipts = batches
            .iter()
            .zip(&heads)
            .map(|(batch, head)| {
                let receipt = verify::receipt(&before, head, head.last_batch_id, batch.records.len());
                before = *head;
                receipt
            })
            .collect();
        self.head = before;
        Ok(receipts)
    }

    fn write_snapshot(&mut self, snapshot: &SnapshotIn<'_>) -> Result<(), JournalError> {
        self.ensure_writer()?;
        verify::ensure_writable(self.poisoned)?;
        verify::validate_snapshot(&self.config, &self.head, self.latest_snapshot_seq, snapshot)?;
        let batch = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT batch_id, first_seq, last_seq, state_hash, last_hash, checksum FROM batches \
                     WHERE batch_id = ?1",
                )
                .map_err(sql("read batch"))?;
            let mut rows = stmt.query([to_sql_int("batch id", snapshot.batch_id.0)?]).map_err(sql("read batch"))?;
            rows.next().map_err(sql("read batch"))?.map(batch_row).transpose()?
        };
        let chain_hash = verify::snapshot_anchor(snapshot, batch)?;
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
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, batch_id, prev_hash, hash, command, result FROM records WHERE seq = ?1")
            .map_err(sql("read record"))?;
        let mut rows = stmt.query([to_sql_int("seq", seq.0)?]).map_err(sql("read record"))?;
        let Some(row) = rows.next().map_err(sql("read record"))? else {
            // The head says this seq was committed, so its absence is damage, not "not found".
            return Err(JournalError::RecordMissing { expected_seq: seq.0, found_seq: 0 });
        };
        Ok(Some(verify::verified_record(row)?))
    }

    fn last_seq(&self) -> Seq {
        self.head.last_seq
    }

    fn head(&self) -> Head {
        self.head
    }

    fn stats(&self) -> Result<JournalStats, JournalError> {
        let snapshot_count: i64 =
            self.conn.query_row("SELECT count(*) FROM snapshots", [], |r| r.get(0)).map_err(sql("count snapshots"))?;
        let page_count: i64 = self.conn.pragma_query_value(None, "page_count", |r| r.get(0)).map_err(sql("read page_count"))?;
        let page_size: i64 = self.conn.pragma_query_value(None, "page_size", |r| r.get(0)).map_err(sql("read page_size"))?;
        Ok(JournalStats {
            head: self.head,
            snapshot_count: u64::try_from(snapshot_count).unwrap_or(0),
            latest_snapshot_seq: self.latest_snapshot_seq,
            storage_bytes: u64::try_from(page_count.saturating_mul(page_size)).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RecordIn, StateHash};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clearhouse-journal-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn append(j: &mut SqliteJournal, first: u64, n: usize, payload: &[u8]) -> Result<BatchReceipt, JournalError> {
        let records: Vec<RecordIn<'_>> = (0..n).map(|i| RecordIn { seq: Seq(first + i as u64), command: payload, result: b"ok" }).collect();
        j.append_batch(&BatchIn { records: &records, state_hash: StateHash([first as u8; 32]) })
    }

    #[test]
    fn storage_failure_poisons_writes_and_leaves_the_batch_out() {
        let dir = scratch("poison");
        let path = dir.join("j.sqlite");
        {
            let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("open");
            append(&mut j, 1, 2, b"small").expect("first batch");
            // Cap the file at its current size so the next large batch runs out of space mid-transaction.
            let pages = int_pragma(&j, "page_count");
            j.conn.pragma_update(None, "max_page_count", pages).expect("max_page_count");
            let big = vec![0x33u8; 64 * 1024];
            let err = append(&mut j, 3, 8, &big).expect_err("must run out of space");
            assert!(matches!(err, JournalError::StorageFull { .. }), "{err:?}");
            assert_eq!(append(&mut j, 3, 1, b"small"), Err(JournalError::Poisoned));
            assert_eq!(j.last_seq(), Seq(2));
        }
        let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("reopen");
        let rec = j.recover().expect("recover");
        assert_eq!(rec.head.last_seq, Seq(2));
        assert_eq!(rec.batches.len(), 1);
        append(&mut j, 3, 1, b"small").expect("writes resume after reopen");
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn int_pragma(j: &SqliteJournal, name: &str) -> i64 {
        j.conn.pragma_query_value(None, name, |r| r.get(0)).expect(name)
    }

    #[test]
    fn checkpoint_and_close_leave_no_wal_behind() {
        let dir = scratch("checkpoint");
        let path = dir.join("j.sqlite");
        let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("open");
        append(&mut j, 1, 10, b"payload").expect("append");
        j.checkpoint().expect("checkpoint");
        let wal = dir.join("j.sqlite-wal");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0, "WAL truncated");
        j.close().expect("close");
        assert!(!wal.exists(), "WAL removed on close");
        let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("reopen");
        assert_eq!(j.recover().expect("recover").head.last_seq, Seq(10));
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pragmas_read_back_as_enforced() {
        let dir = scratch("pragmas");
        let j = SqliteJournal::open(dir.join("j.sqlite"), JournalConfig::default()).expect("open");
        let mode: String = j.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("mode");
        let sync = int_pragma(&j, "synchronous");
        let locking: String = j.conn.pragma_query_value(None, "locking_mode", |r| r.get(0)).expect("locking");
        assert_eq!((mode.as_str(), sync, locking.as_str()), ("wal", 2, "exclusive"));
        let pages = int_pragma(&j, "wal_autocheckpoint");
        let page_size = int_pragma(&j, "page_size");
        assert_eq!((page_size, pages), (16_384, 1024), "16 KiB pages, a checkpoint every 16 MiB of WAL, not SQLite's 1,000 pages");
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A journal created with 4 KiB pages (before they were 16 KiB) keeps them, with a checkpoint
    /// every 16 MiB of WAL all the same, and its records read back.
    #[test]
    fn a_journal_with_4_kib_pages_keeps_them_and_checkpoints_every_16_mib() {
        let dir = scratch("pages4k");
        let path = dir.join("j.sqlite");
        {
            let conn = Connection::open(&path).expect("create");
            conn.pragma_update(None, "page_size", 4096).expect("page_size");
            let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).expect("wal");
            assert_eq!(mode, "wal");
        }
        let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("open");
        let page_size = int_pragma(&j, "page_size");
        let pages = int_pragma(&j, "wal_autocheckpoint");
        assert_eq!((page_size, pages), (4096, 4096));
        append(&mut j, 1, 3, b"x").expect("append");
        drop(j);
        let mut j = SqliteJournal::open(&path, JournalConfig::default()).expect("reopen");
        let page_size = int_pragma(&j, "page_size");
        assert_eq!(page_size, 4096, "the page size is the one the journal was created with");
        assert_eq!(j.recover().expect("recovers").head.last_seq, Seq(3));
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
