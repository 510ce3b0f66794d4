//! `clearhouse`: the broker's command-line entry point.
//!
//! - `clearhouse crisis-replay [--episode E|all] [--accounts N] [--seed S] [--out DIR]`: the crisis
//!   replay through the engine on hourly real prices ([`crisis`], `docs/crisis-replay.md`).
//! - `clearhouse` / `clearhouse day [--data-dir DIR] [--embedded-calibration]`: the scripted day
//!   on real prices through a fresh journal ([`day`]): statements, margins, the house's exposure.
//! - `clearhouse run [FILE]`: apply a JSON-lines command file (the embedded demo when none is
//!   given) through the journal, then print balances and the state hash. Running it again
//!   restarts from the journal: commands already applied are answered as duplicates.
//! - `clearhouse serve`: the broker as a network service (`crates/server`, `docs/service.md`):
//!   signed HTTP/JSON API, WebSocket stream, price feed, metrics and dashboard, until SIGINT or
//!   SIGTERM (which drain in-flight requests and close the journal).
//! - `clearhouse serve --stdin`: read JSON-lines commands on stdin, group-commit them, write one
//!   ack per command on stdout after it is durable. A line over 64 KiB, not UTF-8, not JSON or not an
//!   envelope is answered `{"line":N,"error":{"code":...,"message":...}}` (see [`lines`]) and the
//!   rest goes on; only a journal failure stops `serve`.
//! - `clearhouse verify [--expect-seq N]`: recover and replay a journal opened read-only, report
//!   what was verified.
//! - `clearhouse statement ACCOUNT [--json]`: the account's statement (fills, fees, funding,
//!   settlements, borrows, interest, deposits and withdrawals with running balances) rebuilt
//!   from the journal's results and reconciled with the replayed ledger to the unit (logic in
//!   the `statement` crate).
//! - `clearhouse cover2 [--json]`: insurance fund sizing, cover-2 on the replayed accounts and
//!   the installed risk model (requirement, fund and capital, shortfall, add-ons);
//!   `--emit-commands --first-id N` prints the add-ons as `set_margin_add_on` commands ([`add_ons`]).
//! - `clearhouse margin PORTFOLIO.toml [--json]`: portfolio margin with explanation and comparators
//!   (logic in the `risk` crate).
//! - `clearhouse risk-model --as-of T [--out FILE] [--portfolio FILE]`: the integer risk model
//!   the engine installs, written as postcard; `clearhouse margin FILE --model MODEL` margins a
//!   portfolio through it beside the f64 margin ([`risk_model`]).
//! - `clearhouse backtest [--from D] [--to D] [--markdown]`: the margin backtest on real history,
//!   model and negative control, for every portfolio in `examples/portfolios`.
//! - `clearhouse route --from ETH --to USDC --amount 5000 [--venues FILE] [--json]`: the liquidity
//!   router's optimal split and its comparison with the best single venue and an equal split ([`route`]).
//! - `clearhouse hedge-replay [--amount 500] [--horizon-hours 6]`: the house's hedge replayed on
//!   March 2020 hourly prices, scheduled against immediate ([`hedge_replay`]).
//! - `clearhouse exposure [--portfolios DIR | FILE...] [--json]`: the broker's total claim per
//!   protocol over portfolio files, the caps, cover-1 and cover-2 ([`exposure`]).
//!
//! A closed stdout (`clearhouse verify | head -1`) ends a command quietly with exit 0; `run` keeps
//! applying its commands.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use engine::{Envelope, Outcome};
use journal::{JournalConfig, JournalStore, SqliteJournal};
use model::Config;
use node::{Ack, Node};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

