//! Shared by the integration tests: the market history, or a loud skip on a laptop without it.
//! Under `CI` a missing history fails the test: a green CI that skipped the checks is a lie.

#![allow(dead_code)]

use risk::MarketData;

/// The raw market history; `None` (the test prints SKIPPED and passes) when it is absent and `CI`
/// is not set; a failure naming the reason under `CI` (`marketdata::test_support`).
pub fn history() -> Option<MarketData> {
    marketdata::test_support::market_data_or_skip()?;
    Some(MarketData::load_default().expect("the market history found by market_data_or_skip loads"))
}

/// The history, or the embedded calibration chosen explicitly when the history is absent.
pub fn history_or_calibration() -> MarketData {
    history().unwrap_or_else(|| MarketData::embedded_calibration().unwrap())
}
