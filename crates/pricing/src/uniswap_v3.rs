//! Uniswap v3 concentrated liquidity.
//!
//! - `exact`: `TickMath.getSqrtRatioAtTick` / `getTickAtSqrtRatio`, `FullMath.mulDiv`, and
//!   `SqrtPriceMath.getAmount0Delta` / `getAmount1Delta` on Q64.96 sqrt prices in 256/512-bit integers,
//!   matching the contracts' rounding.
//! - `UniswapV3Position`: the f64 valuation of a position of liquidity L between two ticks at the pool's
//!   arbitrage equilibrium for external prices, with delta and gamma in and out of range.

use crate::error::PricingError;
use crate::greeks::{Greeks, MAX_LEGS, project};
use crate::market::{Asset, MarketState};

/// Integer-exact contract math.
pub mod exact {
    use crate::error::PricingError;
    use ruint::aliases::{U256, U512};

    /// Lowest tick: log base 1.0001 of 2^-128.
    pub const MIN_TICK: i32 = -887_272;
    /// Highest tick.
    pub const MAX_TICK: i32 = 887_272;

    /// `TickMath.MIN_SQRT_RATIO` = getSqrtRatioAtTick(MIN_TICK).
    #[must_use]
    pub fn min_sqrt_ratio() -> U256 {
        U256::from(4_295_128_739u64)
    }

    /// `TickMath.MAX_SQRT_RATIO` = getSqrtRatioAtTick(MAX_TICK).
    #[must_use]
    pub fn max_sqrt_ratio() -> U256 {
        ruint::uint!(1461446703485210103287273052203988822378723970342_U256)
    }

    /// 2^96, the Q64.96 unit.
    #[must_use]
    pub fn q96() -> U256 {
        U256::from(1u8) << 96
    }

    /// sqrt(1.0001^-2^i) in Q128.128 for bit i of |tick|, the published `TickMath` constants
    /// (the first entry is for bit 0; bit 0 unset starts from 1.0 = 2^128).
    const TICK_FACTORS: [u128; 20] = [
        0xfffc_b933_bd6f_ad37_aa2d_162d_1a59_4001,
        0xfff9_7272_373d_4132_59a4_6990_580e_213a,
        0xfff2_e50f_5f65_6932_ef12_357c_f3c7_fdcc,
        0xffe5_caca_7e10_e4e6_1c36_24ea_a094_1cd0,
        0xffcb_9843_d60f_6159_c9db_5883_5c92_6644,
        0xff97_3b41_fa98_c081_472e_6896_dfb2_54c0,
        0xff2e_a164_66c9_6a38_43ec_78b3_26b5_2861,
        0xfe5d_ee04_6a99_a2a8_11c4_61f1_969c_3053,
        0xfcbe_86c7_900a_88ae_dcff_c83b_479a_a3a4,
        0xf987_a725_3ac4_1317_6f2b_074c_f781_5e54,
        0xf339_2b08_22b7_0005_940c_7a39_8e4b_70f3,
        0xe715_9475_a2c2_9b74_43b2_9c7f_a6e8_89d9,
        0xd097_f3bd_fd20_22b8_845a_d8f7_92aa_5825,
        0xa9f7_4646_2d87_0fdf_8a65_dc1f_90e0_61e5,
        0x70d8_69a1_56d2_a1b8_90bb_3df6_2baf_32f7,
        0x31be_135f_97d0_8fd9_8123_1505_542f_cfa6,
        0x09aa_508b_5b7a_84e1_c677_de54_f3e9_9bc9,
        0x005d_6af8_dedb_8119_6699_c329_225e_e604,
        0x0000_2216_e584_f5fa_1ea9_2604_1bed_fe98,
        0x0000_0000_048a_1703_91f7_dc42_444e_8fa2,
    ];

