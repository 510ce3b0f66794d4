//! The double-entry ledger of clearhouse.
//!
//! Every movement of money is a [`Transfer`]: one account is debited, another credited, by
//! the same positive amount of one asset. Balances are signed `i128` counts of the asset's
//! smallest unit.
//!
//! Sign convention: a positive balance is what the broker owes the account holder. A client
//! deposit debits the custody account of the venue or chain where the coins arrived and
//! credits the client, so custody accounts carry the *opposite* sign of what clients hold
//! there: `custody = -(sum of client claims held there)`. The policies are `NonNegative` (trader
//! accounts: posted minus reserved never below zero), `NonPositive` (custody mirrors: posted plus
//! pending credits never above zero, so a custodian never releases more than it holds) and
//! `MayGoNegative` (house, fee and insurance-fund accounts).
//!
//! Two-phase transfers, as TigerBeetle does them: a *pending* transfer reserves the amount on
//! the debit account (it can no longer be spent) without moving it; it is later *posted*
//! (moved) or *voided* (released).
//!
//! Invariants (asserted in release builds after every operation, at O(1) cost, and restated by
//! the property tests):
//! - per asset, the sum of all posted balances is zero at all times (a running total kept with
//!   checked arithmetic);
//! - a `NonNegative` account's posted balance minus its reservations never goes below zero;
//! - a `NonPositive` account's posted balance plus its pending credits never goes above zero;
//! - a rejected operation changes nothing (every check precedes every mutation);
//! - no arithmetic wraps: an operation that would overflow is rejected.
//!
//! This crate is pure: no I/O, clock or randomness.

use rustc_hash::FxHashMap as HashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod digest;
pub use digest::MultisetDigest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountIdx(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AssetIdx(pub u16);

/// Identifies a pending (two-phase) transfer; assigned by the caller, unique for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PendingId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountPolicy {
    /// Posted minus reserved must stay >= 0 (trader accounts).
    NonNegative,
    /// May be negative or positive: house, fee and insurance-fund accounts.
    MayGoNegative,
    /// Posted plus pending credits must stay <= 0 (custody mirrors: what the custodian holds
    /// is the negated balance, and no withdrawal may take more than it holds).
    NonPositive,
}

/// Why money moved; journalled with every transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Deposit,
    Withdrawal,
    InternalTransfer,
    /// Delivery or payment of a fill between buyer and seller.
    Trade,
    /// A trading fee, or a maker rebate.
    Fee,
    /// What an open order holds (a pending transfer, never posted).
    OrderHold,
    /// Perpetual funding between a position and its market's clearing account.
    Funding,
    /// Realised P&L of a derivative position (a reducing fill, mark-to-market, option expiry).
    Settlement,
    /// The house lends an account what it owes beyond its balance (a borrow position).
    Borrow,
    /// An account repays its borrow to the house.
    Repay,
    /// A liquidation penalty: from the liquidated account to `@insurance` and the filler.
    LiquidationPenalty,
    /// A step of the default waterfall covering a bankrupt account's deficit.
    Waterfall,
    /// Capital the operator moves from `@house` into `@insurance` (`fund_insurance`).
    InsuranceFunding,
    /// The house's collateral posted at (or withdrawn from) an external venue (`venue_fund`).
    VenueCollateral,
    /// P&L a venue realised on the house's legs there (`venue_settled`).
    VenueSettlement,
    /// Collateral a venue kept when it liquidated the house's leg (`venue_settled`).
    VenueLiquidation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub debit: AccountIdx,
    pub credit: AccountIdx,
    pub asset: AssetIdx,
    /// Strictly positive, in the asset's smallest unit.
    pub amount: i128,
    pub reason: Reason,
    /// Sequence number of the command that caused it.
    pub command_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    pub posted: i128,
    /// Sum of pending debits: reserved, not spendable, not yet moved.
    pub reserved: i128,
    /// Sum of pending credits: promised to this account, not yet moved.
    pub incoming: i128,
}

