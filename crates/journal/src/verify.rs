//! The backend-neutral rules of the journal, shared by every [`crate::JournalStore`] implementation: the
//! checks on a batch or snapshot before it is written, the parsing and verification of the stored rows, and
//! the recovery chain walk over the rows a backend yields.
//!
//! A backend supplies only storage: it reads columns ([`Columns`]), streams the batch and record rows of
//! the walk in key order ([`ChainRows`]), and runs its own queries and transactions. Everything that
//! decides whether the journal is intact lives here, so every backend reaches the same verdict, with the
//! same [`JournalError`] variants and numbers, on the same rows.
//!
//! Nothing here does I/O: rows come in as arguments, verdicts go out as values.

use crate::JournalError;
use crate::chain::{GENESIS_HASH, batch_checksum, head_checksum, record_hash, snapshot_hasher};
use crate::types::{
    BatchId, BatchIn, BatchReceipt, ChainHash, Head, JournalConfig, RecoveredBatch, RecoveredSnapshot, Recovery, SNAPSHOT_CHUNK_BYTES_MAX,
    Seq, SnapshotIn, StateHash, StoredRecord,
};

/// Converts a counter to the storage's signed 64-bit integer, failing with
/// [`JournalError::CounterOverflow`] when it does not fit.
pub fn to_sql_int(what: &'static str, value: u64) -> Result<i64, JournalError> {
    i64::try_from(value).map_err(|_| JournalError::CounterOverflow { what, value })
}

/// Typed access to the columns of one stored row, borrowed for `'r`. A backend implements it for its row
/// type; the malformed-column errors name the table, the row's key (0 while the key itself is being read)
/// and the column.
pub trait Columns<'r> {
    /// Reads a non-negative integer column; [`JournalError::RowMalformed`] if it is NULL, not an integer or
    /// negative.
    fn get_u64(&self, idx: usize, table: &'static str, key: u64, column: &'static str) -> Result<u64, JournalError>;

    /// Borrows a blob column; [`JournalError::RowMalformed`] if it is NULL or not a blob.
    fn get_blob(&self, idx: usize, table: &'static str, key: u64, column: &'static str) -> Result<&'r [u8], JournalError>;

    /// Reads a 32-byte hash column; [`JournalError::RowMalformed`] if it is not exactly 32 bytes.
    fn get_hash(&self, idx: usize, table: &'static str, key: u64, column: &'static str) -> Result<[u8; 32], JournalError> {
        let blob = self.get_blob(idx, table, key, column)?;
        <[u8; 32]>::try_from(blob).map_err(|_| JournalError::RowMalformed { table, key, column })
    }
}

/// A record row, borrowed from the backend's current row.
pub struct RecordRow<'r> {
    pub seq: u64,
    pub batch_id: u64,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
    pub command: &'r [u8],
    pub result: &'r [u8],
}

/// Parses a row of `SELECT seq, batch_id, prev_hash, hash, command, result FROM records`.
pub fn record_row<'r>(row: impl Columns<'r>) -> Result<RecordRow<'r>, JournalError> {
    // Key 0 stands for "unknown" until the seq itself is read.
    let seq = row.get_u64(0, "records", 0, "seq")?;
    Ok(RecordRow {
        seq,
        batch_id: row.get_u64(1, "records", seq, "batch_id")?,
        prev_hash: ChainHash(row.get_hash(2, "records", seq, "prev_hash")?),
        hash: ChainHash(row.get_hash(3, "records", seq, "hash")?),
        command: row.get_blob(4, "records", seq, "command")?,
        result: row.get_blob(5, "records", seq, "result")?,
    })
}

