//! Helpers of the integration tests: a real server on an ephemeral loopback port (SQLite in a
//! temporary directory, synthetic feed ticking once at start, margin on the embedded
//! calibration), signers with fixed seeds, and exact decimal parsing independent of `money`.
#![allow(dead_code)]

use server::client::{Client, Response, Signer};
use std::net::SocketAddr;
use std::path::Path;

pub const OPERATOR_SEED: [u8; 32] = [7; 32];

pub fn operator() -> Signer {
    Signer::from_seed("operator", OPERATOR_SEED)
}

pub fn trader(name: &str, seed: u8) -> Signer {
    Signer::from_seed(name, [seed; 32])
}

pub fn settings(dir: &Path, rate: (u32, u32)) -> server::Settings {
    server::Settings {
        listen: "127.0.0.1:0".parse().expect("a loopback address"),
        data_dir: dir.to_path_buf(),
        postgres: None,
        config: model::Config::default_config(),
        migrate: false,
        operator_key: ed25519_dalek::SigningKey::from_bytes(&OPERATOR_SEED).verifying_key(),
        feed: server::feed::FeedSettings {
            mode: server::feed::FeedMode::Synthetic,
            // One tick at start, the next in 1000 s: the journal stays still during a test.
            hours_per_second: 0.001,
            start: "2024-06-01T00:00:00Z".into(),
            seed: 42,
        },
        rate: server::auth::RateLimit { burst: rate.0, per_second: rate.1 },
        body_bytes_max: server::BODY_BYTES_MAX_DEFAULT,
        signature_batch_max: server::verify::SIGNATURE_BATCH_MAX_DEFAULT,
        risk_model: None,
        venues: None,
    }
}

pub async fn start(dir: &Path) -> server::Running {
    start_with(settings(dir, (10_000, 10_000))).await
}

pub async fn start_with(settings: server::Settings) -> server::Running {
    let running = server::start(settings).await.expect("the server starts");
    let mut client = Client::new(running.addr);
    // Wait for the feed's first tick (prices), polling; no timing is asserted.
    for _ in 0..2000 {
        let r = client.request("GET", "/v1/prices", &[], b"").await.expect("prices");
        if r.json()["prices"]["ETH"].is_object() {
            return running;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the feed never set a price");
}

pub async fn post(client: &mut Client, signer: &Signer, path: &str, body: serde_json::Value) -> Response {
    let body = body.to_string();
    client.signed(signer, "POST", path, body.as_bytes()).await.expect("request")
}

pub async fn get(client: &mut Client, signer: &Signer, path: &str) -> Response {
    client.signed(signer, "GET", path, b"").await.expect("request")
}

/// Registers `signer` (self-signed request, operator's confirmation) and opens `name/main`.
pub async fn sign_up(addr: SocketAddr, signer: &Signer) {
    let mut c = Client::new(addr);
    let r = post(&mut c, signer, "/v1/registrations", serde_json::json!({ "name": signer.key_id, "public_key": signer.public_key_hex() }))
        .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let r = post_empty(&mut c, &operator(), &format!("/v1/registrations/{}/confirm", signer.key_id)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = post(&mut c, signer, "/v1/accounts", serde_json::json!({ "sub": "main" })).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

pub async fn post_empty(client: &mut Client, signer: &Signer, path: &str) -> Response {
    client.signed(signer, "POST", path, b"").await.expect("request")
}

pub async fn deposit(addr: SocketAddr, account: &str, asset: &str, amount: &str, reference: &str) {
    let mut c = Client::new(addr);
    let body =
        serde_json::json!({ "account": account, "asset": asset, "amount": amount, "custodian": "ethereum", "external_ref": reference });
    let r = post(&mut c, &operator(), "/v1/deposits", body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// Exact units of a decimal string at `decimals` (an independent parser, not `money`'s).
pub fn units(text: &str, decimals: u32) -> i128 {
    let (negative, digits) = text.strip_prefix('-').map(|d| (true, d)).unwrap_or((false, text));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(frac.len() as u32 <= decimals, "{text} has more than {decimals} decimals");
    let padded = format!("{frac:0<width$}", width = decimals as usize);
    let value: i128 = format!("{whole}{padded}").parse().expect("digits");
    if negative { -value } else { value }
}

/// Posted balance of `asset` in a balances response (0 when absent).
pub fn posted(balances: &serde_json::Value, asset: &str, decimals: u32) -> i128 {
    balances["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|r| r["asset"] == asset)
        .map(|r| units(r["posted"].as_str().expect("posted"), decimals))
        .unwrap_or(0)
}

/// The oracle cross price ETH/USDC on the 0.01 tick, as a string and in cents.
pub async fn eth_usdc_price(addr: SocketAddr) -> (String, i128) {
    let mut c = Client::new(addr);
    let r = c.request("GET", "/v1/prices", &[], b"").await.expect("prices");
    let p = r.json();
    let eth: f64 = p["prices"]["ETH"]["price_usd"].as_str().expect("ETH").parse().expect("number");
    let usdc: f64 = p["prices"]["USDC"]["price_usd"].as_str().expect("USDC").parse().expect("number");
    let cents = (eth / usdc * 100.0).round() as i128;
    (format!("{}.{:02}", cents / 100, cents % 100), cents)
}

pub async fn last_seq(addr: SocketAddr) -> u64 {
    let mut c = Client::new(addr);
    let r = c.request("GET", "/metrics", &[], b"").await.expect("metrics");
    let text = String::from_utf8(r.body).expect("utf-8");
    text.lines().find_map(|l| l.strip_prefix("clearhouse_journal_last_seq ")).expect("last seq gauge").parse().expect("number")
}
