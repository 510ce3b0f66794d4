//! Hedging from the engine on ETH/USDC (ETH at 3,000, USDC at 1): the house quotes 20 bps
//! around the oracle, at most 5 ETH a fill and 8 ETH of net position; `[hedging]` keeps its ETH
//! within 0.5 of flat, at most 50 bps from the oracle, on the `ethereum` and `arbitrum` venues.

use super::*;
use markets::{OrderKind::*, OrderSide::*};

const T0: u64 = 1_000_000;

fn order(account: &str, cid: u64, side: markets::OrderSide, kind: markets::OrderKind, price: Option<&str>, qty: &str) -> Command {
    let market = "ETH/USDC".to_string();
    Command::PlaceOrder {
        account: account.into(),
        market,
        client_order_id: cid,
        side,
        kind,
        price: price.map(String::from),
        qty: qty.into(),
    }
}

fn hedging() -> model::Hedging {
    model::Hedging {
        expiry_ms: 60_000,
        outstanding_max: 4,
        factors: vec![model::HedgeFactor {
            asset: "ETH".into(),
            quote: "USDC".into(),
            residual_delta_max: "0.5".into(),
            max_cost_bps: 50,
            venues: vec!["ethereum".into(), "arbitrum".into()],
        }],
    }
}

fn hedge_engine() -> Engine {
    let mut c = config();
    let market = c.markets.iter_mut().find(|m| m.id == "ETH/USDC").unwrap();
    market.house_quote = Some(model::HouseQuote { spread_bps: 20, size_max: "5".into(), exposure_max: "8".into() });
    let mut e = engine_from(c);
    applied(e.apply(&op(9, Command::AdvanceTime { now_ms: T0 })));
    applied(e.apply(&op(10, deposit("alice/main", "ETH", "2", USDC_ETH, "0xeth"))));
    applied(e.apply(&op(11, deposit("bob/main", "USDC", "50000", USDC_ETH, "0xusdc"))));
    applied(e.apply(&op(12, Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() })));
    applied(e.apply(&op(13, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() })));
    applied(e.apply(&op(14, Command::SetHedging { config: hedging() })));
    e
}

fn executed(hedge_id: u64, venue: &str, asset_in: &str, amount_in: &str, asset_out: &str, amount_out: &str, chain_ref: &str) -> Command {
    Command::HedgeExecuted {
        hedge_id,
        venue: venue.into(),
        asset_in: asset_in.into(),
        amount_in: amount_in.into(),
        asset_out: asset_out.into(),
        amount_out: amount_out.into(),
        chain_ref: chain_ref.into(),
    }
}

fn requested(events: &[Event]) -> Vec<(u64, markets::OrderSide, String, String)> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::HedgeRequested { hedge_id, side, qty, limit_price, .. } => Some((*hedge_id, *side, qty.clone(), limit_price.clone())),
            _ => None,
        })
        .collect()
}

fn cancelled(events: &[Event]) -> Vec<(u64, String)> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Event::HedgeCancelled { hedge_id, reason, .. } => Some((*hedge_id, reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn exposure_beyond_the_residual_requests_one_hedge_back_to_flat() {
    let mut e = hedge_engine();
    // 0.4 ETH sold to bob: within the residual of 0.5, nothing requested.
    let events = applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "0.4"))));
    assert!(requested(&events).is_empty(), "{events:?}");
    // 1.6 more: the house is 2 short; a buy of 2 at most 3000 x 1.005 = 3015 USDC.
    let events = applied(e.apply(&as_("bob", 2, order("bob/main", 2, Buy, Market, None, "1.6"))));
    assert_eq!(requested(&events), vec![(1, Buy, "2".to_string(), "3015".to_string())]);
    // Another 0.3: uncovered is -0.3 after the outstanding buy of 2, within the residual.
    let events = applied(e.apply(&as_("bob", 3, order("bob/main", 3, Buy, Market, None, "0.3"))));
    assert!(requested(&events).is_empty(), "one exposure is never hedged twice: {events:?}");
    let views = e.hedges();
    assert_eq!((views.len(), views[0].rest.as_str(), views[0].expires_ms), (1, "2", T0 + 60_000));
    // A second 0.3 makes the uncovered 0.6: a new request for it alone.
    let events = applied(e.apply(&as_("bob", 4, order("bob/main", 4, Buy, Market, None, "0.3"))));
    assert_eq!(requested(&events), vec![(2, Buy, "0.6".to_string(), "3015".to_string())]);
}

