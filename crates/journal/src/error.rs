//! The crate's single error enum. Variants are named for what went wrong from the caller's point of view
//! and carry the sequence numbers, batch ids and tables involved. Storage-engine errors are flattened into
//! text so that no backend type leaks through [`crate::JournalStore`].

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JournalError {
    // ----- caller errors on append / snapshot -----
    #[error("batch has no records; a batch must contain at least one command")]
    EmptyBatch,

    #[error("batch has {records} records, more than the configured limit of {limit}")]
    BatchTooLarge { records: usize, limit: usize },

    #[error("record {index} of the batch has seq {got}, expected {expected} (seqs must continue the log)")]
    SeqNotContiguous { index: usize, expected: u64, got: u64 },

    #[error("command of seq {seq} is {bytes} bytes, more than the limit of {limit}")]
    CommandTooLarge { seq: u64, bytes: usize, limit: usize },

    #[error("result of seq {seq} is {bytes} bytes, more than the limit of {limit}")]
    ResultTooLarge { seq: u64, bytes: usize, limit: usize },

    #[error("snapshot is {bytes} bytes, more than the limit of {limit}")]
    SnapshotTooLarge { bytes: usize, limit: usize },

    #[error("snapshot claims batch {batch_id} ending at seq {last_seq}, but the committed batch {batch_id} {actual}")]
    SnapshotNotAtBatchBoundary { batch_id: u64, last_seq: u64, actual: String },

    #[error("snapshot state hash differs from the state hash recorded with batch {batch_id}")]
    SnapshotStateHashMismatch { batch_id: u64 },

    #[error("snapshot at seq {last_seq} is not newer than the latest snapshot at seq {latest_seq}")]
    SnapshotNotNewer { last_seq: u64, latest_seq: u64 },

    #[error("invalid journal configuration: {reason}")]
    ConfigInvalid { reason: &'static str },

    #[error("journal refuses writes after a storage failure or detected corruption; reopen it to resync with disk")]
    Poisoned,

    // ----- opening -----
    #[error("required setting {pragma} could not be enforced: wanted {wanted}, storage reports {got}")]
    DurabilitySettingRefused { pragma: &'static str, wanted: &'static str, got: String },

    #[error("journal format version {found} is not supported (this build reads version {supported})")]
    FormatVersionMismatch { found: i64, supported: u32 },

    #[error("the database is not a clearhouse journal: {reason}")]
    NotAJournal { reason: String },

    #[error("the journal is locked by another process or connection")]
    Locked,

    #[error("the journal was opened read-only (to verify it) and accepts no writes")]
    ReadOnly,

    #[error(
        "the journal is marked open by a writer but its write-ahead log {wal} is missing: batches committed since the last checkpoint live only there (a copy of the main file of a live or crashed journal?); copy the -wal file with it, or let the writer close cleanly"
    )]
    WalMissing { wal: String },

    #[error(
        "the journal has no open/closed marker (written by an older version), so a missing write-ahead log cannot be ruled out; open it once with a writer (e.g. `clearhouse serve < /dev/null`) to add the marker"
    )]
    WriterStateUnknown,

    #[error("the journal ends at seq {last_seq}, before the expected seq {expected_seq}: committed records are missing")]
    ShorterThanExpected { last_seq: u64, expected_seq: u64 },

    // ----- storage -----
    #[error("storage failure during {operation}: {detail}")]
    Storage { operation: &'static str, detail: String },

    #[error("storage is full during {operation}: {detail}")]
    StorageFull { operation: &'static str, detail: String },

    #[error("storage file is damaged or truncated (found during {operation}): {detail}")]
    StorageCorrupt { operation: &'static str, detail: String },

    // ----- corruption found by verification -----
    #[error("table {table}: row {key} has a malformed column {column}")]
    RowMalformed { table: &'static str, key: u64, column: &'static str },

    #[error("table {table}: a row has {column} = {value}, outside the valid range (>= 1)")]
    RowOutOfRange { table: &'static str, column: &'static str, value: i64 },

    #[error("table records: seq {expected_seq} is missing (next stored record is seq {found_seq})")]
    RecordMissing { expected_seq: u64, found_seq: u64 },

    #[error("table records: seq {seq} (batch {batch_id}) fails its checksum: its bytes were altered")]
    RecordCorrupt { seq: u64, batch_id: u64 },

    #[error("table records: seq {seq} does not link to the hash of seq {prev_seq}: records were reordered or replaced")]
    ChainBroken { seq: u64, prev_seq: u64 },

    #[error("table records: seq {seq} is stored under batch {found_batch_id} but batch {batch_id} covers it")]
    RecordInWrongBatch { seq: u64, batch_id: u64, found_batch_id: u64 },

    #[error("table records: seq {seq} and later are not covered by any batch row")]
    RecordWithoutBatch { seq: u64 },

    #[error("table batches: batch {expected_batch_id} is missing (next stored batch is {found_batch_id})")]
    BatchMissing { expected_batch_id: u64, found_batch_id: u64 },

    #[error("table batches: batch {batch_id} fails its checksum: its row was altered")]
    BatchCorrupt { batch_id: u64 },

    #[error("table batches: batch {batch_id} covers seqs {first_seq}..={last_seq} but should start at seq {expected_first_seq}")]
    BatchRangeMismatch { batch_id: u64, first_seq: u64, last_seq: u64, expected_first_seq: u64 },

    #[error("table batches: batch {batch_id} records a chain hash that differs from its last record (seq {last_seq})")]
    BatchHashMismatch { batch_id: u64, last_seq: u64 },

    #[error("table head: the head row is missing")]
    HeadMissing,

    #[error("table head: the head row fails its checksum")]
    HeadCorrupt,

    #[error(
        "the log ends at seq {found_last_seq} (batch {found_last_batch_id}) but the head says seq {head_last_seq} (batch {head_last_batch_id}): committed records or batches were lost"
    )]
    TailMissing { head_last_seq: u64, head_last_batch_id: u64, found_last_seq: u64, found_last_batch_id: u64 },

    #[error(
        "the log continues to seq {found_last_seq} (batch {found_last_batch_id}) beyond the head at seq {head_last_seq} (batch {head_last_batch_id})"
    )]
    RecordsBeyondHead { head_last_seq: u64, head_last_batch_id: u64, found_last_seq: u64, found_last_batch_id: u64 },

    #[error("table head: the head hash differs from the hash of the last record (seq {last_seq})")]
    HeadHashMismatch { last_seq: u64 },

    #[error("table snapshots: snapshot at seq {last_seq} fails its checksum")]
    SnapshotCorrupt { last_seq: u64 },

    #[error("table snapshots: snapshot at seq {last_seq} (batch {batch_id}) disagrees with the log: {reason}")]
    SnapshotInconsistent { last_seq: u64, batch_id: u64, reason: &'static str },

    #[error(
        "recovery would load {records} records after the snapshot, more than the limit of {limit}; snapshot more often or raise the limit"
    )]
    RecoveryTailTooLong { records: u64, limit: u64 },

    #[error("{what} {value} does not fit the storage's signed 64-bit integers")]
    CounterOverflow { what: &'static str, value: u64 },

    // ----- failpoints -----
    #[error("failpoint spec {spec:?} is not of the form <name>:<n> with n >= 1")]
    FailpointSpecInvalid { spec: String },
}

impl JournalError {
    /// True for the errors that mean the stored journal is damaged (as opposed to caller mistakes or
    /// transient storage failures). A server must not start on such a journal.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            JournalError::StorageCorrupt { .. }
                | JournalError::RowMalformed { .. }
                | JournalError::RowOutOfRange { .. }
                | JournalError::RecordMissing { .. }
                | JournalError::RecordCorrupt { .. }
                | JournalError::ChainBroken { .. }
                | JournalError::RecordInWrongBatch { .. }
                | JournalError::RecordWithoutBatch { .. }
                | JournalError::BatchMissing { .. }
                | JournalError::BatchCorrupt { .. }
                | JournalError::BatchRangeMismatch { .. }
                | JournalError::BatchHashMismatch { .. }
                | JournalError::HeadMissing
                | JournalError::HeadCorrupt
                | JournalError::TailMissing { .. }
                | JournalError::RecordsBeyondHead { .. }
                | JournalError::HeadHashMismatch { .. }
                | JournalError::SnapshotCorrupt { .. }
                | JournalError::SnapshotInconsistent { .. }
                | JournalError::NotAJournal { .. }
                | JournalError::WalMissing { .. }
                | JournalError::ShorterThanExpected { .. }
        )
    }
}
