//! A Uniswap v3 pool's swap loop with tick crossing, in the contract's integers.
//!
//! `UniswapV3Pool.swap` walks from the current price towards a limit in steps. Each step ends at the
//! next *initialized* tick within one 256-tick word of the tick bitmap (`TickBitmap.
//! nextInitializedTickWithinOneWord`), at the price limit, or where the input runs out; the step itself is
//! `SwapMath.computeSwapStep` (in [`crate::uniswap_v3::exact`]). Crossing an initialized tick adds its
//! `liquidityNet` (negated when moving down). Word boundaries matter for exactness: a step that stops at
//! an empty word's edge rounds separately, as the contract does.
//!
//! Only exact-input swaps are modelled (what a router quotes); fee growth and the protocol fee do not
//! change the amounts swapped and are not tracked.

use crate::error::PricingError;
use crate::uniswap_v3::exact::{
    MAX_TICK, MIN_TICK, compute_swap_step, get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio, max_sqrt_ratio, min_sqrt_ratio,
};
use ruint::aliases::U256;
use std::collections::BTreeMap;

/// Largest number of initialized ticks a pool model holds (a limit on what grows; real pools have a few
/// thousand).
pub const MAX_INITIALIZED_TICKS: usize = 65_536;

/// Largest number of steps one swap may take before the model gives up (each step crosses a word or a
/// tick; a full-range sweep at spacing 1 crosses at most 2 x 887,272 / 256 words, about 6,932).
pub const MAX_SWAP_STEPS: u32 = 20_000;

/// One initialized tick: `Tick.Info.liquidityGross` and `liquidityNet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickLiquidity {
    /// Total liquidity referencing the tick (the tick is initialized while this is > 0).
    pub gross: u128,
    /// Liquidity added when the price crosses the tick upwards.
    pub net: i128,
}

/// The state of a pool that determines swap amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// `slot0.sqrtPriceX96`.
    pub sqrt_price_x96: U256,
    /// `slot0.tick`.
    pub tick: i32,
    /// In-range liquidity.
    pub liquidity: u128,
    /// Fee in pips (hundredths of a basis point): 500, 3000, 10000.
    pub fee_pips: u32,
    /// Tick spacing of the fee tier (10, 60, 200).
    pub tick_spacing: i32,
    /// Initialized ticks.
    pub ticks: BTreeMap<i32, TickLiquidity>,
}

/// Result of an exact-input swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapOutcome {
    /// Input taken by the pool, fee included (less than asked only if the price limit was reached).
    pub amount_in: U256,
    /// Output paid by the pool.
    pub amount_out: U256,
    /// Fees charged on the input.
    pub fee_paid: U256,
    /// Number of initialized ticks crossed.
    pub ticks_crossed: u32,
}

fn revert(operation: &'static str) -> PricingError {
    PricingError::ContractRevert { operation }
}

impl Pool {
    /// A pool initialized at `sqrt_price_x96` with no liquidity (`UniswapV3Pool.initialize`).
    ///
    /// # Errors
    /// `SqrtPriceOutOfRange`, or `ContractRevert` for a tick spacing outside 1..=16384.
    pub fn initialize(sqrt_price_x96: U256, fee_pips: u32, tick_spacing: i32) -> Result<Self, PricingError> {
        if !(1..=16_384).contains(&tick_spacing) {
            return Err(revert("tick spacing must be in 1..=16384"));
        }
        let tick = get_tick_at_sqrt_ratio(sqrt_price_x96)?;
        Ok(Pool { sqrt_price_x96, tick, liquidity: 0, fee_pips, tick_spacing, ticks: BTreeMap::new() })
    }

