//! Hedging from the engine (docs/engine.md, "Hedging"): the house's net position per factor
//! (its exposure from client fills, [`crate::house`]) is kept within `[hedging]` limits by hedge
//! requests that an executor outside the engine carries out on external venues.
//!
//! - After every command that moves a factor's exposure (a house fill, an execution), its price
//!   or its hedges (an expiry, a cancellation, new limits), the factor's *uncovered* position is
//!   its exposure plus the signed rest of its outstanding hedges (a sell counts negative). When
//!   |uncovered| exceeds `residual_delta_max`, the engine emits
//!   [`Event::HedgeRequested`] for the whole uncovered position (back to flat): side, quantity,
//!   the limit price (the oracle price of the factor in the quote asset, `max_cost_bps` worse for
//!   the house, rounded against it), the venues allowed and the expiry time. Ids come from a
//!   counter in the state; outstanding hedges are state, so one exposure is never hedged twice.
//! - Outstanding hedges of a factor never exceed its exposure, on the side that reduces it: when
//!   clients trade the exposure down or across zero, the factor's hedges are cancelled
//!   ([`Event::HedgeCancelled`], `exposure_changed`) and a new request is made if still needed.
//!   So no execution can push the house beyond flat.
//! - The plan (which venues, how much on each, slices over time) is made outside the engine by
//!   the router (`crates/router`, pure and deterministic) from the request; the engine stays free
//!   of venue models and only checks what comes back.
//! - [`Command::HedgeExecuted`] (operator) reports one execution: the house pays `amount_in` of
//!   `asset_in` to the venue's custody account and receives `amount_out` of `asset_out` from it
//!   (two ledger transfers, so the custody accounts keep mirroring what the venues hold), its
//!   exposure moves by the base quantity, and the hedge's rest shrinks (closed at zero). Checked
//!   first: a known hedge, an allowed venue, the hedge's two assets in its direction, positive
//!   amounts, no more than the rest, a price within the limit (the executor sends it as the
//!   venue's minimum output or limit price, so a report beyond it is malformed), the custodian
//!   holding what it pays, and a chain reference never used before (by an execution or a
//!   withdrawal's confirmation: one namespace, `chain`).
//! - [`Command::CancelHedge`] (operator) and expiry by time (`expiry_ms` after the request,
//!   on `advance_time`) close a hedge's rest.

use crate::*;
use ledger::Reason;
use markets::OrderSide;
use money::{Amount, Rounding};
use serde::{Deserialize, Serialize};

/// An outstanding hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hedge {
    pub factor: AssetIdx,
    pub quote: AssetIdx,
    /// Sell: the house is long and sells the factor; buy: it is short.
    pub side: OrderSide,
    /// Requested quantity and what is left of it, factor units.
    pub qty: i128,
    pub rest: i128,
    /// Worst price, quote units per whole factor unit.
    pub limit: i128,
    pub expires_ms: u64,
}

/// One factor's limits, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Factor {
    quote: AssetIdx,
    residual: i128,
    max_cost_bps: u32,
    venues: Vec<String>,
}

/// The hedging state: limits in force, outstanding hedges, the id counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HedgingState {
    config: Option<model::Hedging>,
    factors: BTreeMap<AssetIdx, Factor>,
    hedges: BTreeMap<u64, Hedge>,
    /// The last hedge id given (ids start at 1).
    next_id: u64,
    /// Factors whose review did not fit the last command's record: looked at first by the next
    /// command; their hedges take no execution until then.
    deferred: BTreeSet<AssetIdx>,
    /// Tests only: a smaller record than the journal's, to reach the deferral.
    #[cfg(test)]
    pub(crate) record_bytes_max: Option<u64>,
}

/// The hedging state in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HedgingImage {
    pub config: model::Hedging,
    pub hedges: Vec<(u64, Hedge)>,
    pub next_id: u64,
    /// Factors whose review waits for the next command (see [`Engine::hedges`]).
    pub deferred: Vec<AssetIdx>,
}

/// An outstanding hedge as the service shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HedgeView {
    pub hedge_id: u64,
    pub factor: String,
    pub quote: String,
    pub side: OrderSide,
    pub qty: String,
    pub rest: String,
    pub limit_price: String,
    pub max_cost_bps: u32,
    pub venues: Vec<String>,
    pub expires_ms: u64,
}

