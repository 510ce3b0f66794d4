//! A small market-making bot over the signed API (`server::client`), for `examples/bot.rs` and its
//! test: each round it cancels its open orders on one spot market, then quotes a bid and an ask
//! `spread_bps` around the oracle cross price, each of `size` unless its balances (or, where the
//! engine's margin is in force, its free collateral) do not cover it, in which case it quotes less
//! or not at all on that side. It never sends an order its account cannot carry, so the engine
//! never has to refuse it for balance or margin.

use crate::client::{Client, Signer};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("{what}: {detail}")]
    Request { what: String, detail: String },
    #[error("{what} missing from the answer")]
    Missing { what: String },
}

/// One market and how the bot quotes it.
#[derive(Debug, Clone)]
pub struct BotParams {
    pub account: String,
    pub market: String,
    pub base: String,
    pub quote: String,
    /// Half the quoted spread, basis points of the oracle price.
    pub spread_bps: u32,
    /// Base quantity per side (whole units, on the market's lot).
    pub size: f64,
    /// The market's lot and tick (whole units).
    pub lot: f64,
    pub tick: f64,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Round {
    pub mid: f64,
    pub cancelled: usize,
    /// (side, price, qty) placed.
    pub placed: Vec<(String, String, String)>,
}

fn missing(what: &str) -> BotError {
    BotError::Missing { what: what.into() }
}

async fn call(c: &mut Client, s: &Signer, method: &str, path: &str, body: &[u8]) -> Result<Value, BotError> {
    let r = c.signed(s, method, path, body).await.map_err(|e| BotError::Request { what: path.into(), detail: e.to_string() })?;
    if r.status >= 400 {
        return Err(BotError::Request { what: format!("{method} {path}"), detail: String::from_utf8_lossy(&r.body).into() });
    }
    Ok(r.json())
}

fn available(balances: &Value, asset: &str) -> f64 {
    let rows = balances["balances"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let num = |v: &Value| v.as_str().and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
    rows.iter().find(|r| r["asset"] == asset).map_or(0.0, |r| num(&r["posted"]) - num(&r["reserved"]))
}

/// One round: cancel, read, quote.
pub async fn quote_round(c: &mut Client, s: &Signer, p: &BotParams, round: u64) -> Result<Round, BotError> {
    let (owner, sub) = p.account.split_once('/').ok_or_else(|| missing("owner/sub account"))?;
    let orders = call(c, s, "GET", &format!("/v1/accounts/{owner}/{sub}/orders"), b"").await?;
    let mut out = Round::default();
    for o in orders.as_array().map(Vec::as_slice).unwrap_or(&[]).iter().filter(|o| o["market"] == p.market.as_str()) {
        let id = o["order_id"].as_u64().ok_or_else(|| missing("order_id"))?;
        call(c, s, "DELETE", &format!("/v1/orders/{id}?account={}&market={}", p.account, p.market), b"").await?;
        out.cancelled += 1;
    }
    let prices = c
        .request("GET", "/v1/prices", &[], b"")
        .await
        .map_err(|e| BotError::Request { what: "prices".into(), detail: e.to_string() })?
        .json();
    let usd = |a: &str| prices["prices"][a]["price_usd"].as_str().and_then(|t| t.parse::<f64>().ok());
    out.mid = usd(&p.base).zip(usd(&p.quote)).map(|(b, q)| b / q).ok_or_else(|| missing("oracle prices"))?;
    let balances = call(c, s, "GET", &format!("/v1/accounts/{owner}/{sub}/balances"), b"").await?;
    let margin = call(c, s, "GET", &format!("/v1/accounts/{owner}/{sub}/margin"), b"").await?;
    // With the engine's margin in force, a bid may spend at most the free collateral (USD).
    let free_usd = (margin["gating"]["state"] == "ok")
        .then(|| margin["gating"]["margin"]["free_collateral_usd"].as_str().and_then(|t| t.parse::<f64>().ok()))
        .flatten();
    let half = f64::from(p.spread_bps) / 1e4;
    let on_tick = |x: f64, up: bool| if up { (x / p.tick).ceil() * p.tick } else { (x / p.tick).floor() * p.tick };
    let (bid, ask) = (on_tick(out.mid * (1.0 - half), false), on_tick(out.mid * (1.0 + half), true));
    // Holds include the taker fee at most 10 bps here; keep 1% aside for it and roundings.
    let mut buy_cap = available(&balances, &p.quote) * 0.99 / bid;
    if let Some(free) = free_usd {
        buy_cap = buy_cap.min(free.max(0.0) * 0.99 / (bid * usd(&p.quote).unwrap_or(1.0)));
    }
    let sell_cap = available(&balances, &p.base);
    for (side, price, cap, k) in [("buy", bid, buy_cap, 0), ("sell", ask, sell_cap, 1)] {
        let qty = ((p.size.min(cap)) / p.lot).floor() * p.lot;
        if qty < p.lot {
            continue;
        }
        let decimals = |step: f64| (-step.log10()).ceil().max(0.0) as usize;
        let (price, qty) = (format!("{price:.*}", decimals(p.tick)), format!("{qty:.*}", decimals(p.lot)));
        let body = json!({ "account": p.account, "market": p.market, "client_order_id": round * 2 + k, "side": side,
            "kind": "post_only", "price": price, "qty": qty });
        call(c, s, "POST", "/v1/orders", body.to_string().as_bytes()).await?;
        out.placed.push((side.into(), price, qty));
    }
    Ok(out)
}
