//! What the benchmark examples share: an in-process server on a loopback port (SQLite journal in
//! a temporary directory, synthetic feed, rate limits out of the way) and the ETH/USDC cross.

use server::client::{Client, Signer};
use std::time::Duration;

const OPERATOR_SEED: [u8; 32] = [7; 32];

/// Starts the server in `dir` (signatures checked in batches of up to `signature_batch_max`);
/// returns it and the operator's signer.
pub async fn start(dir: &std::path::Path, signature_batch_max: usize) -> (server::Running, Signer) {
    let settings = server::Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.to_path_buf(),
        postgres: None,
        config: model::Config::default_config(),
        migrate: false,
        operator_key: ed25519_dalek::SigningKey::from_bytes(&OPERATOR_SEED).verifying_key(),
        feed: server::feed::FeedSettings {
            mode: server::feed::FeedMode::Synthetic,
            hours_per_second: 0.001,
            start: String::new(),
            seed: 1,
        },
        rate: server::auth::RateLimit { burst: 1_000_000, per_second: 1_000_000 },
        body_bytes_max: server::BODY_BYTES_MAX_DEFAULT,
        signature_batch_max,
        risk_model: None,
        venues: None,
    };
    let running = server::start(settings).await.expect("server starts");
    (running, Signer::from_seed("operator", OPERATOR_SEED))
}

/// The ETH price in USDC once the feed has priced both.
pub async fn eth_in_usdc(c: &mut Client) -> f64 {
    loop {
        let p = c.request("GET", "/v1/prices", &[], b"").await.expect("prices").json();
        if let (Some(eth), Some(usdc)) = (p["prices"]["ETH"]["price_usd"].as_str(), p["prices"]["USDC"]["price_usd"].as_str()) {
            return eth.parse::<f64>().expect("ETH") / usdc.parse::<f64>().expect("USDC");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers trader `bot{k}` (a key from a fixed seed), has the operator confirm it and opens
/// its `main` account: its name and signer. (Not every example that includes this module
/// registers traders.)
#[allow(dead_code)]
pub async fn register_trader(c: &mut Client, operator: &Signer, k: usize) -> (String, Signer) {
    let name = format!("bot{k}");
    let signer = Signer::from_seed(&name, [(k % 250) as u8 + 1; 32]);
    let reg = serde_json::json!({ "name": name, "public_key": signer.public_key_hex() }).to_string();
    assert_eq!(c.signed(&signer, "POST", "/v1/registrations", reg.as_bytes()).await.expect("register").status, 202);
    assert_eq!(c.signed(operator, "POST", &format!("/v1/registrations/{name}/confirm"), b"").await.expect("confirm").status, 200);
    assert_eq!(c.signed(&signer, "POST", "/v1/accounts", br#"{"sub":"main"}"#).await.expect("account").status, 200);
    (name, signer)
}
