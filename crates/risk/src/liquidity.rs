//! Liquidity and concentration charge: the cost of closing a position on its venue given the
//! venue's depth, growing faster than linearly with size (`docs/margin-methodology.md` section 6).

use crate::book::BookInstrument;
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
    }
}

/// Cost of closing `notional_usd` (absolute) on a market, USD, capped at the notional.
///
/// - order book, `depth_usd` moves the price 1%: closing `Q` walks the price by `Q / depth` percent
///   and pays on average half of it: `Q x (Q / depth) / 200`;
/// - constant-product pool with reserve `R` (USD) on the side sold into: the exact output shortfall
///   `Q x Q / (R + Q)`;
///
/// plus the half spread `Q x bps / 10 000`. Both impacts are quadratic for small `Q`.
pub fn close_out_cost(notional_usd: f64, depth: &MarketDepth) -> f64 {
    let q = notional_usd.abs();
    let spread = q * depth.half_spread_bps / 10_000.0;
    let impact = match depth.kind {
        DepthKind::OrderBook => q * q / (200.0 * depth.depth_usd),
        DepthKind::Amm => q * q / (depth.depth_usd + q),
    };
    (spread + impact).min(q)
}

/// Price move needed to close `notional_usd`, as a fraction (0.2 = the market moves 20%).
pub fn price_move_to_close(notional_usd: f64, depth: &MarketDepth) -> f64 {
    let q = notional_usd.abs();
    match depth.kind {
        DepthKind::OrderBook => q / depth.depth_usd / 100.0,
        // Selling Q into reserve R moves the pool price by 1 - (R / (R + Q))^2.
        DepthKind::Amm => 1.0 - (depth.depth_usd / (depth.depth_usd + q)).powi(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(depth: f64) -> MarketDepth {
        MarketDepth { market: "x".into(), kind: DepthKind::OrderBook, depth_usd: depth, half_spread_bps: 0.0 }
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
        let d = MarketDepth { market: "p".into(), kind: DepthKind::Amm, depth_usd: 100.0, half_spread_bps: 0.0 };
        assert!((close_out_cost(25.0, &d) - 5.0).abs() < 1e-12);
        // Price after: (y / x) = (80 / 125) = 0.64, a 36% move.
        assert!((price_move_to_close(25.0, &d) - 0.36).abs() < 1e-12);
    }
}
