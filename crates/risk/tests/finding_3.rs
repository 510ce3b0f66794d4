//! Finding 3 and item 2 (issue 8): the concentration charge is continuous in the claim and
//! measured per owner, so IM has no cliff in position size and splitting a book across an owner's
//! sub-accounts never lowers the owner's total margin. Property tests restate both over random
//! books of every configured instrument.

use proptest::prelude::*;
use risk::margin::Scratch;
use risk::report::{Computed, compute};
use risk::{Portfolio, RiskParams};
use std::sync::OnceLock;

mod common;

/// Documented bound (docs/margin-methodology.md section 6.2): IM moves by at most
/// `1.5 (1 + M) + 2` USD per USD of notional added to one position, `M` the largest scenario loss
/// per USD of notional of that instrument (1 for a long token).
fn lipschitz_bound(m: f64) -> f64 {
    1.5 * (1.0 + m) + 2.0
}

fn universe() -> Option<&'static (Computed, RiskParams)> {
    static U: OnceLock<Option<(Computed, RiskParams)>> = OnceLock::new();
    U.get_or_init(|| {
        let data = common::history()?;
        let config = model::Config::default_config();
        let params = RiskParams::default_params();
        let p = Portfolio::from_toml(include_str!("../examples/portfolio_universe.toml")).unwrap();
        Some((compute(&config, &params, &p, &data, None, None).unwrap(), params))
    })
    .as_ref()
}

/// Largest loss per USD of notional of one unit held with `sign`, over every scenario.
fn max_loss_per_notional(c: &Computed, i: usize, sign: f64) -> f64 {
    let worst = c.engine.rv.of(i).iter().map(|d| -sign * d).fold(0.0f64, f64::max);
    worst / c.engine.unit_notional[i].abs().max(1e-12)
}

#[test]
fn finding_3_no_cliff_in_size_and_no_gain_from_splitting() {
    let Some(data) = common::history() else { return };
    let (config, params) = (model::Config::default_config(), RiskParams::default_params());
    let p = Portfolio::from_toml("name = \"usdc\"\nas_of = \"2024-12-31\"\n[[balances]]\nasset = \"USDC\"\namount = \"1\"\n").unwrap();
    let c = &compute(&config, &params, &p, &data, None, None).unwrap();
    let e = &c.engine;
    let usdc = 0;
    let mut scratch = Scratch::default();
    let im = |q: f64, s: &mut Scratch| e.margin(&[(usdc, q)], &[], false, s).initial_margin;
    // Before: 240k USDC paid 3,828 and 260k paid 39,000 (a threshold at 250k).
    let bound = lipschitz_bound(max_loss_per_notional(c, usdc, 1.0)) * e.unit_notional[usdc];
    let mut prev = im(200_000.0, &mut scratch);
    let mut q = 200_000.0;
    while q < 300_000.0 {
        let next = im(q + 1_000.0, &mut scratch);
        assert!((next - prev).abs() <= bound * 1_000.0, "IM jumps from {prev} to {next} at {q} USDC");
        prev = next;
        q += 1_000.0;
    }
    // Before: 960k USDC in one account paid 144,001; as four 240k sub-accounts 15,312.
    let whole = im(960_000.0, &mut scratch);
    let split = [(usdc, 240_000.0)];
    let subs: Vec<&[(usize, f64)]> = vec![&split, &split, &split, &split];
    let parts: f64 = e.margin_of_owner(&subs, &mut scratch).iter().map(|m| m.initial_margin).sum();
    assert!(parts >= whole * (1.0 - 1e-9), "split {parts} < whole {whole}");
    println!(
        "USDC 240k: {:.0}, 260k: {:.0}, 960k: {whole:.0}, 4 x 240k of one owner: {parts:.0}",
        im(240_000.0, &mut scratch),
        im(260_000.0, &mut scratch)
    );
}

