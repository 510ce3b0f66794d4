//! Signature verification in batches (`docs/service.md`, "Batch signature verification").
//!
//! Requests that arrive together queue here; one verifier thread takes whatever is queued (up
//! to the batch limit) and checks it with one ed25519 batch equation (`verify_batch`: one
//! multiscalar multiplication for the whole batch, about half the work of checking each).
//! When the batch equation fails, every signature of the batch is checked on its own, so a bad
//! signature is named and refused alone and never costs the others their answer.
//!
//! With a batch limit of 0 or 1 there is no thread: each request is verified in its handler,
//! as before batching existed.
//!
//! The batch equation is cofactorless like single verification, and its coefficients are
//! derived from every input of the batch (a Merlin transcript): a batch of valid signatures
//! always passes, and a batch holding an invalid one passes with probability at most 2^-128,
//! except for signatures carrying a small-order component, which only the key's holder can
//! make (it could as well have signed the request). Replay, nonce and expiry checks are the
//! caller's and unchanged.

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use tokio::sync::{mpsc, oneshot};

/// Signatures checked by one batch equation, at most (by default).
pub const SIGNATURE_BATCH_MAX_DEFAULT: usize = 64;
/// Signatures waiting for the verifier, at most (a full queue makes callers wait, never drops).
pub const VERIFY_QUEUE_MAX: usize = 16_384;

/// One signature to check.
pub struct Item {
    pub key: VerifyingKey,
    pub message: Vec<u8>,
    pub signature: Signature,
}

struct Job {
    item: Item,
    reply: oneshot::Sender<bool>,
}

/// Where a request's signature is checked: by the verifier thread in batches (`queue`), or
/// in the request's handler one by one (no queue).
pub struct Verifier {
    queue: Option<mpsc::Sender<Job>>,
    batch_max: usize,
}

impl Verifier {
    /// Starts the verifier thread when `batch_max > 1`; it ends when the verifier is dropped.
    pub fn start(batch_max: usize) -> std::io::Result<Verifier> {
        if batch_max <= 1 {
            return Ok(Verifier { queue: None, batch_max: 1 });
        }
        let (queue, receiver) = mpsc::channel(VERIFY_QUEUE_MAX);
        std::thread::Builder::new().name("verifier".into()).spawn(move || run(receiver, batch_max))?;
        Ok(Verifier { queue: Some(queue), batch_max })
    }

    /// Signatures checked by one batch equation, at most (1: one by one, in the handler).
    pub fn batch_max(&self) -> usize {
        self.batch_max
    }

    /// Whether `item`'s signature is valid; `None` when the verifier thread is gone.
    pub async fn verify(&self, item: Item) -> Option<bool> {
        match &self.queue {
            None => Some(verify_one(&item)),
            Some(queue) => {
                let (reply, answer) = oneshot::channel();
                queue.send(Job { item, reply }).await.ok()?;
                answer.await.ok()
            }
        }
    }
}

fn run(mut receiver: mpsc::Receiver<Job>, batch_max: usize) {
    let mut jobs: Vec<Job> = Vec::with_capacity(batch_max);
    while let Some(first) = receiver.blocking_recv() {
        jobs.push(first);
        while jobs.len() < batch_max {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let items: Vec<&Item> = jobs.iter().map(|j| &j.item).collect();
        let valid = verify_each(&items);
        assert_eq!(valid.len(), jobs.len(), "one answer per signature");
        for (job, ok) in jobs.drain(..).zip(valid) {
            // A caller that went away (client disconnected) needs no answer.
            let _ = job.reply.send(ok);
        }
    }
}

fn verify_one(item: &Item) -> bool {
    item.key.verify(&item.message, &item.signature).is_ok()
}

/// Each item's validity, checked [`verify_each`] in chunks of at most `batch_max`.
pub fn verify_chunks(items: &[&Item], batch_max: usize) -> Vec<bool> {
    items.chunks(batch_max.max(1)).flat_map(verify_each).collect()
}

/// Each item's validity: one batch equation when there are several and all are valid,
/// otherwise each on its own (so the bad ones are named).
pub fn verify_each(items: &[&Item]) -> Vec<bool> {
    if items.len() > 1 {
        let messages: Vec<&[u8]> = items.iter().map(|i| i.message.as_slice()).collect();
        let signatures: Vec<Signature> = items.iter().map(|i| i.signature).collect();
        let keys: Vec<VerifyingKey> = items.iter().map(|i| i.key).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            return vec![true; items.len()];
        }
    }
    items.iter().map(|i| verify_one(i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn item(seed: u8, message: &str, valid: bool) -> Item {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let signed = if valid { message.to_string() } else { format!("{message} (another message)") };
        Item { key: key.verifying_key(), message: message.as_bytes().to_vec(), signature: key.sign(signed.as_bytes()) }
    }

    #[test]
    fn a_batch_of_valid_signatures_passes_and_a_bad_one_is_named_alone() {
        let mut items: Vec<Item> = (0..20).map(|k| item(k + 1, &format!("order {k}"), true)).collect();
        let refs: Vec<&Item> = items.iter().collect();
        assert_eq!(verify_each(&refs), vec![true; 20]);
        items[7] = item(8, "order 7", false);
        items[13].signature = items[12].signature;
        let refs: Vec<&Item> = items.iter().collect();
        let expected: Vec<bool> = (0..20).map(|k| k != 7 && k != 13).collect();
        assert_eq!(verify_each(&refs), expected);
    }

    #[test]
    fn the_batch_agrees_with_single_verification() {
        // A signature by another key over the same message is invalid for this key, alone and in a batch.
        let good = item(1, "m", true);
        let mut forged = item(1, "m", true);
        forged.signature = SigningKey::from_bytes(&[2; 32]).sign(b"m");
        assert!(verify_one(&good) && !verify_one(&forged));
        assert_eq!(verify_each(&[&good, &forged, &good]), vec![true, false, true]);
        assert_eq!(verify_each(&[&forged]), vec![false]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_thread_answers_each_caller_with_its_own_signature() {
        let verifier = std::sync::Arc::new(Verifier::start(8).expect("thread"));
        let mut tasks = Vec::new();
        for k in 0..50u8 {
            let verifier = verifier.clone();
            tasks.push(tokio::spawn(async move { verifier.verify(item(k + 1, &format!("r{k}"), k % 7 != 3)).await }));
        }
        for (k, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.expect("task"), Some(k % 7 != 3), "request {k}");
        }
    }
}