mod add_ons;
mod client;
mod crisis;
mod crisis_pnl;
mod crisis_population;
mod crisis_svg;
mod crisis_venues;
mod day;
mod exposure;
mod hedge_replay;
mod lines;
mod risk_model;
mod route;
mod script;

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
    /// Journal the differences between the configuration file and the journal's configuration
    /// (new assets, custodians, custodian assets, principals, limits, settings) as operator
    /// commands. Without it a difference is refused, naming the key.
    #[arg(long, global = true)]
    migrate: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Talk to a running `clearhouse serve` through its signed API (keygen, register, deposit,
    /// order, cancel, balances, positions, margin, simulate, statement).
    Client(client::ClientArgs),
    /// The scripted day on real prices (the default without a command): genesis, a risk model
    /// compiled for the day, deposits, trades, funding, an expiry, refusals for margin,
    /// statements, margins and the house's exposure, all through a fresh journal.
    Day {
        /// Directory for the day's journal and configuration (empty or new); default a fresh
        /// temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Use the embedded calibration's levels instead of the market-data directory.
        #[arg(long)]
        embedded_calibration: bool,
    },
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
    /// The broker as a service: signed HTTP/JSON API, WebSocket stream, metrics and dashboard
    /// (docs/service.md). With --stdin: JSON-lines commands on stdin, one ack per command on
    /// stdout after it is durable (the journal named by --journal).
    Serve(Box<ServeArgs>),
    /// Recover and replay the journal read-only; print the state hash and what was verified.
    Verify {
        /// Fail unless the journal reaches at least this sequence number (e.g. the last one a
        /// client saw acknowledged), so a truncated copy is not taken for the whole journal.
        #[arg(long)]
        expect_seq: Option<u64>,
    },
    /// An account's statement from the journal's results, reconciled with the ledger.
    Statement {
        /// Trader account, `owner/sub`.
        account: String,
        /// Print JSON for tools instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Insurance fund sizing: cover-2 on the journal's accounts and the installed risk model
    /// (docs/liquidation.md, "Cover-2 in the engine").
    Cover2 {
        /// Print JSON for tools instead of the table.
        #[arg(long)]
        json: bool,
        /// Print the add-ons as `set_margin_add_on` operator commands (JSON lines) instead.
        #[arg(long, requires = "first_id", conflicts_with = "json")]
        emit_commands: bool,
        /// The id of the first emitted command (the operator's next unused id).
        #[arg(long)]
        first_id: Option<u64>,
    },
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
        /// Margin through this integer risk model (postcard, from `risk-model`) and show the f64
        /// margin beside it.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Compile the integer risk model (SPAN-style arrays) the engine installs; write it as postcard.
    RiskModel {
        /// As-of instant (YYYY-MM-DD or YYYY-MM-DDTHH:00:00Z); default the portfolio's with --portfolio.
        #[arg(long)]
        as_of: Option<String>,
        /// Output file.
        #[arg(long, default_value = "risk-model.postcard")]
        out: PathBuf,
        /// Risk parameter file (TOML); default the embedded one.
        #[arg(long)]
        risk_params: Option<PathBuf>,
        /// Use the embedded calibration (no FHS) instead of the market history.
        #[arg(long)]
        embedded_calibration: bool,
        /// Compile the model of this book's instruments (venue balances, LP pools) instead of the
        /// whole configuration's.
        #[arg(long)]
        portfolio: Option<PathBuf>,
        /// Treat the broker's own venue (`clearhouse`, launched 2026-01-01) as live on the as-of
        /// date, so a historical model has its perps and options (for replays; printed and
        /// named in the model's label).
        #[arg(long)]
        assume_venue_live: bool,
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
    /// Route a trade across venues: the optimal split, its price, and the comparisons.
    Route(route::RouteArgs),
    /// The broker's total claim on each protocol over portfolio files (one account each), its
    /// caps, and the insurance fund's cover-1 and cover-2.
    Exposure(exposure::ExposureArgs),
    /// Replay the house hedging an ETH exposure on hourly prices (March 2020): scheduled against immediate.
    HedgeReplay(hedge_replay::ReplayArgs),
    /// The crisis replay through the engine: a seeded population on hourly real prices of
    /// March 2020, May, June and November 2022 and March 2023, liquidations by the registered
    /// liquidator and the house, the default waterfall; one table and one plot per episode
    /// (docs/crisis-replay.md). Needs the market-data directory.
    CrisisReplay(crisis::CrisisArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Read JSON-lines commands on stdin instead of serving HTTP.
    #[arg(long)]
    stdin: bool,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Directory of the SQLite journal (journal.sqlite) and the registered keys (keys.json).
    #[arg(long, default_value = "./clearhouse-data")]
    data_dir: PathBuf,
    /// The operator's ed25519 secret key, 64 hex digits, in a file (only the public key is kept
    /// in memory; the file is never logged). Default DATA_DIR/operator.key, created (mode 0600)
    /// with a fresh key when absent. The environment variable CLEARHOUSE_OPERATOR_KEY (hex
    /// public key) takes precedence and needs no file.
    #[arg(long)]
    operator_key_file: Option<PathBuf>,
    /// Price feed: auto (history when the market data is there, else synthetic), history,
    /// synthetic, off.
    #[arg(long, default_value = "auto")]
    feed: String,
    /// History hours the feed replays per second.
    #[arg(long, default_value_t = 1.0)]
    feed_hours_per_second: f64,
    /// First hour the feed replays on a fresh journal.
    #[arg(long, default_value = "2024-06-01T00:00:00Z")]
    feed_start: String,
    /// Seed of the synthetic feed.
    #[arg(long, default_value_t = 20261201)]
    feed_seed: u64,
    /// Requests a key may burst.
    #[arg(long, default_value_t = 2000)]
    rate_burst: u32,
    /// Requests per second a key may sustain.
    #[arg(long, default_value_t = 1000)]
    rate_per_second: u32,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = server::BODY_BYTES_MAX_DEFAULT)]
    body_bytes_max: usize,
    /// Signatures checked by one ed25519 batch equation, at most (1: each on its own).
    #[arg(long, default_value_t = server::verify::SIGNATURE_BATCH_MAX_DEFAULT as u64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    signature_batch_max: u64,
    /// Logs as JSON lines (otherwise human-readable); the level follows RUST_LOG (default info).
    #[arg(long)]
    log_json: bool,
    /// A risk model (postcard, from `clearhouse risk-model`) installed at start unless the
    /// journal has it; with `engine.risk_model_max_age_ms` configured it gates orders.
    #[arg(long)]
    risk_model: Option<PathBuf>,
    /// Venue file (TOML, the `clearhouse route --venues` format) for the operator's route
    /// endpoint; default the router's embedded set. A missing or invalid file stops the start.
    #[arg(long)]
    venues: Option<PathBuf>,
}

fn main() {
    match real_main() {
        Ok(()) => {}
        // The reader of stdout went away (`clearhouse verify | head -1`): nothing is left to say
        // to anyone, and it is not a failure of the command.
        Err(e) if is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            eprintln!("clearhouse: error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// True when the error comes from writing to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// `clearhouse serve`: the HTTP service until SIGINT or SIGTERM (see `crates/server`).
fn serve_http(config: Config, journal: &JournalLocation, migrate: bool, args: ServeArgs) -> Result<()> {
    init_logs(args.log_json);
    let operator_key = operator_key(&args)?;
    let feed_mode = match args.feed.as_str() {
        "auto" => server::feed::FeedMode::Auto,
        "history" => server::feed::FeedMode::History,
        "synthetic" => server::feed::FeedMode::Synthetic,
        "off" => server::feed::FeedMode::Off,
        other => bail!("--feed {other:?}: expected auto, history, synthetic or off"),
    };
    if !(args.feed_hours_per_second > 0.0 && args.feed_hours_per_second <= 10_000.0) {
        bail!("--feed-hours-per-second must be in (0, 10000]");
    }
    if args.rate_burst == 0 || args.rate_per_second == 0 || args.body_bytes_max == 0 {
        bail!("--rate-burst, --rate-per-second and --body-bytes-max must be positive");
    }
    let postgres = match journal {
        JournalLocation::Postgres { conninfo, schema } => Some((conninfo.clone(), schema.clone())),
        JournalLocation::Sqlite(_) => None,
    };
    let settings = server::Settings {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        postgres,
        config,
        migrate,
        operator_key,
        feed: server::feed::FeedSettings {
            mode: feed_mode,
            hours_per_second: args.feed_hours_per_second,
            start: args.feed_start.clone(),
            seed: args.feed_seed,
        },
        rate: server::auth::RateLimit { burst: args.rate_burst, per_second: args.rate_per_second },
        body_bytes_max: args.body_bytes_max,
        signature_batch_max: args.signature_batch_max as usize,
        risk_model: match &args.risk_model {
            Some(path) => {
                let bytes = std::fs::read(path).with_context(|| format!("reading the risk model {}", path.display()))?;
                Some(postcard::from_bytes(&bytes).with_context(|| format!("decoding the risk model {}", path.display()))?)
            }
            None => None,
        },
        venues: args.venues.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let running = server::start(settings).await?;
        println!("clearhouse serve: listening on http://{0}  dashboard: http://{0}/dashboard", running.addr);
        let stopper = running.stopper();
        tokio::spawn(async move {
            server::shutdown_signal().await;
            let _ = stopper.send(true);
        });
        running.wait().await?;
        println!("clearhouse serve: stopped, journal closed");
        Ok::<(), server::ServerError>(())
    })?;
    Ok(())
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The operator's public key: from CLEARHOUSE_OPERATOR_KEY (hex public key), or derived from
/// the secret in the key file, which is created with a fresh key when absent.
fn operator_key(args: &ServeArgs) -> Result<ed25519_dalek::VerifyingKey> {
    if let Ok(hex) = std::env::var("CLEARHOUSE_OPERATOR_KEY") {
        return server::auth::parse_public_key(hex.trim()).context("CLEARHOUSE_OPERATOR_KEY is not 64 hex digits of an ed25519 public key");
    }
    let path = args.operator_key_file.clone().unwrap_or_else(|| args.data_dir.join("operator.key"));
    if args.operator_key_file.is_none() && !path.exists() {
        std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for the operator key: {e}"))?;
        write_secret(&path, &server::auth::hex(&seed))?;
        eprintln!("clearhouse serve: created the operator key file {} (keep it secret)", path.display());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading the operator key file {}", path.display()))?;
    let seed = server::auth::unhex::<32>(text.trim())
        .with_context(|| format!("{}: expected 64 hex digits (an ed25519 secret key)", path.display()))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key())
}

fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
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
    if let Some(Cmd::Route(args)) = &cli.command {
        return route::run(args);
    }
    if let Some(Cmd::HedgeReplay(args)) = &cli.command {
        return hedge_replay::run(args);
    }
    let config = load_config(cli.config.as_deref())?;
    let journal = match cli.postgres {
        Some(conninfo) => JournalLocation::Postgres { conninfo, schema: cli.pg_schema },
        None => JournalLocation::Sqlite(cli.journal),
    };
    let migrate = cli.migrate;
    match cli.command.unwrap_or(Cmd::Day { data_dir: None, embedded_calibration: false }) {
        Cmd::Day { data_dir, embedded_calibration } => {
            let dir = match data_dir {
                Some(dir) => dir,
                None => day::temp_dir()?,
            };
            let mut out = QuietStdout { out: std::io::stdout().lock(), closed: false };
            day::run_day(&config, &load_risk_params(None)?, &dir, embedded_calibration, &mut out)
        }
        Cmd::Run { file, batch, verbose } => run(config, &journal, file.as_deref(), batch, verbose, migrate),
        Cmd::Serve(args) if args.stdin => serve(config, &journal, migrate),
        Cmd::Serve(args) => serve_http(config, &journal, migrate, *args),
        Cmd::Verify { expect_seq } => verify(config, &journal, expect_seq),
        Cmd::Statement { account, json } => statement(&config, &journal, &account, json),
        Cmd::Cover2 { json, emit_commands, first_id } => cover2(&config, &journal, json, first_id.filter(|_| emit_commands)),
        Cmd::Margin { portfolio, json, risk_params, as_of, embedded_calibration, model: Some(model) } => {
            let args = risk_model::MarginModelArgs {
                portfolio: &portfolio,
                model: &model,
                json,
                params: load_risk_params(risk_params.as_deref())?,
                as_of: as_of.as_deref(),
                embedded_calibration,
            };
            risk_model::margin_with_model(&config, args)
        }
        Cmd::Margin { portfolio, json, risk_params, as_of, embedded_calibration, model: None } => {
            margin(&config, &portfolio, json, risk_params.as_deref(), as_of.as_deref(), embedded_calibration)
        }
        Cmd::RiskModel { as_of, out, risk_params, embedded_calibration, portfolio, assume_venue_live } => {
            let args = risk_model::RiskModelArgs {
                as_of: as_of.as_deref(),
                out: &out,
                params: load_risk_params(risk_params.as_deref())?,
                embedded_calibration,
                portfolio: portfolio.as_deref(),
                assume_venue_live,
            };
            risk_model::risk_model(&config, args)
        }
        Cmd::Backtest { portfolios, from, to, threads, markdown, risk_params } => {
            backtest(&config, &portfolios, &from, &to, threads, markdown, risk_params.as_deref())
        }
        Cmd::Route(args) => route::run(&args),
        Cmd::Exposure(args) => exposure::run(&config, &load_risk_params(args.risk_params.as_deref())?, &args),
        Cmd::HedgeReplay(args) => hedge_replay::run(&args),
        Cmd::CrisisReplay(args) => {
            let mut out = QuietStdout { out: std::io::stdout().lock(), closed: false };
            crisis::run(&config, &load_risk_params(None)?, &args, &mut out)
        }
        Cmd::Client(args) => client::run(args),
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
    let (from, to) = (risk::portfolio::parse_as_of(from, "--from")?, risk::portfolio::parse_as_of(to, "--to")?);
    let opts = risk::backtest::BacktestOptions { from, to, step_hours: 24, realised_hours: params.mpor_hours, threads };
    let risk::MarketData::Panel { panel, vol_model } = risk::MarketData::load_for(config, &params)? else {
        bail!("the backtest needs the raw market history (set CLEARHOUSE_MARKET_DATA)");
    };
    let runs = risk::backtest::run_suite(config, &params, &portfolios, &panel, &vol_model, &opts)?;
    let mut out = std::io::stdout().lock();
    if markdown {
        write!(out, "{}", risk::backtest::render_markdown(&runs))?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
    }
    out.flush()?;
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
    let as_of = as_of.map(|t| risk::portfolio::parse_as_of(t, "--as-of")).transpose()?;
    let data = if embedded_calibration { risk::MarketData::embedded_calibration()? } else { risk::MarketData::load_for(config, &params)? };
    let report = risk::margin_portfolio_as_of(config, &params, &portfolio, &data, as_of)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", risk::render_json(&report)?)?;
    } else {
        write!(out, "{}", risk::render_table(&report))?;
    }
    out.flush()?;
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

/// Standard output that, once its reader has gone away, discards what is written instead of failing.
struct QuietStdout<'a> {
    out: std::io::StdoutLock<'a>,
    closed: bool,
}

impl Write for QuietStdout<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.out.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

/// Whether a command may write to the journal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    /// `verify`: no schema creation, no checkpoint, no write of any kind.
    ReadOnly,
}

/// Opens and recovers the node; with `install`, also journals the genesis configuration (empty
/// journal) or the migration to the file's configuration (`--migrate`).
fn open_node(config: &Config, location: &JournalLocation, access: Access, install: Option<bool>) -> Result<(Node, node::RecoveryReport)> {
    let journal_config = JournalConfig::default();
    // A command line within the limit always fits a journal record (see lines::LINE_BYTES_MAX).
    if lines::LINE_BYTES_MAX.saturating_mul(16) > journal_config.max_command_bytes {
        bail!("line limit {} is too close to the journal's command limit {}", lines::LINE_BYTES_MAX, journal_config.max_command_bytes);
    }
    let opened = || format!("opening journal {location}");
    let journal: Box<dyn JournalStore> = match (location, access) {
        (JournalLocation::Sqlite(path), Access::ReadWrite) => Box::new(SqliteJournal::open(path, journal_config).with_context(opened)?),
        (JournalLocation::Sqlite(path), Access::ReadOnly) => {
            Box::new(SqliteJournal::open_read_only(path, journal_config).with_context(opened)?)
        }
        (JournalLocation::Postgres { conninfo, schema }, access) => {
            let pg_config = journal_pg::PgConfig::new(conninfo.clone(), schema.clone());
            let journal = match access {
                Access::ReadWrite => journal_pg::PgJournal::open(&pg_config, journal_config),
                Access::ReadOnly => journal_pg::PgJournal::open_read_only(&pg_config, journal_config),
            };
            Box::new(journal.with_context(opened)?)
        }
    };
    let (mut node, report) =
        Node::open(node::NodeOptions::from_config(config), journal).with_context(|| format!("recovering journal {location}"))?;
    if let Some(migrate) = install {
        match node.install(config, migrate).with_context(|| format!("configuration of journal {location}"))? {
            node::Installed::Genesis => eprintln!("journal {location}: genesis configuration journalled"),
            node::Installed::Unchanged => {}
            node::Installed::Migrated(changes) => {
                for change in changes {
                    eprintln!("journal {location}: migrated {}", serde_json::to_string(&change)?);
                }
            }
        }
    }
    Ok((node, report))
}

/// Reads a command file line by line (bounded, see [`lines`]) and decodes every line. Any bad line
/// refuses the whole file, before anything is applied: each is reported with its number and code.
fn read_command_file(name: &str, input: impl std::io::Read) -> Result<Vec<Envelope>> {
    const ERRORS_SHOWN_MAX: usize = 20;
    let mut input = std::io::BufReader::new(input);
    let (mut envelopes, mut errors) = (Vec::new(), Vec::new());
    let mut buf = Vec::with_capacity(4096);
    let mut number = 0u64;
    loop {
        let read = lines::read_line(&mut input, lines::LINE_BYTES_MAX, &mut buf).with_context(|| format!("reading {name}"))?;
        number += 1;
        let parsed = match read {
            lines::Read::Eof => break,
            lines::Read::TooLong { bytes } => Err(lines::LineError::LineTooLong { bytes, limit: lines::LINE_BYTES_MAX }),
            lines::Read::Line if lines::is_blank(&buf) => continue,
            lines::Read::Line => lines::parse(&buf),
        };
        match parsed {
            Ok(envelope) => envelopes.push(envelope),
            Err(e) => errors.push((number, e)),
        }
    }
    if let Some((first, _)) = errors.first() {
        for (line, e) in errors.iter().take(ERRORS_SHOWN_MAX) {
            eprintln!("clearhouse: {name} line {line}: {}: {e}", e.code());
        }
        bail!("{name}: {} bad lines (the first at line {first}); nothing was applied", errors.len());
    }
    Ok(envelopes)
}

fn run(config: Config, journal_path: &JournalLocation, file: Option<&Path>, batch: usize, verbose: bool, migrate: bool) -> Result<()> {
    let max = config.limits.batch_commands_max as usize;
    if batch == 0 || batch > max {
        bail!("--batch must be between 1 and limits.batch_commands_max = {max}");
    }
    let envelopes = match file {
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
            read_command_file(&p.display().to_string(), f)?
        }
        None => read_command_file("the embedded demo", DEMO_COMMANDS.as_bytes())?,
    };
    let (mut node, report) = open_node(&config, journal_path, Access::ReadWrite, Some(migrate))?;
    // The commands are the point of `run`: a reader that goes away (`run | head -1`) does not stop them.
    let mut out = QuietStdout { out: std::io::stdout().lock(), closed: false };
    writeln!(
        out,
        "journal {}: recovered {} records (snapshot at seq {}, {} replayed, chain verified over {} records)",
        journal_path, report.last_seq, report.snapshot_seq, report.records_replayed, report.records_verified
    )?;
    let (mut applied, mut rejected, mut refused, mut duplicates) = (0u64, 0u64, 0u64, 0u64);
    for chunk in envelopes.chunks(batch) {
        for ack in node.submit_batch(chunk)? {
            match (&ack.outcome, ack.duplicate) {
                (_, true) => duplicates += 1,
                (Outcome::Applied { .. }, false) => applied += 1,
                (Outcome::Refused { .. }, false) => refused += 1,
                _ => rejected += 1,
            }
            if verbose || matches!(ack.outcome, Outcome::Rejected { .. } | Outcome::Refused { .. }) && !ack.duplicate {
                writeln!(out, "  {}#{} -> {}", ack.client, ack.id, serde_json::to_string(&ack.outcome)?)?;
            }
        }
    }
    writeln!(
        out,
        "{} commands: {applied} applied, {rejected} rejected, {refused} refused (not journalled), {duplicates} already journalled (answered with their first result)",
        envelopes.len()
    )?;
    print_state(&mut out, &mut node)
}

fn print_state(out: &mut impl Write, node: &mut Node) -> Result<()> {
    let engine = node.engine();
    writeln!(out, "\n{:<24} {:<20} {:>32} {:>24} {:>24}", "account", "asset", "posted", "reserved", "pending out")?;
    for row in engine.balances() {
        writeln!(out, "{:<24} {:<20} {:>32} {:>24} {:>24}", row.account, row.asset, row.posted, row.reserved, row.incoming)?;
    }
    writeln!(out, "\n{:<24} {:>32}   at the engine's oracle prices, each balance rounded down", "account", "value USD")?;
    for account in engine.trader_accounts() {
        match engine.valuation(account) {
            Ok(v) => writeln!(out, "{:<24} {:>32}", account, v.total_usd)?,
            Err(e) => writeln!(out, "{:<24} {:>32}   ({e})", account, "-")?,
        }
    }
    engine.check_invariants().map_err(|e| anyhow::anyhow!("invariant broken: {e}"))?;
    writeln!(out, "\nconservation: every asset's balances sum to zero")?;
    writeln!(out, "last seq {}, time {} ms", engine.next_seq() - 1, engine.now_ms())?;
    writeln!(out, "state hash {}", node::hex(&node.state_hash()))?;
    out.flush()?;
    Ok(())
}

/// Recovers and replays the journal without writing to it (see `docs/journal.md`, "Verifying").
fn verify(config: Config, journal_path: &JournalLocation, expect_seq: Option<u64>) -> Result<()> {
    let (mut node, report) = open_node(&config, journal_path, Access::ReadOnly, None)?;
    if let Some(expected) = expect_seq {
        journal::verify::check_expected_seq(&node.journal().head(), expected).with_context(|| format!("journal {journal_path}"))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "journal {} verified: {} records in the hash chain, snapshot at seq {}, {} batches ({} records) replayed with identical results and state hashes",
        journal_path, report.records_verified, report.snapshot_seq, report.batches_replayed, report.records_replayed
    )?;
    print_state(&mut out, &mut node)
}

/// Replays the journal read-only (verifying it), rebuilds the account's statement from the
/// journalled results and reconciles it with the replayed ledger before printing it.
fn statement(config: &Config, location: &JournalLocation, account: &str, json: bool) -> Result<()> {
    let (node, _) = open_node(config, location, Access::ReadOnly, None)?;
    let statement = reconciled_statement(&node, location, account)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &statement)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", statement.to_table())?;
        writeln!(out, "reconciled with the ledger to the unit")?;
    }
    Ok(())
}

