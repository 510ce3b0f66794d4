//! The domain model of clearhouse, loaded from TOML: assets, protocols with their risk
//! profiles, custodians (external venues and chains), instruments and limits.
//!
//! This crate is pure: it parses and validates a configuration string; it never reads files,
//! clocks or the network (the CLI reads the file and hands the text here).
//!
//! Invariants after [`Config::from_toml`] succeeds:
//! - every identifier is unique within its kind and well formed;
//! - every reference (an asset's underlying or protocol, an instrument's venue, an LP share's
//!   pool tokens, ...) resolves to a declared item of the right kind;
//! - every asset's decimals are within [`money::SCALE_MAX`];
//! - every limit is positive;
//! - every date (protocol `launched`, incident `date`, option `expiry`) is a real calendar date in
//!   its canonical spelling, checked by the `jiff` date library ([`parse_date`],
//!   [`parse_datetime_ms`]): 2023-02-31 or hour 24 is refused naming the key, never rolled over.
//!
//! Unknown keys are refused with a message that names them (serde `deny_unknown_fields`);
//! inconsistent references are refused with a message that names the key path.
//!
//! The numeraire is USD. USDC, USDT and DAI are assets like any other with their own peg to
//! USD; nothing here treats a stablecoin as USD.

mod config;
mod hedging;
mod validate;

pub use config::*;
pub use hedging::{HEDGE_FACTORS_MAX, HEDGE_VENUES_MAX, HEDGES_OUTSTANDING_MAX, HedgeFactor, Hedging};
pub use validate::{NAME_LEN_MAX, is_identifier, is_principal_name, parse_date, parse_datetime_ms, printable};

/// The configuration shipped with clearhouse. Users copy `config/default.toml` and edit it.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../../config/default.toml");

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("configuration is not valid TOML or has an unknown or mistyped key: {message}")]
    Parse { message: String },
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { key: key.into(), problem: problem.into() }
    }
}

impl Config {
    /// Parses and validates a configuration.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse { message: e.to_string() })?;
        validate::validate(&config)?;
        Ok(config)
    }

    /// The configuration as TOML text (`from_toml` reads it back to the same value).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Parse { message: e.to_string() })
    }

    /// The shipped default configuration.
    pub fn default_config() -> Config {
        // The shipped file is validated by this crate's tests, so failing here is a build defect.
        Config::from_toml(DEFAULT_CONFIG_TOML).expect("the shipped config/default.toml is valid (tested)")
    }

    pub fn asset(&self, symbol: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.symbol == symbol)
    }
    pub fn protocol(&self, id: &str) -> Option<&Protocol> {
        self.protocols.iter().find(|p| p.id == id)
    }
    pub fn custodian(&self, id: &str) -> Option<&Custodian> {
        self.custodians.iter().find(|c| c.id == id)
    }
    pub fn instrument(&self, id: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.id == id)
    }
    pub fn underlying(&self, symbol: &str) -> Option<&Underlying> {
        self.underlyings.iter().find(|u| u.symbol == symbol)
    }
}

#[cfg(test)]
mod tests;
