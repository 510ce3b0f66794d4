//! Statement latency on a journal with many events: an in-process server (SQLite journal in a
//! temporary directory, synthetic feed) takes DEPOSITS operator deposits to one account (one
//! statement line each) and ORDERS immediate-or-cancel orders from 32 traders (journalled
//! records that are not the account's), then the account's statement is asked for 20 times:
//!
//! - **index**: `GET /v1/accounts/{owner}/{sub}/statement`, answered from the server's
//!   statement index (signed request, HTTP round trip included);
//! - **re-read**: what the handler did before the index, in process: read the journal back
//!   (hash chain verified from genesis) and build the statement with `StatementBuilder`.
//!
//! Both statements are checked equal. Prints the median and the largest of each.
//!
//! `cargo run --release -p server --example statements -- [DEPOSITS] [ORDERS]` (default 2000, 40000).

mod common;

use server::client::{Client, Signer};
use std::time::{Duration, Instant};

const TRADERS: usize = 32;
const ASKS: usize = 20;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let deposits: usize = args.get(1).map(|s| s.parse().expect("DEPOSITS is a count")).unwrap_or(2000);
    let orders: usize = args.get(2).map(|s| s.parse().expect("ORDERS is a count")).unwrap_or(40_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, operator) = common::start(dir.path(), server::verify::SIGNATURE_BATCH_MAX_DEFAULT).await;
    let addr = running.addr;
    let mut c = Client::new(addr);
    let price = format!("{:.2}", common::eth_in_usdc(&mut c).await * 0.97);
    let mut traders = Vec::new();
    for k in 0..TRADERS {
        let (_, signer) = common::register_trader(&mut c, &operator, k).await;
        traders.push(signer);
    }
    let started = Instant::now();
    for k in 0..deposits {
        let dep = serde_json::json!({ "account": "bot0/main", "asset": "USDC", "amount": "100000", "custodian": "ethereum", "external_ref": format!("0x{k}") }).to_string();
        assert_eq!(c.signed(&operator, "POST", "/v1/deposits", dep.as_bytes()).await.expect("deposit").status, 200);
    }
    let mut tasks = Vec::new();
    for signer in traders.into_iter() {
        let price = price.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(addr);
            for id in 1..=(orders / TRADERS) as u64 {
                let body = format!(
                    r#"{{"account":"{}/main","market":"ETH/USDC","client_order_id":{id},"side":"buy","kind":"immediate_or_cancel","price":"{price}","qty":"0.01"}}"#,
                    signer.key_id
                );
                // Unfunded accounts: each order is journalled as rejected (a record, no line).
                let r = c.signed(&signer, "POST", "/v1/orders", body.as_bytes()).await.expect("order");
                assert!(r.status == 200 || r.status == 422, "{}", String::from_utf8_lossy(&r.body));
            }
        }));
    }
    for t in tasks {
        t.await.expect("trader");
    }
    let last_seq = last_seq(&mut c).await;
    println!(
        "journal: {last_seq} records ({deposits} deposits to bot0/main, {orders} orders) written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let owner = Signer::from_seed("bot0", [1; 32]);
    let mut index = Vec::new();
    let mut served = None;
    for _ in 0..ASKS {
        let t = Instant::now();
        let r = c.signed(&owner, "GET", "/v1/accounts/bot0/main/statement", b"").await.expect("statement");
        index.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        served = Some(r.body);
    }
    let served: statement::Statement = serde_json::from_slice(&served.expect("asked")).expect("a statement");
    let source = server::replay::JournalSource::Sqlite(dir.path().join(server::JOURNAL_FILE));
    let mut reread = Vec::new();
    let mut fresh = None;
    for _ in 0..ASKS {
        let t = Instant::now();
        let mut builder = statement::StatementBuilder::new("bot0/main");
        for (_, envelope, outcome) in source.records(0, last_seq).expect("the journal reads back") {
            builder.record(&envelope.command, &outcome).expect("a record");
        }
        fresh = Some(builder.finish());
        reread.push(t.elapsed());
    }
    assert_eq!(fresh.as_ref(), Some(&served), "the index serves what a re-read of the journal builds");
    let show = |name: &str, mut v: Vec<Duration>| {
        v.sort();
        println!("{name}: median {:.2} ms, max {:.2} ms", v[v.len() / 2].as_secs_f64() * 1e3, v[v.len() - 1].as_secs_f64() * 1e3);
    };
    println!("statement of bot0/main: {} lines", served.lines.len());
    show("index (HTTP GET)", index);
    show("re-read of the journal (before)", reread);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    running.shutdown().await.expect("shutdown");
}

async fn last_seq(c: &mut Client) -> u64 {
    let r = c.request("GET", "/metrics", &[], b"").await.expect("metrics");
    let text = String::from_utf8(r.body).expect("utf-8");
    text.lines().find_map(|l| l.strip_prefix("clearhouse_journal_last_seq ")).expect("last seq gauge").parse().expect("number")
}
