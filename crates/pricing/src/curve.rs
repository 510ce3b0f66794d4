//! Curve StableSwap pools.
//!
//! The contracts' amplification `A` (what `A()` returns, `amp` in curvesim) is the whitepaper's
//! A x n^(n-1); hence the contracts' `Ann = A x n` equals the whitepaper's A x n^n. Every function here
//! takes the *contract* A.
//!
//! - `exact`: `get_D`, `get_y` and `exchange` in 256-bit integers exactly as the original StableSwap
//!   contracts (3pool generation, no A_PRECISION) and curvesim 0.5.0's `CurvePool` compute them.
//! - `CurveLp`: f64 valuation of an LP share at the pool's (fee-less) arbitrage equilibrium for external
//!   prices, with sensitivity to each coin's price and peg.

// Pools are a handful of parallel fixed arrays (balances, rates, prices, offsets) indexed by coin; index
// loops over them read closer to the contracts than zipped iterators.
#![allow(clippy::needless_range_loop)]

use crate::error::PricingError;
use crate::greeks::{Greeks, MAX_LEGS, project};
use crate::market::{Asset, MarketState};

/// Largest number of coins in a pool.
pub const MAX_COINS: usize = MAX_LEGS;
/// Iteration cap of every Newton loop, as the Vyper contracts' `range(255)`.
pub const MAX_ITERATIONS: u32 = 255;

/// Integer-exact contract math.
pub mod exact {
    use super::{MAX_COINS, MAX_ITERATIONS};
    use crate::error::PricingError;
    use ruint::aliases::U256;

    fn revert(operation: &'static str) -> PricingError {
        PricingError::ContractRevert { operation }
    }

    fn mul(a: U256, b: U256) -> Result<U256, PricingError> {
        a.checked_mul(b).ok_or(revert("uint256 multiplication overflow"))
    }

    fn div(a: U256, b: U256) -> Result<U256, PricingError> {
        if b.is_zero() {
            return Err(revert("division by zero"));
        }
        Ok(a / b)
    }

    fn abs_diff(a: U256, b: U256) -> U256 {
        if a > b { a - b } else { b - a }
    }

    /// Number of coins as U256, after checking 2 <= n <= MAX_COINS.
    fn coin_count(n: usize) -> Result<U256, PricingError> {
        if !(2..=MAX_COINS).contains(&n) {
            return Err(revert("pool must have 2..=4 coins"));
        }
        Ok(U256::from(n))
    }

    /// The invariant D for normalised balances `xp` (18-decimal units) and contract amplification `amp`:
    /// Newton's iteration D <- (Ann S + n D_P) D / ((Ann - 1) D + (n + 1) D_P), D_P = D^(n+1) / (n^n prod x).
    /// This is the original (3pool-generation) contract and curvesim; see `get_d_precise` for the
    /// `A_PRECISION` generation.
    ///
    /// # Errors
    /// `ContractRevert` on a zero balance or overflow, `NoConvergence` after 255 iterations.
    pub fn get_d(xp: &[U256], amp: U256) -> Result<U256, PricingError> {
        get_d_precise(xp, amp, U256::from(1u8))
    }

    /// `get_D` of the pools with `A_PRECISION` (factory plain pools: `amp` = `A_precise` = A x A_PRECISION):
    /// D <- (Ann S / A_P + n D_P) D / ((Ann - A_P) D / A_P + (n + 1) D_P). With `a_precision` = 1 this is
    /// exactly `get_d`. (Some pools, e.g. stETH/ETH, add 1 to each `x * n` divisor; that variant is not
    /// implemented.)
    ///
    /// # Errors
    /// As `get_d`.
    pub fn get_d_precise(xp: &[U256], amp: U256, a_precision: U256) -> Result<U256, PricingError> {
        let n = coin_count(xp.len())?;
        let s = xp.iter().fold(U256::ZERO, |acc, x| acc.saturating_add(*x));
        if s.is_zero() {
            return Ok(U256::ZERO);
        }
        if a_precision.is_zero() {
            return Err(revert("A_PRECISION must be > 0"));
        }
        let ann = mul(amp, n)?;
        let one = U256::from(1u8);
        let mut d = s;
        for _ in 0..MAX_ITERATIONS {
            let mut d_p = d;
            for x in xp {
                d_p = div(mul(d_p, d)?, mul(*x, n)?)?;
            }
            let d_prev = d;
            let numerator = mul((mul(ann, s)? / a_precision).checked_add(mul(d_p, n)?).ok_or(revert("overflow"))?, d)?;
            let denominator = (mul(ann.checked_sub(a_precision).ok_or(revert("A must be > 0"))?, d)? / a_precision)
                .checked_add(mul(n + one, d_p)?)
                .ok_or(revert("overflow"))?;
            d = div(numerator, denominator)?;
            if abs_diff(d, d_prev) <= one {
                return Ok(d);
            }
        }
        Err(PricingError::NoConvergence { solver: "curve get_D", iterations: MAX_ITERATIONS })
    }

