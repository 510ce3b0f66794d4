//! The house's P&L in the crisis replay, by source (docs/crisis-replay.md, "The house's P&L by
//! source"). Every unit the house's cash (`@house` and `@house/<venue>`) gains or loses after the
//! opening is read from the engine's events and booked to one source; each source's cash is
//! valued at the end's prices and its holdings at the end are added (perps at the index, options
//! at the model's value, what accounts owe). The rows sum exactly to the total: the floors of the
//! valuations are a row of their own, and cash the events do not explain stops the replay.

use anyhow::{Context, Result, bail};
use engine::Event;
use engine::markets::OrderSide;
use model::{Config, MarketKind};
use money::Scale;
use std::collections::{BTreeMap, BTreeSet};

pub const CAPITAL: &str = "opening capital net of the fund's seed, revalued (USDC's print)";
pub const QUOTE: &str = "quote flow: traders' fills against the house's ETH/USDC quote";
pub const LP: &str = "LP hedgers' hourly rebalancing against the quote";
pub const TOKENS: &str = "liquidation: collateral taken over by the house";
pub const OPTIONS: &str = "liquidation: options taken over (premium, value at the end)";
pub const PERPS: &str = "liquidation: perps taken over (settlements, value at the end)";
pub const PENALTIES: &str = "liquidation penalties (the house's share)";
pub const FUNDING: &str = "funding on the house's perps";
pub const FEES: &str = "fees (paid to `@fees`, none to the house)";
pub const LENDING: &str = "lending: borrows less repayments, plus owed at the end (interest)";
pub const WATERFALL: &str = "waterfall steps paid by the house";
pub const VENUES: &str = "venue legs, realised on the ledger (`venue_settled`)";
pub const VENUES_OPEN: &str = "venue legs, unrealised at the end (off the ledger)";
pub const ROUNDING: &str = "valuation floors (rounding)";

/// The house's cash flows by (source, asset), in the asset's units.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Off until the opening's capital is measured.
    pub on: bool,
    /// The LP replicas' accounts: their fills are the LP source.
    pub replicas: BTreeSet<String>,
    pub cash: BTreeMap<(String, String), i128>,
    /// Per market: (base, quote, kind).
    markets: BTreeMap<String, (String, String, MarketKind)>,
}

/// `@house` or one of its venue accounts.
pub fn is_house(account: &str) -> bool {
    account == engine::HOUSE || account.strip_prefix(engine::HOUSE).is_some_and(|v| v.starts_with('/'))
}

fn units(amount: &str, decimals: &BTreeMap<String, u8>, asset: &str) -> Result<i128> {
    let d = decimals.get(asset).copied().with_context(|| format!("{asset}: an asset outside the configuration"))?;
    Ok(money::parse_decimal(amount, Scale::new(d)?)?)
}

impl Attribution {
    pub fn new(config: &Config) -> Attribution {
        let markets = config.markets.iter().map(|m| (m.id.clone(), (m.base.clone(), m.quote.clone(), m.kind))).collect();
        Attribution { markets, ..Attribution::default() }
    }

    fn book(&mut self, source: &str, asset: &str, amount: i128) {
        *self.cash.entry((source.to_string(), asset.to_string())).or_default() += amount;
    }

    fn market(&self, id: &str) -> Result<&(String, String, MarketKind)> {
        self.markets.get(id).with_context(|| format!("an event on an unknown market {id}"))
    }