impl Balance {
    /// What can still be spent: posted minus reserved.
    pub fn available(&self) -> i128 {
        self.posted - self.reserved
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTransfer {
    pub id: PendingId,
    pub transfer: Transfer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("amount must be positive, got {amount}")]
    NonPositiveAmount { amount: i128 },
    #[error("debit and credit are the same account {account:?}")]
    SameAccount { account: AccountIdx },
    #[error("unknown account {account:?}")]
    UnknownAccount { account: AccountIdx },
    #[error("unknown asset {asset:?}")]
    UnknownAsset { asset: AssetIdx },
    #[error("insufficient balance on {account:?} in {asset:?}: needed {needed}, available {available}")]
    InsufficientBalance { account: AccountIdx, asset: AssetIdx, needed: i128, available: i128 },
    #[error("balance arithmetic would overflow on {account:?} in {asset:?}")]
    Overflow { account: AccountIdx, asset: AssetIdx },
    #[error("pending transfer {id:?} already exists")]
    DuplicatePending { id: PendingId },
    #[error("no pending transfer {id:?}")]
    UnknownPending { id: PendingId },
    #[error("account limit of {max} reached")]
    AccountLimit { max: u32 },
    #[error("{account:?} would hold more than its counterpart holds in {asset:?}: needed {needed}, held {held}")]
    InsufficientHolding { account: AccountIdx, asset: AssetIdx, needed: i128, held: i128 },
    #[error("asset limit of {max} reached")]
    AssetLimit { max: u16 },
    #[error("ledger image is inconsistent: {what}")]
    Inconsistent { what: String },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    balance: Balance,
    /// Hash of this entry as last folded into the state digest; `None` if never folded.
    folded: Option<[u8; 32]>,
    dirty: bool,
}

/// The ledger. Accounts are dense indices assigned by the caller in creation order.
#[derive(Debug, Clone)]
pub struct Ledger {
    assets_count: u16,
    accounts_max: u32,
    policies: Vec<AccountPolicy>,
    entries: HashMap<(AccountIdx, AssetIdx), Entry>,
    /// Per account, which assets it has an entry in ([`HeldMask`]; entries are never removed).
    held: Vec<HeldMask>,
    pending: BTreeMap<PendingId, PendingTransfer>,
    /// Sum of posted balances per asset; must be zero after every operation.
    posted_totals: Vec<i128>,
    dirty: Vec<(AccountIdx, AssetIdx)>,
    digest: MultisetDigest,
    /// Multiset digest of the pending transfers, kept up to date on insert and remove.
    pending_digest: MultisetDigest,
    transfers_posted: u64,
}

impl Ledger {
    pub fn new(assets_count: u16, accounts_max: u32) -> Ledger {
        assert!(accounts_max > 0, "a ledger needs room for one account");
        Ledger {
            assets_count,
            accounts_max,
            policies: Vec::new(),
            entries: HashMap::default(),
            held: Vec::new(),
            pending: BTreeMap::new(),
            posted_totals: vec![0; assets_count as usize],
            dirty: Vec::new(),
            digest: MultisetDigest::default(),
            pending_digest: MultisetDigest::default(),
            transfers_posted: 0,
        }
    }

    pub fn accounts_count(&self) -> u32 {
        self.policies.len() as u32
    }

    pub fn transfers_posted(&self) -> u64 {
        self.transfers_posted
    }

    /// Opens the next account; returns its index.
    pub fn open_account(&mut self, policy: AccountPolicy) -> Result<AccountIdx, LedgerError> {
        if self.policies.len() as u64 >= self.accounts_max as u64 {
            return Err(LedgerError::AccountLimit { max: self.accounts_max });
        }
        self.policies.push(policy);
        self.held.push(HeldMask::default());
        Ok(AccountIdx(self.policies.len() as u32 - 1))
    }

    pub fn policy(&self, account: AccountIdx) -> Option<AccountPolicy> {
        self.policies.get(account.0 as usize).copied()
    }

    pub fn assets_count(&self) -> u16 {
        self.assets_count
    }

    /// Adds the next asset (all balances zero); returns its index.
    pub fn add_asset(&mut self) -> Result<AssetIdx, LedgerError> {
        if self.assets_count == u16::MAX {
            return Err(LedgerError::AssetLimit { max: u16::MAX });
        }
        self.posted_totals.push(0);
        self.assets_count += 1;
        Ok(AssetIdx(self.assets_count - 1))
    }

