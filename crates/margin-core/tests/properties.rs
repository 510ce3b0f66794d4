//! Properties of the integer margin over random models and books: the order of positions never
//! changes a bit, incremental equals full, re-marking equals rebuilding, and splitting a book
//! across an owner's sub-accounts never lowers the owner's total requirement (up to the rounding of
//! the split ES terms, a few 10^-15 USD per tail entry).

use margin_core::{
    ChargeTables, InstrumentArray, InstrumentCharges, InstrumentIx, Position, ProtocolArray, RiskModel, Scaling, Underlying,
};
use money::UsdPrice;
use proptest::prelude::*;

const COLUMNS: usize = 40;
const FHS: u32 = 36;

fn usd(x: i128) -> UsdPrice {
    UsdPrice(x * 10i128.pow(18))
}

/// Four instruments (two linear on one underlying, two fixed), two protocols (the first freezes
/// instrument 3, the second is the issuer of instrument 2), a convex liquidity curve.
fn model(pnl: Vec<Vec<i64>>) -> RiskModel {
    let grid: Vec<i128> = std::iter::once(0).chain((0..60).map(|k| (1e6 * 1.25f64.powi(k)) as i128)).collect();
    let costs: Vec<i128> = grid.iter().map(|g| g / 1_000 + g * g / 50_000_000_000_000).collect();
    let instruments = pnl
        .into_iter()
        .enumerate()
        .map(|(i, p)| InstrumentArray {
            id: format!("I{i}"),
            decimals: if i == 0 { 18 } else { 9 },
            scaling: if i < 2 { Scaling::Linear { underlying: 0 } } else { Scaling::Fixed },
            pnl: p,
        })
        .collect();
    let charges = (0..4)
        .map(|i| InstrumentCharges {
            value_musd: 1_000_000_000 * (i as i64 + 1),
            notional_musd: 1_000_000_000 * (i as i64 + 1),
            links: if i == 3 { vec![(0, 1_000_000)] } else { vec![(0, 200_000), (1, 100_000)] },
            collapse: (i == 2).then_some(1),
            collapse_loss_ppm: if i == 2 { 900_000 } else { 0 },
            liquidity_cost_musd: if i == 3 { Vec::new() } else { costs.clone() },
        })
        .collect();
    let m = RiskModel {
        label: "prop".into(),
        as_of_ms: 0,
        fhs_scenarios: FHS,
        floor_weights_ppm: vec![1_000_000, 500_000, 250_000, 1_000_000],
        tail_ppm: 50_000,
        maintenance_ppm: 750_000,
        underlyings: vec![Underlying { name: "U".into(), ref_price: usd(1000) }],
        instruments,
        charges: ChargeTables {
            protocols: vec![
                ProtocolArray { name: "venue".into(), pd_ppb: 3_000_000, lgd_ppm: 600_000, frozen: vec![3] },
                ProtocolArray { name: "issuer".into(), pd_ppb: 1_000_000, lgd_ppm: 1_000_000, frozen: vec![2] },
            ],
            concentration_scale_musd_e3: 50_000_000_000,
            liquidity_grid_musd: grid,
            instruments: charges,
        },
    };
    m.validate().expect("the property model is valid");
    m
}

fn arrays() -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(-200_000_000i64..200_000_000, COLUMNS), 4)
}

