//! Session 8's attacks on the broker as a hostile client and as a risk manager, on the
//! liquidation world of `tests/liquidation.rs` (ETH at 3000, IM 10% of the notional, MM half;
//! the perp's price band 5% around the oracle, an option's premium anywhere in (0, 2 x the
//! underlying)). Each refused attack is a typed error that leaves the books hash as it was;
//! each test is named after the break it shows.

use engine::markets::{OrderKind, OrderSide};
use engine::*;

mod common;
use common::*;

fn order(account: &str, market: &str, side: OrderSide, kind: OrderKind, price: Option<&str>, qty: &str) -> Command {
    Command::PlaceOrder {
        account: account.into(),
        market: market.into(),
        client_order_id: 8,
        side,
        kind,
        price: price.map(String::from),
        qty: qty.into(),
    }
}

fn limit(account: &str, market: &str, side: OrderSide, price: &str, qty: &str) -> Command {
    order(account, market, side, OrderKind::Limit, Some(price), qty)
}

fn with_id(mut command: Command, id: u64) -> Command {
    if let Command::PlaceOrder { client_order_id, .. } = &mut command {
        *client_order_id = id;
    }
    command
}

fn margin_of(w: &mut World, account: &str) -> (i128, i128, i128) {
    let m = w.engine.account_margin(account).unwrap();
    (units(&m.equity_usd, 18), units(&m.initial_usd, 18), units(&m.maintenance_usd, 18))
}

/// alice, long 3 ETH-PERP at 3000 on 1,000 USDC, falls to 2805: equity 995.5 - 585 = 410.5
/// under MM 420.75, flagged for liquidation. Her accomplice dave rests a buy of 3 at the band's
/// low edge, 2805 x 0.95 = 2664.75. Selling him the long there is "risk-reducing" (IM falls to
/// 0), but realises (2805 - 2664.75) x 3 = 420.75 and the taker fee 3.996: alice's equity would
/// be 410.5 - 420.75 - 3.996 = -14.246, a deficit for the waterfall, and dave keeps 420.75.
/// Refused, nothing changed; a sale at the oracle price (a fair close) is still accepted.
#[test]
fn an_account_under_liquidation_cannot_sell_its_position_to_an_accomplice_below_bankruptcy() {
    let mut w = alice_long();
    w.deposit("dave", "USDC", "100000");
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    assert!(w.engine.health_flags().iter().any(|(a, h)| a == "alice/main" && *h == Health::Liquidation), "{:?}", w.engine.health_flags());
    let (equity, _, mm) = margin_of(&mut w, "alice/main");
    assert!(equity < mm, "alice is under maintenance: {equity} < {mm}");
    w.ok("dave", limit("dave/main", "ETH-PERP", OrderSide::Buy, "2664.75", "3"));
    let qty = w.qty("alice/main");
    let sell = limit("alice/main", "ETH-PERP", OrderSide::Sell, "2664.75", &money::format_decimal(qty, money::Scale::new(9).unwrap()));
    let error = refused_unchanged(&mut w, "alice", sell);
    // Filled there, her settlement balance with the loss would turn into a debt: reduce-only.
    assert!(matches!(error, EngineError::ReduceOnlyAccount { .. } | EngineError::InsufficientMargin { .. }), "{error:?}");
    // A close at the oracle price leaves her better off over both IM and MM: accepted.
    w.deposit("carol", "USDC", "100000");
    w.ok("carol", limit("carol/main", "ETH-PERP", OrderSide::Buy, "2805", "3"));
    let outcome = w.send("alice", limit("alice/main", "ETH-PERP", OrderSide::Sell, "2805", "3"));
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    assert_eq!(w.qty("alice/main"), 0);
    let (equity, _, _) = margin_of(&mut w, "alice/main");
    assert!(equity > 0, "{equity}");
    w.check();
}

const CALL: &str = "ETH-20261225-3000-C";