    /// Raises (or lowers, down to the accounts already open) the account limit.
    pub fn set_accounts_max(&mut self, accounts_max: u32) -> Result<(), LedgerError> {
        if (accounts_max as usize) < self.policies.len() || accounts_max == 0 {
            return Err(LedgerError::AccountLimit { max: accounts_max });
        }
        self.accounts_max = accounts_max;
        Ok(())
    }

    pub fn balance(&self, account: AccountIdx, asset: AssetIdx) -> Balance {
        self.entries.get(&(account, asset)).map(|e| e.balance).unwrap_or_default()
    }

    /// The account's balances in the assets it has held, in asset order (every other balance is
    /// zero): one look-up per asset held, not one per asset.
    pub fn balances_of(&self, account: AccountIdx) -> impl Iterator<Item = (AssetIdx, Balance)> + '_ {
        let mask = self.held.get(account.0 as usize).copied().unwrap_or_default();
        mask.assets(self.assets_count).filter_map(move |asset| self.entries.get(&(account, asset)).map(|e| (asset, e.balance)))
    }

    /// Every non-empty balance, sorted by (account, asset).
    pub fn balances(&self) -> Vec<(AccountIdx, AssetIdx, Balance)> {
        let mut all: Vec<_> = self.entries.iter().map(|(&(a, s), e)| (a, s, e.balance)).collect();
        all.sort_unstable_by_key(|&(a, s, _)| (a, s));
        all
    }

