//! Account health, recomputed after every command that changes balances or prices: an
//! account below initial margin is reduce-only, below maintenance margin flagged for
//! liquidation. Flags are state (in the state hash and snapshots) and change only as
//! [`Event::HealthChanged`] events, in account-index order.
//!
//! Re-marking after a price update without recomputing every account (docs/engine.md, "Health"):
//! for each account the last full computation keeps its equity, IM and MM and, per price symbol,
//! a sensitivity `c_s` (nano-units, rounded up) such that a move of that price by `|dp|` changes
//! `equity - IM` and `equity - MM` by at most `c_s x |dp|`:
//! - equity: a balance of `u` smallest units at scale `d` contributes `u / 10^d`;
//! - IM and MM: a linear position of `q` nano-units on an underlying of reference price `ref`
//!   contributes `q x max|pnl| x 1000 / ref` (expected shortfall, the weighted floor and their
//!   maximum are 1-Lipschitz in the largest change of any scenario loss; MM = IM x m, m <= 1).
//!
//! Each move adds `ceil(c_s x |dp| / 10^9)` to the account's drift; a fixed allowance covers the
//! roundings of both computations. While the drift and allowance cannot carry the account
//! across a threshold its flag provably stays and nothing is recomputed; otherwise the account is
//! recomputed in full. An account whose margin cannot be computed (a missing price, an asset not
//! in the model) keeps its flag and is recomputed at the next chance.
//!
//! At most [`HEALTH_EVENTS_PER_COMMAND_MAX`] flags change per command (the journal's record
//! limit); accounts beyond it wait in a backlog (state) and are reported by the next commands.
//! The backlog is exactly the set of accounts whose flag differs from their health at the end
//! of a command, so it does not depend on which accounts the bound let skip.

use crate::margin::Measured;
use crate::*;
use margin_core::{RiskModel, Scaling};
use money::{Rounding, UsdValue, mul_div};
use std::sync::Arc;

/// Flags changed by one command at most.
pub const HEALTH_EVENTS_PER_COMMAND_MAX: usize = 256;
/// Flags changed by one `advance_time` at most (its derivative settlements fill most of a record).
pub const HEALTH_EVENTS_PER_CLOCK_MAX: usize = 128;

const NANO: i128 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Meets initial margin.
    Healthy,
    /// Below initial margin: only risk-reducing orders.
    ReduceOnly,
    /// Below maintenance margin: flagged for liquidation.
    Liquidation,
}

impl Health {
    fn of(m: &Measured) -> Health {
        if m.equity.0 < m.requirement.maintenance.0 {
            Health::Liquidation
        } else if m.equity.0 < m.requirement.initial.0 {
            Health::ReduceOnly
        } else {
            Health::Healthy
        }
    }
}

/// An account's slot in the health cache: what the last computation left.
/// Unboxed on purpose: the scan after a price move reads each built summary where it lies
/// (see [`Exposures`]).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Measured by the headroom bound after a command changed the book; the price-move
    /// summary waits for the next price print, which builds it before the print runs
    /// ([`Engine::build_pending_summaries`]): until a price moves nothing reads it, and an
    /// account a run of commands touches is summarised once, not once per command.
    Pending(Measured),
    Built(Summary),
}

impl Slot {
    fn measured(&self) -> &Measured {
        match self {
            Slot::Pending(m) => m,
            Slot::Built(s) => &s.measured,
        }
    }
}

/// What the last full computation of an account left for the cheap bound (a cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    measured: Measured,
    /// Per price symbol the account is exposed to, in the order of the symbols' indices.
    sensitivity: Exposures,
    /// Allowance for roundings, 10^-18 USD.
    allowance: i128,
    /// Largest change of `equity - IM` since the computation, 10^-18 USD: the sum of the
    /// exposures' terms.
    drift: i128,
    /// Price symbols the owner's other sub-accounts are exposed to: their positions set the
    /// concentration and liquidity charged here, so any move of one recomputes.
    linked: Vec<u16>,
}

