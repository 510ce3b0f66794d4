//! Replay in a fresh process: random command files are applied by `clearhouse run` into a
//! journal; a separate `clearhouse verify` process recovers and replays that journal and must
//! print the state hash that an in-memory engine reaches on the same commands. Also: a damaged
//! journal is refused by `verify` with a clear report, and a non-journal file is refused.

use engine::{Command, Engine, Envelope};
use proptest::prelude::*;
use std::path::Path;
use std::process::Command as Process;

fn clearhouse(journal: &Path, args: &[&str]) -> std::process::Output {
    Process::new(env!("CARGO_BIN_EXE_clearhouse")).arg("--journal").arg(journal).args(args).output().expect("run clearhouse")
}

fn state_hash_line(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout).lines().find(|l| l.starts_with("state hash ")).expect("state hash printed").to_string()
}

fn command() -> impl Strategy<Value = Command> {
    let account = (0u8..3, 0u8..2).prop_map(|(o, s)| format!("o{o}/{}", ["main", "hedge"][s as usize]));
    let amount = prop_oneof![
        Just("1".to_string()),
        Just("2.5".to_string()),
        Just("1000".to_string()),
        Just("-1".to_string()),
        Just("0.0000001".to_string())
    ];
    let asset = prop_oneof![Just("USDC".to_string()), Just("ETH".to_string()), Just("XYZ".to_string())];
    prop_oneof![
        (0u8..3, 0u8..2).prop_map(|(o, s)| Command::CreateAccount { owner: format!("o{o}"), sub: ["main", "hedge"][s as usize].into() }),
        (account.clone(), asset.clone(), amount.clone(), 0u8..6).prop_map(|(account, asset, amount, r)| Command::Deposit {
            account,
            asset,
            amount,
            custodian: "ethereum".into(),
            external_ref: format!("tx{r}")
        }),
        (account.clone(), account.clone(), asset.clone(), amount.clone()).prop_map(|(from, to, asset, amount)| Command::Transfer {
            from,
            to,
            asset,
            amount
        }),
        (account, asset, amount, 0u8..4).prop_map(|(account, asset, amount, w)| Command::RequestWithdrawal {
            account,
            asset,
            amount,
            custodian: "arbitrum".into(),
            destination: "0xd".into(),
            withdrawal_id: format!("w{w}")
        }),
        (0u8..4, 0u8..4).prop_map(|(w, c)| Command::ConfirmWithdrawal { withdrawal_id: format!("w{w}"), chain_ref: format!("0xc{c}") }),
        (0u64..3_000_000).prop_map(|now_ms| Command::AdvanceTime { now_ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn fresh_process_replay_gives_the_in_memory_state_hash(commands in proptest::collection::vec((0usize..5, 0u64..80, command()), 1..120), batch in 1usize..40) {
        let senders = ["operator", "o0", "o1", "o2", "mallory"];
        let register = (0..3).map(|o| Envelope {
            client: "operator".into(),
            id: 1000 + o,
            command: Command::RegisterPrincipal { name: format!("o{o}"), role: model::Role::Owner },
        });
        let envelopes: Vec<Envelope> =
            register.chain(commands.into_iter().map(|(p, id, command)| Envelope { client: senders[p].into(), id, command })).collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("commands.jsonl");
        let journal = dir.path().join("journal.sqlite");
        std::fs::write(&file, envelopes.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect::<String>()).unwrap();
        let run = clearhouse(&journal, &["run", file.to_str().unwrap(), "--batch", &batch.to_string()]);
        prop_assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let verify = clearhouse(&journal, &["verify"]);
        prop_assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
        let mut engine = Engine::with_genesis(engine::StateConfig::from_model(&model::Config::default_config())).unwrap();
        for e in &envelopes {
            engine.apply(e);
        }
        let expected = format!("state hash {}", node::hex(&engine.state_hash()));
        prop_assert_eq!(state_hash_line(&run.stdout), expected.clone());
        prop_assert_eq!(state_hash_line(&verify.stdout), expected);
    }
}

#[test]
fn verify_refuses_a_damaged_journal_with_a_clear_report() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.sqlite");
    assert!(clearhouse(&journal, &["run"]).status.success());
    assert!(clearhouse(&journal, &["verify"]).status.success());
    // Flip one byte inside a journalled result (a balance in a deposit's outcome).
    let connection = rusqlite::Connection::open(&journal).unwrap();
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type='table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let records = tables.iter().find(|t| t.contains("record")).expect("a records table").clone();
    let blob: Vec<u8> = connection.query_row(&format!("SELECT result FROM {records} WHERE seq = 9"), [], |r| r.get(0)).unwrap();
    let mut damaged = blob.clone();
    let position = damaged.iter().position(|b| b.is_ascii_digit()).unwrap();
    damaged[position] = if damaged[position] == b'9' { b'8' } else { damaged[position] + 1 };
    connection.execute(&format!("UPDATE {records} SET result = ?1 WHERE seq = 9"), [damaged]).unwrap();
    drop(connection);
    let out = clearhouse(&journal, &["verify"]);
    assert!(!out.status.success(), "a damaged journal must be refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("9"), "the report names the record: {stderr}");
    assert!(
        stderr.contains("seq 9") && stderr.contains("checksum") && stderr.contains("altered"),
        "the report says what is wrong: {stderr}"
    );

    // A file that is not a journal.
    let other = dir.path().join("not-a-journal.sqlite");
    std::fs::write(&other, b"hello, this is not sqlite").unwrap();
    let out = clearhouse(&other, &["verify"]);
    assert!(!out.status.success());
}
