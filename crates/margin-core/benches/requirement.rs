//! Criterion benches of the integer margin at the default scenario count (6 633 columns: 6 570 FHS
//! and 63 floor, as `clearhouse risk-model --as-of 2024-12-31` compiles) over a model shaped like
//! the configuration's (77 instruments, 13 protocols, a 316-point liquidity grid), with synthetic
//! arrays (the speed does not depend on the values). Before the criterion groups it prints the
//! latency percentiles of the pre-trade check (`docs/performance.md`).

use criterion::{Criterion, criterion_group, criterion_main};
use margin_core::{AccountRisk, ChargeTables, InstrumentArray, InstrumentCharges, Position, ProtocolArray, RiskModel, Scaling, Underlying};
use money::UsdPrice;
use std::hint::black_box;
use std::time::Instant;

const FHS: u32 = 6_570;
const FLOOR: usize = 63;
const INSTRUMENTS: usize = 77;
const PROTOCOLS: usize = 13;
const FROZEN: bool = true;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Roughly normal, mean 0, standard deviation `sd` (sum of 4 uniforms).
    fn normal(&mut self, sd: f64) -> i64 {
        let u: f64 = (0..4).map(|_| self.next() as f64 / (1u64 << 31) as f64).sum::<f64>() - 2.0;
        (u * sd * 1.7) as i64
    }
}

fn model() -> RiskModel {
    let mut rng = Lcg(7);
    let columns = FHS as usize + FLOOR;
    let grid: Vec<i128> = std::iter::once(0).chain((0..315).map(|k| (1e6 * 1.1f64.powi(k)) as i128)).collect();
    let instruments: Vec<InstrumentArray> = (0..INSTRUMENTS)
        .map(|i| InstrumentArray {
            id: format!("I{i:03}"),
            decimals: 9,
            scaling: if i % 3 == 0 { Scaling::Fixed } else { Scaling::Linear { underlying: (i % 4) as u16 } },
            // Per unit: a 3 000 USD asset moving ~5% a day, in micro-USD.
            pnl: (0..columns).map(|_| rng.normal(150e6)).collect(),
        })
        .collect();
    let charges = (0..INSTRUMENTS)
        .map(|i| InstrumentCharges {
            value_musd: 3_000_000_000,
            notional_musd: 3_000_000_000,
            // One in three is a balance on a venue (claim fraction 1: frozen when it fails), the
            // rest are partial claims, as in the configuration's model.
            links: vec![((i % PROTOCOLS) as u16, if i % 3 == 0 { 1_000_000 } else { 300_000 }), (((i + 5) % PROTOCOLS) as u16, 300_000)],
            collapse: None,
            collapse_loss_ppm: 0,
            liquidity_cost_musd: grid.iter().map(|g| g / 10_000 + g * g / 200_000_000_000_000).collect(),
        })
        .collect();
    let protocols = (0..PROTOCOLS)
        .map(|j| ProtocolArray {
            name: format!("P{j}"),
            pd_ppb: 100_000,
            lgd_ppm: 600_000,
            frozen: (0..INSTRUMENTS as u32).filter(|i| *i as usize % PROTOCOLS == j && i % 3 == 0 && FROZEN).collect(),
        })
        .collect();
    let m = RiskModel {
        label: "bench".into(),
        as_of_ms: 0,
        fhs_scenarios: FHS,
        floor_weights_ppm: vec![1_000_000; FLOOR],
        tail_ppm: 10_000,
        maintenance_ppm: 750_000,
        underlyings: (0..4).map(|u| Underlying { name: format!("U{u}"), ref_price: price(3000) }).collect(),
        instruments,
        charges: ChargeTables { protocols, concentration_scale_musd_e3: 1_000_000_000, liquidity_grid_musd: grid, instruments: charges },
    };
    m.validate().expect("bench model is valid");
    m
}

fn price(usd: i128) -> UsdPrice {
    UsdPrice(usd * 10i128.pow(18))
}

/// An account of `n` positions on distinct instruments, 1 to 100 units each, both signs.
fn account(m: &RiskModel, n: usize, seed: u64, prices: &[Option<UsdPrice>]) -> (Vec<Position>, AccountRisk) {
    let mut rng = Lcg(seed);
    let positions: Vec<Position> = (0..n)
        .map(|k| {
            let ix = margin_core::InstrumentIx(((k * 7 + seed as usize) % INSTRUMENTS) as u32);
            let qty = (1 + rng.next() % 100) as i128 * 1_000_000_000 * if rng.next().is_multiple_of(2) { 1 } else { -1 };
            Position { instrument: ix, qty }
        })
        .collect();
    let risk = m.account(&positions, prices).expect("account");
    (positions, risk)
}

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
