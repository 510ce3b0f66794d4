//! # risk: the unified margin engine of clearhouse
//!
//! Portfolio margin that nets across protocols, prices protocol risk, and is backtested on real
//! crises. For an account (a [`portfolio::Portfolio`] compiled against the `model` configuration)
//! it computes the net liquidation value, the initial and maintenance margin, the health, and an
//! explanation, next to two comparators (isolated per-protocol margin and Mango-v4-style weighted
//! cross margin). The methodology is in `docs/margin-methodology.md` and `docs/protocol-risk.md`.
//!
//! Pipeline: [`market::Universe`] maps assets, underlyings and prediction markets to pricing ids
//! and history factors; [`market::BaseMarket`] holds the factor levels at the as-of instant;
//! [`scenarios::ScenarioBook`] holds the FHS windows and the floor scenarios (named stresses,
//! implied-vol shocks, resolutions); [`scenarios::revalue`] revalues each distinct instrument
//! once per scenario (full revaluation with the `pricing` crate); [`margin::Engine::margin`]
//! aggregates positions linearly and applies expected shortfall, protocol failures, the floor,
//! concentration, liquidity and the manipulation guard. [`fast`] runs many accounts and the
//! single-price-update path; [`backtest`] replays history.
//!
//! ## What it must never do
//! - Touch files, clocks or randomness outside [`report::MarketData::load_default`] (which asks
//!   `marketdata` to read the history).
//! - Start threads anywhere but the two places that take an explicit `threads` argument (1 or 2):
//!   the batch in [`fast`] (`Batch::full`, `Batch::price_update`) and the day range of
//!   [`backtest::run_suite`]. Both use scoped threads over contiguous chunks joined in order, and
//!   no floating-point reduction crosses threads, so one or two threads give bit-identical results
//!   (tested).
//! - Let HashMap order or parallel float reductions reach an output: the same inputs give
//!   bit-identical margins (tested), because the engine will run inside the state machine.
//! - Use data dated at or after the as-of instant (FHS windows, stress events, vol shocks and
//!   protocol incidents are all filtered by date).
//!
//! ## Invariants
//! - `initial_margin >= 0`, `maintenance_margin = maintenance_fraction x initial_margin`.
//! - `initial_margin = max(ES with protocol failures, stress floor, concentration charge) + liquidity`.
//! - Splitting a book across an owner's sub-accounts never lowers the owner's total margin
//!   (concentration and liquidity are charged at the owner's totals; property-tested).
//! - The guarded NLV is never above the NLV.
//! - Every container that grows with input has a limit (`MAX_POSITIONS`, `MAX_SCENARIOS`, ...).

pub mod arrays;
pub mod backtest;
pub mod book;
pub mod broker;
pub mod comparators;
pub mod error;
pub mod fast;
pub mod hypothetical;
pub mod liquidity;
pub mod margin;
pub mod market;
pub mod params;
pub mod portfolio;
pub mod protocol;
pub mod report;
pub mod scenarios;

pub use error::RiskError;
pub use margin::{Engine, MarginResult};
pub use params::RiskParams;
pub use portfolio::Portfolio;
pub use report::{MarginReport, MarketData, margin_portfolio, margin_portfolio_as_of, render_json, render_table};