    /// The balance of coin `j` that keeps D unchanged when coin `i` is set to `x` (all normalised):
    /// Newton's iteration y <- (y^2 + c) / (2 y + b - D) on y^2 + (b - D) y = c.
    ///
    /// # Errors
    /// `ContractRevert` for bad indices, zero balances, overflow; `NoConvergence` after 255 iterations.
    pub fn get_y(i: usize, j: usize, x: U256, xp: &[U256], amp: U256) -> Result<U256, PricingError> {
        get_y_precise(i, j, x, xp, amp, U256::from(1u8))
    }

    /// `get_y` of the `A_PRECISION` generation: c = ... x D x A_P / (Ann n), b = S' + D x A_P / Ann.
    /// With `a_precision` = 1 this is exactly `get_y`.
    ///
    /// # Errors
    /// As `get_y`.
    pub fn get_y_precise(i: usize, j: usize, x: U256, xp: &[U256], amp: U256, a_precision: U256) -> Result<U256, PricingError> {
        let n = coin_count(xp.len())?;
        if i == j || i >= xp.len() || j >= xp.len() {
            return Err(revert("get_y: bad coin indices"));
        }
        let d = get_d_precise(xp, amp, a_precision)?;
        let ann = mul(amp, n)?;
        let mut c = d;
        let mut s = U256::ZERO;
        for (k, &xk) in xp.iter().enumerate() {
            let value = if k == i {
                x
            } else if k == j {
                continue;
            } else {
                xk
            };
            s += value;
            c = div(mul(c, d)?, mul(value, n)?)?;
        }
        c = div(mul(mul(c, d)?, a_precision)?, mul(ann, n)?)?;
        let b = s + div(mul(d, a_precision)?, ann)?;
        let one = U256::from(1u8);
        let mut y = d;
        for _ in 0..MAX_ITERATIONS {
            let y_prev = y;
            let denominator = (mul(U256::from(2u8), y)? + b).checked_sub(d).ok_or(revert("get_y underflow"))?;
            y = div(mul(y, y)? + c, denominator)?;
            if abs_diff(y, y_prev) <= one {
                return Ok(y);
            }
        }
        Err(PricingError::NoConvergence { solver: "curve get_y", iterations: MAX_ITERATIONS })
    }

    /// Fee and rate denominators of the contracts.
    pub const FEE_DENOMINATOR: u64 = 10_000_000_000;

