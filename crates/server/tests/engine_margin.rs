//! The engine's margin through the service: a risk model compiled from the embedded calibration
//! is installed at start (margin configured), and the margin report, the what-if, the hedges,
//! the positions, the statement and the liquidation view are driven through the signed API;
//! after a restart the fills and the statement are the same, and the margin the API served
//! equals `Engine::account_margin` of the journal replayed offline (a separate code path).

mod common;

use common::*;
use server::client::Client;

const AS_OF: &str = "2024-12-31T00:00:00Z";

/// The shipped configuration, with the broker's own venue dated before the embedded
/// calibration's end (it launches in 2026 in the file), so that a model of its perps compiles.
fn config() -> model::Config {
    let mut config = model::Config::default_config();
    let clearhouse = config.protocols.iter_mut().find(|p| p.id == "clearhouse").expect("the broker's venue");
    clearhouse.risk.launched = "2024-01-01".into();
    config.engine.risk_model_max_age_ms = Some(400 * 86_400_000);
    config
}

fn model() -> margin_core::RiskModel {
    model_with(&[])
}

/// The model of a book naming the broker's perps and the `extra` instruments.
fn model_with(extra: &[&str]) -> margin_core::RiskModel {
    let config = config();
    let params = risk::RiskParams::default_params();
    let data = risk::MarketData::embedded_calibration().expect("the embedded calibration");
    // The model of a book naming the broker's perps, so that they are instruments of it.
    let mut book = format!("name = \"service\"\nas_of = \"{AS_OF}\"\n");
    for perp in ["ETH-PERP@clearhouse", "BTC-PERP@clearhouse"].iter().chain(extra) {
        book.push_str(&format!("\n[[positions]]\ninstrument = \"{perp}\"\nquantity = \"1\"\n"));
    }
    for asset in ["USDC", "ETH", "stETH", "WBTC"] {
        book.push_str(&format!("\n[[balances]]\nasset = \"{asset}\"\namount = \"1\"\n"));
    }
    let book = risk::Portfolio::from_toml(&book).expect("a portfolio");
    risk::arrays::compile_portfolio(&config, &params, &data, &book, None).expect("the model compiles").model
}

fn margined(dir: &std::path::Path, model: &margin_core::RiskModel) -> server::Settings {
    let mut s = settings(dir, (10_000, 10_000));
    s.config = config();
    s.risk_model = Some(model.clone());
    s
}

fn usd(v: &serde_json::Value) -> i128 {
    units(v.as_str().unwrap_or_else(|| panic!("a decimal string, got {v}")), 18)
}