/// The exposures of a summary, the first [`EXPOSURES_INLINE`] kept inline: the scan after a
/// price move then reads each summary where it lies, in account order, and follows no pointer
/// for an account exposed to at most that many symbols (most are). Measured in
/// docs/performance.md ("Re-mark of 100k accounts").
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exposures {
    inline: [Option<Exposure>; EXPOSURES_INLINE],
    spilled: Vec<Exposure>,
}

const EXPOSURES_INLINE: usize = 2;

impl Exposures {
    fn of(mut all: Vec<Exposure>) -> Exposures {
        let spilled = all.split_off(all.len().min(EXPOSURES_INLINE));
        let mut inline = [const { None }; EXPOSURES_INLINE];
        for (slot, e) in inline.iter_mut().zip(all) {
            *slot = Some(e);
        }
        Exposures { inline, spilled }
    }

    fn find_mut(&mut self, symbol: u16) -> Option<&mut Exposure> {
        self.inline.iter_mut().flatten().chain(self.spilled.iter_mut()).find(|e| e.symbol == symbol)
    }
}

/// One price symbol of a summary.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exposure {
    /// The symbol's index in `Engine::health_symbols`.
    symbol: u16,
    /// Sensitivity, nano-units: `equity - IM` moves by at most `c x |dp|`.
    c: i128,
    /// The symbol's oracle and collateral prices at the computation.
    at: Option<[UsdPrice; 3]>,
    /// `ceil(c x d / 10^9)` for `d` the largest distance of the three prices now from `at`.
    term: i128,
}

impl Summary {
    /// True while the flag provably cannot have changed.
    fn holds(&self) -> bool {
        let d = self.drift.saturating_add(self.allowance);
        let (e, im, mm) = (self.measured.equity.0, self.measured.requirement.initial.0, self.measured.requirement.maintenance.0);
        let (slack_im, slack_mm) = (e.saturating_sub(im), e.saturating_sub(mm));
        match Health::of(&self.measured) {
            Health::Healthy => slack_im >= d,
            Health::ReduceOnly => slack_im.saturating_add(d) < 0 && slack_mm >= d,
            Health::Liquidation => slack_mm.saturating_add(d) < 0,
        }
    }

    fn linked_to(&self, symbol: u16) -> bool {
        self.linked.contains(&symbol)
    }

    /// Re-bounds the term of `symbol` at its prices `now` (the distance from the prices of the
    /// computation, not the sum of the moves since: a price that comes back costs nothing);
    /// false if it cannot be bounded (a price missing then or now, an overflow).
    fn drift_to(&mut self, symbol: u16, now: Option<[UsdPrice; 3]>) -> bool {
        let Some(e) = self.sensitivity.find_mut(symbol) else { return true };
        let (Some(at), Some(now)) = (e.at, now) else { return false };
        let moved =
            at.iter().zip(&now).map(|(a, b)| b.0.checked_sub(a.0).and_then(i128::checked_abs)).try_fold(0i128, |m, d| Some(m.max(d?)));
        let Some(moved) = moved else { return false };
        // The 256-bit division only when the product does not fit (both are non-negative).
        let term = match e.c.checked_mul(moved) {
            Some(product) => product.checked_add(NANO - 1).map(|p| p / NANO),
            None => mul_div(e.c, moved, NANO, Rounding::Ceil).ok(),
        };
        match term.and_then(|t| self.drift.checked_sub(e.term)?.checked_add(t).map(|d| (t, d))) {
            Some((t, drift)) => {
                e.term = t;
                self.drift = drift;
                true
            }
            None => false,
        }
    }
}

/// A price move for the health step: the symbol and its oracle and collateral prices now.
pub(crate) struct PriceMove {
    pub symbol: String,
    pub now: Option<[UsdPrice; 3]>,
}

/// Pending summaries listed beyond this many per account are compacted (each account is
/// listed once per change into `pending`; a long run without a price print could list one
/// account many times).
const PENDING_LISTED_PER_ACCOUNT_MAX: usize = 2;

impl Engine {
    /// Health flags that are not `healthy`, by account name.
    pub fn health_flags(&self) -> Vec<(String, Health)> {
        self.health_flags.iter().map(|(a, h)| (self.account_names[a.0 as usize].clone(), *h)).collect()
    }

