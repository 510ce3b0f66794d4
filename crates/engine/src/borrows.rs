//! Borrows from the house: what an account owes beyond its available balance (a derivative
//! loss, funding, an expiry payment, a fee) is lent by `@house` in that asset, so nothing owed
//! is ever lost and no trader balance goes below zero. A borrow is a position: scaled debt under
//! an Aave-style borrow index per asset (`clearing::interest`), compounding at the configured
//! `borrow_rate_bps` as `advance_time` moves the clock; every later credit of the asset to the
//! account repays it first (`Reason::Repay`, account -> `@house`).
//!
//! Interest is reported when the debt changes (`InterestAccrued`, the growth since the last
//! change), so a clock step produces no event per borrower.

use crate::*;
use clearing::interest::{InterestIndex, RAY, Side, balance_of, burn_scaled, mint_scaled};
use ledger::Reason;

/// A borrow: scaled debt and the debt last reported (principal plus interest reported so far).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Borrow {
    pub scaled: i128,
    pub reported: i128,
}

/// The hash of one borrow in the multiset digest of borrows.
pub(crate) fn borrow_hash(account: AccountIdx, asset: AssetIdx, borrow: Borrow) -> [u8; 32] {
    let mut bytes = [0u8; 4 + 2 + 16 + 16];
    bytes[0..4].copy_from_slice(&account.0.to_le_bytes());
    bytes[4..6].copy_from_slice(&asset.0.to_le_bytes());
    bytes[6..22].copy_from_slice(&borrow.scaled.to_le_bytes());
    bytes[22..38].copy_from_slice(&borrow.reported.to_le_bytes());
    *blake3::hash(&bytes).as_bytes()
}

impl Engine {
    /// The yearly borrow rate in ray.
    fn borrow_rate_ray(&self) -> i128 {
        i128::from(self.config.settings.borrow_rate_bps) * (RAY / 10_000)
    }

    fn now_s(&self) -> u64 {
        self.now_ms / 1000
    }

    /// The borrow index of an asset (one ray until its first borrow).
    fn borrow_index(&self, asset: AssetIdx) -> InterestIndex {
        self.borrow_indices.get(&asset).copied().unwrap_or(InterestIndex::new(self.now_s()))
    }

    /// What an account owes the house in an asset now, interest included (rounded up).
    pub(crate) fn debt_of(&self, account: AccountIdx, asset: AssetIdx) -> i128 {
        self.borrows.get(&(account, asset)).map_or(0, |b| {
            balance_of(Side::Borrow, b.scaled, self.borrow_index(asset))
                .expect("a debt within i128: the index grows by at most 100% a year")
        })
    }

