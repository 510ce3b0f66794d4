//! Random command streams from several principals, hostile ones included, against the engine:
//! - no principal changes a balance of an account it does not own (owners) or moves a client's
//!   funds at all (operators credit deposits and confirm withdrawals only);
//! - conservation per asset; trader accounts never below zero; custody never crosses zero;
//! - a rejected or refused command leaves the books hash (everything but the sequence number
//!   and the sessions) unchanged;
//! - a replay from scratch, or from a snapshot taken midway, reproduces every outcome and every
//!   batch's state hash.

use engine::*;
use model::{Config, Role};
use proptest::prelude::*;

const OWNERS: [&str; 3] = ["alice", "bob", "carol"];
/// Principals sending commands: the operator, the owners, an auditor and an unregistered one.
const SENDERS: [&str; 6] = ["operator", "alice", "bob", "carol", "auditor", "mallory"];
const SUBS: [&str; 2] = ["main", "hedge"];
const ASSETS: [&str; 4] = ["USDC", "ETH", "stETH", "DOGE"];
const CUSTODIANS: [&str; 4] = ["ethereum", "dydx", "arbitrum", "moon"];
const AMOUNTS: [&str; 9] = ["1", "0.5", "1000", "123.456789", "0", "-1", "1.0000000000000000001", "abc", "99999999999999999999999"];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    (0..items.len()).prop_map(move |i| items[i].clone())
}

fn account() -> impl Strategy<Value = String> {
    (0..OWNERS.len() + 1, pick(&SUBS)).prop_map(|(o, s)| format!("{}/{s}", OWNERS.get(o).copied().unwrap_or("nobody")))
}

fn command() -> impl Strategy<Value = Command> {
    let asset = || pick(&ASSETS).prop_map(String::from);
    let amount = || pick(&AMOUNTS).prop_map(String::from);
    let custodian = || pick(&CUSTODIANS).prop_map(String::from);
    prop_oneof![
        (pick(&OWNERS), pick(&SUBS)).prop_map(|(o, s)| Command::CreateAccount { owner: o.into(), sub: s.into() }),
        (account(), asset(), amount(), custodian(), 0u8..8).prop_map(|(account, asset, amount, custodian, r)| {
            Command::Deposit { account, asset, amount, custodian, external_ref: format!("0x{r}") }
        }),
        (account(), asset(), amount(), custodian(), 0u8..8).prop_map(|(account, asset, amount, custodian, w)| {
            Command::RequestWithdrawal { account, asset, amount, custodian, destination: "0xd".into(), withdrawal_id: format!("w{w}") }
        }),
        (0u8..8, 0u8..4).prop_map(|(w, c)| Command::ConfirmWithdrawal { withdrawal_id: format!("w{w}"), chain_ref: format!("0xc{c}") }),
        (0u8..8).prop_map(|w| Command::CancelWithdrawal { withdrawal_id: format!("w{w}") }),
        (account(), account(), asset(), amount()).prop_map(|(from, to, asset, amount)| Command::Transfer { from, to, asset, amount }),
        (account(), any::<bool>()).prop_map(|(account, held)| Command::SetHold { account, held }),
        prop_oneof![0u64..200_000_000, Just(u64::MAX)].prop_map(|now_ms| Command::AdvanceTime { now_ms }),
        (pick(&["USDC", "ETH", "USD", "DOGE"]), pick(&["3000", "0.9998", "0"]))
            .prop_map(|(s, p)| Command::SetPrice { symbol: s.into(), price_usd: p.into() }),
        order(),
        order(),
        order(),
        order(),
        (account(), 1u64..24).prop_map(|(account, order_id)| Command::CancelOrder { account, market: "ETH/USDC".into(), order_id }),
        account().prop_map(|account| Command::CancelAllOrders { account, market: "ETH/USDC".into() }),
    ]
}

