//! Random operation sequences: conservation per asset, no unauthorised negative balance,
//! a rejected operation changes nothing, snapshots restore the same digest.

use ledger::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Post { debit: u32, credit: u32, asset: u16, amount: i128 },
    Reserve { id: u64, debit: u32, credit: u32, asset: u16, amount: i128 },
    PostPending { id: u64 },
    Void { id: u64 },
}

const ACCOUNTS: u32 = 6; // 0 and 1 are custody/house (may go negative), 2..6 traders.

fn op() -> impl Strategy<Value = Op> {
    let amount = prop_oneof![-5i128..1000, Just(i128::MAX), Just(i128::MIN + 1)];
    prop_oneof![
        (0..ACCOUNTS + 1, 0..ACCOUNTS + 1, 0u16..3, amount.clone()).prop_map(|(debit, credit, asset, amount)| Op::Post {
            debit,
            credit,
            asset,
            amount
        }),
        (0u64..20, 0..ACCOUNTS, 0..ACCOUNTS, 0u16..2, amount).prop_map(|(id, debit, credit, asset, amount)| Op::Reserve {
            id,
            debit,
            credit,
            asset,
            amount
        }),
        (0u64..20).prop_map(|id| Op::PostPending { id }),
        (0u64..20).prop_map(|id| Op::Void { id }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn invariants_hold_under_random_operations(ops in proptest::collection::vec(op(), 1..200)) {
        let mut ledger = Ledger::new(2, 64);
        for i in 0..ACCOUNTS {
            ledger.open_account(if i < 2 { AccountPolicy::MayGoNegative } else { AccountPolicy::NonNegative }).unwrap();
        }
        for op in ops {
            let before_digest = ledger.digest();
            let before_balances = ledger.balances();
            let t = |debit: u32, credit: u32, asset: u16, amount: i128| Transfer {
                debit: AccountIdx(debit), credit: AccountIdx(credit), asset: AssetIdx(asset), amount, reason: Reason::InternalTransfer, command_seq: 0,
            };
            let result = match op {
                Op::Post { debit, credit, asset, amount } => ledger.post(&t(debit, credit, asset, amount)).map(|_| ()),
                Op::Reserve { id, debit, credit, asset, amount } => ledger.reserve(PendingId(id), &t(debit, credit, asset, amount)),
                Op::PostPending { id } => ledger.post_pending(PendingId(id)).map(|_| ()),
                Op::Void { id } => ledger.void_pending(PendingId(id)).map(|_| ()),
            };
            if result.is_err() {
                prop_assert_eq!(ledger.digest(), before_digest);
                prop_assert_eq!(ledger.balances(), before_balances);
            }
            prop_assert!(ledger.is_conserved(), "conservation broken: {:?}", ledger.posted_sums());
            for (account, _asset, balance) in ledger.balances() {
                prop_assert!(balance.reserved >= 0);
                if ledger.policy(account) == Some(AccountPolicy::NonNegative) {
                    prop_assert!(balance.available() >= 0, "{account:?} went negative: {balance:?}");
                }
            }
        }
        let restored = Ledger::from_snapshot(&ledger.to_snapshot()).unwrap();
        prop_assert_eq!(restored.clone().digest(), ledger.digest());
    }
}

proptest! {
    /// `balances_of` (one look-up per asset the account has held) gives `balance` of every asset,
    /// below and beyond the mask's 63 single bits, and after a restore from a snapshot.
    #[test]
    fn balances_of_an_account_are_its_balance_in_each_asset(
        posts in proptest::collection::vec((0u32..4, 0u32..4, 0u16..70, 1i128..1000), 0..60),
    ) {
        let mut ledger = Ledger::new(70, 8);
        for i in 0..4 {
            ledger.open_account(if i == 0 { AccountPolicy::MayGoNegative } else { AccountPolicy::NonNegative }).unwrap();
        }
        for (debit, credit, asset, amount) in posts {
            let t = Transfer {
                debit: AccountIdx(debit), credit: AccountIdx(credit), asset: AssetIdx(asset), amount, reason: Reason::InternalTransfer, command_seq: 0,
            };
            let _ = ledger.post(&t);
        }
        let restored = Ledger::from_snapshot(&ledger.to_snapshot()).unwrap();
        for l in [&ledger, &restored] {
            for account in (0..4).map(AccountIdx) {
                let mut each = vec![Balance::default(); 70];
                for (asset, balance) in l.balances_of(account) {
                    each[asset.0 as usize] = balance;
                }
                let expected: Vec<Balance> = (0..70).map(|a| l.balance(account, AssetIdx(a))).collect();
                prop_assert_eq!(each, expected);
            }
        }
    }
}
