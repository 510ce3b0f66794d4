//! Snapshots: a versioned, serialisable image of the whole engine state. Restoring one and
//! replaying the commands after it gives the same state hash as replaying from the start.

use crate::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    pub format_version: u32,
    pub config_digest: [u8; 32],
    pub ledger: ledger::LedgerSnapshot,
    pub account_names: Vec<String>,
    pub account_kinds: Vec<AccountKind>,
    pub prices: Vec<(String, UsdPrice, u64)>,
    pub holds: Vec<AccountIdx>,
    pub withdrawals: Vec<(String, Withdrawal)>,
    pub external_refs: Vec<String>,
    pub seen: Vec<(String, u64, u64)>,
    pub log_digest: [u8; 32],
    /// The partial chunk of append-only facts not yet folded into `log_digest`.
    pub log_buffer: Vec<u8>,
    pub log_buffer_facts: u32,
    pub now_ms: u64,
    pub next_seq: u64,
    pub next_pending: u64,
    /// The state hash at the moment of the snapshot, checked again after restoring.
    pub state_hash: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format {found} is not the supported {supported}")]
    Version { found: u32, supported: u32 },
    #[error("snapshot was taken under a different configuration; restoring it would misread assets")]
    ConfigMismatch,
    #[error("snapshot is inconsistent: {what}")]
    Inconsistent { what: String },
    #[error("snapshot does not decode: {what}")]
    Decode { what: String },
}

impl Engine {
    pub fn to_snapshot(&mut self) -> EngineSnapshot {
        let state_hash = self.state_hash();
        let mut external_refs: Vec<String> = self.external_refs.iter().cloned().collect();
        external_refs.sort_unstable();
        let mut seen: Vec<(String, u64, u64)> =
            self.seen.iter().map(|((c, i), s)| (self.client_names[*c as usize].clone(), *i, *s)).collect();
        seen.sort_unstable_by_key(|e| e.2);
        EngineSnapshot {
            format_version: ENGINE_FORMAT_VERSION,
            config_digest: self.config_digest,
            ledger: self.ledger.to_snapshot(),
            account_names: self.account_names.clone(),
            account_kinds: self.account_kinds.clone(),
            prices: self.prices.iter().map(|(s, (p, t))| (s.clone(), *p, *t)).collect(),
            holds: self.holds.iter().copied().collect(),
            withdrawals: self.withdrawals.iter().map(|(k, w)| (k.clone(), w.clone())).collect(),
            external_refs,
            seen,
            log_digest: self.log_digest,
            log_buffer: self.log_buffer.clone(),
            log_buffer_facts: self.log_buffer_facts,
            now_ms: self.now_ms,
            next_seq: self.next_seq,
            next_pending: self.next_pending,
            state_hash,
        }
    }

    pub fn from_snapshot(config: Config, s: &EngineSnapshot) -> Result<Engine, SnapshotError> {
        if s.format_version != ENGINE_FORMAT_VERSION {
            return Err(SnapshotError::Version { found: s.format_version, supported: ENGINE_FORMAT_VERSION });
        }
        let mut engine = Engine::new(config);
        if engine.config_digest != s.config_digest {
            return Err(SnapshotError::ConfigMismatch);
        }
        let inconsistent = |what: &str| SnapshotError::Inconsistent { what: what.into() };
        if s.account_names.len() != s.account_kinds.len() || s.account_names.len() != s.ledger.policies.len() {
            return Err(inconsistent("account tables differ in length"));
        }
        // The fresh engine opened the broker accounts; they must match the snapshot's first ones.
        if s.account_names.get(..engine.account_names.len()) != Some(&engine.account_names[..]) {
            return Err(inconsistent("broker accounts differ from the configuration's"));
        }
        engine.ledger = Ledger::from_snapshot(&s.ledger).map_err(|e| inconsistent(&e.to_string()))?;
        engine.account_names = s.account_names.clone();
        engine.account_kinds = s.account_kinds.clone();
        engine.account_index = s.account_names.iter().enumerate().map(|(i, n)| (n.clone(), AccountIdx(i as u32))).collect();
        engine.subs_per_owner.clear();
        for (name, kind) in s.account_names.iter().zip(&s.account_kinds) {
            if *kind == AccountKind::Trader {
                *engine.subs_per_owner.entry(owner_of(name).to_string()).or_insert(0) += 1;
            }
        }
        engine.prices = s.prices.iter().map(|(sym, p, t)| (sym.clone(), (*p, *t))).collect();
        engine.holds = s.holds.iter().copied().collect();
        for (id, w) in &s.withdrawals {
            if engine.ledger.pending_transfer(w.pending).is_none() {
                return Err(inconsistent("a withdrawal has no pending transfer"));
            }
            engine.withdrawals_digest.add(&withdrawal_hash(id, w));
            engine.withdrawals_due.insert((w.due_ms, w.pending, id.clone()));
            *engine.withdrawals_per_account.entry(w.account).or_insert(0) += 1;
            engine.withdrawals.insert(id.clone(), w.clone());
        }
        engine.external_refs = s.external_refs.iter().cloned().collect();
        for (client, id, seq) in &s.seen {
            let c = engine.intern_client(client);
            engine.seen.insert((c, *id), *seq);
        }
        if s.log_buffer_facts >= LOG_CHUNK_FACTS {
            return Err(inconsistent("partial fact chunk is not partial"));
        }
        engine.log_digest = s.log_digest;
        engine.log_buffer = s.log_buffer.clone();
        engine.log_buffer_facts = s.log_buffer_facts;
        engine.now_ms = s.now_ms;
        engine.next_seq = s.next_seq;
        engine.next_pending = s.next_pending;
        if engine.state_hash() != s.state_hash {
            return Err(inconsistent("restored state hash differs from the recorded one"));
        }
        Ok(engine)
    }

    /// Snapshot encoded for the journal (JSON; versioned by `format_version`).
    pub fn encode_snapshot(&mut self) -> Vec<u8> {
        serde_json::to_vec(&self.to_snapshot()).expect("an EngineSnapshot always serialises")
    }

    pub fn decode_snapshot(config: Config, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let snapshot: EngineSnapshot = serde_json::from_slice(bytes).map_err(|e| SnapshotError::Decode { what: e.to_string() })?;
        Engine::from_snapshot(config, &snapshot)
    }
}
