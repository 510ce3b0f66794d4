//! Statements of a liquidation reconcile with the ledger: a liquidator's fill and its penalty
//! share, the house's takeover, and a bankruptcy through the default waterfall with a socialised
//! last step (the engine's `tests/liquidation.rs` hand-computes the amounts).

// The engine's liquidation fixture (the hand-made model and the liquidation parameters),
// shared rather than repeated.
#[path = "../../engine/tests/common/mod.rs"]
mod common;

use common::{START, liquidation_config, model};
use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::{Config, LastResort, LiquidationConfig, Role};
use statement::{LineKind, StatementBuilder};

#[test]
fn liquidation_statements_reconcile_with_the_ledger() {
    let mut config = StateConfig::from_model(&Config::default_config());
    config.settings.risk_model_max_age_ms = Some(400_000_000);
    // A third of every net fee to the insurance fund, shown on `@insurance`'s and `@fees`'
    // statements.
    config.liquidation = Some(LiquidationConfig { insurance_fee_ppm: Some(333_333), ..liquidation_config(LastResort::Socialise) });
    let mut engine = Engine::new();
    let first = genesis_envelope(config);
    let mut records = vec![(first.command.clone(), engine.apply(&first))];
    let mut commands: Vec<(&str, Command)> = vec![(SYSTEM_PRINCIPAL, Command::AdvanceTime { now_ms: START })];
    for owner in ["alice", "bob", "carol", "dave"] {
        commands.push((SYSTEM_PRINCIPAL, Command::RegisterPrincipal { name: owner.into(), role: Role::Owner }));
        commands.push((SYSTEM_PRINCIPAL, Command::CreateAccount { owner: owner.into(), sub: "main".into() }));
    }
    commands.push((SYSTEM_PRINCIPAL, Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() }));
    commands.push((SYSTEM_PRINCIPAL, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() }));
    commands.extend(risk_model_parts(&model()).into_iter().map(|c| (SYSTEM_PRINCIPAL, c)));
    for (owner, asset, amount) in [
        ("bob", "USDC", "100000"),
        ("carol", "USDC", "100000"),
        ("alice", "USDC", "1000"),
        ("alice", "ETH", "0.1"),
        ("dave", "USDC", "1800"),
    ] {
        let deposit = Command::Deposit {
            account: format!("{owner}/main"),
            asset: asset.into(),
            amount: amount.into(),
            custodian: "ethereum".into(),
            external_ref: format!("0x{owner}-{asset}"),
        };
        commands.push((SYSTEM_PRINCIPAL, deposit));
    }
    commands.push((SYSTEM_PRINCIPAL, Command::RegisterLiquidator { account: "carol/main".into(), approved: true }));
    for (owner, side, qty) in [("bob", OrderSide::Sell, "6"), ("alice", OrderSide::Buy, "3"), ("dave", OrderSide::Buy, "3")] {
        let order = Command::PlaceOrder {
            account: format!("{owner}/main"),
            market: "ETH-PERP".into(),
            client_order_id: 1,
            side,
            kind: OrderKind::Limit,
            price: Some("3000".into()),
            qty: qty.into(),
        };
        commands.push((owner, order));
    }
    commands.push((SYSTEM_PRINCIPAL, Command::SetPrice { symbol: "ETH".into(), price_usd: "2500".into() }));
    let bid = Command::BidLiquidation { auction_id: 1, account: "carol/main".into(), qty: "1".into(), limit_price: "2500".into() };
    commands.push(("carol", bid));
    commands.push((SYSTEM_PRINCIPAL, Command::AdvanceTime { now_ms: 1_060_000 }));
    for (i, (client, command)) in commands.into_iter().enumerate() {
        let outcome = engine.apply(&Envelope { client: client.into(), id: 10 + i as u64, command: command.clone() });
        assert!(matches!(outcome, Outcome::Applied { .. }), "{command:?}: {outcome:?}");
        records.push((command, outcome));
    }
    let mut kinds = Vec::new();
    let index = index_of(&records, statement::INDEX_LINES_MAX_DEFAULT).unwrap();
    for account in ["alice/main", "bob/main", "carol/main", "dave/main", "@insurance"] {
        let mut builder = StatementBuilder::new(account);
        for (command, outcome) in &records {
            builder.record(command, outcome).unwrap();
        }
        let statement = builder.finish();
        // The index, fed every record once, has the same statement for every account.
        assert_eq!(index.statement(account).unwrap(), statement, "{account}");
        statement.reconcile(&engine.balances()).unwrap_or_else(|e| panic!("{e}\n{}", statement.to_table()));
        kinds.extend(statement.lines.iter().map(|l| (account, l.kind)));
    }
    for expected in [("alice/main", LineKind::Penalty), ("alice/main", LineKind::Waterfall), ("carol/main", LineKind::Penalty)] {
        assert!(kinds.contains(&expected), "{expected:?} missing");
    }
    assert!(kinds.contains(&("bob/main", LineKind::Waterfall)), "bob's socialised share");
    assert!(kinds.contains(&("@insurance", LineKind::Fee)), "the fund's share of the fees");
}

