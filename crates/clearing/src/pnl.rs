//! Realised and unrealised P&L of a perpetual position under the average-entry-price rule
//! (BitMEX, Binance and dYdX v4 all realise against the average entry price).
//!
//! A position carries its signed quantity and its signed cost: `cost = sum(quantity_i *
//! price_i)` over the fills that opened it, an 18-decimal value in settlement units, rounded up
//! when each fill adds to it. A fill in the position's direction adds its cost (the average entry
//! price moves); a fill against it first closes up to the whole position, realising
//! `closed * fill_price - closed_share_of_cost`, and leaves the average entry price of the rest
//! unchanged; whatever is left of the fill opens a new position at the fill price (a flip).
//!
//! Rounding is in the broker's favour at every step: proceeds round down (`Floor`), cost
//! added or removed rounds up (`Ceil`), and a realised amount in settlement units rounds down, so
//! a gain is rounded down and a loss up. Over a position's whole life the cost removed equals
//! the cost added, so the rounding of a partial close only moves P&L between closes.

use crate::{ClearingError, ContractSpec, Price, add, sub};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// A perpetual position: signed quantity (positive long) and the signed cost of its opening
/// fills, an 18-decimal value in whole settlement units. Flat means both are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PerpPosition {
    pub quantity: i128,
    pub cost_e18: i128,
}

/// A position after a fill, and what the fill realised in settlement units (positive a gain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillResult {
    pub position: PerpPosition,
    pub realised: i128,
}

impl PerpPosition {
    pub const FLAT: PerpPosition = PerpPosition { quantity: 0, cost_e18: 0 };

    /// Applies a fill of signed `quantity` (positive a buy) at `price`.
    pub fn apply_fill(self, quantity: i128, price: Price, spec: ContractSpec) -> Result<FillResult, ClearingError> {
        if quantity == 0 {
            return Err(ClearingError::ZeroQuantity);
        }
        price.positive("fill price")?;
        let result = if self.quantity == 0 || self.quantity.signum() == quantity.signum() {
            FillResult { position: self.increase(quantity, price, spec)?, realised: 0 }
        } else {
            self.reduce(quantity, price, spec)?
        };
        result.position.check();
        Ok(result)
    }

    /// The P&L of closing the whole position at `mark`, in settlement units, rounded down.
    pub fn unrealised(self, mark: Price, spec: ContractSpec) -> Result<i128, ClearingError> {
        self.check();
        mark.positive("mark price")?;
        let value = spec.value_e18(self.quantity, mark, Rounding::Floor)?;
        spec.to_settlement_units(sub(value, self.cost_e18, "unrealised")?, Rounding::Floor)
    }

    /// The average entry price, `cost / quantity` (rounded down; for reports only, never used
    /// in settlement). `None` when flat.
    pub fn average_entry_price(self, spec: ContractSpec) -> Result<Option<Price>, ClearingError> {
        if self.quantity == 0 {
            return Ok(None);
        }
        Ok(Some(Price(mul_div(self.cost_e18, spec.quantity_scale().one(), self.quantity, Rounding::Floor)?)))
    }

    fn increase(self, quantity: i128, price: Price, spec: ContractSpec) -> Result<PerpPosition, ClearingError> {
        let cost = spec.value_e18(quantity, price, Rounding::Ceil)?;
        Ok(PerpPosition { quantity: add(self.quantity, quantity, "position")?, cost_e18: add(self.cost_e18, cost, "position cost")? })
    }

    /// Closes `min(|quantity|, |position|)` and opens any remainder at `price`.
    fn reduce(self, quantity: i128, price: Price, spec: ContractSpec) -> Result<FillResult, ClearingError> {
        // `closed` has the position's sign; `|closed| <= |self.quantity|`.
        let closed = if quantity.unsigned_abs() >= self.quantity.unsigned_abs() { self.quantity } else { -quantity };
        let removed_cost =
            if closed == self.quantity { self.cost_e18 } else { mul_div(self.cost_e18, closed, self.quantity, Rounding::Ceil)? };
        let proceeds = spec.value_e18(closed, price, Rounding::Floor)?;
        let realised = spec.to_settlement_units(sub(proceeds, removed_cost, "realised")?, Rounding::Floor)?;
        let rest = PerpPosition { quantity: self.quantity - closed, cost_e18: sub(self.cost_e18, removed_cost, "position cost")? };
        let remainder = add(quantity, closed, "fill remainder")?;
        let position = if remainder == 0 { rest } else { PerpPosition::FLAT.increase(remainder, price, spec)? };
        Ok(FillResult { position, realised })
    }

