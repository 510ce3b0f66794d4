//! # liquidation: closing out failing accounts and allocating every unit of loss
//!
//! The pure mechanics the engine runs when an account falls below maintenance margin
//! (`docs/liquidation.md`):
//! - [`select`]: which positions to close, and how much: the smallest set of chunks that brings
//!   the account back to a target above maintenance, chosen greedily by initial margin removed
//!   per unit of closing cost, with the legs of a hedge closed together so the riskier leg is
//!   never left alone, and a throttle per position.
//! - [`auction`]: at what price: a Dutch auction whose discount grows from the mark to a cap,
//!   with the house taking what is left at the end at mark minus the penalty; the penalty split
//!   between the insurance fund and the liquidator.
//! - [`waterfall`]: who bears a bankrupt account's deficit, step by step: the defaulter's
//!   collateral, the penalty, the insurance fund, the broker's capital, and last either
//!   socialisation across a market or auto-deleveraging of the most profitable opposite positions.
//! - [`cover2`]: whether the insurance fund and the broker's capital cover the default of the two
//!   accounts that would cost most under the stress scenarios (PFMI cover-2), and the add-ons that
//!   close a shortfall.
//! - [`venues`]: the broker's own hedges on external venues under each venue's published rules
//!   (perp IMF/MMF, lending LTV): what to post now so that a venue sub-account survives the
//!   adverse move of the time it takes to move collateral there, and the venue's own liquidation
//!   test.
//!
//! ## What it must never do
//! Read a clock, randomness or I/O; use floating point.
//!
//! ## Invariants (asserted in release builds)
//! - A waterfall's steps sum to the deficit exactly; no step takes more than it has.
//! - Socialised and deleveraged shares cover the amount to socialise (holders pay rounded up; the
//!   residue is the house's).
//! - A chosen liquidation step never raises the account's initial margin.
//! - Every price the auction quotes lies between the mark and the mark moved by the cap.

pub mod auction;
pub mod cover2;
pub mod select;
pub mod venues;
pub mod waterfall;

/// Errors of the liquidation mechanics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiquidationError {
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    #[error("amount out of range: {0}")]
    OutOfRange(&'static str),
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    #[error("the auction has ended; the remainder goes to the house")]
    AuctionEnded,
    #[error("nothing left to fill")]
    NothingLeft,
    #[error(transparent)]
    Margin(#[from] margin_core::MarginError),
}

impl From<money::MoneyError> for LiquidationError {
    fn from(_: money::MoneyError) -> LiquidationError {
        LiquidationError::Overflow("fixed-point arithmetic")
    }
}

/// Basis points in one.
pub const BPS: i128 = 10_000;
/// Parts per million in one.
pub const PPM: i128 = 1_000_000;

pub(crate) fn add(a: i128, b: i128, what: &'static str) -> Result<i128, LiquidationError> {
    a.checked_add(b).ok_or(LiquidationError::Overflow(what))
}
