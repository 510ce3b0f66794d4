//! Exact money for clearhouse.
//!
//! Every ledger quantity is an `i128` count of an asset's smallest unit with an explicit
//! [`Scale`] (the asset's decimals). Prices and USD values are fixed-point with 18 decimals.
//! This crate never uses floating point: parsing, printing, arithmetic and conversions are
//! integer-only, and every operation that could overflow is checked and returns
//! [`MoneyError::Overflow`] instead of wrapping.
//!
//! Invariants:
//! - A scale is at most [`SCALE_MAX`] decimals, so `10^scale` always fits in an `i128`.
//! - Products such as amount x price are computed in 256 bits ([`mul_div`]), so an 18-decimal
//!   asset at a large price cannot overflow an intermediate result.
//! - Every division names its [`Rounding`]. The broker's rule: what is owed *to* a client or
//!   counted *as* a client's collateral rounds [`Rounding::Floor`]; what a client owes rounds
//!   [`Rounding::Ceil`]. Both directions are exact floor/ceil, also for negative numbers.
//! - Parsing never rounds: a decimal string with more fractional digits than the scale is refused.

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest number of decimals an asset may have: `10^36 < i128::MAX ≈ 1.7e38`.
pub const SCALE_MAX: u8 = 36;
/// Decimals of every USD price and USD value.
pub const USD_SCALE: Scale = Scale(18);
/// A decimal string longer than this is refused before it is looked at.
pub const DECIMAL_STRING_LEN_MAX: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("arithmetic overflow in {operation}")]
    Overflow { operation: &'static str },
    #[error("division by zero in {operation}")]
    DivisionByZero { operation: &'static str },
    #[error("malformed decimal {input:?}: {reason}")]
    Malformed { input: String, reason: &'static str },
    #[error("decimal {input:?} has {given} fractional digits, the asset allows {max}")]
    TooManyDecimals { input: String, given: usize, max: u8 },
    #[error("scale {scale} exceeds the maximum of {SCALE_MAX} decimals")]
    ScaleTooLarge { scale: u8 },
}

/// Number of decimals of a fixed-point quantity (`units = value * 10^scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scale(u8);

impl Scale {
    pub fn new(decimals: u8) -> Result<Scale, MoneyError> {
        if decimals > SCALE_MAX {
            return Err(MoneyError::ScaleTooLarge { scale: decimals });
        }
        Ok(Scale(decimals))
    }
    pub const fn decimals(self) -> u8 {
        self.0
    }
    /// `10^decimals`, which always fits because `decimals <= SCALE_MAX`.
    pub const fn one(self) -> i128 {
        10i128.pow(self.0 as u32)
    }
}

/// Direction of rounding for an inexact division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Toward negative infinity. Use for anything credited to a client.
    Floor,
    /// Toward positive infinity. Use for anything charged to a client.
    Ceil,
}

/// An amount of one asset, as a signed count of its smallest unit. The scale belongs to the
/// asset and travels beside the amount; an `Amount` never mixes assets (the ledger keys
/// balances by asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(pub i128);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const fn units(self) -> i128 {
        self.0
    }
    pub fn checked_add(self, other: Amount) -> Result<Amount, MoneyError> {
        self.0.checked_add(other.0).map(Amount).ok_or(MoneyError::Overflow { operation: "amount add" })
    }
    pub fn checked_sub(self, other: Amount) -> Result<Amount, MoneyError> {
        self.0.checked_sub(other.0).map(Amount).ok_or(MoneyError::Overflow { operation: "amount sub" })
    }
    pub fn checked_neg(self) -> Result<Amount, MoneyError> {
        self.0.checked_neg().map(Amount).ok_or(MoneyError::Overflow { operation: "amount neg" })
    }
    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
    /// Parses a decimal string exactly at `scale`; refuses excess precision.
    pub fn parse(input: &str, scale: Scale) -> Result<Amount, MoneyError> {
        parse_decimal(input, scale).map(Amount)
    }
    pub fn to_decimal_string(self, scale: Scale) -> String {
        format_decimal(self.0, scale)
    }
    /// Rescales to another number of decimals; going down in decimals rounds as told.
    pub fn rescale(self, from: Scale, to: Scale, rounding: Rounding) -> Result<Amount, MoneyError> {
        if to.0 >= from.0 {
            let factor = Scale(to.0 - from.0).one();
            self.0.checked_mul(factor).map(Amount).ok_or(MoneyError::Overflow { operation: "rescale" })
        } else {
            let divisor = Scale(from.0 - to.0).one();
            div_round(self.0, divisor, rounding).map(Amount)
        }
    }
}