    pub fn pending(&self) -> impl Iterator<Item = &PendingTransfer> {
        self.pending.values()
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    pub fn pending_transfer(&self, id: PendingId) -> Option<&PendingTransfer> {
        self.pending.get(&id)
    }

    /// Posts a transfer immediately.
    pub fn post(&mut self, transfer: &Transfer) -> Result<(), LedgerError> {
        let (debit_after, credit_after) = self.check(transfer, 0, 0)?;
        self.write(transfer.debit, transfer.asset, |b| b.posted = debit_after);
        self.write(transfer.credit, transfer.asset, |b| b.posted = credit_after);
        self.transfers_posted += 1;
        self.assert_conserved(transfer.asset);
        Ok(())
    }

    /// Reserves a transfer's amount on its debit account without moving it.
    pub fn reserve(&mut self, id: PendingId, transfer: &Transfer) -> Result<(), LedgerError> {
        if self.pending.contains_key(&id) {
            return Err(LedgerError::DuplicatePending { id });
        }
        // The reservation must be payable now, as if it were posted.
        self.check(transfer, 0, 0)?;
        let overflow = |account| LedgerError::Overflow { account, asset: transfer.asset };
        let reserved_after =
            self.balance(transfer.debit, transfer.asset).reserved.checked_add(transfer.amount).ok_or(overflow(transfer.debit))?;
        let incoming_after =
            self.balance(transfer.credit, transfer.asset).incoming.checked_add(transfer.amount).ok_or(overflow(transfer.credit))?;
        self.write(transfer.debit, transfer.asset, |b| b.reserved = reserved_after);
        self.write(transfer.credit, transfer.asset, |b| b.incoming = incoming_after);
        self.insert_pending(PendingTransfer { id, transfer: *transfer });
        self.assert_conserved(transfer.asset);
        Ok(())
    }

    /// Moves a pending transfer's amount and releases its reservation.
    pub fn post_pending(&mut self, id: PendingId) -> Result<Transfer, LedgerError> {
        let pending = self.pending.get(&id).ok_or(LedgerError::UnknownPending { id })?;
        let transfer = pending.transfer;
        // Its own reservation (and its own pending credit) count as already promised to it.
        let (debit_after, credit_after) = self.check(&transfer, transfer.amount, transfer.amount)?;
        let reserved_after = self.balance(transfer.debit, transfer.asset).reserved - transfer.amount;
        let incoming_after = self.balance(transfer.credit, transfer.asset).incoming - transfer.amount;
        assert!(reserved_after >= 0 && incoming_after >= 0, "a pending amount is never larger than the pending total");
        self.remove_pending(id);
        self.write(transfer.debit, transfer.asset, |b| {
            b.posted = debit_after;
            b.reserved = reserved_after;
        });
        self.write(transfer.credit, transfer.asset, |b| {
            b.posted = credit_after;
            b.incoming = incoming_after;
        });
        self.transfers_posted += 1;
        self.assert_conserved(transfer.asset);
        Ok(transfer)
    }

    /// Releases a pending transfer's reservation without moving anything.
    pub fn void_pending(&mut self, id: PendingId) -> Result<Transfer, LedgerError> {
        let transfer = self.remove_pending(id).ok_or(LedgerError::UnknownPending { id })?.transfer;
        let reserved_after = self.balance(transfer.debit, transfer.asset).reserved - transfer.amount;
        let incoming_after = self.balance(transfer.credit, transfer.asset).incoming - transfer.amount;
        assert!(reserved_after >= 0 && incoming_after >= 0, "a pending amount is never larger than the pending total");
        self.write(transfer.debit, transfer.asset, |b| b.reserved = reserved_after);
        self.write(transfer.credit, transfer.asset, |b| b.incoming = incoming_after);
        self.assert_conserved(transfer.asset);
        Ok(transfer)
    }

    /// Checks a transfer without applying it; returns the posted balances after it.
    /// `own_reservation` is the part of the debit's reservation, `own_incoming` the part of the
    /// credit's pending credits, that belong to this transfer.
    fn check(&self, t: &Transfer, own_reservation: i128, own_incoming: i128) -> Result<(i128, i128), LedgerError> {
        if t.amount <= 0 {
            return Err(LedgerError::NonPositiveAmount { amount: t.amount });
        }
        if t.debit == t.credit {
            return Err(LedgerError::SameAccount { account: t.debit });
        }
        if t.asset.0 >= self.assets_count {
            return Err(LedgerError::UnknownAsset { asset: t.asset });
        }
        let debit_policy = self.policy(t.debit).ok_or(LedgerError::UnknownAccount { account: t.debit })?;
        let credit_policy = self.policy(t.credit).ok_or(LedgerError::UnknownAccount { account: t.credit })?;
        let debit = self.balance(t.debit, t.asset);
        let credit = self.balance(t.credit, t.asset);
        let debit_after = debit.posted.checked_sub(t.amount).ok_or(LedgerError::Overflow { account: t.debit, asset: t.asset })?;
        let credit_after = credit.posted.checked_add(t.amount).ok_or(LedgerError::Overflow { account: t.credit, asset: t.asset })?;
        if debit_policy == AccountPolicy::NonNegative {
            let available = debit.posted - (debit.reserved - own_reservation);
            if available < t.amount {
                return Err(LedgerError::InsufficientBalance { account: t.debit, asset: t.asset, needed: t.amount, available });
            }
        }
        if credit_policy == AccountPolicy::NonPositive {
            // What the counterpart still holds after every other pending release from it.
            let held = -(credit.posted + (credit.incoming - own_incoming));
            if held < t.amount {
                return Err(LedgerError::InsufficientHolding { account: t.credit, asset: t.asset, needed: t.amount, held });
            }
        }
        Ok((debit_after, credit_after))
    }

    fn insert_pending(&mut self, p: PendingTransfer) {
        self.pending_digest.add(&pending_hash(&p));
        let previous = self.pending.insert(p.id, p);
        assert!(previous.is_none(), "pending ids are checked for uniqueness before insert");
    }

    fn remove_pending(&mut self, id: PendingId) -> Option<PendingTransfer> {
        let p = self.pending.remove(&id)?;
        self.pending_digest.remove(&pending_hash(&p));
        Some(p)
    }

    fn write(&mut self, account: AccountIdx, asset: AssetIdx, update: impl FnOnce(&mut Balance)) {
        let entry = self.entries.entry((account, asset)).or_insert_with(|| {
            self.held[account.0 as usize].add(asset);
            Entry { balance: Balance::default(), folded: None, dirty: false }
        });
        let before = entry.balance.posted;
        update(&mut entry.balance);
        // Balances were checked against overflow before any write; a delta that still does not
        // fit is a broken invariant.
        let delta = entry.balance.posted.checked_sub(before).expect("a balance change fits i128 (checked before writing)");
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push((account, asset));
        }
        // Both sides of a transfer pass through here, so the running total returns to zero
        // after each complete operation (asserted by assert_conserved, in release builds too).
        // Mid-operation the total is one leg's amount, which always fits i128.
        let total = &mut self.posted_totals[asset.0 as usize];
        *total = total.checked_add(delta).expect("the running posted total of an asset fits i128");
    }

