//! Latency of the pre-trade check with the bound (`RiskModel::pre_trade`) against the exact check
//! (`RiskModel::with`) on the synthetic model shaped like the configuration's (6,633 columns, 77
//! instruments, 13 protocols): 1,000 accounts of 10 positions, nine in ten far from their limit
//! (equity twice the IM), one in ten near it (1% above), and 100,000 random orders of one
//! instrument (1 to 20 units, either side), each timed alone. Prints percentiles, the share
//! decided by the bound, and how far the bound sits above the exact requirement.
//! `cargo run --release -p margin-core --example pre_trade_latency` (figures in
//! `docs/performance.md`).

#[path = "../benches/shape/mod.rs"]
mod shape;

use margin_core::{Decision, InstrumentIx, MarginError, Position};
use money::{UsdPrice, UsdValue};
use shape::{INSTRUMENTS, Lcg, account, model, price};
use std::hint::black_box;
use std::time::Instant;

const ACCOUNTS: u64 = 1_000;
const ORDERS: usize = 100_000;

fn pct(t: &mut [u128], label: &str) {
    if t.is_empty() {
        return;
    }
    t.sort_unstable();
    let at = |p: f64| t[((t.len() as f64 * p) as usize).min(t.len() - 1)] as f64 / 1000.0;
    println!(
        "{label:<44} n {:>6}: p50 {:>7.2} us, p90 {:>7.2} us, p99 {:>7.2} us, p99.9 {:>8.2} us, max {:>8.1} us",
        t.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

fn main() -> Result<(), MarginError> {
    let m = model();
    let prices: Vec<Option<UsdPrice>> = (0..4).map(|_| Some(price(3000))).collect();
    let s = Instant::now();
    let bounds = m.unit_bounds();
    println!("unit bounds of the model: {:.1} ms", s.elapsed().as_secs_f64() * 1e3);
    let accounts: Vec<_> = (0..ACCOUNTS).map(|a| account(&m, 10, a, &prices).1).collect();
    let mut build = Vec::new();
    let mut summaries = Vec::new();
    for a in &accounts {
        let s = Instant::now();
        summaries.push(m.summary(&bounds, a, &prices)?);
        build.push(s.elapsed().as_nanos());
    }
    // Nine in ten far from the limit (equity 2 x IM), one in ten 1% above it.
    let equity: Vec<UsdValue> = summaries
        .iter()
        .enumerate()
        .map(|(a, s)| UsdValue(if a % 10 == 0 { s.initial().0 / 100 * 101 } else { s.initial().0 * 2 }))
        .collect();
    let mut rng = Lcg(11);
    let orders: Vec<(usize, Position)> = (0..ORDERS)
        .map(|_| {
            let a = (rng.next() % ACCOUNTS) as usize;
            let units = (1 + rng.next() % 20) as i128 * if rng.next().is_multiple_of(2) { 1 } else { -1 };
            (a, Position { instrument: InstrumentIx((rng.next() % INSTRUMENTS as u64) as u32), qty: units * 1_000_000_000 })
        })
        .collect();
    let (mut all, mut on_bound, mut exact, mut upper_only) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut refused = 0usize;
    for (a, p) in &orders {
        let order = [*p];
        let s = Instant::now();
        let d = m.pre_trade(&bounds, &summaries[*a], equity[*a], &order, &prices, || Ok::<_, MarginError>(&accounts[*a]))?;
        let ns = s.elapsed().as_nanos();
        black_box(&d);
        all.push(ns);
        match d {
            Decision::Accepted { .. } => on_bound.push(ns),
            Decision::Exact(r) => {
                exact.push(ns);
                refused += usize::from(r.initial > equity[*a]);
            }
        }
    }
    for (a, p) in orders.iter().take(20_000) {
        let s = Instant::now();
        black_box(bounds.im_upper(&m, &summaries[*a], &[*p], &prices)?);
        upper_only.push(s.elapsed().as_nanos());
    }
    let mut with = Vec::new();
    let mut excess = Vec::new();
    for (a, p) in orders.iter().take(5_000) {
        let s = Instant::now();
        let r = black_box(m.with(&accounts[*a], &[*p], &prices)?);
        with.push(s.elapsed().as_nanos());
        let up = bounds.im_upper(&m, &summaries[*a], &[*p], &prices)?;
        assert!(up >= r.initial, "the bound is never below the exact requirement");
        excess.push(((up.0 - r.initial.0) as f64 / r.initial.0.max(1) as f64 * 1e6) as u128);
    }
    println!(
        "model: {} columns, {} instruments, {} protocols; {} accounts of 10 positions; {} orders",
        m.columns(),
        m.instruments.len(),
        m.charges.protocols.len(),
        ACCOUNTS,
        ORDERS
    );
    println!(
        "decided by the bound: {:.1}% of orders; exact fallback {:.1}% ({} refused)",
        100.0 * on_bound.len() as f64 / ORDERS as f64,
        100.0 * exact.len() as f64 / ORDERS as f64,
        refused
    );
    pct(&mut all, "pre_trade, every order");
    pct(&mut on_bound, "pre_trade, accepted on the bound");
    pct(&mut exact, "pre_trade, exact fallback");
    pct(&mut upper_only, "im_upper alone");
    pct(&mut with, "exact check alone (RiskModel::with)");
    pct(&mut build, "summary of an account (after each fill)");
    excess.sort_unstable();
    let at = |p: f64| excess[((excess.len() as f64 * p) as usize).min(excess.len() - 1)] as f64 / 1e4;
    println!(
        "bound above the exact IM with the order: p50 {:.2}%, p90 {:.2}%, p99 {:.2}%, max {:.2}%",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
