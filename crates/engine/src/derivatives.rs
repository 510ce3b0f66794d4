//! Derivative markets (perps and options) on the engine's own books: positions instead of base
//! deliveries, settled in the market's quote (its settlement asset) against the market's clearing
//! account `@clearing/<market>`, the counterparty of every position (see `docs/clearing.md`,
//! "In the engine").
//!
//! Units: a position's quantity counts 10^-9 of one whole underlying unit
//! ([`model::DERIVATIVE_DECIMALS`]); its entry cost is an 18-decimal value in whole settlement
//! units (`clearing::pnl`), so average entry prices are exact and every rounding to settlement
//! units happens once, in the broker's favour.
//!
//! A fill of `qty` at `price` (quote amount `q = price * qty / lot`): both sides pay their fee
//! on `q` to `@fees` as on spot; an option's buyer pays the premium `q` to its seller; each
//! side's position takes the fill (`clearing::pnl::PerpPosition::apply_fill`), and on a perp what
//! a reducing fill realises is paid by or to the clearing account. Whatever an account owes
//! beyond its available balance is lent by the house ([`crate::borrows`]), so no amount owed is
//! ever lost and no trader balance goes below zero.

use crate::settle::SettledAt;
use crate::*;
use clearing::options::OptionKind;
use clearing::pnl::PerpPosition;
use clearing::{ContractSpec, ONE_E18, Price, funding::FundingParams};
use ledger::Reason;
use money::{Amount, Rounding};

/// The clearing account of a derivative market: counterparty of all its positions.
pub fn clearing_account(market: &str) -> String {
    format!("@clearing/{market}")
}

/// What a derivative market clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contract {
    Perp { params: FundingParams },
    Option { kind: OptionKind, strike: Price, expiry_ms: u64, window_ms: u64 },
}

/// Where an option market is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expiry {
    Live,
    /// Settled at the time-weighted price; positions closed, market closed for orders.
    Settled,
    /// Past expiry without a settlement price (the window was not covered by oracle prints):
    /// closed for orders, positions kept until an operator settles them.
    Unsettled,
}

/// The terms and clearing state of a perp or option market.
#[derive(Debug, Clone)]
pub(crate) struct Derivative {
    pub contract: Contract,
    pub spec: ContractSpec,
    /// `10^(18 - settlement decimals)`: settlement units to an 18-decimal value.
    pub unit_e18: i128,
    pub positions_max: u32,
    /// Perp: the last funding boundary settled (`None` until the clock first runs with it).
    pub last_funding_ms: Option<u64>,
    pub expiry: Expiry,
    /// Accounts holding a position, and the sum of the long quantities.
    pub holders: u32,
    pub open_interest: i128,
    /// The market's open-interest cap, 10^-9 of the underlying (`open_interest_max`).
    pub open_interest_max: Option<i128>,
    /// Perp: the premium prints of the current funding interval ([`crate::funding`]).
    pub premium: crate::funding::PremiumAverage,
    /// Cumulative funding, mark, socialised-loss and expiry indices ([`crate::settle`]).
    pub indices: crate::settle::MarketIndices,
}

