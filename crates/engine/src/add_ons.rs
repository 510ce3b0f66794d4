//! Initial-margin add-ons per owner (docs/liquidation.md, "Margin add-ons"): the operator's
//! `set_margin_add_on {owner, amount_usd}` installs an amount (USD) that is added to the initial
//! margin of every trader sub-account of the owner that carries any initial margin of its own,
//! in every gate that reads initial margin (orders, liquidator bids, withdrawals and their
//! confirmation, transfers out) and in the health flag between maintenance and initial margin.
//! Maintenance margin, and so the trigger and the end target of a liquidation, is unchanged.
//!
//! The add-on is per owner, charged in full to each sub-account that holds risk: splitting a
//! book across sub-accounts cannot dodge it (each part pays all of it), at the price of charging
//! an owner with several risky sub-accounts more than once (conservative). A sub-account with no
//! risk (initial margin zero: cash only) is not charged, so collateral the risky sub-accounts do
//! not use stays free. Amount zero removes the add-on. Typical source: `clearhouse cover2
//! --emit-commands` (the cover-2 shortfall charged back to the accounts that cause it).

use crate::*;
use margin_core::Requirement;
use money::{Amount, UsdValue};

/// The largest add-on: one trillion USD (10^-18 USD units).
pub const MARGIN_ADD_ON_USD_MAX: i128 = 1_000_000_000_000 * 1_000_000_000_000_000_000;

impl Engine {
    /// Operator: sets (amount > 0) or removes (amount 0) the add-on of a registered owner.
    /// Everything is checked before anything changes.
    pub(crate) fn set_margin_add_on(&mut self, owner: &str, amount_usd: &str, events: &mut Vec<Event>) -> Result<(), EngineError> {
        if self.sessions.role(owner) != Some(Role::Owner) {
            return Err(EngineError::UnknownOwner { owner: owner.into() });
        }
        let scale = Scale::new(18).expect("18 decimals is a valid scale");
        let units = Amount::parse(amount_usd, scale)
            .map_err(|e| EngineError::MalformedAmount { input: amount_usd.into(), reason: e.to_string() })?
            .units();
        if !(0..=MARGIN_ADD_ON_USD_MAX).contains(&units) {
            return Err(EngineError::MarginAddOnOutOfRange { amount: amount_usd.into(), max: UsdValue(MARGIN_ADD_ON_USD_MAX).to_string() });
        }
        if units == 0 {
            self.margin_add_ons.remove(owner);
        } else {
            self.margin_add_ons.insert(owner.into(), units);
        }
        events.push(Event::MarginAddOnSet { owner: owner.into(), amount_usd: UsdValue(units).to_string() });
        Ok(())
    }

    /// The add-on of the account's owner (10^-18 USD; 0 when none).
    pub(crate) fn add_on_of(&self, account: AccountIdx) -> i128 {
        let name = &self.account_names[account.0 as usize];
        self.margin_add_ons.get(owner_of(name)).copied().unwrap_or(0)
    }

    /// `requirement` with the owner's add-on added to its initial margin, if it has any.
    pub(crate) fn with_add_on(&self, account: AccountIdx, mut requirement: Requirement) -> Result<Requirement, EngineError> {
        let add_on = self.add_on_of(account);
        if add_on > 0 && requirement.initial.0 > 0 {
            let im = requirement.initial.0.checked_add(add_on).ok_or_else(|| EngineError::Overflow { what: "add-on".into() })?;
            requirement.initial = UsdValue(im);
        }
        assert!(requirement.maintenance.0 <= requirement.initial.0, "an add-on never lowers initial margin below maintenance");
        Ok(requirement)
    }

    /// The trader sub-accounts of an owner (its add-on changes their initial margin).
    pub(crate) fn owner_accounts(&self, owner: &str) -> Vec<AccountIdx> {
        self.owners.subs_named(owner).to_vec()
    }

    /// The add-ons in force, by owner (USD, decimal).
    pub fn margin_add_ons(&self) -> Vec<(String, String)> {
        self.margin_add_ons.iter().map(|(o, u)| (o.clone(), UsdValue(*u).to_string())).collect()
    }

    /// Add-ons into the state hash (only when there are any: journals without them keep their
    /// hashes).
    pub(crate) fn hash_add_ons(&self, h: &mut blake3::Hasher) {
        if self.margin_add_ons.is_empty() {
            return;
        }
        h.update(b"margin_add_ons");
        h.update(&(self.margin_add_ons.len() as u64).to_le_bytes());
        for (owner, units) in &self.margin_add_ons {
            h.update(&(owner.len() as u32).to_le_bytes());
            h.update(owner.as_bytes());
            h.update(&units.to_le_bytes());
        }
    }

    /// Restores the add-ons from a snapshot: registered owners, amounts in range.
    pub(crate) fn restore_add_ons(&mut self, add_ons: Vec<(String, i128)>) -> Result<(), String> {
        for (owner, units) in add_ons {
            let owner_ok = self.sessions.role(&owner) == Some(Role::Owner);
            if !owner_ok || !(1..=MARGIN_ADD_ON_USD_MAX).contains(&units) || self.margin_add_ons.insert(owner, units).is_some() {
                return Err("margin add-ons name an unknown owner, repeat one or are out of range".into());
            }
        }
        Ok(())
    }
}
