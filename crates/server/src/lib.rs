//! The broker as a network service: a signed HTTP/JSON API under `/v1/`, a WebSocket stream,
//! Prometheus metrics, health checks, an OpenAPI document generated from the handlers, and a
//! dashboard, over the journalled node (`docs/service.md`).
//!
//! What it must never do: decide anything the engine decides (who may move which account, what
//! a command does), acknowledge a command before the journal made it durable, journal input the
//! schema or a range check refuses, or write a key, signature or secret to a log.
//!
//! Invariants: every mutating request is signed by a registered key and becomes one engine
//! envelope whose principal is the signer and whose id is the signed nonce (a retry gets the
//! first outcome); every route is in the one table of [`router`] and every error goes through the
//! one mapping of [`ServerError`]; every queue, window and table that grows has a limit (the
//! writer's queue, nonces per key, pending registrations, history windows, subscribers, body
//! size); shutdown stops accepting, drains in-flight requests, stops the writer after what is
//! queued and closes the journal.

pub mod api;
pub mod auth;
pub mod bot;
pub mod client;
pub mod core;
mod dashboard;
pub mod error;
pub mod feed;
pub mod gating;
pub mod history;
pub mod margin;
pub mod metrics;
mod openapi;
mod operator;
pub mod replay;
mod routes_hedge;
pub mod stream;
mod validate;
pub mod verify;
pub mod views;

pub use error::ServerError;

/// The allocator of every binary that links the service (`docs/performance.md`, "Service"):
/// the request path allocates and frees many small buffers across threads, where glibc's
/// allocator spent about a tenth of the CPU (consolidating and unlinking chunks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::core::Core;
use crate::error::Result;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use journal::{JournalConfig, JournalStore, SqliteJournal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::watch;

/// Default request body limit: orders and transfers are a few hundred bytes.
pub const BODY_BYTES_MAX_DEFAULT: usize = 16 * 1024;
/// The journal file inside the data directory.
pub const JOURNAL_FILE: &str = "journal.sqlite";
/// Registered public keys inside the data directory.
pub const KEYS_FILE: &str = "keys.json";

/// Everything `clearhouse serve` is told.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// PostgreSQL connection string and schema instead of the SQLite file.
    pub postgres: Option<(String, String)>,
    pub config: model::Config,
    pub migrate: bool,
    /// The operator's ed25519 public key.
    pub operator_key: ed25519_dalek::VerifyingKey,
    pub feed: feed::FeedSettings,
    pub rate: auth::RateLimit,
    pub body_bytes_max: usize,
    /// A risk model (from `clearhouse risk-model`) installed at start unless the engine has it:
    /// with `engine.risk_model_max_age_ms` set, it is the margin that gates orders.
    pub risk_model: Option<margin_core::RiskModel>,
    /// Signatures checked by one batch equation, at most (1: each in its request's handler);
    /// [`verify::SIGNATURE_BATCH_MAX_DEFAULT`] unless told.
    pub signature_batch_max: usize,
    /// The router's venue file (`clearhouse route --venues` format) for the operator's route
    /// endpoint; `None` is the router's embedded set. A missing or invalid file stops the start.
    pub venues: Option<PathBuf>,
}

/// Limits the handlers read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_bytes_max: usize,
}

pub struct AppState {
    pub core: Arc<Core>,
    /// The engine's configuration at start (no command of the service changes it).
    pub config: engine::StateConfig,
    pub auth: auth::Auth,
    pub margin: Arc<margin::MarginService>,
    pub limits: Limits,
    pub ready: AtomicBool,
    pub subscribers: AtomicU64,
    pub shutdown: watch::Receiver<bool>,
    pub feed_source: &'static str,
    /// The journal, to read back read-only (statements).
    pub journal_source: replay::JournalSource,
    /// The venue set the operator's route endpoint routes over.
    pub venues: Arc<router::Market>,
}

