//! Lazy settlement of derivative positions by cumulative per-market indices (docs/clearing.md,
//! "Settlement by indices"), as dYdX v4 and Mango v4 settle funding.
//!
//! What used to move every holder's money inside one command now moves one index per market:
//! - **funding**: `funding_e18`, the cumulative funding per whole unit of the underlying (an
//!   18-decimal value in the settlement asset; it rises when longs pay);
//! - **mark-to-market**: `mark_e18`, the mark of the last funding boundary, and `boundaries`,
//!   their count;
//! - **socialised loss**: `social_e18`, the cumulative loss per whole unit of `|quantity|`
//!   that the market's holders (the house excepted) bear;
//! - **option expiry**: the settlement price, fixed once.
//!
//! Every position records the indices it last settled at ([`SettledAt`]). Its pending amounts,
//! in settlement units, positive received:
//! - funding `floor(-q x (F - F_pos) / (10^9 x unit))`: one floor of the exact value, so a payer
//!   pays the ceiling and a receiver gets the floor;
//! - mark-to-market, if a boundary passed since: the position's unrealised P&L at `mark_e18`
//!   (`PerpPosition::unrealised`, floor), its entry cost reset to the mark (rounded up);
//! - socialised `-ceil(|q| x (S - S_pos) / (10^9 x unit))` (the house bears none: its baseline
//!   moves without a charge);
//! - expiry `floor(q x intrinsic / (10^9 x unit))`, the position then flat.
//!
//! A position settles (the amounts move through `@clearing/<market>` as before, with their
//! events) when it is touched: before a fill changes it, before a withdrawal or transfer out of
//! its account, and by the sweep after every command, which settles positions behind their
//! market's `epoch` in key order from a cursor kept in state, as many as the result's room
//! allows ([`limits::ResultRoom`]). Margin, health, liquidation and withdrawals count the pending
//! amounts as if settled ([`Engine::settled_view`]), so settling changes no account's equity.
//!
//! Reconciliation (checked by [`Engine::check_settlement`]): the exact pending funding of all
//! holders sums to zero (the positions net to zero), so the rounded amounts sum to at most zero
//! and at least minus one unit per holder: the clearing account never pays out more funding than
//! it collects, the residue (below one unit per settlement) stays in `@clearing/<market>`. The
//! clearing account advances a socialised loss to the defaulter at once (`social_due`); the
//! rounded-up charges still pending cover what is still due.

use crate::derivatives::{Contract, Expiry, SettleReason};
use crate::*;
use clearing::options::OptionKind;
use clearing::pnl::PerpPosition;
use clearing::{ONE_E18, Price};
use ledger::Reason;
use money::{Rounding, mul_div};

/// Nano-units of the underlying per whole unit (positions count 10^-9 of the underlying).
const NANO: i128 = 1_000_000_000;

/// The indices of one derivative market (state: hashed and in snapshots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarketIndices {
    /// Bumped whenever an index below moves; a position behind it has something pending.
    pub epoch: u64,
    /// Funding boundaries passed with holders (each one a mark to settle at).
    pub boundaries: u64,
    /// Cumulative funding per whole underlying unit, 10^-18 settlement units (longs pay a rise).
    pub funding_e18: i128,
    /// The mark of the last boundary, 10^-18 settlement units per whole underlying unit.
    pub mark_e18: i128,
    /// Cumulative socialised loss per whole unit of `|quantity|`, 10^-18 settlement units.
    pub social_e18: i128,
    /// What the clearing account advanced to defaulters and its holders still owe (it goes
    /// below zero by the residue of the rounded-up charges).
    pub social_due: i128,
    /// Option: the settlement price (10^-18 settlement units per whole underlying), once fixed.
    pub expiry_price_e18: Option<i128>,
    /// Positions behind `epoch`.
    pub unsettled: u32,
}

/// The indices a position last settled at (state: in the position's hash and in snapshots).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SettledAt {
    pub epoch: u64,
    pub boundaries: u64,
    pub funding_e18: i128,
    pub social_e18: i128,
}

