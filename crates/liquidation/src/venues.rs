//! The broker's own positions on external venues, held under each venue's rules.
//!
//! The house hedges its net exposure on venues that margin it by their own published rules and
//! liquidate it by them: a venue that liquidates a hedge leg breaks the hedge the broker was
//! margined for. Moving collateral to a venue takes time (a bridge, a withdrawal queue, block
//! confirmations), so a venue sub-account must hold enough now to stay above the venue's
//! maintenance through the worst move of that latency.
//!
//! Per venue sub-account, in the settlement asset's smallest units (USD value for a lending
//! venue):
//! - **perp venue** (dYdX, GMX): `equity = collateral + unrealised P&L`; the venue's initial
//!   requirement is `IMF x notional`, its maintenance `MMF x notional`, both rounded up. After an
//!   adverse move `a` (ppm of the price over the latency, from the risk model's scenarios) the
//!   equity loses `a x |notional|` and the notional grows by the same factor; the top-up is what
//!   keeps `equity_after >= (1 + buffer) x MM_after`.
//! - **lending venue** (Aave, Compound): the venue liquidates when
//!   `debt > sum(collateral_value x LTV)`; after an adverse collateral move `a` the borrowing power
//!   shrinks by `a`; the top-up (in collateral value at LTV) keeps
//!   `borrowing_power_after >= (1 + buffer) x debt`.
//!
//! [`VenueState::is_liquidated`] is the venue's own test, used by the crisis replay.

use crate::{LiquidationError, PPM};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// A venue's published margin rules, as fractions in ppm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VenueRules {
    Perp {
        initial_ppm: u32,
        maintenance_ppm: u32,
    },
    /// `ltv_ppm` is the value-weighted loan-to-value of the posted collateral.
    Lending {
        ltv_ppm: u32,
    },
}

/// The broker's sub-account on one venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueState {
    pub rules: VenueRules,
    /// Perp: collateral posted; lending: collateral value posted.
    pub collateral: i128,
    /// Perp: signed notional at mark (long positive); lending: debt (positive).
    pub exposure: i128,
    /// Perp: unrealised P&L at mark; lending: unused (0).
    pub unrealised_pnl: i128,
}

/// What the broker must post at a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueRequirement {
    /// The venue's own initial requirement now (perp) or the debt's collateral need (lending).
    pub initial: i128,
    /// The venue's maintenance now (perp) or the debt itself (lending).
    pub maintenance: i128,
    /// Equity now (perp) or borrowing power now (lending).
    pub cover: i128,
    /// To post now so the sub-account survives the latency's adverse move with the buffer.
    pub top_up: i128,
}

/// Buffer and latency assumptions of the top-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpParams {
    /// Relative buffer above maintenance (ppm).
    pub buffer_ppm: u32,
    /// Adverse price move over the time it takes to move collateral to the venue (ppm).
    pub adverse_move_ppm: u32,
}

impl VenueState {
    /// The venue's own liquidation test.
    pub fn is_liquidated(&self) -> Result<bool, LiquidationError> {
        let r = self.requirement(&TopUpParams { buffer_ppm: 0, adverse_move_ppm: 0 })?;
        Ok(r.cover < r.maintenance)
    }

    /// The requirement now and the top-up against the latency's adverse move.
    pub fn requirement(&self, p: &TopUpParams) -> Result<VenueRequirement, LiquidationError> {
        if self.collateral < 0 {
            return Err(LiquidationError::OutOfRange("collateral >= 0"));
        }
        match self.rules {
            VenueRules::Perp { initial_ppm, maintenance_ppm } => self.perp(initial_ppm, maintenance_ppm, p),
            VenueRules::Lending { ltv_ppm } => self.lending(ltv_ppm, p),
        }
    }

    fn perp(&self, initial_ppm: u32, maintenance_ppm: u32, p: &TopUpParams) -> Result<VenueRequirement, LiquidationError> {
        if maintenance_ppm > initial_ppm || initial_ppm as i128 > PPM {
            return Err(LiquidationError::InvalidParameter("perp venue: maintenance <= initial <= 1"));
        }
        let notional = self.exposure.checked_abs().ok_or(LiquidationError::Overflow("notional"))?;
        let initial = mul_div(notional, initial_ppm as i128, PPM, Rounding::Ceil)?;
        let maintenance = mul_div(notional, maintenance_ppm as i128, PPM, Rounding::Ceil)?;
        let cover = crate::add(self.collateral, self.unrealised_pnl, "venue equity")?;
        let loss = mul_div(notional, p.adverse_move_ppm as i128, PPM, Rounding::Ceil)?;
        let notional_after = crate::add(notional, loss, "notional after the move")?;
        let mm_after = mul_div(notional_after, maintenance_ppm as i128, PPM, Rounding::Ceil)?;
        let needed = mul_div(mm_after, PPM + p.buffer_ppm as i128, PPM, Rounding::Ceil)?;
        let top_up = (crate::add(needed, loss, "needed")? - cover).max(0);
        Ok(VenueRequirement { initial, maintenance, cover, top_up })
    }

