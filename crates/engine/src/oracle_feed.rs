//! Guarded oracle prices in the engine (`docs/oracle-guards.md`, "In the engine").
//!
//! A symbol named by an `[[oracles]]` entry of the configuration is priced only through its
//! guard (`oracle::Guard`): each configured source is a principal (role `feed` or `operator`),
//! and its `set_price` is that source's print, taken at the engine's clock. The engine's price is
//! the guarded median of the fresh sources (at most `max_move_bps` from the previous guarded
//! price: a print beyond it is **clamped**, reported by `PriceClamped`, never refused for its
//! size); with fewer than `quorum` fresh sources the print is kept and the engine's price stays
//! where it was (`PricePrintPending`). A print from a principal that is not a source of the
//! symbol, a second print of a source at the same millisecond, or a feed's print for a symbol
//! without a guard is refused with `PricePrintRejected` and changes nothing.
//!
//! The guard's rate-limited stable price is the symbol's stable price ([`Engine::stable_price`]):
//! a guarded symbol keeps no window of prints. A symbol without a guard keeps today's
//! single-operator behaviour: any operator's `set_price` is the price.

use crate::*;
use model::OracleDef;
use oracle::{Guard, GuardParams, OracleError, Reading};

impl Engine {
    /// The guard configuration of `symbol`, if it has one.
    pub(crate) fn oracle_def(&self, symbol: &str) -> Option<&OracleDef> {
        self.config.oracles.iter().find(|o| o.symbol == symbol)
    }

    /// The last guarded reading of `symbol` (median, guarded, stable, fresh sources).
    pub fn oracle_reading(&self, symbol: &str) -> Option<Reading> {
        self.oracle_guards.get(symbol)?.last_reading()
    }

    /// A print of a guarded symbol by `principal`: observed, then read; every check precedes
    /// the change.
    pub(crate) fn guarded_print(
        &mut self,
        principal: &str,
        symbol: &str,
        price: UsdPrice,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let reject = |why: String| EngineError::PricePrintRejected { symbol: symbol.into(), principal: principal.into(), why };
        let def = self.oracle_def(symbol).ok_or_else(|| reject("no oracle configured".into()))?;
        let source = def.sources.iter().position(|s| s == principal).ok_or_else(|| reject("not a source of this symbol".into()))?;
        let mut guard = self.oracle_guards.get(symbol).cloned().ok_or_else(|| reject("no guard".into()))?;
        guard.observe(source, price.usd_e18(), self.now_ms, self.now_ms).map_err(|e| reject(e.to_string()))?;
        let reading = match guard.update(self.now_ms) {
            Ok(reading) => reading,
            Err(OracleError::NotEnoughFreshSources { fresh, quorum }) => {
                self.oracle_guards.insert(symbol.to_string(), guard);
                events.push(Event::PricePrintPending { symbol: symbol.into(), source: principal.into(), fresh, quorum });
                return Ok(());
            }
            Err(e) => return Err(reject(e.to_string())),
        };
        self.oracle_guards.insert(symbol.to_string(), guard);
        if reading.guarded != reading.median {
            events.push(Event::PriceClamped {
                symbol: symbol.into(),
                median_usd: UsdPrice(reading.median).to_string(),
                guarded_usd: UsdPrice(reading.guarded).to_string(),
            });
        }
        self.apply_price(symbol, UsdPrice(reading.guarded), seq, events);
        Ok(())
    }

    /// A fresh guard for every configured oracle that has none (genesis, a new or changed entry).
    pub(crate) fn install_oracle_guards(&mut self) {
        let defs = self.config.oracles.clone();
        self.oracle_guards.retain(|symbol, guard| defs.iter().any(|d| &d.symbol == symbol && guard_params(d) == guard.params()));
        for def in defs {
            if !self.oracle_guards.contains_key(&def.symbol) {
                let guard = Guard::new(guard_params(&def)).expect("a validated oracle entry builds its guard");
                self.oracle_guards.insert(def.symbol.clone(), guard);
            }
        }
    }

    /// The guards into the state hash (only when any is configured, so books without oracles
    /// keep their hash).
    pub(crate) fn hash_oracle_guards(&self, h: &mut blake3::Hasher) {
        if self.oracle_guards.is_empty() {
            return;
        }
        h.update(b"oracle_guards");
        let image = postcard::to_allocvec(&self.oracle_guards_image()).expect("guards always serialise");
        h.update(&(image.len() as u64).to_le_bytes());
        h.update(&image);
    }

    pub(crate) fn oracle_guards_image(&self) -> Vec<(String, Guard)> {
        self.oracle_guards.iter().map(|(s, g)| (s.clone(), g.clone())).collect()
    }

    /// Restores guards from a snapshot: exactly one per configured oracle, with its parameters.
    pub(crate) fn restore_oracle_guards(&mut self, guards: Vec<(String, Guard)>) -> Result<(), String> {
        for (symbol, guard) in guards {
            let def = self.oracle_def(&symbol).ok_or_else(|| format!("a guard for {symbol}, which has no oracle"))?;
            if guard_params(def) != guard.params() {
                return Err(format!("the guard of {symbol} has other parameters than its oracle"));
            }
            self.oracle_guards.insert(symbol, guard);
        }
        if self.oracle_guards.len() != self.config.oracles.len() {
            return Err("an oracle without its guard".into());
        }
        Ok(())
    }
}

/// The guard parameters of a configuration entry.
pub(crate) fn guard_params(def: &OracleDef) -> GuardParams {
    GuardParams {
        sources: def.sources.len(),
        quorum: def.quorum as usize,
        staleness_ms_max: def.staleness_ms,
        max_move_bps: def.max_move_bps,
        stable_growth_bps_per_hour: def.stable_growth_bps_per_hour,
    }
}

/// Checks one oracle entry against the symbols that may be priced.
pub(crate) fn check_oracle(def: &OracleDef, priced: &dyn Fn(&str) -> bool) -> Result<(), EngineError> {
    let refused = |why: String| EngineError::ConfigRefused { key: format!("oracles.{}", def.symbol), why };
    if !priced(&def.symbol) || def.symbol == NUMERAIRE {
        return Err(refused("neither an asset nor an underlying that may be priced".into()));
    }
    let mut seen = BTreeSet::new();
    for source in &def.sources {
        state_config::check_principal_name(source)?;
        if !seen.insert(source.as_str()) {
            return Err(refused(format!("source {source:?} named twice")));
        }
    }
    GuardParams::validate(&guard_params(def)).map_err(|e| refused(e.to_string()))
}
