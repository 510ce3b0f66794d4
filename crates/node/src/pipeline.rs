//! The pipelined write path: a [`Node`] split into an [`Applier`] (the engine: applies a batch
//! and encodes its commands) and a [`Journaller`] (the journal: encodes the outcomes and makes
//! staged batches durable), so that one thread applies batch N+1 while another commits batch N
//! (docs/performance.md, "Durable throughput").
//!
//! The protocol is the node's, split in two: the acks of a [`Staged`] batch may be sent only
//! after [`Journaller::commit`] or [`Journaller::commit_group`] returned `Ok` for it, and batches
//! must be committed in the order they were staged (one committed early is refused with
//! [`NodeError::CommitOrder`]; so is a batch of retries committed before the batch it answers
//! from). Until then the engine is ahead of the journal by the staged batches: a
//! crash loses them, and recovery rebuilds exactly the journalled state, which contains every
//! acknowledged command. Whoever reads the engine must therefore know which batches are not yet
//! durable.
//!
//! A retry of a command staged but not yet durable is answered from its staged batch, never
//! from a journal that lacks it. The applier holds each staged batch weakly until the
//! journaller reports it durable: once the caller has taken the acks of a committed batch the
//! journal answers, and a batch dropped without its commit answers nothing (the retry is an
//! error: the node must be reopened, as after any failed commit).
//!
//! A staged batch's acks are shared, not copied: the journaller encodes each outcome from its
//! ack. Copying every outcome for the journaller was about a tenth of the applier's instructions
//! (docs/performance.md, "Durable transfers with margin on").

use crate::{Ack, Node, NodeError, NodeOptions, StagedRecord, check_batch_size, encode_result, journalled_outcome, stage};
use engine::{Engine, Envelope, Outcome};
use journal::{BatchId, BatchIn, JournalStore, RecordIn, Seq, SnapshotIn, StateHash, failpoint};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// What both halves share: the journal (the applier reads it only to answer old retries), the
/// poison flag and the last durable sequence number.
struct Shared {
    journal: Mutex<Box<dyn JournalStore>>,
    poisoned: AtomicBool,
    durable_seq: AtomicU64,
}

/// A staged batch's journalled commands with their results encoded: (seq, command, result).
type EncodedBatch<'a> = Vec<(u64, &'a [u8], Vec<u8>)>;

/// What a staged batch produced: one ack per command, in order, and its journalled commands
/// (each pointing at the ack that holds its outcome).
struct Batch {
    acks: Vec<Ack>,
    records: Vec<StagedRecord>,
}

impl Batch {
    /// The outcome of the journalled command `seq`, if this batch journalled it.
    fn outcome_of(&self, seq: u64) -> Option<&Outcome> {
        let (first, _, _) = self.records.first()?;
        let (_, _, ack) = self.records.get(usize::try_from(seq.checked_sub(*first)?).ok()?)?;
        Some(&self.acks[*ack].outcome)
    }
}

/// A batch applied to the engine, not yet durable.
pub struct Staged {
    batch: Arc<Batch>,
    /// The state hash after the batch.
    state_hash: StateHash,
    /// The engine's state after this batch, when a snapshot is due: (last seq, bytes).
    snapshot: Option<(u64, Vec<u8>)>,
    /// The engine's last seq when the batch was staged: its acks may answer from any command up
    /// to it (a retry of an undurable one), so they wait until the journal holds it.
    requires_seq: u64,
}

impl Staged {
    /// True when the batch journals nothing (only refusals and retries).
    pub fn journals_nothing(&self) -> bool {
        self.batch.records.is_empty()
    }

    /// One ack per command, in order; to be sent only once the batch is committed.
    pub fn acks(&self) -> &[Ack] {
        &self.batch.acks
    }

    /// The acks, taken once the batch is committed (copied only if the applier is reading
    /// them for a retry at that very moment).
    pub fn into_acks(self) -> Vec<Ack> {
        Arc::try_unwrap(self.batch).map_or_else(|shared| shared.acks.clone(), |batch| batch.acks)
    }