    /// An account's borrows: (asset, debt now).
    pub(crate) fn borrows_of(&self, account: AccountIdx) -> impl Iterator<Item = (AssetIdx, i128)> + '_ {
        self.borrows
            .range((account, AssetIdx(0))..=(account, AssetIdx(u16::MAX)))
            .map(move |(&(_, asset), _)| (asset, self.debt_of(account, asset)))
    }

    /// Lends `amount` from the house to the account.
    pub(crate) fn borrow(&mut self, account: AccountIdx, asset: AssetIdx, amount: i128, seq: u64, events: &mut Vec<Event>) {
        assert!(amount > 0, "a borrow lends a positive amount");
        let index = self.borrow_index(asset);
        self.borrow_indices.insert(asset, index);
        let minted = mint_scaled(Side::Borrow, amount, index).expect("a borrow of a fitting amount");
        let old = self.borrows.get(&(account, asset)).copied().unwrap_or(Borrow { scaled: 0, reported: 0 });
        let scaled = old.scaled.checked_add(minted).expect("debt within i128");
        let debt = balance_of(Side::Borrow, scaled, index).expect("debt within i128");
        self.replace_borrow(account, asset, old, Borrow { scaled, reported: debt }, seq, events);
        let house = self.account_index[HOUSE];
        let t = Transfer { debit: house, credit: account, asset, amount, reason: Reason::Borrow, command_seq: seq };
        self.ledger.post(&t).expect("the house may go negative");
        events.push(self.borrow_event(account, asset, amount, debt, seq));
    }

    /// Repays the account's borrow of `asset` from its available balance, as far as it goes.
    pub(crate) fn repay_borrow(&mut self, account: AccountIdx, asset: AssetIdx, seq: u64, events: &mut Vec<Event>) {
        if self.settling_book.is_some() {
            return;
        }
        let Some(old) = self.borrows.get(&(account, asset)).copied() else { return };
        let index = self.borrow_index(asset);
        let debt = self.debt_of(account, asset);
        let paid = debt.min(self.ledger.balance(account, asset).available());
        if paid <= 0 {
            return;
        }
        let burnt =
            if paid == debt { old.scaled } else { burn_scaled(Side::Borrow, old.scaled, paid, index).expect("a repayment below the debt") };
        let scaled = old.scaled - burnt;
        let left = if scaled == 0 { 0 } else { balance_of(Side::Borrow, scaled, index).expect("a smaller debt fits") };
        self.replace_borrow(account, asset, old, Borrow { scaled, reported: left }, seq, events);
        let house = self.account_index[HOUSE];
        let t = Transfer { debit: account, credit: house, asset, amount: paid, reason: Reason::Repay, command_seq: seq };
        self.ledger.post(&t).expect("a repayment within the available balance");
        events.push(self.borrow_event(account, asset, -paid, left, seq));
    }

    /// Swaps a borrow's record, reporting the interest accrued since its last change.
    fn replace_borrow(&mut self, account: AccountIdx, asset: AssetIdx, old: Borrow, new: Borrow, seq: u64, events: &mut Vec<Event>) {
        if old.scaled != 0 {
            let before = self.debt_of(account, asset);
            let interest = before - old.reported;
            assert!(interest >= 0, "a debt never shrinks by itself");
            if interest > 0 {
                let scale = self.assets[asset.0 as usize].scale;
                events.push(Event::InterestAccrued {
                    seq,
                    account: self.account_names[account.0 as usize].clone(),
                    asset: self.assets[asset.0 as usize].symbol.clone(),
                    interest: money::format_decimal(interest, scale),
                    debt: money::format_decimal(before, scale),
                });
            }
            self.borrows_digest.remove(&borrow_hash(account, asset, old));
        }
        if new.scaled != 0 {
            self.borrows_digest.add(&borrow_hash(account, asset, new));
            self.borrows.insert((account, asset), new);
        } else {
            self.borrows.remove(&(account, asset));
        }
    }

    fn borrow_event(&self, account: AccountIdx, asset: AssetIdx, amount: i128, debt: i128, seq: u64) -> Event {
        let scale = self.assets[asset.0 as usize].scale;
        Event::BorrowChanged {
            seq,
            account: self.account_names[account.0 as usize].clone(),
            asset: self.assets[asset.0 as usize].symbol.clone(),
            amount: money::format_decimal(amount, scale),
            debt: money::format_decimal(debt, scale),
        }
    }

    /// Every borrow index brought forward to `now_ms` (checked on `advance_time` before the
    /// clock moves, installed after).
    pub(crate) fn accrued_indices(&self, now_ms: u64) -> Result<Vec<(AssetIdx, InterestIndex)>, EngineError> {
        let rate = self.borrow_rate_ray();
        let mut updated = Vec::with_capacity(self.borrow_indices.len());
        for (&asset, index) in &self.borrow_indices {
            let next = index
                .accrue(Side::Borrow, rate, now_ms / 1000)
                .map_err(|e| EngineError::Overflow { what: format!("borrow index: {e}") })?;
            updated.push((asset, next));
        }
        Ok(updated)
    }
}
