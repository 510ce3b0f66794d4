//! Every shipped example portfolio computes, prints the fields tools rely on, and is bit-identical
//! from one run to the next. Uses the raw history when present, else the embedded calibration.

use risk::{Portfolio, RiskParams, margin_portfolio, render_json, render_table};
use std::path::PathBuf;

mod common;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios")
}

fn load(name: &str) -> Portfolio {
    let text = std::fs::read_to_string(examples_dir().join(name)).unwrap();
    Portfolio::from_toml(&text).unwrap()
}

const EXAMPLES: [&str; 12] = [
    "btc_eth_pair.toml",
    "short_eth_calls_near_expiry.toml",
    "short_eth_perp.toml",
    "short_eth_straddle.toml",
    "stablecoin_basket.toml",
    "basis_trade.toml",
    "flat_across_venues.toml",
    "delta_hedged_lp.toml",
    "eth_call_spread.toml",
    "steth_leverage_loop.toml",
    "naked_long_eth_perp.toml",
    "stablecoin_book.toml",
];

#[test]
fn every_example_has_a_sensible_explained_margin() {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let data = common::history_or_calibration();
    for name in EXAMPLES {
        let p = load(name);
        let r = margin_portfolio(&config, &params, &p, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(r.initial_margin > 0.0, "{name}");
        assert!((r.maintenance_margin - params.maintenance_fraction * r.initial_margin).abs() <= 1e-9 * r.initial_margin, "{name}");
        assert!(r.margin.guarded_nlv <= r.net_liquidation_value, "{name}");
        assert!(r.comparators.isolated.initial_margin > 0.0 && r.comparators.weighted.initial_margin > 0.0, "{name}");
        let table = render_table(&r);
        assert!(table.contains("initial margin") && table.contains("isolated per protocol"), "{name}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&r).unwrap()).unwrap();
        for path in [
            "/net_liquidation_value",
            "/initial_margin",
            "/maintenance_margin",
            "/comparators/isolated/initial_margin",
            "/comparators/weighted/initial_margin",
        ] {
            assert!(json.pointer(path).and_then(|v| v.as_f64()).is_some(), "{name}: {path}");
        }
    }
}

#[test]
fn margins_are_bit_identical_across_runs() {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let data = common::history_or_calibration();
    for name in ["basis_trade.toml", "eth_call_spread.toml"] {
        let p = load(name);
        let a = margin_portfolio(&config, &params, &p, &data).unwrap();
        let b = margin_portfolio(&config, &params, &p, &data).unwrap();
        assert_eq!(a.initial_margin.to_bits(), b.initial_margin.to_bits(), "{name}");
        assert_eq!(render_json(&a).unwrap(), render_json(&b).unwrap(), "{name}");
    }
}
