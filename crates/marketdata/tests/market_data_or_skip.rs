//! The shared skip-or-fail rule for tests that need the raw market data, exercised through the real
//! process environment: this test binary runs itself with `CI` set (or unset) and the data
//! directory pointed at a path that does not exist.

use std::process::{Command, Output};

const PROBE_ENV: &str = "CLEARHOUSE_TEST_SUPPORT_PROBE";

/// Entry point for the child process only: in a normal run (no probe variable) it does nothing.
#[test]
fn probe() {
    if std::env::var_os(PROBE_ENV).is_some() {
        let dir = marketdata::test_support::market_data_or_skip();
        assert_eq!(dir, None, "the probe points the data directory at a missing path");
    }
}

fn run_probe(ci: Option<&str>) -> (Output, String) {
    let missing = std::env::temp_dir().join("clearhouse-no-such-market-data-dir");
    assert!(!missing.exists());
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["probe", "--exact", "--nocapture", "--test-threads=1"])
        .env(PROBE_ENV, "1")
        .env(marketdata::loader::DATA_DIR_ENV, &missing)
        .env_remove("CI");
    if let Some(value) = ci {
        cmd.env("CI", value);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

#[test]
fn finding_12_market_data_tests_fail_under_ci_when_the_data_is_missing() {
    let (out, text) = run_probe(Some("true"));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("the raw market data is required when CI is set"), "{text}");
    assert!(text.contains("clearhouse-no-such-market-data-dir"), "{text}");
    assert!(!text.contains("SKIPPED"), "{text}");
}

#[test]
fn outside_ci_missing_market_data_skips_loudly() {
    let (out, text) = run_probe(None);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SKIPPED: ") && text.contains("raw market data absent"), "{text}");
}
