//! The dashboard in headless Chromium (Debian's `chromium`) against a running server: the page
//! signs its requests in the browser, and the numbers it renders equal the API's. Screenshots go
//! to the test's target directory. Without chromium the test skips loudly, and fails under CI.

mod common;

use common::*;
use server::client::Client;
use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "chromium";

fn chromium_present() -> bool {
    let found = Command::new(CHROMIUM).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "CI is set and `{CHROMIUM}` is missing (apt-get install chromium)");
        eprintln!("SKIPPED: `{CHROMIUM}` is not installed; the dashboard test did not run");
    }
    found
}

fn chromium(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--virtual-time-budget=10000")
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 DOM")
}

/// Text of the cells of the table row `data-key="key"` in `table` (tags stripped).
fn row_cells(dom: &str, table: &str, key: &str) -> Vec<String> {
    let table_at = dom.find(&format!("id=\"{table}\"")).unwrap_or_else(|| panic!("table {table} in the DOM"));
    let rest = &dom[table_at..];
    let row_at = rest.find(&format!("data-key=\"{key}\"")).unwrap_or_else(|| panic!("row {key} in {table}"));
    let row = &rest[row_at..rest[row_at..].find("</tr>").map(|e| row_at + e).expect("row end")];
    row.split("<td>").skip(1).map(|c| c.split("</td>").next().unwrap_or("").to_string()).collect()
}

fn element_text(dom: &str, id: &str) -> String {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("element {id} in the DOM"));
    let open_end = at + dom[at..].find('>').expect("tag end") + 1;
    dom[open_end..open_end + dom[open_end..].find('<').expect("text end")].to_string()
}

fn screenshot(url: &str, name: &str) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&path);
    chromium(&[&format!("--screenshot={}", path.display()), "--window-size=1280,1300", "--hide-scrollbars"], url);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot {} has {size} bytes", path.display());
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_renders_the_apis_numbers() {
    if !chromium_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let running = start(dir.path()).await;
    let addr = running.addr;
    let alice = trader("alice", 1);
    sign_up(addr, &alice).await;
    deposit(addr, "alice/main", "ETH", "10.5", "0xa1").await;
    deposit(addr, "alice/main", "USDC", "1234.56", "0xa2").await;
    let (price, _) = eth_usdc_price(addr).await;
    let mut c = Client::new(addr);
    let sell = serde_json::json!({ "account": "alice/main", "market": "ETH/USDC", "client_order_id": 1, "side": "sell", "kind": "limit", "price": price, "qty": "0.5" });
    assert_eq!(post(&mut c, &alice, "/v1/orders", sell).await.status, 200);
    let balances = get(&mut c, &alice, "/v1/accounts/alice/main/balances").await.json();
    let margin = get(&mut c, &alice, "/v1/accounts/alice/main/margin").await.json();

    let url = format!("http://{addr}/dashboard#name=alice&secret={}", "01".repeat(32));
    let dom = chromium(&["--dump-dom"], &url);
    assert!(dom.contains("data-ready=\"1\""), "the page finished loading");
    assert_eq!(element_text(&dom, "error"), "", "no error shown");
    for row in balances["balances"].as_array().expect("rows") {
        let asset = row["asset"].as_str().expect("asset");
        let cells = row_cells(&dom, "balances", asset);
        assert_eq!(cells[1], row["posted"].as_str().expect("posted"), "{asset} posted");
        assert_eq!(cells[2], row["reserved"].as_str().expect("reserved"), "{asset} reserved");
    }
    assert_eq!(element_text(&dom, "total-usd"), balances["valuation"]["total_usd"].as_str().expect("total"));
    let summary = &margin["detail"]["summary"];
    assert!(element_text(&dom, "gating").starts_with("not_configured"), "the engine margin's state is shown");
    assert_eq!(element_text(&dom, "im"), format!("{:.2}", summary["initial_margin"].as_f64().expect("IM")));
    assert_eq!(element_text(&dom, "mm"), format!("{:.2}", summary["maintenance_margin"].as_f64().expect("MM")));
    assert_eq!(element_text(&dom, "nlv"), format!("{:.2}", summary["net_liquidation_value"].as_f64().expect("NLV")));
    screenshot(&url, "dashboard-trader.png");

    let overview = get(&mut c, &operator(), "/v1/operator/overview").await.json();
    let url = format!("http://{addr}/dashboard#name=operator&secret={}", "07".repeat(32));
    let dom = chromium(&["--dump-dom"], &url);
    assert_eq!(element_text(&dom, "error"), "", "no error shown");
    for (asset, units) in overview["net_exposure"].as_object().expect("exposure") {
        assert_eq!(row_cells(&dom, "exposure", asset)[1], units.as_str().expect("units"), "{asset} exposure");
    }
    let nearest = &overview["nearest_liquidation"][0];
    let cells = row_cells(&dom, "nearest", nearest["account"].as_str().expect("account"));
    assert_eq!(cells[1], format!("{:.2}", nearest["health_usd"].as_f64().expect("health")));
    let liquidations = get(&mut c, &operator(), "/v1/liquidations").await.json();
    assert_eq!(element_text(&dom, "insurance-state"), liquidations["insurance_fund"].as_str().expect("state"));
    screenshot(&url, "dashboard-operator.png");
    running.shutdown().await.expect("clean shutdown");
}
