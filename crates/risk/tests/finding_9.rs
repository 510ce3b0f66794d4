//! Finding 9 (issue 8): every numeric input is bounded with a typed error; overrides are listed in
//! the report; as-of dates that do not exist, precede a venue's launch or an underlying's first
//! observation are refused; LP quantities above the pool's supply and duplicate pools are refused;
//! a peg above par is never a gain in a scenario.

use risk::report::{compute, report_of};
use risk::{Portfolio, RiskError, RiskParams};

mod common;

fn portfolio(as_of: &str, body: &str) -> Result<Portfolio, RiskError> {
    Portfolio::from_toml(&format!("name = \"f9\"\nas_of = \"{as_of}\"\n{body}"))
}

fn margin_err(p: &Portfolio, params: &RiskParams) -> Option<RiskError> {
    let data = common::history()?;
    let config = model::Config::default_config();
    compute(&config, params, p, &data, None, None).err()
}

const ETH: &str = "[[balances]]\nasset = \"ETH\"\namount = \"100\"\n";

#[test]
fn finding_9_inputs_are_bounded_and_checked() {
    let params = RiskParams::default_params();
    // Quantity 1e305 (plain decimal): before, inf/NaN and a saturated u64 in the table.
    let huge = format!("1{}", "0".repeat(305));
    let p = portfolio("2024-12-31", &format!("[[balances]]\nasset = \"ETH\"\namount = \"{huge}\"\n")).unwrap();
    if let Some(e) = margin_err(&p, &params) {
        assert!(matches!(&e, RiskError::OutOfBounds { key, .. } if key == "balances[0].amount"), "{e}");
    }
    // Market overrides out of bounds (before: accepted silently).
    for (over, key) in [
        ("rate_annual = \"-100\"", "market.rate_annual"),
        ("vol_annual = { ETH = \"0.0001\" }", "market.vol_annual.ETH"),
        ("stable_price_usd = { ETH = \"0\" }", "market.stable_price_usd.ETH"),
        ("stable_price_usd = { ETH = \"-5\" }", "market.stable_price_usd.ETH"),
        ("spot_usd = { ETH = \"-5\" }", "market.spot_usd.ETH"),
    ] {
        let p = portfolio("2024-12-31", &format!("{ETH}[market]\n{over}\n")).unwrap();
        if let Some(e) = margin_err(&p, &params) {
            assert!(matches!(&e, RiskError::OutOfBounds { key: k, .. } if k == key), "{over}: {e}");
        }
    }
    // A nonexistent date.
    let e = portfolio("2024-02-30", ETH).unwrap_err();
    assert!(matches!(e, RiskError::InvalidDate(_)), "{e}");
    assert!(risk::portfolio::parse_as_of("2024-02-29", "test").is_ok());
}

#[test]
fn finding_9_risk_parameters_are_bounded() {
    let base = risk::params::DEFAULT_RISK_PARAMS_TOML;
    for (from, to, key) in [
        ("default_half_spread_bps = 10.0", "default_half_spread_bps = -10.0", "liquidity.default_half_spread_bps"),
        ("upgradeable_multiplier = 1.5", "upgradeable_multiplier = -1.5", "protocol.upgradeable_multiplier"),
        ("pull_network = 1.5", "pull_network = -1.5", "protocol.oracle_multiplier.pull_network"),
        ("lending = 0.3", "lending = 1.3", "protocol.lgd.lending"),
        ("perp = [0.9, 1.1]", "perp = [0.9, 0.5]", "weights.perp"),
    ] {
        assert!(base.contains(from), "{from}");
        let e = RiskParams::from_toml(&base.replacen(from, to, 1)).unwrap_err();
        assert!(e.to_string().contains(key), "{to}: {e}");
    }
}

#[test]
fn finding_9_pools_are_checked() {
    let pool = "[[pools]]\nasset = \"UNI-V2-ETH-DAI\"\nreserves = [\"1000\", \"3400000\"]\ntotal_supply = \"10000\"\n";
    let lp = |q: &str| format!("[[positions]]\ninstrument = \"UNI-V2-ETH-DAI@uniswap_v2\"\nquantity = \"{q}\"\n{pool}");
    // Duplicate pool entry.
    let e = portfolio("2024-12-31", &format!("{}{pool}", lp("10"))).unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
    // More LP shares than the pool has.
    let p = portfolio("2024-12-31", &lp("10001")).unwrap();
    if let Some(e) = margin_err(&p, &RiskParams::default_params()) {
        assert!(matches!(&e, RiskError::OutOfBounds { max, .. } if *max == 10_000.0), "{e}");
    }
    let p = portfolio("2024-12-31", &lp("10000")).unwrap();
    assert!(margin_err(&p, &RiskParams::default_params()).is_none());
}

#[test]
fn finding_9_as_of_before_launch_or_first_observation_is_refused() {
    let params = RiskParams::default_params();
    // dYdX launched 2021-04-06.
    let p = portfolio("2020-03-12", "[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"1\"\n").unwrap();
    if let Some(e) = margin_err(&p, &params) {
        assert!(matches!(&e, RiskError::BeforeLaunch { protocol, .. } if protocol == "dydx"), "{e}");
    }
    // SOL has no own price before its Binance listing (August 2020): a configured SOL coin.
    let text = format!(
        "{}\n[[assets]]\nsymbol = \"SOL\"\nname = \"Solana\"\ndecimals = 9\nkind = \"native_coin\"\ntracks = \"SOL\"\n",
        model::DEFAULT_CONFIG_TOML
    );
    let config = model::Config::from_toml(&text).unwrap();
    let Some(data) = common::history() else { return };
    let p = portfolio("2020-03-12", "[[balances]]\nasset = \"SOL\"\namount = \"100\"\n").unwrap();
    let e = compute(&config, &params, &p, &data, None, None).err().expect("SOL before its first observation");
    assert!(matches!(&e, RiskError::BeforeFirstObservation { underlying, .. } if underlying == "SOL"), "{e}");
    let p = portfolio("2021-03-12", "[[balances]]\nasset = \"SOL\"\namount = \"100\"\n").unwrap();
    assert!(compute(&config, &params, &p, &data, None, None).is_ok());
}

#[test]
fn finding_9_pegs_above_par_are_not_credited_and_overrides_are_listed() {
    let Some(data) = common::history() else { return };
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    // After March 2020 the covid stress carries USDC's print at 1.08; a long USDC must not gain.
    let p = portfolio("2020-06-01", "[[balances]]\nasset = \"USDC\"\namount = \"1000000\"\n[market]\nvol_annual = { ETH = \"0.8\" }\n")
        .unwrap();
    let c = compute(&config, &params, &p, &data, None, None).unwrap();
    let dv = c.engine.rv.of(c.book.positions[0].instrument);
    let best = dv.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(best <= 0.0, "USDC gains {best} per unit in some scenario");
    let stress = (c.scenarios.n_fhs..c.scenarios.len()).find(|&s| c.scenarios.label(s).contains("covid")).unwrap();
    assert_eq!(dv[stress], 0.0, "covid stress credits a USDC gain");
    let r = report_of(&config, &params, &p, &data, &c);
    assert_eq!(r.overrides.len(), 1);
    assert!(r.overrides[0].starts_with("market.vol_annual.ETH = 0.8 (history: "), "{:?}", r.overrides);
    assert!(risk::render_table(&r).contains("market override: market.vol_annual.ETH = 0.8"));
}
