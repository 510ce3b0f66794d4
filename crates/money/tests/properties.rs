//! Property tests: the fixed-point operations agree with exact rational arithmetic.

use money::*;
use proptest::prelude::*;

/// The printing rule spelt out with the standard formatter (integer part, then the fraction
/// padded to the scale and trimmed of trailing zeros): the reference `format_decimal` is
/// checked against.
fn format_reference(units: i128, scale: Scale) -> String {
    let one = 10u128.pow(scale.decimals() as u32);
    let (integer, fraction) = (units.unsigned_abs() / one, units.unsigned_abs() % one);
    let sign = if units < 0 { "-" } else { "" };
    if fraction == 0 {
        return format!("{sign}{integer}");
    }
    let digits = format!("{fraction:0width$}", width = scale.decimals() as usize);
    format!("{sign}{integer}.{}", digits.trim_end_matches('0'))
}

/// Amounts around the edges of the printer: powers of ten and their neighbours, values at
/// the 10^19 chunk boundary, the extremes of i128.
fn edgy_units() -> impl Strategy<Value = i128> {
    let power = (0u32..=38, -2i128..=2, any::<bool>()).prop_map(|(e, d, neg)| (10i128.pow(e).saturating_add(d)) * if neg { -1 } else { 1 });
    prop_oneof![any::<i128>(), any::<i64>().prop_map(i128::from), power, Just(i128::MIN), Just(i128::MAX), Just(0)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]
    #[test]
    fn format_decimal_prints_as_the_reference(units in edgy_units(), decimals in 0u8..=SCALE_MAX) {
        let scale = Scale::new(decimals).unwrap();
        prop_assert_eq!(format_decimal(units, scale), format_reference(units, scale));
    }
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(units in any::<i128>(), decimals in 0u8..=SCALE_MAX) {
        let scale = Scale::new(decimals).unwrap();
        let text = format_decimal(units, scale);
        prop_assert_eq!(parse_decimal(&text, scale).unwrap(), units);
    }

    #[test]
    fn mul_div_brackets_the_exact_quotient(a in any::<i64>(), b in any::<i64>(), d in any::<i64>().prop_filter("nonzero", |d| *d != 0)) {
        // With 64-bit operands the exact product fits i128, so we can check against plain division.
        let (a, b, d) = (a as i128, b as i128, d as i128);
        let floor = mul_div(a, b, d, Rounding::Floor).unwrap();
        let ceil = mul_div(a, b, d, Rounding::Ceil).unwrap();
        let product = a * b;
        // floor <= exact <= ceil, and they differ by at most one unit.
        prop_assert!(ceil - floor <= 1);
        if d > 0 {
            prop_assert!(floor * d <= product && product <= ceil * d);
        } else {
            prop_assert!(floor * d >= product && product >= ceil * d);
        }
        prop_assert_eq!(floor == ceil, product % d == 0);
    }

    #[test]
    fn checked_add_never_wraps(a in any::<i128>(), b in any::<i128>()) {
        match Amount(a).checked_add(Amount(b)) {
            Ok(sum) => prop_assert_eq!(Some(sum.0), a.checked_add(b)),
            Err(MoneyError::Overflow { .. }) => prop_assert!(a.checked_add(b).is_none()),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn value_round_trip_never_creates_money(units in 0i128..10i128.pow(30), price_e18 in 1i128..10i128.pow(27), decimals in 0u8..=18) {
        // Converting an amount to USD (floored, as collateral) and back to units (floored)
        // never returns more than was put in.
        let scale = Scale::new(decimals).unwrap();
        let price = UsdPrice(price_e18);
        // A value beyond i128 is refused (tested elsewhere); the property is about the rest.
        let Ok(value) = value_usd(Amount(units), scale, price, Rounding::Floor) else { return Ok(()); };
        let back = amount_for_value(value, scale, price, Rounding::Floor).unwrap();
        prop_assert!(back.0 <= units);
    }
}
