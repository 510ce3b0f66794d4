//! WebSocket fan-out: N public subscribers on `/v1/stream`, then one trade; prints how long after
//! the taker's order was sent its answer came and the trade message reached the median, the 99th
//! percentile and the last subscriber. The maker's resting order comes first, and its depth
//! message reaches every subscriber before the taker's order is sent (its fan-out is printed too),
//! so the trade's figures are not those of the depth message still on its way. In-process server
//! (SQLite, synthetic feed); client and server share the machine.
//!
//! `cargo run --release -p server --example fanout -- [SUBSCRIBERS]` (default 1000).

use futures_util::StreamExt;
mod common;

use server::client::{Client, Signer};
use std::time::{Duration, Instant};

async fn sign_up(c: &mut Client, operator: &Signer, signer: &Signer, asset: &str, amount: &str) {
    let name = &signer.key_id;
    let reg = serde_json::json!({ "name": name, "public_key": signer.public_key_hex() }).to_string();
    assert_eq!(c.signed(signer, "POST", "/v1/registrations", reg.as_bytes()).await.expect("register").status, 202);
    assert_eq!(c.signed(operator, "POST", &format!("/v1/registrations/{name}/confirm"), b"").await.expect("confirm").status, 200);
    assert_eq!(c.signed(signer, "POST", "/v1/accounts", br#"{"sub":"main"}"#).await.expect("account").status, 200);
    let dep = serde_json::json!({ "account": format!("{name}/main"), "asset": asset, "amount": amount, "custodian": "ethereum", "external_ref": format!("0x{name}") }).to_string();
    assert_eq!(c.signed(operator, "POST", "/v1/deposits", dep.as_bytes()).await.expect("deposit").status, 200);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let subscribers: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, operator) = common::start(dir.path(), server::verify::SIGNATURE_BATCH_MAX_DEFAULT).await;
    let addr = running.addr;
    let (alice, bob) = (Signer::from_seed("alice", [1; 32]), Signer::from_seed("bob", [2; 32]));
    let mut c = Client::new(addr);
    let price = format!("{:.2}", common::eth_in_usdc(&mut c).await);
    sign_up(&mut c, &operator, &alice, "ETH", "10").await;
    sign_up(&mut c, &operator, &bob, "USDC", "100000").await;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers);
    let (depth_tx, mut depth_rx) = tokio::sync::mpsc::channel(subscribers);
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel(subscribers);
    for _ in 0..subscribers {
        let (ready_tx, depth_tx, got_tx) = (ready_tx.clone(), depth_tx.clone(), got_tx.clone());
        tokio::spawn(async move {
            // Small reads, as the server's own (a 128 KiB read buffer is zero-filled before each read).
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
            let url = format!("ws://{addr}/v1/stream");
            let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false).await.expect("websocket");
            let _hello = socket.next().await;
            ready_tx.send(()).await.expect("ready");
            let mut depth_seen = false;
            while let Some(Ok(message)) = socket.next().await {
                let text = message.to_text().unwrap_or_default();
                if !depth_seen && text.contains("\"type\":\"depth\"") {
                    depth_seen = true;
                    depth_tx.send(Instant::now()).await.expect("depth");
                }
                if text.contains("\"type\":\"trade\"") {
                    got_tx.send(Instant::now()).await.expect("got");
                    break;
                }
            }
            // Stay subscribed until the server closes the stream at shutdown: a subscriber that
            // hung up here would have its closing handshake compete with the trade's delivery
            // to the others.
            while let Some(Ok(_)) = socket.next().await {}
        });
    }
    for _ in 0..subscribers {
        ready_rx.recv().await.expect("subscriber ready");
    }
    let sell = serde_json::json!({ "account": "alice/main", "market": "ETH/USDC", "client_order_id": 1, "side": "sell", "kind": "limit", "price": price, "qty": "1" }).to_string();
    let sell_sent = Instant::now();
    assert_eq!(c.signed(&alice, "POST", "/v1/orders", sell.as_bytes()).await.expect("sell").status, 200);
    let depth = percentiles(&mut collect(&mut depth_rx, subscribers, sell_sent).await);
    let buy = serde_json::json!({ "account": "bob/main", "market": "ETH/USDC", "client_order_id": 1, "side": "buy", "kind": "immediate_or_cancel", "price": price, "qty": "1" }).to_string();
    let sent = Instant::now();
    let response = c.signed(&bob, "POST", "/v1/orders", buy.as_bytes()).await.expect("buy");
    let acked = sent.elapsed();
    assert_eq!(response.status, 200);
    let trade = percentiles(&mut collect(&mut got_rx, subscribers, sent).await);
    println!("{subscribers} subscribers got the maker's depth (from its order's sending): {depth}");
    println!("taker's order answered in {:.2} ms; {subscribers} subscribers got the trade (from the order's sending): {trade}", ms(acked));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    running.shutdown().await.expect("shutdown");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Each subscriber's arrival time after `from`.
async fn collect(arrivals: &mut tokio::sync::mpsc::Receiver<Instant>, subscribers: usize, from: Instant) -> Vec<Duration> {
    let mut delays = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let at = arrivals.recv().await.expect("every subscriber gets the message");
        delays.push(at.saturating_duration_since(from));
    }
    delays
}

fn percentiles(delays: &mut [Duration]) -> String {
    delays.sort();
    let n = delays.len();
    let (first, p50, p99, last) = (delays[0], delays[n / 2], delays[(n * 99 / 100).min(n - 1)], delays[n - 1]);
    format!("first {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, last {:.2} ms", ms(first), ms(p50), ms(p99), ms(last))
}
