//! Finding 10 end to end: every date the command line reads (flags, portfolio files, the
//! configuration, market-data CSV files) goes through the one date library, and an impossible date
//! (2023-02-31, 2024-02-30, month 13, hour 24) ends the command with exit code 1 and a message that
//! names the value and where it came from. Nothing is rolled over into a neighbouring date.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn clearhouse(dir: &Path, args: &[&str], market_data: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clearhouse"));
    cmd.current_dir(dir).arg("--journal").arg(dir.join("journal.sqlite")).args(args);
    if let Some(m) = market_data {
        cmd.env("CLEARHOUSE_MARKET_DATA", m);
    }
    cmd.output().expect("run clearhouse")
}

/// The command failed cleanly (exit 1, no panic) and its message names `value` and `origin`.
fn assert_refused(out: &Output, value: &str, origin: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(value) && stderr.contains(origin), "expected {value:?} from {origin:?} in: {stderr}");
}

fn portfolio() -> String {
    repo().join("examples/portfolios/basis_trade.toml").display().to_string()
}

/// `margin --as-of`, `backtest --from` and `backtest --to`.
fn check_flags(dir: &Path) {
    let p = portfolio();
    let portfolios = repo().join("examples/portfolios").display().to_string();
    for bad in ["2023-02-31", "2024-02-30", "2023-13-01", "2024-01-01T24:00:00Z"] {
        assert_refused(&clearhouse(dir, &["margin", &p, "--as-of", bad], None), bad, "--as-of");
        assert_refused(&clearhouse(dir, &["backtest", "--portfolios", &portfolios, "--from", bad], None), bad, "--from");
        assert_refused(&clearhouse(dir, &["backtest", "--portfolios", &portfolios, "--to", bad], None), bad, "--to");
    }
}

/// A portfolio file whose `as_of` is 2023-02-31.
fn check_portfolio_file(dir: &Path) {
    let text = std::fs::read_to_string(portfolio()).unwrap();
    assert!(text.contains("as_of = \"2024-12-31T00:00:00Z\""), "fixture changed");
    let bad = dir.join("bad_as_of.toml");
    std::fs::write(&bad, text.replace("as_of = \"2024-12-31T00:00:00Z\"", "as_of = \"2023-02-31\"")).unwrap();
    assert_refused(&clearhouse(dir, &["margin", bad.to_str().unwrap()], None), "2023-02-31", "portfolio `basis_trade` as_of");
}

/// A configuration whose protocol launch date or incident date is impossible.
fn check_config(dir: &Path) {
    let text = model::DEFAULT_CONFIG_TOML;
    for (from, to, key, value) in [
        ("launched = \"2018-09-26\"", "launched = \"2023-02-31\"", "protocols[0].risk.launched", "2023-02-31"),
        ("date = \"2023-03-10\"", "date = \"2024-02-30\"", "protocols[0].risk.incidents[0].date", "2024-02-30"),
    ] {
        assert!(text.contains(from), "fixture changed");
        let path = dir.join("config.toml");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        assert_refused(&clearhouse(dir, &["--config", path.to_str().unwrap(), "margin", &portfolio()], None), value, key);
    }
}

/// A market-data directory whose BTC file (the first the loader reads) holds 2023-02-31.
fn check_market_data_csv(dir: &Path) {
    let data = dir.join("market");
    std::fs::create_dir_all(&data).unwrap();
    let csv = "timestamp,open,high,low,close,volume\n2023-02-28T23:00:00Z,1,1,1,1,1\n2023-02-31T00:00:00Z,1,1,1,1,1\n";
    std::fs::write(data.join("btc_usdt_binance_2019-2024_1h.csv"), csv).unwrap();
    let out = clearhouse(dir, &["margin", &portfolio()], Some(&data));
    assert_refused(&out, "2023-02-31T00:00:00Z", "btc_usdt_binance_2019-2024_1h.csv:3 column timestamp");
}

#[test]
fn date_flags_refuse_impossible_dates() {
    check_flags(tempfile::tempdir().unwrap().path());
}

#[test]
fn finding_10_impossible_dates_refused() {
    let dir = tempfile::tempdir().unwrap();
    check_flags(dir.path());
    check_portfolio_file(dir.path());
    check_config(dir.path());
    check_market_data_csv(dir.path());
}
