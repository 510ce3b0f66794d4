use criterion::{Criterion, criterion_group, criterion_main};
use money::*;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let scale = Scale::new(18).unwrap();
    let price = UsdPrice::parse("65432.123456789").unwrap();
    c.bench_function("value_usd 18 decimals (256-bit mul_div)", |b| {
        b.iter(|| value_usd(black_box(Amount(123_456_789_000_000_000_000)), scale, black_box(price), Rounding::Floor))
    });
    c.bench_function("parse_decimal", |b| b.iter(|| parse_decimal(black_box("12345.678901234567"), scale)));
    c.bench_function("format_decimal", |b| b.iter(|| format_decimal(black_box(12_345_678_901_234_567_890), scale)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
