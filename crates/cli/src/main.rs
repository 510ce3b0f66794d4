//! `clearhouse`: the broker's command-line entry point.
//!
//! - `clearhouse` / `clearhouse run [FILE]`: apply a JSON-lines command file (the embedded demo
//!   when none is given) through the journal, then print balances and the state hash. Running it
//!   again restarts from the journal: commands already applied are answered as duplicates.
//! - `clearhouse serve`: read JSON-lines commands on stdin, group-commit them, write one ack per
//!   command on stdout after it is durable.
//! - `clearhouse verify`: recover and replay a journal, report what was verified.
//! - `clearhouse margin PORTFOLIO.toml [--json]`: portfolio margin with explanation and comparators
//!   (logic in the `risk` crate).
//! - `clearhouse backtest [--from D] [--to D] [--markdown]`: the margin backtest on real history,
//!   model and negative control, for every portfolio in `examples/portfolios`.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use engine::{Envelope, Outcome};
use journal::{JournalConfig, JournalStore, SqliteJournal};
use model::Config;
use node::{Ack, Node};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

const DEMO_COMMANDS: &str = include_str!("../../../examples/commands/demo.jsonl");
const DEFAULT_JOURNAL: &str = "clearhouse-journal.sqlite";

#[derive(Parser)]
#[command(name = "clearhouse", version, about = "clearhouse: an exact, journalled clearing house and prime broker for DeFi")]
struct Cli {
    /// Configuration file (TOML). Default: the embedded config/default.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Journal file (SQLite, WAL).
    #[arg(long, global = true, default_value = DEFAULT_JOURNAL)]
    journal: PathBuf,
    /// Journal on PostgreSQL instead of the SQLite file: a libpq connection string or
    /// postgresql:// URL (for larger deployments).
    #[arg(long, global = true)]
    postgres: Option<String>,
    /// PostgreSQL schema holding the journal (one schema per journal).
    #[arg(long, global = true, default_value = "clearhouse")]
    pg_schema: String,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Apply a JSON-lines command file through the journal and print balances and the state hash.
    Run {
        /// Command file; the embedded demo when omitted.
        file: Option<PathBuf>,
        /// Commands per group-committed batch (at most limits.batch_commands_max).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Print every command's outcome.
        #[arg(long)]
        verbose: bool,
    },
    /// Serve JSON-lines commands on stdin; one ack per command on stdout, after it is durable.
    Serve,
    /// Recover and replay the journal; print the state hash and what was verified.
    Verify,
    /// Portfolio margin of a portfolio file, with explanation and comparators.
    Margin {
        /// Portfolio file (TOML), e.g. examples/portfolios/basis_trade.toml.
        portfolio: PathBuf,
        /// Print JSON for tools instead of the table.
        #[arg(long)]
        json: bool,
        /// Risk parameter file (TOML); default the embedded crates/risk/config/risk.toml.
        #[arg(long)]
        risk_params: Option<PathBuf>,
        /// Compute as of this date (YYYY-MM-DD or YYYY-MM-DDTHH:00:00Z) instead of the file's.
        #[arg(long)]
        as_of: Option<String>,
        /// Use the embedded calibration (no FHS; levels of its last instant) instead of the market
        /// history; as-of dates outside its coverage are refused. Without this flag a missing
        /// market-data directory is an error.
        #[arg(long)]
        embedded_calibration: bool,
    },
    /// Backtest the margin of every portfolio in a directory on real history (and the negative control).
    Backtest {
        /// Directory of portfolio files.
        #[arg(long, default_value = "examples/portfolios")]
        portfolios: PathBuf,
        /// First as-of date.
        #[arg(long, default_value = "2019-04-01")]
        from: String,
        /// Last as-of date.
        #[arg(long, default_value = "2024-12-30")]
        to: String,
        /// Worker threads (1 or 2; same results).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Print markdown tables (docs/backtest.md) instead of JSON.
        #[arg(long)]
        markdown: bool,
        /// Risk parameter file (TOML); default the embedded one.
        #[arg(long)]
        risk_params: Option<PathBuf>,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("clearhouse: error: {e:#}");
        std::process::exit(1);
    }
}

/// Where the journal lives: the embedded SQLite file or a PostgreSQL schema.
enum JournalLocation {
    Sqlite(PathBuf),
    Postgres { conninfo: String, schema: String },
}