#[test]
fn a_sell_limit_is_below_the_oracle_rounded_against_the_house() {
    let mut e = hedge_engine();
    applied(e.apply(&op(20, Command::SetPrice { symbol: "ETH".into(), price_usd: "3001.23".into() })));
    // alice sells 1 to the house (long 1 > 0.5): a sell at least ceil(3001.23 x 0.995, 6 dp).
    let events = applied(e.apply(&as_("alice", 11, order("alice/main", 1, Sell, ImmediateOrCancel, Some("2900"), "1"))));
    // 3001.23 x 0.995 = 2986.22385 exactly.
    assert_eq!(requested(&events), vec![(1, Sell, "1".to_string(), "2986.22385".to_string())]);
}

/// On-chain wallet of the broker at a custodian, kept by hand: deposits in, the house's
/// payments out, what it receives in.
fn wallet(e: &Engine, custodian: &str, asset: &str) -> String {
    let custody = posted(e, &custody_account(custodian), asset);
    custody.strip_prefix('-').map(String::from).unwrap_or_else(|| if custody == "0" { custody } else { format!("-{custody}") })
}

#[test]
fn executions_move_custody_and_exposure_and_the_books_reconcile() {
    let mut e = hedge_engine();
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "2"))));
    // Bought 2 at ceil(3000 x 1.002) = 3006 from the house: @house is 2 ETH short.
    assert_eq!((posted(&e, "@house", "ETH"), e.house_exposure()), ("-2".into(), vec![("ETH".into(), "-2".into())]));
    // The executor buys 1.2 ETH for 3,610 USDC on ethereum, then 0.8 for 2,404 on arbitrum.
    let events = applied(e.apply(&op(30, executed(1, "ethereum", "USDC", "3610", "ETH", "1.2", "0xswap1"))));
    assert!(events.contains(&Event::HedgeFilled {
        hedge_id: 1,
        venue: "ethereum".into(),
        qty: "1.2".into(),
        rest: "0.8".into(),
        chain_ref: "0xswap1".into()
    }));
    assert!(requested(&events).is_empty());
    assert_eq!(e.house_exposure(), vec![("ETH".into(), "-0.8".into())]);
    // Independent reference: the wallet at ethereum held 2 ETH and 51,000 USDC from deposits;
    // it paid 3,610 USDC and received 1.2 ETH.
    assert_eq!((wallet(&e, "ethereum", "USDC"), wallet(&e, "ethereum", "ETH")), ("47390".into(), "3.2".into()));
    // arbitrum holds no USDC yet: the custodian cannot pay, nothing moves.
    let books = e.books_hash();
    let error = rejected(e.apply(&op(31, executed(1, "arbitrum", "USDC", "2404", "ETH", "0.8", "0xswap2"))));
    assert!(matches!(error, EngineError::InsufficientCustody { ref custodian, .. } if custodian == "arbitrum"), "{error:?}");
    assert_eq!(e.books_hash(), books);
    applied(e.apply(&op(32, deposit("bob/main", "USDC", "5000", "arbitrum", "0xarb"))));
    let events = applied(e.apply(&op(33, executed(1, "arbitrum", "USDC", "2404", "ETH", "0.8", "0xswap2"))));
    assert!(events.iter().any(|ev| matches!(ev, Event::HedgeFilled { rest, .. } if rest == "0")));
    assert!(e.hedges().is_empty() && e.house_exposure().is_empty());
    assert_eq!((wallet(&e, "arbitrum", "USDC"), wallet(&e, "arbitrum", "ETH")), ("2596".into(), "0.8".into()));
    // The house: flat in ETH, paid 6,014 USDC for what it sold at 6,012 (plus the taker fee to @fees).
    assert_eq!((posted(&e, "@house", "ETH"), posted(&e, "@house", "USDC")), ("0".into(), "-2".into()));
    e.check_invariants().unwrap();
}

