//! `clearhouse client ...` against a real `clearhouse serve` on a loopback port: a key made by
//! `keygen`, registered and confirmed, an account opened, a deposit (operator), an order, the
//! balances, margin and statement read back; another account's data and a bad order are refused
//! with the server's code and a failing exit status.

use std::process::{Command, Stdio};

const OPERATOR_SEED: [u8; 32] = [7; 32];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client(addr: &str, name: &str, key: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(["client", "--server", addr, "--name", name, "--key-file"])
        .arg(key)
        .args(args)
        .output()
        .expect("clearhouse client runs")
}

fn ok(o: std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("a JSON answer")
}

/// The oracle cross price ETH/USDC on the 0.01 tick (a buy there rests inside the band).
fn eth_price(addr: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // Polls until the feed's first tick (no timing is asserted).
    let p = runtime.block_on(async {
        let mut c = server::client::Client::new(addr.parse().expect("address"));
        for _ in 0..2000 {
            let p = c.request("GET", "/v1/prices", &[], b"").await.expect("prices").json();
            if p["prices"]["ETH"].is_object() && p["prices"]["USDC"].is_object() {
                return p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the feed never set a price");
    });
    let usd = |s: &str| p["prices"][s]["price_usd"].as_str().expect("a price").parse::<f64>().expect("number");
    let cents = (usd("ETH") / usd("USDC") * 100.0).round() as i64;
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[test]
fn a_user_scripts_the_broker_with_clearhouse_client() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let operator = server::client::Signer::from_seed("operator", OPERATOR_SEED);
    let child = Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(["serve", "--feed", "synthetic", "--feed-hours-per-second", "0.001", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .env("CLEARHOUSE_OPERATOR_KEY", operator.public_key_hex())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("clearhouse serve starts");
    let _served = Served(child);
    let addr = format!("127.0.0.1:{port}");
    let op_key = dir.path().join("operator.key");
    std::fs::write(&op_key, server::auth::hex(&OPERATOR_SEED)).expect("operator key");
    let alice_key = dir.path().join("alice.key");

    let made = ok(client(&addr, "alice", &alice_key, &["keygen"]));
    assert_eq!(made["public_key"].as_str().map(str::len), Some(64));
    let again = client(&addr, "alice", &alice_key, &["keygen"]);
    assert!(!again.status.success(), "keygen never overwrites a key");

    // Register (retrying until the server listens; no timing is asserted).
    let mut registered = None;
    for _ in 0..500 {
        let o = client(&addr, "alice", &alice_key, &["register"]);
        if o.status.success() {
            registered = Some(o);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(ok(registered.expect("the server answered"))["status"], "pending");
    ok(client(&addr, "operator", &op_key, &["confirm", "alice"]));
    ok(client(&addr, "alice", &alice_key, &["open", "main"]));
    ok(client(&addr, "operator", &op_key, &["deposit", "alice/main", "USDC", "5000", "--external-ref", "0x1"]));
    let price = eth_price(&addr);
    let order = ok(client(&addr, "alice", &alice_key, &["order", "alice/main", "ETH/USDC", "buy", "1", "--price", &price]));
    assert!(order["seq"].as_u64().is_some(), "{order}");

    // The resting buy holds USDC; nothing is posted away: posted stays 5000.
    let balances = ok(client(&addr, "alice", &alice_key, &["balances", "alice/main"]));
    let usdc = balances["balances"].as_array().expect("rows").iter().find(|r| r["asset"] == "USDC").cloned().expect("USDC");
    assert_eq!(usdc["posted"], "5000", "{balances}");
    let statement = ok(client(&addr, "alice", &alice_key, &["statement", "alice/main"]));
    assert_eq!(statement["balances"]["USDC"], "5000", "{statement}");
    let margin = ok(client(&addr, "alice", &alice_key, &["margin", "alice/main"]));
    assert_eq!(margin["gating"]["state"], "not_configured", "{margin}");

    // The stream: signed, the hello names the owner; public, it names nobody; signed with
    // another principal's name and alice's key, the upgrade is refused.
    let hello = |o: std::process::Output| -> serde_json::Value {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        serde_json::from_str(text.trim()).expect("one JSON line")
    };
    assert_eq!(hello(client(&addr, "alice", &alice_key, &["stream", "--count", "1"]))["owner"], "alice");
    assert_eq!(hello(client(&addr, "alice", &alice_key, &["stream", "--count", "1", "--public"]))["owner"], serde_json::Value::Null);
    let forged = client(&addr, "operator", &alice_key, &["stream", "--count", "1"]);
    assert!(!forged.status.success(), "a stream signed with the wrong key is refused");

    // Refusals: another account's data, an order off the tick.
    let o = client(&addr, "alice", &alice_key, &["balances", "operator/main"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("403 forbidden"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = client(
        &addr,
        "alice",
        &alice_key,
        &["order", "alice/main", "ETH/USDC", "buy", "1", "--price", &format!("{price}1"), "--client-order-id", "2"],
    );
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("out_of_range"), "{}", String::from_utf8_lossy(&o.stderr));
}
