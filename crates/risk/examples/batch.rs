//! Margin for 100k accounts x 10 positions with full revaluation, and the single-price-update fast
//! path. Run: `cargo run --release -p risk --example batch [ACCOUNTS] [STRIDE_HOURS]`.
//! Needs the raw market history (FHS scenarios).

use risk::fast::{Batch, demo_accounts, reprice_underlying};
use risk::report::{MarketData, compute};
use risk::{Portfolio, RiskParams};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let stride: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let config = model::Config::default_config();
    let mut params = RiskParams::default_params();
    params.fhs_stride_hours = stride;
    let universe_toml = include_str!("portfolio_universe.toml");
    let portfolio = Portfolio::from_toml(universe_toml)?;
    let data = MarketData::load_default()?;
    let t0 = Instant::now();
    let mut c = compute(&config, &params, &portfolio, &data, None, None)?;
    let t_reval = t0.elapsed();
    let ni = c.engine.instruments.len();
    let accounts = demo_accounts(n, 10, ni, 42);
    println!(
        "{} instruments x {} scenarios ({} FHS, stride {stride}h): scenario generation + full revaluation {:.1} ms",
        ni,
        c.scenarios.len(),
        c.scenarios.n_fhs,
        t_reval.as_secs_f64() * 1e3
    );
    for threads in [1, 2] {
        let t = Instant::now();
        let b = Batch::full(&c.engine, &accounts, threads);
        let dt = t.elapsed().as_secs_f64();
        let total: f64 = b.margins.iter().map(|m| m.initial_margin).sum();
        println!("full recompute, {n} accounts x 10 positions, {threads} thread(s): {:.1} ms (sum of IM {total:.2})", dt * 1e3);
    }
    let mut batch = Batch::full(&c.engine, &accounts, 2);
    let eth = c.universe.underlying("ETH").ok_or("ETH")?;
    let spot = c.engine.spot_usd[usize::from(eth.0)];
    let t = Instant::now();
    let changed = reprice_underlying(&mut c.engine, &c.universe, &mut c.base, &c.scenarios, eth, spot * 1.01)?;
    let t_reprice = t.elapsed();
    let t = Instant::now();
    let touched = batch.price_update(&c.engine, &accounts, &changed, 2);
    let t_update = t.elapsed();
    println!(
        "single price update (ETH +1%): revalue {} instruments {:.1} ms + update {touched} accounts {:.1} ms = {:.1} ms",
        changed.len(),
        t_reprice.as_secs_f64() * 1e3,
        t_update.as_secs_f64() * 1e3,
        (t_reprice + t_update).as_secs_f64() * 1e3
    );
    let exact = Batch::full(&c.engine, &accounts, 2);
    let max_rel = batch
        .margins
        .iter()
        .zip(&exact.margins)
        .map(|(a, b)| (a.initial_margin - b.initial_margin).abs() / b.initial_margin.max(1.0))
        .fold(0.0f64, f64::max);
    println!("fast path vs full recompute after the update: max relative difference of IM {max_rel:.2e}");
    Ok(())
}
