//! Criterion benchmarks: panel build, EWMA model, FHS scenario generation, stress scenarios.
//! Needs the raw market data; prints `SKIPPED` and benchmarks nothing without it (fails under `CI`).
//!
//! `CARGO_TARGET_DIR=/work/target-marketdata cargo bench -p marketdata --bench scenarios`

use criterion::{Criterion, criterion_group, criterion_main};
use marketdata::panel::ProxyParams;
use marketdata::{FactorPanel, FhsParams, Hour, VolModel, fhs_scenarios_with, stress_scenarios};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let Some(dir) = marketdata::test_support::market_data_or_skip() else { return };
    let raw = marketdata::loader::load_raw(&dir).expect("raw data loads");
    let mut g = c.benchmark_group("marketdata");
    g.sample_size(10);
    g.bench_function("load_raw (parse 19 MB of CSV)", |b| b.iter(|| marketdata::loader::load_raw(black_box(&dir)).expect("loads")));
    g.bench_function("FactorPanel::build", |b| b.iter(|| FactorPanel::build(black_box(&raw), ProxyParams::default()).expect("builds")));
    let panel = FactorPanel::build(&raw, ProxyParams::default()).expect("builds");
    let params = FhsParams::default();
    g.bench_function("VolModel::compute (19 factors x 52k hours)", |b| {
        b.iter(|| VolModel::compute(black_box(&panel), &params.ewma).expect("computes"))
    });
    let vm = VolModel::compute(&panel, &params.ewma).expect("computes");
    let as_of = Hour::from_ymdh(2024, 12, 31, 0);
    g.bench_function("fhs_scenarios_with (stride 8h, ~6.5k scenarios)", |b| {
        b.iter(|| fhs_scenarios_with(black_box(&panel), &vm, as_of, &params).expect("scenarios"))
    });
    let hourly = FhsParams { stride_hours: 1, ..params.clone() };
    g.bench_function("fhs_scenarios_with (stride 1h, ~52k scenarios)", |b| {
        b.iter(|| fhs_scenarios_with(black_box(&panel), &vm, as_of, &hourly).expect("scenarios"))
    });
    g.bench_function("stress_scenarios (5 events)", |b| b.iter(|| stress_scenarios(black_box(&panel), as_of, 24).expect("stress")));
    g.finish();
}

criterion_group!(marketdata_benches, benches);
criterion_main!(marketdata_benches);