#[test]
fn bad_execution_reports_are_typed_errors_that_change_nothing() {
    let mut e = hedge_engine();
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "2"))));
    applied(e.apply(&op(30, executed(1, "ethereum", "USDC", "1500", "ETH", "0.5", "0xused"))));
    let books = e.books_hash();
    let refused_why = |error: EngineError| match error {
        EngineError::HedgeRefused { why, .. } => why,
        other => panic!("expected hedge_refused, got {other:?}"),
    };
    type Check = Box<dyn Fn(EngineError) -> bool>;
    let cases: Vec<(Command, Check)> = vec![
        (executed(9, "ethereum", "USDC", "1500", "ETH", "0.5", "0xa"), Box::new(|e| e == EngineError::UnknownHedge { hedge_id: 9 })),
        (executed(1, "dydx", "USDC", "1500", "ETH", "0.5", "0xb"), Box::new(move |e| refused_why(e).contains("not allowed"))),
        (
            executed(1, "ethereum", "ETH", "0.5", "USDC", "1500", "0xc"),
            Box::new(move |e| refused_why(e).contains("pays USDC and receives ETH")),
        ),
        (executed(1, "ethereum", "USDC", "4600", "ETH", "1.51", "0xd"), Box::new(move |e| refused_why(e).contains("beyond the rest 1.5"))),
        // 0.5 ETH may cost at most 0.5 x 3015 = 1507.5.
        (
            executed(1, "ethereum", "USDC", "1507.500001", "ETH", "0.5", "0xe"),
            Box::new(move |e| refused_why(e).contains("beyond the limit 1507.5")),
        ),
        (executed(1, "ethereum", "USDC", "0", "ETH", "0.5", "0xf"), Box::new(|e| matches!(e, EngineError::NonPositiveAmount { .. }))),
        (
            executed(1, "ethereum", "USDC", "100", "ETH", "-0.5", "0xg"),
            Box::new(|e| matches!(e, EngineError::NonPositiveAmount { .. } | EngineError::MalformedAmount { .. })),
        ),
        (
            executed(1, "ethereum", "USDC", "1500", "ETH", "0.5", "0xused"),
            Box::new(|e| matches!(e, EngineError::DuplicateReference { .. })),
        ),
        (Command::CancelHedge { hedge_id: 7 }, Box::new(|e| e == EngineError::UnknownHedge { hedge_id: 7 })),
    ];
    for (i, (command, expected)) in cases.into_iter().enumerate() {
        let error = rejected(e.apply(&op(40 + i as u64, command)));
        assert!(expected(error.clone()), "case {i}: {error:?}");
        assert_eq!(e.books_hash(), books, "case {i} changed the books");
    }
    // Only an operator reports executions.
    let error = refused(e.apply(&as_("bob", 2, executed(1, "ethereum", "USDC", "1500", "ETH", "0.5", "0xh"))));
    assert!(matches!(error, EngineError::Unauthorized { .. }));
    assert_eq!(e.hedges()[0].rest, "1.5");
}

#[test]
fn hedges_expire_are_cancelled_and_follow_the_exposure() {
    let mut e = hedge_engine();
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "2"))));
    // Clients sell 1.8 back to the house: short 0.2, so the buy of 2 would overshoot: cancelled.
    let events = applied(e.apply(&as_("alice", 11, order("alice/main", 1, Sell, ImmediateOrCancel, Some("2900"), "1.8"))));
    assert_eq!(cancelled(&events), vec![(1, "exposure_changed".to_string())]);
    assert!(requested(&events).is_empty() && e.hedges().is_empty());
    // Short 1.2 again: hedge 2; cancelled by the operator, then requested again as hedge 3.
    let events = applied(e.apply(&as_("bob", 2, order("bob/main", 2, Buy, Market, None, "1"))));
    assert_eq!(requested(&events), vec![(2, Buy, "1.2".to_string(), "3015".to_string())]);
    let events = applied(e.apply(&op(20, Command::CancelHedge { hedge_id: 2 })));
    assert_eq!(cancelled(&events), vec![(2, "operator".to_string())]);
    assert_eq!(requested(&events), vec![(3, Buy, "1.2".to_string(), "3015".to_string())]);
    // The oracle moves to 3,100; at expiry the request is renewed at the new limit.
    applied(e.apply(&op(21, Command::SetPrice { symbol: "ETH".into(), price_usd: "3100".into() })));
    let events = applied(e.apply(&op(22, Command::AdvanceTime { now_ms: T0 + 59_999 })));
    assert!(cancelled(&events).is_empty());
    let events = applied(e.apply(&op(23, Command::AdvanceTime { now_ms: T0 + 60_000 })));
    assert_eq!(cancelled(&events), vec![(3, "expired".to_string())]);
    assert_eq!(requested(&events), vec![(4, Buy, "1.2".to_string(), "3115.5".to_string())]);
    // The snapshot keeps the hedges and the counter.
    let mut restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    assert_eq!((restored.hedges(), restored.state_hash()), (e.hedges(), e.state_hash()));
    let events = applied(restored.apply(&op(24, Command::CancelHedge { hedge_id: 4 })));
    assert_eq!(requested(&events)[0].0, 5);
}

