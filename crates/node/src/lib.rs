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
//! skipped. Recovery needs no configuration file: the journal starts with its genesis command
//! and carries every configuration change.
//!
//! Configuration ([`Node::install`]): on an empty journal the node journals the genesis command
//! built from the configuration file; on a journal that has one, it compares the journal's
//! configuration with the file's. Additions (an asset, a custodian, an asset a custodian may
//! hold, operators or auditors, new limits or settings) are applied as journalled `configure`
//! commands of the node's `@system` principal when migration is asked for, and refused with the
//! differing key otherwise; a contradiction no command can make (a removed asset, changed
//! decimals) is refused naming the key.

use engine::{Command, ConfigChange, EncodedEnvelope, Engine, Envelope, Outcome, SYSTEM_PRINCIPAL, StateConfig};
use journal::{BatchId, BatchIn, JournalStore, RecordIn, Seq, SnapshotIn, StateHash, failpoint};
use model::Config;

mod pipeline;
pub use pipeline::{Applier, Journaller, Staged};

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
    #[error("a staged batch was committed out of order: it needs the journal at seq {needed}, the journal is at seq {durable}")]
    CommitOrder { needed: u64, durable: u64 },
    #[error("the journal has no genesis command yet")]
    NotInitialised,
    #[error(transparent)]
    ConfigConflict(#[from] engine::ConfigConflict),
    #[error("the configuration file differs from the journal's at `{key}` ({change}); run with --migrate to journal the change")]
    ConfigDiffers { key: String, change: String },
    #[error("the configuration was refused: {error}")]
    ConfigRefused { error: engine::EngineError },
}

/// Node settings that are not engine state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeOptions {
    /// A snapshot is written after this many batches.
    pub snapshot_interval_batches: u64,
}

impl NodeOptions {
    pub fn from_config(config: &Config) -> NodeOptions {
        NodeOptions { snapshot_interval_batches: config.engine.snapshot_interval_batches }
    }
}

/// What [`Node::install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// The journal was empty: the genesis command was journalled.
    Genesis,
    /// The journal's configuration equals the file's.
    Unchanged,
    /// These changes were journalled.
    Migrated(Vec<ConfigChange>),
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
    options: NodeOptions,
    journal: Box<dyn JournalStore>,
    last_batch: BatchId,
    batches_since_snapshot: u64,
    poisoned: bool,
}

