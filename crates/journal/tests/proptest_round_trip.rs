//! Property: any sequence of batches (arbitrary payload bytes, including empty ones), with snapshots and
//! reopens at arbitrary batch boundaries, recovers to exactly what was appended.

mod common;

use common::{OwnedBatch, Scratch, assert_batches_eq, open};
use journal::{BatchId, JournalStore, Seq, SnapshotIn, StateHash};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Step {
    records: Vec<(Vec<u8>, Vec<u8>)>,
    state_hash: [u8; 32],
    snapshot: Option<Vec<u8>>,
    reopen: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::collection::vec((prop::collection::vec(any::<u8>(), 0..48), prop::collection::vec(any::<u8>(), 0..24)), 1..6),
        any::<[u8; 32]>(),
        prop::option::weighted(0.3, prop::collection::vec(any::<u8>(), 0..64)),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(records, state_hash, snapshot, reopen)| Step { records, state_hash, snapshot, reopen })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_batch_sequences_round_trip(steps in prop::collection::vec(step(), 1..10)) {
        let scratch = Scratch::new("prop");
        let mut j = open(&scratch.db());
        let mut appended: Vec<OwnedBatch> = Vec::new();
        let mut latest_snapshot: Option<(usize, Vec<u8>)> = None;
        let mut seq = 0u64;
        for (i, st) in steps.iter().enumerate() {
            let batch = OwnedBatch {
                records: st.records.iter().map(|(c, r)| { seq += 1; (seq, c.clone(), r.clone()) }).collect(),
                state_hash: StateHash(st.state_hash),
            };
            let receipt = batch.append(&mut j).expect("append");
            prop_assert_eq!(receipt.batch_id, BatchId(i as u64 + 1));
            prop_assert_eq!(receipt.last_seq, Seq(seq));
            appended.push(batch);
            if let Some(state) = &st.snapshot {
                j.write_snapshot(&SnapshotIn {
                    last_seq: Seq(seq),
                    batch_id: BatchId(i as u64 + 1),
                    state_hash: StateHash(st.state_hash),
                    state,
                }).expect("snapshot");
                latest_snapshot = Some((i + 1, state.clone()));
            }
            if st.reopen {
                drop(j);
                j = open(&scratch.db());
                prop_assert_eq!(j.last_seq(), Seq(seq));
            }
        }
        drop(j);
        let mut j = open(&scratch.db());
        let rec = j.recover().expect("recover");
        prop_assert_eq!(rec.head.last_seq, Seq(seq));
        prop_assert_eq!(rec.verified_records, seq);
        let tail_from = match (&rec.snapshot, &latest_snapshot) {
            (None, None) => 0,
            (Some(s), Some((batch, state))) => {
                prop_assert_eq!(s.batch_id, BatchId(*batch as u64));
                prop_assert_eq!(&s.state, state);
                prop_assert_eq!(s.state_hash, appended[batch - 1].state_hash);
                *batch
            }
            (got, want) => {
                return Err(TestCaseError::fail(format!("snapshot {got:?} vs expected {want:?}")));
            }
        };
        assert_batches_eq(&rec.batches, &appended[tail_from..]);
        assert_batches_eq(&j.recover_from_genesis().expect("genesis").batches, &appended);
    }
}
