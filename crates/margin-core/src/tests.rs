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
        charges: ChargeTables::default(),
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

/// The hand model with a venue (pd 10%, LGD 50%) holding the USDC, `K` = 1000 USD, and a close-out
/// cost curve for ETH (0, 10, 40, 160 USD at 0, 1000, 2000, 4000 USD of notional).
fn model_with_charges() -> RiskModel {
    let mut m = model();
    let micro = |x: i128| x * 1_000_000;
    m.charges = ChargeTables {
        protocols: vec![ProtocolArray { name: "venue".into(), pd_ppb: 100_000_000, lgd_ppm: 500_000, frozen: vec![1] }],
        concentration_scale_musd_e3: 1_000_000,
        liquidity_grid_musd: vec![0, micro(1000), micro(2000), micro(4000)],
        instruments: vec![
            InstrumentCharges {
                value_musd: 2_000_000_000,
                notional_musd: 2_000_000_000,
                liquidity_cost_musd: vec![0, micro(10), micro(40), micro(160)],
                ..InstrumentCharges::default()
            },
            InstrumentCharges { value_musd: 1_000_000, notional_musd: 1_000_000, links: vec![(0, PPM)], ..InstrumentCharges::default() },
        ],
    };
    m.validate().unwrap();
    m
}

#[test]
fn protocol_failure_mixes_into_the_es_and_concentration_charges_half_at_the_scale() {
    let m = model_with_charges();
    let (eth, usdc) = (m.instrument("ETH").unwrap(), m.instrument("USDC").unwrap());
    let prices = [Some(usd(2000))];
    // 1 ETH + 1000 USDC on the venue. FHS losses 200, 100, -50, -300; ES(50%) of the FHS = 150.
    // Failure: 50% x 1000 + ES of the survivors (ETH alone) 150 = 650 at probability 0.1; the
    // scenarios weigh 0.9 / 4 = 0.225 each: (650 x 0.1 + 200 x 0.225 + 100 x 0.175) / 0.5 = 255.
    // Concentration: C = K = 1000 USD, weight 1/2, 325. Floor: (1000 + 10) x 0.5 = 505.
    // Liquidity: 2000 USD of ETH costs 40.
    let r = m
        .account(&[Position { instrument: eth, qty: 10i128.pow(18) }, Position { instrument: usdc, qty: 1_000_000_000 }], &prices)
        .unwrap();
    let req = m.requirement(&r).unwrap();
    assert_eq!(req.expected_shortfall, usd_value(255));
    assert_eq!(req.concentration, usd_value(325));
    assert_eq!(req.floor, usd_value(505));
    assert_eq!(req.liquidity, usd_value(40));
    assert_eq!(req.initial, usd_value(545));
}

#[test]
fn liquidity_interpolates_above_the_curve_and_splitting_never_lowers_it() {
    let m = model_with_charges();
    let eth = m.instrument("ETH").unwrap();
    let prices = [Some(usd(2000))];
    let part = m.account(&[Position { instrument: eth, qty: 75 * 10i128.pow(16) }], &prices).unwrap();
    // 1500 USD: 10 + (40 - 10) x 0.5 = 25.
    assert_eq!(m.requirement(&part).unwrap().liquidity, usd_value(25));
    // One owner, two sub-accounts of 0.75 ETH: each pays at the owner's 3000 USD,
    // (40 + 120 x 0.5) / 3000 x 1500 = 50; the whole in one account pays 100.
    let owner = m.owner_totals(&[&part, &part]).unwrap();
    assert_eq!(m.requirement_in_owner(&part, &owner).unwrap().liquidity, usd_value(50));
    let whole = m.account(&[Position { instrument: eth, qty: 15 * 10i128.pow(17) }], &prices).unwrap();
    assert_eq!(m.requirement(&whole).unwrap().liquidity, usd_value(100));
    // Beyond the grid the whole notional is charged.
    let huge = m.account(&[Position { instrument: eth, qty: 3 * 10i128.pow(18) }], &prices).unwrap();
    assert_eq!(m.requirement(&huge).unwrap().liquidity, usd_value(6000));
}

#[test]
fn remark_equals_a_fresh_account_at_the_new_prices() {
    let m = model_with_charges();
    let (eth, usdc) = (m.instrument("ETH").unwrap(), m.instrument("USDC").unwrap());
    let book = [Position { instrument: eth, qty: -(37 * 10i128.pow(16)) }, Position { instrument: usdc, qty: 2_500_000_000 }];
    let mut accounts = vec![m.account(&book, &[Some(usd(2000))]).unwrap()];
    let reqs = m.remark_batch(&mut accounts, &[Some(usd(2345))]).unwrap();
    let fresh = m.account(&book, &[Some(usd(2345))]).unwrap();
    assert_eq!(accounts[0], fresh);
    assert_eq!(reqs[0], m.requirement(&fresh).unwrap());
}

#[test]
fn charge_tables_are_validated() {
    let mut m = model_with_charges();
    m.charges.protocols[0].pd_ppb = PPB + 1;
    assert!(m.validate().is_err());
    let mut m = model_with_charges();
    m.charges.instruments[0].liquidity_cost_musd[2] = 0;
    assert!(m.validate().is_err());
    let mut m = model_with_charges();
    m.charges.instruments.pop();
    assert!(m.validate().is_err());
}

