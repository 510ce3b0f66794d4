//! The quote leg of a spot fill: the buyer pays the notional rounded up, the seller receives it
//! rounded down, and the house keeps the difference (at most one unit), so the fill conserves
//! both assets exactly. The base leg moves exactly `base_quantity` from seller to buyer.

use crate::{ClearingError, ContractSpec, Price, sub};
use money::Rounding;
use serde::{Deserialize, Serialize};

/// The quote amounts of one spot fill, in quote-asset units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotFill {
    /// `ceil(base_quantity * price)`: the fill's quote notional, on which fees are computed.
    pub buyer_pays: i128,
    /// `floor(base_quantity * price)`.
    pub seller_receives: i128,
    /// `buyer_pays - seller_receives`, 0 or 1, credited to the house.
    pub house_residue: i128,
}

/// Settles a fill of `base_quantity` (positive, at the base asset's decimals =
/// `spec.quantity_scale()`) at `price` (quote per whole base unit, 18 decimals) in the quote asset
/// (`spec.settlement_scale()` decimals).
pub fn settle_spot_fill(base_quantity: i128, price: Price, spec: ContractSpec) -> Result<SpotFill, ClearingError> {
    if base_quantity <= 0 {
        return Err(ClearingError::NonPositive { what: "fill quantity", value: base_quantity });
    }
    price.positive("fill price")?;
    let buyer_pays = spec.settlement_value(base_quantity, price, Rounding::Ceil)?;
    let seller_receives = spec.settlement_value(base_quantity, price, Rounding::Floor)?;
    let house_residue = sub(buyer_pays, seller_receives, "spot residue")?;
    assert!((0..=1).contains(&house_residue), "floor and ceil of one value differ by at most one");
    Ok(SpotFill { buyer_pays, seller_receives, house_residue })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ONE_E18;

    #[test]
    fn the_buyer_pays_up_the_seller_receives_down() {
        // 0.000000000000000003 ETH (3 wei, 18 decimals) at 2000.5 USDC (6 decimals):
        // 3e-18 * 2000.5 = 6.0015e-15 USDC = 0.0000000060015 units: buyer pays 1, seller gets 0.
        let spec = ContractSpec::new(18, 6).unwrap();
        let price = Price(2_000 * ONE_E18 + ONE_E18 / 2);
        assert_eq!(settle_spot_fill(3, price, spec).unwrap(), SpotFill { buyer_pays: 1, seller_receives: 0, house_residue: 1 });
        // 1.5 ETH at 2000.5: 3000.75 USDC exactly, nothing to round.
        let exact = settle_spot_fill(1_500_000_000_000_000_000, price, spec).unwrap();
        assert_eq!(exact, SpotFill { buyer_pays: 3_000_750_000, seller_receives: 3_000_750_000, house_residue: 0 });
    }

    #[test]
    fn bad_fills_are_refused() {
        let spec = ContractSpec::new(18, 6).unwrap();
        assert!(matches!(settle_spot_fill(0, Price(ONE_E18), spec), Err(ClearingError::NonPositive { .. })));
        assert!(matches!(settle_spot_fill(1, Price(-1), spec), Err(ClearingError::NonPositive { .. })));
    }
}
