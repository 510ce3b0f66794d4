//! Properties of the margin engine and reference values computed by hand from published formulas
//! (venue margin rules, Mango v4 health, constant-product and order-book close-out, the definition
//! of expected shortfall). None of them compares the engine with its own earlier output.

use marketdata::{FactorKind, Hour, panel::FACTORS};
use risk::book::Book;
use risk::margin::{Engine, Scratch};
use risk::market::{BaseMarket, Universe};
use risk::report::{MarketData, compute, report_of};
use risk::scenarios::{ScenarioBook, ScenarioKind, revalue};
use risk::{Portfolio, RiskParams};

fn portfolio(body: &str) -> Portfolio {
    Portfolio::from_toml(&format!("name = \"t\"\nas_of = \"2024-12-31T00:00:00Z\"\n{body}")).unwrap()
}

/// The market history, because these properties need the FHS scenarios; `None` (SKIPPED, or a
/// failure under `CI`) when the raw data is absent.
fn history() -> Option<MarketData> {
    common::history()
}

mod common;

fn im(p: &Portfolio, params: &RiskParams, d: &MarketData) -> risk::MarginReport {
    let config = model::Config::default_config();
    let c = compute(&config, params, p, d, None, None).unwrap();
    report_of(&config, params, p, d, &c)
}

/// A universe on the market-data factor list with hand-set levels: ETH at 2000 USD, BTC at 50 000,
/// every peg at 1, no basis, no funding, implied vols 0.5.
fn hand_market() -> (model::Config, Universe, BaseMarket) {
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let names: Vec<String> = FACTORS.iter().map(|f| f.0.to_string()).collect();
    let kinds: Vec<FactorKind> = FACTORS.iter().map(|f| f.1).collect();
    let universe = Universe::new(&config, &params, &names, &kinds).unwrap();
    let levels = FACTORS
        .iter()
        .map(|(n, k)| match (*n, k) {
            ("price:ETH", _) => 2000f64.ln(),
            ("price:BTC", _) => 50_000f64.ln(),
            (_, FactorKind::Price) => 10f64.ln(),
            (_, FactorKind::Peg) => 1.0,
            (_, FactorKind::Vol) => 0.5,
            _ => 0.0,
        })
        .collect();
    let as_of = Hour::from_ymdh(2024, 12, 31, 0);
    let base = BaseMarket {
        as_of,
        now_years: risk::market::years_of(as_of),
        rate_annual: 0.0,
        levels,
        stable_price_usd: vec![None; universe.underlyings.len()],
        probabilities: vec![f64::NAN; universe.outcomes.len()],
        overrides: Vec::new(),
        proxied_spot_log: vec![None; universe.underlyings.len()],
    };
    (config, universe, base)
}

#[test]
fn one_position_one_scenario_margin_by_hand() {
    // Long 10 ETH (held by the broker, no venue), one stress scenario: ETH log-move -0.5.
    // Loss = 10 x 2000 x (1 - e^-0.5) = 7869.386805747332 USD (hand computation).
    // Liquidity on the ETH order book (depth 30m per 1%, half spread 1 bp) for 20 000 USD:
    // 20 000 x 1e-4 + 20 000^2 / (200 x 30e6) = 2 + 0.0666667 = 2.0666667 USD.
    let (config, universe, base) = hand_market();
    let mut params = RiskParams::default_params();
    params.concentration_scale_usd = 1e15;
    let p = portfolio("[[balances]]\nasset = \"ETH\"\namount = \"10\"\n");
    let book = Book::compile(&config, &params, &universe, &base, &p, None).unwrap();
    let nf = FACTORS.len();
    let mut moves = vec![0.0; nf];
    moves[1] = -0.5;
    let scen = ScenarioBook {
        as_of: base.as_of,
        mpor_hours: 24,
        kinds: vec![ScenarioKind::Stress { id: "hand".into() }],
        moves,
        n_factors: nf,
        n_fhs: 0,
        vol_shock: None,
    };
    let rv = revalue(&book, &universe, &base, &scen).unwrap();
    let engine = Engine::new(&config, &universe, &base, book.instruments.clone(), &scen, rv, &params).unwrap();
    let m = engine.margin(&[(0, 10.0)], &[], false, &mut Scratch::default());
    assert!((m.net_liquidation_value - 20_000.0).abs() < 1e-9);
    assert!((m.floor_loss - 7869.386805747332).abs() < 1e-8, "{}", m.floor_loss);
    assert!((m.liquidity_charge - 2.066_666_666_666_667).abs() < 1e-9, "{}", m.liquidity_charge);
    assert!((m.initial_margin - (7869.386805747332 + 2.066_666_666_666_667)).abs() < 1e-8);
    assert!((m.maintenance_margin - 0.75 * m.initial_margin).abs() < 1e-9);
}