impl Derivative {
    /// The derivative terms of a market definition, checked; `None` for a spot market.
    pub fn from_def(def: &model::Market, quote_scale: Scale) -> Result<Option<Derivative>, String> {
        let perp_terms = def.funding_interval_ms.is_some() || def.funding_cap_bps.is_some();
        let option_terms = def.strike.is_some() || def.expiry.is_some() || def.right.is_some() || def.twap_window_ms.is_some();
        if def.kind == model::MarketKind::Spot {
            if perp_terms || option_terms || def.instrument.is_some() || def.positions_max.is_some() || def.open_interest_max.is_some() {
                return Err("a spot market takes no instrument, positions, open-interest cap, funding or option terms".into());
            }
            return Ok(None);
        }
        let instrument = def.instrument.as_deref().ok_or("a perp or option market names its instrument")?;
        if !model::is_identifier(instrument, model::NAME_LEN_MAX as usize) {
            return Err(format!("instrument: 1 to {} of A-Z a-z 0-9 _ - . @", model::NAME_LEN_MAX));
        }
        let positions_max = def.positions_max.filter(|n| *n > 0).ok_or("positions_max: required and positive")?;
        let open_interest_max = def.open_interest_max.as_deref().map(open_interest_cap).transpose()?;
        let spec = ContractSpec::new(model::DERIVATIVE_DECIMALS, quote_scale.decimals()).map_err(|e| e.to_string())?;
        let unit_e18 = 10i128.pow(u32::from(clearing::E18_DECIMALS - quote_scale.decimals()));
        let contract = match def.kind {
            model::MarketKind::Perp if !option_terms => perp_contract(def)?,
            model::MarketKind::Option if !perp_terms => option_contract(def, quote_scale, unit_e18)?,
            _ => return Err("perps take funding terms only, options strike, expiry, right and twap_window_ms only".into()),
        };
        let derivative = Derivative {
            contract,
            spec,
            unit_e18,
            positions_max,
            last_funding_ms: None,
            expiry: Expiry::Live,
            holders: 0,
            open_interest: 0,
            open_interest_max,
            premium: crate::funding::PremiumAverage::default(),
            indices: crate::settle::MarketIndices::default(),
        };
        Ok(Some(derivative))
    }

    pub fn is_option(&self) -> bool {
        matches!(self.contract, Contract::Option { .. })
    }
}

/// `open_interest_max`: a positive decimal in whole underlying units, on the 10^-9 grid.
fn open_interest_cap(text: &str) -> Result<i128, String> {
    let scale = Scale::new(model::DERIVATIVE_DECIMALS).map_err(|e| e.to_string())?;
    let cap = money::parse_decimal(text, scale).map_err(|e| format!("open_interest_max: {e}"))?;
    if cap <= 0 {
        return Err("open_interest_max: must be positive".into());
    }
    Ok(cap)
}

fn perp_contract(def: &model::Market) -> Result<Contract, String> {
    let interval_ms = def.funding_interval_ms.filter(|n| *n > 0).ok_or("funding_interval_ms: required and positive")?;
    let cap_bps = def.funding_cap_bps.filter(|n| (1..=10_000).contains(n)).ok_or("funding_cap_bps: required, 1 to 10000")?;
    // The rate is the premium itself, capped: no interest component and no damper.
    let cap_e18 = i128::from(cap_bps) * (ONE_E18 / 10_000);
    let params = FundingParams::new(interval_ms, interval_ms, 0, 0, cap_e18).map_err(|e| e.to_string())?;
    Ok(Contract::Perp { params })
}

fn option_contract(def: &model::Market, quote_scale: Scale, unit_e18: i128) -> Result<Contract, String> {
    let strike_text = def.strike.as_deref().ok_or("strike: required for an option")?;
    let expiry_text = def.expiry.as_deref().ok_or("expiry: required for an option")?;
    for (field, text) in [("strike", strike_text), ("expiry", expiry_text)] {
        if text.is_empty() || text.len() > FIELD_BYTES_MAX || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("{field}: 1 to {FIELD_BYTES_MAX} visible ASCII characters"));
        }
    }
    let strike_units = Amount::parse(strike_text, quote_scale).map_err(|e| format!("strike: {e}"))?.units();
    if strike_units <= 0 {
        return Err("strike must be positive".into());
    }
    let strike = Price(strike_units.checked_mul(unit_e18).ok_or("strike out of range")?);
    let expiry_ms = model::parse_datetime_ms(expiry_text).map_err(|e| format!("expiry: {e}"))?;
    let expiry_ms = u64::try_from(expiry_ms).map_err(|_| "expiry before 1970")?;
    let window_ms = def.twap_window_ms.filter(|n| *n > 0 && *n <= expiry_ms).ok_or("twap_window_ms: required, positive, after 1970")?;
    let kind = match def.right.ok_or("right: required for an option")? {
        model::OptionRight::Call => OptionKind::Call,
        model::OptionRight::Put => OptionKind::Put,
    };
    Ok(Contract::Option { kind, strike, expiry_ms, window_ms })
}

