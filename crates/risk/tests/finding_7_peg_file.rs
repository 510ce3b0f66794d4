//! Finding 7 (issue 8, item 5): a pegged asset brings its own peg history from a file of the
//! market-data directory (`[peg_sources] ASSET = { file, column }`), loaded as `peg:ASSET`; its
//! depeg then moves only it, and the peg break of its kind is sized from it too.

use risk::report::{compute, report_of};
use risk::{MarketData, Portfolio, RiskParams};

mod common;

const PYUSD: &str = "[[protocols]]\nid = \"paxos\"\nname = \"Paxos (PYUSD issuer)\"\nkind = \"stablecoin_issuer\"\n[protocols.risk]\noracle = \"attestation\"\nsettlement = \"redemption\"\npeg_mechanism = \"fiat_reserve\"\ncollateralization_pct = 100\nlaunched = \"2023-08-07\"\naudits = 2\nupgradeable = true\n\n[[assets]]\nsymbol = \"PYUSD\"\nname = \"PayPal USD\"\ndecimals = 6\nkind = \"stablecoin\"\ntracks = \"USD\"\nprotocol = \"paxos\"\n";

/// A market-data directory: the shared files linked, plus a PYUSD/USD series at par from
/// 2023-09-01 with a 30% break for one day on 2024-06-01.
fn directory_with_pyusd() -> Option<std::path::PathBuf> {
    let shared = marketdata::loader::find_data_dir().ok()?;
    let dir = std::env::temp_dir().join(format!("clearhouse-peg-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&shared).unwrap() {
        let e = e.unwrap();
        let to = dir.join(e.file_name());
        if !to.exists() {
            std::os::unix::fs::symlink(e.path(), to).unwrap();
        }
    }
    let mut csv = String::from("timestamp,close\n");
    let start = marketdata::Hour::from_ymdh(2023, 9, 1, 0);
    let (from, to) = (marketdata::Hour::from_ymdh(2024, 6, 1, 0), marketdata::Hour::from_ymdh(2024, 6, 2, 0));
    let mut t = start;
    while t <= marketdata::Hour::from_ymdh(2024, 12, 31, 23) {
        let v = if t >= from && t < to { 0.7 } else { 1.0 };
        csv.push_str(&format!("{},{v}\n", t.to_iso()));
        t = t.plus_hours(1);
    }
    std::fs::write(dir.join("pyusd_usd_test_1h.csv"), csv).unwrap();
    Some(dir)
}

#[test]
fn finding_7_a_pegged_asset_brings_its_own_peg_file() {
    if common::history().is_none() {
        return;
    }
    let Some(dir) = directory_with_pyusd() else { return };
    let config = model::Config::from_toml(&format!("{}\n{PYUSD}", model::DEFAULT_CONFIG_TOML)).unwrap();
    let mut params = RiskParams::default_params();
    let src = risk::params::PegSource { file: Some("pyusd_usd_test_1h.csv".into()), column: Some("close".into()), ..Default::default() };
    params.peg_sources.insert("PYUSD".into(), src);
    let sources = [("PYUSD".to_string(), "pyusd_usd_test_1h.csv".to_string(), "close".to_string())];
    let panel = marketdata::FactorPanel::load(&dir).unwrap().with_peg_sources(&dir, &sources).unwrap();
    let data = MarketData::from_panel(panel, &params).unwrap();
    let book =
        Portfolio::from_toml("name = \"py\"\nas_of = \"2024-12-31\"\n[[balances]]\nasset = \"PYUSD\"\namount = \"100000\"\n").unwrap();
    let c = compute(&config, &params, &book, &data, None, None).unwrap();
    let r = report_of(&config, &params, &book, &data, &c);
    // Its own factor, no proxy on record.
    let f = c.universe.factor_of(risk::market::Target::Peg(c.universe.peg("PYUSD").unwrap())).unwrap();
    assert_eq!(c.universe.factor_names[f], "peg:PYUSD");
    assert!(r.overrides.is_empty(), "{:?}", r.overrides);
    // Its own 30% break sizes the break of every fiat-backed stablecoin (USDC's was 12%).
    let label = (c.scenarios.n_fhs..c.scenarios.len())
        .map(|s| c.scenarios.label(s))
        .find(|l| l.contains("peg break fiat_backed_stablecoin"))
        .unwrap();
    assert!(label.contains("-30.0%") && label.contains("PYUSD"), "{label}");
    assert!(r.initial_margin >= 30_000.0 * 0.999, "IM {}", r.initial_margin);
    let _ = std::fs::remove_dir_all(&dir);
}
