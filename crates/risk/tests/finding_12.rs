//! Finding 12 (issue 8): the order of a portfolio's positions never changes a bit of the margin.

use risk::margin::Scratch;
use risk::report::{compute, report_of};
use risk::{Portfolio, RiskParams, render_json};

mod common;

const LINES: [&str; 7] = [
    "[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"-3.3\"\n",
    "[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"1.1\"\n",
    "[[positions]]\ninstrument = \"BTC-PERP@gmx\"\nquantity = \"0.7\"\n",
    "[[positions]]\ninstrument = \"sBTC\"\nquantity = \"0.3\"\n",
    "[[balances]]\nasset = \"USDC\"\namount = \"10000.1\"\nvenue = \"dydx\"\n",
    "[[balances]]\nasset = \"ETH\"\namount = \"2.2\"\n",
    "[[balances]]\nasset = \"stETH\"\namount = \"0.9\"\n",
];

fn book(order: &[usize]) -> Portfolio {
    let body: String = order.iter().map(|&k| LINES[k]).collect();
    Portfolio::from_toml(&format!("name = \"f12\"\nas_of = \"2024-12-31\"\n{body}")).unwrap()
}

#[test]
fn finding_12_position_order_never_changes_a_bit() {
    let data = common::history_or_calibration();
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let orders: [[usize; 7]; 4] = [[0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0], [1, 3, 5, 0, 2, 4, 6], [4, 0, 6, 2, 1, 5, 3]];
    let reports: Vec<String> = orders
        .iter()
        .map(|o| {
            let p = book(o);
            let c = compute(&config, &params, &p, &data, None, None).unwrap();
            render_json(&report_of(&config, &params, &p, &data, &c)).unwrap()
        })
        .collect();
    for r in &reports[1..] {
        assert_eq!(r, &reports[0]);
    }
    // The engine itself is order-blind: any permutation of the (instrument, units) list.
    let p = book(&orders[0]);
    let c = compute(&config, &params, &p, &data, None, None).unwrap();
    let mut pos: Vec<(usize, f64)> = c.book.positions.iter().map(|p| (p.instrument, p.quantity)).collect();
    let mut scratch = Scratch::default();
    let a = c.engine.margin(&pos, &[], false, &mut scratch);
    pos.reverse();
    pos.rotate_left(3);
    let b = c.engine.margin(&pos, &[], false, &mut scratch);
    assert_eq!(a.initial_margin.to_bits(), b.initial_margin.to_bits());
    assert_eq!(a.net_liquidation_value.to_bits(), b.net_liquidation_value.to_bits());
    let mut cand = vec![0u32; 80];
    let x = c.engine.margin_batch(&pos, &mut scratch, &mut cand);
    pos.reverse();
    let y = c.engine.margin_batch(&pos, &mut scratch, &mut cand);
    assert_eq!(x.initial_margin.to_bits(), y.initial_margin.to_bits());
}
