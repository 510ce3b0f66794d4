//! Token legs in liquidation (docs/liquidation.md, "Token legs"): the token legs of a hedge with
//! perps (a basis) or held alone, spot collateral the account holds (a long) or what it borrowed of an asset
//! (a short), are closed by `@house` at once, at the guarded index less the penalty, paid in the
//! quote of the asset's spot market:
//!
//! ```text
//! P_sell = min(oracle, stable) (closing a long),  P_buy = max(oracle, stable) (a borrow)
//! value  = q x P / P_quote in quote units (down for a sale, up for a buy-back)
//! penalty = ceil(value x penalty_bps / 10^4): insurance_ppm of it to `@insurance`, the rest
//!           to `@house` (the filler)
//! ```
//!
//! A sale moves `q` of the asset from the account to `@house` and `value` of the quote back; a
//! buy-back moves `value` of the quote to `@house` and `q` of the asset to the account, which
//! repays its borrow. The legs of a hedge with a token leg (a basis: spot long, perp short) are
//! closed together in the same command: the perp leg is opened as an auction and handed to the
//! house at once. Everything is checked before anything moves (prices, the house's
//! `positions_max` for a perp leg, the result record's room); a group that cannot move is left
//! whole with a `liquidation_deferred` reason. The house pays from its capital as it does for a
//! perp takeover or a borrow: an empty house goes below zero in the quote, explicitly (the
//! transfers and the `token_leg_taken_over` event), holding the token in exchange.
//! A token held alone (or a borrow held alone) closes the same way, without a perp leg. Option
//! legs are closed by [`crate::liquidate_options`].

use crate::liquidate_options::{OptionClose, OptionLeg};
use crate::*;
use ledger::Reason;
use liquidation::auction;
use margin_core::{InstrumentIx, Position, RiskModel, Scaling};
use money::{Amount, Rounding, UsdValue, mul_div};

/// A token the liquidation can close: the asset, its model instrument and the spot market whose
/// quote pays for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenLeg {
    pub asset: AssetIdx,
    pub quote: AssetIdx,
    pub instrument: InstrumentIx,
}

/// A token close priced and checked, ready to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenClose {
    pub leg: TokenLeg,
    /// Signed, opposite to the holding (negative sells a long).
    pub qty: i128,
    /// Quote units per whole asset unit (collateral price over the quote's price), 18 decimals.
    pub price_usd: UsdPrice,
    pub value: i128,
    pub to_insurance: i128,
    pub to_house: i128,
}

/// Bytes one token close adds to a result: the takeover, two exchange transfers, two penalty
/// transfers, and a borrow change with its accrued interest on each side.
pub(crate) fn token_close_bytes() -> u64 {
    8 * limits::liquidation_movement_bytes()
}

impl Engine {
    /// Tokens of the model that have a spot market (not fixed-value instruments such as the
    /// stablecoin that pays for them).
    pub(crate) fn token_legs(&self, model: &RiskModel) -> Vec<TokenLeg> {
        let mut out = Vec::new();
        for market in self.markets.iter().filter(|m| m.derivative.is_none()) {
            let symbol = &self.assets[market.base.0 as usize].symbol;
            let Some(instrument) = model.instrument(symbol) else { continue };
            let linear = model.instruments.get(instrument.0 as usize).is_some_and(|a| !matches!(a.scaling, Scaling::Fixed));
            if linear && !out.iter().any(|l: &TokenLeg| l.asset == market.base) {
                out.push(TokenLeg { asset: market.base, quote: market.quote, instrument });
            }
        }
        out
    }

    /// The notional of a token position at its guarded price, rounded up (10^-18 USD).
    pub(crate) fn token_notional(&self, leg: &TokenLeg, qty: i128) -> Result<i128, EngineError> {
        let info = &self.assets[leg.asset.0 as usize];
        let (_, high) = self.collateral_bounds(&info.symbol).ok_or_else(|| EngineError::MissingPrice { symbol: info.symbol.clone() })?;
        Ok(money::value_usd(Amount(qty.abs()), info.scale, high, Rounding::Ceil).map_err(|_| overflow("token notional"))?.0)
    }