fn order() -> impl Strategy<Value = Command> {
    use engine::markets::{OrderKind, OrderSide};
    let side = prop_oneof![Just(OrderSide::Buy), Just(OrderSide::Sell)];
    let kind = prop_oneof![
        Just(OrderKind::Limit),
        Just(OrderKind::Limit),
        Just(OrderKind::Market),
        Just(OrderKind::ImmediateOrCancel),
        Just(OrderKind::FillOrKill),
        Just(OrderKind::PostOnly)
    ];
    let price = pick(&["2999.99", "3000", "3000", "3000.01", "3010", "3500", "3000.001"]).prop_map(String::from);
    let qty = pick(&["0.001", "0.5", "1", "1", "2.5", "0.0001", "0"]).prop_map(String::from);
    // Mostly the funded main accounts, sometimes anything.
    let account = prop_oneof![4 => pick(&OWNERS).prop_map(|o| format!("{o}/main")), 1 => account()];
    (account, 0u64..4, side, kind, price, qty).prop_map(|(account, client_order_id, side, kind, price, qty)| Command::PlaceOrder {
        account,
        market: "ETH/USDC".into(),
        client_order_id,
        side,
        kind,
        price: (kind != OrderKind::Market).then_some(price),
        qty,
    })
}

/// The principal a command is meant to come from: the operator for its commands, the owner of
/// the account otherwise (an unknown owner is the unregistered mallory).
fn rightful(command: &Command) -> String {
    let owner = |account: &str| {
        let owner = account.split_once('/').map_or(account, |(o, _)| o);
        if OWNERS.contains(&owner) { owner.to_string() } else { "mallory".to_string() }
    };
    match command {
        Command::CreateAccount { owner: o, .. } => owner(o),
        Command::RequestWithdrawal { account, .. }
        | Command::PlaceOrder { account, .. }
        | Command::AmendOrder { account, .. }
        | Command::CancelOrder { account, .. }
        | Command::CancelAllOrders { account, .. } => owner(account),
        Command::Transfer { from, .. } => owner(from),
        _ => "operator".to_string(),
    }
}

fn envelopes() -> impl Strategy<Value = Vec<Envelope>> {
    // One command in five comes from a random principal (often a hostile one); the others from
    // the principal they are meant for. Ids repeat sometimes (same or different command), to
    // exercise the sessions.
    proptest::collection::vec((0u8..5, pick(&SENDERS), 0u64..60, command()), 1..150).prop_map(|v| {
        v.into_iter()
            .map(|(dice, sender, id, command)| {
                let client = if dice == 0 { sender.to_string() } else { rightful(&command) };
                Envelope { client, id, command }
            })
            .collect()
    })
}

fn genesis() -> Engine {
    let mut engine = Engine::with_genesis(StateConfig::from_model(&Config::default_config())).unwrap();
    let mut setup: Vec<Command> =
        OWNERS.iter().map(|owner| Command::RegisterPrincipal { name: owner.to_string(), role: Role::Owner }).collect();
    setup.push(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
    setup.push(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    for owner in OWNERS {
        setup.push(Command::CreateAccount { owner: owner.into(), sub: "main".into() });
        for (asset, amount) in [("ETH", "10"), ("USDC", "50000")] {
            let external_ref = format!("0xgenesis-{owner}-{asset}");
            setup.push(Command::Deposit {
                account: format!("{owner}/main"),
                asset: asset.into(),
                amount: amount.into(),
                custodian: "ethereum".into(),
                external_ref,
            });
        }
    }
    for (i, command) in setup.into_iter().enumerate() {
        let outcome = engine.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id: 10 + i as u64, command });
        assert!(matches!(outcome, Outcome::Applied { .. }));
    }
    engine
}

/// Accounts with open orders on the market: a fill may move their balances (they consented).
fn makers(engine: &Engine) -> std::collections::BTreeSet<String> {
    let accounts: Vec<String> = engine.trader_accounts().map(String::from).collect();
    accounts.into_iter().filter(|a| engine.open_orders("ETH/USDC", a).is_ok_and(|o| !o.is_empty())).collect()
}