    /// O(1) release check after every operation: the asset's posted balances sum to zero.
    fn assert_conserved(&self, asset: AssetIdx) {
        assert_eq!(self.posted_totals[asset.0 as usize], 0, "conservation broken for {asset:?}");
    }

    /// O(assets) release check of conservation over the running totals.
    pub fn assert_all_conserved(&self) {
        for (i, total) in self.posted_totals.iter().enumerate() {
            assert_eq!(*total, 0, "conservation broken for asset #{i}");
        }
    }

    /// Exact sum of posted balances per asset, recomputed from scratch (used by tests and
    /// audits; every entry must be `Some(0)`). `None` means the exact sum lies outside the
    /// `i128` range, which is itself a broken invariant. Partial sums may overflow `i128` even
    /// when the total is zero, so the sum is carried with an overflow count.
    pub fn posted_sums(&self) -> Vec<Option<i128>> {
        let mut low = vec![0i128; self.assets_count as usize];
        let mut high = vec![0i64; self.assets_count as usize];
        for (&(_, asset), entry) in &self.entries {
            let i = asset.0 as usize;
            let (sum, overflowed) = low[i].overflowing_add(entry.balance.posted);
            low[i] = sum;
            if overflowed {
                high[i] += if entry.balance.posted > 0 { 1 } else { -1 };
            }
        }
        low.into_iter().zip(high).map(|(l, h)| (h == 0).then_some(l)).collect()
    }

    /// True when every asset's posted balances sum to exactly zero.
    pub fn is_conserved(&self) -> bool {
        self.posted_sums().iter().all(|s| *s == Some(0))
    }

    /// The canonical digest of all balances, reservations and pending transfers: a multiset
    /// hash (sum modulo 2^256 of per-entry BLAKE3 hashes), so it depends only on the state, not
    /// on the order of operations, and costs one hash per entry changed since the last call.
    pub fn digest(&mut self) -> [u8; 32] {
        for key in std::mem::take(&mut self.dirty) {
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            entry.dirty = false;
            if let Some(old) = entry.folded {
                self.digest.remove(&old);
            }
            let new = entry_hash(key, &entry.balance);
            self.digest.add(&new);
            entry.folded = Some(new);
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"clearhouse.ledger.v2");
        hasher.update(&self.digest.to_bytes());
        hasher.update(&(self.policies.len() as u64).to_le_bytes());
        // One byte per account, fed in blocks: the same bytes as one update each.
        let mut block = [0u8; 256];
        for policies in self.policies.chunks(block.len()) {
            for (byte, policy) in block.iter_mut().zip(policies) {
                *byte = *policy as u8;
            }
            hasher.update(&block[..policies.len()]);
        }
        hasher.update(&(self.pending.len() as u64).to_le_bytes());
        hasher.update(&self.pending_digest.to_bytes());
        hasher.update(&self.transfers_posted.to_le_bytes());
        *hasher.finalize().as_bytes()
    }

    pub fn to_snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            assets_count: self.assets_count,
            accounts_max: self.accounts_max,
            policies: self.policies.clone(),
            balances: self.balances(),
            pending: self.pending.values().cloned().collect(),
            transfers_posted: self.transfers_posted,
        }
    }

    pub fn from_snapshot(s: &LedgerSnapshot) -> Result<Ledger, LedgerError> {
        let mut ledger = Ledger::new(s.assets_count, s.accounts_max);
        for &policy in &s.policies {
            ledger.open_account(policy)?;
        }
        let mut pending_sums: BTreeMap<(AccountIdx, AssetIdx), (i128, i128)> = BTreeMap::new();
        for p in &s.pending {
            let t = &p.transfer;
            if ledger.pending.contains_key(&p.id) || t.amount <= 0 || t.asset.0 >= s.assets_count {
                return Err(LedgerError::Inconsistent { what: format!("pending transfer {:?}", p.id) });
            }
            let add = |x: i128| x.checked_add(t.amount).ok_or(LedgerError::Overflow { account: t.debit, asset: t.asset });
            let debit = pending_sums.entry((t.debit, t.asset)).or_default();
            debit.0 = add(debit.0)?;
            let credit = pending_sums.entry((t.credit, t.asset)).or_default();
            credit.1 = add(credit.1)?;
            ledger.insert_pending(p.clone());
        }
        for &(account, asset, balance) in &s.balances {
            let policy = ledger.policy(account).ok_or(LedgerError::UnknownAccount { account })?;
            if asset.0 >= s.assets_count {
                return Err(LedgerError::UnknownAsset { asset });
            }
            let pending = pending_sums.remove(&(account, asset)).unwrap_or_default();
            if (balance.reserved, balance.incoming) != pending || !policy_holds(policy, &balance) {
                return Err(LedgerError::Inconsistent { what: format!("balance of {account:?} in {asset:?}") });
            }
            let entry = Entry { balance, folded: None, dirty: true };
            ledger.held[account.0 as usize].add(asset);
            if ledger.entries.insert((account, asset), entry).is_some() {
                return Err(LedgerError::Inconsistent { what: format!("balance of {account:?} in {asset:?} listed twice") });
            }
            ledger.dirty.push((account, asset));
        }
        if !pending_sums.is_empty() || !ledger.is_conserved() {
            return Err(LedgerError::Inconsistent { what: "pending totals or conservation".into() });
        }
        ledger.transfers_posted = s.transfers_posted;
        Ok(ledger)
    }
}

