//! The stable price: the median of the last `settings.stable_price_prints` oracle prints of a
//! symbol, computed inside the engine from its own `set_price` history (no outside feed, so it
//! replays exactly). Margin values collateral at the less favourable of the oracle and the stable
//! price: a long holding at the lower of the two, a short one at the higher. A manipulated print
//! in the client's favour is thereby ignored until it is the median, i.e. until it has held for
//! half the window; a move against the client counts at once.
//!
//! Bounded: at most [`STABLE_PRICE_PRINTS_MAX`] prints per symbol, one history per priced
//! symbol (assets and underlyings, both bounded by `assets_max`). Without the setting no history
//! is kept and the oracle price is the collateral price.

use crate::*;

/// The longest window of prints.
pub const STABLE_PRICE_PRINTS_MAX: u32 = 64;

impl Engine {
    /// The stable price of a symbol: the lower median of its last `stable_price_prints` prints
    /// (`None` without the setting or any print; a history longer than a window lowered since
    /// counts only its last prints).
    pub fn stable_price(&self, symbol: &str) -> Option<UsdPrice> {
        let window = self.config.settings.stable_price_prints? as usize;
        let prints = self.stable_prints.get(symbol)?;
        let mut sorted: Vec<UsdPrice> = prints.iter().skip(prints.len().saturating_sub(window)).copied().collect();
        sorted.sort();
        sorted.get(sorted.len().checked_sub(1)? / 2).copied()
    }

    /// Records an applied oracle print, keeping the configured window.
    pub(crate) fn record_stable_print(&mut self, symbol: &str) {
        let Some(window) = self.config.settings.stable_price_prints else { return };
        let Some((price, _)) = self.prices.get(symbol).copied() else { return };
        let prints = self.stable_prints.entry(symbol.to_string()).or_default();
        prints.push_back(price);
        while prints.len() > window as usize {
            prints.pop_front();
        }
        assert!(prints.len() <= STABLE_PRICE_PRINTS_MAX as usize, "price history within its bound");
    }

    /// The lowest and highest price collateral in `symbol` may be valued at now (the oracle and
    /// the stable price), or `None` without an oracle price.
    pub(crate) fn collateral_bounds(&self, symbol: &str) -> Option<(UsdPrice, UsdPrice)> {
        let (oracle, _) = self.prices.get(symbol).copied()?;
        let stable = self.stable_price(symbol).unwrap_or(oracle);
        Some((oracle.min(stable), oracle.max(stable)))
    }

    /// The price histories into the state hash (only when the setting keeps any).
    pub(crate) fn hash_stable_prints(&self, h: &mut blake3::Hasher) {
        if self.stable_prints.is_empty() {
            return;
        }
        h.update(b"stable_prints");
        h.update(&(self.stable_prints.len() as u64).to_le_bytes());
        for (symbol, prints) in &self.stable_prints {
            h.update(&(symbol.len() as u32).to_le_bytes());
            h.update(symbol.as_bytes());
            h.update(&(prints.len() as u32).to_le_bytes());
            for p in prints {
                h.update(&p.0.to_le_bytes());
            }
        }
    }

    /// Restores histories from a snapshot: every symbol priced, every window within the bound.
    pub(crate) fn restore_stable_prints(&mut self, history: Vec<(String, Vec<UsdPrice>)>) -> Result<(), String> {
        for (symbol, prints) in history {
            if !self.prices.contains_key(&symbol) || prints.is_empty() || prints.len() > STABLE_PRICE_PRINTS_MAX as usize {
                return Err(format!("price history of {symbol} out of bounds"));
            }
            self.stable_prints.insert(symbol, prints.into_iter().collect());
        }
        Ok(())
    }

    pub(crate) fn stable_prints_image(&self) -> Vec<(String, Vec<UsdPrice>)> {
        self.stable_prints.iter().map(|(s, p)| (s.clone(), p.iter().copied().collect())).collect()
    }
}