/// The accounts whose balances may change under this envelope, if it is applied.
fn may_change(envelope: &Envelope, account: &str, makers: &std::collections::BTreeSet<String>) -> bool {
    let owner = account.split_once('/').map(|(o, _)| o);
    match (&envelope.command, envelope.client.as_str()) {
        // The operator credits deposits and confirms withdrawals (custody on the other side),
        // and may cancel orders.
        (
            Command::Deposit { .. }
            | Command::ConfirmWithdrawal { .. }
            | Command::CancelWithdrawal { .. }
            | Command::CancelOrder { .. }
            | Command::CancelAllOrders { .. },
            "operator",
        ) => true,
        // An owner's order moves its own account, the makers it fills against, and the fees.
        (Command::PlaceOrder { .. } | Command::AmendOrder { .. }, client) => {
            owner == Some(client) || makers.contains(account) || account == FEES || account == ORDERS
        }
        (Command::CancelOrder { .. } | Command::CancelAllOrders { .. }, client) => owner == Some(client) || account == ORDERS,
        // An owner moves its own accounts only (and, withdrawing, the custody side).
        (Command::Transfer { .. } | Command::RequestWithdrawal { .. } | Command::CancelWithdrawal { .. }, client) => {
            owner == Some(client) || account.starts_with("@custody/")
        }
        _ => false,
    }
}

