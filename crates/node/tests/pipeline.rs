//! The pipelined write path (`Node::into_pipeline`): a batch applied but not yet committed is
//! lost by a crash and recovery rebuilds exactly the committed prefix (the same state hash as
//! a node that only ever saw that prefix); a retry of a command staged but not yet durable is
//! answered with its first outcome; commits keep their order and snapshots land at batch ends.

use engine::{Command, Envelope, Outcome};
use journal::{JournalConfig, SqliteJournal};
use model::Config;
use node::{Applier, Journaller, Node, NodeOptions};
use std::path::Path;

fn open(path: &Path, options: NodeOptions) -> Node {
    let journal = SqliteJournal::open(path, JournalConfig::default()).expect("journal opens");
    let (mut node, _) = Node::open(options, Box::new(journal)).expect("node opens");
    node.install(&Config::default_config(), false).expect("configuration installs");
    node
}

fn options() -> NodeOptions {
    NodeOptions::from_config(&Config::default_config())
}

fn op(id: u64, command: Command) -> Envelope {
    Envelope { client: "operator".into(), id, command }
}

fn deposit(id: u64, amount: &str) -> Envelope {
    op(
        id,
        Command::Deposit {
            account: "alice/main".into(),
            asset: "USDC".into(),
            amount: amount.into(),
            custodian: "ethereum".into(),
            external_ref: format!("0x{id}"),
        },
    )
}

/// Four batches: a principal and its account, then three deposits of different sizes.
fn batches() -> Vec<Vec<Envelope>> {
    vec![
        vec![
            op(1, Command::RegisterPrincipal { name: "alice".into(), role: model::Role::Owner }),
            op(2, Command::CreateAccount { owner: "alice".into(), sub: "main".into() }),
        ],
        vec![deposit(3, "100"), deposit(4, "7.5")],
        vec![deposit(5, "1000")],
        vec![deposit(6, "2")],
    ]
}

/// A pipelined node at `path` with the first of `batches` staged and committed.
fn first_batch_committed(path: &Path, batches: &[Vec<Envelope>]) -> (Applier, Journaller) {
    let (mut applier, mut journaller) = open(path, options()).into_pipeline();
    journaller.commit(&applier.stage(&batches[0]).unwrap()).unwrap();
    (applier, journaller)
}

fn applied(acks: &[node::Ack]) {
    assert!(acks.iter().all(|a| matches!(a.outcome, Outcome::Applied { .. })), "{acks:?}");
}

#[test]
fn a_crash_between_apply_and_commit_recovers_exactly_the_committed_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    // Reference: a node that only ever saw the first two batches, serially.
    let reference = dir.path().join("reference.sqlite");
    let expected = {
        let mut node = open(&reference, options());
        for batch in &batches[..2] {
            applied(&node.submit_batch(batch).unwrap());
        }
        node.state_hash()
    };
    // Pipelined: batches 0 and 1 committed; 2 and 3 applied to the engine, never committed.
    let path = dir.path().join("pipelined.sqlite");
    let (mut applier, mut journaller) = open(&path, options()).into_pipeline();
    for batch in &batches[..2] {
        let staged = applier.stage(batch).unwrap();
        journaller.commit(&staged).unwrap();
        applied(staged.acks());
    }
    let durable = applier.durable_seq();
    let lost: Vec<_> = batches[2..].iter().map(|b| applier.stage(b).unwrap()).collect();
    assert!(applier.engine().next_seq() - 1 > durable, "the engine is ahead of the journal by the staged batches");
    assert_eq!(applier.durable_seq(), durable, "nothing staged is durable before its commit");
    drop((lost, applier, journaller));
    // Restart: exactly the committed prefix, the reference's state.
    let mut recovered = open(&path, options());
    assert_eq!(recovered.engine().next_seq() - 1, durable);
    assert_eq!(recovered.state_hash(), expected);
    // The lost commands are not known: sent again, they apply afresh.
    applied(&recovered.submit_batch(&batches[2]).unwrap());
}