/// One execution report ([`Command::HedgeExecuted`]).
pub(crate) struct Execution<'a> {
    pub hedge_id: u64,
    pub venue: &'a str,
    pub asset_in: &'a str,
    pub amount_in: &'a str,
    pub asset_out: &'a str,
    pub amount_out: &'a str,
    pub chain_ref: &'a str,
}

impl Engine {
    /// Outstanding hedges, by id.
    pub fn hedges(&self) -> Vec<HedgeView> {
        self.hedging.hedges.iter().map(|(id, h)| self.hedge_view(*id, h)).collect()
    }

    /// The `[hedging]` limits in force.
    pub fn hedging_config(&self) -> Option<&model::Hedging> {
        self.hedging.config.as_ref()
    }

    fn hedge_view(&self, hedge_id: u64, h: &Hedge) -> HedgeView {
        let factor = &self.hedging.factors[&h.factor];
        HedgeView {
            hedge_id,
            factor: self.assets[h.factor.0 as usize].symbol.clone(),
            quote: self.assets[h.quote.0 as usize].symbol.clone(),
            side: h.side,
            qty: self.format(h.factor, h.qty),
            rest: self.format(h.factor, h.rest),
            limit_price: self.format(h.quote, h.limit),
            max_cost_bps: factor.max_cost_bps,
            venues: factor.venues.clone(),
            expires_ms: h.expires_ms,
        }
    }

    /// `set_hedging`: new limits; every outstanding hedge is cancelled and every factor looked at
    /// again (after the command).
    pub(crate) fn set_hedging(&mut self, config: &model::Hedging, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let factors = self.resolve_hedging(config)?;
        let ids: Vec<u64> = self.hedging.hedges.keys().copied().collect();
        for hedge_id in ids {
            self.close_hedge(hedge_id, "limits_changed", events);
        }
        self.hedging.config = Some(config.clone());
        self.hedging.factors = factors;
        // Every factor of the new limits is looked at after this command; a deferred factor of
        // the old ones may be gone.
        self.hedging.deferred.clear();
        events.push(Event::HedgingSet { factors: config.factors.len() as u32 });
        Ok(())
    }

    fn resolve_hedging(&self, config: &model::Hedging) -> Result<BTreeMap<AssetIdx, Factor>, EngineError> {
        let holds =
            |c: &str, a: &str| self.custodians.get(c).is_some_and(|k| self.asset_index.get(a).is_some_and(|i| k.assets.contains(i)));
        config.check(|a| self.asset_index.contains_key(a), holds).map_err(|(key, why)| EngineError::ConfigRefused { key, why })?;
        let mut factors = BTreeMap::new();
        for (i, f) in config.factors.iter().enumerate() {
            let (asset, quote) = (self.asset_index[&f.asset], self.asset_index[&f.quote]);
            let key = format!("hedging.factors[{i}].residual_delta_max");
            let refused = |why: String| EngineError::ConfigRefused { key: key.clone(), why };
            if f.residual_delta_max.is_empty() || f.residual_delta_max.len() > FIELD_BYTES_MAX {
                return Err(refused(format!("1 to {FIELD_BYTES_MAX} characters")));
            }
            let residual = Amount::parse(&f.residual_delta_max, self.assets[asset.0 as usize].scale).map_err(|e| refused(e.to_string()))?;
            if residual.units() < 0 {
                return Err(refused("must be at least zero".into()));
            }
            factors.insert(asset, Factor { quote, residual: residual.units(), max_cost_bps: f.max_cost_bps, venues: f.venues.clone() });
        }
        Ok(factors)
    }

    pub(crate) fn cancel_hedge(&mut self, hedge_id: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        if !self.hedging.hedges.contains_key(&hedge_id) {
            return Err(EngineError::UnknownHedge { hedge_id });
        }
        self.close_hedge(hedge_id, "operator", events);
        Ok(())
    }

    fn close_hedge(&mut self, hedge_id: u64, reason: &str, events: &mut Vec<Event>) {
        if let Some(h) = self.hedging.hedges.remove(&hedge_id) {
            events.push(Event::HedgeCancelled { hedge_id, rest: self.format(h.factor, h.rest), reason: reason.into() });
        }
    }

