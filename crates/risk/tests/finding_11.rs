//! Finding 11 (issue 8): every tunable is in risk.toml and takes effect; unknown keys and
//! incomplete tables are refused (no silent 1.0); the comparator's option weights are the
//! documented 0.5/1.5.

use risk::params::DEFAULT_RISK_PARAMS_TOML as BASE;
use risk::report::{compute, report_of};
use risk::{MarketData, Portfolio, RiskParams};

mod common;

fn edited(from: &str, to: &str) -> Result<RiskParams, risk::RiskError> {
    assert!(BASE.contains(from), "{from}");
    RiskParams::from_toml(&BASE.replacen(from, to, 1))
}

#[test]
fn finding_11_unknown_or_missing_keys_are_refused() {
    let e = edited("then_floor_fraction = 0.25", "then_floor_fraction = 0.25\nlambda = 0.9").unwrap_err();
    assert!(e.to_string().contains("lambda"), "{e}");
    // A misspelt multiplier used to become 1.0 silently.
    let e = edited("pull_network = 1.5", "pull_netwrk = 1.5").unwrap_err();
    assert!(e.to_string().contains("pull_network") || e.to_string().contains("pull_netwrk"), "{e}");
    let e = edited("lending = 0.3\n", "").unwrap_err();
    assert!(e.to_string().contains("`lending`"), "{e}");
    let e = edited("option = [0.5, 1.5]\n", "").unwrap_err();
    assert!(e.to_string().contains("`option`"), "{e}");
    let e = edited("lp_share = 1000000.0\n", "").unwrap_err();
    assert!(e.to_string().contains("default_depth_usd"), "{e}");
    for key in ["rate_annual = 0.0\n", "stableswap_amp_default = 2000.0\n", "quantile = 0.995\n", "ewma_seed_hours = 168\n"] {
        assert!(edited(key, "").is_err(), "{key} is required");
    }
}

fn report(params: &RiskParams, body: &str) -> risk::MarginReport {
    let config = model::Config::default_config();
    let data = match common::history() {
        Some(_) => MarketData::load(params).unwrap(),
        None => MarketData::embedded_calibration().unwrap(),
    };
    let p = Portfolio::from_toml(&format!("name = \"f11\"\nas_of = \"2024-12-31\"\n{body}")).unwrap();
    let c = compute(&config, params, &p, &data, None, None).unwrap();
    report_of(&config, params, &p, &data, &c)
}

#[test]
fn finding_11_tunables_take_effect_and_option_weights_are_documented() {
    let call = "[[positions]]\ninstrument = \"ETH-20261225-3000-C@opyn\"\nquantity = \"10\"\n";
    let base = RiskParams::default_params();
    let r0 = report(&base, call);
    // Mango-style weight of an option: 0.5 (docs/margin-methodology.md section 9).
    let value = r0.margin.contributions[0].value_usd;
    let w = r0.comparators.weighted.initial_margin;
    assert!((w - 0.5 * value).abs() < 1e-9 * value, "weighted {w} for an option worth {value}");
    // The rate is read from risk.toml: a 5% rate raises a 2-year call's value.
    let r5 = report(&edited("rate_annual = 0.0", "rate_annual = 0.05").unwrap(), call);
    assert!(r5.net_liquidation_value > r0.net_liquidation_value * 1.02, "{} vs {}", r5.net_liquidation_value, r0.net_liquidation_value);
    // The EWMA decay is read from risk.toml (FHS rescaling): the ES changes.
    if common::history().is_some() {
        let eth = "[[balances]]\nasset = \"ETH\"\namount = \"10\"\n";
        let a = report(&base, eth).margin.es_fhs;
        let b = report(&edited("ewma_lambda_daily = 0.94", "ewma_lambda_daily = 0.99").unwrap(), eth).margin.es_fhs;
        assert!((a - b).abs() > 1e-6 * a, "ES {a} unchanged by the EWMA decay");
    }
}

#[test]
fn a_stableswap_market_needs_its_amplification_and_no_other_kind_takes_one() {
    let e = edited("amp = 100.0\n", "").unwrap_err();
    assert!(e.to_string().contains("sBTC") && e.to_string().contains("amp"), "{e}");
    let e = edited("kind = \"stableswap\"", "kind = \"amm\"").unwrap_err();
    assert!(e.to_string().contains("amp is only for a stableswap"), "{e}");
    let e = edited("amp = 100.0\n", "amp = 0.5\n").unwrap_err();
    assert!(e.to_string().contains("amp"), "{e}");
    let ok = edited("amp = 100.0\n", "amp = 1000.0\n").unwrap();
    let m = ok.liquidity.markets.iter().find(|m| m.market == "sBTC").unwrap();
    assert_eq!((m.kind, m.amp), (risk::params::DepthKind::Stableswap, Some(1000.0)));
}
