//! # journal: the durable, hash-chained log of the clearhouse engine
//!
//! The engine is a deterministic state machine. The server applies a batch of commands to it, then hands
//! the batch (every command AND its result, rejections included, plus the engine's state hash after the
//! batch) to this crate, which writes it durably in ONE transaction before anything is acknowledged to
//! clients (group commit). On restart, [`JournalStore::recover`] returns the latest snapshot and the batches
//! after it, after verifying the whole hash chain, so the engine can replay them and check that it reaches
//! the recorded state hash after every batch.
//!
//! What this crate must never do:
//! - interpret commands, results or snapshots: they are opaque bytes encoded by the engine;
//! - delete or rewrite a record once committed (only old snapshots are pruned);
//! - silently skip, repair or truncate anything it finds damaged: every inconsistency is reported as a
//!   typed [`JournalError`] naming the sequence number, batch or table concerned;
//! - let a storage engine's specifics leak through [`JournalStore`]: the SQLite backend lives in
//!   [`sqlite`] and a PostgreSQL backend must be able to implement the same trait.
//!
//! Invariants (checked by [`JournalStore::recover`], see `docs/journal.md`):
//! - records carry consecutive sequence numbers starting at 1, with no gaps;
//! - batches carry consecutive ids starting at 1 and partition the records into contiguous, non-empty
//!   ranges, in order;
//! - every record stores `hash_i = blake3(format_version || seq || batch_id || prev_hash || len || command
//!   || len || result)` with `prev_hash` equal to the previous record's hash (all zeros before seq 1);
//! - the one-row `head` names the last committed seq, batch and hash, and is updated in the same
//!   transaction as the batch, so a lost tail is detected;
//! - snapshots are taken at batch boundaries and agree with the batch they name.
//!
//! [`failpoint`] is a tiny crash-injection facility used by this crate's crash tests and by other crates.
//! [`verify`] holds the backend-neutral rules every backend shares: the checks on a batch or snapshot before
//! it is written, the parsing and verification of stored rows, and the recovery chain walk over the rows a
//! backend streams, so that every backend reaches the same verdict with the same error on the same rows.
//! `conformance` (cargo feature `conformance`, for tests) is the one test suite every backend runs.
//!
//! Every backend can also be opened read-only (for `clearhouse verify`): no schema creation, no checkpoint,
//! no byte written; writes are refused with [`JournalError::ReadOnly`]. See `docs/journal.md`, "Verifying".
//!
//! # Example: group commit and recovery
//!
//! ```
//! use journal::{BatchIn, BatchId, JournalConfig, JournalStore, RecordIn, Seq, SnapshotIn, SqliteJournal, StateHash};
//!
//! # fn main() -> Result<(), journal::JournalError> {
//! # let dir = std::env::temp_dir().join(format!("journal-doctest-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("journal.sqlite");
//! let mut store: Box<dyn JournalStore> = Box::new(SqliteJournal::open(&path, JournalConfig::default())?);
//!
//! // The server applied two commands to the engine; write them with their results, then acknowledge.
//! let first = store.last_seq().0 + 1;
//! let records = [
//!     RecordIn { seq: Seq(first), command: br#"{"deposit":100}"#, result: br#"{"ok":true}"# },
//!     RecordIn { seq: Seq(first + 1), command: br#"{"withdraw":500}"#, result: br#"{"err":"insufficient"}"# },
//! ];
//! let engine_state_hash = StateHash([42; 32]);
//! let receipt = store.append_batch(&BatchIn { records: &records, state_hash: engine_state_hash })?;
//! assert_eq!(receipt.batch_id, BatchId(1));
//!
//! // Now and then, after a batch: a snapshot of the engine state.
//! store.write_snapshot(&SnapshotIn {
//!     last_seq: receipt.last_seq,
//!     batch_id: receipt.batch_id,
//!     state_hash: engine_state_hash,
//!     state: b"engine snapshot bytes",
//! })?;
//! drop(store);
//!
//! // On restart: load the snapshot, replay the tail, compare state hashes after every batch.
//! let mut store = SqliteJournal::open(&path, JournalConfig::default())?;
//! let recovery = store.recover()?;
//! assert_eq!(recovery.snapshot.map(|s| s.state), Some(b"engine snapshot bytes".to_vec()));
//! assert!(recovery.batches.is_empty());
//! // A client retrying the second command gets the first result back.
//! let first_result = store.result_of(Seq(2))?.map(|r| r.result);
//! assert_eq!(first_result.as_deref(), Some(&br#"{"err":"insufficient"}"#[..]));
//! # drop(store);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

