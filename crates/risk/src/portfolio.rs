//! The portfolio file (TOML): positions on configured instruments, collateral balances, the as-of
//! instant and optional market overrides. Quantities and prices are decimal strings, as in the
//! configuration, and are read into f64 for the risk math.

use crate::error::RiskError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Upper bound on positions, balances and pool states in one portfolio.
pub const MAX_POSITIONS: usize = 1_000;

/// A portfolio as written by a user (see `examples/portfolios/*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portfolio {
    /// Short name, shown in the report.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH:00:00Z` (UTC); market data is read as of this instant.
    pub as_of: String,
    #[serde(default)]
    pub positions: Vec<PositionSpec>,
    #[serde(default)]
    pub balances: Vec<BalanceSpec>,
    /// Pool states of LP instruments, by LP asset symbol.
    #[serde(default)]
    pub pools: Vec<PoolSpec>,
    #[serde(default)]
    pub market: MarketOverrides,
}

/// A position on a configured instrument. Positive quantity = long (or, for a borrow, owed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionSpec {
    /// Instrument id from the configuration (e.g. `BTC-PERP@dydx`).
    pub instrument: String,
    /// Units of the instrument; negative = short.
    pub quantity: String,
    /// Perpetual only: entry price; default the mark at the as-of instant (no unrealised P&L).
    #[serde(default)]
    pub entry_price_usd: Option<String>,
}

/// Collateral held by the account, optionally on a venue (a claim on that protocol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSpec {
    pub asset: String,
    pub amount: String,
    /// Protocol id where the balance sits (e.g. `dydx`, `aave`); none = held by the broker.
    #[serde(default)]
    pub venue: Option<String>,
}

/// The state of an LP pool (whole tokens, pool order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// LP asset symbol.
    pub asset: String,
    pub reserves: Vec<String>,
    pub total_supply: String,
    /// Stableswap pools: the contract amplification A (default 2000, Curve 3pool).
    #[serde(default)]
    pub amp: Option<f64>,
}

/// Market values that replace or complete the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketOverrides {
    /// Oracle price by underlying symbol, USD.
    #[serde(default)]
    pub spot_usd: BTreeMap<String, String>,
    /// Stable (manipulation-resistant) price by underlying symbol, USD.
    #[serde(default)]
    pub stable_price_usd: BTreeMap<String, String>,
    /// Implied volatility by underlying symbol, annual fraction.
    #[serde(default)]
    pub vol_annual: BTreeMap<String, String>,
    /// Probability of a prediction-market outcome, by `market/outcome` (e.g. `ETH-5K-2026/YES`).
    #[serde(default)]
    pub probability: BTreeMap<String, String>,
    /// Risk-free rate, annual.
    #[serde(default)]
    pub rate_annual: Option<String>,
    /// Exchange-rate lending receipts (Compound cTokens): `exchangeRateStored()` as read on chain,
    /// by receipt symbol; underlying per receipt = mantissa / 10^(18 + underlying decimals -
    /// receipt decimals).
    #[serde(default)]
    pub receipt_exchange_rate_mantissa: BTreeMap<String, String>,
}

impl Portfolio {
    /// Parses a portfolio file and checks its size.
    pub fn from_toml(text: &str) -> Result<Portfolio, RiskError> {
        let p: Portfolio = toml::from_str(text).map_err(|e| RiskError::PortfolioInvalid { problem: e.to_string() })?;
        let count = p.positions.len() + p.balances.len() + p.pools.len();
        if count > MAX_POSITIONS {
            return Err(RiskError::TooManyPositions { count, limit: MAX_POSITIONS });
        }
        for (k, pool) in p.pools.iter().enumerate() {
            if p.pools[..k].iter().any(|q| q.asset == pool.asset) {
                return Err(RiskError::PortfolioInvalid { problem: format!("pool {} is given twice in [[pools]]", pool.asset) });
            }
        }
        p.as_of_hour()?;
        Ok(p)
    }

    /// The portfolio's `as_of` as a whole UTC hour; an impossible date is an error naming the file's
    /// portfolio and the value.
    pub fn as_of_hour(&self) -> Result<marketdata::Hour, RiskError> {
        parse_as_of(&self.as_of, &format!("portfolio `{}` as_of", self.name))
    }
}

