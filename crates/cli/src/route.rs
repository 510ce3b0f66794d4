//! `clearhouse route --from ETH --to USDC --amount 5000 [--venues FILE] [--json]`: the router's optimal
//! split across the venues of a venue file (default: the embedded set of the `router` crate), the
//! expected price, and the comparison with the best single venue and a naive equal split.

use anyhow::{Context, Result};
use router::split::{self, RoutePlan};
use router::{Market, Venue};
use serde_json::json;
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
    let (from, to) = (market.token(&args.from)?, market.token(&args.to)?);
    let amount = market.parse_amount(from, &args.amount)?;
    let plan = router::route(&market, from, to, amount)?;
    let (single_path, single) = split::best_single(&market, from, to, amount)?;
    let equal = split::equal_split(&market, from, to, amount).ok();
    let report = Report { market: &market, plan: &plan, single_path, single: single.0, equal: equal.map(|e| e.0) };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report.json()?)?)?;
    } else {
        report.table(&mut out)?;
    }
    Ok(())
}

struct Report<'a> {
    market: &'a Market,
    plan: &'a RoutePlan,
    single_path: Vec<usize>,
    single: i128,
    equal: Option<i128>,
}

impl Report<'_> {
    fn amount(&self, token: router::TokenId, units: i128) -> Result<String> {
        Ok(self.market.format_amount(token, money::Amount(units))?)
    }

    /// Output per whole input token (f64, for display).
    fn price(&self, out_units: i128) -> Result<f64> {
        let (from, to) = (self.market.token_info(self.plan.from)?, self.market.token_info(self.plan.to)?);
        let input = self.plan.amount_in.0 as f64 / from.scale.one() as f64;
        Ok(out_units as f64 / to.scale.one() as f64 / input)
    }

    fn gain_bps(&self, other: i128) -> f64 {
        (self.plan.amount_out.0 as f64 / other as f64 - 1.0) * 1e4
    }

    fn legs(&self) -> Result<Vec<serde_json::Value>> {
        let mut legs = Vec::new();
        for candidate in &self.plan.candidates {
            for hop in &candidate.hops {
                let (from, to) = (&self.market.token_info(hop.from)?.symbol, &self.market.token_info(hop.to)?.symbol);
                for a in &hop.allocations {
                    legs.push(json!({
                        "venue": self.market.venues[a.venue].id(),
                        "from": from, "to": to,
                        "amount_in": self.amount(hop.from, a.amount_in.0)?,
                        "amount_out": self.amount(hop.to, a.amount_out.0)?,
                        "share_of_hop": a.amount_in.0 as f64 / hop.amount_in() as f64,
                    }));
                }
            }
        }
        Ok(legs)
    }

    fn json(&self) -> Result<serde_json::Value> {
        let single_ids: Vec<&str> = self.single_path.iter().map(|&v| self.market.venues[v].id()).collect();
        Ok(json!({
            "from": self.market.token_info(self.plan.from)?.symbol,
            "to": self.market.token_info(self.plan.to)?.symbol,
            "amount_in": self.amount(self.plan.from, self.plan.amount_in.0)?,
            "amount_out": self.amount(self.plan.to, self.plan.amount_out.0)?,
            "price": self.price(self.plan.amount_out.0)?,
            "legs": self.legs()?,
            "best_single": { "venues": single_ids, "amount_out": self.amount(self.plan.to, self.single)?,
                             "price": self.price(self.single)?, "split_gain_bps": self.gain_bps(self.single) },
            "equal_split": match self.equal {
                Some(e) => json!({ "amount_out": self.amount(self.plan.to, e)?, "price": self.price(e)?, "split_gain_bps": self.gain_bps(e) }),
                None => json!(null),
            },
        }))
    }

    fn table(&self, out: &mut impl Write) -> Result<()> {
        let (from, to) = (&self.market.token_info(self.plan.from)?.symbol, &self.market.token_info(self.plan.to)?.symbol);
        writeln!(out, "route {} {from} -> {to}", self.amount(self.plan.from, self.plan.amount_in.0)?)?;
        writeln!(out, "{:<24} {:>6} {:>6} {:>28} {:>28} {:>7}", "venue", "from", "to", "amount in", "amount out", "share")?;
        for leg in self.legs()? {
            let share = leg["share_of_hop"].as_f64().unwrap_or(0.0) * 100.0;
            writeln!(
                out,
                "{:<24} {:>6} {:>6} {:>28} {:>28} {:>6.2}%",
                leg["venue"].as_str().unwrap_or(""),
                leg["from"].as_str().unwrap_or(""),
                leg["to"].as_str().unwrap_or(""),
                leg["amount_in"].as_str().unwrap_or(""),
                leg["amount_out"].as_str().unwrap_or(""),
                share
            )?;
        }
        writeln!(
            out,
            "optimal split     {} {to}  price {:.6} {to}/{from}",
            self.amount(self.plan.to, self.plan.amount_out.0)?,
            self.price(self.plan.amount_out.0)?
        )?;
        let single_ids: Vec<&str> = self.single_path.iter().map(|&v| self.market.venues[v].id()).collect();
        writeln!(
            out,
            "best single venue {} {to}  price {:.6}  ({})  split gains {:.2} bp",
            self.amount(self.plan.to, self.single)?,
            self.price(self.single)?,
            single_ids.join(" -> "),
            self.gain_bps(self.single)
        )?;
        match self.equal {
            Some(e) => writeln!(
                out,
                "equal split       {} {to}  price {:.6}  split gains {:.2} bp",
                self.amount(self.plan.to, e)?,
                self.price(e)?,
                self.gain_bps(e)
            )?,
            None => writeln!(out, "equal split       not executable (a venue cannot absorb an equal share)")?,
        }
        Ok(())
    }
}