/// A running service: its address, and the handle that stops it.
pub struct Running {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Stops accepting, drains in-flight requests, stops the feed and the writer, closes the journal.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task.await.map_err(ServerError::internal)?
    }

    /// Waits until the service ends (after a signal, see [`shutdown_signal`]).
    pub async fn wait(self) -> Result<()> {
        self.task.await.map_err(ServerError::internal)?
    }

    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// Printable and bounded, for echoing client input in messages.
pub fn printable(text: &str) -> String {
    model::printable(&text.chars().take(80).collect::<String>())
}

fn open_journal(settings: &Settings) -> Result<Box<dyn JournalStore>> {
    let startup = |e: &dyn std::fmt::Display| ServerError::Startup { detail: format!("opening the journal: {e}") };
    match &settings.postgres {
        Some((conninfo, schema)) => {
            let config = journal_pg::PgConfig::new(conninfo.clone(), schema.clone());
            Ok(Box::new(journal_pg::PgJournal::open(&config, JournalConfig::default()).map_err(|e| startup(&e))?))
        }
        None => {
            std::fs::create_dir_all(&settings.data_dir).map_err(|e| startup(&e))?;
            Ok(Box::new(SqliteJournal::open(settings.data_dir.join(JOURNAL_FILE), JournalConfig::default()).map_err(|e| startup(&e))?))
        }
    }
}

fn feed_source(settings: &Settings, margin: &margin::MarginService) -> Result<Option<feed::Source>> {
    match (settings.feed.mode, margin.panel()) {
        (feed::FeedMode::Off, _) => Ok(None),
        (feed::FeedMode::Synthetic, _) | (feed::FeedMode::Auto, None) => Ok(Some(feed::Source::synthetic(settings.feed.seed)?)),
        (feed::FeedMode::History | feed::FeedMode::Auto, Some(panel)) => Ok(Some(feed::Source::from_panel(panel, &settings.feed.start)?)),
        (feed::FeedMode::History, None) => {
            Err(ServerError::Startup { detail: "--feed history needs the market data (CLEARHOUSE_MARKET_DATA)".into() })
        }
    }
}

/// The router's venues: those of the file named (same format and checks as `clearhouse route
/// --venues`), or the embedded set when none is named; never the embedded set in place of a file.
///
/// # Errors
/// `Startup` naming the file: unreadable, or not a valid venue file.
pub fn load_venues(path: Option<&std::path::Path>) -> Result<router::Market> {
    let Some(path) = path else {
        return router::default_venues().map_err(|e| ServerError::Startup { detail: format!("the embedded venue set: {e}") });
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::Startup { detail: format!("reading the venue file {}: {e}", path.display()) })?;
    router::parse_venues(&text).map_err(|e| ServerError::Startup { detail: format!("venue file {}: {e}", path.display()) })
}