    /// Accounts recomputed in full by the last health step (a statistic, not state).
    pub fn health_recomputed(&self) -> usize {
        self.health_recomputed
    }

    /// Accounts whose flag change waits for a later command.
    pub fn health_backlog(&self) -> usize {
        self.health_backlog.len()
    }

    /// The health step after an applied command: `touched` accounts changed balances, `moved`
    /// a price; `everything` after a new model or configuration.
    /// `touched`: sorted, without repeats.
    pub(crate) fn refresh_health(
        &mut self,
        touched: &[AccountIdx],
        moved: Option<PriceMove>,
        everything: bool,
        cap: usize,
        events: &mut Vec<Event>,
    ) {
        if !self.margin_enabled() {
            return;
        }
        let Ok(model) = self.usable_model() else { return };
        self.health_summaries.resize(self.account_names.len(), None);
        let interned = self.intern_health_symbols(&model);
        let mut dirty: Vec<AccountIdx> = match everything {
            true => (0..self.account_names.len() as u32).map(AccountIdx).collect(),
            false => self.health_backlog.iter().chain(touched).copied().collect(),
        };
        if let Some(m) = moved {
            self.dirty_after_move(&m, &mut dirty);
        }
        // In account order, each once (the order flags change in).
        dirty.sort_unstable();
        dirty.dedup();
        let mut reported = 0;
        self.health_recomputed = dirty.len();
        let mut memo = HealthMemo::default();
        for account in dirty {
            if self.account_kinds[account.0 as usize] != AccountKind::Trader {
                continue;
            }
            let flag = self.health_flags.get(&account).copied().unwrap_or(Health::Healthy);
            // A healthy account the headroom bound still shows healthy keeps its flag
            // (`headroom.rs`); else the exact computation decides.
            let from_empty = touched.binary_search(&account).is_ok();
            let health = match flag == Health::Healthy && self.bound_keeps_healthy(&model, account, &mut memo, from_empty) {
                true => Health::Healthy,
                false => match interned.as_ref().ok().and_then(|()| self.recompute(&model, account, &mut memo)) {
                    Some(h) => {
                        // A book that changed by a command (not a price) may change again
                        // soon: its summary lets the bound decide the next time.
                        if h == Health::Healthy && from_empty {
                            self.anchor_from_cache(&model, account);
                        }
                        h
                    }
                    None => continue,
                },
            };
            if health == flag {
                self.health_backlog.remove(&account);
            } else if reported < cap {
                reported += 1;
                self.health_backlog.remove(&account);
                self.set_flag(account, flag, health, events);
            } else {
                self.health_backlog.insert(account);
            }
        }
    }

    /// Accounts a price move may have carried across a threshold: no summary yet, or a bound
    /// that no longer proves the flag.
    fn dirty_after_move(&mut self, m: &PriceMove, dirty: &mut Vec<AccountIdx>) {
        // A symbol no summary names moves no summarised account.
        let symbol = self.health_symbols.iter().position(|s| *s == m.symbol).filter(|i| self.health_symbols_named[*i]).map(|i| i as u16);
        for (i, slot) in self.health_summaries.iter_mut().enumerate() {
            let stays = match (slot.as_mut(), symbol) {
                (None, _) => self.account_kinds[i] != AccountKind::Trader,
                // Built before every print (`build_pending_summaries`); one left pending (no
                // usable model then) is recomputed.
                (Some(Slot::Pending(_)), _) => false,
                (Some(_), None) => true,
                (Some(Slot::Built(s)), Some(symbol)) => !s.linked_to(symbol) && s.drift_to(symbol, m.now) && s.holds(),
            };
            if !stays {
                dirty.push(AccountIdx(i as u32));
            }
        }
    }

    /// Full computation of one account; `None` (and no summary) if its margin cannot be
    /// computed now.
    fn recompute(&mut self, model: &Arc<RiskModel>, account: AccountIdx, memo: &mut HealthMemo) -> Option<Health> {
        let summary = self.summarize(model, account, memo).ok();
        let health = summary.as_ref().map(|s| Health::of(&s.measured));
        self.health_summaries[account.0 as usize] = summary.map(Slot::Built);
        health
    }

