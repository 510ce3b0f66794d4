//! A Uniswap v3 pool with tick crossing over `pricing::uniswap_v3_pool` (the contract's swap loop).

use super::{TokenId, Venue, VenueKind, check_limit_price, contract, pair_not_traded, positive_input, to_amount, u256_to_f64};
use crate::error::RouterError;
use money::Amount;
use pricing::uniswap_v3::exact::{get_sqrt_ratio_at_tick, q96};
use pricing::uniswap_v3_pool::Pool;
use ruint::aliases::U256;

/// Liquidity between two ticks, as minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3Position {
    /// Lower tick (on the spacing).
    pub tick_lower: i32,
    /// Upper tick (on the spacing).
    pub tick_upper: i32,
    /// Liquidity L.
    pub liquidity: u128,
}

/// A v3 pool: exact-input swaps to the extreme price limit; the whole input must be absorbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniswapV3Venue {
    /// Configured id.
    pub id: String,
    /// Token 0 and token 1 (the pool's sort order; the price is token1 per token0).
    pub tokens: [TokenId; 2],
    /// The pool's swap state.
    pub pool: Pool,
}

impl UniswapV3Venue {
    /// A pool initialized at `sqrt_price_x96` with the given positions minted.
    ///
    /// # Errors
    /// `ConfigInvalid` for equal tokens; the contract's revert for a bad price, fee tier or position.
    pub fn new(
        id: &str,
        tokens: [TokenId; 2],
        sqrt_price_x96: U256,
        fee_pips: u32,
        tick_spacing: i32,
        positions: &[V3Position],
    ) -> Result<Self, RouterError> {
        if tokens[0] == tokens[1] {
            return Err(RouterError::ConfigInvalid {
                field: format!("{id}.tokens"),
                value: format!("{tokens:?}"),
                reason: "tokens must differ",
            });
        }
        let mut pool = Pool::initialize(sqrt_price_x96, fee_pips, tick_spacing).map_err(contract(id))?;
        for p in positions {
            pool.add_liquidity(p.tick_lower, p.tick_upper, p.liquidity).map_err(contract(id))?;
        }
        Ok(UniswapV3Venue { id: id.to_string(), tokens, pool })
    }

    /// zero_for_one for a direction, or `PairNotTraded`.
    fn zero_for_one(&self, from: TokenId, to: TokenId) -> Result<bool, RouterError> {
        match (from, to) {
            (f, t) if f == self.tokens[0] && t == self.tokens[1] => Ok(true),
            (f, t) if f == self.tokens[1] && t == self.tokens[0] => Ok(false),
            _ => Err(pair_not_traded(&self.id, from, to)),
        }
    }

    fn fee_keep(&self) -> f64 {
        1.0 - f64::from(self.pool.fee_pips) / 1e6
    }

    fn swap(&self, pool: &mut Pool, zero_for_one: bool, amount_in: Amount) -> Result<Amount, RouterError> {
        let input = positive_input(amount_in)?;
        let outcome = pool.swap_exact_input(zero_for_one, input, Pool::extreme_price_limit(zero_for_one)).map_err(contract(&self.id))?;
        if outcome.amount_in != input {
            return Err(RouterError::InsufficientLiquidity {
                venue: self.id.clone(),
                requested: amount_in.0,
                available: to_amount(outcome.amount_in)?.0,
            });
        }
        to_amount(outcome.amount_out)
    }

    /// Input (f64 raw units, fee included) to move the sqrt price from `s` to `target` within liquidity
    /// `l`, in the direction of the swap.
    fn range_input(&self, zero_for_one: bool, l: f64, s: f64, target: f64) -> f64 {
        let gross = if zero_for_one { l * (1.0 / target - 1.0 / s) } else { l * (target - s) };
        gross / self.fee_keep()
    }

