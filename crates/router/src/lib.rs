//! # router
//!
//! The liquidity router: it turns the house's trades and residual exposures into executions on external
//! venues at the lowest expected cost, including the cost of being seen.
//!
//! - [`venue`]: one trait, [`venue::Venue`] (quote, marginal price, depth to a price, execute), over
//!   Uniswap v2 pairs, Uniswap v3 pools with tick crossing, Curve StableSwap pools (all on the exact
//!   contract integer math of `pricing`), order books (spot or perp) and lending reserves.
//! - [`config`]: the venue file (`router.toml`, unknown keys refused) and the embedded default set.
//! - [`split`]: the optimal split (equal marginal prices net of fees), multi-hop candidates, and the
//!   comparisons with the best single venue and a naive equal split.
//! - [`slicer`]: execution against leakage (internal crossing first, randomised slices from a seed
//!   passed in, a visible-footprint cap per venue per slice) and the cost model.
//! - [`hedge`]: hedge orders from the house's net exposure per factor under limits.
//! - [`replay`]: a hedge replayed on an hourly price path, immediate against scheduled.
//! - [`report`]: the route report shared by `clearhouse route` and the operator's service.
//!
//! ## What this crate must never do
//! - No I/O, no clock, no threads, no randomness of its own: a seed arrives as an argument, so the same
//!   inputs give the same plan on every run.
//! - Never a second copy of a protocol formula: AMM arithmetic is `pricing`'s `exact` modules.
//! - Never an amount through f64: f64 steers the search (marginal prices, depths) and reports costs;
//!   every amount handed out is an exact integer from a venue's `quote`.
//!
//! ## Invariants (asserted in release builds)
//! - A plan conserves its input: the venue inputs sum exactly to the trade.
//! - Executing a plan pays exactly what it quoted.
//! - A failed `execute` leaves the venue unchanged.

pub mod config;
pub mod error;
pub mod hedge;
pub mod market;
pub mod replay;
pub mod report;
pub mod slicer;
pub mod solve;
pub mod split;
pub mod venue;

pub use config::{default_venues, parse_venues};
pub use error::RouterError;
pub use market::{Market, Token, VenueModel};
pub use report::{RouteReport, route_report};
pub use split::{RoutePlan, best_single, equal_split, route};
pub use venue::{TokenId, Venue};
