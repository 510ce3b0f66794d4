//! Property tests: AMM invariants hold after swaps, LP value equals the value of its token claims, the
//! arbitraged pool's marginal price equals the external price, and implied vol inverts the price.

use pricing::curve::{self, exact as curve_exact};
use pricing::options::{self, OptionInputs, OptionModel, OptionRight};
use pricing::uniswap_v2::{UniswapV2Lp, exact as v2};
use pricing::uniswap_v3::{UniswapV3Position, exact as v3};
use pricing::{Asset, UnderlyingId};
use proptest::prelude::*;
use ruint::aliases::U256;

fn e18(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18u8))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// getAmountOut's output always passes the pair's fee-adjusted k check, one more wei never does, and
    /// k grows across the swap (the fee stays in the pool).
    #[test]
    fn v2_swap_keeps_k_and_is_tight(r0 in 1_000u64..1_000_000_000, r1 in 1_000u64..1_000_000_000, amount in 1u64..1_000_000_000, dir in any::<bool>()) {
        let (r0, r1, amount_in) = (e18(r0) / U256::from(1000u16), e18(r1) / U256::from(1000u16), e18(amount) / U256::from(1_000_000u32));
        let (reserve_in, reserve_out) = if dir { (r0, r1) } else { (r1, r0) };
        let out = v2::get_amount_out(amount_in, reserve_in, reserve_out).unwrap();
        prop_assume!(out > U256::ZERO);
        let (ins, outs, outs_plus) = if dir {
            ((amount_in, U256::ZERO), (U256::ZERO, out), (U256::ZERO, out + U256::from(1u8)))
        } else {
            ((U256::ZERO, amount_in), (out, U256::ZERO), (out + U256::from(1u8), U256::ZERO))
        };
        let (b0, b1) = v2::swap((r0, r1), ins, outs).unwrap();
        prop_assert!(b0 * b1 >= r0 * r1);
        prop_assert!(v2::swap((r0, r1), ins, outs_plus).is_err());
    }

    /// A v2 share's value equals the value of its equilibrium claims, the claims keep k, and the pool's
    /// marginal price y/x equals the external price ratio.
    #[test]
    fn v2_lp_value_is_value_of_claims(x in 1.0f64..1e9, y in 1.0f64..1e9, supply in 1.0f64..1e9, p0 in 1e-3f64..1e5, p1 in 1e-3f64..1e5) {
        let lp = UniswapV2Lp::from_reserves(Asset::native(UnderlyingId(1)), Asset::native(UnderlyingId(2)), x, y, supply).unwrap();
        let (cx, cy) = lp.claims_at(p0, p1);
        let value = lp.value_at(p0, p1);
        prop_assert!((value - (cx * p0 + cy * p1)).abs() <= 1e-12 * value);
        prop_assert!((cx * cy * supply * supply / (x * y) - 1.0).abs() < 1e-12);
        prop_assert!(((cy / cx) / (p0 / p1) - 1.0).abs() < 1e-12);
        // And never more than the value of today's reserves at the same prices (arbitrage only takes).
        prop_assert!(value <= (x * p0 + y * p1) / supply * (1.0 + 1e-12));
    }

    /// v3: the f64 amounts agree with the contract's integer LiquidityAmounts at the same sqrt price, and
    /// value equals the value of those amounts.
    #[test]
    fn v3_amounts_agree_with_integer_math(tick_lower in -50_000i32..50_000, width in 1i32..20_000, tick_now in -80_000i32..80_000, liquidity in 1u64..u64::MAX) {
        let tick_upper = tick_lower + width;
        let a = v3::get_sqrt_ratio_at_tick(tick_lower).unwrap();
        let b = v3::get_sqrt_ratio_at_tick(tick_upper).unwrap();
        let p = v3::get_sqrt_ratio_at_tick(tick_now).unwrap();
        let (x_int, y_int) = v3::get_amounts_for_liquidity(p, a, b, u128::from(liquidity)).unwrap();
        let pos = UniswapV3Position::from_ticks(Asset::native(UnderlyingId(1)), Asset::native(UnderlyingId(2)), liquidity as f64, tick_lower, tick_upper, 0, 0).unwrap();
        let sp = v3::sqrt_price_x96_to_f64(p);
        // External prices whose ratio is exactly this pool price.
        let (p0, p1) = (sp * sp, 1.0);
        let (x, y) = pos.amounts_at(p0, p1);
        let to_f64 = |v: U256| -> f64 { v.to_string().parse().unwrap() };
        let (xi, yi) = (to_f64(x_int), to_f64(y_int));
        prop_assert!((x - xi).abs() <= 1e-9 * xi.max(1.0) + 2.0, "x {} vs {}", x, xi);
        prop_assert!((y - yi).abs() <= 1e-9 * yi.max(1.0) + 2.0, "y {} vs {}", y, yi);
        let v = pos.value_at(p0, p1);
        prop_assert!((v - (x * p0 + y * p1)).abs() <= 1e-12 * v.max(1e-300));
    }

    /// v3 swap step: the price reached with `amount_in` never needs more input than was paid (rounding in
    /// the pool's favour), and the output at that price is within what the liquidity holds.
    #[test]
    fn v3_next_price_is_paid_for(tick in -200_000i32..200_000, liquidity in 1_000u64..u64::MAX, amount_in in 1u64..u64::MAX, zero_for_one in any::<bool>()) {
        let sqrt_p = v3::get_sqrt_ratio_at_tick(tick).unwrap();
        let l = u128::from(liquidity) * 1_000;
        let amount = U256::from(amount_in);
        let sqrt_q = v3::get_next_sqrt_price_from_input(sqrt_p, l, amount, zero_for_one).unwrap();
        if zero_for_one {
            prop_assert!(sqrt_q <= sqrt_p);
            prop_assert!(v3::get_amount0_delta(sqrt_q, sqrt_p, l, true).unwrap() <= amount);
        } else {
            prop_assert!(sqrt_q >= sqrt_p);
            prop_assert!(v3::get_amount1_delta(sqrt_p, sqrt_q, l, true).unwrap() <= amount);
        }
    }

    /// v3 swap step: exact input never spends more than offered (input + fee), exact output never pays
    /// more than asked, and the price moves towards the target without passing it.
    #[test]
    fn v3_swap_step_respects_its_budget(tick in -100_000i32..100_000, target_offset in -5_000i32..5_000, liquidity in 1u64..u64::MAX, amount in 1u64..u64::MAX, exact_in in any::<bool>(), fee in 0u32..100_000) {
        prop_assume!(target_offset != 0);
        let current = v3::get_sqrt_ratio_at_tick(tick).unwrap();
        let target = v3::get_sqrt_ratio_at_tick(tick + target_offset).unwrap();
        let amount = U256::from(amount);
        let step = v3::compute_swap_step(current, target, u128::from(liquidity), amount, exact_in, fee).unwrap();
        if exact_in {
            prop_assert!(step.amount_in + step.fee_amount <= amount);
        } else {
            prop_assert!(step.amount_out <= amount);
        }
        let (lo, hi) = if current < target { (current, target) } else { (target, current) };
        prop_assert!(step.sqrt_price_next_x96 >= lo && step.sqrt_price_next_x96 <= hi);
    }

    /// Curve (integer): D never falls across a swap and balances stay positive.
    #[test]
    fn curve_d_never_falls_across_swaps(amp in 1u64..5_000, b0 in 1_000u64..100_000_000, b1 in 1_000u64..100_000_000, b2 in 1_000u64..100_000_000, swaps in proptest::collection::vec((0usize..3, 1usize..3, 1u64..10_000_000), 1..6)) {
        let mut pool = curve_exact::StableSwapPool {
            amp: U256::from(amp),
            a_precision: U256::from(1u8),
            fee: U256::from(4_000_000u64),
            admin_fee: U256::from(5_000_000_000u64),
            rates: [e18(1), e18(1) * U256::from(10u64).pow(U256::from(12u8)), e18(1), U256::ZERO],
            balances: [e18(b0), U256::from(b1) * U256::from(1_000_000u64), e18(b2), U256::ZERO],
            n_coins: 3,
        };
        let mut d = pool.d().unwrap();
        for (i, step, dx) in swaps {
            let j = (i + step) % 3;
            let dx = if i == 1 { U256::from(dx) * U256::from(1_000_000u64) } else { e18(dx) };
            pool.exchange(i, j, dx).unwrap();
            let d_new = pool.d().unwrap();
            prop_assert!(d_new + U256::from(1u8) >= d, "D fell: {} -> {}", d, d_new);
            d = d_new;
        }
    }

    /// Curve (f64): the equilibrium keeps D, its marginal prices (curvesim's closed form for dydx) equal
    /// the external ones, and the share's value is the value of its claims.
    #[test]
    fn curve_equilibrium_is_an_equilibrium(amp in 1.0f64..10_000.0, d in 1e-3f64..1e12, p1 in 0.01f64..100.0, p2 in 0.01f64..100.0) {
        let prices = [1.0, p1, p2];
        let x = curve::equilibrium_balances(d, amp, &prices).unwrap();
        let d_again = curve::get_d_f64(&x[..3], amp).unwrap();
        prop_assert!((d_again / d - 1.0).abs() < 1e-9, "D {} vs {}", d_again, d);
        let ann = amp * 3.0;
        let c = d.powi(4) / (27.0 * x[0] * x[1] * x[2]);
        for j in 1..3 {
            let dydx = (ann + c / x[0]) / (ann + c / x[j]);
            prop_assert!((dydx / (prices[0] / prices[j]) - 1.0).abs() < 1e-9);
        }
    }

    /// Implied vol inverts the price across strikes, maturities and vols.
    #[test]
    fn implied_vol_round_trip(k in 20.0f64..500.0, t in 0.01f64..5.0, vol in 0.02f64..3.0, r in -0.02f64..0.1, call in any::<bool>()) {
        let right = if call { OptionRight::Call } else { OptionRight::Put };
        let inp = OptionInputs { underlying_usd: 100.0, strike_usd: k, time_years: t, rate_annual: r, carry_annual: 0.0, vol_annual: vol };
        let price = options::price(OptionModel::BlackScholes, right, &inp).unwrap();
        let (lo, _) = options::price_bounds(OptionModel::BlackScholes, right, &inp);
        let vega = options::greeks(OptionModel::BlackScholes, right, &inp).unwrap().vega;
        // Only where the price carries information about the vol at double precision.
        prop_assume!(price - lo > 1e-8 * 100.0 && vega > 1e-6);
        let iv = options::implied_vol(OptionModel::BlackScholes, right, price, &inp).unwrap();
        let repriced = options::price(OptionModel::BlackScholes, right, &OptionInputs { vol_annual: iv, ..inp }).unwrap();
        prop_assert!((repriced - price).abs() <= 1e-11 * 100.0, "price {} repriced {}", price, repriced);
    }
}

#[test]
fn lp_of_two_assets_on_one_underlying_has_no_spot_gamma() {
    // V(lambda p) = lambda V(p) for any AMM valued at equilibrium (claims depend on price ratios only), so
    // a pool of stETH and ETH is linear in the ETH price: its spot gamma must vanish once the cross terms
    // are projected correctly.
    let mut m = pricing::MarketState::new(0.0, 0.0);
    let eth = UnderlyingId(2);
    m.set_spot_usd(eth, 3_000.0).unwrap();
    m.set_peg_ratio(pricing::PegId(2), 0.97).unwrap();
    let steth = Asset::pegged(eth, pricing::PegId(2));
    let lp = UniswapV2Lp::from_reserves(steth, Asset::native(eth), 500.0, 480.0, 100.0).unwrap();
    let g = lp.greeks(&m).unwrap();
    let s = g.spot.get(eth).unwrap();
    assert!(s.gamma.abs() < 1e-15, "{s:?}");
    assert!((s.delta * 3_000.0 - g.value_usd).abs() < 1e-9 * g.value_usd);
}