/// A price in USD per one whole unit of an asset, with 18 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UsdPrice(pub i128);

impl UsdPrice {
    pub fn parse(input: &str) -> Result<UsdPrice, MoneyError> {
        parse_decimal(input, USD_SCALE).map(UsdPrice)
    }
    pub const fn usd_e18(self) -> i128 {
        self.0
    }
}

impl fmt::Display for UsdPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_decimal(self.0, USD_SCALE))
    }
}

/// A value in USD with 18 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UsdValue(pub i128);

impl UsdValue {
    pub const ZERO: UsdValue = UsdValue(0);
    pub fn checked_add(self, other: UsdValue) -> Result<UsdValue, MoneyError> {
        self.0.checked_add(other.0).map(UsdValue).ok_or(MoneyError::Overflow { operation: "usd add" })
    }
    pub fn checked_sub(self, other: UsdValue) -> Result<UsdValue, MoneyError> {
        self.0.checked_sub(other.0).map(UsdValue).ok_or(MoneyError::Overflow { operation: "usd sub" })
    }
    pub fn parse(input: &str) -> Result<UsdValue, MoneyError> {
        parse_decimal(input, USD_SCALE).map(UsdValue)
    }
}

impl fmt::Display for UsdValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_decimal(self.0, USD_SCALE))
    }
}

/// USD value of `amount` (at `scale`) priced at `price`: `amount * price / 10^scale`,
/// computed in 256 bits and rounded as told.
pub fn value_usd(amount: Amount, scale: Scale, price: UsdPrice, rounding: Rounding) -> Result<UsdValue, MoneyError> {
    mul_div(amount.0, price.0, scale.one(), rounding).map(UsdValue)
}

/// Amount of an asset (at `scale`) worth `value` at `price`: `value * 10^scale / price`.
pub fn amount_for_value(value: UsdValue, scale: Scale, price: UsdPrice, rounding: Rounding) -> Result<Amount, MoneyError> {
    mul_div(value.0, scale.one(), price.0, rounding).map(Amount)
}

/// `a * b / d` exactly, with a 256-bit intermediate product, rounded as told.
/// Errors on division by zero and when the quotient does not fit an `i128`.
pub fn mul_div(a: i128, b: i128, d: i128, rounding: Rounding) -> Result<i128, MoneyError> {
    if d == 0 {
        return Err(MoneyError::DivisionByZero { operation: "mul_div" });
    }
    let negative = (a < 0) ^ (b < 0) ^ (d < 0);
    // The common case: the product fits 128 bits, and one 128-bit division gives the same
    // quotient and remainder as the 256-bit one (tested against it).
    if let Some(product) = a.unsigned_abs().checked_mul(b.unsigned_abs()) {
        let divisor = d.unsigned_abs();
        let (quotient, remainder) = (product / divisor, product % divisor);
        // A non-zero remainder means divisor > 1, so quotient < u128::MAX: the step fits.
        let magnitude = if remainder != 0 && round_up(rounding, negative) { quotient + 1 } else { quotient };
        return signed_from_u128(magnitude, negative);
    }
    mul_div_wide(a, b, d, rounding, negative)
}

/// Whether rounding moves the magnitude up: toward +infinity for a positive result, toward
/// -infinity (floor) for a negative one.
fn round_up(rounding: Rounding, negative: bool) -> bool {
    match rounding {
        Rounding::Floor => negative,
        Rounding::Ceil => !negative,
    }
}

/// [`mul_div`] through the 256-bit product (`d` non-zero).
fn mul_div_wide(a: i128, b: i128, d: i128, rounding: Rounding, negative: bool) -> Result<i128, MoneyError> {
    let product = U256::from(a.unsigned_abs()) * U256::from(b.unsigned_abs());
    let divisor = U256::from(d.unsigned_abs());
    let (quotient, remainder) = product.div_rem(divisor);
    // The exact quotient's magnitude is `quotient + remainder/divisor`; round it toward the
    // requested infinity, remembering that for a negative result "up in magnitude" is floor.
    let round_magnitude_up = !remainder.is_zero() && round_up(rounding, negative);
    let magnitude = if round_magnitude_up { quotient + U256::from(1u8) } else { quotient };
    signed_from_magnitude(magnitude, negative)
}

