//! `clearhouse crisis-replay` on one episode with a small population: `verify` replays the
//! journal to the printed state hash; an in-memory engine fed the journal's commands reaches
//! it too, conserves every asset, and every unit of bad debt is a waterfall step (the steps
//! of each bankrupt account and asset sum to the waterfall transfers it received, the sum the
//! table reports, and nothing is left owed); the same seed gives the same tables and journal.
//! Without the market-data directory it is skipped, unless `CI` is set (then it fails).

use engine::{Engine, Envelope, Event, Outcome};
use journal::{JournalConfig, JournalStore, SqliteJournal};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command as Process;

fn market_data_present() -> bool {
    let dir = std::env::var_os("CLEARHOUSE_MARKET_DATA")
        .map(std::path::PathBuf::from)
        .or_else(|| marketdata::loader::find_data_dir_from(Path::new(env!("CARGO_MANIFEST_DIR"))).ok());
    let present = dir.is_some_and(|d| d.join("SOURCES.md").is_file());
    assert!(present || std::env::var_os("CI").is_none(), "CI is set and the market-data directory is missing");
    present
}

fn replay(dir: &Path, out: &Path, seed: &str) -> String {
    let output = Process::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(["crisis-replay", "--episode", "2020-03", "--accounts", "10", "--seed", seed, "--out"])
        .arg(out)
        .arg("--journal-dir")
        .arg(dir)
        .output()
        .expect("run clearhouse");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Amounts by (account, asset), in the asset's units.
type Sums = BTreeMap<(String, String), i128>;

fn units(amount: &str, decimals: u8) -> i128 {
    money::parse_decimal(amount, money::Scale::new(decimals).unwrap()).unwrap()
}

/// The journal's commands applied to a fresh engine: the engine and every applied event.
fn engine_from_journal(journal: &Path) -> (Engine, Vec<Event>) {
    let mut store = SqliteJournal::open(journal, JournalConfig::default()).expect("journal opens");
    let recovery = store.recover_from_genesis().expect("journal verifies");
    let (mut e, mut events) = (Engine::new(), Vec::new());
    for record in recovery.batches.iter().flat_map(|b| &b.records) {
        let envelope: Envelope = serde_json::from_slice(&record.command).unwrap();
        if let Outcome::Applied { events: applied, .. } = e.apply(&envelope) {
            events.extend(applied);
        }
    }
    (e, events)
}

#[test]
fn the_crisis_replay_conserves_attributes_every_loss_and_replays() {
    if !market_data_present() {
        eprintln!("skipped: no market-data directory (CI unset)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = replay(&tmp.path().join("j1"), &tmp.path().join("o1"), "7");
    let dir = tmp.path().join("j1/2020-03");
    let journal = dir.join("journal.sqlite");
    let verify = Process::new(env!("CARGO_BIN_EXE_clearhouse"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--journal")
        .arg(&journal)
        .arg("verify")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let verified = String::from_utf8_lossy(&verify.stdout).to_string();
    let hash = verified.lines().find_map(|l| l.strip_prefix("state hash ")).expect("verify prints the state hash").to_string();
    assert!(out.contains(&format!("`{}`", &hash[..16])), "the table's state hash is verify's: {out}\n{verified}");
    assert!(verified.contains("conservation: every asset's balances sum to zero"), "{verified}");

    let (mut e, events) = engine_from_journal(&journal);
    assert_eq!(engine::hex(&e.state_hash()), hash, "an in-memory engine on the journal's commands reaches verify's state");
    e.check_invariants().unwrap();
    let decimals: BTreeMap<String, u8> = e.config().assets.iter().map(|a| (a.symbol.clone(), a.decimals)).collect();
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    for row in e.balances() {
        *totals.entry(row.asset.clone()).or_default() += units(&row.posted, decimals[&row.asset]);
    }
    assert!(totals.values().all(|t| *t == 0), "every asset's balances sum to zero: {totals:?}");

    let (mut steps, mut transfers) = (Sums::new(), Sums::new());
    let (mut started, mut ended) = (0, 0);
    for event in &events {
        match event {
            Event::WaterfallStep { account, asset, amount, .. } => {
                *steps.entry((account.clone(), asset.clone())).or_default() += units(amount, decimals[asset]);
            }
            Event::Transferred { credit, asset, amount, reason, .. } if format!("{reason:?}") == "Waterfall" => {
                *transfers.entry((credit.clone(), asset.clone())).or_default() += units(amount, decimals[asset]);
            }
            Event::LiquidationStarted { .. } => started += 1,
            Event::LiquidationEnded { .. } => ended += 1,
            _ => {}
        }
    }
    assert!(started > 0, "the episode liquidates someone: {out}");
    for row in ["venue liquidations suffered", "venue top-ups (count, USDC)", "house collateral posted per venue at the end"] {
        assert!(out.contains(&format!("| {row}")), "the table reports the house's venue legs ({row}): {out}");
    }
    assert!(ended > 0, "liquidations end: {out}");
    // The house's venue legs are on the ledger: funded, and every unit of `@house/<venue>`
    // traceable to a `venue_collateral_changed` (fund and defund positive and negative, a
    // settlement or a venue's liquidation signed).
    let mut traced: BTreeMap<String, i128> = BTreeMap::new();
    for event in &events {
        if let Event::VenueCollateralChanged { venue, asset, action, amount, .. } = event {
            let sign = if action == "defund" { -1 } else { 1 };
            *traced.entry(venue.clone()).or_default() += sign * units(amount, decimals[asset]);
        }
    }
    assert!(!traced.is_empty(), "the house funds its venue legs on the ledger: {out}");
    for (venue, total) in &traced {
        assert_eq!(*total, e.venue_collateral(venue, "USDC").unwrap(), "{venue}: the ledger holds what the events trace");
    }
    assert!(out.contains("| insurance fund seed (first day's cover-2), USDC |"), "{out}");
    // The house's P&L by source: every source a row, the floors a few 10^-18 USD, and the rows
    // at cents within a cent per row of the total.
    let cents = |label: &str| -> i128 {
        let line = out.lines().find(|l| l.starts_with(&format!("| {label}"))).unwrap_or_else(|| panic!("no row {label}: {out}"));
        let v = line.trim_end_matches(" |").rsplit("| ").next().unwrap();
        units(v, 2)
    };
    let total = cents("house P&L with its venue legs, USD");
    let parts: Vec<i128> = out
        .lines()
        .filter(|l| l.starts_with("| house P&L: "))
        .map(|l| units(l.trim_end_matches(" |").rsplit("| ").next().unwrap(), 2))
        .collect();
    assert_eq!(parts.len(), 14, "a row per source: {out}");
    assert_eq!(cents("house P&L: valuation floors (rounding), USD"), 0, "{out}");
    let sum: i128 = parts.iter().sum();
    assert!((sum - total).abs() <= parts.len() as i128, "the parts ({sum} cents) sum to the total ({total} cents): {out}");
    for (account, asset) in steps.keys() {
        assert_eq!(steps.get(&(account.clone(), asset.clone())), transfers.get(&(account.clone(), asset.clone())), "{account} {asset}");
        assert_eq!(e.debt(account, asset).unwrap(), 0, "{account} owes nothing after its waterfall");
    }
    let total: i128 = steps.iter().filter(|((_, a), _)| a == "USDC").map(|(_, v)| v).sum();
    let reported =
        if total == 0 { "| 0 |".to_string() } else { format!("| {} USDC |", money::format_decimal(total, money::Scale::new(6).unwrap())) };
    assert!(
        out.contains(&format!("| bad debt (waterfall deficit total) {reported}")),
        "the table's bad debt is the steps' sum {reported}: {out}"
    );
    // No account is left with negative equity nobody bears: without positions, what it owes
    // is covered by what it holds (an LP hedger keeps its ETH after its perp is liquidated).
    let (usdc_price, _) = e.price("USDC").unwrap();
    let mut covered_debts = 0;
    for account in e.trader_accounts().map(String::from).collect::<Vec<_>>() {
        let debt = e.debt(&account, "USDC").unwrap();
        if e.positions_of(&account).unwrap().is_empty() && debt != 0 {
            let owed = money::value_usd(money::Amount(debt), money::Scale::new(6).unwrap(), usdc_price, money::Rounding::Ceil).unwrap();
            let held = money::UsdValue::parse(&e.valuation(&account).unwrap().total_usd).unwrap();
            assert!(held.0 >= owed.0, "{account} owes {debt} USDC units, beyond its holdings {held}");
            covered_debts += 1;
        }
    }
    eprintln!("accounts without positions whose debt their holdings cover: {covered_debts}");

    let again = replay(&tmp.path().join("j2"), &tmp.path().join("o2"), "7");
    let strip = |s: &str| s.lines().filter(|l| !l.contains("journal") && !l.starts_with("replay it")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&out), strip(&again), "the same seed gives the same run");
    let (mut e2, _) = engine_from_journal(&tmp.path().join("j2/2020-03/journal.sqlite"));
    assert_eq!(engine::hex(&e2.state_hash()), hash, "the same seed gives the same state");
    let table = std::fs::read_to_string(tmp.path().join("o1/tables.md")).unwrap();
    assert_eq!(table, std::fs::read_to_string(tmp.path().join("o2/tables.md")).unwrap());
    assert!(std::fs::read_to_string(tmp.path().join("o1/2020-03.svg")).unwrap().contains("<polyline"));
    let other = replay(&tmp.path().join("j3"), &tmp.path().join("o3"), "8");
    assert_ne!(strip(&out), strip(&other), "another seed, another population");
}

#[test]
fn an_unknown_episode_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Process::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(["crisis-replay", "--episode", "2019-01", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown episode"), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn without_market_data_the_replay_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Process::new(env!("CARGO_BIN_EXE_clearhouse"))
        .env("CLEARHOUSE_MARKET_DATA", tmp.path().join("absent"))
        .args(["crisis-replay", "--episode", "2020-03", "--accounts", "4", "--out"])
        .arg(tmp.path().join("out"))
        .arg("--journal-dir")
        .arg(tmp.path().join("j"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("no synthetic fallback"), "{err}");
    assert!(!tmp.path().join("j").exists(), "nothing is written");
}
