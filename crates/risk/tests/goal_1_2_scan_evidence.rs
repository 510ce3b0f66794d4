//! Issue 8: why the price scan stays one coin at a time on the rising side, and what is left of the
//! first-of-a-kind crash on the stETH loop (`docs/margin-methodology.md` section 4.7), which coins
//! crash together (section 4.7.1). Reference
//! values come from the raw Binance and CoinMarketCap CSVs of the market-data directory, not from
//! the model (`crates/risk/scripts/scan_evidence.py` prints the same tables).

use risk::report::compute;
use risk::{Portfolio, RiskParams};
use std::path::Path;

mod common;

/// Close of the bar opened at `stamp` (`YYYY-MM-DDTHH`), column 4 of an OHLCV file.
fn close_at(dir: &Path, file: &str, stamp: &str) -> f64 {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let line = text.lines().find(|l| l.starts_with(stamp)).unwrap_or_else(|| panic!("{file}: no bar {stamp}"));
    line.split(',').nth(4).and_then(|x| x.parse().ok()).unwrap()
}

fn book(name: &str) -> Portfolio {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios");
    Portfolio::from_toml(&std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap()).unwrap()
}

/// The rule of section 4.7.1: rises one coin at a time, one spread move per pair.
fn rule_4_7_1() -> RiskParams {
    let mut p = RiskParams::default_params();
    p.hypothetical.joint_rise_scan = false;
    p.hypothetical.spread_scan = false;
    p
}

fn one_day(name: &str, ymd: (i16, i8, i8)) -> Option<risk::backtest::Day> {
    one_day_with(name, ymd, &RiskParams::default_params())
}

fn one_day_with(name: &str, (y, m, d): (i16, i8, i8), params: &RiskParams) -> Option<risk::backtest::Day> {
    let Some(risk::MarketData::Panel { panel, vol_model }) = common::history() else { return None };
    let day = marketdata::Hour::from_ymdh(y, m, d, 0);
    let opts =
        risk::backtest::BacktestOptions { from: day, to: marketdata::Hour(day.0 + 24), step_hours: 24, realised_hours: 24, threads: 1 };
    let config = model::Config::default_config();
    let b = risk::backtest::run(&config, params, &[book(name)], &panel, &vol_model, &opts, "t").unwrap();
    b.portfolios[0].days.first().cloned()
}

#[test]
fn goal_1_eth_squeezed_alone_and_the_rule_of_4_7_1_covered_it_by_a_lone_rise() {
    // The data (2019-2024, 24h windows every 8h): a 24h fall of BTC or ETH beyond 15% never came
    // with the other within 3% (crashes are market moves), but ETH rose beyond 15% with BTC within
    // 3% in 4 of 20 windows (2021-01-03/04, 2021-01-25, 2024-05-21). Section 4.7.1 scanned rises one
    // coin at a time for that reason (data after 2020 setting 2020's margin); section 4.7.2 now
    // joins rises only while the data before as-of show them joint (tests/goal_4_joint_rise.rs).
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let (btc, eth) = (common::moves(&dir, "btc_usdt_binance_2019-2024_1h.csv"), common::moves(&dir, "eth_usdt_binance_2019-2024_1h.csv"));
    let both: Vec<(f64, f64)> = btc.iter().filter_map(|(t, b)| eth.get(t).map(|e| (*b, *e))).collect();
    assert!(both.len() > 6000, "{}", both.len());
    let lone_crash = both.iter().filter(|(b, e)| (*b < -0.15 && e.abs() < 0.03) || (*e < -0.15 && b.abs() < 0.03)).count();
    let eth_rises: Vec<&(f64, f64)> = both.iter().filter(|(_, e)| *e > 0.15).collect();
    let lone_eth_rises = eth_rises.iter().filter(|(b, _)| b.abs() < 0.03).count();
    assert_eq!(lone_crash, 0);
    assert_eq!((eth_rises.len(), lone_eth_rises), (20, 4));
    // On 2021-01-03 ETH rose 0.229 against BTC's 0.012 (window ending 2021-01-04 00:00): a spread
    // move of 0.217, beyond the pair's decorrelation scenario that day, so a joint market scan
    // (both legs up together, the spread left to decorrelation) would have left the long BTC /
    // short ETH pair uncovered (measured: 1,178). The scan of ETH alone carried it.
    let spread = eth["2021-01-04T00"] - btc["2021-01-04T00"];
    assert!((spread - 0.217).abs() < 0.001, "{spread}");
    let Some(data) = common::history() else { return };
    // The decorrelation scenarios of that day (every pair of underlyings, whatever the book; the
    // dYdX perps of the pair book are margined before their launch only in the backtest's re-strike).
    let p = Portfolio::from_toml("name = \"e\"\nas_of = \"2021-01-03\"\n[[balances]]\nasset = \"ETH\"\namount = \"10\"\n").unwrap();
    let c = compute(&model::Config::default_config(), &rule_4_7_1(), &p, &data, None, None).unwrap();
    let label = (c.scenarios.n_fhs..c.scenarios.len()).map(|s| c.scenarios.label(s)).find(|l| l.contains("decorrelation ETH +")).unwrap();
    let d: f64 = label.split("spread move ").nth(1).and_then(|x| x.split('%').next()).and_then(|x| x.parse().ok()).unwrap();
    assert!(d / 100.0 < spread, "{label}");
    let day = one_day_with("btc_eth_pair", (2021, 1, 3), &rule_4_7_1()).unwrap();
    assert!(day.realised_loss > 7_000.0 && day.initial_margin >= day.realised_loss, "{day:?}");
    assert!(day.binding.contains("scan ETH +"), "{}", day.binding);
}

