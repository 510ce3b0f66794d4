//! The broker's own protocol exposure over all accounts: the total claim on each protocol against
//! its configured cap, and the insurance fund's cover of the largest single-protocol failures
//! (cover-1 and cover-2, as the CPMI-IOSCO Principles for Financial Market Infrastructures ask of
//! clearing houses for their largest participants). Formulas: `docs/protocol-risk.md` section 7.

use crate::fast::Accounts;
use crate::margin::{Engine, Scratch};
use serde::Serialize;

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

/// Totals over `accounts` (each margined alone with the exact engine) against the caps of
/// `engine.params.broker`.
pub fn broker_exposure(engine: &Engine, accounts: &Accounts, insurance_fund_usd: f64) -> BrokerExposure {
    assert!(insurance_fund_usd.is_finite() && insurance_fund_usd >= 0.0, "insurance fund must be a non-negative amount");
    let n = engine.protocols.len();
    let (mut claim, mut uncovered) = (vec![0.0; n], vec![0.0; n]);
    let mut scratch = Scratch::default();
    for a in 0..accounts.len() {
        let m = engine.margin(accounts.of(a), &[], false, &mut scratch);
        for e in &m.protocols {
            let j = engine.protocols.iter().position(|p| p.protocol == e.protocol).unwrap_or(n);
            assert!(j < n, "an exposure names a protocol of the engine");
            claim[j] += e.claim_usd;
            uncovered[j] += (e.failure_loss_usd - m.maintenance_margin).max(0.0);
        }
    }
    let caps = &engine.params.broker;
    let mut protocols: Vec<ProtocolTotal> = engine
        .protocols
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let cap = caps.claim_cap_usd.get(&p.protocol).copied().unwrap_or(caps.claim_cap_usd_default);
            ProtocolTotal {
                protocol: p.protocol.clone(),
                claim_usd: claim[j],
                cap_usd: cap,
                above_cap: claim[j] > cap,
                uncovered_failure_loss_usd: uncovered[j],
            }
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
