use risk::RiskParams;
mod common;
#[test]
#[ignore]
fn measure() {
    let Some(risk::MarketData::Panel { panel, vol_model }) = common::history() else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios");
    let names: Vec<String> = std::env::var("BOOKS").unwrap().split(',').map(String::from).collect();
    let books: Vec<risk::Portfolio> = names
        .iter()
        .map(|n| risk::Portfolio::from_toml(&std::fs::read_to_string(dir.join(format!("{n}.toml"))).unwrap()).unwrap())
        .collect();
    let config = model::Config::default_config();
    let opts = risk::backtest::BacktestOptions {
        from: marketdata::Hour::from_ymdh(2019, 4, 1, 0),
        to: marketdata::Hour::from_ymdh(2024, 12, 30, 0),
        step_hours: 24,
        realised_hours: 24,
        threads: 2,
    };
    for on in [false, true] {
        let mut params = RiskParams::default_params();
        params.hypothetical.crash_with_peg_break = on;
        let b = risk::backtest::run(&config, &params, &books, &panel, &vol_model, &opts, "t").unwrap();
        std::fs::write(format!("/tmp/scan8/peg_{on}.json"), serde_json::to_string(&vec![b]).unwrap()).unwrap();
    }
}