impl RecordRow<'_> {
    /// Checks the record against its own checksum (its stored hash).
    pub fn verify_self(&self) -> Result<(), JournalError> {
        let recomputed = record_hash(Seq(self.seq), BatchId(self.batch_id), &self.prev_hash, self.command, self.result);
        if recomputed != self.hash {
            return Err(JournalError::RecordCorrupt { seq: self.seq, batch_id: self.batch_id });
        }
        Ok(())
    }

    pub fn to_stored(&self) -> StoredRecord {
        StoredRecord {
            seq: Seq(self.seq),
            batch_id: BatchId(self.batch_id),
            command: self.command.to_vec(),
            result: self.result.to_vec(),
            hash: self.hash,
        }
    }
}

/// Parses a row fetched by `result_of` and verifies it against its own checksum.
pub fn verified_record<'r>(row: impl Columns<'r>) -> Result<StoredRecord, JournalError> {
    let rec = record_row(row)?;
    rec.verify_self()?;
    Ok(rec.to_stored())
}

/// A parsed, checksum-verified batch row.
pub struct BatchRow {
    pub batch_id: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub state_hash: StateHash,
    pub last_hash: ChainHash,
}

/// Parses and verifies a row of `SELECT batch_id, first_seq, last_seq, state_hash, last_hash, checksum
/// FROM batches`.
pub fn batch_row<'r>(row: impl Columns<'r>) -> Result<BatchRow, JournalError> {
    let batch_id = row.get_u64(0, "batches", 0, "batch_id")?;
    let b = BatchRow {
        batch_id,
        first_seq: row.get_u64(1, "batches", batch_id, "first_seq")?,
        last_seq: row.get_u64(2, "batches", batch_id, "last_seq")?,
        state_hash: StateHash(row.get_hash(3, "batches", batch_id, "state_hash")?),
        last_hash: ChainHash(row.get_hash(4, "batches", batch_id, "last_hash")?),
    };
    let checksum = row.get_hash(5, "batches", batch_id, "checksum")?;
    let expected = batch_checksum(BatchId(b.batch_id), Seq(b.first_seq), Seq(b.last_seq), &b.last_hash, &b.state_hash);
    if checksum != expected {
        return Err(JournalError::BatchCorrupt { batch_id });
    }
    Ok(b)
}

/// Parses and verifies a row of `SELECT last_seq, last_batch_id, last_hash, checksum FROM head`.
pub fn head_row<'r>(row: impl Columns<'r>) -> Result<Head, JournalError> {
    let head = Head {
        last_seq: Seq(row.get_u64(0, "head", 0, "last_seq")?),
        last_batch_id: BatchId(row.get_u64(1, "head", 0, "last_batch_id")?),
        chain_hash: ChainHash(row.get_hash(2, "head", 0, "last_hash")?),
    };
    let checksum = row.get_hash(3, "head", 0, "checksum")?;
    if checksum != head_checksum(head.last_seq, head.last_batch_id, &head.chain_hash) {
        return Err(JournalError::HeadCorrupt);
    }
    Ok(head)
}

/// A stored snapshot being verified: its row of `SELECT last_seq, batch_id, state_hash, chain_hash,
/// checksum, state FROM snapshots` (whose `state` holds chunk 0), then its further chunks from
/// `snapshot_chunks` in index order (1, 2, ...). The checksum covers the whole state, so a missing,
/// extra, reordered or damaged chunk is [`JournalError::SnapshotCorrupt`], like a damaged single blob.
/// A snapshot stored before chunking existed is a row without chunks and verifies the same way.
pub struct SnapshotCheck {
    snapshot: RecoveredSnapshot,
    checksum: [u8; 32],
    hasher: blake3::Hasher,
    state_bytes: u64,
    seen_bytes: u64,
    next_index: u64,
    keep_state: bool,
}

