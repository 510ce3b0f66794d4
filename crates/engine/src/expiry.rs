//! Option expiry on the engine's clock, from the engine's own oracle history.
//!
//! `set_price` of an underlying that a live option market references is recorded (time, USD
//! price), at most [`PRICE_HISTORY_MAX`] prints per underlying (the oldest dropped first; a
//! second print at the same millisecond replaces the first). At the first `advance_time` at or
//! after expiry, the settlement price is the time-weighted average of those prints over the
//! market's `twap_window_ms` before expiry (`clearing::options::settlement_price`, floor), no
//! print standing in for longer than the window, converted to the settlement asset at its
//! oracle price (floor). The price is fixed once (state), every resting order is cancelled and
//! the market takes no order again; each position is then paid its intrinsic value through
//! `@clearing/<market>` when it settles (`crate::settle`: payers up, receivers down, the residue
//! left in the clearing account) and closed. Without a settlement price (the window not covered, no price of the
//! settlement asset) the market closes for orders all the same, keeps its positions and reports
//! `OptionExpiryFailed`: missing data is never replaced by a plausible price.

use crate::derivatives::{Contract, Expiry};
use crate::*;
use clearing::options::{OptionKind, PriceObservation, settlement_price};
use clearing::{ONE_E18, Price};
use money::{Rounding, mul_div};

/// Oracle prints kept per underlying of a live option market.
pub const PRICE_HISTORY_MAX: usize = 4096;

/// What one option market does at expiry, computed before anything moves.
#[derive(Debug, Clone)]
pub(crate) struct ExpiryPlan {
    pub m: u16,
    /// The settlement price (settlement units, 18 decimals), or why none.
    pub settlement: Result<i128, String>,
}

impl Engine {
    /// Records an oracle print of an underlying that a live option market settles on.
    pub(crate) fn record_print(&mut self, symbol: &str, usd_e18: i128) {
        let watched = self.markets.iter().any(|market| {
            market.def.base == symbol && market.derivative.as_ref().is_some_and(|d| d.is_option() && d.expiry == Expiry::Live)
        });
        if !watched {
            return;
        }
        let history = self.price_history.entry(symbol.to_string()).or_default();
        if history.back().is_some_and(|(t, _)| *t == self.now_ms) {
            history.pop_back();
        }
        assert!(history.back().is_none_or(|(t, _)| *t < self.now_ms), "prints are recorded in time order");
        history.push_back((self.now_ms, usd_e18));
        if history.len() > PRICE_HISTORY_MAX {
            history.pop_front();
        }
    }

    /// The expiry of an option market if `now_ms` reaches it while it is live.
    pub(crate) fn plan_expiry(&self, m: u16, now_ms: u64) -> Option<ExpiryPlan> {
        let market = &self.markets[m as usize];
        let d = market.derivative.as_ref()?;
        let Contract::Option { kind, strike, expiry_ms, window_ms } = d.contract else { return None };
        if d.expiry != Expiry::Live || now_ms < expiry_ms {
            return None;
        }
        let settlement = (|| {
            let history = self.price_history.get(&market.def.base).ok_or("no oracle print of the underlying")?;
            let observations: Vec<PriceObservation> = history
                .iter()
                .filter(|(t, _)| *t <= expiry_ms)
                .map(|&(time_ms, p)| PriceObservation { time_ms, price: Price(p) })
                .collect();
            let usd = settlement_price(&observations, expiry_ms, window_ms, window_ms).map_err(|e| e.to_string())?;
            let quote = &self.assets[market.quote.0 as usize].symbol;
            let quote_usd = self.prices.get(quote).map(|(p, _)| p.usd_e18()).ok_or_else(|| format!("no oracle price of {quote}"))?;
            let price = mul_div(usd.e18(), ONE_E18, quote_usd, Rounding::Floor).map_err(|e| e.to_string())?;
            // Every holder's payment must be computable: the largest is the open interest's.
            let intrinsic = match kind {
                OptionKind::Call => price - strike.0,
                OptionKind::Put => strike.0 - price,
            };
            d.spec.value_e18(d.open_interest, Price(intrinsic.max(0)), Rounding::Ceil).map_err(|e| e.to_string())?;
            Ok(price)
        })();
        Some(ExpiryPlan { m, settlement })
    }

    /// Settles (or closes unsettled) an expired option market.
    pub(crate) fn apply_expiry(&mut self, plan: ExpiryPlan, seq: u64, events: &mut Vec<Event>) {
        let m = plan.m;
        let id = self.markets[m as usize].def.id.clone();
        self.cancel_every_order(m, seq, events);
        let price = match plan.settlement {
            Ok(settled) => settled,
            Err(why) => {
                self.markets[m as usize].derivative.as_mut().expect("an option market").expiry = Expiry::Unsettled;
                events.push(Event::OptionExpiryFailed { seq, market: id, why });
                return;
            }
        };
        let scale = self.assets[self.markets[m as usize].quote.0 as usize].scale;
        let d = self.markets[m as usize].derivative.as_mut().expect("an option market");
        d.expiry = Expiry::Settled;
        d.indices.expiry_price_e18 = Some(price);
        let unit_e18 = d.unit_e18;
        self.bump_epoch(m);
        events.push(Event::OptionExpired { seq, market: id, settlement_price: money::format_decimal(price / unit_e18, scale) });
    }

    /// Cancels every resting order of a market (its holds released).
    fn cancel_every_order(&mut self, m: u16, seq: u64, events: &mut Vec<Event>) {
        let book = &self.markets[m as usize].book;
        let owners: BTreeSet<u32> =
            [book::Side::Buy, book::Side::Sell].into_iter().flat_map(|side| book.orders_in_priority(side)).map(|o| o.account.0).collect();
        for owner in owners {
            let command = book::Command::CancelAll { account: book::AccountId(owner), side: None };
            self.apply_book(m, &command, seq, events).expect("cancelling an account's resting orders cannot be refused");
        }
    }
}
