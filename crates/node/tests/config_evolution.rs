//! Configuration as versioned state (core-hardening finding 7): a journal written under one
//! configuration keeps working when the file changes. Risk metadata (protocol incidents, names)
//! never touches the state; an added asset, instrument, custodian asset, principal or a raised
//! limit is journalled as a migration and replays exactly; a contradiction is refused naming the
//! key, never reported as a hash mismatch.

use engine::{Command, Envelope, Outcome};
use journal::{JournalConfig, SqliteJournal};
use model::Config;
use node::{Installed, Node, NodeError, NodeOptions};
use std::path::Path;

fn open(path: &Path, config: &Config, migrate: bool) -> Result<(Node, Installed), NodeError> {
    let journal = SqliteJournal::open(path, JournalConfig::default()).expect("journal opens");
    let (mut node, _) = Node::open(NodeOptions::from_config(config), Box::new(journal))?;
    let installed = node.install(config, migrate)?;
    Ok((node, installed))
}

fn reopen_hash(path: &Path, config: &Config) -> [u8; 32] {
    let (mut node, installed) = open(path, config, false).expect("reopens");
    assert_eq!(installed, Installed::Unchanged);
    node.state_hash()
}

fn op(id: u64, command: Command) -> Envelope {
    Envelope { client: "operator".into(), id, command }
}

fn edit(replace: &[(&str, &str)]) -> Config {
    let mut text = model::DEFAULT_CONFIG_TOML.to_string();
    for (from, to) in replace {
        assert!(text.contains(from), "the default configuration has {from:?}");
        text = text.replacen(from, to, 1);
    }
    Config::from_toml(&text).expect("edited configuration is valid")
}

fn write_some(node: &mut Node) {
    let acks = node
        .submit_batch(&[
            op(1, Command::RegisterPrincipal { name: "alice".into(), role: model::Role::Owner }),
            op(2, Command::CreateAccount { owner: "alice".into(), sub: "main".into() }),
            op(
                3,
                Command::Deposit {
                    account: "alice/main".into(),
                    asset: "USDC".into(),
                    amount: "100".into(),
                    custodian: "ethereum".into(),
                    external_ref: "0x1".into(),
                },
            ),
        ])
        .unwrap();
    assert!(acks.iter().all(|a| matches!(a.outcome, Outcome::Applied { .. })), "{acks:?}");
}

#[test]
fn finding_7_configuration_changes_keep_the_journal_alive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let base = Config::default_config();
    let (mut node, installed) = open(&path, &base, false).unwrap();
    assert_eq!(installed, Installed::Genesis);
    write_some(&mut node);
    let hash = node.state_hash();
    drop(node);

    // Risk metadata and display names: not state. Same journal, same hash, no migration.
    let cosmetic = edit(&[
        ("name = \"Bitcoin\"", "name = \"Bitcoin (BTC)\""),
        ("description = \"3.3bn of reserves frozen", "description = \"USD 3.3bn of reserves frozen"),
    ]);
    assert_eq!(reopen_hash(&path, &cosmetic), hash);

    // A raised limit, a new asset held at a custodian, a new instrument and a new operator.
    let evolved = edit(&[
        ("accounts_max = 100000 ", "accounts_max = 102000 "),
        (
            "[[assets]]",
            "[[assets]]\nsymbol = \"USDe\"\nname = \"Ethena USDe\"\ndecimals = 18\nkind = \"stablecoin\"\ntracks = \"USD\"\nprotocol = \"makerdao\"\n\n[[assets]]",
        ),
        ("assets = [\"USDC\"]", "assets = [\"USDC\", \"USDe\"]"),
        ("[[principals]]", "[[principals]]\nname = \"ops2\"\nrole = \"operator\"\n[[principals]]"),
    ]);
    // Without --migrate: refused, naming the key.
    let err = open(&path, &evolved, false).err().expect("a differing configuration is refused");
    match &err {
        NodeError::ConfigDiffers { key, .. } => assert_eq!(key, "assets.USDe"),
        other => panic!("expected ConfigDiffers, got {other}"),
    }
    let (mut node, installed) = open(&path, &evolved, true).unwrap();
    let Installed::Migrated(changes) = installed else { panic!("{installed:?}") };
    assert_eq!(changes.len(), 3, "{changes:?}");
    let acks = node
        .submit_batch(&[Envelope {
            client: "ops2".into(),
            id: 1,
            command: Command::Deposit {
                account: "alice/main".into(),
                asset: "USDe".into(),
                amount: "2.5".into(),
                custodian: "dydx".into(),
                external_ref: "0xe".into(),
            },
        }])
        .unwrap();
    assert!(matches!(acks[0].outcome, Outcome::Applied { .. }), "{:?}", acks[0]);
    let hash = node.state_hash();
    drop(node);
    // Recovery and replay reach the same hash, with the evolved file or with none needed.
    assert_eq!(reopen_hash(&path, &evolved), hash);
    let journal = SqliteJournal::open(&path, JournalConfig::default()).unwrap();
    let (mut replayed, _) = Node::open(NodeOptions::from_config(&base), Box::new(journal)).unwrap();
    assert_eq!(replayed.state_hash(), hash);
    drop(replayed);

    // Going back to the old file is a contradiction no command can make: refused by key.
    let err = open(&path, &base, true).err().expect("a removed asset is refused");
    match &err {
        NodeError::ConfigConflict(conflict) => assert!(conflict.key.starts_with("assets"), "{conflict}"),
        other => panic!("expected ConfigConflict, got {other}"),
    }
    let decimals = edit(&[
        ("accounts_max = 100000 ", "accounts_max = 102000 "),
        (
            "[[assets]]",
            "[[assets]]\nsymbol = \"USDe\"\nname = \"Ethena USDe\"\ndecimals = 6\nkind = \"stablecoin\"\ntracks = \"USD\"\nprotocol = \"makerdao\"\n\n[[assets]]",
        ),
        ("assets = [\"USDC\"]", "assets = [\"USDC\", \"USDe\"]"),
    ]);
    match open(&path, &decimals, true).err().expect("changed decimals are refused") {
        NodeError::ConfigConflict(conflict) => assert_eq!(conflict.key, "assets.USDe.decimals"),
        other => panic!("expected ConfigConflict, got {other}"),
    }
}