impl SnapshotCheck {
    /// Starts on a snapshot row whose state totals `state_bytes` over its row and chunks (as the storage
    /// reports it). `keep_state`: copy the state out (only the newest snapshot's is).
    pub fn start<'r>(row: impl Columns<'r>, state_bytes: u64, keep_state: bool) -> Result<SnapshotCheck, JournalError> {
        let last_seq = row.get_u64(0, "snapshots", 0, "last_seq")?;
        let batch_id = BatchId(row.get_u64(1, "snapshots", last_seq, "batch_id")?);
        let state_hash = StateHash(row.get_hash(2, "snapshots", last_seq, "state_hash")?);
        let chain_hash = ChainHash(row.get_hash(3, "snapshots", last_seq, "chain_hash")?);
        let checksum = row.get_hash(4, "snapshots", last_seq, "checksum")?;
        let first = row.get_blob(5, "snapshots", last_seq, "state")?;
        let hasher = snapshot_hasher(Seq(last_seq), batch_id, &state_hash, &chain_hash, state_bytes);
        let snapshot = RecoveredSnapshot { last_seq: Seq(last_seq), batch_id, state_hash, chain_hash, state: Vec::new() };
        let mut check = SnapshotCheck { snapshot, checksum, hasher, state_bytes, seen_bytes: 0, next_index: 0, keep_state };
        if keep_state {
            check.snapshot.state.reserve_exact(usize::try_from(state_bytes).map_err(|_| check.corrupt())?);
        }
        check.add(0, first)?;
        Ok(check)
    }

    /// The seq the snapshot is keyed by.
    pub fn last_seq(&self) -> u64 {
        self.snapshot.last_seq.0
    }

    fn corrupt(&self) -> JournalError {
        JournalError::SnapshotCorrupt { last_seq: self.snapshot.last_seq.0 }
    }

    /// Adds the next chunk: its stored index must be the next one, and the bytes must not run past the total.
    pub fn add(&mut self, index: u64, bytes: &[u8]) -> Result<(), JournalError> {
        let seen = self.seen_bytes.checked_add(bytes.len() as u64);
        match seen {
            Some(seen) if index == self.next_index && seen <= self.state_bytes => self.seen_bytes = seen,
            _ => return Err(self.corrupt()),
        }
        self.next_index += 1;
        self.hasher.update(bytes);
        if self.keep_state {
            self.snapshot.state.extend_from_slice(bytes);
        }
        Ok(())
    }

    /// Ends the check: every byte seen and the checksum matches. Returns the snapshot, with its state
    /// if it was kept.
    pub fn finish(self) -> Result<RecoveredSnapshot, JournalError> {
        if self.seen_bytes != self.state_bytes || *self.hasher.finalize().as_bytes() != self.checksum {
            return Err(self.corrupt());
        }
        Ok(self.snapshot)
    }
}

/// Splits a snapshot's state into the chunks it is stored in: at least one (an empty state is one empty
/// chunk), each `chunk_bytes` long but the last.
pub fn snapshot_chunks(state: &[u8], chunk_bytes: usize) -> impl Iterator<Item = (u64, &[u8])> {
    assert!(chunk_bytes >= 1, "validate_config refuses a chunk size of 0");
    let count = state.len().div_ceil(chunk_bytes).max(1);
    (0..count).map(move |i| (i as u64, &state[i * chunk_bytes..state.len().min((i + 1) * chunk_bytes)]))
}

/// Refuses configurations no backend can honour.
pub fn validate_config(config: &JournalConfig) -> Result<(), JournalError> {
    if config.keep_snapshots == 0 {
        return Err(JournalError::ConfigInvalid { reason: "keep_snapshots must be at least 1" });
    }
    if config.max_batch_records == 0 {
        return Err(JournalError::ConfigInvalid { reason: "max_batch_records must be at least 1" });
    }
    if config.snapshot_chunk_bytes == 0 || config.snapshot_chunk_bytes > SNAPSHOT_CHUNK_BYTES_MAX {
        return Err(JournalError::ConfigInvalid { reason: "snapshot_chunk_bytes must be between 1 and SNAPSHOT_CHUNK_BYTES_MAX" });
    }
    Ok(())
}

/// Refuses writes on a poisoned journal (see [`JournalError::Poisoned`]).
pub fn ensure_writable(poisoned: bool) -> Result<(), JournalError> {
    if poisoned {
        return Err(JournalError::Poisoned);
    }
    Ok(())
}

