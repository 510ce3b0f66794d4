//! The operator's hedging endpoints on a real server: the house fills a client's market buy
//! (house quote on ETH/USDC), the engine requests a hedge, the operator reads it with the house's
//! exposure, routes it, and reports executions that the engine books.

mod common;

use common::*;
use server::client::Client;

const ETH: u32 = 18;
const USDC: u32 = 6;

fn settings_with_hedging(dir: &std::path::Path) -> server::Settings {
    let mut s = settings(dir, (10_000, 10_000));
    let market = s.config.markets.iter_mut().find(|m| m.id == "ETH/USDC").expect("ETH/USDC");
    market.house_quote = Some(model::HouseQuote { spread_bps: 20, size_max: "5".into(), exposure_max: "8".into() });
    s.config.hedging = Some(model::Hedging {
        expiry_ms: 3_600_000,
        outstanding_max: 4,
        factors: vec![model::HedgeFactor {
            asset: "ETH".into(),
            quote: "USDC".into(),
            residual_delta_max: "0.5".into(),
            max_cost_bps: 50,
            venues: vec!["ethereum".into()],
        }],
    });
    s
}

fn decimal(units: i128, decimals: u32) -> String {
    let one = 10i128.pow(decimals);
    format!("{}.{:0width$}", units / one, units % one, width = decimals as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_house_fill_requests_a_hedge_that_the_operator_routes_and_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start_with(settings_with_hedging(dir.path())).await;
    let addr = running.addr;
    let (bob, op) = (trader("bob", 2), operator());
    sign_up(addr, &bob).await;
    deposit(addr, "bob/main", "USDC", "50000", "0xb1").await;
    let mut c = Client::new(addr);
    let buy = serde_json::json!({ "account": "bob/main", "market": "ETH/USDC", "client_order_id": 1, "side": "buy", "kind": "market", "qty": "2" });
    let r = post(&mut c, &bob, "/v1/orders", buy).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let events = r.json()["events"].as_array().expect("events").clone();
    let request = events.iter().find(|e| e["event"] == "hedge_requested").expect("a hedge request");
    assert_eq!((request["side"].as_str(), request["qty"].as_str()), (Some("buy"), Some("2")));

    // Outstanding hedges and the house's exposure; only the operator reads them.
    let h = get(&mut c, &op, "/v1/operator/hedges").await;
    assert_eq!(h.status, 200, "{}", String::from_utf8_lossy(&h.body));
    let h = h.json();
    assert_eq!(h["house_exposure"]["ETH"], "-2");
    let hedge = &h["hedges"][0];
    let (id, limit) = (hedge["hedge_id"].as_u64().expect("id"), units(hedge["limit_price"].as_str().expect("limit"), USDC));
    assert_eq!(get(&mut c, &bob, "/v1/operator/hedges").await.status, 403);

    // The route of the buy: the same report as `clearhouse route --json`.
    let r = get(&mut c, &op, "/v1/operator/route?from=USDC&to=ETH&amount=6000").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let market = router::default_venues().expect("venues");
    let expected = serde_json::to_value(router::route_report(&market, "USDC", "ETH", "6000").expect("route")).expect("json");
    assert_eq!(r.json(), expected);
    assert!(!r.json()["legs"].as_array().expect("legs").is_empty());
    let r = get(&mut c, &op, "/v1/operator/route?from=USDC&to=NOPE&amount=6000").await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));

    // An execution of 1 ETH at exactly the limit price, then its replay and an over-execution.
    let paid = limit;
    let report = serde_json::json!({ "venue": "ethereum", "asset_in": "USDC", "amount_in": decimal(paid, USDC), "asset_out": "ETH", "amount_out": "1", "chain_ref": "0xswap1" });
    let path = format!("/v1/operator/hedges/{id}/executions");
    let r = post(&mut c, &op, &path, report.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["events"].as_array().expect("events").iter().any(|e| e["event"] == "hedge_filled" && e["rest"] == "1"));
    let r = post(&mut c, &op, &path, report).await;
    assert_eq!(r.code(), "duplicate_reference", "{}", String::from_utf8_lossy(&r.body));
    let over = serde_json::json!({ "venue": "ethereum", "asset_in": "USDC", "amount_in": "1", "asset_out": "ETH", "amount_out": "1.1", "chain_ref": "0xswap2" });
    assert_eq!(post(&mut c, &op, &path, over.clone()).await.code(), "hedge_refused");
    assert_eq!(post(&mut c, &bob, &path, over).await.status, 403);
    let h = get(&mut c, &op, "/v1/operator/hedges").await.json();
    assert_eq!((h["house_exposure"]["ETH"].as_str(), h["hedges"][0]["rest"].as_str()), (Some("-1"), Some("1")));
    // The custody account at ethereum paid the venue and received the ETH.
    let b = get(&mut c, &op, "/v1/operator/overview").await.json();
    assert_eq!(units(b["custody"]["ethereum"]["USDC"].as_str().expect("USDC"), USDC), units("50000", USDC) - paid);
    assert_eq!(units(b["custody"]["ethereum"]["ETH"].as_str().expect("ETH"), ETH), units("1", ETH));
    let r = client_delete(&mut c, &op, &format!("/v1/operator/hedges/{id}")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    running.shutdown().await.expect("clean shutdown");
}

async fn client_delete(c: &mut Client, signer: &server::client::Signer, path: &str) -> server::client::Response {
    c.signed(signer, "DELETE", path, b"").await.expect("request")
}