#[test]
fn a_missing_price_blocks_the_hedge_and_limits_are_checked() {
    let mut e = hedge_engine();
    let mut bad = hedging();
    bad.factors[0].venues = vec!["dydx".into()];
    let error = rejected(e.apply(&op(20, Command::SetHedging { config: bad })));
    assert!(matches!(error, EngineError::ConfigRefused { ref key, .. } if key == "hedging.factors[0].venues"), "{error:?}");
    let mut bad = hedging();
    bad.factors[0].residual_delta_max = "-1".into();
    assert!(matches!(rejected(e.apply(&op(21, Command::SetHedging { config: bad }))), EngineError::ConfigRefused { .. }));
    // A factor whose quote asset has no oracle price: blocked, with the reason, no request.
    let mut c = hedging();
    c.factors[0].quote = "USDT".into();
    applied(e.apply(&op(22, Command::SetHedging { config: c })));
    let events = applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "1"))));
    assert!(events.contains(&Event::HedgeBlocked { factor: "ETH".into(), why: "no oracle price for USDT".into() }), "{events:?}");
    assert!(e.hedges().is_empty());
    // The price arrives: the hedge is requested then.
    let events = applied(e.apply(&op(23, Command::SetPrice { symbol: "USDT".into(), price_usd: "1.5".into() })));
    assert_eq!(requested(&events), vec![(1, Buy, "1".to_string(), "2010".to_string())]);
}

#[test]
fn the_configuration_file_takes_a_hedging_section() {
    let section = "\n[hedging]\nexpiry_ms = 60000\noutstanding_max = 8\n[[hedging.factors]]\nasset = \"ETH\"\nquote = \"USDC\"\nresidual_delta_max = \"5\"\nmax_cost_bps = 30\nvenues = [\"ethereum\"]\n";
    let text = format!("{}{section}", model::DEFAULT_CONFIG_TOML);
    let config = model::Config::from_toml(&text).unwrap();
    assert_eq!(config.hedging.as_ref().unwrap().factors[0].max_cost_bps, 30);
    let unknown = text.replace("max_cost_bps = 30", "max_cost_bps = 30\nslippage = 1");
    assert!(model::Config::from_toml(&unknown).unwrap_err().to_string().contains("slippage"));
    let venue = text.replace("venues = [\"ethereum\"]", "venues = [\"dydx\"]");
    assert!(model::Config::from_toml(&venue).unwrap_err().to_string().contains("hedging.factors[0].venues"));
}

/// The house short 2.6 ETH under two buys (2 and 0.6); alice then sells it 2, so both hedges
/// pass flat: two cancellations and a request of 0.6 in the hedging step.
fn two_hedges_then_exposure_drops(e: &mut Engine) {
    applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Market, None, "2"))));
    let events = applied(e.apply(&as_("bob", 2, order("bob/main", 2, Buy, Market, None, "0.6"))));
    assert_eq!(requested(&events), vec![(2, Buy, "0.6".to_string(), "3015".to_string())]);
}

fn json_bytes<T: serde::Serialize>(value: &T) -> u64 {
    serde_json::to_vec(value).unwrap().len() as u64
}

