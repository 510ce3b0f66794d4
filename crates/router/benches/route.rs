//! Route latency (routes per second, one thread) on the default venue set:
//! - a 3-venue split (5,000 ETH -> USDC over Uniswap v2 and the two v3 pools),
//! - a 2-hop path (20 sBTC -> WBTC -> USDC: Curve, then v3 + v2),
//! - a 5-venue 2-hop problem (the same path with a second sBTC/WBTC pair and a WBTC/USDC spot book),
//! - the hedge of a two-factor exposure (ETH and WBTC over the residual limits).
//!
//! Run: `cargo bench -p router --bench route` (release profile).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use money::Amount;
use router::hedge::{Exposure, HedgeLimits, hedge_orders};
use router::venue::{BookLevel, Instrument, OrderBookVenue, UniswapV2Pair};
use router::{Market, VenueModel, default_venues, route};
use ruint::aliases::U256;
use std::collections::BTreeMap;
use std::hint::black_box;

fn five_venue_market() -> Market {
    let mut market = default_venues().unwrap();
    let (wbtc, sbtc, usdc) = (market.token("WBTC").unwrap(), market.token("sBTC").unwrap(), market.token("USDC").unwrap());
    let pair = UniswapV2Pair::new("univ2-wbtc-sbtc", [wbtc, sbtc], [U256::from(50u64 * 10u64.pow(8)), U256::from(50u128 * 10u128.pow(18))])
        .unwrap();
    let asks = (0..10).map(|k| BookLevel { price: (60_010 + 10 * k) * 1_000_000, size: 50_000_000 * (k + 1) }).collect();
    let bids = (0..10).map(|k| BookLevel { price: (59_990 - 10 * k) * 1_000_000, size: 50_000_000 * (k + 1) }).collect();
    let book = OrderBookVenue::new("spot-wbtc-usdc", Instrument::Spot, wbtc, usdc, 8, 1_000, bids, asks).unwrap();
    market.venues.push(VenueModel::UniswapV2(pair));
    market.venues.push(VenueModel::OrderBook(book));
    market
}

fn bench(c: &mut Criterion) {
    let market = default_venues().unwrap();
    let (eth, usdc, sbtc) = (market.token("ETH").unwrap(), market.token("USDC").unwrap(), market.token("sBTC").unwrap());
    let five = five_venue_market();
    let mut group = c.benchmark_group("route");
    group.throughput(Throughput::Elements(1));
    let eth_amount = market.parse_amount(eth, "5000").unwrap();
    group.bench_function("3-venue split ETH->USDC", |b| b.iter(|| route(black_box(&market), eth, usdc, black_box(eth_amount)).unwrap()));
    let sbtc_amount = market.parse_amount(sbtc, "20").unwrap();
    group.bench_function("2-hop sBTC->WBTC->USDC (3 venues)", |b| {
        b.iter(|| route(black_box(&market), sbtc, usdc, black_box(sbtc_amount)).unwrap())
    });
    group.bench_function("2-hop sBTC->WBTC->USDC (5 venues)", |b| {
        b.iter(|| route(black_box(&five), sbtc, usdc, black_box(sbtc_amount)).unwrap())
    });
    let mut exposure = Exposure::default();
    exposure.delta.insert("ETH".into(), market.parse_amount(eth, "2500").unwrap());
    exposure.delta.insert("WBTC".into(), Amount(-40 * 100_000_000));
    let limits = HedgeLimits {
        residual_delta_max: BTreeMap::from([
            ("ETH".to_string(), market.parse_amount(eth, "100").unwrap()),
            ("WBTC".to_string(), Amount(100_000_000)),
        ]),
        hedge_cost_bps_max: 200.0,
        quote_token: "USDC".into(),
    };
    group.bench_function("hedge ETH and WBTC exposure", |b| {
        b.iter(|| hedge_orders(black_box(&market), black_box(&exposure), &limits).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
