//! Against independent references computed with numpy/scipy by `scripts/gen_reference.py`
//! (fixture `tests/fixtures/reference.json`): discrete expected shortfall (Acerbi-Tasche), the
//! probability-weighted mixture with protocol failures, and the full revaluation of an option under
//! a joint spot, implied-vol and time scenario (Black-Scholes in scipy).

use marketdata::{FactorKind, Hour, panel::FACTORS};
use risk::book::Book;
use risk::margin::expected_shortfall;
use risk::market::{BaseMarket, Universe};
use risk::scenarios::{ScenarioBook, ScenarioKind, revalue};
use risk::{Portfolio, RiskParams};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/reference.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn expected_shortfall_matches_numpy() {
    let f = fixture();
    let mut idx = Vec::new();
    for case in f["es"].as_array().unwrap() {
        let losses = floats(&case["losses"]);
        for r in case["results"].as_array().unwrap() {
            let tail = r["tail"].as_f64().unwrap();
            let want = r["es"].as_f64().unwrap();
            let (got, _) = expected_shortfall(&losses, &[], tail, &mut idx);
            assert!((got - want).abs() <= 1e-9 * want.abs(), "n {} tail {tail}: {got} vs {want}", losses.len());
        }
    }
}

#[test]
fn mixture_with_failures_matches_numpy() {
    let f = fixture();
    let m = &f["mixture"];
    let market = floats(&m["market"]);
    let extra: Vec<(f64, f64)> = m["extra"].as_array().unwrap().iter().map(|e| (e[0].as_f64().unwrap(), e[1].as_f64().unwrap())).collect();
    let want = m["es"].as_f64().unwrap();
    let (got, _) = expected_shortfall(&market, &extra, m["tail"].as_f64().unwrap(), &mut Vec::new());
    assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
}

#[test]
fn option_scenario_revaluation_matches_scipy_black_scholes() {
    let f = fixture();
    let o = &f["option_scenario"];
    let config = model::Config::default_config();
    let params = RiskParams::default_params();
    let names: Vec<String> = FACTORS.iter().map(|f| f.0.to_string()).collect();
    let kinds: Vec<FactorKind> = FACTORS.iter().map(|f| f.1).collect();
    let universe = Universe::new(&config, &params, &names, &kinds).unwrap();
    let levels: Vec<f64> = FACTORS
        .iter()
        .map(|(n, k)| match (*n, k) {
            ("price:ETH", _) => 2000f64.ln(),
            (_, FactorKind::Price) => 100f64.ln(),
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
    let p = Portfolio::from_toml(
        "name = \"o\"\nas_of = \"2024-12-31\"\n[[positions]]\ninstrument = \"ETH-20261225-3000-C@opyn\"\nquantity = \"1\"\n",
    )
    .unwrap();
    let book = Book::compile(&config, &params, &universe, &base, &p, None).unwrap();
    let mut moves = vec![0.0; FACTORS.len()];
    moves[names.iter().position(|n| n == "price:ETH").unwrap()] = -0.3;
    moves[names.iter().position(|n| n == "vol:ETH").unwrap()] = 0.2;
    let scen = ScenarioBook {
        as_of,
        mpor_hours: 24,
        kinds: vec![ScenarioKind::Stress { id: "ref".into() }],
        moves,
        n_factors: FACTORS.len(),
        n_fhs: 0,
        vol_shock: None,
    };
    let rv = revalue(&book, &universe, &base, &scen).unwrap();
    let want_base = o["base_value"].as_f64().unwrap();
    let want_dv = o["dv"].as_f64().unwrap();
    assert!((rv.base_values[0] - want_base).abs() < 1e-6, "{} vs {want_base}", rv.base_values[0]);
    assert!((rv.dv[0] - want_dv).abs() < 1e-6, "{} vs {want_dv}", rv.dv[0]);
}
