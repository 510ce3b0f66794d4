//! The node behind the service: one writer thread owns the journal's write path and
//! group-commits whatever commands are queued (up to `limits.batch_commands_max`) in one durable
//! transaction; only then are the requests answered. Readers take the node's lock briefly for
//! views. After every batch the journalled events are published for the stream, the history
//! (fills, trades, insurance fund) and the metrics.

use crate::error::{Result, ServerError};
use crate::history::History;
use crate::metrics::Metrics;
use axum::extract::ws::Utf8Bytes;
use engine::{Engine, Envelope, Event, Outcome};
use node::{Ack, Node};
use statement::StatementIndex;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Commands waiting for the writer, at most (a full queue makes callers wait, never drops).
pub const QUEUE_COMMANDS_MAX: usize = 16_384;
/// Batches of events kept for slow stream subscribers before they are told they lagged.
pub const STREAM_BATCHES_MAX: usize = 1024;

/// The events of one journalled batch, in order, each with its command's sequence number.
#[derive(Debug)]
pub struct Published {
    pub events: Vec<(u64, Event)>,
    /// The batch's public stream messages, serialised once by the writer (only while someone
    /// subscribes) from the engine's state right after the batch, and shared by every
    /// subscriber: a subscriber clones a reference-counted buffer, never the text.
    pub public_messages: Vec<Utf8Bytes>,
}

enum Message {
    Submit { envelope: Box<Envelope>, queued: Instant, reply: oneshot::Sender<Result<Ack>>, check: Option<Box<SignatureCheck>> },
    Stop,
}

/// A request's signature, checked by the writer with the other signatures of its batch (one
/// batch equation, `docs/service.md`, "Signatures checked by the writer") before the command is
/// applied; then, for a valid one, the caller's rate limit and nonce ([`crate::auth::Auth::admit`]).
/// A command whose check fails is answered with that error and never applied.
pub struct SignatureCheck {
    item: crate::verify::Item,
    batch_max: usize,
    state: crate::api::Shared,
    claim: crate::auth::Claim,
}

impl SignatureCheck {
    pub fn new(item: crate::verify::Item, batch_max: usize, state: crate::api::Shared, claim: crate::auth::Claim) -> SignatureCheck {
        SignatureCheck { item, batch_max, state, claim }
    }
}

