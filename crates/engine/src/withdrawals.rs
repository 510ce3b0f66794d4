//! Withdrawals in two steps: the owner's request reserves the amount on its account and
//! promises it out of the custodian's holding (a pending transfer account -> custody); the
//! operator confirms it with the chain reference once the coins left, which posts it. Until
//! then it can be cancelled (voided). A custodian never promises more than it holds: the
//! custody account is `NonPositive` in the ledger, pending credits included. A withdrawal
//! still unconfirmed `settings.withdrawal_confirm_timeout_ms` after its request is reported
//! overdue by the `advance_time` that passes its due time, once.

use crate::*;
use ledger::Reason;

/// Overdue withdrawals reported by one `advance_time` at most (the rest by the next ones), so
/// that its result stays far below the journal's record limit.
pub const OVERDUE_REPORTS_PER_COMMAND_MAX: usize = 256;

pub(crate) struct Request<'a> {
    pub account: &'a str,
    pub asset: &'a str,
    pub amount: &'a str,
    pub custodian: &'a str,
    pub destination: &'a str,
    pub withdrawal_id: &'a str,
}

impl Engine {
    pub(crate) fn request_withdrawal(&mut self, r: &Request<'_>, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let account_idx = self.trader_account(r.account)?;
        self.check_not_held(account_idx)?;
        let (asset_idx, units) = self.asset_amount(r.asset, r.amount)?;
        let custody = self.custody_for(r.custodian, asset_idx)?;
        let reference = self.new_reference("withdrawal", r.withdrawal_id)?;
        // The destination is well formed like a reference, and may be used again.
        crate::execute::check_reference_text(r.destination)?;
        self.check_withdrawal_room(account_idx)?;
        self.check_pending_owed(account_idx, asset_idx, units)?;
        self.check_free_collateral(account_idx, asset_idx, units)?;
        let due_ms = self
            .now_ms
            .checked_add(self.config.settings.withdrawal_confirm_timeout_ms)
            .ok_or_else(|| EngineError::Overflow { what: "withdrawal due time".into() })?;
        let pending = PendingId(self.next_pending);
        let transfer =
            Transfer { debit: account_idx, credit: custody, asset: asset_idx, amount: units, reason: Reason::Withdrawal, command_seq: seq };
        self.ledger.reserve(pending, &transfer).map_err(|e| self.ledger_error(e))?;
        self.next_pending += 1;
        self.use_reference(reference, seq);
        let withdrawal = Withdrawal { pending, account: account_idx, destination: r.destination.into(), due_ms, overdue_reported: false };
        self.insert_withdrawal(r.withdrawal_id, withdrawal);
        events.push(Event::WithdrawalPending {
            withdrawal_id: r.withdrawal_id.into(),
            account: r.account.into(),
            asset: r.asset.into(),
            amount: self.format(asset_idx, units),
            destination: r.destination.into(),
            due_ms,
        });
        Ok(())
    }

    fn check_withdrawal_room(&self, account: AccountIdx) -> Result<(), EngineError> {
        let limits = &self.config.limits;
        if self.withdrawals.len() >= limits.pending_withdrawals_max as usize {
            return Err(EngineError::LimitExceeded { limit: "pending_withdrawals_max".into(), max: limits.pending_withdrawals_max.into() });
        }
        if self.withdrawals_per_account.get(&account).copied().unwrap_or(0) >= limits.pending_withdrawals_per_account_max {
            let max = limits.pending_withdrawals_per_account_max.into();
            return Err(EngineError::LimitExceeded { limit: "pending_withdrawals_per_account_max".into(), max });
        }
        Ok(())
    }

