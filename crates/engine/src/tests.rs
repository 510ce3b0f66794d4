//! Unit tests of the engine, one per finding of the core-hardening review where it concerns
//! the engine (`finding_N_...`), plus the behaviour they rest on.

use super::*;
use model::Config;

const USDC_ETH: &str = "ethereum";

fn config() -> StateConfig {
    StateConfig::from_model(&Config::default_config())
}

fn op(id: u64, command: Command) -> Envelope {
    Envelope { client: "operator".into(), id, command }
}

fn as_(client: &str, id: u64, command: Command) -> Envelope {
    Envelope { client: client.into(), id, command }
}

fn create(owner: &str, sub: &str) -> Command {
    Command::CreateAccount { owner: owner.into(), sub: sub.into() }
}

fn deposit(account: &str, asset: &str, amount: &str, custodian: &str, reference: &str) -> Command {
    Command::Deposit {
        account: account.into(),
        asset: asset.into(),
        amount: amount.into(),
        custodian: custodian.into(),
        external_ref: reference.into(),
    }
}

fn withdraw(account: &str, asset: &str, amount: &str, custodian: &str, id: &str) -> Command {
    Command::RequestWithdrawal {
        account: account.into(),
        asset: asset.into(),
        amount: amount.into(),
        custodian: custodian.into(),
        destination: "0xdead".into(),
        withdrawal_id: id.into(),
    }
}

fn transfer(from: &str, to: &str, amount: &str) -> Command {
    Command::Transfer { from: from.into(), to: to.into(), asset: "USDC".into(), amount: amount.into() }
}

fn applied(outcome: Outcome) -> Vec<Event> {
    match outcome {
        Outcome::Applied { events, .. } => events,
        other => panic!("expected applied, got {other:?}"),
    }
}

