use super::*;

fn transfer(debit: u32, credit: u32, amount: i128) -> Transfer {
    Transfer {
        debit: AccountIdx(debit),
        credit: AccountIdx(credit),
        asset: AssetIdx(0),
        amount,
        reason: Reason::InternalTransfer,
        command_seq: 1,
    }
}

fn ledger_with(custody: usize, traders: usize) -> Ledger {
    let mut l = Ledger::new(2, 100);
    for _ in 0..custody {
        l.open_account(AccountPolicy::MayGoNegative).unwrap();
    }
    for _ in 0..traders {
        l.open_account(AccountPolicy::NonNegative).unwrap();
    }
    l
}

#[test]
fn deposit_mirrors_custody_with_opposite_sign() {
    let mut l = ledger_with(1, 1);
    l.post(&transfer(0, 1, 500)).unwrap();
    assert_eq!(l.balance(AccountIdx(0), AssetIdx(0)).posted, -500);
    assert_eq!(l.balance(AccountIdx(1), AssetIdx(0)).posted, 500);
    assert!(l.is_conserved());
}

#[test]
fn trader_cannot_go_negative_and_rejection_changes_nothing() {
    let mut l = ledger_with(1, 2);
    l.post(&transfer(0, 1, 100)).unwrap();
    let digest_before = l.digest();
    let err = l.post(&transfer(1, 2, 101)).unwrap_err();
    assert_eq!(err, LedgerError::InsufficientBalance { account: AccountIdx(1), asset: AssetIdx(0), needed: 101, available: 100 });
    assert_eq!(l.digest(), digest_before);
    assert_eq!(l.balance(AccountIdx(1), AssetIdx(0)).posted, 100);
    assert!(matches!(l.post(&transfer(1, 1, 1)), Err(LedgerError::SameAccount { .. })));
    assert!(matches!(l.post(&transfer(1, 2, 0)), Err(LedgerError::NonPositiveAmount { .. })));
    assert!(matches!(l.post(&transfer(1, 7, 1)), Err(LedgerError::UnknownAccount { .. })));
}

#[test]
fn overflow_is_rejected_not_wrapped() {
    let mut l = ledger_with(2, 0);
    l.post(&transfer(0, 1, i128::MAX)).unwrap();
    assert!(matches!(l.post(&transfer(0, 1, 1)), Err(LedgerError::Overflow { .. })));
    assert!(l.is_conserved());
}

#[test]
fn pending_reserves_then_posts_or_voids() {
    let mut l = ledger_with(1, 1);
    l.post(&transfer(0, 1, 100)).unwrap();
    l.reserve(PendingId(7), &transfer(1, 0, 60)).unwrap();
    let b = l.balance(AccountIdx(1), AssetIdx(0));
    assert_eq!((b.posted, b.reserved, b.available()), (100, 60, 40));
    // The reserved part is not spendable by anything else.
    assert!(matches!(l.reserve(PendingId(8), &transfer(1, 0, 41)), Err(LedgerError::InsufficientBalance { available: 40, .. })));
    assert!(matches!(l.reserve(PendingId(7), &transfer(1, 0, 1)), Err(LedgerError::DuplicatePending { .. })));
    l.post_pending(PendingId(7)).unwrap();
    let b = l.balance(AccountIdx(1), AssetIdx(0));
    assert_eq!((b.posted, b.reserved), (40, 0));
    l.reserve(PendingId(9), &transfer(1, 0, 40)).unwrap();
    l.void_pending(PendingId(9)).unwrap();
    assert_eq!(l.balance(AccountIdx(1), AssetIdx(0)), Balance { posted: 40, reserved: 0, incoming: 0 });
    assert!(matches!(l.post_pending(PendingId(9)), Err(LedgerError::UnknownPending { .. })));
    assert!(l.is_conserved());
}

#[test]
fn digest_is_canonical_and_survives_snapshots() {
    // Two histories that end in the same balances give the same digest.
    let mut a = ledger_with(1, 2);
    a.post(&transfer(0, 1, 10)).unwrap();
    a.post(&transfer(0, 2, 5)).unwrap();
    let mut b = ledger_with(1, 2);
    b.post(&transfer(0, 2, 5)).unwrap();
    b.digest();
    b.post(&transfer(0, 1, 10)).unwrap();
    assert_eq!(a.digest(), b.digest());
    let restored = Ledger::from_snapshot(&a.to_snapshot()).unwrap();
    assert_eq!(restored.clone().digest(), a.digest());
    // A different state gives a different digest.
    b.post(&transfer(1, 2, 1)).unwrap();
    assert_ne!(a.digest(), b.digest());
}