#[test]
fn goal_2_the_steth_loop_on_black_thursday_is_short_by_the_proxied_steth_discount() {
    // The stETH loop of the backtest (100 stETH on Aave against 50 ETH borrowed, at the reference
    // day's notional) as of 2020-03-12 00:00, with only 2019 behind it. Its net ETH leg (50 ETH)
    // lost 1 - 107.82 / 194.61 = 44.6%, against the young crash scan of 44.0%; the rest of the
    // realised loss is the stETH/ETH ratio, which before stETH existed (Lido launched in December
    // 2020) is the documented proxy 1 - |DAI - 1|: DAI closed at 1.0022 on 2020-03-11 and 1.0354
    // on 2020-03-12 (a premium, CoinMarketCap daily closes), so the proxy falls 3.3%.
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let Some(day) = one_day("steth_leverage_loop", (2020, 3, 12)) else { return };
    let eth = "eth_usdt_binance_2019-2024_1h.csv";
    // A close is known an hour after its bar opens: the price at 00:00 is the 23:00 bar's close.
    let (s_ref, s0, s1) =
        (close_at(&dir, eth, "2024-12-30T23"), close_at(&dir, eth, "2020-03-11T23"), close_at(&dir, eth, "2020-03-12T23"));
    let eth_leg = 50.0 * s_ref * (1.0 - s1 / s0);
    let steth_after = 100.0 * s_ref * s1 / s0;
    let dai = "dai_usd_cmc_2019-2024_1d.csv";
    let proxy_fall = (close_at(&dir, dai, "2020-03-12T00") - 1.0).abs() - (close_at(&dir, dai, "2020-03-11T00") - 1.0).abs();
    assert!((proxy_fall - 0.0332).abs() < 0.0005, "{proxy_fall}");
    let peg_leg = day.realised_loss - eth_leg;
    assert!((peg_leg / steth_after - proxy_fall).abs() < 0.003, "peg leg {peg_leg} over {steth_after} against {proxy_fall}");
    // What is left: 6,447, of which the ETH leg's fall beyond the scan is under 1% of its loss
    // and the rest is the proxied stETH discount, which no scenario of that day combined with the
    // crash (the named stresses came later; the peg break of the kind moves the peg alone).
    let uncovered = day.realised_loss - day.initial_margin;
    assert!(uncovered > 0.0 && uncovered < peg_leg + 0.01 * eth_leg, "uncovered {uncovered}, peg leg {peg_leg}, ETH leg {eth_leg}");
    assert!(day.initial_margin > 0.99 * eth_leg, "IM {} against the ETH leg {eth_leg}", day.initial_margin);
}

