//! `[hedging]`: the house's hedging limits per risk factor (see docs/engine.md, "Hedging").
//!
//! When the house's net position in a factor (an asset it quotes on a market) leaves the
//! residual band, the engine requests a hedge back to flat on the listed venues (custodians whose
//! custody account pays and receives the tokens), at a limit price no worse than the oracle price
//! by `max_cost_bps`. The engine checks the section again when it is installed (assets and
//! custodians must exist there).

use serde::{Deserialize, Serialize};

/// Largest number of factors in `[hedging]`.
pub const HEDGE_FACTORS_MAX: usize = 64;
/// Largest number of venues per factor.
pub const HEDGE_VENUES_MAX: usize = 16;
/// Largest `outstanding_max`.
pub const HEDGES_OUTSTANDING_MAX: u32 = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hedging {
    /// How long a hedge request stays outstanding before it expires, milliseconds (positive).
    pub expiry_ms: u64,
    /// Most hedges outstanding at once over all factors (positive).
    pub outstanding_max: u32,
    /// One entry per hedged factor.
    pub factors: Vec<HedgeFactor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeFactor {
    /// The asset whose house position is hedged (e.g. "ETH").
    pub asset: String,
    /// The asset hedges trade it against (e.g. "USDC").
    pub quote: String,
    /// Largest |net position| left unhedged (decimal string of the asset, at least zero).
    pub residual_delta_max: String,
    /// Worst price of a hedge against the oracle price, basis points (1 to 10000).
    pub max_cost_bps: u32,
    /// Custodians whose venues may execute the hedge (1 to [`HEDGE_VENUES_MAX`], distinct).
    pub venues: Vec<String>,
}

impl Hedging {
    /// Shape and references against the configuration's assets and custodians (`holds(custodian,
    /// asset)`); the first problem as (key, problem).
    pub fn check(&self, is_asset: impl Fn(&str) -> bool, holds: impl Fn(&str, &str) -> bool) -> Result<(), (String, String)> {
        let bad = |key: String, problem: &str| Err((key, problem.to_string()));
        if self.expiry_ms == 0 {
            return bad("hedging.expiry_ms".into(), "must be positive");
        }
        if self.outstanding_max == 0 || self.outstanding_max > HEDGES_OUTSTANDING_MAX {
            return bad("hedging.outstanding_max".into(), "1 to 256");
        }
        if self.factors.is_empty() || self.factors.len() > HEDGE_FACTORS_MAX {
            return bad("hedging.factors".into(), "1 to 64 factors");
        }
        for (i, f) in self.factors.iter().enumerate() {
            let key = |field: &str| format!("hedging.factors[{i}].{field}");
            if self.factors[..i].iter().any(|g| g.asset == f.asset) {
                return bad(key("asset"), "duplicate factor");
            }
            if !is_asset(&f.asset) {
                return bad(key("asset"), "unknown asset");
            }
            if !is_asset(&f.quote) || f.quote == f.asset {
                return bad(key("quote"), "an asset other than the factor");
            }
            if f.max_cost_bps == 0 || f.max_cost_bps > 10_000 {
                return bad(key("max_cost_bps"), "1 to 10000");
            }
            if f.venues.is_empty() || f.venues.len() > HEDGE_VENUES_MAX {
                return bad(key("venues"), "1 to 16 venues");
            }
            for (j, v) in f.venues.iter().enumerate() {
                if f.venues[..j].contains(v) {
                    return bad(key("venues"), "duplicate venue");
                }
                if !holds(v, &f.asset) || !holds(v, &f.quote) {
                    return bad(key("venues"), "a custodian that holds both the factor and the quote asset");
                }
            }
        }
        Ok(())
    }
}