fn check_books(
    before: &[BalanceRow],
    after: &[BalanceRow],
    envelope: &Envelope,
    makers: &std::collections::BTreeSet<String>,
) -> Result<(), TestCaseError> {
    let key = |r: &BalanceRow| (r.account.clone(), r.asset.clone());
    let before: std::collections::BTreeMap<_, _> = before.iter().map(|r| (key(r), r.clone())).collect();
    let after: std::collections::BTreeMap<_, _> = after.iter().map(|r| (key(r), r.clone())).collect();
    for k in before.keys().chain(after.keys()) {
        if before.get(k) != after.get(k) {
            prop_assert!(may_change(envelope, &k.0, makers), "{} changed {:?} by {:?}", envelope.client, k, envelope.command);
        }
        if let Some(row) = after.get(k).filter(|r| r.account.starts_with("@custody/")) {
            prop_assert!(!row.posted.starts_with(|c: char| c.is_ascii_digit() && c != '0'), "custody crossed zero: {row:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn engine_invariants_and_replay(commands in envelopes(), batch in 1usize..20, snapshot_at in 0usize..10) {
        let mut engine = genesis();
        let mut outcomes = Vec::new();
        let mut hashes = Vec::new();
        let mut snapshot = None;
        for (b, chunk) in commands.chunks(batch).enumerate() {
            for envelope in chunk {
                let balances_before = engine.balances();
                let makers_before = makers(&engine);
                let books_before = engine.books_hash();
                let outcome = engine.apply(envelope);
                if !matches!(outcome, Outcome::Applied { .. }) {
                    prop_assert_eq!(engine.books_hash(), books_before, "{:?} changed the books", outcome);
                }
                check_books(&balances_before, &engine.balances(), envelope, &makers_before)?;
                if let Err(broken) = engine.check_invariants() {
                    prop_assert!(false, "after {:?}: {}", envelope, broken);
                }
                outcomes.push(outcome);
            }
            hashes.push(engine.state_hash());
            if b == snapshot_at {
                snapshot = Some((b, engine.encode_snapshot()));
            }
        }
        // Replay from scratch: same outcomes, same hash after every batch.
        let mut replay = genesis();
        let mut replay_outcomes = Vec::new();
        for (b, chunk) in commands.chunks(batch).enumerate() {
            for envelope in chunk {
                replay_outcomes.push(replay.apply(envelope));
            }
            prop_assert_eq!(replay.state_hash(), hashes[b]);
        }
        prop_assert_eq!(replay_outcomes, outcomes);
        // The hash is canonical: asking for it only at the end gives the same.
        let mut once = genesis();
        for envelope in &commands {
            once.apply(envelope);
        }
        prop_assert_eq!(once.state_hash(), *hashes.last().unwrap());
        // Replay from a snapshot taken after batch `b`.
        if let Some((b, bytes)) = snapshot {
            let mut restored = Engine::decode_snapshot(&bytes).unwrap();
            prop_assert_eq!(restored.state_hash(), hashes[b]);
            for (k, chunk) in commands.chunks(batch).enumerate().skip(b + 1) {
                for envelope in chunk {
                    restored.apply(envelope);
                }
                prop_assert_eq!(restored.state_hash(), hashes[k]);
            }
        }
    }
}

/// Margin in the loop over random streams: the same principals and commands, with margin
/// configured, a hand-made model installed and the ETH price moving far (see
/// `src/tests/margin.rs` for the model: ETH and stETH lose up to three times their value, so
/// spot accounts do fall below IM). After every command, every account the engine lets add risk
/// (flag `healthy`) meets initial margin at that moment's prices, whenever its margin can be
/// computed; the replay and snapshot claims hold as above. Collateral counts at the less
/// favourable of the oracle and a stable price over 3 prints; the house fills immediate orders the
/// book cannot (its exposure stays within its limit) and positions are limited.
mod margin {
    use super::*;
    use margin_core::{InstrumentArray, RiskModel, Scaling, Underlying};

    fn model() -> RiskModel {
        let linear = |id: &str, worst: i64| InstrumentArray {
            id: id.into(),
            decimals: 18,
            scaling: Scaling::Linear { underlying: 0 },
            pnl: vec![worst, -600_000_000, 300_000_000, 600_000_000],
        };
        RiskModel {
            label: "hand-made".into(),
            as_of_ms: 0,
            fhs_scenarios: 4,
            floor_weights_ppm: vec![],
            tail_ppm: 250_000,
            maintenance_ppm: 500_000,
            underlyings: vec![Underlying { name: "ETH".into(), ref_price: money::UsdPrice::parse("3000").unwrap() }],
            instruments: vec![
                linear("ETH", -9_000_000_000),
                InstrumentArray { decimals: 9, ..linear("ETH-PERP@clearhouse", -9_000_000_000) },
                InstrumentArray { id: "USDC".into(), decimals: 6, scaling: Scaling::Fixed, pnl: vec![0; 4] },
                linear("stETH", -9_900_000_000),
            ],
            charges: Default::default(),
        }
    }

    fn margin_genesis() -> Engine {
        let mut config = StateConfig::from_model(&Config::default_config());
        config.settings.risk_model_max_age_ms = Some(400_000_000);
        config.settings.stable_price_prints = Some(3);
        // The house quotes ETH/USDC, and positions are limited: both in the same streams.
        let market = config.markets.iter_mut().find(|m| m.id == "ETH/USDC").unwrap();
        market.house_quote = Some(model::HouseQuote { spread_bps: 20, size_max: "1".into(), exposure_max: "3".into() });
        market.position_max = Some("12".into());
        let mut engine = Engine::with_genesis(config).unwrap();
        let mut setup: Vec<Command> =
            OWNERS.iter().map(|owner| Command::RegisterPrincipal { name: owner.to_string(), role: Role::Owner }).collect();
        setup.push(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
        setup.push(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
        setup.extend(risk_model_parts(&model()));
        // Healthy while 50,000 >= 2 x ETH held x price: alice up to 12,500, bob 2,500; carol holds
        // almost no ETH, so her perp positions alone carry her exposure to the ETH price.
        for (owner, eth) in OWNERS.into_iter().zip(["2", "10", "0.001"]) {
            setup.push(Command::CreateAccount { owner: owner.into(), sub: "main".into() });
            for (asset, amount) in [("ETH", eth), ("USDC", "50000")] {
                let external_ref = format!("0xgenesis-{owner}-{asset}");
                let account = format!("{owner}/main");
                setup.push(Command::Deposit {
                    account,
                    asset: asset.into(),
                    amount: amount.into(),
                    custodian: "ethereum".into(),
                    external_ref,
                });
            }
        }
        for (i, command) in setup.into_iter().enumerate() {
            let outcome = engine.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id: 10 + i as u64, command });
            assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
        }
        engine
    }

    fn margin_command() -> impl Strategy<Value = Command> {
        let moves = (pick(&["ETH", "ETH", "stETH"]), pick(&["1500", "3000", "4500", "6000", "9000", "12000", "3000.003", "2999.7"]))
            .prop_map(|(s, p)| Command::SetPrice { symbol: s.into(), price_usd: p.into() });
        // The same orders on the broker's ETH perp: positions margined with their unrealised P&L.
        // Prices at each level the oracle moves to, so that orders stay within the band, and sizes
        // above the minimum notional: positions open, grow, flip and close across price moves.
        let perp_price = pick(&["1500", "3000", "3000", "3010", "4500", "6000", "9000", "12000"]).prop_map(String::from);
        let perp_qty = pick(&["0.5", "1", "1", "2.5"]).prop_map(String::from);
        let side = prop_oneof![Just(engine::markets::OrderSide::Buy), Just(engine::markets::OrderSide::Sell)];
        let perp = (pick(&OWNERS), 0u64..4, side, perp_price, perp_qty).prop_map(|(owner, client_order_id, side, price, qty)| {
            Command::PlaceOrder {
                account: format!("{owner}/main"),
                market: "ETH-PERP".into(),
                client_order_id,
                side,
                kind: engine::markets::OrderKind::Limit,
                price: Some(price),
                qty,
            }
        });
        prop_oneof![3 => command(), 2 => moves, 2 => order(), 2 => perp]
    }

    fn margin_envelopes() -> impl Strategy<Value = Vec<Envelope>> {
        proptest::collection::vec((0u8..8, pick(&SENDERS), 0u64..60, margin_command()), 1..120).prop_map(|v| {
            v.into_iter()
                .map(|(dice, sender, id, command)| {
                    let client = if dice == 0 { sender.to_string() } else { rightful(&command) };
                    Envelope { client, id, command }
                })
                .collect()
        })
    }

    /// Every account's flag equals its health computed from scratch at this moment's prices
    /// (healthy: meets IM; reduce-only: meets MM only; liquidation: below MM), where its margin
    /// can be computed now: the bound that skips accounts never leaves a stale flag.
    fn check_healthy_meet_im(engine: &mut Engine, after: &Envelope) -> Result<(), TestCaseError> {
        prop_assert_eq!(engine.health_backlog(), 0);
        let flags: std::collections::BTreeMap<String, Health> = engine.health_flags().into_iter().collect();
        let accounts: Vec<String> = engine.trader_accounts().map(String::from).collect();
        let usd = |text: &str| money::parse_decimal(text, money::USD_SCALE).unwrap();
        for account in &accounts {
            if let Ok(m) = engine.account_margin(account) {
                let (equity, im, mm) = (usd(&m.equity_usd), usd(&m.initial_usd), usd(&m.maintenance_usd));
                let health = if equity < mm {
                    Health::Liquidation
                } else if equity < im {
                    Health::ReduceOnly
                } else {
                    Health::Healthy
                };
                let flag = flags.get(account).copied().unwrap_or(Health::Healthy);
                prop_assert_eq!(flag, health, "{} flagged {:?}, health {:?} after {:?}: {:?}", account, flag, health, after, m);
            }
        }
        Ok(())
    }

    /// The pre-trade gate decides every candidate order (spot and perp, both sides, sizes from
    /// far inside to far beyond each account's limit) exactly as the exact requirement alone.
    fn check_bound_decides_as_exact(engine: &mut Engine) -> Result<(), TestCaseError> {
        use engine::PreTrade;
        use engine::markets::OrderSide;
        let accounts: Vec<String> = engine.trader_accounts().map(String::from).collect();
        for account in &accounts {
            for (market, price) in [("ETH/USDC", "3000"), ("ETH-PERP", "3000")] {
                for side in [OrderSide::Buy, OrderSide::Sell] {
                    for qty in ["0.5", "1", "2", "3.5", "5", "8", "12"] {
                        let bound = engine.order_margin_check(account, market, side, price, qty, PreTrade::BoundFirst);
                        let exact = engine.order_margin_check(account, market, side, price, qty, PreTrade::ExactOnly);
                        prop_assert_eq!(&bound, &exact, "{} {} {:?} {} at {}", account, market, side, qty, price);
                    }
                }
            }
        }
        Ok(())
    }

    /// Transfers between an owner's sub-accounts and withdrawals, of sizes from far inside to
    /// beyond what the margin frees, among the other commands.
    fn transfer_envelopes() -> impl Strategy<Value = Vec<Envelope>> {
        const AMOUNTS: [&str; 10] = ["0.01", "1", "250", "1000", "5000", "12500", "20000", "35000", "49999.999999", "60000"];
        let transfer = (pick(&OWNERS), any::<bool>(), pick(&["USDC", "USDC", "ETH", "stETH"]), pick(&AMOUNTS)).prop_map(
            |(owner, back, asset, amount)| {
                let (from, to) = if back { ("hedge", "main") } else { ("main", "hedge") };
                let (from, to) = (format!("{owner}/{from}"), format!("{owner}/{to}"));
                Command::Transfer { from, to, asset: asset.into(), amount: amount.into() }
            },
        );
        let withdrawal = (pick(&OWNERS), pick(&AMOUNTS), 0u8..8).prop_map(|(owner, amount, w)| Command::RequestWithdrawal {
            account: format!("{owner}/main"),
            asset: "USDC".into(),
            amount: amount.into(),
            custodian: "ethereum".into(),
            destination: "0xd".into(),
            withdrawal_id: format!("w{w}"),
        });
        let hedge = pick(&OWNERS).prop_map(|o| Command::CreateAccount { owner: o.into(), sub: "hedge".into() });
        // Risky holdings on the hedge side too: the step bound then prices the destination's
        // change of ETH or stETH, not only the source's.
        let deposit = (pick(&OWNERS), pick(&["ETH", "stETH", "USDC"]), pick(&["0.5", "3", "1000"]), any::<u32>()).prop_map(
            |(owner, asset, amount, n)| Command::Deposit {
                account: format!("{owner}/hedge"),
                asset: asset.into(),
                amount: amount.into(),
                custodian: "ethereum".into(),
                external_ref: format!("0xhedge{n}"),
            },
        );
        let step = prop_oneof![4 => transfer, 1 => withdrawal, 1 => hedge, 1 => deposit, 3 => margin_command()];
        proptest::collection::vec(step, 1..100).prop_map(|v| {
            v.into_iter().enumerate().map(|(i, command)| Envelope { client: rightful(&command), id: i as u64, command }).collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        /// The headroom bound (`src/headroom.rs`) decides as the exact computation alone: an
        /// engine with it and one without give the same outcome, flags and state hash after
        /// every command, and every flag is the exact health.
        #[test]
        fn transfers_decide_as_the_exact_gate(commands in transfer_envelopes()) {
            let mut bound = margin_genesis();
            let mut exact = margin_genesis();
            exact.set_headroom_bound(false);
            for envelope in &commands {
                let outcome = bound.apply(envelope);
                prop_assert_eq!(&outcome, &exact.apply(envelope), "{:?}", envelope);
                prop_assert_eq!(bound.state_hash(), exact.state_hash(), "after {:?}", envelope);
                check_healthy_meet_im(&mut bound, envelope)?;
                check_bound_decides_as_exact(&mut bound)?;
            }
            // The step bound is part of the headroom bound: off with it.
            prop_assert!(bound.headroom_stepped() <= bound.headroom_decided());
            prop_assert_eq!(exact.headroom_stepped(), 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        #[test]
        fn accounts_allowed_to_add_risk_meet_initial_margin(commands in margin_envelopes(), snapshot_at in 0usize..120) {
            let mut engine = margin_genesis();
            let mut outcomes = Vec::new();
            let mut hashes = Vec::new();
            let mut snapshot = None;
            for (i, envelope) in commands.iter().enumerate() {
                outcomes.push(engine.apply(envelope));
                check_healthy_meet_im(&mut engine, envelope)?;
                check_bound_decides_as_exact(&mut engine)?;
                for (_, exposure) in engine.house_exposure() {
                    let units = money::parse_decimal(exposure.trim_start_matches('-'), money::Scale::new(18).unwrap()).unwrap();
                    prop_assert!(units <= 3 * 10i128.pow(18), "house exposure {} beyond its limit", exposure);
                }
                if let Err(broken) = engine.check_invariants() {
                    prop_assert!(false, "after {:?}: {}", envelope, broken);
                }
                hashes.push(engine.state_hash());
                if i == snapshot_at {
                    snapshot = Some((i, engine.encode_snapshot()));
                }
            }
            let mut replay = margin_genesis();
            for (i, envelope) in commands.iter().enumerate() {
                prop_assert_eq!(&replay.apply(envelope), &outcomes[i]);
                prop_assert_eq!(replay.state_hash(), hashes[i]);
            }
            if let Some((i, bytes)) = snapshot {
                let mut restored = Engine::decode_snapshot(&bytes).unwrap();
                for (k, envelope) in commands.iter().enumerate().skip(i + 1) {
                    prop_assert_eq!(&restored.apply(envelope), &outcomes[k]);
                    prop_assert_eq!(restored.state_hash(), hashes[k]);
                }
            }
        }
    }
}