/// The hash of one position in the multiset digest of positions.
pub(crate) fn position_hash(account: AccountIdx, m: u16, position: PerpPosition, at: &SettledAt) -> [u8; 32] {
    let mut bytes = [0u8; 4 + 2 + 16 + 16 + 48];
    bytes[0..4].copy_from_slice(&account.0.to_le_bytes());
    bytes[4..6].copy_from_slice(&m.to_le_bytes());
    bytes[6..22].copy_from_slice(&position.quantity.to_le_bytes());
    bytes[22..38].copy_from_slice(&position.cost_e18.to_le_bytes());
    bytes[38..86].copy_from_slice(&at.bytes());
    *blake3::hash(&bytes).as_bytes()
}

/// A derivative position as reported: quantity of the underlying (decimal, signed) and its
/// entry cost in the settlement asset (rounded up).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PositionView {
    pub market: String,
    pub instrument: String,
    pub qty: String,
    pub entry_cost: String,
}

impl Engine {
    /// An account's derivative positions, by market.
    pub fn positions_of(&self, account: &str) -> Result<Vec<PositionView>, EngineError> {
        let idx = *self.account_index.get(account).ok_or_else(|| EngineError::UnknownAccount { account: account.into() })?;
        let views = self.positions.range((idx, 0)..=(idx, u16::MAX)).map(|(&(_, m), p)| {
            let market = &self.markets[m as usize];
            let d = market.derivative.as_ref().expect("positions exist on derivative markets only");
            let cost = d.spec.to_settlement_units(p.cost_e18, Rounding::Ceil).unwrap_or(i128::MAX);
            PositionView {
                market: market.def.id.clone(),
                instrument: market.def.instrument.clone().unwrap_or_default(),
                qty: money::format_decimal(p.quantity, market.base_scale),
                entry_cost: money::format_decimal(cost, self.assets[market.quote.0 as usize].scale),
            }
        });
        Ok(views.collect())
    }

    /// An account's derivative exposures for the margin engine: (instrument id, signed quantity
    /// in 10^-9 of a whole underlying unit), then (asset symbol, minus the debt) per borrow.
    pub fn derivative_exposures(&self, account: &str) -> Result<Vec<(String, i128)>, EngineError> {
        let idx = *self.account_index.get(account).ok_or_else(|| EngineError::UnknownAccount { account: account.into() })?;
        Ok(self.derivative_positions(idx).map(|(id, q)| (id.to_string(), q)).collect())
    }

    /// What an account owes the house in an asset, interest included, in the asset's units.
    pub fn debt(&self, account: &str, asset: &str) -> Result<i128, EngineError> {
        let idx = *self.account_index.get(account).ok_or_else(|| EngineError::UnknownAccount { account: account.into() })?;
        let asset = *self.asset_index.get(asset).ok_or_else(|| EngineError::UnknownAsset { symbol: asset.into() })?;
        Ok(self.debt_of(idx, asset))
    }

    /// A market's open interest (the sum of its long quantities) in 10^-9 of the underlying.
    pub fn open_interest(&self, market: &str) -> Result<i128, EngineError> {
        let m = self.market(market)?;
        Ok(self.markets[m as usize].derivative.as_ref().map_or(0, |d| d.open_interest))
    }

    /// Derivative positions of an account: (instrument id, signed quantity in 10^-9 of a whole
    /// underlying unit), then its borrows as (asset symbol, minus the debt in the asset's units).
    pub(crate) fn derivative_positions(&self, account: AccountIdx) -> impl Iterator<Item = (&str, i128)> {
        let positions = self.positions.range((account, 0)..=(account, u16::MAX)).map(|(&(_, m), p)| {
            let def = &self.markets[m as usize].def;
            (def.instrument.as_deref().unwrap_or(def.id.as_str()), p.quantity)
        });
        let borrows = self.borrows_of(account).map(|(asset, debt)| (self.assets[asset.0 as usize].symbol.as_str(), -debt));
        positions.chain(borrows)
    }

