//! Curve StableSwap against curvesim 0.5.0 (fixtures/curve_curvesim.json, scripts/curvesim_stableswap.py).

use pricing::curve::{self, exact};
use ruint::aliases::U256;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/curve_curvesim.json");

fn u(v: &Value) -> U256 {
    v.as_str().unwrap().parse().unwrap()
}

fn to_f64(x: U256) -> f64 {
    x.to_string().parse().unwrap()
}

fn pool_from(p: &Value) -> exact::StableSwapPool {
    let n = usize::try_from(p["n"].as_u64().unwrap()).unwrap();
    let mut rates = [U256::ZERO; 4];
    let mut balances = [U256::ZERO; 4];
    for k in 0..n {
        rates[k] = u(&p["rates"][k]);
        balances[k] = u(&p["balances"][k]);
    }
    exact::StableSwapPool {
        amp: U256::from(p["amp"].as_u64().unwrap()),
        a_precision: U256::from(1u8),
        fee: u(&p["fee"]),
        admin_fee: u(&p["admin_fee"]),
        rates,
        balances,
        n_coins: n,
    }
}

#[test]
fn d_get_y_and_exchanges_match_curvesim_exactly() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    for p in fixture["pools"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let mut pool = pool_from(p);
        let n = pool.n_coins;
        let xp = pool.xp().unwrap();
        for k in 0..n {
            assert_eq!(xp[k], u(&p["xp"][k]), "{name} xp[{k}]");
        }
        assert_eq!(pool.d().unwrap(), u(&p["d"]), "{name} D");
        for g in p["get_y"].as_array().unwrap() {
            let (i, j) = (g["i"].as_u64().unwrap() as usize, g["j"].as_u64().unwrap() as usize);
            let y = exact::get_y(i, j, u(&g["x"]), &xp[..n], pool.amp).unwrap();
            assert_eq!(y, u(&g["y"]), "{name} get_y({i},{j})");
        }
        let mut d_prev = pool.d().unwrap();
        for s in p["swaps"].as_array().unwrap() {
            let (i, j) = (s["i"].as_u64().unwrap() as usize, s["j"].as_u64().unwrap() as usize);
            let (dy, fee) = pool.exchange(i, j, u(&s["dx"])).unwrap();
            assert_eq!(dy, u(&s["dy"]), "{name} dy {s}");
            assert_eq!(fee, u(&s["fee"]), "{name} fee {s}");
            for k in 0..n {
                assert_eq!(pool.balances[k], u(&s["balances_after"][k]), "{name} balance[{k}] {s}");
            }
            let d = pool.d().unwrap();
            assert_eq!(d, u(&s["d_after"]), "{name} D after {s}");
            // Fees stay in the pool, so the invariant never falls across a swap.
            assert!(d >= d_prev, "{name}: D fell from {d_prev} to {d}");
            d_prev = d;
        }
    }
}

#[test]
fn equilibrium_solver_reproduces_curvesim_balances_from_its_marginal_prices() {
    // At external prices equal to the pool's own marginal prices the pool is already arbitraged, so the
    // equilibrium balances must be the current ones. curvesim's dydx is an independent closed form.
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    for p in fixture["pools"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let n = usize::try_from(p["n"].as_u64().unwrap()).unwrap();
        let amp = p["amp"].as_f64().unwrap();
        let d = to_f64(u(&p["d"])) / 1e18;
        let mut prices = vec![1.0];
        for j in 0..n - 1 {
            // dydx(0, j) = coins j received per coin 0 = p_0 / p_j.
            prices.push(1.0 / p["dydx_from_0"][j].as_f64().unwrap());
        }
        let x = curve::equilibrium_balances(d, amp, &prices).unwrap();
        for k in 0..n {
            let expected = to_f64(u(&p["xp"][k])) / 1e18;
            assert!((x[k] / expected - 1.0).abs() < 1e-10, "{name} coin {k}: {} vs curvesim {expected}", x[k]);
        }
        // And f64 get_D agrees with the contract's integer D.
        let balances: Vec<f64> = (0..n).map(|k| to_f64(u(&p["xp"][k])) / 1e18).collect();
        let d64 = curve::get_d_f64(&balances, amp).unwrap();
        assert!((d64 / d - 1.0).abs() < 1e-12, "{name}: {d64} vs {d}");
    }
}

