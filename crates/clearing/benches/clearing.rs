//! Costs of the clearing steps the engine calls per fill, per interval and per touch.

use clearing::fees::FeeSchedule;
use clearing::funding::settle_funding;
use clearing::interest::{InterestIndex, RAY, Side};
use clearing::pnl::PerpPosition;
use clearing::{ContractSpec, ONE_E18, Price};
use criterion::{Criterion, criterion_group, criterion_main};
use money::Amount;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let spec = ContractSpec::new(3, 6).unwrap();
    let fees = FeeSchedule::new(-2, 5).unwrap();
    c.bench_function("fill_fees", |b| b.iter(|| fees.fill_fees(black_box(Amount(1_234_567_890)))));
    let position = PerpPosition { quantity: 4_000, cost_e18: 8_300 * ONE_E18 };
    let price = Price(2_200 * ONE_E18 + 123_456_789);
    c.bench_function("apply_fill (partial close)", |b| b.iter(|| black_box(position).apply_fill(black_box(-1_000), price, spec)));
    let index = InterestIndex::new(0);
    c.bench_function("accrue borrow index (compounded)", |b| b.iter(|| black_box(index).accrue(Side::Borrow, RAY / 20, black_box(86_400))));
    // 10,000 holders of one perpetual market, the house holding the net.
    let mut positions: Vec<(u32, i128)> = (0..9_999u32).map(|i| (i, i128::from(i % 201) - 100 + 7)).collect();
    let net: i128 = positions.iter().map(|p| p.1).sum();
    positions.push((u32::MAX, -net));
    c.bench_function("settle_funding 10k positions", |b| {
        b.iter(|| settle_funding(black_box(&positions), &u32::MAX, Price(50_000 * ONE_E18), 100_000_000_000_000, spec))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