    /// An account's position on a market (flat when it has none).
    pub(crate) fn position(&self, account: AccountIdx, m: u16) -> PerpPosition {
        self.positions.get(&(account, m)).copied().unwrap_or(PerpPosition::FLAT)
    }

    /// Replaces a position after it settled (or as it opens), keeping the indices it settled
    /// at (current ones for a new position), the digest, the holder count and the open interest.
    pub(crate) fn set_position(&mut self, account: AccountIdx, m: u16, new: PerpPosition) {
        let d = self.markets[m as usize].derivative.as_ref().expect("positions exist on derivative markets only");
        let at = self.settled.get(&(account, m)).copied().unwrap_or_else(|| SettledAt::current(&d.indices));
        self.set_position_at(account, m, new, at);
    }

    /// Replaces a position and the indices it settled at.
    pub(crate) fn set_position_at(&mut self, account: AccountIdx, m: u16, new: PerpPosition, at: SettledAt) {
        let old = self.position(account, m);
        let epoch = self.markets[m as usize].derivative.as_ref().expect("a derivative market").indices.epoch;
        let mut behind: i64 = 0;
        if let Some(old_at) = self.settled.remove(&(account, m)) {
            self.positions_digest.remove(&position_hash(account, m, old, &old_at));
            behind -= i64::from(old_at.epoch != epoch);
        }
        if new.quantity != 0 {
            self.positions_digest.add(&position_hash(account, m, new, &at));
            self.positions.insert((account, m), new);
            self.settled.insert((account, m), at);
            behind += i64::from(at.epoch != epoch);
        } else {
            assert_eq!(new.cost_e18, 0, "a flat position has no cost");
            self.positions.remove(&(account, m));
        }
        let d = self.markets[m as usize].derivative.as_mut().expect("positions exist on derivative markets only");
        d.holders = d.holders + u32::from(new.quantity != 0) - u32::from(old.quantity != 0);
        d.open_interest += new.quantity.max(0) - old.quantity.max(0);
        d.indices.unsettled = u32::try_from(i64::from(d.indices.unsettled) + behind).expect("the unsettled count stays within the holders");
        assert!(d.holders <= d.positions_max, "positions within the market's limit");
        assert!(d.indices.unsettled <= d.holders, "unsettled positions are held");
        assert!(d.open_interest >= 0, "open interest is never negative");
    }

    /// Every derivative market's positions net to zero (the clearing account is the other side
    /// of each) and agree with its holder count and open interest.
    pub(crate) fn check_derivatives(&self) -> Result<(), String> {
        for (m, market) in self.markets.iter().enumerate() {
            let Some(d) = &market.derivative else { continue };
            let positions = self.market_positions(m as u16);
            let net: i128 = positions.iter().map(|(_, q)| q).sum();
            let long: i128 = positions.iter().map(|(_, q)| q.max(&0)).sum();
            if net != 0 || long != d.open_interest || positions.len() != d.holders as usize {
                return Err(format!("positions of {} net to {net}, open interest {long} vs {}", market.def.id, d.open_interest));
            }
        }
        if self.positions.keys().any(|(_, m)| self.markets[*m as usize].derivative.is_none()) {
            return Err("a position on a spot market".into());
        }
        Ok(())
    }

    /// The positions of a market in account order: (account, signed quantity).
    pub(crate) fn market_positions(&self, m: u16) -> Vec<(AccountIdx, i128)> {
        let mut positions: Vec<(AccountIdx, i128)> =
            self.positions.iter().filter(|((_, pm), _)| *pm == m).map(|(&(a, _), p)| (a, p.quantity)).collect();
        positions.sort_unstable();
        positions
    }

    /// An order may open positions only while the market has room for every account that
    /// could hold one after it: today's holders, every resting order's owner and the taker.
    pub(crate) fn check_derivative_order(&self, m: u16) -> Result<(), EngineError> {
        let market = &self.markets[m as usize];
        let Some(d) = &market.derivative else { return Ok(()) };
        if d.expiry != Expiry::Live {
            return Err(EngineError::OrderRefused { market: market.def.id.clone(), reason: "the option has expired".into() });
        }
        let possible = u64::from(d.holders) + market.book.len() as u64 + 1;
        if possible > u64::from(d.positions_max) {
            return Err(EngineError::LimitExceeded { limit: format!("positions_max of {}", market.def.id), max: d.positions_max.into() });
        }
        Ok(())
    }

