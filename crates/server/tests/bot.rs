//! The example bot's round against the real server: it quotes both sides around the oracle within
//! its balances, replaces its quotes each round, shrinks a side its balances cannot carry, and a
//! taker that hits its bid makes it hold more ETH, which it then offers.

mod common;

use common::*;
use server::bot::{BotParams, quote_round};
use server::client::Client;

fn params() -> BotParams {
    BotParams {
        account: "bot/main".into(),
        market: "ETH/USDC".into(),
        base: "ETH".into(),
        quote: "USDC".into(),
        spread_bps: 20,
        size: 0.5,
        lot: 0.001,
        tick: 0.01,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_quotes_around_the_oracle_within_its_balances() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let addr = running.addr;
    let (bot, taker) = (trader("bot", 3), trader("taker", 4));
    sign_up(addr, &bot).await;
    sign_up(addr, &taker).await;
    deposit(addr, "bot/main", "USDC", "5000", "0xb1").await;
    deposit(addr, "bot/main", "ETH", "0.2", "0xb2").await;
    deposit(addr, "taker/main", "ETH", "5", "0xt1").await;
    let mut c = Client::new(addr);

    let r = quote_round(&mut c, &bot, &params(), 0).await.expect("a round");
    assert_eq!(r.cancelled, 0);
    let (bid, ask) = (&r.placed[0], &r.placed[1]);
    assert_eq!((bid.0.as_str(), ask.0.as_str()), ("buy", "sell"), "{r:?}");
    let (bid_price, ask_price): (f64, f64) = (bid.1.parse().unwrap(), ask.1.parse().unwrap());
    assert!(bid_price < r.mid && r.mid < ask_price, "{r:?}");
    assert!((ask_price - bid_price) / r.mid < 0.0045, "about 2 x 20 bps wide: {r:?}");
    assert_eq!(bid.2, "0.500", "the USDC covers a full bid");
    assert_eq!(ask.2, "0.200", "the ask is cut to the ETH held");

    // The next round replaces both quotes.
    let r = quote_round(&mut c, &bot, &params(), 1).await.expect("a round");
    assert_eq!(r.cancelled, 2);
    let open = get(&mut c, &bot, "/v1/accounts/bot/main/orders").await.json();
    assert_eq!(open.as_array().unwrap().len(), 2, "{open}");

    // A taker sells into the bid; the bot then holds 0.7 ETH and offers 0.5 of it.
    let sell = serde_json::json!({ "account": "taker/main", "market": "ETH/USDC", "client_order_id": 1, "side": "sell",
        "kind": "immediate_or_cancel", "price": r.placed[0].1, "qty": "0.5" });
    let filled = post(&mut c, &taker, "/v1/orders", sell).await;
    assert_eq!(filled.status, 200, "{}", String::from_utf8_lossy(&filled.body));
    let r = quote_round(&mut c, &bot, &params(), 2).await.expect("a round");
    assert_eq!(r.cancelled, 1, "only the ask was left");
    let ask = r.placed.iter().find(|p| p.0 == "sell").expect("an ask");
    assert_eq!(ask.2, "0.500");
    let balances = get(&mut c, &bot, "/v1/accounts/bot/main/balances").await.json();
    assert_eq!(posted(&balances, "ETH", 18), units("0.7", 18));
    running.shutdown().await.unwrap();
}
