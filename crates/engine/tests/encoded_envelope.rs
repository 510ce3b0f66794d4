//! The journal's encoding of an envelope, made once (`EncodedEnvelope`), is byte for byte
//! `serde_json::to_vec(envelope)`, and applying it decides and changes exactly what `apply`
//! does: the same outcomes and the same state hash after the scripted day.

use engine::{Command, EncodedEnvelope, Engine, Envelope, StateConfig};

const DAY: &str = include_str!("../../../examples/commands/day.jsonl");
const DEMO: &str = include_str!("../../../examples/commands/demo.jsonl");

fn envelopes(lines: &str) -> Vec<Envelope> {
    lines.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a scripted envelope")).collect()
}

fn genesis() -> Engine {
    Engine::with_genesis(StateConfig::from_model(&model::Config::default_config())).expect("genesis")
}

#[test]
fn the_encoding_is_serdes_and_its_command_part_is_the_commands() {
    let mut all = envelopes(DAY);
    all.extend(envelopes(DEMO));
    // Names and strings that need escaping, and the largest id.
    let odd = Command::SetPrice { symbol: "E\"T\\H\u{7}\u{e9}".into(), price_usd: "1\n".into() };
    all.push(Envelope { client: "q\"uo\\te\u{1}é".into(), id: u64::MAX, command: odd });
    assert!(all.len() > 150);
    for envelope in &all {
        let encoded = EncodedEnvelope::new(envelope);
        assert_eq!(encoded.command_bytes(), serde_json::to_vec(&envelope.command).unwrap().as_slice());
        assert_eq!(encoded.into_bytes(), serde_json::to_vec(envelope).unwrap());
    }
}

#[test]
fn applying_the_encoding_is_applying_the_envelope() {
    let (mut plain, mut encoded) = (genesis(), genesis());
    let mut all = envelopes(DAY);
    // A retry (duplicate) and an id reused with another command (refused).
    all.push(all[20].clone());
    let mut reused = all[21].clone();
    reused.command = Command::SetPrice { symbol: "ETH".into(), price_usd: "1".into() };
    all.push(reused);
    let mut applied = 0;
    for envelope in &all {
        let a = plain.apply(envelope);
        let b = encoded.apply_encoded(&EncodedEnvelope::new(envelope));
        applied += a.seq().is_some() as usize;
        assert_eq!(a, b, "{envelope:?}");
    }
    assert!(applied > 100, "the day applies: {applied}");
    assert_eq!(plain.state_hash(), encoded.state_hash());
}

mod written_by_hand {
    //! The transfer and its outcome are written field by field (`write_command`,
    //! `write_outcome`); on any strings, quotes, backslashes, control and non-ASCII characters
    //! included, the bytes are serde_json's.
    use engine::{Command, EncodedEnvelope, Envelope, Event, Outcome, write_command, write_outcome};
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9/_.-]{1,24}",
            any::<String>(),
            proptest::collection::vec(prop_oneof![Just('"'), Just('\\'), Just('\u{1}'), Just('\u{7f}'), Just('é'), Just('a')], 0..8)
                .prop_map(|c| c.into_iter().collect()),
        ]
    }

    fn reason() -> impl Strategy<Value = ledger::Reason> {
        use ledger::Reason::*;
        proptest::sample::select(vec![Deposit, Withdrawal, InternalTransfer, Trade, Fee, OrderHold, Funding])
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            3 => (text(), text(), text(), text(), reason())
                .prop_map(|(debit, credit, asset, amount, reason)| Event::Transferred { debit, credit, asset, amount, reason }),
            1 => (text(), text()).prop_map(|(symbol, price_usd)| Event::PriceSet { symbol, price_usd }),
        ]
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            4 => (any::<u64>(), proptest::collection::vec(event(), 0..4)).prop_map(|(seq, events)| Outcome::Applied { seq, events }),
            1 => any::<u64>().prop_map(|first_seq| Outcome::Duplicate { first_seq }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]
        #[test]
        fn a_transfer_is_written_as_serde_json_writes_it(
            client in text(), id in any::<u64>(), from in text(), to in text(), asset in text(), amount in text(),
        ) {
            let envelope = Envelope { client, id, command: Command::Transfer { from, to, asset, amount } };
            let mut bytes = Vec::new();
            write_command(&mut bytes, &envelope.command);
            prop_assert_eq!(&bytes, &serde_json::to_vec(&envelope.command).unwrap());
            let encoded = EncodedEnvelope::new(&envelope);
            prop_assert_eq!(encoded.command_bytes(), bytes.as_slice());
            prop_assert_eq!(encoded.into_bytes(), serde_json::to_vec(&envelope).unwrap());
        }

        #[test]
        fn an_outcome_is_written_as_serde_json_writes_it(outcome in outcome()) {
            let mut bytes = Vec::new();
            write_outcome(&mut bytes, &outcome);
            prop_assert_eq!(bytes, serde_json::to_vec(&outcome).unwrap());
        }
    }
}
