//! An append-only log of facts folded into a hash chain in fixed chunks: every
//! [`LOG_CHUNK_FACTS`] facts, `digest = blake3(digest || chunk)`. The chunk boundaries depend
//! only on the sequence of facts, never on when a hash is asked for, so the value is canonical;
//! the partial chunk is hashed as it stands. Cost: about one byte of hashing per byte of fact,
//! amortised, instead of one hash call per fact.

use serde::{Deserialize, Serialize};

/// Facts per chunk of the chain.
pub const LOG_CHUNK_FACTS: u32 = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactLog {
    digest: [u8; 32],
    /// The partial chunk not yet folded into `digest`.
    buffer: Vec<u8>,
    facts: u32,
}

impl FactLog {
    /// Appends one fact: a tag, length-prefixed byte strings, two integers.
    pub fn push(&mut self, tag: u8, parts: &[&[u8]], a: u64, b: u64) {
        self.buffer.push(tag);
        for part in parts {
            self.buffer.extend_from_slice(&(part.len() as u32).to_le_bytes());
            self.buffer.extend_from_slice(part);
        }
        self.buffer.extend_from_slice(&a.to_le_bytes());
        self.buffer.extend_from_slice(&b.to_le_bytes());
        self.facts += 1;
        if self.facts == LOG_CHUNK_FACTS {
            let mut chain = blake3::Hasher::new();
            chain.update(&self.digest);
            chain.update(&self.buffer);
            self.digest = *chain.finalize().as_bytes();
            self.buffer.clear();
            self.facts = 0;
        }
    }

    pub fn hash_into(&self, h: &mut blake3::Hasher) {
        h.update(&self.digest);
        h.update(&(self.buffer.len() as u64).to_le_bytes());
        h.update(&self.buffer);
    }

    /// A restored log is well formed: its partial chunk is partial.
    pub fn is_well_formed(&self) -> bool {
        self.facts < LOG_CHUNK_FACTS && (self.facts == 0) == self.buffer.is_empty()
    }
}
