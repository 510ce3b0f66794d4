//! End-to-end through the real server on a loopback port: sign up, deposit, trade, read,
//! margin, simulate, withdraw, restart and find the same state; signatures; bad input.

mod common;

use common::*;
use server::client::Client;

const ETH: u32 = 18;
const USDC: u32 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_deposit_trade_withdraw_and_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let addr = running.addr;
    let (alice, bob) = (trader("alice", 1), trader("bob", 2));
    sign_up(addr, &alice).await;
    sign_up(addr, &bob).await;
    deposit(addr, "alice/main", "ETH", "10", "0xa1").await;
    deposit(addr, "bob/main", "USDC", "50000", "0xb1").await;

    let (price, cents) = eth_usdc_price(addr).await;
    let mut c = Client::new(addr);
    let sell = serde_json::json!({ "account": "alice/main", "market": "ETH/USDC", "client_order_id": 1, "side": "sell", "kind": "limit", "price": price, "qty": "1" });
    let r = post(&mut c, &alice, "/v1/orders", sell).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let depth = c.request("GET", "/v1/markets/ETH/USDC/depth", &[], b"").await.expect("depth").json();
    assert_eq!(depth["asks"][0]["price"].as_str().map(|p| units(p, USDC)), Some(cents * 10_000));
    assert_eq!(depth["asks"][0]["qty"].as_str().map(|q| units(q, ETH)), Some(units("1", ETH)));

    let buy = serde_json::json!({ "account": "bob/main", "market": "ETH/USDC", "client_order_id": 1, "side": "buy", "kind": "immediate_or_cancel", "price": price, "qty": "1" });
    let r = post(&mut c, &bob, "/v1/orders", buy).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["events"].as_array().expect("events").iter().any(|e| e["event"] == "order_filled"));

    // Independent arithmetic: 1 ETH at `cents`; maker rebate 1 bp floored, taker fee 5 bp ceiled.
    let quote = cents * 10_000;
    let rebate = quote / 10_000;
    let taker_fee = (quote * 5 + 9_999) / 10_000;
    let a = get(&mut c, &alice, "/v1/accounts/alice/main/balances").await.json();
    assert_eq!(posted(&a, "ETH", ETH), units("9", ETH));
    assert_eq!(posted(&a, "USDC", USDC), quote + rebate);
    let b = get(&mut c, &bob, "/v1/accounts/bob/main/balances").await.json();
    assert_eq!(posted(&b, "ETH", ETH), units("1", ETH));
    assert_eq!(posted(&b, "USDC", USDC), units("50000", USDC) - quote - taker_fee);

    let fills = get(&mut c, &alice, "/v1/accounts/alice/main/fills").await.json();
    assert_eq!(fills[0]["liquidity"], "maker");
    assert_eq!(fills[0]["side"], "sell");
    let trades = c.request("GET", "/v1/markets/ETH/USDC/trades", &[], b"").await.expect("trades").json();
    let trade = trades[0].as_object().expect("a trade");
    assert!(!trade.keys().any(|k| k.contains("account") || k.contains("order")), "public trades name no owner or order: {trade:?}");
    assert_eq!(trade["taker_side"], "buy");

    // Another owner's data is refused, by the server for reads and the engine for commands.
    assert_eq!(get(&mut c, &alice, "/v1/accounts/bob/main/balances").await.status, 403);
    let steal = serde_json::json!({ "account": "bob/main", "market": "ETH/USDC", "client_order_id": 2, "side": "sell", "kind": "limit", "price": price, "qty": "1" });
    let r = post(&mut c, &alice, "/v1/orders", steal).await;
    assert_eq!((r.status, r.code()), (403, "unauthorized".to_string()));

    // Margin, what-if and hedges on the embedded calibration.
    let m = get(&mut c, &alice, "/v1/accounts/alice/main/margin").await;
    assert_eq!(m.status, 200, "{}", String::from_utf8_lossy(&m.body));
    let m = m.json();
    assert_eq!(m["gating"]["state"], "not_configured", "the shipped configuration has no margin in the loop: {m}");
    assert_eq!(m["gating"]["gates_orders"], false);
    let im = m["detail"]["summary"]["initial_margin"].as_f64().expect("IM");
    assert!(im > 0.0);
    let what_if = serde_json::json!({ "account": "alice/main", "trades": [{ "market": "ETH/USDC", "side": "sell", "qty": "5" }] });
    let s = post(&mut c, &alice, "/v1/margin/simulate", what_if).await;
    assert_eq!(s.status, 200, "{}", String::from_utf8_lossy(&s.body));
    let s = s.json();
    assert!((s["detail"]["before"]["initial_margin"].as_f64().expect("before") - im).abs() < 1e-9 * im.max(1.0));
    assert!(s["detail"]["after"]["initial_margin"].as_f64().expect("after") < im, "selling half the ETH lowers IM: {s}");
    let h = get(&mut c, &alice, "/v1/margin/hedges?account=alice/main").await;
    assert_eq!(h.status, 200, "{}", String::from_utf8_lossy(&h.body));
    let hedges = h.json();
    let best = &hedges["hedges"][0];
    assert_eq!(best["trade"]["side"], "sell", "the hedge of a long ETH book sells ETH: {hedges}");
    assert!(best["initial_margin_after"].as_f64().expect("after") < best["initial_margin_before"].as_f64().expect("before"));

    // Withdrawal: requested by the owner, confirmed by the operator.
    let w = serde_json::json!({ "account": "alice/main", "asset": "ETH", "amount": "2", "custodian": "ethereum", "destination": "0xalice", "withdrawal_id": "w1" });
    assert_eq!(post(&mut c, &alice, "/v1/withdrawals", w).await.status, 200);
    let r = post(&mut c, &operator(), "/v1/withdrawals/w1/confirm", serde_json::json!({ "chain_ref": "0xc1" })).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // A withdrawal the owner voids, and a resting order it cancels.
    let w = serde_json::json!({ "account": "alice/main", "asset": "ETH", "amount": "1", "custodian": "ethereum", "destination": "0xalice", "withdrawal_id": "w2" });
    assert_eq!(post(&mut c, &alice, "/v1/withdrawals", w).await.status, 200);
    let r = c.signed(&alice, "DELETE", "/v1/withdrawals/w2", b"").await.expect("request");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rest = serde_json::json!({ "account": "alice/main", "market": "ETH/USDC", "client_order_id": 3, "side": "sell", "kind": "post_only", "price": price, "qty": "0.5" });
    assert_eq!(post(&mut c, &alice, "/v1/orders", rest).await.status, 200);
    let open = get(&mut c, &alice, "/v1/accounts/alice/main/orders").await.json();
    let order_id = open[0]["order_id"].as_u64().expect("an open order");
    assert_eq!(open[0]["qty"].as_str().map(|q| units(q, ETH)), Some(units("0.5", ETH)));
    let path = format!("/v1/orders/{order_id}?account=alice/main&market=ETH/USDC");
    let r = get(&mut c, &bob, &path).await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed".to_string()), "cancel is DELETE");
    let r = c.signed(&bob, "DELETE", &path, b"").await.expect("request");
    assert_eq!((r.status, r.code()), (403, "unauthorized".to_string()), "bob cannot cancel alice's order");
    let r = c.signed(&alice, "DELETE", &path, b"").await.expect("request");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&mut c, &alice, "/v1/accounts/alice/main/orders").await.json(), serde_json::json!([]));
    let before_restart = get(&mut c, &alice, "/v1/accounts/alice/main/balances").await.json();
    assert_eq!(posted(&before_restart, "ETH", ETH), units("7", ETH));
    let seq = last_seq(addr).await;
    running.shutdown().await.expect("clean shutdown");

    // Restart on the same directory: same balances, same keys, same sequence.
    let running = start(dir.path()).await;
    let mut c = Client::new(running.addr);
    let after_restart = get(&mut c, &alice, "/v1/accounts/alice/main/balances").await.json();
    assert_eq!(after_restart["balances"], before_restart["balances"]);
    assert!(last_seq(running.addr).await >= seq);
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_expiry_replays_and_retries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let addr = running.addr;
    let alice = trader("alice", 1);
    sign_up(addr, &alice).await;
    let mut c = Client::new(addr);
    let body = serde_json::json!({ "sub": "second" }).to_string();
    let now = server::auth::now_ms();

    // Another key claiming alice's id.
    let mallory = Signer::from_seed("alice", [9; 32]);
    let r = c.signed(&mallory, "POST", "/v1/accounts", body.as_bytes()).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()));
    // Unknown key id, missing headers, expired, too far ahead.
    let r = c.signed(&trader("nobody", 5), "POST", "/v1/accounts", body.as_bytes()).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "unknown_key".to_string()));
    let r = c.request("POST", "/v1/accounts", &[], body.as_bytes()).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "missing_auth".to_string()));
    let expired = alice.headers("POST", "/v1/accounts", body.as_bytes(), alice.next_nonce(), now - 1);
    let r = c.request("POST", "/v1/accounts", &expired, body.as_bytes()).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "expired".to_string()));
    let far = alice.headers("POST", "/v1/accounts", body.as_bytes(), alice.next_nonce(), now + 3_600_000);
    let r = c.request("POST", "/v1/accounts", &far, body.as_bytes()).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "expiry_too_far".to_string()));
    // A pending registration is not taken over by another key; the operator sees the key.
    let carol = trader("carol", 3);
    let reg = |s: &Signer| serde_json::json!({ "name": "carol", "public_key": s.public_key_hex() });
    assert_eq!(post(&mut c, &carol, "/v1/registrations", reg(&carol)).await.status, 202);
    let squatter = Signer::from_seed("carol", [4; 32]);
    let r = post(&mut c, &squatter, "/v1/registrations", reg(&squatter)).await;
    assert_eq!((r.status, r.code()), (409, "conflict".to_string()));
    let pending = get(&mut c, &operator(), "/v1/registrations").await.json();
    assert_eq!(pending["pending"][0]["public_key"], carol.public_key_hex());
    // A registration signed by another key than the one it registers is refused.
    let r =
        post(&mut c, &trader("dave", 5), "/v1/registrations", serde_json::json!({ "name": "dave", "public_key": carol.public_key_hex() }))
            .await;
    assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()));
    // A signature over another body or path does not verify.
    let headers = alice.sign("POST", "/v1/accounts", body.as_bytes());
    let r = c.request("POST", "/v1/accounts", &headers, br#"{"sub":"third"}"#).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()));

    // A retry (same nonce, same request) gets the first outcome; the nonce with another request is a replay.
    let nonce = alice.next_nonce();
    let headers = alice.headers("POST", "/v1/accounts", body.as_bytes(), nonce, now + 30_000);
    let first = c.request("POST", "/v1/accounts", &headers, body.as_bytes()).await.expect("request");
    assert_eq!(first.status, 200);
    let seq = last_seq(addr).await;
    let retry = c.request("POST", "/v1/accounts", &headers, body.as_bytes()).await.expect("request");
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, first.body, "the retry is answered with the first outcome");
    assert_eq!(retry.header("x-ch-duplicate"), Some("true"));
    assert_eq!(last_seq(addr).await, seq, "a retry journals nothing");
    let other = serde_json::json!({ "sub": "fourth" }).to_string();
    let replay = alice.headers("POST", "/v1/accounts", other.as_bytes(), nonce, now + 30_000);
    let r = c.request("POST", "/v1/accounts", &replay, other.as_bytes()).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "replayed_nonce".to_string()));
    // A read cannot be replayed either.
    let read = alice.sign("GET", "/v1/accounts/alice/main/balances", b"");
    assert_eq!(c.request("GET", "/v1/accounts/alice/main/balances", &read, b"").await.expect("request").status, 200);
    let r = c.request("GET", "/v1/accounts/alice/main/balances", &read, b"").await.expect("request");
    assert_eq!((r.status, r.code()), (401, "replayed_nonce".to_string()));
    // An owner is not the operator.
    let dep = serde_json::json!({ "account": "alice/main", "asset": "ETH", "amount": "1", "custodian": "ethereum", "external_ref": "0x1" });
    let r = post(&mut c, &alice, "/v1/deposits", dep).await;
    assert_eq!((r.status, r.code()), (403, "forbidden".to_string()));
    assert_eq!(last_seq(addr).await, seq, "no refused request was journalled");
    running.shutdown().await.expect("clean shutdown");
}

