//! Findings 5 and 6 (issue 8): a debt only where a venue lends the asset (configuration: a
//! lending protocol with a borrow instrument of that asset); lending receipts valued by their
//! protocol's formula (Compound cTokens by exchangeRateStored, Aave aTokens at par).

use risk::report::compute;
use risk::{Portfolio, RiskError, RiskParams};

mod common;

fn run(body: &str) -> Option<Result<risk::report::Computed, RiskError>> {
    let data = common::history_or_calibration();
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let p = Portfolio::from_toml(&format!("name = \"f56\"\nas_of = \"2024-12-31\"\n{body}")).unwrap();
    Some(compute(&config, &params, &p, &data, None, None))
}

#[test]
fn finding_5_debts_only_on_venues_that_lend_the_asset() {
    // Before: -10 ETH "on dydx" was a debt that offset dYdX's failure charge (IM -74%).
    let e = run("[[balances]]\nasset = \"USDC\"\namount = \"100000\"\nvenue = \"dydx\"\n[[balances]]\nasset = \"ETH\"\namount = \"-10\"\nvenue = \"dydx\"\n").unwrap().err().expect("refused");
    assert!(matches!(&e, RiskError::NotLent { asset, venue, .. } if asset == "ETH" && venue == "dydx"), "{e}");
    // Without a venue, nobody lends it.
    let e = run("[[balances]]\nasset = \"ETH\"\namount = \"-10\"\n").unwrap().err().expect("refused");
    assert!(matches!(&e, RiskError::NotLent { .. }), "{e}");
    // Aave lends ETH (ETH-BORROW@aave in the configuration), but not USDT.
    assert!(run("[[balances]]\nasset = \"stETH\"\namount = \"20\"\nvenue = \"aave\"\n[[balances]]\nasset = \"ETH\"\namount = \"-10\"\nvenue = \"aave\"\n").unwrap().is_ok());
    let e = run("[[balances]]\nasset = \"USDT\"\namount = \"-10\"\nvenue = \"aave\"\n").unwrap().err().expect("refused");
    assert!(e.to_string().contains("no borrow instrument"), "{e}");
}

#[test]
fn finding_6_lending_receipts_by_their_protocols_formula() {
    // Compound cETH, exchangeRateStored() = 200335235632838126408158367 (a mainnet value of 2023):
    // underlying per cToken = mantissa / 10^(18 + 18 - 8) = 0.0200335235632838... ETH.
    let rate = 200335235632838126408158367.0 / 1e28;
    let eth = run("[[balances]]\nasset = \"ETH\"\namount = \"1\"\n").unwrap().unwrap();
    let eth_usd = eth.engine.rv.base_values[0];
    let c = run("[[balances]]\nasset = \"cETH\"\namount = \"1000\"\n[market]\nreceipt_exchange_rate_mantissa = { cETH = \"200335235632838126408158367\" }\n").unwrap().unwrap();
    let nlv: f64 = c.book.positions.iter().map(|p| p.quantity * c.engine.rv.base_values[p.instrument]).sum();
    // Before: 1,000 cETH was valued as 1,000 ETH (about 50x too much).
    assert!((nlv - 1000.0 * rate * eth_usd).abs() < 1e-9 * nlv, "{nlv} vs {}", 1000.0 * rate * eth_usd);
    // Without the rate: refused, not valued at par.
    let e = run("[[balances]]\nasset = \"cETH\"\namount = \"1000\"\n").unwrap().err().expect("refused");
    assert!(matches!(&e, RiskError::MarketDataMissing { what, .. } if what.contains("cETH")), "{e}");
    // Aave aUSDC rebases: one receipt is one USDC.
    let a = run("[[balances]]\nasset = \"aUSDC\"\namount = \"1000\"\n").unwrap().unwrap();
    let u = run("[[balances]]\nasset = \"USDC\"\namount = \"1000\"\n").unwrap().unwrap();
    let v = |c: &risk::report::Computed| c.book.positions.iter().map(|p| p.quantity * c.engine.rv.base_values[p.instrument]).sum::<f64>();
    assert_eq!(v(&a), v(&u));
}