fn signed_from_magnitude(magnitude: U256, negative: bool) -> Result<i128, MoneyError> {
    let magnitude: u128 = u128::try_from(magnitude).map_err(|_| MoneyError::Overflow { operation: "mul_div result" })?;
    signed_from_u128(magnitude, negative)
}

fn signed_from_u128(magnitude: u128, negative: bool) -> Result<i128, MoneyError> {
    let overflow = MoneyError::Overflow { operation: "mul_div result" };
    if negative {
        // i128::MIN has magnitude 2^127, one more than i128::MAX.
        if magnitude == 1u128 << 127 {
            return Ok(i128::MIN);
        }
        i128::try_from(magnitude).map(|m| -m).map_err(|_| overflow)
    } else {
        i128::try_from(magnitude).map_err(|_| overflow)
    }
}

/// `n / d` rounded as told (exact floor or ceil, also for negative operands).
pub fn div_round(n: i128, d: i128, rounding: Rounding) -> Result<i128, MoneyError> {
    if d == 0 {
        return Err(MoneyError::DivisionByZero { operation: "div_round" });
    }
    let quotient = n.checked_div(d).ok_or(MoneyError::Overflow { operation: "div_round" })?;
    let remainder = n % d;
    if remainder == 0 {
        return Ok(quotient);
    }
    let exact_is_negative = (n < 0) ^ (d < 0);
    // Rust's `/` truncates toward zero: for a negative exact result truncation is the ceiling,
    // for a positive one it is the floor.
    Ok(match (rounding, exact_is_negative) {
        (Rounding::Floor, true) => quotient - 1,
        (Rounding::Ceil, false) => quotient + 1,
        _ => quotient,
    })
}

/// Parses `[-]digits[.digits]` into units at `scale`, exactly. No exponent, sign `+`,
/// whitespace or separators; a fraction longer than the scale is refused, never rounded.
pub fn parse_decimal(input: &str, scale: Scale) -> Result<i128, MoneyError> {
    let malformed = |reason| MoneyError::Malformed { input: input.chars().take(DECIMAL_STRING_LEN_MAX).collect(), reason };
    if input.len() > DECIMAL_STRING_LEN_MAX {
        return Err(malformed("too long"));
    }
    let (negative, body) = match input.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let (integer, fraction) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if integer.is_empty() {
        return Err(malformed("no digits before the decimal point"));
    }
    if !integer.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("not a decimal number"));
    }
    let fraction = fraction.unwrap_or("");
    if body.contains('.') && fraction.is_empty() {
        return Err(malformed("no digits after the decimal point"));
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("not a decimal number"));
    }
    if fraction.len() > scale.0 as usize {
        return Err(MoneyError::TooManyDecimals { input: input.to_string(), given: fraction.len(), max: scale.0 });
    }
    let overflow = MoneyError::Overflow { operation: "parse decimal" };
    // Digits accumulate in u128 (a 39-digit decimal can exceed it, hence checked steps); the
    // fraction is padded to the scale with one multiplication by a power of ten.
    let mut magnitude: u128 = 0;
    for digit in integer.bytes().chain(fraction.bytes()) {
        magnitude = magnitude.checked_mul(10).and_then(|m| m.checked_add((digit - b'0') as u128)).ok_or_else(|| overflow.clone())?;
    }
    let padding = scale.0 as usize - fraction.len();
    magnitude = magnitude.checked_mul(10u128.pow(padding as u32)).ok_or_else(|| overflow.clone())?;
    // i128 holds magnitudes up to 2^127 - 1 when positive and 2^127 when negative.
    let units = if negative {
        if magnitude == 1u128 << 127 { i128::MIN } else { -(i128::try_from(magnitude).map_err(|_| overflow.clone())?) }
    } else {
        i128::try_from(magnitude).map_err(|_| overflow)?
    };
    Ok(units)
}

