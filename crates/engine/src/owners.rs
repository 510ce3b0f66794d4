//! Owners by integer id: the owner of every trader account and each owner's trader
//! sub-accounts in name order, so the margin path finds an account's siblings without
//! formatting a name prefix or comparing names (docs/engine.md, "Owners").
//!
//! A derived index of `account_names` and `account_kinds`: built as accounts open and rebuilt
//! when a snapshot is restored, never hashed or journalled.

use crate::{AccountIdx, AccountKind, owner_of};
use std::collections::BTreeMap;

/// The owner id of an account that belongs to no owner (a broker account).
const NO_OWNER: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
pub(crate) struct OwnerIndex {
    /// Owner name -> owner id (ids in order of first appearance).
    ids: BTreeMap<String, u32>,
    /// Account index -> its owner id ([`NO_OWNER`] for a broker account).
    of_account: Vec<u32>,
    /// Owner id -> its trader sub-accounts, in name order.
    subs: Vec<Vec<AccountIdx>>,
}

impl OwnerIndex {
    /// Adds the account just opened at index `names.len() - 1`, named `names[idx]`.
    pub(crate) fn add(&mut self, names: &[String], kind: AccountKind) {
        let idx = self.of_account.len();
        assert_eq!(idx + 1, names.len(), "accounts are indexed in the order they open");
        if kind != AccountKind::Trader {
            self.of_account.push(NO_OWNER);
            return;
        }
        let name = &names[idx];
        let next = self.subs.len() as u32;
        let id = *self.ids.entry(owner_of(name).to_string()).or_insert(next);
        if id == next {
            self.subs.push(Vec::new());
        }
        self.of_account.push(id);
        let subs = &mut self.subs[id as usize];
        let at = subs.partition_point(|a| names[a.0 as usize] < *name);
        subs.insert(at, AccountIdx(idx as u32));
    }

    /// The owner's trader sub-accounts (the account's own included), in name order; empty for a
    /// broker account.
    pub(crate) fn subs_of(&self, account: AccountIdx) -> &[AccountIdx] {
        match self.of_account.get(account.0 as usize) {
            Some(&id) if id != NO_OWNER => &self.subs[id as usize],
            _ => &[],
        }
    }

    /// The trader sub-accounts of the owner named `owner`, in name order.
    pub(crate) fn subs_named(&self, owner: &str) -> &[AccountIdx] {
        self.ids.get(owner).map_or(&[], |id| &self.subs[*id as usize])
    }

    /// True when both accounts are trader accounts of one owner.
    pub(crate) fn same_owner(&self, a: AccountIdx, b: AccountIdx) -> bool {
        let (x, y) = (self.of_account.get(a.0 as usize), self.of_account.get(b.0 as usize));
        matches!((x, y), (Some(x), Some(y)) if x == y && *x != NO_OWNER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(accounts: &[(&str, AccountKind)]) -> (OwnerIndex, Vec<String>) {
        let (mut ix, mut names) = (OwnerIndex::default(), Vec::new());
        for (name, kind) in accounts {
            names.push(name.to_string());
            ix.add(&names, *kind);
        }
        (ix, names)
    }

    #[test]
    fn subs_are_found_by_owner_in_name_order() {
        let (ix, _) = index(&[
            ("b/x", AccountKind::Trader),
            ("@fees", AccountKind::Broker),
            ("a/z", AccountKind::Trader),
            ("b/a", AccountKind::Trader),
            ("ab/a", AccountKind::Trader),
            ("a/b", AccountKind::Trader),
        ]);
        let ids = |s: &[AccountIdx]| s.iter().map(|a| a.0).collect::<Vec<_>>();
        assert_eq!(ids(ix.subs_of(AccountIdx(0))), vec![3, 0]);
        assert_eq!(ids(ix.subs_of(AccountIdx(2))), vec![5, 2]);
        assert_eq!(ids(ix.subs_of(AccountIdx(4))), vec![4]);
        assert!(ix.subs_of(AccountIdx(1)).is_empty());
        assert_eq!(ids(ix.subs_named("a")), vec![5, 2]);
        assert!(ix.subs_named("c").is_empty());
        assert!(ix.same_owner(AccountIdx(0), AccountIdx(3)));
        assert!(!ix.same_owner(AccountIdx(2), AccountIdx(4)));
        assert!(!ix.same_owner(AccountIdx(1), AccountIdx(1)));
    }
}
