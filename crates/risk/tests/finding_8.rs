//! Finding 8 (issue 8): a mistyped or absent market-data directory is an error, never a silent
//! fallback to the embedded calibration; the calibration is chosen explicitly and refuses as-of
//! instants outside its coverage. Alone in its binary because it sets an environment variable.

use risk::{MarketData, Portfolio, RiskError, RiskParams, margin_portfolio};

const BOOK: &str = r#"
name = "finding_8"
as_of = "2020-03-11"
[[positions]]
instrument = "ETH-PERP@dydx"
quantity = "100"
[[balances]]
asset = "ETH"
amount = "100"
"#;

#[test]
fn finding_8_missing_market_data_is_an_error() {
    // SAFETY: this is the only test in this binary, so no other thread reads the environment.
    unsafe { std::env::set_var(marketdata::loader::DATA_DIR_ENV, "/nonexistent/clearhouse-market-data") };
    match MarketData::load_default() {
        Err(RiskError::MarketDataUnavailable { reason, hint }) => {
            assert!(reason.contains("/nonexistent/clearhouse-market-data"), "{reason}");
            assert!(hint.contains("CLEARHOUSE_MARKET_DATA") && hint.contains("--embedded-calibration"), "{hint}");
        }
        Err(e) => panic!("expected MarketDataUnavailable, got {e}"),
        Ok(_) => panic!("a mistyped market-data directory must not load anything"),
    }

    // The embedded calibration, chosen explicitly, refuses an as-of outside its coverage: before,
    // 100 ETH perps + 100 ETH as of 2020-03-11 got IM 255 USD at end-2024 prices.
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let data = MarketData::embedded_calibration().unwrap();
    let p = Portfolio::from_toml(BOOK).unwrap();
    match margin_portfolio(&config, &params, &p, &data) {
        Err(RiskError::AsOfOutsideHistory { as_of, start, end }) => {
            assert_eq!(as_of, "2020-03-11T00:00:00Z");
            assert_eq!((start.as_str(), end.as_str()), ("2024-12-31T00:00:00Z", "2025-01-01T00:00:00Z"));
        }
        other => panic!("expected AsOfOutsideHistory, got {:?}", other.map(|r| r.initial_margin)),
    }
    // Inside the coverage (the last day of the calibration) it computes.
    let p = Portfolio::from_toml(&BOOK.replace("2020-03-11", "2024-12-31")).unwrap();
    let r = margin_portfolio(&config, &params, &p, &data).unwrap();
    assert!(r.initial_margin > 0.0 && r.data.contains("embedded calibration"), "{}", r.data);
}
