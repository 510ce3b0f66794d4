//! Option legs in liquidation (docs/liquidation.md, "Option legs"): the live option positions
//! of an account below maintenance are closed by `@house` at once, at the risk model's mark
//! (the value margin counts them at), and the account pays the penalty on the premium:
//!
//! ```text
//! mark   = value_musd of the instrument (USD per whole underlying) / the quote's USD price
//! P_buy  = mark rounded up   (buying back a short: the house never sells below the mark)
//! P_sell = mark rounded down (selling a long to the house)
//! value  = |q| x P in quote units (up for a buy-back, down for a sale)
//! penalty = ceil(value x penalty_bps / 10^4): insurance_ppm of it to `@insurance`, the rest to
//!           `@house` (the filler)
//! ```
//!
//! An option hedged by a delta-one leg on its underlying (a short call against a long perp or
//! spot, a long put against them) joins that leg's hedge group, so the two close together in
//! proportion or not at all. The option's delta sign is the sign of its quantity for a call,
//! the opposite for a put. Expired options are not closed here: they settle at expiry.

use crate::derivatives::{Contract, Expiry};
use crate::*;
use clearing::Price;
use clearing::options::OptionKind;
use ledger::Reason;
use liquidation::auction;
use liquidation::select;
use margin_core::{InstrumentIx, Position, RiskModel, Scaling};
use money::{Rounding, mul_div};

/// A live option position the liquidation can close: its market, model instrument, the model
/// underlying of its base (if the model prices the base linearly) and its right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptionLeg {
    pub market: u16,
    pub instrument: InstrumentIx,
    pub underlying: Option<u16>,
    pub call: bool,
}

/// An option close priced and checked, ready to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptionClose {
    pub leg: OptionLeg,
    /// Signed, opposite to the position (positive buys back a short), 10^-9 of the underlying.
    pub qty: i128,
    /// 18-decimal settlement units per whole underlying.
    pub price_e18: i128,
    pub value: i128,
    pub to_insurance: i128,
    pub to_house: i128,
}

/// Bytes one option close adds to a result: an auction chunk's worth (two position changes with
/// their settlements, two penalty payments, the takeover) and the premium's payment with its
/// borrow and repayment.
pub(crate) fn option_close_bytes() -> u64 {
    limits::liquidation_chunk_bytes() + 4 * limits::liquidation_movement_bytes()
}

/// The model underlying of a linear instrument.
fn underlying_of(model: &RiskModel, p: &Position) -> Option<u16> {
    match model.instruments.get(p.instrument.0 as usize).map(|a| a.scaling) {
        Some(Scaling::Linear { underlying }) => Some(underlying),
        _ => None,
    }
}

/// Hedge groups with options: the delta-one groups of `select::hedge_groups`, then each option
/// joins the first group holding a delta-one leg on its underlying of the opposite delta sign
/// (it hedges that leg), or stands alone.
pub(crate) fn groups_with_options(model: &RiskModel, positions: &[Position], options: &[OptionLeg]) -> Vec<Vec<Position>> {
    let option = |p: &Position| options.iter().find(|o| o.instrument == p.instrument).copied();
    let rest: Vec<Position> = positions.iter().filter(|p| option(p).is_none()).copied().collect();
    let mut groups = select::hedge_groups(model, &rest);
    for p in positions.iter().filter(|p| p.qty != 0) {
        let Some(leg) = option(p) else { continue };
        let delta_sign = if leg.call { p.qty.signum() } else { -p.qty.signum() };
        let hedges = |g: &Vec<Position>| {
            g.iter().any(|x| leg.underlying.is_some() && underlying_of(model, x) == leg.underlying && x.qty.signum() == -delta_sign)
        };
        match groups.iter().position(hedges) {
            Some(i) => groups[i].push(*p),
            None => groups.push(vec![*p]),
        }
    }
    groups
}

