//! Issue 8, goal 4 (directional books within 1.5x of their worst loss) for the long BTC / short ETH
//! pair: rises are scanned jointly when the history before as-of shows them joint (the crash side's
//! test over rises), and the decorrelation of a pair is scanned like a price, over the spread's own
//! stressed range (`docs/margin-methodology.md` section 4.7.2). Reference values come from the raw
//! Binance CSVs of the market-data directory, not from the model
//! (`crates/risk/scripts/scan_evidence.py` prints the same tables).

use risk::report::compute;
use risk::{Portfolio, RiskParams};
use std::collections::BTreeMap;
use std::path::Path;

mod common;

fn btc_eth(dir: &Path) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    (common::moves(dir, "btc_usdt_binance_2019-2024_1h.csv"), common::moves(dir, "eth_usdt_binance_2019-2024_1h.csv"))
}

/// Over the windows known at as-of (end stamp before `as_of`, whose close is known an hour later) in
/// which `a` rose more than 0.10 (log): their number and `b`'s stressed beta on them.
fn rise_beta(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>, as_of: &str) -> (usize, f64) {
    let ev: Vec<(f64, f64)> =
        a.iter().filter(|(t, m)| t.as_str() < as_of && **m > 0.10).filter_map(|(t, m)| b.get(t).map(|x| (*m, *x))).collect();
    (ev.len(), ev.iter().map(|e| e.1).sum::<f64>() / ev.iter().map(|e| e.0).sum::<f64>())
}

/// The largest 24h move of ln ETH - ln BTC over the windows known at as-of, ETH over BTC.
fn worst_spread(btc: &BTreeMap<String, f64>, eth: &BTreeMap<String, f64>, as_of: &str) -> f64 {
    eth.iter().filter(|(t, _)| t.as_str() < as_of).filter_map(|(t, e)| btc.get(t).map(|b| e - b)).fold(f64::MIN, f64::max)
}

fn params(joint_rise: bool, spread: bool) -> RiskParams {
    let mut p = RiskParams::default_params();
    p.hypothetical.joint_rise_scan = joint_rise;
    p.hypothetical.spread_scan = spread;
    p
}

/// The floor-scenario labels of a one-coin book as of `as_of` (every pair of underlyings is
/// scanned, whatever the book holds).
fn labels(as_of: &str, p: &RiskParams) -> Vec<String> {
    let Some(data) = common::history() else { return Vec::new() };
    let book =
        Portfolio::from_toml(&format!("name = \"e\"\nas_of = \"{as_of}\"\n[[balances]]\nasset = \"ETH\"\namount = \"10\"\n")).unwrap();
    let c = compute(&model::Config::default_config(), p, &book, &data, None, None).unwrap();
    (c.scenarios.n_fhs..c.scenarios.len()).map(|s| c.scenarios.label(s)).collect()
}

/// The spread range (log) in the label of the full-range decorrelation with `up` rising against `down`.
fn spread_range(labels: &[String], up: &str, down: &str) -> f64 {
    let l = labels
        .iter()
        .find(|l| l.contains(&format!("decorrelation {up} +")) && l.contains(&format!("/ {down} -")) && l.contains("(1.00 of spread range"))
        .unwrap_or_else(|| panic!("no decorrelation {up} over {down} in {labels:?}"));
    l.split("spread range ").nth(1).and_then(|x| x.split('%').next()).and_then(|x| x.parse::<f64>().ok()).unwrap() / 100.0
}

fn pair_day((y, m, d): (i16, i8, i8), p: &RiskParams) -> Option<risk::backtest::Day> {
    let Some(risk::MarketData::Panel { panel, vol_model }) = common::history() else { return None };
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios");
    let book = Portfolio::from_toml(&std::fs::read_to_string(dir.join("btc_eth_pair.toml")).unwrap()).unwrap();
    let day = marketdata::Hour::from_ymdh(y, m, d, 0);
    let opts =
        risk::backtest::BacktestOptions { from: day, to: marketdata::Hour(day.0 + 24), step_hours: 24, realised_hours: 24, threads: 1 };
    let b = risk::backtest::run(&model::Config::default_config(), p, &[book], &panel, &vol_model, &opts, "t").unwrap();
    b.portfolios[0].days.first().cloned()
}

