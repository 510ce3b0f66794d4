//! Aave v3 index accrual against the published MathUtils/WadRayMath formulas (fixtures/aave_index.json,
//! scripts/aave_index.py) and against exact compounding.

use pricing::aave::{compounded_growth, exact, linear_growth};
use ruint::aliases::U256;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/aave_index.json");

fn u(v: &Value) -> U256 {
    v.as_str().unwrap().parse().unwrap()
}

fn to_f64(x: U256) -> f64 {
    x.to_string().parse().unwrap()
}

#[test]
fn integer_indices_match_the_published_formulas() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 80);
    for c in cases {
        let rate = u(&c["rate_ray"]);
        let dt = c["elapsed_seconds"].as_u64().unwrap();
        let index = u(&c["start_index_ray"]);
        assert_eq!(exact::calculate_linear_interest(rate, dt).unwrap(), u(&c["linear_ray"]), "{c}");
        assert_eq!(exact::calculate_compounded_interest(rate, dt).unwrap(), u(&c["compounded_ray"]), "{c}");
        assert_eq!(exact::next_liquidity_index(index, rate, dt).unwrap(), u(&c["next_liquidity_index_ray"]), "{c}");
        assert_eq!(exact::next_variable_borrow_index(index, rate, dt).unwrap(), u(&c["next_variable_borrow_index_ray"]), "{c}");
    }
}

#[test]
fn f64_growth_tracks_the_contract_within_its_truncation() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    for c in fixture["cases"].as_array().unwrap() {
        let rate = to_f64(u(&c["rate_ray"])) / 1e27;
        let dt = c["elapsed_seconds"].as_u64().unwrap() as f64;
        let years = dt / pricing::SECONDS_PER_YEAR;
        let lin = to_f64(u(&c["linear_ray"])) / 1e27;
        assert!((linear_growth(rate, years) - lin).abs() <= 1e-15 * lin, "{c}");
        let comp = to_f64(u(&c["compounded_ray"])) / 1e27;
        // The contract truncates basePowerTwo and basePowerThree to integers (ray per second^k); each lost
        // unit costs at most n^2/2 resp. n^3/6 ray at the end.
        let bound = dt * dt / 2.0 / 1e27 + dt * dt * dt / 6.0 / 1e27 + 1e-15 * comp;
        assert!((compounded_growth(rate, years) - comp).abs() <= bound, "{c}");
        // Against exact (1 + r/Y)^n: the three-term binomial undershoots, by less than the tail
        // sum_{k>=4} (n x)^k / k! <= (n x)^4 / 24 x e^(n x).
        if let Some(exact_compound) = c["exact_compound"].as_f64() {
            let x = rate / pricing::SECONDS_PER_YEAR;
            let fourth = (dt * x).powi(4) / 24.0 * (dt * x).exp();
            let g = compounded_growth(rate, years);
            assert!(g <= exact_compound + 1e-15 && exact_compound - g <= fourth + 1e-15, "{c}");
        }
    }
}

#[test]
fn balance_of_is_scaled_balance_times_index_rounded_half_up() {
    let ray = exact::ray();
    // 1.5 x 1.5 ray-scaled: (1.5e27 x 1.5e27 + 0.5e27) / 1e27 = 2.25e27.
    let x = ray + ray / U256::from(2u8);
    assert_eq!(exact::ray_mul(x, x).unwrap(), U256::from(225u16) * ray / U256::from(100u8));
    // Half-up rounding: 1 wei x 0.5 ray rounds to 1, 1 wei x 0.4999.. ray rounds to 0.
    assert_eq!(exact::balance_of(U256::from(1u8), ray / U256::from(2u8)).unwrap(), U256::from(1u8));
    assert_eq!(exact::balance_of(U256::from(1u8), ray / U256::from(2u8) - U256::from(1u8)).unwrap(), U256::ZERO);
    assert_eq!(exact::ray_div(ray, U256::from(3u8) * ray).unwrap(), ray / U256::from(3u8));
}
