//! Shared by the integration tests: the market history, or a loud skip on a laptop without it.
//! Under `CI` a missing history fails the test: a green CI that skipped the checks is a lie.

#![allow(dead_code)]

use risk::MarketData;

/// The raw market history; `None` (the test prints SKIPPED and passes) when it is absent and `CI`
/// is not set.
pub fn history() -> Option<MarketData> {
    match MarketData::load_default() {
        Ok(d) => Some(d),
        Err(e) if std::env::var_os("CI").is_none() => {
            println!("SKIPPED: raw market data absent ({e})");
            None
        }
        Err(e) => panic!("CI is set and the market history is absent: {e}"),
    }
}

/// The history, or the embedded calibration chosen explicitly when the history is absent.
pub fn history_or_calibration() -> MarketData {
    history().unwrap_or_else(|| MarketData::embedded_calibration().unwrap())
}
