//! A journalled engine: the [`engine::Engine`] state machine behind a durable
//! [`journal::JournalStore`], with group commit, exactly-once client commands, snapshots and
//! verified recovery. This is the core of every process that runs the broker (the CLI's `run`
//! and `serve` today, a network server later).
//!
//! The protocol for one batch ([`Node::submit_batch`]):
//! 1. apply every command to the in-memory engine (deterministic) and collect its outcome;
//! 2. write the batch (commands, outcomes, state hash after the batch) to the journal in one
//!    durable transaction;
//! 3. only then return the outcomes, which the caller may acknowledge.
//!
//! A crash before step 2 commits loses only unacknowledged commands (the client retries them,
//! with the same ids); a crash after it loses nothing. If the journal write fails, the in-memory
//! engine is ahead of the journal: the node refuses further work ([`NodeError::Poisoned`]) and
//! must be reopened, which recovers exactly the journalled state.
//!
//! Recovery ([`Node::open`]) loads the latest snapshot, replays the tail and checks that every
//! replayed outcome is byte-identical to the journalled one and that every batch ends at its
//! journalled state hash. Any divergence is an error naming the sequence number; nothing is
//! skipped.

use engine::{Engine, Envelope, Outcome};
use journal::{BatchId, BatchIn, JournalStore, RecordIn, Seq, SnapshotIn, StateHash, failpoint};
use model::Config;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error("snapshot at seq {seq} cannot be restored: {reason}")]
    Snapshot { seq: u64, reason: String },
    #[error("journal record {seq} does not decode: {reason}")]
    Decode { seq: u64, reason: String },
    #[error("replay diverged at seq {seq}: the journal says {journalled}, the engine now says {replayed}")]
    ReplayDiverged { seq: u64, journalled: String, replayed: String },
    #[error("replay of batch {batch_id} ends at state hash {replayed}, the journal recorded {journalled}")]
    StateHashMismatch { batch_id: u64, journalled: String, replayed: String },
    #[error("batch of {given} commands exceeds batch_commands_max = {max}")]
    BatchTooLarge { given: usize, max: u32 },
    #[error("an earlier journal write failed; the node must be reopened to recover")]
    Poisoned,
}

/// What recovery found, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub snapshot_seq: u64,
    pub batches_replayed: u64,
    pub records_replayed: u64,
    pub records_verified: u64,
    pub last_seq: u64,
}

/// The answer to one submitted command: its outcome, and whether it was a retry answered
/// from the journal (`duplicate`), in which case `outcome` is the first result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ack {
    pub client: String,
    pub id: u64,
    pub duplicate: bool,
    pub outcome: Outcome,
}

pub struct Node {
    engine: Engine,
    journal: Box<dyn JournalStore>,
    last_batch: BatchId,
    batches_since_snapshot: u64,
    poisoned: bool,
}

