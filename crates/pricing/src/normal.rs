//! Standard normal density and distribution function.

/// 1 / sqrt(2 pi).
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Standard normal probability density n(x).
#[inline]
#[must_use]
pub fn pdf(x: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal cumulative distribution N(x).
///
/// Written through `erfc` rather than `erf` so that the far left tail keeps full relative precision
/// (1 + erf(x) would cancel catastrophically for x << 0).
#[inline]
#[must_use]
pub fn cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_matches_tabulated_values() {
        // Values from Abramowitz & Stegun table 26.1 (to 10 decimals).
        assert!((cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((cdf(1.0) - 0.841_344_746_1).abs() < 1e-10);
        assert!((cdf(-1.96) - 0.024_997_895_1).abs() < 1e-10);
        assert!((cdf(3.0) - 0.998_650_101_97).abs() < 1e-10);
        // Far tail keeps relative precision: N(-10) = 7.6198530241605e-24.
        assert!((cdf(-10.0) / 7.619_853_024_160_5e-24 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn pdf_integrates_to_cdf_difference() {
        assert!((pdf(0.0) - INV_SQRT_2PI).abs() < 1e-16);
        assert!((pdf(1.0) - 0.241_970_724_519_143_37).abs() < 1e-15);
    }
}