/// Over the 24h windows ending at or before `as_of` (stamp `YYYY-MM-DDTHH`) in which `a` fell more
/// than 0.10 (log): their number and `b`'s stressed beta on them (sum of b's moves over sum of a's).
fn stressed_beta(a: &std::collections::BTreeMap<String, f64>, b: &std::collections::BTreeMap<String, f64>, as_of: &str) -> (usize, f64) {
    let ev: Vec<(f64, f64)> =
        a.iter().filter(|(t, m)| t.as_str() <= as_of && **m < -0.10).filter_map(|(t, m)| b.get(t).map(|x| (*m, *x))).collect();
    (ev.len(), ev.iter().map(|e| e.1).sum::<f64>() / ev.iter().map(|e| e.0).sum::<f64>())
}

/// The floor-scenario labels of a one-coin book as of `as_of`.
fn labels(as_of: &str, joint: bool) -> Vec<String> {
    let Some(data) = common::history() else { return Vec::new() };
    let mut params = rule_4_7_1();
    params.hypothetical.joint_crash_scan = joint;
    let p = Portfolio::from_toml(&format!("name = \"e\"\nas_of = \"{as_of}\"\n[[balances]]\nasset = \"ETH\"\namount = \"10\"\n")).unwrap();
    let c = compute(&model::Config::default_config(), &params, &p, &data, None, None).unwrap();
    (c.scenarios.n_fhs..c.scenarios.len()).map(|s| c.scenarios.label(s)).collect()
}

#[test]
fn goal_4_young_btc_and_eth_take_their_crash_jointly_because_the_data_show_them_falling_together() {
    // Reference from the raw Binance closes (24h windows ending 00/08/16 UTC): as of 2020-03-12,
    // with only 2019 behind it, BTC fell more than 0.10 in 12 windows, with ETH's stressed beta on
    // them 1.21; ETH in 28, with BTC's 0.68: both at least 0.5 (`joint_crash_beta`), so both young
    // coins take one crash scan, each by its own young range (-44%). SOL against BTC, as of
    // 2024-12-31: BTC's beta on SOL's 186 falls is 0.32 (SOL crashes alone), so SOL keeps its own.
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let (btc, eth, sol) = (
        common::moves(&dir, "btc_usdt_binance_2019-2024_1h.csv"),
        common::moves(&dir, "eth_usdt_binance_2019-2024_1h.csv"),
        common::moves(&dir, "sol_usdt_binance_2020-2024_1h.csv"),
    );
    let ((nb, eth_on_btc), (ne, btc_on_eth)) = (stressed_beta(&btc, &eth, "2020-03-11T23"), stressed_beta(&eth, &btc, "2020-03-11T23"));
    assert_eq!((nb, ne), (12, 28));
    assert!((eth_on_btc - 1.21).abs() < 0.01 && (btc_on_eth - 0.68).abs() < 0.01, "{eth_on_btc} {btc_on_eth}");
    let (ns, btc_on_sol) = stressed_beta(&sol, &btc, "2024-12-31T00");
    assert!(ns > 150 && btc_on_sol < 0.5, "{ns} {btc_on_sol}");
    // The model: one joint crash scan of BTC and ETH (each young: -44.0%), no lone crash of either.
    let on = labels("2020-03-12", true);
    if on.is_empty() {
        return;
    }
    let full = |l: &String| l.contains("(-1.00 of") && l.ends_with("implied vol up");
    let joint: Vec<&String> = on.iter().filter(|l| l.contains("scan market BTC -44.0% / ETH -44.0%") && full(l)).collect();
    assert_eq!(joint.len(), 1, "{on:?}");
    assert!(!on.iter().any(|l| l.contains("scan BTC -") || l.contains("scan ETH -")), "{on:?}");
    assert!(on.iter().any(|l| l.contains("scan ETH +")) && on.iter().any(|l| l.contains("scan BTC +")), "rises stay per coin");
    // Switched off, each is scanned alone (the test can fail).
    let off = labels("2020-03-12", false);
    assert!(off.iter().any(|l| l.contains("scan BTC -44.0%") && full(l)) && !off.iter().any(|l| l.contains("scan market")));
    // SOL, which crashes alone, keeps its own crash scan beside the joint one.
    let late = labels("2024-12-30", true);
    assert!(late.iter().any(|l| l.contains("scan SOL -")) && late.iter().any(|l| l.contains("scan market BTC -")), "{late:?}");
}

