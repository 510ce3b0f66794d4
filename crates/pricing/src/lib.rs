//! # pricing
//!
//! Value and risk sensitivities of every instrument the clearing house accepts as collateral or trades:
//! spot/wrapped/synthetic assets, perpetual futures, European options, Uniswap v2 and v3 liquidity,
//! Curve StableSwap LP shares, Aave-style lending receipts and debts, staking derivatives and
//! prediction-market shares.
//!
//! Usage: build a [`MarketState`] (spot prices, peg ratios, vol surfaces, rates, clock, probabilities,
//! lending indices, staking rates, all addressed by small integer ids), then call
//! [`Instrument::value`] (hot path) or [`Instrument::greeks`] per unit quantity. For a scenario, clone the
//! base state and apply [`MarketState::shock`]s in place; nothing allocates.
//!
//! ```
//! use pricing::*;
//!
//! const ETH: UnderlyingId = UnderlyingId(1);
//! const STETH_ETH: PegId = PegId(1);
//! let mut base = MarketState::new(0.0, 0.04);
//! base.set_spot_usd(ETH, 3_000.0)?;
//! base.set_peg_ratio(STETH_ETH, 0.998)?;
//! base.set_vol_surface(ETH, VolSurface::flat(0.7)?)?;
//!
//! let book = [
//!     Instrument::Spot(Asset::pegged(ETH, STETH_ETH)),
//!     Instrument::Option(EuropeanOption {
//!         underlying: ETH,
//!         strike_usd: 2_500.0,
//!         expiry_years: 0.25,
//!         right: OptionRight::Put,
//!         model: OptionModel::BlackScholes,
//!     }),
//! ];
//! let greeks = book[1].greeks(&base)?;
//! assert!(greeks.spot.get(ETH).is_some_and(|s| s.delta < 0.0));
//!
//! // One scenario: ETH -30%, stETH discount to 0.95, vol +20 points.
//! let mut scenario = base.clone();
//! scenario
//!     .apply_shocks(&[
//!         (Factor::Spot(ETH), Shift::Relative(-0.3)),
//!         (Factor::Peg(STETH_ETH), Shift::Set(0.95)),
//!         (Factor::VolShift(ETH), Shift::Absolute(0.2)),
//!     ])
//!     .map_err(|(_, e)| e)?;
//! let mut values_usd = [0.0; 2];
//! revalue_into(&book, &scenario, &mut values_usd).map_err(|(_, e)| e)?;
//! assert!((values_usd[0] - 2_100.0 * 0.95).abs() < 1e-9);
//! # Ok::<(), PricingError>(())
//! ```
//!
//! ## What this crate must never do
//! - No I/O, no clock, no threads, no randomness: every input arrives as an argument, so the same inputs
//!   give the same bits on every run.
//! - No money: values are f64 USD for risk. Ledger amounts stay exact integers elsewhere; the integer
//!   contract reproductions here (`*::exact`) exist to match on-chain results, not to hold balances.
//! - No dependency on other clearhouse crates: the risk crate maps its model onto these types.
//! - Never value an AMM position at the pool's own spot price or at today's reserves times a new price:
//!   positions are valued at the pool's arbitrage equilibrium for *external* prices.
//!
//! ## Invariants
//! - Missing market data is an error, never a silent zero (unset entries are NaN/None internally).
//! - The USD numeraire (`UnderlyingId::USD`) and the par peg (`PegId::PAR`) are fixed at 1.0.
//! - Units: prices USD; delta in units of the underlying; gamma per USD; vega per 1.00 of volatility;
//!   theta per year of calendar time; rho per 1.00 of rate; time in years (365-day year, 31,536,000 s).
//! - Every container is fixed-capacity (`MAX_UNDERLYINGS`, `MAX_PEGS`, ...) and every iterative solver has
//!   an iteration cap that ends in an error.

pub mod aave;
pub mod curve;
pub mod error;
pub mod greeks;
pub mod instrument;
pub mod market;
pub mod normal;
pub mod options;
pub mod uniswap_v2;
pub mod uniswap_v3;
pub mod uniswap_v3_pool;
pub mod vol_surface;

pub use curve::CurveLp;
pub use error::{FactorKind, PricingError};
pub use greeks::{Greeks, MAX_LEGS, Sensitivities, Sensitivity};
pub use instrument::{
    EuropeanOption, Instrument, LendingPosition, LendingSide, OutcomeSide, Perpetual, PredictionShare, StakingShare, revalue_into,
};
pub use market::{
    Asset, Factor, LendingReserve, MAX_OUTCOMES, MAX_PEGS, MAX_RESERVES, MAX_STAKES, MAX_UNDERLYINGS, MarketState, OutcomeId, PegId,
    ReserveId, Resolution, SECONDS_PER_YEAR, Shift, StakeId, UnderlyingId,
};
pub use options::{OptionModel, OptionRight};
pub use uniswap_v2::UniswapV2Lp;
pub use uniswap_v3::UniswapV3Position;
pub use vol_surface::VolSurface;
