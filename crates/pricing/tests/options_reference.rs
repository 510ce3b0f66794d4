//! European options against QuantLib 1.44 and vollib 1.0.11 (fixtures produced by
//! scripts/quantlib_options.py), put-call parity, and finite differences as a second check.

use pricing::options::{self, OptionInputs, OptionModel, OptionRight};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/options_quantlib.json");

fn parse_case(c: &Value) -> (OptionModel, OptionRight, OptionInputs) {
    let model = match c["model"].as_str().unwrap() {
        "bs" => OptionModel::BlackScholes,
        "black76" => OptionModel::Black76,
        other => panic!("unknown model {other}"),
    };
    let right = match c["right"].as_str().unwrap() {
        "call" => OptionRight::Call,
        "put" => OptionRight::Put,
        other => panic!("unknown right {other}"),
    };
    let f = |k: &str| c[k].as_f64().unwrap();
    let inputs = OptionInputs {
        underlying_usd: f("underlying_usd"),
        strike_usd: f("strike_usd"),
        time_years: f("time_years"),
        rate_annual: f("rate_annual"),
        carry_annual: f("carry_annual"),
        vol_annual: c.get("vol_annual").and_then(Value::as_f64).unwrap_or(0.2),
    };
    (model, right, inputs)
}

fn close(actual: f64, expected: f64, abs_tol: f64, rel_tol: f64) -> bool {
    (actual - expected).abs() <= abs_tol + rel_tol * expected.abs()
}

#[test]
fn price_and_every_greek_match_quantlib() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let cases = fixture["greeks"].as_array().unwrap();
    assert!(cases.len() > 300);
    for c in cases {
        let (model, right, inp) = parse_case(c);
        let scale = inp.underlying_usd;
        let g = options::greeks(model, right, &inp).unwrap();
        let checks = [
            ("price", g.price_usd, c["price_usd"].as_f64().unwrap(), 1e-10 * scale),
            ("delta", g.delta, c["delta"].as_f64().unwrap(), 1e-10),
            ("gamma", g.gamma, c["gamma"].as_f64().unwrap(), 1e-10 / scale),
            ("vega", g.vega, c["vega"].as_f64().unwrap(), 1e-9 * scale),
            ("theta", g.theta_per_year, c["theta_per_year"].as_f64().unwrap(), 1e-9 * scale),
            ("rho", g.rho, c["rho"].as_f64().unwrap(), 1e-9 * scale),
        ];
        for (name, actual, expected, tol) in checks {
            assert!(close(actual, expected, tol, 1e-9), "{name}: {actual} vs QuantLib {expected} in {c}");
        }
    }
}

#[test]
fn implied_vol_matches_vollib_and_the_generating_vol() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let cases = fixture["implied_vol"].as_array().unwrap();
    assert!(cases.len() > 100);
    for c in cases {
        let (model, right, inp) = parse_case(c);
        let price = c["price_usd"].as_f64().unwrap();
        let expected = c["implied_vol"].as_f64().unwrap();
        let vol = options::implied_vol(model, right, price, &inp).unwrap();
        assert!((vol - expected).abs() < 1e-9, "iv {vol} vs vollib {expected} for {c}");
    }
}

#[test]
fn put_call_parity_holds_for_every_fixture_pair() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let mut checked = 0;
    for c in fixture["greeks"].as_array().unwrap() {
        let (model, right, inp) = parse_case(c);
        if right != OptionRight::Call {
            continue;
        }
        let call = options::price(model, OptionRight::Call, &inp).unwrap();
        let put = options::price(model, OptionRight::Put, &inp).unwrap();
        let q = if model == OptionModel::Black76 { inp.rate_annual } else { inp.carry_annual };
        let forward_pv = inp.underlying_usd * (-q * inp.time_years).exp();
        let strike_pv = inp.strike_usd * (-inp.rate_annual * inp.time_years).exp();
        assert!((call - put - (forward_pv - strike_pv)).abs() < 1e-10 * inp.underlying_usd, "{c}");
        checked += 1;
    }
    assert!(checked > 100);
}

#[test]
fn analytic_greeks_agree_with_finite_differences() {
    // Second check only: the primary reference is QuantLib above.
    for model in [OptionModel::BlackScholes, OptionModel::Black76] {
        for right in [OptionRight::Call, OptionRight::Put] {
            for &(k, t, vol) in &[(80.0, 0.25, 0.3), (100.0, 1.0, 0.2), (130.0, 2.0, 0.6)] {
                let inp = OptionInputs {
                    underlying_usd: 100.0,
                    strike_usd: k,
                    time_years: t,
                    rate_annual: 0.04,
                    carry_annual: 0.01,
                    vol_annual: vol,
                };
                let g = options::greeks(model, right, &inp).unwrap();
                let p = |f: &dyn Fn(&mut OptionInputs)| {
                    let mut i = inp;
                    f(&mut i);
                    options::price(model, right, &i).unwrap()
                };
                let h = 1e-3;
                let up = p(&|i| i.underlying_usd += h);
                let down = p(&|i| i.underlying_usd -= h);
                assert!(((up - down) / (2.0 * h) - g.delta).abs() < 1e-6);
                assert!(((up - 2.0 * g.price_usd + down) / (h * h) - g.gamma).abs() < 1e-4);
                let hv = 1e-5;
                let vega = (p(&|i| i.vol_annual += hv) - p(&|i| i.vol_annual -= hv)) / (2.0 * hv);
                assert!((vega - g.vega).abs() < 1e-5 * g.vega.max(1.0));
                let ht = 1e-5;
                // Theta is dV/d(calendar time) = -dV/d(time to expiry).
                let theta = -(p(&|i| i.time_years += ht) - p(&|i| i.time_years -= ht)) / (2.0 * ht);
                assert!((theta - g.theta_per_year).abs() < 1e-5 * g.theta_per_year.abs().max(1.0));
            }
        }
    }
}