#[test]
fn isolated_comparator_follows_the_venue_published_rule() {
    // dYdX initial margin fraction 0.05 of notional (config), GMX 0.02; collateral on the venue
    // needs nothing more. 10 BTC on each at the mark M: 10 M (0.05 + 0.02).
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    let r = im(
        &portfolio(
            "[[positions]]\ninstrument = \"BTC-PERP@dydx\"\nquantity = \"10\"\n[[positions]]\ninstrument = \"BTC-PERP@gmx\"\nquantity = \"-10\"\n[[balances]]\nasset = \"USDC\"\namount = \"1000\"\nvenue = \"dydx\"\n",
        ),
        &params,
        &d,
    );
    let mark = r.margin.liquidity[0].notional_usd / 10.0;
    assert!((r.comparators.isolated.initial_margin - 10.0 * mark * 0.07).abs() < 1e-6 * mark, "{:?}", r.comparators.isolated);
}

#[test]
fn weighted_comparator_is_mango_v4_health() {
    // Mango v4: health = sum(asset value x asset weight) - sum(liability value x liability weight);
    // the comparator's initial margin is NLV - health. Weights (config/risk.toml): ETH 0.9/1.1,
    // USDC 1/1, DAI 0.95/1.05, perps 0.9/1.1 on base notional.
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    let r = im(
        &portfolio(
            "[[balances]]\nasset = \"ETH\"\namount = \"10\"\n[[balances]]\nasset = \"USDC\"\namount = \"20000\"\n[[balances]]\nasset = \"DAI\"\namount = \"5000\"\n[[positions]]\ninstrument = \"ETH-BORROW@aave\"\nquantity = \"4\"\n[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"-2\"\n",
        ),
        &params,
        &d,
    );
    let value = |label: &str| r.margin.contributions.iter().find(|c| c.position == label).unwrap().value_usd;
    let eth_value = value("balance ETH") / 10.0;
    let usdc = value("balance USDC");
    let dai = value("balance DAI");
    let mark = r.margin.liquidity.iter().find(|l| l.instrument == "ETH-PERP@dydx").unwrap().notional_usd / 2.0;
    // Net ETH token: 10 - 4 = 6 ETH of assets.
    let health = 6.0 * eth_value * 0.9 + usdc * 1.0 + dai * 0.95 - 2.0 * mark * (1.1 - 1.0);
    let nlv = 6.0 * eth_value + usdc + dai;
    assert!((r.comparators.weighted.initial_margin - (nlv - health)).abs() < 1e-6 * nlv, "{:?}", r.comparators.weighted);
}

#[test]
fn a_hedge_needs_less_margin_than_its_legs_alone() {
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    let leg_a = "[[balances]]\nasset = \"ETH\"\namount = \"20\"\n";
    let leg_b = "[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"-20\"\n";
    let a = im(&portfolio(leg_a), &params, &d).initial_margin;
    let b = im(&portfolio(leg_b), &params, &d).initial_margin;
    let both = im(&portfolio(&format!("{leg_a}{leg_b}")), &params, &d).initial_margin;
    assert!(both < 0.5 * (a + b), "hedge {both} vs legs {a} + {b}");
}

#[test]
fn the_basis_trade_still_pays_for_the_weaker_legs_protocol_failure() {
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    let hedge = "[[positions]]\ninstrument = \"BTC-PERP@dydx\"\nquantity = \"-10\"\n";
    let synthetic = im(&portfolio(&format!("[[positions]]\ninstrument = \"sBTC\"\nquantity = \"10\"\n{hedge}")), &params, &d);
    // The sBTC claim on Synthetix (about 0.9m) has concentration weight C^2 / (C^2 + 500k^2) ~ 0.77:
    // that share of its failure (LGD 0.4 of the claim, the short perp left unhedged) is charged.
    let sbtc = synthetic.margin.protocols.iter().find(|p| p.protocol == "synthetix").unwrap();
    let x = sbtc.claim_usd / 500_000.0;
    let w = x * x / (1.0 + x * x);
    assert!((sbtc.concentration_weight - w).abs() < 1e-12, "{}", sbtc.concentration_weight);
    assert!(synthetic.margin.core_margin >= w * 0.4 * sbtc.claim_usd);
    assert!(synthetic.margin.core_margin > synthetic.margin.es_fhs.max(synthetic.margin.floor_loss));
    // With a negligible weight, the failure still enters the expected shortfall by its probability.
    let mut lenient = params.clone();
    lenient.concentration_scale_usd = 1e15;
    let small = im(&portfolio(&format!("[[positions]]\ninstrument = \"sBTC\"\nquantity = \"10\"\n{hedge}")), &lenient, &d);
    assert!(small.margin.es_with_protocols > small.margin.es_fhs, "{} vs {}", small.margin.es_with_protocols, small.margin.es_fhs);
}

