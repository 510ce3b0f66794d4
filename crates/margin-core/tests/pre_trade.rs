//! The pre-trade bound over random models (protocols with random frozen sets, links, issuers,
//! concentration and liquidity; with and without FHS columns), random books and random orders:
//! the bound is never below the exact requirement with the order, and `pre_trade` never accepts
//! what the exact check would refuse.

use margin_core::{
    ChargeTables, Decision, InstrumentArray, InstrumentCharges, InstrumentIx, MarginError, Position, ProtocolArray, RiskModel, Scaling,
    Underlying,
};
use money::{UsdPrice, UsdValue};
use proptest::prelude::*;

const INSTRUMENTS: usize = 5;
const PROTOCOLS: usize = 3;
const FLOOR: usize = 3;

fn usd(x: i128) -> UsdPrice {
    UsdPrice(x * 10i128.pow(18))
}

/// An instrument's links (protocol, fraction ppm) and issuer.
type Links = (Vec<(u16, u32)>, Option<u16>);

#[derive(Debug, Clone)]
struct Shape {
    fhs: u32,
    tail_ppm: u32,
    pnl: Vec<Vec<i64>>,
    /// Per protocol: pd (ppb), LGD (ppm), frozen mask over instruments.
    protocols: Vec<(u64, u32, u8)>,
    /// Per instrument: links (protocol, fraction ppm), issuer.
    links: Vec<Links>,
    scale_usd: i128,
}

fn shape() -> impl Strategy<Value = Shape> {
    (prop_oneof![Just(0u32), 10u32..60], 5_000u32..300_000).prop_flat_map(|(fhs, tail_ppm)| {
        let columns = fhs as usize + FLOOR;
        (
            prop::collection::vec(prop::collection::vec(-300_000_000i64..300_000_000, columns), INSTRUMENTS),
            prop::collection::vec((0u64..50_000_000, 0u32..=1_000_000, 0u8..32), PROTOCOLS),
            prop::collection::vec(
                (prop::collection::vec((0u16..PROTOCOLS as u16, 0u32..=1_000_000), 0..3), prop::option::of(0u16..PROTOCOLS as u16)),
                INSTRUMENTS,
            ),
            1i128..1_000_000,
        )
            .prop_map(move |(pnl, protocols, links, scale_usd)| Shape { fhs, tail_ppm, pnl, protocols, links, scale_usd })
    })
}

fn model(s: &Shape) -> RiskModel {
    let grid: Vec<i128> = std::iter::once(0).chain((0..60).map(|k| (1e6 * 1.25f64.powi(k)) as i128)).collect();
    let costs: Vec<i128> = grid.iter().map(|g| g / 1_000 + g * g / 50_000_000_000_000).collect();
    let instruments = s
        .pnl
        .iter()
        .enumerate()
        .map(|(i, p)| InstrumentArray {
            id: format!("I{i}"),
            decimals: if i == 0 { 18 } else { 9 },
            scaling: if i < 2 { Scaling::Linear { underlying: 0 } } else { Scaling::Fixed },
            pnl: p.clone(),
        })
        .collect();
    let charges = s
        .links
        .iter()
        .enumerate()
        .map(|(i, (links, issuer))| {
            let mut links = links.clone();
            links.sort_unstable();
            links.dedup_by_key(|l| l.0);
            InstrumentCharges {
                value_musd: 1_000_000_000 * (i as i64 + 1),
                notional_musd: 1_000_000_000 * (i as i64 + 1),
                links,
                collapse: *issuer,
                collapse_loss_ppm: if issuer.is_some() { 900_000 } else { 0 },
                liquidity_cost_musd: if i == 4 { Vec::new() } else { costs.clone() },
            }
        })
        .collect();
    let protocols = s
        .protocols
        .iter()
        .enumerate()
        .map(|(j, (pd, lgd, mask))| ProtocolArray {
            name: format!("P{j}"),
            pd_ppb: *pd,
            lgd_ppm: *lgd,
            frozen: (0..INSTRUMENTS as u32).filter(|i| mask & (1 << i) != 0).collect(),
        })
        .collect();
    let m = RiskModel {
        label: "pre-trade".into(),
        as_of_ms: 0,
        fhs_scenarios: s.fhs,
        floor_weights_ppm: vec![1_000_000, 500_000, 250_000],
        tail_ppm: s.tail_ppm,
        maintenance_ppm: 750_000,
        underlyings: vec![Underlying { name: "U".into(), ref_price: usd(1000) }],
        instruments,
        charges: ChargeTables {
            protocols,
            concentration_scale_musd_e3: s.scale_usd * 1_000,
            liquidity_grid_musd: grid,
            instruments: charges,
        },
    };
    m.validate().expect("the random model is valid");
    m
}

