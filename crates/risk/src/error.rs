//! The one error type of the risk crate.

use thiserror::Error;

/// Everything that stops a margin computation, named for what the caller got wrong.
#[derive(Debug, Error)]
pub enum RiskError {
    /// The risk parameter file is not valid.
    #[error("risk parameters invalid: {problem}")]
    ParamsInvalid { problem: String },
    /// The portfolio file is not valid TOML or has an unknown key.
    #[error("portfolio is not valid: {problem}")]
    PortfolioInvalid { problem: String },
    /// A portfolio names something the configuration does not declare.
    #[error("portfolio `{portfolio}`: {what} `{name}` is not in the configuration")]
    UnknownReference { portfolio: String, what: &'static str, name: String },
    /// A decimal string could not be read.
    #[error("`{key}`: {text:?} is not a decimal number")]
    BadNumber { key: String, text: String },
    /// A number lies outside its documented bounds.
    #[error("`{key}` = {value} is outside its bounds [{min}, {max}]")]
    OutOfBounds { key: String, value: f64, min: f64, max: f64 },
    /// The as-of instant is before a protocol the book uses was launched.
    #[error("as-of {as_of} is before {protocol} was launched ({launched})")]
    BeforeLaunch { protocol: String, launched: String, as_of: String },
    /// The as-of instant is before the first observation of an underlying's own price.
    #[error("as-of {as_of} is before the first observed price of {underlying} ({first}); earlier levels are proxies")]
    BeforeFirstObservation { underlying: String, first: String, as_of: String },
    /// A debt in an asset on a venue that does not lend it.
    #[error("{asset} cannot be owed on {venue}: {why}")]
    NotLent { asset: String, venue: String, why: String },
    /// A portfolio has more positions than allowed.
    #[error("portfolio has {count} positions, balances and pools; the limit is {limit}")]
    TooManyPositions { count: usize, limit: usize },
    /// An instrument needs market data that is neither in the history nor in the overrides.
    #[error("no market data for {what}: {hint}")]
    MarketDataMissing { what: String, hint: String },
    /// An asset of a pegged kind names no peg source (`[peg_sources]` in the risk parameters), or a
    /// source that does not resolve to a peg history.
    #[error("peg of {asset}: {problem}; name its own peg factor or an explicit proxy with its reason in [peg_sources]")]
    PegSource { asset: String, problem: String },
    /// More underlyings, pegs or outcomes than the pricing market state holds.
    #[error("too many {what}: {count} (capacity {capacity})")]
    CapacityExceeded { what: &'static str, count: usize, capacity: usize },
    /// A date (portfolio `as_of`, a command-line date) is malformed or impossible; the inner
    /// `MarketDataError::InvalidDate` names the value and where it came from.
    #[error(transparent)]
    InvalidDate(marketdata::MarketDataError),
    /// Valuation failed (pricing crate).
    #[error("valuation of `{instrument}` failed in scenario `{scenario}`: {source}")]
    Valuation { instrument: String, scenario: String, source: pricing::PricingError },
    /// The market-data layer failed.
    #[error("market data: {0}")]
    MarketData(#[from] marketdata::MarketDataError),
    /// The as-of instant is outside the available history.
    #[error("as-of {as_of} is outside the market history {start} .. {end}")]
    AsOfOutsideHistory { as_of: String, start: String, end: String },
    /// The market-data directory is missing or unreadable (never replaced silently).
    #[error("market data unavailable: {reason}; {hint}")]
    MarketDataUnavailable { reason: String, hint: String },
    /// The integer risk model cannot be built from the f64 engine (a value does not fit, an id
    /// repeats) or is not in the model.
    #[error("risk model: {problem}")]
    RiskModelInvalid { problem: String },
    /// The backtest was asked for an empty or inverted range.
    #[error("backtest range {from} .. {to} is empty or outside the history")]
    BacktestRange { from: String, to: String },
}
