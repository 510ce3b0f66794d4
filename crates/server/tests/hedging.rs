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

/// The router's plan for the engine's own `hedge_requested` (a buy of 2 ETH, band 0.5) hedges
/// exactly the requested quantity, never more: the one rule of both (a band, then back to flat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routers_plan_for_the_engines_request_hedges_exactly_the_requested_quantity() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start_with(settings_with_hedging(dir.path())).await;
    let (bob, op) = (trader("bob", 2), operator());
    sign_up(running.addr, &bob).await;
    deposit(running.addr, "bob/main", "USDC", "50000", "0xb1").await;
    let mut c = Client::new(running.addr);
    let buy = serde_json::json!({ "account": "bob/main", "market": "ETH/USDC", "client_order_id": 1, "side": "buy", "kind": "market", "qty": "2" });
    let events = post(&mut c, &bob, "/v1/orders", buy).await.json()["events"].as_array().expect("events").clone();
    let request = events.iter().find(|e| e["event"] == "hedge_requested").expect("a hedge request").clone();
    let h = get(&mut c, &op, "/v1/operator/hedging").await.json();
    let residual = h["hedging"]["factors"][0]["residual_delta_max"].as_str().expect("residual").to_string();
    running.shutdown().await.expect("clean shutdown");

    let market = router::default_venues().expect("venues");
    let eth = market.token("ETH").expect("ETH");
    let qty = market.parse_amount(eth, request["qty"].as_str().expect("qty")).expect("qty");
    let signed = if request["side"] == "buy" { money::Amount(-qty.0) } else { qty };
    let mut exposure = router::hedge::Exposure::default();
    exposure.delta.insert("ETH".into(), signed);
    let mut residual_max = std::collections::BTreeMap::new();
    residual_max.insert("ETH".to_string(), market.parse_amount(eth, &residual).expect("residual"));
    let limits = router::hedge::HedgeLimits { residual_delta_max: residual_max, hedge_cost_bps_max: 50.0, quote_token: "USDC".into() };
    let plan = router::hedge::hedge_orders(&market, &exposure, &limits).expect("a plan");
    assert_eq!(plan.len(), 1);
    let bought: i128 = plan[0].orders.iter().map(|o| o.amount_out.0).sum();
    // All of the 2 ETH and never past it (what one raw USDC buys is the sizing's resolution).
    assert!(bought <= qty.0 && qty.0 - bought < 1_000_000_000, "{bought} of {}", qty.0);
    assert_eq!(plan[0].delta_after.0, bought - qty.0);
    // And for a sell of the same size, exactly the quantity.
    exposure.delta.insert("ETH".into(), qty);
    let sold: i128 =
        router::hedge::hedge_orders(&market, &exposure, &limits).expect("a plan")[0].orders.iter().map(|o| o.amount_in.0).sum();
    assert_eq!(sold, qty.0);
}

/// The hedging limits: read and set by the operator (journalled `set_hedging`), refused to an
/// owner, and checked by the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reads_and_sets_the_hedging_limits_and_an_owner_cannot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start_with(settings_with_hedging(dir.path())).await;
    let (bob, op) = (trader("bob", 2), operator());
    sign_up(running.addr, &bob).await;
    let mut c = Client::new(running.addr);
    let r = get(&mut c, &op, "/v1/operator/hedging").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["hedging"]["factors"][0]["residual_delta_max"], "0.5");
    assert_eq!(get(&mut c, &bob, "/v1/operator/hedging").await.status, 403);
    let mut limits = r.json()["hedging"].clone();
    limits["factors"][0]["residual_delta_max"] = "2".into();
    assert_eq!(post(&mut c, &bob, "/v1/operator/hedging", limits.clone()).await.status, 403);
    let r = post(&mut c, &op, "/v1/operator/hedging", limits.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["events"].as_array().expect("events").iter().any(|e| e["event"] == "hedging_set"));
    assert_eq!(get(&mut c, &op, "/v1/operator/hedging").await.json()["hedging"], limits);
    // Checked: an unknown venue is a typed refusal that changes nothing; an unknown key is a 400.
    let mut bad = limits.clone();
    bad["factors"][0]["venues"] = serde_json::json!(["nowhere"]);
    assert_eq!(post(&mut c, &op, "/v1/operator/hedging", bad).await.code(), "config_refused");
    let mut unknown = limits.clone();
    unknown["surprise"] = 1.into();
    assert_eq!(post(&mut c, &op, "/v1/operator/hedging", unknown).await.status, 400);
    assert_eq!(get(&mut c, &op, "/v1/operator/hedging").await.json()["hedging"], limits);
    running.shutdown().await.expect("clean shutdown");
}

/// `serve --venues FILE`: the route endpoint routes over the file's venues; a missing or invalid
/// file stops the start (never the embedded set in its place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_endpoint_uses_the_venue_file_and_a_bad_file_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = settings_with_hedging(dir.path());
    s.venues = Some(dir.path().join("absent.toml"));
    let error = server::start(s).await.err().expect("a missing venue file is a startup error");
    assert!(error.to_string().contains("absent.toml"), "{error}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[[venue]]\nkind = \"uniswap_v2\"\nid = \"x\"\nsurprise = 1\n").expect("write");
    let mut s = settings_with_hedging(dir.path());
    s.venues = Some(bad);
    let error = server::start(s).await.err().expect("an invalid venue file is a startup error");
    assert!(error.to_string().contains("bad.toml"), "{error}");

    // One Uniswap v2 pool only: the route has one leg, on it.
    let one = dir.path().join("one.toml");
    let text = "version = 1\n[[token]]\nsymbol = \"USDC\"\ndecimals = 6\nreference_usd = 1.0\n[[token]]\nsymbol = \"ETH\"\ndecimals = 18\nreference_usd = 3000.0\n[[venue]]\nkind = \"uniswap_v2\"\nid = \"only-pool\"\ntoken0 = \"USDC\"\ntoken1 = \"ETH\"\nreserve0 = \"3000000\"\nreserve1 = \"1000\"\n";
    std::fs::write(&one, text).expect("write");
    let mut s = settings_with_hedging(dir.path());
    s.venues = Some(one);
    let running = start_with(s).await;
    let mut c = Client::new(running.addr);
    let r = get(&mut c, &operator(), "/v1/operator/route?from=ETH&to=USDC&amount=10").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let expected = router::route_report(&router::parse_venues(text).expect("venues"), "ETH", "USDC", "10").expect("route");
    assert_eq!(r.json(), serde_json::to_value(expected).expect("json"));
    assert_eq!(r.json()["legs"].as_array().expect("legs").len(), 1);
    assert_eq!(r.json()["legs"][0]["venue"], "only-pool");
    running.shutdown().await.expect("clean shutdown");
}
