//! Properties over random inputs: every unit of a deficit is borne by a step; socialised shares
//! cover the amount; a plan never raises initial margin and never closes past zero.

use liquidation::select::{Group, SelectParams, hedge_groups, plan};
use liquidation::waterfall::{Resources, allocate, socialise};
use margin_core::{InstrumentArray, Position, RiskModel, Scaling, Underlying};
use money::{UsdPrice, UsdValue};
use proptest::prelude::*;

proptest! {
    #[test]
    fn waterfall_accounts_for_every_unit(deficit in 0i128..1i128 << 100, r in proptest::array::uniform4(0i128..1i128 << 90)) {
        let resources = Resources { collateral: r[0], penalty: r[1], insurance_fund: r[2], broker_capital: r[3] };
        let a = allocate(deficit, &resources).unwrap();
        prop_assert_eq!(a.total().unwrap(), deficit);
        prop_assert!(a.collateral <= r[0] && a.penalty <= r[1] && a.insurance_fund <= r[2] && a.broker_capital <= r[3]);
        // A later step is used only once the earlier ones are exhausted.
        if a.penalty > 0 { prop_assert_eq!(a.collateral, r[0]); }
        if a.insurance_fund > 0 { prop_assert_eq!(a.penalty, r[1]); }
        if a.broker_capital > 0 { prop_assert_eq!(a.insurance_fund, r[2]); }
        if a.last_resort > 0 { prop_assert_eq!(a.broker_capital, r[3]); }
    }

    #[test]
    fn socialised_shares_cover_and_stay_pro_rata(amount in 0i128..1i128 << 80, weights in proptest::collection::vec(1i128..1i128 << 40, 1..50)) {
        let holders: Vec<(usize, i128)> = weights.iter().copied().enumerate().collect();
        let (shares, residue) = socialise(amount, &holders).unwrap();
        let paid: i128 = shares.iter().map(|s| s.amount).sum();
        prop_assert_eq!(paid, amount + residue);
        prop_assert!(residue >= 0 && residue < holders.len() as i128 + 1);
    }

    #[test]
    fn a_plan_never_raises_margin(
        pnl in proptest::collection::vec(proptest::collection::vec(-5_000_000_000i64..5_000_000_000, 8), 3),
        qty in proptest::collection::vec(-1_000_000_000_000i128..1_000_000_000_000, 3),
        equity_usd in -1_000i128..100_000,
        step in 50_000u32..1_000_000,
        throttle in 100_000u32..1_000_000,
    ) {
        let ids = ["A", "B", "C"];
        let instruments = ids.iter().zip(&pnl).enumerate().map(|(i, (id, p))| InstrumentArray {
            id: id.to_string(), decimals: 9, scaling: Scaling::Linear { underlying: (i % 2) as u16 }, pnl: p.clone(),
        }).collect();
        let one = 10i128.pow(18);
        let model = RiskModel {
            label: "p".into(), as_of_ms: 0, fhs_scenarios: 6, floor_weights_ppm: vec![300_000, 1_000_000],
            tail_ppm: 200_000, maintenance_ppm: 750_000,
            underlyings: vec![Underlying { name: "X".into(), ref_price: UsdPrice(one) }, Underlying { name: "Y".into(), ref_price: UsdPrice(one) }],
            instruments,
            charges: Default::default(),
        };
        model.validate().unwrap();
        let prices = [Some(UsdPrice(one)), Some(UsdPrice(2 * one))];
        let positions: Vec<Position> = qty.iter().enumerate().map(|(i, q)| Position { instrument: model.instrument(ids[i]).unwrap(), qty: *q }).collect();
        let groups: Vec<Group> = hedge_groups(&model, &positions).into_iter().map(|legs| Group { legs, close_cost: UsdValue(10 * one) }).collect();
        let risk = model.account(&positions, &prices).unwrap();
        let params = SelectParams { target_ppm: 1_000_000, step_ppm: step, throttle_ppm: throttle };
        let p = plan(&model, &risk, UsdValue(equity_usd * one), &groups, &prices, &params).unwrap();
        let mut closed = [0i128; 3];
        let mut im = model.requirement(&risk).unwrap().initial;
        for s in &p.steps {
            prop_assert!(s.im_after.0 < s.im_before.0);
            prop_assert_eq!(s.im_before, im);
            im = s.im_after;
            for c in &s.closes { closed[c.instrument.0 as usize] += c.qty; }
        }
        for (i, q) in qty.iter().enumerate() {
            let ix = model.instrument(ids[i]).unwrap().0 as usize;
            let after = q + closed[ix];
            prop_assert!(after == 0 || after.signum() == q.signum(), "never closes past zero");
            prop_assert!(after.abs() <= q.abs());
        }
    }
}