/// Requests sent together are verified together (one batch equation); the bad signatures among
/// them are each refused alone (401) and change nothing, and every good one is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_in_a_batch_is_refused_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let addr = running.addr;
    // One trader per request: one key's concurrent nonces could arrive out of the engine's window.
    let traders: Vec<Signer> = (0..40u8).map(|k| trader(&format!("t{k}"), k + 10)).collect();
    for t in &traders {
        sign_up(addr, t).await;
    }
    let bad = |k: usize| k % 5 == 2;
    let mut tasks = Vec::new();
    for k in 0..traders.len() {
        let signer = trader(&format!("t{k}"), k as u8 + 10);
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({ "sub": "side" }).to_string();
            // A bad one is signed over another body than the one sent.
            let signed_body = if bad(k) { format!("{body} ") } else { body.clone() };
            let headers = signer.sign("POST", "/v1/accounts", signed_body.as_bytes());
            let mut c = Client::new(addr);
            c.request("POST", "/v1/accounts", &headers, body.as_bytes()).await.expect("request")
        }));
    }
    let mut c = Client::new(addr);
    for (k, task) in tasks.into_iter().enumerate() {
        let r = task.await.expect("task");
        let balances = get(&mut c, &traders[k], &format!("/v1/accounts/t{k}/side/balances")).await;
        if bad(k) {
            assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()), "request {k}");
            assert_eq!(balances.status, 404, "the account of a refused request does not exist (t{k})");
        } else {
            assert_eq!(r.status, 200, "request {k}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!(balances.status, 200, "t{k}/side exists");
        }
    }
    running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_per_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start_with(settings(dir.path(), (3, 1))).await;
    let mut c = Client::new(running.addr);
    let op = operator();
    let mut codes = Vec::new();
    for _ in 0..13 {
        codes.push(get(&mut c, &op, "/v1/registrations").await.status);
    }
    // A burst of 3, refilled at 1/s: thirteen requests would need 10 s of refill to all pass.
    assert_eq!(&codes[..3], &[200, 200, 200]);
    assert!(codes[3..].contains(&429), "{codes:?}");
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_with_a_code_and_journals_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let addr = running.addr;
    let alice = trader("alice", 1);
    sign_up(addr, &alice).await;
    deposit(addr, "alice/main", "ETH", "10", "0xa1").await;
    let (price, _) = eth_usdc_price(addr).await;
    let seq = last_seq(addr).await;
    let mut c = Client::new(addr);
    let order = |field: &str, value: serde_json::Value| {
        let mut o = serde_json::json!({ "account": "alice/main", "market": "ETH/USDC", "client_order_id": 1, "side": "sell", "kind": "limit", "price": price, "qty": "1" });
        o[field] = value;
        o.to_string()
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", "{\"account\": ".into(), 400, "malformed_json"),
        ("not an object", "[1,2]".into(), 400, "invalid_body"),
        ("wrong type", order("qty", serde_json::json!(1)), 400, "invalid_body"),
        ("unknown field", order("leverage", serde_json::json!("10")), 400, "invalid_body"),
        ("missing field", r#"{"account":"alice/main"}"#.into(), 400, "invalid_body"),
        ("unknown side", order("side", serde_json::json!("short")), 400, "invalid_body"),
        ("negative id", order("client_order_id", serde_json::json!(-1)), 400, "invalid_body"),
        ("id beyond u64", order("client_order_id", serde_json::json!(7)).replace(":7,", ":18446744073709551616,"), 400, "invalid_body"),
        ("zero quantity", order("qty", serde_json::json!("0")), 400, "out_of_range"),
        ("exponent", order("qty", serde_json::json!("1e3")), 400, "out_of_range"),
        ("off the lot", order("qty", serde_json::json!("0.0001")), 400, "out_of_range"),
        ("above qty_max", order("qty", serde_json::json!("1000.001")), 400, "out_of_range"),
        ("negative price", order("price", serde_json::json!("-1")), 400, "out_of_range"),
        ("off the tick", order("price", serde_json::json!("1000.001")), 400, "out_of_range"),
        ("huge price", order("price", serde_json::json!("1".repeat(60))), 400, "out_of_range"),
        ("unknown market", order("market", serde_json::json!("DOGE/USDC")), 404, "not_found"),
        ("oversized body", format!("{{\"pad\":\"{}\"}}", "x".repeat(server::BODY_BYTES_MAX_DEFAULT)), 413, "body_too_large"),
    ];
    for (what, body, status, code) in cases {
        let r = c.signed(&alice, "POST", "/v1/orders", body.as_bytes()).await.expect("request");
        assert_eq!((r.status, r.code().as_str()), (status, code), "{what}: {}", String::from_utf8_lossy(&r.body));
    }
    let op = operator();
    let too_fine = serde_json::json!({ "account": "alice/main", "asset": "USDC", "amount": "1.0000001", "custodian": "ethereum", "external_ref": "0x2" });
    let r = post(&mut c, &op, "/v1/deposits", too_fine).await;
    assert_eq!((r.status, r.code().as_str()), (400, "out_of_range"));
    let r = c.request("GET", "/v1/markets/ETH/USDC/depth?levels=100000", &[], b"").await.expect("request");
    assert_eq!((r.status, r.code().as_str()), (400, "out_of_range"));
    let r = c.request("GET", "/v1/nothing", &[], b"").await.expect("request");
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    // axum's own extractor rejections are the API's JSON errors too (found by the fuzzing).
    for (method, path) in
        [("DELETE", "/v1/orders/-1?account=alice/main&market=ETH/USDC"), ("DELETE", "/v1/orders/7"), ("GET", "/v1/margin/hedges")]
    {
        let r = c.signed(&alice, method, path, b"").await.expect("request");
        assert_eq!((r.status, r.code().as_str()), (400, "invalid_request"), "{method} {path}: {}", String::from_utf8_lossy(&r.body));
        assert!(r.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{method} {path}");
    }
    assert_eq!(last_seq(addr).await, seq, "nothing was journalled");
    running.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_v1_route() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let mut c = Client::new(running.addr);
    let doc = c.request("GET", "/openapi.json", &[], b"").await.expect("request").json();
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/orders",
        "/v1/orders/{order_id}",
        "/v1/margin/simulate",
        "/v1/margin/hedges",
        "/v1/accounts/{owner}/{sub}/statement",
        "/v1/accounts/{owner}/{sub}/positions",
        "/v1/liquidations",
        "/v1/stream",
        "/v1/registrations/{name}/confirm",
        "/v1/accounts/{owner}/{sub}/balances",
        "/v1/operator/hedging",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["OrderRequest"]["properties"]["qty"].is_object());
    // Every operation documents its error answers with the error body (never a 500).
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let responses = &operation["responses"];
            for status in ["400", "401", "403", "404", "422", "429"] {
                assert!(responses[status]["content"]["application/json"].is_object(), "{method} {path} lacks {status}");
            }
            assert!(responses["500"].is_null(), "{method} {path} documents a 500");
        }
    }
    assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["error"].is_object());
    running.shutdown().await.expect("clean shutdown");
}

use server::client::Signer;