impl Engine {
    /// The account's live option positions.
    pub(crate) fn option_legs(&self, model: &RiskModel, account: AccountIdx) -> Result<Vec<OptionLeg>, EngineError> {
        let mut out = Vec::new();
        for (&(_, m), _) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            let market = &self.markets[m as usize];
            let Some(d) = market.derivative.as_ref() else { continue };
            let Contract::Option { kind, .. } = d.contract else { continue };
            if d.expiry != Expiry::Live {
                continue;
            }
            let (instrument, _) = self.market_instrument(model, m)?;
            let underlying = model.instrument(&market.def.base).and_then(|i| underlying_of(model, &Position { instrument: i, qty: 1 }));
            out.push(OptionLeg { market: m, instrument, underlying, call: kind == OptionKind::Call });
        }
        Ok(out)
    }

    /// Whether the account holds a live option.
    pub(crate) fn has_live_options(&self, account: AccountIdx) -> bool {
        self.positions.range((account, 0)..=(account, u16::MAX)).any(|(&(_, m), p)| {
            p.quantity != 0 && self.markets[m as usize].derivative.as_ref().is_some_and(|d| d.is_option() && d.expiry == Expiry::Live)
        })
    }

    /// The model's mark of an option in its settlement asset: 18-decimal units per whole
    /// underlying, rounded as `rounding` says.
    fn option_mark_e18(&self, model: &RiskModel, leg: &OptionLeg, rounding: Rounding) -> Result<i128, EngineError> {
        let market = &self.markets[leg.market as usize];
        let id = market.def.instrument.as_deref().unwrap_or(market.def.id.as_str());
        let missing = |s: &str| EngineError::MissingPrice { symbol: s.into() };
        let value_musd = model.charges.instruments.get(leg.instrument.0 as usize).map(|c| c.value_musd).ok_or_else(|| missing(id))?;
        if value_musd < 0 {
            return Err(EngineError::LiquidationFailed { why: format!("the model values {id} below zero") });
        }
        let quote = &self.assets[market.quote.0 as usize].symbol;
        let (quote_usd, _) = self.prices.get(quote).copied().ok_or_else(|| missing(quote))?;
        // micro-USD x 10^12 is an 18-decimal USD value; over the quote's 18-decimal USD price.
        let usd_e18 = i128::from(value_musd) * 1_000_000_000_000;
        mul_div(usd_e18, clearing::ONE_E18, quote_usd.0, rounding).map_err(|_| overflow("option mark"))
    }

    /// Prices an option close: the premium at the model's mark and the penalty on it.
    pub(crate) fn price_option_close(
        &self,
        config: &model::LiquidationConfig,
        model: &RiskModel,
        leg: OptionLeg,
        qty: i128,
    ) -> Result<OptionClose, EngineError> {
        let rounding = if qty > 0 { Rounding::Ceil } else { Rounding::Floor };
        let price_e18 = self.option_mark_e18(model, &leg, rounding)?;
        let d = self.markets[leg.market as usize].derivative.as_ref().expect("option legs are on derivative markets");
        let value = d.spec.settlement_value(qty.abs(), Price(price_e18), rounding).map_err(|_| overflow("option premium"))?;
        let (to_insurance, to_house) = auction::penalty(&liquidate::auction_params(config), value)
            .map_err(|e| EngineError::LiquidationFailed { why: e.to_string() })?;
        Ok(OptionClose { leg, qty, price_e18, value, to_insurance, to_house })
    }

    /// The notional a closing cost is charged on: the premium at the mark, rounded up.
    pub(crate) fn option_notional_usd(&self, model: &RiskModel, leg: &OptionLeg, qty: i128) -> Result<i128, EngineError> {
        let value_musd = model.charges.instruments.get(leg.instrument.0 as usize).map_or(0, |c| c.value_musd.max(0));
        // 10^-9 units x micro-USD = 10^-15 USD: times 1000 for 10^-18.
        qty.abs().checked_mul(i128::from(value_musd)).and_then(|v| v.checked_mul(1_000)).ok_or_else(|| overflow("option notional"))
    }

    /// Moves a priced option close: the premium, the position from the account to `@house` at
    /// the mark, then the penalty. The account's position moves by `qty` exactly (asserted).
    pub(crate) fn close_option(&mut self, account: AccountIdx, c: &OptionClose, seq: u64, events: &mut Vec<Event>) {
        let (house, insurance) = (self.account_index[HOUSE], self.account_index[INSURANCE]);
        let (m, quote) = (c.leg.market, self.markets[c.leg.market as usize].quote);
        let before = self.position(account, m).quantity;
        assert!(c.qty != 0 && before.signum() == -c.qty.signum() && c.qty.abs() <= before.abs(), "an option close reduces the position");
        if c.qty > 0 {
            self.pay_reported(account, house, quote, c.value, Reason::Trade, seq, events);
        } else {
            self.pay_reported(house, account, quote, c.value, Reason::Trade, seq, events);
        }
        self.fill_position(m, account, c.qty, c.price_e18, seq, events);
        self.fill_position(m, house, -c.qty, c.price_e18, seq, events);
        assert_eq!(self.position(account, m).quantity - before, c.qty, "an option close moves exactly the closed quantity");
        self.pay_reported(account, insurance, quote, c.to_insurance, Reason::LiquidationPenalty, seq, events);
        self.pay_reported(account, house, quote, c.to_house, Reason::LiquidationPenalty, seq, events);
        *self.liq.cases.entry(account).or_default().penalties.entry(quote).or_insert(0) += c.to_insurance;
        let market = &self.markets[m as usize];
        let scale = self.assets[quote.0 as usize].scale;
        events.push(Event::OptionLegTakenOver {
            seq,
            account: self.account_names[account.0 as usize].clone(),
            market: market.def.id.clone(),
            side: if c.qty < 0 { "sell" } else { "buy" }.into(),
            qty: money::format_decimal(c.qty.abs(), market.base_scale),
            price: self.format_price(m, c.price_e18),
            value: money::format_decimal(c.value, scale),
            penalty: money::format_decimal(c.to_insurance + c.to_house, scale),
            insurance_share: money::format_decimal(c.to_insurance, scale),
        });
    }
}

fn overflow(what: &str) -> EngineError {
    EngineError::Overflow { what: what.into() }
}
