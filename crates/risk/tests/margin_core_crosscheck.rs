//! The integer margin of `margin-core` through a compiled risk model against the f64 margin of
//! `clearhouse margin` on the same book: equal within the quantization bound of
//! `docs/margin-core.md`, and never below the f64 margin by more than that bound.

use risk::arrays::{compile_portfolio, positions_of, reference_prices};
use risk::margin::Scratch;
use risk::{Portfolio, RiskParams};
use std::path::PathBuf;

mod common;

const EXAMPLES: [&str; 12] = [
    "btc_eth_pair.toml",
    "short_eth_calls_near_expiry.toml",
    "short_eth_perp.toml",
    "short_eth_straddle.toml",
    "stablecoin_basket.toml",
    "basis_trade.toml",
    "flat_across_venues.toml",
    "delta_hedged_lp.toml",
    "eth_call_spread.toml",
    "steth_leverage_loop.toml",
    "naked_long_eth_perp.toml",
    "stablecoin_book.toml",
];

fn load(name: &str) -> Portfolio {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/portfolios");
    Portfolio::from_toml(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn usd(v: money::UsdValue) -> f64 {
    v.0 as f64 / 1e18
}

/// The documented bound (`docs/margin-core.md`, "Cross-check"), with `B` one micro-USD per whole
/// unit held (the arrays' rounding: a long's loss is rounded up, a short's down by less than one
/// micro-USD per unit): the integer IM is at least the f64 IM less `B` (and 1e-9 relative of f64
/// noise), and at most the f64 IM plus `B`, 0.5% of the liquidity charge (chords over a 10% grid
/// step), 2 ppm of the IM (ppm and ppb roundings of weights, probabilities and LGDs) and one
/// micro-USD.
fn check(name: &str, f64_im: f64, f64_liquidity: f64, units_held: f64, req: &margin_core::Requirement) {
    let im = usd(req.initial);
    let b = units_held * 1e-6;
    let upper = f64_im + b + 0.005 * f64_liquidity + 2e-6 * f64_im + 1e-6;
    let lower = f64_im - b - 1e-9 * f64_im - 1e-9;
    println!(
        "{name}: f64 IM {f64_im:.6}, integer IM {im:.6}, diff {:+.6}, allowed [{:+.6}, {:+.6}]",
        im - f64_im,
        lower - f64_im,
        upper - f64_im
    );
    assert!(im >= lower, "{name}: integer IM {im} below the f64 IM {f64_im} by more than the bound");
    assert!(im <= upper, "{name}: integer IM {im} above the bound {upper} (f64 {f64_im})");
}

#[test]
fn integer_margin_of_every_example_equals_the_f64_margin_within_the_bound() {
    check_examples(&common::history_or_calibration());
}

/// The embedded calibration (no FHS: floor scenarios, concentration and liquidity only) gives a
/// model too, with the same bound.
#[test]
fn integer_margin_on_the_embedded_calibration_equals_the_f64_margin_within_the_bound() {
    check_examples(&risk::MarketData::embedded_calibration().unwrap());
}

fn check_examples(data: &risk::MarketData) {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    for name in EXAMPLES {
        let p = load(name);
        let c = compile_portfolio(&config, &params, data, &p, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let positions: Vec<(usize, f64)> = c.computed.book.positions.iter().map(|p| (p.instrument, p.quantity)).collect();
        let f = c.computed.engine.margin(&positions, &[], false, &mut Scratch::default());
        let m = &c.model;
        let held = positions_of(m, &c.computed.book).unwrap();
        let req = m.requirement(&m.account(&held, &reference_prices(m)).unwrap()).unwrap();
        let units: f64 = positions.iter().map(|p| p.1.abs()).sum();
        check(name, f.initial_margin, f.liquidity_charge, units, &req);
        assert!(req.initial.0 > 0, "{name}");
    }
}

/// Random books over the whole configuration's model (every asset and instrument as of one
/// instant): the same bound. The seed is printed.
#[test]
fn integer_margin_of_random_books_equals_the_f64_margin_within_the_bound() {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let data = common::history_or_calibration();
    let as_of = risk::portfolio::parse_as_of("2024-12-31T00:00:00Z", "test").unwrap();
    let c = risk::arrays::compile(&config, &params, &data, as_of).unwrap();
    let (e, m) = (&c.computed.engine, &c.model);
    let seed = 0x5eed_2024u64;
    println!("seed {seed:#x}, {} instruments, {} skipped", m.instruments.len(), c.skipped.len());
    let mut state = seed;
    let mut next = |n: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    for book in 0..8 {
        let mut positions: Vec<(usize, f64)> = Vec::new();
        for _ in 0..1 + next(8) {
            let i = next(e.instruments.len() as u64) as usize;
            // Up to about 200k USD a line, in thousandths of a unit.
            let units = (2e5 / e.unit_notional[i].max(1e-3)).max(1e-3);
            let k = next((units * 1000.0) as u64 + 1) as f64;
            // A borrow is held as negative units.
            let sign = if next(2) == 0 || e.instruments[i].class == risk::book::Class::Borrow { -1.0 } else { 1.0 };
            positions.push((i, sign * k / 1000.0));
        }
        let f = e.margin(&positions, &[], false, &mut Scratch::default());
        let held: Vec<margin_core::Position> = positions
            .iter()
            .map(|&(i, q)| {
                let ix = m.instrument(&e.instruments[i].id).unwrap();
                margin_core::Position { instrument: ix, qty: risk::arrays::quantity_units(q, m.decimals(ix)).unwrap() }
            })
            .collect();
        let req = m.requirement(&m.account(&held, &reference_prices(m)).unwrap()).unwrap();
        let units: f64 = positions.iter().map(|p| p.1.abs()).sum();
        check(&format!("random book {book} {positions:?}"), f.initial_margin, f.liquidity_charge, units, &req);
    }
}

/// The same inputs give the same model bytes and digest (the model is installed by digest).
#[test]
fn compiling_twice_gives_the_same_bytes_and_digest() {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let data = common::history_or_calibration();
    let p = load("flat_across_venues.toml");
    let a = compile_portfolio(&config, &params, &data, &p, None).unwrap().model;
    let b = compile_portfolio(&config, &params, &data, &p, None).unwrap().model;
    assert_eq!(postcard::to_stdvec(&a).unwrap(), postcard::to_stdvec(&b).unwrap());
    assert_eq!(a.digest(), b.digest());
    // A different book (other instruments) is another model.
    let other = compile_portfolio(&config, &params, &data, &load("basis_trade.toml"), None).unwrap().model;
    assert_ne!(a.digest(), other.digest());
}
