//! Liquidation in the engine, hand-computed (docs/liquidation.md, "In the engine").
//!
//! The model: one underlying (ETH, reference 3000), four equally likely scenarios with a 25%
//! tail, so IM is the worst scenario's loss: 300 USD per ETH held long or short at 3000, scaled
//! by price / 3000, i.e. 10% of the notional; MM is half of IM. USDC is worth 1 and risk-free.
//! Liquidation: chunks of 25%, no throttle below 100% unless a test says so, back to IM
//! (target 1), closing cost 0.5% penalty + 1% discount cap; auctions start at 0.5% discount,
//! grow 10 bps a second to the 1% cap and last 60 s; half the penalty goes to `@insurance`.

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::{Config, LastResort, LiquidationConfig, Role};

mod common;
use common::*;

fn opened(events: &[Event]) -> Vec<(u64, String, String, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AuctionOpened { auction_id, account, side, qty, mark, .. } => {
                Some((*auction_id, account.clone(), side.clone(), qty.clone(), mark.clone()))
            }
            _ => None,
        })
        .collect()
}

/// At 2805: equity 995.5 - 3 x 195 = 410.5 < MM 420.75 (IM 3 x 280.5 = 841.5). Closing cost of
/// the whole position 1.5% of 8415 = 126.225. After 25%: IM 631.125 > 410.5 - 31.55625; after
/// 50%: 420.75 > 347.3875; after 75%: IM 210.375 <= 410.5 - 94.66875 = 315.83125: three chunks,
/// 2.25 ETH for auction at the mark 2805.
#[test]
fn a_long_below_maintenance_is_partially_auctioned() {
    let mut w = alice_long();
    let events = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    let started = events.iter().find_map(|e| match e {
        Event::LiquidationStarted { account, equity, im, mm, target_reached, .. } => {
            Some((account.clone(), equity.clone(), im.clone(), mm.clone(), *target_reached))
        }
        _ => None,
    });
    assert_eq!(started, Some(("alice/main".into(), "410.5".into(), "841.5".into(), "420.75".into(), true)));
    assert_eq!(opened(&events), vec![(0, "alice/main".into(), "sell".into(), "2.25".into(), "2805".into())]);
    // The health flag came first, in the same command.
    let flag = events.iter().position(|e| matches!(e, Event::HealthChanged { to: Health::Liquidation, .. }));
    let auction = events.iter().position(|e| matches!(e, Event::AuctionOpened { .. }));
    assert!(flag < auction, "{events:?}");
    // Nothing more is opened while the auction runs.
    let again = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2804".into() });
    assert!(opened(&again).is_empty(), "{again:?}");
    w.check();
}

/// carol bids at once: discount 0.5%, price ceil(2805 x 0.995) = 2790.975. alice realises
/// 2.25 x (2790.975 - 3000) = -470.30625 and pays the penalty 0.5% of 2.25 x 2805 = 31.55625,
/// half (15.778125) to @insurance and half to carol: 995.5 - 470.30625 - 31.55625 = 493.6375.
#[test]
fn a_liquidator_fills_at_the_discounted_price() {
    let mut w = alice_long();
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    let refused = w.bid("carol", 0, "2.25", "2791");
    assert!(matches!(refused, Outcome::Rejected { error: EngineError::NotALiquidator { .. }, .. }), "{refused:?}");
    w.op(Command::RegisterLiquidator { account: "carol/main".into(), approved: true });
    let before = w.engine.books_hash();
    let low = w.bid("carol", 0, "2.25", "2790.97");
    assert!(matches!(low, Outcome::Rejected { error: EngineError::BidRefused { .. }, .. }), "{low:?}");
    assert_eq!(w.engine.books_hash(), before, "a refused bid changes nothing");
    let Outcome::Applied { events, .. } = w.bid("carol", 0, "2.25", "2791") else { panic!("the bid fills") };
    let filled = events.iter().find_map(|e| match e {
        Event::AuctionFilled { liquidator, qty, price, penalty, insurance_share, .. } => {
            Some((liquidator.clone(), qty.clone(), price.clone(), penalty.clone(), insurance_share.clone()))
        }
        _ => None,
    });
    assert_eq!(filled, Some(("carol/main".into(), "2.25".into(), "2790.975".into(), "31.55625".into(), "15.778125".into())));
    assert!(events.iter().any(|e| matches!(e, Event::LiquidationEnded { account, .. } if account == "alice/main")));
    assert_eq!(w.balance("alice/main", "USDC"), usdc("493.6375"));
    assert_eq!(w.balance("@insurance", "USDC"), usdc("15.778125"));
    assert_eq!(w.balance("carol/main", "USDC"), usdc("100015.778125"));
    assert_eq!((w.qty("alice/main"), w.qty("carol/main")), (750_000_000, 2_250_000_000));
    // alice: 0.75 long, equity 493.6375 - 0.75 x 195 = 347.3875 >= IM 210.375: healthy again.
    assert_eq!(w.engine.account_margin("alice/main").unwrap().equity_usd, "347.3875");
    assert!(w.engine.health_flags().is_empty(), "{:?}", w.engine.health_flags());
    assert!(w.engine.liquidation_auctions().is_empty());
    w.check();
}

/// No bid: 60 s later the house takes 2.25 over at the mark 2805: alice realises
/// 2.25 x (2805 - 3000) = -438.75 and pays the same penalty, half of it to the house.
#[test]
fn the_house_takes_over_after_the_auction() {
    let mut w = alice_long();
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    w.op(Command::RegisterLiquidator { account: "carol/main".into(), approved: true });
    let events = w.op(Command::AdvanceTime { now_ms: START + 60_000 });
    let takeover = events.iter().find_map(|e| match e {
        Event::AuctionHouseTakeover { qty, price, penalty, .. } => Some((qty.clone(), price.clone(), penalty.clone())),
        _ => None,
    });
    assert_eq!(takeover, Some(("2.25".into(), "2805".into(), "31.55625".into())));
    assert_eq!(w.balance("alice/main", "USDC"), usdc("525.19375"));
    assert_eq!(w.balance("@insurance", "USDC"), usdc("15.778125"));
    assert_eq!(w.qty("@house"), 2_250_000_000);
    let late = w.bid("carol", 0, "1", "2900");
    assert!(matches!(late, Outcome::Rejected { error: EngineError::UnknownAuction { auction_id: 0 }, .. }), "{late:?}");
    w.check();
}

