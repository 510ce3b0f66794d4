//! The crate's single error type.

use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong when loading market data or building scenarios from it.
#[derive(Debug, Error)]
pub enum MarketDataError {
    /// A configured price source cannot be used.
    #[error("price source of {symbol}: {problem}")]
    PriceSourceInvalid { symbol: String, problem: String },
    /// Neither `CLEARHOUSE_MARKET_DATA` nor a `shared/data/market` directory above the start dir exists.
    #[error(
        "market data directory not found (set CLEARHOUSE_MARKET_DATA or place it at ../shared/data/market); searched from {searched_from}"
    )]
    DataDirNotFound { searched_from: PathBuf },
    /// A data file could not be read.
    #[error("cannot read {file}: {reason}")]
    FileUnreadable { file: PathBuf, reason: String },
    /// A CSV file lacks a column this crate needs.
    #[error("{file}: missing column `{column}` in header")]
    MissingColumn { file: String, column: String },
    /// A CSV cell is not a finite number.
    #[error("{file}:{line}: cannot parse `{text}` in column `{column}`")]
    BadCell { file: String, line: usize, column: String, text: String },
    /// A date or timestamp is malformed or impossible (2023-02-31, month 13, hour 24); it is
    /// refused, never rolled over. `origin` names where it came from (file and line, flag, field).
    #[error("{origin}: {value:?} is not a valid date YYYY-MM-DD or whole-hour UTC time YYYY-MM-DDTHH:00:00Z: {reason}")]
    InvalidDate { origin: String, value: String, reason: String },
    /// A row has a different number of cells than the header.
    #[error("{file}:{line}: expected {expected} cells, found {found}")]
    RowWidth { file: String, line: usize, expected: usize, found: usize },
    /// Timestamps must strictly increase.
    #[error("{file}:{line}: timestamp {timestamp} is not after the previous row")]
    NonIncreasingTime { file: String, line: usize, timestamp: String },
    /// A file has more rows than the configured limit.
    #[error("{file}: more than {limit} rows")]
    TooManyRows { file: String, limit: usize },
    /// A price that must be positive (for a log price) is not.
    #[error("{file}:{line}: non-positive price {value}")]
    NonPositivePrice { file: String, line: usize, value: f64 },
    /// The named factor is not in the panel.
    #[error("unknown risk factor `{name}`")]
    UnknownFactor { name: String },
    /// A time lies outside the panel's grid.
    #[error("time {time} outside the panel grid [{grid_start}, {grid_end}]")]
    TimeOutsideGrid { time: String, grid_start: String, grid_end: String },
    /// Scenario parameters are invalid (zero margin period, lambda outside (0,1), ...).
    #[error("invalid parameter {name} = {value}: {why}")]
    InvalidParameter { name: &'static str, value: f64, why: &'static str },
    /// Too little history before the as-of time to build any scenario.
    #[error("no complete {mpor_hours}h window between {lookback_start} and {as_of}")]
    NoScenarioWindow { as_of: String, lookback_start: String, mpor_hours: i64 },
    /// The scenario set would exceed the configured limit.
    #[error("{count} scenarios exceed the limit of {limit}")]
    TooManyScenarios { count: usize, limit: usize },
    /// A factor has no usable observation at all, so no proxy can be anchored.
    #[error("factor `{factor}` has no observations to anchor a proxy")]
    NoAnchor { factor: String },
    /// The calibration file is missing or malformed.
    #[error("calibration: {reason}")]
    Calibration { reason: String },
    /// A statistics input is invalid (empty sample, probability outside (0,1), ...).
    #[error("statistics: invalid input {name} = {value}: {why}")]
    InvalidStatisticInput { name: &'static str, value: f64, why: &'static str },
    /// The calibration only holds stress moves for its own margin period.
    #[error("calibration has stress moves for a {calibrated_hours}h margin period, not {requested_hours}h; use the panel")]
    MporNotCalibrated { calibrated_hours: i64, requested_hours: i64 },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, MarketDataError>;