/// An account's statement as a table, reconciled with the node's ledger.
fn statement_table(node: &Node, location: &JournalLocation, account: &str) -> Result<String> {
    Ok(format!("{}reconciled with the ledger to the unit\n", reconciled_statement(node, location, account)?.to_table()))
}

/// An account's statement from the journal's results, reconciled with the node's ledger.
fn reconciled_statement(node: &Node, location: &JournalLocation, account: &str) -> Result<statement::Statement> {
    if !node.engine().trader_accounts().any(|a| a == account) {
        bail!("journal {location}: no trader account {account:?}");
    }
    let mut journal = open_journal_read_only(location)?;
    let recovery = journal.recover_from_genesis().with_context(|| format!("reading journal {location}"))?;
    let mut builder = statement::StatementBuilder::new(account);
    for record in recovery.batches.iter().flat_map(|b| &b.records) {
        let envelope: Envelope = serde_json::from_slice(&record.command).with_context(|| format!("command at seq {}", record.seq.0))?;
        let outcome: Outcome = serde_json::from_slice(&record.result).with_context(|| format!("result at seq {}", record.seq.0))?;
        builder.record(&envelope.command, &outcome)?;
    }
    let statement = builder.finish();
    statement.reconcile(&node.engine().balances())?;
    Ok(statement)
}