    /// `TickMath.getSqrtRatioAtTick`: sqrt(1.0001^tick) as Q64.96, rounded up so that
    /// `getTickAtSqrtRatio` of the result is consistent.
    ///
    /// # Errors
    /// `TickOutOfRange` when |tick| > MAX_TICK.
    pub fn get_sqrt_ratio_at_tick(tick: i32) -> Result<U256, PricingError> {
        if !(MIN_TICK..=MAX_TICK).contains(&tick) {
            return Err(PricingError::TickOutOfRange { tick });
        }
        let abs_tick = tick.unsigned_abs();
        let mut ratio = if abs_tick & 1 != 0 { U256::from(TICK_FACTORS[0]) } else { U256::from(1u8) << 128 };
        for (bit, factor) in TICK_FACTORS.iter().enumerate().skip(1) {
            if abs_tick & (1u32 << bit) != 0 {
                // ratio < 2^129 and factor < 2^128, so the product fits in 256 bits as in the contract.
                ratio = (ratio * U256::from(*factor)) >> 128;
            }
        }
        if tick > 0 {
            ratio = U256::MAX / ratio;
        }
        let remainder_nonzero = !(ratio & U256::from(0xffff_ffffu64)).is_zero();
        Ok((ratio >> 32) + U256::from(u8::from(remainder_nonzero)))
    }

    /// `TickMath.getTickAtSqrtRatio`: the greatest tick whose sqrt ratio is <= `sqrt_price_x96`.
    ///
    /// Implemented as a binary search over `get_sqrt_ratio_at_tick`, which is the contract's own definition
    /// of the result (its log2 bit trick is only a gas optimisation of the same function).
    ///
    /// # Errors
    /// `SqrtPriceOutOfRange` outside [MIN_SQRT_RATIO, MAX_SQRT_RATIO).
    pub fn get_tick_at_sqrt_ratio(sqrt_price_x96: U256) -> Result<i32, PricingError> {
        if sqrt_price_x96 < min_sqrt_ratio() || sqrt_price_x96 >= max_sqrt_ratio() {
            return Err(PricingError::SqrtPriceOutOfRange);
        }
        let (mut lo, mut hi) = (MIN_TICK, MAX_TICK);
        // Invariant: ratio(lo) <= sqrt_price < ratio(hi). Terminates in at most 21 steps.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if get_sqrt_ratio_at_tick(mid)? <= sqrt_price_x96 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    fn narrow(x: U512, operation: &'static str) -> Result<U256, PricingError> {
        U256::checked_from_limbs_slice(x.as_limbs()).ok_or(PricingError::ContractRevert { operation })
    }

    fn widen(x: U256) -> U512 {
        U512::from_limbs_slice(x.as_limbs())
    }

    /// `FullMath.mulDiv`: floor(a x b / denominator) with a 512-bit intermediate.
    ///
    /// # Errors
    /// `ContractRevert` on a zero denominator or a result >= 2^256.
    pub fn mul_div(a: U256, b: U256, denominator: U256) -> Result<U256, PricingError> {
        if denominator.is_zero() {
            return Err(PricingError::ContractRevert { operation: "mulDiv by zero" });
        }
        narrow(widen(a) * widen(b) / widen(denominator), "mulDiv overflow")
    }

    /// `FullMath.mulDivRoundingUp`: ceil(a x b / denominator).
    ///
    /// # Errors
    /// As `mul_div`.
    pub fn mul_div_rounding_up(a: U256, b: U256, denominator: U256) -> Result<U256, PricingError> {
        if denominator.is_zero() {
            return Err(PricingError::ContractRevert { operation: "mulDiv by zero" });
        }
        let product = widen(a) * widen(b);
        let d = widen(denominator);
        let mut q = product / d;
        if !(product % d).is_zero() {
            q += U512::from(1u8);
        }
        narrow(q, "mulDiv overflow")
    }

    fn div_rounding_up(a: U256, b: U256) -> U256 {
        let q = a / b;
        if (a % b).is_zero() { q } else { q + U256::from(1u8) }
    }

    /// `SqrtPriceMath.getAmount0Delta`: token0 amount between two sqrt prices for liquidity L,
    /// L x 2^96 x (sqrtB - sqrtA) / sqrtB / sqrtA, rounded up or down.
    ///
    /// # Errors
    /// `ContractRevert` if the smaller sqrt price is zero or on overflow.
    pub fn get_amount0_delta(sqrt_a_x96: U256, sqrt_b_x96: U256, liquidity: u128, round_up: bool) -> Result<U256, PricingError> {
        let (lo, hi) = if sqrt_a_x96 > sqrt_b_x96 { (sqrt_b_x96, sqrt_a_x96) } else { (sqrt_a_x96, sqrt_b_x96) };
        if lo.is_zero() {
            return Err(PricingError::ContractRevert { operation: "getAmount0Delta: zero sqrt price" });
        }
        let numerator1 = U256::from(liquidity) << 96;
        let numerator2 = hi - lo;
        if round_up {
            Ok(div_rounding_up(mul_div_rounding_up(numerator1, numerator2, hi)?, lo))
        } else {
            Ok(mul_div(numerator1, numerator2, hi)? / lo)
        }
    }

