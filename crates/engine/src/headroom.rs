//! The headroom bound (docs/engine.md, "Margin without the scenario vectors"): a transfer out
//! and the health step after it decided from an earlier summary of the account, without
//! rebuilding its loss vector.
//!
//! An *anchor* is the [`RiskSummary`] of one earlier book of an account (its largest losses,
//! floor losses, survivors' ES per protocol), valid while the prices of its linear holdings
//! and the model are those it was built at. [`margin_core::UnitBounds::im_upper_target`] bounds
//! the initial margin of the account's book now, in its owner, from the anchor: the change of
//! each instrument's effective quantity moves every scenario loss by at most its largest P&L,
//! and the floor, claims, liquidity and owner totals are exact. When the equity covers that
//! bound it covers the exact requirement, so:
//! - the free-collateral gate accepts without the exact computation (the exact one would accept);
//! - the health step keeps a `healthy` flag without recomputing (the exact health is
//!   `healthy`); the account's price-move summary is rebuilt on the bound, so the next price
//!   move recomputes it only if the move can take it below the bound.
//!
//! Before that bound, the step bound ([`margin_core::UnitBounds::im_upper_step`]): the
//! anchor's exact IM plus, per instrument, a constant times how far its effective quantity has
//! moved since the anchor; no scenario and no sibling read. It answers only for books free of
//! claims and close-out costs, whose requirement does not depend on the owner's totals; the
//! scalar headroom `equity - that bound - add-on` then decides while it is non-negative.
//!
//! An account with no anchor of its own is measured from the empty book's summary
//! ([`margin_core::UnitBounds::empty_book`], IM exactly zero), by the step bound alone: its
//! first exact computation waits until a step from nothing does not cover (docs/margin-core.md
//! §9, "The empty anchor").
//!
//! Otherwise the exact path decides, so every outcome, flag and state hash is the one the exact
//! computation alone gives (tested: `transfers_decide_as_the_exact_gate` in
//! crates/engine/tests/properties.rs). Anchors are a cache: not state, never hashed or journalled.

use crate::*;
use margin_core::{Position, RiskModel};
use money::UsdValue;
use std::sync::Arc;

/// Anchors kept at most (a cache; the lowest account index is evicted first).
pub const BOUND_ANCHORS_MAX: usize = 16_384;

impl Engine {
    /// True when the bound shows that `account`, holding `holdings` of its own assets (its
    /// derivatives and its owner's other sub-accounts as they are now), meets initial margin.
    /// False when it does not show it or cannot be computed (no anchor at these prices, a
    /// missing price, an overflow): the exact path then decides.
    /// A covering decided without the owner's other sub-accounts is kept for the health step
    /// of the same command ([`GateBound`]).
    pub(crate) fn bound_covers(&mut self, model: &Arc<RiskModel>, account: AccountIdx, holdings: &[i128]) -> bool {
        let Some(covering) = self.covering_bound(model, account, holdings, true) else { return false };
        if covering.by != By::Target {
            self.gate_bound = Some(GateBound { account, holdings: holdings.to_vec(), covering });
        }
        true
    }

    /// The account's equity and an upper bound of its initial margin (add-on included) that
    /// the equity covers, when the bound shows it meets initial margin (see [`Self::bound_covers`]).
    /// `from_empty`: whether an account without an anchor may be measured from the empty book.
    fn covering_bound(&mut self, model: &Arc<RiskModel>, account: AccountIdx, holdings: &[i128], from_empty: bool) -> Option<Covering> {
        if !self.headroom_bound {
            return None;
        }
        self.cache_asset_instruments(model);
        let (target, equity) = self.margin_book(model, account, holdings).ok()?;
        if target.is_empty() {
            // An empty book requires nothing under any model, in any owner (no loss, claim or
            // close-out; tested in margin-core): this is the exact decision.
            self.headroom_decided += u64::from(equity.0 >= 0);
            return (equity.0 >= 0).then_some(Covering { equity, im: 0, by: By::EmptyBook });
        }
        let bounds = self.risk_model.bounds.clone()?;
        let prices = self.underlying_prices_shared(model);
        // Without an anchor of its own, the account's book is measured from the empty book's
        // (IM exactly zero): the step bound alone, the exact path behind it. The first exact
        // computation of an account is so deferred until a step from nothing does not cover.
        let (summary, own) = match self.bound_anchors.get(&account) {
            Some(anchor) => (anchor, true),
            None if from_empty => (bounds.empty_book()?, false),
            None => return None,
        };
        let add_on = self.add_on_of(account);
        // The owner's add-on on top (an upper bound still: added even where IM is zero).
        let covering = |upper: UsdValue| upper.0.checked_add(add_on).filter(|im| equity.0 >= *im);
        // The step bound first: no scenario and no sibling read (none of its instruments is
        // charged at the owner's size).
        match bounds.im_upper_step(model, summary, &target, &prices) {
            Ok(Some(upper)) if covering(upper).is_some() => {
                self.headroom_decided += 1;
                self.headroom_stepped += 1;
                return covering(upper).map(|im| Covering { equity, im, by: By::Step });
            }
            Ok(_) if own => {}
            Ok(_) => return None,
            Err(_) => {
                // Marked at other prices or of another model: of no further use.
                self.bound_anchors.remove(&account);
                return None;
            }
        }
        let siblings = self.sibling_positions(model, account).ok()?;
        let mut subs: Vec<&[Position]> = vec![&target];
        subs.extend(siblings.iter().map(Vec::as_slice));
        let owner = model.owner_totals_of(&subs, &prices).ok()?;
        let im = covering(bounds.im_upper_target(model, summary, &target, &prices, &owner).ok()?)?;
        self.headroom_decided += 1;
        Some(Covering { equity, im, by: By::Target })
    }