#[test]
fn goal_4_btc_and_eth_rise_jointly_only_while_the_data_before_as_of_show_it() {
    // The crash side's test over rises (24h rises beyond 0.10, stressed beta at least 0.5 both ways,
    // at least 3 windows). As of 2021-01-03: BTC rose in 30 windows, ETH's beta on them 0.74; ETH in
    // 44, BTC's beta 0.54: joint. As of 2022-01-01, after ETH's lone squeezes of January 2021,
    // BTC's beta on ETH's 78 rises is 0.4997: not joint, each coin takes its own rise scan.
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let (btc, eth) = btc_eth(&dir);
    let ((nb, eth_on_btc), (ne, btc_on_eth)) = (rise_beta(&btc, &eth, "2021-01-02T23"), rise_beta(&eth, &btc, "2021-01-02T23"));
    assert_eq!((nb, ne), (30, 44));
    assert!((eth_on_btc - 0.738).abs() < 0.001 && (btc_on_eth - 0.542).abs() < 0.001, "{eth_on_btc} {btc_on_eth}");
    let (ne, late) = rise_beta(&eth, &btc, "2021-12-31T23");
    assert_eq!(ne, 78);
    assert!(late < 0.5 && late > 0.499, "{late}");
    let on = labels("2021-01-03", &RiskParams::default_params());
    if on.is_empty() {
        return;
    }
    assert!(on.iter().any(|l| l.contains(": scan market BTC +") && l.contains("/ ETH +")), "{on:?}");
    assert!(!on.iter().any(|l| l.contains(": scan ETH +") || l.contains(": scan BTC +")), "{on:?}");
    let later = labels("2022-01-01", &RiskParams::default_params());
    assert!(later.iter().any(|l| l.contains(": scan ETH +")) && !later.iter().any(|l| l.contains(": scan market BTC +")), "{later:?}");
    // Switched off, each coin rises alone (the test can fail).
    let off = labels("2021-01-03", &params(false, true));
    assert!(off.iter().any(|l| l.contains(": scan ETH +")) && !off.iter().any(|l| l.contains(": scan market BTC +")));
}

#[test]
fn goal_4_the_decorrelation_is_the_spreads_own_stressed_range() {
    // As of 2024-05-20 the ETH-over-BTC spread's worst 24h move is 0.294 (window ending 2021-01-04
    // 08:00), larger than its move rescaled to today's calm spread volatility (q 0.999: 0.106,
    // scan_evidence.py): the anti-procyclical floor at the goal-1 fraction sets the range. As of
    // 2021-01-03 the rescaled quantile, 0.173 (scan_evidence.py: the spread's own EWMA volatility,
    // 0.0326 a day), is above the worst move so far, 0.158.
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let (btc, eth) = btc_eth(&dir);
    let (worst_2024, worst_2021) = (worst_spread(&btc, &eth, "2024-05-19T23"), worst_spread(&btc, &eth, "2021-01-02T23"));
    assert!((worst_2024 - 0.2935).abs() < 0.0005 && (worst_2021 - 0.1576).abs() < 0.0005, "{worst_2024} {worst_2021}");
    let p = RiskParams::default_params();
    let may = labels("2024-05-20", &p);
    if may.is_empty() {
        return;
    }
    assert!((spread_range(&may, "ETH", "BTC") - worst_2024).abs() < 0.001, "{may:?}");
    let jan = labels("2021-01-03", &p);
    let r = spread_range(&jan, "ETH", "BTC");
    assert!((r - 0.173).abs() < 0.002 && r > worst_2021, "{r}");
    // The extreme decorrelation, twice the range at the extreme weight, beside the scan points.
    assert!(jan.iter().any(|l| l.contains("decorrelation ETH +") && l.contains("(2.00 of spread range 17.")), "{jan:?}");
}

#[test]
fn goal_4_the_spread_squeeze_of_2021_01_03_was_first_of_its_kind_and_is_reported_uncovered() {
    // On 2021-01-03 ETH rose 0.229 and BTC 0.012 (window ending 2021-01-04 00:00): a spread move of
    // 0.217, larger than any before it (0.158 on 2020-12-28) and than the spread's stressed range
    // that day (0.173). With rises joint (the data showed them joint) the pair's loss is a
    // decorrelation of a size not yet seen: uncovered by about 1,000, reported per book; the lone
    // ETH rise scan of the rule before covered it (IM 8,711). The ETH ETF squeeze of 2024-05-20
    // (spread 0.164, below the 0.294 already seen) stays covered.
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let (btc, eth) = btc_eth(&dir);
    let spread = eth["2021-01-04T00"] - btc["2021-01-04T00"];
    assert!((spread - 0.2172).abs() < 0.0005, "{spread}");
    assert!(spread > worst_spread(&btc, &eth, "2021-01-02T23") + 0.05);
    let Some(on) = pair_day((2021, 1, 3), &RiskParams::default_params()) else { return };
    let uncovered = on.realised_loss - on.initial_margin;
    assert!(uncovered > 500.0 && uncovered < 1_500.0, "{on:?}");
    assert!(on.binding.contains("decorrelation ETH +"), "{}", on.binding);
    let before = pair_day((2021, 1, 3), &params(false, false)).unwrap();
    assert!(before.initial_margin > before.realised_loss && before.binding.contains("scan ETH +"), "{before:?}");
    let may = pair_day((2024, 5, 20), &RiskParams::default_params()).unwrap();
    assert!(may.initial_margin > 2.0 * may.realised_loss && may.binding.contains("decorrelation ETH +"), "{may:?}");
}
