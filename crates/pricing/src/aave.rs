//! Aave v3 interest accrual: the liquidity (supply) index grows with *linear* interest within a period,
//! the variable borrow index with *compounded* interest approximated by the first three terms of the
//! binomial expansion (1 + r/Y)^n ~ 1 + n r/Y + n(n-1)/2 (r/Y)^2 + n(n-1)(n-2)/6 (r/Y)^3,
//! as `MathUtils.calculateLinearInterest` / `calculateCompoundedInterest` of aave-v3-core, with
//! Y = `SECONDS_PER_YEAR` = 365 days and rates and indices in ray (1e27).
//!
//! `exact` reproduces the contract's integer arithmetic (rounding of `WadRayMath.rayMul` half up);
//! the f64 functions are the same formulas for scenario revaluation.

use crate::market::SECONDS_PER_YEAR;

/// Integer-exact aave-v3-core math.
pub mod exact {
    use crate::error::PricingError;
    use ruint::aliases::U256;

    /// 1e27.
    #[must_use]
    pub fn ray() -> U256 {
        U256::from(10u8).pow(U256::from(27u8))
    }

    /// `MathUtils.SECONDS_PER_YEAR` = 365 days.
    pub const SECONDS_PER_YEAR: u64 = 31_536_000;

    fn revert(operation: &'static str) -> PricingError {
        PricingError::ContractRevert { operation }
    }

    fn mul(a: U256, b: U256) -> Result<U256, PricingError> {
        a.checked_mul(b).ok_or(revert("uint256 multiplication overflow"))
    }

    fn add(a: U256, b: U256) -> Result<U256, PricingError> {
        a.checked_add(b).ok_or(revert("uint256 addition overflow"))
    }

    /// `WadRayMath.rayMul`: (a x b + RAY/2) / RAY, reverting on overflow.
    ///
    /// # Errors
    /// `ContractRevert` on overflow.
    pub fn ray_mul(a: U256, b: U256) -> Result<U256, PricingError> {
        let half = ray() / U256::from(2u8);
        Ok(add(mul(a, b)?, half)? / ray())
    }

    /// `WadRayMath.rayDiv`: (a x RAY + b/2) / b.
    ///
    /// # Errors
    /// `ContractRevert` on division by zero or overflow.
    pub fn ray_div(a: U256, b: U256) -> Result<U256, PricingError> {
        if b.is_zero() {
            return Err(revert("rayDiv by zero"));
        }
        Ok(add(mul(a, ray())?, b / U256::from(2u8))? / b)
    }

    /// `MathUtils.calculateLinearInterest`: RAY + rate x dt / SECONDS_PER_YEAR.
    ///
    /// # Errors
    /// `ContractRevert` on overflow.
    pub fn calculate_linear_interest(rate_ray: U256, elapsed_seconds: u64) -> Result<U256, PricingError> {
        let result = mul(rate_ray, U256::from(elapsed_seconds))? / U256::from(SECONDS_PER_YEAR);
        add(ray(), result)
    }

    /// `MathUtils.calculateCompoundedInterest` (three-term binomial approximation).
    ///
    /// # Errors
    /// `ContractRevert` on overflow.
    pub fn calculate_compounded_interest(rate_ray: U256, elapsed_seconds: u64) -> Result<U256, PricingError> {
        if elapsed_seconds == 0 {
            return Ok(ray());
        }
        let exp = U256::from(elapsed_seconds);
        let exp_minus_one = U256::from(elapsed_seconds - 1);
        let exp_minus_two = U256::from(elapsed_seconds.saturating_sub(2));
        let spy = U256::from(SECONDS_PER_YEAR);
        let base_power_two = ray_mul(rate_ray, rate_ray)? / (spy * spy);
        let base_power_three = ray_mul(base_power_two, rate_ray)? / spy;
        let second_term = mul(mul(exp, exp_minus_one)?, base_power_two)? / U256::from(2u8);
        let third_term = mul(mul(mul(exp, exp_minus_one)?, exp_minus_two)?, base_power_three)? / U256::from(6u8);
        add(add(add(ray(), mul(rate_ray, exp)? / spy)?, second_term)?, third_term)
    }