/// Recovers the node, binds the listener and starts serving. Returns once listening.
pub async fn start(settings: Settings) -> Result<Running> {
    let venues = Arc::new(load_venues(settings.venues.as_deref())?);
    let (node, report) = tokio::task::block_in_place(|| -> Result<_> {
        let (mut node, report) = node::Node::open(node::NodeOptions::from_config(&settings.config), open_journal(&settings)?)
            .map_err(|e| ServerError::Startup { detail: format!("recovering the journal: {e}") })?;
        node.install(&settings.config, settings.migrate).map_err(|e| ServerError::Startup { detail: format!("configuration: {e}") })?;
        Ok((node, report))
    })?;
    tracing::info!(last_seq = report.last_seq, replayed = report.records_replayed, "journal recovered");
    let owners = node.engine().principals().values().filter(|r| **r == model::Role::Owner).count();
    let history_wanted = !matches!(settings.feed.mode, feed::FeedMode::Synthetic) && marketdata::loader::find_data_dir().is_ok();
    let margin = Arc::new(tokio::task::block_in_place(|| margin::MarginService::load(&settings.config, !history_wanted))?);
    let source = feed_source(&settings, &margin)?;
    let metrics = Arc::new(metrics::Metrics::default());
    let config = node.engine().config().clone();
    let journal_source = match &settings.postgres {
        Some((conninfo, schema)) => replay::JournalSource::Postgres { conninfo: conninfo.clone(), schema: schema.clone() },
        None => replay::JournalSource::Sqlite(settings.data_dir.join(JOURNAL_FILE)),
    };
    let last_seq = node.engine().next_seq() - 1;
    let (history, statements) = tokio::task::block_in_place(|| replay::rebuild(&journal_source, last_seq))?;
    let core = Arc::new(Core::start(node, metrics, history, statements)?);
    let auth =
        auth::Auth::load(settings.operator_key, &settings.data_dir.join(KEYS_FILE), owners, settings.rate, settings.signature_batch_max)?;
    let (stop, shutdown) = watch::channel(false);
    let feed_name = source.as_ref().map(|s| s.name()).unwrap_or("off");
    let state = Arc::new(AppState {
        core: core.clone(),
        config,
        auth,
        margin,
        limits: Limits { body_bytes_max: settings.body_bytes_max },
        ready: AtomicBool::new(false),
        subscribers: AtomicU64::new(0),
        shutdown: shutdown.clone(),
        feed_source: feed_name,
        journal_source,
        venues,
    });
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| ServerError::Startup { detail: format!("binding {}: {e}", settings.listen) })?;
    let addr = listener.local_addr().map_err(ServerError::internal)?;
    // Answers go out as soon as they are written (no Nagle delay behind the previous answer's ACK).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY could not be set on a connection");
        }
    });
    if source.is_some() || settings.risk_model.is_some() {
        feed::ensure_principal(&core).await?;
    }
    if let Some(model) = &settings.risk_model {
        feed::install_risk_model(&core, model).await?;
    }
    let feed_task = source.map(|s| tokio::spawn(feed::run(core.clone(), s, settings.feed.hours_per_second, shutdown.clone())));
    tracing::info!(%addr, feed = feed_name, margin_data = state.margin.source, "listening");
    state.ready.store(true, Ordering::SeqCst);
    let app = router(state.clone());
    let mut until = shutdown.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = until.wait_for(|stop| *stop).await;
        });
        let result = served.await.map_err(ServerError::internal);
        state.ready.store(false, Ordering::SeqCst);
        if let Some(task) = feed_task {
            let _ = task.await;
        }
        core.stop().await;
        tracing::info!("stopped; journal closed");
        result
    });
    Ok(Running { addr, stop, task })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The one route table.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/dashboard", get(dashboard::index))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi::document))
        .route("/v1/registrations", post(api::request_registration).get(api::list_registrations))
        .route("/v1/registrations/{name}/confirm", post(api::confirm_registration))
        .route("/v1/accounts", post(api::create_account))
        .route("/v1/accounts/{owner}/{sub}/balances", get(views::balances))
        .route("/v1/accounts/{owner}/{sub}/orders", get(views::open_orders))
        .route("/v1/accounts/{owner}/{sub}/fills", get(views::fills))
        .route("/v1/accounts/{owner}/{sub}/margin", get(margin::account_margin))
        .route("/v1/accounts/{owner}/{sub}/statement", get(views::statement))
        .route("/v1/accounts/{owner}/{sub}/positions", get(views::positions))
        .route("/v1/deposits", post(api::deposit))
        .route("/v1/withdrawals", post(api::request_withdrawal))
        .route("/v1/withdrawals/{id}/confirm", post(api::confirm_withdrawal))
        .route("/v1/withdrawals/{id}", delete(api::cancel_withdrawal))
        .route("/v1/transfers", post(api::transfer))
        .route("/v1/orders", post(api::place_order))
        .route("/v1/orders/{order_id}", delete(api::cancel_order))
        .route("/v1/margin/simulate", post(margin::simulate))
        .route("/v1/margin/hedges", get(margin::hedges))
        .route("/v1/markets", get(views::markets))
        .route("/v1/markets/{base}/{quote}/depth", get(views::depth))
        .route("/v1/markets/{base}/{quote}/trades", get(views::trades))
        .route("/v1/prices", get(views::prices))
        .route("/v1/insurance", get(views::insurance))
        .route("/v1/liquidations", get(views::liquidations))
        .route("/v1/operator/overview", get(operator::overview))
        .route("/v1/stream", get(stream::stream))
        .merge(routes_hedge::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(json_rejections))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Longest extractor rejection text kept in the JSON error.