async fn place(
    c: &mut Client,
    who: &server::client::Signer,
    market: &str,
    side: &str,
    price: &str,
    qty: &str,
    id: u64,
) -> serde_json::Value {
    let body = serde_json::json!({ "account": format!("{}/main", who.key_id), "market": market, "client_order_id": id,
        "side": side, "kind": "limit", "price": price, "qty": qty });
    let r = post(c, who, "/v1/orders", body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engines_margin_explains_simulates_hedges_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let model = model();
    let running = start_with(margined(dir.path(), &model)).await;
    let addr = running.addr;
    let (alice, bob) = (trader("alice", 1), trader("bob", 2));
    sign_up(addr, &alice).await;
    sign_up(addr, &bob).await;
    deposit(addr, "alice/main", "ETH", "10", "0xa1").await;
    deposit(addr, "alice/main", "USDC", "20000", "0xa2").await;
    deposit(addr, "bob/main", "USDC", "60000", "0xb1").await;
    let mut c = Client::new(addr);

    // The report: the gating numbers with their explanation.
    let m = get(&mut c, &alice, "/v1/accounts/alice/main/margin").await.json();
    let gating = &m["gating"];
    assert_eq!(gating["state"], "ok", "{m}");
    assert_eq!(gating["gates_orders"], true);
    let initial = usd(&gating["margin"]["initial_usd"]);
    let equity = usd(&gating["margin"]["equity_usd"]);
    assert!(initial > 0 && equity > initial, "{gating}");
    assert_eq!(usd(&gating["margin"]["free_collateral_usd"]), equity - initial);
    let contributions = gating["contributions"].as_array().unwrap();
    assert!(contributions.iter().any(|c| c["instrument"] == "ETH" && usd(&c["standalone_initial_usd"]) > 0), "{gating}");
    // Market risk is at most the sum of standalone requirements of a long-only book (no hedge
    // inside it), and the charges add up to no more than the initial margin's parts.
    let standalone: i128 = contributions.iter().map(|c| usd(&c["standalone_initial_usd"])).sum();
    assert!(initial <= standalone, "IM {initial} vs standalone sum {standalone}");

    // What-if: selling the ETH lowers IM, a perp long on top raises it, and nothing changed.
    let sim = |trades: serde_json::Value| serde_json::json!({ "account": "alice/main", "trades": trades });
    let r =
        post(&mut c, &alice, "/v1/margin/simulate", sim(serde_json::json!([{ "market": "ETH/USDC", "side": "sell", "qty": "10" }]))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(usd(&v["gating"]["before"]["margin"]["initial_usd"]), initial);
    assert!(usd(&v["gating"]["after"]["margin"]["initial_usd"]) < initial, "{v}");
    assert!(v["detail"]["after"].is_object(), "spot trades keep the f64 detail: {v}");
    let r =
        post(&mut c, &alice, "/v1/margin/simulate", sim(serde_json::json!([{ "market": "ETH-PERP", "side": "buy", "qty": "5" }]))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["gating"]["after"]["state"], "ok", "{v}");
    assert!(usd(&v["gating"]["after"]["margin"]["initial_usd"]) > initial, "{v}");
    let again = get(&mut c, &alice, "/v1/accounts/alice/main/margin").await.json();
    assert_eq!(usd(&again["gating"]["margin"]["initial_usd"]), initial, "a what-if changes nothing");

    // Typed refusals of a what-if.
    let bad = [
        (serde_json::json!([{ "market": "ETH-20261225-3000-C", "side": "buy", "qty": "1" }]), 400, "out_of_range"),
        (serde_json::json!([{ "market": "ETH-PERP", "side": "buy", "qty": "1", "price": "3000" }]), 400, "out_of_range"),
        (serde_json::json!([{ "market": "DOGE/USDC", "side": "buy", "qty": "1" }]), 404, "not_found"),
        (serde_json::json!([{ "market": "ETH-PERP", "side": "buy", "qty": "0.0000000001" }]), 400, "out_of_range"),
    ];
    for (trades, status, code) in bad {
        let r = post(&mut c, &alice, "/v1/margin/simulate", sim(trades.clone())).await;
        assert_eq!(r.status, status, "{trades}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.code(), code, "{trades}");
    }
    // Malformed, wrong fields, too many trades, a replayed signed request: typed, nothing changed.
    let raw = |body: &str| body.as_bytes().to_vec();
    let cases = [
        (raw("{\"account\": \"alice/main\", \"trades\": ["), 400, "malformed_json"),
        (raw("{\"account\": \"alice/main\", \"trades\": [], \"extra\": 1}"), 400, "invalid_body"),
        (
            raw("{\"account\": \"alice/main\", \"trades\": [{\"market\": \"ETH/USDC\", \"side\": \"up\", \"qty\": \"1\"}]}"),
            400,
            "invalid_body",
        ),
        (
            sim(serde_json::json!(vec![serde_json::json!({ "market": "ETH/USDC", "side": "sell", "qty": "0.001" }); 17]))
                .to_string()
                .into_bytes(),
            400,
            "out_of_range",
        ),
        (sim(serde_json::json!([])).to_string().into_bytes(), 400, "out_of_range"),
    ];
    for (body, status, code) in cases {
        let r = c.signed(&alice, "POST", "/v1/margin/simulate", &body).await.unwrap();
        assert_eq!((r.status, r.code()), (status, code.to_string()), "{}", String::from_utf8_lossy(&body));
    }
    let body = sim(serde_json::json!([{ "market": "ETH/USDC", "side": "sell", "qty": "1" }])).to_string();
    let headers = alice.sign("POST", "/v1/margin/simulate", body.as_bytes());
    assert_eq!(c.request("POST", "/v1/margin/simulate", &headers, body.as_bytes()).await.unwrap().status, 200);
    // An exact retry of a read-only POST is answered again; the nonce with another body is a replay.
    let nonce: u64 = headers.iter().find(|(k, _)| k == "x-ch-nonce").map(|(_, v)| v.parse().unwrap()).unwrap();
    let other = sim(serde_json::json!([{ "market": "ETH/USDC", "side": "sell", "qty": "2" }])).to_string();
    let forged = alice.headers("POST", "/v1/margin/simulate", other.as_bytes(), nonce, server::auth::now_ms() + 30_000);
    let replayed = c.request("POST", "/v1/margin/simulate", &forged, other.as_bytes()).await.unwrap();
    assert_eq!(replayed.code(), "replayed_nonce", "a nonce reused for another request");
    let op = operator();
    for path in ["/v1/accounts/nobody/main/statement", "/v1/accounts/nobody/main/positions", "/v1/accounts/nobody/main/margin"] {
        let r = get(&mut c, &op, path).await;
        assert_eq!((r.status, r.code()), (404, "not_found".to_string()), "{path}");
    }
    assert_eq!(c.request("GET", "/v1/accounts/alice/main/statement", &[], b"").await.unwrap().status, 401, "unsigned");
    let r = post(&mut c, &bob, "/v1/margin/simulate", sim(serde_json::json!([{ "market": "ETH/USDC", "side": "sell", "qty": "1" }]))).await;
    assert_eq!(r.status, 403, "another account's what-if");

    // Hedges: priced by the engine, each lowers IM, best first.
    let h = get(&mut c, &alice, "/v1/margin/hedges?account=alice/main").await.json();
    assert_eq!(h["source"], "engine", "{h}");
    let hedges = h["hedges"].as_array().unwrap();
    assert!(!hedges.is_empty() && hedges.len() <= 3, "{h}");
    for pair in hedges.windows(2) {
        assert!(pair[0]["reduction_per_cost"].as_f64() >= pair[1]["reduction_per_cost"].as_f64());
    }
    for hedge in hedges {
        assert_eq!(usd(&hedge["initial_margin_before_usd"]), initial);
        assert!(usd(&hedge["initial_margin_after_usd"]) < initial, "{hedge}");
        assert_eq!(hedge["trade"]["side"], "sell", "a long ETH book is hedged by selling: {hedge}");
    }

    // A spot trade and a perp trade between alice and bob.
    let (price, _) = eth_usdc_price(addr).await;
    place(&mut c, &alice, "ETH/USDC", "sell", &price, "1", 1).await;
    let fill = place(&mut c, &bob, "ETH/USDC", "buy", &price, "1", 1).await;
    assert!(fill["events"].as_array().unwrap().iter().any(|e| e["event"] == "order_filled"), "{fill}");
    place(&mut c, &alice, "ETH-PERP", "sell", &price, "2", 2).await;
    place(&mut c, &bob, "ETH-PERP", "buy", &price, "2", 2).await;
    let p = get(&mut c, &bob, "/v1/accounts/bob/main/positions").await.json();
    let row = p["positions"].as_array().unwrap().iter().find(|r| r["market"] == "ETH-PERP").cloned().unwrap_or_else(|| panic!("{p}"));
    assert_eq!(units(row["qty"].as_str().unwrap(), 9), 2_000_000_000);
    assert_eq!(row["entry_price"].as_str().map(|p| units(p, 6)), Some(units(&price, 6)), "{row}");
    // Unrealised P&L at the index: 2 x (index - entry), within the roundings of one unit each.
    let index = units(row["mark"].as_str().unwrap(), 6);
    let expected = 2 * (index - units(&price, 6));
    assert!((units(row["unrealised_pnl"].as_str().unwrap(), 6) - expected).abs() <= 2, "{row}");
    assert_eq!(get(&mut c, &alice, "/v1/accounts/bob/main/positions").await.status, 403);

    // The statement reconciles with the balances.
    let s = get(&mut c, &bob, "/v1/accounts/bob/main/statement").await;
    assert_eq!(s.status, 200, "{}", String::from_utf8_lossy(&s.body));
    let s = s.json();
    let b = get(&mut c, &bob, "/v1/accounts/bob/main/balances").await.json();
    for asset in ["USDC", "ETH"] {
        let statement = s["balances"][asset].as_str().map(|t| units(t, 18)).unwrap_or(0);
        let decimals = if asset == "ETH" { 18 } else { 6 };
        assert_eq!(statement, posted(&b, asset, decimals) * 10i128.pow(18 - decimals), "{asset}: {s}");
    }
    assert!(s["lines"].as_array().unwrap().len() >= 3, "{s}");
    assert_eq!(get(&mut c, &alice, "/v1/accounts/bob/main/statement").await.status, 403);

    // The liquidation view and gauges: none flagged, the fund configured.
    // Operator only: the events name accounts and their positions.
    assert_eq!(c.request("GET", "/v1/liquidations", &[], b"").await.unwrap().status, 401);
    assert_eq!(get(&mut c, &alice, "/v1/liquidations").await.status, 403);
    let l = get(&mut c, &operator(), "/v1/liquidations").await.json();
    assert_eq!(l["insurance_fund"], "configured");
    assert_eq!(l["events"], serde_json::json!([]));
    let metrics = String::from_utf8(c.request("GET", "/metrics", &[], b"").await.unwrap().body).unwrap();
    assert!(metrics.contains("clearhouse_accounts_near_liquidation{state=\"liquidation\"} 0"), "{metrics}");
    assert!(metrics.contains("clearhouse_accounts_near_liquidation{state=\"within_10pct_of_mm\"} 0"), "{metrics}");
    assert!(metrics.contains("clearhouse_insurance_fund_configured 1"));

    let served = get(&mut c, &alice, "/v1/accounts/alice/main/margin").await.json()["gating"]["margin"].clone();
    let fills = get(&mut c, &bob, "/v1/accounts/bob/main/fills").await.json();
    let trades = c.request("GET", "/v1/markets/ETH/USDC/trades", &[], b"").await.unwrap().json();
    assert_eq!(fills.as_array().unwrap().len(), 2, "{fills}");
    running.shutdown().await.unwrap();

    // Offline: the engine's own account_margin on the replayed journal equals what was served.
    let journal = journal::SqliteJournal::open_read_only(dir.path().join(server::JOURNAL_FILE), journal::JournalConfig::default()).unwrap();
    let config = margined(dir.path(), &model).config;
    let (node, _) = node::Node::open(node::NodeOptions::from_config(&config), Box::new(journal)).unwrap();
    let mut engine = node.engine().clone();
    let offline = engine.account_margin("alice/main").unwrap();
    assert_eq!(serde_json::to_value(&offline).unwrap(), served);

    // Restart: the same fills, trades and statement.
    let running = start_with(margined(dir.path(), &model)).await;
    let mut c = Client::new(running.addr);
    assert_eq!(get(&mut c, &bob, "/v1/accounts/bob/main/fills").await.json(), fills);
    assert_eq!(c.request("GET", "/v1/markets/ETH/USDC/trades", &[], b"").await.unwrap().json(), trades);
    assert_eq!(get(&mut c, &bob, "/v1/accounts/bob/main/statement").await.json()["balances"], s["balances"]);
    running.shutdown().await.unwrap();
}

const CALL: &str = "ETH-20261225-3000-C";
const PUT: &str = "ETH-20261225-2500-P";

/// A short strangle (a call and a put sold): the hedges include buying options, each with the
/// margin before and after; the same trade through `POST /v1/margin/simulate` gives exactly the
/// same numbers; a resting ask prices the buy of its series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_are_hedge_candidates_of_a_short_strangle_and_agree_with_the_what_if() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_with(&["ETH-20261225-3000-C@clearhouse", "ETH-20261225-2500-P@clearhouse"]);
    let running = start_with(margined(dir.path(), &model)).await;
    let addr = running.addr;
    let (alice, bob) = (trader("alice", 1), trader("bob", 2));
    sign_up(addr, &alice).await;
    sign_up(addr, &bob).await;
    deposit(addr, "alice/main", "USDC", "100000", "0xa1").await;
    deposit(addr, "bob/main", "USDC", "100000", "0xb1").await;
    let mut c = Client::new(addr);
    for (k, (market, premium)) in [(CALL, "350"), (PUT, "250")].into_iter().enumerate() {
        place(&mut c, &alice, market, "sell", premium, "2", 10 + k as u64).await;
        let fill = place(&mut c, &bob, market, "buy", premium, "2", 10 + k as u64).await;
        assert!(fill["events"].as_array().unwrap().iter().any(|e| e["event"] == "order_filled"), "{fill}");
    }
    // Bob offers one call again, above the model: alice buying the call pays his ask.
    place(&mut c, &bob, CALL, "sell", "999.9", "1", 20).await;

    let h = get(&mut c, &alice, "/v1/margin/hedges?account=alice/main").await.json();
    assert_eq!(h["source"], "engine", "{h}");
    let initial = usd(&h["before"]["margin"]["initial_usd"]);
    assert!(initial > 0, "{h}");
    let hedges = h["hedges"].as_array().unwrap();
    let options: Vec<_> = hedges.iter().filter(|x| [CALL, PUT].contains(&x["trade"]["market"].as_str().unwrap())).collect();
    assert!(!options.is_empty(), "buying options back hedges a short strangle: {h}");
    for hedge in hedges {
        let trade = &hedge["trade"];
        assert_eq!(usd(&hedge["initial_margin_before_usd"]), initial);
        let after = usd(&hedge["initial_margin_after_usd"]);
        assert!(after < initial, "{hedge}");
        // The same trade through the what-if: exactly the same margin before and after.
        let body = serde_json::json!({ "account": "alice/main", "trades": [trade] });
        let r = post(&mut c, &alice, "/v1/margin/simulate", body).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(usd(&v["gating"]["before"]["margin"]["initial_usd"]), initial, "{v}");
        assert_eq!(usd(&v["gating"]["after"]["margin"]["initial_usd"]), after, "{trade}: {v}");
    }
    for hedge in &options {
        assert_eq!(hedge["trade"]["side"], "buy", "a short option is hedged by buying: {hedge}");
        if hedge["trade"]["market"] == CALL {
            assert_eq!(hedge["trade"]["price"], "999.9", "the resting ask prices the call: {hedge}");
        } else {
            assert!(hedge["trade"]["price"].as_str().is_some_and(|p| units(p, 6) > 0), "the model prices the put: {hedge}");
        }
    }
    running.shutdown().await.unwrap();
}

/// An option hedge larger than the best level walks the book: alice, short 2 calls, is offered
/// half a call at 990 and half at 999.9. Buying 1 costs 495 + 499.95 = 994.95 (by hand); buying
/// half takes the best level alone; buying all 2 is capped at the book's 1. The margin before and
/// after each equals the what-if of the same trade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_option_hedge_beyond_the_best_level_is_priced_through_the_book() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_with(&["ETH-20261225-3000-C@clearhouse"]);
    let running = start_with(margined(dir.path(), &model)).await;
    let addr = running.addr;
    let (alice, bob) = (trader("alice", 1), trader("bob", 2));
    sign_up(addr, &alice).await;
    sign_up(addr, &bob).await;
    deposit(addr, "alice/main", "USDC", "100000", "0xa1").await;
    deposit(addr, "bob/main", "USDC", "100000", "0xb1").await;
    let mut c = Client::new(addr);
    place(&mut c, &alice, CALL, "sell", "350", "2", 10).await;
    let fill = place(&mut c, &bob, CALL, "buy", "350", "2", 10).await;
    assert!(fill["events"].as_array().unwrap().iter().any(|e| e["event"] == "order_filled"), "{fill}");
    place(&mut c, &bob, CALL, "sell", "990", "0.5", 20).await;
    place(&mut c, &bob, CALL, "sell", "999.9", "0.5", 21).await;

    let h = get(&mut c, &alice, "/v1/margin/hedges?account=alice/main").await.json();
    let initial = usd(&h["before"]["margin"]["initial_usd"]);
    let calls: Vec<_> = h["hedges"].as_array().unwrap().iter().filter(|x| x["trade"]["market"] == CALL).collect();
    let price_of = |qty: &str| calls.iter().find(|x| x["trade"]["qty"] == qty).map(|x| x["trade"]["price"].clone());
    assert_eq!(price_of("1"), Some(serde_json::json!("994.95")), "one call walks both levels: {h}");
    if let Some(price) = price_of("0.5") {
        assert_eq!(price, "990", "half a call takes the best level alone: {h}");
    }
    assert!(calls.iter().all(|x| x["trade"]["qty"].as_str().unwrap().parse::<f64>().unwrap() <= 1.0), "never beyond the book's depth: {h}");
    for hedge in &calls {
        let trade = &hedge["trade"];
        let body = serde_json::json!({ "account": "alice/main", "trades": [trade] });
        let r = post(&mut c, &alice, "/v1/margin/simulate", body).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(usd(&v["gating"]["before"]["margin"]["initial_usd"]), initial, "{v}");
        assert_eq!(usd(&hedge["initial_margin_after_usd"]), usd(&v["gating"]["after"]["margin"]["initial_usd"]), "{trade}: {v}");
    }
    running.shutdown().await.unwrap();
}
