//! A Curve StableSwap pool over `pricing::curve::exact::StableSwapPool` (the 3pool-generation contract
//! and curvesim 0.5.0's `CurvePool.exchange`).

use super::{
    DEPTH_BISECTION_STEPS, TokenId, Venue, VenueKind, check_limit_price, contract, pair_not_traded, positive_input, to_amount, u256_to_f64,
};
use crate::error::RouterError;
use crate::solve::{Bracket, illinois};
use money::Amount;
use pricing::curve::exact::StableSwapPool;
use pricing::curve::{MAX_COINS, get_d_f64, get_y_f64, marginal_dy_dx_f64};
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

/// Floor of the log gap to the limit price in the depth search (a marginal of zero or a failed solve).
const GAP_FLOOR: f64 = 50.0;

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

    /// The invariant's derivative (`pricing::curve::marginal_dy_dx_f64`) net of the fee, in raw units.
    fn marginal_price(&self, from: TokenId, to: TokenId) -> Result<f64, RouterError> {
        let (i, j) = self.indices(from, to)?;
        let (x, d) = self.whole_balances()?;
        Ok(self.raw_marginal(i, j, &x, d))
    }

    fn max_input(&self, from: TokenId, to: TokenId) -> Result<Amount, RouterError> {
        // Past ten times the input coin's balance the pool has paid out nearly all of the output coin.
        let (i, _) = self.indices(from, to)?;
        to_amount(self.pool.balances[i] * U256::from(10u8))
    }

    /// Bisection on the input with the f64 invariant (`get_y_f64`, analytic marginal): the input whose
    /// post-trade marginal price net of fee is `limit_price`.
    fn depth_to_price(&self, from: TokenId, to: TokenId, limit_price: f64) -> Result<Amount, RouterError> {
        check_limit_price(limit_price)?;
        let (i, j) = self.indices(from, to)?;
        let (x, d) = self.whole_balances()?;
        if self.raw_marginal(i, j, &x, d) <= limit_price {
            return Ok(Amount::ZERO);
        }
        let max = self.max_input(from, to)?.0;
        let raw_to_whole = u256_to_f64(self.pool.rates[i]) / 1e36;
        // ln(marginal / limit) after an input of `a`: decreasing in `a`; a failed solve counts as
        // far below the limit.
        let gap = |a: f64| -> Result<f64, RouterError> {
            let mut after = x;
            after[i] = x[i] + a * raw_to_whole;
            let priced = get_y_f64(i, j, after[i], &x[..self.pool.n_coins], self.amp_f64(), d).map(|y| {
                after[j] = y;
                self.raw_marginal(i, j, &after, d)
            });
            Ok(match priced {
                Ok(m) if m > 0.0 => (m / limit_price).ln().max(-GAP_FLOOR),
                _ => -GAP_FLOOR,
            })
        };
        let (top, at_max) = (max as f64, gap(max as f64)?);
        if at_max >= 0.0 {
            return Ok(Amount(max));
        }
        let start = Bracket { lo: 0.0, hi: top, f_lo: (self.raw_marginal(i, j, &x, d) / limit_price).ln(), f_hi: at_max };
        let done = |b: &Bracket| b.hi - b.lo <= 1.0 || b.hi - b.lo <= b.hi * 1e-12;
        let (b, _) = illinois(start, DEPTH_BISECTION_STEPS, done, gap)?;
        Ok(Amount((b.lo.floor() as i128).min(max)))
    }
}

impl CurveStableSwap {
    fn amp_f64(&self) -> f64 {
        u256_to_f64(self.pool.amp)
    }

    /// Normalised balances in whole units (f64) and the f64 invariant.
    fn whole_balances(&self) -> Result<([f64; MAX_COINS], f64), RouterError> {
        let xp = self.pool.xp().map_err(contract(&self.id))?;
        let mut x = [0.0; MAX_COINS];
        for k in 0..self.pool.n_coins {
            x[k] = u256_to_f64(xp[k]) / 1e18;
        }
        let d = get_d_f64(&x[..self.pool.n_coins], self.amp_f64()).map_err(contract(&self.id))?;
        Ok((x, d))
    }

    /// Marginal output per raw input net of the fee at whole balances `x`.
    fn raw_marginal(&self, i: usize, j: usize, x: &[f64; MAX_COINS], d: f64) -> f64 {
        let keep = 1.0 - u256_to_f64(self.pool.fee) / pricing::curve::exact::FEE_DENOMINATOR as f64;
        let dy_dx = marginal_dy_dx_f64(i, j, &x[..self.pool.n_coins], self.amp_f64(), d);
        // Raw in -> normalised: x rate_i / 1e18; normalised out -> raw: x 1e18 / rate_j.
        keep * dy_dx * u256_to_f64(self.pool.rates[i]) / u256_to_f64(self.pool.rates[j])
    }
}