    /// Walk the initialized ticks from the current price to the sqrt price `target` (f64, sqrt of raw
    /// token1 per raw token0), summing the input needed; stops where liquidity ends.
    fn input_to_sqrt_price(&self, zero_for_one: bool, target: f64) -> f64 {
        let q = u256_to_f64(q96());
        let mut s = u256_to_f64(self.pool.sqrt_price_x96) / q;
        let mut liquidity = self.pool.liquidity as f64;
        let mut total = 0.0;
        let ticks: Box<dyn Iterator<Item = _>> = if zero_for_one {
            Box::new(self.pool.ticks.range(..=self.pool.tick).rev())
        } else {
            Box::new(self.pool.ticks.range(self.pool.tick + 1..))
        };
        for (&tick, info) in ticks {
            let s_tick = get_sqrt_ratio_at_tick(tick).map(|v| u256_to_f64(v) / q).unwrap_or(target);
            let reached = if zero_for_one { s_tick <= target } else { s_tick >= target };
            if reached {
                break;
            }
            total += self.range_input(zero_for_one, liquidity, s, s_tick);
            let net = if zero_for_one { -(info.net as f64) } else { info.net as f64 };
            liquidity = (liquidity + net).max(0.0);
            s = s_tick;
        }
        total + self.range_input(zero_for_one, liquidity, s, target)
    }
}

impl Venue for UniswapV3Venue {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> VenueKind {
        VenueKind::UniswapV3
    }

    fn fee_bps(&self) -> f64 {
        f64::from(self.pool.fee_pips) / 100.0
    }

    fn trades(&self, from: TokenId, to: TokenId) -> bool {
        self.zero_for_one(from, to).is_ok()
    }

    fn quote(&self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let zero_for_one = self.zero_for_one(from, to)?;
        let mut pool = self.pool.clone();
        self.swap(&mut pool, zero_for_one, amount_in)
    }

    fn execute(&mut self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let zero_for_one = self.zero_for_one(from, to)?;
        let mut pool = self.pool.clone();
        let out = self.swap(&mut pool, zero_for_one, amount_in)?;
        self.pool = pool;
        Ok(out)
    }

    /// (1 - fee) P for token0 in, (1 - fee) / P for token1 in, P = (sqrtPriceX96 / 2^96)^2.
    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError> {
        let zero_for_one = self.zero_for_one(from, to)?;
        if self.pool.liquidity == 0 {
            return Err(RouterError::InsufficientLiquidity { venue: self.id.clone(), requested: 1, available: 0 });
        }
        let s = u256_to_f64(self.pool.sqrt_price_x96) / u256_to_f64(q96());
        let price = s * s;
        Ok(if zero_for_one { self.fee_keep() * price } else { self.fee_keep() / price })
    }

    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError> {
        let zero_for_one = self.zero_for_one(from, to)?;
        // Everything the initialized ranges hold in the output token; a little less, so that rounding per
        // step never makes the bound unreachable.
        let last = if zero_for_one { self.pool.ticks.keys().next() } else { self.pool.ticks.keys().next_back() };
        let Some(&edge) = last else { return Ok(Amount::ZERO) };
        let q = u256_to_f64(q96());
        let s_edge = get_sqrt_ratio_at_tick(edge).map(|v| u256_to_f64(v) / q).map_err(contract(&self.id))?;
        let input = self.input_to_sqrt_price(zero_for_one, s_edge) * (1.0 - 1e-9);
        Ok(Amount(input.max(0.0).floor() as i128))
    }

    /// Closed form per range: the marginal price m needs sqrt price sqrt(m / (1 - fee)) (token0 in) or
    /// sqrt((1 - fee) / m) (token1 in); the input is L (1/s' - 1/s) or L (s' - s), over (1 - fee), summed
    /// over the ranges crossed.
    fn depth_to_price(&self, from: TokenId, to: TokenId, limit_price: f64) -> Result<Amount, RouterError> {
        check_limit_price(limit_price)?;
        let zero_for_one = self.zero_for_one(from, to)?;
        if self.pool.liquidity == 0 || self.marginal_price(from, to)? <= limit_price {
            return Ok(Amount::ZERO);
        }
        let target = if zero_for_one { (limit_price / self.fee_keep()).sqrt() } else { (self.fee_keep() / limit_price).sqrt() };
        let input = self.input_to_sqrt_price(zero_for_one, target);
        let max = self.max_input(from, to)?.0;
        Ok(Amount((input.max(0.0).floor() as i128).min(max)))
    }
}
