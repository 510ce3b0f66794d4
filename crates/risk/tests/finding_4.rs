//! Finding 4 and item 3 (issue 8): positions net per risk-equivalent instrument (a perpetual's
//! entry price never splits it); an LP share's close-out is its exact unwind loss into its own
//! pool (constant product and stableswap), whatever depth entry is configured; a market without a
//! configured depth gets a conservative default and a warning line.

use risk::book::Unwind;
use risk::liquidity::unwind_loss_fraction;
use risk::report::{compute, report_of};
use risk::{Portfolio, RiskParams};

mod common;

fn report(params: &RiskParams, body: &str) -> Option<risk::MarginReport> {
    let data = common::history()?;
    let config = model::Config::default_config();
    let p = Portfolio::from_toml(&format!("name = \"f4\"\nas_of = \"2024-12-31\"\n{body}")).unwrap();
    let c = compute(&config, params, &p, &data, None, None).unwrap();
    Some(report_of(&config, params, &p, &data, &c))
}

#[test]
fn finding_4_entry_price_never_splits_a_position() {
    let params = RiskParams::default_params();
    let one = "[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"30000\"\nentry_price_usd = \"3300\"\n";
    let many: String = (0..100)
        .map(|k| {
            format!(
                "[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"300\"\nentry_price_usd = \"{}\"\n",
                3300.0 + 1e-6 * k as f64
            )
        })
        .collect();
    let (Some(a), Some(b)) = (report(&params, one), report(&params, &many)) else { return };
    // Before: 6.37m of liquidity charge in one line, 73,726 as 100 lines.
    assert!(
        (a.margin.liquidity_charge - b.margin.liquidity_charge).abs() < 1e-9 * a.margin.liquidity_charge,
        "{} vs {}",
        a.margin.liquidity_charge,
        b.margin.liquidity_charge
    );
    // The entries differ by up to 99e-6 USD: 300 x 1e-6 x (0 + 1 + ... + 99) = 1.485 USD of P&L.
    assert!(
        (a.net_liquidation_value - b.net_liquidation_value - 1.485).abs() < 1e-3,
        "{} vs {}",
        a.net_liquidation_value,
        b.net_liquidation_value
    );
    assert!((a.initial_margin - b.initial_margin).abs() < 2.0, "{} vs {}", a.initial_margin, b.initial_margin);
    // The liquidity charge is that of 30,000 ETH on the ETH perp book (8m per 1%, 1 bp): the
    // notional Q at the mark, Q x 1e-4 + Q^2 / (200 x 8e6), capped at Q.
    let line = a.margin.liquidity.iter().find(|l| l.instrument == "ETH-PERP@dydx").unwrap();
    let q = line.notional_usd;
    assert!((q / 30_000.0 - 3_300.0).abs() < 1_000.0, "mark {}", q / 30_000.0);
    assert!((line.cost_usd - (q * 1e-4 + q * q / 1.6e9).min(q)).abs() < 1e-6 * q);
    println!("30,000 ETH-PERP liquidity: one line {:.0}, 100 lines {:.0}", a.margin.liquidity_charge, b.margin.liquidity_charge);
}

#[test]
fn finding_4_lp_close_out_is_the_exact_unwind_loss() {
    // Constant product, by hand: withdraw s of both arbitraged reserves (x, y; x p = y), sell the
    // s x tokens into what is left: out = (1 - s) y s x / ((1 - s) x + s x) = s (1 - s) y. The LP
    // value is 2 s y, so the loss fraction is (s y + s y - s y - s (1 - s) y) / (2 s y) = s / 2.
    for s in [1e-4, 0.01, 0.25, 0.5] {
        let (x, y) = (1000.0, 3.4e6);
        let out = (1.0 - s) * y * (s * x) / ((1.0 - s) * x + s * x);
        let by_hand = (2.0 * s * y - (s * y + out)) / (2.0 * s * y);
        let f = unwind_loss_fraction(s * 10_000.0, &Unwind::ConstantProduct { total_supply: 10_000.0 });
        assert!((f - by_hand).abs() < 1e-12, "s {s}: {f} vs {by_hand}");
    }
    // Stableswap (3pool, balanced, 100m each), one-coin withdrawal of 10% of the pool (30m of
    // one coin out of 100m): a tiny share unwinds at par, a large one loses, and a flatter curve
    // (larger A) loses less.
    let pool = |amp: f64| Unwind::Stableswap { balances: vec![1e8; 3], prices_usd: vec![1.0; 3], amp, total_supply: 3e8 };
    assert!(unwind_loss_fraction(300.0, &pool(2000.0)) < 1e-6);
    let (flat, steep) = (unwind_loss_fraction(3e7, &pool(2000.0)), unwind_loss_fraction(3e7, &pool(10.0)));
    assert!(0.0 < flat && flat < steep && steep < 0.1, "A 2000: {flat}, A 10: {steep}");
    // More than one coin's balance cannot leave in that coin: charged in full (conservative).
    assert_eq!(unwind_loss_fraction(3e8, &pool(2000.0)), 1.0);
    // Half of the Uniswap pool in the engine: charged 25% of its value (before: 14.7k, about
    // 1.7%), and the same with an AMM depth entry for the LP asset (before: twice the true loss).
    let body = "[[positions]]\ninstrument = \"UNI-V2-ETH-DAI@uniswap_v2\"\nquantity = \"5000\"\n[[pools]]\nasset = \"UNI-V2-ETH-DAI\"\nreserves = [\"1000\", \"3400000\"]\ntotal_supply = \"10000\"\n";
    let mut params = RiskParams::default_params();
    let Some(r) = report(&params, body) else { return };
    let value = r.net_liquidation_value;
    assert!((r.margin.liquidity_charge - 0.25 * value).abs() < 1e-9 * value, "{} of {value}", r.margin.liquidity_charge);
    params.liquidity.markets.push(risk::params::MarketDepth {
        market: "UNI-V2-ETH-DAI".into(),
        kind: risk::params::DepthKind::Amm,
        depth_usd: 3.4e6,
        half_spread_bps: 0.0,
        amp: None,
        is_default: false,
    });
    let r2 = report(&params, body).unwrap();
    assert!((r2.margin.liquidity_charge - 0.25 * value).abs() < 1e-9 * value);
    println!("half a Uniswap v2 pool worth {value:.0}: liquidity {:.0}", r.margin.liquidity_charge);
}

#[test]
fn finding_4_default_depth_is_conservative_and_warned() {
    let params = RiskParams::default_params();
    let Some(r) = report(&params, "[[balances]]\nasset = \"WBTC\"\namount = \"10\"\n") else { return };
    let line = r.margin.liquidity.iter().find(|l| l.instrument == "WBTC").unwrap();
    assert!(line.warning.as_deref().is_some_and(|w| w.contains("no configured depth")), "{line:?}");
    assert!(risk::render_table(&r).contains("warning: no configured depth for WBTC"));
}
