//! Load generator: signed `POST /v1/orders` over loopback against an in-process server (SQLite
//! journal in a temporary directory, synthetic feed). Each connection is one trader sending
//! immediate-or-cancel buys 3% under the oracle price (inside the band, never filled, nothing
//! rests), one after another; every order is signed, checked, journalled and group-committed.
//!
//! `cargo run --release -p server --example load -- [SECONDS] [CONNECTIONS] [MODE] [BATCH]`
//! (default 10 s, 32 connections, `sign`, batch 64).
//!
//! - MODE `sign`: each connection signs each order just before sending it (the client's
//!   ed25519 signing, about 15-20 µs an order, shares the machine with the server and the clock).
//! - MODE `presigned`: every order of the run is signed (fresh nonce, expiry within the
//!   server's 60 s window) and encoded before the clock starts, as a client on another machine
//!   would; the timed window measures the server and the loopback. A connection stops at the
//!   deadline or when its orders run out (rate = orders / the longest connection's time).
//! - BATCH: the server's `signature_batch_max` (1 verifies each signature in its handler).
//!
//! Prints requests/s and latency percentiles.

mod common;

use server::client::{Client, Signer, encode_request};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Orders signed beforehand in `presigned` mode, over all connections (about 70 MB).
const PRESIGNED_ORDERS: usize = 240_000;
/// Presigned orders expire this long after they are signed (the server allows 60 s ahead).
const PRESIGNED_EXPIRY_MS: u64 = 59_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let presigned = match args.get(3).map(String::as_str) {
        None | Some("sign") => false,
        Some("presigned") => true,
        Some(other) => panic!("MODE is sign or presigned, not {other}"),
    };
    let batch: usize = args.get(4).map(|s| s.parse().expect("BATCH is a count")).unwrap_or(server::verify::SIGNATURE_BATCH_MAX_DEFAULT);
    let dir = tempfile::tempdir().expect("temp dir");
    let (running, operator) = common::start(dir.path(), batch).await;
    let addr = running.addr;
    let mut c = Client::new(addr);
    let price = format!("{:.2}", common::eth_in_usdc(&mut c).await * 0.97);
    let mut traders = Vec::new();
    for k in 0..connections {
        let (name, signer) = common::register_trader(&mut c, &operator, k).await;
        let dep = serde_json::json!({ "account": format!("{name}/main"), "asset": "USDC", "amount": "100000000", "custodian": "ethereum", "external_ref": format!("0x{k}") }).to_string();
        assert_eq!(c.signed(&operator, "POST", "/v1/deposits", dep.as_bytes()).await.expect("deposit").status, 200);
        traders.push(signer);
    }
    let mode = if presigned { "presigned" } else { "signed in the window" };
    println!("{connections} connections, {seconds} s, {mode}, signature batch {batch}, IOC buys at {price} (3% under the oracle)");
    let orders = if presigned { Some(presign(addr, &traders, &price, PRESIGNED_ORDERS / connections)) } else { None };
    let cpu_before = cpu_seconds();
    let threads_before = thread_times();
    let pressure_before = cpu_pressure_us();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (k, signer) in traders.into_iter().enumerate() {
        let price = price.clone();
        let requests = orders.as_ref().map(|o| o[k].clone());
        tasks.push(tokio::spawn(async move {
            match requests {
                Some(requests) => send_presigned(addr, requests, deadline).await,
                None => sign_and_send(addr, signer, price, deadline).await,
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        let (l, e, took) = t.await.expect("task");
        latencies.extend(l);
        errors += e;
        elapsed = elapsed.max(took.duration_since(started));
    }
    let cpu = cpu_seconds() - cpu_before;
    let threads = thread_times();
    let pressure = cpu_pressure_us().zip(pressure_before).map(|(after, before)| after.saturating_sub(before));
    latencies.sort();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or_default();
    println!(
        "{} orders acknowledged ({} errors): {:.0} orders/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        errors,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "CPU in the window {cpu:.2} s (user + system, client and server): {:.0} us per order",
        cpu / latencies.len().max(1) as f64 * 1e6
    );
    print_threads(&threads_before, &threads, latencies.len(), elapsed);
    match pressure {
        Some(us) => println!(
            "machine: some task waited for a CPU {:.0}% of the window (/proc/pressure/cpu)",
            us as f64 / 1e6 / elapsed.as_secs_f64() * 100.0
        ),
        None => println!("machine: /proc/pressure/cpu unreadable"),
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("window {:.2} s; load average {}", elapsed.as_secs_f64(), load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    running.shutdown().await.expect("shutdown");
}

type Outcome = (Vec<Duration>, u64, Instant);

/// CPU time of this process so far (user + system, every thread), from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("the command name ends with )") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the line are the 12th and 13th after the name and state.
    let ticks = |i: usize| fields[i].parse::<f64>().expect("clock ticks");
    (ticks(11) + ticks(12)) / 100.0
}

/// Per thread of this process (by thread id): its name, nanoseconds on a CPU and nanoseconds
/// runnable but waiting for one (`/proc/self/task/*/schedstat`, fields 1 and 2).
type ThreadTimes = std::collections::BTreeMap<u64, (String, u64, u64)>;

fn thread_times() -> ThreadTimes {
    let mut times = ThreadTimes::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else { continue };
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(task.path().join("comm")), std::fs::read_to_string(task.path().join("schedstat")))
        else {
            continue; // the thread ended between the listing and the read
        };
        let fields: Vec<u64> = stat.split_whitespace().filter_map(|f| f.parse().ok()).collect();
        if let [on_cpu, waiting, ..] = fields[..] {
            times.insert(tid, (comm.trim().to_string(), on_cpu, waiting));
        }
    }
    times
}

/// The window's CPU time and run-queue wait by thread name (the writer, the verifier, the
/// tokio workers that run both the server's HTTP side and the load client).
fn print_threads(before: &ThreadTimes, after: &ThreadTimes, orders: usize, elapsed: Duration) {
    let mut groups: std::collections::BTreeMap<&str, (u64, u64)> = std::collections::BTreeMap::new();
    for (tid, (name, on_cpu, waiting)) in after {
        let (_, cpu0, wait0) = before.get(tid).map(|(n, c, w)| (n.as_str(), *c, *w)).unwrap_or(("", 0, 0));
        let group = groups.entry(name.as_str()).or_default();
        group.0 += on_cpu.saturating_sub(cpu0);
        group.1 += waiting.saturating_sub(wait0);
    }
    for (name, (on_cpu, waiting)) in groups.iter().filter(|(_, (c, _))| *c > 0) {
        println!(
            "thread {name}: on a CPU {:.0} ms ({:.1} us per order), runnable but waiting for a CPU {:.0} ms ({:.0}% of the window)",
            *on_cpu as f64 / 1e6,
            *on_cpu as f64 / 1e3 / orders.max(1) as f64,
            *waiting as f64 / 1e6,
            *waiting as f64 / 1e9 / elapsed.as_secs_f64() * 100.0
        );
    }
}

/// The machine's total time (us) in which some task waited for a CPU (`/proc/pressure/cpu`,
/// `some ... total=`); `None` where the kernel has no pressure accounting.
fn cpu_pressure_us() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    text.lines().find(|l| l.starts_with("some"))?.split_whitespace().find_map(|f| f.strip_prefix("total="))?.parse().ok()
}

fn order_body(signer: &Signer, id: u64, price: &str) -> String {
    format!(
        r#"{{"account":"{}/main","market":"ETH/USDC","client_order_id":{id},"side":"buy","kind":"immediate_or_cancel","price":"{price}","qty":"0.01"}}"#,
        signer.key_id
    )
}

async fn sign_and_send(addr: SocketAddr, signer: Signer, price: String, deadline: Instant) -> Outcome {
    let mut client = Client::new(addr);
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut id = 0u64;
    while Instant::now() < deadline {
        id += 1;
        let body = order_body(&signer, id, &price);
        let started = Instant::now();
        match client.signed(&signer, "POST", "/v1/orders", body.as_bytes()).await {
            Ok(r) if r.status == 200 => latencies.push(started.elapsed()),
            _ => errors += 1,
        }
    }
    (latencies, errors, Instant::now())
}

/// Each connection's orders, signed and encoded (on every core, before the clock starts).
fn presign(addr: SocketAddr, traders: &[Signer], price: &str, per_connection: usize) -> Vec<std::sync::Arc<Vec<Vec<u8>>>> {
    let started = Instant::now();
    let expiry = server::auth::now_ms() + PRESIGNED_EXPIRY_MS;
    let signed: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = traders
            .iter()
            .map(|signer| {
                scope.spawn(move || {
                    (1..=per_connection as u64)
                        .map(|id| {
                            let body = order_body(signer, id, price);
                            let headers = signer.headers("POST", "/v1/orders", body.as_bytes(), signer.next_nonce(), expiry);
                            encode_request(addr, "POST", "/v1/orders", &headers, body.as_bytes())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().map(|t| std::sync::Arc::new(t.join().expect("signing thread"))).collect()
    });
    println!("presigned {} orders in {:.1} s", per_connection * traders.len(), started.elapsed().as_secs_f64());
    signed
}

async fn send_presigned(addr: SocketAddr, requests: std::sync::Arc<Vec<Vec<u8>>>, deadline: Instant) -> Outcome {
    let mut client = Client::new(addr);
    let mut latencies = Vec::with_capacity(requests.len());
    let mut errors = 0u64;
    for request in requests.iter() {
        if Instant::now() >= deadline {
            break;
        }
        let started = Instant::now();
        match client.request_raw_status(request).await {
            Ok(200) => latencies.push(started.elapsed()),
            _ => errors += 1,
        }
    }
    (latencies, errors, Instant::now())
}
