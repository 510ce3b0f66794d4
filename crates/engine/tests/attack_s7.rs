//! Session 7's attacks on the broker as a hostile client and as a risk manager, on the
//! liquidation world of `tests/liquidation.rs` (ETH at 3000, IM 10% of the notional, MM half).
//! Each refused attack is a typed error that leaves the books hash (balances, positions, orders) as it was.

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::LastResort;

mod common;
use common::*;

fn order(account: &str, market: &str, side: OrderSide, kind: OrderKind, price: Option<&str>, qty: &str) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: market.into(),
        client_order_id: 7,
        side,
        kind,
        price: price.map(String::from),
        qty: qty.into(),
    }
}

const HUGE: &str = "340282366920938463463374607431768211455";

/// Hostile quantities and prices on the perp: zero, negative, beyond i128, beyond u64 ticks,
/// off-lot, off-tick; a market order with a price, a limit without one; an unknown market.
#[test]
fn hostile_orders_are_refused_and_change_nothing() {
    let mut w = alice_long();
    let a = "alice/main";
    let limit = |price: &str, qty: &str| order(a, "ETH-PERP", OrderSide::Buy, OrderKind::Limit, Some(price), qty);
    let cases = vec![
        limit("3000", "0"),
        limit("3000", "-1"),
        limit("3000", HUGE),
        limit("3000", "18446744073709551616"),
        limit("3000", "0.0000000001"),
        limit("0", "1"),
        limit("-3000", "1"),
        limit(HUGE, "0.001"),
        limit("18446744073709551615", "0.001"),
        limit("3000.0000000000000000001", "0.001"),
        limit("nan", "1"),
        limit("1e3", "1"),
        order(a, "ETH-PERP", OrderSide::Buy, OrderKind::Limit, None, "1"),
        order(a, "NOPE", OrderSide::Buy, OrderKind::Limit, Some("3000"), "1"),
        order(a, "ETH-PERP", OrderSide::Sell, OrderKind::Limit, Some("1"), "1000000000"),
        order("bob/main", "ETH-PERP", OrderSide::Buy, OrderKind::Limit, Some("3000"), "1"),
    ];
    for c in cases {
        refused_unchanged(&mut w, "alice", c);
    }
    w.check();
}

/// Amends and cancels of an unknown order, of another owner's order, and hostile amends of an
/// own order: refused, nothing changed; the order keeps its size and place.
#[test]
fn hostile_amends_and_cancels_are_refused_and_change_nothing() {
    let mut w = alice_long();
    w.deposit("dave", "USDC", "100000");
    let events = w.ok("dave", order("dave/main", "ETH-PERP", OrderSide::Sell, OrderKind::Limit, Some("3100"), "1"));
    let order_id = events
        .iter()
        .find_map(|e| match e {
            Event::OrderAccepted { order_id, .. } => Some(*order_id),
            _ => None,
        })
        .expect("accepted");
    let amend = |account: &str, id: u64, price: &str, qty: &str| Command::AmendOrder {
        account: account.into(),
        market: "ETH-PERP".into(),
        order_id: id,
        price: price.into(),
        qty: qty.into(),
    };
    let cancel = |account: &str, id: u64| Command::CancelOrder { account: account.into(), market: "ETH-PERP".into(), order_id: id };
    let cases = vec![
        ("dave", amend("dave/main", order_id + 1000, "3100", "1")),
        ("dave", amend("dave/main", u64::MAX, "3100", "1")),
        ("dave", amend("dave/main", order_id, "3100", "0")),
        ("dave", amend("dave/main", order_id, "3100", "-1")),
        ("dave", amend("dave/main", order_id, "0", "1")),
        ("dave", amend("dave/main", order_id, HUGE, "1")),
        ("dave", amend("dave/main", order_id, "3100", HUGE)),
        ("dave", amend("dave/main", order_id, "3100", "1000000000")),
        ("alice", amend("dave/main", order_id, "3100", "0.5")),
        ("alice", amend("alice/main", order_id, "3100", "0.5")),
        ("alice", cancel("dave/main", order_id)),
        ("alice", cancel("alice/main", order_id)),
        ("dave", cancel("dave/main", u64::MAX)),
        ("dave", Command::CancelOrder { account: "dave/main".into(), market: "NOPE".into(), order_id }),
    ];
    for (client, c) in cases {
        refused_unchanged(&mut w, client, c);
    }
    let open = w.engine.open_orders("ETH-PERP", "dave/main").unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    w.check();
}

