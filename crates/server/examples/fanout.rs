//! WebSocket fan-out: N public subscribers on `/v1/stream`, then one trade; prints how long after
//! the taker's order was sent its answer came and the trade message reached the median, the 99th
//! percentile and the last subscriber. In-process server (SQLite, synthetic feed); client and server share the machine.
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
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel(subscribers);
    for _ in 0..subscribers {
        let (ready_tx, got_tx) = (ready_tx.clone(), got_tx.clone());
        tokio::spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream")).await.expect("websocket");
            let _hello = socket.next().await;
            ready_tx.send(()).await.expect("ready");
            while let Some(Ok(message)) = socket.next().await {
                if message.to_text().is_ok_and(|t| t.contains("\"type\":\"trade\"")) {
                    got_tx.send(Instant::now()).await.expect("got");
                    return;
                }
            }
        });
    }
    for _ in 0..subscribers {
        ready_rx.recv().await.expect("subscriber ready");
    }
    let sell = serde_json::json!({ "account": "alice/main", "market": "ETH/USDC", "client_order_id": 1, "side": "sell", "kind": "limit", "price": price, "qty": "1" }).to_string();
    assert_eq!(c.signed(&alice, "POST", "/v1/orders", sell.as_bytes()).await.expect("sell").status, 200);
    let buy = serde_json::json!({ "account": "bob/main", "market": "ETH/USDC", "client_order_id": 1, "side": "buy", "kind": "immediate_or_cancel", "price": price, "qty": "1" }).to_string();
    let sent = Instant::now();
    let response = c.signed(&bob, "POST", "/v1/orders", buy.as_bytes()).await.expect("buy");
    let acked = sent.elapsed();
    assert_eq!(response.status, 200);
    let mut delays = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let at = got_rx.recv().await.expect("a subscriber got the trade");
        delays.push(at.saturating_duration_since(sent));
    }
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "taker's order answered in {:.2} ms; {subscribers} subscribers got the trade (from the order's sending): p50 {:.2} ms, p99 {:.2} ms, last {:.2} ms",
        ms(acked),
        ms(delays[subscribers / 2]),
        ms(delays[(subscribers * 99 / 100).min(subscribers - 1)]),
        ms(delays[subscribers - 1])
    );
    running.shutdown().await.expect("shutdown");
}