#[test]
fn contract_a_is_whitepaper_a_times_n_pow_n_minus_1() {
    // The whitepaper invariant with A_w: A_w n^n S + D = A_w D n^n + D^(n+1) / (n^n P). For a 2-coin pool
    // with contract A = 100 (A_w = 50), check the integer D satisfies it with A_w, not with the contract A.
    let xp =
        [U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u8)), U256::from(3_000u64) * U256::from(10u64).pow(U256::from(18u8))];
    let d = to_f64(exact::get_d(&xp, U256::from(100u8)).unwrap()) / 1e18;
    let (x0, x1) = (1_000.0, 3_000.0);
    let residual = |a_w: f64| a_w * 4.0 * (x0 + x1) + d - a_w * d * 4.0 - d * d * d / (4.0 * x0 * x1);
    assert!(residual(50.0).abs() < 1e-9 * d * 200.0, "{}", residual(50.0));
    assert!(residual(100.0).abs() > 1.0);
}

const ARBITRAGE: &str = include_str!("fixtures/curve_arbitrage.json");

#[test]
fn lp_value_matches_curvesim_pool_arbitraged_by_real_swaps() {
    // curvesim's fee-less pool, arbitraged against external prices by actual exchange() calls
    // (scripts/curvesim_arbitrage.py), must end where the closed-form equilibrium says, and the LP share
    // must be worth what those balances are worth.
    use pricing::{Asset, CurveLp, Instrument, MarketState, PegId, UnderlyingId};
    let fixture: Value = serde_json::from_str(ARBITRAGE).unwrap();
    for c in fixture["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let amp = c["amp"].as_f64().unwrap();
        let balances: Vec<f64> = c["balances"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let prices: Vec<f64> = c["prices_usd"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let expected: Vec<f64> = c["arbitraged_balances"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let supply = c["total_supply"].as_f64().unwrap();
        let n = balances.len();
        // Each coin on its own underlying, priced directly.
        let mut market = MarketState::new(0.0, 0.0);
        let mut coins = Vec::new();
        for (k, &p) in prices.iter().enumerate() {
            let id = UnderlyingId(u16::try_from(k + 1).unwrap());
            market.set_spot_usd(id, p).unwrap();
            coins.push(Asset::pegged(id, PegId::PAR));
        }
        let lp = CurveLp::from_balances(&coins, amp, &balances, supply).unwrap();
        let claims = lp.claims_at(&prices).unwrap();
        for k in 0..n {
            let got = claims[k] * supply;
            assert!((got / expected[k] - 1.0).abs() < 1e-8, "{name} coin {k}: {got} vs curvesim {}", expected[k]);
        }
        let value = Instrument::CurveLp(lp).value(&market).unwrap();
        let reference = c["value_per_share_usd"].as_f64().unwrap();
        assert!((value / reference - 1.0).abs() < 1e-10, "{name}: {value} vs {reference}");
    }
}

#[test]
fn a_precision_generation_agrees_with_the_whitepaper_invariant() {
    // Factory-generation pools store A_precise = A x 100 and divide by A_PRECISION where A is used. Their D
    // must satisfy the same whitepaper invariant (with A_w = A / n^(n-1)) and agree with the original
    // formula to within integer rounding.
    let e18 = U256::from(10u64).pow(U256::from(18u8));
    let xp = [U256::from(1_000u64) * e18, U256::from(3_000u64) * e18, U256::from(2_500u64) * e18];
    for a in [1u64, 10, 100, 2000] {
        let d_old = exact::get_d(&xp, U256::from(a)).unwrap();
        let d_new = exact::get_d_precise(&xp, U256::from(a * 100), U256::from(100u8)).unwrap();
        let diff = if d_old > d_new { d_old - d_new } else { d_new - d_old };
        assert!(diff <= U256::from(2u8), "A={a}: {d_old} vs {d_new}");
        // Whitepaper residual with A_w = a / 9 (n = 3): A_w n^n S + D - A_w D n^n - D^4 / (n^n P).
        let d = to_f64(d_new) / 1e18;
        let (x0, x1, x2) = (1_000.0, 3_000.0, 2_500.0);
        let a_w = a as f64 / 9.0;
        let residual = a_w * 27.0 * (x0 + x1 + x2) + d - a_w * d * 27.0 - d.powi(4) / (27.0 * x0 * x1 * x2);
        assert!(residual.abs() < 1e-9 * d * (1.0 + a_w * 27.0), "A={a}: residual {residual}");
        // get_y of the new generation is consistent with its D: moving coin 0 and re-solving coin 1 keeps D.
        let x = xp[0] + xp[0] / U256::from(10u8);
        let y = exact::get_y_precise(0, 1, x, &xp, U256::from(a * 100), U256::from(100u8)).unwrap();
        let d_after = exact::get_d_precise(&[x, y, xp[2]], U256::from(a * 100), U256::from(100u8)).unwrap();
        let drift = if d_after > d_new { d_after - d_new } else { d_new - d_after };
        assert!(drift <= U256::from(10u8), "A={a}: D {d_new} -> {d_after}");
    }
}
