//! Random command sequences against the engine: conservation per asset, no unauthorised
//! negative balance, a rejected command changes no balance, and a replay (from scratch or from
//! a snapshot taken midway) reproduces every batch's state hash.

use engine::*;
use model::Config;
use proptest::prelude::*;

const OWNERS: [&str; 3] = ["alice", "bob", "carol"];
const SUBS: [&str; 2] = ["main", "hedge"];
const ASSETS: [&str; 4] = ["USDC", "ETH", "WBTC", "DOGE"];
const AMOUNTS: [&str; 9] = ["1", "0.5", "1000", "123.456789", "0", "-1", "1.0000000000000000001", "abc", "99999999999999999999999"];

fn account() -> impl Strategy<Value = String> {
    (0..OWNERS.len() + 1, 0..SUBS.len()).prop_map(|(o, s)| format!("{}/{}", OWNERS.get(o).copied().unwrap_or("nobody"), SUBS[s]))
}

fn command() -> impl Strategy<Value = Command> {
    let asset = (0..ASSETS.len()).prop_map(|i| ASSETS[i].to_string());
    let amount = (0..AMOUNTS.len()).prop_map(|i| AMOUNTS[i].to_string());
    let custodian = prop_oneof![Just("ethereum".to_string()), Just("dydx".to_string()), Just("moon".to_string())];
    prop_oneof![
        (0..OWNERS.len(), 0..SUBS.len()).prop_map(|(o, s)| Command::CreateAccount { owner: OWNERS[o].into(), sub: SUBS[s].into() }),
        (account(), asset.clone(), amount.clone(), custodian.clone(), 0u8..8).prop_map(|(account, asset, amount, custodian, r)| {
            Command::Deposit { account, asset, amount, custodian, external_ref: format!("0x{r}") }
        }),
        (account(), asset.clone(), amount.clone(), custodian, 0u8..8).prop_map(|(account, asset, amount, custodian, w)| {
            Command::RequestWithdrawal { account, asset, amount, custodian, withdrawal_id: format!("w{w}") }
        }),
        (0u8..8).prop_map(|w| Command::CancelWithdrawal { withdrawal_id: format!("w{w}") }),
        (account(), account(), asset, amount).prop_map(|(from, to, asset, amount)| Command::Transfer { from, to, asset, amount }),
        (account(), any::<bool>()).prop_map(|(account, held)| Command::SetHold { account, held }),
        (0u64..2_000_000).prop_map(|now_ms| Command::AdvanceTime { now_ms }),
        (0..ASSETS.len(), amount_price()).prop_map(|(i, p)| Command::SetPrice { symbol: ASSETS[i].into(), price_usd: p }),
    ]
}

fn amount_price() -> impl Strategy<Value = String> {
    prop_oneof![Just("3000".to_string()), Just("0.9998".to_string()), Just("0".to_string())]
}

fn envelopes() -> impl Strategy<Value = Vec<Envelope>> {
    // Client ids repeat sometimes, to exercise deduplication.
    proptest::collection::vec((0u64..120, command()), 1..150)
        .prop_map(|v| v.into_iter().map(|(id, command)| Envelope { client: "c".into(), id, command }).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn engine_invariants_and_replay(commands in envelopes(), batch in 1usize..20, snapshot_at in 0usize..10) {
        let config = Config::default_config();
        let mut engine = Engine::new(config.clone());
        let mut outcomes = Vec::new();
        let mut hashes = Vec::new();
        let mut snapshot = None;
        for (b, chunk) in commands.chunks(batch).enumerate() {
            for envelope in chunk {
                let balances_before = engine.ledger().balances();
                let outcome = engine.apply(envelope);
                if !matches!(outcome, Outcome::Applied { .. }) {
                    prop_assert_eq!(engine.ledger().balances(), balances_before, "{:?} changed balances", outcome);
                }
                if let Err(broken) = engine.check_invariants() {
                    prop_assert!(false, "after {:?}: {}", envelope, broken);
                }
                outcomes.push(outcome);
            }
            hashes.push(engine.state_hash());
            if b == snapshot_at {
                snapshot = Some((b, engine.encode_snapshot()));
            }
        }
        // Replay from scratch: same outcomes, same hash after every batch.
        let mut replay = Engine::new(config.clone());
        let mut replay_outcomes = Vec::new();
        for (b, chunk) in commands.chunks(batch).enumerate() {
            for envelope in chunk {
                replay_outcomes.push(replay.apply(envelope));
            }
            prop_assert_eq!(replay.state_hash(), hashes[b]);
        }
        prop_assert_eq!(replay_outcomes, outcomes);
        // The hash is canonical: asking for it at other moments (here: only at the end) does not
        // change it.
        let mut once = Engine::new(config.clone());
        for envelope in &commands {
            once.apply(envelope);
        }
        prop_assert_eq!(once.state_hash(), *hashes.last().unwrap());
        // Replay from a snapshot taken after batch `b`.
        if let Some((b, bytes)) = snapshot {
            let mut restored = Engine::decode_snapshot(config, &bytes).unwrap();
            prop_assert_eq!(restored.state_hash(), hashes[b]);
            for (k, chunk) in commands.chunks(batch).enumerate().skip(b + 1) {
                for envelope in chunk {
                    restored.apply(envelope);
                }
                prop_assert_eq!(restored.state_hash(), hashes[k]);
            }
        }
    }
}
