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