/// Reads a decimal string (`"-2.5"`, `"1e3"` refused: plain decimals only) into f64.
pub fn parse_decimal(key: &str, text: &str) -> Result<f64, RiskError> {
    let t = text.trim();
    let plain =
        !t.is_empty() && t.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && (b == b'-' || b == b'+')));
    match t.parse::<f64>() {
        Ok(v) if plain && v.is_finite() => Ok(v),
        _ => Err(RiskError::BadNumber { key: key.to_string(), text: text.to_string() }),
    }
}

/// Closed bounds `[min, max]` of a numeric input, documented in `docs/margin-methodology.md` 2.1.
pub type Bounds = (f64, f64);

/// Units of one position or balance (either sign): beyond this, values lose all precision.
pub const QUANTITY_BOUNDS: Bounds = (-1e12, 1e12);
/// A price (spot, stable price, perp entry) in USD.
pub const PRICE_USD_BOUNDS: Bounds = (1e-9, 1e9);
/// An implied volatility override, annual fraction (1% .. 500%).
pub const VOL_ANNUAL_BOUNDS: Bounds = (0.01, 5.0);
/// A risk-free rate override, annual fraction.
pub const RATE_ANNUAL_BOUNDS: Bounds = (-0.1, 1.0);
/// A probability.
pub const PROBABILITY_BOUNDS: Bounds = (0.0, 1.0);
/// A pool reserve or an LP total supply, whole tokens.
pub const POOL_AMOUNT_BOUNDS: Bounds = (1e-9, 1e15);
/// A stableswap amplification coefficient (Curve pools use 10 .. 5 000).
pub const AMP_BOUNDS: Bounds = (1.0, 100_000.0);
/// The USD value of one position at the as-of instant.
pub const POSITION_USD_MAX: f64 = 1e13;

/// Reads a decimal string and checks it lies in `bounds`.
pub fn bounded(key: &str, text: &str, bounds: Bounds) -> Result<f64, RiskError> {
    let x = parse_decimal(key, text)?;
    check_bounds(key, x, bounds)
}

/// Checks that `x` lies in `bounds`; the error names the key, the value and the bounds.
pub fn check_bounds(key: &str, x: f64, (min, max): Bounds) -> Result<f64, RiskError> {
    if x.is_finite() && x >= min && x <= max { Ok(x) } else { Err(RiskError::OutOfBounds { key: key.to_string(), value: x, min, max }) }
}

/// The as-of instant as a whole UTC hour (`YYYY-MM-DD` or `YYYY-MM-DDTHH:00:00Z`), parsed by
/// [`marketdata::parse_hour`]; `origin` (`"--as-of"`, a portfolio's field) is named in the error.
pub fn parse_as_of(text: &str, origin: &str) -> Result<marketdata::Hour, RiskError> {
    marketdata::parse_hour(text, origin).map_err(RiskError::InvalidDate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_plain() {
        assert_eq!(parse_decimal("k", "-2.5").unwrap(), -2.5);
        assert_eq!(parse_decimal("k", "100000").unwrap(), 100000.0);
        assert!(parse_decimal("k", "1e3").is_err());
        assert!(parse_decimal("k", "").is_err());
        assert!(parse_decimal("k", "NaN").is_err());
    }

    #[test]
    fn impossible_as_of_dates_are_refused_naming_the_portfolio() {
        for as_of in ["2023-02-31", "2024-02-30", "2023-13-01", "2024-01-01T24:00:00Z"] {
            let err = Portfolio::from_toml(&format!("name = \"p\"\nas_of = \"{as_of}\"\n")).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, RiskError::InvalidDate(_)), "{text}");
            assert!(text.contains("portfolio `p` as_of") && text.contains(as_of), "{text}");
        }
        let err = parse_as_of("2023-02-29", "--as-of").unwrap_err().to_string();
        assert!(err.starts_with("--as-of: \"2023-02-29\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Portfolio::from_toml("name = \"x\"\nas_of = \"2024-01-01\"\nfoo = 1\n").unwrap_err();
        assert!(err.to_string().contains("foo"), "{err}");
    }
}