    /// Settles one fill of a derivative market (see the module doc). Cannot fail: fees and
    /// premium were held, and whatever else is owed is lent by the house.
    pub(crate) fn settle_derivative_fill(&mut self, m: u16, fill: &book::Event, seq: u64, events: &mut Vec<Event>) {
        let book::Event::Fill { maker_account, taker_account, taker_side, price, qty, .. } = *fill else { return };
        let market = &self.markets[m as usize];
        let d = market.derivative.as_ref().expect("a derivative market");
        let (maker, taker) = (AccountIdx(maker_account.0), AccountIdx(taker_account.0));
        assert_ne!(maker, taker, "self-trade prevention keeps an account off both sides");
        let (buyer, seller) = if taker_side == book::Side::Buy { (taker, maker) } else { (maker, taker) };
        let quote = market.quote_amount(price, qty).expect("a quote amount within the hold fits");
        let fees = markets::fill_fees(market.fees, quote).expect("fees of a fitting amount");
        let (asset, units, is_option) = (market.quote, market.base_units(qty), d.is_option());
        let price_e18 = market.price_e18(price).expect("a book price converts to 18 decimals");
        let fees_account = self.account_index[FEES];
        self.pay(taker, fees_account, asset, fees.taker, Reason::Fee, seq, events);
        self.pay(maker, fees_account, asset, fees.maker, Reason::Fee, seq, events);
        if fees.maker < 0 {
            self.credit(fees_account, maker, asset, -fees.maker, Reason::Fee, seq, events);
        }
        self.fee_share_to_insurance(asset, fees.taker, fees.maker, seq);
        if is_option {
            self.pay(buyer, seller, asset, quote, Reason::Trade, seq, events);
        }
        self.fill_position(m, buyer, units, price_e18, seq, events);
        self.fill_position(m, seller, -units, price_e18, seq, events);
    }

    /// One side of a fill: the position moves; on a perp, what it realises is settled.
    pub(crate) fn fill_position(
        &mut self,
        m: u16,
        account: AccountIdx,
        quantity: i128,
        price_e18: i128,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        // A fill touches the position: what is pending settles first, at the indices.
        self.settle_position(account, m, seq, events).expect("pending amounts of a position within the market's sizes fit");
        let d = self.markets[m as usize].derivative.as_ref().expect("a derivative market");
        let (spec, is_option) = (d.spec, d.is_option());
        let before = self.position(account, m);
        let result = before.apply_fill(quantity, Price(price_e18), spec).expect("a position within the market's sizes and prices");
        // An option's premium changed hands in full at the fill: its cost is for reports only.
        let realised = if is_option { 0 } else { result.realised };
        self.set_position(account, m, result.position);
        let market = &self.markets[m as usize];
        let quote_scale = self.assets[market.quote.0 as usize].scale;
        events.push(Event::PositionChanged {
            seq,
            market: market.def.id.clone(),
            account: self.account_names[account.0 as usize].clone(),
            qty: money::format_decimal(result.position.quantity, market.base_scale),
            entry_cost: money::format_decimal(spec.to_settlement_units(result.position.cost_e18, Rounding::Ceil).unwrap_or(0), quote_scale),
            realised: money::format_decimal(realised, quote_scale),
        });
        if realised != 0 {
            // The event follows the payment, so a borrow it needed is reported before it.
            let event = self.settled_event(m, account, realised, price_e18, SettleReason::Fill, seq);
            self.settle_with_clearing(m, account, realised, Reason::Settlement, event, seq, events);
        }
    }