/// Prints units at `scale` as a decimal string with exactly `scale` fractional digits
/// trimmed of trailing zeros (at least one digit after the point is never forced).
pub fn format_decimal(units: i128, scale: Scale) -> String {
    // The magnitude's digits, right-aligned, at least `scale + 1` of them (leading zeros), so
    // the integer part has at least one digit: at most 39 digits of an i128 or 37 of the pad.
    let mut digits = [b'0'; 40];
    let mut start = write_digits(units.unsigned_abs(), &mut digits);
    let width = scale.0 as usize + 1;
    start = start.min(digits.len() - width);
    let point = digits.len() - scale.0 as usize;
    let fraction_end = digits[point..].iter().rposition(|&d| d != b'0').map_or(point, |i| point + i + 1);
    let mut out = String::with_capacity(2 + fraction_end - start);
    if units < 0 {
        out.push('-');
    }
    out.push_str(ascii(&digits[start..point]));
    if fraction_end > point {
        out.push('.');
        out.push_str(ascii(&digits[point..fraction_end]));
    }
    out
}

fn ascii(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).expect("ASCII digits")
}

/// Writes `n`'s decimal digits right-aligned into `out`; returns the index of the first digit
/// (`out.len()` for zero). Two digits at a time on u64 chunks of 19 digits: no u128 division
/// by 10 per digit.
fn write_digits(mut n: u128, out: &mut [u8; 40]) -> usize {
    const CHUNK: u128 = 10_000_000_000_000_000_000; // 10^19
    let mut end = out.len();
    loop {
        let (rest, mut chunk) = if n >= CHUNK { (n / CHUNK, (n % CHUNK) as u64) } else { (0, n as u64) };
        let mut written = 0;
        while chunk >= 10 {
            let pair = (chunk % 100) as usize;
            chunk /= 100;
            out[end - 2..end].copy_from_slice(&DIGIT_PAIRS[2 * pair..2 * pair + 2]);
            end -= 2;
            written += 2;
        }
        if chunk > 0 {
            end -= 1;
            out[end] = b'0' + chunk as u8;
            written += 1;
        }
        if rest == 0 {
            return end;
        }
        // A full chunk below the next one: its leading zeros are digits.
        end -= 19 - written;
        n = rest;
    }
}