/// Replays the journal read-only and prints the cover-2 report of its accounts.
fn cover2(config: &Config, location: &JournalLocation, json: bool, emit_from: Option<u64>) -> Result<()> {
    let (node, _) = open_node(config, location, Access::ReadOnly, None)?;
    let mut engine = node.engine().clone();
    let report = engine.cover2_report().with_context(|| format!("cover-2 on journal {location}"))?;
    let mut out = std::io::stdout().lock();
    if let Some(first_id) = emit_from {
        for envelope in add_ons::add_on_commands(&report.add_ons, &engine.margin_add_ons(), first_id) {
            writeln!(out, "{}", serde_json::to_string(&envelope)?)?;
        }
        return Ok(());
    }
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        return Ok(writeln!(out)?);
    }
    writeln!(out, "cover-2 on risk model {} (scenario column {:?})", report.model_digest, report.scenario)?;
    for (owner, usd) in &report.defaulters {
        writeln!(out, "  defaulter {owner}: uncovered {usd} USD")?;
    }
    if let Some((protocol, usd)) = &report.largest_protocol {
        writeln!(out, "  largest protocol failure {protocol}: {usd} USD")?;
    }
    writeln!(out, "requirement {} USD (cover-2 {} USD)", report.requirement_usd, report.cover2_usd)?;
    writeln!(out, "insurance fund {} USD + broker capital {} USD", report.insurance_fund_usd, report.broker_capital_usd)?;
    writeln!(out, "shortfall {} USD", report.shortfall_usd)?;
    for (owner, usd) in &report.add_ons {
        writeln!(out, "  add-on {owner}: {usd} USD of initial margin")?;
    }
    Ok(())
}

