//! The WebSocket stream: public trades and depth for everyone, account events for the
//! authenticated owner only, never order ids or owners in public messages.

mod common;

use common::*;
use futures_util::StreamExt;
use server::client::Client;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: std::net::SocketAddr, query: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream{query}")).await.expect("websocket");
    socket
}

/// Messages until one of type `until` arrives (the stream is ordered: everything of a batch
/// comes before the next batch's).
async fn read_until(socket: &mut Socket, until: &str) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message {
            let value: serde_json::Value = serde_json::from_str(&text).expect("JSON message");
            let done = value["type"] == until;
            seen.push(value);
            if done {
                return seen;
            }
        }
    }
    panic!("stream ended before a {until} message: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trades_for_everyone_account_events_for_the_owner_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let addr = running.addr;
    let (alice, bob) = (trader("alice", 1), trader("bob", 2));
    sign_up(addr, &alice).await;
    sign_up(addr, &bob).await;
    deposit(addr, "alice/main", "ETH", "10", "0xa1").await;
    deposit(addr, "bob/main", "USDC", "50000", "0xb1").await;

    let mut public = connect(addr, "").await;
    let query = alice.stream_query();
    let mut own = connect(addr, &query).await;
    assert_eq!(read_until(&mut public, "hello").await[0]["owner"], serde_json::Value::Null);
    assert_eq!(read_until(&mut own, "hello").await[0]["owner"], "alice");
    // A forged stream signature is refused before the upgrade.
    let nonce = query.split('&').find_map(|p| p.strip_prefix("nonce=")).expect("a nonce");
    let forged = query.replace(&format!("nonce={nonce}"), "nonce=1");
    assert!(tokio_tungstenite::connect_async(format!("ws://{addr}/v1/stream{forged}")).await.is_err());

    let (price, _) = eth_usdc_price(addr).await;
    let mut c = Client::new(addr);
    let sell = serde_json::json!({ "account": "alice/main", "market": "ETH/USDC", "client_order_id": 1, "side": "sell", "kind": "limit", "price": price, "qty": "2" });
    assert_eq!(post(&mut c, &alice, "/v1/orders", sell).await.status, 200);
    let buy = serde_json::json!({ "account": "bob/main", "market": "ETH/USDC", "client_order_id": 1, "side": "buy", "kind": "limit", "price": price, "qty": "1" });
    assert_eq!(post(&mut c, &bob, "/v1/orders", buy).await.status, 200);

    let public_seen = read_until(&mut public, "trade").await;
    let trade = public_seen.last().expect("a trade");
    assert_eq!(trade["qty"].as_str().map(|q| units(q, 18)), Some(units("1", 18)));
    assert!(public_seen.iter().all(|m| m["type"] != "account"), "no account events without a signature: {public_seen:?}");
    let depth = read_until(&mut public, "depth").await;
    let depth = depth.last().expect("depth");
    assert_eq!(depth["asks"][0]["qty"].as_str().map(|q| units(q, 18)), Some(units("1", 18)), "one of alice's two ETH is left");
    for m in public_seen.iter().chain([depth]) {
        let text = m.to_string();
        assert!(
            !text.contains("alice") && !text.contains("bob") && !text.contains("order_id"),
            "public message names no owner or order: {text}"
        );
    }

    // Alice's own stream: her order's events and her fill; never bob's.
    let mut mine = read_until(&mut own, "trade").await;
    mine.extend(read_until(&mut own, "depth").await);
    let account_events: Vec<_> = mine.iter().filter(|m| m["type"] == "account").collect();
    assert!(account_events.iter().any(|m| m["event"]["event"] == "order_accepted"));
    assert!(account_events.iter().any(|m| m["event"]["event"] == "order_filled"));
    assert!(account_events.iter().all(|m| m["event"].to_string().contains("alice/")), "{account_events:?}");
    running.shutdown().await.expect("clean shutdown");
}

/// A subscriber's message above `SUBSCRIBER_MESSAGE_BYTES_MAX` (64 KiB) closes its stream: the
/// server never buffers more of one subscriber than that. A small message is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_from_a_subscriber_closes_its_stream() {
    use futures_util::SinkExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let mut socket = connect(running.addr, "").await;
    assert_eq!(read_until(&mut socket, "hello").await[0]["type"], "hello");
    socket.send(Message::text("x".repeat(1024))).await.expect("a small message is sent");
    let small = tokio::time::timeout(std::time::Duration::from_millis(500), socket.next()).await;
    let open = matches!(small, Err(_) | Ok(Some(Ok(Message::Text(_)))));
    assert!(open, "a small message does not close the stream: {small:?}");
    let oversized = "x".repeat(server::stream::SUBSCRIBER_MESSAGE_BYTES_MAX + 1);
    // The send may itself fail if the server closes first; either way the stream must end.
    let _ = socket.send(Message::text(oversized)).await;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server kept the stream open after a message above 64 KiB");
    running.shutdown().await.expect("clean shutdown");
}