/// Passes a write's outcome through, poisoning the journal when the write failed: the durable outcome of
/// a failed write is unknown (a failed fsync may have dropped dirty pages, a connection may have dropped
/// while COMMIT was in flight), so no further write is attempted until the journal is reopened.
pub fn poison_on_error<T>(poisoned: &mut bool, result: Result<T, JournalError>) -> Result<T, JournalError> {
    if result.is_err() {
        *poisoned = true;
    }
    result
}

/// Poisons the journal when recovery reported corruption: extending a journal known to be damaged would
/// bury the damage under new, valid-looking batches.
pub fn poison_if_corrupt(poisoned: &mut bool, result: &Result<Recovery, JournalError>) {
    if let Err(err) = result
        && err.is_corruption()
    {
        *poisoned = true;
    }
}

/// Checks a batch before it is written: non-empty, within the configured limits, and with seqs that
/// continue the log from `head` and fit the storage's signed 64-bit integers.
pub fn validate_batch(config: &JournalConfig, head: &Head, batch: &BatchIn<'_>) -> Result<(), JournalError> {
    let records = batch.records;
    if records.is_empty() {
        return Err(JournalError::EmptyBatch);
    }
    if records.len() > config.max_batch_records {
        return Err(JournalError::BatchTooLarge { records: records.len(), limit: config.max_batch_records });
    }
    let mut expected = head.last_seq.0;
    for (index, r) in records.iter().enumerate() {
        expected = expected.checked_add(1).ok_or(JournalError::CounterOverflow { what: "seq", value: expected })?;
        if r.seq.0 != expected {
            return Err(JournalError::SeqNotContiguous { index, expected, got: r.seq.0 });
        }
        if r.command.len() > config.max_command_bytes {
            return Err(JournalError::CommandTooLarge { seq: r.seq.0, bytes: r.command.len(), limit: config.max_command_bytes });
        }
        if r.result.len() > config.max_result_bytes {
            return Err(JournalError::ResultTooLarge { seq: r.seq.0, bytes: r.result.len(), limit: config.max_result_bytes });
        }
    }
    to_sql_int("seq", expected)?;
    Ok(())
}

/// The id of the batch that follows `head`.
pub fn next_batch_id(head: &Head) -> Result<BatchId, JournalError> {
    let last = head.last_batch_id.0;
    last.checked_add(1).map(BatchId).ok_or(JournalError::CounterOverflow { what: "batch id", value: last })
}

