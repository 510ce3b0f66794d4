//! The house's collateral on external venues, on the ledger (issue 10, item 6;
//! docs/liquidation.md, "The house's venue collateral on the ledger").
//!
//! The house hedges on venues (custodians such as `dydx`) that margin it by their own rules. What
//! it has posted at a venue is a ledger account of its own, `@house/<venue>` (a broker account,
//! never negative, opened by the first funding), so the venue margin is computed against the
//! collateral actually posted on the ledger, and every unit that leaves it is traceable to a
//! command:
//!
//! - [`Command::DepositHouseCapital`] (operator): the broker's own capital, observed at a
//!   custodian, credited to `@house` like a client's deposit (the capital the house posts at
//!   venues and funds `@insurance` from).
//! - [`Command::VenueFund`] (operator): `amount` of `asset` moves from `@house` to
//!   `@house/<venue>`, and the coins move from custodian `custodian` to the venue's custody
//!   (`@custody/<venue>` debited, `@custody/<custodian>` credited): two transfers, each
//!   conserving the asset. Refused beyond the house's capital in the asset (its balance plus what
//!   it lent, as `fund_insurance`) or what the source custodian holds after pending withdrawals.
//! - [`Command::VenueDefund`] (operator): the reverse, at most what is posted at the venue and
//!   what the venue's custody holds.
//! - [`Command::VenueSettled`] (operator, the venue's report): the house's collateral at the
//!   venue is now `balance` (the P&L the venue realised on the house's legs, its fees, and, with
//!   `liquidated`, what it kept when it liquidated a leg). The difference from `@house/<venue>`
//!   is booked against `@custody/<venue>`: a loss debits `@house/<venue>` (the coins are gone,
//!   reason `venue_liquidation` or `venue_settlement`), a gain credits it; so every unit the
//!   house loses at a venue lands in its capital at the command's sequence number. The balance
//!   is never negative (a venue keeps at most its sub-account's collateral); `external_ref`
//!   (the venue's id of the report) is used once (namespace `venue`).

use crate::*;
use ledger::Reason;
use money::Amount;

/// The house's account holding what it posted at `venue`.
pub fn venue_account(venue: &str) -> String {
    format!("{HOUSE}/{venue}")
}

/// A venue's report of the house's collateral there.
pub(crate) struct VenueSettlement<'a> {
    pub venue: &'a str,
    pub asset: &'a str,
    pub balance: &'a str,
    pub liquidated: bool,
    pub external_ref: &'a str,
}

/// A venue command's arguments.
pub(crate) struct VenueMove<'a> {
    pub venue: &'a str,
    pub asset: &'a str,
    pub amount: &'a str,
    /// The custodian the coins come from (fund) or go to (defund).
    pub custodian: &'a str,
}

impl Engine {
    /// The collateral of `asset` the house has posted at `venue` (units; 0 before any funding).
    pub fn venue_collateral(&self, venue: &str, asset: &str) -> Result<i128, EngineError> {
        let idx = *self.asset_index.get(asset).ok_or_else(|| EngineError::UnknownAsset { symbol: asset.into() })?;
        self.custody_for(venue, idx)?;
        Ok(self.account_index.get(&venue_account(venue)).map_or(0, |a| self.ledger.balance(*a, idx).posted))
    }

    pub(crate) fn venue_fund(&mut self, m: &VenueMove<'_>, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let (asset, units, venue_custody, source) = self.check_venue_move(m)?;
        let capital = self.house_capital(asset)?;
        if units > capital {
            return Err(self.short(HOUSE, asset, units, capital));
        }
        self.check_custody_holds(m.custodian, source, asset, units)?;
        let account = self.venue_account_opened(m.venue)?;
        let house = self.account_index[HOUSE];
        let posted = self.ledger.balance(account, asset).posted;
        posted.checked_add(units).ok_or_else(|| EngineError::Overflow { what: "venue collateral".into() })?;
        let transfers = [(house, account), (venue_custody, source)];
        self.post_venue(&transfers, asset, units, Reason::VenueCollateral, seq, events);
        assert_eq!(self.ledger.balance(account, asset).posted, posted + units, "the venue's collateral grows by the amount");
        events.push(self.venue_event(m, asset, account, "fund", units));
        Ok(())
    }

    pub(crate) fn venue_defund(&mut self, m: &VenueMove<'_>, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let (asset, units, venue_custody, target) = self.check_venue_move(m)?;
        let name = venue_account(m.venue);
        let posted = self.venue_collateral(m.venue, m.asset)?;
        if units > posted {
            return Err(self.short(&name, asset, units, posted));
        }
        self.check_custody_holds(m.venue, venue_custody, asset, units)?;
        let account = self.account_index[&name];
        let house = self.account_index[HOUSE];
        self.ledger.balance(house, asset).posted.checked_add(units).ok_or_else(|| EngineError::Overflow { what: "house".into() })?;
        let transfers = [(account, house), (target, venue_custody)];
        self.post_venue(&transfers, asset, units, Reason::VenueCollateral, seq, events);
        assert_eq!(self.ledger.balance(account, asset).posted, posted - units, "the venue's collateral shrinks by the amount");
        events.push(self.venue_event(m, asset, account, "defund", units));
        Ok(())
    }

