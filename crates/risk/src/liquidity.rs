//! Liquidity and concentration charge: the cost of closing a position on its venue given the
//! venue's depth, growing faster than linearly with size (`docs/margin-methodology.md` section 6).

use crate::book::{BookInstrument, Unwind};
use crate::params::{DepthKind, LiquidityParams, MarketDepth};
use crate::protocol::enum_name;

/// The depth that applies to an instrument: the first of its liquidity keys with a market entry,
/// else the default order-book depth of its asset kind (native coins for perps and options).
pub fn depth_for(inst: &BookInstrument, params: &LiquidityParams) -> MarketDepth {
    for key in &inst.liquidity_keys {
        if let Some(m) = params.markets.iter().find(|m| &m.market == key) {
            return m.clone();
        }
    }
    let kind = inst.asset_kind.map_or_else(|| "native_coin".to_string(), |k| enum_name(&k));
    let depth = crate::params::table_entry(&params.default_depth_usd, "liquidity.default_depth_usd", &kind);
    MarketDepth {
        market: format!("default {kind}"),
        kind: DepthKind::OrderBook,
        depth_usd: depth,
        half_spread_bps: params.default_half_spread_bps,
        amp: None,
        is_default: true,
    }
}

/// The exact loss of unwinding `shares` LP shares worth `unit_value_usd` each into their own pool,
/// as a fraction of their value (capped at 1):
///
/// - constant product: withdraw the share `s = shares / supply` of both reserves and sell the
///   volatile side into what remains: the output is `(1 - s) s y` against a mark value of `s y`, so
///   the loss is `s / 2` of the LP value (half a pool loses 25%);
/// - stableswap: `remove_liquidity_one_coin` into the best coin `j`: the invariant falls from `D`
///   to `(1 - s) D` with the other balances unchanged; the coin-`j` balance `y` solving
///   `D(b_-j, y) = (1 - s) D` gives `b_j - y` tokens, against the mark value `s sum b_i p_i`.
///
/// Pool fees are not charged (they are small next to the price impact of a large unwind).
pub fn unwind_loss_fraction(shares: f64, unwind: &Unwind) -> f64 {
    let shares = shares.abs();
    match unwind {
        Unwind::ConstantProduct { total_supply } => (0.5 * shares / total_supply).min(1.0),
        Unwind::Stableswap { balances, prices_usd, amp, total_supply } => {
            let s = (shares / total_supply).min(1.0);
            let value: f64 = balances.iter().zip(prices_usd).map(|(b, p)| b * p).sum();
            let Ok(d0) = pricing::curve::get_d_f64(balances, *amp) else { return 1.0 };
            let target = (1.0 - s) * d0;
            let best = (0..balances.len())
                .filter_map(|j| one_coin_out(balances, *amp, j, target).map(|out| out * prices_usd[j]))
                .fold(0.0, f64::max);
            if s == 0.0 || value <= 0.0 { 0.0 } else { (1.0 - best / (s * value)).clamp(0.0, 1.0) }
        }
    }
}

/// Tokens of coin `j` received when the invariant falls to `target` (bisection on the balance).
fn one_coin_out(balances: &[f64], amp: f64, j: usize, target: f64) -> Option<f64> {
    let d_at = |y: f64| {
        let mut b = balances.to_vec();
        b[j] = y;
        pricing::curve::get_d_f64(&b, amp).ok()
    };
    let (mut lo, mut hi) = (balances[j] * 1e-12, balances[j]);
    if d_at(lo)? > target {
        return None;
    }
    // 100 halvings take the bracket below 1e-30 of the balance: far below f64 resolution.
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if d_at(mid)? < target { lo = mid } else { hi = mid }
    }
    Some(balances[j] - hi)
}

/// Cost of closing `notional_usd` (absolute) on a market, USD, capped at the notional.
///
/// - order book, `depth_usd` moves the price 1%: closing `Q` walks the price by `Q / depth` percent
///   and pays on average half of it: `Q x (Q / depth) / 200`;
/// - constant-product pool with reserve `R` (USD) on the side sold into: the exact output shortfall
///   `Q x Q / (R + Q)`;
/// - two-coin stableswap pool at par with `R` of each coin: the exact shortfall of the exchange,
///   `Q - (R - y)` with `D(R + Q, y) = D(R, R)` ([`stableswap_out`]);
///
/// plus the half spread `Q x bps / 10 000`. Both impacts are quadratic for small `Q`.
pub fn close_out_cost(notional_usd: f64, depth: &MarketDepth) -> f64 {
    close_out_cost_uncapped(notional_usd, depth).min(notional_usd.abs())
}

/// [`close_out_cost`] before the cap at the notional: convex in the notional (a chord between two
/// sizes lies above it, which the integer model's piecewise-linear curve relies on).
pub fn close_out_cost_uncapped(notional_usd: f64, depth: &MarketDepth) -> f64 {
    let q = notional_usd.abs();
    let spread = q * depth.half_spread_bps / 10_000.0;
    let impact = match depth.kind {
        DepthKind::OrderBook => q * q / (200.0 * depth.depth_usd),
        DepthKind::Amm => q * q / (depth.depth_usd + q),
        DepthKind::Stableswap => q - stableswap_out(q, depth.depth_usd, depth.amp.unwrap_or(1.0)),
    };
    spread + impact
}

