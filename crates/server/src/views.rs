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

/// The insurance fund: balances, value at the oracle prices, and its value over time;
/// `state` is `not_configured` when the engine has no `@insurance` account (never a zero).
#[utoipa::path(get, path = "/v1/insurance", responses((status = 200, description = "insurance fund")))]
pub async fn insurance(State(state): State<Shared>) -> Result<Response> {
    let (present, rows, valuation) = state.core.read(|e| {
        let present = insurance_present(e);
        let rows: Vec<_> = e.balances().into_iter().filter(|r| r.account == engine::INSURANCE).collect();
        (present, rows, e.valuation(engine::INSURANCE).map(|v| v.total_usd).map_err(|err| err.to_string()))
    })?;
    if !present {
        return Ok(Json(serde_json::json!({ "account": engine::INSURANCE, "state": "not_configured" })).into_response());
    }
    let series = state.core.history.lock().map_err(|_| ServerError::internal("history lock"))?.insurance();
    Ok(Json(serde_json::json!({ "account": engine::INSURANCE, "state": "configured", "balances": rows, "value_usd": valuation.as_ref().ok(), "valuation_error": valuation.err(), "series": series })).into_response())
}

/// Whether the engine keeps an insurance fund account.
pub fn insurance_present(engine: &Engine) -> bool {
    !matches!(engine.valuation(engine::INSURANCE), Err(engine::EngineError::UnknownAccount { .. }))
}

/// Operator: liquidation, auction and waterfall events (read from the event stream by kind),
/// newest first, the flagged accounts and the insurance fund's state. They name accounts and
/// their positions, so only the operator reads them; a trader sees its own on the stream.
#[utoipa::path(get, path = "/v1/liquidations", params(ListQuery), responses((status = 200, description = "liquidation events")))]
pub async fn liquidations(State(state): State<Shared>, Query(q): Query<ListQuery>, signed: Signed) -> Result<Response> {
    if !signed.caller.is_operator {
        return Err(ServerError::Forbidden { principal: signed.caller.principal.clone(), action: "read the liquidation events".into() });
    }
    let limit = list_limit(q.limit)?;
    let (present, flags) = state.core.read(|e| (insurance_present(e), e.health_flags()))?;
    let events = state.core.history.lock().map_err(|_| ServerError::internal("history lock"))?.liquidations(limit);
    let flagged: Vec<_> = flags.into_iter().map(|(account, health)| serde_json::json!({ "account": account, "health": health })).collect();
    let insurance = if present { "configured" } else { "not_configured" };
    Ok(Json(serde_json::json!({ "events": events, "flagged_accounts": flagged, "insurance_fund": insurance })).into_response())
}

/// The account's statement (as `clearhouse statement --json` prints it from the journal), from
/// the server's statement index, reconciled with the ledger at the same seq.
#[utoipa::path(get, path = "/v1/accounts/{owner}/{sub}/statement", params(("owner" = String, Path), ("sub" = String, Path)),
    responses((status = 200, description = "statement lines and final balances")))]