/// Every journalled record into one index holding at most `lines_max` lines.
fn index_of(records: &[(Command, Outcome)], lines_max: usize) -> Result<statement::StatementIndex, statement::StatementError> {
    let mut index = statement::StatementIndex::new(lines_max);
    for (command, outcome) in records.iter().filter(|(_, o)| o.is_journalled()) {
        index.record(outcome.seq().expect("a journalled outcome has a seq"), command, outcome)?;
    }
    Ok(index)
}

/// Past its bound the index stops at the record that crossed it and refuses statements (never
/// an incomplete one); below it, it holds exactly the lines of every account.
#[test]
fn the_statement_index_is_bounded_and_refuses_statements_past_its_bound() {
    let mut engine = Engine::new();
    let first = genesis_envelope(StateConfig::from_model(&Config::default_config()));
    let mut records = vec![(first.command.clone(), engine.apply(&first))];
    for (i, (owner, amount)) in [("alice", "100"), ("bob", "200"), ("alice", "300")].into_iter().enumerate() {
        let setup = [
            Command::RegisterPrincipal { name: owner.into(), role: Role::Owner },
            Command::CreateAccount { owner: owner.into(), sub: "main".into() },
            Command::Deposit {
                account: format!("{owner}/main"),
                asset: "USDC".into(),
                amount: amount.into(),
                custodian: "ethereum".into(),
                external_ref: format!("0x{i}"),
            },
        ];
        for (k, command) in setup.into_iter().enumerate() {
            let outcome =
                engine.apply(&Envelope { client: SYSTEM_PRINCIPAL.into(), id: 2 + 3 * i as u64 + k as u64, command: command.clone() });
            records.push((command, outcome));
        }
    }
    let full = index_of(&records, usize::MAX).unwrap();
    let lines = full.lines();
    assert_eq!(full.statement("alice/main").unwrap().lines.len(), 2, "two deposits");
    assert_eq!(full.statement("alice/main").unwrap().balances["USDC"], "400");
    assert!(lines >= 3, "three deposits at least, one line each: {lines}");
    // One line fewer than needed: the last deposit crosses the bound.
    let last_seq = records.last().and_then(|(_, o)| o.seq()).unwrap();
    match index_of(&records, lines - 1) {
        Err(statement::StatementError::IndexFull { lines_max, seq }) => assert_eq!((lines_max, seq), (lines - 1, last_seq)),
        other => panic!("expected the index to be full at seq {last_seq}, got {other:?}"),
    }
    let mut stopped = statement::StatementIndex::new(lines - 1);
    for (command, outcome) in records.iter().filter(|(_, o)| o.is_journalled()) {
        let _ = stopped.record(outcome.seq().unwrap(), command, outcome);
    }
    assert!(stopped.is_stopped());
    assert!(matches!(stopped.statement("bob/main"), Err(statement::StatementError::IndexFull { .. })), "refused, not served short");
}
