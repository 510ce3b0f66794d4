//! Hedge orders from the house's net exposure per factor.
//!
//! The engine knows the house's net delta per underlying; the router turns a delta beyond the configured
//! residual into orders on external venues (spot venues and perpetual books of the underlying against
//! the quote token), routed by the optimal split, with a limit price per order and the expected cost.
//! One rule with the engine (`engine::hedging`): the residual is a band, and a delta outside it is
//! hedged back to flat, never beyond (a buy's output is at most the delta, so the engine's check
//! against the hedge's rest always accepts it). A hedge whose expected cost exceeds the cost limit is
//! refused with the numbers, never shrunk silently.

use crate::error::RouterError;
use crate::market::Market;
use crate::split::{HopPlan, route_hop};
use crate::venue::{Instrument, TokenId, Venue, VenueKind, marginal_price_after};
use money::Amount;
use std::collections::BTreeMap;

/// Largest number of factors one call hedges.
pub const MAX_FACTORS: usize = 64;
/// Bisection steps when sizing a buy (the quote input that buys at least the base amount).
const BUY_SIZING_STEPS: u32 = 128;

/// The house's net exposure: delta per underlying (token symbol), in raw units of that token; positive
/// is long.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exposure {
    /// Net delta per underlying.
    pub delta: BTreeMap<String, Amount>,
}

/// Limits on the hedge.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeLimits {
    /// Largest residual |delta| per underlying that may stay unhedged, raw units. A factor without an
    /// entry is an error (no default limit).
    pub residual_delta_max: BTreeMap<String, Amount>,
    /// Largest expected cost per factor's hedge, basis points of its notional at reference prices.
    pub hedge_cost_bps_max: f64,
    /// The token hedges are traded against (e.g. "USDC").
    pub quote_token: String,
}

/// Whether a hedge order buys or sells the underlying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buy the underlying (pay the quote token).
    Buy,
    /// Sell the underlying (receive the quote token).
    Sell,
}

/// One order on one venue.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeOrder {
    /// Venue id.
    pub venue: String,
    /// Underlying symbol.
    pub underlying: String,
    /// Buy or sell the underlying.
    pub side: Side,
    /// Exact input (quote token for a buy, underlying for a sell), raw units.
    pub amount_in: Amount,
    /// Exact expected output, raw units.
    pub amount_out: Amount,
    /// Worst price the order may trade at, quote units per whole underlying (the venue's marginal
    /// price after the order, fee included): a buy must not pay more, a sell not receive less.
    pub limit_price: f64,
}

/// The hedge of one factor.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorHedge {
    /// Underlying symbol.
    pub underlying: String,
    /// Delta before the hedge, raw units.
    pub delta_before: Amount,
    /// Delta after the hedge (within the residual limit), raw units.
    pub delta_after: Amount,
    /// Orders, one per venue used.
    pub orders: Vec<HedgeOrder>,
    /// Expected cost (fees and impact against the reference price), USD.
    pub cost_usd: f64,
    /// The same in basis points of the hedged notional.
    pub cost_bps: f64,
}

/// Hedge every factor whose |delta| exceeds its residual limit, back to flat (the engine's rule: a band,
/// then all of it, so the band is not re-crossed by the next small trade).
///
/// # Errors
/// `LimitExceeded` for too many factors or a hedge above the cost limit, `ParameterInvalid` for a factor
/// without a residual limit or a non-positive cost limit, routing errors.
pub fn hedge_orders(market: &Market, exposure: &Exposure, limits: &HedgeLimits) -> Result<Vec<FactorHedge>, RouterError> {
    if exposure.delta.len() > MAX_FACTORS {
        return Err(RouterError::LimitExceeded {
            what: "factors",
            value: exposure.delta.len().to_string(),
            limit: MAX_FACTORS.to_string(),
        });
    }
    if !(limits.hedge_cost_bps_max > 0.0 && limits.hedge_cost_bps_max.is_finite()) {
        return Err(RouterError::ParameterInvalid {
            name: "hedge_cost_bps_max",
            value: limits.hedge_cost_bps_max.to_string(),
            reason: "must be positive",
        });
    }
    let quote = market.token(&limits.quote_token)?;
    let mut hedges = Vec::new();
    for (underlying, &delta) in &exposure.delta {
        let residual = *limits.residual_delta_max.get(underlying).ok_or_else(|| RouterError::ParameterInvalid {
            name: "residual_delta_max",
            value: underlying.clone(),
            reason: "every factor needs a residual limit",
        })?;
        if residual.0 < 0 {
            return Err(RouterError::ParameterInvalid {
                name: "residual_delta_max",
                value: residual.0.to_string(),
                reason: "must be non-negative",
            });
        }
        if delta.0.unsigned_abs() <= residual.0.unsigned_abs() {
            continue;
        }
        let whole = i128::try_from(delta.0.unsigned_abs())
            .map_err(|_| RouterError::AmountInvalid { amount: delta.0, reason: "delta too large" })?;
        hedges.push(hedge_factor(market, underlying, quote, delta, whole, limits)?);
    }
    Ok(hedges)
}

