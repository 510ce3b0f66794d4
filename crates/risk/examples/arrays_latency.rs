//! Latency of the integer pre-trade check on the configuration's real model: compiles the risk
//! model of the whole configuration as of 2024-12-31 from the market history (6,633 columns), builds
//! an account of 10 positions from the example books (perps and venue balances on dYdX and GMX,
//! sBTC, stETH, USDC, an option) and times `RiskModel::with` for one more perp, one check at a time.
//! `cargo run --release -p risk --example arrays_latency` (figures in `docs/performance.md`).

use margin_core::Position;
use risk::arrays::{compile, quantity_units, reference_prices};
use risk::{MarketData, RiskParams};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let data = MarketData::load_for(&config, &params)?;
    let as_of = risk::portfolio::parse_as_of("2024-12-31", "as-of")?;
    let c = compile(&config, &params, &data, as_of)?;
    let m = &c.model;
    let book = [
        ("ETH-PERP@dydx", 20.0),
        ("BTC-PERP@dydx", -1.5),
        ("USDC@dydx", 150_000.0),
        ("USD@dydx", 1_200.0),
        ("ETH-PERP@gmx", -10.0),
        ("USDC@gmx", 60_000.0),
        ("sBTC", 1.5),
        ("stETH", 12.0),
        ("USDC", 250_000.0),
        ("ETH-20261225-3000-C@opyn", -15.0),
    ];
    let mut positions = Vec::new();
    for (id, q) in book {
        let ix = m.instrument(id).ok_or_else(|| format!("{id} is not in the model"))?;
        positions.push(Position { instrument: ix, qty: quantity_units(q, m.decimals(ix))? });
    }
    let prices = reference_prices(m);
    let account = m.account(&positions, &prices)?;
    let perp = m.instrument("ETH-PERP@gmx").ok_or("ETH-PERP@gmx")?;
    let order = [Position { instrument: perp, qty: quantity_units(5.0, m.decimals(perp))? }];
    let req = m.with(&account, &order, &prices)?;
    println!("model: {} columns, {} instruments; IM after the order {} USD", m.columns(), m.instruments.len(), req.initial);
    let mut t: Vec<u128> = (0..20_000)
        .map(|_| {
            let s = Instant::now();
            let _ = std::hint::black_box(m.with(std::hint::black_box(&account), &order, &prices).map(|r| r.initial));
            s.elapsed().as_nanos()
        })
        .collect();
    t.sort_unstable();
    let at = |p: f64| t[((t.len() as f64 * p) as usize).min(t.len() - 1)] as f64 / 1000.0;
    println!("pre-trade check: min {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us", at(0.0), at(0.5), at(0.99), at(1.0));
    bound_path(m, &account, &positions, &order, &prices)
}

/// The same order through the pre-trade bound (`RiskModel::pre_trade` with equity twice the IM:
/// decided without the scenario vectors), and the bound against the exact requirement for orders
/// of a tenth of each position, either side.
fn bound_path(
    m: &margin_core::RiskModel,
    account: &margin_core::AccountRisk,
    positions: &[Position],
    order: &[Position],
    prices: &[Option<money::UsdPrice>],
) -> Result<(), Box<dyn std::error::Error>> {
    let bounds = m.unit_bounds();
    let s = Instant::now();
    let summary = m.summary(&bounds, account, prices)?;
    println!("summary of the account: {:.1} us", s.elapsed().as_nanos() as f64 / 1000.0);
    let equity = money::UsdValue(summary.initial().0 * 2);
    let mut t: Vec<u128> = (0..20_000)
        .map(|_| {
            let s = Instant::now();
            let d =
                m.pre_trade(&bounds, std::hint::black_box(&summary), equity, order, prices, || Ok::<_, margin_core::MarginError>(account));
            std::hint::black_box(d.map(|_| ())).ok();
            s.elapsed().as_nanos()
        })
        .collect();
    t.sort_unstable();
    let at = |p: f64| t[((t.len() as f64 * p) as usize).min(t.len() - 1)] as f64 / 1000.0;
    println!("pre-trade on the bound: min {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us", at(0.0), at(0.5), at(0.99), at(1.0));
    for p in positions.iter().chain(order) {
        for sign in [1, -1] {
            let o = [Position { instrument: p.instrument, qty: sign * p.qty / 10 }];
            let exact = m.with(account, &o, prices)?.initial;
            let up = bounds.im_upper(m, &summary, &o, prices)?;
            let id = &m.instruments[p.instrument.0 as usize].id;
            println!(
                "  order {:>+4}% of {id:<26} IM before {} exact {} bound {} (+{:.2}%)",
                sign * 10,
                summary.initial(),
                exact,
                up,
                (up.0 - exact.0) as f64 / exact.0 as f64 * 100.0
            );
        }
    }
    Ok(())
}
