//! Validated types stay validated through serialisation: what the engine stores in a snapshot
//! and reads back passes the same checks as a constructor, so a corrupt image is an error.

use clearing::ContractSpec;
use clearing::fees::FeeSchedule;
use clearing::funding::FundingParams;
use clearing::interest::InterestIndex;
use clearing::staking::ExchangeRate;

#[test]
fn valid_values_round_trip() {
    let spec = ContractSpec::new(3, 6).unwrap();
    let text = serde_json::to_string(&spec).unwrap();
    assert_eq!(text, r#"{"quantity_scale":3,"settlement_scale":6}"#);
    assert_eq!(serde_json::from_str::<ContractSpec>(&text).unwrap(), spec);
    let fees = FeeSchedule::new(-2, 5).unwrap();
    assert_eq!(serde_json::from_str::<FeeSchedule>(&serde_json::to_string(&fees).unwrap()).unwrap(), fees);
    let funding = FundingParams::new(3_600_000, 60_000, 1, 2, 3).unwrap();
    assert_eq!(serde_json::from_str::<FundingParams>(&serde_json::to_string(&funding).unwrap()).unwrap(), funding);
    let index = InterestIndex::new(7);
    assert_eq!(serde_json::from_str::<InterestIndex>(&serde_json::to_string(&index).unwrap()).unwrap(), index);
    let rate = ExchangeRate::new(5).unwrap();
    assert_eq!(serde_json::to_string(&rate).unwrap(), "5");
    assert_eq!(serde_json::from_str::<ExchangeRate>("5").unwrap(), rate);
}

#[test]
fn invalid_values_are_refused_on_the_way_in() {
    assert!(serde_json::from_str::<ContractSpec>(r#"{"quantity_scale":0,"settlement_scale":19}"#).is_err());
    assert!(serde_json::from_str::<FeeSchedule>(r#"{"maker_bps":-6,"taker_bps":5}"#).is_err());
    let funding = r#"{"interval_ms":0,"gap_max_ms":1,"interest_rate_e18":0,"damper_e18":0,"cap_e18":1}"#;
    assert!(serde_json::from_str::<FundingParams>(funding).is_err());
    assert!(serde_json::from_str::<InterestIndex>(r#"{"index_ray":1,"updated_s":0}"#).is_err());
    assert!(serde_json::from_str::<ExchangeRate>("0").is_err());
}