    /// `ReserveLogic._updateIndexes` for the supply side: new liquidity index.
    ///
    /// # Errors
    /// `ContractRevert` on overflow.
    pub fn next_liquidity_index(index_ray: U256, rate_ray: U256, elapsed_seconds: u64) -> Result<U256, PricingError> {
        ray_mul(calculate_linear_interest(rate_ray, elapsed_seconds)?, index_ray)
    }

    /// `ReserveLogic._updateIndexes` for the borrow side: new variable borrow index.
    ///
    /// # Errors
    /// `ContractRevert` on overflow.
    pub fn next_variable_borrow_index(index_ray: U256, rate_ray: U256, elapsed_seconds: u64) -> Result<U256, PricingError> {
        ray_mul(calculate_compounded_interest(rate_ray, elapsed_seconds)?, index_ray)
    }

    /// `AToken.balanceOf` / `VariableDebtToken.balanceOf`: scaled balance x index (rayMul).
    ///
    /// # Errors
    /// `ContractRevert` on overflow.
    pub fn balance_of(scaled_balance: U256, index_ray: U256) -> Result<U256, PricingError> {
        ray_mul(scaled_balance, index_ray)
    }
}

/// Linear growth factor of the liquidity index over `elapsed_years` at `rate_annual`.
#[inline]
#[must_use]
pub fn linear_growth(rate_annual: f64, elapsed_years: f64) -> f64 {
    1.0 + rate_annual * elapsed_years
}

/// Compounded growth factor of the variable borrow index (three-term binomial, per-second compounding).
#[inline]
#[must_use]
pub fn compounded_growth(rate_annual: f64, elapsed_years: f64) -> f64 {
    let n = elapsed_years * SECONDS_PER_YEAR;
    let x = rate_annual / SECONDS_PER_YEAR;
    // The contract uses n - 2 clamped at 0 (and the n = 0 case returns exactly 1).
    let n1 = (n - 1.0).max(0.0);
    let n2 = (n - 2.0).max(0.0);
    1.0 + n * x + n * n1 * 0.5 * x * x + n * n1 * n2 / 6.0 * x * x * x
}

/// d(compounded_growth)/d(elapsed_years) in the interior region n > 2 (per year).
#[inline]
#[must_use]
pub fn compounded_growth_rate(rate_annual: f64, elapsed_years: f64) -> f64 {
    let n = elapsed_years * SECONDS_PER_YEAR;
    let x = rate_annual / SECONDS_PER_YEAR;
    let d_dn = if n > 2.0 { x + (2.0 * n - 1.0) * 0.5 * x * x + (3.0 * n * n - 6.0 * n + 2.0) / 6.0 * x * x * x } else { x };
    d_dn * SECONDS_PER_YEAR
}

#[cfg(test)]
mod tests {
    use super::compounded_growth;
    use super::exact::*;
    use ruint::aliases::U256;

    #[test]
    fn linear_interest_one_year_is_exactly_one_plus_rate() {
        let five_percent = ray() / U256::from(20u8);
        let f = calculate_linear_interest(five_percent, SECONDS_PER_YEAR).unwrap();
        assert_eq!(f, ray() + five_percent);
    }

    #[test]
    fn compounded_interest_is_just_below_exp() {
        // The truncated binomial undershoots e^r (a fact the MathUtils comment states): for 5% over a year
        // by the omitted terms, r^4/24 + ... ~ 2.63e-7.
        let g = compounded_growth(0.05, 1.0);
        let e = 0.05f64.exp();
        assert!(g < e && e - g < 2.7e-7, "{g} vs {e}");
        // The contract loses more: basePowerThree = rayMul(rate^2/Y^2, rate)/Y truncates to an integer
        // of about 4 (ray units per second^3), so the cubic term, n(n-1)(n-2)/6 x basePowerThree, can be
        // short by up to n^3/6 ray = 5.2e-6 of the index. The contract value must sit in that gap.
        let five_percent = ray() / U256::from(20u8);
        let f = calculate_compounded_interest(five_percent, SECONDS_PER_YEAR).unwrap();
        let f = f.to_string().parse::<f64>().unwrap() / 1e27;
        let max_truncation = (31_536_000f64).powi(3) / 6.0 / 1e27;
        assert!(f < g && g - f <= max_truncation, "{f} vs {g}");
    }
}
