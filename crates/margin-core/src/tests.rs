//! Hand-computed references for the integer aggregation.

use super::*;

fn usd(x: i128) -> UsdPrice {
    UsdPrice(x * 10i128.pow(18))
}

/// Two instruments over 4 FHS columns and 1 floor column:
/// ETH (18 decimals, linear on ETH at 2000), USDC (6 decimals, fixed).
fn model() -> RiskModel {
    RiskModel {
        label: "hand".into(),
        as_of_ms: 0,
        fhs_scenarios: 4,
        floor_weights_ppm: vec![500_000],
        tail_ppm: 500_000, // ES over the worst 2 of 4
        maintenance_ppm: 750_000,
        underlyings: vec![Underlying { name: "ETH".into(), ref_price: usd(2000) }],
        instruments: vec![
            InstrumentArray {
                id: "ETH".into(),
                decimals: 18,
                scaling: Scaling::Linear { underlying: 0 },
                // per ETH: -200, -100, +50, +300 USD; floor -1000 USD
                pnl: vec![-200_000_000, -100_000_000, 50_000_000, 300_000_000, -1_000_000_000],
            },
            InstrumentArray { id: "USDC".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0, 0, 0, 0, -10_000] },
        ],
    }
}

fn usd_value(x: i128) -> UsdValue {
    UsdValue(x * 10i128.pow(18))
}

#[test]
fn long_eth_at_model_price() {
    let m = model();
    m.validate().unwrap();
    let eth = m.instrument("ETH").unwrap();
    let prices = [Some(usd(2000))];
    // 2 ETH long: FHS losses 400, 200, -100, -600 -> ES of worst 2 = 300; floor 2000 x 0.5 = 1000.
    let r = m.account(&[Position { instrument: eth, qty: 2 * 10i128.pow(18) }], &prices).unwrap();
    let req = m.requirement(&r).unwrap();
    assert_eq!(req.initial, usd_value(1000));
    assert_eq!(req.maintenance, usd_value(750));
    assert_eq!(req.worst_scenario, 4);
}

#[test]
fn short_eth_scales_with_price() {
    let m = model();
    let eth = m.instrument("ETH").unwrap();
    // 1 ETH short at 3000 (1.5x the model price): losses -300, -150, 75, 450 -> ES 262.5;
    // floor gain. IM = 262.5.
    let r = m.account(&[Position { instrument: eth, qty: -(10i128.pow(18)) }], &[Some(usd(3000))]).unwrap();
    let req = m.requirement(&r).unwrap();
    assert_eq!(req.initial, UsdValue(262_500_000_000_000_000_000));
    assert_eq!(req.worst_scenario, 3);
}

#[test]
fn rounding_is_against_the_account() {
    let m = model();
    let eth = m.instrument("ETH").unwrap();
    // One wei long: nano-units round up to 1, so losses are 1e-9 x 200 USD, never zero.
    let r = m.account(&[Position { instrument: eth, qty: 1 }], &[Some(usd(2000))]).unwrap();
    let req = m.requirement(&r).unwrap();
    assert!(req.initial.0 > 0);
}

#[test]
fn missing_price_and_bad_model_are_errors() {
    let m = model();
    let eth = m.instrument("ETH").unwrap();
    let err = m.account(&[Position { instrument: eth, qty: 1 }], &[None]).unwrap_err();
    assert_eq!(err, MarginError::MissingPrice("ETH".into()));
    let mut bad = model();
    bad.instruments.swap(0, 1);
    assert!(bad.validate().is_err());
    let mut bad = model();
    bad.instruments[0].pnl.pop();
    assert!(bad.validate().is_err());
}

#[test]
fn incremental_equals_full() {
    let m = model();
    let eth = m.instrument("ETH").unwrap();
    let usdc = m.instrument("USDC").unwrap();
    let prices = [Some(usd(2500))];
    let base = [Position { instrument: usdc, qty: 5_000_000_000 }];
    let order = [Position { instrument: eth, qty: 3 * 10i128.pow(17) }];
    let acct = m.account(&base, &prices).unwrap();
    let inc = m.with(&acct, &order, &prices).unwrap();
    let full = m.requirement(&m.account(&[base[0], order[0]], &prices).unwrap()).unwrap();
    assert_eq!(inc, full);
}
