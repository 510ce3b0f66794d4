//! The clearing arithmetic of the broker loop: pure, deterministic, integer-only.
//!
//! This crate computes what moves between accounts when trades clear: the quote leg of a spot
//! fill, maker/taker fees,
//! perpetual funding, realised and unrealised P&L of perpetual positions, option expiry, interest
//! on lending receipts and borrows by index, staking rewards by exchange rate, and the resolution
//! of prediction markets. The engine calls it and posts the results as ledger transfers; this
//! crate never touches a ledger, a clock, a file or a random number: times, prices and positions
//! are inputs. The formulas, with the protocol or venue each follows, are in `docs/clearing.md`.
//!
//! Units: an amount is an `i128` count of an asset's smallest unit (at the asset's scale); a
//! [`Price`] is settlement-asset units per one whole contract with 18 decimals; a quantity is an
//! `i128` count at the market's quantity scale ([`ContractSpec`]); rates and fractions are
//! 18-decimal fixed point ([`ONE_E18`]) except interest indices, which are 27-decimal rays as in
//! Aave ([`interest::RAY`]).
//!
//! Invariants (each asserted in release builds where it is computed):
//! - No floating point anywhere. Every division names its rounding (`money::Rounding`).
//! - Rounding is always in the broker's favour: what a client is paid rounds down, what a client
//!   pays rounds up, so over any set of clients the broker never pays out more than it takes in.
//! - Funding, option expiry and prediction resolution are zero-sum: the payments of one call sum
//!   to exactly zero (or exactly to the collateral released), the rounding residue going to the
//!   house, which is always a party to the returned list.
//! - A fill's fees never leave the fee account negative: a taker fee at least as large as the
//!   maker rebate is a validated rule of [`fees::FeeSchedule`].
//! - Interest indices never decrease, and stay at or above one ray.
//! - Bad input is a typed [`ClearingError`]; nothing defaults, nothing is clamped silently.

use money::{MoneyError, Rounding, Scale, div_round, mul_div};
use serde::{Deserialize, Serialize};

pub mod fees;
pub mod funding;
pub mod interest;
pub mod options;
pub mod pnl;
pub mod prediction;
pub mod spot;
pub mod staking;
pub mod twap;
pub mod zero_sum;

pub use zero_sum::Payment;

/// One, in 18-decimal fixed point: prices, rates and exchange rates use this scale.
pub const ONE_E18: i128 = 1_000_000_000_000_000_000;
/// The number of decimals of [`Price`] and of 18-decimal values and rates.
pub const E18_DECIMALS: u8 = 18;