#[test]
fn a_review_that_does_not_fit_the_record_waits_for_the_next_command() {
    let mut e = hedge_engine();
    two_hedges_then_exposure_drops(&mut e);
    let sell = as_("alice", 11, order("alice/main", 1, Sell, ImmediateOrCancel, Some("2900"), "2"));
    let whole = applied(e.clone().apply(&sell));
    assert_eq!(cancelled(&whole), vec![(1, "exposure_changed".to_string()), (2, "exposure_changed".to_string())]);
    assert_eq!(requested(&whole), vec![(3, Buy, "0.6".to_string(), "3015".to_string())]);
    // The command's own events, measured as the step measures them; room for one cancellation.
    let own: Vec<Event> =
        whole.iter().filter(|ev| !matches!(ev, Event::HedgeCancelled { .. } | Event::HedgeRequested { .. })).cloned().collect();
    let bytes = json_bytes(&Outcome::Applied { seq: u64::MAX, events: vec![] }) + own.iter().map(|ev| json_bytes(ev) + 1).sum::<u64>();
    e.hedging.record_bytes_max = Some(bytes + crate::hedging::cancelled_bytes());
    let first = applied(e.apply(&sell));
    assert_eq!(cancelled(&first), vec![(1, "exposure_changed".to_string())], "one cancellation fits: {first:?}");
    assert!(requested(&first).is_empty(), "{first:?}");
    // The rest of the factor's hedges takes no execution while its review waits.
    let report = executed(2, "ethereum", "USDC", "1800", "ETH", "0.6", "0xwait");
    assert!(matches!(rejected(e.apply(&op(30, report))), EngineError::HedgeRefused { hedge_id: 2, .. }));
    // The deferral is state: a snapshot keeps it.
    let restored = Engine::decode_snapshot(&e.encode_snapshot()).unwrap();
    let mut restored = restored;
    assert_eq!(restored.state_hash(), e.state_hash());
    // New limits while the review waits: every hedge is cancelled and the factors looked at
    // again (on a copy; the deferral is cleared, nothing refers to a factor no longer set).
    let mut reset = e.clone();
    reset.hedging.record_bytes_max = None;
    let events = applied(reset.apply(&op(40, Command::SetHedging { config: hedging() })));
    assert_eq!(cancelled(&events), vec![(2, "limits_changed".to_string())]);
    assert_eq!(requested(&events), vec![(3, Buy, "0.6".to_string(), "3015".to_string())]);
    // The next command, with the whole record, finishes the review from where the first left
    // it: hedge 2 alone (a buy of 0.6) now reduces the short 0.6 exactly, so it stays and
    // nothing more is requested; its execution is then accepted and the house is flat.
    e.hedging.record_bytes_max = None;
    let later = applied(e.apply(&op(31, Command::AdvanceTime { now_ms: T0 + 1 })));
    assert!(cancelled(&later).is_empty() && requested(&later).is_empty(), "{later:?}");
    let views = e.hedges();
    assert_eq!((views.len(), views[0].hedge_id, views[0].rest.as_str()), (1, 2, "0.6"));
    let events = applied(e.apply(&op(32, executed(2, "ethereum", "USDC", "1800", "ETH", "0.6", "0xwait"))));
    assert!(events.contains(&Event::HouseExposureChanged { asset: "ETH".into(), exposure: "0".into() }), "{events:?}");
    assert!(e.hedges().is_empty());
}

#[test]
fn a_request_that_does_not_fit_is_made_by_the_next_command() {
    let mut e = hedge_engine();
    let buy = as_("bob", 1, order("bob/main", 1, Buy, Market, None, "2"));
    let whole = applied(e.clone().apply(&buy));
    let own: Vec<Event> = whole.iter().filter(|ev| !matches!(ev, Event::HedgeRequested { .. })).cloned().collect();
    let bytes = json_bytes(&Outcome::Applied { seq: u64::MAX, events: vec![] }) + own.iter().map(|ev| json_bytes(ev) + 1).sum::<u64>();
    // Exactly the worst request left: made.
    let mut edge = e.clone();
    edge.hedging.record_bytes_max = Some(bytes + crate::hedging::request_bytes());
    assert_eq!(requested(&applied(edge.apply(&buy))), vec![(1, Buy, "2".to_string(), "3015".to_string())]);
    // One byte less: it waits, and the next command (with room) makes it.
    e.hedging.record_bytes_max = Some(bytes + crate::hedging::request_bytes() - 1);
    let first = applied(e.apply(&buy));
    assert!(requested(&first).is_empty(), "{first:?}");
    assert!(e.hedges().is_empty());
    e.hedging.record_bytes_max = None;
    let later = applied(e.apply(&op(31, Command::AdvanceTime { now_ms: T0 + 1 })));
    assert_eq!(requested(&later), vec![(1, Buy, "2".to_string(), "3015".to_string())]);
}

#[test]
fn a_derivative_book_is_refused_where_its_order_and_the_hedging_step_pass_the_record() {
    let record = limits::RECORD_BYTES_MAX as u64;
    // The largest derivative book whose order result, with the hedging step's reserve, fits.
    let fits = (1..100_000u32).take_while(|n| limits::derivative_order_bytes(*n) <= record).last().unwrap();
    let without_hedging = |n: u32| limits::derivative_result_bytes(n) + limits::auctions_ended_bytes(n);
    assert_eq!(limits::derivative_order_bytes(fits) - without_hedging(fits), crate::hedging::step_bytes());
    let mut perp = model::Config::default_config()
        .markets
        .into_iter()
        .find(|m| m.kind == model::MarketKind::Perp)
        .expect("a perp in the default config");
    perp.book_orders_max = fits;
    limits::check_market(&perp).unwrap();
    perp.book_orders_max = fits + 1;
    let error = limits::check_market(&perp).unwrap_err();
    assert!(matches!(error, limits::LimitsError::TooLarge { what: "order result", .. }), "{error}");
}