    /// A StableSwap pool's state in the contract's integers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct StableSwapPool {
        /// Contract amplification A (= whitepaper A x n^(n-1)), times `a_precision` (`A_precise`).
        pub amp: U256,
        /// 1 for the original contracts and curvesim, 100 for the `A_PRECISION` generation.
        pub a_precision: U256,
        /// Swap fee, 1e10 precision (4_000_000 = 0.04%).
        pub fee: U256,
        /// Share of the fee kept by the admin, 1e10 precision.
        pub admin_fee: U256,
        /// Per-coin rate: 10^(36 - decimals) for plain coins, so that balance x rate / 1e18 is 18-decimal.
        pub rates: [U256; MAX_COINS],
        /// Coin balances in native token units.
        pub balances: [U256; MAX_COINS],
        /// Number of coins (2..=4).
        pub n_coins: usize,
    }

    impl StableSwapPool {
        /// Normalised balances (18-decimal units).
        ///
        /// # Errors
        /// `ContractRevert` on overflow.
        pub fn xp(&self) -> Result<[U256; MAX_COINS], PricingError> {
            let precision = U256::from(10u8).pow(U256::from(18u8));
            let mut xp = [U256::ZERO; MAX_COINS];
            for k in 0..self.n_coins {
                xp[k] = mul(self.balances[k], self.rates[k])? / precision;
            }
            Ok(xp)
        }

        /// The invariant D of the current balances.
        ///
        /// # Errors
        /// As `get_d`.
        pub fn d(&self) -> Result<U256, PricingError> {
            let xp = self.xp()?;
            get_d_precise(&xp[..self.n_coins], self.amp, self.a_precision)
        }

        /// Swap `dx` of coin `i` for coin `j`, updating balances; returns (dy received, fee), native units.
        ///
        /// # Errors
        /// As `get_y`, or `ContractRevert` if the output would exceed the balance.
        pub fn exchange(&mut self, i: usize, j: usize, dx: U256) -> Result<(U256, U256), PricingError> {
            let (dy, fee, admin_fee) = self.quote(i, j, dx)?;
            self.balances[i] = self.balances[i].checked_add(dx).ok_or(revert("balance overflow"))?;
            self.balances[j] = self.balances[j].checked_sub(dy + admin_fee).ok_or(revert("balance underflow"))?;
            Ok((dy, fee))
        }

        /// `get_dy` plus the fee and admin fee, without changing the pool.
        ///
        /// # Errors
        /// As `exchange`.
        pub fn quote(&self, i: usize, j: usize, dx: U256) -> Result<(U256, U256, U256), PricingError> {
            if i >= self.n_coins || j >= self.n_coins || i == j {
                return Err(revert("exchange: bad coin indices"));
            }
            let precision = U256::from(10u8).pow(U256::from(18u8));
            let fee_denominator = U256::from(FEE_DENOMINATOR);
            let xp = self.xp()?;
            let xp = &xp[..self.n_coins];
            let x = xp[i] + mul(dx, self.rates[i])? / precision;
            let y = get_y_precise(i, j, x, xp, self.amp, self.a_precision)?;
            let dy = xp[j].checked_sub(y + U256::from(1u8)).ok_or(revert("exchange: dy underflow"))?;
            let fee = mul(dy, self.fee)? / fee_denominator;
            let admin_fee = mul(fee, self.admin_fee)? / fee_denominator;
            let rate = self.rates[j];
            let dy_out = div(mul(dy - fee, precision)?, rate)?;
            let fee_out = div(mul(fee, precision)?, rate)?;
            let admin_out = div(mul(admin_fee, precision)?, rate)?;
            Ok((dy_out, fee_out, admin_out))
        }
    }
}

/// The invariant D in f64 (same Newton iteration as the contract), for whole-token balances.
///
/// # Errors
/// `InstrumentInvalid` for non-positive balances or A, `NoConvergence` after 255 iterations.
pub fn get_d_f64(balances: &[f64], amp: f64) -> Result<f64, PricingError> {
    let n = balances.len();
    if !(2..=MAX_COINS).contains(&n) {
        return Err(PricingError::InstrumentInvalid { name: "n_coins", value: n as f64 });
    }
    if !(amp >= 1.0 && amp.is_finite()) {
        return Err(PricingError::InstrumentInvalid { name: "amp", value: amp });
    }
    for &x in balances {
        if !(x > 0.0 && x.is_finite()) {
            return Err(PricingError::InstrumentInvalid { name: "balance", value: x });
        }
    }
    let nf = n as f64;
    let ann = amp * nf;
    let s: f64 = balances.iter().sum();
    let mut d = s;
    for _ in 0..MAX_ITERATIONS {
        let mut d_p = d;
        for &x in balances {
            d_p = d_p * d / (x * nf);
        }
        let d_prev = d;
        d = (ann * s + d_p * nf) * d / ((ann - 1.0) * d + (nf + 1.0) * d_p);
        if (d - d_prev).abs() <= 1e-15 * d {
            return Ok(d);
        }
    }
    Err(PricingError::NoConvergence { solver: "curve get_D (f64)", iterations: MAX_ITERATIONS })
}

/// The marginal exchange rate dy/dx of coin j for coin i at balances `x` (fee-less, whole normalised
/// units): the ratio of the invariant's partial derivatives, (Ann + c / x_i) / (Ann + c / x_j) with
/// c = D^(n+1) / (n^n prod x), the same derivative the equilibrium solver uses.
#[must_use]
pub fn marginal_dy_dx_f64(i: usize, j: usize, x: &[f64], amp: f64, d: f64) -> f64 {
    let nf = x.len() as f64;
    let ann = amp * nf;
    let c = x.iter().fold(d, |acc, &xk| acc * d / (nf * xk));
    (ann + c / x[i]) / (ann + c / x[j])
}

