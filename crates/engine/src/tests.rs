use super::*;

fn engine() -> Engine {
    Engine::new(Config::default_config())
}

fn env(id: u64, command: Command) -> Envelope {
    Envelope { client: "alice".into(), id, command }
}

fn create(owner: &str, sub: &str) -> Command {
    Command::CreateAccount { owner: owner.into(), sub: sub.into() }
}

fn deposit(account: &str, amount: &str, reference: &str) -> Command {
    Command::Deposit {
        account: account.into(),
        asset: "USDC".into(),
        amount: amount.into(),
        custodian: "ethereum".into(),
        external_ref: reference.into(),
    }
}

fn rejected(outcome: Outcome) -> EngineError {
    match outcome {
        Outcome::Rejected { error, .. } => error,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn posted(e: &Engine, account: &str, asset: &str) -> String {
    e.balances().into_iter().find(|r| r.account == account && r.asset == asset).map(|r| r.posted).unwrap_or_else(|| "0".into())
}

#[test]
fn deposit_credits_client_and_mirrors_custody() {
    let mut e = engine();
    assert!(matches!(e.apply(&env(1, create("alice", "main"))), Outcome::Applied { seq: 1, .. }));
    let out = e.apply(&env(2, deposit("alice/main", "1000.5", "0xabc")));
    assert!(matches!(out, Outcome::Applied { seq: 2, .. }), "{out:?}");
    assert_eq!(posted(&e, "alice/main", "USDC"), "1000.5");
    assert_eq!(posted(&e, "@custody/ethereum", "USDC"), "-1000.5");
    e.check_invariants().unwrap();
}

#[test]
fn deposit_is_idempotent_on_external_reference() {
    let mut e = engine();
    e.apply(&env(1, create("alice", "main")));
    e.apply(&env(2, deposit("alice/main", "10", "0xabc")));
    let hash = e.state_hash();
    let err = rejected(e.apply(&env(3, deposit("alice/main", "10", "0xabc"))));
    assert_eq!(err, EngineError::DuplicateReference { external_ref: "0xabc".into() });
    assert_eq!(posted(&e, "alice/main", "USDC"), "10");
    // Only the log advanced (a sequence number and the seen id), no balance.
    assert_ne!(e.state_hash(), hash);
    assert_eq!(e.ledger().balances(), {
        let mut f = engine();
        f.apply(&env(1, create("alice", "main")));
        f.apply(&env(2, deposit("alice/main", "10", "0xabc")));
        f.ledger().balances()
    });
}

#[test]
fn retried_client_id_returns_first_result_and_applies_once() {
    let mut e = engine();
    e.apply(&env(1, create("alice", "main")));
    e.apply(&env(2, deposit("alice/main", "10", "0x1")));
    // The same client id with any payload is the same command.
    assert_eq!(e.apply(&env(2, deposit("alice/main", "10", "0x2"))), Outcome::Duplicate { first_seq: 2 });
    assert_eq!(posted(&e, "alice/main", "USDC"), "10");
    // Another client may use the same number.
    let other = Envelope { client: "bob".into(), id: 2, command: create("bob", "main") };
    assert!(matches!(e.apply(&other), Outcome::Applied { seq: 3, .. }));
}

#[test]
fn bad_input_gets_a_typed_error_and_changes_nothing() {
    let mut e = engine();
    e.apply(&env(1, create("alice", "main")));
    e.apply(&env(2, deposit("alice/main", "10", "0x1")));
    e.apply(&env(3, create("alice", "hedge")));
    let balances = e.ledger().balances();
    let cases: Vec<(Command, EngineError)> = vec![
        (deposit("nobody/main", "1", "0x9"), EngineError::UnknownAccount { account: "nobody/main".into() }),
        (
            Command::Deposit {
                account: "alice/main".into(),
                asset: "DOGE".into(),
                amount: "1".into(),
                custodian: "ethereum".into(),
                external_ref: "0x8".into(),
            },
            EngineError::UnknownAsset { symbol: "DOGE".into() },
        ),
        (
            deposit("alice/main", "1.0000001", "0x7"),
            EngineError::MalformedAmount {
                input: "1.0000001".into(),
                reason: "decimal \"1.0000001\" has 7 fractional digits, the asset allows 6".into(),
            },
        ),
        (deposit("alice/main", "-5", "0x6"), EngineError::NonPositiveAmount { amount: "-5".into() }),
        (deposit("alice/main", "0", "0x6"), EngineError::NonPositiveAmount { amount: "0".into() }),
        (
            Command::Transfer { from: "alice/main".into(), to: "alice/main".into(), asset: "USDC".into(), amount: "1".into() },
            EngineError::SameAccount { account: "alice/main".into() },
        ),
        (
            Command::Transfer { from: "alice/main".into(), to: "alice/hedge".into(), asset: "USDC".into(), amount: "11".into() },
            EngineError::InsufficientBalance {
                account: "alice/main".into(),
                asset: "USDC".into(),
                needed: "11".into(),
                available: "10".into(),
            },
        ),
        (
            Command::Deposit {
                account: "@house".into(),
                asset: "USDC".into(),
                amount: "1".into(),
                custodian: "ethereum".into(),
                external_ref: "0x5".into(),
            },
            EngineError::WrongAccountKind { account: "@house".into(), why: "a broker account is not moved by client commands".into() },
        ),
        (
            Command::Deposit {
                account: "alice/main".into(),
                asset: "USDC".into(),
                amount: "1".into(),
                custodian: "mars".into(),
                external_ref: "0x4".into(),
            },
            EngineError::UnknownCustodian { custodian: "mars".into() },
        ),
        (create("Alice!", "main"), EngineError::InvalidName { name: "Alice!".into(), why: "1 to 64 of a-z 0-9 _ -".into() }),
        (create("alice", "main"), EngineError::DuplicateAccount { account: "alice/main".into() }),
        (
            Command::SetPrice { symbol: "ETH".into(), price_usd: "1e3".into() },
            EngineError::MalformedAmount { input: "1e3".into(), reason: "malformed decimal \"1e3\": not a decimal number".into() },
        ),
        (Command::CancelWithdrawal { withdrawal_id: "w-404".into() }, EngineError::UnknownWithdrawal { withdrawal_id: "w-404".into() }),
    ];
    for (i, (command, expected)) in cases.into_iter().enumerate() {
        let error = rejected(e.apply(&env(100 + i as u64, command)));
        assert_eq!(error, expected);
        assert_eq!(e.ledger().balances(), balances);
    }
    e.check_invariants().unwrap();
}

#[test]
fn transfers_only_between_sub_accounts_of_one_owner() {
    let mut e = engine();
    e.apply(&env(1, create("alice", "main")));
    e.apply(&env(2, create("alice", "hedge")));
    e.apply(&env(3, create("bob", "main")));
    e.apply(&env(4, deposit("alice/main", "10", "0x1")));
    let t = |to: &str| Command::Transfer { from: "alice/main".into(), to: to.into(), asset: "USDC".into(), amount: "4".into() };
    assert!(matches!(e.apply(&env(5, t("alice/hedge"))), Outcome::Applied { .. }));
    assert_eq!(
        rejected(e.apply(&env(6, t("bob/main")))),
        EngineError::DifferentOwners { from: "alice/main".into(), to: "bob/main".into() }
    );
    assert_eq!(posted(&e, "alice/main", "USDC"), "6");
    assert_eq!(posted(&e, "alice/hedge", "USDC"), "4");
}

#[test]
fn withdrawal_is_reserved_then_posted_after_latency_or_voided() {
    let mut e = engine();
    let latency = e.config().engine.withdrawal_latency_ms;
    e.apply(&env(1, create("alice", "main")));
    e.apply(&env(2, deposit("alice/main", "10", "0x1")));
    let w = |id: &str, amount: &str| Command::RequestWithdrawal {
        account: "alice/main".into(),
        asset: "USDC".into(),
        amount: amount.into(),
        custodian: "ethereum".into(),
        withdrawal_id: id.into(),
    };
    assert!(matches!(e.apply(&env(3, w("w1", "7"))), Outcome::Applied { .. }));
    // Reserved: the 7 can no longer be spent, but has not moved.
    assert_eq!(posted(&e, "alice/main", "USDC"), "10");
    assert!(matches!(rejected(e.apply(&env(4, w("w2", "4")))), EngineError::InsufficientBalance { .. }));
    assert!(matches!(e.apply(&env(5, w("w3", "3"))), Outcome::Applied { .. }));
    assert!(matches!(e.apply(&env(6, Command::CancelWithdrawal { withdrawal_id: "w3".into() })), Outcome::Applied { .. }));
    // Not yet due.
    e.apply(&env(7, Command::AdvanceTime { now_ms: latency - 1 }));
    assert_eq!(posted(&e, "alice/main", "USDC"), "10");
    let out = e.apply(&env(8, Command::AdvanceTime { now_ms: latency }));
    let Outcome::Applied { events, .. } = out else { panic!() };
    assert!(events.contains(&Event::WithdrawalPosted { withdrawal_id: "w1".into() }));
    assert_eq!(posted(&e, "alice/main", "USDC"), "3");
    assert_eq!(posted(&e, "@custody/ethereum", "USDC"), "-3");
    // A withdrawal id is never reused.
    assert!(matches!(rejected(e.apply(&env(9, w("w1", "1")))), EngineError::DuplicateReference { .. }));
    // An account on hold has its due withdrawal voided.
    e.apply(&env(10, w("w4", "2")));
    e.apply(&env(11, Command::SetHold { account: "alice/main".into(), held: true }));
    let Outcome::Applied { events, .. } = e.apply(&env(12, Command::AdvanceTime { now_ms: 2 * latency })) else { panic!() };
    assert!(events.contains(&Event::WithdrawalVoided { withdrawal_id: "w4".into(), why: "account on hold".into() }));
    assert_eq!(posted(&e, "alice/main", "USDC"), "3");
    assert_eq!(
        rejected(e.apply(&env(13, Command::AdvanceTime { now_ms: 0 }))),
        EngineError::TimeWentBackwards { now_ms: 2 * latency, given_ms: 0 }
    );
    e.check_invariants().unwrap();
}

#[test]
fn snapshot_restores_the_same_state_hash() {
    let mut e = engine();
    e.apply(&env(1, create("alice", "main")));
    e.apply(&env(2, deposit("alice/main", "10", "0x1")));
    e.apply(&env(3, Command::SetPrice { symbol: "ETH".into(), price_usd: "3012.5".into() }));
    e.apply(&env(
        4,
        Command::RequestWithdrawal {
            account: "alice/main".into(),
            asset: "USDC".into(),
            amount: "1".into(),
            custodian: "ethereum".into(),
            withdrawal_id: "w".into(),
        },
    ));
    let bytes = e.encode_snapshot();
    let mut restored = Engine::decode_snapshot(Config::default_config(), &bytes).unwrap();
    assert_eq!(restored.state_hash(), e.state_hash());
    // They continue identically.
    let next = env(5, Command::AdvanceTime { now_ms: 10_000_000 });
    assert_eq!(restored.apply(&next), e.apply(&next));
    assert_eq!(restored.state_hash(), e.state_hash());
    assert_eq!(restored.apply(&env(4, create("x", "y"))), Outcome::Duplicate { first_seq: 4 });
    // A different configuration is refused.
    let mut other = Config::default_config();
    other.engine.withdrawal_latency_ms += 1;
    assert_eq!(Engine::decode_snapshot(other, &bytes).unwrap_err(), SnapshotError::ConfigMismatch);
}

#[test]
fn commands_round_trip_through_json() {
    let line = r#"{"client":"alice","id":7,"command":{"type":"deposit","account":"alice/main","asset":"USDC","amount":"5","custodian":"ethereum","external_ref":"0x1"}}"#;
    let parsed: Envelope = serde_json::from_str(line).unwrap();
    assert_eq!(parsed.command, deposit("alice/main", "5", "0x1"));
    let unknown_field = r#"{"client":"a","id":1,"command":{"type":"advance_time","now_ms":5,"speed":"fast"}}"#;
    assert!(serde_json::from_str::<Envelope>(unknown_field).is_err());
    let default_sub: Envelope = serde_json::from_str(r#"{"client":"a","id":1,"command":{"type":"create_account","owner":"a"}}"#).unwrap();
    assert_eq!(default_sub.command, create("a", "main"));
}
