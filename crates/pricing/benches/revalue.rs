//! Revaluation throughput per instrument kind (positions revalued per second, single thread).
//!
//! Each benchmark revalues a batch of 1,000 positions of one kind (parameters varied so that branch
//! prediction and caches see a realistic mix) under one market state; criterion reports elements/s.
//! Run: `CARGO_TARGET_DIR=/work/target-pricing cargo bench -p pricing --bench revalue`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pricing::curve::CurveLp;
use pricing::uniswap_v2::UniswapV2Lp;
use pricing::uniswap_v3::UniswapV3Position;
use pricing::*;

const BATCH: usize = 1_000;
const USD: UnderlyingId = UnderlyingId::USD;
const BTC: UnderlyingId = UnderlyingId(1);
const ETH: UnderlyingId = UnderlyingId(2);
const USDC: PegId = PegId(1);
const DAI: PegId = PegId(2);
const USDT: PegId = PegId(3);
const STETH: PegId = PegId(4);

fn market() -> MarketState {
    let mut m = MarketState::new(1.0, 0.04);
    m.set_spot_usd(BTC, 65_000.0).unwrap();
    m.set_spot_usd(ETH, 3_000.0).unwrap();
    for (p, r) in [(USDC, 0.9999), (DAI, 1.0002), (USDT, 0.9995), (STETH, 0.998)] {
        m.set_peg_ratio(p, r).unwrap();
    }
    let expiries = [1.02, 1.08, 1.25, 1.5, 2.0];
    let strikes = [40_000.0, 50_000.0, 60_000.0, 65_000.0, 70_000.0, 80_000.0, 100_000.0];
    let vols: Vec<f64> = (0..expiries.len() * strikes.len()).map(|i| 0.45 + 0.01 * (i % 11) as f64).collect();
    m.set_vol_surface(BTC, VolSurface::new(&expiries, &strikes, &vols).unwrap()).unwrap();
    m.set_vol_surface(ETH, VolSurface::flat(0.7).unwrap()).unwrap();
    m.set_funding_rate_annual(BTC, 0.1).unwrap();
    m.set_stake_rate(StakeId(0), 1.17).unwrap();
    for o in 0..MAX_OUTCOMES {
        m.set_probability(OutcomeId(o as u16), (o as f64 + 0.5) / MAX_OUTCOMES as f64).unwrap();
    }
    m.set_reserve(
        ReserveId(0),
        LendingReserve {
            asset: Asset::pegged(USD, USDC),
            liquidity_index: 1.05,
            variable_borrow_index: 1.08,
            liquidity_rate_annual: 0.04,
            variable_borrow_rate_annual: 0.06,
            last_update_years: 0.99,
        },
    )
    .unwrap();
    m
}