#[test]
fn a_retry_of_a_staged_command_gets_its_first_outcome_before_and_after_it_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let (mut applier, mut journaller) = open(&dir.path().join("j.sqlite"), options()).into_pipeline();
    let first = applier.stage(&batches[0]).unwrap();
    journaller.commit(&first).unwrap();
    let original = applier.stage(&batches[1]).unwrap();
    // Retried while the original is staged but not committed: answered from the staged records.
    let retry = applier.stage(&batches[1][..1]).unwrap();
    assert!(retry.journals_nothing());
    assert!(retry.acks()[0].duplicate);
    assert_eq!(retry.acks()[0].outcome, original.acks()[0].outcome);
    journaller.commit(&original).unwrap();
    journaller.commit(&retry).unwrap();
    // Retried once durable: answered from the journal.
    let again = applier.stage(&batches[1][1..]).unwrap();
    assert!(again.acks()[0].duplicate);
    assert_eq!(again.acks()[0].outcome, original.acks()[1].outcome);
}

#[test]
fn pipelined_batches_with_snapshots_replay_to_the_same_state_as_serial_ones() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let serial = {
        let mut node = open(&dir.path().join("serial.sqlite"), options());
        for batch in &batches {
            applied(&node.submit_batch(batch).unwrap());
        }
        node.state_hash()
    };
    // A snapshot every two batches: staged with batch 1 and 3, written after their commits.
    let every_two = NodeOptions { snapshot_interval_batches: 2 };
    let path = dir.path().join("pipelined.sqlite");
    let (mut applier, mut journaller) = open(&path, every_two).into_pipeline();
    let mut staged = std::collections::VecDeque::new();
    for batch in &batches {
        staged.push_back(applier.stage(batch).unwrap());
        // One batch in flight: commit the one before the newest.
        if staged.len() == 2 {
            journaller.commit(&staged.pop_front().unwrap()).unwrap();
        }
    }
    journaller.commit(&staged.pop_front().unwrap()).unwrap();
    drop((applier, journaller));
    let (mut reopened, report) =
        Node::open(every_two, Box::new(SqliteJournal::open(&path, JournalConfig::default()).unwrap())).expect("reopens");
    assert!(report.snapshot_seq > 0, "a snapshot was written: {report:?}");
    assert_eq!(reopened.state_hash(), serial);
}

/// A retry inside its own batch is answered with the first copy's outcome, serially and
/// pipelined, and that outcome is the one the journal holds (the same bytes in both journals).
#[test]
fn a_retry_in_the_same_batch_gets_the_journalled_first_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let with_retry = vec![deposit(3, "100"), deposit(4, "7.5"), deposit(3, "100")];
    let mut serial = open(&dir.path().join("serial.sqlite"), options());
    serial.submit_batch(&batches[0]).unwrap();
    let serial_acks = serial.submit_batch(&with_retry).unwrap();
    let path = dir.path().join("pipelined.sqlite");
    let (mut applier, mut journaller) = first_batch_committed(&path, &batches);
    let staged = applier.stage(&with_retry).unwrap();
    journaller.commit(&staged).unwrap();
    drop((applier, journaller));
    let mut pipelined = open(&path, options());
    assert_eq!(pipelined.state_hash(), serial.state_hash());
    for acks in [serial_acks.as_slice(), staged.acks()] {
        assert!(!acks[0].duplicate && acks[2].duplicate);
        assert_eq!(acks[2].outcome, acks[0].outcome);
        let seq = journal::Seq(acks[0].outcome.seq().expect("journalled"));
        let stored = serial.journal().result_of(seq).unwrap().expect("the first copy is journalled");
        assert_eq!(serde_json::to_vec(&acks[0].outcome).unwrap(), stored.result);
        assert_eq!(pipelined.journal().result_of(seq).unwrap().expect("journalled").result, stored.result);
    }
}

/// A batch dropped without its commit answers no retry: its outcomes never became durable, so
/// the retry is an error, not an acknowledgement of something a crash would lose.
#[test]
fn a_retry_of_a_batch_dropped_before_its_commit_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let (mut applier, _journaller) = first_batch_committed(&dir.path().join("j.sqlite"), &batches);
    drop(applier.stage(&batches[1]).unwrap());
    let retry = applier.stage(&batches[1][..1]);
    assert!(matches!(retry, Err(node::NodeError::Decode { .. })), "{:?}", retry.map(|s| s.into_acks()));
    let next = applier.stage(&batches[2]);
    assert!(matches!(next, Err(node::NodeError::Poisoned)), "a failed stage poisons: {:?}", next.map(|s| s.into_acks()));
}

