//! Margin of an account's book for the API: today the `risk` crate's portfolio margin (f64, see
//! `docs/margin-methodology.md`) of the account's balances, valued at the engine's oracle price
//! for ETH; what-if with hypothetical trades; hedge suggestions. Everything the API knows of
//! margin goes through [`MarginService`], so switching to the engine's integer margin changes
//! this module only.
//!
//! Book: every posted balance of the account (exact decimal strings from the engine), as
//! `[[balances]]` held at the broker. As-of: the engine's clock (history replay) when the
//! market history is loaded; with the embedded calibration (no history), its last instant, the
//! only one it describes, with the engine's ETH price as spot override (said in `as_of`).

use crate::api::Side;
use crate::error::{Result, ServerError};
use money::{Amount, Rounding, Scale};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Hypothetical trades in one simulation, at most.
pub const SIMULATED_TRADES_MAX: usize = 16;
/// Hedge suggestions returned.
pub const HEDGES_MAX: usize = 3;
/// Fractions of the largest feasible size tried per market and side.
pub const HEDGE_FRACTIONS: [f64; 3] = [0.25, 0.5, 1.0];

pub struct MarginService {
    config: model::Config,
    params: risk::RiskParams,
    data: risk::MarketData,
    /// `history` or `embedded calibration`.
    pub source: &'static str,
}

/// What the engine knows of one account, read under the node's lock.
#[derive(Debug, Clone)]
pub struct AccountBook {
    pub account: String,
    /// Asset -> (posted units, scale).
    pub balances: BTreeMap<String, (i128, Scale)>,
    /// Oracle prices, USD (f64: for the risk model only).
    pub prices_usd: BTreeMap<String, f64>,
    pub now_ms: u64,
    /// Every configured asset's scale (an asset the account does not hold has one too).
    pub scales: BTreeMap<String, Scale>,
    /// Market id -> (base, quote, taker fee bps, half spread as a fraction of the price).
    pub markets: BTreeMap<String, MarketFacts>,
}