/// Everything that can go wrong in clearing, in the caller's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClearingError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("fee schedule refused (maker {maker_bps} bps, taker {taker_bps} bps): {reason}")]
    InvalidFeeSchedule { maker_bps: i32, taker_bps: i32, reason: &'static str },
    #[error("parameter `{name}` refused: {reason}")]
    InvalidParameter { name: &'static str, reason: &'static str },
    #[error("{what} must be positive, got {value}")]
    NonPositive { what: &'static str, value: i128 },
    #[error("{what} must not be negative, got {value}")]
    Negative { what: &'static str, value: i128 },
    #[error("a fill must have a non-zero quantity")]
    ZeroQuantity,
    #[error("no observations were given")]
    NoObservations,
    #[error("{count} observations exceed the limit of {max}")]
    TooManyObservations { count: usize, max: usize },
    #[error("observation {index} is not later than the one before it")]
    ObservationsOutOfOrder { index: usize },
    #[error("observation at {time_ms} ms lies after the window's end at {end_ms} ms")]
    ObservationAfterWindow { time_ms: u64, end_ms: u64 },
    #[error("no observation at or before the window's start at {start_ms} ms")]
    NoObservationAtStart { start_ms: u64 },
    #[error("the observation at {from_ms} ms is held until {to_ms} ms, longer than the {gap_max_ms} ms allowed")]
    ObservationGap { from_ms: u64, to_ms: u64, gap_max_ms: u64 },
    #[error("empty window: start {start_ms} ms is not before end {end_ms} ms")]
    EmptyWindow { start_ms: u64, end_ms: u64 },
    #[error("positions do not net to zero (net {net}): every long needs a short, the house included")]
    PositionsDoNotNet { net: i128 },
    #[error("account at position {index} appears more than once")]
    DuplicateAccount { index: usize },
    #[error("{count} positions exceed the limit of {max}")]
    TooManyPositions { count: usize, max: usize },
    #[error("time went backwards: last update {last_s} s, now {now_s} s")]
    TimeWentBackwards { last_s: u64, now_s: u64 },
    #[error("an interest index must be at least one ray, got {index}")]
    IndexBelowRay { index: i128 },
    #[error("insufficient scaled balance: {needed} needed, {available} available")]
    InsufficientScaledBalance { needed: i128, available: i128 },
    #[error("prediction market shares do not pair: {yes} YES against {no} NO")]
    UnpairedShares { yes: i128, no: i128 },
    #[error("collateral {collateral} does not cover the payouts of {payouts}")]
    InsufficientCollateral { collateral: i128, payouts: i128 },
}

/// A price: whole settlement-asset units per one whole contract (or underlying unit), with 18
/// decimals. For a USD-settled market this is the engine's `UsdPrice` number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(pub i128);

impl Price {
    /// The price's raw 18-decimal integer.
    pub const fn e18(self) -> i128 {
        self.0
    }
    /// A price that is positive, else [`ClearingError::NonPositive`] naming `what`.
    pub fn positive(self, what: &'static str) -> Result<Price, ClearingError> {
        if self.0 <= 0 {
            return Err(ClearingError::NonPositive { what, value: self.0 });
        }
        Ok(self)
    }
}

/// How a market counts: quantities at `quantity_scale` decimals of one whole contract, settled
/// in an asset with `settlement_scale` decimals (at most 18, so that an 18-decimal value always
/// converts to settlement units by a division).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ContractSpecFields")]
pub struct ContractSpec {
    quantity_scale: Scale,
    settlement_scale: Scale,
}

/// The serialised form of a [`ContractSpec`], validated on the way in.
#[derive(Deserialize)]
struct ContractSpecFields {
    quantity_scale: u8,
    settlement_scale: u8,
}

impl TryFrom<ContractSpecFields> for ContractSpec {
    type Error = ClearingError;
    fn try_from(fields: ContractSpecFields) -> Result<ContractSpec, ClearingError> {
        ContractSpec::new(fields.quantity_scale, fields.settlement_scale)
    }
}

impl ContractSpec {
    pub fn new(quantity_decimals: u8, settlement_decimals: u8) -> Result<ContractSpec, ClearingError> {
        if settlement_decimals > E18_DECIMALS {
            return Err(ClearingError::InvalidParameter { name: "settlement_decimals", reason: "at most 18" });
        }
        Ok(ContractSpec { quantity_scale: Scale::new(quantity_decimals)?, settlement_scale: Scale::new(settlement_decimals)? })
    }
    pub const fn quantity_scale(self) -> Scale {
        self.quantity_scale
    }
    pub const fn settlement_scale(self) -> Scale {
        self.settlement_scale
    }

    /// `quantity * price` as an 18-decimal value in whole settlement units:
    /// `quantity * price / 10^quantity_scale`, rounded as told.
    pub fn value_e18(self, quantity: i128, price: Price, rounding: Rounding) -> Result<i128, ClearingError> {
        Ok(mul_div(quantity, price.0, self.quantity_scale.one(), rounding)?)
    }

    /// An 18-decimal value in settlement-asset units: `value / 10^(18 - settlement_scale)`.
    pub fn to_settlement_units(self, value_e18: i128, rounding: Rounding) -> Result<i128, ClearingError> {
        let divisor = 10i128.pow(u32::from(E18_DECIMALS - self.settlement_scale.decimals()));
        Ok(div_round(value_e18, divisor, rounding)?)
    }

    /// `quantity * price` in settlement units. Both divisions round the same way, so the result
    /// is the exact floor (or ceil) of the real product: `floor(floor(x/a)/b) = floor(x/(ab))`.
    pub fn settlement_value(self, quantity: i128, price: Price, rounding: Rounding) -> Result<i128, ClearingError> {
        let value = self.value_e18(quantity, price, rounding)?;
        self.to_settlement_units(value, rounding)
    }
}

/// The magnitude of `value`, checked (`i128::MIN` has none).
pub(crate) fn checked_abs(value: i128, what: &'static str) -> Result<i128, ClearingError> {
    value.checked_abs().ok_or(ClearingError::Money(MoneyError::Overflow { operation: what }))
}

/// Checked addition in the crate's error type.
pub(crate) fn add(a: i128, b: i128, what: &'static str) -> Result<i128, ClearingError> {
    a.checked_add(b).ok_or(ClearingError::Money(MoneyError::Overflow { operation: what }))
}

/// Checked subtraction in the crate's error type.
pub(crate) fn sub(a: i128, b: i128, what: &'static str) -> Result<i128, ClearingError> {
    a.checked_sub(b).ok_or(ClearingError::Money(MoneyError::Overflow { operation: what }))
}

/// Checked multiplication in the crate's error type.
pub(crate) fn mul(a: i128, b: i128, what: &'static str) -> Result<i128, ClearingError> {
    a.checked_mul(b).ok_or(ClearingError::Money(MoneyError::Overflow { operation: what }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_value_rounds_once_exactly() {
        // 1.5 contracts (quantity scale 1: 15 units) at 2000.123456789 USD, settled in USDC (6):
        // 1.5 * 2000.123456789 = 3000.1851851835 USD = 3000185185.1835 micro-USDC.
        let spec = ContractSpec::new(1, 6).unwrap();
        let price = Price(2_000_123_456_789_000_000_000);
        assert_eq!(spec.settlement_value(15, price, Rounding::Floor).unwrap(), 3_000_185_185);
        assert_eq!(spec.settlement_value(15, price, Rounding::Ceil).unwrap(), 3_000_185_186);
        // A short's value is negative and floor moves it away from zero.
        assert_eq!(spec.settlement_value(-15, price, Rounding::Floor).unwrap(), -3_000_185_186);
        assert_eq!(spec.settlement_value(-15, price, Rounding::Ceil).unwrap(), -3_000_185_185);
    }

    #[test]
    fn settlement_scale_above_18_is_refused() {
        assert!(matches!(ContractSpec::new(0, 19), Err(ClearingError::InvalidParameter { .. })));
        assert!(matches!(ContractSpec::new(37, 6), Err(ClearingError::Money(MoneyError::ScaleTooLarge { scale: 37 }))));
    }
}
