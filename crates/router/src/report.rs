//! The route report: the optimal split of a trade, its expected price, and the comparison with the
//! best single venue and a naive equal split. One shape for `clearhouse route --json` and the
//! operator's `GET /v1/operator/route`, so both print the same thing. Prices and gains are f64 for
//! display; every amount is the exact decimal of a venue quote.

use crate::error::RouterError;
use crate::market::Market;
use crate::split::{self, RoutePlan};
use crate::venue::{TokenId, Venue};
use money::Amount;
use serde::Serialize;

/// One venue's part of one hop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leg {
    pub venue: String,
    pub from: String,
    pub to: String,
    pub amount_in: String,
    pub amount_out: String,
    /// This venue's share of the hop's input.
    pub share_of_hop: f64,
}

/// The best single venue (or single chain of venues).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Single {
    pub venues: Vec<String>,
    pub amount_out: String,
    pub price: f64,
    /// What the split gains over it, basis points of its output.
    pub split_gain_bps: f64,
}

/// A naive equal split across the direct venues.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Equal {
    pub amount_out: String,
    pub price: f64,
    pub split_gain_bps: f64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteReport {
    pub from: String,
    pub to: String,
    pub amount_in: String,
    pub amount_out: String,
    /// Output per whole input token.
    pub price: f64,
    pub legs: Vec<Leg>,
    pub best_single: Single,
    /// `None` when a venue cannot absorb an equal share.
    pub equal_split: Option<Equal>,
}

/// Routes `amount` (whole tokens, decimal) of `from` into `to` and reports it.
///
/// # Errors
/// Unknown tokens, a malformed or non-positive amount, no route.
pub fn route_report(market: &Market, from: &str, to: &str, amount: &str) -> Result<RouteReport, RouterError> {
    let (from, to) = (market.token(from)?, market.token(to)?);
    let amount = market.parse_amount(from, amount)?;
    let plan = split::route(market, from, to, amount)?;
    let (single_path, single) = split::best_single(market, from, to, amount)?;
    let equal = split::equal_split(market, from, to, amount).ok();
    let r = Ctx { market, plan: &plan };
    let single = Single {
        venues: single_path.iter().map(|&v| market.venues[v].id().to_string()).collect(),
        amount_out: r.amount(to, single.0)?,
        price: r.price(single.0)?,
        split_gain_bps: r.gain_bps(single.0),
    };
    let equal_split = match equal {
        Some(e) => Some(Equal { amount_out: r.amount(to, e.0)?, price: r.price(e.0)?, split_gain_bps: r.gain_bps(e.0) }),
        None => None,
    };
    Ok(RouteReport {
        from: market.token_info(from)?.symbol.clone(),
        to: market.token_info(to)?.symbol.clone(),
        amount_in: r.amount(from, plan.amount_in.0)?,
        amount_out: r.amount(to, plan.amount_out.0)?,
        price: r.price(plan.amount_out.0)?,
        legs: r.legs()?,
        best_single: single,
        equal_split,
    })
}

struct Ctx<'a> {
    market: &'a Market,
    plan: &'a RoutePlan,
}

impl Ctx<'_> {
    fn amount(&self, token: TokenId, units: i128) -> Result<String, RouterError> {
        self.market.format_amount(token, Amount(units))
    }

    fn price(&self, out_units: i128) -> Result<f64, RouterError> {
        let (from, to) = (self.market.token_info(self.plan.from)?, self.market.token_info(self.plan.to)?);
        let input = self.plan.amount_in.0 as f64 / from.scale.one() as f64;
        Ok(out_units as f64 / to.scale.one() as f64 / input)
    }

    fn gain_bps(&self, other: i128) -> f64 {
        (self.plan.amount_out.0 as f64 / other as f64 - 1.0) * 1e4
    }

    fn legs(&self) -> Result<Vec<Leg>, RouterError> {
        let mut legs = Vec::new();
        for candidate in &self.plan.candidates {
            for hop in &candidate.hops {
                let (from, to) = (&self.market.token_info(hop.from)?.symbol, &self.market.token_info(hop.to)?.symbol);
                for a in &hop.allocations {
                    legs.push(Leg {
                        venue: self.market.venues[a.venue].id().to_string(),
                        from: from.clone(),
                        to: to.clone(),
                        amount_in: self.amount(hop.from, a.amount_in.0)?,
                        amount_out: self.amount(hop.to, a.amount_out.0)?,
                        share_of_hop: a.amount_in.0 as f64 / hop.amount_in() as f64,
                    });
                }
            }
        }
        Ok(legs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_the_plan_and_its_comparisons() {
        let market = crate::default_venues().unwrap();
        let r = route_report(&market, "ETH", "USDC", "5000").unwrap();
        let (eth, usdc) = (market.token("ETH").unwrap(), market.token("USDC").unwrap());
        let plan = split::route(&market, eth, usdc, market.parse_amount(eth, "5000").unwrap()).unwrap();
        assert_eq!((r.amount_in.as_str(), r.amount_out.clone()), ("5000", market.format_amount(usdc, plan.amount_out).unwrap()));
        // The legs of the direct hop sum exactly to the input and the output.
        let sum = |f: &dyn Fn(&Leg) -> &str, token| -> i128 { r.legs.iter().map(|l| market.parse_amount(token, f(l)).unwrap().0).sum() };
        assert_eq!(sum(&|l| &l.amount_in, eth), plan.amount_in.0);
        assert_eq!(sum(&|l| &l.amount_out, usdc), plan.amount_out.0);
        assert!(r.best_single.split_gain_bps >= 0.0 && r.price > 0.0);
        assert!(matches!(route_report(&market, "ETH", "NOPE", "1"), Err(RouterError::UnknownToken { .. })));
        assert!(route_report(&market, "ETH", "USDC", "-1").is_err());
    }
}