    /// `UniswapV3Pool.mint`'s effect on the swap state: liquidity between two ticks.
    ///
    /// # Errors
    /// `ContractRevert` as the contract's `checkTicks` and tick spacing rules, zero liquidity, overflow
    /// or the tick limit.
    pub fn add_liquidity(&mut self, tick_lower: i32, tick_upper: i32, liquidity: u128) -> Result<(), PricingError> {
        if tick_lower >= tick_upper {
            return Err(revert("TLU"));
        }
        if tick_lower < MIN_TICK || tick_upper > MAX_TICK {
            return Err(revert("TLM/TUM"));
        }
        if tick_lower % self.tick_spacing != 0 || tick_upper % self.tick_spacing != 0 {
            return Err(revert("tick not on spacing"));
        }
        if liquidity == 0 {
            return Err(revert("mint amount must be > 0"));
        }
        let delta = i128::try_from(liquidity).map_err(|_| revert("liquidity exceeds int128"))?;
        if self.ticks.len() + 2 > MAX_INITIALIZED_TICKS {
            return Err(revert("initialized tick limit"));
        }
        self.update_tick(tick_lower, liquidity, delta)?;
        self.update_tick(tick_upper, liquidity, -delta)?;
        if (tick_lower..tick_upper).contains(&self.tick) {
            self.liquidity = self.liquidity.checked_add(liquidity).ok_or(revert("LA"))?;
        }
        Ok(())
    }

    fn update_tick(&mut self, tick: i32, gross: u128, net: i128) -> Result<(), PricingError> {
        let entry = self.ticks.entry(tick).or_insert(TickLiquidity { gross: 0, net: 0 });
        entry.gross = entry.gross.checked_add(gross).ok_or(revert("LO"))?;
        entry.net = entry.net.checked_add(net).ok_or(revert("liquidityNet overflow"))?;
        Ok(())
    }

    /// `TickBitmap.nextInitializedTickWithinOneWord` over the map of initialized ticks:
    /// (next tick, whether it is initialized).
    #[must_use]
    pub fn next_initialized_tick_within_one_word(&self, zero_for_one: bool) -> (i32, bool) {
        let spacing = self.tick_spacing;
        let compressed = self.tick.div_euclid(spacing);
        if zero_for_one {
            // Ticks at or below the current one, down to the start of the current word.
            let word_start = (compressed >> 8) << 8;
            let found = self.ticks.range(word_start * spacing..=compressed * spacing).next_back();
            match found {
                Some((&tick, _)) => (tick, true),
                None => (word_start * spacing, false),
            }
        } else {
            // Ticks strictly above, up to the end of the next compressed tick's word.
            let next = compressed + 1;
            let word_end = ((next >> 8) << 8) + 255;
            let found = self.ticks.range(next * spacing..=word_end * spacing).next();
            match found {
                Some((&tick, _)) => (tick, true),
                None => (word_end * spacing, false),
            }
        }
    }

    /// The price limit the contract accepts for a direction (`sqrtPriceLimitX96` must lie strictly
    /// between the current price and the bound of the whole tick range).
    #[must_use]
    pub fn extreme_price_limit(zero_for_one: bool) -> U256 {
        if zero_for_one { min_sqrt_ratio() + U256::from(1u8) } else { max_sqrt_ratio() - U256::from(1u8) }
    }

    /// `UniswapV3Pool.swap` with exact input `amount_in` (> 0) down to (`zero_for_one`) or up to
    /// `sqrt_price_limit_x96`, updating the pool's price, tick and liquidity.
    ///
    /// # Errors
    /// `ContractRevert` with the contract's reason (`AS`, `SPL`), on overflow, or `NoConvergence` past
    /// `MAX_SWAP_STEPS` (the state is then unchanged).
    pub fn swap_exact_input(
        &mut self,
        zero_for_one: bool,
        amount_in: U256,
        sqrt_price_limit_x96: U256,
    ) -> Result<SwapOutcome, PricingError> {
        let mut next = self.clone();
        let outcome = next.swap_in_place(zero_for_one, amount_in, sqrt_price_limit_x96)?;
        *self = next;
        Ok(outcome)
    }

    /// The same swap without changing the pool.
    ///
    /// # Errors
    /// As `swap_exact_input`.
    pub fn quote_exact_input(&self, zero_for_one: bool, amount_in: U256, sqrt_price_limit_x96: U256) -> Result<SwapOutcome, PricingError> {
        self.clone().swap_in_place(zero_for_one, amount_in, sqrt_price_limit_x96)
    }