#[test]
fn a_limit_that_cannot_fit_the_journal_is_refused_at_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let config = edit(&[("accounts_max = 100000 ", "accounts_max = 50000000 ")]);
    match open(&dir.path().join("j.sqlite"), &config, false).err().expect("refused") {
        NodeError::ConfigRefused { error } => assert!(error.to_string().contains("snapshot"), "{error}"),
        other => panic!("expected ConfigRefused, got {other}"),
    }
}

#[test]
fn journal_limits_hold_the_engine_bounds() {
    let journal = JournalConfig::default();
    assert!(journal.max_command_bytes >= engine::limits::RECORD_BYTES_MAX);
    assert!(journal.max_result_bytes >= engine::limits::RECORD_BYTES_MAX);
    assert!(journal.max_snapshot_bytes as u64 >= engine::limits::SNAPSHOT_BYTES_MAX);
}

#[test]
fn a_migration_that_raises_a_limit_to_make_room_for_an_addition_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    // The default configuration has six markets (two spot, two perps, two options).
    let base = edit(&[("markets_max = 16", "markets_max = 6")]);
    let (mut node, installed) = open(&path, &base, false).unwrap();
    assert_eq!(installed, Installed::Genesis);
    write_some(&mut node);
    drop(node);
    // A seventh market, and the limit raised to hold it: the new limit must come first.
    let third = "[[markets]]\nid = \"ETH/USDC.b\"\nbase = \"ETH\"\nquote = \"USDC\"\ntick = \"0.01\"\nlot = \"0.001\"\n\
                 qty_min = \"0.001\"\nqty_max = \"1000\"\nmin_notional = \"10\"\nopen_orders_per_account_max = 64\nbook_orders_max = 500\n\
                 price_band_bps = 500\nmaker_fee_bps = -1\ntaker_fee_bps = 5\n\n[[markets]]";
    let evolved = edit(&[("markets_max = 16", "markets_max = 7"), ("[[markets]]", third)]);
    let (mut node, installed) = open(&path, &evolved, true).expect("the migration is applied");
    let Installed::Migrated(changes) = installed else { panic!("{installed:?}") };
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(node.engine().config().markets.len(), 7);
    let hash = node.state_hash();
    drop(node);
    assert_eq!(reopen_hash(&path, &evolved), hash);
    // A market whose parameters changed is a contradiction, named by its key.
    let changed_third = third.replace("taker_fee_bps = 5", "taker_fee_bps = 6");
    let changed = edit(&[("markets_max = 16", "markets_max = 7"), ("[[markets]]", changed_third.as_str())]);
    match open(&path, &changed, true).err().expect("a changed market is refused") {
        NodeError::ConfigConflict(conflict) => assert_eq!(conflict.key, "markets.ETH/USDC.b"),
        other => panic!("expected ConfigConflict, got {other}"),
    }
}

#[test]
fn a_client_cannot_act_as_the_node_and_block_its_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let base = Config::default_config();
    let (mut node, _) = open(&path, &base, false).unwrap();
    // Ids near u64::MAX as @system: had they been journalled, @system's watermark would sit
    // above every id a migration can take, and every migration would be refused as too old.
    let window = base.limits.client_ids_window as u64;
    let forged: Vec<Envelope> = (0..=window)
        .map(|i| Envelope { client: engine::SYSTEM_PRINCIPAL.into(), id: u64::MAX - i, command: Command::AdvanceTime { now_ms: 1 } })
        .collect();
    let acks = node.submit_batch(&forged).unwrap();
    assert!(acks.iter().all(|a| matches!(&a.outcome, Outcome::Refused { error: engine::EngineError::Unauthorized { .. } })), "{acks:?}");
    drop(node);
    let evolved = edit(&[("accounts_max = 100000 ", "accounts_max = 102000 ")]);
    let (_, installed) = open(&path, &evolved, true).expect("the migration is applied");
    assert!(matches!(installed, Installed::Migrated(_)), "{installed:?}");
}

