//! Statements reconcile with the ledger to the unit over random sessions: deposits, withdrawals
//! (confirmed and cancelled), transfers between sub-accounts, spot, perp and option trades,
//! price moves, funding, an option expiry and borrows. The statement reads only the journalled
//! results; the ledger is the engine's own.

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::{Config, Role};
use proptest::prelude::*;
use statement::{LineKind, StatementBuilder};

const OWNERS: [&str; 3] = ["alice", "bob", "carol"];
const ACCOUNTS: [&str; 4] = ["alice/main", "bob/main", "carol/main", "alice/hedge"];
const MARKETS: [&str; 4] = ["ETH/USDC", "ETH-PERP", "ETH-20261225-3000-C", "ETH-20261225-2500-P"];
const EXPIRY: u64 = 1_798_185_600_000;
const START: u64 = EXPIRY - 12 * 3_600_000;

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    (0..items.len()).prop_map(move |i| items[i].clone())
}

fn owner_of(account: &str) -> String {
    account.split_once('/').map_or(account, |(o, _)| o).to_string()
}

fn order() -> impl Strategy<Value = Envelope> {
    let side = prop_oneof![Just(OrderSide::Buy), Just(OrderSide::Sell)];
    (pick(&ACCOUNTS), pick(&MARKETS), side, -2i64..3, pick(&["0.01", "0.5", "1", "2"]), 0u64..6).prop_map(
        |(account, market, side, step, qty, cid)| {
            let base: i64 = match market {
                "ETH-20261225-3000-C" => 200,
                "ETH-20261225-2500-P" => 40,
                _ => 3000,
            };
            let command = Command::PlaceOrder {
                account: account.into(),
                market: market.into(),
                client_order_id: cid,
                side,
                kind: OrderKind::Limit,
                price: Some((base + step * base / 100).to_string()),
                qty: qty.into(),
            };
            Envelope { client: owner_of(account), id: 0, command }
        },
    )
}

fn operator(command: Command) -> Envelope {
    Envelope { client: "operator".into(), id: 0, command }
}

fn command() -> impl Strategy<Value = Envelope> {
    prop_oneof![
        8 => order(),
        2 => pick(&["2800", "3000", "3100", "3400"]).prop_map(|p| operator(Command::SetPrice { symbol: "ETH".into(), price_usd: p.into() })),
        2 => pick(&[600_000u64, 3_600_000, 14_400_000]).prop_map(|step| operator(Command::AdvanceTime { now_ms: step })),
        1 => (pick(&ACCOUNTS), pick(&["5", "250"]), 0u32..1_000_000).prop_map(|(account, amount, r)| operator(Command::Deposit {
            account: account.into(),
            asset: "USDC".into(),
            amount: amount.into(),
            custodian: "ethereum".into(),
            external_ref: format!("0xtop-{r}"),
        })),
        1 => (pick(&ACCOUNTS), pick(&["USDC", "ETH"]), 0u8..4).prop_map(|(account, asset, w)| Envelope {
            client: owner_of(account),
            id: 0,
            command: Command::RequestWithdrawal {
                account: account.into(),
                asset: asset.into(),
                amount: "1".into(),
                custodian: "ethereum".into(),
                destination: "0xd".into(),
                withdrawal_id: format!("w-{account}-{w}").replace('/', "-"),
            },
        }),
        1 => (pick(&ACCOUNTS), 0u8..4, any::<bool>()).prop_map(|(account, w, confirm)| {
            let withdrawal_id = format!("w-{account}-{w}").replace('/', "-");
            if confirm {
                operator(Command::ConfirmWithdrawal { withdrawal_id: withdrawal_id.clone(), chain_ref: format!("0x{withdrawal_id}") })
            } else {
                operator(Command::CancelWithdrawal { withdrawal_id })
            }
        }),
        1 => pick(&["100", "7.5"]).prop_map(|amount| Envelope {
            client: "alice".into(),
            id: 0,
            command: Command::Transfer { from: "alice/main".into(), to: "alice/hedge".into(), asset: "USDC".into(), amount: amount.into() },
        }),
    ]
}

fn session() -> impl Strategy<Value = Vec<Envelope>> {
    proptest::collection::vec(command(), 1..150).prop_map(|commands| {
        let mut now = START;
        commands
            .into_iter()
            .enumerate()
            .map(|(i, mut envelope)| {
                if let Command::AdvanceTime { now_ms } = &mut envelope.command {
                    now += *now_ms;
                    *now_ms = now;
                }
                envelope.id = 1000 + i as u64;
                envelope
            })
            .collect()
    })
}