    /// The summary of a healthy account the headroom bound measured (`equity` covers `im`, an
    /// upper bound of its initial margin): pending until the next price print.
    pub(crate) fn pend_summary(&mut self, account: AccountIdx, equity: UsdValue, im: UsdValue) {
        assert!(equity.0 >= im.0, "a bound summary is of a healthy account");
        let zero = UsdValue(0);
        let requirement = margin_core::Requirement {
            initial: im,
            maintenance: im,
            worst_scenario: 0,
            expected_shortfall: zero,
            floor: zero,
            concentration: zero,
            liquidity: zero,
        };
        let slot = &mut self.health_summaries[account.0 as usize];
        if !matches!(slot, Some(Slot::Pending(_))) {
            self.health_pending.push(account);
        }
        *slot = Some(Slot::Pending(Measured { equity, requirement }));
        if self.health_pending.len() > PENDING_LISTED_PER_ACCOUNT_MAX * self.health_summaries.len().max(1) {
            let slots = &self.health_summaries;
            self.health_pending.retain(|a| matches!(slots[a.0 as usize], Some(Slot::Pending(_))));
            self.health_pending.sort_unstable();
            self.health_pending.dedup();
        }
    }

    /// Builds every pending summary, at the state its bound was measured in: called before a
    /// price print runs. Nothing a summary reads changes between its measurement and the next
    /// print without the account being touched, and so measured again (prices change only by
    /// prints, the model and the configuration re-measure every account); the summary is the
    /// one the measuring command would have built. One that cannot be built (no usable model,
    /// an overflow) is dropped: the next move recomputes the account.
    pub(crate) fn build_pending_summaries(&mut self) {
        if self.health_pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.health_pending);
        let model = self.usable_model().ok().filter(|m| self.intern_health_symbols(m).is_ok());
        let mut memo = HealthMemo::default();
        for account in pending {
            let Some(Slot::Pending(measured)) = self.health_summaries[account.0 as usize] else { continue };
            let built = model.as_ref().and_then(|m| self.summary_of(m, account, &mut memo, measured).ok());
            self.health_summaries[account.0 as usize] = built.map(Slot::Built);
        }
    }

    fn summarize(&mut self, model: &Arc<RiskModel>, account: AccountIdx, memo: &mut HealthMemo) -> Result<Summary, EngineError> {
        let holdings = memo.holdings(self, account)?;
        let measured = self.measure(model, account, holdings)?;
        self.summary_of(model, account, memo, measured)
    }

    fn summary_of(
        &mut self,
        model: &Arc<RiskModel>,
        account: AccountIdx,
        memo: &mut HealthMemo,
        measured: Measured,
    ) -> Result<Summary, EngineError> {
        let mut linked = BTreeSet::new();
        for &sibling in self.owners.subs_of(account).iter().filter(|s| **s != account) {
            linked.extend(memo.sensitivity(self, model, sibling)?.0.keys().copied());
        }
        let (sensitivity, allowance) = memo.sensitivity(self, model, account)?;
        let mut exposures = Vec::with_capacity(sensitivity.len());
        for (&symbol, &c) in sensitivity {
            exposures.push(Exposure { at: self.symbol_prices(&self.health_symbols[symbol as usize]), symbol, c, term: 0 });
        }
        let allowance = *allowance;
        for &symbol in exposures.iter().map(|e| &e.symbol).chain(&linked) {
            self.health_symbols_named[symbol as usize] = true;
        }
        Ok(Summary { measured, sensitivity: Exposures::of(exposures), allowance, drift: 0, linked: linked.into_iter().collect() })
    }

    /// Every price symbol a sensitivity can name (each asset, each underlying of the model, each
    /// market's base) gets its index in the summaries' table, cached for the model: the
    /// sensitivities are then keyed by index, not by name.
    fn intern_health_symbols(&mut self, model: &Arc<RiskModel>) -> Result<(), EngineError> {
        let fresh = self.health_ids.as_ref().is_some_and(|(m, ids)| {
            Arc::ptr_eq(m, model) && ids.assets.len() == self.assets.len() && ids.markets.len() == self.markets.len()
        });
        if fresh {
            return Ok(());
        }
        let assets: Vec<String> = self.assets.iter().map(|a| a.symbol.clone()).collect();
        let underlyings: Vec<String> = model.underlyings.iter().map(|u| u.name.clone()).collect();
        let bases: Vec<String> = self.markets.iter().map(|m| m.def.base.clone()).collect();
        let mut intern = |names: Vec<String>| names.iter().map(|n| self.health_symbol(n)).collect::<Result<Vec<u16>, _>>();
        let ids = HealthIds { assets: intern(assets)?, underlyings: intern(underlyings)?, markets: intern(bases)? };
        self.health_ids = Some((model.clone(), ids));
        Ok(())
    }

    /// The index of a price symbol in the summaries' table (added at its first use).
    fn health_symbol(&mut self, symbol: &str) -> Result<u16, EngineError> {
        if let Some(i) = self.health_symbols.iter().position(|s| s == symbol) {
            return Ok(i as u16);
        }
        let i = u16::try_from(self.health_symbols.len()).map_err(|_| EngineError::Overflow { what: "health symbols".into() })?;
        self.health_symbols.push(symbol.to_string());
        self.health_symbols_named.push(false);
        Ok(i)
    }

    /// The interned ids for `model` ([`Engine::intern_health_symbols`] ran for it this step).
    fn health_ids(&self, model: &RiskModel) -> Result<&HealthIds, EngineError> {
        match &self.health_ids {
            Some((m, ids)) if std::ptr::eq(Arc::as_ptr(m), model) => Ok(ids),
            _ => Err(EngineError::RiskModelStale { why: "health symbols of another model".into() }),
        }
    }

    /// Per price symbol, how much a move of it can change the account's `equity - IM`, and the
    /// rounding allowance (module doc).
    fn sensitivity_of(&self, model: &RiskModel, account: AccountIdx, holdings: &[i128]) -> Result<(Sensitivity, i128), EngineError> {
        let ids = self.health_ids(model)?;
        let mut sensitivity = Sensitivity::new();
        let mut allowance: i128 = 4_001;
        let overflow = || EngineError::Overflow { what: "health sensitivity".into() };
        for (a, &units) in holdings.iter().enumerate().filter(|(_, u)| **u != 0) {
            let info = &self.assets[a];
            let c = mul_div(units.abs(), NANO, info.scale.one(), Rounding::Ceil).map_err(|_| overflow())?;
            add(sensitivity.entry(ids.assets[a]).or_insert(0), c).ok_or_else(overflow)?;
            allowance = allowance.checked_add(2).ok_or_else(overflow)?;
            let q_nano = mul_div(units.abs(), NANO, info.scale.one(), Rounding::Ceil).map_err(|_| overflow())?;
            let ix = self.asset_instrument(model, a);
            linear_sensitivity(model, ids, &self.risk_model.pnl_max, ix, q_nano, &mut sensitivity, &mut allowance)?;
        }
        self.derivative_sensitivity(model, ids, account, &mut sensitivity, &mut allowance)?;
        Ok((sensitivity, allowance))
    }

    /// Perp positions move equity by `|q|` nano-units per unit of the underlying's price (their
    /// unrealised P&L) and IM as any linear instrument; an option's equity is its model value
    /// and its array is fixed, so neither moves with the price.
    fn derivative_sensitivity(
        &self,
        model: &RiskModel,
        ids: &HealthIds,
        account: AccountIdx,
        sensitivity: &mut Sensitivity,
        allowance: &mut i128,
    ) -> Result<(), EngineError> {
        let overflow = || EngineError::Overflow { what: "health sensitivity".into() };
        for (&(_, m), position) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            let market = &self.markets[m as usize];
            if market.derivative.as_ref().is_none_or(|d| d.is_option()) {
                continue;
            }
            let q = position.quantity.checked_abs().ok_or_else(overflow)?;
            add(sensitivity.entry(ids.markets[m as usize]).or_insert(0), q).ok_or_else(overflow)?;
            let id = market.def.instrument.as_deref().unwrap_or(market.def.id.as_str());
            if !linear_sensitivity(model, ids, &self.risk_model.pnl_max, model.instrument(id), q, sensitivity, allowance)? {
                continue;
            }
            // The unrealised P&L rounds down to one settlement unit in each of the two
            // computations the bound compares: twice the unit's value at the settlement asset's
            // price, doubled for the price's own move since.
            let quote = &self.assets[market.quote.0 as usize];
            let quote_price = self.prices.get(&quote.symbol).map_or(0, |(p, _)| p.0);
            let unit_value = quote_price.checked_add(quote.scale.one() - 1).ok_or_else(overflow)? / quote.scale.one();
            *allowance = unit_value.checked_mul(4).and_then(|r| allowance.checked_add(r)).ok_or_else(overflow)?;
        }
        Ok(())
    }

    fn set_flag(&mut self, account: AccountIdx, from: Health, to: Health, events: &mut Vec<Event>) {
        if from != Health::Healthy {
            self.health_digest.remove(&flag_hash(account, from));
            self.health_flags.remove(&account);
        }
        if to != Health::Healthy {
            self.health_digest.add(&flag_hash(account, to));
            self.health_flags.insert(account, to);
        }
        let m = *self.health_summaries[account.0 as usize].as_ref().expect("a flag changes only after a computation").measured();
        events.push(Event::HealthChanged {
            account: self.account_names[account.0 as usize].clone(),
            from,
            to,
            equity: m.equity.to_string(),
            im: m.requirement.initial.to_string(),
            mm: m.requirement.maintenance.to_string(),
        });
    }

    /// Flags and backlog into the state hash (only when there are any).
    pub(crate) fn hash_health(&self, h: &mut blake3::Hasher) {
        if self.health_flags.is_empty() && self.health_backlog.is_empty() {
            return;
        }
        h.update(b"health");
        h.update(&(self.health_flags.len() as u64).to_le_bytes());
        h.update(&self.health_digest.to_bytes());
        h.update(&(self.health_backlog.len() as u64).to_le_bytes());
        for a in &self.health_backlog {
            h.update(&a.0.to_le_bytes());
        }
    }

    /// Restores flags and backlog from a snapshot.
    pub(crate) fn restore_health(&mut self, flags: Vec<(AccountIdx, Health)>, backlog: Vec<AccountIdx>) -> Result<(), String> {
        for (account, health) in flags {
            let trader = self.account_kinds.get(account.0 as usize) == Some(&AccountKind::Trader);
            if !trader || health == Health::Healthy || self.health_flags.insert(account, health).is_some() {
                return Err("health flags inconsistent".into());
            }
            self.health_digest.add(&flag_hash(account, health));
        }
        self.health_backlog = backlog.into_iter().collect();
        Ok(())
    }

    /// The accounts a command names before it runs (a cancelled withdrawal's account is gone
    /// from the table afterwards).
    pub(crate) fn accounts_before(&self, command: &Command) -> Option<AccountIdx> {
        match command {
            Command::CancelWithdrawal { withdrawal_id } => self.withdrawals.get(withdrawal_id).map(|w| w.account),
            _ => None,
        }
    }

    /// The prices of a symbol before a `set_price` runs: oracle, and the collateral bounds.
    pub(crate) fn price_before(&self, command: &Command) -> Option<(String, Option<[UsdPrice; 3]>)> {
        match command {
            Command::SetPrice { symbol, .. } => Some((symbol.clone(), self.symbol_prices(symbol))),
            _ => None,
        }
    }

    fn symbol_prices(&self, symbol: &str) -> Option<[UsdPrice; 3]> {
        let (oracle, _) = self.prices.get(symbol).copied()?;
        let (low, high) = self.collateral_bounds(symbol)?;
        Some([oracle, low, high])
    }

    /// The health step of an applied command (called by `apply`).
    pub(crate) fn after_command(
        &mut self,
        command: &Command,
        before: Option<AccountIdx>,
        price: Option<(String, Option<[UsdPrice; 3]>)>,
        events: &mut Vec<Event>,
    ) {
        if let Some((symbol, _)) = &price {
            self.record_stable_print(symbol);
        }
        if !self.margin_enabled() {
            return;
        }
        let mut touched: Vec<AccountIdx> = before.into_iter().collect();
        for event in events.iter() {
            for name in event_account_names(event).into_iter().flatten() {
                touched.extend(self.account_index.get(name).copied());
            }
            // An index moved: every holder's pending amounts, so its equity, changed.
            if let Event::FundingIndexMoved { market, .. } | Event::OptionExpired { market, .. } = event {
                let m = self.market_index[market];
                touched.extend(self.market_positions(m).into_iter().map(|(a, _)| a));
            }
        }
        // An owner's add-on changes the initial margin of its sub-accounts.
        if let Command::SetMarginAddOn { owner, .. } = command {
            touched.extend(self.owner_accounts(owner));
        }
        // An owner's sub-accounts are charged concentration and liquidity at its total size
        // (`subs_of` lists the account itself too).
        for i in 0..touched.len() {
            let account = touched[i];
            if self.account_kinds[account.0 as usize] == AccountKind::Trader {
                touched.extend_from_slice(self.owners.subs_of(account));
            }
        }
        touched.sort_unstable();
        touched.dedup();
        // The symbol's oracle and collateral prices now (the stable price moves too).
        let moved = price.map(|(symbol, _)| PriceMove { now: self.symbol_prices(&symbol), symbol });
        // A new model or a configuration change: every account. Time passing never recomputes
        // (a model that went stale freezes the flags until the next one is installed).
        let everything = match command {
            Command::Configure { .. } => true,
            Command::InstallRiskModelPart { part, parts, .. } => part + 1 == *parts,
            _ => false,
        };
        let cap = if matches!(command, Command::AdvanceTime { .. }) { HEALTH_EVENTS_PER_CLOCK_MAX } else { HEALTH_EVENTS_PER_COMMAND_MAX };
        self.refresh_health(&touched, moved, everything, cap, events);
    }
}

