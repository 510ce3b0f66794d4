//! Uniswap v2 constant-product pools.
//!
//! Two layers:
//! - `exact`: the contract's integer arithmetic in 256 bits (`UniswapV2Library.getAmountOut`/`getAmountIn`
//!   and the pair's fee-adjusted k check), bit-for-bit, so that a venue model can reuse it;
//! - `UniswapV2Lp`: the f64 valuation of an LP share at the pool's arbitrage equilibrium under external
//!   prices, with its delta, gamma and impermanent loss.

use crate::error::PricingError;
use crate::greeks::{Greeks, MAX_LEGS, project};
use crate::market::{Asset, MarketState};

/// Integer-exact contract math (uint256 semantics: every overflow or underflow is a revert).
pub mod exact {
    use crate::error::PricingError;
    use ruint::aliases::U256;

    fn revert(operation: &'static str) -> PricingError {
        PricingError::ContractRevert { operation }
    }

    fn mul(a: U256, b: U256) -> Result<U256, PricingError> {
        a.checked_mul(b).ok_or(revert("ds-math-mul-overflow"))
    }

    fn add(a: U256, b: U256) -> Result<U256, PricingError> {
        a.checked_add(b).ok_or(revert("ds-math-add-overflow"))
    }

    fn sub(a: U256, b: U256) -> Result<U256, PricingError> {
        a.checked_sub(b).ok_or(revert("ds-math-sub-underflow"))
    }

    /// `UniswapV2Library.getAmountOut`: output for `amount_in` after the 0.3% fee, rounded down.
    ///
    /// # Errors
    /// `ContractRevert` for zero input, zero reserves or overflow, as the library reverts.
    pub fn get_amount_out(amount_in: U256, reserve_in: U256, reserve_out: U256) -> Result<U256, PricingError> {
        if amount_in.is_zero() {
            return Err(revert("UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT"));
        }
        if reserve_in.is_zero() || reserve_out.is_zero() {
            return Err(revert("UniswapV2Library: INSUFFICIENT_LIQUIDITY"));
        }
        let amount_in_with_fee = mul(amount_in, U256::from(997u64))?;
        let numerator = mul(amount_in_with_fee, reserve_out)?;
        let denominator = add(mul(reserve_in, U256::from(1000u64))?, amount_in_with_fee)?;
        Ok(numerator / denominator)
    }

    /// `UniswapV2Library.getAmountIn`: input needed to receive `amount_out`, rounded up (+1).
    ///
    /// # Errors
    /// `ContractRevert` for zero output, zero reserves, output >= reserve, or overflow.
    pub fn get_amount_in(amount_out: U256, reserve_in: U256, reserve_out: U256) -> Result<U256, PricingError> {
        if amount_out.is_zero() {
            return Err(revert("UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT"));
        }
        if reserve_in.is_zero() || reserve_out.is_zero() {
            return Err(revert("UniswapV2Library: INSUFFICIENT_LIQUIDITY"));
        }
        let numerator = mul(mul(reserve_in, amount_out)?, U256::from(1000u64))?;
        let denominator = mul(sub(reserve_out, amount_out)?, U256::from(997u64))?;
        if denominator.is_zero() {
            return Err(revert("division by zero"));
        }
        add(numerator / denominator, U256::from(1u64))
    }

    /// The pair contract's invariant check after a swap:
    /// `(balance0*1000 - amount0In*3) * (balance1*1000 - amount1In*3) >= reserve0*reserve1*1000^2`.
    ///
    /// # Errors
    /// `ContractRevert` on underflow/overflow, as the contract's SafeMath would.
    pub fn k_check(
        balance0: U256,
        balance1: U256,
        amount0_in: U256,
        amount1_in: U256,
        reserve0: U256,
        reserve1: U256,
    ) -> Result<bool, PricingError> {
        let thousand = U256::from(1000u64);
        let three = U256::from(3u64);
        let adjusted0 = sub(mul(balance0, thousand)?, mul(amount0_in, three)?)?;
        let adjusted1 = sub(mul(balance1, thousand)?, mul(amount1_in, three)?)?;
        let lhs = mul(adjusted0, adjusted1)?;
        let rhs = mul(mul(reserve0, reserve1)?, U256::from(1_000_000u64))?;
        Ok(lhs >= rhs)
    }

