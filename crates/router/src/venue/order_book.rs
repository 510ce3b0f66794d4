//! An order-book venue (spot or perpetual) with depth levels and a taker fee.
//!
//! Prices are integers: raw quote units per *whole* base unit (10^base_decimals raw). Buying base with
//! quote walks the asks upwards, selling base walks the bids downwards; each level fills at its price,
//! rounded down for what the taker receives. The taker fee (pips, 1e6) is taken from the input before
//! matching, rounded up.

use super::{TokenId, Venue, VenueKind, check_limit_price, pair_not_traded, positive_input};
use crate::error::RouterError;
use money::{Amount, Rounding, mul_div};

/// Fee denominator (pips: millionths).
const PIPS: i128 = 1_000_000;

/// Whether the book delivers the base asset (spot) or a position in it (perpetual). Spot routing never
/// passes through a perpetual; hedging may use either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// The base token is delivered.
    Spot,
    /// A perpetual future: the base amount is exposure, not tokens.
    Perp,
}

/// One price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookLevel {
    /// Raw quote units per whole base unit.
    pub price: i128,
    /// Resting size, raw base units.
    pub size: i128,
}

/// Which side of the book a taker hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSide {
    /// Taker buys base (hits asks).
    Buy,
    /// Taker sells base (hits bids).
    Sell,
}

/// A book: bids best (highest) first, asks best (lowest) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBookVenue {
    /// Configured id.
    pub id: String,
    /// Spot or perpetual.
    pub instrument: Instrument,
    /// Base and quote tokens.
    pub base: TokenId,
    /// Quote token.
    pub quote: TokenId,
    /// 10^base_decimals.
    pub base_unit: i128,
    /// Taker fee in pips.
    pub taker_fee_pips: i128,
    /// Bids, best first.
    pub bids: Vec<BookLevel>,
    /// Asks, best first.
    pub asks: Vec<BookLevel>,
}

impl OrderBookVenue {
    /// A book whose sides are sorted, positive and not crossed.
    ///
    /// # Errors
    /// `ConfigInvalid`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        instrument: Instrument,
        base: TokenId,
        quote: TokenId,
        base_decimals: u8,
        taker_fee_pips: i128,
        bids: Vec<BookLevel>,
        asks: Vec<BookLevel>,
    ) -> Result<Self, RouterError> {
        let invalid = |reason| RouterError::ConfigInvalid {
            field: format!("{id}.levels"),
            value: format!("{} bids, {} asks", bids.len(), asks.len()),
            reason,
        };
        let positive = bids.iter().chain(&asks).all(|l| l.price > 0 && l.size > 0);
        let sorted = bids.windows(2).all(|w| w[0].price > w[1].price) && asks.windows(2).all(|w| w[0].price < w[1].price);
        let uncrossed = match (bids.first(), asks.first()) {
            (Some(b), Some(a)) => b.price < a.price,
            _ => true,
        };
        if !positive || !sorted || !uncrossed || base == quote || !(0..PIPS).contains(&taker_fee_pips) || base_decimals > 36 {
            return Err(invalid("levels positive, bids falling, asks rising, not crossed; fee in [0, 1e6) pips"));
        }
        Ok(OrderBookVenue {
            id: id.to_string(),
            instrument,
            base,
            quote,
            base_unit: 10i128.pow(u32::from(base_decimals)),
            taker_fee_pips,
            bids,
            asks,
        })
    }

    fn side(&self, from: TokenId, to: TokenId) -> Result<BookSide, RouterError> {
        match (from, to) {
            (f, t) if f == self.quote && t == self.base => Ok(BookSide::Buy),
            (f, t) if f == self.base && t == self.quote => Ok(BookSide::Sell),
            _ => Err(pair_not_traded(&self.id, from, to)),
        }
    }

    fn levels(&self, side: BookSide) -> &[BookLevel] {
        match side {
            BookSide::Buy => &self.asks,
            BookSide::Sell => &self.bids,
        }
    }

    /// Input (raw, before fee) a level absorbs and the output it pays in full.
    fn level_capacity(&self, side: BookSide, level: BookLevel) -> Result<(i128, i128), RouterError> {
        let quote_value = mul_div(level.size, level.price, self.base_unit, Rounding::Floor)?;
        Ok(match side {
            BookSide::Buy => (mul_div(level.size, level.price, self.base_unit, Rounding::Ceil)?, level.size),
            BookSide::Sell => (level.size, quote_value),
        })
    }

    /// Walk the book with a net input; returns the output and the levels' remaining sizes.
    fn fill(&self, side: BookSide, net_input: i128) -> Result<(i128, Vec<BookLevel>), RouterError> {
        let mut remaining = net_input;
        let mut output = 0i128;
        let mut after = Vec::with_capacity(self.levels(side).len());
        for &level in self.levels(side) {
            if remaining == 0 {
                after.push(level);
                continue;
            }
            let (absorbs, pays) = self.level_capacity(side, level)?;
            if remaining >= absorbs {
                remaining -= absorbs;
                output += pays;
                continue;
            }
            let (filled_base, paid) = match side {
                BookSide::Buy => {
                    let base = mul_div(remaining, self.base_unit, level.price, Rounding::Floor)?;
                    (base, base)
                }
                BookSide::Sell => (remaining, mul_div(remaining, level.price, self.base_unit, Rounding::Floor)?),
            };
            output += paid;
            remaining = 0;
            if level.size > filled_base {
                after.push(BookLevel { price: level.price, size: level.size - filled_base });
            }
        }
        if remaining > 0 {
            return Err(RouterError::InsufficientLiquidity {
                venue: self.id.clone(),
                requested: net_input,
                available: net_input - remaining,
            });
        }
        Ok((output, after))
    }

    fn net_of_fee(&self, amount_in: i128) -> Result<i128, RouterError> {
        Ok(amount_in - mul_div(amount_in, self.taker_fee_pips, PIPS, Rounding::Ceil)?)
    }

    /// Net output per raw input at a level's price (raw units).
    fn level_price(&self, side: BookSide, level: BookLevel) -> f64 {
        let keep = 1.0 - self.taker_fee_pips as f64 / PIPS as f64;
        let per_base = level.price as f64 / self.base_unit as f64;
        match side {
            BookSide::Buy => keep / per_base,
            BookSide::Sell => keep * per_base,
        }
    }
}

