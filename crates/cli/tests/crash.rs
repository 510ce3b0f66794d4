//! Crash test: the broker runs as a child process (`clearhouse serve`) and is killed at no
//! fewer than 200 points per run: with SIGKILL at random moments, and by aborting itself at
//! failpoints (between apply and journal write, in the middle of a batch transaction, just
//! before and after commit, between journal write and acknowledgement, in the middle of a
//! snapshot). The client retries every command it has not seen acknowledged, with the same id.
//! After each restart, and at the end: every acknowledged command is in the journal exactly
//! once with the acknowledged result, and the conservation check holds.
//!
//! The seed is printed; set CRASH_SEED to replay a run, CRASH_ROUNDS to change its length.

use engine::{Command, Envelope, Outcome};
use journal::{JournalConfig, JournalStore, SqliteJournal};
use node::Ack;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const FAILPOINTS: [&str; 6] = [
    "node.after_apply_before_journal",
    "journal.mid_batch",
    "journal.before_commit",
    "journal.after_commit",
    "node.after_journal_before_ack",
    "journal.mid_snapshot",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Commands of the operator (registrations, deposits, cancellations, time, prices) and of 12
/// owners (transfers, withdrawals, orders on the ETH/USDC spot book and the ETH-PERP book, whose
/// positions pay funding when the clock crosses 8-hour boundaries), every id unique across
/// principals.
fn workload(rng: &mut Rng, count: usize) -> Vec<Envelope> {
    let traders = 12;
    let mut commands: Vec<(String, Command)> = Vec::new();
    let operator = |c| ("operator".to_string(), c);
    for t in 0..traders {
        commands.push(operator(Command::RegisterPrincipal { name: format!("t{t}"), role: model::Role::Owner }));
        for sub in ["main", "hedge"] {
            commands.push(operator(Command::CreateAccount { owner: format!("t{t}"), sub: sub.into() }));
        }
    }
    commands.push(operator(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() }));
    commands.push(operator(Command::SetPrice { symbol: "ETH".into(), price_usd: "3000".into() }));
    let mut eth = 3000u64;
    let mut now_ms = 0u64;
    let mut withdrawals = 0u64;
    let assets = [("USDC", "ethereum"), ("ETH", "arbitrum"), ("WBTC", "ethereum")];
    while commands.len() < count {
        let t = rng.below(traders);
        let (asset, custodian) = assets[rng.below(3) as usize];
        let amount = format!("{}.{}", rng.below(1000), rng.below(100));
        let k = commands.len();
        let owner = format!("t{t}");
        let command = match rng.below(13) {
            0..=2 => operator(Command::Deposit {
                account: format!("t{t}/main"),
                asset: asset.into(),
                amount,
                custodian: custodian.into(),
                external_ref: format!("0xdep{k}"),
            }),
            3..=5 => {
                let (from, to) = if rng.below(2) == 0 { ("main", "hedge") } else { ("hedge", "main") };
                let transfer = Command::Transfer { from: format!("t{t}/{from}"), to: format!("t{t}/{to}"), asset: asset.into(), amount };
                (owner, transfer)
            }
            6 => {
                withdrawals += 1;
                let request = Command::RequestWithdrawal {
                    account: format!("t{t}/main"),
                    asset: asset.into(),
                    amount,
                    custodian: custodian.into(),
                    destination: format!("0xdest{t}"),
                    withdrawal_id: format!("w{withdrawals}"),
                };
                (owner, request)
            }
            7 => operator(match rng.below(2) {
                0 => Command::CancelWithdrawal { withdrawal_id: format!("w{}", 1 + rng.below(withdrawals.max(1))) },
                _ => Command::ConfirmWithdrawal {
                    withdrawal_id: format!("w{}", 1 + rng.below(withdrawals.max(1))),
                    chain_ref: format!("0xtx{k}"),
                },
            }),
            8 => {
                now_ms += rng.below(40_000);
                operator(Command::AdvanceTime { now_ms })
            }
            9 => {
                eth = 1000 + rng.below(3000);
                operator(Command::SetPrice { symbol: "ETH".into(), price_usd: format!("{eth}.{}", rng.below(100)) })
            }
            10 | 11 => {
                let market = if rng.below(2) == 0 { "ETH-PERP" } else { "ETH/USDC" };
                let side = if rng.below(2) == 0 { engine::markets::OrderSide::Buy } else { engine::markets::OrderSide::Sell };
                // Within 3% of the oracle price, so that most orders pass the book's band.
                let price = eth * (97 + rng.below(7)) / 100;
                let order = Command::PlaceOrder {
                    account: format!("t{t}/main"),
                    market: market.into(),
                    client_order_id: rng.below(8),
                    side,
                    kind: engine::markets::OrderKind::Limit,
                    price: Some(price.to_string()),
                    qty: ["0.01", "0.1", "0.5"][rng.below(3) as usize].into(),
                };
                (owner, order)
            }
            _ => {
                // A funding boundary (every 8 hours) with open perp positions.
                now_ms += 8 * 3_600_000;
                operator(Command::AdvanceTime { now_ms })
            }
        };
        commands.push(command);
    }
    commands.into_iter().enumerate().map(|(i, (client, command))| Envelope { client, id: i as u64 + 1, command }).collect()
}

