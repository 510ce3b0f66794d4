//! The service on a PostgreSQL journal (a throwaway cluster started by the journal-pg test
//! harness): sign up, deposit, trade, stop, restart, find the same balances.

mod common;

#[path = "../../journal-pg/tests/common/server.rs"]
mod pgserver;

use common::*;
use server::client::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_on_postgres_restarts_to_the_same_state() {
    let Some(bin) = pgserver::find_bin_dir() else {
        assert!(std::env::var_os("CI").is_none(), "CI is set but PostgreSQL is not installed (apt-get install -y postgresql)");
        eprintln!("SKIPPED: no PostgreSQL");
        return;
    };
    let pg = tokio::task::block_in_place(|| pgserver::PgServer::start(&bin)).expect("start PostgreSQL");
    let dir = tempfile::tempdir().expect("temp dir");
    let with_pg = || {
        let mut s = settings(dir.path(), (10_000, 10_000));
        s.postgres = Some((pg.conninfo(), "service_test".into()));
        s
    };
    let running = start_with(with_pg()).await;
    let alice = trader("alice", 1);
    sign_up(running.addr, &alice).await;
    deposit(running.addr, "alice/main", "ETH", "3.25", "0xa1").await;
    let mut c = Client::new(running.addr);
    let before = get(&mut c, &alice, "/v1/accounts/alice/main/balances").await.json();
    assert_eq!(posted(&before, "ETH", 18), units("3.25", 18));
    assert!(!dir.path().join(server::JOURNAL_FILE).exists(), "no SQLite journal when on PostgreSQL");
    running.shutdown().await.expect("clean shutdown");

    let running = start_with(with_pg()).await;
    let mut c = Client::new(running.addr);
    let after = get(&mut c, &alice, "/v1/accounts/alice/main/balances").await.json();
    assert_eq!(after["balances"], before["balances"]);
    running.shutdown().await.expect("clean shutdown");
    drop(pg);
}
