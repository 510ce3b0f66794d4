//! Properties of routing and venues on the default set (proptest): a split is never worse than the best
//! single venue path, amounts are conserved, a quote equals the execution, and a schedule never
//! exceeds its footprint cap.

use money::Amount;
use proptest::prelude::*;
use router::slicer::{Order, SliceParams, schedule};
use router::split::{self, route};
use router::{Venue, default_venues};

/// (from, to, largest whole-token amount) pairs with spot routes in the default set.
const PAIRS: [(&str, &str, u64); 6] = [
    ("ETH", "USDC", 20_000),
    ("USDC", "ETH", 40_000_000),
    ("sBTC", "USDC", 150),
    ("WBTC", "USDC", 300),
    ("USDC", "DAI", 20_000_000),
    ("DAI", "USDT", 20_000_000),
];

fn setup(pair: usize, fraction_ppm: u64) -> (router::Market, router::TokenId, router::TokenId, Amount) {
    let market = default_venues().unwrap();
    let (from, to, max) = PAIRS[pair];
    let (from, to) = (market.token(from).unwrap(), market.token(to).unwrap());
    let one = market.token_info(from).unwrap().scale.one();
    let amount = Amount((i128::from(max) * one / 1_000_000 * i128::from(fraction_ppm)).max(1_000_000));
    (market, from, to, amount)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn split_is_never_worse_than_the_best_single_venue(pair in 0..PAIRS.len(), fraction_ppm in 1u64..1_000_000) {
        let (market, from, to, amount) = setup(pair, fraction_ppm);
        let plan = route(&market, from, to, amount).unwrap();
        let (_, single) = split::best_single(&market, from, to, amount).unwrap();
        prop_assert!(plan.amount_out >= single, "split {} < single {} for {:?}", plan.amount_out.0, single.0, PAIRS[pair]);
    }

    #[test]
    fn amounts_are_conserved_and_execution_pays_the_quote(pair in 0..PAIRS.len(), fraction_ppm in 1u64..1_000_000) {
        let (market, from, to, amount) = setup(pair, fraction_ppm);
        let plan = route(&market, from, to, amount).unwrap();
        let inputs: i128 = plan.candidates.iter().map(|c| c.amount_in()).sum();
        prop_assert_eq!(inputs, amount.0);
        for c in &plan.candidates {
            for pair in c.hops.windows(2) {
                prop_assert_eq!(pair[0].amount_out(), pair[1].amount_in(), "a hop's output feeds the next hop whole");
            }
        }
        let mut after = market.clone();
        prop_assert_eq!(split::execute(&mut after, &plan).unwrap(), plan.amount_out);
    }

    #[test]
    fn every_venue_quote_equals_its_execution(venue in 0usize..11, side in 0usize..2, fraction_ppm in 1u64..300_000) {
        let market = default_venues().unwrap();
        let v = &market.venues[venue % market.venues.len()];
        let tokens: Vec<_> = (0..market.tokens.len() as u16).map(router::TokenId).collect();
        let pairs: Vec<_> = tokens.iter().flat_map(|&a| tokens.iter().map(move |&b| (a, b))).filter(|&(a, b)| v.trades(a, b)).collect();
        prop_assume!(!pairs.is_empty());
        let (from, to) = pairs[side % pairs.len()];
        let max = v.max_input(from, to).unwrap().0;
        let amount = Amount((max / 1_000_000 * i128::from(fraction_ppm)).max(1));
        let mut executed = v.clone();
        match v.quote(from, to, amount) {
            Ok(q) => prop_assert_eq!(executed.execute(from, to, amount).unwrap(), q),
            Err(_) => {
                prop_assert!(executed.execute(from, to, amount).is_err());
                prop_assert_eq!(&executed, v, "a refused execution changes nothing");
            }
        }
    }

    #[test]
    fn no_slice_exceeds_the_footprint_cap(eth in 1u64..6_000, cap_bp in 5u32..40, seed in any::<u64>()) {
        let market = default_venues().unwrap();
        let (from, to) = (market.token("ETH").unwrap(), market.token("USDC").unwrap());
        let amount = market.parse_amount(from, &eth.to_string()).unwrap();
        let params = SliceParams { footprint_cap_bps: f64::from(cap_bp), slices_max: 400, ..SliceParams::default_params() };
        let s = schedule(&market, Order { from, to, amount, offsetting_flow: Amount(0) }, &params, seed).unwrap();
        prop_assert_eq!(s.slices.iter().map(|x| x.plan.amount_in.0).sum::<i128>(), amount.0);
        for slice in &s.slices {
            prop_assert!(slice.footprint_bps <= params.footprint_cap_bps);
        }
    }
}