/// Accounts a health step remembers at most (a bound on its memory; beyond it the memo starts
/// over, which costs recomputation only).
const HEALTH_MEMO_MAX: usize = 64;

/// The holdings and price sensitivity of the accounts one health step looks at, each computed
/// at most once: an account's summary reads its siblings' sensitivity, and a transfer between
/// two sub-accounts re-marks both. Balances do not change within a step, so a memo lives for
/// one step only. Errors are not remembered (computed again, the same), so every decision is
/// the one without the memo.
#[derive(Default)]
pub(crate) struct HealthMemo(Vec<(AccountIdx, MemoEntry)>);

#[derive(Default)]
struct MemoEntry {
    holdings: Option<Vec<i128>>,
    sensitivity: Option<(Sensitivity, i128)>,
}

/// Per price symbol (its index in `Engine::health_symbols`), the sensitivity, nano-units.
type Sensitivity = BTreeMap<u16, i128>;

/// The `Engine::health_symbols` index of each asset, each underlying of one model and each
/// market's base, by their indices.
#[derive(Debug, Clone)]
pub(crate) struct HealthIds {
    assets: Vec<u16>,
    underlyings: Vec<u16>,
    markets: Vec<u16>,
}

impl HealthMemo {
    /// A few accounts per step (a transfer's two, an owner's sub-accounts): a short list.
    fn entry(&mut self, account: AccountIdx) -> &mut MemoEntry {
        let i = match self.0.iter().position(|(a, _)| *a == account) {
            Some(i) => i,
            None => {
                if self.0.len() >= HEALTH_MEMO_MAX {
                    self.0.clear();
                }
                self.0.push((account, MemoEntry::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// [`Engine::holdings_of`] the account.
    pub(crate) fn holdings(&mut self, engine: &Engine, account: AccountIdx) -> Result<&[i128], EngineError> {
        let entry = self.entry(account);
        let holdings = match entry.holdings.take() {
            Some(h) => h,
            None => engine.holdings_of(account)?,
        };
        Ok(entry.holdings.insert(holdings))
    }

    /// The account's sensitivity and rounding allowance ([`Engine::sensitivity_of`] of its
    /// holdings).
    fn sensitivity(&mut self, engine: &Engine, model: &RiskModel, account: AccountIdx) -> Result<&(Sensitivity, i128), EngineError> {
        let entry = self.entry(account);
        let sensitivity = match entry.sensitivity.take() {
            Some(s) => s,
            None => {
                let holdings = match entry.holdings.take() {
                    Some(h) => h,
                    None => engine.holdings_of(account)?,
                };
                engine.sensitivity_of(model, account, entry.holdings.insert(holdings))?
            }
        };
        Ok(entry.sensitivity.insert(sensitivity))
    }
}

fn add(slot: &mut i128, c: i128) -> Option<()> {
    *slot = slot.checked_add(c)?;
    Some(())
}

/// The accounts an event names (at most two; no allocation per event).
fn event_account_names(event: &Event) -> [Option<&str>; 2] {
    match event {
        Event::Transferred { debit, credit, .. } => [Some(debit), Some(credit)],
        Event::WithdrawalPending { account, .. }
        | Event::OrderAccepted { account, .. }
        | Event::OrderReduced { account, .. }
        | Event::OrderCancelled { account, .. }
        | Event::OrderAmended { account, .. }
        | Event::HouseFilled { account, .. }
        | Event::PositionChanged { account, .. }
        | Event::FundingPaid { account, .. }
        | Event::Settled { account, .. }
        | Event::BorrowChanged { account, .. }
        | Event::InterestAccrued { account, .. } => [Some(account), None],
        Event::OrderFilled { maker_account, taker_account, .. } => [Some(maker_account), Some(taker_account)],
        _ => [None, None],
    }
}

fn flag_hash(account: AccountIdx, health: Health) -> [u8; 32] {
    let mut bytes = [0u8; 5];
    bytes[..4].copy_from_slice(&account.0.to_le_bytes());
    bytes[4] = health as u8;
    *blake3::hash(&bytes).as_bytes()
}

/// The IM term of `q_nano` nano-units of a linear instrument `ix` of the model: `q x max|pnl| x
/// 1000 / ref` on its underlying's sensitivity, and `2000 x max|pnl|` of rounding allowance.
/// False (and nothing added) if the model lacks the instrument (`None`) or it is not linear.
fn linear_sensitivity(
    model: &RiskModel,
    ids: &HealthIds,
    pnl_max: &[i128],
    ix: Option<margin_core::InstrumentIx>,
    q_nano: i128,
    sensitivity: &mut Sensitivity,
    allowance: &mut i128,
) -> Result<bool, EngineError> {
    let overflow = || EngineError::Overflow { what: "health sensitivity".into() };
    let Some(ix) = ix else { return Ok(false) };
    let array = &model.instruments[ix.0 as usize];
    let Scaling::Linear { underlying } = array.scaling else { return Ok(false) };
    let max_abs =
        pnl_max.get(ix.0 as usize).copied().ok_or_else(|| EngineError::RiskModelStale { why: "bounds of another model".into() })?;
    let u = &model.underlyings[underlying as usize];
    let per_price = q_nano.checked_mul(max_abs).and_then(|x| x.checked_mul(1_000)).ok_or_else(overflow)?;
    let c = mul_div(per_price, NANO, u.ref_price.0, Rounding::Ceil).map_err(|_| overflow())?;
    let symbol = ids
        .underlyings
        .get(underlying as usize)
        .copied()
        .ok_or_else(|| EngineError::RiskModelStale { why: "health symbols of another model".into() })?;
    add(sensitivity.entry(symbol).or_insert(0), c).ok_or_else(overflow)?;
    *allowance = max_abs.checked_mul(2_000).and_then(|a| allowance.checked_add(a)).ok_or_else(overflow)?;
    Ok(true)
}