fn batches() -> Vec<(&'static str, Vec<Instrument>)> {
    let f = |i: usize| i as f64 / BATCH as f64;
    let usdc = Asset::pegged(USD, USDC);
    let weth = Asset::native(ETH);
    let steth = Asset::pegged(ETH, STETH);
    vec![
        ("spot_wrapped", (0..BATCH).map(|i| Instrument::Spot(if i % 2 == 0 { usdc } else { steth })).collect()),
        (
            "perpetual",
            (0..BATCH)
                .map(|i| {
                    Instrument::Perpetual(Perpetual {
                        underlying: BTC,
                        entry_price_usd: 50_000.0 + 20_000.0 * f(i),
                        last_funding_years: 0.99,
                    })
                })
                .collect(),
        ),
        (
            "option_bs_surface",
            (0..BATCH)
                .map(|i| {
                    Instrument::Option(EuropeanOption {
                        underlying: BTC,
                        strike_usd: 40_000.0 + 60_000.0 * f(i),
                        expiry_years: 1.01 + f(i),
                        right: if i % 2 == 0 { OptionRight::Call } else { OptionRight::Put },
                        model: OptionModel::BlackScholes,
                    })
                })
                .collect(),
        ),
        (
            "option_black76_flat",
            (0..BATCH)
                .map(|i| {
                    Instrument::Option(EuropeanOption {
                        underlying: ETH,
                        strike_usd: 2_000.0 + 2_000.0 * f(i),
                        expiry_years: 1.01 + f(i),
                        right: if i % 2 == 0 { OptionRight::Call } else { OptionRight::Put },
                        model: OptionModel::Black76,
                    })
                })
                .collect(),
        ),
        (
            "uniswap_v2_lp",
            (0..BATCH)
                .map(|i| Instrument::UniswapV2Lp(UniswapV2Lp::from_reserves(weth, usdc, 1_000.0 + f(i), 3_000_000.0, 50_000.0).unwrap()))
                .collect(),
        ),
        (
            "uniswap_v3_position",
            (0..BATCH)
                .map(|i| {
                    let lower = -200_000 + (i as i32 % 50) * 200;
                    Instrument::UniswapV3(UniswapV3Position::from_ticks(weth, usdc, 1e15, lower, lower + 6_000, 18, 6).unwrap())
                })
                .collect(),
        ),
        (
            "curve_3pool_lp",
            (0..BATCH)
                .map(|i| {
                    Instrument::CurveLp(
                        CurveLp::from_balances(
                            &[Asset::pegged(USD, DAI), usdc, Asset::pegged(USD, USDT)],
                            2000.0,
                            &[50e6 + 1e6 * f(i), 40e6, 60e6],
                            145e6,
                        )
                        .unwrap(),
                    )
                })
                .collect(),
        ),
        (
            "curve_steth_eth_lp",
            (0..BATCH)
                .map(|i| {
                    Instrument::CurveLp(
                        CurveLp::from_balances(&[weth, steth], 50.0, &[100_000.0 + 1e3 * f(i), 120_000.0], 210_000.0).unwrap(),
                    )
                })
                .collect(),
        ),
        (
            "lending_receipt_debt",
            (0..BATCH)
                .map(|i| {
                    Instrument::Lending(LendingPosition {
                        reserve: ReserveId(0),
                        side: if i % 2 == 0 { LendingSide::Supply } else { LendingSide::Borrow },
                    })
                })
                .collect(),
        ),
        ("staking_share", (0..BATCH).map(|_| Instrument::Staking(StakingShare { stake: StakeId(0), staked: steth })).collect()),
        (
            "prediction_share",
            (0..BATCH)
                .map(|i| {
                    Instrument::Prediction(PredictionShare {
                        outcome: OutcomeId((i % MAX_OUTCOMES) as u16),
                        side: if i % 2 == 0 { OutcomeSide::Yes } else { OutcomeSide::No },
                        collateral: usdc,
                    })
                })
                .collect(),
        ),
    ]
}

fn revalue(c: &mut Criterion) {
    let base = market();
    let mut group = c.benchmark_group("value");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut out = vec![0.0; BATCH];
    for (name, insts) in batches() {
        group.bench_function(name, |b| {
            b.iter(|| {
                revalue_into(black_box(&insts), black_box(&base), &mut out).unwrap();
                black_box(&out);
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("greeks");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, insts) in batches() {
        group.bench_function(name, |b| {
            b.iter(|| {
                for inst in black_box(&insts) {
                    black_box(inst.greeks(&base).unwrap());
                }
            });
        });
    }
    group.finish();

    // One scenario as the margin engine runs it: clone the base market, apply shocks, revalue a mixed
    // book of 11,000 positions (1,000 of each kind above).
    let book: Vec<Instrument> = batches().into_iter().flat_map(|(_, v)| v).collect();
    let mut out = vec![0.0; book.len()];
    let mut group = c.benchmark_group("scenario");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    group.throughput(Throughput::Elements(book.len() as u64));
    group.bench_function("clone_shock_revalue_mixed_book", |b| {
        b.iter(|| {
            let mut m = base.clone();
            m.shock(Factor::Spot(ETH), Shift::Relative(-0.3)).unwrap();
            m.shock(Factor::Spot(BTC), Shift::Relative(-0.25)).unwrap();
            m.shock(Factor::Peg(USDT), Shift::Set(0.95)).unwrap();
            m.shock(Factor::VolShift(BTC), Shift::Absolute(0.2)).unwrap();
            revalue_into(black_box(&book), &m, &mut out).unwrap();
            black_box(&out);
        });
    });
    group.finish();
}

criterion_group!(benches, revalue);
criterion_main!(benches);