    /// `SqrtPriceMath.getAmount1Delta`: token1 amount L x (sqrtB - sqrtA) / 2^96, rounded up or down.
    ///
    /// # Errors
    /// `ContractRevert` on overflow.
    pub fn get_amount1_delta(sqrt_a_x96: U256, sqrt_b_x96: U256, liquidity: u128, round_up: bool) -> Result<U256, PricingError> {
        let (lo, hi) = if sqrt_a_x96 > sqrt_b_x96 { (sqrt_b_x96, sqrt_a_x96) } else { (sqrt_a_x96, sqrt_b_x96) };
        if round_up { mul_div_rounding_up(U256::from(liquidity), hi - lo, q96()) } else { mul_div(U256::from(liquidity), hi - lo, q96()) }
    }

    /// `LiquidityAmounts.getAmountsForLiquidity` (v3-periphery): token amounts (rounded down) held by
    /// liquidity L between sqrt prices A < B when the pool is at sqrt price P.
    ///
    /// # Errors
    /// As `get_amount0_delta`.
    pub fn get_amounts_for_liquidity(
        sqrt_price_x96: U256,
        sqrt_a_x96: U256,
        sqrt_b_x96: U256,
        liquidity: u128,
    ) -> Result<(U256, U256), PricingError> {
        let (a, b) = if sqrt_a_x96 > sqrt_b_x96 { (sqrt_b_x96, sqrt_a_x96) } else { (sqrt_a_x96, sqrt_b_x96) };
        if sqrt_price_x96 <= a {
            Ok((get_amount0_delta(a, b, liquidity, false)?, U256::ZERO))
        } else if sqrt_price_x96 < b {
            Ok((get_amount0_delta(sqrt_price_x96, b, liquidity, false)?, get_amount1_delta(a, sqrt_price_x96, liquidity, false)?))
        } else {
            Ok((U256::ZERO, get_amount1_delta(a, b, liquidity, false)?))
        }
    }

    fn to_u128(x: U256) -> Result<u128, PricingError> {
        u128::try_from(x).map_err(|_| PricingError::ContractRevert { operation: "toUint128 overflow" })
    }

    fn ordered(a: U256, b: U256) -> Result<(U256, U256), PricingError> {
        let (lo, hi) = if a > b { (b, a) } else { (a, b) };
        if lo == hi {
            return Err(PricingError::ContractRevert { operation: "empty price range" });
        }
        Ok((lo, hi))
    }

    /// `LiquidityAmounts.getLiquidityForAmount0`: amount0 x (sqrtA x sqrtB / 2^96) / (sqrtB - sqrtA).
    ///
    /// # Errors
    /// `ContractRevert` on an empty range or a result above uint128.
    pub fn get_liquidity_for_amount0(sqrt_a_x96: U256, sqrt_b_x96: U256, amount0: U256) -> Result<u128, PricingError> {
        let (a, b) = ordered(sqrt_a_x96, sqrt_b_x96)?;
        let intermediate = mul_div(a, b, q96())?;
        to_u128(mul_div(amount0, intermediate, b - a)?)
    }

    /// `LiquidityAmounts.getLiquidityForAmount1`: amount1 x 2^96 / (sqrtB - sqrtA).
    ///
    /// # Errors
    /// `ContractRevert` on an empty range or a result above uint128.
    pub fn get_liquidity_for_amount1(sqrt_a_x96: U256, sqrt_b_x96: U256, amount1: U256) -> Result<u128, PricingError> {
        let (a, b) = ordered(sqrt_a_x96, sqrt_b_x96)?;
        to_u128(mul_div(amount1, q96(), b - a)?)
    }

    /// `LiquidityAmounts.getLiquidityForAmounts`: the largest liquidity the two amounts can fund at
    /// sqrt price P for the range [A, B].
    ///
    /// # Errors
    /// As the single-token versions.
    pub fn get_liquidity_for_amounts(
        sqrt_price_x96: U256,
        sqrt_a_x96: U256,
        sqrt_b_x96: U256,
        amount0: U256,
        amount1: U256,
    ) -> Result<u128, PricingError> {
        let (a, b) = ordered(sqrt_a_x96, sqrt_b_x96)?;
        if sqrt_price_x96 <= a {
            get_liquidity_for_amount0(a, b, amount0)
        } else if sqrt_price_x96 < b {
            let l0 = get_liquidity_for_amount0(sqrt_price_x96, b, amount0)?;
            let l1 = get_liquidity_for_amount1(a, sqrt_price_x96, amount1)?;
            Ok(l0.min(l1))
        } else {
            get_liquidity_for_amount1(a, b, amount1)
        }
    }