impl SettledAt {
    /// A position opened now: nothing pending.
    pub fn current(ix: &MarketIndices) -> SettledAt {
        SettledAt { epoch: ix.epoch, boundaries: ix.boundaries, funding_e18: ix.funding_e18, social_e18: ix.social_e18 }
    }

    pub(crate) fn bytes(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0..8].copy_from_slice(&self.epoch.to_le_bytes());
        b[8..16].copy_from_slice(&self.boundaries.to_le_bytes());
        b[16..32].copy_from_slice(&self.funding_e18.to_le_bytes());
        b[32..48].copy_from_slice(&self.social_e18.to_le_bytes());
        b
    }
}

/// What settling one position moves, computed without changing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pending {
    /// Funding received (negative: paid), settlement units.
    pub funding: i128,
    /// Mark-to-market realised at the last boundary's mark.
    pub mark: i128,
    /// Socialised loss charged (never positive).
    pub social: i128,
    /// Option expiry paid (negative: paid by a short).
    pub expiry: i128,
    /// The position after settling.
    pub after: PerpPosition,
}

impl Pending {
    pub fn total(&self) -> Option<i128> {
        self.funding.checked_add(self.mark)?.checked_add(self.social)?.checked_add(self.expiry)
    }
}

/// The bytes one position's settlement may add to a result: four payments (funding, mark,
/// socialised share, expiry), each its event with a borrow (two events) before and a repayment
/// (two events) after.
pub fn settlement_events_max() -> u64 {
    4 * 5
}

impl Engine {
    /// The pending amounts of `account`'s position on market `m` (nothing for a flat one).
    pub(crate) fn pending_of(&self, account: AccountIdx, m: u16) -> Result<Pending, EngineError> {
        let position = self.position(account, m);
        let mut p = Pending { after: position, ..Pending::default() };
        let Some(at) = self.settled.get(&(account, m)) else { return Ok(p) };
        let d = self.markets[m as usize].derivative.as_ref().expect("positions exist on derivative markets only");
        let ix = &d.indices;
        if at.epoch == ix.epoch {
            return Ok(p);
        }
        let overflow = || EngineError::Overflow { what: format!("pending settlement on {}", self.markets[m as usize].def.id) };
        let per_unit = NANO.checked_mul(d.unit_e18).ok_or_else(overflow)?;
        let q = position.quantity;
        let df = ix.funding_e18.checked_sub(at.funding_e18).ok_or_else(overflow)?;
        p.funding = mul_div(q.checked_neg().ok_or_else(overflow)?, df, per_unit, Rounding::Floor).map_err(|_| overflow())?;
        if at.boundaries < ix.boundaries && !d.is_option() {
            p.mark = position.unrealised(Price(ix.mark_e18), d.spec).map_err(|_| overflow())?;
            let cost_e18 = d.spec.value_e18(q, Price(ix.mark_e18), Rounding::Ceil).map_err(|_| overflow())?;
            p.after = PerpPosition { quantity: q, cost_e18 };
        }
        if account != self.account_index[HOUSE] {
            let ds = ix.social_e18.checked_sub(at.social_e18).ok_or_else(overflow)?;
            p.social = -mul_div(q.abs(), ds, per_unit, Rounding::Ceil).map_err(|_| overflow())?;
        }
        if let (Some(price), Contract::Option { kind, strike, .. }) = (ix.expiry_price_e18, d.contract) {
            let intrinsic = match kind {
                OptionKind::Call => price - strike.0,
                OptionKind::Put => strike.0 - price,
            }
            .max(0);
            p.expiry = mul_div(q, intrinsic, per_unit, Rounding::Floor).map_err(|_| overflow())?;
            p.after = PerpPosition::FLAT;
        }
        Ok(p)
    }

