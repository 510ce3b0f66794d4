//! `clearhouse risk-model` and `clearhouse margin --model` end to end on the embedded calibration
//! (chosen explicitly, so the test needs no market-data directory): the model file decodes, its
//! digest is the one printed, two runs write the same bytes, and the integer margin printed beside
//! the f64 one is within the documented bound of it.

use std::path::Path;
use std::process::Command;

fn clearhouse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(args)
        .env("CLEARHOUSE_MARKET_DATA", "/nonexistent")
        .output()
        .expect("clearhouse runs")
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios").join(name).to_string_lossy().into_owned()
}

#[test]
fn risk_model_from_the_embedded_calibration_is_deterministic_and_margins_a_book() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.postcard"), dir.path().join("b.postcard"));
    let book = example("naked_long_eth_perp.toml");
    for out in [&a, &b] {
        let o = clearhouse(&["risk-model", "--embedded-calibration", "--portfolio", &book, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "same inputs, same model bytes");
    let model: margin_core::RiskModel = postcard::from_bytes(&bytes).unwrap();
    model.validate().unwrap();
    assert_eq!(model.fhs_scenarios, 0, "the embedded calibration has no FHS scenarios");
    let o = clearhouse(&["risk-model", "--embedded-calibration", "--portfolio", &book, "--out", a.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    let digest: String = model.digest().iter().map(|x| format!("{x:02x}")).collect();
    assert!(printed.contains(&digest), "the digest printed is the file's: {printed}");

    let o = clearhouse(&["margin", &book, "--model", a.to_str().unwrap(), "--embedded-calibration", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let integer: f64 = v["initial_margin_usd"].as_str().unwrap().parse().unwrap();
    let f64_im = v["f64_initial_margin_usd"].as_f64().unwrap();
    // 100 ETH perps: B = 100 micro-USD; the liquidity chord at most 0.25% of a small charge.
    assert!(integer >= f64_im - 1e-4 && integer <= f64_im * (1.0 + 1e-4) + 1.0, "integer {integer} vs f64 {f64_im}");
    assert_eq!(v["model_digest"].as_str().unwrap(), digest);
}

#[test]
fn without_market_data_or_the_flag_risk_model_fails_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.postcard");
    let o = clearhouse(&["risk-model", "--as-of", "2024-12-31", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--embedded-calibration"));
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_book_holding_what_the_model_lacks_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.postcard");
    let o = clearhouse(&[
        "risk-model",
        "--embedded-calibration",
        "--portfolio",
        &example("naked_long_eth_perp.toml"),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = clearhouse(&["margin", &example("delta_hedged_lp.toml"), "--model", model.to_str().unwrap(), "--embedded-calibration"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not in the risk model") && err.contains("--portfolio"), "{err}");
}
