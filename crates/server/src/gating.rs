//! The engine's integer margin in the service: the numbers that gate orders, withdrawals and
//! transfers (`Engine::margin_explained`, the model installed in the engine), for the margin
//! report, the what-if and the hedge suggestions (`docs/service.md`, "Margin").
//!
//! Hypothetical trades become exact changes: a spot trade moves base and quote (cost rounded
//! up, proceeds down, the taker fee up); a perp trade opens at the oracle index and pays the
//! taker fee on its notional; an option trade pays (buy) or receives (sell) its premium at the
//! given price, less or plus the taker fee. Without margin configured in the engine, or without
//! a usable model, the answer says so (`state`), never a number.

use crate::api::Side;
use crate::error::{Result, ServerError};
use crate::margin::HypotheticalTrade;
use engine::{Engine, EngineError, MarginWhatIf};
use money::{Amount, Rounding, Scale};
use serde_json::{Value, json};

fn range(field: &str, why: impl Into<String>) -> ServerError {
    ServerError::OutOfRange { field: field.into(), why: why.into() }
}

/// The engine's margin of `account` with `what_if`, as JSON: `state` is `ok` with the numbers,
/// or `not_configured` / `unavailable` with the reason.
pub fn engine_margin(engine: &Engine, account: &str, what_if: &MarginWhatIf) -> Result<Value> {
    match engine.margin_explained(account, what_if) {
        Ok(explained) => Ok(json!({ "state": "ok", "gates_orders": true, "margin": explained.margin,
            "charges": explained.charges, "contributions": explained.contributions })),
        Err(EngineError::RiskModelStale { why }) if engine.config().settings.risk_model_max_age_ms.is_none() => {
            Ok(json!({ "state": "not_configured", "gates_orders": false, "why": why }))
        }
        Err(EngineError::RiskModelStale { why }) => Ok(json!({ "state": "unavailable", "gates_orders": true, "why": why })),
        Err(e @ (EngineError::MissingPrice { .. } | EngineError::RiskModelUnknownName { .. })) => {
            Ok(json!({ "state": "unavailable", "gates_orders": true, "why": e.to_string() }))
        }
        Err(error) => Err(ServerError::Refused { error }),
    }
}

fn scale_of(engine: &Engine, asset: &str) -> Result<Scale> {
    let decimals = engine.config().assets.iter().find(|a| a.symbol == asset).map(|a| a.decimals);
    Scale::new(decimals.ok_or_else(|| ServerError::internal(format!("asset {asset} not configured")))?).map_err(ServerError::internal)
}