    /// Prices a token close: the exchange value and the penalty on it.
    pub(crate) fn price_token_close(&self, config: &model::LiquidationConfig, leg: TokenLeg, qty: i128) -> Result<TokenClose, EngineError> {
        let (info, quote) = (&self.assets[leg.asset.0 as usize], &self.assets[leg.quote.0 as usize]);
        let missing = |s: &str| EngineError::MissingPrice { symbol: s.into() };
        let (low, high) = self.collateral_bounds(&info.symbol).ok_or_else(|| missing(&info.symbol))?;
        let (quote_usd, _) = self.prices.get(&quote.symbol).copied().ok_or_else(|| missing(&quote.symbol))?;
        let sale = qty < 0;
        let (price, rounding) = if sale { (low, Rounding::Floor) } else { (high, Rounding::Ceil) };
        let usd = money::value_usd(Amount(qty.abs()), info.scale, price, rounding).map_err(|_| overflow("token value"))?;
        let value = money::amount_for_value(usd, quote.scale, quote_usd, rounding).map_err(|_| overflow("token value"))?.0;
        let (to_insurance, to_house) = auction::penalty(&liquidate::auction_params(config), value)
            .map_err(|e| EngineError::LiquidationFailed { why: e.to_string() })?;
        let price_usd = UsdPrice(mul_div(price.0, 1_000_000_000_000_000_000, quote_usd.0, rounding).map_err(|_| overflow("token price"))?);
        Ok(TokenClose { leg, qty, price_usd, value, to_insurance, to_house })
    }

    /// Moves a priced token close: the exchange with `@house`, then the penalty. The account's
    /// holding of the asset moves by `qty` exactly (asserted).
    pub(crate) fn close_token(&mut self, account: AccountIdx, c: &TokenClose, seq: u64, events: &mut Vec<Event>) {
        let (house, insurance) = (self.account_index[HOUSE], self.account_index[INSURANCE]);
        let before = self.holdings_of(account).map(|h| h[c.leg.asset.0 as usize]).expect("a liquidated account's holdings");
        if c.qty < 0 {
            self.pay_reported(account, house, c.leg.asset, -c.qty, Reason::Trade, seq, events);
            self.pay_reported(house, account, c.leg.quote, c.value, Reason::Trade, seq, events);
        } else {
            self.pay_reported(account, house, c.leg.quote, c.value, Reason::Trade, seq, events);
            self.pay_reported(house, account, c.leg.asset, c.qty, Reason::Trade, seq, events);
        }
        self.pay_reported(account, insurance, c.leg.quote, c.to_insurance, Reason::LiquidationPenalty, seq, events);
        self.pay_reported(account, house, c.leg.quote, c.to_house, Reason::LiquidationPenalty, seq, events);
        let after = self.holdings_of(account).map(|h| h[c.leg.asset.0 as usize]).expect("a liquidated account's holdings");
        assert_eq!(after - before, c.qty, "a token close moves exactly the closed quantity");
        *self.liq.cases.entry(account).or_default().penalties.entry(c.leg.quote).or_insert(0) += c.to_insurance;
        let (info, quote) = (&self.assets[c.leg.asset.0 as usize], &self.assets[c.leg.quote.0 as usize]);
        events.push(Event::TokenLegTakenOver {
            seq,
            account: self.account_names[account.0 as usize].clone(),
            asset: info.symbol.clone(),
            side: if c.qty < 0 { "sell" } else { "buy" }.into(),
            qty: money::format_decimal(c.qty.abs(), info.scale),
            price: UsdValue(c.price_usd.0).to_string(),
            value: money::format_decimal(c.value, quote.scale),
            penalty: money::format_decimal(c.to_insurance + c.to_house, quote.scale),
            insurance_share: money::format_decimal(c.to_insurance, quote.scale),
        });
    }

    /// The house takes over a perp leg of a hedge at once: an auction opened and handed to the
    /// house in the same command (its events as any takeover's).
    pub(crate) fn take_over_perp(
        &mut self,
        config: &model::LiquidationConfig,
        account: AccountIdx,
        m: u16,
        close: i128,
        seq: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let id = self.liq.next_auction_id;
        self.open_auction(config, account, m, close, seq, events)?;
        let mut a = self.liq.auctions[&id].auction.clone();
        let fill = auction::house_takeover(&mut a).map_err(|e| EngineError::LiquidationFailed { why: e.to_string() })?;
        let house = self.account_index[HOUSE];
        self.close_chunk(config, id, house, fill, seq, events);
        Ok(())
    }

