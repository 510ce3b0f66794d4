//! A Uniswap v2 pair (0.3% fee) over `pricing::uniswap_v2::exact`.

use super::{TokenId, Venue, VenueKind, check_limit_price, contract, pair_not_traded, positive_input, to_amount, u256_to_f64};
use crate::error::RouterError;
use money::Amount;
use pricing::uniswap_v2::exact;
use ruint::aliases::U256;

/// The pair's fee-adjusted input share, 997/1000.
const GAMMA: f64 = 0.997;

/// A constant-product pair: the swap output is `getAmountOut`, and the pair's own `swap` (with its k
/// check) accepts it; reserves update as the contract's `_update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniswapV2Pair {
    /// Configured id.
    pub id: String,
    /// Token 0 and token 1 (the pair's sort order).
    pub tokens: [TokenId; 2],
    /// Reserves in raw units, as `getReserves`.
    pub reserves: [U256; 2],
}

impl UniswapV2Pair {
    /// A pair with positive reserves within uint112.
    ///
    /// # Errors
    /// `ConfigInvalid` for a zero or oversized reserve or equal tokens.
    pub fn new(id: &str, tokens: [TokenId; 2], reserves: [U256; 2]) -> Result<Self, RouterError> {
        for r in reserves {
            if r.is_zero() || r > exact::max_reserve() {
                return Err(RouterError::ConfigInvalid {
                    field: format!("{id}.reserves"),
                    value: r.to_string(),
                    reason: "must be in 1..2^112",
                });
            }
        }
        if tokens[0] == tokens[1] {
            return Err(RouterError::ConfigInvalid {
                field: format!("{id}.tokens"),
                value: format!("{:?}", tokens),
                reason: "tokens must differ",
            });
        }
        Ok(UniswapV2Pair { id: id.to_string(), tokens, reserves })
    }

    /// Index of the input token (0 or 1), or `PairNotTraded`.
    fn side(&self, from: TokenId, to: TokenId) -> Result<usize, RouterError> {
        match (from, to) {
            (f, t) if f == self.tokens[0] && t == self.tokens[1] => Ok(0),
            (f, t) if f == self.tokens[1] && t == self.tokens[0] => Ok(1),
            _ => Err(pair_not_traded(&self.id, from, to)),
        }
    }

    fn reserves_in_out(&self, side: usize) -> (U256, U256) {
        (self.reserves[side], self.reserves[1 - side])
    }
}

impl Venue for UniswapV2Pair {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> VenueKind {
        VenueKind::UniswapV2
    }

    fn fee_bps(&self) -> f64 {
        30.0
    }

    fn trades(&self, from: TokenId, to: TokenId) -> bool {
        self.side(from, to).is_ok()
    }

    fn quote(&self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let side = self.side(from, to)?;
        let input = positive_input(amount_in)?;
        let (reserve_in, reserve_out) = self.reserves_in_out(side);
        let out = exact::get_amount_out(input, reserve_in, reserve_out).map_err(contract(&self.id))?;
        to_amount(out)
    }

    fn execute(&mut self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let side = self.side(from, to)?;
        let output = self.quote(from, to, amount_in)?;
        let input = positive_input(amount_in)?;
        let out = U256::from(output.0.unsigned_abs());
        let (amounts_in, amounts_out) =
            if side == 0 { ((input, U256::ZERO), (U256::ZERO, out)) } else { ((U256::ZERO, input), (out, U256::ZERO)) };
        // The pair's own swap (balances, k check, uint112) decides; the quote must pass it.
        let (r0, r1) = exact::swap((self.reserves[0], self.reserves[1]), amounts_in, amounts_out).map_err(contract(&self.id))?;
        self.reserves = [r0, r1];
        Ok(output)
    }

    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError> {
        let (reserve_in, reserve_out) = self.reserves_in_out(self.side(from, to)?);
        Ok(GAMMA * u256_to_f64(reserve_out) / u256_to_f64(reserve_in))
    }

    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError> {
        // The reserve must stay within uint112 after the input.
        let (reserve_in, _) = self.reserves_in_out(self.side(from, to)?);
        to_amount(exact::max_reserve() - reserve_in)
    }

    /// Closed form: after a net input g a the marginal output is g x y / (x + g a)^2, so the input for a
    /// marginal price m is a = (sqrt(g x y / m) - x) / g.
    fn depth_to_price(&self, from: TokenId, to: TokenId, limit_price: f64) -> Result<Amount, RouterError> {
        check_limit_price(limit_price)?;
        let (reserve_in, reserve_out) = self.reserves_in_out(self.side(from, to)?);
        let (x, y) = (u256_to_f64(reserve_in), u256_to_f64(reserve_out));
        let a = ((GAMMA * x * y / limit_price).sqrt() - x) / GAMMA;
        if a <= 0.0 {
            return Ok(Amount::ZERO);
        }
        let max = self.max_input(from, to)?.0;
        Ok(Amount((a.floor() as i128).min(max)))
    }
}
