//! The stable price: the median of the last `settings.stable_price_prints` oracle prints of a
//! symbol, computed inside the engine from its own `set_price` history (no outside feed, so it
//! replays exactly). Margin values collateral at the less favourable of the oracle and the stable
//! price: a long holding at the lower of the two, a short one at the higher. A manipulated print
//! in the client's favour is thereby ignored until it is the median, i.e. until it has held for
//! half the window; a move against the client counts at once.
//!
//! One stable price per symbol: a symbol with a configured oracle takes the guard's rate-limited
//! stable price (`oracle_feed`; no window of prints is kept for it), every other symbol the
//! median of its window. Expiry's time-stamped history (`expiry.rs`) stays a separate record of
//! the applied prices (guarded ones included), used only for the settlement TWAP.
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
        if let Some(guard) = self.oracle_guards.get(symbol) {
            return guard.last_reading().map(|r| UsdPrice(r.stable));
        }
        let window = self.config.settings.stable_price_prints? as usize;
        let prints = self.stable_prints.get(symbol)?;
        let mut sorted: Vec<UsdPrice> = prints.iter().skip(prints.len().saturating_sub(window)).copied().collect();
        sorted.sort();
        sorted.get(sorted.len().checked_sub(1)? / 2).copied()
    }

    /// Records an applied oracle print, keeping the configured window.
    pub(crate) fn record_stable_print(&mut self, symbol: &str) {
        let Some(window) = self.config.settings.stable_price_prints else { return };
        if self.oracle_guards.contains_key(symbol) {
            return;
        }
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

    /// The index a perp position's unrealised P&L counts at in margin: the underlying at the
    /// less favourable of its oracle and stable price for the position (the lower for a long,
    /// the higher for a short) over the settlement asset's oracle price, rounded down. A pumped
    /// print thereby lends no collateral until the stable price follows (the Mango attack).
    pub(crate) fn margin_index_price_e18(&self, m: u16, quantity: i128) -> Result<i128, EngineError> {
        let market = &self.markets[m as usize];
        let (base, quote) = (&market.def.base, &self.assets[market.quote.0 as usize].symbol);
        let (low, high) = self.collateral_bounds(base).ok_or_else(|| EngineError::MissingPrice { symbol: base.clone() })?;
        let underlying = if quantity >= 0 { low } else { high };
        let (quote_usd, _) = self.prices.get(quote).ok_or_else(|| EngineError::MissingPrice { symbol: quote.clone() })?;
        money::mul_div(underlying.usd_e18(), clearing::ONE_E18, quote_usd.usd_e18(), money::Rounding::Floor)
            .map_err(|e| EngineError::Overflow { what: format!("margin index price: {e}") })
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