#[test]
fn concentration_charges_the_weighted_failure_loss() {
    let Some(d) = history() else { return };
    let mut params = RiskParams::default_params();
    // stETH hedged with a short ETH perp: small market risk, a large claim on Lido.
    let body =
        "[[positions]]\ninstrument = \"stETH\"\nquantity = \"100\"\n[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"-100\"\n";
    params.concentration_scale_usd = 1e15;
    let below = im(&portfolio(body), &params, &d);
    let lido = below.margin.protocols.iter().find(|p| p.protocol == "lido").unwrap().clone();
    assert!(lido.concentration_weight < 1e-6);
    assert!(below.margin.core_margin < lido.failure_loss_usd);
    // A tiny scale: the weight is ~1 and the failure loss is charged almost in full.
    params.concentration_scale_usd = 1.0;
    let above = im(&portfolio(body), &params, &d);
    let lido_above = above.margin.protocols.iter().find(|p| p.protocol == "lido").unwrap();
    assert!(lido_above.concentration_weight > 0.99999);
    assert!(above.margin.core_margin >= lido_above.concentration_weight * lido_above.failure_loss_usd);
    // The failure loss is LGD (0.3 for liquid staking) x the whole claim, plus the survivors' ES.
    assert!(lido_above.failure_loss_usd >= 0.3 * lido_above.claim_usd);
}

#[test]
fn liquidity_charge_grows_faster_than_linearly() {
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    let one = im(&portfolio("[[positions]]\ninstrument = \"sBTC\"\nquantity = \"20\"\n"), &params, &d).margin.liquidity_charge;
    let two = im(&portfolio("[[positions]]\ninstrument = \"sBTC\"\nquantity = \"40\"\n"), &params, &d).margin.liquidity_charge;
    assert!(two > 2.2 * one, "{two} vs {one}");
}

#[test]
fn manipulation_guard_takes_the_lower_price_for_net_long_and_nets_hedges() {
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    // The oracle prints 5 000 for ETH, the stable price is 3 000: a net long of 10 ETH is valued at
    // 3 000 (20 000 USD less); a net short would keep 5 000.
    let market = "[market.spot_usd]\nETH = \"5000\"\n[market.stable_price_usd]\nETH = \"3000\"\n";
    let long = im(&portfolio(&format!("[[balances]]\nasset = \"ETH\"\namount = \"10\"\n{market}")), &params, &d);
    assert!((long.margin.manipulation_guard_usd + 20_000.0).abs() < 1e-6, "{}", long.margin.manipulation_guard_usd);
    assert!((long.margin.guarded_nlv - (long.net_liquidation_value - 20_000.0)).abs() < 1e-6);
    let short = im(&portfolio(&format!("[[positions]]\ninstrument = \"ETH-BORROW@aave\"\nquantity = \"10\"\n{market}")), &params, &d);
    assert_eq!(short.margin.manipulation_guard_usd, 0.0);
    // Long spot, short the borrow: net zero delta, no haircut although each leg alone has one.
    let hedged = im(
        &portfolio(&format!(
            "[[balances]]\nasset = \"ETH\"\namount = \"10\"\n[[positions]]\ninstrument = \"ETH-BORROW@aave\"\nquantity = \"10\"\n{market}"
        )),
        &params,
        &d,
    );
    assert!(hedged.margin.manipulation_guard_usd.abs() < 1e-9);
    // A stable price above the oracle for a net short: valued at the higher stable price.
    let market_up = "[market.spot_usd]\nETH = \"3000\"\n[market.stable_price_usd]\nETH = \"3300\"\n";
    let short_up = im(&portfolio(&format!("[[positions]]\ninstrument = \"ETH-BORROW@aave\"\nquantity = \"10\"\n{market_up}")), &params, &d);
    assert!((short_up.margin.manipulation_guard_usd + 3_000.0).abs() < 1e-6, "{}", short_up.margin.manipulation_guard_usd);
}

#[test]
fn a_position_that_moves_its_market_20_percent_is_not_collateral_at_its_mark() {
    // 1 000 sBTC (about 93m USD) into a 10m sBTC pool: the close-out moves the price far more than
    // 20%, and the margin takes most of the position's value.
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    let r = im(&portfolio("[[positions]]\ninstrument = \"sBTC\"\nquantity = \"1000\"\n"), &params, &d);
    let line = &r.margin.liquidity[0];
    assert!(line.price_move_to_close > 0.2);
    assert!(r.margin.liquidity_charge > 0.5 * r.net_liquidation_value);
}