/// The assets an account has an entry in: bit `i` for asset `i` below 63, bit 63 for "some
/// asset from 63 on" (those are then all looked up).
#[derive(Debug, Clone, Copy, Default)]
struct HeldMask(u64);

impl HeldMask {
    const OVERFLOW: u32 = 63;

    fn add(&mut self, asset: AssetIdx) {
        self.0 |= 1 << u32::from(asset.0).min(Self::OVERFLOW);
    }

    fn assets(self, assets_count: u16) -> impl Iterator<Item = AssetIdx> {
        let mut low = self.0 & !(1 << Self::OVERFLOW);
        let singles = std::iter::from_fn(move || {
            let i = low.trailing_zeros();
            low &= low.checked_sub(1)?;
            Some(AssetIdx(i as u16))
        });
        let high = if self.0 & (1 << Self::OVERFLOW) != 0 { Self::OVERFLOW as u16..assets_count } else { 0..0 };
        singles.chain(high.map(AssetIdx))
    }
}

/// The policy's own invariant on one balance.
fn policy_holds(policy: AccountPolicy, b: &Balance) -> bool {
    match policy {
        AccountPolicy::NonNegative => b.posted.checked_sub(b.reserved).is_some_and(|a| a >= 0) && b.reserved >= 0,
        AccountPolicy::NonPositive => b.posted.checked_add(b.incoming).is_some_and(|h| h <= 0) && b.incoming >= 0,
        AccountPolicy::MayGoNegative => b.reserved >= 0 && b.incoming >= 0,
    }
}

/// A serialisable image of the ledger (for snapshots).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    pub assets_count: u16,
    pub accounts_max: u32,
    pub policies: Vec<AccountPolicy>,
    pub balances: Vec<(AccountIdx, AssetIdx, Balance)>,
    pub pending: Vec<PendingTransfer>,
    pub transfers_posted: u64,
}

fn entry_hash((account, asset): (AccountIdx, AssetIdx), b: &Balance) -> [u8; 32] {
    let mut bytes = [0u8; 4 + 2 + 16 + 16 + 16];
    bytes[0..4].copy_from_slice(&account.0.to_le_bytes());
    bytes[4..6].copy_from_slice(&asset.0.to_le_bytes());
    bytes[6..22].copy_from_slice(&b.posted.to_le_bytes());
    bytes[22..38].copy_from_slice(&b.reserved.to_le_bytes());
    bytes[38..54].copy_from_slice(&b.incoming.to_le_bytes());
    *blake3::hash(&bytes).as_bytes()
}

fn pending_hash(p: &PendingTransfer) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&p.id.0.to_le_bytes());
    hash_transfer(&mut hasher, &p.transfer);
    *hasher.finalize().as_bytes()
}

fn hash_transfer(hasher: &mut blake3::Hasher, t: &Transfer) {
    hasher.update(&t.debit.0.to_le_bytes());
    hasher.update(&t.credit.0.to_le_bytes());
    hasher.update(&t.asset.0.to_le_bytes());
    hasher.update(&t.amount.to_le_bytes());
    hasher.update(&[t.reason as u8]);
    hasher.update(&t.command_seq.to_le_bytes());
}

#[cfg(test)]
mod tests;
