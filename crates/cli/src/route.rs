//! `clearhouse route --from ETH --to USDC --amount 5000 [--venues FILE] [--json]`: the router's optimal
//! split across the venues of a venue file (default: the embedded set of the `router` crate), the
//! expected price, and the comparison with the best single venue and a naive equal split.

use anyhow::{Context, Result};
use router::RouteReport;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `clearhouse route`.
#[derive(clap::Args)]
pub struct RouteArgs {
    /// Token sold (a symbol of the venue file).
    #[arg(long)]
    from: String,
    /// Token bought.
    #[arg(long)]
    to: String,
    /// Amount of `from` to sell, in whole tokens (decimal, exact).
    #[arg(long)]
    amount: String,
    /// Venue file (TOML, `router.toml` format); default the embedded crates/router/venues/default.toml.
    #[arg(long)]
    venues: Option<PathBuf>,
    /// Print JSON for tools instead of the table.
    #[arg(long)]
    json: bool,
}

/// Route and print.
///
/// # Errors
/// An unreadable or invalid venue file, an unknown token, a bad amount, or no route.
pub fn run(args: &RouteArgs) -> Result<()> {
    let market = match &args.venues {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            router::parse_venues(&text).with_context(|| format!("venue file {}", path.display()))?
        }
        None => router::default_venues()?,
    };
    let report = router::route_report(&market, &args.from, &args.to, &args.amount)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        table(&report, &mut out)?;
    }
    Ok(())
}

/// The report as a table (the same numbers as `--json` and the operator's service).
fn table(r: &RouteReport, out: &mut impl Write) -> Result<()> {
    let (from, to) = (&r.from, &r.to);
    writeln!(out, "route {} {from} -> {to}", r.amount_in)?;
    writeln!(out, "{:<24} {:>6} {:>6} {:>28} {:>28} {:>7}", "venue", "from", "to", "amount in", "amount out", "share")?;
    for leg in &r.legs {
        let share = leg.share_of_hop * 100.0;
        writeln!(out, "{:<24} {:>6} {:>6} {:>28} {:>28} {:>6.2}%", leg.venue, leg.from, leg.to, leg.amount_in, leg.amount_out, share)?;
    }
    writeln!(out, "optimal split     {} {to}  price {:.6} {to}/{from}", r.amount_out, r.price)?;
    let s = &r.best_single;
    writeln!(
        out,
        "best single venue {} {to}  price {:.6}  ({})  split gains {:.2} bp",
        s.amount_out,
        s.price,
        s.venues.join(" -> "),
        s.split_gain_bps
    )?;
    match &r.equal_split {
        Some(e) => writeln!(out, "equal split       {} {to}  price {:.6}  split gains {:.2} bp", e.amount_out, e.price, e.split_gain_bps)?,
        None => writeln!(out, "equal split       not executable (a venue cannot absorb an equal share)")?,
    }
    Ok(())
}