/// Shared by every request handler.
pub struct Core {
    /// `None` once the writer closed it (shutdown).
    node: Arc<Mutex<Option<Node>>>,
    queue: mpsc::Sender<Message>,
    published: broadcast::Sender<Arc<Published>>,
    pub metrics: Arc<Metrics>,
    pub history: Arc<Mutex<History>>,
    /// Every account's statement, fed under the node's lock with each journalled batch (so a
    /// reader under that lock sees the index and the engine at the same seq).
    pub statements: Arc<Mutex<StatementIndex>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Core {
    /// Starts the writer thread (named `writer`, so profiles tell it apart) over a recovered node.
    ///
    /// # Errors
    /// `Startup` when the thread cannot be started.
    pub fn start(node: Node, metrics: Arc<Metrics>, history: History, statements: StatementIndex) -> Result<Core> {
        let last_seq = node.engine().next_seq() - 1;
        assert!(statements.is_stopped() || statements.last_seq() == last_seq, "the statement index starts at the node's last seq");
        let node = Arc::new(Mutex::new(Some(node)));
        let (queue, receiver) = mpsc::channel(QUEUE_COMMANDS_MAX);
        let (published, _) = broadcast::channel(STREAM_BATCHES_MAX);
        let history = Arc::new(Mutex::new(history));
        let statements = Arc::new(Mutex::new(statements));
        let writer = Writer {
            node: node.clone(),
            published: published.clone(),
            metrics: metrics.clone(),
            history: history.clone(),
            statements: statements.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| ServerError::Startup { detail: format!("starting the writer thread: {e}") })?;
        Ok(Core { node, queue, published, metrics, history, statements, writer: Mutex::new(Some(handle)) })
    }

    /// Submits one command and waits until it is durable (or answered from the journal).
    pub async fn submit(&self, envelope: Envelope) -> Result<Ack> {
        self.send(envelope, None).await
    }

    /// Submits one command whose signature is not checked yet: the writer checks it with its
    /// batch and applies the command only if it, the rate limit and the nonce pass.
    pub async fn submit_signed(&self, envelope: Envelope, check: SignatureCheck) -> Result<Ack> {
        self.send(envelope, Some(Box::new(check))).await
    }

    async fn send(&self, envelope: Envelope, check: Option<Box<SignatureCheck>>) -> Result<Ack> {
        let (reply, answer) = oneshot::channel();
        self.metrics.queue_depth_add(1);
        let message = Message::Submit { envelope: Box::new(envelope), queued: Instant::now(), reply, check };
        if self.queue.send(message).await.is_err() {
            self.metrics.queue_depth_add(-1);
            return Err(ServerError::ShuttingDown);
        }
        answer.await.map_err(|_| ServerError::ShuttingDown)?
    }

    /// Reads the engine under the node's lock (keep `f` short: the writer waits for it).
    pub fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> Result<T> {
        let node = self.node.lock().map_err(|_| ServerError::internal("the node's lock is poisoned"))?;
        let node = node.as_ref().ok_or(ServerError::ShuttingDown)?;
        Ok(f(node.engine()))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.published.subscribe()
    }

    /// Stops the writer after the commands already queued and waits for it; the writer closes
    /// the node and its journal on its own thread (a synchronous PostgreSQL client must not be
    /// dropped on an async worker).
    pub async fn stop(&self) {
        let _ = self.queue.send(Message::Stop).await;
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

struct Writer {
    node: Arc<Mutex<Option<Node>>>,
    published: broadcast::Sender<Arc<Published>>,
    metrics: Arc<Metrics>,
    history: Arc<Mutex<History>>,
    statements: Arc<Mutex<StatementIndex>>,
}

type Pending = (Envelope, Instant, oneshot::Sender<Result<Ack>>);
type Queued = (Pending, Option<Box<SignatureCheck>>);

impl Writer {
    fn run(self, mut receiver: mpsc::Receiver<Message>) {
        let mut stop = false;
        while !stop {
            let Some(first) = receiver.blocking_recv() else { break };
            let batch_max = self.batch_max();
            let mut batch: Vec<Queued> = Vec::new();
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Submit { envelope, queued, reply, check } => batch.push(((*envelope, queued, reply), check)),
                    Message::Stop => stop = true,
                }
                if !stop && batch.len() < batch_max {
                    next = receiver.try_recv().ok();
                }
            }
            let batch = self.check_signatures(batch);
            if !batch.is_empty() {
                self.commit(batch);
            }
        }
        receiver.close();
        let closed = self.node.lock().ok().and_then(|mut n| n.take());
        drop(closed);
        tracing::info!("writer stopped; journal closed");
    }

    /// Verifies the batch's unchecked signatures together, then admits each valid one (rate
    /// limit, nonce) in arrival order; a command that fails is answered with its error here.
    fn check_signatures(&self, batch: Vec<Queued>) -> Vec<Pending> {
        let items: Vec<&crate::verify::Item> = batch.iter().filter_map(|(_, c)| c.as_ref().map(|c| &c.item)).collect();
        let batch_max = batch.iter().filter_map(|(_, c)| c.as_ref().map(|c| c.batch_max)).max().unwrap_or(1);
        let valid = crate::verify::verify_chunks(&items, batch_max);
        assert_eq!(valid.len(), items.len(), "one answer per signature");
        let mut valid = valid.into_iter();
        let mut kept = Vec::with_capacity(batch.len());
        for (pending, check) in batch {
            let admitted = match check {
                None => Ok(()),
                Some(check) if valid.next() == Some(true) => check.state.auth.admit(&check.claim).map(|_| ()),
                Some(_) => Err(ServerError::BadSignature),
            };
            match admitted {
                Ok(()) => kept.push(pending),
                Err(e) => {
                    self.metrics.queue_depth_add(-1);
                    let _ = pending.2.send(Err(e));
                }
            }
        }
        kept
    }

    fn batch_max(&self) -> usize {
        let max = self.node.lock().ok().and_then(|n| n.as_ref().map(|n| n.engine().config().limits.batch_commands_max));
        max.unwrap_or(1).max(1) as usize
    }

    fn commit(&self, batch: Vec<Pending>) {
        self.metrics.queue_depth_add(-(batch.len() as i64));
        let (envelopes, waiting): (Vec<Envelope>, Vec<_>) = batch.into_iter().map(|(e, queued, reply)| (e, (queued, reply))).unzip();
        let result = match self.node.lock() {
            Ok(mut node) => match node.as_mut() {
                Some(node) => {
                    let acks = node.submit_batch(&envelopes).map_err(|e| ServerError::Journal { detail: e.to_string() });
                    if let Ok(acks) = &acks {
                        self.index_statements(&envelopes, acks);
                    }
                    acks
                }
                None => Err(ServerError::ShuttingDown),
            },
            Err(_) => Err(ServerError::internal("the node's lock is poisoned")),
        };
        match result {
            Ok(acks) => {
                // History first (a client that reads its fills after its answer finds them),
                // then the answers, then the stream (its subscribers do not delay the answers).
                let events = self.record(&acks);
                for ((queued, reply), ack) in waiting.into_iter().zip(acks) {
                    self.metrics.command(&ack, queued.elapsed());
                    let _ = reply.send(Ok(ack));
                }
                if let Some(events) = events.filter(|_| self.published.receiver_count() > 0) {
                    self.publish(events);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "journal write failed; the node refuses further work");
                let detail = e.to_string();
                for (_, reply) in waiting {
                    let _ = reply.send(Err(ServerError::Journal { detail: detail.clone() }));
                }
            }
        }
    }

    /// Feeds the batch's journalled records to the statement index (called under the node's
    /// lock). An index that stops (full, or a record it cannot read) refuses statements from
    /// then on; the orders and the journal go on.
    fn index_statements(&self, envelopes: &[Envelope], acks: &[Ack]) {
        let Ok(mut index) = self.statements.lock() else { return };
        for (envelope, ack) in envelopes.iter().zip(acks).filter(|(_, a)| !a.duplicate) {
            let Some(seq) = ack.outcome.seq().filter(|_| ack.outcome.is_journalled()) else { continue };
            if let Err(e) = index.record(seq, &envelope.command, &ack.outcome) {
                tracing::error!(error = %e, seq, "the statement index stopped");
                return;
            }
        }
    }

    /// Serialises the batch's public messages once, from the engine as the batch left it (the
    /// writer is its only mutator), and hands them to every subscriber. A writer that cannot
    /// read the node (shut down, poisoned lock) publishes nothing; the batch is durable anyway.
    fn publish(&self, events: Vec<(u64, Event)>) {
        let public_messages = match self.node.lock() {
            Ok(node) => match node.as_ref() {
                Some(node) => crate::stream::public_messages(node.engine(), &events),
                None => return,
            },
            Err(_) => return,
        };
        // No subscriber left by now is not an error.
        let _ = self.published.send(Arc::new(Published { events, public_messages }));
    }

    /// Records the batch's journalled events in the history; returns them for the stream.
    fn record(&self, acks: &[Ack]) -> Option<Vec<(u64, Event)>> {
        let events: Vec<(u64, Event)> = acks
            .iter()
            .filter(|a| !a.duplicate)
            .filter_map(|a| match &a.outcome {
                Outcome::Applied { seq, events } => Some(events.iter().map(|e| (*seq, e.clone())).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect();
        if events.is_empty() {
            return None;
        }
        if let Ok(mut history) = self.history.lock() {
            history.record(&events);
        }
        Some(events)
    }
}