    fn to_u160(x: U256) -> Result<U256, PricingError> {
        if x >> 160 != U256::ZERO {
            return Err(PricingError::ContractRevert { operation: "toUint160 overflow" });
        }
        Ok(x)
    }

    /// `SqrtPriceMath.getNextSqrtPriceFromAmount0RoundingUp`: price after adding (or removing) `amount` of
    /// token0, rounded up so the price moves no further than the amount pays for.
    ///
    /// # Errors
    /// `ContractRevert` where the contract reverts (removal exceeding the virtual reserve, overflow).
    pub fn get_next_sqrt_price_from_amount0_rounding_up(
        sqrt_price_x96: U256,
        liquidity: u128,
        amount: U256,
        add: bool,
    ) -> Result<U256, PricingError> {
        if amount.is_zero() {
            return Ok(sqrt_price_x96);
        }
        let numerator1: U256 = U256::from(liquidity) << 96;
        let product = amount.checked_mul(sqrt_price_x96);
        if add {
            if let Some(product) = product
                && let Some(denominator) = numerator1.checked_add(product)
            {
                return mul_div_rounding_up(numerator1, sqrt_price_x96, denominator);
            }
            // The contract's fallback when amount x price overflows: L / (L / P + amount), rounded up.
            let denominator = (numerator1 / sqrt_price_x96)
                .checked_add(amount)
                .ok_or(PricingError::ContractRevert { operation: "getNextSqrtPrice: overflow" })?;
            Ok(div_rounding_up(numerator1, denominator))
        } else {
            let product = product.ok_or(PricingError::ContractRevert { operation: "getNextSqrtPrice: overflow" })?;
            if numerator1 <= product {
                return Err(PricingError::ContractRevert { operation: "getNextSqrtPrice: output exceeds reserve" });
            }
            to_u160(mul_div_rounding_up(numerator1, sqrt_price_x96, numerator1 - product)?)
        }
    }

    /// `SqrtPriceMath.getNextSqrtPriceFromAmount1RoundingDown`: price after adding (or removing) `amount`
    /// of token1, rounded down.
    ///
    /// # Errors
    /// `ContractRevert` where the contract reverts.
    pub fn get_next_sqrt_price_from_amount1_rounding_down(
        sqrt_price_x96: U256,
        liquidity: u128,
        amount: U256,
        add: bool,
    ) -> Result<U256, PricingError> {
        let l = U256::from(liquidity);
        let fits_160 = amount >> 160 == U256::ZERO;
        if add {
            let quotient = if fits_160 { (amount << 96) / l } else { mul_div(amount, q96(), l)? };
            let next =
                sqrt_price_x96.checked_add(quotient).ok_or(PricingError::ContractRevert { operation: "getNextSqrtPrice: overflow" })?;
            to_u160(next)
        } else {
            let quotient = if fits_160 { div_rounding_up(amount << 96, l) } else { mul_div_rounding_up(amount, q96(), l)? };
            if sqrt_price_x96 <= quotient {
                return Err(PricingError::ContractRevert { operation: "getNextSqrtPrice: output exceeds reserve" });
            }
            Ok(sqrt_price_x96 - quotient)
        }
    }

    fn check_price_and_liquidity(sqrt_price_x96: U256, liquidity: u128) -> Result<(), PricingError> {
        if sqrt_price_x96.is_zero() {
            return Err(PricingError::ContractRevert { operation: "P" });
        }
        if liquidity == 0 {
            return Err(PricingError::ContractRevert { operation: "L" });
        }
        Ok(())
    }

