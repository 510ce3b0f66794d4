//! `GET /v1/stream`: a WebSocket of JSON messages. Everyone gets public market data: `price`,
//! `trade` (price, quantity, taker side: no order ids, no owners) and `depth` (aggregated levels
//! of a market after a batch that touched it). A subscriber that authenticated (the signed
//! headers' values as query parameters `key`, `nonce`, `expiry`, `signature`, signed as
//! `GET /v1/stream`; browsers cannot set WebSocket headers) also gets `account` messages: the
//! journalled events that touch its own accounts. A subscriber too slow for
//! [`crate::core::STREAM_BATCHES_MAX`] batches is told `lagged` and skips ahead.

use crate::api::Shared;
use crate::error::{Result, ServerError};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use engine::{Engine, Event};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use tokio::sync::broadcast::error::RecvError;

/// Subscribers at most; beyond it a new one is refused (429).
pub const SUBSCRIBERS_MAX: u64 = 10_000;
/// Bytes read from a subscriber's socket at a time. A subscriber sends nothing the stream reads
/// but close frames, and the WebSocket layer zero-fills its whole read buffer before every read
/// (128 KiB by default): each woken subscriber did that at every batch (`docs/performance.md`,
/// "Why the fan-out was slow").
pub const SUBSCRIBER_READ_BUFFER_BYTES: usize = 4096;
/// The largest message or frame a subscriber may send; a larger one closes its stream.
pub const SUBSCRIBER_MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Bytes queued for a subscriber's socket at most; a subscriber that reads too slowly for it is
/// dropped (one that falls behind by batches is told `lagged` first).
pub const SUBSCRIBER_WRITE_BUFFER_BYTES_MAX: usize = 4 << 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamAuth {
    pub key: Option<String>,
    pub nonce: Option<String>,
    pub expiry: Option<String>,
    pub signature: Option<String>,
}

/// Upgrades to a WebSocket; authenticated if the query carries a signature.
#[utoipa::path(get, path = "/v1/stream", params(StreamAuth), responses((status = 101, description = "WebSocket of price, trade, depth and account messages")))]
pub async fn stream(State(state): State<Shared>, Query(auth): Query<StreamAuth>, ws: WebSocketUpgrade) -> Result<Response> {
    let owner = match (&auth.key, &auth.nonce, &auth.expiry, &auth.signature) {
        (Some(key), Some(nonce), Some(expiry), Some(signature)) => {
            let mut headers = HeaderMap::new();
            for (name, value) in [
                (crate::auth::HEADER_KEY, key),
                (crate::auth::HEADER_NONCE, nonce),
                (crate::auth::HEADER_EXPIRY, expiry),
                (crate::auth::HEADER_SIGNATURE, signature),
            ] {
                let value = value.parse().map_err(|_| ServerError::MissingAuth { header: name })?;
                headers.insert(name, value);
            }
            Some(state.auth.authenticate("GET", "/v1/stream", &headers, b"", crate::auth::now_ms(), false).await?.principal)
        }
        (None, None, None, None) => None,
        _ => return Err(ServerError::MissingAuth { header: "key, nonce, expiry and signature together" }),
    };
    if state.subscribers.fetch_add(1, Ordering::SeqCst) >= SUBSCRIBERS_MAX {
        state.subscribers.fetch_sub(1, Ordering::SeqCst);
        return Err(ServerError::RateLimited { key_id: "stream".into(), retry_after_ms: 1000 });
    }
    let ws = ws
        .read_buffer_size(SUBSCRIBER_READ_BUFFER_BYTES)
        .max_message_size(SUBSCRIBER_MESSAGE_BYTES_MAX)
        .max_frame_size(SUBSCRIBER_MESSAGE_BYTES_MAX)
        .max_write_buffer_size(SUBSCRIBER_WRITE_BUFFER_BYTES_MAX);
    Ok(ws.on_upgrade(move |socket| async move {
        serve_socket(state.clone(), socket, owner).await;
        state.subscribers.fetch_sub(1, Ordering::SeqCst);
    }))
}