    /// Pays `amount` (signed: positive received) between an account and the market's clearing
    /// account in the settlement asset, reporting `event` in the order a statement reads: a
    /// borrow the payment needed, the payment, then a repayment the credit allowed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn settle_with_clearing(
        &mut self,
        m: u16,
        account: AccountIdx,
        amount: i128,
        reason: Reason,
        event: Event,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        let asset = self.markets[m as usize].quote;
        let clearing = self.account_index[&clearing_account(&self.markets[m as usize].def.id)];
        if amount < 0 {
            self.pay(account, clearing, asset, -amount, reason, seq, events);
        }
        if amount > 0 {
            let t = Transfer { debit: clearing, credit: account, asset, amount, reason, command_seq: seq };
            self.ledger.post(&t).expect("a clearing account may go negative and a credit fits what custody holds");
        }
        events.push(event);
        self.repay_borrow(account, asset, seq, events);
    }

    /// A `Settled` event: `amount` (signed, settlement units) at `price_e18` (18 decimals).
    pub(crate) fn settled_event(
        &self,
        m: u16,
        account: AccountIdx,
        amount: i128,
        price_e18: i128,
        reason: SettleReason,
        seq: u64,
    ) -> Event {
        let market = &self.markets[m as usize];
        let scale = self.assets[market.quote.0 as usize].scale;
        let unit_e18 = market.derivative.as_ref().expect("a derivative market").unit_e18;
        Event::Settled {
            seq,
            market: market.def.id.clone(),
            account: self.account_names[account.0 as usize].clone(),
            asset: self.assets[market.quote.0 as usize].symbol.clone(),
            amount: money::format_decimal(amount, scale),
            price: money::format_decimal(price_e18 / unit_e18, scale),
            reason: reason.as_str().into(),
        }
    }

    /// Posts a credit from a broker account (which may go negative) and lets the receiver
    /// repay what it borrowed first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn credit(
        &mut self,
        from: AccountIdx,
        to: AccountIdx,
        asset: AssetIdx,
        amount: i128,
        reason: Reason,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        if amount <= 0 {
            return;
        }
        let t = Transfer { debit: from, credit: to, asset, amount, reason, command_seq: seq };
        self.ledger.post(&t).expect("a broker account may go negative and a credit fits what custody holds");
        self.repay_borrow(to, asset, seq, events);
    }

    /// What the open orders of `account` will hold again in `asset` after the book command being
    /// settled (its holds were released for the command and are not free to pay with).
    fn holds_to_retake(&self, account: AccountIdx, asset: AssetIdx) -> i128 {
        let Some(m) = self.settling_book else { return 0 };
        let holds = self.markets[m as usize].holds_of(account).expect("holds of accepted orders were computed when they were taken");
        holds.iter().filter(|(a, _)| *a == asset).map(|(_, h)| h).sum()
    }

    /// Posts a payment; whatever the payer's available balance lacks is lent by the house
    /// first, so the payment always goes through and no trader balance goes below zero.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pay(
        &mut self,
        from: AccountIdx,
        to: AccountIdx,
        asset: AssetIdx,
        amount: i128,
        reason: Reason,
        seq: u64,
        events: &mut Vec<Event>,
    ) {
        if amount <= 0 {
            return;
        }
        if self.account_kinds[from.0 as usize] == AccountKind::Trader {
            let available = self.ledger.balance(from, asset).available() - self.holds_to_retake(from, asset);
            if available < amount {
                self.borrow(from, asset, amount - available.max(0), seq, events);
            }
        }
        let t = Transfer { debit: from, credit: to, asset, amount, reason, command_seq: seq };
        self.ledger.post(&t).expect("the shortfall was borrowed just before");
        if self.account_kinds[to.0 as usize] == AccountKind::Trader {
            self.repay_borrow(to, asset, seq, events);
        }
    }
}

/// Why a derivative position settled with its clearing account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SettleReason {
    Fill,
    MarkToMarket,
    Expiry,
    Socialised,
}

impl SettleReason {
    fn as_str(self) -> &'static str {
        match self {
            SettleReason::Fill => "fill",
            SettleReason::MarkToMarket => "mark_to_market",
            SettleReason::Expiry => "expiry",
            SettleReason::Socialised => "socialised",
        }
    }
}