    /// `SqrtPriceMath.getNextSqrtPriceFromInput`: price after swapping `amount_in` in (token0 if
    /// `zero_for_one`), rounding so the pool never gives away more than paid for.
    ///
    /// # Errors
    /// `ContractRevert` with the contract's reason ("P", "L", overflow).
    pub fn get_next_sqrt_price_from_input(
        sqrt_price_x96: U256,
        liquidity: u128,
        amount_in: U256,
        zero_for_one: bool,
    ) -> Result<U256, PricingError> {
        check_price_and_liquidity(sqrt_price_x96, liquidity)?;
        if zero_for_one {
            get_next_sqrt_price_from_amount0_rounding_up(sqrt_price_x96, liquidity, amount_in, true)
        } else {
            get_next_sqrt_price_from_amount1_rounding_down(sqrt_price_x96, liquidity, amount_in, true)
        }
    }

    /// `SqrtPriceMath.getNextSqrtPriceFromOutput`: price after taking `amount_out` out (token1 if
    /// `zero_for_one`).
    ///
    /// # Errors
    /// `ContractRevert` with the contract's reason.
    pub fn get_next_sqrt_price_from_output(
        sqrt_price_x96: U256,
        liquidity: u128,
        amount_out: U256,
        zero_for_one: bool,
    ) -> Result<U256, PricingError> {
        check_price_and_liquidity(sqrt_price_x96, liquidity)?;
        if zero_for_one {
            get_next_sqrt_price_from_amount1_rounding_down(sqrt_price_x96, liquidity, amount_out, false)
        } else {
            get_next_sqrt_price_from_amount0_rounding_up(sqrt_price_x96, liquidity, amount_out, false)
        }
    }

    /// Result of one `SwapMath.computeSwapStep`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SwapStep {
        /// Sqrt price after the step, Q64.96.
        pub sqrt_price_next_x96: U256,
        /// Input consumed, excluding the fee.
        pub amount_in: U256,
        /// Output produced.
        pub amount_out: U256,
        /// Fee charged on the input.
        pub fee_amount: U256,
    }

    /// Fee denominator of v3 (fees are in hundredths of a basis point, "pips").
    const FEE_PIPS_DENOMINATOR: u32 = 1_000_000;

    /// `SwapMath.computeSwapStep`: swap within one liquidity range from the current sqrt price towards a
    /// target, with `amount_remaining` exact input (`exact_in`) or exact output, and a fee in pips.
    /// The direction is zero-for-one when the target is at or below the current price.
    ///
    /// # Errors
    /// `ContractRevert` where the contract reverts (fee >= 100%, overflow, zero liquidity in a price move).
    pub fn compute_swap_step(
        sqrt_price_current_x96: U256,
        sqrt_price_target_x96: U256,
        liquidity: u128,
        amount_remaining: U256,
        exact_in: bool,
        fee_pips: u32,
    ) -> Result<SwapStep, PricingError> {
        if fee_pips >= FEE_PIPS_DENOMINATOR {
            return Err(PricingError::ContractRevert { operation: "fee >= 100%" });
        }
        let zero_for_one = sqrt_price_current_x96 >= sqrt_price_target_x96;
        let million = U256::from(FEE_PIPS_DENOMINATOR);
        let fee = U256::from(fee_pips);
        let (current, target) = (sqrt_price_current_x96, sqrt_price_target_x96);
        let mut amount_in = U256::ZERO;
        let mut amount_out = U256::ZERO;
        let next = if exact_in {
            let remaining_less_fee = mul_div(amount_remaining, million - fee, million)?;
            amount_in = if zero_for_one {
                get_amount0_delta(target, current, liquidity, true)?
            } else {
                get_amount1_delta(current, target, liquidity, true)?
            };
            if remaining_less_fee >= amount_in {
                target
            } else {
                get_next_sqrt_price_from_input(current, liquidity, remaining_less_fee, zero_for_one)?
            }
        } else {
            amount_out = if zero_for_one {
                get_amount1_delta(target, current, liquidity, false)?
            } else {
                get_amount0_delta(current, target, liquidity, false)?
            };
            if amount_remaining >= amount_out {
                target
            } else {
                get_next_sqrt_price_from_output(current, liquidity, amount_remaining, zero_for_one)?
            }
        };
        // At the target the amount computed for the whole range above is exact; otherwise recompute both
        // amounts for the range actually crossed.
        let reached_target = next == target;
        let keep_in = reached_target && exact_in;
        let keep_out = reached_target && !exact_in;
        if zero_for_one {
            if !keep_in {
                amount_in = get_amount0_delta(next, current, liquidity, true)?;
            }
            if !keep_out {
                amount_out = get_amount1_delta(next, current, liquidity, false)?;
            }
        } else {
            if !keep_in {
                amount_in = get_amount1_delta(current, next, liquidity, true)?;
            }
            if !keep_out {
                amount_out = get_amount0_delta(current, next, liquidity, false)?;
            }
        }
        // Never pay out more than was asked for.
        if !exact_in && amount_out > amount_remaining {
            amount_out = amount_remaining;
        }
        let fee_amount = if exact_in && next != target {
            // The target was not reached, so whatever input is left over is the fee.
            amount_remaining - amount_in
        } else {
            mul_div_rounding_up(amount_in, fee, million - fee)?
        };
        Ok(SwapStep { sqrt_price_next_x96: next, amount_in, amount_out, fee_amount })
    }

    /// A Q64.96 sqrt price as f64 (sqrt of token1 raw units per token0 raw unit).
    #[must_use]
    pub fn sqrt_price_x96_to_f64(sqrt_price_x96: U256) -> f64 {
        // f64 has 53 bits of mantissa; the conversion rounds, which is all the scenario model needs.
        let limbs = sqrt_price_x96.as_limbs();
        let mut x = 0.0;
        for &limb in limbs.iter().rev() {
            x = x * 18_446_744_073_709_551_616.0 + limb as f64;
        }
        x / 79_228_162_514_264_337_593_543_950_336.0
    }
}