#[test]
fn a_new_protocol_asset_and_instrument_need_no_code() {
    // Appended to the shipped configuration: a perp venue, a stablecoin issuer, its coin, and a perp.
    let extra = r#"
[[protocols]]
id = "newperp"
name = "A new perp venue"
kind = "perp_venue"
[protocols.risk]
oracle = "pull_network"
settlement = "cash"
peg_mechanism = "none"
collateralization_pct = 100
launched = "2024-06-01"
audits = 1
upgradeable = true
[protocols.margin_rules]
initial_margin_fraction = "0.1"
maintenance_margin_fraction = "0.05"

[[protocols]]
id = "paxos"
name = "Paxos (PYUSD issuer)"
kind = "stablecoin_issuer"
[protocols.risk]
oracle = "attestation"
settlement = "redemption"
peg_mechanism = "fiat_reserve"
collateralization_pct = 100
launched = "2023-08-07"
audits = 2
upgradeable = true

[[assets]]
symbol = "PYUSD"
name = "PayPal USD"
decimals = 6
kind = "stablecoin"
tracks = "USD"
protocol = "paxos"

[[instruments]]
id = "ETH-PERP@newperp"
kind = "perpetual"
underlying = "ETH"
venue = "newperp"
settlement_asset = "PYUSD"
"#;
    let config = model::Config::from_toml(&format!("{}\n{extra}", model::DEFAULT_CONFIG_TOML)).unwrap();
    let mut params = RiskParams::default_params();
    // A new fiat-backed stablecoin names its peg source explicitly (no fallback by kind).
    let reason = Some("PYUSD/USD has no series in the market data; USDC is the nearest fiat-backed peg".to_string());
    params.peg_sources.insert("PYUSD".into(), risk::params::PegSource { proxy: Some("USDC".into()), reason, ..Default::default() });
    let Some(d) = history() else { return };
    let p = portfolio(
        "[[positions]]\ninstrument = \"ETH-PERP@newperp\"\nquantity = \"5\"\n[[balances]]\nasset = \"PYUSD\"\namount = \"10000\"\nvenue = \"newperp\"\n",
    );
    let c = compute(&config, &params, &p, &d, None, None).unwrap();
    let r = report_of(&config, &params, &p, &d, &c);
    // The young venue (launched 2024-06, one audit, pull oracle) is priced from its profile...
    let venue = r.margin.protocols.iter().find(|x| x.protocol == "newperp").unwrap();
    let dydx_like =
        risk::protocol::protocol_risk(config.protocol("gmx").unwrap(), &params.protocol, model::parse_date("2024-12-31").unwrap(), 24);
    assert!(venue.pd_mpor > dydx_like.pd_mpor);
    // ...the new stablecoin moves with the documented fallback peg (DAI), not a constant...
    assert!(r.margin.floor_loss > 0.0 && r.margin.es_fhs > 0.0);
    // ...and the isolated comparator applies the venue's published 10%.
    let perp = r.comparators.isolated.lines.iter().find(|l| l.what == "ETH-PERP@newperp").unwrap();
    let mark = r.margin.liquidity.iter().find(|l| l.instrument == "ETH-PERP@newperp").unwrap().notional_usd;
    assert!((perp.requirement_usd - 0.1 * mark).abs() < 1e-6 * mark);
}

#[test]
fn a_higher_confidence_never_lowers_the_margin() {
    let Some(d) = history() else { return };
    let mut params = RiskParams::default_params();
    let p = portfolio(
        "[[positions]]\ninstrument = \"ETH-PERP@dydx\"\nquantity = \"10\"\n[[positions]]\ninstrument = \"stETH\"\nquantity = \"-5\"\n",
    );
    let at99 = im(&p, &params, &d);
    params.confidence = 0.995;
    let at995 = im(&p, &params, &d);
    assert!(at995.margin.es_fhs > at99.margin.es_fhs);
    assert!(at995.initial_margin >= at99.initial_margin);
}

#[test]
fn a_prediction_share_can_always_resolve_against_the_holder() {
    // 100 000 YES shares at probability 0.25, paying 1 USDC each: worth 25 000 x USDC/USD; resolving
    // NO a day later loses all of it (the floor), whatever the price history says.
    let Some(d) = history() else { return };
    let params = RiskParams::default_params();
    let r = im(
        &portfolio(
            "[[positions]]\ninstrument = \"PM-ETH-5K-2026-YES@polymarket\"\nquantity = \"100000\"\n[market.probability]\n\"ETH-5K-2026\" = \"0.25\"\n",
        ),
        &params,
        &d,
    );
    let value = r.net_liquidation_value;
    assert!((value / 25_000.0 - 1.0).abs() < 0.01, "{value}");
    assert!((r.margin.floor_loss - value).abs() < 1e-9 * value, "{} vs {value}", r.margin.floor_loss);
    assert!(r.margin.worst_scenario.contains("resolves NO"), "{}", r.margin.worst_scenario);
    assert!(r.margin.protocols.iter().any(|p| p.protocol == "polymarket"));
}
