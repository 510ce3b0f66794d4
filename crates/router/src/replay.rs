//! Replay of a hedge on a price path (docs/router.md, "March 2020 replay"): the house sells an
//! exposure of the base token into the quote token starting at a given hour, either at once (one
//! routed trade at the arrival price) or scheduled by the seeded slicer over a horizon, and the
//! replay reports, against the arrival price:
//!
//! - **cost**: fees, impact and expected adverse selection of the venue model
//!   ([`crate::slicer::cost_of`]), in bps of the notional;
//! - **slippage**: the market's move between arrival and each slice's time, weighted by the slice
//!   (`sum q_i (P_0 - P(t_i)) / (Q P_0)`, positive when it cost the house);
//! - **shortfall**: cost plus slippage (first order: the product of the two is ignored);
//! - **residual risk**: the standard deviation of the unhedged position's P&L over the schedule,
//!   `sqrt(sum_h (rem_h P_h sigma)^2)`, with `sigma` the standard deviation of hourly log returns
//!   over the `lookback` hours before arrival (no look-ahead), and its realised counterpart
//!   `sqrt(sum_h (rem_h (P_{h+1} - P_h))^2)`, both in bps of the notional.
//!
//! Assumptions, stated: the venues keep the depth of the venue set in base-token units and follow
//! the market price (arbitrage between slices, as the slicer assumes), so a slice's relative cost
//! comes from the venue model and its price level from the path; within an hour the price moves
//! linearly from the bar's open to its close. Risk arithmetic in f64; the slices' amounts are the
//! slicer's exact integers.

use crate::error::RouterError;
use crate::market::Market;
use crate::slicer::{Order, Slice, SliceParams, cost_of, schedule};
use crate::split::route;
use crate::venue::TokenId;
use money::Amount;

/// One hourly bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub open: f64,
    pub close: f64,
}

/// One way of hedging, measured against the arrival price.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Outcome {
    /// Slices executed (1 for the immediate hedge).
    pub slices: usize,
    /// Fees + impact + adverse selection (venue model), bps of notional.
    pub cost_bps: f64,
    /// Market move against the house between arrival and execution, bps of notional.
    pub slippage_bps: f64,
    /// `cost_bps + slippage_bps`.
    pub shortfall_bps: f64,
    /// Ex-ante standard deviation of the unhedged P&L, bps of notional.
    pub residual_risk_bps: f64,
    /// Realised counterpart, bps of notional.
    pub realised_risk_bps: f64,
}

/// The two ways side by side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replay {
    /// The arrival price (the first bar's open).
    pub arrival: f64,
    pub immediate: Outcome,
    pub scheduled: Outcome,
}

/// What to replay: sell `amount` of `from` into `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hedge {
    pub from: TokenId,
    pub to: TokenId,
    pub amount: Amount,
}

/// Replays `hedge` from the first bar of `path` (`path` covers at least the horizon), with
/// `history` the bars before it (for the volatility) and the slicer's `params` and `seed`.
///
/// # Errors
/// `ParameterInvalid` for a path shorter than the horizon, a non-positive price or too short a
/// history; the slicer's and router's errors.
pub fn replay(
    market: &Market,
    hedge: Hedge,
    path: &[Bar],
    history: &[Bar],
    params: &SliceParams,
    seed: u64,
) -> Result<Replay, RouterError> {
    let hours = usize::try_from(params.horizon_seconds.div_ceil(3600)).unwrap_or(usize::MAX).max(1);
    if path.len() < hours + 1 {
        return Err(RouterError::ParameterInvalid {
            name: "path",
            value: path.len().to_string(),
            reason: "shorter than the horizon plus one hour",
        });
    }
    if path.iter().chain(history).any(|b| !(b.open > 0.0 && b.close > 0.0 && b.open.is_finite() && b.close.is_finite())) {
        return Err(RouterError::ParameterInvalid { name: "path", value: "price".into(), reason: "every price positive and finite" });
    }
    let sigma = hourly_sigma(history)?;
    let order = Order { from: hedge.from, to: hedge.to, amount: hedge.amount, offsetting_flow: Amount(0) };
    let arrival = path[0].open;
    let now = route(market, hedge.from, hedge.to, hedge.amount)?;
    let immediate_slice = Slice { at_seconds: 0, plan: now, footprint_bps: 0.0 };
    let cost = cost_of(market, order, std::slice::from_ref(&immediate_slice), params)?;
    let immediate = Outcome { slices: 1, cost_bps: cost.total_bps, shortfall_bps: cost.total_bps, ..Outcome::default() };
    let plan = schedule(market, order, params, seed)?;
    let scheduled = measure(&plan.slices, hedge.amount.0, plan.cost.total_bps, path, sigma);
    Ok(Replay { arrival, immediate, scheduled })
}