    /// The closes of the groups with a token or option leg that can move now, group by group:
    /// its token and option closes priced, its perp and option legs within the house's
    /// `positions_max`. A group that cannot is left whole, and the first reason is returned (the
    /// account's other groups go on).
    pub(crate) fn immediate_closes(
        &self,
        config: &model::LiquidationConfig,
        model: &RiskModel,
        account: AccountIdx,
        chosen: &[(usize, Position)],
        legs: &Legs,
    ) -> Immediate {
        let mut out = Immediate::default();
        let groups: BTreeSet<usize> = chosen.iter().map(|(g, _)| *g).collect();
        for g in groups {
            let closes: Vec<Position> = chosen.iter().filter(|(x, _)| *x == g).map(|(_, c)| *c).collect();
            match self.price_group(config, model, account, &closes, legs) {
                Ok((tokens, options, perps)) => {
                    out.tokens.extend(tokens);
                    out.options.extend(options);
                    out.perps.extend(perps);
                }
                Err(EngineError::LiquidationFailed { why }) => {
                    out.why.get_or_insert(why);
                }
                Err(e) => {
                    out.why.get_or_insert(e.to_string());
                }
            }
        }
        out
    }

    /// One group's immediate closes, priced, with the house's room checked on every derivative
    /// leg it takes.
    #[allow(clippy::type_complexity)]
    fn price_group(
        &self,
        config: &model::LiquidationConfig,
        model: &RiskModel,
        account: AccountIdx,
        closes: &[Position],
        legs: &Legs,
    ) -> Result<(Vec<TokenClose>, Vec<OptionClose>, BTreeMap<u16, i128>), EngineError> {
        let house = self.account_index[HOUSE];
        let split = self.split_closes(closes, legs);
        let tokens = split.tokens.values().map(|(leg, q)| self.price_token_close(config, *leg, *q)).collect::<Result<Vec<_>, _>>()?;
        let options =
            split.options.values().map(|(leg, q)| self.price_option_close(config, model, *leg, *q)).collect::<Result<Vec<_>, _>>()?;
        let derivative_legs = split.perps.iter().map(|(m, q)| (*m, *q)).chain(split.options.iter().map(|(m, (_, q))| (*m, *q)));
        for (m, q) in derivative_legs {
            if !self.has_room(m, house, account, q.abs()) {
                let id = &self.markets[m as usize].def.id;
                return Err(EngineError::LiquidationFailed {
                    why: format!("positions_max of {id} reached: the house cannot take the hedge leg yet"),
                });
            }
        }
        Ok((tokens, options, split.perps))
    }

    /// Closes of `positions` (by instrument) split into perps (by market), tokens (by asset) and
    /// options (by market).
    pub(crate) fn split_closes(&self, closes: &[Position], legs: &Legs) -> Split {
        let mut split = Split::default();
        for c in closes {
            if let Some((_, m)) = legs.perps.iter().find(|(i, _)| *i == c.instrument) {
                *split.perps.entry(*m).or_insert(0) += c.qty;
            } else if let Some(leg) = legs.tokens.iter().find(|l| l.instrument == c.instrument) {
                split.tokens.entry(leg.asset).or_insert((*leg, 0)).1 += c.qty;
            } else if let Some(leg) = legs.options.iter().find(|l| l.instrument == c.instrument) {
                split.options.entry(leg.market).or_insert((*leg, 0)).1 += c.qty;
            }
        }
        split.perps.retain(|_, q| *q != 0);
        split.tokens.retain(|_, (_, q)| *q != 0);
        split.options.retain(|_, (_, q)| *q != 0);
        split
    }
}

/// The legs liquidation can close, by kind.
pub(crate) struct Legs {
    /// (model instrument, market).
    pub perps: Vec<(InstrumentIx, u16)>,
    pub tokens: Vec<TokenLeg>,
    pub options: Vec<OptionLeg>,
}

impl Legs {
    /// Whether a position is a leg liquidation closes at once through the house (a token or
    /// an option), not by auction.
    pub(crate) fn is_immediate(&self, p: &Position) -> bool {
        self.tokens.iter().any(|l| l.instrument == p.instrument) || self.options.iter().any(|l| l.instrument == p.instrument)
    }
}

/// Closes by kind: perps by market, tokens by asset, options by market.
#[derive(Debug, Default)]
pub(crate) struct Split {
    pub perps: BTreeMap<u16, i128>,
    pub tokens: BTreeMap<AssetIdx, (TokenLeg, i128)>,
    pub options: BTreeMap<u16, (OptionLeg, i128)>,
}

/// What a liquidation closes at once: token and option closes priced, the perp legs of their
/// hedges by market, and the first reason a group had to wait.
#[derive(Debug, Default)]
pub(crate) struct Immediate {
    pub tokens: Vec<TokenClose>,
    pub options: Vec<OptionClose>,
    pub perps: BTreeMap<u16, i128>,
    pub why: Option<String>,
}

fn overflow(what: &str) -> EngineError {
    EngineError::Overflow { what: what.into() }
}
