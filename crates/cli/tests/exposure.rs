//! `clearhouse exposure`: the broker's total claim per protocol over three portfolio files (two of
//! 1,000,000 USDC, one of 400,000 USDT), checked against each file's own `clearhouse margin` and
//! the failure formula by hand (LGD 0.15 of the claim for a frozen stablecoin, less the account's
//! maintenance margin; docs/protocol-risk.md section 7); and every bad input a clear error.

use std::path::Path;
use std::process::{Command, Output};

fn clearhouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clearhouse")).args(args).output().expect("clearhouse runs")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn write(dir: &Path, name: &str, as_of: &str, asset: &str, amount: &str) {
    let text = format!("name = \"{name}\"\nas_of = \"{as_of}\"\n[[balances]]\nasset = \"{asset}\"\namount = \"{amount}\"\n");
    std::fs::write(dir.join(format!("{name}.toml")), text).expect("write");
}

/// Claim, failure loss and maintenance margin of one protocol in a file's own margin report.
fn own(file: &Path, protocol: &str) -> (f64, f64, f64) {
    let r = json(&clearhouse(&["margin", file.to_str().expect("path"), "--embedded-calibration", "--json"]));
    let p =
        r["margin"]["protocols"].as_array().expect("protocols").iter().find(|p| p["protocol"] == protocol).expect("the protocol").clone();
    let f = |v: &serde_json::Value| v.as_f64().expect("a number");
    (f(&p["claim_usd"]), f(&p["failure_loss_usd"]), f(&r["maintenance_margin"]))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn totals_per_protocol_match_each_accounts_own_margin_and_the_covers_follow() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "a", "2024-12-31", "USDC", "1000000");
    write(dir.path(), "b", "2024-12-31", "USDC", "1000000");
    write(dir.path(), "c", "2024-12-31", "USDT", "400000");
    let d = dir.path().to_str().expect("path");
    let x = json(&clearhouse(&["exposure", "--portfolios", d, "--embedded-calibration", "--insurance-fund-usd", "120000", "--json"]));
    let find = |id: &str| x["protocols"].as_array().expect("protocols").iter().find(|p| p["protocol"] == id).expect(id).clone();
    let (circle, tether) = (find("circle"), find("tether"));
    let (claim_a, loss_a, mm_a) = own(&dir.path().join("a.toml"), "circle");
    let (claim_c, loss_c, mm_c) = own(&dir.path().join("c.toml"), "tether");
    // The frozen stablecoin's loss is LGD 0.15 of the claim; the claim is the balance at its peg.
    assert!(close(loss_a, 0.15 * claim_a) && close(loss_c, 0.15 * claim_c), "{loss_a} {claim_a} {loss_c} {claim_c}");
    assert!((claim_a / 1_000_000.0 - 1.0).abs() < 0.01 && (claim_c / 400_000.0 - 1.0).abs() < 0.01);
    // Two identical USDC accounts: twice one; each leaves its failure loss less its MM uncovered.
    assert!(close(circle["claim_usd"].as_f64().expect("claim"), 2.0 * claim_a), "{circle}");
    let uncovered_circle = 2.0 * (loss_a - mm_a).max(0.0);
    let uncovered_tether = (loss_c - mm_c).max(0.0);
    assert!(close(circle["uncovered_failure_loss_usd"].as_f64().expect("loss"), uncovered_circle), "{circle}");
    assert!(close(tether["claim_usd"].as_f64().expect("claim"), claim_c), "{tether}");
    assert!(close(tether["uncovered_failure_loss_usd"].as_f64().expect("loss"), uncovered_tether), "{tether}");
    // Caps of the embedded risk parameters: circle 500M, tether 200M; neither reached.
    assert_eq!((circle["cap_usd"].as_f64(), circle["above_cap"].as_bool()), (Some(500_000_000.0), Some(false)));
    assert_eq!((tether["cap_usd"].as_f64(), tether["above_cap"].as_bool()), (Some(200_000_000.0), Some(false)));
    // Cover-1 is the largest, cover-2 the two largest; the fund of 120,000 covers one, not two.
    let (cover_1, cover_2) = (uncovered_circle.max(uncovered_tether), uncovered_circle + uncovered_tether);
    assert!(
        close(x["cover_1_usd"].as_f64().expect("cover 1"), cover_1) && close(x["cover_2_usd"].as_f64().expect("cover 2"), cover_2),
        "{x}"
    );
    assert!(cover_1 <= 120_000.0 && cover_2 > 120_000.0, "the fixture straddles the fund: {cover_1} {cover_2}");
    assert_eq!((x["fund_covers_1"].as_bool(), x["fund_covers_2"].as_bool()), (Some(true), Some(false)));
    // The same files named one by one give the same totals; the table names both protocols.
    let files: Vec<String> = ["a", "b", "c"].iter().map(|n| dir.path().join(format!("{n}.toml")).display().to_string()).collect();
    let mut args = vec!["exposure", "--embedded-calibration", "--insurance-fund-usd", "120000", "--json"];
    args.extend(files.iter().map(String::as_str));
    assert_eq!(json(&clearhouse(&args)), x);
    let table = clearhouse(&["exposure", "--portfolios", d, "--embedded-calibration"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("circle") && table.contains("tether") && table.contains("cover-2"), "{table}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().to_str().expect("path").to_string();
    let fails = |args: &[&str], needle: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_clearhouse"))
            .args(args)
            .env("CLEARHOUSE_MARKET_DATA", dir.path().join("no-such-data"))
            .output()
            .expect("clearhouse runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(needle), "{args:?}: {stderr}");
    };
    fails(&["exposure", "--portfolios", &d, "--embedded-calibration"], "no *.toml portfolio");
    fails(&["exposure", "--embedded-calibration"], "no portfolio");
    write(dir.path(), "a", "2024-12-31", "USDC", "1000000");
    write(dir.path(), "b", "2023-03-10", "USDC", "1000000");
    let a = dir.path().join("a.toml").display().to_string();
    fails(&["exposure", "--portfolios", &d, &a, "--embedded-calibration"], "not both");
    fails(&["exposure", "--portfolios", &d, "--embedded-calibration"], "give --as-of");
    // Without the flag, missing market data is an error (never the embedded calibration).
    fails(&["exposure", &a], "market");
    fails(&["exposure", &a, "--embedded-calibration", "--insurance-fund-usd=-1"], "insurance_fund_usd");
    fails(&["exposure", &dir.path().join("absent.toml").display().to_string(), "--embedded-calibration"], "absent.toml");
}