/// A resting risk-increasing order, then a withdrawal of the collateral it was accepted on:
/// the withdrawal must see the order (it can fill at any moment, no gate runs at the fill).
/// alice (1000 USDC) rests a buy of 3 ETH-PERP at 3000 (IM with it filled: 10% of 9000 = 900,
/// equity 1000, accepted; the order holds 4.506 for the larger fee). Withdrawing 900 would
/// leave 1000 - 4.506 - 900 = 95.494 against that IM once it fills: refused
/// `insufficient_free_collateral {required 900, available 95.494}`, nothing changed.
/// Withdrawing 95 is allowed; bob's sell fills alice as maker (no fee, the hold comes back):
/// equity 1000 - 95 = 905 >= IM 900.
/// (Before the fix the 900 went out and the fill left alice at equity 100 < MM 450.)
#[test]
fn a_withdrawal_cannot_take_the_margin_a_resting_order_was_accepted_on() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    w.deposit("alice", "USDC", "1000");
    w.deposit("bob", "USDC", "100000");
    w.perp("alice", OrderSide::Buy, "3");
    assert_eq!(w.qty("alice/main"), 0, "the order rests");
    let mut withdraw = Command::RequestWithdrawal {
        account: "alice/main".into(),
        asset: "USDC".into(),
        amount: "900".into(),
        custodian: "ethereum".into(),
        destination: "0xalice".into(),
        withdrawal_id: "w-alice-1".into(),
    };
    let before = w.engine.books_hash();
    let error = match w.send("alice", withdraw.clone()) {
        Outcome::Rejected { error, .. } => error,
        other => panic!("{other:?}"),
    };
    let expected =
        EngineError::InsufficientFreeCollateral { account: "alice/main".into(), required: "900".into(), available: "95.494".into() };
    assert_eq!(error, expected);
    assert_eq!(w.engine.books_hash(), before);
    // The margin view shows what the gate releases: 995.494 - 900 with the order filled.
    let free = w.engine.account_margin("alice/main").unwrap().free_collateral_usd;
    assert_eq!(free, "95.494");
    // 100 is free with the order filled: allowed, and the fill leaves alice exactly at IM.
    let Command::RequestWithdrawal { amount, withdrawal_id, .. } = &mut withdraw else { unreachable!() };
    (*amount, *withdrawal_id) = ("95".into(), "w-alice-2".into());
    let outcome = w.send("alice", withdraw);
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    w.perp("bob", OrderSide::Sell, "3");
    let m = w.engine.account_margin("alice/main").unwrap();
    let (equity, im) = (units(&m.equity_usd, 18), units(&m.initial_usd, 18));
    assert_eq!((equity, im), (905 * 10i128.pow(18), 900 * 10i128.pow(18)));
}

/// A resting option sale counts filled in the transfer gate as in the order gate: the short's
/// value and IM against the premium received. alice (600 USDC) rests a sale of 1 call at 250
/// (worth 200 by the model; IM filled: 400). Filled she would hold 600 + 250 - fee and a
/// short worth -200. The order holds its larger fee (0.05% of 250 = 0.125, on the tick grid).
/// A transfer of 300 to another of her sub-accounts would leave 600 - 300 + 250 - 0.125 - 200 =
/// 349.875 (hold spent, the sale's fee at most the hold) against IM 400: refused; 200 is allowed
/// (equity filled 449.875 >= 400).
#[test]
fn a_transfer_cannot_take_the_margin_of_a_resting_option_sale() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    for part in risk_model_parts(&common::call_model()) {
        w.op(part);
    }
    w.deposit("alice", "USDC", "600");
    w.op(Command::CreateAccount { owner: "alice".into(), sub: "side".into() });
    w.ok("alice", order("alice/main", "ETH-20261225-3000-C", OrderSide::Sell, OrderKind::Limit, Some("250"), "1"));
    let hold = usdc("600") - w.balance("alice/main", "USDC");
    let transfer = |amount: &str| Command::Transfer {
        from: "alice/main".into(),
        to: "alice/side".into(),
        asset: "USDC".into(),
        amount: amount.into(),
    };
    let error = refused_unchanged(&mut w, "alice", transfer("300"));
    assert!(matches!(&error, EngineError::InsufficientFreeCollateral { required, .. } if required == "400"), "{error:?} (hold {hold})");
    let outcome = w.send("alice", transfer("200"));
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    w.check();
}