async fn serve_socket(state: Shared, socket: WebSocket, owner: Option<String>) {
    let mut events = state.core.subscribe();
    let mut shutdown = state.shutdown.clone();
    let (mut sink, mut incoming) = socket.split();
    let hello = serde_json::json!({ "type": "hello", "owner": owner });
    if sink.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            received = events.recv() => {
                let batch = match received {
                    Ok(batch) => batch,
                    Err(RecvError::Lagged(missed)) => {
                        let lagged = serde_json::json!({ "type": "lagged", "missed_batches": missed });
                        if sink.send(Message::text(lagged.to_string())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                let own = owner.as_deref().map(|o| account_messages(&batch.events, o)).unwrap_or_default();
                let texts = own.into_iter().map(Utf8Bytes::from).chain(batch.public_messages.iter().cloned());
                if send_all(&mut sink, texts).await.is_err() {
                    return;
                }
            }
            frame = incoming.next() => match frame {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => break,
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

/// Queues a batch's messages on the socket and writes them with one flush (one write to the
/// socket per subscriber and batch, not one per message).
async fn send_all(
    sink: &mut SplitSink<WebSocket, Message>,
    texts: impl Iterator<Item = Utf8Bytes>,
) -> std::result::Result<(), axum::Error> {
    for text in texts {
        sink.feed(Message::Text(text)).await?;
    }
    sink.flush().await
}

/// The public messages of one journalled batch, from the engine as the batch left it: prices,
/// trades, then the depth of every market the batch touched.
pub fn public_messages(engine: &Engine, events: &[(u64, Event)]) -> Vec<Utf8Bytes> {
    let mut out = Vec::new();
    let mut markets = BTreeSet::new();
    for (seq, event) in events {
        match event {
            Event::PriceSet { symbol, price_usd } => {
                out.push(serde_json::json!({ "type": "price", "seq": seq, "symbol": symbol, "price_usd": price_usd }))
            }
            Event::OrderFilled { market, price, qty, taker_side, .. } => {
                out.push(serde_json::json!({ "type": "trade", "seq": seq, "market": market, "price": price, "qty": qty, "taker_side": taker_side }));
            }
            _ => {}
        }
        if let Some(market) = order_market(event) {
            markets.insert(market.to_string());
        }
    }
    for market in markets {
        if let Ok(depth) = crate::views::depth_of(engine, &market, 10) {
            out.push(serde_json::json!({ "type": "depth", "market": market, "bids": depth.bids, "asks": depth.asks }));
        }
    }
    out.into_iter().map(|m| Utf8Bytes::from(m.to_string())).collect()
}

/// The events of one batch that touch the owner's accounts.
pub fn account_messages(events: &[(u64, Event)], owner: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(_, event)| event_accounts(event).iter().any(|a| engine_owner(a) == owner))
        .map(|(seq, event)| serde_json::json!({ "type": "account", "seq": seq, "event": event }).to_string())
        .collect()
}

fn engine_owner(account: &str) -> &str {
    account.split_once('/').map(|(o, _)| o).unwrap_or(account)
}

fn order_market(event: &Event) -> Option<&str> {
    match event {
        Event::OrderAccepted { market, .. }
        | Event::OrderFilled { market, .. }
        | Event::OrderRested { market, .. }
        | Event::OrderReduced { market, .. }
        | Event::OrderCancelled { market, .. }
        | Event::OrderAmended { market, .. } => Some(market),
        _ => None,
    }
}

/// The trader accounts an event touches (for the owner filter). Exhaustive on purpose: a new
/// event must say whose it is, or no owner would ever see it.
pub fn event_accounts(event: &Event) -> Vec<&str> {
    match event {
        Event::AccountCreated { account }
        | Event::WithdrawalPending { account, .. }
        | Event::OrderAccepted { account, .. }
        | Event::OrderReduced { account, .. }
        | Event::OrderCancelled { account, .. }
        | Event::OrderAmended { account, .. }
        | Event::HoldSet { account, .. }
        | Event::HouseFilled { account, .. }
        | Event::HealthChanged { account, .. }
        | Event::PositionChanged { account, .. }
        | Event::FundingPaid { account, .. }
        | Event::Settled { account, .. }
        | Event::BorrowChanged { account, .. }
        | Event::InterestAccrued { account, .. }
        | Event::LiquidatorRegistered { account, .. }
        | Event::LiquidationStarted { account, .. }
        | Event::LiquidationDeferred { account, .. }
        | Event::AuctionOpened { account, .. }
        | Event::AuctionHouseTakeover { account, .. }
        | Event::LiquidationEnded { account, .. }
        | Event::WaterfallStep { account, .. }
        | Event::TokenLegTakenOver { account, .. }
        | Event::OptionLegTakenOver { account, .. } => vec![account],
        Event::Transferred { debit, credit, .. } => vec![debit, credit],
        Event::OrderFilled { maker_account, taker_account, .. } => vec![maker_account, taker_account],
        Event::AuctionFilled { account, liquidator, .. } => vec![account, liquidator],
        Event::Socialised { account, holder, .. } | Event::Deleveraged { account, holder, .. } => vec![account, holder],
        // An owner's add-on: the owner's name is its own owner.
        Event::MarginAddOnSet { owner, .. } => vec![owner],
        // Market-wide, house or configuration events: nobody's account in particular (their
        // effect on an account, if any, comes as its own transfer or settlement event).
        Event::Initialised { .. }
        | Event::ConfigChanged { .. }
        | Event::PrincipalRegistered { .. }
        | Event::WithdrawalConfirmed { .. }
        | Event::WithdrawalVoided { .. }
        | Event::WithdrawalOverdue { .. }
        | Event::PriceSet { .. }
        | Event::PriceClamped { .. }
        | Event::PricePrintPending { .. }
        | Event::OrderRested { .. }
        | Event::TimeAdvanced { .. }
        | Event::RiskModelPartReceived { .. }
        | Event::RiskModelInstalled { .. }
        | Event::HouseExposureChanged { .. }
        | Event::OptionExpired { .. }
        | Event::OptionExpiryFailed { .. }
        | Event::FundingIndexMoved { .. }
        | Event::HedgingSet { .. }
        | Event::HedgeRequested { .. }
        | Event::HedgeFilled { .. }
        | Event::HedgeCancelled { .. }
        | Event::HedgeBlocked { .. }
        | Event::VenueCollateralChanged { .. } => vec![],
    }
}