/// Checks batches to be written one after another (in one transaction): none empty, each within
/// the limits and continuing the one before. Returns the first one's batch id; the others follow it.
pub fn validate_batches(config: &JournalConfig, head: &Head, batches: &[BatchIn<'_>]) -> Result<BatchId, JournalError> {
    if batches.is_empty() {
        return Err(JournalError::EmptyBatch);
    }
    let first_id = next_batch_id(head)?;
    let mut at = *head;
    for batch in batches {
        validate_batch(config, &at, batch)?;
        // Validated: non-empty, seqs contiguous and within i64.
        let last_seq = batch.records[batch.records.len() - 1].seq;
        at = Head { last_seq, last_batch_id: next_batch_id(&at)?, chain_hash: at.chain_hash };
    }
    to_sql_int("batch id", at.last_batch_id.0)?;
    Ok(first_id)
}

/// The receipt of a batch written after `old_head`, now that `new_head` is committed.
pub fn receipt(old_head: &Head, new_head: &Head, batch_id: BatchId, records: usize) -> BatchReceipt {
    let first_seq = Seq(old_head.last_seq.0 + 1);
    debug_assert_eq!(new_head.last_seq.0 - first_seq.0 + 1, records as u64);
    BatchReceipt { batch_id, first_seq, last_seq: new_head.last_seq, chain_hash: new_head.chain_hash }
}

fn not_at_batch_boundary(snapshot: &SnapshotIn<'_>, actual: String) -> JournalError {
    JournalError::SnapshotNotAtBatchBoundary { batch_id: snapshot.batch_id.0, last_seq: snapshot.last_seq.0, actual }
}

/// Checks a snapshot before its batch row is read: within the size limit, newer than the latest stored
/// snapshot, and naming a committed batch.
pub fn validate_snapshot(
    config: &JournalConfig,
    head: &Head,
    latest_snapshot_seq: Seq,
    snapshot: &SnapshotIn<'_>,
) -> Result<(), JournalError> {
    if snapshot.state.len() > config.max_snapshot_bytes {
        return Err(JournalError::SnapshotTooLarge { bytes: snapshot.state.len(), limit: config.max_snapshot_bytes });
    }
    if snapshot.last_seq <= latest_snapshot_seq {
        return Err(JournalError::SnapshotNotNewer { last_seq: snapshot.last_seq.0, latest_seq: latest_snapshot_seq.0 });
    }
    if snapshot.batch_id > head.last_batch_id || snapshot.batch_id.0 == 0 {
        return Err(not_at_batch_boundary(snapshot, format!("does not exist (last committed batch is {})", head.last_batch_id.0)));
    }
    Ok(())
}

/// Checks a snapshot against the stored row of the batch it names (`None`: no such row) and returns the
/// chain hash the snapshot is anchored to.
pub fn snapshot_anchor(snapshot: &SnapshotIn<'_>, batch: Option<BatchRow>) -> Result<ChainHash, JournalError> {
    let Some(batch) = batch else {
        return Err(not_at_batch_boundary(snapshot, "does not exist".into()));
    };
    if batch.last_seq != snapshot.last_seq.0 {
        return Err(not_at_batch_boundary(snapshot, format!("ends at seq {}", batch.last_seq)));
    }
    if batch.state_hash != snapshot.state_hash {
        return Err(JournalError::SnapshotStateHashMismatch { batch_id: snapshot.batch_id.0 });
    }
    Ok(batch.last_hash)
}

fn inconsistent(snap: &RecoveredSnapshot, reason: &'static str) -> JournalError {
    JournalError::SnapshotInconsistent { last_seq: snap.last_seq.0, batch_id: snap.batch_id.0, reason }
}

/// First half of the recovery check of a snapshot: it names an existing batch (`None`: no such row), ends
/// at that batch's last record, and agrees with the batch's state and chain hashes.
pub fn check_snapshot_against_batch(snap: &RecoveredSnapshot, batch: Option<BatchRow>) -> Result<(), JournalError> {
    let Some(batch) = batch else {
        return Err(inconsistent(snap, "it names a batch that is not in the log"));
    };
    if batch.last_seq != snap.last_seq.0 {
        return Err(inconsistent(snap, "its seq is not the last seq of its batch"));
    }
    if batch.state_hash != snap.state_hash {
        return Err(inconsistent(snap, "its state hash differs from the batch's"));
    }
    if batch.last_hash != snap.chain_hash {
        return Err(inconsistent(snap, "its chain hash differs from the batch's"));
    }
    Ok(())
}

/// Second half of the recovery check of a snapshot: the stored hash of its last record (`None`: no such
/// record) is its chain hash.
pub fn check_snapshot_against_record(snap: &RecoveredSnapshot, record_hash: Option<&[u8]>) -> Result<(), JournalError> {
    match record_hash {
        None => Err(inconsistent(snap, "its last record is not in the log")),
        Some(h) if h != &snap.chain_hash.0[..] => Err(inconsistent(snap, "its chain hash differs from its last record's")),
        Some(_) => Ok(()),
    }
}

/// Compares where the stored log ends with where the head says it ends.
pub fn compare_with_head(head: &Head, found_last_seq: u64, found_last_batch_id: u64) -> Result<(), JournalError> {
    let head_last_seq = head.last_seq.0;
    let head_last_batch_id = head.last_batch_id.0;
    if found_last_seq < head_last_seq || found_last_batch_id < head_last_batch_id {
        return Err(JournalError::TailMissing { head_last_seq, head_last_batch_id, found_last_seq, found_last_batch_id });
    }
    if found_last_seq > head_last_seq || found_last_batch_id > head_last_batch_id {
        return Err(JournalError::RecordsBeyondHead { head_last_seq, head_last_batch_id, found_last_seq, found_last_batch_id });
    }
    Ok(())
}

/// `verify --expect-seq N`: the journal must reach at least seq `expected_seq` (say, the last seq a client
/// saw acknowledged), so that a copy that lost its tail is not taken for the whole journal.
pub fn check_expected_seq(head: &Head, expected_seq: u64) -> Result<(), JournalError> {
    if head.last_seq.0 < expected_seq {
        return Err(JournalError::ShorterThanExpected { last_seq: head.last_seq.0, expected_seq });
    }
    Ok(())
}

/// The cheap open-time check: the last stored record (its seq and hash; `GENESIS_HASH` when there is none)
/// and the last stored batch id are the ones the head names.
pub fn check_head_against_last(head: &Head, found_seq: u64, found_hash: &[u8], found_batch: u64) -> Result<(), JournalError> {
    compare_with_head(head, found_seq, found_batch)?;
    if found_hash != &head.chain_hash.0[..] {
        return Err(JournalError::HeadHashMismatch { last_seq: found_seq });
    }
    Ok(())
}

/// Where the recovery chain walk starts, decided before any batch or record row is read.
#[derive(Clone, Copy, Debug)]
pub struct WalkPlan {
    /// The first seq the walk reads (`WHERE seq >= start_seq ORDER BY seq`).
    pub start_seq: u64,
    /// The first batch id the walk reads (`WHERE batch_id >= start_batch ORDER BY batch_id`).
    pub start_batch: u64,
    /// The `prev_hash` expected of record `start_seq`.
    pub start_prev: ChainHash,
    /// Batches up to this id are covered by the snapshot and verified but not returned.
    pub snap_batch: u64,
}

/// Plans the walk: seq 1, or right after the snapshot when only the tail is verified. Fails when recovery
/// would load more records after the snapshot than configured.
pub fn plan_walk(config: &JournalConfig, head: &Head, snapshot: Option<&RecoveredSnapshot>) -> Result<WalkPlan, JournalError> {
    let snap_seq = snapshot.map_or(0, |s| s.last_seq.0);
    let snap_batch = snapshot.map_or(0, |s| s.batch_id.0);
    let tail_records = head.last_seq.0.saturating_sub(snap_seq);
    if tail_records > config.max_recovery_tail_records {
        return Err(JournalError::RecoveryTailTooLong { records: tail_records, limit: config.max_recovery_tail_records });
    }
    let (start_seq, start_batch, start_prev) = match snapshot {
        Some(s) if !config.verify_full_chain => (s.last_seq.0 + 1, s.batch_id.0 + 1, s.chain_hash),
        _ => (1, 1, GENESIS_HASH),
    };
    Ok(WalkPlan { start_seq, start_batch, start_prev, snap_batch })
}

/// The rows of the recovery walk, streamed by a backend: batch rows from `start_batch` by batch id and
/// record rows from `start_seq` by seq (see [`WalkPlan`]), side by side.
pub trait ChainRows {
    /// A row, borrowed from the stream until the next call.
    type Row<'a>: Columns<'a>
    where
        Self: 'a;

    /// The next row of `SELECT batch_id, first_seq, last_seq, state_hash, last_hash, checksum FROM batches`.
    fn next_batch(&mut self) -> Result<Option<Self::Row<'_>>, JournalError>;

    /// The next row of `SELECT seq, batch_id, prev_hash, hash, command, result FROM records`.
    fn next_record(&mut self) -> Result<Option<Self::Row<'_>>, JournalError>;
}

/// What the chain walk verified.
pub struct ChainWalk {
    /// The batches after the snapshot, with their records.
    pub batches: Vec<RecoveredBatch>,
    /// How many records were verified (including those covered by the snapshot when the full chain is
    /// verified).
    pub verified_records: u64,
}

/// The recovery chain walk: checks that the batches and records stream in contiguous order, that every
/// record matches its checksum, links to its predecessor and sits in the batch that covers it, that every
/// batch's chain hash is its last record's, that no record lies beyond the last batch, and that the log
/// ends where `head` says with `head`'s chain hash.
pub fn walk_chain(rows: &mut impl ChainRows, head: &Head, plan: &WalkPlan) -> Result<ChainWalk, JournalError> {
    let mut expected_seq = plan.start_seq;
    let mut expected_batch = plan.start_batch;
    let mut prev = plan.start_prev;
    let mut verified_records = 0u64;
    let mut batches = Vec::new();
    loop {
        let batch = match rows.next_batch()? {
            Some(row) => batch_row(row)?,
            None => break,
        };
        if batch.batch_id != expected_batch {
            return Err(JournalError::BatchMissing { expected_batch_id: expected_batch, found_batch_id: batch.batch_id });
        }
        if batch.first_seq != expected_seq || batch.last_seq < batch.first_seq {
            return Err(JournalError::BatchRangeMismatch {
                batch_id: batch.batch_id,
                first_seq: batch.first_seq,
                last_seq: batch.last_seq,
                expected_first_seq: expected_seq,
            });
        }
        let keep = batch.batch_id > plan.snap_batch;
        let mut records = Vec::new();
        for seq in batch.first_seq..=batch.last_seq {
            let Some(rrow) = rows.next_record()? else {
                // The records stop inside a batch that the batches table says was committed.
                return Err(JournalError::TailMissing {
                    head_last_seq: head.last_seq.0,
                    head_last_batch_id: head.last_batch_id.0,
                    found_last_seq: seq - 1,
                    found_last_batch_id: batch.batch_id - 1,
                });
            };
            let rec = record_row(rrow)?;
            if rec.seq != seq {
                return Err(JournalError::RecordMissing { expected_seq: seq, found_seq: rec.seq });
            }
            rec.verify_self()?;
            if rec.prev_hash != prev {
                return Err(JournalError::ChainBroken { seq, prev_seq: seq - 1 });
            }
            if rec.batch_id != batch.batch_id {
                return Err(JournalError::RecordInWrongBatch { seq, batch_id: batch.batch_id, found_batch_id: rec.batch_id });
            }
            prev = rec.hash;
            verified_records += 1;
            if keep {
                records.push(rec.to_stored());
            }
        }
        if batch.last_hash != prev {
            return Err(JournalError::BatchHashMismatch { batch_id: batch.batch_id, last_seq: batch.last_seq });
        }
        if keep {
            batches.push(RecoveredBatch { batch_id: BatchId(batch.batch_id), state_hash: batch.state_hash, chain_hash: prev, records });
        }
        expected_seq = batch.last_seq + 1;
        expected_batch = batch.batch_id + 1;
    }
    if let Some(rrow) = rows.next_record()? {
        let seq = rrow.get_u64(0, "records", 0, "seq")?;
        return Err(JournalError::RecordWithoutBatch { seq });
    }
    debug_assert!(batches.iter().all(|b: &RecoveredBatch| !b.records.is_empty()));
    compare_with_head(head, expected_seq - 1, expected_batch - 1)?;
    if prev != head.chain_hash {
        return Err(JournalError::HeadHashMismatch { last_seq: expected_seq - 1 });
    }
    Ok(ChainWalk { batches, verified_records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_seq_must_be_reached() {
        let head = Head { last_seq: Seq(22), ..Head::default() };
        assert_eq!(check_expected_seq(&head, 0), Ok(()));
        assert_eq!(check_expected_seq(&head, 22), Ok(()));
        assert_eq!(check_expected_seq(&head, 23), Err(JournalError::ShorterThanExpected { last_seq: 22, expected_seq: 23 }));
        assert!(check_expected_seq(&Head::default(), 1).is_err(), "an empty journal has no seq 1");
    }
}