    /// The last sequence number the batch journals.
    fn last_seq(&self) -> Option<u64> {
        self.batch.records.last().map(|(seq, _, _)| *seq)
    }
}

/// The engine half of a pipelined node.
pub struct Applier {
    engine: Engine,
    options: NodeOptions,
    batches_since_snapshot: u64,
    shared: Arc<Shared>,
    /// Staged batches not yet known durable, oldest first: (last seq, the batch while its
    /// [`Staged`] lives).
    undurable: VecDeque<(u64, Weak<Batch>)>,
}

/// The journal half of a pipelined node.
pub struct Journaller {
    shared: Arc<Shared>,
    last_batch: BatchId,
}

impl Node {
    /// Splits the node for a pipelined writer. A poisoned node stays poisoned.
    pub fn into_pipeline(self) -> (Applier, Journaller) {
        let durable_seq = self.engine.next_seq() - 1;
        let shared = Arc::new(Shared {
            journal: Mutex::new(self.journal),
            poisoned: AtomicBool::new(self.poisoned),
            durable_seq: AtomicU64::new(durable_seq),
        });
        let applier = Applier {
            engine: self.engine,
            options: self.options,
            batches_since_snapshot: self.batches_since_snapshot,
            shared: shared.clone(),
            undurable: VecDeque::new(),
        };
        (applier, Journaller { shared, last_batch: self.last_batch })
    }
}

impl Applier {
    /// The engine, including every staged batch (durable or not).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The last sequence number the journaller has made durable.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// Applies a batch (as [`Node::submit_batch`] does) without journalling it.
    pub fn stage(&mut self, envelopes: &[Envelope]) -> Result<Staged, NodeError> {
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(NodeError::Poisoned);
        }
        check_batch_size(&self.engine, envelopes)?;
        let durable = self.durable_seq();
        while self.undurable.front().is_some_and(|(last, _)| *last <= durable) {
            self.undurable.pop_front();
        }
        let (undurable, shared) = (&self.undurable, &self.shared);
        let staged = stage(&mut self.engine, envelopes, false, |seq| earlier_outcome(undurable, shared, seq));
        // A failure mid-batch leaves the engine ahead of the journal by the commands before it.
        let (acks, records) = staged.inspect_err(|_| self.shared.poisoned.store(true, Ordering::Release))?;
        let batch = Arc::new(Batch { acks, records });
        let requires_seq = self.engine.next_seq() - 1;
        let Some(&(last_seq, _, _)) = batch.records.last() else {
            return Ok(Staged { batch, state_hash: StateHash([0; 32]), snapshot: None, requires_seq });
        };
        let state_hash = StateHash(self.engine.state_hash());
        self.batches_since_snapshot += 1;
        let snapshot = (self.batches_since_snapshot >= self.options.snapshot_interval_batches).then(|| {
            self.batches_since_snapshot = 0;
            let state = self.engine.encode_snapshot();
            assert!(state.len() as u64 <= engine::limits::SNAPSHOT_BYTES_MAX, "snapshot within the reconciled limit");
            (self.engine.next_seq() - 1, state)
        });
        self.undurable.push_back((last_seq, Arc::downgrade(&batch)));
        Ok(Staged { batch, state_hash, snapshot, requires_seq })
    }
}

/// The first outcome of a command journalled before the batch being staged: from its staged
/// batch while that lives, else from the journal (a batch's [`Staged`] is dropped after its
/// commit, or never committed: then the journal does not have it and the retry is an error).
fn earlier_outcome(undurable: &VecDeque<(u64, Weak<Batch>)>, shared: &Shared, seq: u64) -> Result<Outcome, NodeError> {
    for (_, batch) in undurable {
        if let Some(outcome) = batch.upgrade().as_deref().and_then(|b| b.outcome_of(seq)) {
            return Ok(outcome.clone());
        }
    }
    let journal = shared.journal.lock().map_err(|_| NodeError::Poisoned)?;
    journalled_outcome(journal.as_ref(), seq)
}