/// Every refused bid is a typed error and changes nothing.
#[test]
fn bids_are_attacked() {
    let mut w = alice_long();
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    w.op(Command::RegisterLiquidator { account: "carol/main".into(), approved: true });
    w.op(Command::RegisterLiquidator { account: "alice/main".into(), approved: true });
    w.op(Command::CreateAccount { owner: "alice".into(), sub: "other".into() });
    w.op(Command::RegisterLiquidator { account: "alice/other".into(), approved: true });
    let before = w.engine.books_hash();
    let own = w.bid("alice", 0, "1", "2800");
    assert!(matches!(own, Outcome::Rejected { error: EngineError::OwnLiquidation { .. }, .. }), "{own:?}");
    let own_sub = w.send(
        "alice",
        Command::BidLiquidation { auction_id: 0, account: "alice/other".into(), qty: "1".into(), limit_price: "2800".into() },
    );
    assert!(matches!(own_sub, Outcome::Rejected { error: EngineError::OwnLiquidation { .. }, .. }), "{own_sub:?}");
    let zero = w.bid("carol", 0, "0", "2800");
    assert!(matches!(zero, Outcome::Rejected { error: EngineError::NonPositiveAmount { .. }, .. }), "{zero:?}");
    let oversized = w.bid("carol", 0, "2.26", "2800");
    assert!(matches!(oversized, Outcome::Rejected { error: EngineError::BidQuantityTooLarge { .. }, .. }), "{oversized:?}");
    let below = w.bid("carol", 0, "1", "2790");
    assert!(matches!(below, Outcome::Rejected { error: EngineError::BidRefused { .. }, .. }), "{below:?}");
    let unknown = w.bid("carol", 7, "1", "2800");
    assert!(matches!(unknown, Outcome::Rejected { error: EngineError::UnknownAuction { auction_id: 7 }, .. }), "{unknown:?}");
    let foreign =
        w.send("bob", Command::BidLiquidation { auction_id: 0, account: "carol/main".into(), qty: "1".into(), limit_price: "2800".into() });
    assert!(matches!(foreign, Outcome::Refused { .. }), "{foreign:?}");
    let unregistered = w.bid("dave", 0, "1", "2800");
    assert!(matches!(unregistered, Outcome::Rejected { error: EngineError::NotALiquidator { .. }, .. }), "{unregistered:?}");
    // bob may not register a liquidator: an operator's command.
    let by_owner = w.send("bob", Command::RegisterLiquidator { account: "bob/main".into(), approved: true });
    assert!(matches!(by_owner, Outcome::Refused { .. }), "{by_owner:?}");
    assert_eq!(w.engine.books_hash(), before, "nothing changed");
    // A bid above the current price fills at the current price (the limit is a bound).
    let Outcome::Applied { events, .. } = w.bid("carol", 0, "1", "2900") else { panic!("fills") };
    assert!(events.iter().any(|e| matches!(e, Event::AuctionFilled { price, .. } if price == "2790.975")), "{events:?}");
    // After the end: the auction is the house's, a bid is refused.
    w.op(Command::AdvanceTime { now_ms: START + 59_999 });
    let open = w.engine.liquidation_auctions();
    assert_eq!((open.len(), open[0].qty_left.as_str(), open[0].price_now.as_str()), (1, "1.25", "2776.95"));
    w.check();
}

/// Reduce-only below IM: an account between MM and IM cannot withdraw.
#[test]
fn reduce_only_accounts_cannot_withdraw() {
    let mut w = alice_long();
    // At 2900: equity 995.5 - 300 = 695.5, IM 870, MM 435: reduce-only.
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2900".into() });
    assert_eq!(w.engine.health_flags(), vec![("alice/main".to_string(), Health::ReduceOnly)]);
    let withdrawal = Command::RequestWithdrawal {
        account: "alice/main".into(),
        asset: "USDC".into(),
        amount: "1".into(),
        custodian: "ethereum".into(),
        destination: "0xalice".into(),
        withdrawal_id: "w1".into(),
    };
    let outcome = w.send("alice", withdrawal);
    assert!(matches!(outcome, Outcome::Rejected { error: EngineError::InsufficientFreeCollateral { .. }, .. }), "{outcome:?}");
    assert!(w.engine.liquidation_auctions().is_empty(), "reduce-only is not liquidated");
}

/// Two longs crash from 3000 to 2500 (see the module doc of `waterfall`): dave (1800 USDC) is
/// partially taken over and stays solvent; alice (1000 USDC, and 0.1 ETH deposited while her
/// auction runs) is closed in full at
/// 2500 and owes 1500 + 37.5 - 995.5 = 542. Its waterfall: collateral 0.1 ETH x 2500 = 250,
/// penalty 18.75 (her insurance share), insurance fund 14.0625 (dave's), broker capital 32.8125
/// (the house's penalty shares), and 226.375 last.
fn crash(last_resort: LastResort) -> (World, Vec<Event>) {
    let mut w = World::new(liquidation_config(last_resort));
    w.deposit("bob", "USDC", "100000");
    w.deposit("alice", "USDC", "1000");
    w.deposit("dave", "USDC", "1800");
    w.perp("bob", OrderSide::Sell, "6");
    w.perp("alice", OrderSide::Buy, "3");
    w.perp("dave", OrderSide::Buy, "3");
    let events = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2500".into() });
    // The ETH arrives while the auctions run: the liquidation did not sell it (a token held
    // when it starts is sold with the penalty), so the waterfall's first step does.
    w.deposit("alice", "ETH", "0.1");
    // dave: equity 295.5, IM 750: closing 75% reaches IM (187.5 <= 295.5 - 84.375); alice: all.
    let mut auctions = opened(&events);
    auctions.sort();
    assert_eq!(
        auctions,
        vec![
            (0, "alice/main".into(), "sell".into(), "3".into(), "2500".into()),
            (1, "dave/main".into(), "sell".into(), "2.25".into(), "2500".into())
        ]
    );
    let events = w.op(Command::AdvanceTime { now_ms: START + 60_000 });
    (w, events)
}

fn steps(events: &[Event]) -> Vec<(String, String)> {
    waterfall_steps(events, "alice/main")
}