    /// A position as margin sees it: what settling it would pay (settlement units) and the
    /// position it would leave.
    pub(crate) fn settled_view(&self, account: AccountIdx, m: u16) -> Result<(i128, PerpPosition), EngineError> {
        let p = self.pending_of(account, m)?;
        let total = p.total().ok_or_else(|| EngineError::Overflow { what: "pending settlement".into() })?;
        Ok((total, p.after))
    }

    /// Settles one position at its market's current indices (nothing if it is current).
    /// Cannot fail once `pending_of` succeeded: what a holder owes beyond its balance is lent.
    pub(crate) fn settle_position(&mut self, account: AccountIdx, m: u16, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let Some(&at) = self.settled.get(&(account, m)) else { return Ok(()) };
        let d = self.markets[m as usize].derivative.as_ref().expect("a derivative market");
        let ix = d.indices;
        if at.epoch == ix.epoch {
            return Ok(());
        }
        let p = self.pending_of(account, m)?;
        let id = self.markets[m as usize].def.id.clone();
        let (asset, scale) = (self.markets[m as usize].quote, self.assets[self.markets[m as usize].quote.0 as usize].scale);
        if p.funding != 0 {
            let rate = money::format_decimal(ix.funding_e18 - at.funding_e18, Scale::new(clearing::E18_DECIMALS).expect("a scale"));
            let event = Event::FundingPaid {
                seq,
                market: id.clone(),
                account: self.account_names[account.0 as usize].clone(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                amount: money::format_decimal(p.funding, scale),
                rate,
            };
            self.settle_with_clearing(m, account, p.funding, Reason::Funding, event, seq, events);
        }
        if p.mark != 0 {
            let event = self.settled_event(m, account, p.mark, ix.mark_e18, SettleReason::MarkToMarket, seq);
            self.settle_with_clearing(m, account, p.mark, Reason::Settlement, event, seq, events);
        }
        if p.social != 0 {
            let event = self.settled_event(m, account, p.social, 0, SettleReason::Socialised, seq);
            self.settle_with_clearing(m, account, p.social, Reason::Waterfall, event, seq, events);
        }
        // An expired option's holder is reported even when out of the money: it closes.
        if let Some(price) = ix.expiry_price_e18 {
            {
                let event = self.settled_event(m, account, p.expiry, price, SettleReason::Expiry, seq);
                self.settle_with_clearing(m, account, p.expiry, Reason::Settlement, event, seq, events);
            }
        }
        let d = self.markets[m as usize].derivative.as_mut().expect("a derivative market");
        d.indices.social_due += p.social;
        self.set_position_at(account, m, p.after, SettledAt::current(&ix));
        Ok(())
    }

    /// Money leaving an account (a withdrawal or transfer out of `units` of `asset`) must leave
    /// what its positions owe pending: `units <= available + min(pending, 0)`.
    pub(crate) fn check_pending_owed(&self, account: AccountIdx, asset: AssetIdx, units: i128) -> Result<(), EngineError> {
        let owed = self.pending_by_asset(account)?.into_iter().filter(|(a, _)| *a == asset).map(|(_, p)| p.min(0)).sum::<i128>();
        let available = self.ledger.balance(account, asset).available();
        let free = available.checked_add(owed).ok_or_else(|| EngineError::Overflow { what: "pending settlement".into() })?;
        if units > free {
            return Err(EngineError::InsufficientBalance {
                account: self.account_names[account.0 as usize].clone(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                needed: self.format(asset, units),
                available: self.format(asset, free.max(0)),
            });
        }
        Ok(())
    }

    /// What settling all of an account's positions would pay it per asset (negative: owed).
    pub(crate) fn pending_by_asset(&self, account: AccountIdx) -> Result<Vec<(AssetIdx, i128)>, EngineError> {
        let mut out: Vec<(AssetIdx, i128)> = Vec::new();
        for (&(_, m), _) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            let (amount, _) = self.settled_view(account, m)?;
            let asset = self.markets[m as usize].quote;
            match out.iter_mut().find(|(a, _)| *a == asset) {
                Some(slot) => slot.1 += amount,
                None => out.push((asset, amount)),
            }
        }
        Ok(out)
    }

    /// The bounded sweep after every command: settles positions behind their market's epoch in
    /// key order from the cursor, while the result has room for one more settlement; scans at
    /// most [`SWEEP_SCAN_MAX`] positions.
    pub(crate) fn sweep(&mut self, seq: u64, events: &mut Vec<Event>) {
        if self.markets.iter().all(|market| market.derivative.as_ref().is_none_or(|d| d.indices.unsettled == 0)) {
            return;
        }
        let per_position = limits::settlement_position_bytes();
        let mut room = limits::ResultRoom::new();
        let start = self.sweep_cursor;
        let keys: Vec<(AccountIdx, u16)> =
            self.positions.range(start..).chain(self.positions.range(..start)).map(|(k, _)| *k).take(SWEEP_SCAN_MAX).collect();
        let mut next = None;
        for key in keys {
            if !self.is_behind(key) {
                continue;
            }
            if !room.fits(events, per_position) {
                next = Some(key);
                break;
            }
            // A position whose amounts overflow stays pending (reported once by the check).
            if self.settle_position(key.0, key.1, seq, events).is_err() {
                continue;
            }
            next = Some((key.0, key.1.wrapping_add(1)));
        }
        self.sweep_cursor = next.unwrap_or((AccountIdx(0), 0));
    }

    fn is_behind(&self, (account, m): (AccountIdx, u16)) -> bool {
        let d = self.markets[m as usize].derivative.as_ref().expect("a derivative market");
        self.settled.get(&(account, m)).is_some_and(|at| at.epoch != d.indices.epoch)
    }

    /// Moves a market's epoch: every position is now behind.
    pub(crate) fn bump_epoch(&mut self, m: u16) {
        let d = self.markets[m as usize].derivative.as_mut().expect("a derivative market");
        d.indices.epoch += 1;
        d.indices.unsettled = d.holders;
    }

    /// Positions still to settle, over all markets.
    pub fn unsettled_positions(&self) -> u64 {
        self.markets.iter().filter_map(|m| m.derivative.as_ref()).map(|d| u64::from(d.indices.unsettled)).sum()
    }

    /// Funding and socialised loss reconcile with what the clearing account pays and is owed
    /// (module doc); the unsettled counts are right. O(positions): for checks, not every command.
    pub(crate) fn check_settlement(&self) -> Result<(), String> {
        for (m, market) in self.markets.iter().enumerate() {
            let Some(d) = &market.derivative else { continue };
            let (mut funding, mut social, mut behind, mut holders) = (0i128, 0i128, 0u32, 0i128);
            for (account, _) in self.market_positions(m as u16) {
                let p = self.pending_of(account, m as u16).map_err(|e| e.to_string())?;
                funding += p.funding;
                social += p.social;
                holders += 1;
                behind += u32::from(self.is_behind((account, m as u16)));
            }
            if funding > 0 || funding < -holders {
                return Err(format!("pending funding of {} sums to {funding} over {holders} holders", market.def.id));
            }
            if -social < d.indices.social_due {
                return Err(format!("socialised charges of {} ({}) below what is due ({})", market.def.id, -social, d.indices.social_due));
            }
            if behind != d.indices.unsettled {
                return Err(format!("{} positions of {} behind, counted {}", behind, market.def.id, d.indices.unsettled));
            }
            if d.expiry == Expiry::Settled && d.indices.expiry_price_e18.is_none() {
                return Err(format!("{} settled without a price", market.def.id));
            }
        }
        Ok(())
    }
}

/// Positions the sweep looks at per command at most (CPU bound; the result bound is the room).
pub const SWEEP_SCAN_MAX: usize = 65_536;

/// The index step of one funding boundary: `floor(index x rate / 10^18)` per whole underlying.
pub(crate) fn funding_step(index_e18: i128, rate_e18: i128) -> Result<i128, money::MoneyError> {
    mul_div(index_e18, rate_e18, ONE_E18, Rounding::Floor)
}
