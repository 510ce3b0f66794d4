//! Principals and their exactly-once sessions (after TigerBeetle's client sessions).
//!
//! Each registered principal has a role and remembers the ids of its last
//! `limits.client_ids_window` journalled commands, with the sequence number of the first
//! result and a digest of the command. When the window is full the smallest id is forgotten
//! and the principal's watermark rises to it: from then on an id at or below the watermark that
//! is not remembered is refused as too old (`id_too_old`), never applied a second time. Memory
//! is therefore bounded by `principals_max * client_ids_window` and the limit is never a dead
//! end: a principal that moves on to new ids simply forgets its oldest ones.
//!
//! The sessions are folded into the state hash as a multiset digest, one element per
//! remembered id and one per watermark, updated per change.

use ledger::MultisetDigest;
use model::Role;
use std::collections::BTreeMap;

/// Bytes of the command digest kept per remembered id.
pub const COMMAND_DIGEST_LEN: usize = 16;
pub type CommandDigest = [u8; COMMAND_DIGEST_LEN];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub role: Role,
    /// Command id -> (sequence number of its journalled outcome, command digest).
    pub window: BTreeMap<u64, (u64, CommandDigest)>,
    /// Every id at or below it that is not in `window` has been forgotten.
    pub watermark: Option<u64>,
}

/// What a principal's session says about an incoming id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    Remembered { first_seq: u64, digest: CommandDigest },
    TooOld { watermark: u64 },
}

#[derive(Debug, Clone, Default)]
pub struct Sessions {
    principals: BTreeMap<String, Session>,
    digest: MultisetDigest,
}

impl Sessions {
    pub fn len(&self) -> usize {
        self.principals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.principals.is_empty()
    }

    pub fn role(&self, name: &str) -> Option<Role> {
        self.principals.get(name).map(|s| s.role)
    }

    pub fn roles(&self) -> BTreeMap<String, Role> {
        self.principals.iter().map(|(n, s)| (n.clone(), s.role)).collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.principals.contains_key(name)
    }

    /// Admits a principal with an empty session (the caller checked name and limit).
    pub fn register(&mut self, name: &str, role: Role) {
        assert!(!self.principals.contains_key(name), "a principal is registered once");
        self.digest.add(&principal_hash(name, role));
        self.principals.insert(name.to_string(), Session { role, window: BTreeMap::new(), watermark: None });
    }

    pub fn seen(&self, name: &str, id: u64) -> Seen {
        let Some(session) = self.principals.get(name) else { return Seen::New };
        if let Some(&(first_seq, digest)) = session.window.get(&id) {
            return Seen::Remembered { first_seq, digest };
        }
        match session.watermark {
            Some(watermark) if id <= watermark => Seen::TooOld { watermark },
            _ => Seen::New,
        }
    }

    /// Remembers a journalled command; forgets the smallest id when the window is full.
    pub fn remember(&mut self, name: &str, id: u64, seq: u64, digest: CommandDigest, window_max: u32) {
        let session = self.principals.get_mut(name).expect("only registered principals' commands are remembered");
        assert!(!session.window.contains_key(&id), "an id is remembered once");
        self.digest.add(&id_hash(name, id, seq, &digest));
        session.window.insert(id, (seq, digest));
        while session.window.len() > window_max.max(1) as usize {
            let (old_id, (old_seq, old_digest)) = session.window.pop_first().expect("window is not empty");
            self.digest.remove(&id_hash(name, old_id, old_seq, &old_digest));
            if let Some(previous) = session.watermark {
                self.digest.remove(&watermark_hash(name, previous));
            }
            let watermark = session.watermark.map_or(old_id, |w| w.max(old_id));
            session.watermark = Some(watermark);
            self.digest.add(&watermark_hash(name, watermark));
        }
    }

    /// Shrinks every window to `window_max` ids (after the limit was lowered).
    pub fn trim(&mut self, window_max: u32) {
        let names: Vec<String> =
            self.principals.iter().filter(|(_, s)| s.window.len() > window_max as usize).map(|(n, _)| n.clone()).collect();
        for name in names {
            let session = self.principals.get_mut(&name).expect("listed above");
            let mut forgotten = Vec::new();
            while session.window.len() > window_max.max(1) as usize {
                forgotten.push(session.window.pop_first().expect("window is not empty"));
            }
            let previous = session.watermark;
            let watermark = forgotten.iter().map(|(id, _)| *id).chain(previous).max();
            session.watermark = watermark;
            for (id, (seq, digest)) in forgotten {
                self.digest.remove(&id_hash(&name, id, seq, &digest));
            }
            if let Some(p) = previous {
                self.digest.remove(&watermark_hash(&name, p));
            }
            if let Some(w) = watermark {
                self.digest.add(&watermark_hash(&name, w));
            }
        }
    }

    pub fn digest(&self) -> [u8; 32] {
        self.digest.to_bytes()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Session)> {
        self.principals.iter()
    }

    /// Rebuilds from a snapshot image (digest recomputed).
    pub fn from_sessions(entries: Vec<(String, Session)>) -> Sessions {
        let mut sessions = Sessions::default();
        for (name, session) in entries {
            sessions.digest.add(&principal_hash(&name, session.role));
            for (&id, &(seq, digest)) in &session.window {
                sessions.digest.add(&id_hash(&name, id, seq, &digest));
            }
            if let Some(w) = session.watermark {
                sessions.digest.add(&watermark_hash(&name, w));
            }
            sessions.principals.insert(name, session);
        }
        sessions
    }
}

fn principal_hash(name: &str, role: Role) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"principal");
    h.update(&(name.len() as u32).to_le_bytes());
    h.update(name.as_bytes());
    h.update(&[role as u8]);
    *h.finalize().as_bytes()
}

fn id_hash(name: &str, id: u64, seq: u64, digest: &CommandDigest) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"id");
    h.update(&(name.len() as u32).to_le_bytes());
    h.update(name.as_bytes());
    h.update(&id.to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(digest);
    *h.finalize().as_bytes()
}

fn watermark_hash(name: &str, watermark: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"watermark");
    h.update(&(name.len() as u32).to_le_bytes());
    h.update(name.as_bytes());
    h.update(&watermark.to_le_bytes());
    *h.finalize().as_bytes()
}