#[test]
fn bankruptcy_runs_every_waterfall_step_socialised() {
    let (mut w, events) = crash(LastResort::Socialise);
    let expected: Vec<(String, String)> = [
        ("collateral", "250"),
        ("penalty", "18.75"),
        ("insurance_fund", "14.0625"),
        ("broker_capital", "32.8125"),
        ("socialised", "226.375"),
    ]
    .iter()
    .map(|(s, a)| (s.to_string(), a.to_string()))
    .collect();
    assert_eq!(steps(&events), expected, "{events:?}");
    // The clearing account advances the loss at once and raises the market's socialised-loss
    // index by ceil(226.375 x 10^9 x 10^12 / 6.75 x 10^9) per whole ETH; the holders bear it pro
    // rata to |position| (bob 6, dave 0.75 of 6.75), rounded up, as their positions settle (here
    // by the sweep of the same command): 201.222223 and 25.152778, one unit of residue left in
    // the clearing account.
    let shares: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Socialised { holder, amount, .. } => Some((holder.clone(), amount.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(shares, vec![("@clearing/ETH-PERP".into(), "226.375".into())]);
    let charged: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Settled { account, amount, reason, .. } if reason == "socialised" => Some((account.clone(), amount.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(charged, vec![("bob/main".into(), "-201.222223".into()), ("dave/main".into(), "-25.152778".into())]);
    assert_eq!(w.engine.debt("alice/main", "USDC").unwrap(), 0);
    assert_eq!(w.balance("alice/main", "ETH"), 0);
    assert_eq!(w.balance("@house", "ETH"), units("0.1", 18));
    assert_eq!(w.balance("@insurance", "USDC"), 0);
    // dave: 1795.5 - 2.25 x 500 - 28.125 penalty - 25.152778 share.
    assert_eq!(w.balance("dave/main", "USDC"), usdc("1795.5") - usdc("1125") - usdc("28.125") - usdc("25.152778"));
    w.check();
}

#[test]
fn bankruptcy_deleverages_the_most_profitable_opposite_positions() {
    let (mut w, events) = crash(LastResort::Adl);
    let last = steps(&events).pop();
    assert_eq!(last, Some(("deleveraged".into(), "226.375".into())));
    // The bankrupt position is what the house took over on alice's side: alice's 3 and dave's
    // 2.25 long at 2500. The only opposite (short) position is bob's 6, 3000 in profit at 2500:
    // it closes 5.25 of them at the bankrupt price 2500 + 226.375 / 5.25 = 2543.1190476...
    // (rounded away from the index in 18 decimals, shown to 6), paying all 226.375.
    let adl: Vec<(String, String, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Deleveraged { holder, amount, qty, price, .. } => Some((holder.clone(), amount.clone(), qty.clone(), price.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(adl, vec![("bob/main".into(), "226.375".into(), "5.25".into(), "2543.119047".into())]);
    // bob's short shrinks by 5.25 and the house's long is closed: open interest falls from 6
    // to 0.75 a side.
    assert_eq!(w.qty("bob/main"), -750_000_000);
    assert_eq!(w.qty("@house"), 0);
    assert_eq!((w.qty("alice/main"), w.qty("dave/main")), (0, 750_000_000));
    // bob: 100000 deposited, 5.25 x 500 realised on the close at the index, less the share.
    assert_eq!(w.balance("bob/main", "USDC"), usdc("100000") + usdc("2625") - usdc("226.375"));
    w.check();
}

/// The same commands in a fresh engine give the same state hash.
#[test]
fn liquidation_replays_to_the_same_hash() {
    let (mut a, _) = crash(LastResort::Socialise);
    let (mut b, _) = crash(LastResort::Socialise);
    assert_eq!(a.engine.state_hash(), b.engine.state_hash());
    let (mut c, _) = crash(LastResort::Adl);
    assert_ne!(a.engine.state_hash(), c.engine.state_hash(), "the configuration is in the state");
}

#[test]
fn the_configuration_is_validated() {
    let mut config = StateConfig::from_model(&Config::default_config());
    for bad in [
        LiquidationConfig { cap_bps: 10_000, ..liquidation_config(LastResort::Adl) },
        LiquidationConfig { start_discount_bps: 200, ..liquidation_config(LastResort::Adl) },
        LiquidationConfig { step_ppm: 0, ..liquidation_config(LastResort::Adl) },
        LiquidationConfig { target_ppm: 500_000, ..liquidation_config(LastResort::Adl) },
        LiquidationConfig { accounts_per_command_max: 0, ..liquidation_config(LastResort::Adl) },
        LiquidationConfig { duration_ms: 0, ..liquidation_config(LastResort::Adl) },
        LiquidationConfig { insurance_fee_ppm: Some(1_000_001), ..liquidation_config(LastResort::Adl) },
    ] {
        config.liquidation = Some(bad.clone());
        assert!(matches!(Engine::with_genesis(config.clone()), Err(EngineError::ConfigRefused { .. })), "{bad:?}");
    }
}

/// Random books and price paths (a proptest): bob, dave and erin trade ETH-PERP and the 3000
/// call against alice (a market maker) at 3000 and 200 from random deposits, then ETH moves along
/// a random path, the model is re-priced (the call's value and its loss on a rise) while time
/// passes and carol (a liquidator) bids on whatever is open. After every command: conservation
/// and every invariant; every account with perps below MM has an open auction; an account with
/// options only is not left below MM (they close at once); no account without perps, options or
/// auctions is left with negative equity (its deficit went through the waterfall) or a debt;
/// every `waterfall_step` is of an account that ends with no debt; a liquidation never raises
/// the account's IM above what it was when it started (the same command, the same prices). The
/// whole run replays to the same hash in a fresh engine.
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Price(u32),
        Wait(u64),
        Bid(u64, u8, u32),
        /// The call re-priced: its value in USD (its loss held short on a rise is twice that).
        Model(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (1500u32..4500).prop_map(Step::Price),
            2 => (1u64..90).prop_map(|s| Step::Wait(s * 1_000)),
            2 => (0u64..6, 1u8..=4, 0u32..200).prop_map(|(id, quarter, over)| Step::Bid(id, quarter, over)),
            1 => (20i64..1500).prop_map(Step::Model),
        ]
    }

    fn book() -> impl Strategy<Value = Vec<(u32, i8, u8, i8)>> {
        // Per trader (bob, dave, erin): USDC deposit (hundreds), side, size in ETH, calls held
        // (negative: sold).
        proptest::collection::vec((4u32..40, prop_oneof![Just(1i8), Just(-1i8)], 1u8..4, -2i8..=2), 3)
    }

    fn call_model(call_usd: i64) -> margin_core::RiskModel {
        option_model("3000", call_usd, [-call_usd / 2, 2 * call_usd])
    }

    fn setup(last_resort: LastResort, book: &[(u32, i8, u8, i8)]) -> World {
        let mut w = World::new(liquidation_config(last_resort));
        install(&mut w, &call_model(200));
        w.op(Command::RegisterPrincipal { name: "erin".into(), role: Role::Owner });
        w.op(Command::CreateAccount { owner: "erin".into(), sub: "main".into() });
        w.deposit("carol", "USDC", "1000000");
        w.op(Command::RegisterLiquidator { account: "carol/main".into(), approved: true });
        // A market maker (alice, rich) takes the other side of every trader's position.
        w.deposit("alice", "USDC", "1000000");
        for (owner, (hundreds, side, size, calls)) in ["bob", "dave", "erin"].iter().zip(book) {
            w.deposit(owner, "USDC", &(u64::from(*hundreds) * 100).to_string());
            trade_calls(&mut w, owner, *calls);
            let (maker, taker) = if *side > 0 { (OrderSide::Sell, OrderSide::Buy) } else { (OrderSide::Buy, OrderSide::Sell) };
            let qty = size.to_string();
            w.perp("alice", maker, &qty);
            let command = Command::PlaceOrder {
                account: format!("{owner}/main"),
                market: "ETH-PERP".into(),
                client_order_id: 1,
                side: taker,
                kind: OrderKind::Limit,
                price: Some("3000".into()),
                qty: qty.clone(),
            };
            // A book the margin gate refuses is simply smaller: the order is rejected, its maker
            // order is cancelled again.
            if !matches!(w.send(owner, command), Outcome::Applied { .. }) {
                w.op(Command::CancelAllOrders { account: "alice/main".into(), market: "ETH-PERP".into() });
            }
        }
        w
    }

    /// The trader buys (`calls > 0`) or sells calls at 200 against alice; a refused order is
    /// cancelled on alice's side.
    fn trade_calls(w: &mut World, owner: &str, calls: i8) {
        if calls == 0 {
            return;
        }
        let (maker, taker) = if calls > 0 { (OrderSide::Sell, OrderSide::Buy) } else { (OrderSide::Buy, OrderSide::Sell) };
        let qty = calls.unsigned_abs().to_string();
        option_order(w, "alice", maker, &qty, "200");
        let command = Command::PlaceOrder {
            account: format!("{owner}/main"),
            market: "ETH-20261225-3000-C".into(),
            client_order_id: 2,
            side: taker,
            kind: OrderKind::Limit,
            price: Some("200".into()),
            qty,
        };
        if !matches!(w.send(owner, command), Outcome::Applied { .. }) {
            w.op(Command::CancelAllOrders { account: "alice/main".into(), market: "ETH-20261225-3000-C".into() });
        }
    }

    /// The commands of one step (a model is installed in parts).
    fn commands(w: &World, step: &Step) -> Vec<(String, Command)> {
        match step {
            Step::Model(v) => risk_model_parts(&call_model(*v)).into_iter().map(|c| (SYSTEM_PRINCIPAL.to_string(), c)).collect(),
            other => vec![command(w, other)],
        }
    }

    fn command(w: &World, step: &Step) -> (String, Command) {
        match step {
            Step::Model(_) => unreachable!("a model is installed by `commands`"),
            Step::Price(p) => (SYSTEM_PRINCIPAL.into(), Command::SetPrice { symbol: "ETH".into(), price_usd: p.to_string() }),
            Step::Wait(ms) => (SYSTEM_PRINCIPAL.into(), Command::AdvanceTime { now_ms: w.engine.now_ms() + ms }),
            Step::Bid(id, quarter, over) => {
                let open = w.engine.liquidation_auctions();
                let auction = open.iter().find(|a| a.auction_id == *id);
                let (qty, limit) = match auction {
                    Some(a) => {
                        let left = units(&a.qty_left, 9);
                        let qty = (left * i128::from(*quarter) / 4).max(1_000_000);
                        let mark = units(&a.mark, 6);
                        let limit =
                            if a.side == "sell" { mark + i128::from(*over) * 1_000_000 } else { mark - i128::from(*over) * 1_000_000 };
                        (
                            money::format_decimal(qty, money::Scale::new(9).unwrap()),
                            money::format_decimal(limit.max(1), money::Scale::new(6).unwrap()),
                        )
                    }
                    None => ("1".into(), "3000".into()),
                };
                let bid = Command::BidLiquidation { auction_id: *id, account: "carol/main".into(), qty, limit_price: limit };
                ("carol".into(), bid)
            }
        }
    }

    fn check_after(w: &mut World, events: &[Event]) -> Result<(), TestCaseError> {
        w.engine.check_invariants().map_err(TestCaseError::fail)?;
        let auctions = w.engine.liquidation_auctions();
        for owner in ["alice", "bob", "dave", "erin"] {
            let account = format!("{owner}/main");
            let margin = w.engine.account_margin(&account).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let equity = units(&margin.equity_usd, 18);
            let mm = units(&margin.maintenance_usd, 18);
            let has_perps = w.qty(&account) != 0;
            let has_options = option_qty(w, &account) != 0;
            let auctioned = auctions.iter().any(|a| a.account == account);
            if has_perps && equity < mm {
                prop_assert!(auctioned, "{account} below MM ({equity} < {mm}) without an auction: {events:?}");
            }
            if has_options && !has_perps && owner != "alice" {
                prop_assert!(equity >= mm, "{account} with options only below MM ({equity} < {mm}): {events:?}");
            }
            if !has_perps && !has_options && !auctioned {
                prop_assert!(equity >= 0, "{account} left with negative equity {equity}: {events:?}");
                prop_assert_eq!(w.engine.debt(&account, "USDC").unwrap(), 0, "{} left with a debt", account);
            }
        }
        for e in events {
            if let Event::WaterfallStep { account, .. } = e {
                prop_assert_eq!(w.engine.debt(account, "USDC").unwrap(), 0);
            }
            if let Event::LiquidationStarted { account, im, .. } = e {
                let after = w.engine.account_margin(account).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let (before, after) = (units(im, 18), units(&after.initial_usd, 18));
                prop_assert!(after <= before, "{account}'s liquidation raised IM from {before} to {after}: {events:?}");
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn random_paths(book in book(), steps in proptest::collection::vec(step(), 1..40), adl in any::<bool>()) {
            let last_resort = if adl { LastResort::Adl } else { LastResort::Socialise };
            let mut w = setup(last_resort, &book);
            let mut sent = Vec::new();
            for s in &steps {
                for (client, command) in commands(&w, s) {
                    let outcome = w.send(&client, command.clone());
                    sent.push((client, command));
                    let events = match outcome {
                        Outcome::Applied { events, .. } => events,
                        _ => Vec::new(),
                    };
                    check_after(&mut w, &events)?;
                }
            }
            let mut replay = setup(last_resort, &book);
            for (client, command) in sent {
                replay.send(&client, command);
            }
            prop_assert_eq!(replay.engine.state_hash(), w.engine.state_hash());
            w.check();
        }
    }
}

/// Cover-2 at 2900 (alice reduce-only): in scenario 0 (ETH -10%) alice's long loses
/// 3 x 300 x 2900 / 3000 = 870 against an equity of 995.5 - 300 = 695.5: 174.5 uncovered; bob's
/// short loses only in scenario 1 and is covered. No fund, no capital: the shortfall is 174.5,
/// all of it charged to alice.
#[test]
fn cover2_finds_the_uncovered_default() {
    let mut w = alice_long();
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2900".into() });
    let report = w.engine.cover2_report().unwrap();
    assert_eq!(report.scenario, Some(0));
    assert_eq!(report.defaulters, vec![("alice".to_string(), "174.5".to_string())]);
    assert_eq!((report.cover2_usd.as_str(), report.requirement_usd.as_str()), ("174.5", "174.5"));
    assert_eq!((report.insurance_fund_usd.as_str(), report.broker_capital_usd.as_str()), ("0", "0"));
    assert_eq!(report.shortfall_usd, "174.5");
    assert_eq!(report.add_ons, vec![("alice".to_string(), "174.5".to_string())]);
    assert_eq!(report.largest_protocol, None);
}

/// More flagged accounts than `accounts_per_command_max` are taken round robin, one per command
/// here: alice (a basis of spot ETH and a perp short, lower index) first, both her legs closed
/// together through the house in that command (before, the basis waited for its token leg and
/// the account stayed flagged); dave (perp only) at the next command.
#[test]
fn flagged_accounts_are_taken_round_robin_and_a_basis_no_longer_waits() {
    let mut w = World::new(LiquidationConfig { accounts_per_command_max: 1, ..liquidation_config(LastResort::Socialise) });
    w.deposit("alice", "ETH", "1");
    w.deposit("alice", "USDC", "500");
    w.deposit("bob", "USDC", "100000");
    w.deposit("dave", "USDC", "400");
    // alice rests a sell of 3 that bob takes: spot long 1, perp short 3; dave the same with 1.
    w.perp("alice", OrderSide::Sell, "3");
    w.perp("bob", OrderSide::Buy, "3");
    w.perp("dave", OrderSide::Sell, "1");
    w.perp("bob", OrderSide::Buy, "1");
    // At 4800 alice's equity is at most 500 + 4800 - 3 x 1800 = -100 < MM (net short 2: 2 x 480 / 2)
    // and dave's at most 400 - 1800 < 0: both flagged.
    let first = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "4800".into() });
    let flagged = |events: &[Event], who: &str| {
        events.iter().any(|e| matches!(e, Event::HealthChanged { account, to: Health::Liquidation, .. } if account == who))
    };
    assert!(flagged(&first, "alice/main") && flagged(&first, "dave/main"), "{first:?}");
    let auctioned = |events: &[Event], who: &str| opened(events).iter().any(|o| o.1 == who);
    assert!(auctioned(&first, "alice/main") && !auctioned(&first, "dave/main"), "alice, first in index order, only: {first:?}");
    let sold = first.iter().any(|e| matches!(e, Event::TokenLegTakenOver { account, qty, .. } if account == "alice/main" && qty == "1"));
    assert!(sold, "{first:?}");
    assert_eq!((w.balance("alice/main", "ETH"), w.qty("alice/main")), (0, 0), "both legs of the basis closed together");
    let second = w.op(Command::AdvanceTime { now_ms: START + 1_000 });
    assert!(auctioned(&second, "dave/main"), "{second:?}");
    assert!(w.engine.liquidation_auctions().iter().all(|a| a.account == "dave/main"));
    w.check();
}

/// One account's liquidation at its worst no longer grows with the holders of the perp markets
/// (a socialised loss moves one index per market): the liquidation bound is the same at one
/// position as at the most the markets may allow, and with liquidation on the sum of the
/// markets' `positions_max` is accepted up to [`limits::POSITIONS_TOTAL_MAX`] and refused one
/// above (the snapshot's bound on positions).
#[test]
fn a_liquidation_bound_does_not_grow_with_the_holders() {
    let config_with = |perp_positions: u32| {
        let mut config = StateConfig::from_model(&Config::default_config());
        config.liquidation = Some(liquidation_config(LastResort::Socialise));
        let others: u32 = config.markets.iter().filter(|m| m.id != "ETH-PERP").filter_map(|m| m.positions_max).sum();
        let perp = config.markets.iter_mut().find(|m| m.id == "ETH-PERP").unwrap();
        perp.positions_max = Some(perp_positions - others);
        config
    };
    let bound = |total: u32| {
        let config = config_with(total);
        let markets: Vec<&model::Market> = config.markets.iter().collect();
        limits::liquidation_account_bytes(&markets, config.limits.assets_max.into())
    };
    let edge = limits::POSITIONS_TOTAL_MAX as u32;
    assert_eq!(bound(30_000), bound(edge));
    let e = Engine::with_genesis(config_with(edge)).unwrap_or_else(|e| panic!("at {edge}: {e:?}"));
    assert!(e.config().markets.iter().any(|m| m.id == "ETH-PERP" && m.positions_max >= Some(10_000)));
    let Err(error) = Engine::with_genesis(config_with(edge + 1)) else { panic!("one more position fits") };
    assert!(matches!(&error, EngineError::ConfigRefused { .. }), "{error:?}");
}

/// The operator tops the fund up from the house's capital: in full up to that capital, refused
/// (nothing moved) one unit beyond it.
#[test]
fn the_operator_funds_the_insurance_fund_from_house_capital() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    let before = w.engine.books_hash();
    let refused = w.send(SYSTEM_PRINCIPAL, Command::FundInsurance { asset: "USDC".into(), amount: "1".into() });
    assert!(
        matches!(&refused, Outcome::Rejected { error: EngineError::InsufficientBalance { needed, available, .. }, .. } if needed == "1" && available == "0"),
        "{refused:?}"
    );
    assert_eq!(w.engine.books_hash(), before, "a refused top-up changes nothing");
    // After the crash the house holds alice's 0.1 ETH bought in the collateral step (and no
    // USDC: its penalty shares went to the broker-capital step).
    let (mut w, _) = crash(LastResort::Socialise);
    assert_eq!(w.balance("@house", "ETH"), units("0.1", 18));
    let over = w.send(SYSTEM_PRINCIPAL, Command::FundInsurance { asset: "ETH".into(), amount: "0.100000000000000001".into() });
    assert!(matches!(over, Outcome::Rejected { error: EngineError::InsufficientBalance { .. }, .. }), "{over:?}");
    let owner = w.send("bob", Command::FundInsurance { asset: "ETH".into(), amount: "0.1".into() });
    assert!(matches!(owner, Outcome::Refused { error: EngineError::Unauthorized { .. } }), "{owner:?}");
    let events = w.op(Command::FundInsurance { asset: "ETH".into(), amount: "0.1".into() });
    assert!(events.iter().any(|e| matches!(e, Event::Transferred { debit, credit, amount, .. } if debit == "@house" && credit == "@insurance" && amount == "0.1")), "{events:?}");
    assert_eq!((w.balance("@house", "ETH"), w.balance("@insurance", "ETH")), (0, units("0.1", 18)));
    w.check();
}

fn venue_command(kind: &str, venue: &str, asset: &str, amount: &str) -> Command {
    let (venue, asset, amount) = (venue.to_string(), asset.to_string(), amount.to_string());
    match kind {
        "fund" => Command::VenueFund { venue, asset, amount, custodian: "ethereum".into() },
        "defund" => Command::VenueDefund { venue, asset, amount, custodian: "ethereum".into() },
        _ => Command::VenueSettled { venue, asset, balance: amount, liquidated: true, external_ref: kind.into() },
    }
}

/// The rejection's error, after checking that it changed nothing.
fn venue_refused(w: &mut World, command: Command) -> EngineError {
    let before = w.engine.books_hash();
    let outcome = w.send(SYSTEM_PRINCIPAL, command);
    assert_eq!(w.engine.books_hash(), before, "a refused venue command changes nothing");
    match outcome {
        Outcome::Rejected { error, .. } => error,
        other => panic!("{other:?}"),
    }
}

/// After the crash `@house` holds 0.1 ETH at the `ethereum` custodian. The operator posts 0.04
/// at `gmx`: `@house` 0.06, `@house/gmx` 0.04, the coins from `@custody/ethereum` (-0.1 to
/// -0.06) to `@custody/gmx` (0 to -0.04). gmx liquidates the leg and reports 0.03 left (it
/// kept 0.01): `@house/gmx` 0.03, `@custody/gmx` -0.03, the house's capital 0.06 + 0.03 = 0.09
/// = 0.1 - 0.01. A realised gain of 0.005 and its loss again; the 0.03 comes back: `@house`
/// 0.09, `@custody/ethereum` -0.09. Every bad input is refused with nothing moved.
#[test]
fn the_house_funds_a_venue_and_bears_its_liquidation_on_the_ledger() {
    let (mut w, _) = crash(LastResort::Socialise);
    let eth = |x: &str| units(x, 18);
    assert_eq!((w.balance("@house", "ETH"), w.balance("@custody/ethereum", "ETH")), (eth("0.1"), -eth("0.1")));
    let unknown = venue_refused(&mut w, venue_command("fund", "nowhere", "ETH", "0.01"));
    assert!(matches!(&unknown, EngineError::UnknownCustodian { custodian } if custodian == "nowhere"), "{unknown:?}");
    let not_held = venue_refused(&mut w, venue_command("fund", "dydx", "ETH", "0.01"));
    assert!(matches!(not_held, EngineError::AssetNotAtCustodian { .. }), "{not_held:?}");
    let asset = venue_refused(&mut w, venue_command("fund", "gmx", "DOGE", "0.01"));
    assert!(matches!(asset, EngineError::UnknownAsset { .. }), "{asset:?}");
    assert!(matches!(venue_refused(&mut w, venue_command("fund", "gmx", "ETH", "0")), EngineError::NonPositiveAmount { .. }));
    assert!(matches!(venue_refused(&mut w, venue_command("fund", "gmx", "ETH", "1.2.3")), EngineError::MalformedAmount { .. }));
    let itself = Command::VenueFund { venue: "gmx".into(), asset: "ETH".into(), amount: "0.01".into(), custodian: "gmx".into() };
    assert!(matches!(venue_refused(&mut w, itself), EngineError::VenueRefused { .. }));
    let over = venue_refused(&mut w, venue_command("fund", "gmx", "ETH", "0.100000000000000001"));
    assert!(
        matches!(&over, EngineError::InsufficientBalance { account, needed, available, .. } if account == "@house" && needed == "0.100000000000000001" && available == "0.1"),
        "{over:?}"
    );
    let owner = w.send("bob", venue_command("fund", "gmx", "ETH", "0.04"));
    assert!(matches!(owner, Outcome::Refused { error: EngineError::Unauthorized { .. } }), "{owner:?}");

    let events = w.op(venue_command("fund", "gmx", "ETH", "0.04"));
    let changed = Event::VenueCollateralChanged {
        venue: "gmx".into(),
        asset: "ETH".into(),
        action: "fund".into(),
        amount: "0.04".into(),
        posted: "0.04".into(),
    };
    assert!(events.contains(&changed), "{events:?}");
    let book = |w: &World| ["@house", "@house/gmx", "@custody/ethereum", "@custody/gmx"].map(|a| w.balance(a, "ETH"));
    assert_eq!(book(&w), [eth("0.06"), eth("0.04"), -eth("0.06"), -eth("0.04")]);
    assert_eq!(w.engine.venue_collateral("gmx", "ETH").unwrap(), eth("0.04"));
    assert_eq!(w.engine.venue_collateral("dydx", "USDC").unwrap(), 0, "no funding, nothing posted");

    let negative = venue_refused(&mut w, venue_command("gmx-liq-1", "gmx", "ETH", "-0.01"));
    assert!(matches!(negative, EngineError::MalformedAmount { .. }), "{negative:?}");
    let never = venue_refused(&mut w, venue_command("dydx-1", "dydx", "USDC", "1"));
    assert!(matches!(&never, EngineError::InsufficientBalance { account, .. } if account == "@house/dydx"), "{never:?}");
    let events = w.op(venue_command("gmx-liq-1", "gmx", "ETH", "0.03"));
    let loss = events.iter().any(|e| {
        matches!(e, Event::Transferred { debit, credit, amount, reason, .. }
        if debit == "@house/gmx" && credit == "@custody/gmx" && amount == "0.01" && *reason == ledger::Reason::VenueLiquidation)
    });
    assert!(loss, "{events:?}");
    assert_eq!(book(&w), [eth("0.06"), eth("0.03"), -eth("0.06"), -eth("0.03")]);
    let again = venue_refused(&mut w, venue_command("gmx-liq-1", "gmx", "ETH", "0.02"));
    assert!(matches!(again, EngineError::DuplicateReference { .. }), "{again:?}");
    // A gain the venue realised comes onto the ledger the other way: 0.03 reported as 0.035.
    let gain = Command::VenueSettled {
        venue: "gmx".into(),
        asset: "ETH".into(),
        balance: "0.035".into(),
        liquidated: false,
        external_ref: "gmx-pnl-1".into(),
    };
    w.op(gain);
    assert_eq!(book(&w), [eth("0.06"), eth("0.035"), -eth("0.06"), -eth("0.035")]);
    let loss = Command::VenueSettled {
        venue: "gmx".into(),
        asset: "ETH".into(),
        balance: "0.03".into(),
        liquidated: false,
        external_ref: "gmx-pnl-2".into(),
    };
    w.op(loss);

    let more = venue_refused(&mut w, venue_command("defund", "gmx", "ETH", "0.030000000000000001"));
    assert!(matches!(&more, EngineError::InsufficientBalance { account, available, .. } if account == "@house/gmx" && available == "0.03"));
    w.op(venue_command("defund", "gmx", "ETH", "0.03"));
    assert_eq!(book(&w), [eth("0.09"), 0, -eth("0.09"), 0]);
    // The broker's own capital comes in by a deposit of its own, credited to `@house`.
    let capital = |r: &str| Command::DepositHouseCapital {
        asset: "USDC".into(),
        amount: "1000".into(),
        custodian: "ethereum".into(),
        external_ref: r.into(),
    };
    let usdc_before = w.balance("@house", "USDC");
    w.op(capital("0xcapital-1"));
    assert_eq!(w.balance("@house", "USDC") - usdc_before, usdc("1000"));
    assert!(matches!(venue_refused(&mut w, capital("0xcapital-1")), EngineError::DuplicateReference { .. }));
    w.check();
}

/// With `insurance_fee_ppm` = 333,333 every fill moves a third of its net fee, rounded up, from
/// `@fees` to `@insurance`. alice takes bob's 3 at 3000 on ETH-PERP: notional 9,000, taker fee
/// 5 bps = 4.5 USDC, maker fee 0: the fund gets ceil(4,500,000 x 333,333 / 10^6) = 1,499,999
/// units = 1.499999 USDC (4,499,998.5 rounded up), `@fees` keeps 3.000001. Nothing is created.
#[test]
fn a_share_of_every_fee_funds_the_insurance_fund() {
    let config = LiquidationConfig { insurance_fee_ppm: Some(333_333), ..liquidation_config(LastResort::Socialise) };
    let mut w = World::new(config);
    w.deposit("bob", "USDC", "100000");
    w.deposit("alice", "USDC", "1000");
    w.perp("bob", OrderSide::Sell, "3");
    w.perp("alice", OrderSide::Buy, "3");
    assert_eq!(w.balance("alice/main", "USDC"), usdc("995.5"));
    assert_eq!(w.balance("@insurance", "USDC"), usdc("1.499999"));
    assert_eq!(w.balance("@fees", "USDC"), usdc("3.000001"));
    w.check();
}

/// A liquidator's bid is sized at its owner's totals. carol/two already holds 0.5 ETH-PERP
/// long; carol/bid (180 USDC, a liquidator) bids for 0.5 more at ETH 2805 (the notional moves
/// with the price). Alone, 0.5 (1,402.5 USD of notional) costs 10 + 30 x 0.4025 = 22.075 to
/// close: IM 0.5 x 280.5 + 22.075 = 162.325 <= 180, which the old per-account check allowed.
/// In the owner the 1 ETH (2,805 USD) costs 40 + 120 x 0.4025 = 88.3, half of it carol/bid's:
/// IM 140.25 + 44.15 = 184.4 > 180: refused, nothing moved.
#[test]
fn a_liquidator_bid_is_margined_at_its_owners_size() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    w.deposit("bob", "USDC", "100000");
    w.deposit("alice", "USDC", "1000");
    w.perp("bob", OrderSide::Sell, "3.5");
    w.perp("alice", OrderSide::Buy, "3");
    for sub in ["two", "bid"] {
        w.op(Command::CreateAccount { owner: "carol".into(), sub: sub.into() });
    }
    let deposit = |account: &str, amount: &str, n: u64| Command::Deposit {
        account: account.into(),
        asset: "USDC".into(),
        amount: amount.into(),
        custodian: "ethereum".into(),
        external_ref: format!("0xcarol-{n}"),
    };
    w.op(deposit("carol/two", "10000", 1));
    w.op(deposit("carol/bid", "180", 2));
    let buy = Command::PlaceOrder {
        account: "carol/two".into(),
        market: "ETH-PERP".into(),
        client_order_id: 7,
        side: OrderSide::Buy,
        kind: OrderKind::Limit,
        price: Some("3000".into()),
        qty: "0.5".into(),
    };
    w.ok("carol", buy);
    assert_eq!(w.qty("carol/two"), 500_000_000);
    // ETH falls to 2805 (alice's auction opens at that mark), then the model with the
    // close-out cost is installed.
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "2805".into() });
    for part in risk_model_parts(&model_with_perp_liquidity()) {
        w.op(part);
    }
    w.op(Command::RegisterLiquidator { account: "carol/bid".into(), approved: true });
    let auction = w.engine.liquidation_auctions().into_iter().find(|a| a.account == "alice/main").expect("alice is auctioned");
    let before = w.engine.books_hash();
    let bid = |qty: &str| Command::BidLiquidation {
        auction_id: auction.auction_id,
        account: "carol/bid".into(),
        qty: qty.into(),
        limit_price: "2791".into(),
    };
    let refused = w.send("carol", bid("0.5"));
    let expected =
        EngineError::InsufficientFreeCollateral { account: "carol/bid".into(), required: "184.4".into(), available: "180".into() };
    assert!(matches!(&refused, Outcome::Rejected { error, .. } if *error == expected), "{refused:?}");
    assert_eq!(w.engine.books_hash(), before);
    // Half of it fits: 0.25 in the owner's 0.75 (2,103.75 USD: 40 + 120 x 0.051875 = 46.225, a
    // third of it 15.408333...) and 0.25 x 280.5 = 70.125: IM about 85.53 <= 180.
    let outcome = w.send("carol", bid("0.25"));
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    assert_eq!(w.qty("carol/bid"), 250_000_000);
    w.check();
}

/// The token leg sold to the house in `events`: (asset, side, qty, price, value, penalty,
/// insurance share).
fn token_takeovers(events: &[Event]) -> Vec<[String; 7]> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TokenLegTakenOver { asset, side, qty, price, value, penalty, insurance_share, .. } => {
                Some([asset, side, qty, price, value, penalty, insurance_share].map(|s| s.clone()))
            }
            _ => None,
        })
        .collect()
}