#[test]
fn pre_trade_bound_is_exact_when_the_floor_binds() {
    let m = model();
    let eth = m.instrument("ETH").unwrap();
    let prices = [Some(usd(2000))];
    let acct = m.account(&[Position { instrument: eth, qty: 2 * 10i128.pow(18) }], &prices).unwrap();
    let bounds = m.unit_bounds();
    let summary = m.summary(&bounds, &acct, &prices).unwrap();
    assert_eq!(summary.initial(), usd_value(1000));
    // One more ETH: the floor (exact in the bound) is 1500; the FHS ES is at most 300 + 200
    // (the most one ETH loses in any FHS column) plus a few 10^-15 USD of rounding slack.
    let order = [Position { instrument: eth, qty: 10i128.pow(18) }];
    let up = bounds.im_upper(&m, &summary, &order, &prices).unwrap();
    assert_eq!(up, usd_value(1500));
    assert_eq!(m.with(&acct, &order, &prices).unwrap().initial, usd_value(1500));
    assert_eq!(bounds.im_increase_bound(&m, &summary, &order, &prices).unwrap(), usd_value(500));
    let refuse = m.pre_trade(&bounds, &summary, usd_value(1499), &order, &prices, || Ok::<_, MarginError>(&acct)).unwrap();
    assert!(matches!(refuse, Decision::Exact(r) if r.initial == usd_value(1500)));
    let accept =
        m.pre_trade(&bounds, &summary, usd_value(1500), &order, &prices, || Err::<&AccountRisk, _>(MarginError::Overflow)).unwrap();
    assert_eq!(accept, Decision::Accepted { im_upper: usd_value(1500) });
    // A summary marked at another price is refused, not used.
    let err = bounds.im_upper(&m, &summary, &order, &[Some(usd(2001))]).unwrap_err();
    assert_eq!(err, MarginError::StaleSummary("ETH".into()));
}

#[test]
fn a_summary_is_used_only_with_the_bounds_of_its_model() {
    let (m, other) = (model(), model_with_charges());
    let eth = m.instrument("ETH").unwrap();
    let prices = [Some(usd(2000))];
    let acct = m.account(&[Position { instrument: eth, qty: 10i128.pow(18) }], &prices).unwrap();
    let summary = m.summary(&m.unit_bounds(), &acct, &prices).unwrap();
    let order = [Position { instrument: eth, qty: 10i128.pow(18) }];
    let err = other.unit_bounds().im_upper(&other, &summary, &order, &prices).unwrap_err();
    assert!(matches!(err, MarginError::InvalidModel(_)));
    // A summary built with another model's bounds carries that model's digest.
    let foreign = m.summary(&other.unit_bounds(), &acct, &prices).unwrap();
    assert!(matches!(m.unit_bounds().im_upper(&m, &foreign, &order, &prices), Err(MarginError::InvalidModel(_))));
    let short = AccountRisk { loss: vec![0; 2], held: Vec::new() };
    assert!(matches!(m.summary(&m.unit_bounds(), &short, &prices), Err(MarginError::InvalidModel(_))));
}

/// The owner's totals from positions alone equal those of the built accounts, and the
/// pre-trade requirement in the owner equals the requirement in the owner of the account built
/// with the order (two sub-accounts of 0.75 ETH; the order adds 0.25 ETH to the first).
#[test]
fn owner_totals_of_positions_and_with_in_owner_equal_the_built_accounts() {
    let m = model_with_charges();
    let eth = m.instrument("ETH").unwrap();
    let prices = [Some(usd(2000))];
    let part = [Position { instrument: eth, qty: 75 * 10i128.pow(16) }];
    let order = [Position { instrument: eth, qty: 25 * 10i128.pow(16) }];
    let built = m.account(&part, &prices).unwrap();
    assert_eq!(m.owner_totals_of(&[&part, &part], &prices).unwrap(), m.owner_totals(&[&built, &built]).unwrap());
    let with_order: Vec<Position> = part.iter().chain(&order).copied().collect();
    let owner_after = m.owner_totals_of(&[&with_order, &part], &prices).unwrap();
    let after = m.account(&with_order, &prices).unwrap();
    let exact = m.requirement_in_owner(&after, &owner_after).unwrap();
    assert_eq!(m.with_in_owner(&built, &order, &prices, &owner_after).unwrap(), exact);
    // At the owner's 1.75 ETH (3,500 USD: 40 + 120 x 0.75 = 130) the first pays 130 x 2,000 /
    // 3,500 = 74.29 (rounded up); alone (1 ETH, 2,000 USD) it would pay 40.
    assert!(exact.liquidity > usd_value(74) && exact.liquidity < usd_value(75), "{exact:?}");
    assert_eq!(m.with(&built, &order, &prices).unwrap().liquidity, usd_value(40));
}

/// The one-division ES bound of the pre-trade and headroom bounds is never below the ES with
/// every term rounded up, and never more than one fine unit per term above it: random tails,
/// losses of both signs and extra entries.
#[test]
fn es_upper_from_top_bounds_es_from_top_within_one_unit_per_term() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |m: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 17) % m
    };
    for _ in 0..2_000 {
        let n = 1 + next(500) as usize;
        let tail_ppm = 1 + next(400_000) as u32;
        let mut top: Vec<i128> = (0..n).map(|_| next(2_000_000_000_000_000_000) as i128 - 500_000_000_000_000_000).collect();
        top.sort_unstable_by(|a, b| b.cmp(a));
        let extra: Vec<(i128, u64)> = (0..next(4)).map(|_| (next(1 << 60) as i128, next(30_000_000))).collect();
        let exact = crate::es::es_from_top(&top, n, &extra, tail_ppm).unwrap();
        let upper = crate::es::es_upper_from_top(&top, n, &extra, tail_ppm).unwrap();
        let terms = (n + extra.len()) as i128;
        assert!(upper >= exact && upper <= exact + terms, "n {n} tail {tail_ppm}: upper {upper}, exact {exact}");
    }
}