/// `get_y` in f64: the balance of coin j that keeps the invariant `d` when coin i is set to `x_i`
/// (whole normalised units), by the contract's Newton iteration y <- (y^2 + c) / (2 y + b - D).
///
/// # Errors
/// `InstrumentInvalid` for bad indices or non-positive balances, `NoConvergence` after 255 iterations.
pub fn get_y_f64(i: usize, j: usize, x_i: f64, x: &[f64], amp: f64, d: f64) -> Result<f64, PricingError> {
    let n = x.len();
    if i == j || i >= n || j >= n || x_i.is_nan() || x_i <= 0.0 {
        return Err(PricingError::InstrumentInvalid { name: "get_y coin or balance", value: x_i });
    }
    let nf = n as f64;
    let ann = amp * nf;
    let (mut c, mut s) = (d, 0.0);
    for k in (0..n).filter(|&k| k != j) {
        let value = if k == i { x_i } else { x[k] };
        s += value;
        c = c * d / (value * nf);
    }
    c = c * d / (ann * nf);
    let b = s + d / ann;
    let mut y = d;
    for _ in 0..MAX_ITERATIONS {
        let y_prev = y;
        y = (y * y + c) / (2.0 * y + b - d);
        if (y - y_prev).abs() <= 1e-15 * y {
            return Ok(y);
        }
    }
    Err(PricingError::NoConvergence { solver: "curve get_y (f64)", iterations: MAX_ITERATIONS })
}

/// Iteration cap of the equilibrium solver (bracketing + safeguarded Newton; typically 4-8 steps).
const EQUILIBRIUM_MAX_ITERATIONS: u32 = 200;

/// Balances of a StableSwap pool with invariant `d` and contract amplification `amp` at its fee-less
/// arbitrage equilibrium for external prices `prices_usd` (any common unit).
///
/// At equilibrium the pool's marginal prices equal the external ones: p_i = lambda dF/dx_i =
/// lambda (Ann + c / x_i) with c = D^(n+1) / (n^n prod x). Writing mu = 1/lambda and q_i = p_i / min p,
/// x_i = c / (mu q_i - Ann) and c = D (prod (mu q_i - Ann) / n^n)^(1/(n+1)); the invariant then reduces to
/// one equation in t = mu - Ann > 0 (so that mu q_i - Ann = t q_i + Ann (q_i - 1) > 0 for every coin): G(t) = Ann sum x_i + D (1 - Ann) - c = 0, G decreasing from +inf to
/// -inf, solved by Newton on ln t inside a bisection bracket. At equal prices t = n and x_i = D/n.
///
/// # Errors
/// `InstrumentInvalid` for bad inputs, `NoConvergence` if the solver fails.
pub fn equilibrium_balances(d: f64, amp: f64, prices_usd: &[f64]) -> Result<[f64; MAX_COINS], PricingError> {
    let n = prices_usd.len();
    if !(2..=MAX_COINS).contains(&n) {
        return Err(PricingError::InstrumentInvalid { name: "n_coins", value: n as f64 });
    }
    if !(d > 0.0 && d.is_finite()) {
        return Err(PricingError::InstrumentInvalid { name: "d", value: d });
    }
    let mut p_min = f64::INFINITY;
    for &p in prices_usd {
        if !(p > 0.0 && p.is_finite()) {
            return Err(PricingError::InstrumentInvalid { name: "price_usd", value: p });
        }
        p_min = p_min.min(p);
    }
    let nf = n as f64;
    let ann = amp * nf;
    // With mu = t + Ann: g_i = mu q_i - Ann = t q_i + Ann (q_i - 1). The offsets Ann (q_i - 1) >= 0 are
    // computed from price differences so that near the peg they keep their precision instead of being the
    // difference of two large numbers.
    let mut q = [0.0; MAX_COINS];
    let mut offset = [0.0; MAX_COINS];
    for k in 0..n {
        q[k] = prices_usd[k] / p_min;
        offset[k] = ann * (prices_usd[k] - p_min) / p_min;
    }
    let ln_nn = nf * nf.ln();
    let nn = nf.powi(n as i32);
    // Returns G(t) and dG/d(ln t), with x filled in.
    let eval = |t: f64, x: &mut [f64; MAX_COINS]| -> (f64, f64) {
        let mut prod_g = 1.0;
        let mut sum_q_over_g = 0.0;
        for k in 0..n {
            let g = t * q[k] + offset[k];
            prod_g *= g;
            sum_q_over_g += q[k] / g;
        }
        // One power instead of n logarithms; the log-sum is the fallback when the product leaves the
        // normal f64 range (extreme brackets only).
        let c = if prod_g.is_normal() {
            d * (prod_g / nn).powf(1.0 / (nf + 1.0))
        } else {
            let sum_ln_g: f64 = (0..n).map(|k| (t * q[k] + offset[k]).ln()).sum();
            d * ((sum_ln_g - ln_nn) / (nf + 1.0)).exp()
        };
        let dc_dt = c / (nf + 1.0) * sum_q_over_g;
        let mut sum_x = 0.0;
        let mut dsum_x = 0.0;
        for k in 0..n {
            let g = t * q[k] + offset[k];
            x[k] = c / g;
            sum_x += x[k];
            dsum_x += dc_dt / g - c * q[k] / (g * g);
        }
        let value = ann * sum_x + d * (1.0 - ann) - c;
        (value, t * (ann * dsum_x - dc_dt))
    };
    let mut x = [0.0; MAX_COINS];
    let mut s = nf.ln();
    let (mut g_s, mut slope) = eval(s.exp(), &mut x);
    // Bracket the root in ln t: G decreases in t.
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    if g_s > 0.0 {
        lo = s
    } else {
        hi = s
    };
    let mut iterations = 0;
    while iterations < EQUILIBRIUM_MAX_ITERATIONS {
        iterations += 1;
        let scale = ann * d;
        if g_s.abs() <= 1e-14 * scale {
            break;
        }
        let newton = s - g_s / slope;
        let next = if slope < 0.0 && newton > lo && newton < hi {
            newton
        } else if lo.is_finite() && hi.is_finite() {
            0.5 * (lo + hi)
        } else if lo.is_finite() {
            lo + 2.0
        } else {
            hi - 2.0
        };
        let step = (next - s).abs();
        s = next;
        (g_s, slope) = eval(s.exp(), &mut x);
        if g_s > 0.0 {
            lo = s
        } else {
            hi = s
        };
        if step <= 1e-15 * s.abs().max(1.0) {
            break;
        }
    }
    if iterations >= EQUILIBRIUM_MAX_ITERATIONS {
        return Err(PricingError::NoConvergence { solver: "curve equilibrium", iterations });
    }
    debug_assert!(x[..n].iter().all(|&v| v > 0.0 && v.is_finite()), "equilibrium balances {x:?}");
    Ok(x)
}

