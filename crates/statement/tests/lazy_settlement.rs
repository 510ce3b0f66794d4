//! Statements of positions settled lazily by the market's indices (engine `settle`): with more
//! holders than one result settles, a holder's mark-to-market is pending after the boundary;
//! its statement reconciles with the ledger to the unit before (no line yet: pending amounts are
//! not ledger balances) and after the sweep reaches it (the settlement line appears then).

use engine::markets::{OrderKind, OrderSide};
use engine::*;
use model::{Config, Role};
use statement::{LineKind, StatementBuilder};

const T0: u64 = 1_767_225_600_000;
const HOLDERS: u32 = 8_000;

fn place(account: &str, side: OrderSide, qty: &str) -> Command {
    let (market, client_order_id, kind, price) = ("ETH-PERP".into(), 1, OrderKind::Limit, Some("3000".into()));
    Command::PlaceOrder { account: account.into(), market, client_order_id, side, kind, price, qty: qty.into() }
}

#[test]
fn a_pending_settlement_appears_when_it_settles_and_statements_reconcile_throughout() {
    let mut config = StateConfig::from_model(&Config::default_config());
    config.markets.retain(|m| m.kind == model::MarketKind::Spot || m.id == "ETH-PERP");
    config.markets.iter_mut().find(|m| m.id == "ETH-PERP").unwrap().positions_max = Some(HOLDERS + 2);
    let mut engine = Engine::new();
    let first = genesis_envelope(config);
    let mut records = vec![(first.command.clone(), engine.apply(&first))];
    fn run_on(records: &mut Vec<(Command, Outcome)>, engine: &mut Engine, client: &str, id: u64, command: Command) {
        let outcome = engine.apply(&Envelope { client: client.into(), id, command: command.clone() });
        assert!(matches!(outcome, Outcome::Applied { .. }), "{command:?}: {outcome:?}");
        records.push((command, outcome));
    }
    let deposit = |account: &str, amount: &str, r: u32| Command::Deposit {
        account: account.into(),
        asset: "USDC".into(),
        amount: amount.into(),
        custodian: "ethereum".into(),
        external_ref: format!("0xref-{r}"),
    };
    let mut id = 10;
    let mut next = || {
        id += 1;
        id
    };
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::RegisterPrincipal { name: "whale".into(), role: Role::Owner });
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::CreateAccount { owner: "whale".into(), sub: "main".into() });
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), deposit("whale/main", "1000000", u32::MAX));
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() });
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::AdvanceTime { now_ms: T0 });
    run_on(&mut records, &mut engine, "whale", 1, place("whale/main", OrderSide::Sell, &(HOLDERS / 100).to_string()));
    for i in 0..HOLDERS {
        let (owner, sub) = (format!("o{}", i / 64), format!("s{}", i % 64));
        if i % 64 == 0 {
            run_on(
                &mut records,
                &mut engine,
                SYSTEM_PRINCIPAL,
                next(),
                Command::RegisterPrincipal { name: owner.clone(), role: Role::Owner },
            );
        }
        run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::CreateAccount { owner: owner.clone(), sub: sub.clone() });
        run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), deposit(&format!("{owner}/{sub}"), "100", i));
        run_on(&mut records, &mut engine, &owner, u64::from(i % 64) + 1, place(&format!("{owner}/{sub}"), OrderSide::Buy, "0.01"));
    }
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::SetPrice { symbol: "ETH".into(), price_usd: "3100".into() });
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::AdvanceTime { now_ms: T0 + 8 * 3_600_000 });
    assert!(engine.unsettled_positions() > 0, "more holders than one result settles");
    let last = format!("o{}/s{}", (HOLDERS - 1) / 64, (HOLDERS - 1) % 64);
    let statement_of = |records: &[(Command, Outcome)], engine: &Engine| {
        let mut builder = StatementBuilder::new(&last);
        for (command, outcome) in records {
            builder.record(command, outcome).unwrap();
        }
        let statement = builder.finish();
        statement.reconcile(&engine.balances()).unwrap_or_else(|e| panic!("{e}\n{}", statement.to_table()));
        statement.lines.iter().filter(|l| l.kind == LineKind::Settlement).count()
    };
    assert_eq!(statement_of(&records, &engine), 0, "pending, not yet a line");
    run_on(&mut records, &mut engine, SYSTEM_PRINCIPAL, next(), Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
    assert_eq!(engine.unsettled_positions(), 0);
    assert_eq!(statement_of(&records, &engine), 1, "the mark-to-market of +1 once settled");
}
