//! The operator's overview: net client exposure per asset (the risk factors of a spot broker),
//! custody held per custodian (protocol exposure), the insurance fund over time, and the
//! accounts closest to liquidation by margin health (the risk crate's f64 estimate, for the
//! first [`MARGINED_ACCOUNTS_MAX`] accounts).

use crate::api::{Shared, Signed};
use crate::error::{Result, ServerError};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

/// Accounts margined for the "closest to liquidation" list per request.
pub const MARGINED_ACCOUNTS_MAX: usize = 20;

/// Operator: exposure, custody, insurance fund and the accounts nearest liquidation.
#[utoipa::path(get, path = "/v1/operator/overview", responses((status = 200, description = "operator overview")))]
pub async fn overview(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    if !signed.caller.is_operator {
        return Err(ServerError::Forbidden { principal: signed.caller.principal.clone(), action: "read the operator overview".into() });
    }
    let (exposure, custody, books) = state.core.read(|e| -> Result<_> {
        let traders: std::collections::BTreeSet<&str> = e.trader_accounts().collect();
        let mut exposure: BTreeMap<String, String> = BTreeMap::new();
        let mut custody: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let rows = e.balances();
        for asset in e.config().assets.iter() {
            let scale = money::Scale::new(asset.decimals).map_err(ServerError::internal)?;
            let total: i128 = rows
                .iter()
                .filter(|r| r.asset == asset.symbol && traders.contains(r.account.as_str()))
                .filter_map(|r| money::Amount::parse(&r.posted, scale).ok().map(|a| a.units()))
                .sum();
            if total != 0 {
                exposure.insert(asset.symbol.clone(), money::format_decimal(total, scale));
            }
        }
        for r in rows.iter().filter(|r| r.account.starts_with("@custody/")) {
            let custodian = r.account.trim_start_matches("@custody/").to_string();
            custody.entry(custodian).or_default().insert(r.asset.clone(), r.posted.trim_start_matches('-').to_string());
        }
        let books: Vec<_> =
            e.trader_accounts().take(MARGINED_ACCOUNTS_MAX).filter_map(|a| crate::margin::account_book(e, a).ok()).collect();
        Ok((exposure, custody, books))
    })??;
    let service = state.margin.clone();
    let mut nearest = tokio::task::spawn_blocking(move || {
        books
            .iter()
            .filter(|b| !b.balances.is_empty())
            .map(|b| match service.report(b, &b.balances) {
                Ok(r) => serde_json::json!({ "account": b.account, "health_usd": r.health_usd, "initial_margin": r.initial_margin, "maintenance_margin": r.maintenance_margin, "net_liquidation_value": r.net_liquidation_value }),
                Err(e) => serde_json::json!({ "account": b.account, "error": e.to_string() }),
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(ServerError::internal)?;
    nearest.sort_by(|a, b| {
        let h = |v: &serde_json::Value| v["health_usd"].as_f64().unwrap_or(f64::INFINITY);
        h(a).total_cmp(&h(b))
    });
    let prices = state.core.read(crate::views::prices_of)?;
    let series = state.core.history.lock().map_err(|_| ServerError::internal("history lock"))?.insurance();
    Ok(Json(serde_json::json!({ "net_exposure": exposure, "custody": custody, "prices": prices, "insurance_series": series, "nearest_liquidation": nearest })).into_response())
}