/// The journal alone, read-only (for reading its records).
fn open_journal_read_only(location: &JournalLocation) -> Result<Box<dyn JournalStore>> {
    let opened = || format!("opening journal {location}");
    Ok(match location {
        JournalLocation::Sqlite(path) => Box::new(SqliteJournal::open_read_only(path, JournalConfig::default()).with_context(opened)?),
        JournalLocation::Postgres { conninfo, schema } => {
            let pg_config = journal_pg::PgConfig::new(conninfo.clone(), schema.clone());
            Box::new(journal_pg::PgJournal::open_read_only(&pg_config, JournalConfig::default()).with_context(opened)?)
        }
    })
}

/// One line read by `serve`'s reader thread.
enum Input {
    /// A non-blank line (1-based number), decoded or refused.
    Line(u64, Result<Box<Envelope>, lines::LineError>),
    /// Reading stdin failed: no more lines will come.
    ReadFailed(std::io::Error),
}

/// Reads stdin line by line (bounded, see [`lines`]), decodes each line and sends it on.
fn read_stdin(sender: mpsc::SyncSender<Input>) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = Vec::with_capacity(4096);
    let mut number = 0u64;
    loop {
        let parsed = match lines::read_line(&mut stdin, lines::LINE_BYTES_MAX, &mut buf) {
            Err(e) => {
                let _ = sender.send(Input::ReadFailed(e));
                return;
            }
            Ok(lines::Read::Eof) => return,
            Ok(lines::Read::TooLong { bytes }) => Err(lines::LineError::LineTooLong { bytes, limit: lines::LINE_BYTES_MAX }),
            Ok(lines::Read::Line) if lines::is_blank(&buf) => {
                number += 1;
                continue;
            }
            Ok(lines::Read::Line) => lines::parse(&buf),
        };
        number += 1;
        if sender.send(Input::Line(number, parsed.map(Box::new))).is_err() {
            return;
        }
    }
}