/// Batches are committed in the order they were staged. A batch committed before an earlier
/// one, or a retry committed before the batch it answers from, is refused, never acknowledged,
/// and the node is poisoned (the caller broke the protocol; the journal holds only the prefix).
#[test]
fn a_batch_committed_out_of_order_is_refused_and_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    for retry_first in [false, true] {
        let path = dir.path().join(format!("j{retry_first}.sqlite"));
        let (mut applier, mut journaller) = first_batch_committed(&path, &batches);
        let durable = applier.durable_seq();
        let first = applier.stage(&batches[1]).unwrap();
        let second = applier.stage(if retry_first { &batches[1][..1] } else { &batches[2] }).unwrap();
        assert_eq!(second.journals_nothing(), retry_first);
        let refused = journaller.commit(&second);
        // Both need the first batch (two transfers) durable; the journal is where it was.
        let needed = durable + batches[1].len() as u64;
        assert!(
            matches!(refused, Err(node::NodeError::CommitOrder { needed: n, durable: d }) if (n, d) == (needed, durable)),
            "{refused:?}"
        );
        assert!(matches!(journaller.commit(&first), Err(node::NodeError::Poisoned)));
        assert_eq!(applier.durable_seq(), durable);
        drop((applier, journaller, first, second));
        let reopened = open(&path, options());
        assert_eq!(reopened.engine().next_seq() - 1, durable, "only the committed prefix is journalled");
    }
}

/// The acks taken after the commit are the staged ones, whole, with or without a retry of the
/// batch read in between.
#[test]
fn the_acks_taken_after_the_commit_are_the_staged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let (mut applier, mut journaller) = first_batch_committed(&dir.path().join("j.sqlite"), &batches);
    let staged = applier.stage(&batches[1]).unwrap();
    let expected = staged.acks().to_vec();
    let retry = applier.stage(&batches[1][1..]).unwrap();
    journaller.commit(&staged).unwrap();
    let acks = staged.into_acks();
    assert_eq!(acks, expected);
    applied(&acks);
    assert_eq!(retry.into_acks()[0].outcome, acks[1].outcome);
}

/// Batches committed as one group (one transaction) are the batches committed one by one: each
/// its own batch row and state hash, the snapshots due among them written, and a reopened node
/// in the serial node's state. A group of batches that journal nothing commits nothing.
#[test]
fn a_group_commit_is_the_batches_committed_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();
    let (serial, serial_batches) = {
        let mut node = open(&dir.path().join("serial.sqlite"), options());
        for batch in &batches {
            applied(&node.submit_batch(batch).unwrap());
        }
        (node.state_hash(), node.journal().head().last_batch_id)
    };
    let every_two = NodeOptions { snapshot_interval_batches: 2 };
    let path = dir.path().join("grouped.sqlite");
    let (mut applier, mut journaller) = open(&path, every_two).into_pipeline();
    let first = applier.stage(&batches[0]).unwrap();
    journaller.commit(&first).unwrap();
    let mut last_seqs = Vec::new();
    let staged: Vec<_> = batches[1..]
        .iter()
        .map(|b| {
            let staged = applier.stage(b).unwrap();
            last_seqs.push(applier.engine().next_seq() - 1);
            staged
        })
        .collect();
    let retries = [applier.stage(&batches[3]).unwrap(), applier.stage(&batches[2]).unwrap()];
    assert!(retries.iter().all(|r| r.journals_nothing()));
    journaller.commit_group(&staged.iter().chain([&retries[0]]).collect::<Vec<_>>()).unwrap();
    assert_eq!(applier.durable_seq(), applier.engine().next_seq() - 1);
    journaller.commit_group(&[&retries[1]]).unwrap();
    assert_eq!(applier.durable_seq(), applier.engine().next_seq() - 1, "nothing journalled, nothing committed");
    drop((applier, journaller));
    let journal = SqliteJournal::open(&path, JournalConfig::default()).unwrap();
    let (mut reopened, report) = Node::open(every_two, Box::new(journal)).expect("reopens");
    // A snapshot every two batches: the last one due falls on batch 2, inside the group.
    assert_eq!(report.snapshot_seq, last_seqs[1], "the snapshot staged inside the group was written: {report:?} {last_seqs:?}");
    assert_eq!(reopened.state_hash(), serial);
    assert_eq!(reopened.journal().head().last_batch_id, serial_batches, "one batch row each, as serially");
}
