//! The one error type of the router crate.

use thiserror::Error;

/// Everything that can stop a quote, a route, a schedule or a hedge, in the caller's terms.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RouterError {
    /// The venue file could not be parsed (TOML syntax, a missing or unknown key, a wrong type).
    #[error("venue configuration: {0}")]
    ConfigParse(String),
    /// A configuration value is out of its domain.
    #[error("venue configuration: {field} = {value}: {reason}")]
    ConfigInvalid { field: String, value: String, reason: &'static str },
    /// A token symbol that no `[[token]]` entry declares.
    #[error("unknown token {symbol:?}")]
    UnknownToken { symbol: String },
    /// A venue id that the configuration does not hold.
    #[error("unknown venue {id:?}")]
    UnknownVenue { id: String },
    /// The venue does not trade this pair.
    #[error("venue {venue} does not trade {from} -> {to}")]
    PairNotTraded { venue: String, from: String, to: String },
    /// No venue or path connects the two tokens.
    #[error("no route from {from} to {to}")]
    NoRoute { from: String, to: String },
    /// An input amount that is zero, negative or too large for the venue's integers.
    #[error("amount {amount} is invalid: {reason}")]
    AmountInvalid { amount: i128, reason: &'static str },
    /// The venue cannot absorb the whole input (its liquidity or book runs out first).
    #[error("venue {venue} cannot absorb {requested} (at most {available})")]
    InsufficientLiquidity { venue: String, requested: i128, available: i128 },
    /// The exact contract arithmetic reverted.
    #[error("venue {venue}: {source}")]
    Contract { venue: String, source: pricing::PricingError },
    /// Exact money arithmetic failed (overflow, decimals).
    #[error("amount arithmetic: {0}")]
    Money(#[from] money::MoneyError),
    /// A numerical search did not converge within its iteration cap.
    #[error("{solver} did not converge after {iterations} iterations")]
    NoConvergence { solver: &'static str, iterations: u32 },
    /// A limit of the request or configuration was exceeded (slices, venues, hedge cost).
    #[error("limit exceeded: {what} is {value}, the limit is {limit}")]
    LimitExceeded { what: &'static str, value: String, limit: String },
    /// A parameter of a request is out of its domain.
    #[error("parameter {name} = {value}: {reason}")]
    ParameterInvalid { name: &'static str, value: String, reason: &'static str },
}