    pub(crate) fn confirm_withdrawal(&mut self, id: &str, chain_ref: &str, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let withdrawal = self.withdrawals.get(id).cloned().ok_or_else(|| EngineError::UnknownWithdrawal { withdrawal_id: id.into() })?;
        if self.holds.contains(&withdrawal.account) {
            return Err(EngineError::AccountOnHold { account: self.account_names[withdrawal.account.0 as usize].clone() });
        }
        let reference = self.new_reference("chain", chain_ref)?;
        // Checked again when due: if it no longer passes, the withdrawal stays pending.
        self.check_free_collateral(withdrawal.account, AssetIdx(0), 0)?;
        let transfer = self.ledger.post_pending(withdrawal.pending).map_err(|e| self.ledger_error(e))?;
        self.use_reference(reference, seq);
        self.remove_withdrawal(id);
        events.push(Event::WithdrawalConfirmed { withdrawal_id: id.into(), chain_ref: chain_ref.into() });
        events.push(self.transferred_event(&transfer));
        Ok(())
    }

    pub(crate) fn cancel_withdrawal(&mut self, id: &str, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let withdrawal = self.withdrawals.get(id).cloned().ok_or_else(|| EngineError::UnknownWithdrawal { withdrawal_id: id.into() })?;
        self.ledger.void_pending(withdrawal.pending).map_err(|e| self.ledger_error(e))?;
        self.remove_withdrawal(id);
        events.push(Event::WithdrawalVoided { withdrawal_id: id.into(), why: "cancelled".into() });
        Ok(())
    }

    /// The owner (principal name) of a pending withdrawal's account.
    pub(crate) fn withdrawal_owner(&self, id: &str) -> Option<&str> {
        let w = self.withdrawals.get(id)?;
        Some(owner_of(&self.account_names[w.account.0 as usize]))
    }

    /// Reports, once each and oldest first, the withdrawals due by now and still unconfirmed.
    pub(crate) fn report_overdue(&mut self, events: &mut Vec<Event>) {
        let due: Vec<(u64, String)> = self
            .overdue_queue
            .iter()
            .take_while(|(due_ms, _)| *due_ms <= self.now_ms)
            .take(OVERDUE_REPORTS_PER_COMMAND_MAX)
            .cloned()
            .collect();
        for (due_ms, id) in due {
            self.overdue_queue.remove(&(due_ms, id.clone()));
            let mut w = self.withdrawals.get(&id).cloned().expect("the overdue queue lists pending withdrawals");
            self.withdrawals_digest.remove(&withdrawal_hash(&id, &w));
            w.overdue_reported = true;
            self.withdrawals_digest.add(&withdrawal_hash(&id, &w));
            self.withdrawals.insert(id.clone(), w);
            events.push(Event::WithdrawalOverdue { withdrawal_id: id, due_ms });
        }
    }

    pub(crate) fn insert_withdrawal(&mut self, id: &str, w: Withdrawal) {
        self.withdrawals_digest.add(&withdrawal_hash(id, &w));
        if !w.overdue_reported {
            self.overdue_queue.insert((w.due_ms, id.to_string()));
        }
        *self.withdrawals_per_account.entry(w.account).or_insert(0) += 1;
        let previous = self.withdrawals.insert(id.to_string(), w);
        assert!(previous.is_none(), "withdrawal ids are unique references");
    }

    fn remove_withdrawal(&mut self, id: &str) {
        let w = self.withdrawals.remove(id).expect("removing a pending withdrawal");
        self.overdue_queue.remove(&(w.due_ms, id.to_string()));
        self.withdrawals_digest.remove(&withdrawal_hash(id, &w));
        let count = self.withdrawals_per_account.get_mut(&w.account).expect("counted at insert");
        *count -= 1;
        if *count == 0 {
            self.withdrawals_per_account.remove(&w.account);
        }
    }
}

pub(crate) fn withdrawal_hash(id: &str, w: &Withdrawal) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&(id.len() as u32).to_le_bytes());
    h.update(id.as_bytes());
    h.update(&w.pending.0.to_le_bytes());
    h.update(&w.account.0.to_le_bytes());
    h.update(&(w.destination.len() as u32).to_le_bytes());
    h.update(w.destination.as_bytes());
    h.update(&w.due_ms.to_le_bytes());
    h.update(&[w.overdue_reported as u8]);
    *h.finalize().as_bytes()
}
