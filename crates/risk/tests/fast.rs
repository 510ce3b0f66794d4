//! The batch path: conservative against the exact per-account engine, bit-identical for one or two
//! threads, and the single-price-update fast path equal to a full recompute.

use risk::fast::{Batch, demo_accounts, reprice_underlying};
use risk::margin::Scratch;
use risk::report::compute;
use risk::{Portfolio, RiskParams};

mod common;

/// `None` (SKIPPED, or a failure under `CI`) when the raw market data is absent: the batch path
/// needs FHS scenarios.
fn setup() -> Option<(risk::report::Computed, model::Config, RiskParams)> {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let p = Portfolio::from_toml(include_str!("../examples/portfolio_universe.toml")).unwrap();
    let data = common::history()?;
    let c = compute(&config, &params, &p, &data, None, None).unwrap();
    Some((c, config, params))
}

#[test]
fn batch_margin_is_the_exact_margin_or_more() {
    let Some((c, _, _)) = setup() else { return };
    let accounts = demo_accounts(300, 10, c.engine.instruments.len(), 7);
    let batch = Batch::full(&c.engine, &accounts, 2);
    let mut scratch = Scratch::default();
    for a in 0..accounts.len() {
        let exact = c.engine.margin(accounts.of(a), &[], false, &mut scratch);
        let b = &batch.margins[a];
        assert!((b.es_fhs - exact.es_fhs).abs() <= 1e-9 * exact.es_fhs.max(1.0), "{a}: {} vs {}", b.es_fhs, exact.es_fhs);
        assert!((b.net_liquidation_value - exact.net_liquidation_value).abs() <= 1e-9 * exact.net_liquidation_value.abs().max(1.0));
        assert!(
            b.initial_margin >= exact.initial_margin * (1.0 - 1e-12),
            "{a}: batch {} < exact {}",
            b.initial_margin,
            exact.initial_margin
        );
    }
}

#[test]
fn one_or_two_threads_give_identical_bits() {
    let Some((c, _, _)) = setup() else { return };
    let accounts = demo_accounts(501, 10, c.engine.instruments.len(), 11);
    assert_eq!(Batch::full(&c.engine, &accounts, 1), Batch::full(&c.engine, &accounts, 2));
}

#[test]
fn single_price_update_equals_a_full_recompute() {
    let Some((mut c, _, _)) = setup() else { return };
    let accounts = demo_accounts(400, 10, c.engine.instruments.len(), 3);
    let mut batch = Batch::full(&c.engine, &accounts, 2);
    let eth = c.universe.underlying("ETH").unwrap();
    let spot = c.engine.spot_usd[usize::from(eth.0)];
    let changed = reprice_underlying(&mut c.engine, &c.universe, &mut c.base, &c.scenarios, eth, spot * 1.005).unwrap();
    assert!(!changed.is_empty());
    let touched = batch.price_update(&c.engine, &accounts, &changed, 2);
    assert!(touched > 0);
    let full = Batch::full(&c.engine, &accounts, 2);
    for (a, (x, y)) in batch.margins.iter().zip(&full.margins).enumerate() {
        assert!((x.initial_margin - y.initial_margin).abs() <= 1e-9 * y.initial_margin.max(1.0), "{a}: {x:?} vs {y:?}");
        assert_eq!(x.net_liquidation_value.to_bits(), y.net_liquidation_value.to_bits(), "{a}");
    }
}
