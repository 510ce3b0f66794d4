//! Read-only views. An account's own data needs a signed request from its owner (or the
//! operator); market data is public and aggregated: depth levels and trades, never order ids
//! or owners of others.

use crate::api::{Shared, Signed};
use crate::error::{Result, ServerError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use engine::Engine;
use money::{Scale, format_decimal};
use serde::{Deserialize, Serialize};

/// Depth levels returned at most.
pub const DEPTH_LEVELS_MAX: usize = 50;
/// Fills or trades returned at most.
pub const LIST_MAX: usize = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DepthQuery {
    #[serde(default)]
    pub levels: Option<usize>,
}

/// The account `owner/sub`, if the caller may read it.
pub fn readable_account(signed: &Signed, owner: &str, sub: &str) -> Result<String> {
    if signed.caller.is_operator || signed.caller.principal == owner {
        return Ok(format!("{owner}/{sub}"));
    }
    Err(ServerError::Forbidden { principal: signed.caller.principal.clone(), action: format!("read {owner}/{sub}") })
}

fn unknown_account(engine: &Engine, account: &str) -> Result<()> {
    if engine.trader_accounts().any(|a| a == account) {
        return Ok(());
    }
    Err(ServerError::NotFound { what: format!("account {}", crate::printable(account)) })
}

/// Balances of an account and, where every asset has a price, their value.
#[utoipa::path(get, path = "/v1/accounts/{owner}/{sub}/balances", params(("owner" = String, Path), ("sub" = String, Path)),
    responses((status = 200, description = "posted and reserved balances, valuation")))]
pub async fn balances(State(state): State<Shared>, Path((owner, sub)): Path<(String, String)>, signed: Signed) -> Result<Response> {
    let account = readable_account(&signed, &owner, &sub)?;
    let body = state.core.read(|e| -> Result<serde_json::Value> {
        unknown_account(e, &account)?;
        let rows: Vec<_> = e.balances().into_iter().filter(|r| r.account == account).collect();
        let valuation = e.valuation(&account).map_err(|err| err.to_string());
        Ok(serde_json::json!({ "account": account, "balances": rows, "valuation": valuation.as_ref().ok(), "valuation_error": valuation.err() }))
    })??;
    Ok(Json(body).into_response())
}

/// One market's integer units for decimal conversion.
pub struct Units {
    pub lots_per_base: i128,
    pub lot_units: i128,
    pub base: Scale,
    pub quote: Scale,
}

pub fn units(engine: &Engine, market: &str) -> Result<Units> {
    let def = engine
        .config()
        .markets
        .iter()
        .find(|m| m.id == market)
        .ok_or_else(|| ServerError::NotFound { what: format!("market {}", crate::printable(market)) })?;
    let scale = |symbol: &str| {
        let decimals = engine
            .config()
            .assets
            .iter()
            .find(|a| a.symbol == symbol)
            .map(|a| a.decimals)
            .ok_or_else(|| ServerError::internal("market asset not configured"))?;
        Scale::new(decimals).map_err(ServerError::internal)
    };
    // A derivative market's quantity counts its underlying at the derivative decimals.
    let base = match def.kind {
        model::MarketKind::Spot => scale(&def.base)?,
        _ => Scale::new(model::DERIVATIVE_DECIMALS).map_err(ServerError::internal)?,
    };
    let quote = scale(&def.quote)?;
    let lot_units = money::Amount::parse(&def.lot, base).map_err(ServerError::internal)?.units();
    if lot_units <= 0 || base.one() % lot_units != 0 {
        return Err(ServerError::internal("a configured lot divides one whole base unit"));
    }
    Ok(Units { lots_per_base: base.one() / lot_units, lot_units, base, quote })
}

impl Units {
    pub fn price(&self, price: book::Price) -> String {
        format_decimal(i128::from(price.0) * self.lots_per_base, self.quote)
    }
    pub fn qty(&self, qty: book::Qty) -> String {
        format_decimal(i128::from(qty.0) * self.lot_units, self.base)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OpenOrder {
    pub market: String,
    pub order_id: u64,
    pub client_order_id: u64,
    pub side: String,
    pub price: String,
    pub qty: String,
}

/// Open orders of an account on every market.
#[utoipa::path(get, path = "/v1/accounts/{owner}/{sub}/orders", params(("owner" = String, Path), ("sub" = String, Path)),
    responses((status = 200, description = "open orders", body = [OpenOrder])))]
pub async fn open_orders(State(state): State<Shared>, Path((owner, sub)): Path<(String, String)>, signed: Signed) -> Result<Response> {
    let account = readable_account(&signed, &owner, &sub)?;
    let orders = state.core.read(|e| -> Result<Vec<OpenOrder>> {
        unknown_account(e, &account)?;
        let mut out = Vec::new();
        // Spot markets (their quantities are base-asset units); derivative positions are the engine's to show.
        for market in e.config().markets.iter().filter(|m| m.kind == model::MarketKind::Spot).map(|m| m.id.clone()) {
            let u = units(e, &market)?;
            for o in e.open_orders(&market, &account).map_err(|error| ServerError::Refused { error })? {
                let side = if o.side == book::Side::Buy { "buy" } else { "sell" };
                out.push(OpenOrder {
                    market: market.clone(),
                    order_id: o.order_id.0,
                    client_order_id: o.client_order_id.0,
                    side: side.into(),
                    price: u.price(o.price),
                    qty: u.qty(o.qty),
                });
            }
        }
        Ok(out)
    })??;
    Ok(Json(orders).into_response())
}

