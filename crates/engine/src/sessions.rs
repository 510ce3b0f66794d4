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
//! The state hash commits to the sessions through the engine's session log (every remembered
//! id, in order): windows and watermarks follow from it and the configured window. A snapshot
//! carries the tables themselves with [`Sessions::full_digest`], checked when restoring.
//!
//! The principals are found by a hash of the name (foldhash, seeded per process; two look-ups
//! per command); nothing depends on the hash map's order: every walk over the principals ([`Sessions::iter`],
//! [`Sessions::roles`], [`Sessions::full_digest`]) is in name order.

use foldhash::HashMap;
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
    principals: HashMap<String, Session>,
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
        let previous = self.principals.insert(name.to_string(), Session { role, window: BTreeMap::new(), watermark: None });
        assert!(previous.is_none(), "a principal is registered once");
    }

    /// The principal's role and what its session says about `id`; `None` if not registered.
    pub fn lookup(&self, name: &str, id: u64) -> Option<(Role, Seen)> {
        let session = self.principals.get(name)?;
        let seen = if let Some(&(first_seq, digest)) = session.window.get(&id) {
            Seen::Remembered { first_seq, digest }
        } else {
            match session.watermark {
                Some(watermark) if id <= watermark => Seen::TooOld { watermark },
                _ => Seen::New,
            }
        };
        Some((session.role, seen))
    }

    /// Remembers a journalled command; forgets the smallest ids beyond the window.
    pub fn remember(&mut self, name: &str, id: u64, seq: u64, digest: CommandDigest, window_max: u32) {
        let session = self.principals.get_mut(name).expect("only registered principals' commands are remembered");
        let previous = session.window.insert(id, (seq, digest));
        assert!(previous.is_none(), "an id is remembered once");
        session.forget_beyond(window_max);
    }

    /// Shrinks every window to `window_max` ids (after the limit was lowered).
    pub fn trim(&mut self, window_max: u32) {
        for session in self.principals.values_mut() {
            session.forget_beyond(window_max);
        }
    }

    /// BLAKE3 over every session in name order (for snapshots; O(all remembered ids)).
    pub fn full_digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"clearhouse.sessions");
        for (name, s) in self.iter() {
            h.update(&(name.len() as u32).to_le_bytes());
            h.update(name.as_bytes());
            h.update(&[s.role as u8]);
            h.update(&s.watermark.map_or([0xff; 9], |w| {
                let mut b = [0u8; 9];
                b[1..].copy_from_slice(&w.to_le_bytes());
                b
            }));
            h.update(&(s.window.len() as u64).to_le_bytes());
            for (id, (seq, digest)) in &s.window {
                h.update(&id.to_le_bytes());
                h.update(&seq.to_le_bytes());
                h.update(digest);
            }
        }
        *h.finalize().as_bytes()
    }

    /// Every principal's session, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Session)> {
        let mut all: Vec<(&String, &Session)> = self.principals.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    pub fn from_sessions(entries: Vec<(String, Session)>) -> Sessions {
        Sessions { principals: entries.into_iter().collect() }
    }
}

impl Session {
    fn forget_beyond(&mut self, window_max: u32) {
        while self.window.len() > window_max.max(1) as usize {
            let (old_id, _) = self.window.pop_first().expect("window is not empty");
            self.watermark = Some(self.watermark.map_or(old_id, |w| w.max(old_id)));
        }
    }
}