impl Node {
    /// Opens (recovering) the node over a journal.
    pub fn open(options: NodeOptions, mut journal: Box<dyn JournalStore>) -> Result<(Node, RecoveryReport), NodeError> {
        let recovery = journal.recover()?;
        let (mut engine, snapshot_seq) = match &recovery.snapshot {
            Some(s) => {
                let engine =
                    Engine::decode_snapshot(&s.state).map_err(|e| NodeError::Snapshot { seq: s.last_seq.0, reason: e.to_string() })?;
                (engine, s.last_seq.0)
            }
            None => (Engine::new(), 0),
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
                if replayed != record.result || outcome.seq() != Some(record.seq.0) || !outcome.is_journalled() {
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
            options,
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

    /// Brings the journal's configuration to the file's: genesis on an empty journal; on a
    /// journal with one, nothing if they agree, the journalled migration if `migrate`, and
    /// otherwise [`NodeError::ConfigDiffers`] naming the first differing key. Then the file's
    /// `[hedging]` limits, journalled as `set_hedging` when they differ from the journal's (on a
    /// journal with a configuration, only if `migrate`).
    pub fn install(&mut self, config: &Config, migrate: bool) -> Result<Installed, NodeError> {
        let installed = self.install_state(config, migrate)?;
        let Some(hedging) = &config.hedging else { return Ok(installed) };
        if self.engine.hedging_config() == Some(hedging) {
            return Ok(installed);
        }
        if !migrate && installed != Installed::Genesis {
            return Err(NodeError::ConfigDiffers { key: "hedging".into(), change: "new hedging limits".into() });
        }
        let envelope = Envelope {
            client: SYSTEM_PRINCIPAL.into(),
            id: self.engine.next_seq(),
            command: Command::SetHedging { config: hedging.clone() },
        };
        if let Outcome::Refused { error } | Outcome::Rejected { error, .. } = &self.apply_batch(&[envelope], true)?[0].outcome {
            return Err(NodeError::ConfigRefused { error: error.clone() });
        }
        Ok(installed)
    }

    fn install_state(&mut self, config: &Config, migrate: bool) -> Result<Installed, NodeError> {
        let file = StateConfig::from_model(config);
        if !self.engine.is_initialised() {
            let acks = self.apply_batch(&[engine::genesis_envelope(file)], true)?;
            return match &acks[0].outcome {
                Outcome::Applied { .. } => Ok(Installed::Genesis),
                Outcome::Refused { error } | Outcome::Rejected { error, .. } => Err(NodeError::ConfigRefused { error: error.clone() }),
                Outcome::Duplicate { .. } => unreachable!("an empty journal has no duplicate"),
            };
        }
        let changes = self.engine.config().diff(&file, &self.engine.principals())?;
        let registered = self.engine.principals();
        let new_principals: Vec<_> = file.principals.iter().filter(|p| !registered.contains_key(&p.name)).collect();
        if changes.is_empty() && new_principals.is_empty() {
            return Ok(Installed::Unchanged);
        }
        if !migrate {
            let (key, change) = match (changes.first(), new_principals.first()) {
                (Some(c), _) => describe_change(self.engine.config(), c),
                (None, Some(p)) => (format!("principals.{}", p.name), "a new principal".to_string()),
                (None, None) => unreachable!("checked above"),
            };
            return Err(NodeError::ConfigDiffers { key, change });
        }
        // New limits first: an addition the file's raised limits make room for (a market beyond
        // the journal's markets_max, say) is then accepted; a lowered limit is checked against
        // what exists, and each addition after it against the file's limits, as it must be.
        let (limits, additions): (Vec<&ConfigChange>, Vec<&ConfigChange>) =
            changes.iter().partition(|c| matches!(c, ConfigChange::SetLimits { .. }));
        let mut commands: Vec<Command> = limits.into_iter().chain(additions).map(|c| Command::Configure { change: c.clone() }).collect();
        commands.extend(new_principals.iter().map(|p| Command::RegisterPrincipal { name: p.name.clone(), role: p.role }));
        let base = self.engine.next_seq();
        let envelopes: Vec<Envelope> = commands
            .into_iter()
            .enumerate()
            .map(|(i, command)| Envelope { client: SYSTEM_PRINCIPAL.into(), id: base + i as u64, command })
            .collect();
        // In batches the journal's limit allows (a migration may be longer than one batch).
        let mut rest = envelopes.as_slice();
        while !rest.is_empty() {
            let max = (self.engine.config().limits.batch_commands_max.max(1) as usize).min(rest.len());
            let (batch, after) = rest.split_at(max);
            for ack in self.apply_batch(batch, true)? {
                if let Outcome::Refused { error } | Outcome::Rejected { error, .. } = ack.outcome {
                    return Err(NodeError::ConfigRefused { error });
                }
            }
            rest = after;
        }
        Ok(Installed::Migrated(changes))
    }

    pub fn state_hash(&mut self) -> [u8; 32] {
        self.engine.state_hash()
    }

    pub fn journal(&self) -> &dyn JournalStore {
        self.journal.as_ref()
    }

    /// Applies a batch, journals it durably in one transaction, and returns one ack per
    /// command, in order. Only after this returns may the acks be sent to clients. A command
    /// sent as the node's own `@system` principal is refused: its session numbers the node's
    /// migrations, which a client could otherwise push beyond reach (`id_too_old`).
    pub fn submit_batch(&mut self, envelopes: &[Envelope]) -> Result<Vec<Ack>, NodeError> {
        self.apply_batch(envelopes, false)
    }

    fn apply_batch(&mut self, envelopes: &[Envelope], as_system: bool) -> Result<Vec<Ack>, NodeError> {
        if self.poisoned {
            return Err(NodeError::Poisoned);
        }
        check_batch_size(&self.engine, envelopes)?;
        let journal = self.journal.as_ref();
        let staged = stage(&mut self.engine, envelopes, as_system, |seq| journalled_outcome(journal, seq));
        // A failure mid-batch leaves the engine ahead of the journal by the commands before it.
        let (acks, records) = staged.inspect_err(|_| self.poisoned = true)?;
        if records.is_empty() {
            return Ok(acks);
        }
        let encoded: Vec<Encoded> = records.into_iter().map(|(seq, command, i)| (seq, command, encode_result(&acks[i].outcome))).collect();
        failpoint::hit("node.after_apply_before_journal");
        let state_hash = StateHash(self.engine.state_hash());
        let receipt = match append(self.journal.as_mut(), &encoded, state_hash) {
            Ok(receipt) => receipt,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        };
        failpoint::hit("node.after_journal_before_ack");
        self.last_batch = receipt.batch_id;
        self.batches_since_snapshot += 1;
        if self.batches_since_snapshot >= self.options.snapshot_interval_batches {
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
        assert!(state.len() as u64 <= engine::limits::SNAPSHOT_BYTES_MAX, "snapshot within the reconciled limit");
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
}

/// One journalled command of a batch, encoded: (seq, command, result).
pub(crate) type Encoded = (u64, Vec<u8>, Vec<u8>);

/// One journalled command of a batch as staged: (seq, command, the index of its ack, which
/// holds its outcome). The outcome is encoded later, where the record is written.
pub(crate) type StagedRecord = (u64, Vec<u8>, usize);

fn check_batch_size(engine: &Engine, envelopes: &[Envelope]) -> Result<(), NodeError> {
    let max = engine.config().limits.batch_commands_max.max(1);
    if envelopes.len() > max as usize {
        return Err(NodeError::BatchTooLarge { given: envelopes.len(), max });
    }
    Ok(())
}

/// Applies a batch to the engine and encodes its journalled commands (their outcomes stay in
/// the acks, see [`StagedRecord`]). `earlier` answers a retry of a command journalled before
/// this batch with its first outcome.
fn stage(
    engine: &mut Engine,
    envelopes: &[Envelope],
    as_system: bool,
    earlier: impl Fn(u64) -> Result<Outcome, NodeError>,
) -> Result<(Vec<Ack>, Vec<StagedRecord>), NodeError> {
    let mut acks: Vec<Ack> = Vec::with_capacity(envelopes.len());
    let mut encoded: Vec<StagedRecord> = Vec::with_capacity(envelopes.len());
    let first_seq_of_batch = engine.next_seq();
    for envelope in envelopes {
        // Encoded once: the engine digests its command bytes, the journal keeps the whole.
        let record = EncodedEnvelope::new(envelope);
        let outcome = if envelope.client == SYSTEM_PRINCIPAL && !as_system {
            let why = "the node's own principal acts only through the node".to_string();
            let error = engine::EngineError::Unauthorized { principal: envelope.client.clone(), action: "act".into(), why };
            Outcome::Refused { error }
        } else {
            engine.apply_encoded(&record)
        };
        let ack = |duplicate, outcome| Ack { client: envelope.client.clone(), id: envelope.id, duplicate, outcome };
        match outcome {
            Outcome::Duplicate { first_seq } => {
                let first = if first_seq >= first_seq_of_batch {
                    // The first copy is in this very batch, not yet journalled: its own ack.
                    let (_, _, ack) = encoded[(first_seq - first_seq_of_batch) as usize];
                    acks[ack].outcome.clone()
                } else {
                    earlier(first_seq)?
                };
                acks.push(ack(true, first));
            }
            // Answered at once, never journalled: nothing changed.
            Outcome::Refused { .. } => acks.push(ack(false, outcome)),
            outcome => {
                let seq = outcome.seq().expect("a journalled outcome has a sequence number");
                assert_eq!(seq, first_seq_of_batch + encoded.len() as u64, "journalled seqs are consecutive");
                let command = record.into_bytes();
                // Reconciled at configuration time (engine::limits); a breach is a bug.
                assert!(command.len() <= engine::limits::RECORD_BYTES_MAX, "command record within the reconciled limit");
                encoded.push((seq, command, acks.len()));
                acks.push(ack(false, outcome));
            }
        }
    }
    Ok((acks, encoded))
}

/// The journalled result of an outcome.
fn encode_result(outcome: &Outcome) -> Vec<u8> {
    // Outcomes are plain data; encoding cannot fail.
    let mut result = Vec::with_capacity(192);
    engine::write_outcome(&mut result, outcome);
    // Reconciled at configuration time (engine::limits); a breach is a bug.
    assert!(result.len() <= engine::limits::RECORD_BYTES_MAX, "result record within the reconciled limit");
    result
}

/// Writes one batch in one durable transaction.
fn append<C: AsRef<[u8]>>(
    journal: &mut dyn JournalStore,
    encoded: &[(u64, C, Vec<u8>)],
    state_hash: StateHash,
) -> Result<journal::BatchReceipt, NodeError> {
    let records: Vec<RecordIn<'_>> =
        encoded.iter().map(|(seq, c, r)| RecordIn { seq: Seq(*seq), command: c.as_ref(), result: r }).collect();
    Ok(journal.append_batch(&BatchIn { records: &records, state_hash })?)
}

fn decode_result(seq: u64, result: &[u8]) -> Result<Outcome, NodeError> {
    serde_json::from_slice(result).map_err(|e| NodeError::Decode { seq, reason: e.to_string() })
}

fn journalled_outcome(journal: &dyn JournalStore, seq: u64) -> Result<Outcome, NodeError> {
    let record = journal.result_of(Seq(seq))?.ok_or_else(|| NodeError::Decode { seq, reason: "record missing".into() })?;
    decode_result(seq, &record.result)
}

pub fn hex(bytes: &[u8]) -> String {
    engine::hex(bytes)
}

/// The configuration key a change touches and what differs there, for messages.
fn describe_change(journal: &StateConfig, change: &ConfigChange) -> (String, String) {
    match change {
        ConfigChange::AddAsset { symbol, decimals } => (format!("assets.{symbol}"), format!("new asset with {decimals} decimals")),
        ConfigChange::AddUnderlying { symbol } => (format!("underlyings.{symbol}"), "new underlying".into()),
        ConfigChange::AddCustodian { id, .. } => (format!("custodians.{id}"), "new custodian".into()),
        ConfigChange::AllowCustodyAsset { custodian, asset } => (format!("custodians.{custodian}.assets"), format!("{asset} added")),
        ConfigChange::AddMarket { market } => (format!("markets.{}", market.id), "new market".into()),
        ConfigChange::SetLimits { limits } => first_difference("limits", &journal.limits, limits),
        ConfigChange::SetSettings { settings } => first_difference("engine", &journal.settings, settings),
        ConfigChange::SetOracle { oracle } => match journal.oracles.iter().find(|o| o.symbol == oracle.symbol) {
            Some(old) => first_difference(&format!("oracles.{}", oracle.symbol), old, oracle),
            None => (format!("oracles.{}", oracle.symbol), "new oracle".into()),
        },
    }
}

/// The first field of two flat records that differs: `(prefix.field, "journal X, file Y")`.
fn first_difference<T: serde::Serialize>(prefix: &str, journal: &T, file: &T) -> (String, String) {
    let (a, b) = (serde_json::to_value(journal).expect("plain data"), serde_json::to_value(file).expect("plain data"));
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return (prefix.into(), "differs".into()) };
    a.iter()
        .find(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| (format!("{prefix}.{k}"), format!("journal {v}, file {}", b.get(k).cloned().unwrap_or_default())))
        .unwrap_or_else(|| (prefix.into(), "differs".into()))
}