/// The exact changes of hypothetical trades.
pub fn what_if(engine: &Engine, trades: &[HypotheticalTrade]) -> Result<MarginWhatIf> {
    let mut out = MarginWhatIf::default();
    for trade in trades {
        let def = engine
            .config()
            .markets
            .iter()
            .find(|m| m.id == trade.market)
            .ok_or_else(|| ServerError::NotFound { what: format!("market {}", crate::printable(&trade.market)) })?;
        let units = crate::views::units(engine, &def.id)?;
        let qty = Amount::parse(&trade.qty, units.base).map_err(|e| range("qty", e.to_string()))?.units();
        if qty <= 0 {
            return Err(range("qty", "must be positive"));
        }
        let price = trade.price.as_deref().map(|p| Amount::parse(p, units.quote).map(|a| a.units())).transpose();
        let price = price.map_err(|e| range("price", e.to_string()))?;
        if price.is_some_and(|p| p <= 0) {
            return Err(range("price", "must be positive"));
        }
        let fee_bps = i128::from(def.taker_fee_bps);
        match def.kind {
            model::MarketKind::Spot => spot(engine, def, &units, trade.side, qty, price, fee_bps, &mut out)?,
            model::MarketKind::Perp => {
                if price.is_some() {
                    return Err(range("price", "a hypothetical perp trade opens at the oracle index; leave price out"));
                }
                let index = index_units(engine, &def.base, &def.quote, units.quote)?;
                let notional = money::mul_div(qty, index, units.base.one(), Rounding::Ceil).map_err(|e| range("qty", e.to_string()))?;
                let fee = money::mul_div(notional, fee_bps, 10_000, Rounding::Ceil).map_err(|e| range("qty", e.to_string()))?;
                out.assets.push((def.quote.clone(), -fee));
                out.derivatives.push((def.id.clone(), if trade.side == Side::Buy { qty } else { -qty }));
            }
            model::MarketKind::Option => {
                let price = price.ok_or_else(|| range("price", "a hypothetical option trade needs its premium price"))?;
                let rounding = if trade.side == Side::Buy { Rounding::Ceil } else { Rounding::Floor };
                let premium = money::mul_div(qty, price, units.base.one(), rounding).map_err(|e| range("qty", e.to_string()))?;
                let fee = money::mul_div(premium, fee_bps, 10_000, Rounding::Ceil).map_err(|e| range("qty", e.to_string()))?;
                let (cash, position) = if trade.side == Side::Buy { (-(premium + fee), qty) } else { (premium - fee, -qty) };
                out.assets.push((def.quote.clone(), cash));
                out.derivatives.push((def.id.clone(), position));
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn spot(
    engine: &Engine,
    def: &model::Market,
    units: &crate::views::Units,
    side: Side,
    qty: i128,
    price: Option<i128>,
    fee_bps: i128,
    out: &mut MarginWhatIf,
) -> Result<()> {
    let price = match price {
        Some(p) => p,
        None => cross_units(engine, &def.base, &def.quote, units.quote)?,
    };
    let rounding = if side == Side::Buy { Rounding::Ceil } else { Rounding::Floor };
    let quote = money::mul_div(qty, price, units.base.one(), rounding).map_err(|e| range("qty", e.to_string()))?;
    let fee = money::mul_div(quote, fee_bps, 10_000, Rounding::Ceil).map_err(|e| range("qty", e.to_string()))?;
    let (base_delta, quote_delta) = if side == Side::Buy { (qty, -(quote + fee)) } else { (-qty, quote - fee) };
    out.assets.push((def.base.clone(), base_delta));
    out.assets.push((def.quote.clone(), quote_delta));
    Ok(())
}

/// The oracle price of `base` in `quote`, in quote units per whole base (rounded down).
pub fn cross_units(engine: &Engine, base: &str, quote: &str, quote_scale: Scale) -> Result<i128> {
    let price =
        |s: &str| engine.price(s).map(|(p, _)| p.0).ok_or_else(|| ServerError::Margin { detail: format!("no oracle price for {s}") });
    let (b, q) = (price(base)?, price(quote)?);
    if q <= 0 {
        return Err(ServerError::Margin { detail: format!("the oracle price of {quote} is not positive") });
    }
    money::mul_div(b, quote_scale.one(), q, Rounding::Floor).map_err(|e| ServerError::Margin { detail: e.to_string() })
}

/// A perp's oracle index in settlement units per whole underlying.
pub fn index_units(engine: &Engine, underlying: &str, settlement: &str, quote_scale: Scale) -> Result<i128> {
    cross_units(engine, underlying, settlement, quote_scale)
}

/// The quote asset's scale of a market (for callers outside this module).
pub fn quote_scale(engine: &Engine, market: &model::Market) -> Result<Scale> {
    scale_of(engine, &market.quote)
}

/// Fractions of the sizing notional tried per market and side.
pub const HEDGE_FRACTIONS: [(i128, i128); 3] = [(1, 4), (1, 2), (1, 1)];

/// A hedge evaluated with the engine's margin.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EngineHedge {
    pub trade: HypotheticalTrade,
    /// Spread and taker fee on the notional, USD (f64: a ranking only).
    pub expected_cost_usd: f64,
    pub initial_margin_before_usd: String,
    pub initial_margin_after_usd: String,
    /// Initial margin removed per USD of expected cost.
    pub reduction_per_cost: f64,
}

fn usd_units(text: &str) -> Result<i128> {
    money::parse_decimal(text, money::USD_SCALE).map_err(ServerError::internal)
}

/// Candidate trades (options: [`option_candidates`]): for every spot and perp market, each side, quarter, half and all of the
/// account's equity in notional (a spot sale at most what it holds, a spot buy at most its
/// quote), on the lot and at least the market's minimum.
fn candidates(engine: &Engine, account: &str, equity_usd: i128) -> Result<Vec<(HypotheticalTrade, f64)>> {
    let mut out = Vec::new();
    for def in engine.config().markets.iter().filter(|m| m.kind != model::MarketKind::Option) {
        let units = crate::views::units(engine, &def.id)?;
        let Some((base_usd, _)) = engine.price(&def.base) else { continue };
        if base_usd.0 <= 0 {
            continue;
        }
        let cost_fraction = half_spread(engine, def)? + f64::from(def.taker_fee_bps) / 1e4;
        let qty_min = Amount::parse(&def.qty_min, units.base).map_err(ServerError::internal)?.units();
        let whole = money::mul_div(equity_usd.max(0), units.base.one(), base_usd.0, Rounding::Floor).map_err(ServerError::internal)?;
        for side in [Side::Buy, Side::Sell] {
            let cap = spot_cap(engine, account, def, side, &units)?.unwrap_or(whole).min(whole);
            for (num, den) in HEDGE_FRACTIONS {
                let qty = cap / den * num / units.lot_units * units.lot_units;
                if qty < qty_min.max(1) {
                    continue;
                }
                let notional_usd = qty as f64 / units.base.one() as f64 * base_usd.0 as f64 / 1e18;
                let trade = HypotheticalTrade { market: def.id.clone(), side, qty: money::format_decimal(qty, units.base), price: None };
                out.push((trade, notional_usd * cost_fraction));
            }
        }
    }
    Ok(out)
}

/// Option candidates: every configured option series, each side, a quarter, half and all of
/// the sizing quantity (the account's largest derivative position on the series' underlying, or
/// without one its equity in the underlying's notional), on the lot and at least the minimum.
/// With resting orders on the side the trade takes, it walks the book ([`walk_book`]): the
/// premium is the average price over the levels it consumes and a size beyond the book's depth
/// is capped at it. Without any, the premium is the model's unit value (rounded to the tick
/// against the trader). The cost is the half spread (the band without a two-sided book) and the
/// taker fee on the premium's notional, plus the walk's slippage beyond the best level.
fn option_candidates(engine: &Engine, account: &str, equity_usd: i128) -> Result<Vec<(HypotheticalTrade, f64)>> {
    let positions = engine.positions_of(account).map_err(|error| ServerError::Refused { error })?;
    let mut out = Vec::new();
    for def in engine.config().markets.iter().filter(|m| m.kind == model::MarketKind::Option) {
        let units = crate::views::units(engine, &def.id)?;
        let (Some((base_usd, _)), Some((quote_usd, _))) = (engine.price(&def.base), engine.price(&def.quote)) else { continue };
        if base_usd.0 <= 0 || quote_usd.0 <= 0 {
            continue;
        }
        let held = largest_position(engine, &positions, &def.base, units.base)?;
        let sizing = match held {
            Some(qty) => qty,
            None => money::mul_div(equity_usd.max(0), units.base.one(), base_usd.0, Rounding::Floor).map_err(ServerError::internal)?,
        };
        let cost_fraction = half_spread(engine, def)? + f64::from(def.taker_fee_bps) / 1e4;
        let qty_min = Amount::parse(&def.qty_min, units.base).map_err(ServerError::internal)?.units();
        let quote_to_usd = |quote_units: f64| quote_units / units.quote.one() as f64 * quote_usd.0 as f64 / 1e18;
        let depth = engine.depth(&def.id, usize::MAX).map_err(|error| ServerError::Refused { error })?;
        for side in [Side::Buy, Side::Sell] {
            let levels = if side == Side::Buy { &depth.asks } else { &depth.bids };
            let model_premium = if levels.is_empty() { model_premium(engine, def, side, &units, quote_usd.0)? } else { None };
            let mut sizes: Vec<i128> = Vec::new();
            for (num, den) in HEDGE_FRACTIONS {
                let qty = sizing / den * num / units.lot_units * units.lot_units;
                let qty = if levels.is_empty() { qty } else { qty.min(book_depth(levels) * units.lot_units) };
                if qty >= qty_min.max(1) && !sizes.contains(&qty) {
                    sizes.push(qty);
                }
            }
            for qty in sizes {
                let priced = match model_premium {
                    Some(premium) => Some(Walk { average: premium, total: 0, at_best: 0 }),
                    None => walk_book(levels, side, qty / units.lot_units, &units)?,
                };
                let Some(walk) = priced.filter(|w| w.average > 0) else { continue };
                let premium = qty as f64 / units.base.one() as f64 * walk.average as f64;
                let slippage = (walk.total - walk.at_best).abs() as f64;
                let cost = quote_to_usd(premium) * cost_fraction + quote_to_usd(slippage);
                let price = Some(money::format_decimal(walk.average, units.quote));
                let trade = HypotheticalTrade { market: def.id.clone(), side, qty: money::format_decimal(qty, units.base), price };
                out.push((trade, cost));
            }
        }
    }
    Ok(out)
}

/// The price of taking `lots` from the book's levels on one side (best first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    /// Quote units per whole base: the exact cost divided by the quantity, rounded against the
    /// trader (up for a buy, down for a sell), so the what-if's premium is never kinder than the
    /// book.
    pub average: i128,
    /// Quote units the trade pays (buy) or receives (sell) over the levels it consumes.
    pub total: i128,
    /// Quote units the same quantity would cost at the best level alone.
    pub at_best: i128,
}

/// Lots resting on one side of the book.
fn book_depth(levels: &[book::DepthLevel]) -> i128 {
    levels.iter().map(|l| i128::from(l.qty.0)).sum()
}

/// Walks the levels (best first; prices in quote units per lot): `None` when they hold fewer
/// than `lots` or `lots` is not positive.
pub(crate) fn walk_book(levels: &[book::DepthLevel], side: Side, lots: i128, units: &crate::views::Units) -> Result<Option<Walk>> {
    let Some(best) = levels.first() else { return Ok(None) };
    if lots <= 0 || book_depth(levels) < lots {
        return Ok(None);
    }
    let overflow = || ServerError::internal("the cost of walking the book overflows");
    let (mut left, mut total) = (lots, 0i128);
    for level in levels {
        let take = left.min(i128::from(level.qty.0));
        let cost = take.checked_mul(i128::from(level.price.0)).ok_or_else(overflow)?;
        total = total.checked_add(cost).ok_or_else(overflow)?;
        left -= take;
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "the levels hold the quantity (checked above)");
    let rounding = if side == Side::Buy { Rounding::Ceil } else { Rounding::Floor };
    // total / (lots x lot_units) x one = total x lots_per_base / lots.
    let average = money::mul_div(total, units.lots_per_base, lots, rounding).map_err(ServerError::internal)?;
    let at_best = lots.checked_mul(i128::from(best.price.0)).ok_or_else(overflow)?;
    Ok(Some(Walk { average, total, at_best }))
}

/// The largest |quantity| of the account's derivative positions on `underlying`, in 10^-9 of
/// it; `None` without one.
fn largest_position(engine: &Engine, positions: &[engine::PositionView], underlying: &str, scale: Scale) -> Result<Option<i128>> {
    let mut largest = None;
    for p in positions {
        let Some(def) = engine.config().markets.iter().find(|m| m.id == p.market) else { continue };
        if def.base != underlying {
            continue;
        }
        let qty = Amount::parse(&p.qty, scale).map_err(ServerError::internal)?.units().abs();
        largest = largest.max(Some(qty).filter(|q| *q > 0));
    }
    Ok(largest)
}

/// The model's unit value of an option, quote units per whole underlying, rounded to the tick
/// against the trader; `None` when the model does not know it or it is not positive.
fn model_premium(engine: &Engine, def: &model::Market, side: Side, units: &crate::views::Units, quote_usd: i128) -> Result<Option<i128>> {
    let Some(model) = engine.risk_model() else { return Ok(None) };
    let Some(instrument) = def.instrument.as_deref().and_then(|id| model.instrument(id)) else { return Ok(None) };
    let Some(charges) = model.charges.instruments.get(instrument.0 as usize) else { return Ok(None) };
    // micro-USD per whole underlying -> 10^-18 USD -> quote units at the quote's USD price.
    let value_e18 = i128::from(charges.value_musd) * 1_000_000_000_000;
    let tick = Amount::parse(&def.tick, units.quote).map_err(ServerError::internal)?.units();
    let rounding = if side == Side::Buy { Rounding::Ceil } else { Rounding::Floor };
    let premium = money::mul_div(value_e18, units.quote.one(), quote_usd, rounding).map_err(ServerError::internal)?;
    let on_tick = money::mul_div(premium, 1, tick.max(1), rounding).map_err(ServerError::internal)? * tick.max(1);
    Ok(Some(on_tick).filter(|p| *p > 0))
}

/// What a spot trade may use at most: the base held (sale) or the quote held at the oracle
/// price (buy); `None` for a derivative market.
fn spot_cap(engine: &Engine, account: &str, def: &model::Market, side: Side, units: &crate::views::Units) -> Result<Option<i128>> {
    if def.kind != model::MarketKind::Spot {
        return Ok(None);
    }
    let held = |asset: &str| -> Result<i128> {
        let row = engine.balances().into_iter().find(|r| r.account == account && r.asset == asset);
        let Some(row) = row else { return Ok(0) };
        let scale = scale_of(engine, asset)?;
        let parse = |t: &str| Amount::parse(t, scale).map(|a| a.units()).map_err(ServerError::internal);
        Ok(parse(&row.posted)? - parse(&row.reserved)?)
    };
    Ok(Some(match side {
        Side::Sell => held(&def.base)?,
        Side::Buy => {
            let price = cross_units(engine, &def.base, &def.quote, units.quote)?;
            let fee = 1.0 + f64::from(def.taker_fee_bps) / 1e4;
            if price <= 0 { 0 } else { (held(&def.quote)? as f64 / fee) as i128 * units.base.one() / price }
        }
    }))
}

/// Half the best bid-ask spread as a fraction of the price, or the market's price band without
/// a two-sided book (the worst fill it allows).
fn half_spread(engine: &Engine, def: &model::Market) -> Result<f64> {
    let depth = engine.depth(&def.id, 1).map_err(|error| ServerError::Refused { error })?;
    Ok(match (depth.bids.first(), depth.asks.first()) {
        (Some(b), Some(a)) if b.price.0 > 0 => (a.price.0 - b.price.0) as f64 / (a.price.0 + b.price.0) as f64,
        _ => f64::from(def.price_band_bps) / 1e4,
    })
}

/// The trades that lower the engine's initial margin most per USD of expected cost, with the
/// margin before (its JSON) and the chosen hedges. Each candidate is priced under the node's
/// lock on its own, so the writer waits for one evaluation at most.
pub async fn engine_hedges(core: &crate::core::Core, account: &str) -> Result<(Value, Vec<EngineHedge>)> {
    let before = core.read(|e| engine_margin(e, account, &MarginWhatIf::default()))??;
    if before["state"] != "ok" {
        return Ok((before, Vec::new()));
    }
    let text = |v: &Value, key: &str| v["margin"][key].as_str().map(str::to_string).ok_or_else(|| ServerError::internal("margin field"));
    let (equity, initial_before) = (usd_units(&text(&before, "equity_usd")?)?, text(&before, "initial_usd")?);
    let initial = usd_units(&initial_before)?;
    let mut candidates = core.read(|e| candidates(e, account, equity))??;
    candidates.extend(core.read(|e| option_candidates(e, account, equity))??);
    let mut hedges = Vec::new();
    for (trade, cost) in candidates {
        let after = core.read(|e| what_if(e, std::slice::from_ref(&trade)).map(|w| e.margin_explained(account, &w).ok()))?;
        let Ok(Some(after)) = after else { continue };
        let reduction = initial - usd_units(&after.margin.initial_usd)?;
        if reduction > 0 && cost > 0.0 {
            let reduction_per_cost = reduction as f64 / 1e18 / cost;
            let initial_margin_before_usd = initial_before.clone();
            let initial_margin_after_usd = after.margin.initial_usd;
            hedges.push(EngineHedge {
                trade,
                expected_cost_usd: cost,
                initial_margin_before_usd,
                initial_margin_after_usd,
                reduction_per_cost,
            });
        }
    }
    hedges.sort_by(|a, b| b.reduction_per_cost.total_cmp(&a.reduction_per_cost));
    hedges.truncate(crate::margin::HEDGES_MAX);
    Ok((before, hedges))
}

#[cfg(test)]
mod tests {
    use super::*;
    use book::{DepthLevel, Price, Qty};

    /// Base in 10^-9, a lot of 0.1 (10 lots per whole base), quote in 10^-6.
    fn units() -> crate::views::Units {
        crate::views::Units { lots_per_base: 10, lot_units: 100_000_000, base: Scale::new(9).unwrap(), quote: Scale::new(6).unwrap() }
    }

    fn level(price_per_base: i64, lots: u64) -> DepthLevel {
        // Book prices are quote units per lot: a tenth of the price per whole base.
        DepthLevel { price: Price(price_per_base * 1_000_000 / 10), qty: Qty(lots) }
    }

    #[test]
    fn a_buy_of_one_and_a_half_walks_two_levels_at_their_average() {
        // 1 at 990 and 0.5 at 999.9: 990 + 499.95 = 1489.95 USDC, 993.30 a whole unit.
        let asks = [level(990, 10), DepthLevel { price: Price(99_990_000), qty: Qty(10) }];
        let walk = walk_book(&asks, Side::Buy, 15, &units()).unwrap().unwrap();
        assert_eq!(walk.total, 1_489_950_000);
        assert_eq!(walk.average, 993_300_000);
        assert_eq!(walk.at_best, 15 * 99_000_000);
        // Within the first level: its price.
        assert_eq!(walk_book(&asks, Side::Buy, 10, &units()).unwrap().unwrap().average, 990_000_000);
        // Beyond the book's 20 lots: refused.
        assert_eq!(walk_book(&asks, Side::Buy, 21, &units()).unwrap(), None);
        assert_eq!(walk_book(&asks, Side::Buy, 0, &units()).unwrap(), None);
        assert_eq!(walk_book(&[], Side::Buy, 1, &units()).unwrap(), None);
    }

    #[test]
    fn the_average_is_rounded_against_the_trader() {
        // 1 lot at 1 unit and 2 lots at 2: 5 units for 3 lots = 16.67 units a whole base.
        let levels = [DepthLevel { price: Price(1), qty: Qty(1) }, DepthLevel { price: Price(2), qty: Qty(2) }];
        assert_eq!(walk_book(&levels, Side::Buy, 3, &units()).unwrap().unwrap().average, 17);
        assert_eq!(walk_book(&levels, Side::Sell, 3, &units()).unwrap().unwrap().average, 16);
    }

    #[test]
    fn a_walk_whose_cost_overflows_is_an_error_not_a_wrapped_price() {
        // Each level costs (2^63 - 1)(2^64 - 1), just below 2^127: two are beyond i128. Refused,
        // never wrapped or saturated.
        let huge = DepthLevel { price: Price(i64::MAX), qty: Qty(u64::MAX) };
        let lots = 2 * i128::from(u64::MAX);
        assert!(walk_book(&[huge, huge], Side::Buy, lots, &units()).is_err());
    }
}