/// dx/dp of the equilibrium balances `x` (for invariant `d`, contract `amp`) at external prices `prices`:
/// the price-space Hessian of the LP value (tokens per USD). See `CurveLp::greeks` for the derivation.
#[must_use]
pub fn equilibrium_hessian(d: f64, amp: f64, x: &[f64], prices: &[f64]) -> [[f64; MAX_COINS]; MAX_COINS] {
    let n = x.len();
    debug_assert!(n == prices.len() && (2..=MAX_COINS).contains(&n));
    let nf = n as f64;
    let ann = amp * nf;
    let sum_ln_x: f64 = x.iter().map(|v| v.ln()).sum();
    let c = ((nf + 1.0) * d.ln() - nf * nf.ln() - sum_ln_x).exp();
    let mut grad_f = [0.0; MAX_COINS];
    for k in 0..n {
        grad_f[k] = ann + c / x[k];
    }
    // lambda is the same for every coin at equilibrium; average the estimates to spread rounding.
    let lambda = (0..n).map(|k| prices[k] / grad_f[k]).sum::<f64>() / nf;
    let mut m = [[0.0; MAX_COINS]; MAX_COINS];
    for i in 0..n {
        for j in 0..n {
            let diag = if i == j { x[i] * x[i] } else { 0.0 };
            m[i][j] = -(diag - x[i] * x[j] / (nf + 1.0)) / c;
        }
    }
    let mut w = [0.0; MAX_COINS];
    for i in 0..n {
        w[i] = (0..n).map(|j| m[i][j] * grad_f[j]).sum();
    }
    let s: f64 = (0..n).map(|i| grad_f[i] * w[i]).sum();
    let mut h = [[0.0; MAX_COINS]; MAX_COINS];
    for i in 0..n {
        for j in 0..n {
            h[i][j] = (m[i][j] - w[i] * w[j] / s) / lambda;
        }
    }
    h
}