    /// `hedge_executed`: every check, then the two transfers, the exposure and the hedge's rest.
    pub(crate) fn hedge_executed(&mut self, x: &Execution<'_>, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let (h, base_qty, paid, received) = self.check_execution(x)?;
        let reference = self.new_reference("chain", x.chain_ref)?;
        let custody = self.custodians[x.venue].account;
        let house = self.account_index[HOUSE];
        let out = Transfer { debit: house, credit: custody, asset: paid.0, amount: paid.1, reason: Reason::Trade, command_seq: seq };
        let back =
            Transfer { debit: custody, credit: house, asset: received.0, amount: received.1, reason: Reason::Trade, command_seq: seq };
        // `check_execution` proved the custodian holds what it pays and no balance overflows.
        self.ledger.post(&out).expect("the custodian holds what the house pays (checked)");
        self.ledger.post(&back).expect("no balance overflows (checked)");
        self.use_reference(reference, seq);
        events.push(self.transferred_event(&out));
        events.push(self.transferred_event(&back));
        let before = self.house_exposure.get(&h.factor).copied().unwrap_or(0);
        let after = if h.side == OrderSide::Sell { before - base_qty } else { before + base_qty };
        self.set_house_exposure(h.factor, before, after);
        let rest = h.rest - base_qty;
        if rest == 0 {
            self.hedging.hedges.remove(&x.hedge_id);
        } else if let Some(open) = self.hedging.hedges.get_mut(&x.hedge_id) {
            open.rest = rest;
        }
        events.push(Event::HedgeFilled {
            hedge_id: x.hedge_id,
            venue: x.venue.into(),
            qty: self.format(h.factor, base_qty),
            rest: self.format(h.factor, rest),
            chain_ref: x.chain_ref.into(),
        });
        events.push(Event::HouseExposureChanged {
            asset: self.assets[h.factor.0 as usize].symbol.clone(),
            exposure: self.format(h.factor, after),
        });
        Ok(())
    }

    /// The hedge, the base quantity, what the house pays and what it receives, or why not.
    #[allow(clippy::type_complexity)]
    fn check_execution(&self, x: &Execution<'_>) -> Result<(Hedge, i128, (AssetIdx, i128), (AssetIdx, i128)), EngineError> {
        let h = *self.hedging.hedges.get(&x.hedge_id).ok_or(EngineError::UnknownHedge { hedge_id: x.hedge_id })?;
        let refused = |why: String| EngineError::HedgeRefused { hedge_id: x.hedge_id, why };
        if self.hedging.deferred.contains(&h.factor) {
            return Err(refused("the factor's hedges are under review until the next command".into()));
        }
        if h.expires_ms <= self.now_ms {
            return Err(refused("the hedge has expired (its cancellation waits for room)".into()));
        }
        let factor = &self.hedging.factors[&h.factor];
        if !factor.venues.iter().any(|v| v == x.venue) {
            return Err(refused(format!("venue {:?} is not allowed for this factor", x.venue)));
        }
        let (asset_in, amount_in) = self.asset_amount(x.asset_in, x.amount_in)?;
        let (asset_out, amount_out) = self.asset_amount(x.asset_out, x.amount_out)?;
        let (expect_in, expect_out) = if h.side == OrderSide::Sell { (h.factor, h.quote) } else { (h.quote, h.factor) };
        if (asset_in, asset_out) != (expect_in, expect_out) {
            let (i, o) = (&self.assets[expect_in.0 as usize].symbol, &self.assets[expect_out.0 as usize].symbol);
            return Err(refused(format!("this hedge pays {i} and receives {o}")));
        }
        let (base, quote) = if h.side == OrderSide::Sell { (amount_in, amount_out) } else { (amount_out, amount_in) };
        if base > h.rest {
            return Err(refused(format!("{} beyond the rest {}", self.format(h.factor, base), self.format(h.factor, h.rest))));
        }
        self.check_hedge_price(&h, base, quote).map_err(refused)?;
        let custody = self.custody_for(x.venue, asset_in)?;
        self.custody_for(x.venue, asset_out)?;
        let held = self.ledger.balance(custody, asset_in);
        if held.posted.checked_add(held.incoming).and_then(|b| b.checked_add(amount_in)).is_none_or(|b| b > 0) {
            return Err(EngineError::InsufficientCustody {
                custodian: x.venue.into(),
                asset: x.asset_in.into(),
                needed: self.format(asset_in, amount_in),
                held: self.format(asset_in, -(held.posted + held.incoming)),
            });
        }
        self.check_held_for_clients(asset_out, amount_out)?;
        let house = self.ledger.balance(self.account_index[HOUSE], asset_out).posted;
        house.checked_add(amount_out).ok_or_else(|| EngineError::Overflow { what: "house balance".into() })?;
        Ok((h, base, (asset_in, amount_in), (asset_out, amount_out)))
    }