fn rejected(outcome: Outcome) -> EngineError {
    match outcome {
        Outcome::Rejected { error, .. } => error,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn refused(outcome: Outcome) -> EngineError {
    match outcome {
        Outcome::Refused { error } => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn posted(e: &Engine, account: &str, asset: &str) -> String {
    e.balances().into_iter().find(|r| r.account == account && r.asset == asset).map(|r| r.posted).unwrap_or_else(|| "0".into())
}

/// Genesis, owners alice and bob with a main account each, alice with 1000 USDC at ethereum.
fn engine() -> Engine {
    engine_from(config())
}

/// The default configuration with one-lot orders allowed on every market (min_notional of one
/// quote unit): for tests of rounding and limits on the smallest fills.
fn dust_config() -> StateConfig {
    let mut c = config();
    for m in &mut c.markets {
        m.min_notional = if m.quote == "USDC" { "0.000001".into() } else { "0.000000000000000001".into() };
    }
    c
}

fn engine_from(config: StateConfig) -> Engine {
    let mut e = Engine::with_genesis(config).unwrap();
    applied(e.apply(&op(1, Command::RegisterPrincipal { name: "alice".into(), role: Role::Owner })));
    applied(e.apply(&op(2, Command::RegisterPrincipal { name: "bob".into(), role: Role::Owner })));
    applied(e.apply(&op(3, create("alice", "main"))));
    applied(e.apply(&op(4, create("bob", "main"))));
    applied(e.apply(&as_("alice", 1, create("alice", "hedge"))));
    applied(e.apply(&op(5, deposit("alice/main", "USDC", "1000", USDC_ETH, "0xa1"))));
    e
}

#[test]
fn deposit_credits_client_and_mirrors_custody() {
    let e = engine();
    assert_eq!(posted(&e, "alice/main", "USDC"), "1000");
    assert_eq!(posted(&e, "@custody/ethereum", "USDC"), "-1000");
    e.check_invariants().unwrap();
}

#[test]
fn finding_1_anyone_can_act_on_any_account() {
    let mut e = engine();
    applied(e.apply(&as_("alice", 2, withdraw("alice/main", "USDC", "10", USDC_ETH, "alice-w"))));
    let books = e.books_hash();
    let unauthorized = |e: EngineError| matches!(e, EngineError::Unauthorized { .. });
    // An unregistered principal: nothing at all.
    assert!(unauthorized(refused(e.apply(&as_("mallory", 1, Command::CancelWithdrawal { withdrawal_id: "alice-w".into() })))));
    // A registered owner acting on someone else's account, withdrawal or name.
    assert!(unauthorized(refused(e.apply(&as_("bob", 1, Command::CancelWithdrawal { withdrawal_id: "alice-w".into() })))));
    assert!(unauthorized(refused(e.apply(&as_("bob", 2, transfer("alice/main", "alice/hedge", "1"))))));
    assert!(unauthorized(refused(e.apply(&as_("bob", 3, withdraw("alice/main", "USDC", "1", USDC_ETH, "bob-w"))))));
    assert!(unauthorized(refused(e.apply(&as_("bob", 4, create("alice", "x"))))));
    // Operator's commands are not an owner's.
    for (i, command) in [
        Command::SetPrice { symbol: "USDC".into(), price_usd: "0.000000000000000001".into() },
        deposit("alice/main", "ETH", "1000000", USDC_ETH, "0xfake"),
        Command::AdvanceTime { now_ms: 5 },
        Command::SetHold { account: "alice/main".into(), held: true },
        Command::RegisterPrincipal { name: "bob2".into(), role: Role::Operator },
    ]
    .into_iter()
    .enumerate()
    {
        assert!(unauthorized(refused(e.apply(&as_("alice", 10 + i as u64, command)))));
    }
    // The operator does not move a client's funds; an auditor does nothing.
    assert!(unauthorized(refused(e.apply(&op(20, transfer("alice/main", "alice/hedge", "1"))))));
    assert!(unauthorized(refused(e.apply(&as_("auditor", 1, Command::AdvanceTime { now_ms: 5 })))));
    assert_eq!(e.books_hash(), books, "no refusal changed the books");
    // What alice may do, she does.
    applied(e.apply(&as_("alice", 3, transfer("alice/main", "alice/hedge", "1"))));
    applied(e.apply(&as_("alice", 4, Command::CancelWithdrawal { withdrawal_id: "alice-w".into() })));
}

#[test]
fn finding_2_custody_is_not_checked() {
    let mut e = engine();
    // stETH may not be held at dydx.
    assert_eq!(
        rejected(e.apply(&op(10, deposit("alice/main", "stETH", "1", "dydx", "0xs")))),
        EngineError::AssetNotAtCustodian { custodian: "dydx".into(), asset: "stETH".into() }
    );
    // Alice's 1000 USDC arrived at ethereum: arbitrum holds none of it.
    assert_eq!(
        rejected(e.apply(&as_("alice", 2, withdraw("alice/main", "USDC", "1", "arbitrum", "w-arb")))),
        EngineError::InsufficientCustody { custodian: "arbitrum".into(), asset: "USDC".into(), needed: "1".into(), held: "0".into() }
    );
    // Pending withdrawals count against what the custodian still holds.
    applied(e.apply(&op(11, deposit("bob/main", "USDC", "500", "dydx", "0xb1"))));
    applied(e.apply(&as_("bob", 1, withdraw("bob/main", "USDC", "300", "dydx", "w-b1"))));
    applied(e.apply(&as_("alice", 3, withdraw("alice/main", "USDC", "200", "dydx", "w-a1"))));
    assert!(matches!(
        rejected(e.apply(&as_("alice", 4, withdraw("alice/main", "USDC", "1", "dydx", "w-a2")))),
        EngineError::InsufficientCustody { .. }
    ));
    applied(e.apply(&op(12, Command::ConfirmWithdrawal { withdrawal_id: "w-b1".into(), chain_ref: "0xc1".into() })));
    applied(e.apply(&op(13, Command::ConfirmWithdrawal { withdrawal_id: "w-a1".into(), chain_ref: "0xc2".into() })));
    assert_eq!(posted(&e, "@custody/dydx", "USDC"), "0");
    e.check_invariants().unwrap();
}

#[test]
fn finding_3_clock_can_be_broken() {
    let mut e = engine();
    applied(e.apply(&op(10, Command::AdvanceTime { now_ms: 1_767_225_600_000 })));
    let books = e.books_hash();
    assert!(matches!(rejected(e.apply(&op(11, Command::AdvanceTime { now_ms: u64::MAX }))), EngineError::TimeOutOfRange { .. }));
    // Microseconds by mistake.
    assert!(matches!(
        rejected(e.apply(&op(12, Command::AdvanceTime { now_ms: 1_767_225_600_000_000 }))),
        EngineError::TimeOutOfRange { .. }
    ));
    assert_eq!(
        rejected(e.apply(&op(13, Command::AdvanceTime { now_ms: 1_767_225_600_000 + 86_400_001 }))),
        EngineError::TimeStepTooLarge { step_ms: 86_400_001, max_ms: 86_400_000 }
    );
    assert!(matches!(rejected(e.apply(&op(14, Command::AdvanceTime { now_ms: 0 }))), EngineError::TimeWentBackwards { .. }));
    assert_eq!(e.books_hash(), books, "rejected clock commands change nothing");
    // Withdrawals can still be requested, and time moves on by a day.
    applied(e.apply(&as_("alice", 2, withdraw("alice/main", "USDC", "1", USDC_ETH, "w1"))));
    applied(e.apply(&op(15, Command::AdvanceTime { now_ms: 1_767_225_600_000 + 86_400_000 })));
}

#[test]
fn finding_4_reused_id_with_different_command() {
    let mut e = engine();
    let first = e.apply(&op(10, deposit("alice/main", "USDC", "1", USDC_ETH, "0xr1")));
    let Outcome::Applied { seq, .. } = first else { panic!("{first:?}") };
    // The same command under the same id: its first result.
    assert_eq!(e.apply(&op(10, deposit("alice/main", "USDC", "1", USDC_ETH, "0xr1"))), Outcome::Duplicate { first_seq: seq });
    // Another command under that id: refused, nothing applied.
    assert_eq!(
        refused(e.apply(&op(10, deposit("alice/main", "USDC", "1000000", USDC_ETH, "0xr2")))),
        EngineError::IdReusedWithDifferentCommand { principal: "operator".into(), id: 10, first_seq: seq }
    );
    assert_eq!(posted(&e, "alice/main", "USDC"), "1001");
}

#[test]
fn finding_4_session_window_forgets_oldest_ids_and_refuses_them() {
    let mut e = engine();
    let window = e.config().limits.client_ids_window as u64;
    for id in 100..100 + window + 5 {
        applied(e.apply(&op(id, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() })));
    }
    // The five oldest ids are forgotten: a retry is refused as too old, never re-applied.
    let retry = refused(e.apply(&op(100, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() })));
    assert_eq!(retry, EngineError::IdTooOld { principal: "operator".into(), id: 100, watermark: 104 });
    // The newest ones are remembered; new ids keep working (the cap is no dead end).
    assert!(matches!(e.apply(&op(100 + window + 4, Command::AdvanceTime { now_ms: 1 })), Outcome::Refused { .. }));
    assert!(matches!(
        e.apply(&op(100 + window + 4, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() })),
        Outcome::Duplicate { .. }
    ));
    applied(e.apply(&op(1_000_000, Command::AdvanceTime { now_ms: 1 })));
    assert!(e.remembered_ids() <= e.principals().len() * window as usize);
}

#[test]
fn finding_5_oversized_and_unprintable_fields_are_refused_first() {
    let mut e = engine();
    let books = e.books_hash();
    let long = "a".repeat(FIELD_BYTES_MAX + 1);
    assert!(matches!(refused(e.apply(&op(10, deposit(&long, "USDC", "1", USDC_ETH, "0x1")))), EngineError::MalformedField { .. }));
    assert!(matches!(refused(e.apply(&as_(&"x".repeat(1 << 20), 1, create("x", "main")))), EngineError::InvalidName { .. }));
    for bad in ["a\u{0}b", "a\nb", "a\u{202e}b", "caf\u{e9}", "a b", ""] {
        assert!(matches!(refused(e.apply(&op(11, create(bad, "main")))), EngineError::MalformedField { .. }), "{bad:?}");
    }
    assert_eq!(e.books_hash(), books);
}

#[test]
fn finding_7_configuration_changes_by_command() {
    let mut e = engine();
    let change = |c| Command::Configure { change: c };
    applied(e.apply(&op(10, change(ConfigChange::AddAsset { symbol: "USDe".into(), decimals: 18 }))));
    applied(e.apply(&op(11, change(ConfigChange::AllowCustodyAsset { custodian: "arbitrum".into(), asset: "USDe".into() }))));
    applied(e.apply(&op(12, deposit("alice/main", "USDe", "5.5", "arbitrum", "0xe1"))));
    let mut limits = e.config().limits.clone();
    limits.accounts_max += 1;
    applied(e.apply(&op(13, change(ConfigChange::SetLimits { limits: limits.clone() }))));
    assert_eq!(e.config().limits, limits);
    // A limit below what is in use, decimals out of range, a duplicate: typed refusals.
    limits.accounts_max = 1;
    assert!(matches!(rejected(e.apply(&op(14, change(ConfigChange::SetLimits { limits })))), EngineError::ConfigRefused { .. }));
    assert!(matches!(
        rejected(e.apply(&op(15, change(ConfigChange::AddAsset { symbol: "X".into(), decimals: 200 })))),
        EngineError::ConfigRefused { .. }
    ));
    assert!(matches!(
        rejected(e.apply(&op(16, change(ConfigChange::AddAsset { symbol: "USDC".into(), decimals: 6 })))),
        EngineError::ConfigRefused { .. }
    ));
    // The snapshot carries the configuration: restoring needs no file.
    let bytes = e.encode_snapshot();
    let mut restored = Engine::decode_snapshot(&bytes).unwrap();
    assert_eq!(restored.state_hash(), e.state_hash());
    assert_eq!(restored.config(), e.config());
}

#[test]
fn finding_8_limits_are_reconciled() {
    let limits = Config::default_config().limits;
    limits::reconcile(&limits).unwrap();
    let bound = limits::snapshot_bytes_bound(&limits::Counts::of_limits(&limits));
    assert!(bound <= limits::SNAPSHOT_BYTES_MAX, "default snapshot bound {bound}");
    assert!(limits::largest_result_bytes(&limits) <= limits::RECORD_BYTES_MAX as u64);
    // Limits that cannot fit are refused, naming what does not fit.
    let mut big = limits.clone();
    big.accounts_max = 10_000_000;
    assert!(matches!(limits::reconcile(&big), Err(limits::LimitsError::TooLarge { what: "snapshot", .. })));
    let mut e = engine();
    assert!(matches!(
        rejected(e.apply(&op(10, Command::Configure { change: ConfigChange::SetLimits { limits: big } }))),
        EngineError::ConfigRefused { .. }
    ));
}

/// A million accounts, each with its own owner, fit the snapshot limit now that the journal stores
/// snapshots in chunks (issue 10's 1M-account benchmark); the bound is linear in the accounts, so
/// ten times as many are still refused.
#[test]
fn a_million_accounts_pass_genesis() {
    let mut limits = Config::default_config().limits;
    limits.accounts_max = 1_000_000;
    limits.principals_max = 1_000_000;
    limits::reconcile(&limits).unwrap();
    let bound = limits::snapshot_bytes_bound(&limits::Counts::of_limits(&limits));
    assert!(bound > 512 << 20, "a million accounts did not fit the old 512 MiB limit: {bound}");
    let mut config = config();
    config.limits = limits.clone();
    assert!(Engine::with_genesis(config).is_ok());
    limits.accounts_max = 10_000_000;
    assert!(matches!(limits::reconcile(&limits), Err(limits::LimitsError::TooLarge { what: "snapshot", .. })));
}

/// The liquidation step's measure of a result is the length of the journalled outcome (one
/// byte per event above it at most: the separators), and it says no exactly when the work asked
/// for and the reserve would pass the record limit.
#[test]
fn the_liquidation_step_measures_its_result_against_the_record() {
    let mut events = Vec::new();
    let mut room = limits::ResultRoom::new();
    let reserve = limits::liquidation_reserve_bytes();
    for i in 0..2_000u64 {
        events.push(Event::LiquidationEnded { seq: i, account: format!("owner{i}/main") });
        events.push(Event::TimeAdvanced { now_ms: i * 7 });
    }
    let outcome = serde_json::to_vec(&Outcome::Applied { seq: u64::MAX, events: events.clone() }).unwrap().len() as u64;
    let left = limits::RECORD_BYTES_MAX as u64 - outcome - reserve;
    // Measured in two goes, as the step does between the pieces of work it adds.
    assert!(room.fits(&events[..1_000], 0));
    assert!(room.fits(&events, left - events.len() as u64));
    assert!(!room.fits(&events, left + 1));
    // Nearly full: one account's liquidation at its worst no longer fits, a chunk still does.
    let markets: Vec<model::Market> = config().markets;
    let markets: Vec<&model::Market> = markets.iter().collect();
    let worst = limits::liquidation_account_bytes(&markets, 32);
    let filler = limits::RECORD_BYTES_MAX as u64 - outcome - reserve - worst + 1;
    events.push(Event::LiquidationDeferred { seq: 0, account: "x/y".into(), why: "z".repeat(filler as usize - 64) });
    assert!(!room.fits(&events, worst));
    assert!(room.fits(&events, limits::liquidation_chunk_bytes()));
}

#[test]
fn finding_8_snapshot_bound_holds_for_a_real_engine() {
    // A real state with long names, many withdrawals and references: its encoded snapshot is
    // below the bound computed for its counts.
    let mut e = engine();
    let mut id = 100;
    let mut next = |e: &mut Engine, client: &str, command| {
        id += 1;
        e.apply(&as_(client, id, command))
    };
    for i in 0..200 {
        let owner = format!("{}{i:03}", "o".repeat(61));
        applied(next(&mut e, "operator", Command::RegisterPrincipal { name: owner.clone(), role: Role::Owner }));
        applied(next(&mut e, "operator", create(&owner, &"s".repeat(64))));
        let account = format!("{owner}/{}", "s".repeat(64));
        for asset in ["USDC", "ETH", "WBTC"] {
            applied(next(
                &mut e,
                "operator",
                deposit(&account, asset, "123456789.123456", USDC_ETH, &format!("{asset}{}{i}", "x".repeat(100))),
            ));
        }
        let wid = format!("{}{i:03}", "w".repeat(125));
        applied(next(&mut e, &owner, withdraw(&account, "USDC", "1.5", USDC_ETH, &wid)));
    }
    let counts = limits::Counts {
        accounts: e.ledger().accounts_count() as u64,
        assets: e.config().assets.len() as u64,
        custodians: e.config().custodians.len() as u64,
        principals: e.principals().len() as u64,
        ids_per_principal: e.config().limits.client_ids_window as u64,
        withdrawals: 200,
        references: 1 + 200 * 4,
        markets: e.config().markets.len() as u64,
        orders_per_market: 0,
    };
    let actual = e.encode_snapshot().len() as u64;
    let bound = limits::snapshot_bytes_bound(&counts);
    assert!(actual <= bound, "snapshot {actual} bytes above its bound {bound}");
}

#[test]
fn finding_9_inconsistent_snapshot_is_refused() {
    let mut e = engine();
    let mut snapshot = e.to_snapshot();
    // Credit money out of nowhere: conservation no longer holds.
    let row = snapshot.ledger.balances.iter_mut().find(|(_, _, b)| b.posted > 0).unwrap();
    row.2.posted += 1;
    assert!(matches!(Engine::from_snapshot(snapshot), Err(SnapshotError::Inconsistent { .. })));
}

#[test]
fn finding_10_numeraire_and_names() {
    let mut e = engine();
    assert_eq!(
        rejected(e.apply(&op(10, Command::SetPrice { symbol: "USD".into(), price_usd: "2".into() }))),
        EngineError::NumerairePrice { symbol: "USD".into() }
    );
    assert!(matches!(rejected(e.apply(&op(11, create("Alice", "main")))), EngineError::InvalidName { .. }));
    assert!(matches!(
        rejected(e.apply(&op(12, Command::RegisterPrincipal { name: "@root".into(), role: Role::Operator }))),
        EngineError::InvalidName { .. }
    ));
    assert!(matches!(rejected(e.apply(&op(13, deposit("alice/main", "USDC", "1", USDC_ETH, "tx#1")))), EngineError::InvalidName { .. }));
}

#[test]
fn finding_11_withdrawals_need_confirmation_and_are_reported_overdue() {
    let mut e = engine();
    applied(e.apply(&op(10, Command::AdvanceTime { now_ms: 1_000 })));
    applied(e.apply(&as_("alice", 2, withdraw("alice/main", "USDC", "100", USDC_ETH, "w1"))));
    let timeout = e.config().settings.withdrawal_confirm_timeout_ms;
    // Time alone moves nothing; past the timeout the withdrawal is reported, once.
    let events = applied(e.apply(&op(11, Command::AdvanceTime { now_ms: 1_000 + timeout })));
    assert!(events.contains(&Event::WithdrawalOverdue { withdrawal_id: "w1".into(), due_ms: 1_000 + timeout }));
    assert_eq!(applied(e.apply(&op(12, Command::AdvanceTime { now_ms: 2_000 + timeout }))).len(), 1);
    assert_eq!(posted(&e, "alice/main", "USDC"), "1000");
    // On hold: not confirmable; released: confirmed with its chain reference.
    applied(e.apply(&op(13, Command::SetHold { account: "alice/main".into(), held: true })));
    let confirm = |id| op(id, Command::ConfirmWithdrawal { withdrawal_id: "w1".into(), chain_ref: "0xfeed".into() });
    assert!(matches!(rejected(e.apply(&confirm(14))), EngineError::AccountOnHold { .. }));
    assert!(matches!(
        rejected(e.apply(&as_("alice", 3, withdraw("alice/main", "USDC", "1", USDC_ETH, "w2")))),
        EngineError::AccountOnHold { .. }
    ));
    applied(e.apply(&op(15, Command::SetHold { account: "alice/main".into(), held: false })));
    let events = applied(e.apply(&confirm(16)));
    assert_eq!(events[0], Event::WithdrawalConfirmed { withdrawal_id: "w1".into(), chain_ref: "0xfeed".into() });
    assert_eq!(posted(&e, "alice/main", "USDC"), "900");
    assert_eq!(posted(&e, "@custody/ethereum", "USDC"), "-900");
    // A chain reference confirms one withdrawal only.
    applied(e.apply(&as_("alice", 4, withdraw("alice/main", "USDC", "1", USDC_ETH, "w3"))));
    let again = op(17, Command::ConfirmWithdrawal { withdrawal_id: "w3".into(), chain_ref: "0xfeed".into() });
    assert!(matches!(rejected(e.apply(&again)), EngineError::DuplicateReference { .. }));
    e.check_invariants().unwrap();
}

#[test]
fn overdue_reports_are_bounded_per_command() {
    let mut config = config();
    config.limits.pending_withdrawals_per_account_max = 1000;
    let mut e = Engine::with_genesis(config).unwrap();
    applied(e.apply(&op(1, Command::RegisterPrincipal { name: "alice".into(), role: Role::Owner })));
    applied(e.apply(&op(2, create("alice", "main"))));
    applied(e.apply(&op(3, deposit("alice/main", "USDC", "1000", USDC_ETH, "0xa"))));
    let count = withdrawals::OVERDUE_REPORTS_PER_COMMAND_MAX + 10;
    for i in 0..count {
        applied(e.apply(&as_("alice", 10 + i as u64, withdraw("alice/main", "USDC", "0.01", USDC_ETH, &format!("w{i}")))));
    }
    let timeout = e.config().settings.withdrawal_confirm_timeout_ms;
    let first = applied(e.apply(&op(4, Command::AdvanceTime { now_ms: timeout })));
    assert_eq!(first.len(), 1 + withdrawals::OVERDUE_REPORTS_PER_COMMAND_MAX);
    let second = applied(e.apply(&op(5, Command::AdvanceTime { now_ms: timeout })));
    assert_eq!(second.len(), 1 + 10);
}

#[test]
fn genesis_first_and_once() {
    let mut e = Engine::new();
    assert_eq!(refused(e.apply(&op(1, Command::AdvanceTime { now_ms: 1 }))), EngineError::NotInitialised);
    let mut bad = config();
    bad.custodians[0].assets.push("NOPE".into());
    assert!(matches!(refused(e.apply(&genesis_envelope(bad))), EngineError::ConfigRefused { .. }));
    applied(e.apply(&genesis_envelope(config())));
    assert_eq!(e.apply(&genesis_envelope(config())), Outcome::Duplicate { first_seq: 1 });
    assert_eq!(refused(e.apply(&op(1, Command::Genesis { config: Box::new(config()) }))), EngineError::AlreadyInitialised);
}

#[test]
fn snapshot_restores_the_same_state_hash() {
    let mut e = engine();
    applied(e.apply(&op(10, Command::SetPrice { symbol: "ETH".into(), price_usd: "3012.5".into() })));
    applied(e.apply(&as_("alice", 2, withdraw("alice/main", "USDC", "1", USDC_ETH, "w"))));
    let bytes = e.encode_snapshot();
    let mut restored = Engine::decode_snapshot(&bytes).unwrap();
    assert_eq!(restored.state_hash(), e.state_hash());
    let next = op(11, Command::AdvanceTime { now_ms: 10_000_000 });
    assert_eq!(restored.apply(&next), e.apply(&next));
    assert_eq!(restored.state_hash(), e.state_hash());
    assert!(matches!(
        restored.apply(&op(10, Command::SetPrice { symbol: "ETH".into(), price_usd: "3012.5".into() })),
        Outcome::Duplicate { .. }
    ));
    assert!(matches!(Engine::decode_snapshot(&bytes[..bytes.len() / 2]), Err(SnapshotError::Decode { .. })));
}

#[test]
fn commands_round_trip_through_json() {
    let line = r#"{"client":"alice","id":7,"command":{"type":"deposit","account":"alice/main","asset":"USDC","amount":"5","custodian":"ethereum","external_ref":"0x1"}}"#;
    let parsed: Envelope = serde_json::from_str(line).unwrap();
    assert_eq!(parsed.command, deposit("alice/main", "USDC", "5", USDC_ETH, "0x1"));
    let unknown_field = r#"{"client":"a","id":1,"command":{"type":"advance_time","now_ms":5,"speed":"fast"}}"#;
    assert!(serde_json::from_str::<Envelope>(unknown_field).is_err());
    let default_principal: Envelope = serde_json::from_str(r#"{"id":1,"command":{"type":"create_account","owner":"a"}}"#).unwrap();
    assert_eq!(default_principal.command, create("a", "main"));
    assert_eq!(default_principal.client, DEFAULT_PRINCIPAL);
}

#[test]
fn finding_11_prices_value_accounts_rounding_down() {
    let mut e = engine();
    applied(e.apply(&op(10, deposit("alice/main", "ETH", "0.000000000000000003", USDC_ETH, "0xe"))));
    assert_eq!(e.valuation("alice/main").unwrap_err(), EngineError::MissingPrice { symbol: "ETH".into() });
    applied(e.apply(&op(11, Command::SetPrice { symbol: "USDC".into(), price_usd: "0.9998".into() })));
    applied(e.apply(&op(12, Command::SetPrice { symbol: "ETH".into(), price_usd: "0.333333333333333333".into() })));
    let v = e.valuation("alice/main").unwrap();
    // 1000 USDC at 0.9998 = 999.8; 3e-18 ETH at 0.333... = 0.999...e-18 USD, rounded down to 0.
    assert_eq!(v.total_usd, "999.8");
    let eth = v.balances.iter().find(|b| b.asset == "ETH").unwrap();
    assert_eq!((eth.amount.as_str(), eth.value_usd.as_str()), ("0.000000000000000003", "0"));
}

mod spot {
    use super::*;

    fn order(
        account: &str,
        client_order_id: u64,
        side: markets::OrderSide,
        kind: markets::OrderKind,
        price: Option<&str>,
        qty: &str,
    ) -> Command {
        Command::PlaceOrder {
            account: account.into(),
            market: "ETH/USDC".into(),
            client_order_id,
            side,
            kind,
            price: price.map(String::from),
            qty: qty.into(),
        }
    }

    /// alice holds 2 ETH, bob 10,000 USDC; ETH at 3000, USDC at 1.
    fn market_engine() -> Engine {
        let mut e = engine();
        applied(e.apply(&op(10, deposit("alice/main", "ETH", "2", USDC_ETH, "0xeth"))));
        applied(e.apply(&op(11, deposit("bob/main", "USDC", "10000", USDC_ETH, "0xusdc"))));
        applied(e.apply(&op(12, Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() })));
        applied(e.apply(&op(13, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() })));
        e
    }

    use markets::{OrderKind::*, OrderSide::*};

    #[test]
    fn a_crossed_trade_settles_at_the_maker_price_with_fees() {
        let mut e = market_engine();
        let events = applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3000"), "1"))));
        assert!(matches!(events.last(), Some(Event::OrderRested { .. })), "{events:?}");
        // The sell holds its ETH: it can no longer be withdrawn.
        assert!(matches!(
            rejected(e.apply(&as_("alice", 3, withdraw("alice/main", "ETH", "1.5", USDC_ETH, "w-eth")))),
            EngineError::InsufficientBalance { .. }
        ));
        let events = applied(e.apply(&as_("bob", 1, order("bob/main", 7, Buy, Limit, Some("3010"), "1"))));
        let fill = events.iter().find(|ev| matches!(ev, Event::OrderFilled { .. })).expect("a fill");
        let Event::OrderFilled { price, quote_amount, maker_fee, taker_fee, .. } = fill else { unreachable!() };
        // At the maker's price; taker 5 bps = 1.5 USDC; maker rebate 1 bp = 0.3 USDC.
        assert_eq!((price.as_str(), quote_amount.as_str(), maker_fee.as_str(), taker_fee.as_str()), ("3000", "3000", "-0.3", "1.5"));
        assert_eq!(posted(&e, "alice/main", "ETH"), "1");
        assert_eq!(posted(&e, "alice/main", "USDC"), "4000.3");
        assert_eq!(posted(&e, "bob/main", "ETH"), "1");
        assert_eq!(posted(&e, "bob/main", "USDC"), "6998.5");
        assert_eq!(posted(&e, "@fees", "USDC"), "1.2");
        e.check_invariants().unwrap();
    }

    #[test]
    fn an_order_beyond_the_balance_is_refused_with_its_numbers_then_accepted_after_a_deposit() {
        let mut e = market_engine();
        let buy = order("bob/main", 1, Buy, Limit, Some("3000"), "4");
        // 12,000 + 6 (5 bps) + 0.008 of slack (2 units per lot of 0.001) is needed, 10,000 held.
        assert_eq!(
            rejected(e.apply(&as_("bob", 1, buy.clone()))),
            EngineError::InsufficientBalance {
                account: "bob/main".into(),
                asset: "USDC".into(),
                needed: "12006.008".into(),
                available: "10000".into()
            }
        );
        applied(e.apply(&op(20, deposit("bob/main", "USDC", "2006.008", USDC_ETH, "0xmore"))));
        applied(e.apply(&as_("bob", 2, buy)));
        let reserved = e.balances().into_iter().find(|r| r.account == "bob/main" && r.asset == "USDC").unwrap().reserved;
        assert_eq!(reserved, "12006.008");
        e.check_invariants().unwrap();
    }

    #[test]
    fn partial_fills_cancel_and_holds_follow_the_book() {
        let mut e = market_engine();
        applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3000"), "1.5"))));
        applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, ImmediateOrCancel, Some("3000"), "0.4"))));
        let reserved = |e: &Engine, account: &str, asset: &str| {
            e.balances().into_iter().find(|r| r.account == account && r.asset == asset).map(|r| r.reserved).unwrap_or_else(|| "0".into())
        };
        assert_eq!(reserved(&e, "alice/main", "ETH"), "1.1");
        assert_eq!(reserved(&e, "bob/main", "USDC"), "0", "an immediate-or-cancel order leaves nothing open");
        // bob may not cancel alice's order; alice may.
        let order_id = e.open_orders("ETH/USDC", "alice/main").unwrap()[0].order_id.0;
        let cancel = |account: &str| Command::CancelOrder { account: account.into(), market: "ETH/USDC".into(), order_id };
        assert!(matches!(refused(e.apply(&as_("bob", 2, cancel("alice/main")))), EngineError::Unauthorized { .. }));
        applied(e.apply(&as_("alice", 3, cancel("alice/main"))));
        assert_eq!(reserved(&e, "alice/main", "ETH"), "0");
        applied(e.apply(&as_("alice", 4, withdraw("alice/main", "ETH", "1.6", USDC_ETH, "w-eth"))));
        e.check_invariants().unwrap();
    }

    #[test]
    fn market_orders_trade_within_the_band_and_bad_orders_change_nothing() {
        let mut e = market_engine();
        applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3100"), "1"))));
        applied(e.apply(&as_("alice", 3, order("alice/main", 2, Sell, Limit, Some("3140"), "1"))));
        // The oracle moves down: the band around 2960 reaches 3108.
        applied(e.apply(&op(14, Command::SetPrice { symbol: "ETH".into(), price_usd: "2960".into() })));
        let books = e.books_hash();
        for (i, (command, expected)) in [
            (order("bob/main", 1, Buy, Limit, Some("3300"), "0.1"), "band"),
            (order("bob/main", 1, Buy, Limit, Some("3000.000001"), "0.1"), "quote units per lot"),
            (order("bob/main", 1, Buy, Limit, Some("3000.001"), "0.1"), "tick"),
            (order("bob/main", 1, Buy, Limit, Some("3000.0000001"), "0.1"), "fractional digits"),
            (order("bob/main", 1, Buy, Limit, Some("3000"), "0.0001"), "lots"),
            (order("bob/main", 1, Buy, PostOnly, Some("3100"), "0.1"), "post-only"),
            (order("bob/main", 1, Buy, FillOrKill, Some("3100"), "2"), "fill-or-kill"),
            (order("bob/main", 1, Buy, Market, Some("3100"), "2"), "takes no price"),
        ]
        .into_iter()
        .enumerate()
        {
            let outcome = e.apply(&as_("bob", 10 + i as u64, command));
            let text = match outcome {
                Outcome::Rejected { error, .. } | Outcome::Refused { error } => error.to_string(),
                other => panic!("{other:?}"),
            };
            assert!(text.contains(expected), "{text} should mention {expected}");
        }
        assert_eq!(e.books_hash(), books);
        // A market buy (band 5% around 2960: up to 3108) takes the 3100 order only.
        let events = applied(e.apply(&as_("bob", 30, order("bob/main", 3, Buy, Market, None, "2"))));
        let fills: Vec<_> = events.iter().filter(|ev| matches!(ev, Event::OrderFilled { .. })).collect();
        assert_eq!(fills.len(), 1, "{events:?}");
        assert!(matches!(events.last(), Some(Event::OrderCancelled { .. })));
        assert_eq!(posted(&e, "bob/main", "ETH"), "1");
        e.check_invariants().unwrap();
    }

    #[test]
    fn snapshot_restores_books_and_holds() {
        let mut e = market_engine();
        applied(e.apply(&as_("alice", 2, order("alice/main", 1, Sell, Limit, Some("3000"), "1"))));
        applied(e.apply(&as_("bob", 1, order("bob/main", 1, Buy, Limit, Some("2990"), "1"))));
        let bytes = e.encode_snapshot();
        let mut restored = Engine::decode_snapshot(&bytes).unwrap();
        assert_eq!(restored.state_hash(), e.state_hash());
        let next = as_("bob", 2, order("bob/main", 2, Buy, Limit, Some("3000"), "0.5"));
        assert_eq!(restored.apply(&next), e.apply(&next));
        assert_eq!(restored.state_hash(), e.state_hash());
        restored.check_invariants().unwrap();
    }
}