/// Reads lines on a thread; the main loop takes whatever has arrived (up to the batch limit)
/// as one batch, so many concurrent commands share one fsync (group commit). A bad line is
/// answered at once with its typed error (see [`lines::LineError::reply`]) and never journalled:
/// it has no trustworthy client id to deduplicate on. Only a journal failure ends `serve` early.
fn serve(config: Config, journal_path: &JournalLocation, migrate: bool) -> Result<()> {
    let (mut node, report) = open_node(&config, journal_path, Access::ReadWrite, Some(migrate))?;
    let max = node.engine().config().limits.batch_commands_max as usize;
    eprintln!("clearhouse serve: recovered to seq {} ({} records replayed)", report.last_seq, report.records_replayed);
    let (sender, receiver) = mpsc::sync_channel::<Input>(max * 4);
    std::thread::spawn(move || read_stdin(sender));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut read_failure = None;
    while let Ok(first) = receiver.recv() {
        let mut inputs = vec![first];
        while inputs.len() < max {
            match receiver.try_recv() {
                Ok(input) => inputs.push(input),
                Err(_) => break,
            }
        }
        let mut envelopes = Vec::with_capacity(inputs.len());
        let mut replies: Vec<Option<String>> = Vec::with_capacity(inputs.len());
        for input in inputs {
            match input {
                Input::Line(_, Ok(envelope)) => {
                    envelopes.push(*envelope);
                    replies.push(None);
                }
                Input::Line(number, Err(e)) => replies.push(Some(e.reply(number))),
                Input::ReadFailed(e) => read_failure = Some(e),
            }
        }
        let mut acks = node.submit_batch(&envelopes)?.into_iter();
        for reply in replies {
            let text = match reply {
                Some(text) => text,
                None => serde_json::to_string::<Ack>(&acks.next().context("one ack per command")?)?,
            };
            writeln!(out, "{text}")?;
        }
        out.flush()?;
    }
    match read_failure {
        // As text: an I/O error here must not be mistaken for a closed stdout.
        Some(e) => bail!("reading stdin: {e}"),
        None => Ok(()),
    }
}