    /// A sell receives at least the limit per whole unit, a buy pays at most that.
    fn check_hedge_price(&self, h: &Hedge, base: i128, quote: i128) -> Result<(), String> {
        let one = self.assets[h.factor.0 as usize].scale.one();
        let overflow = |e: money::MoneyError| e.to_string();
        let bound = match h.side {
            OrderSide::Sell => money::mul_div(base, h.limit, one, Rounding::Ceil).map_err(overflow)?,
            OrderSide::Buy => money::mul_div(base, h.limit, one, Rounding::Floor).map_err(overflow)?,
        };
        let within = if h.side == OrderSide::Sell { quote >= bound } else { quote <= bound };
        if !within {
            let q = self.format(h.quote, quote);
            let what = if h.side == OrderSide::Sell { "receives" } else { "pays" };
            return Err(format!("{what} {q}, beyond the limit {} for this quantity", self.format(h.quote, bound)));
        }
        Ok(())
    }

    /// The hedging step after a command: expire due hedges, then look again at every factor the
    /// command concerns (and those deferred by the last one). Each cancellation and each request
    /// is measured against the room left in the command's record first; what does not fit waits
    /// for the next command, in the same order (hedge id, then factor), so one command's hedging
    /// adds at most what fits and every command makes progress ([`step_bytes`] is reserved).
    pub(crate) fn after_hedging(&mut self, _command: &Command, events: &mut Vec<Event>) {
        if self.hedging.config.is_none() {
            return;
        }
        let mut room = self.hedging_room();
        let mut touched = std::mem::take(&mut self.hedging.deferred);
        if !self.expire_hedges(events, &mut room) {
            touched.extend(self.hedging.factors.keys().copied());
        }
        touched.extend(self.touched_factors(events));
        let mut deferred = BTreeSet::new();
        for factor in touched {
            if !deferred.is_empty() || !self.review_factor(factor, events, &mut room) {
                deferred.insert(factor);
            }
        }
        self.hedging.deferred = deferred;
        self.assert_hedges();
    }

    fn hedging_room(&self) -> limits::ResultRoom {
        #[cfg(test)]
        if let Some(max) = self.hedging.record_bytes_max {
            return limits::ResultRoom::within(max, 0);
        }
        limits::ResultRoom::within(limits::RECORD_BYTES_MAX as u64, 0)
    }

    /// Closes the hedges due by time, in id order, while they fit; false when some had to wait.
    fn expire_hedges(&mut self, events: &mut Vec<Event>, room: &mut limits::ResultRoom) -> bool {
        let due: Vec<u64> = self.hedging.hedges.iter().filter(|(_, h)| h.expires_ms <= self.now_ms).map(|(id, _)| *id).collect();
        for hedge_id in due {
            if !room.fits(events, cancelled_bytes()) {
                return false;
            }
            self.close_hedge(hedge_id, "expired", events);
        }
        true
    }

    /// The factors whose exposure, price or hedges the command's events moved.
    fn touched_factors(&self, events: &[Event]) -> BTreeSet<AssetIdx> {
        let mut touched: BTreeSet<AssetIdx> = BTreeSet::new();
        for event in events {
            let symbol = match event {
                Event::HouseExposureChanged { asset, .. } => asset.as_str(),
                Event::HedgeCancelled { .. } | Event::HedgingSet { .. } => {
                    touched.extend(self.hedging.factors.keys().copied());
                    continue;
                }
                Event::PriceSet { symbol, .. } => symbol.as_str(),
                _ => continue,
            };
            let Some(&asset) = self.asset_index.get(symbol) else { continue };
            let quoted = self.hedging.factors.iter().filter(|(_, f)| f.quote == asset).map(|(a, _)| *a);
            touched.extend(quoted.chain([asset]).filter(|a| self.hedging.factors.contains_key(a)).collect::<Vec<_>>());
        }
        touched
    }