#[derive(Debug, Clone)]
pub struct MarketFacts {
    pub base: String,
    pub quote: String,
    pub taker_fee_bps: u32,
    pub half_spread: f64,
    pub lot_units: i128,
    pub qty_min_units: i128,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HypotheticalTrade {
    pub market: String,
    pub side: Side,
    /// Base quantity (decimal).
    pub qty: String,
    /// Quote per whole base; default the oracle cross price.
    #[serde(default)]
    pub price: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    pub account: String,
    pub trades: Vec<HypotheticalTrade>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MarginSummary {
    pub as_of: String,
    pub data: String,
    pub net_liquidation_value: f64,
    pub initial_margin: f64,
    pub maintenance_margin: f64,
    pub health_usd: f64,
    pub binding: String,
    /// (name, USD) of every charge.
    pub charges: Vec<(String, f64)>,
    /// (position, standalone margin USD).
    pub contributions: Vec<(String, f64)>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Hedge {
    pub trade: HypotheticalTrade,
    pub expected_cost_usd: f64,
    pub initial_margin_before: f64,
    pub initial_margin_after: f64,
    /// IM reduction per USD of expected cost.
    pub reduction_per_cost: f64,
}

impl MarginService {
    /// With `embedded` the committed calibration; otherwise the market history, whose absence
    /// is an error naming the fix.
    pub fn load(config: &model::Config, embedded: bool) -> Result<MarginService> {
        let params = risk::RiskParams::default_params();
        let startup = |e: risk::RiskError| ServerError::Startup { detail: format!("margin data: {e}") };
        let (data, source) = if embedded {
            (risk::MarketData::embedded_calibration().map_err(startup)?, "embedded calibration")
        } else {
            (risk::MarketData::load_for(config, &params).map_err(startup)?, "history")
        };
        Ok(MarginService { config: config.clone(), params, data, source })
    }

    /// The history panel, when the margin runs on it (the feed replays the same history).
    pub fn panel(&self) -> Option<&marketdata::FactorPanel> {
        match &self.data {
            risk::MarketData::Panel { panel, .. } => Some(panel),
            risk::MarketData::Calibration(_) => None,
        }
    }

    fn as_of(&self, now_ms: u64) -> Result<String> {
        match &self.data {
            risk::MarketData::Calibration(c) => Ok(c.data_end.to_iso()),
            risk::MarketData::Panel { .. } if now_ms == 0 => {
                Err(ServerError::Margin { detail: "the engine has no time yet (no advance_time)".into() })
            }
            risk::MarketData::Panel { .. } => Ok(marketdata::Hour((now_ms / 3_600_000) as i64).to_iso()),
        }
    }

    /// The margin report of a set of balances.
    pub fn report(&self, book: &AccountBook, balances: &BTreeMap<String, (i128, Scale)>) -> Result<risk::MarginReport> {
        let mut portfolio = risk::Portfolio {
            name: book.account.clone(),
            description: String::new(),
            as_of: self.as_of(book.now_ms)?,
            positions: vec![],
            balances: vec![],
            pools: vec![],
            market: Default::default(),
        };
        for (asset, (units, scale)) in balances.iter().filter(|(_, (u, _))| *u != 0) {
            let amount = money::format_decimal(*units, *scale);
            portfolio.balances.push(risk::portfolio::BalanceSpec { asset: asset.clone(), amount, venue: None });
        }
        if let Some(eth) = book.prices_usd.get("ETH") {
            portfolio.market.spot_usd.insert("ETH".into(), format!("{eth:.8}"));
        }
        risk::margin_portfolio(&self.config, &self.params, &portfolio, &self.data)
            .map_err(|e| ServerError::Margin { detail: e.to_string() })
    }

    pub fn summary(report: &risk::MarginReport) -> MarginSummary {
        MarginSummary {
            as_of: report.as_of.clone(),
            data: report.data.clone(),
            net_liquidation_value: report.net_liquidation_value,
            initial_margin: report.initial_margin,
            maintenance_margin: report.maintenance_margin,
            health_usd: report.health_usd,
            binding: report.margin.binding.clone(),
            charges: report.margin.charges.iter().map(|c| (c.name.clone(), c.usd)).collect(),
            contributions: report.margin.contributions.iter().map(|c| (c.position.clone(), c.standalone_margin_usd)).collect(),
        }
    }

    /// Before and after the hypothetical trades.
    pub fn simulate(&self, book: &AccountBook, trades: &[HypotheticalTrade]) -> Result<(MarginSummary, MarginSummary)> {
        if trades.is_empty() || trades.len() > SIMULATED_TRADES_MAX {
            return Err(ServerError::OutOfRange { field: "trades".into(), why: format!("1 to {SIMULATED_TRADES_MAX} trades") });
        }
        let mut after = book.balances.clone();
        for trade in trades {
            apply_trade(book, &mut after, trade)?;
        }
        let before = Self::summary(&self.report(book, &book.balances)?);
        Ok((before, Self::summary(&self.report(book, &after)?)))
    }

    /// The trades in configured markets that lower initial margin most per USD of expected cost.
    pub fn hedges(&self, book: &AccountBook) -> Result<(MarginSummary, Vec<Hedge>)> {
        let before = Self::summary(&self.report(book, &book.balances)?);
        let mut hedges = Vec::new();
        for (market, facts) in &book.markets {
            for side in [Side::Buy, Side::Sell] {
                for fraction in HEDGE_FRACTIONS {
                    let Some(trade) = candidate(book, market, facts, side, fraction) else { continue };
                    let mut after = book.balances.clone();
                    if apply_trade(book, &mut after, &trade).is_err() {
                        continue;
                    }
                    let Ok(report) = self.report(book, &after) else { continue };
                    let cost = expected_cost(book, facts, &trade);
                    let reduction = before.initial_margin - report.initial_margin;
                    if reduction > 0.0 && cost > 0.0 {
                        let h = Hedge {
                            trade,
                            expected_cost_usd: cost,
                            initial_margin_before: before.initial_margin,
                            initial_margin_after: report.initial_margin,
                            reduction_per_cost: reduction / cost,
                        };
                        hedges.push(h);
                    }
                }
            }
        }
        hedges.sort_by(|a, b| b.reduction_per_cost.total_cmp(&a.reduction_per_cost));
        hedges.truncate(HEDGES_MAX);
        Ok((before, hedges))
    }
}

/// Price of `base` in `quote` from the oracle (f64; a default for hypothetical trades only).
fn cross_price(book: &AccountBook, facts: &MarketFacts) -> Option<f64> {
    let (b, q) = (book.prices_usd.get(&facts.base)?, book.prices_usd.get(&facts.quote)?);
    (*q > 0.0).then(|| b / q)
}

fn candidate(book: &AccountBook, market: &str, facts: &MarketFacts, side: Side, fraction: f64) -> Option<HypotheticalTrade> {
    let price = cross_price(book, facts)?;
    let (base_scale, quote_scale) = (*book.scales.get(&facts.base)?, *book.scales.get(&facts.quote)?);
    let base_units = book.balances.get(&facts.base).map_or(0, |b| b.0);
    let quote_units = book.balances.get(&facts.quote).map_or(0, |b| b.0);
    let base_whole = match side {
        Side::Sell => base_units as f64 / base_scale.one() as f64,
        Side::Buy => quote_units as f64 / quote_scale.one() as f64 / price / (1.0 + f64::from(facts.taker_fee_bps) / 1e4),
    } * fraction;
    let units = ((base_whole * base_scale.one() as f64) as i128 / facts.lot_units) * facts.lot_units;
    if units < facts.qty_min_units {
        return None;
    }
    Some(HypotheticalTrade { market: market.into(), side, qty: money::format_decimal(units, base_scale), price: None })
}

fn expected_cost(book: &AccountBook, facts: &MarketFacts, trade: &HypotheticalTrade) -> f64 {
    let qty: f64 = trade.qty.parse().unwrap_or(0.0);
    let base_usd = book.prices_usd.get(&facts.base).copied().unwrap_or(0.0);
    qty * base_usd * (facts.half_spread + f64::from(facts.taker_fee_bps) / 1e4)
}

/// Adds one trade to the balances, exactly: base in or out, quote out (cost rounded up) or in
/// (proceeds rounded down), the taker fee rounded up. A balance may not go below zero.
fn apply_trade(book: &AccountBook, balances: &mut BTreeMap<String, (i128, Scale)>, trade: &HypotheticalTrade) -> Result<()> {
    let facts = book
        .markets
        .get(&trade.market)
        .ok_or_else(|| ServerError::NotFound { what: format!("market {}", crate::printable(&trade.market)) })?;
    let range = |field: &str, why: String| ServerError::OutOfRange { field: field.into(), why };
    let scale_of =
        |asset: &str| book.scales.get(asset).copied().ok_or_else(|| ServerError::internal(format!("market asset {asset} has no scale")));
    let (base_scale, quote_scale) = (scale_of(&facts.base)?, scale_of(&facts.quote)?);
    let qty = Amount::parse(&trade.qty, base_scale).map_err(|e| range("qty", e.to_string()))?.units();
    if qty <= 0 {
        return Err(range("qty", "must be positive".into()));
    }
    let price_text = match &trade.price {
        Some(p) => p.clone(),
        None => format!(
            "{:.6}",
            cross_price(book, facts).ok_or_else(|| ServerError::Margin { detail: format!("no oracle price for {}", trade.market) })?
        ),
    };
    let price = Amount::parse(&price_text, quote_scale).map_err(|e| range("price", e.to_string()))?.units();
    if price <= 0 {
        return Err(range("price", "must be positive".into()));
    }
    let rounding = if trade.side == Side::Buy { Rounding::Ceil } else { Rounding::Floor };
    let quote = money::mul_div(qty, price, base_scale.one(), rounding).map_err(|e| range("qty", e.to_string()))?;
    let fee = money::mul_div(quote, i128::from(facts.taker_fee_bps), 10_000, Rounding::Ceil).map_err(|e| range("qty", e.to_string()))?;
    let (base_delta, quote_delta) = match trade.side {
        Side::Buy => (qty, -(quote + fee)),
        Side::Sell => (-qty, quote - fee),
    };
    for (asset, delta, scale) in [(&facts.base, base_delta, base_scale), (&facts.quote, quote_delta, quote_scale)] {
        let entry = balances.entry(asset.clone()).or_insert((0, scale));
        entry.0 = entry.0.checked_add(delta).ok_or_else(|| range("qty", "overflow".into()))?;
        if entry.0 < 0 {
            return Err(range("trades", format!("the trades would leave {asset} below zero")));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ HTTP

use crate::api::{Shared, Signed};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

/// Reads the account's book under the node's lock.
pub fn account_book(engine: &engine::Engine, account: &str) -> Result<AccountBook> {
    if !engine.trader_accounts().any(|a| a == account) && account != engine::INSURANCE {
        return Err(ServerError::NotFound { what: format!("account {}", crate::printable(account)) });
    }
    let scales: BTreeMap<String, Scale> =
        engine.config().assets.iter().filter_map(|a| Scale::new(a.decimals).ok().map(|s| (a.symbol.clone(), s))).collect();
    let mut balances = BTreeMap::new();
    for row in engine.balances().into_iter().filter(|r| r.account == account) {
        let scale = *scales.get(&row.asset).ok_or_else(|| ServerError::internal("balance of an unconfigured asset"))?;
        let units = Amount::parse(&row.posted, scale).map_err(ServerError::internal)?.units();
        balances.insert(row.asset, (units, scale));
    }
    let prices_usd = crate::views::prices_of(engine)
        .into_iter()
        .filter_map(|(s, v)| v["price_usd"].as_str().and_then(|p| p.parse::<f64>().ok()).map(|p| (s, p)))
        .collect();
    let mut markets = BTreeMap::new();
    // Spot markets only: the hedges trade balances (derivative positions join with the engine's margin).
    for def in engine.config().markets.iter().filter(|m| m.kind == model::MarketKind::Spot) {
        let units = crate::views::units(engine, &def.id)?;
        let depth = engine.depth(&def.id, 1).map_err(|error| ServerError::Refused { error })?;
        let half_spread = match (depth.bids.first(), depth.asks.first()) {
            (Some(b), Some(a)) if b.price.0 > 0 => (a.price.0 - b.price.0) as f64 / (a.price.0 + b.price.0) as f64,
            // No two-sided book: the worst fill the market's band allows.
            _ => f64::from(def.price_band_bps) / 1e4,
        };
        let base_scale = units.base;
        let qty_min_units = Amount::parse(&def.qty_min, base_scale).map_err(ServerError::internal)?.units();
        let facts = MarketFacts {
            base: def.base.clone(),
            quote: def.quote.clone(),
            taker_fee_bps: def.taker_fee_bps,
            half_spread,
            lot_units: units.lot_units,
            qty_min_units,
        };
        markets.insert(def.id.clone(), facts);
    }
    Ok(AccountBook { account: account.into(), balances, prices_usd, now_ms: engine.now_ms(), scales, markets })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(ServerError::internal)?
}

/// The account's margin: the engine's (`gating`, the numbers that gate its orders) with its
/// explanation, and the risk crate's f64 report of its balances (`detail`: scenario and
/// factor detail the integer model does not keep; it gates nothing).
#[utoipa::path(get, path = "/v1/accounts/{owner}/{sub}/margin", params(("owner" = String, Path), ("sub" = String, Path)),
    responses((status = 200, description = "the engine's margin (gates orders) and the risk crate's f64 detail")))]
pub async fn account_margin(
    State(state): State<Shared>,
    axum::extract::Path((owner, sub)): axum::extract::Path<(String, String)>,
    signed: Signed,
) -> Result<Response> {
    let account = crate::views::readable_account(&signed, &owner, &sub)?;
    let (gating, book) = state.core.read(|e| -> Result<_> {
        let book = account_book(e, &account)?;
        Ok((crate::gating::engine_margin(e, &account, &engine::MarginWhatIf::default())?, book))
    })??;
    let service = state.margin.clone();
    let detail = match blocking(move || service.report(&book, &book.balances)).await {
        Ok(report) => serde_json::json!({ "summary": MarginService::summary(&report), "report": report }),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    Ok(Json(serde_json::json!({ "account": account, "gating": gating, "detail": detail })).into_response())
}

fn request_account(signed: &Signed, account: &str) -> Result<String> {
    let (owner, sub) =
        account.split_once('/').ok_or_else(|| ServerError::OutOfRange { field: "account".into(), why: "owner/sub".into() })?;
    crate::views::readable_account(signed, owner, sub)
}

/// Margin before and after hypothetical trades (spot, perp or option): the engine's (`gating`)
/// and, when every trade is spot, the risk crate's f64 summaries (`detail`).
#[utoipa::path(post, path = "/v1/margin/simulate", request_body = SimulateRequest,
    responses((status = 200, description = "before and after", body = Object)))]
pub async fn simulate(State(state): State<Shared>, signed: Signed) -> Result<Response> {
    let request: SimulateRequest = signed.json()?;
    let account = request_account(&signed, &request.account)?;
    if request.trades.is_empty() || request.trades.len() > SIMULATED_TRADES_MAX {
        return Err(ServerError::OutOfRange { field: "trades".into(), why: format!("1 to {SIMULATED_TRADES_MAX} trades") });
    }
    let (before, after, book) = state.core.read(|e| -> Result<_> {
        let book = account_book(e, &account)?;
        let what_if = crate::gating::what_if(e, &request.trades)?;
        let before = crate::gating::engine_margin(e, &account, &engine::MarginWhatIf::default())?;
        Ok((before, crate::gating::engine_margin(e, &account, &what_if)?, book))
    })??;
    let spot_only = request.trades.iter().all(|t| book.markets.contains_key(&t.market));
    let detail = if spot_only {
        let service = state.margin.clone();
        match blocking(move || service.simulate(&book, &request.trades)).await {
            Ok((b, a)) => serde_json::json!({ "before": b, "after": a }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    } else {
        serde_json::json!({ "error": "the f64 detail covers spot trades only" })
    };
    let gating = serde_json::json!({ "before": before, "after": after });
    Ok(Json(serde_json::json!({ "account": account, "gating": gating, "detail": detail })).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HedgeQuery {
    pub account: String,
}

/// The few trades (spot and perp markets) that lower the account's initial margin most per USD
/// of expected cost, priced with the engine's margin. Without it (`gating.state` not `ok`), the
/// risk crate's f64 suggestions on spot balances, marked as estimates that gate nothing.
#[utoipa::path(get, path = "/v1/margin/hedges", params(HedgeQuery), responses((status = 200, description = "suggestions", body = Object)))]
pub async fn hedges(State(state): State<Shared>, Query(q): Query<HedgeQuery>, signed: Signed) -> Result<Response> {
    let account = request_account(&signed, &q.account)?;
    let (before, hedges) = crate::gating::engine_hedges(&state.core, &account).await?;
    if before["state"] == "ok" {
        return Ok(Json(serde_json::json!({ "account": account, "source": "engine", "before": before, "hedges": hedges })).into_response());
    }
    let book = state.core.read(|e| account_book(e, &account))??;
    let service = state.margin.clone();
    let (estimate_before, estimates) = blocking(move || service.hedges(&book)).await?;
    Ok(Json(serde_json::json!({ "account": account, "source": "risk crate estimate (gates nothing)", "gating": before,
        "before": estimate_before, "hedges": estimates }))
    .into_response())
}
