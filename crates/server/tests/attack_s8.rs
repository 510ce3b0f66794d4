//! Session 8's attacks on the service as a hostile client: each test is named after the break
//! it shows (a real server on a loopback port, as `tests/api.rs`).

mod common;
use common::*;
use server::client::Client;

/// Anyone could spend another key's rate limit: the token was taken from the bucket of the key
/// the request *names*, before its signature was checked. mallory sends 20 requests naming
/// alice's key id, signed with a key of her own (each refused `bad_signature`); alice's next
/// correctly signed request must still pass (before the fix it was `rate_limited`, her burst of 5
/// spent by requests she never signed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_a_bad_signature_do_not_spend_the_named_keys_rate_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start_with(settings(dir.path(), (5, 1))).await;
    let alice = trader("alice", 1);
    sign_up(running.addr, &alice).await;
    let mallory = trader("alice", 66);
    let mut c = Client::new(running.addr);
    let path = "/v1/accounts/alice/main/balances";
    for _ in 0..20 {
        let r = get(&mut c, &mallory, path).await;
        assert_eq!((r.status, r.code()), (401, "bad_signature".to_string()), "{}", String::from_utf8_lossy(&r.body));
    }
    let r = get(&mut c, &alice, path).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    running.shutdown().await.expect("clean shutdown");
}