    /// The venue reports the house's collateral there as `balance` (after the P&L it realised,
    /// its fees and any liquidation): the difference from what is posted on the ledger is booked.
    pub(crate) fn venue_settled(&mut self, s: &VenueSettlement<'_>, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let asset = *self.asset_index.get(s.asset).ok_or_else(|| EngineError::UnknownAsset { symbol: s.asset.into() })?;
        let balance = Amount::parse(s.balance, self.assets[asset.0 as usize].scale)
            .map_err(|e| EngineError::MalformedAmount { input: s.balance.into(), reason: e.to_string() })?
            .units();
        if balance < 0 {
            return Err(EngineError::MalformedAmount { input: s.balance.into(), reason: "a venue balance is never negative".into() });
        }
        let venue_custody = self.custody_for(s.venue, asset)?;
        let posted = self.venue_collateral(s.venue, s.asset)?;
        let Some(account) = self.account_index.get(&venue_account(s.venue)).copied() else {
            return Err(self.short(&venue_account(s.venue), asset, balance, 0));
        };
        let change = balance - posted;
        if change > 0 {
            self.check_held_for_clients(asset, change)?;
        } else {
            self.check_custody_holds(s.venue, venue_custody, asset, -change)?;
        }
        let reference = self.new_reference("venue", s.external_ref)?;
        let reason = if s.liquidated { Reason::VenueLiquidation } else { Reason::VenueSettlement };
        let pair = if change > 0 { (venue_custody, account) } else { (account, venue_custody) };
        if change != 0 {
            self.post_venue(&[pair], asset, change.abs(), reason, seq, events);
        }
        self.use_reference(reference, seq);
        assert_eq!(self.ledger.balance(account, asset).posted, balance, "the ledger holds what the venue reported");
        let action = if s.liquidated { "liquidated" } else { "settled" };
        let m = VenueMove { venue: s.venue, asset: s.asset, amount: "", custodian: s.venue };
        events.push(self.venue_event(&m, asset, account, action, change));
        Ok(())
    }

    /// The broker's own capital observed at `custodian`, credited to `@house` (the source of what
    /// it posts at venues and of `fund_insurance`); a deposit reference, used once.
    pub(crate) fn deposit_house_capital(
        &mut self,
        asset: &str,
        amount: &str,
        custodian: &str,
        external_ref: &str,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let (asset, units) = self.asset_amount(asset, amount)?;
        let custody = self.custody_for(custodian, asset)?;
        self.check_held_for_clients(asset, units)?;
        let house = self.account_index[HOUSE];
        self.ledger.balance(house, asset).posted.checked_add(units).ok_or_else(|| EngineError::Overflow { what: "house".into() })?;
        let reference = self.new_reference("deposit", external_ref)?;
        let t = Transfer { debit: custody, credit: house, asset, amount: units, reason: Reason::Deposit, command_seq: seq };
        self.ledger.post(&t).map_err(|e| self.ledger_error(e))?;
        self.use_reference(reference, seq);
        events.push(self.transferred_event(&t));
        Ok(())
    }

    /// Asset, units, the venue's custody account and the other custodian's, or why not.
    fn check_venue_move(&self, m: &VenueMove<'_>) -> Result<(AssetIdx, i128, AccountIdx, AccountIdx), EngineError> {
        let (asset, units) = self.asset_amount(m.asset, m.amount)?;
        let venue_custody = self.custody_for(m.venue, asset)?;
        let other = self.custody_for(m.custodian, asset)?;
        if m.venue == m.custodian {
            return Err(EngineError::VenueRefused { venue: m.venue.into(), why: "the custodian is the venue itself".into() });
        }
        Ok((asset, units, venue_custody, other))
    }

    /// `custody` (of `custodian`) holds `units` of `asset` beyond its pending withdrawals.
    fn check_custody_holds(&self, custodian: &str, custody: AccountIdx, asset: AssetIdx, units: i128) -> Result<(), EngineError> {
        let held = self.ledger.balance(custody, asset);
        if held.posted.checked_add(held.incoming).and_then(|b| b.checked_add(units)).is_none_or(|b| b > 0) {
            return Err(EngineError::InsufficientCustody {
                custodian: custodian.into(),
                asset: self.assets[asset.0 as usize].symbol.clone(),
                needed: self.format(asset, units),
                held: self.format(asset, -(held.posted + held.incoming)),
            });
        }
        Ok(())
    }

    fn short(&self, account: &str, asset: AssetIdx, needed: i128, available: i128) -> EngineError {
        EngineError::InsufficientBalance {
            account: account.into(),
            asset: self.assets[asset.0 as usize].symbol.clone(),
            needed: self.format(asset, needed),
            available: self.format(asset, available.max(0)),
        }
    }

    /// `@house/<venue>`, opened (never negative) by the first funding.
    fn venue_account_opened(&mut self, venue: &str) -> Result<AccountIdx, EngineError> {
        let name = venue_account(venue);
        if let Some(idx) = self.account_index.get(&name) {
            return Ok(*idx);
        }
        self.open_account(name, AccountKind::Broker, AccountPolicy::NonNegative).map_err(|e| self.ledger_error(e))
    }

    /// Posts `(debit, credit)` pairs of `units`; the caller checked every balance's room.
    fn post_venue(
        &mut self,
        pairs: &[(AccountIdx, AccountIdx)],
        asset: AssetIdx,
        units: i128,
        reason: Reason,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        for &(debit, credit) in pairs {
            let t = Transfer { debit, credit, asset, amount: units, reason, command_seq: seq };
            // Checked above: the venue account and the debited custodian hold the amount,
            // `@house` may go negative within its capital, and no balance overflows.
            self.ledger.post(&t).expect("a venue transfer was checked before posting");
            events.push(self.transferred_event(&t));
        }
    }

    fn venue_event(&self, m: &VenueMove<'_>, asset: AssetIdx, account: AccountIdx, action: &str, units: i128) -> Event {
        Event::VenueCollateralChanged {
            venue: m.venue.into(),
            asset: m.asset.into(),
            action: action.into(),
            amount: self.format(asset, units),
            posted: self.format(asset, self.ledger.balance(account, asset).posted),
        }
    }
}