impl std::fmt::Display for JournalLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalLocation::Sqlite(path) => write!(f, "{}", path.display()),
            // The connection string may hold a password: never print it.
            JournalLocation::Postgres { schema, .. } => write!(f, "postgresql schema {schema}"),
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let config = load_config(cli.config.as_deref())?;
    let journal = match cli.postgres {
        Some(conninfo) => JournalLocation::Postgres { conninfo, schema: cli.pg_schema },
        None => JournalLocation::Sqlite(cli.journal),
    };
    match cli.command.unwrap_or(Cmd::Run { file: None, batch: 1000, verbose: false }) {
        Cmd::Run { file, batch, verbose } => run(config, &journal, file.as_deref(), batch, verbose),
        Cmd::Serve => serve(config, &journal),
        Cmd::Verify => verify(config, &journal),
        Cmd::Margin { portfolio, json, risk_params, as_of, embedded_calibration } => {
            margin(&config, &portfolio, json, risk_params.as_deref(), as_of.as_deref(), embedded_calibration)
        }
        Cmd::Backtest { portfolios, from, to, threads, markdown, risk_params } => {
            backtest(&config, &portfolios, &from, &to, threads, markdown, risk_params.as_deref())
        }
    }
}

fn backtest(config: &Config, dir: &Path, from: &str, to: &str, threads: usize, markdown: bool, risk_params: Option<&Path>) -> Result<()> {
    let params = load_risk_params(risk_params)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let portfolios = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            risk::Portfolio::from_toml(&text).with_context(|| format!("portfolio {}", f.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let hour = |s: &str| risk::portfolio::parse_as_of(s).with_context(|| format!("date {s}"));
    let opts =
        risk::backtest::BacktestOptions { from: hour(from)?, to: hour(to)?, step_hours: 24, realised_hours: params.mpor_hours, threads };
    let risk::MarketData::Panel { panel, vol_model } = risk::MarketData::load_for(config, &params)? else {
        bail!("the backtest needs the raw market history (set CLEARHOUSE_MARKET_DATA)");
    };
    let runs = risk::backtest::run_suite(config, &params, &portfolios, &panel, &vol_model, &opts)?;
    if markdown {
        print!("{}", risk::backtest::render_markdown(&runs));
    } else {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    }
    Ok(())
}

fn load_risk_params(path: Option<&Path>) -> Result<risk::RiskParams> {
    match path {
        None => Ok(risk::RiskParams::default_params()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading risk parameters {}", p.display()))?;
            risk::RiskParams::from_toml(&text).with_context(|| format!("risk parameters {}", p.display()))
        }
    }
}

fn margin(
    config: &Config,
    portfolio_path: &Path,
    json: bool,
    risk_params: Option<&Path>,
    as_of: Option<&str>,
    embedded_calibration: bool,
) -> Result<()> {
    let params = load_risk_params(risk_params)?;
    let text = std::fs::read_to_string(portfolio_path).with_context(|| format!("reading portfolio {}", portfolio_path.display()))?;
    let portfolio = risk::Portfolio::from_toml(&text).with_context(|| format!("portfolio {}", portfolio_path.display()))?;
    let as_of = as_of.map(|t| risk::portfolio::parse_as_of(t).with_context(|| format!("--as-of {t}"))).transpose()?;
    let data = if embedded_calibration { risk::MarketData::embedded_calibration()? } else { risk::MarketData::load_for(config, &params)? };
    let report = risk::margin_portfolio_as_of(config, &params, &portfolio, &data, as_of)?;
    if json {
        println!("{}", risk::render_json(&report)?);
    } else {
        print!("{}", risk::render_table(&report));
    }
    Ok(())
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        None => Ok(Config::default_config()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading configuration {}", p.display()))?;
            Config::from_toml(&text).with_context(|| format!("configuration {}", p.display()))
        }
    }
}

fn open_node(config: Config, location: &JournalLocation) -> Result<(Node, node::RecoveryReport)> {
    let journal: Box<dyn JournalStore> = match location {
        JournalLocation::Sqlite(path) => {
            Box::new(SqliteJournal::open(path, JournalConfig::default()).with_context(|| format!("opening journal {location}"))?)
        }
        JournalLocation::Postgres { conninfo, schema } => Box::new(
            journal_pg::PgJournal::open(&journal_pg::PgConfig::new(conninfo.clone(), schema.clone()), JournalConfig::default())
                .with_context(|| format!("opening journal {location}"))?,
        ),
    };
    Node::open(config, journal).with_context(|| format!("recovering journal {location}"))
}

fn parse_line(line: &str, number: usize) -> Result<Envelope> {
    serde_json::from_str(line).with_context(|| format!("line {number}: malformed command"))
}

fn run(config: Config, journal_path: &JournalLocation, file: Option<&Path>, batch: usize, verbose: bool) -> Result<()> {
    let text = match file {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        None => DEMO_COMMANDS.to_string(),
    };
    let max = config.limits.batch_commands_max as usize;
    if batch == 0 || batch > max {
        bail!("--batch must be between 1 and limits.batch_commands_max = {max}");
    }
    let envelopes: Vec<Envelope> =
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| parse_line(l, i + 1)).collect::<Result<_>>()?;
    let (mut node, report) = open_node(config, journal_path)?;
    println!(
        "journal {}: recovered {} records (snapshot at seq {}, {} replayed, chain verified over {} records)",
        journal_path, report.last_seq, report.snapshot_seq, report.records_replayed, report.records_verified
    );
    let (mut applied, mut rejected, mut duplicates) = (0u64, 0u64, 0u64);
    for chunk in envelopes.chunks(batch) {
        for ack in node.submit_batch(chunk)? {
            match (&ack.outcome, ack.duplicate) {
                (_, true) => duplicates += 1,
                (Outcome::Applied { .. }, false) => applied += 1,
                _ => rejected += 1,
            }
            if verbose || matches!(ack.outcome, Outcome::Rejected { .. }) && !ack.duplicate {
                println!("  {}#{} -> {}", ack.client, ack.id, serde_json::to_string(&ack.outcome)?);
            }
        }
    }
    println!(
        "{} commands: {applied} applied, {rejected} rejected, {duplicates} already journalled (answered with their first result)",
        envelopes.len()
    );
    print_state(&mut node)
}

