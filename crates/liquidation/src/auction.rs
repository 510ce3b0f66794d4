//! The close-out price: a Dutch auction, then the house.
//!
//! A liquidated account sells its longs and buys back its shorts. The auction starts at the mark
//! moved against the account by `start_discount_bps` and moves further by `growth_bps_per_s`
//! each second, up to `cap_bps`:
//!
//! `discount(t) = min(start + floor(growth x t_ms / 1000), cap)`,
//! sell price `= ceil(mark x (1 - discount))`, buy price `= floor(mark x (1 + discount))`
//!
//! (rounded for the account being closed: its proceeds feed the waterfall, so rounding them up
//! is rounding in the broker's favour). Registered liquidators and the house fill at the current
//! price up to their limit. What is left at `duration_ms` goes to the house at the mark. In both
//! cases the account pays a penalty `ceil(notional at mark x penalty_bps)`, of which
//! `ceil(penalty x insurance_ppm)` goes to the insurance fund and the rest to the filler (the
//! house, on the fallback).

use crate::{BPS, LiquidationError, PPM};
use money::{Rounding, mul_div};
use serde::{Deserialize, Serialize};

/// Auction and penalty parameters (configuration; `docs/liquidation.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionParams {
    pub start_discount_bps: u32,
    pub growth_bps_per_s: u32,
    pub cap_bps: u32,
    pub duration_ms: u64,
    pub penalty_bps: u32,
    /// The insurance fund's part of the penalty (ppm); the filler gets the rest.
    pub insurance_ppm: u32,
}

impl AuctionParams {
    /// Checks the parameters: `start <= cap < 100%`, a penalty below 100%, a positive duration.
    pub fn validate(&self) -> Result<(), LiquidationError> {
        let bad = LiquidationError::InvalidParameter;
        if self.start_discount_bps > self.cap_bps || self.cap_bps as i128 >= BPS {
            return Err(bad("auction discounts must satisfy start <= cap < 10000 bps"));
        }
        if self.penalty_bps as i128 >= BPS || self.insurance_ppm as i128 > PPM || self.duration_ms == 0 {
            return Err(bad("penalty below 10000 bps, insurance share at most 1, positive duration"));
        }
        Ok(())
    }
}

/// The side the liquidated account trades on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Closing a long.
    Sell,
    /// Closing a short.
    Buy,
}

/// One open auction of one position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    pub side: Side,
    /// Quantity still to close (positive).
    pub qty_left: i128,
    /// Mark price at the start (price units per unit of quantity).
    pub mark: i128,
    pub started_ms: u64,
}

/// A fill of an auction (or of the house's takeover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub qty: i128,
    pub price: i128,
}

/// The discount in force `now_ms`, or `AuctionEnded`.
pub fn discount_bps(params: &AuctionParams, auction: &Auction, now_ms: u64) -> Result<u32, LiquidationError> {
    let elapsed = now_ms.checked_sub(auction.started_ms).ok_or(LiquidationError::OutOfRange("time before the auction"))?;
    if elapsed >= params.duration_ms {
        return Err(LiquidationError::AuctionEnded);
    }
    let grown = (params.growth_bps_per_s as u128 * elapsed as u128) / 1_000;
    let discount = (params.start_discount_bps as u128 + grown).min(params.cap_bps as u128);
    Ok(discount as u32)
}

/// The auction's price `now_ms`.
pub fn price(params: &AuctionParams, auction: &Auction, now_ms: u64) -> Result<i128, LiquidationError> {
    let d = discount_bps(params, auction, now_ms)? as i128;
    let p = match auction.side {
        Side::Sell => mul_div(auction.mark, BPS - d, BPS, Rounding::Ceil)?,
        Side::Buy => mul_div(auction.mark, BPS + d, BPS, Rounding::Floor)?,
    };
    assert!(within_cap(params, auction, p), "an auction price stays between the mark and the cap");
    Ok(p)
}

fn within_cap(params: &AuctionParams, auction: &Auction, p: i128) -> bool {
    let cap = params.cap_bps as i128;
    let far = match auction.side {
        Side::Sell => mul_div(auction.mark, BPS - cap, BPS, Rounding::Floor),
        Side::Buy => mul_div(auction.mark, BPS + cap, BPS, Rounding::Ceil),
    };
    match (auction.side, far) {
        (Side::Sell, Ok(low)) => low <= p && p <= auction.mark,
        (Side::Buy, Ok(high)) => auction.mark <= p && p <= high,
        _ => false,
    }
}

/// A liquidator's (or the house's) bid: up to `qty` at no worse than `limit` (for a Sell auction
/// the most it pays, for a Buy auction the least it accepts). Fills at the auction's price.
pub fn fill(params: &AuctionParams, auction: &mut Auction, qty: i128, limit: i128, now_ms: u64) -> Result<Fill, LiquidationError> {
    if qty <= 0 {
        return Err(LiquidationError::OutOfRange("bid quantity must be positive"));
    }
    if auction.qty_left == 0 {
        return Err(LiquidationError::NothingLeft);
    }
    let p = price(params, auction, now_ms)?;
    let acceptable = match auction.side {
        Side::Sell => p <= limit,
        Side::Buy => p >= limit,
    };
    if !acceptable {
        return Err(LiquidationError::OutOfRange("the auction price is beyond the bid's limit"));
    }
    let take = qty.min(auction.qty_left);
    auction.qty_left -= take;
    Ok(Fill { qty: take, price: p })
}

