//! Hand-computed plans on a two-scenario model where the initial margin is the worst loss.

use super::*;
use margin_core::{InstrumentArray, Underlying};

fn usd(x: i128) -> i128 {
    x * 10i128.pow(18)
}

fn array(id: &str, decimals: u8, underlying: u16, pnl_usd: [i64; 2]) -> InstrumentArray {
    let pnl = pnl_usd.iter().map(|p| p * 1_000_000).collect();
    InstrumentArray { id: id.into(), decimals, scaling: Scaling::Linear { underlying }, pnl }
}

/// ETH and ETH-PERP: -100/+100 USD per unit; BTC: -5000/+4000 per unit. ES over the worst 1 of 2.
fn model() -> RiskModel {
    RiskModel {
        label: "liquidation".into(),
        as_of_ms: 0,
        fhs_scenarios: 2,
        floor_weights_ppm: vec![],
        tail_ppm: 500_000,
        maintenance_ppm: 750_000,
        underlyings: vec![
            Underlying { name: "ETH".into(), ref_price: UsdPrice(usd(2_000)) },
            Underlying { name: "BTC".into(), ref_price: UsdPrice(usd(50_000)) },
        ],
        instruments: vec![array("BTC", 8, 1, [-5_000, 4_000]), array("ETH", 18, 0, [-100, 100]), array("ETH-PERP", 9, 0, [-100, 100])],
        charges: Default::default(),
    }
}

const PRICES: [Option<UsdPrice>; 2] = [Some(UsdPrice(2_000 * 10i128.pow(18))), Some(UsdPrice(50_000 * 10i128.pow(18)))];

fn book(m: &RiskModel, perp_qty: i128) -> Vec<Position> {
    vec![
        Position { instrument: m.instrument("ETH").unwrap(), qty: 10 * 10i128.pow(18) },
        Position { instrument: m.instrument("ETH-PERP").unwrap(), qty: perp_qty },
        Position { instrument: m.instrument("BTC").unwrap(), qty: 10i128.pow(8) },
    ]
}

fn groups(m: &RiskModel, positions: &[Position]) -> Vec<Group> {
    hedge_groups(m, positions)
        .into_iter()
        .map(|legs| {
            let hedge = legs.len() > 1;
            Group { legs, close_cost: UsdValue(usd(if hedge { 40 } else { 50 })) }
        })
        .collect()
}

fn params(throttle_ppm: u32) -> SelectParams {
    SelectParams { target_ppm: 1_000_000, step_ppm: 250_000, throttle_ppm }
}

#[test]
fn closes_the_naked_leg_and_keeps_the_hedge_whole() {
    let m = model();
    let positions = book(&m, -10 * 10i128.pow(9));
    let g = groups(&m, &positions);
    assert_eq!(g.len(), 2, "the ETH spot/perp hedge is one group, BTC another");
    let risk = m.account(&positions, &PRICES).unwrap();
    // IM 5000 (BTC's loss; the hedge nets to zero). Equity 3000: close 25% of BTC twice:
    // IM 3750 then 2500; costs 12.5 + 12.5 = 25; 3000 - 25 >= 2500.
    let plan = plan(&m, &risk, UsdValue(usd(3_000)), &g, &PRICES, &params(1_000_000)).unwrap();
    assert!(plan.reached);
    assert_eq!(plan.steps.len(), 2);
    assert!(plan.steps.iter().all(|s| s.group == 1));
    assert_eq!(plan.steps[0].closes[0].qty, -25_000_000);
    assert_eq!(plan.im_after, UsdValue(usd(2_500)));
    assert_eq!(plan.cost, UsdValue(usd(25)));
}

#[test]
fn unreachable_target_closes_what_helps_and_says_so() {
    let m = model();
    let positions = book(&m, -10 * 10i128.pow(9));
    let g = groups(&m, &positions);
    let risk = m.account(&positions, &PRICES).unwrap();
    let plan = plan(&m, &risk, UsdValue(usd(-10)), &g, &PRICES, &params(1_000_000)).unwrap();
    assert!(!plan.reached);
    let closed: i128 = plan.steps.iter().map(|s| s.closes[0].qty).sum();
    assert_eq!(closed, -(10i128.pow(8)), "all of the BTC and nothing of the hedge");
    assert_eq!(plan.im_after, UsdValue(0));
}

#[test]
fn throttle_limits_one_liquidation() {
    let m = model();
    let positions = book(&m, -10 * 10i128.pow(9));
    let g = groups(&m, &positions);
    let risk = m.account(&positions, &PRICES).unwrap();
    let plan = plan(&m, &risk, UsdValue(usd(1_000)), &g, &PRICES, &params(500_000)).unwrap();
    assert!(!plan.reached);
    assert_eq!(plan.steps.len(), 2, "half of the BTC at most");
    assert_eq!(plan.im_after, UsdValue(usd(2_500)));
}

#[test]
fn an_unbalanced_hedge_closes_in_proportion() {
    let m = model();
    // 10 ETH long against 4 ETH-PERP short: net 6 ETH long, no BTC.
    let positions = vec![book(&m, -4 * 10i128.pow(9))[0], book(&m, -4 * 10i128.pow(9))[1]];
    let g = groups(&m, &positions);
    assert_eq!(g.len(), 1);
    let risk = m.account(&positions, &PRICES).unwrap();
    // IM 600; equity 500: close 25% of both legs -> net 4.5 ETH, IM 450, cost 10: 490 >= 450.
    let plan = plan(&m, &risk, UsdValue(usd(500)), &g, &PRICES, &params(1_000_000)).unwrap();
    assert!(plan.reached);
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].closes[0].qty, -25 * 10i128.pow(17));
    assert_eq!(plan.steps[0].closes[1].qty, 10i128.pow(9));
    assert_eq!(plan.im_after, UsdValue(usd(450)));
}
