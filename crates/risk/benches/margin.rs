//! Criterion benches of the margin engine: one explained portfolio, the batch full recompute per
//! 10 000 accounts x 10 positions (scale x10 for 100k), and the single-price-update fast path.
//! The 100k-account figures come from `cargo run --release -p risk --example batch`.

use criterion::{Criterion, criterion_group, criterion_main};
use risk::fast::{Batch, demo_accounts, reprice_underlying};
use risk::report::{MarketData, compute, margin_portfolio};
use risk::{Portfolio, RiskParams};

fn benches(c: &mut Criterion) {
    let config = model::Config::default_config();
    let data = MarketData::load_default().expect("market data");
    let basis = Portfolio::from_toml(include_str!("../../../examples/portfolios/basis_trade.toml")).expect("portfolio");
    let params = RiskParams::default_params();
    c.bench_function("margin_report_basis_trade", |b| b.iter(|| margin_portfolio(&config, &params, &basis, &data).expect("margin")));
    let universe = Portfolio::from_toml(include_str!("../examples/portfolio_universe.toml")).expect("portfolio");
    for stride in [8i64, 24] {
        let mut p = RiskParams::default_params();
        p.fhs_stride_hours = stride;
        let mut comp = compute(&config, &p, &universe, &data, None, None).expect("compute");
        let accounts = demo_accounts(10_000, 10, comp.engine.instruments.len(), 42);
        let mut g = c.benchmark_group(format!("stride_{stride}h"));
        g.sample_size(10);
        g.bench_function("full_recompute_10k_accounts_x10_2threads", |b| b.iter(|| Batch::full(&comp.engine, &accounts, 2)));
        let mut batch = Batch::full(&comp.engine, &accounts, 2);
        let eth = comp.universe.underlying("ETH").expect("ETH");
        let spot = comp.engine.spot_usd[usize::from(eth.0)];
        let mut k = 0u32;
        g.bench_function("price_update_10k_accounts_2threads", |b| {
            b.iter(|| {
                k += 1;
                let s = spot * (1.0 + 0.001 * f64::from(k % 7));
                let changed =
                    reprice_underlying(&mut comp.engine, &comp.universe, &mut comp.base, &comp.scenarios, eth, s).expect("reprice");
                batch.price_update(&comp.engine, &accounts, &changed, 2)
            })
        });
        g.finish();
    }
}

criterion_group!(margin, benches);
criterion_main!(margin);
