//! The two comparators shown next to the portfolio margin on the same portfolio:
//! (a) isolated margin, as if each protocol margined only its own positions under its published
//! rules; (b) weight-based cross margin in the style of Mango v4.

use crate::book::{BookInstrument, Class};
use crate::params::WeightParams;
use crate::portfolio::parse_decimal;
use crate::protocol::enum_name;
use model::Config;
use serde::Serialize;
use std::collections::BTreeMap;

/// One line of a comparator's requirement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparatorLine {
    pub what: String,
    pub rule: String,
    pub requirement_usd: f64,
}

/// A comparator's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparator {
    pub initial_margin: f64,
    pub lines: Vec<ComparatorLine>,
}

fn fraction(text: Option<&String>) -> Option<f64> {
    text.and_then(|t| parse_decimal("margin_rules", t).ok())
}

/// A position as the comparators see it: instrument, signed quantity, balance flag.
pub type Held<'a> = (&'a BookInstrument, f64, bool);

/// Isolated margin: perps at the venue's initial margin fraction of notional; long options pay the
/// premium, short options post the venue's fraction (Opyn: 1 = fully collateralised) of the
/// underlying notional; a borrow needs `debt x (1 / LTV - 1)` of equity with LTV the value-weighted
/// LTV of the collateral on that lending venue (the whole debt when none is eligible); every other
/// holding not posted as collateral on a venue is fully funded (its value).
pub fn isolated(config: &Config, held: &[Held<'_>], base_values: &[f64], unit_notional: &[f64], spot: &[f64]) -> Comparator {
    let mut lines = Vec::new();
    // Collateral per lending venue: (value, value x LTV).
    let mut collateral: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (k, &(inst, q, _)) in held.iter().enumerate() {
        let Some(v) = &inst.venue else { continue };
        let Some(rules) = config.protocol(v).and_then(|p| p.margin_rules.as_ref()) else { continue };
        if rules.ltv.is_empty() || matches!(inst.class, Class::Borrow) {
            continue;
        }
        let value = q * base_values[k];
        let sym = inst.asset.clone().unwrap_or_default();
        // A deposit receipt counts at the LTV of the deposited asset.
        let under = config.asset(&sym).and_then(|a| a.underlying_asset.clone()).filter(|_| inst.class == Class::Deposit).unwrap_or(sym);
        let ltv = fraction(rules.ltv.get(&under)).unwrap_or(0.0);
        let e = collateral.entry(v.clone()).or_default();
        e.0 += value.max(0.0);
        e.1 += value.max(0.0) * ltv;
    }
    for (k, &(inst, q, is_balance)) in held.iter().enumerate() {
        let value = q * base_values[k];
        let rules = inst.venue.as_deref().and_then(|v| config.protocol(v)).and_then(|p| p.margin_rules.as_ref());
        let imf = rules.and_then(|r| fraction(r.initial_margin_fraction.as_ref()));
        let (rule, req) = match inst.class {
            Class::Perp => {
                let f = imf.unwrap_or(1.0);
                (format!("perp: {f} x notional"), f * (q * unit_notional[k]).abs())
            }
            Class::Option if q >= 0.0 => ("long option: premium paid".to_string(), value.max(0.0)),
            Class::Option => {
                let f = imf.unwrap_or(1.0);
                let s = inst.underlying.map_or(0.0, |u| spot.get(usize::from(u.0)).copied().unwrap_or(0.0));
                (format!("short option: {f} x underlying notional"), f * q.abs() * s)
            }
            Class::Borrow => {
                let venue = inst.venue.clone().unwrap_or_default();
                let debt = value.abs();
                match collateral.get(&venue) {
                    Some(&(c, cl)) if c > 0.0 && cl > 0.0 => {
                        let ltv = cl / c;
                        (format!("borrow: debt x (1/LTV - 1), LTV {ltv:.3}"), debt * (1.0 / ltv - 1.0))
                    }
                    _ => ("borrow without eligible collateral: fully funded".to_string(), debt),
                }
            }
            Class::Cash => ("unrealised P&L on its venue".to_string(), 0.0),
            _ if is_balance && inst.venue.is_some() => ("collateral posted on its venue".to_string(), 0.0),
            _ if inst.venue.as_ref().is_some_and(|v| collateral.contains_key(v)) => ("collateral for a borrow".to_string(), 0.0),
            _ => ("fully funded".to_string(), value.max(0.0)),
        };
        lines.push(ComparatorLine { what: inst.id.clone(), rule, requirement_usd: req });
    }
    Comparator { initial_margin: lines.iter().map(|l| l.requirement_usd).sum(), lines }
}

/// Mango-v4-style weighted health: `health = sum(asset value x asset weight) - sum(liability value
/// x liability weight)`, tokens netted per token across the account (a deposit receipt counts as
/// its deposited token), each perp market weighted on its base notional. Initial margin is what
/// the weights take away: `NLV - health`.
pub fn weighted(config: &Config, weights: &WeightParams, held: &[Held<'_>], base_values: &[f64], unit_notional: &[f64]) -> Comparator {
    let mut tokens: BTreeMap<String, (f64, String)> = BTreeMap::new();
    let mut lines = Vec::new();
    for (k, &(inst, q, _)) in held.iter().enumerate() {
        let value = q * base_values[k];
        match inst.class {
            Class::Perp => {
                let notional = q * unit_notional[k];
                let [wa, wl] = weights.perp;
                let req = if notional >= 0.0 { notional * (1.0 - wa) } else { -notional * (wl - 1.0) };
                lines.push(ComparatorLine { what: inst.id.clone(), rule: format!("perp base weight {wa}/{wl}"), requirement_usd: req });
            }
            Class::Cash => {
                lines.push(ComparatorLine { what: inst.id.clone(), rule: "unrealised P&L, weight 1".into(), requirement_usd: 0.0 });
            }
            Class::Option => {
                let key = "option".to_string();
                let e = tokens.entry(inst.id.clone()).or_insert((0.0, key));
                e.0 += value;
            }
            _ => {
                let sym = inst.asset.clone().unwrap_or_else(|| inst.id.clone());
                let a = config.asset(&sym);
                let token = match (inst.class, a.and_then(|a| a.underlying_asset.clone())) {
                    (Class::Deposit, Some(u)) => u,
                    _ => sym,
                };
                let kind = config.asset(&token).map_or_else(|| "native_coin".to_string(), |a| enum_name(&a.kind));
                let e = tokens.entry(token).or_insert((0.0, kind));
                e.0 += value;
            }
        }
    }
    for (token, (value, kind)) in &tokens {
        let [wa, wl] = match weights.by_asset.get(token) {
            Some(w) => *w,
            None => crate::params::table_entry(&weights.by_kind, "weights.by_kind", kind),
        };
        let req = if *value >= 0.0 { value * (1.0 - wa) } else { -value * (wl - 1.0) };
        lines.push(ComparatorLine { what: token.clone(), rule: format!("token net {value:.0} weight {wa}/{wl}"), requirement_usd: req });
    }
    Comparator { initial_margin: lines.iter().map(|l| l.requirement_usd).sum(), lines }
}