#[test]
fn goal_4_the_pair_in_2020_is_bound_by_eths_own_rise_not_by_a_lone_btc_crash() {
    // The long BTC / short ETH pair as of 2020-06-01 (both coins young on the crash side): before,
    // the lone young crash of its BTC leg (-44%, ETH unchanged) bound it; with the joint crash the
    // legs offset and ETH's own rise (+25.7%, its worst 24h rise so far, a size already seen) binds,
    // which is what covered the pair's loss of 2021-01-03 (7,867) on the first lone ETH squeeze.
    let Some(on) = one_day_with("btc_eth_pair", (2020, 6, 1), &rule_4_7_1()) else { return };
    assert!(on.binding.contains("scan ETH +25.7%"), "{}", on.binding);
    let Some(data) = common::history() else { return };
    let risk::MarketData::Panel { panel, vol_model } = data else { return };
    let mut params = rule_4_7_1();
    params.hypothetical.joint_crash_scan = false;
    let day = marketdata::Hour::from_ymdh(2020, 6, 1, 0);
    let opts =
        risk::backtest::BacktestOptions { from: day, to: marketdata::Hour(day.0 + 24), step_hours: 24, realised_hours: 24, threads: 1 };
    let b =
        risk::backtest::run(&model::Config::default_config(), &params, &[book("btc_eth_pair")], &panel, &vol_model, &opts, "t").unwrap();
    let off = &b.portfolios[0].days[0];
    assert!(off.binding.contains("scan BTC -44.0%"), "{}", off.binding);
    assert!(on.initial_margin < 0.7 * off.initial_margin, "{} against {}", on.initial_margin, off.initial_margin);
}

#[test]
fn goal_2_the_steth_loop_is_judged_only_once_steth_exists() {
    // stETH was launched with Lido on 2020-12-18 (configuration) and its own series (Yahoo
    // stETH/ETH daily closes) starts 2020-12-23; before that the panel's stETH peg is the documented
    // stand-in 1 - |DAI - 1|. The backtest counts a book's coverage only on days every asset it
    // holds existed; the days before are reported apart (a stress on a stand-in path).
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let text = std::fs::read_to_string(dir.join("steth_eth_ratio_yahoo_2020-2024_1d.csv")).unwrap();
    assert_eq!(&text.lines().nth(1).unwrap()[..10], "2020-12-23");
    let Some(risk::MarketData::Panel { panel, vol_model }) = common::history() else { return };
    let opts = risk::backtest::BacktestOptions {
        from: marketdata::Hour::from_ymdh(2020, 12, 14, 0),
        to: marketdata::Hour::from_ymdh(2020, 12, 26, 0),
        step_hours: 24,
        realised_hours: 24,
        threads: 1,
    };
    let config = model::Config::default_config();
    let launched = &config.protocol("lido").unwrap().risk.launched;
    assert_eq!(launched, "2020-12-18");
    let books = [book("steth_leverage_loop"), book("naked_long_eth_perp")];
    let b = risk::backtest::run(&config, &RiskParams::default_params(), &books, &panel, &vol_model, &opts, "t").unwrap();
    let steth = &b.portfolios[0];
    let dates = |ds: &[risk::backtest::Day]| ds.iter().map(|d| format!("{} {:?}", &d.as_of[..10], d.stand_in)).collect::<Vec<_>>();
    assert_eq!(steth.stand_in_days.len(), 4, "{:?}", dates(&steth.stand_in_days));
    assert!(steth.stand_in_days.iter().all(|d| d.stand_in.as_deref() == Some("stETH") && d.as_of[..10] < *launched.as_str()));
    assert_eq!(steth.days.len(), 9, "{:?}", dates(&steth.days));
    assert!(steth.days.iter().all(|d| d.stand_in.is_none() && d.as_of[..10] >= *launched.as_str()));
    assert_eq!(steth.periods, steth.days.len());
    // A book of assets that all existed has no stand-in day.
    assert!(b.portfolios[1].stand_in_days.is_empty() && b.portfolios[1].days.len() == 13);
}