    fn check_limit(&self, zero_for_one: bool, limit: U256) -> Result<(), PricingError> {
        let ok = if zero_for_one {
            limit < self.sqrt_price_x96 && limit > min_sqrt_ratio()
        } else {
            limit > self.sqrt_price_x96 && limit < max_sqrt_ratio()
        };
        if ok { Ok(()) } else { Err(revert("SPL")) }
    }

    fn swap_in_place(&mut self, zero_for_one: bool, amount_in: U256, limit: U256) -> Result<SwapOutcome, PricingError> {
        if amount_in.is_zero() {
            return Err(revert("AS"));
        }
        // The contract takes amountSpecified as int256.
        if amount_in >= (U256::from(1u8) << 255) {
            return Err(revert("amountSpecified exceeds int256"));
        }
        self.check_limit(zero_for_one, limit)?;
        let mut remaining = amount_in;
        let mut outcome = SwapOutcome { amount_in: U256::ZERO, amount_out: U256::ZERO, fee_paid: U256::ZERO, ticks_crossed: 0 };
        let mut steps = 0u32;
        while !remaining.is_zero() && self.sqrt_price_x96 != limit {
            steps += 1;
            if steps > MAX_SWAP_STEPS {
                return Err(PricingError::NoConvergence { solver: "uniswap v3 swap steps", iterations: MAX_SWAP_STEPS });
            }
            let taken = self.step(zero_for_one, remaining, limit, &mut outcome)?;
            remaining = remaining.checked_sub(taken).ok_or(revert("amountSpecifiedRemaining underflow"))?;
        }
        outcome.amount_in = amount_in - remaining;
        Ok(outcome)
    }

    /// One iteration of the swap loop; returns the input it consumed (fee included).
    fn step(&mut self, zero_for_one: bool, remaining: U256, limit: U256, outcome: &mut SwapOutcome) -> Result<U256, PricingError> {
        let start = self.sqrt_price_x96;
        let (tick_next, initialized) = self.next_initialized_tick_within_one_word(zero_for_one);
        let tick_next = tick_next.clamp(MIN_TICK, MAX_TICK);
        let sqrt_next = get_sqrt_ratio_at_tick(tick_next)?;
        let beyond_limit = if zero_for_one { sqrt_next < limit } else { sqrt_next > limit };
        let target = if beyond_limit { limit } else { sqrt_next };
        let s = compute_swap_step(start, target, self.liquidity, remaining, true, self.fee_pips)?;
        self.sqrt_price_x96 = s.sqrt_price_next_x96;
        outcome.amount_out = outcome.amount_out.checked_add(s.amount_out).ok_or(revert("amountCalculated overflow"))?;
        outcome.fee_paid = outcome.fee_paid.checked_add(s.fee_amount).ok_or(revert("fee overflow"))?;
        if self.sqrt_price_x96 == sqrt_next {
            if initialized {
                self.cross(tick_next, zero_for_one)?;
                outcome.ticks_crossed += 1;
            }
            self.tick = if zero_for_one { tick_next - 1 } else { tick_next };
        } else if self.sqrt_price_x96 != start {
            self.tick = get_tick_at_sqrt_ratio(self.sqrt_price_x96)?;
        }
        s.amount_in.checked_add(s.fee_amount).ok_or(revert("step input overflow"))
    }