/// An unbalanced basis: alice holds 1 ETH and 200 USDC and sells 2 ETH-PERP to bob at 3000
/// (taker fee 3): USDC 197, net short 1 ETH. At price P her equity is 197 + P + 2 (3000 - P) =
/// 6197 - P, IM 0.1 P and MM 0.05 P. At 5950: equity 247 < MM 297.5. The plan closes the basis
/// group (1 ETH, -2 ETH-PERP) in 25% chunks; equity - cost never reaches IM (cost 1.5% of
/// 17,850 = 267.75 in full), so every chunk is taken: the whole basis closes in this command.
/// The ETH leg to the house at 5950: value 5950, penalty 0.5% = 29.75 (14.875 to the fund);
/// the perp leg handed to the house at the mark 5950: realised 2 x (3000 - 5950) = -5900,
/// penalty 0.5% of 11,900 = 59.5 (29.75 to the fund). alice ends flat with
/// 197 + 5950 - 29.75 - 5900 - 59.5 = 157.75 USDC = 247 - 29.75 - 59.5. The house (empty before)
/// holds 1 ETH, short 2 ETH-PERP at 5950, and 14.875 + 29.75 - 5950 = -5905.375 USDC.
#[test]
fn a_basis_closes_both_legs_together_the_spot_leg_through_the_house() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    w.deposit("bob", "USDC", "100000");
    w.deposit("alice", "USDC", "200");
    w.deposit("alice", "ETH", "1");
    w.perp("bob", OrderSide::Buy, "2");
    w.perp("alice", OrderSide::Sell, "2");
    assert_eq!((w.balance("alice/main", "USDC"), w.qty("alice/main")), (usdc("197"), -2_000_000_000));
    let events = w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "5950".into() });
    let started = events.iter().find_map(|e| match e {
        Event::LiquidationStarted { equity, mm, .. } => Some((equity.clone(), mm.clone())),
        _ => None,
    });
    // (The model scales its losses by P / 3000 to 10^-9: MM is 297.49999995.)
    assert_eq!(started, Some(("247".into(), "297.49999995".into())), "{events:?}");
    assert_eq!(token_takeovers(&events), vec![["ETH", "sell", "1", "5950", "5950", "29.75", "14.875"].map(String::from)], "{events:?}");
    let takeover = events.iter().find_map(|e| match e {
        Event::AuctionHouseTakeover { qty, price, penalty, insurance_share, .. } => {
            Some([qty, price, penalty, insurance_share].map(|s| s.clone()))
        }
        _ => None,
    });
    assert_eq!(takeover, Some(["2", "5950", "59.5", "29.75"].map(String::from)));
    assert_eq!((w.balance("alice/main", "ETH"), w.qty("alice/main")), (0, 0), "both legs closed in one command");
    assert_eq!(w.balance("alice/main", "USDC"), usdc("157.75"));
    assert_eq!(w.balance("@insurance", "USDC"), usdc("44.625"));
    assert_eq!((w.balance("@house", "ETH"), w.qty("@house")), (units("1", 18), -2_000_000_000));
    assert_eq!(w.balance("@house", "USDC"), usdc("-5905.375"));
    assert!(w.engine.liquidation_auctions().is_empty());
    w.check();
}