/// A Uniswap v3 position: liquidity L between two ticks, valued at the pool's arbitrage equilibrium for
/// external prices.
///
/// Pool price P = token1 raw units per token0 raw unit = (p0 / 10^dec0) / (p1 / 10^dec1).
/// With sa, sb the range's sqrt prices and s = sqrt(P) clamped to [sa, sb]:
/// amount0 = L (1/s - 1/sb), amount1 = L (s - sa) (raw units). Below the range the position is all token0,
/// above it all token1, and its value is then linear in prices (gamma 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UniswapV3Position {
    /// Token 0 of the pool.
    pub token0: Asset,
    /// Token 1 of the pool.
    pub token1: Asset,
    /// Liquidity L (raw units, as the contract stores it).
    pub liquidity: f64,
    /// sqrt price at the lower tick (raw units; `sqrt_price_x96 / 2^96`).
    pub sqrt_price_lower: f64,
    /// sqrt price at the upper tick.
    pub sqrt_price_upper: f64,
    /// 10^-decimals of token 0: raw units to whole tokens.
    pub scale0: f64,
    /// 10^-decimals of token 1.
    pub scale1: f64,
}

impl UniswapV3Position {
    /// From ticks (sqrt prices computed exactly by `getSqrtRatioAtTick`) and token decimals.
    ///
    /// # Errors
    /// `TickOutOfRange`, or `InstrumentInvalid` for an empty range, non-positive liquidity, or decimals > 36.
    pub fn from_ticks(
        token0: Asset,
        token1: Asset,
        liquidity: f64,
        tick_lower: i32,
        tick_upper: i32,
        decimals0: u8,
        decimals1: u8,
    ) -> Result<Self, PricingError> {
        if tick_lower >= tick_upper {
            return Err(PricingError::InstrumentInvalid { name: "tick_upper", value: f64::from(tick_upper) });
        }
        if !(liquidity > 0.0 && liquidity.is_finite()) {
            return Err(PricingError::InstrumentInvalid { name: "liquidity", value: liquidity });
        }
        for (name, d) in [("decimals0", decimals0), ("decimals1", decimals1)] {
            if d > 36 {
                return Err(PricingError::InstrumentInvalid { name, value: f64::from(d) });
            }
        }
        Ok(UniswapV3Position {
            token0,
            token1,
            liquidity,
            sqrt_price_lower: exact::sqrt_price_x96_to_f64(exact::get_sqrt_ratio_at_tick(tick_lower)?),
            sqrt_price_upper: exact::sqrt_price_x96_to_f64(exact::get_sqrt_ratio_at_tick(tick_upper)?),
            scale0: 10f64.powi(-i32::from(decimals0)),
            scale1: 10f64.powi(-i32::from(decimals1)),
        })
    }

    /// Whole-token amounts (token0, token1) at external USD prices.
    #[inline]
    #[must_use]
    pub fn amounts_at(&self, price0_usd: f64, price1_usd: f64) -> (f64, f64) {
        let s = ((price0_usd * self.scale0) / (price1_usd * self.scale1)).sqrt();
        let (sa, sb, l) = (self.sqrt_price_lower, self.sqrt_price_upper, self.liquidity);
        let s = s.clamp(sa, sb);
        (l * (1.0 / s - 1.0 / sb) * self.scale0, l * (s - sa) * self.scale1)
    }

