//! Conformance of the router's Curve venue with curvesim 0.5.0 (`CurvePool.exchange`): 1,800 seeded
//! random exchanges on three pools, two of them the default venue set's 3pool and WBTC/sBTC pool, from
//! fixtures/curvesim_random_swaps.json (made by scripts/curvesim_random_swaps.py in a venv with
//! curvesim==0.5.0; the fixture is committed with its script, as in `pricing`, so the test needs no
//! Python). Every output and the balances (every 25 swaps) must agree exactly.

use money::Amount;
use router::venue::{CurveStableSwap, TokenId, Venue};
use router::{VenueModel, default_venues};
use ruint::aliases::U256;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/curvesim_random_swaps.json");

fn u(v: &Value) -> U256 {
    v.as_str().unwrap().parse().unwrap()
}

fn index(v: &Value) -> usize {
    usize::try_from(v.as_u64().unwrap()).unwrap()
}

#[test]
fn random_exchanges_match_curvesim_exactly() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let mut checked = 0;
    for p in fixture["pools"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let decimals: Vec<u8> = p["decimals"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as u8).collect();
        let balances: Vec<U256> = p["balances"].as_array().unwrap().iter().map(u).collect();
        let tokens: Vec<TokenId> = (0..decimals.len() as u16).map(TokenId).collect();
        let fee = u(&p["fee"]).to::<u64>();
        let admin_fee = u(&p["admin_fee"]).to::<u64>();
        let mut venue = CurveStableSwap::new(name, &tokens, &decimals, p["amp"].as_u64().unwrap(), fee, admin_fee, &balances).unwrap();
        for (k, s) in p["swaps"].as_array().unwrap().iter().enumerate() {
            let (i, j) = (index(&s["i"]), index(&s["j"]));
            let dx = Amount(u(&s["dx"]).to::<u128>() as i128);
            let quoted = venue.quote(tokens[i], tokens[j], dx).unwrap();
            let paid = venue.execute(tokens[i], tokens[j], dx).unwrap();
            assert_eq!(quoted, paid, "{name} swap {k}: quote equals execute");
            assert_eq!(U256::from(paid.0 as u128), u(&s["dy"]), "{name} swap {k}: dy");
            if let Some(after) = s["balances_after"].as_array() {
                for (c, b) in after.iter().enumerate() {
                    assert_eq!(venue.pool.balances[c], u(b), "{name} swap {k}: balance {c}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 1_800);
}

#[test]
fn the_fixture_pools_are_the_default_venues() {
    // The first two fixture pools must be the default venue file's Curve pools, or the conformance
    // claim for the default set would be about other pools.
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let market = default_venues().unwrap();
    for p in fixture["pools"].as_array().unwrap().iter().take(2) {
        let name = p["name"].as_str().unwrap();
        let VenueModel::Curve(venue) = &market.venues[market.venue_index(name).unwrap()] else { panic!("{name} is not a Curve venue") };
        assert_eq!(venue.pool.amp, U256::from(p["amp"].as_u64().unwrap()), "{name} A");
        assert_eq!(venue.pool.fee, u(&p["fee"]), "{name} fee");
        assert_eq!(venue.pool.admin_fee, u(&p["admin_fee"]), "{name} admin fee");
        for (k, b) in p["balances"].as_array().unwrap().iter().enumerate() {
            assert_eq!(venue.pool.balances[k], u(b), "{name} balance {k}");
        }
    }
}
