//! `clearhouse risk-model` and `clearhouse margin FILE --model MODEL`: the integer risk model the
//! engine installs (compiled by `risk::arrays`, aggregated by `margin-core`), written as postcard
//! (the canonical bytes its digest is taken over), and a portfolio margined through it beside the
//! f64 margin of the same book.

use anyhow::{Context, Result, bail};
use margin_core::{Requirement, RiskModel};
use model::Config;
use money::UsdPrice;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Where the history comes from, as the command line chose it.
fn market_data(config: &Config, params: &risk::RiskParams, embedded_calibration: bool) -> Result<risk::MarketData> {
    Ok(if embedded_calibration { risk::MarketData::embedded_calibration()? } else { risk::MarketData::load_for(config, params)? })
}

fn read_portfolio(path: &Path) -> Result<risk::Portfolio> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading portfolio {}", path.display()))?;
    risk::Portfolio::from_toml(&text).with_context(|| format!("portfolio {}", path.display()))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Options of `clearhouse risk-model`.
pub struct RiskModelArgs<'a> {
    pub as_of: Option<&'a str>,
    pub out: &'a Path,
    pub params: risk::RiskParams,
    pub embedded_calibration: bool,
    pub portfolio: Option<&'a Path>,
    /// Treat the broker's own venue as live on the as-of date (`--assume-venue-live`).
    pub assume_venue_live: bool,
}

/// Compiles the model (of the whole configuration, or of one book with `--portfolio`), writes it
/// as postcard and prints its digest, columns and instruments.
pub fn risk_model(config: &Config, args: RiskModelArgs<'_>) -> Result<()> {
    let data = market_data(config, &args.params, args.embedded_calibration)?;
    let as_of = args.as_of.map(|t| risk::portfolio::parse_as_of(t, "--as-of")).transpose()?;
    if args.assume_venue_live && args.portfolio.is_some() {
        bail!("--assume-venue-live applies to the model of the whole configuration (--as-of), not to --portfolio");
    }
    let compiled = match (args.portfolio, as_of) {
        (Some(p), _) => risk::arrays::compile_portfolio(config, &args.params, &data, &read_portfolio(p)?, as_of)?,
        (None, Some(t)) => {
            let assumption = if args.assume_venue_live {
                risk::arrays::VenueAssumption::OwnVenueLive
            } else {
                risk::arrays::VenueAssumption::AsConfigured
            };
            let (compiled, note) = risk::arrays::compile_assuming(config, &args.params, &data, t, assumption)?;
            if let Some(note) = note {
                eprintln!("notice: {note}: its perps and options are in the model");
            }
            compiled
        }
        (None, None) => bail!("give --as-of (or --portfolio FILE to compile the model of one book as of its date)"),
    };
    let m = &compiled.model;
    let bytes = postcard::to_stdvec(m).context("encoding the risk model")?;
    std::fs::write(args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "risk model {} written to {} (postcard, {} bytes)", m.label, args.out.display(), bytes.len())?;
    writeln!(out, "digest      {}", hex(&m.digest()))?;
    writeln!(out, "data        {}", data.describe())?;
    writeln!(out, "columns     {} ({} FHS, {} floor)", m.columns(), m.fhs_scenarios, m.floor_weights_ppm.len())?;
    writeln!(out, "instruments {}", m.instruments.len())?;
    for i in &m.instruments {
        writeln!(out, "  {:<24} decimals {:>2}  {:?}", i.id, i.decimals, i.scaling)?;
    }
    writeln!(out, "protocols   {}", m.charges.protocols.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "))?;
    for s in &compiled.skipped {
        writeln!(out, "skipped     {}: {}", s.id, s.reason)?;
    }
    out.flush()?;
    Ok(())
}

/// Reads and validates a model file.
pub fn read_model(path: &Path) -> Result<RiskModel> {
    let bytes = std::fs::read(path).with_context(|| format!("reading risk model {}", path.display()))?;
    let model: RiskModel = postcard::from_bytes(&bytes).with_context(|| format!("{} is not a postcard risk model", path.display()))?;
    model.validate().with_context(|| format!("risk model {}", path.display()))?;
    Ok(model)
}

/// What `margin --model` prints as JSON.
#[derive(Serialize)]
struct IntegerMargin {
    portfolio: String,
    as_of: String,
    model_digest: String,
    model_label: String,
    requirement: Requirement,
    initial_margin_usd: String,
    maintenance_margin_usd: String,
    f64_initial_margin_usd: f64,
}

/// Options of `clearhouse margin FILE --model MODEL`.
pub struct MarginModelArgs<'a> {
    pub portfolio: &'a Path,
    pub model: &'a Path,
    pub json: bool,
    pub params: risk::RiskParams,
    pub as_of: Option<&'a str>,
    pub embedded_calibration: bool,
}