fn positions(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<(u32, i64)>> {
    prop::collection::vec((0u32..INSTRUMENTS as u32, -50_000i64..50_000), len)
}

fn book(m: &RiskModel, raw: &[(u32, i64)]) -> Vec<Position> {
    raw.iter()
        .map(|&(i, q)| {
            let scale = 10i128.pow(u32::from(m.decimals(InstrumentIx(i))) - 3);
            Position { instrument: InstrumentIx(i), qty: q as i128 * scale }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn the_bound_is_never_below_the_exact_requirement(s in shape(), held in positions(0..8), order in positions(1..4), price in 500i128..2000, margin_ppm in 0i128..2_000_000) {
        let m = model(&s);
        let prices = [Some(usd(price))];
        let acct = m.account(&book(&m, &held), &prices).unwrap();
        let order = book(&m, &order);
        let bounds = m.unit_bounds();
        let summary = m.summary(&bounds, &acct, &prices).unwrap();
        prop_assert_eq!(summary.initial(), m.requirement(&acct).unwrap().initial);
        let exact = m.with(&acct, &order, &prices).unwrap().initial;
        let upper = bounds.im_upper(&m, &summary, &order, &prices).unwrap();
        prop_assert!(upper >= exact, "bound {} below exact {}", upper.0, exact.0);
        let increase = bounds.im_increase_bound(&m, &summary, &order, &prices).unwrap();
        prop_assert!(summary.initial().0 + increase.0 >= exact.0);
        // Equity anywhere from 0 to twice the exact requirement.
        let equity = UsdValue(exact.0 * margin_ppm / 1_000_000);
        match m.pre_trade(&bounds, &summary, equity, &order, &prices, || Ok::<_, MarginError>(&acct)).unwrap() {
            Decision::Accepted { im_upper } => {
                prop_assert!(equity >= exact, "accepted equity {} below exact {}", equity.0, exact.0);
                prop_assert_eq!(im_upper, upper);
            }
            Decision::Exact(r) => prop_assert_eq!(r.initial, exact),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    /// The bound of a whole new book (the engine's margin of a transfer or of the health step
    /// after one): from the summary of an earlier book of the account, for any book it holds now
    /// and any sibling in its owner, never below the exact requirement in the owner.
    #[test]
    fn the_target_bound_is_never_below_the_exact_requirement_in_the_owner(
        s in shape(),
        anchor in positions(0..8),
        target in positions(0..8),
        sibling in positions(0..4),
        price in 500i128..2000,
    ) {
        let m = model(&s);
        let prices = [Some(usd(price))];
        let bounds = m.unit_bounds();
        let summary = m.summary(&bounds, &m.account(&book(&m, &anchor), &prices).unwrap(), &prices).unwrap();
        let (target, sibling) = (book(&m, &target), book(&m, &sibling));
        let owner = m.owner_totals_of(&[&target, &sibling], &prices).unwrap();
        let exact = m.requirement_in_owner(&m.account(&target, &prices).unwrap(), &owner).unwrap().initial;
        let upper = bounds.im_upper_target(&m, &summary, &target, &prices, &owner).unwrap();
        prop_assert!(upper >= exact, "bound {} below exact {}", upper.0, exact.0);
        // An empty book requires nothing, whatever its owner holds (the engine decides it
        // without an anchor).
        prop_assert_eq!(m.requirement_in_owner(&m.account(&[], &prices).unwrap(), &owner).unwrap().initial, UsdValue(0));
        // Alone in its owner, the unchanged book is bounded by its own requirement plus the
        // ES rounding slack only.
        let anchor = book(&m, &anchor);
        let alone = m.owner_totals_of(&[&anchor], &prices).unwrap();
        let same = bounds.im_upper_target(&m, &summary, &anchor, &prices, &alone).unwrap();
        prop_assert!(same >= summary.initial());
        prop_assert!(same.0 - summary.initial().0 <= 10i128.pow(6), "unchanged book bound {} vs exact {}", same.0, summary.initial().0);
    }
}

#[test]
fn the_target_bound_refuses_a_summary_marked_at_other_prices() {
    let s = Shape {
        fhs: 10,
        tail_ppm: 100_000,
        pnl: (0..INSTRUMENTS).map(|i| (0..13).map(|c| (c as i64 - 6) * 1_000_000 * (i as i64 + 1)).collect()).collect(),
        protocols: vec![(1_000_000, 500_000, 0); PROTOCOLS],
        links: vec![(vec![(0, 1_000_000)], None); INSTRUMENTS],
        scale_usd: 1_000,
    };
    let m = model(&s);
    let bounds = m.unit_bounds();
    let held = book(&m, &[(0, 100)]);
    let summary = m.summary(&bounds, &m.account(&held, &[Some(usd(1000))]).unwrap(), &[Some(usd(1000))]).unwrap();
    let owner = m.owner_totals_of(&[&held], &[Some(usd(1001))]).unwrap();
    let err = bounds.im_upper_target(&m, &summary, &held, &[Some(usd(1001))], &owner).unwrap_err();
    assert!(matches!(err, MarginError::StaleSummary(_)), "{err:?}");
}

/// `model(s)` with the instruments of `uncharged` (a bit mask) stripped of links, issuer and
/// close-out cost: the instruments the step bound covers.
fn model_uncharged(s: &Shape, uncharged: u8) -> RiskModel {
    let mut m = model(s);
    for (i, c) in m.charges.instruments.iter_mut().enumerate().filter(|(i, _)| uncharged & (1 << i) != 0) {
        c.links.clear();
        c.collapse = None;
        c.collapse_loss_ppm = 0;
        c.liquidity_cost_musd.clear();
        assert!(i < INSTRUMENTS);
    }
    m.validate().expect("the random model is valid");
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    /// The step bound (no scenario read): whenever every instrument of the earlier and the new
    /// book has a step constant, it is never below the exact requirement of the new book in its
    /// owner, whatever the sibling holds (charged instruments included); otherwise it declines.
    #[test]
    fn the_step_bound_is_never_below_the_exact_requirement_in_the_owner(
        s in shape(),
        uncharged in 0u8..32,
        anchor in positions(0..8),
        target in positions(0..8),
        sibling in positions(0..4),
        price in 500i128..2000,
    ) {
        let m = model_uncharged(&s, uncharged);
        let prices = [Some(usd(price))];
        let bounds = m.unit_bounds();
        let summary = m.summary(&bounds, &m.account(&book(&m, &anchor), &prices).unwrap(), &prices).unwrap();
        let (target_book, sibling) = (book(&m, &target), book(&m, &sibling));
        let owner = m.owner_totals_of(&[&target_book, &sibling], &prices).unwrap();
        let exact = m.requirement_in_owner(&m.account(&target_book, &prices).unwrap(), &owner).unwrap().initial;
        let free = |i: u32| {
            let c = &m.charges.instruments[i as usize];
            c.links.is_empty() && c.collapse.is_none() && c.liquidity_cost_musd.is_empty()
        };
        let covered = anchor.iter().chain(&target).all(|(i, _)| free(*i));
        match bounds.im_upper_step(&m, &summary, &target_book, &prices).unwrap() {
            Some(upper) => {
                prop_assert!(covered, "a book with a charged instrument has no step bound");
                prop_assert!(upper >= exact, "step bound {} below exact {}", upper.0, exact.0);
            }
            None => prop_assert!(!covered, "every instrument has a step constant"),
        }
    }

    /// The empty book's summary is an anchor for every book: where the step bound from it
    /// answers, it is at least the exact requirement in the owner.
    #[test]
    fn the_empty_anchor_bounds_every_uncharged_book(
        s in shape(),
        uncharged in 0u8..32,
        target in positions(0..8),
        sibling in positions(0..4),
        price in 500i128..2000,
    ) {
        let m = model_uncharged(&s, uncharged);
        let prices = [Some(usd(price))];
        let bounds = m.unit_bounds();
        let empty = bounds.empty_book().expect("a valid model aggregates the empty book");
        prop_assert_eq!(empty.initial(), UsdValue(0));
        let (target_book, sibling) = (book(&m, &target), book(&m, &sibling));
        let owner = m.owner_totals_of(&[&target_book, &sibling], &prices).unwrap();
        let exact = m.requirement_in_owner(&m.account(&target_book, &prices).unwrap(), &owner).unwrap().initial;
        if let Some(upper) = bounds.im_upper_step(&m, empty, &target_book, &prices).unwrap() {
            prop_assert!(upper >= exact, "step bound from the empty book {} below exact {}", upper.0, exact.0);
        }
    }
}

/// Hand-computed: 10 units of A (P&L per unit -2, 1, 0.5, 0 USD over four FHS columns, tail one
/// column) require 20 USD; the step constant of A is 2 USD per unit, the rounding slack
/// `T = k + P + 1 = 3 + 1 + 1` fine units (one protocol). Holding 13 or 7 units, the step bound is
/// `20 + 2 x 3 + 5e-15` USD; the exact requirements are 26 and 14. B, linked to a protocol, has
/// no step constant.
#[test]
fn the_step_bound_is_the_summary_plus_the_step_of_each_changed_instrument() {
    let instrument =
        |id: &str| InstrumentArray { id: id.into(), decimals: 9, scaling: Scaling::Fixed, pnl: vec![-2_000_000, 1_000_000, 500_000, 0] };
    let uncharged = InstrumentCharges {
        value_musd: 1_000_000,
        notional_musd: 1_000_000,
        links: vec![],
        collapse: None,
        collapse_loss_ppm: 0,
        liquidity_cost_musd: vec![],
    };
    let m = RiskModel {
        label: "step".into(),
        as_of_ms: 0,
        fhs_scenarios: 4,
        floor_weights_ppm: vec![],
        tail_ppm: 250_000,
        maintenance_ppm: 500_000,
        underlyings: vec![],
        instruments: vec![instrument("A"), instrument("B")],
        charges: ChargeTables {
            protocols: vec![ProtocolArray { name: "P".into(), pd_ppb: 1_000, lgd_ppm: 500_000, frozen: vec![] }],
            concentration_scale_musd_e3: 1_000_000,
            liquidity_grid_musd: vec![],
            instruments: vec![uncharged.clone(), InstrumentCharges { links: vec![(0, 1_000_000)], ..uncharged }],
        },
    };
    m.validate().unwrap();
    let units = |i: u32, n: i128| Position { instrument: InstrumentIx(i), qty: n * 1_000_000_000 };
    let bounds = m.unit_bounds();
    let summary = m.summary(&bounds, &m.account(&[units(0, 10)], &[]).unwrap(), &[]).unwrap();
    let one_usd = 10i128.pow(18);
    assert_eq!(summary.initial(), UsdValue(20 * one_usd));
    for (n, exact) in [(13, 26), (7, 14)] {
        let upper = bounds.im_upper_step(&m, &summary, &[units(0, n)], &[]).unwrap();
        assert_eq!(upper, Some(UsdValue(26 * one_usd + 5_000)), "{n} units");
        assert_eq!(m.requirement(&m.account(&[units(0, n)], &[]).unwrap()).unwrap().initial, UsdValue(exact * one_usd));
    }
    assert_eq!(bounds.im_upper_step(&m, &summary, &[units(0, 10), units(1, 1)], &[]).unwrap(), None);
    // From the empty book: 0 + 2 x 13 USD + T = 26 USD + 5e-15 (exact 26), 2 x 7 = 14 (exact 14).
    let empty = bounds.empty_book().unwrap();
    assert_eq!(empty.initial(), UsdValue(0));
    assert_eq!(bounds.im_upper_step(&m, empty, &[units(0, 13)], &[]).unwrap(), Some(UsdValue(26 * one_usd + 5_000)));
    assert_eq!(bounds.im_upper_step(&m, empty, &[units(0, 7)], &[]).unwrap(), Some(UsdValue(14 * one_usd + 5_000)));
    assert_eq!(bounds.im_upper_step(&m, empty, &[units(1, 1)], &[]).unwrap(), None);
}
