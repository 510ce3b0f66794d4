//! Venue models behind one trait.
//!
//! A venue turns an exact integer input of one token into an exact integer output of another (or, for
//! a lending venue, a borrow into the amount repaid). Every model is pure: `quote` never changes the
//! venue, `execute` applies exactly what `quote` returned, and the AMM models reuse the contracts'
//! integer math in `pricing` (no second copy of a formula). Marginal prices and depths are f64 and
//! steer the optimiser only; amounts that reach a caller are always integers from `quote`.

mod curve;
mod lending;
mod order_book;
mod uniswap_v2;
mod uniswap_v3;

pub use curve::CurveStableSwap;
pub use lending::{LendingVenue, RateCurve};
pub use order_book::{BookLevel, BookSide, Instrument, OrderBookVenue};
pub use uniswap_v2::UniswapV2Pair;
pub use uniswap_v3::{UniswapV3Venue, V3Position};

use crate::error::RouterError;
use money::Amount;
use ruint::aliases::U256;

/// Index of a token in the configuration's token table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(pub u16);

/// Which mechanism a venue runs (for reports and for hedging, which may use perps but never routes
/// spot swaps through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueKind {
    /// Uniswap v2 constant-product pair.
    UniswapV2,
    /// Uniswap v3 concentrated-liquidity pool.
    UniswapV3,
    /// Curve StableSwap pool.
    CurveStableSwap,
    /// A central limit order book with a taker fee.
    OrderBook(Instrument),
    /// A lending reserve on a utilisation rate curve.
    Lending,
}

/// Iteration cap of the generic depth search (bisection on the input; 2^-100 of the range is far below
/// one raw unit of any configured pool).
pub const DEPTH_BISECTION_STEPS: u32 = 100;

/// The interface the router needs from any venue.
pub trait Venue: std::fmt::Debug {
    /// The venue's configured id.
    fn id(&self) -> &str;

    /// The venue's mechanism.
    fn kind(&self) -> VenueKind;

    /// Whether the venue converts `from` into `to`.
    fn trades(&self, from: TokenId, to: TokenId) -> bool;

