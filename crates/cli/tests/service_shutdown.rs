//! `clearhouse serve` under load, stopped with SIGTERM: it drains the requests in flight,
//! closes the journal and exits 0; `clearhouse verify` then finds every acknowledged command.

use server::client::{Client, Signer};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const OPERATOR_SEED: [u8; 32] = [7; 32];
const CLIENTS: usize = 8;
const ACKS_BEFORE_SIGNAL: u64 = 300;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn post(client: &mut Client, signer: &Signer, path: &str, body: &str) -> std::io::Result<server::client::Response> {
    client.signed(signer, "POST", path, body.as_bytes()).await
}

#[test]
fn sigterm_mid_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let operator = Signer::from_seed("operator", OPERATOR_SEED);
    let mut child = Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .args(["serve", "--feed", "off", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path())
        .env("CLEARHOUSE_OPERATOR_KEY", operator.public_key_hex())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("clearhouse serve starts");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (acked, max_seq) = runtime.block_on(async {
        let mut c = Client::new(addr);
        let mut ready = false;
        for _ in 0..3000 {
            if c.request("GET", "/readyz", &[], b"").await.is_ok_and(|r| r.status == 200) {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(ready, "the server never became ready");
        let alice = Signer::from_seed("alice", [1; 32]);
        let reg = format!(r#"{{"name":"alice","public_key":"{}"}}"#, alice.public_key_hex());
        assert_eq!(post(&mut c, &alice, "/v1/registrations", &reg).await.expect("register").status, 202);
        assert_eq!(post(&mut c, &operator, "/v1/registrations/alice/confirm", "").await.expect("confirm").status, 200);
        assert_eq!(post(&mut c, &alice, "/v1/accounts", r#"{"sub":"main"}"#).await.expect("account").status, 200);

        let operator = Arc::new(operator);
        let (acked, max_seq, signalled) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let pid = child.id();
        let mut tasks = Vec::new();
        for worker in 0..CLIENTS {
            let (operator, acked, max_seq, signalled) = (operator.clone(), acked.clone(), max_seq.clone(), signalled.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = Client::new(addr);
                for k in 0.. {
                    let body = format!(
                        r#"{{"account":"alice/main","asset":"USDC","amount":"1","custodian":"ethereum","external_ref":"0x{worker}-{k}"}}"#
                    );
                    match post(&mut c, &operator, "/v1/deposits", &body).await {
                        Ok(r) if r.status == 200 => {
                            max_seq.fetch_max(r.json()["seq"].as_u64().expect("seq"), Ordering::SeqCst);
                            if acked.fetch_add(1, Ordering::SeqCst) + 1 == ACKS_BEFORE_SIGNAL && !signalled.swap(true, Ordering::SeqCst) {
                                let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
                                assert!(status.success());
                            }
                        }
                        // Shutting down: refused connections or 503 end this client.
                        Ok(r) => {
                            assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
                            return;
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("client task");
        }
        (acked.load(Ordering::SeqCst), max_seq.load(Ordering::SeqCst))
    });
    let status = child.wait().expect("serve exits");
    assert!(status.success(), "serve exits 0 after SIGTERM: {status:?}");
    assert!(acked >= ACKS_BEFORE_SIGNAL, "{acked} acknowledged");

    let verify = Command::new(env!("CARGO_BIN_EXE_clearhouse"))
        .arg("--journal")
        .arg(dir.path().join("journal.sqlite"))
        .args(["verify", "--expect-seq", &max_seq.to_string()])
        .output()
        .expect("verify runs");
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "verify: {out}{}", String::from_utf8_lossy(&verify.stderr));
    let line = out.lines().find(|l| l.starts_with("alice/main") && l.contains("USDC")).expect("alice's USDC line");
    let posted: u64 = line.split_whitespace().nth(2).expect("posted").parse().expect("whole USDC");
    assert!(posted >= acked, "{posted} USDC in the journal, {acked} deposits acknowledged");
}