const REJECTION_BYTES_MAX: usize = 1024;

/// axum's own extractors (a path segment that is not a number, a missing query field) answer
/// 400 in plain text; every error of this API is the JSON `{"error":{...}}`, so those become
/// `invalid_request` with axum's text as the message (found by the schema-driven fuzzing).
async fn json_rejections(response: Response) -> Response {
    let json = response.headers().get(axum::http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != axum::http::StatusCode::BAD_REQUEST || json {
        return response;
    }
    let detail = match axum::body::to_bytes(response.into_body(), REJECTION_BYTES_MAX).await {
        Ok(bytes) => printable(&String::from_utf8_lossy(&bytes)),
        Err(_) => "the request could not be read".to_string(),
    };
    error::ServerError::InvalidRequest { detail }.into_response()
}

async fn not_found(request: Request) -> ServerError {
    ServerError::NotFound { what: format!("route {} {}", request.method(), printable(request.uri().path())) }
}

async fn method_not_allowed(request: Request) -> ServerError {
    ServerError::MethodNotAllowed { method: request.method().to_string(), path: printable(request.uri().path()) }
}

/// Records the request's route template, status and latency; logs it without headers (which
/// carry signatures) or bodies.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let route = route.as_ref().map(|p| p.as_str()).unwrap_or("unmatched");
    state.core.metrics.request(method.as_str(), route, response.status().as_u16(), elapsed);
    tracing::debug!(%method, %route, status = response.status().as_u16(), micros = elapsed.as_micros() as u64, "request");
    response
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) && !*state.shutdown.borrow() {
        return axum::Json(serde_json::json!({ "status": "ready", "feed": state.feed_source, "margin_data": state.margin.source }))
            .into_response();
    }
    ServerError::ShuttingDown.into_response()
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Result<Response> {
    let gauges = state.core.read(|e| {
        let flags = e.health_flags();
        let count = |h: engine::Health| flags.iter().filter(|(_, f)| *f == h).count() as u64;
        metrics::Gauges {
            last_seq: e.next_seq().saturating_sub(1),
            engine_time_ms: e.now_ms(),
            insurance_fund_usd: e.valuation(engine::INSURANCE).ok().and_then(|v| v.total_usd.parse().ok()),
            accounts_reduce_only: count(engine::Health::ReduceOnly),
            accounts_liquidation: count(engine::Health::Liquidation),
            accounts_near_maintenance: near_maintenance(e),
            trader_accounts: e.trader_accounts().count() as u64,
            stream_subscribers: state.subscribers.load(Ordering::Relaxed),
        }
    })?;
    let text = state.core.metrics.render(&gauges);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Accounts (of the first [`metrics::NEAR_SCAN_ACCOUNTS_MAX`]) whose equity is below
/// maintenance margin times `1 + NEAR_MM_PERCENT / 100`, exactly; `None` without a usable
/// engine margin.
fn near_maintenance(e: &engine::Engine) -> Option<u64> {
    let mut near = 0;
    for account in e.trader_accounts().take(metrics::NEAR_SCAN_ACCOUNTS_MAX) {
        let m = match e.margin_explained(account, &engine::MarginWhatIf::default()) {
            Ok(explained) => explained.margin,
            Err(engine::EngineError::RiskModelStale { .. }) => return None,
            Err(_) => continue,
        };
        let parse = |t: &str| money::parse_decimal(t, money::USD_SCALE).ok();
        let (Some(equity), Some(mm)) = (parse(&m.equity_usd), parse(&m.maintenance_usd)) else { continue };
        if mm > 0 && equity.saturating_mul(100) < mm.saturating_mul(100 + metrics::NEAR_MM_PERCENT) {
            near += 1;
        }
    }
    Some(near)
}