/// The account's fills since the service started, newest first.
#[utoipa::path(get, path = "/v1/accounts/{owner}/{sub}/fills", params(("owner" = String, Path), ("sub" = String, Path), ListQuery),
    responses((status = 200, description = "fills", body = [crate::history::Fill])))]
pub async fn fills(
    State(state): State<Shared>,
    Path((owner, sub)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    signed: Signed,
) -> Result<Response> {
    let account = readable_account(&signed, &owner, &sub)?;
    let limit = list_limit(q.limit)?;
    let fills = state.core.history.lock().map_err(|_| ServerError::internal("history lock"))?.fills(&account, limit);
    Ok(Json(fills).into_response())
}

fn list_limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=LIST_MAX).contains(&n) => Ok(n),
        Some(_) => Err(ServerError::OutOfRange { field: "limit".into(), why: format!("1 to {LIST_MAX}") }),
    }
}

/// Markets, their parameters and the oracle prices.
#[utoipa::path(get, path = "/v1/markets", responses((status = 200, description = "markets and oracle prices")))]
pub async fn markets(State(state): State<Shared>) -> Result<Response> {
    let body = state.core.read(|e| serde_json::json!({ "markets": e.config().markets, "prices": prices_of(e), "time_ms": e.now_ms() }))?;
    Ok(Json(body).into_response())
}

pub fn prices_of(engine: &Engine) -> serde_json::Map<String, serde_json::Value> {
    let symbols = engine.config().assets.iter().map(|a| a.symbol.clone()).chain(engine.config().underlyings.iter().cloned());
    symbols.filter_map(|s| engine.price(&s).map(|(p, at)| (s, serde_json::json!({ "price_usd": p.to_string(), "at_ms": at })))).collect()
}

/// Oracle prices (as journalled by the feed).
#[utoipa::path(get, path = "/v1/prices", responses((status = 200, description = "oracle prices by symbol")))]
pub async fn prices(State(state): State<Shared>) -> Result<Response> {
    let body = state.core.read(|e| serde_json::json!({ "prices": prices_of(e), "time_ms": e.now_ms() }))?;
    Ok(Json(body).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Level {
    pub price: String,
    pub qty: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DepthView {
    pub market: String,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

pub fn depth_of(engine: &Engine, market: &str, levels: usize) -> Result<DepthView> {
    let u = units(engine, market)?;
    let depth = engine.depth(market, levels).map_err(|error| ServerError::Refused { error })?;
    let conv = |levels: &[book::DepthLevel]| levels.iter().map(|l| Level { price: u.price(l.price), qty: u.qty(l.qty) }).collect();
    Ok(DepthView { market: market.into(), bids: conv(&depth.bids), asks: conv(&depth.asks) })
}

/// Aggregated depth of `base/quote`.
#[utoipa::path(get, path = "/v1/markets/{base}/{quote}/depth", params(("base" = String, Path), ("quote" = String, Path), DepthQuery),
    responses((status = 200, description = "price levels", body = DepthView)))]
pub async fn depth(
    State(state): State<Shared>,
    Path((base, quote)): Path<(String, String)>,
    Query(q): Query<DepthQuery>,
) -> Result<Response> {
    let levels = match q.levels {
        None => 10,
        Some(n) if (1..=DEPTH_LEVELS_MAX).contains(&n) => n,
        Some(_) => return Err(ServerError::OutOfRange { field: "levels".into(), why: format!("1 to {DEPTH_LEVELS_MAX}") }),
    };
    let view = state.core.read(|e| depth_of(e, &format!("{base}/{quote}"), levels))??;
    Ok(Json(view).into_response())
}

/// Public trades of `base/quote` since the service started, newest first.
#[utoipa::path(get, path = "/v1/markets/{base}/{quote}/trades", params(("base" = String, Path), ("quote" = String, Path), ListQuery),
    responses((status = 200, description = "trades", body = [crate::history::Trade])))]
pub async fn trades(
    State(state): State<Shared>,
    Path((base, quote)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    let market = format!("{base}/{quote}");
    state.core.read(|e| units(e, &market).map(|_| ()))??;
    let limit = list_limit(q.limit)?;
    let trades = state.core.history.lock().map_err(|_| ServerError::internal("history lock"))?.trades(&market, limit);
    Ok(Json(trades).into_response())
}

/// The insurance fund: balances, value at the oracle prices, and its value over time.
#[utoipa::path(get, path = "/v1/insurance", responses((status = 200, description = "insurance fund")))]
pub async fn insurance(State(state): State<Shared>) -> Result<Response> {
    let (rows, valuation) = state.core.read(|e| {
        let rows: Vec<_> = e.balances().into_iter().filter(|r| r.account == engine::INSURANCE).collect();
        (rows, e.valuation(engine::INSURANCE).map(|v| v.total_usd).map_err(|err| err.to_string()))
    })?;
    let series = state.core.history.lock().map_err(|_| ServerError::internal("history lock"))?.insurance();
    Ok(Json(serde_json::json!({ "account": engine::INSURANCE, "balances": rows, "value_usd": valuation.as_ref().ok(), "valuation_error": valuation.err(), "series": series })).into_response())
}
