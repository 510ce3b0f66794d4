//! The hash layouts against an independent implementation: `scripts/gen_chain_fixture.py` computes them in
//! Python from the specification in docs/journal.md with the official BLAKE3 bindings, and wrote
//! `tests/fixtures/chain_v1.txt`. Both the pure functions and the bytes the SQLite journal actually stores
//! must match it.

mod common;

use common::{OwnedBatch, Scratch, open};
use journal::chain::{batch_checksum, head_checksum, record_hash, snapshot_checksum};
use journal::{BatchId, ChainHash, JournalStore, Seq, SnapshotIn, StateHash};

const FIXTURE: &str = include_str!("fixtures/chain_v1.txt");

fn bytes(hex: &str) -> Vec<u8> {
    if hex == "-" {
        return Vec::new();
    }
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit")).collect()
}

fn h32(hex: &str) -> [u8; 32] {
    bytes(hex).try_into().expect("32-byte hash")
}

fn num(s: &str) -> u64 {
    s.parse().expect("decimal")
}

struct Rec {
    seq: u64,
    batch_id: u64,
    prev: [u8; 32],
    command: Vec<u8>,
    result: Vec<u8>,
    hash: [u8; 32],
}

/// (batch_id, first_seq, last_seq, last_hash, state_hash, checksum)
type BatchLine = (u64, u64, u64, [u8; 32], [u8; 32], [u8; 32]);
/// (last_seq, batch_id, state_hash, chain_hash, state, checksum)
type SnapshotLine = (u64, u64, [u8; 32], [u8; 32], Vec<u8>, [u8; 32]);

struct Fixture {
    records: Vec<Rec>,
    batches: Vec<BatchLine>,
    snapshots: Vec<SnapshotLine>,
    heads: Vec<(u64, u64, [u8; 32], [u8; 32])>,
}

fn fixture() -> Fixture {
    let mut f = Fixture { records: vec![], batches: vec![], snapshots: vec![], heads: vec![] };
    for line in FIXTURE.lines().filter(|l| !l.trim().is_empty()) {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t[0] {
            "record" => f.records.push(Rec {
                seq: num(t[1]),
                batch_id: num(t[2]),
                prev: h32(t[3]),
                command: bytes(t[4]),
                result: bytes(t[5]),
                hash: h32(t[6]),
            }),
            "batch" => f.batches.push((num(t[1]), num(t[2]), num(t[3]), h32(t[4]), h32(t[5]), h32(t[6]))),
            "snapshot" => f.snapshots.push((num(t[1]), num(t[2]), h32(t[3]), h32(t[4]), bytes(t[5]), h32(t[6]))),
            "head" => f.heads.push((num(t[1]), num(t[2]), h32(t[3]), h32(t[4]))),
            other => panic!("unknown fixture line kind {other}"),
        }
    }
    assert_eq!(f.records.len(), 6);
    assert_eq!(f.batches.len(), 3);
    f
}

#[test]
fn pure_hash_functions_match_the_python_reference() {
    let f = fixture();
    for r in &f.records {
        let got = record_hash(Seq(r.seq), BatchId(r.batch_id), &ChainHash(r.prev), &r.command, &r.result);
        assert_eq!(got.0, r.hash, "record {}", r.seq);
    }
    for &(id, first, last, last_hash, state_hash, sum) in &f.batches {
        let got = batch_checksum(BatchId(id), Seq(first), Seq(last), &ChainHash(last_hash), &StateHash(state_hash));
        assert_eq!(got, sum, "batch {id}");
    }
    for (last_seq, batch_id, state_hash, chain_hash, state, sum) in &f.snapshots {
        let got = snapshot_checksum(Seq(*last_seq), BatchId(*batch_id), &StateHash(*state_hash), &ChainHash(*chain_hash), state);
        assert_eq!(&got, sum, "snapshot {last_seq}");
    }
    for &(last_seq, batch_id, hash, sum) in &f.heads {
        assert_eq!(head_checksum(Seq(last_seq), BatchId(batch_id), &ChainHash(hash)), sum);
    }
}

#[test]
fn stored_rows_match_the_python_reference() {
    let f = fixture();
    let scratch = Scratch::new("reference");
    {
        let mut j = open(&scratch.db());
        for &(id, first, last, last_hash, state_hash, _) in &f.batches {
            let batch = OwnedBatch {
                records: f
                    .records
                    .iter()
                    .filter(|r| r.seq >= first && r.seq <= last)
                    .map(|r| (r.seq, r.command.clone(), r.result.clone()))
                    .collect(),
                state_hash: StateHash(state_hash),
            };
            let receipt = batch.append(&mut j).expect("append");
            assert_eq!(receipt.batch_id, BatchId(id));
            assert_eq!(receipt.chain_hash.0, last_hash, "batch {id} head");
            for (last_seq, batch_id, sh, _, state, _) in f.snapshots.iter().filter(|s| s.1 == id) {
                j.write_snapshot(&SnapshotIn { last_seq: Seq(*last_seq), batch_id: BatchId(*batch_id), state_hash: StateHash(*sh), state })
                    .expect("snapshot");
            }
        }
    }
    let conn = rusqlite::Connection::open(scratch.db()).expect("raw");
    for r in &f.records {
        let (prev, hash): (Vec<u8>, Vec<u8>) = conn
            .query_row("SELECT prev_hash, hash FROM records WHERE seq = ?1", [r.seq as i64], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("record row");
        assert_eq!(prev, r.prev, "prev_hash of {}", r.seq);
        assert_eq!(hash, r.hash, "hash of {}", r.seq);
    }
    for &(id, .., sum) in &f.batches {
        let stored: Vec<u8> =
            conn.query_row("SELECT checksum FROM batches WHERE batch_id = ?1", [id as i64], |row| row.get(0)).expect("batch row");
        assert_eq!(stored, sum, "batch {id} checksum");
    }
    let (last_seq, .., snap_sum) = &f.snapshots[0];
    let stored: Vec<u8> =
        conn.query_row("SELECT checksum FROM snapshots WHERE last_seq = ?1", [*last_seq as i64], |row| row.get(0)).expect("snapshot row");
    assert_eq!(&stored, snap_sum);
    let head_sum: Vec<u8> = conn.query_row("SELECT checksum FROM head", [], |row| row.get(0)).expect("head row");
    assert_eq!(head_sum, f.heads[0].3);
}
