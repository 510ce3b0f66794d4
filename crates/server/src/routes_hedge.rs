//! The operator's hedging endpoints (docs/service.md, "Hedging"): the router's split for a trade
//! (the same report as `clearhouse route --json`, over the venue set of `serve --venues`), the
//! outstanding hedges with the house's exposure and limits, and the execution reports that become
//! journalled `hedge_executed` commands (or `cancel_hedge`). Operator only, signed like every
//! request; the engine checks every report (docs/engine.md, "Hedging").

use crate::api::{Shared, Signed, submit};
use crate::error::{Result, ServerError};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use engine::Command;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Longest token symbol or amount text a route query may carry.
pub const ROUTE_FIELD_BYTES_MAX: usize = 64;

/// The hedging routes, merged into the one route table.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/operator/route", get(route))
        .route("/v1/operator/hedges", get(hedges))
        .route("/v1/operator/hedging", get(hedging_limits).post(set_hedging))
        .route("/v1/operator/hedges/{hedge_id}/executions", post(execution))
        .route("/v1/operator/hedges/{hedge_id}", delete(cancel))
}

#[derive(OpenApi)]
#[openapi(paths(route, hedges, hedging_limits, set_hedging, execution, cancel), components(schemas(ExecutionReport)))]
pub struct HedgeDoc;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RouteQuery {
    /// Token sold (a symbol of the venue set).
    pub from: String,
    /// Token bought.
    pub to: String,
    /// Whole tokens of `from` (decimal).
    pub amount: String,
}

/// One execution of a hedge on a venue, as the executor saw it on chain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionReport {
    /// The custodian whose venue executed it.
    pub venue: String,
    pub asset_in: String,
    pub amount_in: String,
    pub asset_out: String,
    pub amount_out: String,
    /// The transaction (used once).
    pub chain_ref: String,
}

fn operator(signed: &Signed, action: &str) -> Result<()> {
    if signed.caller.is_operator {
        return Ok(());
    }
    Err(ServerError::Forbidden { principal: signed.caller.principal.clone(), action: action.into() })
}

/// Operator: the optimal split of a trade across the router's venues, its expected price, and the
/// comparison with the best single venue and an equal split (as `clearhouse route --json`).
#[utoipa::path(get, path = "/v1/operator/route", params(RouteQuery), responses((status = 200, description = "route report")))]
pub async fn route(State(state): State<Shared>, Query(q): Query<RouteQuery>, signed: Signed) -> Result<Response> {
    operator(&signed, "route trades")?;
    for (field, text) in [("from", &q.from), ("to", &q.to), ("amount", &q.amount)] {
        if text.is_empty() || text.len() > ROUTE_FIELD_BYTES_MAX {
            return Err(ServerError::OutOfRange { field: field.into(), why: format!("1 to {ROUTE_FIELD_BYTES_MAX} bytes") });
        }
    }
    let market = state.venues.clone();
    let report = tokio::task::spawn_blocking(move || router::route_report(&market, &q.from, &q.to, &q.amount))
        .await
        .map_err(ServerError::internal)?
        .map_err(|e| ServerError::OutOfRange { field: "route".into(), why: e.to_string() })?;
    Ok(Json(report).into_response())
}

/// Operator: outstanding hedges, the house's net position per asset and the limits in force.
#[utoipa::path(get, path = "/v1/operator/hedges", responses((status = 200, description = "hedges and exposure")))]
pub async fn hedges(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    operator(&signed, "read hedges")?;
    let body = state.core.read(|e| {
        let exposure: std::collections::BTreeMap<String, String> = e.house_exposure().into_iter().collect();
        serde_json::json!({ "hedges": e.hedges(), "house_exposure": exposure, "hedging": e.hedging_config() })
    })?;
    Ok(Json(body).into_response())
}

/// Operator: the `[hedging]` limits in force (`null` before any are installed).
#[utoipa::path(get, path = "/v1/operator/hedging", responses((status = 200, description = "the hedging limits")))]
pub async fn hedging_limits(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    operator(&signed, "read hedging limits")?;
    let body = state.core.read(|e| serde_json::json!({ "hedging": e.hedging_config() }))?;
    Ok(Json(body).into_response())
}

/// Operator: new hedging limits (the `[hedging]` section as JSON, unknown keys refused);
/// journalled as `set_hedging`, which the engine checks and which cancels every outstanding hedge.
#[utoipa::path(post, path = "/v1/operator/hedging", responses((status = 200, description = "installed: the cancellations, hedging_set, new requests")))]
pub async fn set_hedging(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    operator(&signed, "set hedging limits")?;
    let config: model::Hedging = signed.json()?;
    submit(&state, &signed.caller, Command::SetHedging { config }).await
}

/// Operator: reports one execution of hedge `hedge_id`; journalled as `hedge_executed`.
#[utoipa::path(post, path = "/v1/operator/hedges/{hedge_id}/executions", params(("hedge_id" = u64, Path)), request_body = ExecutionReport,
    responses((status = 200, description = "booked: transfers, exposure, the hedge's rest")))]
pub async fn execution(State(state): State<Shared>, Path(hedge_id): Path<u64>, signed: Signed) -> Result<Response> {
    operator(&signed, "report hedge executions")?;
    let r: ExecutionReport = signed.json()?;
    let command = Command::HedgeExecuted {
        hedge_id,
        venue: r.venue,
        asset_in: r.asset_in,
        amount_in: r.amount_in,
        asset_out: r.asset_out,
        amount_out: r.amount_out,
        chain_ref: r.chain_ref,
    };
    submit(&state, &signed.caller, command).await
}

/// Operator: closes what is left of hedge `hedge_id`; journalled as `cancel_hedge`.
#[utoipa::path(delete, path = "/v1/operator/hedges/{hedge_id}", params(("hedge_id" = u64, Path)), responses((status = 200, description = "cancelled")))]
pub async fn cancel(State(state): State<Shared>, Path(hedge_id): Path<u64>, signed: Signed) -> Result<Response> {
    operator(&signed, "cancel hedges")?;
    submit(&state, &signed.caller, Command::CancelHedge { hedge_id }).await
}