    fn cross(&mut self, tick: i32, zero_for_one: bool) -> Result<(), PricingError> {
        let info = self.ticks.get(&tick).ok_or(revert("crossed tick is not initialized"))?;
        let net = if zero_for_one { info.net.checked_neg().ok_or(revert("liquidityNet overflow"))? } else { info.net };
        self.liquidity = if net < 0 {
            self.liquidity.checked_sub(net.unsigned_abs()).ok_or(revert("LS"))?
        } else {
            self.liquidity.checked_add(net.unsigned_abs()).ok_or(revert("LA"))?
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uniswap_v3::exact::{get_amount0_delta, get_amount1_delta, q96};

    fn pool_at_tick_zero(spacing: i32) -> Pool {
        Pool::initialize(q96(), 3000, spacing).unwrap()
    }

    #[test]
    fn word_boundaries_follow_the_bitmap() {
        let mut pool = pool_at_tick_zero(60);
        // Nothing initialized: the next tick up is the end of word 0 (compressed 255), down the start.
        assert_eq!(pool.next_initialized_tick_within_one_word(false), (255 * 60, false));
        assert_eq!(pool.next_initialized_tick_within_one_word(true), (0, false));
        pool.add_liquidity(-120, 600, 1_000_000).unwrap();
        assert_eq!(pool.next_initialized_tick_within_one_word(false), (600, true));
        // At tick 0 going down, tick 0 itself is "at or below" but not initialized; the word starts at 0.
        assert_eq!(pool.next_initialized_tick_within_one_word(true), (0, false));
        pool.tick = -1;
        // compressed -1 lies in word -1 (compressed -256..=-1), which holds -120 (compressed -2).
        assert_eq!(pool.next_initialized_tick_within_one_word(true), (-120, true));
    }

    #[test]
    fn swap_within_one_range_matches_the_closed_form() {
        let mut pool = pool_at_tick_zero(60);
        pool.add_liquidity(-6000, 6000, 10u128.pow(21)).unwrap();
        let amount_in = U256::from(10u64.pow(18));
        let out = pool.swap_exact_input(true, amount_in, Pool::extreme_price_limit(true)).unwrap();
        // Net input after the 0.3% fee moves sqrt P to L Q / (L + dx Q / Q) (amount0 rounding up); the output
        // is then getAmount1Delta between the two prices, rounded down.
        let net = amount_in * U256::from(997_000u64) / U256::from(1_000_000u64);
        assert_eq!(out.amount_in, amount_in);
        assert_eq!(out.fee_paid, amount_in - net);
        let expected_out = get_amount1_delta(pool.sqrt_price_x96, q96(), 10u128.pow(21), false).unwrap();
        assert_eq!(out.amount_out, expected_out);
        assert!(get_amount0_delta(pool.sqrt_price_x96, q96(), 10u128.pow(21), true).unwrap() <= net);
        assert_eq!(out.ticks_crossed, 0);
    }

    #[test]
    fn crossing_ticks_changes_liquidity_and_stops_at_the_limit() {
        let mut pool = pool_at_tick_zero(60);
        pool.add_liquidity(-600, 600, 10u128.pow(18)).unwrap();
        pool.add_liquidity(-1200, 1200, 10u128.pow(18)).unwrap();
        assert_eq!(pool.liquidity, 2 * 10u128.pow(18));
        let huge = U256::from(10u128.pow(30));
        let out = pool.swap_exact_input(true, huge, Pool::extreme_price_limit(true)).unwrap();
        // Both lower ticks are crossed; below -1200 there is no liquidity, so the price runs to the limit
        // and only part of the input is taken.
        assert_eq!(out.ticks_crossed, 2);
        assert_eq!(pool.liquidity, 0);
        assert!(out.amount_in < huge);
        assert_eq!(pool.sqrt_price_x96, Pool::extreme_price_limit(true));
        // Everything the two ranges held in token1 (rounded down per step) was paid out.
        let sqrt_600 = get_sqrt_ratio_at_tick(-600).unwrap();
        let sqrt_1200 = get_sqrt_ratio_at_tick(-1200).unwrap();
        let all = get_amount1_delta(sqrt_600, q96(), 2 * 10u128.pow(18), false).unwrap()
            + get_amount1_delta(sqrt_1200, sqrt_600, 10u128.pow(18), false).unwrap();
        assert!(out.amount_out <= all && all - out.amount_out <= U256::from(8u8), "{} vs {all}", out.amount_out);
    }

    #[test]
    fn bad_inputs_are_reverts_and_change_nothing() {
        let mut pool = pool_at_tick_zero(60);
        pool.add_liquidity(-600, 600, 10u128.pow(18)).unwrap();
        let before = pool.clone();
        assert!(pool.swap_exact_input(true, U256::ZERO, Pool::extreme_price_limit(true)).is_err());
        assert!(pool.swap_exact_input(true, U256::from(5u8), q96() + U256::from(1u8)).is_err());
        assert!(pool.add_liquidity(600, -600, 1).is_err());
        assert!(pool.add_liquidity(-601, 600, 1).is_err());
        assert_eq!(pool, before);
    }
}