impl Journaller {
    /// Makes a staged batch durable (and its snapshot, when one is due). Batches must come in
    /// the order they were staged. A failure poisons both halves: the engine is ahead of the
    /// journal and the node must be reopened.
    pub fn commit(&mut self, staged: &Staged) -> Result<(), NodeError> {
        self.commit_group(&[staged])
    }

    /// Makes staged batches durable together, in the order they were staged: group commit
    /// across batches (one SQLite transaction and one fsync for all of them, see
    /// [`journal::JournalStore::append_batches`]). Each keeps its own batch row and state hash, as
    /// if committed alone; the acks of every one of them may be sent once this returns `Ok`. A
    /// caller that finds several batches waiting commits them as one, so a slow fsync is paid
    /// once for all of them instead of once each. The group's size is the caller's to bound: on
    /// SQLite the WAL holds the whole group until its commit (`durable_load` groups at most 4).
    pub fn commit_group(&mut self, group: &[&Staged]) -> Result<(), NodeError> {
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(NodeError::Poisoned);
        }
        let journalled: Vec<&Staged> = group.iter().copied().filter(|s| !s.journals_nothing()).collect();
        // Only the journaller moves the durable seq: read once, it holds for the whole commit.
        let durable = self.shared.durable_seq.load(Ordering::Acquire);
        let result = in_staged_order(durable, group, &journalled).and_then(|last_seq| {
            if last_seq > durable {
                self.write(&journalled)?;
                self.shared.durable_seq.store(last_seq, Ordering::Release);
            }
            Ok(())
        });
        if result.is_err() {
            self.shared.poisoned.store(true, Ordering::Release);
        }
        result
    }

    fn write(&mut self, group: &[&Staged]) -> Result<(), NodeError> {
        let encoded: Vec<EncodedBatch<'_>> = group
            .iter()
            .map(|staged| {
                let Batch { acks, records } = staged.batch.as_ref();
                records.iter().map(|(seq, command, ack)| (*seq, command.as_slice(), encode_result(&acks[*ack].outcome))).collect()
            })
            .collect();
        let records: Vec<Vec<RecordIn<'_>>> = encoded
            .iter()
            .map(|batch| batch.iter().map(|(seq, command, result)| RecordIn { seq: Seq(*seq), command, result }).collect())
            .collect();
        let batches: Vec<BatchIn<'_>> =
            records.iter().zip(group).map(|(records, staged)| BatchIn { records, state_hash: staged.state_hash }).collect();
        let mut journal = self.shared.journal.lock().map_err(|_| NodeError::Poisoned)?;
        failpoint::hit("node.after_apply_before_journal");
        let receipts = journal.append_batches(&batches)?;
        failpoint::hit("node.after_journal_before_ack");
        for (staged, receipt) in group.iter().zip(&receipts) {
            self.last_batch = receipt.batch_id;
            if let Some((last_seq, state)) = &staged.snapshot {
                let snapshot = SnapshotIn { last_seq: Seq(*last_seq), batch_id: receipt.batch_id, state_hash: staged.state_hash, state };
                journal.write_snapshot(&snapshot)?;
            }
        }
        Ok(())
    }
}

/// The last seq `journalled` (the batches of `group` that journal something) brings the journal
/// to, if `group` continues the durable prefix in the order it was staged: each journalled batch
/// starts right after the one before, and no batch's acks answer from a command beyond the group
/// (a retry staged after a batch not in it).
fn in_staged_order(durable: u64, group: &[&Staged], journalled: &[&Staged]) -> Result<u64, NodeError> {
    let mut last = durable;
    for staged in journalled {
        let (first, _, _) = staged.batch.records[0];
        if first != last + 1 {
            return Err(NodeError::CommitOrder { needed: first - 1, durable });
        }
        last = staged.last_seq().expect("a journalled batch has records");
    }
    match group.iter().map(|s| s.requires_seq).max() {
        Some(needed) if needed > last => Err(NodeError::CommitOrder { needed, durable }),
        _ => Ok(last),
    }
}
