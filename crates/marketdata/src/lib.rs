//! # marketdata: the data and statistics layer of the clearhouse margin engine
//!
//! This crate turns real market history (the CSV files described in `shared/data/market/SOURCES.md`)
//! into an hourly panel of named risk factors (`price:BTC`, `peg:USDC`, `basis:BTC-PERP`,
//! `funding:ETH-PERP`, `vol:BTC`, ...), builds documented proxies where history is missing, estimates
//! EWMA volatilities with an anti-procyclical floor, and generates scenario sets for margining:
//! filtered historical simulation ([`scenarios::fhs_scenarios`]), named stress scenarios
//! ([`stress::stress_scenarios`]) and implied-vol shocks ([`stress::VolShockParams`]). It also provides
//! the backtest statistics the margin model is judged by ([`stats`]) and a committed calibration
//! summary ([`calibration::Calibration::embedded`]) for when the raw data is absent.
//!
//! ## Use
//!
//! ```no_run
//! use marketdata::{FactorPanel, FhsParams, Hour, VolModel, fhs_scenarios_with, realised_move, stress_scenarios};
//! # fn main() -> marketdata::Result<()> {
//! let panel = FactorPanel::load_default()?; // $CLEARHOUSE_MARKET_DATA or ../shared/data/market
//! let params = FhsParams::default(); // 24h margin period, all history since 2019, EWMA 0.94 daily
//! let vm = VolModel::compute(&panel, &params.ewma)?; // once, reused for every as-of date
//! let as_of = Hour::from_ymdh(2022, 11, 9, 0);
//! let fhs = fhs_scenarios_with(&panel, &vm, as_of, &params)?; // scenarios x factors, row-major
//! let btc = fhs.factor_index("price:BTC")?;
//! let worst_btc = (0..fhs.len()).map(|i| fhs.row(i)[btc]).fold(f64::INFINITY, f64::min);
//! let stress = stress_scenarios(&panel, as_of, 24)?; // only events that ended before as_of
//! let realised = realised_move(&panel, as_of, 24)?; // what happened next, same conventions
//! # let _ = (worst_btc, stress, realised);
//! # Ok(())
//! # }
//! ```
//!
//! Without the raw data, [`calibration::Calibration::embedded`] still provides the stress scenarios
//! (24h), volatilities, correlations and proxy parameters.
//!
//! ## What it must never do
//! - Read anything but the market-data directory, and only in [`loader`]; every other function is
//!   pure (no clock, no threads, no randomness), so the same inputs give bit-identical outputs.
//! - Look ahead: a scenario set for as-of instant `t` uses only observations made at or before `t`
//!   (bars that opened strictly before `t`), and a stress scenario is offered only once its event
//!   window has ended strictly before `t`. (Proxy *parameters* calibrated on the whole overlap are the
//!   documented exception, see `docs/market-data.md`.)
//! - Copy raw data into the repository; only derived statistics are committed.
//!
//! ## Invariants
//! - Every factor has a finite level at every grid instant, and every cell records its provenance
//!   ([`panel::Source`]: observed, carried forward, or proxy).
//! - Moves are log-returns for prices and implied vols, absolute changes for pegs, basis and funding.
//! - Scenario matrices are row-major `scenarios x factors` in panel factor order.

pub mod calibration;
pub mod error;
pub mod loader;
pub mod panel;
pub mod scenarios;
pub mod stats;
pub mod stress;
#[doc(hidden)]
pub mod test_support;
pub mod time;
pub mod vol;

pub use calibration::Calibration;
pub use error::{MarketDataError, Result};
pub use panel::{FactorKind, FactorPanel, Source};
pub use scenarios::{FhsParams, ScaleRule, ScenarioSet, VolModel, fhs_scenarios, fhs_scenarios_with, realised_move};
pub use stress::{StressScenario, VolShockParams, stress_scenarios};
pub use time::{Hour, parse_hour};
