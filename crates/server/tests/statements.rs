//! The server's statement index against a fresh read of the journal: after a mixed session
//! (deposits, a transfer, a withdrawal confirmed and one voided, spot fills with fees, an order
//! rejected, an order left resting) every account's statement served from
//! the index equals the one `StatementBuilder` makes from the journal read back; after a restart
//! (the index rebuilt from the journal) the same again, and the index agrees on every account
//! the journal names, the house's included.

mod common;

use common::*;
use server::client::Client;
use server::replay::JournalSource;
use std::collections::BTreeSet;

/// Every account's statement made afresh from the journal (the reference), by account.
fn fresh(dir: &std::path::Path) -> std::collections::BTreeMap<String, statement::Statement> {
    let source = JournalSource::Sqlite(dir.join(server::JOURNAL_FILE));
    let records = source.records(0, u64::MAX).expect("the journal reads back");
    let mut accounts = BTreeSet::new();
    for (_, _, outcome) in &records {
        let engine::Outcome::Applied { events, .. } = outcome else { continue };
        for event in events {
            let value = serde_json::to_value(event).expect("an event serialises");
            for key in ["debit", "credit", "account", "maker_account", "taker_account", "liquidator"] {
                if let Some(name) = value[key].as_str() {
                    accounts.insert(name.to_string());
                }
            }
        }
    }
    accounts.insert("@insurance".into());
    accounts
        .into_iter()
        .map(|account| {
            let mut builder = statement::StatementBuilder::new(&account);
            for (_, envelope, outcome) in &records {
                builder.record(&envelope.command, outcome).expect("a journalled record");
            }
            (account, builder.finish())
        })
        .collect()
}

async fn served(c: &mut Client, account: &str) -> statement::Statement {
    let path = format!("/v1/accounts/{account}/statement");
    let r = get(c, &operator(), &path).await;
    assert_eq!(r.status, 200, "{account}: {}", String::from_utf8_lossy(&r.body));
    serde_json::from_slice(&r.body).expect("a statement")
}

const TRADERS: [&str; 3] = ["alice/main", "alice/spare", "bob/main"];

/// An ETH/USDC order of `who/main`; its HTTP status.
async fn order(c: &mut Client, who: &server::client::Signer, side: &str, kind: &str, price: &str, qty: &str, id: u64) -> u16 {
    let body = serde_json::json!({ "account": format!("{}/main", who.key_id), "market": "ETH/USDC", "client_order_id": id,
        "side": side, "kind": kind, "price": price, "qty": qty });
    post(c, who, "/v1/orders", body).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_index_equals_a_fresh_read_of_the_journal_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let addr = running.addr;
    let (alice, bob) = (trader("alice", 1), trader("bob", 2));
    sign_up(addr, &alice).await;
    sign_up(addr, &bob).await;
    let mut c = Client::new(addr);
    assert_eq!(post(&mut c, &alice, "/v1/accounts", serde_json::json!({ "sub": "spare" })).await.status, 200);
    // Before any money moved: empty statements, from the index as from the journal.
    let empty = served(&mut c, "alice/spare").await;
    assert!(empty.lines.is_empty() && empty.balances.is_empty(), "{empty:?}");

    deposit(addr, "alice/main", "ETH", "10", "0xa1").await;
    deposit(addr, "alice/main", "USDC", "50000", "0xa2").await;
    deposit(addr, "bob/main", "USDC", "90000", "0xb1").await;
    let t = serde_json::json!({ "from": "alice/main", "to": "alice/spare", "asset": "USDC", "amount": "1234.5" });
    assert_eq!(post(&mut c, &alice, "/v1/transfers", t).await.status, 200);
    let w = serde_json::json!({ "account": "alice/main", "asset": "ETH", "amount": "1", "custodian": "ethereum", "destination": "0xa", "withdrawal_id": "w1" });
    assert_eq!(post(&mut c, &alice, "/v1/withdrawals", w).await.status, 200);
    assert_eq!(post(&mut c, &operator(), "/v1/withdrawals/w1/confirm", serde_json::json!({ "chain_ref": "0xc1" })).await.status, 200);
    let w = serde_json::json!({ "account": "alice/main", "asset": "ETH", "amount": "1", "custodian": "ethereum", "destination": "0xa", "withdrawal_id": "w2" });
    assert_eq!(post(&mut c, &alice, "/v1/withdrawals", w).await.status, 200);
    assert_eq!(c.signed(&alice, "DELETE", "/v1/withdrawals/w2", b"").await.unwrap().status, 200);

    // Spot fills (alice sells 2 ETH to bob, in two fills), a rejected order, a resting order
    // left open.
    let (price, cents) = eth_usdc_price(addr).await;
    let under = format!("{}.{:02}", cents * 97 / 100 / 100, cents * 97 / 100 % 100);
    assert_eq!(order(&mut c, &alice, "sell", "limit", &price, "2", 1).await, 200);
    assert_eq!(order(&mut c, &bob, "buy", "limit", &price, "1.5", 1).await, 200);
    assert_eq!(order(&mut c, &bob, "buy", "immediate_or_cancel", &price, "0.5", 2).await, 200);
    assert_eq!(order(&mut c, &alice, "sell", "limit", &price, "1000", 3).await, 422, "more ETH than alice holds");
    assert_eq!(order(&mut c, &bob, "buy", "limit", &under, "0.01", 4).await, 200);

    let reference = fresh(dir.path());
    for account in TRADERS {
        assert_eq!(served(&mut c, account).await, reference[account], "{account}");
    }
    let bob_statement = &reference["bob/main"];
    let kinds: BTreeSet<_> = bob_statement.lines.iter().map(|l| format!("{:?}", l.kind)).collect();
    assert!(kinds.contains("Deposit") && kinds.contains("Trade") && kinds.contains("Fee"), "{kinds:?}");
    let alice_statement = &reference["alice/main"];
    assert!(alice_statement.lines.iter().any(|l| l.kind == statement::LineKind::Withdrawal), "{alice_statement:?}");
    assert!(alice_statement.lines.iter().any(|l| l.kind == statement::LineKind::Transfer), "{alice_statement:?}");
    running.shutdown().await.unwrap();

    // The index rebuilt from the journal agrees on every account the journal names.
    let source = JournalSource::Sqlite(dir.path().join(server::JOURNAL_FILE));
    let (_, index) = server::replay::rebuild(&source, u64::MAX).expect("rebuilt");
    for (account, expected) in &reference {
        assert_eq!(&index.statement(account).expect("a statement"), expected, "{account}");
    }
    let others: Vec<_> = reference.iter().filter(|(a, s)| !TRADERS.contains(&a.as_str()) && !s.lines.is_empty()).collect();
    assert!(!others.is_empty(), "accounts beyond the traders' (custody, the house) are compared too");

    // Restart: the index is rebuilt once at start and serves the same statements.
    let running = start(dir.path()).await;
    let mut c = Client::new(running.addr);
    for account in TRADERS {
        assert_eq!(served(&mut c, account).await, reference[account], "{account} after the restart");
    }
    // And it goes on from there: another fill after the restart, still equal to a fresh read.
    let (price, _) = eth_usdc_price(running.addr).await;
    assert_eq!(order(&mut c, &alice, "sell", "limit", &price, "0.25", 5).await, 200);
    assert_eq!(order(&mut c, &bob, "buy", "immediate_or_cancel", &price, "0.25", 6).await, 200);
    let reference = fresh(dir.path());
    for account in TRADERS {
        assert_eq!(served(&mut c, account).await, reference[account], "{account} after a fill after the restart");
    }
    running.shutdown().await.unwrap();
}