/// The integer margin of a portfolio through an installed model (at the portfolio's as-of
/// prices: linear instruments follow them), with the f64 margin of the same book beside it.
pub fn margin_with_model(config: &Config, args: MarginModelArgs<'_>) -> Result<()> {
    let model = read_model(args.model)?;
    let portfolio = read_portfolio(args.portfolio)?;
    let data = market_data(config, &args.params, args.embedded_calibration)?;
    let as_of = args.as_of.map(|t| risk::portfolio::parse_as_of(t, "--as-of")).transpose()?;
    let c = risk::report::compute(config, &args.params, &portfolio, &data, as_of, None)?;
    let report = risk::report::report_of(config, &args.params, &portfolio, &data, &c);
    let positions = risk::arrays::positions_of(&model, &c.book)
        .context("the book holds an instrument the model lacks; compile a model of this book with `risk-model --portfolio FILE`")?;
    let prices = prices_for(&model, &c.engine);
    let req = model.requirement(&model.account(&positions, &prices)?)?;
    let result = IntegerMargin {
        portfolio: portfolio.name.clone(),
        as_of: c.base.as_of.to_iso(),
        model_digest: hex(&model.digest()),
        model_label: model.label.clone(),
        initial_margin_usd: req.initial.to_string(),
        maintenance_margin_usd: req.maintenance.to_string(),
        requirement: req,
        f64_initial_margin_usd: report.initial_margin,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
    } else {
        write!(out, "{}", render(&result, &model))?;
    }
    out.flush()?;
    Ok(())
}

/// The engine's current price of each model underlying (None where the engine has none).
fn prices_for(model: &RiskModel, engine: &risk::Engine) -> Vec<Option<UsdPrice>> {
    model
        .underlyings
        .iter()
        .map(|u| {
            let k = engine.underlying_names.iter().position(|n| *n == u.name)?;
            let s = *engine.spot_usd.get(k)?;
            (s.is_finite() && s > 0.0).then(|| UsdPrice::parse(&format!("{s:.12}")).ok()).flatten()
        })
        .collect()
}

fn render(r: &IntegerMargin, model: &RiskModel) -> String {
    let q = &r.requirement;
    let im: f64 = r.initial_margin_usd.parse().unwrap_or(f64::NAN);
    let lines = [
        format!("integer margin of {} as of {}", r.portfolio, r.as_of),
        format!("risk model {} ({}), {} columns, {} instruments", r.model_digest, r.model_label, model.columns(), model.instruments.len()),
        format!("  initial margin       {:>24} USD", q.initial),
        format!("  maintenance margin   {:>24} USD", q.maintenance),
        format!("  expected shortfall   {:>24} USD (FHS mixed with protocol failures)", q.expected_shortfall),
        format!("  floor                {:>24} USD", q.floor),
        format!("  concentration        {:>24} USD", q.concentration),
        format!("  liquidity            {:>24} USD", q.liquidity),
        format!("  binding column       {:>24}", q.worst_scenario),
        format!(
            "f64 engine (clearhouse margin): initial margin {:.6} USD, integer - f64 = {:+.6} USD",
            r.f64_initial_margin_usd,
            im - r.f64_initial_margin_usd
        ),
    ];
    lines.join("\n") + "\n"
}
