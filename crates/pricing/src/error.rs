//! The one error type of the pricing crate.

use thiserror::Error;

/// Everything that can stop a valuation, named for what the caller got wrong or what the model cannot do.
///
/// The enum is `Copy` and carries only numbers so that returning it from the hot path costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum PricingError {
    /// A factor id points past the fixed capacity of the market state.
    #[error("{kind} id {id} is outside the market state's capacity of {capacity}")]
    FactorIdOutOfRange { kind: FactorKind, id: u16, capacity: usize },
    /// The market state has no value for a factor the instrument needs.
    #[error("market state has no value for {kind} id {id}")]
    FactorMissing { kind: FactorKind, id: u16 },
    /// A factor value is not a finite number in its allowed range (prices > 0, probabilities in [0, 1], ...).
    #[error("{kind} id {id} has invalid value {value}")]
    FactorInvalid { kind: FactorKind, id: u16, value: f64 },
    /// The par peg (id 0, fixed at 1.0) or the USD numeraire (id 0, fixed at 1.0) cannot be changed.
    #[error("{kind} id 0 is the fixed unit and cannot be set or shocked")]
    FixedUnitImmutable { kind: FactorKind },
    /// An instrument parameter is out of its domain (negative strike, empty range, zero supply, ...).
    #[error("instrument parameter {name} has invalid value {value}")]
    InstrumentInvalid { name: &'static str, value: f64 },
    /// No volatility reproduces the given option price because it lies outside the no-arbitrage bounds.
    #[error("no implied volatility: price {price_usd} is outside the no-arbitrage bounds [{lower_usd}, {upper_usd}]")]
    ImpliedVolOutOfBounds { price_usd: f64, lower_usd: f64, upper_usd: f64 },
    /// The implied-volatility solver failed to converge within its iteration limit.
    #[error("implied volatility did not converge after {iterations} iterations (last residual {residual_usd})")]
    ImpliedVolNoConvergence { iterations: u32, residual_usd: f64 },
    /// A volatility surface was built with inconsistent axes.
    #[error("volatility surface invalid: {reason} (at index {index}, value {value})")]
    VolSurfaceInvalid { reason: &'static str, index: usize, value: f64 },
    /// The underlying has no volatility surface although an option on it is being valued.
    #[error("no volatility surface for underlying {underlying}")]
    VolSurfaceMissing { underlying: u16 },
    /// A Uniswap v3 tick lies outside [MIN_TICK, MAX_TICK].
    #[error("tick {tick} outside [-887272, 887272]")]
    TickOutOfRange { tick: i32 },
    /// A Uniswap v3 sqrt price lies outside [MIN_SQRT_RATIO, MAX_SQRT_RATIO).
    #[error("sqrt price outside [MIN_SQRT_RATIO, MAX_SQRT_RATIO)")]
    SqrtPriceOutOfRange,
    /// An integer computation that the contract would revert on (overflow, division by zero, empty reserves).
    #[error("integer arithmetic would revert in the contract: {operation}")]
    ContractRevert { operation: &'static str },
    /// An iterative solver (Curve D, get_y, pool equilibrium) did not converge within its iteration limit.
    #[error("{solver} did not converge after {iterations} iterations")]
    NoConvergence { solver: &'static str, iterations: u32 },
}

/// Which family of market factors an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    /// Spot price of an underlying in USD.
    Spot,
    /// Peg ratio of a wrapped/synthetic asset to its underlying.
    Peg,
    /// Implied volatility of an underlying.
    Vol,
    /// Outcome probability of a prediction market.
    Outcome,
    /// Lending reserve (Aave-style index state).
    Reserve,
    /// Staking exchange rate.
    Stake,
    /// A scalar factor (rate, time).
    Scalar,
}

impl core::fmt::Display for FactorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            FactorKind::Spot => "spot",
            FactorKind::Peg => "peg",
            FactorKind::Vol => "vol",
            FactorKind::Outcome => "outcome",
            FactorKind::Reserve => "reserve",
            FactorKind::Stake => "stake",
            FactorKind::Scalar => "scalar",
        };
        f.write_str(name)
    }
}