    /// A flat position has no cost; a fully closed position must come out flat.
    fn check(self) {
        assert!(self.quantity != 0 || self.cost_e18 == 0, "a flat position carries cost {}", self.cost_e18);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ONE_E18;

    /// ETH perp: quantity scale 2 (0.01 ETH), settled in USDC (6 decimals).
    fn spec() -> ContractSpec {
        ContractSpec::new(2, 6).unwrap()
    }

    fn price(whole: i128) -> Price {
        Price(whole * ONE_E18)
    }

    #[test]
    fn increasing_fills_re_average_the_entry() {
        // Buy 1.00 at 2000 then 3.00 at 2100: cost 2000 + 6300 = 8300 over 4.00 = 2075.
        let position = PerpPosition::FLAT.apply_fill(100, price(2000), spec()).unwrap().position;
        let result = position.apply_fill(300, price(2100), spec()).unwrap();
        assert_eq!(result.realised, 0);
        assert_eq!(result.position, PerpPosition { quantity: 400, cost_e18: 8_300 * ONE_E18 });
        assert_eq!(result.position.average_entry_price(spec()).unwrap(), Some(price(2075)));
    }

    #[test]
    fn a_reducing_fill_realises_against_the_average_entry() {
        // Long 4.00 at average 2075; sell 1.00 at 2200: realised 1 * (2200 - 2075) = 125 USDC.
        // Remaining 3.00 keeps the 2075 average: cost 6225.
        let position = PerpPosition { quantity: 400, cost_e18: 8_300 * ONE_E18 };
        let result = position.apply_fill(-100, price(2200), spec()).unwrap();
        assert_eq!(result.realised, 125_000_000);
        assert_eq!(result.position, PerpPosition { quantity: 300, cost_e18: 6_225 * ONE_E18 });
        // Unrealised of the rest at a mark of 2000: 3 * (2000 - 2075) = -225 USDC.
        assert_eq!(result.position.unrealised(price(2000), spec()).unwrap(), -225_000_000);
    }

    #[test]
    fn a_flip_closes_everything_and_opens_the_rest_at_the_fill_price() {
        // Short 2.00 at 1500 (cost -3000); buy 5.00 at 1400: closes 2.00 realising
        // -2*1400 - (-3000) = +200 USDC, opens long 3.00 at 1400 (cost 4200).
        let position = PerpPosition::FLAT.apply_fill(-200, price(1500), spec()).unwrap().position;
        assert_eq!(position.cost_e18, -3_000 * ONE_E18);
        let result = position.apply_fill(500, price(1400), spec()).unwrap();
        assert_eq!(result.realised, 200_000_000);
        assert_eq!(result.position, PerpPosition { quantity: 300, cost_e18: 4_200 * ONE_E18 });
    }

    #[test]
    fn gains_round_down_and_losses_round_up() {
        // Quantity scale 0, settlement scale 0 (whole units) to make the rounding visible; the
        // cost keeps 18 decimals. Long 3 at cost 10 (average 3.333...):
        // sell 1 at 4: removed ceil(10e18 / 3) = 3_333_333_333_333_333_334, realised
        //   0.666_666_666_666_666_666 -> a gain rounded down to 0;
        // sell 1 at 3: removed ceil(6_666_666_666_666_666_666 / 2) = 3_333_333_333_333_333_333,
        //   realised -0.333_333_333_333_333_333 -> a loss rounded up to -1;
        // sell the last 1 at 2: removed the rest 3_333_333_333_333_333_333, realised -1.333... -> -2.
        // Total -3 against the exact 4 + 3 + 2 - 10 = -1: each close rounds against the client.
        let whole = ContractSpec::new(0, 0).unwrap();
        let position = PerpPosition { quantity: 3, cost_e18: 10 * ONE_E18 };
        let result = position.apply_fill(-1, price(4), whole).unwrap();
        assert_eq!(result.realised, 0);
        assert_eq!(result.position, PerpPosition { quantity: 2, cost_e18: 6_666_666_666_666_666_666 });
        let result = result.position.apply_fill(-1, price(3), whole).unwrap();
        assert_eq!(result.realised, -1);
        assert_eq!(result.position, PerpPosition { quantity: 1, cost_e18: 3_333_333_333_333_333_333 });
        let result = result.position.apply_fill(-1, price(2), whole).unwrap();
        assert_eq!(result.realised, -2);
        assert_eq!(result.position, PerpPosition::FLAT);
        // Long 3 at cost 10.5: selling 1 at 2 removes 3.5 exactly and realises -1.5 -> -2.
        let half = PerpPosition { quantity: 3, cost_e18: 10 * ONE_E18 + ONE_E18 / 2 };
        assert_eq!(half.apply_fill(-1, price(2), whole).unwrap().realised, -2);
    }

    #[test]
    fn unrealised_and_average_of_a_short() {
        // Short 2.50 at 1000: cost -2500; at a mark of 1100 it has lost 250 USDC.
        let position = PerpPosition::FLAT.apply_fill(-250, price(1000), spec()).unwrap().position;
        assert_eq!(position.unrealised(price(1100), spec()).unwrap(), -250_000_000);
        assert_eq!(position.average_entry_price(spec()).unwrap(), Some(price(1000)));
        assert_eq!(PerpPosition::FLAT.average_entry_price(spec()).unwrap(), None);
    }

    #[test]
    fn bad_fills_are_refused() {
        assert_eq!(PerpPosition::FLAT.apply_fill(0, price(1), spec()), Err(ClearingError::ZeroQuantity));
        assert!(matches!(PerpPosition::FLAT.apply_fill(1, Price(0), spec()), Err(ClearingError::NonPositive { .. })));
    }
}
