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

/// 24h log moves on the FHS grid (windows ending 00, 08, 16 UTC; the close of the bar opened at the
/// stamp), per coin, keyed by end stamp `YYYY-MM-DDTHH`.
pub fn moves(dir: &std::path::Path, file: &str) -> std::collections::BTreeMap<String, f64> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let closes: std::collections::BTreeMap<String, f64> = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut it = l.split(',');
            let t = it.next().unwrap()[..13].to_string();
            (t, it.nth(3).and_then(|x| x.parse().ok()).unwrap())
        })
        .collect();
    let hour = |t: &str| marketdata::time::parse_hour(&format!("{t}:00:00Z"), "test").unwrap();
    let stamp = |h: marketdata::Hour| h.to_string()[..13].to_string();
    closes
        .iter()
        .filter(|(t, _)| matches!(&t[11..13], "00" | "08" | "16"))
        .filter_map(|(t, c)| closes.get(&stamp(marketdata::Hour(hour(t).0 - 24))).map(|s| (t.clone(), (c / s).ln())))
        .collect()
}
