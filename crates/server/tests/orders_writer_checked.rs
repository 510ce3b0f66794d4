//! Orders whose signatures the writer checks with its batch (`docs/service.md`, "Signatures
//! checked by the writer"): the same answers as every other signed request, in the same order
//! (a bad signature before a bad body, the rate limit and the nonce only after a valid
//! signature), and nothing journalled for a refused order. A real server on a loopback port.

mod common;
use common::*;
use server::client::{Client, Signer};

fn order(account: &str, id: u64, price: &str) -> String {
    serde_json::json!({ "account": account, "market": "ETH/USDC", "client_order_id": id, "side": "buy", "kind": "limit", "price": price, "qty": "0.01" })
        .to_string()
}

/// A buy 3% under the oracle (inside the price band, never filled): cents to a 0.01-tick price.
fn three_percent_under(cents: i128) -> String {
    let under = cents * 97 / 100;
    format!("{}.{:02}", under / 100, under % 100)
}

/// Orders sent together, a fifth of them signed over another body: the bad ones are refused
/// `bad_signature` alone and rest nowhere; every good one rests on the book.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_order_signature_in_the_writers_batch_is_refused_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let addr = running.addr;
    let traders: Vec<Signer> = (0..30u8).map(|k| trader(&format!("t{k}"), k + 10)).collect();
    for (k, t) in traders.iter().enumerate() {
        sign_up(addr, t).await;
        deposit(addr, &format!("t{k}/main"), "USDC", "100000", &format!("0x{k}")).await;
    }
    let (_, cents) = eth_usdc_price(addr).await;
    let low = three_percent_under(cents);
    let seq_before = last_seq(addr).await;
    let bad = |k: usize| k % 5 == 3;
    let mut tasks = Vec::new();
    for k in 0..traders.len() {
        let signer = trader(&format!("t{k}"), k as u8 + 10);
        let body = order(&format!("t{k}/main"), 1, &low);
        tasks.push(tokio::spawn(async move {
            let signed_body = if bad(k) { format!("{body} ") } else { body.clone() };
            let headers = signer.sign("POST", "/v1/orders", signed_body.as_bytes());
            Client::new(addr).request("POST", "/v1/orders", &headers, body.as_bytes()).await.expect("request")
        }));
    }
    let mut good = 0;
    for (k, task) in tasks.into_iter().enumerate() {
        let r = task.await.expect("task");
        if bad(k) {
            assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()), "order {k}");
        } else {
            assert_eq!(r.status, 200, "order {k}: {}", String::from_utf8_lossy(&r.body));
            good += 1;
        }
    }
    assert_eq!(last_seq(addr).await, seq_before + good, "one journalled command per good order, none for a bad one");
    let mut c = Client::new(addr);
    for (k, t) in traders.iter().enumerate() {
        let open = get(&mut c, t, &format!("/v1/accounts/t{k}/main/orders")).await.json();
        let resting = open.as_array().map(|o| o.len()).unwrap_or(usize::MAX);
        assert_eq!(resting, usize::from(!bad(k)), "t{k}: {open}");
    }
    running.shutdown().await.expect("shutdown");
}

/// The checks' order on the order route: a bad signature over a bad body is `bad_signature`
/// (the body's error is told only to the key's holder); a well-signed bad body is 400; a retry
/// is answered with the first outcome; the nonce with another order is a replay; the rate limit
/// counts only well-signed orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_checks_come_in_the_same_order_as_for_every_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start_with(settings(dir.path(), (5, 1))).await;
    let addr = running.addr;
    let alice = trader("alice", 1);
    sign_up(addr, &alice).await;
    deposit(addr, "alice/main", "USDC", "100000", "0xa").await;
    let (_, cents) = eth_usdc_price(addr).await;
    let low = three_percent_under(cents);
    let mut c = Client::new(addr);
    let mallory = Signer::from_seed("alice", [66; 32]);
    let seq = last_seq(addr).await;

    let bad_body = br#"{"account":"alice/main","market":"ETH/USDC"}"#;
    for _ in 0..6 {
        let r = c.signed(&mallory, "POST", "/v1/orders", bad_body).await.expect("request");
        assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()));
        let r = c.signed(&mallory, "POST", "/v1/orders", order("alice/main", 9, &low).as_bytes()).await.expect("request");
        assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()));
    }
    // alice's burst of 5 (one spent opening her account) is whole after mallory's twelve: one
    // bad body, one order, its retry and one replay all pass the rate limit.
    let r = c.signed(&alice, "POST", "/v1/orders", bad_body).await.expect("request");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let body = order("alice/main", 1, &low);
    let headers = alice.sign("POST", "/v1/orders", body.as_bytes());
    let first = c.request("POST", "/v1/orders", &headers, body.as_bytes()).await.expect("request");
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    let retry = c.request("POST", "/v1/orders", &headers, body.as_bytes()).await.expect("request");
    assert_eq!((retry.status, retry.header("x-ch-duplicate")), (200, Some("true")));
    assert_eq!(retry.body, first.body, "the retry is answered with the first outcome");
    let nonce: u64 = headers.iter().find(|(n, _)| n == "x-ch-nonce").and_then(|(_, v)| v.parse().ok()).expect("nonce");
    let other = order("alice/main", 2, &low);
    let expiry = server::auth::now_ms() + 30_000;
    let replay = alice.headers("POST", "/v1/orders", other.as_bytes(), nonce, expiry);
    let r = c.request("POST", "/v1/orders", &replay, other.as_bytes()).await.expect("request");
    assert_eq!((r.status, r.code()), (401, "replayed_nonce".to_string()));
    // Well-signed orders spend the bucket (refilled at 1/s): a bad body signed by alice is
    // refused by the rate limit before its body is looked at, and nothing more is journalled.
    let mut limited = false;
    for _ in 0..1000 {
        let r = c.signed(&alice, "POST", "/v1/orders", bad_body).await.expect("request");
        if r.status == 429 {
            assert_eq!(r.code(), "rate_limited");
            limited = true;
            break;
        }
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    }
    assert!(limited, "alice's well-signed requests reach her rate limit");
    assert_eq!(last_seq(addr).await, seq + 1, "only the first order was journalled");
    running.shutdown().await.expect("shutdown");
}
