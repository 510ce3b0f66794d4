//! Load generator: signed `POST /v1/orders` over loopback against an in-process server (SQLite
//! journal in a temporary directory, synthetic feed). Each connection is one trader sending
//! immediate-or-cancel buys 3% under the oracle price (inside the band, never filled, nothing
//! rests), one after another; every order is signed, checked, journalled and group-committed.
//!
//! `cargo run --release -p server --example load -- [SECONDS] [CONNECTIONS]` (default 10 s, 32).
//! Prints requests/s and latency percentiles; client and server share the machine.

mod common;

use server::client::{Client, Signer};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, operator) = common::start(dir.path()).await;
    let addr = running.addr;
    let mut c = Client::new(addr);
    let price = format!("{:.2}", common::eth_in_usdc(&mut c).await * 0.97);
    let mut traders = Vec::new();
    for k in 0..connections {
        let name = format!("bot{k}");
        let signer = Signer::from_seed(&name, [(k % 250) as u8 + 1; 32]);
        let reg = serde_json::json!({ "name": name, "public_key": signer.public_key_hex() }).to_string();
        assert_eq!(c.signed(&signer, "POST", "/v1/registrations", reg.as_bytes()).await.expect("register").status, 202);
        assert_eq!(c.signed(&operator, "POST", &format!("/v1/registrations/{name}/confirm"), b"").await.expect("confirm").status, 200);
        assert_eq!(c.signed(&signer, "POST", "/v1/accounts", br#"{"sub":"main"}"#).await.expect("account").status, 200);
        let dep = serde_json::json!({ "account": format!("{name}/main"), "asset": "USDC", "amount": "100000000", "custodian": "ethereum", "external_ref": format!("0x{k}") }).to_string();
        assert_eq!(c.signed(&operator, "POST", "/v1/deposits", dep.as_bytes()).await.expect("deposit").status, 200);
        traders.push(signer);
    }
    println!("{connections} connections, {seconds} s, IOC buys at {price} (3% under the oracle)");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for signer in traders {
        let price = price.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(addr);
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut id = 0u64;
            while Instant::now() < deadline {
                id += 1;
                let body = format!(
                    r#"{{"account":"{}/main","market":"ETH/USDC","client_order_id":{id},"side":"buy","kind":"immediate_or_cancel","price":"{price}","qty":"0.01"}}"#,
                    signer.key_id
                );
                let started = Instant::now();
                match client.signed(&signer, "POST", "/v1/orders", body.as_bytes()).await {
                    Ok(r) if r.status == 200 => latencies.push(started.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or_default();
    println!(
        "{} orders acknowledged ({} errors): {:.0} orders/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        errors,
        latencies.len() as f64 / seconds as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    running.shutdown().await.expect("shutdown");
}