    fn lending(&self, ltv_ppm: u32, p: &TopUpParams) -> Result<VenueRequirement, LiquidationError> {
        if ltv_ppm == 0 || ltv_ppm as i128 > PPM || self.exposure < 0 {
            return Err(LiquidationError::InvalidParameter("lending venue: 0 < LTV <= 1, debt >= 0"));
        }
        // The collateral's value after a fall: a fall of 100% or more leaves nothing to borrow on.
        if p.adverse_move_ppm as i128 >= PPM {
            return Err(LiquidationError::OutOfRange("lending venue: adverse move < 100%"));
        }
        let ltv = ltv_ppm as i128;
        let power = mul_div(self.collateral, ltv, PPM, Rounding::Floor)?;
        let initial = mul_div(self.exposure, PPM, ltv, Rounding::Ceil)?;
        let keep = PPM - p.adverse_move_ppm as i128;
        let power_after = mul_div(power, keep, PPM, Rounding::Floor)?;
        let needed = mul_div(self.exposure, PPM + p.buffer_ppm as i128, PPM, Rounding::Ceil)?;
        // Power missing after the move, converted back to collateral value posted now.
        let missing = (needed - power_after).max(0);
        let top_up = if missing == 0 { 0 } else { mul_div(missing, PPM * PPM, ltv * keep, Rounding::Ceil)? };
        Ok(VenueRequirement { initial, maintenance: self.exposure, cover: power, top_up })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DYDX: VenueRules = VenueRules::Perp { initial_ppm: 50_000, maintenance_ppm: 30_000 };

    #[test]
    fn perp_venue_top_up_covers_the_latency_move() {
        // 1,000,000 notional short, 60,000 collateral, -5,000 unrealised; 10% adverse move over the
        // latency, 20% buffer. IM 50,000, MM 30,000, equity 55,000. After the move: loss 100,000,
        // notional 1,100,000, MM 33,000, needed 39,600 + 100,000 = 139,600 -> top-up 84,600.
        let s = VenueState { rules: DYDX, collateral: 60_000, exposure: -1_000_000, unrealised_pnl: -5_000 };
        let r = s.requirement(&TopUpParams { buffer_ppm: 200_000, adverse_move_ppm: 100_000 }).unwrap();
        assert_eq!(r, VenueRequirement { initial: 50_000, maintenance: 30_000, cover: 55_000, top_up: 84_600 });
        assert!(!s.is_liquidated().unwrap());
        let hit = VenueState { unrealised_pnl: -31_000, ..s };
        assert!(hit.is_liquidated().unwrap(), "equity 29,000 below maintenance 30,000");
    }

    #[test]
    fn lending_venue_top_up_keeps_borrowing_power() {
        // Aave ETH LTV 0.805: 100,000 of ETH posted, 70,000 borrowed. Power 80,500. A 20% fall
        // leaves 64,400; with a 10% buffer 77,000 is needed: 12,600 of power missing, i.e.
        // 12,600 / (0.805 x 0.8) = 19,565.2 -> 19,566 of collateral value to post now.
        let s = VenueState { rules: VenueRules::Lending { ltv_ppm: 805_000 }, collateral: 100_000, exposure: 70_000, unrealised_pnl: 0 };
        let r = s.requirement(&TopUpParams { buffer_ppm: 100_000, adverse_move_ppm: 200_000 }).unwrap();
        assert_eq!((r.cover, r.maintenance, r.top_up), (80_500, 70_000, 19_566));
        assert_eq!(r.initial, 86_957); // 70,000 / 0.805 = 86,956.5 -> up
        assert!(!s.is_liquidated().unwrap());
        assert!(VenueState { exposure: 80_501, ..s }.is_liquidated().unwrap());
    }

    #[test]
    fn a_short_perp_leg_is_topped_up_for_a_rise_beyond_100_percent() {
        // 100,000 short, 10,000 posted; a 116% rise: loss 116,000, notional 216,000, MM 6,480,
        // with 20% buffer 7,776; needed 123,776 -> top-up 113,776. A price can more than double.
        let s = VenueState { rules: DYDX, collateral: 10_000, exposure: -100_000, unrealised_pnl: 0 };
        let r = s.requirement(&TopUpParams { buffer_ppm: 200_000, adverse_move_ppm: 1_160_000 }).unwrap();
        assert_eq!(r.top_up, 113_776);
        // A lending venue cannot be sized for a fall of all of the collateral: an error.
        let lending =
            VenueState { rules: VenueRules::Lending { ltv_ppm: 805_000 }, collateral: 100_000, exposure: 70_000, unrealised_pnl: 0 };
        assert!(lending.requirement(&TopUpParams { buffer_ppm: 0, adverse_move_ppm: 1_000_000 }).is_err());
    }
}
