//! The broker's own protocol exposure over all accounts: the total claim on each protocol against
//! its configured cap, and the insurance fund's cover of the largest single-protocol failures
//! (cover-1 and cover-2, as the CPMI-IOSCO Principles for Financial Market Infrastructures ask of
//! clearing houses for their largest participants). Formulas: `docs/protocol-risk.md` section 7.

use crate::RiskError;
use crate::fast::Accounts;
use crate::margin::{Engine, Scratch};
use crate::params::BrokerParams;
use serde::Serialize;
use std::collections::BTreeMap;

/// One protocol's total over all accounts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolTotal {
    pub protocol: String,
    /// Sum over accounts of each account's positive claim, USD.
    pub claim_usd: f64,
    /// The configured cap of the broker's total claim, USD.
    pub cap_usd: f64,
    pub above_cap: bool,
    /// If the protocol fails: sum over accounts of `max(0, failure loss - maintenance margin)`,
    /// the loss left to the broker when every account holds only its maintenance margin.
    pub uncovered_failure_loss_usd: f64,
}

/// The broker's protocol exposure and the insurance fund's cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerExposure {
    /// By uncovered failure loss, largest first (ties by protocol id).
    pub protocols: Vec<ProtocolTotal>,
    /// The largest uncovered single-protocol failure loss (cover-1), USD.
    pub cover_1_usd: f64,
    /// The two largest together (cover-2), USD.
    pub cover_2_usd: f64,
    pub insurance_fund_usd: f64,
    pub fund_covers_1: bool,
    pub fund_covers_2: bool,
}

/// Per protocol id, the sum over accounts of the claim and of the uncovered failure loss, USD.
type Sums = BTreeMap<String, (f64, f64)>;

/// Adds one account (margined alone with the exact engine) to `sums`.
fn add_account(engine: &Engine, positions: &[(usize, f64)], scratch: &mut Scratch, sums: &mut Sums) {
    let m = engine.margin(positions, &[], false, scratch);
    for e in &m.protocols {
        assert!(engine.protocols.iter().any(|p| p.protocol == e.protocol), "an exposure names a protocol of the engine");
        let entry = sums.entry(e.protocol.clone()).or_insert((0.0, 0.0));
        entry.0 += e.claim_usd;
        entry.1 += (e.failure_loss_usd - m.maintenance_margin).max(0.0);
    }
}

/// Totals over `accounts` (each margined alone with the exact engine) against the caps of
/// `engine.params.broker`.
pub fn broker_exposure(engine: &Engine, accounts: &Accounts, insurance_fund_usd: f64) -> BrokerExposure {
    let mut sums: Sums = engine.protocols.iter().map(|p| (p.protocol.clone(), (0.0, 0.0))).collect();
    let mut scratch = Scratch::default();
    for a in 0..accounts.len() {
        add_account(engine, accounts.of(a), &mut scratch, &mut sums);
    }
    totals(&engine.params.broker, sums, insurance_fund_usd)
}

/// Totals over portfolio files, each one account margined alone as of one instant (`as_of`, or
/// the portfolios' common date: portfolios of different dates are refused, since their claims
/// are not of one moment). Every protocol an account's margin engine knows is listed, claimed or not.
///
/// # Errors
/// No portfolio, portfolios of different dates, or any error of margining one of them.
pub fn exposure_of_portfolios(
    config: &model::Config,
    params: &crate::RiskParams,
    portfolios: &[crate::Portfolio],
    data: &crate::MarketData,
    as_of: Option<marketdata::Hour>,
    insurance_fund_usd: f64,
) -> Result<BrokerExposure, RiskError> {
    if !(insurance_fund_usd.is_finite() && insurance_fund_usd >= 0.0) {
        return Err(RiskError::OutOfBounds { key: "insurance_fund_usd".into(), value: insurance_fund_usd, min: 0.0, max: f64::MAX });
    }
    let first = portfolios.first().ok_or_else(|| RiskError::PortfolioInvalid { problem: "no portfolio to total".into() })?;
    let instant = match as_of {
        Some(t) => t,
        None => first.as_of_hour()?,
    };
    let mut sums: Sums = BTreeMap::new();
    let mut scratch = Scratch::default();
    for p in portfolios {
        if as_of.is_none() && p.as_of_hour()? != instant {
            let problem = format!("{} is as of {}, {} as of {}: give --as-of", first.name, first.as_of, p.name, p.as_of);
            return Err(RiskError::PortfolioInvalid { problem });
        }
        let c = crate::report::compute(config, params, p, data, Some(instant), None)?;
        for protocol in &c.engine.protocols {
            sums.entry(protocol.protocol.clone()).or_insert((0.0, 0.0));
        }
        let positions: Vec<(usize, f64)> = c.book.positions.iter().map(|q| (q.instrument, q.quantity)).collect();
        add_account(&c.engine, &positions, &mut scratch, &mut sums);
    }
    Ok(totals(&params.broker, sums, insurance_fund_usd))
}

/// Caps, the order by uncovered loss, cover-1 and cover-2.
fn totals(caps: &BrokerParams, sums: Sums, insurance_fund_usd: f64) -> BrokerExposure {
    assert!(insurance_fund_usd.is_finite() && insurance_fund_usd >= 0.0, "insurance fund must be a non-negative amount");
    let mut protocols: Vec<ProtocolTotal> = sums
        .into_iter()
        .map(|(protocol, (claim, uncovered))| {
            let cap = caps.claim_cap_usd.get(&protocol).copied().unwrap_or(caps.claim_cap_usd_default);
            ProtocolTotal { protocol, claim_usd: claim, cap_usd: cap, above_cap: claim > cap, uncovered_failure_loss_usd: uncovered }
        })
        .collect();
    protocols
        .sort_by(|a, b| b.uncovered_failure_loss_usd.total_cmp(&a.uncovered_failure_loss_usd).then_with(|| a.protocol.cmp(&b.protocol)));
    let cover_1_usd = protocols.first().map_or(0.0, |p| p.uncovered_failure_loss_usd);
    let cover_2_usd = cover_1_usd + protocols.get(1).map_or(0.0, |p| p.uncovered_failure_loss_usd);
    BrokerExposure {
        protocols,
        cover_1_usd,
        cover_2_usd,
        insurance_fund_usd,
        fund_covers_1: insurance_fund_usd >= cover_1_usd,
        fund_covers_2: insurance_fund_usd >= cover_2_usd,
    }
}