pub mod chain;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod failpoint;
pub mod sqlite;
mod types;
pub mod verify;

pub use chain::{FORMAT_VERSION, GENESIS_HASH};
pub use error::JournalError;
pub use sqlite::SqliteJournal;
pub use types::{
    BatchId, BatchIn, BatchReceipt, ChainHash, Head, JournalConfig, JournalStats, RecordIn, RecoveredBatch, RecoveredSnapshot, Recovery,
    SNAPSHOT_CHUNK_BYTES_MAX, Seq, SnapshotIn, StateHash, StoredRecord,
};

/// Durable storage of the engine's journal: batches of (command, result) records, hash-chained, plus
/// periodic snapshots of the engine state.
///
/// The trait is object safe (`Box<dyn JournalStore>`) and speaks only in this crate's types, so backends
/// other than SQLite can implement it. Every method either fully succeeds or leaves the durable state
/// unchanged; after a storage error during a write, implementations refuse further writes
/// ([`JournalError::Poisoned`]) until reopened, because the on-disk outcome is then unknown. They also
/// refuse writes once `recover` has reported corruption, and always when opened read-only
/// ([`JournalError::ReadOnly`]). `journal::conformance` (feature `conformance`) checks all of this for a
/// backend.
pub trait JournalStore: Send {
    /// Atomically and durably appends one batch. The first record's seq must be `last_seq + 1` and the
    /// following ones consecutive. Returns once the batch is durable (fsynced); only then may the server
    /// acknowledge the results.
    fn append_batch(&mut self, batch: &BatchIn<'_>) -> Result<BatchReceipt, JournalError>;

    /// Durably appends several batches in order, each exactly as [`JournalStore::append_batch`]
    /// would (its own id, batch row and state hash), and returns their receipts once all are
    /// durable: group commit across batches. Every batch is validated before any is written, so a
    /// bad one changes nothing. SQLite writes them in one transaction (one fsync, all or none);
    /// PostgreSQL one transaction each. After a storage error none of them may be acknowledged
    /// and the store is poisoned, as after a failed append (recovery finds whatever prefix was
    /// durable).
    fn append_batches(&mut self, batches: &[BatchIn<'_>]) -> Result<Vec<BatchReceipt>, JournalError>;

    /// Durably stores a snapshot of the engine state taken right after batch `snapshot.batch_id`, and prunes
    /// snapshots beyond the configured retention. Records are never deleted.
    fn write_snapshot(&mut self, snapshot: &SnapshotIn<'_>) -> Result<(), JournalError>;

    /// Verifies the journal (see the crate invariants) and returns the latest snapshot with the batches
    /// after it. Any damage is reported as an error; nothing is skipped or repaired.
    fn recover(&mut self) -> Result<Recovery, JournalError>;

    /// Like [`JournalStore::recover`] but ignores snapshots entirely and returns every batch from seq 1.
    /// This is the operator's explicit fallback when the latest snapshot is reported corrupt: records are
    /// never deleted, so a full replay is always possible.
    fn recover_from_genesis(&mut self) -> Result<Recovery, JournalError>;

    /// Fetches one committed record and verifies its own checksum, e.g. to return the FIRST result when a
    /// client retries a command that was already applied. `Ok(None)` if `seq` is not committed.
    fn result_of(&self, seq: Seq) -> Result<Option<StoredRecord>, JournalError>;

    /// The last committed sequence number (`Seq(0)` for an empty journal).
    fn last_seq(&self) -> Seq;

    /// The committed head: last seq, last batch id and chain hash.
    fn head(&self) -> Head;

    /// Counters describing the stored journal.
    fn stats(&self) -> Result<JournalStats, JournalError>;
}