    /// Cancels hedges that no longer reduce the exposure; requests one for what is uncovered.
    /// False when the record had no room for the next event (the factor waits for the next
    /// command).
    fn review_factor(&mut self, asset: AssetIdx, events: &mut Vec<Event>, room: &mut limits::ResultRoom) -> bool {
        let exposure = self.house_exposure.get(&asset).copied().unwrap_or(0);
        let mine: Vec<(u64, Hedge)> = self.hedging.hedges.iter().filter(|(_, h)| h.factor == asset).map(|(i, h)| (*i, *h)).collect();
        let covered: i128 = mine.iter().map(|(_, h)| signed(h)).sum();
        let covered = if reduces(covered, exposure) {
            covered
        } else {
            for (hedge_id, _) in &mine {
                if !room.fits(events, cancelled_bytes()) {
                    return false;
                }
                self.close_hedge(*hedge_id, "exposure_changed", events);
            }
            0
        };
        let uncovered = exposure + covered;
        let factor = self.hedging.factors[&asset].clone();
        if uncovered.abs() <= factor.residual {
            return true;
        }
        if !room.fits(events, request_bytes()) {
            return false;
        }
        self.request_hedge(asset, &factor, uncovered, events);
        true
    }

    /// Requests a hedge of `uncovered` back to flat, or says why it cannot.
    fn request_hedge(&mut self, asset: AssetIdx, factor: &Factor, uncovered: i128, events: &mut Vec<Event>) {
        let symbol = self.assets[asset.0 as usize].symbol.clone();
        let outstanding_max = self.hedging.config.as_ref().map_or(0, |c| c.outstanding_max);
        if self.hedging.hedges.len() >= outstanding_max as usize {
            events.push(Event::HedgeBlocked { factor: symbol, why: "hedging.outstanding_max reached".into() });
            return;
        }
        let side = if uncovered > 0 { OrderSide::Sell } else { OrderSide::Buy };
        let limit = match self.hedge_limit(asset, factor.quote, side, factor.max_cost_bps) {
            Ok(limit) => limit,
            Err(why) => {
                events.push(Event::HedgeBlocked { factor: symbol, why });
                return;
            }
        };
        let expiry_ms = self.hedging.config.as_ref().map_or(0, |c| c.expiry_ms);
        let hedge = Hedge {
            factor: asset,
            quote: factor.quote,
            side,
            qty: uncovered.abs(),
            rest: uncovered.abs(),
            limit,
            expires_ms: self.now_ms.saturating_add(expiry_ms),
        };
        self.hedging.next_id += 1;
        let hedge_id = self.hedging.next_id;
        self.hedging.hedges.insert(hedge_id, hedge);
        let view = self.hedge_view(hedge_id, &hedge);
        events.push(Event::HedgeRequested {
            hedge_id,
            factor: view.factor,
            quote: view.quote,
            side,
            qty: view.qty,
            limit_price: view.limit_price,
            max_cost_bps: view.max_cost_bps,
            venues: view.venues,
            expires_ms: view.expires_ms,
        });
    }

    /// Oracle price of `asset` in `quote` units per whole unit, `bps` worse for the house, rounded
    /// against it; an error names a missing or unusable price (never a default).
    fn hedge_limit(&self, asset: AssetIdx, quote: AssetIdx, side: OrderSide, bps: u32) -> Result<i128, String> {
        let usd = |a: AssetIdx| {
            let symbol = &self.assets[a.0 as usize].symbol;
            self.prices.get(symbol).map(|(p, _)| p.usd_e18()).filter(|p| *p > 0).ok_or_else(|| format!("no oracle price for {symbol}"))
        };
        let (base_usd, quote_usd) = (usd(asset)?, usd(quote)?);
        let (factor, rounding) = match side {
            OrderSide::Sell => (10_000 - i128::from(bps), Rounding::Ceil),
            OrderSide::Buy => (10_000 + i128::from(bps), Rounding::Floor),
        };
        let quote_one = self.assets[quote.0 as usize].scale.one();
        let price = money::mul_div(base_usd, quote_one, quote_usd, rounding).map_err(|e| e.to_string())?;
        let limit = money::mul_div(price, factor, 10_000, rounding).map_err(|e| e.to_string())?;
        if limit <= 0 {
            return Err("the limit price rounds to zero".into());
        }
        Ok(limit)
    }