#[test]
fn a_migration_longer_than_a_batch_is_journalled_in_several() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let base = edit(&[("batch_commands_max = 10000", "batch_commands_max = 1")]);
    let (mut node, _) = open(&path, &base, false).unwrap();
    write_some_in_batches_of_one(&mut node);
    drop(node);
    // A new asset, held at a custodian, and a new operator: three commands, batches of one.
    let evolved = edit(&[
        ("batch_commands_max = 10000", "batch_commands_max = 1"),
        (
            "[[assets]]",
            "[[assets]]\nsymbol = \"USDe\"\nname = \"Ethena USDe\"\ndecimals = 18\nkind = \"stablecoin\"\ntracks = \"USD\"\nprotocol = \"makerdao\"\n\n[[assets]]",
        ),
        ("assets = [\"USDC\"]", "assets = [\"USDC\", \"USDe\"]"),
        ("[[principals]]", "[[principals]]\nname = \"ops2\"\nrole = \"operator\"\n[[principals]]"),
    ]);
    let (mut node, installed) = open(&path, &evolved, true).expect("the migration is applied");
    assert!(matches!(&installed, Installed::Migrated(changes) if changes.len() == 2), "{installed:?}");
    assert!(node.engine().principals().contains_key("ops2"));
    let hash = node.state_hash();
    drop(node);
    assert_eq!(reopen_hash(&path, &evolved), hash);
}

fn write_some_in_batches_of_one(node: &mut Node) {
    let acks = node.submit_batch(&[op(1, Command::RegisterPrincipal { name: "alice".into(), role: model::Role::Owner })]).unwrap();
    assert!(matches!(acks[0].outcome, Outcome::Applied { .. }), "{acks:?}");
}

/// A perp market added to the file is journalled as a migration (`add_market` with its kind,
/// instrument and funding terms), opens its clearing account, trades, and replays to the same hash.
#[test]
fn a_perp_market_added_to_the_file_is_migrated_and_trades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let full = model::DEFAULT_CONFIG_TOML;
    let start = full.find("[[markets]]\nid = \"ETH-PERP\"").expect("the default configuration has ETH-PERP");
    let end = start + 1 + full[start + 1..].find("[[markets]]").expect("a market follows ETH-PERP");
    let without = format!("{}{}", &full[..start], &full[end..]);
    let base = Config::from_toml(&without).unwrap();
    let (mut node, _) = open(&path, &base, false).unwrap();
    write_some(&mut node);
    drop(node);
    let evolved = Config::default_config();
    let (mut node, installed) = open(&path, &evolved, true).expect("the migration is applied");
    let Installed::Migrated(changes) = installed else { panic!("{installed:?}") };
    assert!(
        matches!(changes.as_slice(), [engine::ConfigChange::AddMarket { market }] if market.id == "ETH-PERP" && market.kind == model::MarketKind::Perp),
        "{changes:?}"
    );
    let commands = [
        ("operator", 10, Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() }),
        ("operator", 11, Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() }),
        ("operator", 12, Command::RegisterPrincipal { name: "bob".into(), role: model::Role::Owner }),
        ("operator", 13, Command::CreateAccount { owner: "bob".into(), sub: "main".into() }),
        (
            "operator",
            14,
            Command::Deposit {
                account: "bob/main".into(),
                asset: "USDC".into(),
                amount: "100".into(),
                custodian: "ethereum".into(),
                external_ref: "0xb".into(),
            },
        ),
    ];
    let mut envelopes: Vec<Envelope> = commands.into_iter().map(|(c, id, command)| Envelope { client: c.into(), id, command }).collect();
    for (client, account, side) in
        [("bob", "bob/main", engine::markets::OrderSide::Sell), ("alice", "alice/main", engine::markets::OrderSide::Buy)]
    {
        envelopes.push(Envelope {
            client: client.into(),
            id: 20,
            command: Command::PlaceOrder {
                account: account.into(),
                market: "ETH-PERP".into(),
                client_order_id: 1,
                side,
                kind: engine::markets::OrderKind::Limit,
                price: Some("3000".into()),
                qty: "0.01".into(),
            },
        });
    }
    let acks = node.submit_batch(&envelopes).unwrap();
    assert!(acks.iter().all(|a| matches!(a.outcome, Outcome::Applied { .. })), "{acks:?}");
    assert_eq!(node.engine().positions_of("alice/main").unwrap()[0].qty, "0.01");
    let hash = node.state_hash();
    drop(node);
    assert_eq!(reopen_hash(&path, &evolved), hash);
}