/// Coins out of a two-coin stableswap pool holding `r` of each (at par, so `D = 2r` for any `A`)
/// for `q` coins in: the balance `y` of the other coin with `D(r + q, y) = D`, `r - y`. For two
/// coins the contract's invariant `Ann (x + y) + D = Ann D + D^3 / (4 x y)` (`Ann = 2 A`) is a
/// quadratic in `y`: `Ann y^2 + b y - k = 0`, `b = Ann x + D - Ann D`, `k = D^3 / (4 x)`, solved in
/// the form without cancellation for either sign of `b` (checked against the Newton invariant of
/// the `pricing` crate in the tests).
pub fn stableswap_out(q: f64, r: f64, amp: f64) -> f64 {
    if q <= 0.0 || r <= 0.0 {
        return 0.0;
    }
    let (ann, d, x) = (2.0 * amp, 2.0 * r, r + q);
    let b = ann * x + d - ann * d;
    let k = d / (4.0 * x) * d * d;
    let disc = (b * b + 4.0 * ann * k).sqrt();
    let y = if b <= 0.0 { (disc - b) / (2.0 * ann) } else { 2.0 * k / (b + disc) };
    (r - y).clamp(0.0, r)
}

/// Price move needed to close `notional_usd`, as a fraction (0.2 = the market moves 20%).
pub fn price_move_to_close(notional_usd: f64, depth: &MarketDepth) -> f64 {
    let q = notional_usd.abs();
    match depth.kind {
        DepthKind::OrderBook => q / depth.depth_usd / 100.0,
        // Selling Q into reserve R moves the pool price by 1 - (R / (R + Q))^2.
        DepthKind::Amm => 1.0 - (depth.depth_usd / (depth.depth_usd + q)).powi(2),
        // The marginal rate after the trade, from the next 1e-6 of the pool.
        DepthKind::Stableswap => {
            let (r, a) = (depth.depth_usd, depth.amp.unwrap_or(1.0));
            let h = 1e-6 * r;
            (1.0 - (stableswap_out(q + h, r, a) - stableswap_out(q, r, a)) / h).clamp(0.0, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(depth: f64) -> MarketDepth {
        MarketDepth { market: "x".into(), kind: DepthKind::OrderBook, depth_usd: depth, half_spread_bps: 0.0, amp: None, is_default: false }
    }

    #[test]
    fn order_book_cost_is_quadratic() {
        // 1m into a book with 1m per 1%: price walks 1%, average cost 0.5% = 5 000 USD.
        assert!((close_out_cost(1e6, &book(1e6)) - 5_000.0).abs() < 1e-9);
        // Twice the size costs four times as much.
        assert!((close_out_cost(2e6, &book(1e6)) - 20_000.0).abs() < 1e-9);
    }

    #[test]
    fn amm_cost_matches_constant_product() {
        // Pool x = 100 tokens at price 1 (R = 100), y = 100 USD. Selling 25 tokens returns
        // y * 25 / (100 + 25) = 20 USD for 25 USD of tokens: a shortfall of 5.
        let d =
            MarketDepth { market: "p".into(), kind: DepthKind::Amm, depth_usd: 100.0, half_spread_bps: 0.0, amp: None, is_default: false };
        assert!((close_out_cost(25.0, &d) - 5.0).abs() < 1e-12);
        // Price after: (y / x) = (80 / 125) = 0.64, a 36% move.
        assert!((price_move_to_close(25.0, &d) - 0.36).abs() < 1e-12);
    }

    #[test]
    fn stableswap_market_cost_matches_the_two_coin_invariant_in_closed_form() {
        // Two coins at par, r of each, contract amplification A (Ann = 2 A): D = 2r, and the balance
        // y after q coins in solves Ann (x + y) + D = Ann D + D^3 / (4 x y), x = r + q, a quadratic:
        // Ann y^2 + (Ann x + D - Ann D) y - D^3 / (4 x) = 0.
        let (r, amp, q): (f64, f64, f64) = (10e6, 100.0, 928_000.0);
        let (ann, d, x) = (2.0 * amp, 2.0 * r, r + q);
        let b = ann * x + d - ann * d;
        let y = (-b + (b * b + ann * d * d * d / x).sqrt()) / (2.0 * ann);
        let out = stableswap_out(q, r, amp);
        assert!(((r - y) - out).abs() < 1e-6 * q, "{out} vs {}", r - y);
        // The invariant of the pricing crate (Newton iteration) is unchanged by the exchange, for
        // small and large trades (both signs of b) and several amplifications.
        for (a, qq) in [(100.0, 928_000.0), (100.0, 3e7), (1.0, 5e6), (2000.0, 1e6), (50.0, 9.9e6)] {
            let o = stableswap_out(qq, r, a);
            let d_after = pricing::curve::get_d_f64(&[r + qq, r - o], a).unwrap();
            assert!((d_after - 2.0 * r).abs() < 1e-9 * r, "A {a}, q {qq}: D {d_after}");
        }
        let pool = MarketDepth {
            market: "s".into(),
            kind: DepthKind::Stableswap,
            depth_usd: r,
            half_spread_bps: 0.0,
            amp: Some(amp),
            is_default: false,
        };
        assert!((close_out_cost(q, &pool) - (q - (r - y))).abs() < 1e-6 * q);
        // Far cheaper than the constant-product formula on the same reserve, and still growing
        // faster than linearly; a trade larger than the pool takes its whole other side.
        let cp = MarketDepth { kind: DepthKind::Amm, amp: None, ..pool.clone() };
        assert!(close_out_cost(q, &pool) < 0.1 * close_out_cost(q, &cp));
        assert!(close_out_cost(2.0 * q, &pool) > 2.0 * close_out_cost(q, &pool));
        assert!((stableswap_out(100.0 * r, r, amp) - r).abs() < 1e-6 * r);
        let mv = price_move_to_close(q, &pool);
        assert!(mv > 0.0 && mv < 0.05, "{mv}");
    }
}