mod attack;
mod derivs;
mod hedging;
mod house;
mod liquidate_tokens;
mod margin;
mod oracle;
mod settle;

#[test]
fn a_liquidation_without_the_fee_share_keeps_its_digest() {
    // The digest as it was before `insurance_fee_ppm` existed: the configuration without
    // `[liquidation]`, then `"liquidation"` with the old section's eleven keys in their order.
    #[derive(serde::Serialize)]
    struct OldLiquidation {
        target_ppm: u32,
        step_ppm: u32,
        throttle_ppm: u32,
        start_discount_bps: u32,
        growth_bps_per_s: u32,
        cap_bps: u32,
        duration_ms: u64,
        penalty_bps: u32,
        insurance_ppm: u32,
        accounts_per_command_max: u32,
        last_resort: model::LastResort,
    }
    let old = OldLiquidation {
        target_ppm: 1_200_000,
        step_ppm: 250_000,
        throttle_ppm: 500_000,
        start_discount_bps: 50,
        growth_bps_per_s: 10,
        cap_bps: 300,
        duration_ms: 60_000,
        penalty_bps: 50,
        insurance_ppm: 500_000,
        accounts_per_command_max: 8,
        last_resort: model::LastResort::Adl,
    };
    let mut c = config();
    c.liquidation = None;
    let mut bytes = serde_json::to_vec(&c).unwrap();
    let tail: &[u8] = br#","liquidation":null,"oracles":[]}"#;
    assert!(bytes.ends_with(tail));
    bytes.truncate(bytes.len() - tail.len());
    bytes.extend_from_slice(b",\"liquidation\":");
    bytes.extend(serde_json::to_vec(&old).unwrap());
    bytes.push(b'}');
    let liquidation = model::LiquidationConfig {
        target_ppm: old.target_ppm,
        step_ppm: old.step_ppm,
        throttle_ppm: old.throttle_ppm,
        start_discount_bps: old.start_discount_bps,
        growth_bps_per_s: old.growth_bps_per_s,
        cap_bps: old.cap_bps,
        duration_ms: old.duration_ms,
        penalty_bps: old.penalty_bps,
        insurance_ppm: old.insurance_ppm,
        accounts_per_command_max: old.accounts_per_command_max,
        last_resort: old.last_resort,
        insurance_fee_ppm: None,
    };
    assert!(c.oracles.is_empty(), "the digest of a configuration without oracles");
    c.liquidation = Some(liquidation.clone());
    assert_eq!(c.digest(), *blake3::hash(&bytes).as_bytes());
    c.liquidation = Some(model::LiquidationConfig { insurance_fee_ppm: Some(0), ..liquidation });
    assert_ne!(c.digest(), *blake3::hash(&bytes).as_bytes(), "the key, once set, enters the digest");
}

/// The hand-made model of `margin`'s perp tests, for other test modules.
fn margin_tests_model(as_of_ms: u64) -> margin_core::RiskModel {
    margin::perp_model_for(as_of_ms)
}