/// The hand model with the 3000 call of 2026-12-25 (`ETH-20261225-3000-C`, a fixed array: its
/// P&L per call held long is -150 if ETH falls 10%, +400 if it rises) worth `call_usd`, at the
/// ETH reference `eth` (the delta-one arrays are 10% of it). A re-priced model (after a rise)
/// is the same with a higher reference, value and arrays.
fn option_model(eth: &str, call_usd: i64, call_pnl: [i64; 2]) -> margin_core::RiskModel {
    let micro = |x: i64| x * 1_000_000;
    let mut m = common::model();
    let reference = money::UsdPrice::parse(eth).unwrap();
    let tenth = i64::try_from(reference.0 / 10_i128.pow(13)).unwrap();
    m.underlyings[0].ref_price = reference;
    for a in m.instruments.iter_mut().take(2) {
        // ETH and the perp.
        a.pnl = vec![-tenth, tenth, 0, 0];
    }
    // Sorted by id: ETH, the call, the perp, USDC.
    let call = margin_core::InstrumentArray {
        id: "ETH-20261225-3000-C@clearhouse".into(),
        decimals: 9,
        scaling: margin_core::Scaling::Fixed,
        pnl: vec![micro(call_pnl[0]), micro(call_pnl[1]), 0, 0],
    };
    m.instruments.insert(1, call);
    let value = |v: i64| margin_core::InstrumentCharges { value_musd: v, notional_musd: v, ..Default::default() };
    m.charges = margin_core::ChargeTables {
        instruments: vec![value(tenth * 10), value(micro(call_usd)), value(0), value(micro(1))],
        ..Default::default()
    };
    m
}