    /// Turns the bound off (every transfer, withdrawal and health step then computes exactly)
    /// or on (the default): for comparison in tests and benchmarks, the outcomes are the same.
    pub fn set_headroom_bound(&mut self, on: bool) {
        self.headroom_bound = on;
        self.bound_anchors.clear();
    }

    /// How many margin decisions the bound has taken without the exact computation since
    /// genesis or restart (a statistic, not state).
    pub fn headroom_decided(&self) -> u64 {
        self.headroom_decided
    }

    /// How many of those the step bound took alone, without the bound's scenarios (a
    /// statistic, not state).
    pub fn headroom_stepped(&self) -> u64 {
        self.headroom_stepped
    }

    /// The account's margin positions and equity with `holdings` of its own assets.
    fn margin_book(&self, model: &RiskModel, account: AccountIdx, holdings: &[i128]) -> Result<(Vec<Position>, UsdValue), EngineError> {
        let mut positions = self.positions_from(model, holdings)?;
        let (derivatives, option_value) = self.derivative_margin_positions(model, account, &[])?;
        positions.extend(derivatives);
        let equity = self.equity_of(holdings)?;
        let equity = equity.0.checked_add(option_value).ok_or_else(|| EngineError::Overflow { what: "equity".into() })?;
        Ok((positions, UsdValue(equity)))
    }

    /// Makes the account's cached loss vector (left by the exact computation just made) its
    /// anchor, unless it already has one.
    pub(crate) fn anchor_from_cache(&mut self, model: &RiskModel, account: AccountIdx) {
        if self.bound_anchors.contains_key(&account) {
            return;
        }
        let Some(bounds) = self.risk_model.bounds.clone() else { return };
        let Some(summary) = self.cached_summary(model, &bounds, account) else { return };
        if self.bound_anchors.len() >= BOUND_ANCHORS_MAX {
            self.bound_anchors.pop_first();
        }
        self.bound_anchors.insert(account, summary);
    }

    /// The health step's shortcut: a `healthy` account the bound still shows healthy keeps its
    /// flag without the exact computation. Its price-move summary is rebuilt on the bound in
    /// place of the exact requirement (`equity - bound <= equity - IM`, so every later move it
    /// lets pass keeps the exact health `healthy` too); without one, the next move recomputes it.
    /// `from_empty` (an account a command changed): the empty book may stand in for a missing
    /// anchor. Not after a price move: a summary on that gross bound would leave so little room
    /// that every later move recomputed the account, where one exact computation keeps it quiet.
    pub(crate) fn bound_keeps_healthy(
        &mut self,
        model: &Arc<RiskModel>,
        account: AccountIdx,
        memo: &mut health::HealthMemo,
        from_empty: bool,
    ) -> bool {
        let Ok(holdings) = memo.holdings(self, account) else { return false };
        let gate = self.gate_bound.take_if(|g| g.account == account && g.holdings == holdings);
        let covering = match gate {
            Some(g) => {
                // The gate's decision stands for this one (counted as the bound's, as it is).
                self.headroom_decided += 1;
                self.headroom_stepped += u64::from(g.covering.by == By::Step);
                g.covering
            }
            None => match self.covering_bound(model, account, holdings, from_empty) {
                Some(covering) => covering,
                None => return false,
            },
        };
        self.pend_summary(account, covering.equity, UsdValue(covering.im));
        true
    }
}

/// An equity and an upper bound `im` of the initial margin (add-on included) it covers.
#[derive(Debug, Clone, Copy)]
struct Covering {
    equity: UsdValue,
    im: i128,
    by: By,
}

/// Which bound decided a covering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    /// The book is empty: nothing is required (exact).
    EmptyBook,
    /// The step bound: no scenario and no sibling read.
    Step,
    /// The bound on the target book, at the owner's totals (reads the other sub-accounts).
    Target,
}

/// The covering the free-collateral gate found for an account's book after the movement it
/// let through, for the health step of the same command: the account's holdings then were
/// `holdings`, and nothing else the empty-book and step bounds read (its derivative positions,
/// the prices, the model, the add-on, its anchor) changes within a transfer or a withdrawal. A
/// covering at the owner's totals is not kept (the transfer moves the other sub-account's
/// book). Used only if the health step finds the same holdings; cleared before every command
/// and after its health step (the liquidation step that follows may change the book).
#[derive(Debug, Clone)]
pub(crate) struct GateBound {
    account: AccountIdx,
    holdings: Vec<i128>,
    covering: Covering,
}
