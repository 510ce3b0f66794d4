//! Criterion benches of the integer margin at the default scenario count (6 633 columns: 6 570 FHS
//! and 63 floor, as `clearhouse risk-model --as-of 2024-12-31` compiles) over a model shaped like
//! the configuration's (77 instruments, 13 protocols, a 316-point liquidity grid), with synthetic
//! arrays (the speed does not depend on the values). Before the criterion groups it prints the
//! latency percentiles of the pre-trade check (`docs/performance.md`).

use criterion::{Criterion, criterion_group, criterion_main};
use margin_core::{AccountRisk, MarginError, Position, RiskModel};
use money::UsdPrice;
use money::UsdValue;
use std::hint::black_box;
use std::time::Instant;

mod shape;

use shape::{INSTRUMENTS, account, model, price};

/// p50 / p99 / max of the pre-trade check, printed (not asserted: timing is for the note).
fn percentiles(m: &RiskModel, prices: &[Option<UsdPrice>]) {
    let (_, acct) = account(m, 10, 3, prices);
    let order = [Position { instrument: margin_core::InstrumentIx(5), qty: 2_000_000_000 }];
    let mut t: Vec<u128> = (0..20_000)
        .map(|_| {
            let s = Instant::now();
            black_box(m.with(black_box(&acct), &order, prices).expect("requirement"));
            s.elapsed().as_nanos()
        })
        .collect();
    t.sort_unstable();
    let at = |p: f64| t[((t.len() as f64 * p) as usize).min(t.len() - 1)] as f64 / 1000.0;
    println!(
        "pre-trade check, 10 positions + 1 order, {} columns: min {:.1} us, p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        m.columns(),
        at(0.0),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn benches(c: &mut Criterion) {
    let m = model();
    let prices: Vec<Option<UsdPrice>> = (0..4).map(|_| Some(price(3000))).collect();
    percentiles(&m, &prices);
    let (_, acct) = account(&m, 10, 3, &prices);
    let order = [Position { instrument: margin_core::InstrumentIx(5), qty: 2_000_000_000 }];
    c.bench_function("pre_trade_10_positions_plus_order", |b| b.iter(|| m.with(black_box(&acct), &order, &prices)));
    let bounds = m.unit_bounds();
    let summary = m.summary(&bounds, &acct, &prices).expect("summary");
    let far = UsdValue(summary.initial().0 * 2);
    c.bench_function("pre_trade_bound_path_10_positions_plus_order", |b| {
        b.iter(|| m.pre_trade(&bounds, black_box(&summary), far, &order, &prices, || Ok::<_, MarginError>(&acct)))
    });
    c.bench_function("pre_trade_exact_path_10_positions_plus_order", |b| {
        b.iter(|| m.pre_trade(&bounds, black_box(&summary), UsdValue::ZERO, &order, &prices, || Ok::<_, MarginError>(&acct)))
    });
    c.bench_function("summary_10_positions", |b| b.iter(|| m.summary(&bounds, black_box(&acct), &prices)));
    c.bench_function("requirement_10_positions", |b| b.iter(|| m.requirement(black_box(&acct))));
    let (positions, _) = account(&m, 10, 3, &prices);
    c.bench_function("account_from_10_positions", |b| b.iter(|| m.account(black_box(&positions), &prices)));
    let mut accounts: Vec<AccountRisk> = (0..1_000).map(|a| account(&m, 10, a, &prices).1).collect();
    let mut k = 0i128;
    let mut g = c.benchmark_group("remark");
    g.sample_size(10);
    g.bench_function("remark_1000_accounts_x10_after_one_price_update", |b| {
        b.iter(|| {
            k += 1;
            let mut moved = prices.clone();
            moved[1] = Some(UsdPrice(price(3000).0 + k * 10i128.pow(16)));
            m.remark_batch(&mut accounts, &moved).expect("remark")
        })
    });
    // Accounts spread over four underlyings (instrument i is linear on i % 4 unless i % 3 == 0):
    // one price move re-marks only the accounts holding that underlying.
    let mut spread: Vec<AccountRisk> = (0..1_000).map(|a| single_underlying_account(&m, a, &prices)).collect();
    g.bench_function("remark_underlying_1000_accounts_spread_over_4_underlyings", |b| {
        b.iter(|| {
            k += 1;
            let mut moved = prices.clone();
            moved[1] = Some(UsdPrice(price(3000).0 + k * 10i128.pow(16)));
            m.remark_underlying(&mut spread, 1, &moved).expect("remark")
        })
    });
    g.finish();
}

/// An account of 10 positions on instruments linear on one underlying (`a % 4`) or fixed.
fn single_underlying_account(m: &RiskModel, a: u64, prices: &[Option<UsdPrice>]) -> AccountRisk {
    let u = (a % 4) as usize;
    let ids: Vec<u32> = (0..INSTRUMENTS as u32).filter(|i| *i as usize % 4 == u || i % 3 == 0).take(10).collect();
    let positions: Vec<Position> = ids
        .iter()
        .enumerate()
        .map(|(k, i)| Position {
            instrument: margin_core::InstrumentIx(*i),
            qty: (k as i128 + 1) * 1_000_000_000 * if k % 2 == 0 { 1 } else { -1 },
        })
        .collect();
    m.account(&positions, prices).expect("account")
}

criterion_group!(margin_core_benches, benches);
criterion_main!(margin_core_benches);