/// The house takes what is left at the mark (the penalty is charged separately).
pub fn house_takeover(auction: &mut Auction) -> Result<Fill, LiquidationError> {
    if auction.qty_left == 0 {
        return Err(LiquidationError::NothingLeft);
    }
    let fill = Fill { qty: auction.qty_left, price: auction.mark };
    auction.qty_left = 0;
    Ok(fill)
}

/// The penalty on a closed notional and its split: (to the insurance fund, to the filler).
pub fn penalty(params: &AuctionParams, notional: i128) -> Result<(i128, i128), LiquidationError> {
    if notional < 0 {
        return Err(LiquidationError::OutOfRange("notional is never negative"));
    }
    let total = mul_div(notional, params.penalty_bps as i128, BPS, Rounding::Ceil)?;
    let insurance = mul_div(total, params.insurance_ppm as i128, PPM, Rounding::Ceil)?;
    assert!(insurance <= total, "the insurance share is part of the penalty");
    Ok((insurance, total - insurance))
}

/// The insurance fund's share of a fill's net trading fee `net` (smallest units) at `ppm`:
/// `ceil(net x ppm / 10^6)`, rounded in the fund's favour and never above `net`; nothing on a
/// net rebate.
pub fn insurance_fee_share(net: i128, ppm: u32) -> Result<i128, LiquidationError> {
    if i128::from(ppm) > PPM {
        return Err(LiquidationError::InvalidParameter("insurance_fee_ppm above 10^6"));
    }
    if net <= 0 {
        return Ok(0);
    }
    let share = mul_div(net, i128::from(ppm), PPM, Rounding::Ceil)?;
    assert!((0..=net).contains(&share), "the fund's share is part of the fee");
    Ok(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fee_share_rounds_up_to_the_fund() {
        // 1.5 USDC (1,500,000 units) at 10%: 150,000; 7 units at 10%: 0.7 -> 1; a rebate: none.
        assert_eq!(insurance_fee_share(1_500_000, 100_000), Ok(150_000));
        assert_eq!(insurance_fee_share(7, 100_000), Ok(1));
        assert_eq!(insurance_fee_share(7, 1_000_000), Ok(7));
        assert_eq!(insurance_fee_share(-3, 100_000), Ok(0));
        assert!(insurance_fee_share(7, 1_000_001).is_err());
    }

    fn params() -> AuctionParams {
        AuctionParams {
            start_discount_bps: 50,
            growth_bps_per_s: 10,
            cap_bps: 300,
            duration_ms: 60_000,
            penalty_bps: 100,
            insurance_ppm: 500_000,
        }
    }

    #[test]
    fn discount_grows_to_the_cap() {
        let p = params();
        let a = Auction { side: Side::Sell, qty_left: 10, mark: 2_000_000, started_ms: 1_000 };
        assert_eq!(discount_bps(&p, &a, 1_000).unwrap(), 50);
        assert_eq!(discount_bps(&p, &a, 11_000).unwrap(), 150); // 50 + 10 x 10 s
        assert_eq!(discount_bps(&p, &a, 59_999).unwrap(), 300); // capped
        assert_eq!(discount_bps(&p, &a, 61_000).unwrap_err(), LiquidationError::AuctionEnded);
        // Sell at 1.5% below 2,000,000 = 1,970,000; buy at 1.5% above.
        assert_eq!(price(&p, &a, 11_000).unwrap(), 1_970_000);
        let b = Auction { side: Side::Buy, ..a };
        assert_eq!(price(&p, &b, 11_000).unwrap(), 2_030_000);
    }

    #[test]
    fn rounding_favours_the_closed_account() {
        let p = params();
        // mark 999 at 50 bps: sell 994.005 -> 995 (ceil), buy 1003.995 -> 1003 (floor).
        let a = Auction { side: Side::Sell, qty_left: 1, mark: 999, started_ms: 0 };
        assert_eq!(price(&p, &a, 0).unwrap(), 995);
        assert_eq!(price(&p, &Auction { side: Side::Buy, ..a }, 0).unwrap(), 1_003);
    }

    #[test]
    fn fills_respect_limits_and_quantity() {
        let p = params();
        let mut a = Auction { side: Side::Sell, qty_left: 10, mark: 1_000_000, started_ms: 0 };
        // Price at t=0 is 995,000; a bid limited at 990,000 waits.
        assert!(fill(&p, &mut a, 4, 990_000, 0).is_err());
        // At t=5 s the discount is 100 bps: price 990,000, filled.
        assert_eq!(fill(&p, &mut a, 4, 990_000, 5_000).unwrap(), Fill { qty: 4, price: 990_000 });
        assert_eq!(fill(&p, &mut a, 100, 999_999, 6_000).unwrap().qty, 6);
        assert_eq!(fill(&p, &mut a, 1, 999_999, 7_000).unwrap_err(), LiquidationError::NothingLeft);
        let mut b = Auction { side: Side::Sell, qty_left: 3, mark: 1_000, started_ms: 0 };
        assert_eq!(house_takeover(&mut b).unwrap(), Fill { qty: 3, price: 1_000 });
    }

    #[test]
    fn penalty_split_is_exact() {
        let p = params();
        // 1% of 12,345 = 123.45 -> 124; half to the fund: 62, 62.
        assert_eq!(penalty(&p, 12_345).unwrap(), (62, 62));
        // 1% of 10,100 = 101; half = 50.5 -> 51 to the fund, 50 to the filler.
        assert_eq!(penalty(&p, 10_100).unwrap(), (51, 50));
        let bad = AuctionParams { cap_bps: 10_000, ..p };
        assert!(bad.validate().is_err());
        assert!(p.validate().is_ok());
    }
}
