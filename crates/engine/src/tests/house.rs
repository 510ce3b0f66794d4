//! House liquidity and position limits on ETH/USDC (ETH at 3,000, USDC at 1; taker fee 5 bps):
//! the house quotes 20 bps around the oracle, at most 5 ETH a fill and 8 ETH of net position
//! either way; an account may hold at most 3 ETH with its open buys.

use super::*;
use markets::{OrderKind::*, OrderSide::*};

fn order(account: &str, cid: u64, side: markets::OrderSide, kind: markets::OrderKind, price: Option<&str>, qty: &str) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: "ETH/USDC".into(),
        client_order_id: cid,
        side,
        kind,
        price: price.map(String::from),
        qty: qty.into(),
    }
}

fn house_engine(position_max: Option<&str>) -> Engine {
    let mut c = config();
    let market = c.markets.iter_mut().find(|m| m.id == "ETH/USDC").unwrap();
    market.house_quote = Some(model::HouseQuote { spread_bps: 20, size_max: "5".into(), exposure_max: "8".into() });
    market.position_max = position_max.map(String::from);
    let mut e = engine_from(c);
    applied(e.apply(&op(10, deposit("alice/main", "ETH", "2", USDC_ETH, "0xeth"))));
    applied(e.apply(&op(11, deposit("bob/main", "USDC", "50000", USDC_ETH, "0xusdc"))));
    applied(e.apply(&op(12, Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() })));
    applied(e.apply(&op(13, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() })));
    e
}

fn house_fill(events: &[Event]) -> Option<(String, String, String, String)> {
    events.iter().find_map(|ev| match ev {
        Event::HouseFilled { price, qty, quote_amount, fee, .. } => Some((price.clone(), qty.clone(), quote_amount.clone(), fee.clone())),
        _ => None,
    })
}

#[test]
fn the_house_fills_what_the_book_cannot_at_oracle_plus_spread_within_its_limits() {
    let mut e = house_engine(None);
    // Empty book: bob's market buy of 2 is the house's at ceil(3000 x 1.002) = 3006.
    let events = applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "2"))));
    assert_eq!(house_fill(&events), Some(("3006".into(), "2".into(), "6012".into(), "3.006".into())));
    assert_eq!(posted(&e, "bob/main", "USDC"), "43984.994");
    assert_eq!(posted(&e, "bob/main", "ETH"), "2");
    assert_eq!(posted(&e, "@house", "ETH"), "-2");
    assert_eq!(posted(&e, "@fees", "USDC"), "3.006");
    assert_eq!(e.house_exposure(), vec![("ETH".to_string(), "-2".to_string())]);
    // alice sells 1 IOC at 2,990: the house buys at floor(3000 x 0.998) = 2994.
    let events = applied(e.apply(&as_("alice", 11, order("alice/main", 1, Sell, ImmediateOrCancel, Some("2990"), "1"))));
    assert_eq!(house_fill(&events).unwrap().0, "2994");
    assert_eq!(e.house_exposure(), vec![("ETH".to_string(), "-1".to_string())]);
    // Size and exposure: 10 wanted, 5 a fill; then room for 8 - 6 = 2; then none (cancelled).
    let events = applied(e.apply(&as_("bob", 2, order("bob/main", 2, Buy, Market, None, "10"))));
    assert_eq!(house_fill(&events).unwrap().1, "5");
    let events = applied(e.apply(&as_("bob", 3, order("bob/main", 3, Buy, Market, None, "5"))));
    assert_eq!(house_fill(&events).unwrap().1, "2");
    assert_eq!(e.house_exposure(), vec![("ETH".to_string(), "-8".to_string())]);
    let events = applied(e.apply(&as_("bob", 4, order("bob/main", 4, Buy, Market, None, "1"))));
    assert!(house_fill(&events).is_none() && events.iter().any(|ev| matches!(ev, Event::OrderCancelled { .. })), "{events:?}");
    // A limit below the house's price, or a limit order, is not the house's.
    let events = applied(e.apply(&as_("alice", 12, order("alice/main", 2, Sell, ImmediateOrCancel, Some("2995"), "0.5"))));
    assert!(house_fill(&events).is_none());
    e.check_invariants().unwrap();
    let mut restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    assert_eq!(restored.house_exposure(), e.house_exposure());
    assert_eq!(restored.state_hash(), e.state_hash());
}

#[test]
fn internal_liquidity_comes_first() {
    let mut e = house_engine(None);
    applied(e.apply(&as_("alice", 11, order("alice/main", 1, Sell, Limit, Some("3001"), "1"))));
    let events = applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, ImmediateOrCancel, Some("3010"), "1"))));
    assert!(house_fill(&events).is_none());
    assert!(events.iter().any(|ev| matches!(ev, Event::OrderFilled { price, .. } if price == "3001")), "{events:?}");
    assert!(e.house_exposure().is_empty());
}

#[test]
fn a_buy_beyond_the_position_limit_is_refused_with_its_numbers() {
    let mut e = house_engine(Some("3"));
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Limit, Some("2990"), "2"))));
    assert_eq!(
        rejected(e.apply(&as_("bob", 2, order("bob/main", 2, Buy, Limit, Some("2990"), "1.5")))),
        EngineError::PositionLimitExceeded {
            account: "bob/main".into(),
            market: "ETH/USDC".into(),
            position: "3.5".into(),
            limit: "3".into()
        }
    );
    applied(e.apply(&as_("bob", 3, order("bob/main", 3, Buy, Limit, Some("2990"), "1"))));
    // Sales are never limited.
    applied(e.apply(&as_("alice", 11, order("alice/main", 1, Sell, Limit, Some("3100"), "2"))));
}

#[test]
fn the_configuration_file_sets_margin_house_and_limits() {
    let text = model::DEFAULT_CONFIG_TOML
        .replace("# risk_model_max_age_ms = 86400000", "risk_model_max_age_ms = 86400000")
        .replace("# stable_price_prints = 8", "stable_price_prints = 8")
        .replacen("# position_max = \"100\"", "position_max = \"100\"", 1)
        .replacen("# house_quote = {", "house_quote = {", 1);
    let c = StateConfig::from_model(&model::Config::from_toml(&text).unwrap());
    assert_eq!((c.settings.risk_model_max_age_ms, c.settings.stable_price_prints), (Some(86_400_000), Some(8)));
    let market = c.markets.iter().find(|m| m.id == "ETH/USDC").unwrap();
    assert_eq!(market.position_max.as_deref(), Some("100"));
    assert_eq!(market.house_quote, Some(model::HouseQuote { spread_bps: 20, size_max: "5".into(), exposure_max: "50".into() }));
    Engine::with_genesis(c).unwrap();
    // Out of range is refused naming the key.
    let bad = text.replace("stable_price_prints = 8", "stable_price_prints = 65");
    assert!(model::Config::from_toml(&bad).unwrap_err().to_string().contains("stable_price_prints"));
}