    /// Outstanding hedges of a factor reduce its exposure and never exceed it (release builds),
    /// unless the factor's review waits for the next command (its hedges take no execution).
    fn assert_hedges(&self) {
        assert!(
            self.hedging.hedges.len() <= self.hedging.config.as_ref().map_or(0, |c| c.outstanding_max as usize),
            "hedges within the limit"
        );
        assert!(self.hedging.deferred.iter().all(|a| self.hedging.factors.contains_key(a)), "deferred factors are configured");
        for asset in self.hedging.factors.keys().filter(|a| !self.hedging.deferred.contains(a)) {
            let covered: i128 = self.hedging.hedges.values().filter(|h| h.factor == *asset).map(signed).sum();
            let exposure = self.house_exposure.get(asset).copied().unwrap_or(0);
            assert!(reduces(covered, exposure), "hedges reduce the exposure");
        }
    }

    /// The hedging state into the books hash (only once limits are installed).
    pub(crate) fn hash_hedging(&self, h: &mut blake3::Hasher) {
        let Some(config) = &self.hedging.config else { return };
        h.update(b"hedging");
        h.update(blake3::hash(&serde_json::to_vec(config).expect("a hedging config always serialises")).as_bytes());
        h.update(&self.hedging.next_id.to_le_bytes());
        h.update(&(self.hedging.hedges.len() as u64).to_le_bytes());
        for (id, x) in &self.hedging.hedges {
            h.update(&id.to_le_bytes());
            h.update(&x.factor.0.to_le_bytes());
            h.update(&x.quote.0.to_le_bytes());
            h.update(&[x.side as u8]);
            for v in [x.qty, x.rest, x.limit] {
                h.update(&v.to_le_bytes());
            }
            h.update(&x.expires_ms.to_le_bytes());
        }
        // Hashed only when some review waits, so states without deferral hash as before.
        if !self.hedging.deferred.is_empty() {
            h.update(b"deferred");
            h.update(&(self.hedging.deferred.len() as u64).to_le_bytes());
            for a in &self.hedging.deferred {
                h.update(&a.0.to_le_bytes());
            }
        }
    }

    pub(crate) fn hedging_image(&self) -> Option<HedgingImage> {
        let config = self.hedging.config.clone()?;
        let hedges = self.hedging.hedges.iter().map(|(i, h)| (*i, *h)).collect();
        Some(HedgingImage { config, hedges, next_id: self.hedging.next_id, deferred: self.hedging.deferred.iter().copied().collect() })
    }

    pub(crate) fn restore_hedging(&mut self, image: Option<HedgingImage>) -> Result<(), String> {
        let Some(image) = image else { return Ok(()) };
        let factors = self.resolve_hedging(&image.config).map_err(|e| e.to_string())?;
        let hedges: BTreeMap<u64, Hedge> = image.hedges.into_iter().collect();
        let consistent = hedges.iter().all(|(id, h)| {
            *id <= image.next_id
                && factors.get(&h.factor).is_some_and(|f| f.quote == h.quote)
                && 0 < h.rest
                && h.rest <= h.qty
                && h.limit > 0
        });
        let deferred: BTreeSet<AssetIdx> = image.deferred.iter().copied().collect();
        let known = deferred.len() == image.deferred.len() && deferred.iter().all(|a| factors.contains_key(a));
        if !consistent || !known || hedges.len() > image.config.outstanding_max as usize {
            return Err("hedges inconsistent".into());
        }
        self.hedging.config = Some(image.config);
        self.hedging.factors = factors;
        self.hedging.hedges = hedges;
        self.hedging.next_id = image.next_id;
        self.hedging.deferred = deferred;
        Ok(())
    }
}