const DIGIT_PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839\
404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Operands whose product fits 128 bits, does not, and sits at the edge.
    fn operand() -> impl Strategy<Value = i128> {
        prop_oneof![
            any::<i128>(),
            any::<i64>().prop_map(i128::from),
            (0u32..127, -1i128..=1, any::<bool>()).prop_map(|(e, d, neg)| ((1i128 << e) + d) * if neg { -1 } else { 1 }),
            Just(i128::MIN),
            Just(i128::MAX),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 8192, ..ProptestConfig::default() })]
        /// The 128-bit path gives the 256-bit path's answer (error included) wherever it applies.
        #[test]
        fn mul_div_agrees_with_the_wide_product(a in operand(), b in operand(), d in operand().prop_filter("nonzero", |d| *d != 0)) {
            for rounding in [Rounding::Floor, Rounding::Ceil] {
                let negative = (a < 0) ^ (b < 0) ^ (d < 0);
                prop_assert_eq!(mul_div(a, b, d, rounding), mul_div_wide(a, b, d, rounding, negative));
            }
        }
    }

    fn s(d: u8) -> Scale {
        Scale::new(d).unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        assert_eq!(parse_decimal("1.5", s(6)).unwrap(), 1_500_000);
        assert_eq!(parse_decimal("-0.000001", s(6)).unwrap(), -1);
        assert_eq!(parse_decimal("0", s(18)).unwrap(), 0);
        assert_eq!(parse_decimal("123", s(0)).unwrap(), 123);
        assert_eq!(format_decimal(1_500_000, s(6)), "1.5");
        assert_eq!(format_decimal(-1, s(6)), "-0.000001");
        assert_eq!(format_decimal(0, s(6)), "0");
        assert_eq!(format_decimal(i128::MIN, s(18)), "-170141183460469231731.687303715884105728");
        // 0.1 + 0.2 is exactly 0.3 here, unlike binary floating point.
        let sum = parse_decimal("0.1", s(18)).unwrap() + parse_decimal("0.2", s(18)).unwrap();
        assert_eq!(sum, parse_decimal("0.3", s(18)).unwrap());
    }

    #[test]
    fn refuses_malformed_and_imprecise_input() {
        for bad in ["", "-", ".5", "5.", "1e6", "+1", " 1", "1,000", "0x10", "1.2.3", "--1", "١"] {
            assert!(matches!(parse_decimal(bad, s(6)), Err(MoneyError::Malformed { .. })), "{bad:?} accepted");
        }
        assert_eq!(parse_decimal("1.0000001", s(6)), Err(MoneyError::TooManyDecimals { input: "1.0000001".into(), given: 7, max: 6 }));
        // One past i128::MAX units.
        assert!(matches!(parse_decimal("170141183460469231731.687303715884105728", s(18)), Err(MoneyError::Overflow { .. })));
        assert!(parse_decimal("170141183460469231731.687303715884105727", s(18)).is_ok());
        assert!(matches!(parse_decimal(&"9".repeat(81), s(0)), Err(MoneyError::Malformed { .. })));
        assert!(matches!(Scale::new(37), Err(MoneyError::ScaleTooLarge { scale: 37 })));
    }

    #[test]
    fn rounding_is_exact_floor_and_ceil_in_both_signs() {
        assert_eq!(div_round(7, 2, Rounding::Floor).unwrap(), 3);
        assert_eq!(div_round(7, 2, Rounding::Ceil).unwrap(), 4);
        assert_eq!(div_round(-7, 2, Rounding::Floor).unwrap(), -4);
        assert_eq!(div_round(-7, 2, Rounding::Ceil).unwrap(), -3);
        assert_eq!(div_round(7, -2, Rounding::Floor).unwrap(), -4);
        assert_eq!(div_round(-8, 2, Rounding::Ceil).unwrap(), -4);
        assert_eq!(mul_div(7, 1, 2, Rounding::Floor).unwrap(), 3);
        assert_eq!(mul_div(-7, 1, 2, Rounding::Floor).unwrap(), -4);
        assert_eq!(mul_div(-7, 1, 2, Rounding::Ceil).unwrap(), -3);
        assert_eq!(mul_div(7, -1, -2, Rounding::Ceil).unwrap(), 4);
        assert!(matches!(div_round(i128::MIN, -1, Rounding::Floor), Err(MoneyError::Overflow { .. })));
        assert!(matches!(mul_div(1, 1, 0, Rounding::Floor), Err(MoneyError::DivisionByZero { .. })));
    }

    #[test]
    fn wide_products_do_not_overflow() {
        // 10 billion ETH-like units (18 decimals) at a price of 1 million USD: the raw product
        // is 1e28 * 1e24 = 1e52, far beyond i128, but the value 1e16 USD fits.
        let amount = Amount(10_000_000_000 * 10i128.pow(18));
        let price = UsdPrice::parse("1000000").unwrap();
        let value = value_usd(amount, s(18), price, Rounding::Floor).unwrap();
        assert_eq!(value, UsdValue::parse("10000000000000000").unwrap());
        assert!(matches!(mul_div(i128::MAX, i128::MAX, 1, Rounding::Floor), Err(MoneyError::Overflow { .. })));
        assert_eq!(mul_div(i128::MAX, i128::MAX, i128::MAX, Rounding::Floor).unwrap(), i128::MAX);
        assert_eq!(mul_div(i128::MIN, 1, 1, Rounding::Floor).unwrap(), i128::MIN);
        assert_eq!(mul_div(i128::MIN, i128::MIN, i128::MIN, Rounding::Ceil).unwrap(), i128::MIN);
    }

    #[test]
    fn conversions_round_in_the_brokers_favour() {
        // 1 unit of a 6-decimal token at 0.333333333333333333 USD: a client's collateral is
        // floored, a client's debt is ceiled; the two differ by exactly one unit of 1e-18 USD.
        let price = UsdPrice::parse("0.333333333333333333").unwrap();
        let collateral = value_usd(Amount(1), s(6), price, Rounding::Floor).unwrap();
        let debt = value_usd(Amount(1), s(6), price, Rounding::Ceil).unwrap();
        assert_eq!(collateral.0, 333_333_333_333);
        assert_eq!(debt.0, 333_333_333_334);
        // Buying 1 USD of it gives at most what 1 USD is worth.
        let bought = amount_for_value(UsdValue::parse("1").unwrap(), s(6), price, Rounding::Floor).unwrap();
        assert_eq!(bought, Amount(3_000_000));
        assert!(value_usd(bought, s(6), price, Rounding::Ceil).unwrap() <= UsdValue::parse("1").unwrap());
        assert_eq!(Amount(1_234_567).rescale(s(6), s(2), Rounding::Floor).unwrap(), Amount(123));
        assert_eq!(Amount(-1_234_567).rescale(s(6), s(2), Rounding::Floor).unwrap(), Amount(-124));
        assert_eq!(Amount(5).rescale(s(2), s(6), Rounding::Floor).unwrap(), Amount(50_000));
    }
}
