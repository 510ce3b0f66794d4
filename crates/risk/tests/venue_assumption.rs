//! Historical models of the broker's own venue (`docs/margin-core.md`, "Historical models of the
//! broker's own venue"): before its launch the venue's perps and options are skipped unless the
//! compile is asked explicitly to assume the venue live, and then the label says so.

use risk::RiskParams;
use risk::arrays::{VenueAssumption, compile_assuming};

mod common;

fn own_instruments(m: &margin_core::RiskModel) -> Vec<String> {
    m.instruments.iter().map(|i| i.id.clone()).filter(|id| id.ends_with("@clearhouse") && id.contains("PERP")).collect()
}

#[test]
fn the_own_venue_exists_on_a_historical_date_only_when_assumed_live() {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let data = common::history_or_calibration();
    let as_of = risk::portfolio::parse_as_of("2024-12-31T00:00:00Z", "test").unwrap();
    let (plain, note) = compile_assuming(&config, &params, &data, as_of, VenueAssumption::AsConfigured).unwrap();
    assert_eq!(note, None);
    assert_eq!(own_instruments(&plain.model), Vec::<String>::new());
    assert!(plain.skipped.iter().any(|s| s.id == "ETH-PERP@clearhouse" && s.reason.contains("launched")), "{:?}", plain.skipped);
    let (assumed, note) = compile_assuming(&config, &params, &data, as_of, VenueAssumption::OwnVenueLive).unwrap();
    let note = note.expect("the assumption is reported");
    assert_eq!(note, "venue clearhouse assumed live on 2024-12-31 (launched 2026-01-01)");
    assert_eq!(assumed.model.label, "clearhouse 2024-12-31T00:00:00Z assuming clearhouse live");
    assert_eq!(own_instruments(&assumed.model), vec!["BTC-PERP@clearhouse".to_string(), "ETH-PERP@clearhouse".to_string()]);
    assert_ne!(assumed.model.digest(), plain.model.digest());
    // The other instruments are the same model either way (the assumption adds, changes nothing else).
    let others = |m: &margin_core::RiskModel| m.instruments.iter().filter(|i| !i.id.contains("@clearhouse")).cloned().collect::<Vec<_>>();
    assert_eq!(others(&assumed.model), others(&plain.model));
}

#[test]
fn the_assumption_is_a_no_op_once_the_venue_is_live() {
    let config = model::Config::default_config();
    let as_of = risk::portfolio::parse_as_of("2026-02-01T00:00:00Z", "test").unwrap();
    let (assumed, note) = risk::arrays::assume_venue(&config, VenueAssumption::OwnVenueLive, as_of).unwrap();
    assert_eq!(note, None);
    assert_eq!(assumed, config);
}