/// Whether hedges covering `covered` (signed) reduce `exposure` without passing flat.
fn reduces(covered: i128, exposure: i128) -> bool {
    covered == 0 || (covered.signum() == -exposure.signum() && covered.abs() <= exposure.abs())
}

/// A hedge's rest with the sign of what it adds to the exposure (a sell lowers it).
fn signed(h: &Hedge) -> i128 {
    if h.side == OrderSide::Sell { -h.rest } else { h.rest }
}

/// The longest `[hedging]` section: every list at its maximum, every name at its longest.
fn worst_config() -> model::Hedging {
    let name = "x".repeat(model::NAME_LEN_MAX as usize);
    let factor = model::HedgeFactor {
        asset: name.clone(),
        quote: name.clone(),
        residual_delta_max: "9".repeat(FIELD_BYTES_MAX),
        max_cost_bps: u32::MAX,
        venues: vec![name; model::HEDGE_VENUES_MAX],
    };
    model::Hedging { expiry_ms: u64::MAX, outstanding_max: u32::MAX, factors: vec![factor; model::HEDGE_FACTORS_MAX] }
}

/// Bound of the hedging state in a snapshot (for [`crate::limits`]).
pub(crate) fn worst_image_bytes() -> u64 {
    let hedge = Hedge {
        factor: AssetIdx(u16::MAX),
        quote: AssetIdx(u16::MAX),
        side: OrderSide::Sell,
        qty: i128::MIN,
        rest: i128::MIN,
        limit: i128::MIN,
        expires_ms: u64::MAX,
    };
    let image = HedgingImage {
        config: worst_config(),
        hedges: vec![(u64::MAX, hedge); model::HEDGES_OUTSTANDING_MAX as usize],
        next_id: u64::MAX,
        deferred: vec![AssetIdx(u16::MAX); model::HEDGE_FACTORS_MAX],
    };
    postcard::to_allocvec(&Some(image)).expect("plain data serialises").len() as u64
}

/// The longest `hedge_cancelled` event, with its separator.
pub(crate) fn cancelled_bytes() -> u64 {
    let cancelled = Event::HedgeCancelled { hedge_id: u64::MAX, rest: "9".repeat(FIELD_BYTES_MAX), reason: "exposure_changed".into() };
    serde_json::to_vec(&cancelled).expect("plain data serialises").len() as u64 + 1
}

/// The longest `hedge_requested` or `hedge_blocked` event, with its separator.
pub(crate) fn request_bytes() -> u64 {
    // Amounts and prices are formatted decimals (never escaped in JSON), names identifiers.
    let (field, name) = ("9".repeat(FIELD_BYTES_MAX), "x".repeat(model::NAME_LEN_MAX as usize));
    let requested = Event::HedgeRequested {
        hedge_id: u64::MAX,
        factor: name.clone(),
        quote: name.clone(),
        side: OrderSide::Sell,
        qty: field.clone(),
        limit_price: field,
        max_cost_bps: u32::MAX,
        venues: vec![name.clone(); model::HEDGE_VENUES_MAX],
        expires_ms: u64::MAX,
    };
    let blocked = Event::HedgeBlocked { factor: name, why: format!("no oracle price for {}", "x".repeat(model::NAME_LEN_MAX as usize)) };
    let len = |e: &Event| serde_json::to_vec(e).expect("plain data serialises").len() as u64 + 1;
    len(&requested).max(len(&blocked))
}

/// What the hedging step must find free in any command's record to make progress: one
/// cancellation and one request (for [`crate::limits`]); the step measures everything it adds
/// and defers the rest.
pub(crate) fn step_bytes() -> u64 {
    cancelled_bytes() + request_bytes()
}

/// The result of `set_hedging` itself: every outstanding hedge cancelled and `hedging_set`
/// (for [`crate::limits`]).
pub(crate) fn set_hedging_result_bytes() -> u64 {
    let set = Event::HedgingSet { factors: u32::MAX };
    let set = serde_json::to_vec(&set).expect("plain data serialises").len() as u64 + 1;
    64 + model::HEDGES_OUTSTANDING_MAX as u64 * cancelled_bytes() + set
}