/// Spot, peg and USD price of each coin of a pool.
struct CoinPrices {
    spot: [f64; MAX_COINS],
    peg: [f64; MAX_COINS],
    price: [f64; MAX_COINS],
}

/// An LP share of a Curve StableSwap pool.
///
/// Balances are in whole tokens of the pool's normalised unit (for plain pools, one whole coin); pools
/// whose rates carry a redemption price (lending-token pools) need their coins expressed as the
/// underlying asset before use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurveLp {
    /// The pool's coins, in pool order; only the first `n_coins` are used.
    pub coins: [Asset; MAX_COINS],
    /// Number of coins (2..=4).
    pub n_coins: u8,
    /// Contract amplification A (= whitepaper A x n^(n-1)).
    pub amp: f64,
    /// Invariant D per LP share, whole tokens.
    pub d_per_share: f64,
}

impl CurveLp {
    /// From a snapshot of balances (whole tokens) and LP total supply (whole shares).
    ///
    /// # Errors
    /// `InstrumentInvalid` for mismatched lengths or invalid values, `NoConvergence` from get_D.
    pub fn from_balances(coins: &[Asset], amp: f64, balances: &[f64], total_supply: f64) -> Result<Self, PricingError> {
        if coins.len() != balances.len() || !(2..=MAX_COINS).contains(&coins.len()) {
            return Err(PricingError::InstrumentInvalid { name: "coins", value: coins.len() as f64 });
        }
        if !(total_supply > 0.0 && total_supply.is_finite()) {
            return Err(PricingError::InstrumentInvalid { name: "total_supply", value: total_supply });
        }
        let d = get_d_f64(balances, amp)?;
        let mut all = [Asset::default(); MAX_COINS];
        all[..coins.len()].copy_from_slice(coins);
        // The length was checked to be 2..=4 above, so it fits in u8.
        Ok(CurveLp { coins: all, n_coins: coins.len() as u8, amp, d_per_share: d / total_supply })
    }

    fn prices(&self, market: &MarketState) -> Result<CoinPrices, PricingError> {
        let mut out = CoinPrices { spot: [0.0; MAX_COINS], peg: [0.0; MAX_COINS], price: [0.0; MAX_COINS] };
        for k in 0..usize::from(self.n_coins) {
            out.spot[k] = market.spot_usd(self.coins[k].underlying)?;
            out.peg[k] = market.peg_ratio(self.coins[k].peg)?;
            out.price[k] = out.spot[k] * out.peg[k];
        }
        Ok(out)
    }

    /// Claims of one share on each coin (whole tokens) at external prices.
    ///
    /// # Errors
    /// As `equilibrium_balances`.
    pub fn claims_at(&self, prices_usd: &[f64]) -> Result<[f64; MAX_COINS], PricingError> {
        equilibrium_balances(self.d_per_share, self.amp, prices_usd)
    }

    /// Value of one share, USD: the value of its claims at equilibrium.
    ///
    /// # Errors
    /// Missing prices or solver failure.
    pub fn value(&self, market: &MarketState) -> Result<f64, PricingError> {
        let n = usize::from(self.n_coins);
        let price = self.prices(market)?.price;
        let x = self.claims_at(&price[..n])?;
        Ok((0..n).map(|k| x[k] * price[k]).sum())
    }