fn install(w: &mut World, model: &margin_core::RiskModel) -> Vec<Event> {
    risk_model_parts(model).into_iter().flat_map(|part| w.op(part)).collect()
}

fn option_order(w: &mut World, owner: &str, side: OrderSide, qty: &str, price: &str) -> Vec<Event> {
    let command = Command::PlaceOrder {
        account: format!("{owner}/main"),
        market: "ETH-20261225-3000-C".into(),
        client_order_id: w.id,
        side,
        kind: OrderKind::Limit,
        price: Some(price.into()),
        qty: qty.into(),
    };
    w.ok(owner, command)
}

fn option_takeovers(events: &[Event]) -> Vec<[String; 7]> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OptionLegTakenOver { market, side, qty, price, value, penalty, insurance_share, .. } => {
                Some([market, side, qty, price, value, penalty, insurance_share].map(|s| s.clone()))
            }
            _ => None,
        })
        .collect()
}

fn option_qty(w: &World, account: &str) -> i128 {
    let positions = w.engine.positions_of(account).unwrap();
    positions.iter().find(|p| p.market == "ETH-20261225-3000-C").map_or(0, |p| units(&p.qty, 9))
}

/// alice (600 USDC) sells one 3000 call at 200 to bob (she is the maker: no fee): 800 USDC,
/// short 1 call worth 200, equity 600 against IM 400 (the rise scenario). ETH rises to 3300 and
/// the model is re-priced: the call is worth 520 and loses 600 held short if ETH rises 10% more.
/// Equity 800 - 520 = 280 < MM 300 (IM 600), found when the model is installed. The call is its own group; closing cost 1.5% of
/// 520 = 7.8 a call. After 25%: IM 450 > 280 - 1.95; 50%: 300 > 276.1; 75%: 150 <= 274.15. So
/// 0.75 call is bought back by the house at the mark 520: premium 390, penalty ceil(0.5% of
/// 390) = 1.95, 0.975 to the fund. alice: 800 - 390 - 1.95 = 408.05 USDC, short 0.25 call worth
/// 130: equity 278.05 >= IM 150, healthy. The house takes the short over: short 0.75 call
/// (worth -390) against 390.975 USDC.
#[test]
fn a_short_call_is_bought_back_by_the_house_at_the_models_mark() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    install(&mut w, &option_model("3000", 200, [-150, 400]));
    w.deposit("alice", "USDC", "600");
    w.deposit("bob", "USDC", "100000");
    option_order(&mut w, "alice", OrderSide::Sell, "1", "200");
    option_order(&mut w, "bob", OrderSide::Buy, "1", "200");
    assert_eq!((w.balance("alice/main", "USDC"), option_qty(&w, "alice/main")), (usdc("800"), -1_000_000_000));
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "3300".into() });
    assert!(w.engine.health_flags().is_empty(), "a fixed array does not move with the price");
    let events = install(&mut w, &option_model("3300", 520, [-300, 600]));
    let started = events.iter().find_map(|e| match e {
        Event::LiquidationStarted { equity, im, mm, target_reached, .. } => Some((equity.clone(), im.clone(), mm.clone(), *target_reached)),
        _ => None,
    });
    assert_eq!(started, Some(("280".into(), "600".into(), "300".into(), true)), "{events:?}");
    let expected = ["ETH-20261225-3000-C", "buy", "0.75", "520", "390", "1.95", "0.975"].map(String::from);
    assert_eq!(option_takeovers(&events), vec![expected], "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::LiquidationEnded { account, .. } if account == "alice/main")));
    assert_eq!((w.balance("alice/main", "USDC"), option_qty(&w, "alice/main")), (usdc("408.05"), -250_000_000));
    assert_eq!(w.engine.account_margin("alice/main").unwrap().equity_usd, "278.05");
    assert!(w.engine.health_flags().is_empty(), "{:?}", w.engine.health_flags());
    assert_eq!((w.balance("@house", "USDC"), option_qty(&w, "@house")), (usdc("390.975"), -750_000_000));
    assert_eq!(w.balance("@insurance", "USDC"), usdc("0.975"));
    assert!(w.engine.liquidation_auctions().is_empty());
    w.check();
}