    /// Books the house's cash in one applied command's events.
    pub fn record(&mut self, events: &[Event], decimals: &BTreeMap<String, u8>) -> Result<()> {
        if !self.on {
            return Ok(());
        }
        for (i, event) in events.iter().enumerate() {
            match event {
                Event::Transferred { debit, credit, asset, amount, reason } if is_house(debit) != is_house(credit) => {
                    let sign = if is_house(credit) { 1 } else { -1 };
                    let source = transfer_source(&format!("{reason:?}"), &events[i + 1..])?;
                    self.book(source, asset, sign * units(amount, decimals, asset)?);
                }
                Event::HouseFilled { market, account, side, qty, quote_amount, .. } => {
                    let (base, quote, _) = self.market(market)?.clone();
                    let source = if self.replicas.contains(account) { LP } else { QUOTE };
                    // `side` is the trader's: the house delivers what it buys.
                    let sign = if *side == OrderSide::Buy { 1 } else { -1 };
                    self.book(source, &base, -sign * units(qty, decimals, &base)?);
                    self.book(source, &quote, sign * units(quote_amount, decimals, &quote)?);
                }
                Event::BorrowChanged { asset, amount, .. } => self.book(LENDING, asset, -units(amount, decimals, asset)?),
                Event::Settled { market, account, asset, amount, .. } if is_house(account) => {
                    let source = if self.market(market)?.2 == MarketKind::Option { OPTIONS } else { PERPS };
                    self.book(source, asset, units(amount, decimals, asset)?);
                }
                Event::FundingPaid { account, asset, amount, .. } if is_house(account) => {
                    self.book(FUNDING, asset, units(amount, decimals, asset)?)
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Cash by asset over every source.
    pub fn cash_by_asset(&self) -> BTreeMap<String, i128> {
        let mut out = BTreeMap::new();
        for ((_, asset), v) in &self.cash {
            *out.entry(asset.clone()).or_insert(0) += v;
        }
        out
    }
}

/// A transfer's source by its reason; a trade is the takeover that the command reports next.
fn transfer_source(reason: &str, after: &[Event]) -> Result<&'static str> {
    Ok(match reason {
        "Trade" => match after.iter().find(|e| matches!(e, Event::OptionLegTakenOver { .. } | Event::TokenLegTakenOver { .. })) {
            Some(Event::OptionLegTakenOver { .. }) => OPTIONS,
            Some(_) => TOKENS,
            None => bail!("a trade with the house outside its quote and its takeovers"),
        },
        "LiquidationPenalty" => PENALTIES,
        "Fee" => FEES,
        "Waterfall" => WATERFALL,
        "Settlement" => PERPS,
        "Funding" => FUNDING,
        "VenueSettlement" | "VenueLiquidation" => VENUES,
        // The fund's seed: counted with the opening capital it came from.
        "InsuranceFunding" => CAPITAL,
        "Borrow" | "Repay" => LENDING,
        other => bail!("a transfer with the house for {other}, which the P&L does not attribute"),
    })
}

/// The house's holdings at the end besides its cash, by source (USD, 18 decimals).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Holdings {
    pub perps: i128,
    pub options: i128,
    pub owed: i128,
    pub venues_unrealised: i128,
}

/// The rows: each source's cash at the end's prices (`value`: units of an asset to USD, 18
/// decimals) plus its holdings; the opening capital's revaluation; the floors; the total.
pub fn rows(
    a: &Attribution,
    value: &dyn Fn(&str, i128) -> Result<i128>,
    opening: (&BTreeMap<String, i128>, i128),
    holdings: &Holdings,
    total: i128,
) -> Result<Vec<(&'static str, i128)>> {
    let order = [CAPITAL, QUOTE, LP, TOKENS, OPTIONS, PERPS, PENALTIES, FUNDING, FEES, LENDING, WATERFALL, VENUES, VENUES_OPEN];
    let mut out: Vec<(&'static str, i128)> = order.iter().map(|s| (*s, 0)).collect();
    for ((source, asset), units) in &a.cash {
        let slot = out.iter_mut().find(|(s, _)| s == source).context("a source outside the rows")?;
        slot.1 += value(asset, *units)?;
    }
    let add = |out: &mut Vec<(&'static str, i128)>, source: &str, v: i128| {
        if let Some(slot) = out.iter_mut().find(|(s, _)| *s == source) {
            slot.1 += v;
        }
    };
    // The opening balances at the end's prices less their value at the opening (the start).
    let (balances, start) = opening;
    let mut at_end = 0;
    for (asset, units) in balances {
        at_end += value(asset, *units)?;
    }
    add(&mut out, CAPITAL, at_end - start);
    add(&mut out, PERPS, holdings.perps);
    add(&mut out, OPTIONS, holdings.options);
    add(&mut out, LENDING, holdings.owed);
    add(&mut out, VENUES_OPEN, holdings.venues_unrealised);
    let explained: i128 = out.iter().map(|(_, v)| v).sum();
    out.push((ROUNDING, total - explained));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimals() -> BTreeMap<String, u8> {
        [("ETH".to_string(), 18), ("USDC".to_string(), 6)].into_iter().collect()
    }

    /// A transfer event as journalled (`reason` in snake case).
    fn transfer(debit: &str, credit: &str, asset: &str, amount: &str, reason: &str) -> Event {
        let json = serde_json::json!({"event": "transferred", "debit": debit, "credit": credit, "asset": asset, "amount": amount, "reason": reason});
        serde_json::from_value(json).unwrap()
    }

    /// A small episode built by hand: a trader buys 2 ETH at 101 from the quote, an LP replica
    /// sells 1 ETH at 99, the house lends 50 USDC (51 owed at the end), takes a short call over
    /// for a premium of 9 USDC plus a 0.5 USDC penalty, and a venue pays it 3 USDC. ETH ends at
    /// 90, USDC at 1; the call is worth -4 USD at the end. By hand: quote +202 - 2 x 90 = 22;
    /// LP -99 + 90 = -9; lending -50 + 51 = 1; options 9 - 4 = 5; penalties 0.5; venues 3; the
    /// opening 1,000 USDC unchanged at 1. Total 22.5, the floors 0.
    #[test]
    fn a_hand_built_episode_gives_hand_computed_parts() {
        let config = Config::default_config();
        let mut a = Attribution::new(&config);
        a.replicas.insert("lp/main".into());
        a.record(&[transfer("@custody/ethereum", "@house", "USDC", "5", "deposit")], &decimals()).unwrap();
        assert!(a.cash.is_empty(), "nothing is booked before the opening is measured");
        a.on = true;
        let fill = |account: &str, side, price: &str, qty: &str, quote: &str| Event::HouseFilled {
            market: "ETH/USDC".into(),
            account: account.into(),
            client_order_id: 1,
            side,
            price: price.into(),
            qty: qty.into(),
            quote_amount: quote.into(),
            fee: "0.1".into(),
        };
        let events = vec![
            fill("t/main", OrderSide::Buy, "101", "2", "202"),
            fill("lp/main", OrderSide::Sell, "99", "1", "99"),
            Event::BorrowChanged { seq: 3, account: "t/main".into(), asset: "USDC".into(), amount: "50".into(), debt: "50".into() },
            transfer("s/main", "@house", "USDC", "9", "trade"),
            transfer("s/main", "@insurance", "USDC", "0.5", "liquidation_penalty"),
            transfer("s/main", "@house", "USDC", "0.5", "liquidation_penalty"),
            Event::OptionLegTakenOver {
                seq: 4,
                account: "s/main".into(),
                market: "ETH-PERP".into(),
                side: "buy".into(),
                qty: "1".into(),
                price: "9".into(),
                value: "9".into(),
                penalty: "1".into(),
                insurance_share: "0.5".into(),
            },
            transfer("@house", "@house/dydx", "USDC", "100", "venue_collateral"),
            transfer("@custody/dydx", "@house/dydx", "USDC", "3", "venue_settlement"),
        ];
        a.record(&events, &decimals()).unwrap();
        assert_eq!(a.cash_by_asset()["ETH"], -1_000_000_000_000_000_000, "2 sold, 1 bought");
        assert_eq!(a.cash_by_asset()["USDC"], (202 - 99 - 50 + 9 + 3) * 1_000_000 + 500_000);
        let e18 = 1_000_000_000_000_000_000i128;
        let value = |asset: &str, units: i128| -> Result<i128> {
            Ok(match asset {
                "ETH" => units * 90,
                "USDC" => units * 1_000_000_000_000,
                _ => bail!("unpriced"),
            })
        };
        let opening: BTreeMap<String, i128> = [("USDC".to_string(), 1_000_000_000)].into_iter().collect();
        let holdings = Holdings { perps: 0, options: -4 * e18, owed: 51 * e18, venues_unrealised: 0 };
        let total = 22 * e18 + e18 / 2;
        let rows = rows(&a, &value, (&opening, 1_000 * e18), &holdings, total).unwrap();
        let get = |s: &str| rows.iter().find(|(k, _)| *k == s).unwrap().1;
        assert_eq!(get(QUOTE), 22 * e18);
        assert_eq!(get(LP), -9 * e18);
        assert_eq!(get(LENDING), e18);
        assert_eq!(get(OPTIONS), 5 * e18);
        assert_eq!(get(PENALTIES), e18 / 2);
        assert_eq!(get(VENUES), 3 * e18);
        assert_eq!(get(CAPITAL), 0);
        assert_eq!(get(ROUNDING), 0);
        assert_eq!(rows.iter().map(|(_, v)| v).sum::<i128>(), total, "the parts sum to the total");
    }

    #[test]
    fn a_trade_with_the_house_outside_its_quote_and_takeovers_is_an_error() {
        let mut a = Attribution::new(&Config::default_config());
        a.on = true;
        let stray = [transfer("x/main", "@house", "USDC", "1", "trade")];
        assert!(a.record(&stray, &decimals()).is_err());
        assert!(a.cash.is_empty());
    }
}
