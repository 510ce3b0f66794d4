//! `clearhouse exposure [--portfolios DIR | FILE...] [--json]`: the broker's total claim on each
//! protocol over a set of accounts (one portfolio file each, margined alone), against its cap in
//! the risk parameters, and the insurance fund's cover of the largest single-protocol failure and
//! of the two largest (cover-1, cover-2; `risk::broker`, formulas in docs/protocol-risk.md
//! section 7). Missing market data is an error unless `--embedded-calibration` is given.

use anyhow::{Context, Result, bail};
use model::Config;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Most portfolio files one run totals.
pub const PORTFOLIOS_MAX: usize = 10_000;

/// Arguments of `clearhouse exposure`.
#[derive(clap::Args)]
pub struct ExposureArgs {
    /// Portfolio files (TOML), one account each.
    files: Vec<PathBuf>,
    /// A directory whose `*.toml` files are the portfolios (instead of files).
    #[arg(long)]
    portfolios: Option<PathBuf>,
    /// The insurance fund, USD, whose cover is reported (zero when not given: no cover claimed).
    #[arg(long, default_value_t = 0.0)]
    insurance_fund_usd: f64,
    /// Compute as of this instant (YYYY-MM-DD or YYYY-MM-DDTHH:00:00Z) instead of the portfolios'
    /// common date.
    #[arg(long)]
    as_of: Option<String>,
    /// Risk parameter file (TOML); default the embedded one.
    #[arg(long)]
    pub risk_params: Option<PathBuf>,
    /// Use the embedded calibration instead of the market history (missing data is an error
    /// without it).
    #[arg(long)]
    embedded_calibration: bool,
    /// Print JSON for tools instead of the table.
    #[arg(long)]
    json: bool,
}

/// Totals and prints.
///
/// # Errors
/// No portfolio, both a directory and files, unreadable or invalid files, missing market data,
/// portfolios of different dates without `--as-of`, or any error of margining one of them.
pub fn run(config: &Config, params: &risk::RiskParams, args: &ExposureArgs) -> Result<()> {
    let paths = portfolio_paths(args)?;
    let mut portfolios = Vec::with_capacity(paths.len());
    for path in &paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading portfolio {}", path.display()))?;
        portfolios.push(risk::Portfolio::from_toml(&text).with_context(|| format!("portfolio {}", path.display()))?);
    }
    let as_of = args.as_of.as_deref().map(|t| risk::portfolio::parse_as_of(t, "--as-of")).transpose()?;
    let data =
        if args.embedded_calibration { risk::MarketData::embedded_calibration()? } else { risk::MarketData::load_for(config, params)? };
    let x = risk::broker::exposure_of_portfolios(config, params, &portfolios, &data, as_of, args.insurance_fund_usd)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&x)?)?;
    } else {
        table(&x, portfolios.len(), &mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// The files named, or the `*.toml` files of the directory in name order; never both, never none.
fn portfolio_paths(args: &ExposureArgs) -> Result<Vec<PathBuf>> {
    let paths = match (&args.portfolios, args.files.is_empty()) {
        (Some(_), false) => bail!("give either --portfolios DIR or portfolio files, not both"),
        (None, true) => bail!("no portfolio: give --portfolios DIR or portfolio files"),
        (None, false) => args.files.clone(),
        (Some(dir), true) => toml_files(dir)?,
    };
    if paths.is_empty() {
        bail!("no *.toml portfolio in {}", args.portfolios.as_deref().map_or(String::new(), |d| d.display().to_string()));
    }
    if paths.len() > PORTFOLIOS_MAX {
        bail!("{} portfolios, at most {PORTFOLIOS_MAX}", paths.len());
    }
    Ok(paths)
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading the portfolio directory {}", dir.display()))? {
        let path = entry.with_context(|| format!("reading the portfolio directory {}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn table(x: &risk::broker::BrokerExposure, accounts: usize, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "Broker exposure over {accounts} accounts (each margined alone), USD")?;
    writeln!(out, "{:<20} {:>16} {:>16} {:>9} {:>20}", "protocol", "claim", "cap", "above", "uncovered failure")?;
    for p in &x.protocols {
        let above = if p.above_cap { "ABOVE" } else { "" };
        writeln!(out, "{:<20} {:>16.2} {:>16.2} {:>9} {:>20.2}", p.protocol, p.claim_usd, p.cap_usd, above, p.uncovered_failure_loss_usd)?;
    }
    let yes = |b: bool| if b { "covered" } else { "NOT covered" };
    writeln!(out, "cover-1 (largest single-protocol failure)  {:>16.2}  {}", x.cover_1_usd, yes(x.fund_covers_1))?;
    writeln!(out, "cover-2 (two largest together)             {:>16.2}  {}", x.cover_2_usd, yes(x.fund_covers_2))?;
    writeln!(out, "insurance fund                             {:>16.2}", x.insurance_fund_usd)
}