/// An option hedged by a perp closes with it, in proportion, in one command. alice (600 USDC)
/// sells one 3000 call at 200 (maker, no fee) and buys 0.5 ETH-PERP at 3000 against it (taker
/// fee 0.75): 799.25 USDC. ETH rises to 3300 (the perp gains 150) and the model is re-priced:
/// the call is worth 700 and loses 800 held short on a further 10% rise. Scenario losses: the
/// perp (-165, +165), the short call (+300, -800): together (135, -635), IM 635, MM 317.5;
/// equity 799.25 + 150 - 700 = 249.25 < MM. One group (the short call's delta is negative, the
/// perp's positive); closing cost 1.5% of 0.5 x 3300 + 700 = 35.25. After 25%: IM 476.25 >
/// 240.4375; 50%: 317.5 > 231.625; 75%: 158.75 <= 222.8125: 0.75 call bought back at 700
/// (premium 525, penalty 2.625, 1.3125 to the fund) and 0.375 ETH-PERP handed to the house at
/// 3300 (realised +112.5, penalty 6.1875, 3.09375 to the fund). alice: 799.25 - 525 - 2.625 +
/// 112.5 - 6.1875 = 377.9375 USDC, long 0.125 (+37.5), short 0.25 call (-175): equity 240.4375
/// >= IM 158.75.
#[test]
fn a_call_hedged_by_a_perp_closes_with_it_in_proportion() {
    let mut w = World::new(liquidation_config(LastResort::Socialise));
    install(&mut w, &option_model("3000", 200, [-150, 400]));
    w.deposit("alice", "USDC", "600");
    w.deposit("bob", "USDC", "100000");
    option_order(&mut w, "alice", OrderSide::Sell, "1", "200");
    option_order(&mut w, "bob", OrderSide::Buy, "1", "200");
    w.perp("bob", OrderSide::Sell, "0.5");
    w.perp("alice", OrderSide::Buy, "0.5");
    assert_eq!(w.balance("alice/main", "USDC"), usdc("799.25"));
    w.op(Command::SetPrice { symbol: "ETH".into(), price_usd: "3300".into() });
    let events = install(&mut w, &option_model("3300", 700, [-300, 800]));
    let started = events.iter().find_map(|e| match e {
        Event::LiquidationStarted { equity, im, mm, target_reached, .. } => Some((equity.clone(), im.clone(), mm.clone(), *target_reached)),
        _ => None,
    });
    assert_eq!(started, Some(("249.25".into(), "635".into(), "317.5".into(), true)), "{events:?}");
    let expected = ["ETH-20261225-3000-C", "buy", "0.75", "700", "525", "2.625", "1.3125"].map(String::from);
    assert_eq!(option_takeovers(&events), vec![expected], "{events:?}");
    let takeover = events.iter().find_map(|e| match e {
        Event::AuctionHouseTakeover { qty, price, penalty, insurance_share, .. } => {
            Some([qty, price, penalty, insurance_share].map(|s| s.clone()))
        }
        _ => None,
    });
    assert_eq!(takeover, Some(["0.375", "3300", "6.1875", "3.09375"].map(String::from)), "{events:?}");
    assert_eq!((w.qty("alice/main"), option_qty(&w, "alice/main")), (125_000_000, -250_000_000), "both legs closed 75%");
    assert_eq!(w.balance("alice/main", "USDC"), usdc("377.9375"));
    assert_eq!(w.engine.account_margin("alice/main").unwrap().equity_usd, "240.4375");
    assert_eq!(w.balance("@insurance", "USDC"), usdc("4.40625"));
    assert!(w.engine.health_flags().is_empty(), "{:?}", w.engine.health_flags());
    assert!(w.engine.liquidation_auctions().is_empty());
    w.check();
}