    /// Value and sensitivities. Gradient in price space = claims (envelope theorem: the arbitraged pool
    /// minimises p . x on the invariant surface F(x) = 0). Hessian = dx/dp, analytic from the bordered
    /// system p = lambda grad F(x), F(x) = 0:
    /// dx/dp = (1/lambda) (M - M gF gF^T M / (gF^T M gF)) with M = (Hess F)^-1
    /// = -(1/c) (diag(x^2) - x x^T / (n+1)) (Sherman-Morrison on Hess F = -c (diag(1/x^2) + u u^T), u = 1/x),
    /// gF_i = Ann + c / x_i, lambda = p_i / gF_i and c = D^(n+1) / (n^n prod x).
    ///
    /// # Errors
    /// Missing prices or solver failure.
    pub fn greeks(&self, market: &MarketState) -> Result<Greeks, PricingError> {
        let n = usize::from(self.n_coins);
        let CoinPrices { spot, peg, price } = self.prices(market)?;
        let x = self.claims_at(&price[..n])?;
        let h = equilibrium_hessian(self.d_per_share, self.amp, &x[..n], &price[..n]);
        let mut g = Greeks { value_usd: (0..n).map(|k| x[k] * price[k]).sum(), ..Greeks::default() };
        project(&mut g, &self.coins[..n], &spot[..n], &peg[..n], &x[..n], &h);
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn f64_get_y_and_marginal_agree_with_the_exact_pool() {
        use ruint::aliases::U256;
        let e18 = U256::from(10u64).pow(U256::from(18u8));
        let xp = [U256::from(1_000_000u64) * e18, U256::from(1_300_000u64) * e18];
        let amp = U256::from(200u16);
        let x_new = xp[0] + U256::from(50_000u64) * e18;
        let exact_y = super::exact::get_y(0, 1, x_new, &xp, amp).unwrap();
        let xf = [1_000_000.0, 1_300_000.0];
        let d = super::get_d_f64(&xf, 200.0).unwrap();
        let y = super::get_y_f64(0, 1, 1_050_000.0, &xf, 200.0, d).unwrap();
        let exact_whole: f64 = (exact_y / U256::from(10u64).pow(U256::from(12u8))).to::<u64>() as f64 / 1e6;
        assert!((y - exact_whole).abs() < 1e-6, "{y} vs {exact_whole}");
        // The derivative against a central finite difference of get_y.
        let h = 1e-3;
        let fd = (super::get_y_f64(0, 1, 1_000_000.0 - h, &xf, 200.0, d).unwrap()
            - super::get_y_f64(0, 1, 1_000_000.0 + h, &xf, 200.0, d).unwrap())
            / (2.0 * h);
        let m = super::marginal_dy_dx_f64(0, 1, &xf, 200.0, d);
        assert!((m - fd).abs() < 1e-6, "{m} vs {fd}");
        assert!(m > 1.0, "coin 1 is the abundant one, so coin 0 buys more than one of it: {m}");
    }

    use super::*;

    #[test]
    fn analytic_hessian_matches_central_differences_of_the_solver() {
        let (d, amp) = (3e6, 200.0);
        let prices = [1.0, 1.001, 0.97];
        let x = equilibrium_balances(d, amp, &prices).unwrap();
        let h = equilibrium_hessian(d, amp, &x[..3], &prices);
        for j in 0..3 {
            let bump = 1e-6 * prices[j];
            let (mut up, mut down) = (prices, prices);
            up[j] += bump;
            down[j] -= bump;
            let xu = equilibrium_balances(d, amp, &up).unwrap();
            let xd = equilibrium_balances(d, amp, &down).unwrap();
            for i in 0..3 {
                let fd = (xu[i] - xd[i]) / (2.0 * bump);
                assert!((fd - h[i][j]).abs() <= 1e-5 * h[i][j].abs().max(1.0), "H[{i}][{j}] {} vs fd {fd}", h[i][j]);
            }
        }
        // Symmetric, and prices are a null direction: scaling all prices leaves the claims unchanged.
        for i in 0..3 {
            let along_p: f64 = (0..3).map(|j| h[i][j] * prices[j]).sum();
            assert!(along_p.abs() < 1e-6 * h[i][i].abs());
            for j in 0..3 {
                assert!((h[i][j] - h[j][i]).abs() <= 1e-9 * h[i][i].abs());
            }
        }
    }

    #[test]
    fn balanced_pool_has_d_equal_sum_and_equal_claims() {
        let d = get_d_f64(&[1e6, 1e6, 1e6], 2000.0).unwrap();
        assert!((d - 3e6).abs() < 1e-6);
        let x = equilibrium_balances(d, 2000.0, &[1.0, 1.0, 1.0]).unwrap();
        for k in 0..3 {
            assert!((x[k] - 1e6).abs() < 1e-6, "{x:?}");
        }
    }

    #[test]
    fn equilibrium_satisfies_invariant_and_depegged_coin_accumulates() {
        let amp = 200.0;
        let d = 3e6;
        let x = equilibrium_balances(d, amp, &[1.0, 1.0, 0.95]).unwrap();
        let d_again = get_d_f64(&x[..3], amp).unwrap();
        assert!((d_again / d - 1.0).abs() < 1e-12, "{d_again}");
        assert!(x[2] > x[0] && x[0] > 0.0);
        assert!((x[0] - x[1]).abs() < 1e-6 * x[0]);
    }
}