    /// Largest reserve the pair stores (uint112).
    pub fn max_reserve() -> U256 {
        (U256::from(1u64) << 112) - U256::from(1u64)
    }

    /// `UniswapV2Pair.swap` on reserves: the caller has already sent `amount0_in`/`amount1_in`, and asks
    /// for `amount0_out`/`amount1_out`. Returns the new reserves, or the revert the pair would raise.
    ///
    /// # Errors
    /// `ContractRevert` with the pair's reason string.
    pub fn swap(reserves: (U256, U256), amounts_in: (U256, U256), amounts_out: (U256, U256)) -> Result<(U256, U256), PricingError> {
        let (reserve0, reserve1) = reserves;
        let (amount0_out, amount1_out) = amounts_out;
        if amount0_out.is_zero() && amount1_out.is_zero() {
            return Err(revert("UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT"));
        }
        if amount0_out >= reserve0 || amount1_out >= reserve1 {
            return Err(revert("UniswapV2: INSUFFICIENT_LIQUIDITY"));
        }
        let balance0 = sub(add(reserve0, amounts_in.0)?, amount0_out)?;
        let balance1 = sub(add(reserve1, amounts_in.1)?, amount1_out)?;
        // The pair derives amountIn from balances, exactly: in = balance - (reserve - out) when positive.
        let amount0_in = if balance0 > reserve0 - amount0_out { balance0 - (reserve0 - amount0_out) } else { U256::ZERO };
        let amount1_in = if balance1 > reserve1 - amount1_out { balance1 - (reserve1 - amount1_out) } else { U256::ZERO };
        if amount0_in.is_zero() && amount1_in.is_zero() {
            return Err(revert("UniswapV2: INSUFFICIENT_INPUT_AMOUNT"));
        }
        if balance0 > max_reserve() || balance1 > max_reserve() {
            return Err(revert("UniswapV2: OVERFLOW"));
        }
        if !k_check(balance0, balance1, amount0_in, amount1_in, reserve0, reserve1)? {
            return Err(revert("UniswapV2: K"));
        }
        Ok((balance0, balance1))
    }
}

/// An LP share of a Uniswap v2 pool, valued at the pool's arbitrage equilibrium for external prices.
///
/// With k = x y (whole tokens) and S LP shares, the pool holds at external prices p0, p1 (USD):
/// x = sqrt(k p1 / p0), y = sqrt(k p0 / p1), worth 2 sqrt(k p0 p1). The pool's own spot price never enters.
/// Fees accrue into k over time; a snapshot's k is used as is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UniswapV2Lp {
    /// Token 0 of the pair.
    pub token0: Asset,
    /// Token 1 of the pair.
    pub token1: Asset,
    /// sqrt(k) / total supply: the geometric-mean reserve (whole tokens) behind one LP share.
    pub liquidity_per_share: f64,
}