/// An option's premium may be anywhere in (0, 2 x the underlying), so buying back a short call
/// is "risk-reducing" at any premium. alice (6,000 USDC) is short 10 ETH-PERP and short 1 call
/// (sold at 250, worth 200): equity about 6,035 against IM 3,400. Her accomplice dave rests a
/// sale of the call at 5,990; buying it back there lowers her IM to the perp's 3,000 but hands
/// dave 5,790 of her equity: about 243 left against MM 1,500 on a 30,000 notional. Refused
/// (below IM after it, and her equity over IM would fall), nothing changed; a buy-back at 260
/// is accepted.
#[test]
fn buying_back_a_short_option_at_an_absurd_premium_cannot_hand_the_margin_to_an_accomplice() {
    let mut w = World::new(liquidation_config(model::LastResort::Socialise));
    for part in risk_model_parts(&common::call_model()) {
        w.op(part);
    }
    for (owner, amount) in [("alice", "6000"), ("bob", "100000"), ("carol", "100000"), ("dave", "1000")] {
        w.deposit(owner, "USDC", amount);
    }
    w.ok("carol", limit("carol/main", CALL, OrderSide::Buy, "250", "1"));
    w.ok("alice", limit("alice/main", CALL, OrderSide::Sell, "250", "1"));
    w.perp("bob", OrderSide::Buy, "10");
    w.perp("alice", OrderSide::Sell, "10");
    assert_eq!(w.qty("alice/main"), -10_000_000_000);
    let (equity, im, _) = margin_of(&mut w, "alice/main");
    assert!(equity >= im, "{equity} >= {im}");
    w.ok("dave", limit("dave/main", CALL, OrderSide::Sell, "5990", "1"));
    let error = refused_unchanged(&mut w, "alice", limit("alice/main", CALL, OrderSide::Buy, "5990", "1"));
    assert!(matches!(error, EngineError::InsufficientMargin { .. }), "{error:?}");
    w.ok("carol", limit("carol/main", CALL, OrderSide::Sell, "260", "1"));
    let outcome = w.send("alice", limit("alice/main", CALL, OrderSide::Buy, "260", "1"));
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    let (equity, im, _) = margin_of(&mut w, "alice/main");
    assert!(equity >= im, "{equity} >= {im}");
    w.check();
}

/// The perp gate priced an order at the oracle, not at its limit: alice (1,000 USDC) could buy
/// 3.3 ETH-PERP from her accomplice dave at the band's top, 3,150, as if at 3,000 (IM 990 of
/// 9,900 against equity 1,000 less the fee hold). Filled, she would hold equity 1,000 - 495 -
/// 5.2 = 499.8 under IM 990 (and near MM 495), and dave the 495. Refused with the gap counted
/// (`insufficient_margin`), nothing changed; 3 at 3,000 is accepted as before.
#[test]
fn a_perp_bought_above_the_index_pays_the_gap_in_the_margin_gate() {
    let mut w = World::new(liquidation_config(model::LastResort::Socialise));
    w.deposit("alice", "USDC", "1000");
    w.deposit("dave", "USDC", "100000");
    w.ok("dave", limit("dave/main", "ETH-PERP", OrderSide::Sell, "3150", "3.3"));
    let buy = limit("alice/main", "ETH-PERP", OrderSide::Buy, "3150", "3.3");
    let error = refused_unchanged(&mut w, "alice", buy);
    assert!(matches!(error, EngineError::InsufficientMargin { .. }), "{error:?}");
    w.ok("dave", with_id(limit("dave/main", "ETH-PERP", OrderSide::Sell, "3000", "3"), 9));
    let outcome = w.send("alice", limit("alice/main", "ETH-PERP", OrderSide::Buy, "3000", "3"));
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    let (equity, im, _) = margin_of(&mut w, "alice/main");
    assert!(equity >= im, "{equity} >= {im}");
    w.check();
}

/// Held: between the flag and the auction's bids, an account under liquidation moves nothing
/// out. alice (long 3, flagged at 2805, auction open) tries a transfer of 10 USDC to a sibling
/// and a withdrawal of 10: both refused `insufficient_free_collateral`, nothing changed; her
/// sibling then buys her long at the band's edge (a wash trade across sub-accounts): refused as
/// from any accomplice. The auction still has what it opened with.
#[test]
fn an_account_under_liquidation_cannot_move_collateral_out_before_its_auction() {
    let mut w = alice_long();
    w.op(Command::CreateAccount { owner: "alice".into(), sub: "side".into() });
    w.op(Command::Deposit {
        account: "alice/side".into(),
        asset: "USDC".into(),
        amount: "100000".into(),
        custodian: "ethereum".into(),
        external_ref: "0xalice-side".into(),
    });
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    let auctions = w.engine.liquidation_auctions();
    assert_eq!(auctions.len(), 1);
    let transfer = Command::Transfer { from: "alice/main".into(), to: "alice/side".into(), asset: "USDC".into(), amount: "10".into() };
    let withdrawal = Command::RequestWithdrawal {
        account: "alice/main".into(),
        asset: "USDC".into(),
        amount: "10".into(),
        custodian: "ethereum".into(),
        destination: "0xalice".into(),
        withdrawal_id: "w-alice-flagged".into(),
    };
    for command in [transfer, withdrawal] {
        let error = refused_unchanged(&mut w, "alice", command);
        assert!(matches!(error, EngineError::InsufficientFreeCollateral { .. }), "{error:?}");
    }
    w.ok("alice", limit("alice/side", "ETH-PERP", OrderSide::Buy, "2664.75", "3"));
    let error = refused_unchanged(&mut w, "alice", with_id(limit("alice/main", "ETH-PERP", OrderSide::Sell, "2664.75", "3"), 9));
    assert!(matches!(error, EngineError::ReduceOnlyAccount { .. } | EngineError::InsufficientMargin { .. }), "{error:?}");
    assert_eq!(w.engine.liquidation_auctions(), auctions);
    w.check();
}
