//! Value types exchanged through [`crate::JournalStore`]. They know nothing about any storage backend.

use std::fmt;

/// Sequence number of one record (one command and its result). The first record is `Seq(1)`; `Seq(0)`
/// means "nothing yet".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

/// Identity of one committed batch (one group-commit transaction). The first batch is `BatchId(1)`;
/// `BatchId(0)` means "nothing yet".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u64);

/// A link of the record hash chain (blake3 output).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

/// The engine's canonical state hash, opaque to the journal.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StateHash(pub [u8; 32]);

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8; 32]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainHash(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateHash(")?;
        write_hex(f, &self.0)?;
        f.write_str(")")
    }
}

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl From<[u8; 32]> for StateHash {
    /// The engine's `state_hash()` output, taken as is.
    fn from(bytes: [u8; 32]) -> Self {
        StateHash(bytes)
    }
}

/// One record to append: the command as received and the result the engine produced for it, both encoded
/// by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordIn<'a> {
    pub seq: Seq,
    pub command: &'a [u8],
    pub result: &'a [u8],
}

/// One batch to append: its records in order, and the engine state hash after applying all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchIn<'a> {
    pub records: &'a [RecordIn<'a>],
    pub state_hash: StateHash,
}

/// What a durable append returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchReceipt {
    pub batch_id: BatchId,
    pub first_seq: Seq,
    pub last_seq: Seq,
    /// The chain hash of the batch's last record, i.e. the new head of the chain.
    pub chain_hash: ChainHash,
}

/// A snapshot of the engine state taken right after batch `batch_id`, whose last record is `last_seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotIn<'a> {
    pub last_seq: Seq,
    pub batch_id: BatchId,
    pub state_hash: StateHash,
    pub state: &'a [u8],
}

/// A committed record as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub seq: Seq,
    pub batch_id: BatchId,
    pub command: Vec<u8>,
    pub result: Vec<u8>,
    /// This record's link of the hash chain.
    pub hash: ChainHash,
}

/// The committed head of the journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub last_seq: Seq,
    pub last_batch_id: BatchId,
    /// Hash of the last record ([`crate::GENESIS_HASH`] when empty).
    pub chain_hash: ChainHash,
}

/// A verified snapshot returned by recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredSnapshot {
    pub last_seq: Seq,
    pub batch_id: BatchId,
    pub state_hash: StateHash,
    /// Chain hash of record `last_seq`, as recorded with the snapshot and checked against the records.
    pub chain_hash: ChainHash,
    pub state: Vec<u8>,
}

/// A verified batch returned by recovery: replaying its records must yield `state_hash`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredBatch {
    pub batch_id: BatchId,
    pub state_hash: StateHash,
    /// Chain hash of the batch's last record.
    pub chain_hash: ChainHash,
    pub records: Vec<StoredRecord>,
}

/// Result of a successful recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The latest snapshot, or `None` if there is none (or recovery was asked to ignore snapshots).
    pub snapshot: Option<RecoveredSnapshot>,
    /// The batches after the snapshot (all batches if there is no snapshot), in order.
    pub batches: Vec<RecoveredBatch>,
    /// The committed head, which equals the last batch's end.
    pub head: Head,
    /// How many records had their hash and chain link verified.
    pub verified_records: u64,
}

/// Counters describing a stored journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub head: Head,
    pub snapshot_count: u64,
    /// `Seq(0)` if there is no snapshot.
    pub latest_snapshot_seq: Seq,
    /// Size of the store in bytes as reported by the backend (database pages in use, for SQLite).
    pub storage_bytes: u64,
}

/// The largest chunk a snapshot is stored in: well below the largest value SQLite (1e9 bytes) and
/// PostgreSQL (1 GiB) store in one column.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 512 << 20;

/// Limits and policies of a journal. Every limit guards something that would otherwise grow unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// How many snapshots to keep; older ones are deleted when a new one is written. At least 1.
    pub keep_snapshots: usize,
    /// Maximum records in one batch.
    pub max_batch_records: usize,
    /// Maximum encoded size of one command.
    pub max_command_bytes: usize,
    /// Maximum encoded size of one result.
    pub max_result_bytes: usize,
    /// Maximum encoded size of one snapshot. A snapshot is stored in chunks of `snapshot_chunk_bytes`,
    /// so this is not bound by a storage engine's limit on one value (SQLite 1e9 bytes, PostgreSQL 1 GiB).
    pub max_snapshot_bytes: usize,
    /// Size of the chunks a snapshot is stored in (the last one may be shorter), at least 1 and at most
    /// [`SNAPSHOT_CHUNK_BYTES_MAX`]. Only writing depends on it: any chunking reads back the same.
    pub snapshot_chunk_bytes: usize,
    /// Maximum records recovery will load into memory after the snapshot; beyond this, snapshot more
    /// often (or raise the limit).
    pub max_recovery_tail_records: u64,
    /// Whether recovery verifies the chain from seq 1 (true) or only from the latest snapshot (false).
    pub verify_full_chain: bool,
    /// Whether recovery first asks the backend for a structural integrity check of its storage (for SQLite,
    /// `PRAGMA quick_check`), which detects truncated or damaged database files even in pages the chain
    /// walk would not read.
    pub storage_check_on_recover: bool,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            keep_snapshots: 3,
            max_batch_records: 65_536,
            max_command_bytes: 1 << 20,
            max_result_bytes: 1 << 20,
            max_snapshot_bytes: 6 << 30,
            snapshot_chunk_bytes: 64 << 20,
            max_recovery_tail_records: 20_000_000,
            verify_full_chain: true,
            storage_check_on_recover: true,
        }
    }
}