fn book() -> impl Strategy<Value = Vec<(usize, f64)>> {
    let n = universe().map_or(1, |(c, _)| c.engine.instruments.len());
    prop::collection::vec((0..n, -50.0f64..50.0), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn finding_3_splitting_across_sub_accounts_never_lowers_the_total(
        positions in book(),
        cuts in prop::collection::vec(0usize..4, 8),
        scale in 1.0f64..20_000.0,
    ) {
        let Some((c, _)) = universe() else { return Ok(()) };
        let e = &c.engine;
        let positions: Vec<(usize, f64)> = positions.iter().map(|&(i, q)| (i, q * scale / e.unit_notional[i].abs().max(1.0))).collect();
        let mut scratch = Scratch::default();
        let whole = e.margin(&positions, &[], false, &mut scratch).initial_margin;
        let mut subs: Vec<Vec<(usize, f64)>> = vec![Vec::new(); 4];
        for (k, p) in positions.iter().enumerate() {
            // Either the whole position goes to one sub-account, or it is halved across two.
            let a = cuts[k];
            if k % 3 == 2 {
                subs[a].push((p.0, 0.5 * p.1));
                subs[(a + 1) % 4].push((p.0, 0.5 * p.1));
            } else {
                subs[a].push(*p);
            }
        }
        let refs: Vec<&[(usize, f64)]> = subs.iter().map(|s| s.as_slice()).collect();
        let total: f64 = e.margin_of_owner(&refs, &mut scratch).iter().map(|m| m.initial_margin).sum();
        prop_assert!(total >= whole * (1.0 - 1e-6) - 1e-6, "split total {} < whole {}", total, whole);
    }

    #[test]
    fn finding_3_im_is_continuous_in_position_size(
        positions in book(),
        which in 0usize..8,
        step in 1e-4f64..0.05,
    ) {
        let Some((c, _)) = universe() else { return Ok(()) };
        let e = &c.engine;
        let mut positions = positions;
        let k = which % positions.len();
        let (i, q) = positions[k];
        let mut scratch = Scratch::default();
        let a = e.margin(&positions, &[], false, &mut scratch).initial_margin;
        let dq = step * q.abs().max(1.0);
        positions[k].1 = q + dq;
        let b = e.margin(&positions, &[], false, &mut scratch).initial_margin;
        let m = max_loss_per_notional(c, i, 1.0).max(max_loss_per_notional(c, i, -1.0));
        let bound = lipschitz_bound(m) * e.unit_notional[i].abs() * dq;
        prop_assert!((b - a).abs() <= bound + 1e-9 * a.abs(), "IM {} -> {} for {} more units of {}, bound {}", a, b, dq, e.instruments[i].id, bound);
    }
}

#[test]
fn finding_3_broker_claims_caps_and_insurance_cover() {
    let Some(data) = common::history() else { return };
    let config = model::Config::default_config();
    let mut params = RiskParams::default_params();
    params.broker.claim_cap_usd.insert("circle".into(), 2_500_000.0);
    let p = Portfolio::from_toml(
        "name = \"b\"\nas_of = \"2024-12-31\"\n[[balances]]\nasset = \"USDC\"\namount = \"1\"\n[[balances]]\nasset = \"USDT\"\namount = \"1\"\n",
    )
    .unwrap();
    let c = compute(&config, &params, &p, &data, None, None).unwrap();
    let e = &c.engine;
    let (usdc, usdt) =
        (e.instruments.iter().position(|i| i.id == "USDC").unwrap(), e.instruments.iter().position(|i| i.id == "USDT").unwrap());
    let mut accounts = risk::fast::Accounts::default();
    for _ in 0..3 {
        accounts.push(&[(usdc, 1_000_000.0)]);
    }
    accounts.push(&[(usdt, 400_000.0)]);
    let x = risk::broker::broker_exposure(e, &accounts, 100_000.0);
    let circle = x.protocols.iter().find(|p| p.protocol == "circle").unwrap();
    // Three accounts of 1m USDC at the USDC peg of the day.
    let want = 3_000_000.0 * e.rv.base_values[usdc];
    assert!((circle.claim_usd - want).abs() < 1e-6 * want, "{} vs {want}", circle.claim_usd);
    assert!(circle.above_cap && circle.cap_usd == 2_500_000.0);
    let tether = x.protocols.iter().find(|p| p.protocol == "tether").unwrap();
    assert!(!tether.above_cap && tether.cap_usd == 200_000_000.0);
    // Each USDC account's failure loss is LGD 0.15 x its claim (the frozen USDC leaves no
    // surviving leg), less its maintenance margin.
    let mut scratch = Scratch::default();
    let m = e.margin(&[(usdc, 1_000_000.0)], &[], false, &mut scratch);
    let per = (0.15 * 1_000_000.0 * e.rv.base_values[usdc] - m.maintenance_margin).max(0.0);
    assert!((circle.uncovered_failure_loss_usd - 3.0 * per).abs() < 1e-6 * (1.0 + per));
    assert!(x.cover_2_usd >= x.cover_1_usd && x.cover_1_usd >= circle.uncovered_failure_loss_usd);
    assert_eq!(x.fund_covers_1, 100_000.0 >= x.cover_1_usd);
}
