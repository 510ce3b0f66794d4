//! The README's first command: `clearhouse` with no arguments runs the scripted day on real
//! prices (or, without the market-data directory, on the embedded calibration after a notice).
//! Checked: the refusals happen with their numbers (required above available), the option
//! expires, funding is paid, the house fills, every statement reconciles with the ledger, and a
//! fresh `verify` process replays the journal to the same state hash.

use std::path::Path;
use std::process::Command as Process;

fn clearhouse(dir: &Path, args: &[&str]) -> String {
    let o = Process::new(env!("CARGO_BIN_EXE_clearhouse")).current_dir(dir).args(args).output().expect("run clearhouse");
    assert!(o.status.success(), "{args:?}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// `(required, available)` of the rejection line that starts with `prefix`.
fn numbers(out: &str, prefix: &str) -> (f64, f64) {
    let line = out.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in\n{out}"));
    let after = |key: &str| -> f64 { line.split(key).nth(1).and_then(|t| t.split_whitespace().next()).unwrap().parse().unwrap() };
    (after("initial margin "), after("equity "))
}

fn check_day(out: &str, data_dir: &Path) {
    let rejected: Vec<&str> = out.lines().filter(|l| l.starts_with("rejected: ")).collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    let (required, available) = numbers(out, "rejected: carol place_order: insufficient margin on carol/main");
    assert!(required > available && available > 1_900.0, "{required} {available}");
    let (required, available) = numbers(out, "rejected: carol request_withdrawal: insufficient free collateral on carol/main");
    assert!(required > available && required - available < 1.01, "one unit beyond the free collateral: {required} {available}");
    for event in ["\"house_filled\"", "\"funding_paid\"", "\"option_expired\""] {
        assert!(out.contains(event), "{event} missing:\n{out}");
    }
    assert_eq!(out.matches("reconciled with the ledger to the unit").count(), 3, "{out}");
    assert!(out.contains("withdrawal USDC"), "carol's allowed withdrawal is in her statement:\n{out}");
    assert!(out.lines().any(|l| l.trim_start().starts_with("ETH      -0.05")), "the house's exposure:\n{out}");
    let hash = out.lines().find(|l| l.starts_with("state hash ")).unwrap();
    let config = data_dir.join("config.toml");
    let journal = data_dir.join("journal.sqlite");
    let verify = clearhouse(data_dir, &["--config", config.to_str().unwrap(), "--journal", journal.to_str().unwrap(), "verify"]);
    assert!(verify.contains("replayed with identical results and state hashes"), "{verify}");
    assert!(verify.lines().any(|l| l == hash), "verify's {verify} vs {hash}");
}

#[test]
fn the_day_on_the_embedded_calibration_refuses_reconciles_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("day");
    let out = clearhouse(dir.path(), &["day", "--embedded-calibration", "--data-dir", data.to_str().unwrap()]);
    assert!(out.starts_with("NOTICE: the embedded calibration was chosen"), "{out}");
    assert!(out.contains("NOTICE: venue clearhouse assumed live"), "{out}");
    check_day(&out, &data);
}

#[test]
fn no_arguments_run_the_day_on_the_market_data_or_say_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = clearhouse(dir.path(), &[]);
    let data = out.lines().find_map(|l| l.strip_prefix("replay it: clearhouse --config ")).and_then(|l| l.split("/config.toml").next());
    let data = Path::new(data.expect("the day names its directory")).to_path_buf();
    match marketdata::loader::find_data_dir() {
        Ok(_) => assert!(out.contains("of the market-data directory") && !out.contains("NOTICE: no market-data"), "{out}"),
        Err(_) => assert!(out.starts_with("NOTICE: no market-data directory"), "{out}"),
    }
    check_day(&out, &data);
    std::fs::remove_dir_all(&data).unwrap();
}
