//! `clearhouse hedge-replay [--file CSV] [--amount 500] [--horizon-hours 6] [--seed 42] [--hour 0]
//! [--lookback-hours 24] [--json]`: the house sells an ETH exposure starting at `--hour` UTC of every
//! day of an hourly price file (default the market data's `eth_usdt_2020-03_1h.csv`, March 2020),
//! at once or scheduled by the seeded slicer over the horizon, on the router's embedded venue set;
//! one row per day with cost, slippage, shortfall and residual risk (`router::replay`,
//! docs/router.md, "March 2020 replay").

use anyhow::{Context, Result, bail};
use router::replay::{Bar, Hedge, Replay, replay};
use router::slicer::SliceParams;
use std::io::Write;
use std::path::PathBuf;

/// The March 2020 hourly ETH file of the market data.
pub const MARCH_2020_FILE: &str = "eth_usdt_2020-03_1h.csv";

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Hourly OHLC file (timestamp,open,high,low,close,volume); default the market data's March 2020 ETH.
    #[arg(long)]
    file: Option<PathBuf>,
    /// ETH the house sells (whole tokens, decimal).
    #[arg(long, default_value = "500")]
    amount: String,
    /// Length of the scheduled hedge, hours.
    #[arg(long, default_value_t = 6)]
    horizon_hours: u64,
    /// Seed of the slicer's sizes and times.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Hour of the day (UTC) the exposure arrives.
    #[arg(long, default_value_t = 0)]
    hour: usize,
    /// Hours before arrival whose returns give the volatility.
    #[arg(long, default_value_t = 24)]
    lookback_hours: usize,
    /// Print JSON instead of the markdown table.
    #[arg(long)]
    json: bool,
}

struct Row {
    day: String,
    result: Replay,
}

pub fn run(args: &ReplayArgs) -> Result<()> {
    let path = match &args.file {
        Some(p) => p.clone(),
        None => marketdata::loader::find_data_dir().context("market data directory")?.join(MARCH_2020_FILE),
    };
    let table = marketdata::loader::CsvTable::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let (open, close) = (table.column("open")?, table.column("close")?);
    let mut bars = Vec::with_capacity(table.times.len());
    for (i, (o, c)) in open.iter().zip(close).enumerate() {
        let (Some(o), Some(c)) = (o, c) else { bail!("{}: row {} has no open or close", table.file, i + 2) };
        bars.push(Bar { open: *o, close: *c });
    }
    if args.hour > 23 || args.horizon_hours == 0 || args.lookback_hours < 3 {
        bail!("--hour 0..23, --horizon-hours positive, --lookback-hours at least 3");
    }
    let market = router::default_venues()?;
    let (eth, usdc) = (market.token("ETH")?, market.token("USDC")?);
    let hedge = Hedge { from: eth, to: usdc, amount: market.parse_amount(eth, &args.amount)? };
    let params = SliceParams { horizon_seconds: args.horizon_hours * 3600, ..SliceParams::default_params() };
    let mut rows = Vec::new();
    for (i, t) in table.times.iter().enumerate() {
        let enough = i >= args.lookback_hours && i + (args.horizon_hours as usize) < bars.len();
        if !t.to_iso().ends_with(&format!("T{:02}:00:00Z", args.hour)) || !enough {
            continue;
        }
        let (history, path) = (&bars[i - args.lookback_hours..i], &bars[i..]);
        let result = replay(&market, hedge, path, history, &params, args.seed).with_context(|| format!("replay from {t}"))?;
        rows.push(Row { day: t.to_iso()[..10].to_string(), result });
    }
    print(args, &rows)
}

fn print(args: &ReplayArgs, rows: &[Row]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json {
        let json: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "day": r.day, "arrival": r.result.arrival,
                    "immediate": outcome(&r.result.immediate), "scheduled": outcome(&r.result.scheduled),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "Sell {} ETH at {:02}:00 UTC; scheduled over {} h (seed {}); bps of notional at arrival.\n",
        args.amount, args.hour, args.horizon_hours, args.seed
    )?;
    writeln!(
        out,
        "| day | arrival | immediate cost | scheduled slices | scheduled cost | slippage | shortfall | residual risk (ex ante) | realised |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in rows {
        let (i, s) = (&r.result.immediate, &r.result.scheduled);
        writeln!(
            out,
            "| {} | {:.2} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            r.day,
            r.result.arrival,
            i.cost_bps,
            s.slices,
            s.cost_bps,
            s.slippage_bps,
            s.shortfall_bps,
            s.residual_risk_bps,
            s.realised_risk_bps
        )?;
    }
    let n = rows.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / n;
    writeln!(
        out,
        "| mean | | {:.1} | | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        mean(&|r| r.result.immediate.cost_bps),
        mean(&|r| r.result.scheduled.cost_bps),
        mean(&|r| r.result.scheduled.slippage_bps),
        mean(&|r| r.result.scheduled.shortfall_bps),
        mean(&|r| r.result.scheduled.residual_risk_bps),
        mean(&|r| r.result.scheduled.realised_risk_bps),
    )?;
    Ok(())
}

fn outcome(o: &router::replay::Outcome) -> serde_json::Value {
    serde_json::json!({
        "slices": o.slices, "cost_bps": o.cost_bps, "slippage_bps": o.slippage_bps, "shortfall_bps": o.shortfall_bps,
        "residual_risk_bps": o.residual_risk_bps, "realised_risk_bps": o.realised_risk_bps,
    })
}
