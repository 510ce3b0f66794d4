//! The scripted day of derivatives (`examples/commands/day.jsonl`) through the journal: a fresh
//! `verify` process replays it to the state hash an in-memory engine reaches, and `statement`
//! prints each account's statement, reconciled with the ledger to the unit, as a table and as
//! JSON whose balances equal the in-memory engine's.

use engine::{Engine, Envelope};
use std::path::Path;
use std::process::Command as Process;

const DAY: &str = include_str!("../../../examples/commands/day.jsonl");

fn clearhouse(journal: &Path, args: &[&str]) -> std::process::Output {
    Process::new(env!("CARGO_BIN_EXE_clearhouse")).arg("--journal").arg(journal).args(args).output().expect("run clearhouse")
}

fn in_memory() -> Engine {
    let mut engine = Engine::with_genesis(engine::StateConfig::from_model(&model::Config::default_config())).unwrap();
    for line in DAY.lines() {
        let envelope: Envelope = serde_json::from_str(line).unwrap();
        assert!(matches!(engine.apply(&envelope), engine::Outcome::Applied { .. }), "{line}");
    }
    engine
}

#[test]
fn the_day_replays_in_a_fresh_process_and_every_statement_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let (file, journal) = (dir.path().join("day.jsonl"), dir.path().join("journal.sqlite"));
    std::fs::write(&file, DAY).unwrap();
    let run = clearhouse(&journal, &["run", file.to_str().unwrap(), "--batch", "7"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut engine = in_memory();
    let verify = clearhouse(&journal, &["verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let expected = format!("state hash {}", node::hex(&engine.state_hash()));
    assert!(String::from_utf8_lossy(&verify.stdout).lines().any(|l| l == expected), "{}", String::from_utf8_lossy(&verify.stdout));
    for account in ["alice/main", "bob/main", "carol/main"] {
        let table = clearhouse(&journal, &["statement", account]);
        assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(text.contains("reconciled with the ledger to the unit"), "{text}");
        let json = clearhouse(&journal, &["statement", account, "--json"]);
        let statement: statement::Statement = serde_json::from_slice(&json.stdout).unwrap();
        let ledger = engine.balances().into_iter().find(|r| r.account == account && r.asset == "USDC").unwrap();
        assert_eq!(statement.balances["USDC"], ledger.posted, "{account}");
    }
    // carol's statement shows her borrow and its repayment; alice's the call paid at expiry.
    let carol = String::from_utf8_lossy(&clearhouse(&journal, &["statement", "carol/main"]).stdout).to_string();
    assert!(carol.contains("borrow") && carol.contains("interest"), "{carol}");
    let alice = String::from_utf8_lossy(&clearhouse(&journal, &["statement", "alice/main"]).stdout).to_string();
    assert!(alice.contains("ETH-20261225-3000-C expiry at"), "{alice}");
    let unknown = clearhouse(&journal, &["statement", "dave/main"]);
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("no trader account"));
}
