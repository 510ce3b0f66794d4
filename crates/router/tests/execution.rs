//! Slicing, internal crossing, the footprint cap, the cost model and hedge orders on the default venues.

use money::Amount;
use router::hedge::{Exposure, HedgeLimits, Side, hedge_orders};
use router::slicer::{Order, SliceParams, schedule};
use router::{RouterError, default_venues};
use std::collections::BTreeMap;

fn eth_order(eth: &str, offsetting: &str) -> (router::Market, Order) {
    let market = default_venues().unwrap();
    let (from, to) = (market.token("ETH").unwrap(), market.token("USDC").unwrap());
    let amount = market.parse_amount(from, eth).unwrap();
    let offsetting_flow = market.parse_amount(from, offsetting).unwrap();
    (market, Order { from, to, amount, offsetting_flow })
}

#[test]
fn same_seed_same_schedule_other_seed_other_schedule() {
    let (market, order) = eth_order("3000", "0");
    let params = SliceParams::default_params();
    let a = schedule(&market, order, &params, 7).unwrap();
    let b = schedule(&market, order, &params, 7).unwrap();
    let c = schedule(&market, order, &params, 8).unwrap();
    assert_eq!(a, b);
    assert_ne!(
        a.slices.iter().map(|s| s.plan.amount_in).collect::<Vec<_>>(),
        c.slices.iter().map(|s| s.plan.amount_in).collect::<Vec<_>>()
    );
    assert!(a.slices.len() > 1, "3,000 ETH must need several slices under a 10 bp cap");
    // Sizes differ (randomised), times rise within the horizon.
    let sizes: Vec<_> = a.slices.iter().map(|s| s.plan.amount_in.0).collect();
    assert!(sizes.iter().any(|&s| s != sizes[0]));
    assert!(a.slices.windows(2).all(|w| w[0].at_seconds < w[1].at_seconds));
    assert!(a.slices.last().unwrap().at_seconds < params.horizon_seconds);
}

#[test]
fn every_slice_respects_the_footprint_cap_and_the_order_is_conserved() {
    let (market, order) = eth_order("3000", "0");
    let params = SliceParams::default_params();
    let s = schedule(&market, order, &params, 11).unwrap();
    let total: i128 = s.slices.iter().map(|x| x.plan.amount_in.0).sum::<i128>() + s.crossed_internally.0;
    assert_eq!(total, order.amount.0);
    for slice in &s.slices {
        assert!(slice.footprint_bps <= params.footprint_cap_bps, "{} bp", slice.footprint_bps);
    }
}

#[test]
fn crossing_internally_first_reduces_external_flow_and_cost() {
    let (market, order) = eth_order("3000", "1000");
    let params = SliceParams::default_params();
    let crossed = schedule(&market, order, &params, 3).unwrap();
    let (_, bare) = eth_order("3000", "0");
    let uncrossed = schedule(&market, bare, &params, 3).unwrap();
    assert_eq!(crossed.crossed_internally, market.parse_amount(order.from, "1000").unwrap());
    assert!(crossed.cost.total_usd < uncrossed.cost.total_usd);
    // Fully offset: nothing goes outside and nothing is paid.
    let (_, all) = eth_order("500", "800");
    let none = schedule(&market, all, &params, 3).unwrap();
    assert!(none.slices.is_empty());
    assert_eq!(none.cost.total_usd, 0.0);
}

#[test]
fn slicing_trades_impact_for_adverse_selection() {
    let (market, order) = eth_order("3000", "0");
    let sliced = schedule(&market, order, &SliceParams::default_params(), 5).unwrap();
    let immediate_params = SliceParams { footprint_cap_bps: 10_000.0, ..SliceParams::default_params() };
    let immediate = schedule(&market, order, &immediate_params, 5).unwrap();
    assert_eq!(immediate.slices.len(), 1);
    assert_eq!(immediate.cost.adverse_selection_usd, 0.0);
    assert!(sliced.cost.impact_usd < immediate.cost.impact_usd);
    assert!(sliced.cost.adverse_selection_usd > 0.0);
    eprintln!("immediate {:?}\nsliced ({} slices) {:?}", immediate.cost, sliced.slices.len(), sliced.cost);
}

#[test]
fn a_cap_that_needs_too_many_slices_is_refused() {
    let (market, order) = eth_order("3000", "0");
    let params = SliceParams { slices_max: 2, ..SliceParams::default_params() };
    assert!(matches!(schedule(&market, order, &params, 1), Err(RouterError::LimitExceeded { .. })));
}

