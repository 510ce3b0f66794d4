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