pub async fn statement(State(state): State<Shared>, Path((owner, sub)): Path<(String, String)>, signed: Signed) -> Result<Response> {
    let account = readable_account(&signed, &owner, &sub)?;
    let index = state.core.statements.clone();
    let unavailable = |e: statement::StatementError| ServerError::Margin { detail: format!("statement: {e}") };
    // The engine and the index at the same seq (the writer feeds the index under this lock);
    // the lines, which are only appended, are copied after it is released.
    let (ledger, position) = state.core.read(|e| -> Result<_> {
        unknown_account(e, &account)?;
        let rows: Vec<_> = e.balances().into_iter().filter(|r| r.account == account).collect();
        let index = index.lock().map_err(|_| ServerError::internal("statement index lock"))?;
        Ok((rows, index.position(&account).map_err(unavailable)?))
    })??;
    let statement = index.lock().map_err(|_| ServerError::internal("statement index lock"))?.statement_at(&account, &position);
    let statement = statement.map_err(unavailable)?;
    // A mismatch is a broken invariant of the ledger or of the statement: never served.
    statement.reconcile(&ledger).map_err(|e| ServerError::internal(format!("statement: {e}")))?;
    Ok(Json(statement).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PositionRow {
    pub market: String,
    pub kind: String,
    pub instrument: String,
    /// Signed quantity of the underlying.
    pub qty: String,
    /// Entry cost in the settlement asset (rounded up) and per whole underlying (rounded down).
    pub entry_cost: String,
    pub entry_price: Option<String>,
    /// Perps: the oracle index (settlement asset per whole underlying); options: none (margin
    /// values them at the model's unit value).
    pub mark: Option<String>,
    /// Perps: `qty x mark - entry cost`, rounded down (within a unit of the engine's).
    pub unrealised_pnl: Option<String>,
    /// Funding received (negative paid) since the history began (the journal's newest records).
    pub funding: String,
    pub settlement_asset: String,
}

/// Derivative positions (with entry, mark, unrealised P&L, funding) and borrows of an account.
#[utoipa::path(get, path = "/v1/accounts/{owner}/{sub}/positions", params(("owner" = String, Path), ("sub" = String, Path)),
    responses((status = 200, description = "positions and borrows")))]
pub async fn positions(State(state): State<Shared>, Path((owner, sub)): Path<(String, String)>, signed: Signed) -> Result<Response> {
    let account = readable_account(&signed, &owner, &sub)?;
    let funding = state.core.history.lock().map_err(|_| ServerError::internal("history lock"))?.funding(&account);
    let body = state.core.read(|e| -> Result<serde_json::Value> {
        unknown_account(e, &account)?;
        let views = e.positions_of(&account).map_err(|error| ServerError::Refused { error })?;
        let rows = views.into_iter().map(|v| position_row(e, v, &funding)).collect::<Result<Vec<_>>>()?;
        let mut borrows = serde_json::Map::new();
        for asset in &e.config().assets {
            let debt = e.debt(&account, &asset.symbol).map_err(|error| ServerError::Refused { error })?;
            if debt != 0 {
                let scale = Scale::new(asset.decimals).map_err(ServerError::internal)?;
                borrows.insert(asset.symbol.clone(), serde_json::json!(format_decimal(debt, scale)));
            }
        }
        Ok(serde_json::json!({ "account": account, "positions": rows, "borrows": borrows }))
    })??;
    Ok(Json(body).into_response())
}

fn position_row(e: &Engine, v: engine::PositionView, funding: &std::collections::BTreeMap<(String, String), i128>) -> Result<PositionRow> {
    let def = e.config().markets.iter().find(|m| m.id == v.market).ok_or_else(|| ServerError::internal("position in an unknown market"))?;
    let u = units(e, &def.id)?;
    let parse = |t: &str, scale: Scale| money::Amount::parse(t, scale).map(|a| a.units()).map_err(ServerError::internal);
    let (qty, cost) = (parse(&v.qty, u.base)?, parse(&v.entry_cost, u.quote)?);
    let entry_price = (qty != 0)
        .then(|| money::mul_div(cost, u.base.one(), qty, money::Rounding::Floor).map(|p| format_decimal(p, u.quote)).ok())
        .flatten();
    let (mark, unrealised) = if def.kind == model::MarketKind::Perp {
        let index = crate::gating::index_units(e, &def.base, &def.quote, u.quote)?;
        let value = money::mul_div(qty, index, u.base.one(), money::Rounding::Floor).map_err(ServerError::internal)?;
        (Some(format_decimal(index, u.quote)), Some(format_decimal(value - cost, u.quote)))
    } else {
        (None, None)
    };
    let paid = funding.iter().filter(|((m, _), _)| *m == v.market).map(|(_, units)| *units).sum::<i128>();
    Ok(PositionRow {
        kind: format!("{:?}", def.kind).to_lowercase(),
        instrument: v.instrument,
        qty: v.qty,
        entry_cost: v.entry_cost,
        entry_price,
        mark,
        unrealised_pnl: unrealised,
        funding: format_decimal(paid, crate::history::FUNDING_SCALE),
        settlement_asset: def.quote.clone(),
        market: v.market,
    })
}