/// Genesis and a funded start, as journalled records.
fn genesis() -> (Engine, Vec<(Command, Outcome)>) {
    let mut engine = Engine::new();
    let first = genesis_envelope(StateConfig::from_model(&Config::default_config()));
    let mut records = vec![(first.command.clone(), engine.apply(&first))];
    let mut setup: Vec<Command> =
        OWNERS.iter().map(|owner| Command::RegisterPrincipal { name: owner.to_string(), role: Role::Owner }).collect();
    setup.push(Command::AdvanceTime { now_ms: START });
    setup.push(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
    setup.push(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    for account in ACCOUNTS {
        let (owner, sub) = account.split_once('/').unwrap();
        setup.push(Command::CreateAccount { owner: owner.into(), sub: sub.into() });
        for (asset, amount) in [("ETH", "10"), ("USDC", if owner == "carol" { "20" } else { "20000" })] {
            let external_ref = format!("0xgenesis-{account}-{asset}").replace('/', "-");
            setup.push(Command::Deposit {
                account: account.into(),
                asset: asset.into(),
                amount: amount.into(),
                custodian: "ethereum".into(),
                external_ref,
            });
        }
    }
    for (i, command) in setup.into_iter().enumerate() {
        let envelope = Envelope { client: SYSTEM_PRINCIPAL.into(), id: 10 + i as u64, command };
        let outcome = engine.apply(&envelope);
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
        records.push((envelope.command, outcome));
    }
    (engine, records)
}

fn statements_reconcile(engine: &Engine, records: &[(Command, Outcome)]) -> Result<usize, TestCaseError> {
    let mut lines = 0;
    // One index fed every journalled record once (the service's), against one builder per account.
    let mut index = statement::StatementIndex::new(statement::INDEX_LINES_MAX_DEFAULT);
    for (command, outcome) in records.iter().filter(|(_, o)| o.is_journalled()) {
        let seq = outcome.seq().ok_or_else(|| TestCaseError::fail("a journalled outcome without a seq"))?;
        index.record(seq, command, outcome).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    for account in ACCOUNTS {
        let mut builder = StatementBuilder::new(account);
        for (command, outcome) in records {
            builder.record(command, outcome).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let statement = builder.finish();
        let indexed = index.statement(account).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&indexed, &statement, "the index's statement of {}", account);
        if let Err(e) = statement.reconcile(&engine.balances()) {
            return Err(TestCaseError::fail(format!("{e}\n{}", statement.to_table())));
        }
        lines += statement.lines.iter().filter(|l| l.kind != LineKind::Note).count();
    }
    Ok(lines)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn statements_reconcile_with_the_ledger_to_the_unit(commands in session()) {
        let (mut engine, mut records) = genesis();
        for envelope in commands {
            let outcome = engine.apply(&envelope);
            if outcome.is_journalled() {
                records.push((envelope.command, outcome));
            }
        }
        statements_reconcile(&engine, &records)?;
    }
}

/// A statement that lost one line no longer reconciles: the check can fail.
#[test]
fn a_statement_missing_a_movement_does_not_reconcile() {
    let (mut engine, mut records) = genesis();
    let fill = [
        Envelope {
            client: "bob".into(),
            id: 1,
            command: Command::PlaceOrder {
                account: "bob/main".into(),
                market: "ETH-PERP".into(),
                client_order_id: 1,
                side: OrderSide::Sell,
                kind: OrderKind::Limit,
                price: Some("3000".into()),
                qty: "1".into(),
            },
        },
        Envelope {
            client: "alice".into(),
            id: 1,
            command: Command::PlaceOrder {
                account: "alice/main".into(),
                market: "ETH-PERP".into(),
                client_order_id: 1,
                side: OrderSide::Buy,
                kind: OrderKind::Limit,
                price: Some("3000".into()),
                qty: "1".into(),
            },
        },
        operator(Command::SetPrice { symbol: "ETH".into(), price_usd: "2900".into() }),
        Envelope { client: "operator".into(), id: 2, command: Command::AdvanceTime { now_ms: START + 8 * 3_600_000 } },
    ];
    for envelope in fill {
        let outcome = engine.apply(&envelope);
        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
        records.push((envelope.command, outcome));
    }
    let complete = |records: &[(Command, Outcome)]| {
        let mut builder = StatementBuilder::new("alice/main");
        for (command, outcome) in records {
            builder.record(command, outcome).unwrap();
        }
        builder.finish()
    };
    let statement = complete(&records);
    statement.reconcile(&engine.balances()).unwrap();
    // alice: 20000, taker fee 1.5, variation margin -100 at the mark 2900.
    assert_eq!(statement.balances["USDC"], "19898.5");
    assert!(statement.lines.iter().any(|l| l.kind == LineKind::Settlement && l.amount == "-100" && l.balance == "19898.5"));
    // Drop the mark-to-market event: the statement is short by 100 and says so.
    let mut damaged = records.clone();
    if let Some((_, Outcome::Applied { events, .. })) = damaged.last_mut() {
        events.retain(|e| !matches!(e, Event::Settled { account, .. } if account == "alice/main"));
    }
    let error = complete(&damaged).reconcile(&engine.balances()).unwrap_err();
    assert!(error.to_string().contains("statement 19998.5, ledger 19898.5"), "{error}");
}

/// The random sessions reach every kind of line (a generator that never trades would make the
/// reconciliation above vacuous).
#[test]
fn the_sessions_produce_every_kind_of_line() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut kinds = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let (mut engine, mut records) = genesis();
        for envelope in session().new_tree(&mut runner).unwrap().current() {
            let outcome = engine.apply(&envelope);
            if outcome.is_journalled() {
                records.push((envelope.command, outcome));
            }
        }
        for account in ACCOUNTS {
            let mut builder = StatementBuilder::new(account);
            for (command, outcome) in &records {
                builder.record(command, outcome).unwrap();
            }
            let statement = builder.finish();
            statement.reconcile(&engine.balances()).unwrap();
            for line in statement.lines {
                *kinds.entry(format!("{:?}", line.kind)).or_insert(0) += 1;
            }
        }
    }
    for kind in ["Deposit", "Withdrawal", "Transfer", "Trade", "Fee", "Funding", "Settlement", "Borrow", "Note"] {
        assert!(kinds.get(kind).is_some_and(|n| *n > 0), "no {kind} line in {kinds:?}");
    }
}