    /// Value of the position, USD.
    #[inline]
    #[must_use]
    pub fn value_at(&self, price0_usd: f64, price1_usd: f64) -> f64 {
        let (x, y) = self.amounts_at(price0_usd, price1_usd);
        x * price0_usd + y * price1_usd
    }

    /// Value under a market state, USD.
    ///
    /// # Errors
    /// Missing or invalid prices.
    #[inline]
    pub fn value(&self, market: &MarketState) -> Result<f64, PricingError> {
        let p0 = market.asset_price_usd(self.token0)?;
        let p1 = market.asset_price_usd(self.token1)?;
        Ok(self.value_at(p0, p1))
    }

    /// Value and sensitivities. Gradient in price space = token amounts (envelope theorem). In range the
    /// Hessian d(amounts)/d(prices) is [[-scale0 L/(2 s p0), scale0 L/(2 s p1)], [same, -scale1 L s/(2 p1)]]
    /// (derivation in docs/pricing.md); out of range the amounts are constant and the Hessian is zero.
    ///
    /// # Errors
    /// Missing or invalid prices.
    pub fn greeks(&self, market: &MarketState) -> Result<Greeks, PricingError> {
        let s0 = market.spot_usd(self.token0.underlying)?;
        let g0 = market.peg_ratio(self.token0.peg)?;
        let s1 = market.spot_usd(self.token1.underlying)?;
        let g1 = market.peg_ratio(self.token1.peg)?;
        let (p0, p1) = (s0 * g0, s1 * g1);
        let (x, y) = self.amounts_at(p0, p1);
        let s = ((p0 * self.scale0) / (p1 * self.scale1)).sqrt();
        let mut h = [[0.0; MAX_LEGS]; MAX_LEGS];
        if s > self.sqrt_price_lower && s < self.sqrt_price_upper {
            // x_raw = L (1/s - 1/sb) with s^2 = P = p0 scale0 / (p1 scale1):
            // dx/dp0 = -scale0 L / (2 s p0), dx/dp1 = scale0 L / (2 s p1) = dy/dp0, dy/dp1 = -scale1 L s / (2 p1).
            let l = self.liquidity;
            h[0][0] = -self.scale0 * l / (2.0 * s * p0);
            h[0][1] = self.scale0 * l / (2.0 * s * p1);
            h[1][0] = h[0][1];
            h[1][1] = -self.scale1 * l * s / (2.0 * p1);
        }
        let mut g = Greeks { value_usd: x * p0 + y * p1, ..Greeks::default() };
        project(&mut g, &[self.token0, self.token1], &[s0, s1], &[g0, g1], &[x, y], &h);
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::exact::*;
    use ruint::aliases::U256;

    #[test]
    fn tick_zero_is_q96() {
        assert_eq!(get_sqrt_ratio_at_tick(0).unwrap(), q96());
    }

    #[test]
    fn published_bounds() {
        assert_eq!(get_sqrt_ratio_at_tick(MIN_TICK).unwrap(), min_sqrt_ratio());
        assert_eq!(get_sqrt_ratio_at_tick(MAX_TICK).unwrap().to_string(), "1461446703485210103287273052203988822378723970342");
        assert!(get_sqrt_ratio_at_tick(MAX_TICK + 1).is_err());
        assert!(get_sqrt_ratio_at_tick(MIN_TICK - 1).is_err());
    }

    #[test]
    fn tick_at_ratio_bounds() {
        assert_eq!(get_tick_at_sqrt_ratio(min_sqrt_ratio()).unwrap(), MIN_TICK);
        assert_eq!(get_tick_at_sqrt_ratio(max_sqrt_ratio() - U256::from(1u8)).unwrap(), MAX_TICK - 1);
        assert_eq!(get_tick_at_sqrt_ratio(q96()).unwrap(), 0);
        assert_eq!(get_tick_at_sqrt_ratio(q96() + U256::from(1u8)).unwrap(), 0);
        assert_eq!(get_tick_at_sqrt_ratio(q96() - U256::from(1u8)).unwrap(), -1);
        assert!(get_tick_at_sqrt_ratio(min_sqrt_ratio() - U256::from(1u8)).is_err());
    }
}