impl Node {
    /// Opens (recovering) the node over a journal.
    pub fn open(config: Config, mut journal: Box<dyn JournalStore>) -> Result<(Node, RecoveryReport), NodeError> {
        let recovery = journal.recover()?;
        let (mut engine, snapshot_seq) = match &recovery.snapshot {
            Some(s) => {
                let engine = Engine::decode_snapshot(config, &s.state)
                    .map_err(|e| NodeError::Snapshot { seq: s.last_seq.0, reason: e.to_string() })?;
                (engine, s.last_seq.0)
            }
            None => (Engine::new(config), 0),
        };
        if let Some(s) = &recovery.snapshot {
            let hash = engine.state_hash();
            if hash != s.state_hash.0 {
                return Err(NodeError::StateHashMismatch {
                    batch_id: s.batch_id.0,
                    journalled: hex(&s.state_hash.0),
                    replayed: hex(&hash),
                });
            }
        }
        let mut records_replayed = 0;
        for batch in &recovery.batches {
            for record in &batch.records {
                let envelope: Envelope =
                    serde_json::from_slice(&record.command).map_err(|e| NodeError::Decode { seq: record.seq.0, reason: e.to_string() })?;
                let outcome = engine.apply(&envelope);
                let replayed = serde_json::to_vec(&outcome).map_err(|e| NodeError::Decode { seq: record.seq.0, reason: e.to_string() })?;
                if replayed != record.result || outcome.seq() != record.seq.0 {
                    return Err(NodeError::ReplayDiverged {
                        seq: record.seq.0,
                        journalled: String::from_utf8_lossy(&record.result).into_owned(),
                        replayed: String::from_utf8_lossy(&replayed).into_owned(),
                    });
                }
                records_replayed += 1;
            }
            let hash = engine.state_hash();
            if hash != batch.state_hash.0 {
                return Err(NodeError::StateHashMismatch {
                    batch_id: batch.batch_id.0,
                    journalled: hex(&batch.state_hash.0),
                    replayed: hex(&hash),
                });
            }
        }
        let head = recovery.head;
        assert_eq!(engine.next_seq(), head.last_seq.0 + 1, "recovered engine and journal head agree on the next sequence number");
        let report = RecoveryReport {
            snapshot_seq,
            batches_replayed: recovery.batches.len() as u64,
            records_replayed,
            records_verified: recovery.verified_records,
            last_seq: head.last_seq.0,
        };
        let node = Node {
            engine,
            journal,
            last_batch: head.last_batch_id,
            batches_since_snapshot: recovery.batches.len() as u64,
            poisoned: false,
        };
        Ok((node, report))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn state_hash(&mut self) -> [u8; 32] {
        self.engine.state_hash()
    }

    pub fn journal(&self) -> &dyn JournalStore {
        self.journal.as_ref()
    }

    /// Applies a batch, journals it durably in one transaction, and returns one ack per
    /// command, in order. Only after this returns may the acks be sent to clients.
    pub fn submit_batch(&mut self, envelopes: &[Envelope]) -> Result<Vec<Ack>, NodeError> {
        if self.poisoned {
            return Err(NodeError::Poisoned);
        }
        let max = self.engine.config().limits.batch_commands_max;
        if envelopes.len() > max as usize {
            return Err(NodeError::BatchTooLarge { given: envelopes.len(), max });
        }
        let mut acks = Vec::with_capacity(envelopes.len());
        let mut encoded: Vec<(u64, Vec<u8>, Vec<u8>)> = Vec::with_capacity(envelopes.len());
        let first_seq_of_batch = self.engine.next_seq();
        for envelope in envelopes {
            let outcome = self.engine.apply(envelope);
            match outcome {
                Outcome::Duplicate { first_seq } => {
                    let first = if first_seq >= first_seq_of_batch {
                        // The first copy is in this very batch, not yet journalled.
                        let (_, _, result) = &encoded[(first_seq - first_seq_of_batch) as usize];
                        serde_json::from_slice(result).map_err(|e| NodeError::Decode { seq: first_seq, reason: e.to_string() })?
                    } else {
                        self.journalled_outcome(first_seq)?
                    };
                    acks.push(Ack { client: envelope.client.clone(), id: envelope.id, duplicate: true, outcome: first });
                }
                outcome => {
                    let seq = outcome.seq();
                    debug_assert_eq!(seq, first_seq_of_batch + encoded.len() as u64, "journalled seqs are consecutive");
                    // Envelopes and outcomes are plain data; encoding cannot fail.
                    let command = serde_json::to_vec(envelope).expect("an Envelope always serialises");
                    let result = serde_json::to_vec(&outcome).expect("an Outcome always serialises");
                    encoded.push((seq, command, result));
                    acks.push(Ack { client: envelope.client.clone(), id: envelope.id, duplicate: false, outcome });
                }
            }
        }
        if encoded.is_empty() {
            return Ok(acks);
        }
        failpoint::hit("node.after_apply_before_journal");
        let state_hash = StateHash(self.engine.state_hash());
        let records: Vec<RecordIn<'_>> = encoded.iter().map(|(seq, c, r)| RecordIn { seq: Seq(*seq), command: c, result: r }).collect();
        let receipt = match self.journal.append_batch(&BatchIn { records: &records, state_hash }) {
            Ok(receipt) => receipt,
            Err(e) => {
                self.poisoned = true;
                return Err(e.into());
            }
        };
        failpoint::hit("node.after_journal_before_ack");
        self.last_batch = receipt.batch_id;
        self.batches_since_snapshot += 1;
        if self.batches_since_snapshot >= self.engine.config().engine.snapshot_interval_batches {
            self.snapshot()?;
        }
        Ok(acks)
    }

    /// Writes a snapshot of the current state (taken at a batch boundary).
    pub fn snapshot(&mut self) -> Result<(), NodeError> {
        if self.poisoned {
            return Err(NodeError::Poisoned);
        }
        let last_seq = self.engine.next_seq() - 1;
        if last_seq == 0 {
            return Ok(());
        }
        let state_hash = StateHash(self.engine.state_hash());
        let state = self.engine.encode_snapshot();
        if let Err(e) =
            self.journal.write_snapshot(&SnapshotIn { last_seq: Seq(last_seq), batch_id: self.last_batch, state_hash, state: &state })
        {
            // A failed snapshot leaves the records intact; still, the outcome on disk is unknown.
            self.poisoned = true;
            return Err(e.into());
        }
        self.batches_since_snapshot = 0;
        Ok(())
    }

    fn journalled_outcome(&self, seq: u64) -> Result<Outcome, NodeError> {
        let record = self.journal.result_of(Seq(seq))?.ok_or(NodeError::Decode { seq, reason: "record missing".into() })?;
        serde_json::from_slice(&record.result).map_err(|e| NodeError::Decode { seq, reason: e.to_string() })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