    /// Exact output for an exact input, without changing the venue.
    ///
    /// # Errors
    /// `PairNotTraded`, `AmountInvalid`, `InsufficientLiquidity`, or the contract's revert.
    fn quote(&self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError>;

    /// Apply the trade `quote` prices; returns the same output.
    ///
    /// # Errors
    /// As `quote`; on error the venue is unchanged.
    fn execute(&mut self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError>;

    /// Output per unit of input at vanishing size, net of fees (raw units of `to` per raw unit of `from`).
    ///
    /// # Errors
    /// `PairNotTraded`, or the venue has no liquidity on this side.
    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError>;

    /// The venue's proportional fee on the input, in basis points (for the cost breakdown).
    fn fee_bps(&self) -> f64;

    /// The largest input this venue absorbs in full (an upper bound for searches).
    ///
    /// # Errors
    /// `PairNotTraded`.
    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError>;

    /// The input that brings the marginal price net of fees down to `limit_price` (0 if it is already
    /// there or below; `max_input` if the venue cannot get that low). The default searches on `quote`;
    /// venues with a closed form override it.
    ///
    /// # Errors
    /// `PairNotTraded`, `ParameterInvalid` for a non-positive limit.
    fn depth_to_price(&self, from: TokenId, to: TokenId, limit_price: f64) -> Result<Amount, RouterError> {
        depth_by_bisection(self, from, to, limit_price)
    }
}

/// Marginal price after an input of `a`, from two exact quotes a small step apart.
fn marginal_after<V: Venue + ?Sized>(venue: &V, from: TokenId, to: TokenId, a: i128, max: i128) -> Option<f64> {
    slope(venue, from, to, a, (a + marginal_step(a)).min(max))
}

/// The step of a marginal price around an input of `a`: a millionth of it, at least 1,000 units.
fn marginal_step(a: i128) -> i128 {
    (a / 1_000_000).max(1_000)
}

/// Output per unit of input between inputs `lo < hi`, from two exact quotes (none if `hi <= lo`
/// or a quote fails).
fn slope<V: Venue + ?Sized>(venue: &V, from: TokenId, to: TokenId, lo: i128, hi: i128) -> Option<f64> {
    if hi <= lo {
        return None;
    }
    let out = |x: i128| if x == 0 { Some(0) } else { venue.quote(from, to, Amount(x)).ok().map(|o| o.0) };
    Some((out(hi)? - out(lo)?) as f64 / (hi - lo) as f64)
}

/// The marginal price of the last units of an input of `amount_in` (the step before it ends,
/// from two exact quotes): the price the order's worst units trade at. Unlike the price after
/// the order, it exists when the order takes all a venue has (a book swept to its last level).
#[must_use]
pub fn marginal_price_at_end<V: Venue + ?Sized>(venue: &V, from: TokenId, to: TokenId, amount_in: Amount) -> f64 {
    let a = amount_in.0;
    slope(venue, from, to, a - marginal_step(a).min(a), a).unwrap_or(0.0)
}

/// Bisection on the input for the marginal price `limit_price`, using exact quotes.
///
/// # Errors
/// As `depth_to_price`.
pub fn depth_by_bisection<V: Venue + ?Sized>(venue: &V, from: TokenId, to: TokenId, limit_price: f64) -> Result<Amount, RouterError> {
    check_limit_price(limit_price)?;
    if venue.marginal_price(from, to)? <= limit_price {
        return Ok(Amount::ZERO);
    }
    let max = venue.max_input(from, to)?.0;
    let (mut lo, mut hi) = (0i128, max);
    for _ in 0..DEPTH_BISECTION_STEPS {
        if hi - lo <= 1 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        match marginal_after(venue, from, to, mid, max) {
            Some(m) if m > limit_price => lo = mid,
            _ => hi = mid,
        }
    }
    Ok(Amount(lo))
}

/// A limit price must be a positive finite number.
///
/// # Errors
/// `ParameterInvalid`.
pub fn check_limit_price(limit_price: f64) -> Result<(), RouterError> {
    if limit_price > 0.0 && limit_price.is_finite() {
        Ok(())
    } else {
        Err(RouterError::ParameterInvalid { name: "limit_price", value: limit_price.to_string(), reason: "must be positive and finite" })
    }
}

/// A trade input must be positive.
///
/// # Errors
/// `AmountInvalid`.
pub fn positive_input(amount_in: Amount) -> Result<U256, RouterError> {
    if amount_in.0 <= 0 {
        return Err(RouterError::AmountInvalid { amount: amount_in.0, reason: "an input must be positive" });
    }
    Ok(U256::from(amount_in.0.unsigned_abs()))
}

/// A contract output back into an amount.
///
/// # Errors
/// `AmountInvalid` if it does not fit in an i128.
pub fn to_amount(value: U256) -> Result<Amount, RouterError> {
    let units: u128 = value.try_into().map_err(|_| RouterError::AmountInvalid { amount: i128::MAX, reason: "output exceeds i128" })?;
    i128::try_from(units).map(Amount).map_err(|_| RouterError::AmountInvalid { amount: i128::MAX, reason: "output exceeds i128" })
}

/// A U256 as f64 (rounded; for marginal prices only).
#[must_use]
pub fn u256_to_f64(value: U256) -> f64 {
    value.as_limbs().iter().rev().fold(0.0, |acc, &limb| acc * 18_446_744_073_709_551_616.0 + limb as f64)
}

/// The error for a pair a venue does not trade.
#[must_use]
pub fn pair_not_traded(venue: &str, from: TokenId, to: TokenId) -> RouterError {
    RouterError::PairNotTraded { venue: venue.to_string(), from: format!("token #{}", from.0), to: format!("token #{}", to.0) }
}

/// Wrap a contract revert with the venue's id.
pub fn contract(venue: &str) -> impl Fn(pricing::PricingError) -> RouterError + '_ {
    move |source| RouterError::Contract { venue: venue.to_string(), source }
}

/// The marginal price net of fees after an input of `amount_in` (from two exact quotes a small step
/// apart; 0 if the venue cannot take more).
#[must_use]
pub fn marginal_price_after<V: Venue + ?Sized>(venue: &V, from: TokenId, to: TokenId, amount_in: Amount) -> f64 {
    let max = venue.max_input(from, to).map_or(0, |a| a.0);
    marginal_after(venue, from, to, amount_in.0, max).unwrap_or(0.0)
}