fn test_config(dir: &Path) -> std::path::PathBuf {
    let text = model::DEFAULT_CONFIG_TOML
        .replace("snapshot_interval_batches = 1000", "snapshot_interval_batches = 3")
        .replace("withdrawal_confirm_timeout_ms = 3600000", "withdrawal_confirm_timeout_ms = 50000")
        .replace("batch_commands_max = 10000", "batch_commands_max = 64")
        // Every command a batch holds may be journalled and unacknowledged at a crash: a
        // principal's window must hold them all, so that their retries find their results.
        .replace("client_ids_window = 16", "client_ids_window = 128")
        .replace("principals_max = 100000", "principals_max = 1000");
    model::Config::from_toml(&text).expect("test config is valid");
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Running {
    child: Child,
    stop_writer: mpsc::Sender<()>,
    acks: mpsc::Receiver<Ack>,
}

fn spawn(config: &Path, journal: &Path, crash_at: Option<String>, lines: Vec<String>) -> Running {
    let mut process = Process::new(env!("CARGO_BIN_EXE_clearhouse"));
    process
        .arg("--config")
        .arg(config)
        .arg("--journal")
        .arg(journal)
        .args(["serve", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("CLEARHOUSE_CRASH_AT");
    if let Some(spec) = crash_at {
        process.env("CLEARHOUSE_CRASH_AT", spec);
    }
    let mut child = process.spawn().expect("spawn clearhouse serve");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (stop_writer, stop) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        for line in lines {
            if writeln!(stdin, "{line}").is_err() {
                return;
            }
        }
        let _ = stdin.flush();
        // Keep stdin open until told, so the server does not exit cleanly on end of input.
        let _ = stop.recv();
    });
    let (ack_sender, acks) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let ack: Ack = serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ack {line:?}: {e}"));
            if ack_sender.send(ack).is_err() {
                return;
            }
        }
    });
    Running { child, stop_writer, acks }
}

fn record_acks(acked: &mut HashMap<u64, Outcome>, early: Vec<Ack>, acks: &mpsc::Receiver<Ack>) -> usize {
    let mut n = 0;
    for ack in early.into_iter().chain(std::iter::from_fn(|| acks.try_recv().ok())) {
        n += 1;
        assert!(!matches!(ack.outcome, Outcome::Refused { .. }), "the workload is authorized and well formed: {ack:?}");
        assert!(
            !matches!(ack.outcome, Outcome::Duplicate { .. }),
            "a retry is answered with the first outcome, not a bare duplicate marker"
        );
        match acked.get(&ack.id) {
            Some(first) => {
                assert!(ack.duplicate, "command {} acknowledged twice as new", ack.id);
                assert_eq!(first, &ack.outcome, "command {}: a retry must return the first result", ack.id);
            }
            None => {
                acked.insert(ack.id, ack.outcome);
            }
        }
    }
    n
}

/// Every acknowledged command is in the journal exactly once, with the acknowledged result,
/// and the recovered state conserves every asset.
fn check_journal(config: &Path, journal_path: &Path, acked: &HashMap<u64, Outcome>) {
    let mut journal = SqliteJournal::open(journal_path, JournalConfig::default()).expect("journal opens");
    let recovery = journal.recover_from_genesis().expect("journal verifies");
    let mut seen: HashMap<u64, (u64, Vec<u8>)> = HashMap::new();
    for batch in &recovery.batches {
        for record in &batch.records {
            let envelope: Envelope = serde_json::from_slice(&record.command).unwrap();
            if envelope.client == engine::SYSTEM_PRINCIPAL {
                continue; // the genesis configuration
            }
            let previous = seen.insert(envelope.id, (record.seq.0, record.result.clone()));
            assert!(previous.is_none(), "command {} journalled twice", envelope.id);
        }
    }
    for (id, outcome) in acked {
        let (seq, result) = seen.get(id).unwrap_or_else(|| panic!("acknowledged command {id} is missing from the journal"));
        assert_eq!(Some(*seq), outcome.seq());
        assert_eq!(result, &serde_json::to_vec(outcome).unwrap(), "command {id}: journalled result differs from the ack");
    }
    let text = std::fs::read_to_string(config).unwrap();
    let options = node::NodeOptions::from_config(&model::Config::from_toml(&text).unwrap());
    let (node, _) = node::Node::open(options, Box::new(journal)).expect("node recovers");
    node.engine().check_invariants().expect("conservation and non-negativity hold");
}