fn print_state(node: &mut Node) -> Result<()> {
    let engine = node.engine();
    println!("\n{:<24} {:<20} {:>32} {:>24}", "account", "asset", "posted", "reserved");
    for row in engine.balances() {
        println!("{:<24} {:<20} {:>32} {:>24}", row.account, row.asset, row.posted, row.reserved);
    }
    engine.check_invariants().map_err(|e| anyhow::anyhow!("invariant broken: {e}"))?;
    println!("\nconservation: every asset's balances sum to zero");
    println!("last seq {}, time {} ms", engine.next_seq() - 1, engine.now_ms());
    println!("state hash {}", node::hex(&node.state_hash()));
    Ok(())
}

fn verify(config: Config, journal_path: &JournalLocation) -> Result<()> {
    if let JournalLocation::Sqlite(path) = journal_path
        && !path.exists()
    {
        bail!("no journal at {}", path.display());
    }
    let (mut node, report) = open_node(config, journal_path)?;
    println!(
        "journal {} verified: {} records in the hash chain, snapshot at seq {}, {} batches ({} records) replayed with identical results and state hashes",
        journal_path, report.records_verified, report.snapshot_seq, report.batches_replayed, report.records_replayed
    );
    print_state(&mut node)
}

/// Reads lines on a thread; the main loop takes whatever has arrived (up to the batch limit)
/// as one batch, so many concurrent commands share one fsync (group commit).
fn serve(config: Config, journal_path: &JournalLocation) -> Result<()> {
    let max = config.limits.batch_commands_max as usize;
    let (mut node, report) = open_node(config, journal_path)?;
    eprintln!("clearhouse serve: recovered to seq {} ({} records replayed)", report.last_seq, report.records_replayed);
    let (sender, receiver) = mpsc::sync_channel::<String>(max * 4);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Ok(first) = receiver.recv() {
        let mut lines = vec![first];
        while lines.len() < max {
            match receiver.try_recv() {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        let mut envelopes = Vec::with_capacity(lines.len());
        let mut replies: Vec<Option<String>> = Vec::with_capacity(lines.len());
        for line in &lines {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Envelope>(line) {
                Ok(envelope) => {
                    envelopes.push(envelope);
                    replies.push(None);
                }
                // A malformed request is answered at once and never journalled: it has no
                // trustworthy client id to deduplicate on.
                Err(e) => {
                    replies.push(Some(serde_json::json!({"error": {"code": "malformed_request", "message": e.to_string()}}).to_string()))
                }
            }
        }
        let acks: Vec<Ack> = node.submit_batch(&envelopes)?;
        let mut acks = acks.into_iter();
        for reply in replies {
            let text = match reply {
                Some(text) => text,
                None => serde_json::to_string(&acks.next().context("one ack per command")?)?,
            };
            writeln!(out, "{text}")?;
        }
        out.flush()?;
    }
    Ok(())
}