/// Slippage and residual risk of a schedule on the path.
fn measure(slices: &[Slice], total: i128, cost_bps: f64, path: &[Bar], sigma: f64) -> Outcome {
    let total_f = total as f64;
    let arrival = path[0].open;
    let price_at = |seconds: u64| {
        let h = (seconds / 3600) as usize;
        let frac = (seconds % 3600) as f64 / 3600.0;
        let bar = path[h.min(path.len() - 1)];
        bar.open + (bar.close - bar.open) * frac
    };
    let slippage: f64 = slices.iter().map(|s| s.plan.amount_in.0 as f64 / total_f * (arrival - price_at(s.at_seconds)) / arrival).sum();
    // Unhedged share during each hour: what the slices up to its start have not yet sold.
    let last_hour = slices.iter().map(|s| s.at_seconds / 3600).max().unwrap_or(0) as usize;
    let (mut ex_ante, mut realised) = (0.0f64, 0.0f64);
    for (h, bar) in path.iter().enumerate().take(last_hour + 1) {
        let sold: i128 = slices.iter().filter(|s| (s.at_seconds / 3600) as usize <= h).map(|s| s.plan.amount_in.0).sum();
        // Within its hour a slice is sold at its time: the hour's unhedged share is the rest after
        // the slices of earlier hours, less the time-weighted part of this hour's.
        let within: f64 = slices
            .iter()
            .filter(|s| (s.at_seconds / 3600) as usize == h)
            .map(|s| s.plan.amount_in.0 as f64 * (1.0 - (s.at_seconds % 3600) as f64 / 3600.0))
            .sum();
        let rest = ((total - sold) as f64 + within) / total_f;
        ex_ante += (rest * bar.open / arrival * sigma).powi(2);
        realised += (rest * (bar.close - bar.open) / arrival).powi(2);
    }
    let slippage_bps = slippage * 1e4;
    Outcome {
        slices: slices.len(),
        cost_bps,
        slippage_bps,
        shortfall_bps: cost_bps + slippage_bps,
        residual_risk_bps: ex_ante.sqrt() * 1e4,
        realised_risk_bps: realised.sqrt() * 1e4,
    }
}

/// Standard deviation of hourly log returns (close to close) of `history`.
fn hourly_sigma(history: &[Bar]) -> Result<f64, RouterError> {
    if history.len() < 3 {
        return Err(RouterError::ParameterInvalid {
            name: "history",
            value: history.len().to_string(),
            reason: "at least 3 hours before arrival",
        });
    }
    let returns: Vec<f64> = history.windows(2).map(|w| (w[1].close / w[0].close).ln()).collect();
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    Ok((returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(n: usize, p: f64) -> Vec<Bar> {
        vec![Bar { open: p, close: p }; n]
    }

    #[test]
    fn a_flat_path_has_no_slippage_and_a_falling_one_costs_the_seller() {
        let market = crate::default_venues().unwrap();
        let (eth, usdc) = (market.token("ETH").unwrap(), market.token("USDC").unwrap());
        let hedge = Hedge { from: eth, to: usdc, amount: market.parse_amount(eth, "300").unwrap() };
        let params = SliceParams { horizon_seconds: 6 * 3600, ..SliceParams::default_params() };
        // History alternating +-1%: sigma is the sample std of +-ln(1.01).
        let history: Vec<Bar> =
            (0..25).map(|i| if i % 2 == 0 { Bar { open: 100.0, close: 100.0 } } else { Bar { open: 101.0, close: 101.0 } }).collect();
        let r = replay(&market, hedge, &flat(8, 100.0), &history, &params, 7).unwrap();
        assert_eq!(r.scheduled.slippage_bps, 0.0);
        assert_eq!((r.immediate.slippage_bps, r.immediate.residual_risk_bps), (0.0, 0.0));
        assert!(r.scheduled.slices > 1, "300 ETH needs slices under a 10 bp footprint cap");
        assert!(r.scheduled.cost_bps < r.immediate.cost_bps, "{r:?}");
        // The first hour's unhedged share is at most 1, so the ex-ante risk is at most
        // sigma x sqrt(hours used) in bps.
        let sigma = hourly_sigma(&history).unwrap();
        assert!((sigma - 1.01f64.ln() * (24.0f64 / 23.0).sqrt()).abs() < 1e-12, "{sigma}");
        assert!(r.scheduled.residual_risk_bps > 0.0 && r.scheduled.residual_risk_bps <= sigma * 1e4 * 6f64.sqrt(), "{r:?}");
        // Prices falling 1% an hour: every slice after arrival sells lower.
        let falling: Vec<Bar> = (0..8).map(|h| Bar { open: 100.0 * 0.99f64.powi(h), close: 100.0 * 0.99f64.powi(h + 1) }).collect();
        let f = replay(&market, hedge, &falling, &history, &params, 7).unwrap();
        assert!(f.scheduled.slippage_bps > 0.0 && f.scheduled.shortfall_bps > f.scheduled.cost_bps);
        assert_eq!(f.immediate, r.immediate, "the immediate hedge does not depend on the path");
    }

    #[test]
    fn a_short_path_or_a_bad_price_is_an_error() {
        let market = crate::default_venues().unwrap();
        let (eth, usdc) = (market.token("ETH").unwrap(), market.token("USDC").unwrap());
        let hedge = Hedge { from: eth, to: usdc, amount: market.parse_amount(eth, "1").unwrap() };
        let params = SliceParams { horizon_seconds: 6 * 3600, ..SliceParams::default_params() };
        let history = flat(24, 100.0);
        assert!(matches!(
            replay(&market, hedge, &flat(6, 100.0), &history, &params, 1),
            Err(RouterError::ParameterInvalid { name: "path", .. })
        ));
        let mut bad = flat(8, 100.0);
        bad[3].close = 0.0;
        assert!(matches!(replay(&market, hedge, &bad, &history, &params, 1), Err(RouterError::ParameterInvalid { .. })));
        assert!(matches!(
            replay(&market, hedge, &flat(8, 100.0), &flat(2, 1.0), &params, 1),
            Err(RouterError::ParameterInvalid { name: "history", .. })
        ));
    }
}