fn positions() -> impl Strategy<Value = Vec<(u32, i64)>> {
    prop::collection::vec((0u32..4, -50_000i64..50_000), 1..8)
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
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn order_of_positions_never_changes_a_bit(pnl in arrays(), raw in positions(), price in 500i128..2000) {
        let m = model(pnl);
        let prices = [Some(usd(price))];
        let b = book(&m, &raw);
        let mut reversed = b.clone();
        reversed.reverse();
        let a = m.account(&b, &prices).unwrap();
        let r = m.account(&reversed, &prices).unwrap();
        prop_assert_eq!(a.losses(), r.losses());
        prop_assert_eq!(m.requirement(&a).unwrap(), m.requirement(&r).unwrap());
    }

    #[test]
    fn incremental_equals_full_and_remark_equals_rebuild(pnl in arrays(), raw in positions(), p0 in 500i128..2000, p1 in 500i128..2000) {
        let m = model(pnl);
        let b = book(&m, &raw);
        let (last, first) = b.split_last().unwrap();
        let acct = m.account(first, &[Some(usd(p0))]).unwrap();
        let full = m.account(&b, &[Some(usd(p0))]).unwrap();
        prop_assert_eq!(m.with(&acct, &[*last], &[Some(usd(p0))]).unwrap(), m.requirement(&full).unwrap());
        let mut moved = vec![full];
        let req = m.remark_batch(&mut moved, &[Some(usd(p1))]).unwrap();
        let fresh = m.account(&b, &[Some(usd(p1))]).unwrap();
        prop_assert_eq!(&moved[0], &fresh);
        prop_assert_eq!(req[0], m.requirement(&fresh).unwrap());
    }

    #[test]
    fn remarking_one_underlying_touches_exactly_the_accounts_holding_it(pnl in arrays(), books in prop::collection::vec(positions(), 1..6), p1 in 500i128..2000) {
        let m = model(pnl);
        let before = [Some(usd(1000))];
        let after = [Some(usd(p1))];
        let mut accounts: Vec<_> = books.iter().map(|b| m.account(&book(&m, b), &before).unwrap()).collect();
        let changed = m.remark_underlying(&mut accounts, 0, &after).unwrap();
        for (a, b) in books.iter().enumerate() {
            let holds_linear = b.iter().any(|(i, _)| *i < 2);
            let fresh = m.account(&book(&m, b), &after).unwrap();
            prop_assert_eq!(changed.iter().any(|c| c.0 == a), holds_linear);
            prop_assert_eq!(m.requirement(&accounts[a]).unwrap(), m.requirement(&fresh).unwrap());
            if let Some((_, r)) = changed.iter().find(|c| c.0 == a) {
                prop_assert_eq!(*r, m.requirement(&fresh).unwrap());
            }
        }
    }

    /// Splitting never lowers the owner's liquidity charge (each part pays the average cost rate
    /// of the owner's size, and the rate grows with size), and, for market risk alone (no
    /// protocols), never the owner's total: ES and the floor are subadditive. With protocols the
    /// total can fall by a little: a part with no claim on a protocol has no failure entry for it,
    /// so that entry's probability goes back to its FHS scenarios (the f64 engine does the same;
    /// `docs/margin-core.md`, section 8).
    #[test]
    fn splitting_a_book_never_lowers_the_owners_liquidity_nor_its_market_margin(pnl in arrays(), raw in positions(), cut in 0usize..8) {
        let prices = [Some(usd(1000))];
        for protocols in [true, false] {
            let mut m = model(pnl.clone());
            if !protocols {
                m.charges.protocols.clear();
                for c in m.charges.instruments.iter_mut() {
                    c.links.clear();
                    c.collapse = None;
                    c.collapse_loss_ppm = 0;
                }
                m.validate().unwrap();
            }
            let b = book(&m, &raw);
            let (x, y) = b.split_at(cut.min(b.len()));
            let whole = m.requirement(&m.account(&b, &prices).unwrap()).unwrap();
            let (ax, ay) = (m.account(x, &prices).unwrap(), m.account(y, &prices).unwrap());
            let owner = m.owner_totals(&[&ax, &ay]).unwrap();
            let (rx, ry) = (m.requirement_in_owner(&ax, &owner).unwrap(), m.requirement_in_owner(&ay, &owner).unwrap());
            prop_assert!(rx.liquidity.0 + ry.liquidity.0 >= whole.liquidity.0, "liquidity {} + {} < {}", rx.liquidity.0, ry.liquidity.0, whole.liquidity.0);
            if !protocols {
                // Rounding slack: every ceil of the whole's ES terms (at most columns + 2 entries,
                // 10^-15 USD each = 1000 in UsdValue units).
                let slack = 1_000 * (COLUMNS as i128 + 4);
                prop_assert!(rx.initial.0 + ry.initial.0 + slack >= whole.initial.0, "split {} + {} < whole {}", rx.initial.0, ry.initial.0, whole.initial.0);
            }
        }
    }

    #[test]
    fn the_requirement_is_never_negative_and_maintenance_is_its_fraction(pnl in arrays(), raw in positions()) {
        let m = model(pnl);
        let r = m.requirement(&m.account(&book(&m, &raw), &[Some(usd(1000))]).unwrap()).unwrap();
        prop_assert!(r.initial.0 >= 0);
        prop_assert!(r.maintenance.0 * 1_000_000 >= r.initial.0 * 750_000);
        prop_assert!(r.maintenance.0 <= r.initial.0);
    }
}
