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
