//! Finding 10 (last part): a closed stdout ends a command quietly. Each command runs with stdout a pipe
//! whose read end is closed before the process starts, so its first write fails with EPIPE for certain
//! (no race with a reader): the command must exit 0 without a panic or an error message. `run` still
//! applies its commands (they are the point of it) and `serve` still journals what it read.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs clearhouse with a stdout nobody reads.
fn with_closed_stdout(args: &[&str], stdin: Stdio) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(args)
        .stdin(stdin)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run clearhouse")
}

fn assert_quiet(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(!stderr.contains("error"), "{what}: {stderr}");
    assert_eq!(output.status.code(), Some(0), "{what}: {stderr}");
}

fn state_hash(journal: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_clearhouse")).arg("--journal").arg(journal).arg("verify").output().expect("verify");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().find(|l| l.starts_with("state hash ")).expect("state hash").to_string()
}

#[test]
fn run_verify_and_serve_end_quietly_on_a_closed_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("j.sqlite");
    let j = journal.to_str().expect("utf-8 path");
    assert_quiet(&with_closed_stdout(&["--journal", j, "run"], Stdio::null()), "run");
    // `run` applied the demo although nobody read its output: a second journal written with a reader agrees.
    let reference = dir.path().join("reference.sqlite");
    let output = Command::new(env!("CARGO_BIN_EXE_clearhouse")).arg("--journal").arg(&reference).arg("run").output().expect("run");
    assert!(output.status.success());
    assert_eq!(state_hash(&journal), state_hash(&reference));

    assert_quiet(&with_closed_stdout(&["--journal", j, "verify"], Stdio::null()), "verify");

    let commands = dir.path().join("more.jsonl");
    std::fs::write(
        &commands,
        "{\"client\":\"late\",\"id\":1,\"command\":{\"type\":\"create_account\",\"owner\":\"late\",\"sub\":\"main\"}}\n",
    )
    .expect("write commands");
    let stdin = std::fs::File::open(&commands).expect("open commands");
    assert_quiet(&with_closed_stdout(&["--journal", j, "serve", "--stdin"], Stdio::from(stdin)), "serve");
}

#[test]
fn margin_and_backtest_end_quietly_on_a_closed_stdout() {
    let portfolio = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/portfolios/basis_trade.toml");
    assert_quiet(&with_closed_stdout(&["margin", portfolio], Stdio::null()), "margin");
    assert_quiet(&with_closed_stdout(&["margin", portfolio, "--json"], Stdio::null()), "margin --json");
    let portfolios = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/portfolios");
    let backtest =
        with_closed_stdout(&["backtest", "--portfolios", portfolios, "--from", "2024-12-01", "--to", "2024-12-05"], Stdio::null());
    if String::from_utf8_lossy(&backtest.stderr).contains("needs the raw market history") {
        assert!(std::env::var_os("CI").is_none(), "CI is set but the market data is missing (set CLEARHOUSE_MARKET_DATA)");
        eprintln!("SKIPPED: backtest part, no market data");
        return;
    }
    assert_quiet(&backtest, "backtest");
}
