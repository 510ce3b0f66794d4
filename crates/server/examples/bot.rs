//! An example trading bot through the signed API: it quotes ETH/USDC 20 bps around the oracle
//! (post-only, 0.5 ETH a side, within its balances and free collateral: `server::bot`), every
//! second, against an in-process server (it signs itself up and is funded by the operator). The
//! same `quote_round` runs against a remote `clearhouse serve` given a `Client` on its address.
//!
//! `cargo run -p server --example bot -- [ROUNDS]` (default 10).

mod common;

use server::bot::{BotParams, quote_round};
use server::client::{Client, Signer};
use std::time::Duration;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, operator) = common::start(dir.path(), server::verify::SIGNATURE_BATCH_MAX_DEFAULT).await;
    let mut c = Client::new(running.addr);
    common::eth_in_usdc(&mut c).await;
    let bot = Signer::from_seed("bot", [42; 32]);
    let reg = serde_json::json!({ "name": "bot", "public_key": bot.public_key_hex() }).to_string();
    assert_eq!(c.signed(&bot, "POST", "/v1/registrations", reg.as_bytes()).await.expect("register").status, 202);
    assert_eq!(c.signed(&operator, "POST", "/v1/registrations/bot/confirm", b"").await.expect("confirm").status, 200);
    assert_eq!(c.signed(&bot, "POST", "/v1/accounts", br#"{"sub":"main"}"#).await.expect("account").status, 200);
    for (asset, amount) in [("ETH", "2"), ("USDC", "5000")] {
        let body = serde_json::json!({ "account": "bot/main", "asset": asset, "amount": amount, "custodian": "ethereum", "external_ref": format!("0xbot{asset}") });
        assert_eq!(c.signed(&operator, "POST", "/v1/deposits", body.to_string().as_bytes()).await.expect("deposit").status, 200);
    }
    let params = BotParams {
        account: "bot/main".into(),
        market: "ETH/USDC".into(),
        base: "ETH".into(),
        quote: "USDC".into(),
        spread_bps: 20,
        size: 0.5,
        lot: 0.001,
        tick: 0.01,
    };
    for round in 0..rounds {
        match quote_round(&mut c, &bot, &params, round).await {
            Ok(r) => println!("round {round}: mid {:.2}, cancelled {}, placed {:?}", r.mid, r.cancelled, r.placed),
            Err(e) => println!("round {round}: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    running.shutdown().await.expect("clean shutdown");
}