impl UniswapV2Lp {
    /// From a snapshot of the pool's reserves (whole tokens) and its LP total supply (whole shares).
    ///
    /// # Errors
    /// `InstrumentInvalid` if a reserve or the supply is not positive and finite.
    pub fn from_reserves(token0: Asset, token1: Asset, reserve0: f64, reserve1: f64, total_supply: f64) -> Result<Self, PricingError> {
        for (name, value) in [("reserve0", reserve0), ("reserve1", reserve1), ("total_supply", total_supply)] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(PricingError::InstrumentInvalid { name, value });
            }
        }
        Ok(UniswapV2Lp { token0, token1, liquidity_per_share: (reserve0 * reserve1).sqrt() / total_supply })
    }

    /// Token claims (x, y) of one share at external prices (whole tokens).
    #[inline]
    #[must_use]
    pub fn claims_at(&self, price0_usd: f64, price1_usd: f64) -> (f64, f64) {
        let ratio = (price1_usd / price0_usd).sqrt();
        (self.liquidity_per_share * ratio, self.liquidity_per_share / ratio)
    }

    /// Fair value of one share, USD: 2 L sqrt(p0 p1).
    #[inline]
    #[must_use]
    pub fn value_at(&self, price0_usd: f64, price1_usd: f64) -> f64 {
        2.0 * self.liquidity_per_share * (price0_usd * price1_usd).sqrt()
    }

    /// Value in USD under a market state.
    ///
    /// # Errors
    /// Missing or invalid prices.
    #[inline]
    pub fn value(&self, market: &MarketState) -> Result<f64, PricingError> {
        let p0 = market.asset_price_usd(self.token0)?;
        let p1 = market.asset_price_usd(self.token1)?;
        Ok(self.value_at(p0, p1))
    }

    /// Value and sensitivities. In price space the gradient is the token claims (envelope theorem) and the
    /// Hessian is d(x, y)/d(p0, p1) = [[-x/(2 p0), L/(2 sqrt(p0 p1))], [L/(2 sqrt(p0 p1)), -y/(2 p1)]].
    ///
    /// # Errors
    /// Missing or invalid prices.
    pub fn greeks(&self, market: &MarketState) -> Result<Greeks, PricingError> {
        let s0 = market.spot_usd(self.token0.underlying)?;
        let g0 = market.peg_ratio(self.token0.peg)?;
        let s1 = market.spot_usd(self.token1.underlying)?;
        let g1 = market.peg_ratio(self.token1.peg)?;
        let (p0, p1) = (s0 * g0, s1 * g1);
        let (x, y) = self.claims_at(p0, p1);
        let cross = self.liquidity_per_share / (2.0 * (p0 * p1).sqrt());
        let mut h = [[0.0; MAX_LEGS]; MAX_LEGS];
        h[0][0] = -x / (2.0 * p0);
        h[0][1] = cross;
        h[1][0] = cross;
        h[1][1] = -y / (2.0 * p1);
        let mut g = Greeks { value_usd: self.value_at(p0, p1), ..Greeks::default() };
        project(&mut g, &[self.token0, self.token1], &[s0, s1], &[g0, g1], &[x, y], &h);
        Ok(g)
    }
}

/// Impermanent loss of a v2 position when the price of token 0 in token 1 changes by `price_ratio`
/// (new/old): LP value / value of holding the initial tokens - 1 = 2 sqrt(r) / (1 + r) - 1 (<= 0).
#[must_use]
pub fn impermanent_loss(price_ratio: f64) -> f64 {
    2.0 * price_ratio.sqrt() / (1.0 + price_ratio) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::UnderlyingId;

    #[test]
    fn impermanent_loss_textbook_points() {
        // Uniswap docs / Pintail: a 2x price move loses 5.72%, 5x loses 25.46%.
        assert!((impermanent_loss(2.0) - (-0.057_190_958)).abs() < 1e-8);
        assert!((impermanent_loss(5.0) - (-0.254_644_007)).abs() < 1e-8);
        assert_eq!(impermanent_loss(1.0), 0.0);
    }

    #[test]
    fn equilibrium_reserves_and_value() {
        let lp =
            UniswapV2Lp::from_reserves(Asset::native(UnderlyingId(1)), Asset::native(UnderlyingId::USD), 100.0, 200_000.0, 1.0).unwrap();
        // Pool is balanced at ETH = 2000; at 3000 the arbitraged pool holds sqrt(k/3000) ETH.
        let (x, y) = lp.claims_at(3000.0, 1.0);
        assert!((x - (2.0e7f64 / 3000.0).sqrt()).abs() < 1e-9);
        assert!((x * y - 2.0e7).abs() < 1e-6);
        assert!((lp.value_at(3000.0, 1.0) - (x * 3000.0 + y)).abs() < 1e-9);
    }
}
