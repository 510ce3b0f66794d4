//! Protocol risk: from a protocol's risk profile (oracle, settlement, peg mechanism,
//! collateralization, age, audits, upgradeability, incidents) a probability of failure over the
//! margin period and a loss given failure. The model and its numbers are in `docs/protocol-risk.md`.

use crate::market::HOURS_PER_YEAR;
use crate::params::{ProtocolParams, table_entry};
use model::{PegMechanism, Protocol};
use serde::Serialize;

/// The failure model of one protocol at one as-of date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolRisk {
    pub protocol: String,
    /// Annual probability of failure.
    pub pd_annual: f64,
    /// Probability of failure within the margin period.
    pub pd_mpor: f64,
    /// Fraction of a claim lost on failure.
    pub lgd: f64,
    /// The multipliers that make up `pd_annual`, for the explanation.
    pub factors: Vec<(String, f64)>,
}

/// snake_case serde name of a configuration enum (they all serialise as plain strings).
pub fn enum_name<T: Serialize>(x: &T) -> String {
    serde_json::to_value(x).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Failure model of `p` as of `as_of_days` (days since 1970); incidents after it are ignored, so a
/// backtest never knows of an incident before it happened.
pub fn protocol_risk(p: &Protocol, params: &ProtocolParams, as_of_days: i64, mpor_hours: i64) -> ProtocolRisk {
    let r = &p.risk;
    let mut factors: Vec<(String, f64)> = Vec::new();
    let oracle = enum_name(&r.oracle);
    factors.push((format!("oracle {oracle}"), table_entry(&params.oracle_multiplier, "protocol.oracle_multiplier", &oracle)));
    let peg = enum_name(&r.peg_mechanism);
    factors.push((format!("peg {peg}"), table_entry(&params.peg_multiplier, "protocol.peg_multiplier", &peg)));
    let c = r.collateralization_pct;
    let coll = if c < 100 {
        100.0 / f64::from(c.max(10))
    } else if c >= 150 {
        params.overcollateralized_multiplier
    } else {
        1.0
    };
    factors.push((format!("collateralization {c}%"), coll));
    let launched = model::parse_date(&r.launched).unwrap_or(as_of_days);
    let age_years = ((as_of_days - launched) as f64 / 365.0).max(0.0);
    factors.push((format!("age {age_years:.1}y"), 1.0 + params.age_coefficient / age_years.max(0.25)));
    let audits = match r.audits {
        0 => params.audits_none_multiplier,
        1 | 2 => params.audits_few_multiplier,
        _ => 1.0,
    };
    factors.push((format!("{} audits", r.audits), audits));
    if r.upgradeable {
        factors.push(("upgradeable".into(), params.upgradeable_multiplier));
    }
    for inc in &r.incidents {
        let Ok(day) = model::parse_date(&inc.date) else { continue };
        if day >= as_of_days {
            continue;
        }
        let with_loss = crate::portfolio::parse_decimal("incident.loss_usd", &inc.loss_usd).is_ok_and(|x| x > 0.0);
        let m = if with_loss { params.incident_loss_multiplier } else { params.incident_no_loss_multiplier };
        factors.push((format!("incident {} {}", inc.date, enum_name(&inc.kind)), m));
    }
    let product: f64 = factors.iter().map(|(_, m)| m).product();
    let pd_annual = (params.base_pd_annual * product).min(params.pd_annual_cap);
    let pd_mpor = 1.0 - (1.0 - pd_annual).powf(mpor_hours as f64 / HOURS_PER_YEAR);
    let lgd = if r.peg_mechanism == PegMechanism::Algorithmic {
        table_entry(&params.lgd, "protocol.lgd", "algorithmic_peg")
    } else {
        table_entry(&params.lgd, "protocol.lgd", &enum_name(&p.kind))
    };
    ProtocolRisk { protocol: p.id.clone(), pd_annual, pd_mpor, lgd, factors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::RiskParams;

    #[test]
    fn incidents_after_as_of_are_not_known() {
        let cfg = model::Config::default_config();
        let params = RiskParams::default_params();
        let circle = cfg.protocol("circle").unwrap();
        let before = protocol_risk(circle, &params.protocol, model::parse_date("2023-03-01").unwrap(), 24);
        let after = protocol_risk(circle, &params.protocol, model::parse_date("2023-04-01").unwrap(), 24);
        // The SVB depeg (2023-03-10, no loss) multiplies by 1.2; age changes slightly in a month.
        assert!(after.pd_annual > before.pd_annual * 1.15, "{before:?} {after:?}");
        assert_eq!(after.lgd, 0.15);
    }

    #[test]
    fn mpor_probability_is_the_annual_one_compounded() {
        let cfg = model::Config::default_config();
        let params = RiskParams::default_params();
        let r = protocol_risk(cfg.protocol("dydx").unwrap(), &params.protocol, model::parse_date("2024-12-31").unwrap(), 8760);
        assert!((r.pd_mpor - r.pd_annual).abs() < 1e-12);
    }
}