impl Venue for OrderBookVenue {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> VenueKind {
        VenueKind::OrderBook(self.instrument)
    }

    fn fee_bps(&self) -> f64 {
        self.taker_fee_pips as f64 / 100.0
    }

    fn trades(&self, from: TokenId, to: TokenId) -> bool {
        self.side(from, to).is_ok()
    }

    fn quote(&self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let side = self.side(from, to)?;
        positive_input(amount_in)?;
        Ok(Amount(self.fill(side, self.net_of_fee(amount_in.0)?)?.0))
    }

    fn execute(&mut self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let side = self.side(from, to)?;
        positive_input(amount_in)?;
        let (output, after) = self.fill(side, self.net_of_fee(amount_in.0)?)?;
        match side {
            BookSide::Buy => self.asks = after,
            BookSide::Sell => self.bids = after,
        }
        Ok(Amount(output))
    }

    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError> {
        let side = self.side(from, to)?;
        let best = self.levels(side).first().ok_or_else(|| RouterError::InsufficientLiquidity {
            venue: self.id.clone(),
            requested: 1,
            available: 0,
        })?;
        Ok(self.level_price(side, *best))
    }

    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError> {
        let side = self.side(from, to)?;
        let mut net = 0i128;
        for &level in self.levels(side) {
            net += self.level_capacity(side, level)?.0;
        }
        // Gross input whose net of fee is at most the book's capacity.
        Ok(Amount(mul_div(net, PIPS, PIPS - self.taker_fee_pips, Rounding::Floor)?))
    }

    /// Sum of the levels whose net price is strictly better than the limit (gross of the fee).
    fn depth_to_price(&self, from: TokenId, to: TokenId, limit_price: f64) -> Result<Amount, RouterError> {
        check_limit_price(limit_price)?;
        let side = self.side(from, to)?;
        let mut net = 0i128;
        for &level in self.levels(side) {
            if self.level_price(side, level) <= limit_price {
                break;
            }
            net += self.level_capacity(side, level)?.0;
        }
        Ok(Amount(mul_div(net, PIPS, PIPS - self.taker_fee_pips, Rounding::Floor)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ETH (18 decimals) against USDC (6): asks 3,000.5 x 1 ETH, 3,001 x 2 ETH; fee 5 bp.
    fn book() -> OrderBookVenue {
        let eth = 10i128.pow(18);
        let asks = vec![BookLevel { price: 3_000_500_000, size: eth }, BookLevel { price: 3_001_000_000, size: 2 * eth }];
        let bids = vec![BookLevel { price: 2_999_500_000, size: eth }];
        OrderBookVenue::new("book", Instrument::Spot, TokenId(1), TokenId(0), 18, 500, bids, asks).unwrap()
    }

    #[test]
    fn a_buy_walks_the_asks_after_the_fee() {
        let mut venue = book();
        // 6,003.5 USDC gross; fee ceil(6,003.5e6 x 5e-4) = 3,001,750 raw; net 6,000,498,250: the first
        // level takes 3,000,500,000 for 1 ETH, the rest 2,999,998,250 buys floor(x 1e18 / 3,001e6) wei.
        let out = venue.execute(TokenId(0), TokenId(1), Amount(6_003_500_000)).unwrap();
        let second = 2_999_998_250i128 * 10i128.pow(18) / 3_001_000_000;
        assert_eq!(out, Amount(10i128.pow(18) + second));
        assert_eq!(venue.asks.len(), 1);
        assert_eq!(venue.asks[0].size, 2 * 10i128.pow(18) - second);
        // The bid side is untouched, and selling more than it holds is refused.
        assert!(venue.quote(TokenId(1), TokenId(0), Amount(2 * 10i128.pow(18))).is_err());
    }
}