/// Venues that hedge an underlying against the quote token: spot venues and perpetual books.
fn hedge_venues(market: &Market, base: TokenId, quote: TokenId) -> Vec<usize> {
    let usable = |k: &usize| {
        let v = &market.venues[*k];
        matches!(
            v.kind(),
            VenueKind::UniswapV2
                | VenueKind::UniswapV3
                | VenueKind::CurveStableSwap
                | VenueKind::OrderBook(Instrument::Spot | Instrument::Perp)
        ) && v.trades(base, quote)
            && v.trades(quote, base)
    };
    (0..market.venues.len()).filter(usable).collect()
}

fn hedge_factor(
    market: &Market,
    underlying: &str,
    quote: TokenId,
    delta: Amount,
    qty: i128,
    limits: &HedgeLimits,
) -> Result<FactorHedge, RouterError> {
    let base = market.token(underlying)?;
    let venues = hedge_venues(market, base, quote);
    if venues.is_empty() {
        return Err(RouterError::NoRoute { from: underlying.to_string(), to: limits.quote_token.clone() });
    }
    let (side, hop) = if delta.0 > 0 {
        (Side::Sell, route_hop(market, &venues, base, quote, Amount(qty))?)
    } else {
        (Side::Buy, size_buy(market, &venues, base, quote, qty)?)
    };
    let bought = if side == Side::Buy { hop.amount_out() } else { -hop.amount_in() };
    let delta_after = Amount(delta.0 + bought);
    assert!(delta_after.0.unsigned_abs() <= delta.0.unsigned_abs(), "a hedge must reduce the exposure");
    let (base_info, quote_info) = (market.token_info(base)?, market.token_info(quote)?);
    let hedged_usd = qty as f64 / base_info.scale.one() as f64 * base_info.reference_usd;
    let value = |token: TokenId, amount: i128| market.token_info(token).map(|t| amount as f64 / t.scale.one() as f64 * t.reference_usd);
    let cost_usd = value(hop.from, hop.amount_in())? - value(hop.to, hop.amount_out())?;
    let cost_bps = cost_usd / hedged_usd * 1e4;
    if cost_bps > limits.hedge_cost_bps_max {
        return Err(RouterError::LimitExceeded {
            what: "hedge cost (bps)",
            value: format!("{cost_bps:.2} for {underlying}"),
            limit: limits.hedge_cost_bps_max.to_string(),
        });
    }
    let orders = orders_of(market, &hop, underlying, side, base_info.scale.one() as f64, quote_info.scale.one() as f64);
    Ok(FactorHedge { underlying: underlying.to_string(), delta_before: delta, delta_after, orders, cost_usd, cost_bps })
}

/// The largest quote input (to within one raw unit) whose optimal route buys at most `needed` base:
/// exact-input venues cannot hit a quantity exactly, and buying past it would carry the house beyond
/// flat (the engine refuses an execution above the hedge's rest), so what is left is a few raw units,
/// far inside any band.
fn size_buy(market: &Market, venues: &[usize], base: TokenId, quote: TokenId, needed: i128) -> Result<HopPlan, RouterError> {
    let capacity: i128 = venues.iter().map(|&v| market.venues[v].max_input(quote, base).map_or(0, |a| a.0)).sum();
    let bought = |input: i128| route_hop(market, venues, quote, base, Amount(input)).map(|h| h.amount_out()).unwrap_or(0);
    let short = || RouterError::InsufficientLiquidity { venue: "hedge venues".into(), requested: needed, available: 0 };
    let at_capacity = bought(capacity);
    if at_capacity < needed {
        return Err(short());
    }
    if at_capacity == needed {
        return route_hop(market, venues, quote, base, Amount(capacity));
    }
    // Invariant: bought(lo) <= needed < bought(hi).
    let (mut lo, mut hi) = (0i128, capacity);
    for _ in 0..BUY_SIZING_STEPS {
        if hi - lo <= 1 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if bought(mid) > needed { hi = mid } else { lo = mid }
    }
    if lo == 0 {
        return Err(short());
    }
    let plan = route_hop(market, venues, quote, base, Amount(lo))?;
    assert!(plan.amount_out() <= needed, "a hedge buy never passes flat");
    Ok(plan)
}

fn orders_of(market: &Market, hop: &HopPlan, underlying: &str, side: Side, base_one: f64, quote_one: f64) -> Vec<HedgeOrder> {
    hop.allocations
        .iter()
        .map(|a| {
            let venue = &market.venues[a.venue];
            // Marginal output per input after the order, as quote per whole base; where the
            // order takes all the venue has (nothing after it), the price of its last units: a
            // limit of 0 (sell) or infinity (buy) would protect nothing.
            let after = marginal_price_after(venue, hop.from, hop.to, a.amount_in);
            let m = if after > 0.0 { after } else { crate::venue::marginal_price_at_end(venue, hop.from, hop.to, a.amount_in) };
            let limit_price = match side {
                Side::Sell => m * base_one / quote_one,
                Side::Buy if m > 0.0 => base_one / (m * quote_one),
                Side::Buy => f64::INFINITY,
            };
            HedgeOrder {
                venue: venue.id().to_string(),
                underlying: underlying.to_string(),
                side,
                amount_in: a.amount_in,
                amount_out: a.amount_out,
                limit_price,
            }
        })
        .collect()
}
