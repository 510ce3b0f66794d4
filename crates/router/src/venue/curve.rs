//! A Curve StableSwap pool over `pricing::curve::exact::StableSwapPool` (the 3pool-generation contract
//! and curvesim 0.5.0's `CurvePool.exchange`).

use super::{TokenId, Venue, VenueKind, contract, pair_not_traded, positive_input, to_amount, u256_to_f64};
use crate::error::RouterError;
use money::Amount;
use pricing::curve::MAX_COINS;
use pricing::curve::exact::StableSwapPool;
use ruint::aliases::U256;

/// A StableSwap pool; coin k is `tokens[k]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveStableSwap {
    /// Configured id.
    pub id: String,
    /// The pool's coins in index order.
    pub tokens: Vec<TokenId>,
    /// The pool's integer state.
    pub pool: StableSwapPool,
}

impl CurveStableSwap {
    /// A pool from its coins, their decimals, contract A, fee and admin fee (1e10 precision) and
    /// balances (raw units).
    ///
    /// # Errors
    /// `ConfigInvalid` for 2..=4 coins violated, duplicate coins, zero balances, decimals > 36, or a fee
    /// of 100% or more.
    pub fn new(
        id: &str,
        tokens: &[TokenId],
        decimals: &[u8],
        amp: u64,
        fee: u64,
        admin_fee: u64,
        balances: &[U256],
    ) -> Result<Self, RouterError> {
        let invalid = |field: &str, value: String, reason| RouterError::ConfigInvalid { field: format!("{id}.{field}"), value, reason };
        let n = tokens.len();
        if !(2..=MAX_COINS).contains(&n) || decimals.len() != n || balances.len() != n {
            return Err(invalid("coins", n.to_string(), "2..=4 coins, each with decimals and a balance"));
        }
        if (1..n).any(|k| tokens[..k].contains(&tokens[k])) {
            return Err(invalid("coins", format!("{tokens:?}"), "coins must differ"));
        }
        if amp == 0 || fee >= pricing::curve::exact::FEE_DENOMINATOR || admin_fee > pricing::curve::exact::FEE_DENOMINATOR {
            return Err(invalid("amp/fee", format!("{amp}/{fee}/{admin_fee}"), "A > 0, fee < 1e10, admin fee <= 1e10"));
        }
        let mut rates = [U256::ZERO; MAX_COINS];
        let mut pool_balances = [U256::ZERO; MAX_COINS];
        for k in 0..n {
            if decimals[k] > 36 || balances[k].is_zero() {
                return Err(invalid("balances", balances[k].to_string(), "positive, with at most 36 decimals"));
            }
            rates[k] = U256::from(10u8).pow(U256::from(36 - decimals[k]));
            pool_balances[k] = balances[k];
        }
        let pool = StableSwapPool {
            amp: U256::from(amp),
            a_precision: U256::from(1u8),
            fee: U256::from(fee),
            admin_fee: U256::from(admin_fee),
            rates,
            balances: pool_balances,
            n_coins: n,
        };
        pool.d().map_err(contract(id))?;
        Ok(CurveStableSwap { id: id.to_string(), tokens: tokens.to_vec(), pool })
    }

    fn indices(&self, from: TokenId, to: TokenId) -> Result<(usize, usize), RouterError> {
        let i = self.tokens.iter().position(|&t| t == from);
        let j = self.tokens.iter().position(|&t| t == to);
        match (i, j) {
            (Some(i), Some(j)) if i != j => Ok((i, j)),
            _ => Err(pair_not_traded(&self.id, from, to)),
        }
    }
}

impl Venue for CurveStableSwap {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> VenueKind {
        VenueKind::CurveStableSwap
    }

    fn fee_bps(&self) -> f64 {
        u256_to_f64(self.pool.fee) / 1e6
    }

    fn trades(&self, from: TokenId, to: TokenId) -> bool {
        self.indices(from, to).is_ok()
    }

    fn quote(&self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let (i, j) = self.indices(from, to)?;
        let (dy, _fee, _admin) = self.pool.quote(i, j, positive_input(amount_in)?).map_err(contract(&self.id))?;
        to_amount(dy)
    }

    fn execute(&mut self, from: TokenId, to: TokenId, amount_in: Amount) -> Result<Amount, RouterError> {
        let (i, j) = self.indices(from, to)?;
        let mut pool = self.pool;
        let (dy, _fee) = pool.exchange(i, j, positive_input(amount_in)?).map_err(contract(&self.id))?;
        self.pool = pool;
        to_amount(dy)
    }

    /// From an exact quote of one millionth of the input coin's balance (the curve is flat to far better
    /// than that near balance).
    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError> {
        let (i, _) = self.indices(from, to)?;
        let probe = to_amount(self.pool.balances[i] / U256::from(1_000_000u32))?.0.max(1_000);
        let out = self.quote(from, to, Amount(probe))?;
        Ok(out.0 as f64 / probe as f64)
    }

    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError> {
        // Past ten times the input coin's balance the pool has paid out nearly all of the output coin.
        let (i, _) = self.indices(from, to)?;
        to_amount(self.pool.balances[i] * U256::from(10u8))
    }
}
