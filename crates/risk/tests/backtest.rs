//! The backtest on a short window around March 2020 (fast in a debug build): the negative control
//! (no stress floor, one-hour margin period) must fail where the model holds, proving the backtest
//! can fail. Skips loudly when the raw market history is absent (fails under `CI`).

use risk::backtest::{BacktestOptions, im_exceedances_between, run_suite};
use risk::{MarketData, Portfolio, RiskParams};

mod common;

#[test]
fn the_negative_control_fails_in_march_2020() {
    let Some(MarketData::Panel { panel, vol_model }) = common::history() else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios");
    let p = Portfolio::from_toml(&std::fs::read_to_string(dir.join("naked_long_eth_perp.toml")).unwrap()).unwrap();
    let opts = BacktestOptions {
        from: marketdata::Hour::from_ymdh(2020, 3, 5, 0),
        to: marketdata::Hour::from_ymdh(2020, 3, 20, 0),
        step_hours: 24,
        realised_hours: 24,
        threads: 2,
    };
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let runs = run_suite(&config, &params, &[p], &panel, &vol_model, &opts).unwrap();
    let model_ex = im_exceedances_between(&runs[0], "2020-03-01", "2020-04-01");
    let control_ex = im_exceedances_between(&runs[1], "2020-03-01", "2020-04-01");
    assert!(!runs[1].stress_floor && runs[1].mpor_hours == 1);
    assert!(control_ex.len() >= 2, "control: {control_ex:?}");
    assert!(control_ex.iter().any(|(_, d, _, _)| d.starts_with("2020-03-12")), "{control_ex:?}");
    assert!(model_ex.len() < control_ex.len(), "model {model_ex:?} control {control_ex:?}");
    // One thread or two: bit-identical results.
    let one = run_suite(
        &config,
        &params,
        &[Portfolio::from_toml(&std::fs::read_to_string(dir.join("naked_long_eth_perp.toml")).unwrap()).unwrap()],
        &panel,
        &vol_model,
        &BacktestOptions { threads: 1, ..opts },
    )
    .unwrap();
    assert_eq!(one, runs);
}

#[test]
fn the_first_of_a_kind_crash_is_mostly_covered_with_only_2019_behind_it() {
    // Issue 8, goal 2: 2020-03-12, Black Thursday, with only 2019 in the history. With a one-year
    // minimum of own history (the earlier rule) the long ETH perp lost 28,771 against IM 15,280
    // (13,491 uncovered); with two years ETH is still young that day and scanned down over 0.58 (log).
    let Some(MarketData::Panel { panel, vol_model }) = common::history() else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios");
    let p = Portfolio::from_toml(&std::fs::read_to_string(dir.join("naked_long_eth_perp.toml")).unwrap()).unwrap();
    let opts = BacktestOptions {
        from: marketdata::Hour::from_ymdh(2020, 3, 12, 0),
        to: marketdata::Hour::from_ymdh(2020, 3, 13, 0),
        step_hours: 24,
        realised_hours: 24,
        threads: 1,
    };
    let config = model::Config::default_config();
    let day = |params: &RiskParams| {
        let b = risk::backtest::run(&config, params, std::slice::from_ref(&p), &panel, &vol_model, &opts, "t").unwrap();
        b.portfolios[0].days[0].clone()
    };
    let now = day(&RiskParams::default_params());
    assert!(now.as_of.starts_with("2020-03-12"));
    // The realised loss, independently: the book holds the reference day's notional in ETH perps
    // (20 at 2024-12-31), and the perp's mark (spot x exp(basis)) fell from the 2020-03-12 to the
    // 2020-03-13 close, while the 40,000 USDC of collateral rose above par (funding left out).
    let (eth, basis) = (panel.factor_index("price:ETH").unwrap(), panel.factor_index("basis:ETH-PERP").unwrap());
    let at = |t: marketdata::Hour| {
        let i = panel.index_of(t).unwrap();
        (panel.level(eth, i) + panel.level(basis, i)).exp()
    };
    let notional = 20.0 * at(marketdata::Hour::from_ymdh(2024, 12, 31, 0));
    let (t0, t1) = (marketdata::Hour::from_ymdh(2020, 3, 12, 0), marketdata::Hour::from_ymdh(2020, 3, 13, 0));
    let usdc = panel.factor_index("peg:USDC").unwrap();
    let peg = |t: marketdata::Hour| panel.level(usdc, panel.index_of(t).unwrap());
    let reference = notional * (1.0 - at(t1) / at(t0)) - 40_000.0 * (peg(t1) - peg(t0));
    assert!((now.realised_loss - reference).abs() < 0.01 * reference, "{} vs {reference}", now.realised_loss);
    let uncovered = now.realised_loss - now.initial_margin;
    assert!(uncovered < 0.1 * now.realised_loss, "uncovered {uncovered} of {}", now.realised_loss);
    // The earlier one-year rule leaves about half the loss uncovered (the test can fail).
    let mut one_year = RiskParams::default_params();
    one_year.hypothetical.min_own_history_days = 365.0;
    let before = day(&one_year);
    assert!(before.realised_loss - before.initial_margin > 0.4 * before.realised_loss, "{before:?}");
}