fn limits(eth_residual: &str, cost_bps: f64) -> HedgeLimits {
    let market = default_venues().unwrap();
    let eth = market.token("ETH").unwrap();
    let mut residual = BTreeMap::new();
    residual.insert("ETH".to_string(), market.parse_amount(eth, eth_residual).unwrap());
    HedgeLimits { residual_delta_max: residual, hedge_cost_bps_max: cost_bps, quote_token: "USDC".into() }
}

#[test]
fn a_long_exposure_beyond_the_band_is_sold_back_to_flat() {
    let market = default_venues().unwrap();
    let eth = market.token("ETH").unwrap();
    let mut exposure = Exposure::default();
    exposure.delta.insert("ETH".into(), market.parse_amount(eth, "1000").unwrap());
    let hedges = hedge_orders(&market, &exposure, &limits("200", 50.0)).unwrap();
    assert_eq!(hedges.len(), 1);
    let h = &hedges[0];
    // The engine's rule: beyond the band of 200, all 1,000 are sold (back to flat).
    assert_eq!(h.delta_after, Amount(0));
    assert!(h.orders.iter().all(|o| o.side == Side::Sell));
    assert!(h.orders.iter().any(|o| o.venue == "perp-eth-usdc"), "the perp book is a hedge venue: {:?}", h.orders);
    let sold: i128 = h.orders.iter().map(|o| o.amount_in.0).sum();
    assert_eq!(sold, market.parse_amount(eth, "1000").unwrap().0);
    // Limit prices are below the 3,000 reference (a sell) and cost is positive and within the limit.
    assert!(h.orders.iter().all(|o| o.limit_price < 3000.0 && o.limit_price > 2900.0), "{:?}", h.orders);
    assert!(h.cost_bps > 0.0 && h.cost_bps < 50.0);
}

#[test]
fn a_short_exposure_is_bought_and_within_limits_nothing_trades() {
    let market = default_venues().unwrap();
    let eth = market.token("ETH").unwrap();
    let mut exposure = Exposure::default();
    exposure.delta.insert("ETH".into(), Amount(-market.parse_amount(eth, "700").unwrap().0));
    let hedges = hedge_orders(&market, &exposure, &limits("100", 50.0)).unwrap();
    let h = &hedges[0];
    assert!(h.orders.iter().all(|o| o.side == Side::Buy));
    // All 700 are bought back to flat, never beyond it: what is left is less than the ETH one raw
    // USDC buys (the sizing's resolution), here under 10^-9 ETH.
    let bought: i128 = h.orders.iter().map(|o| o.amount_out.0).sum();
    assert!(bought <= market.parse_amount(eth, "700").unwrap().0, "{bought}");
    assert_eq!(h.delta_after.0, bought - market.parse_amount(eth, "700").unwrap().0);
    assert!(h.delta_after.0 <= 0 && h.delta_after.0 > -1_000_000_000, "{:?}", h.delta_after);
    // The band's edge, as in the engine: |delta| equal to the residual stays; one raw unit more is
    // hedged whole.
    let small = hedge_orders(&market, &exposure, &limits("700", 50.0)).unwrap();
    assert!(small.is_empty());
    let mut beyond = limits("700", 50.0);
    beyond.residual_delta_max.insert("ETH".into(), Amount(market.parse_amount(eth, "700").unwrap().0 - 1));
    let whole = hedge_orders(&market, &exposure, &beyond).unwrap();
    assert!(whole[0].delta_after.0 <= 0 && whole[0].delta_after.0 > -1_000_000_000, "{:?}", whole[0].delta_after);
}

#[test]
fn expensive_hedges_and_missing_limits_are_refused() {
    let market = default_venues().unwrap();
    let eth = market.token("ETH").unwrap();
    let mut exposure = Exposure::default();
    exposure.delta.insert("ETH".into(), market.parse_amount(eth, "5000").unwrap());
    assert!(matches!(hedge_orders(&market, &exposure, &limits("0", 1.0)), Err(RouterError::LimitExceeded { .. })));
    exposure.delta.insert("WBTC".into(), Amount(100_000_000));
    assert!(matches!(hedge_orders(&market, &exposure, &limits("0", 500.0)), Err(RouterError::ParameterInvalid { .. })));
}