#[test]
fn killed_at_200_points_loses_no_acknowledged_command() {
    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xC1EA_4405E);
    let rounds: usize = std::env::var("CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    println!("crash test seed {seed} rounds {rounds} (replay with CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let journal = dir.path().join("journal.sqlite");
    let commands = workload(&mut rng, 40 * rounds.max(10));
    let lines: Vec<String> = commands.iter().map(|c| serde_json::to_string(c).unwrap()).collect();
    let mut acked: HashMap<u64, Outcome> = HashMap::new();
    let (mut killed, mut aborted) = (0, 0);
    let started = Instant::now();
    for round in 0..rounds {
        // Resend everything not yet acknowledged (from the first gap), at most 120 lines.
        let unacked: Vec<String> =
            commands.iter().zip(&lines).filter(|(c, _)| !acked.contains_key(&c.id)).take(120).map(|(_, l)| l.clone()).collect();
        let use_failpoint = round % 2 == 1;
        let crash_at = use_failpoint.then(|| format!("{}:{}", FAILPOINTS[rng.below(FAILPOINTS.len() as u64) as usize], 1 + rng.below(2)));
        let sent = unacked.len();
        let mut running = spawn(&config, &journal, crash_at.clone(), unacked);
        let mut this_round: Vec<Ack> = Vec::new();
        if use_failpoint {
            // Wait for the self-inflicted abort. If the server has answered everything without
            // reaching the failpoint (too few batches this round), kill it instead.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                while let Ok(ack) = running.acks.try_recv() {
                    this_round.push(ack);
                }
                if let Some(status) = running.child.try_wait().unwrap() {
                    assert!(!status.success(), "round {round}: the server should have aborted at {crash_at:?}");
                    aborted += 1;
                    break;
                }
                if this_round.len() >= sent || Instant::now() > deadline {
                    running.child.kill().unwrap();
                    running.child.wait().unwrap();
                    killed += 1;
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        } else {
            std::thread::sleep(Duration::from_micros(rng.below(30_000)));
            running.child.kill().unwrap(); // SIGKILL
            running.child.wait().unwrap();
            killed += 1;
        }
        drop(running.stop_writer);
        // Give the reader thread a moment to drain what the server wrote before dying.
        std::thread::sleep(Duration::from_millis(2));
        record_acks(&mut acked, this_round, &running.acks);
        if round % 25 == 24 {
            check_journal(&config, &journal, &acked);
        }
    }
    let acked_under_crashes = acked.len();
    // Finish the workload without crashes and check the end state.
    let remaining: Vec<String> = commands.iter().zip(&lines).filter(|(c, _)| !acked.contains_key(&c.id)).map(|(_, l)| l.clone()).collect();
    let expected = remaining.len();
    let mut running = spawn(&config, &journal, None, remaining);
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < expected && Instant::now() < deadline {
        received += record_acks(&mut acked, Vec::new(), &running.acks);
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(running.stop_writer);
    running.child.wait().unwrap();
    record_acks(&mut acked, Vec::new(), &running.acks);
    assert_eq!(acked.len(), commands.len(), "every command is acknowledged in the end");
    check_journal(&config, &journal, &acked);
    println!(
        "{rounds} crash points ({killed} SIGKILL, {aborted} failpoint aborts); {acked_under_crashes} commands acknowledged while crashing, {} in all; {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(acked_under_crashes > 0, "the crash rounds must make progress");
    // The workload did trade and pay funding (the checks above cover orders and positions).
    let events: Vec<engine::Event> = acked
        .values()
        .filter_map(|o| if let Outcome::Applied { events, .. } = o { Some(events.clone()) } else { None })
        .flatten()
        .collect();
    let fills = events.iter().filter(|e| matches!(e, engine::Event::OrderFilled { .. })).count();
    let funding = events.iter().filter(|e| matches!(e, engine::Event::FundingPaid { .. })).count();
    assert!(fills > 0 && funding > 0, "{fills} fills, {funding} funding payments");
    assert!(killed + aborted >= rounds);

    // A replay in a fresh process reaches the same state hash as this process's recovery.
    let output = Process::new(env!("CARGO_BIN_EXE_clearhouse"))
        .arg("--config")
        .arg(&config)
        .arg("--journal")
        .arg(&journal)
        .arg("verify")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hash_line = stdout.lines().find(|l| l.starts_with("state hash ")).expect("verify prints the state hash");
    let text = std::fs::read_to_string(&config).unwrap();
    let journal_store = SqliteJournal::open(&journal, JournalConfig::default()).unwrap();
    let options = node::NodeOptions::from_config(&model::Config::from_toml(&text).unwrap());
    let (mut node, _) = node::Node::open(options, Box::new(journal_store)).unwrap();
    assert_eq!(hash_line, format!("state hash {}", node::hex(&node.state_hash())));
}
