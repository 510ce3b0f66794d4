//! What the service remembers of the event stream since it started, bounded: each account's
//! fills, each market's public trades, and the insurance fund's balance over time. The journal
//! stays the record; this is a window for the API and the dashboard.

use engine::Event;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Fills kept per account, trades per market, insurance samples.
pub const FILLS_PER_ACCOUNT_MAX: usize = 1000;
pub const TRADES_PER_MARKET_MAX: usize = 1000;
pub const INSURANCE_SAMPLES_MAX: usize = 2000;
/// Liquidation, auction and waterfall events kept.
pub const LIQUIDATION_EVENTS_MAX: usize = 1000;
/// Accounts whose funding is summed (beyond it the first account by name is forgotten).
pub const ACCOUNTS_WITH_FUNDING_MAX: usize = 100_000;
/// Funding sums are kept at 18 decimals (every asset has at most 18): exact.
pub const FUNDING_SCALE: money::Scale = money::USD_SCALE;

/// Accounts whose fills are kept (the oldest account's window is dropped beyond it).
pub const ACCOUNTS_WITH_FILLS_MAX: usize = 100_000;

/// One fill as its account sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Fill {
    pub seq: u64,
    pub market: String,
    pub order_id: u64,
    pub side: String,
    pub liquidity: String,
    pub price: String,
    pub qty: String,
    pub quote_amount: String,
    pub fee: String,
}

/// A public trade: no order ids, no owners.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Trade {
    pub seq: u64,
    pub market: String,
    pub price: String,
    pub qty: String,
    pub taker_side: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InsuranceSample {
    pub time_ms: u64,
    pub value_usd: String,
}

#[derive(Debug, Default)]
pub struct History {
    fills: BTreeMap<String, VecDeque<Fill>>,
    trades: BTreeMap<String, VecDeque<Trade>>,
    insurance: VecDeque<InsuranceSample>,
    liquidations: VecDeque<serde_json::Value>,
    /// account -> (market, asset) -> funding received (negative paid) at [`FUNDING_SCALE`].
    funding: BTreeMap<String, BTreeMap<(String, String), i128>>,
}

/// True for an event of the liquidation machinery, by its kind's name (read generically, so
/// kinds added by the engine later appear without a change here).
pub fn is_liquidation_kind(kind: &str) -> bool {
    ["liquidat", "auction", "waterfall", "insurance"].iter().any(|k| kind.contains(k))
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, max: usize) {
    if queue.len() >= max {
        queue.pop_front();
    }
    queue.push_back(item);
    assert!(queue.len() <= max, "bounded history");
}

fn side_name(side: engine::markets::OrderSide) -> &'static str {
    match side {
        engine::markets::OrderSide::Buy => "buy",
        engine::markets::OrderSide::Sell => "sell",
    }
}

fn opposite(side: engine::markets::OrderSide) -> &'static str {
    match side {
        engine::markets::OrderSide::Buy => "sell",
        engine::markets::OrderSide::Sell => "buy",
    }
}

impl History {
    pub fn record(&mut self, events: &[(u64, Event)]) {
        for (seq, event) in events {
            self.record_other(*seq, event);
            if let Event::OrderFilled {
                market,
                maker_order_id,
                maker_account,
                taker_order_id,
                taker_account,
                taker_side,
                price,
                qty,
                quote_amount,
                maker_fee,
                taker_fee,
            } = event
            {
                let fill = |order_id: u64, side: &str, liquidity: &str, fee: &str| Fill {
                    seq: *seq,
                    market: market.clone(),
                    order_id,
                    side: side.into(),
                    liquidity: liquidity.into(),
                    price: price.clone(),
                    qty: qty.clone(),
                    quote_amount: quote_amount.clone(),
                    fee: fee.into(),
                };
                self.push_fill(taker_account, fill(*taker_order_id, side_name(*taker_side), "taker", taker_fee));
                self.push_fill(maker_account, fill(*maker_order_id, opposite(*taker_side), "maker", maker_fee));
                let trade = Trade {
                    seq: *seq,
                    market: market.clone(),
                    price: price.clone(),
                    qty: qty.clone(),
                    taker_side: side_name(*taker_side).into(),
                };
                push_bounded(self.trades.entry(market.clone()).or_default(), trade, TRADES_PER_MARKET_MAX);
            }
        }
    }

    /// Funding sums and liquidation-kind events (every event but fills is looked at by kind).
    fn record_other(&mut self, seq: u64, event: &Event) {
        match event {
            // The kinds known today that are not liquidation's are skipped without serialising
            // them (the writer's hot path); any other kind is looked at by its name.
            Event::Initialised { .. }
            | Event::ConfigChanged { .. }
            | Event::PrincipalRegistered { .. }
            | Event::AccountCreated { .. }
            | Event::Transferred { .. }
            | Event::WithdrawalPending { .. }
            | Event::WithdrawalConfirmed { .. }
            | Event::WithdrawalVoided { .. }
            | Event::WithdrawalOverdue { .. }
            | Event::PriceSet { .. }
            | Event::OrderAccepted { .. }
            | Event::OrderFilled { .. }
            | Event::OrderRested { .. }
            | Event::OrderReduced { .. }
            | Event::OrderCancelled { .. }
            | Event::OrderAmended { .. }
            | Event::HoldSet { .. }
            | Event::TimeAdvanced { .. }
            | Event::RiskModelPartReceived { .. }
            | Event::RiskModelInstalled { .. }
            | Event::HouseFilled { .. }
            | Event::HouseExposureChanged { .. }
            | Event::HealthChanged { .. }
            | Event::PositionChanged { .. }
            | Event::Settled { .. }
            | Event::BorrowChanged { .. }
            | Event::InterestAccrued { .. }
            | Event::OptionExpired { .. }
            | Event::OptionExpiryFailed { .. }
            | Event::FundingIndexMoved { .. } => {}
            Event::FundingPaid { market, account, asset, amount, .. } => {
                let Ok(units) = money::parse_decimal(amount, FUNDING_SCALE) else { return };
                if !self.funding.contains_key(account) && self.funding.len() >= ACCOUNTS_WITH_FUNDING_MAX {
                    self.funding.pop_first();
                }
                let slot = self.funding.entry(account.clone()).or_default().entry((market.clone(), asset.clone())).or_insert(0);
                *slot = slot.saturating_add(units);
            }
            // Every kind of today is listed above; kinds the engine adds later (liquidation,
            // auction, waterfall) arrive here.
            #[allow(unreachable_patterns)]
            other => {
                let Ok(value) = serde_json::to_value(other) else { return };
                let kind = value.get("event").and_then(|k| k.as_str()).unwrap_or_default();
                if is_liquidation_kind(kind) {
                    let record = serde_json::json!({ "seq": seq, "kind": kind, "event": value });
                    push_bounded(&mut self.liquidations, record, LIQUIDATION_EVENTS_MAX);
                }
            }
        }
    }

    /// Liquidation-kind events, newest first, at most `limit`.
    pub fn liquidations(&self, limit: usize) -> Vec<serde_json::Value> {
        self.liquidations.iter().rev().take(limit).cloned().collect()
    }

    /// Funding received (negative paid) by an account, per (market, asset), at [`FUNDING_SCALE`].
    pub fn funding(&self, account: &str) -> BTreeMap<(String, String), i128> {
        self.funding.get(account).cloned().unwrap_or_default()
    }

    fn push_fill(&mut self, account: &str, fill: Fill) {
        if !self.fills.contains_key(account) && self.fills.len() >= ACCOUNTS_WITH_FILLS_MAX {
            // Bounded: forget the first account by name (a restart forgets all of them anyway).
            let first = self.fills.keys().next().cloned();
            if let Some(first) = first {
                self.fills.remove(&first);
            }
        }
        push_bounded(self.fills.entry(account.to_string()).or_default(), fill, FILLS_PER_ACCOUNT_MAX);
    }

    pub fn sample_insurance(&mut self, time_ms: u64, value_usd: String) {
        push_bounded(&mut self.insurance, InsuranceSample { time_ms, value_usd }, INSURANCE_SAMPLES_MAX);
    }

    /// Newest first, at most `limit`.
    pub fn fills(&self, account: &str, limit: usize) -> Vec<Fill> {
        self.fills.get(account).map(|q| q.iter().rev().take(limit).cloned().collect()).unwrap_or_default()
    }

    pub fn trades(&self, market: &str, limit: usize) -> Vec<Trade> {
        self.trades.get(market).map(|q| q.iter().rev().take(limit).cloned().collect()).unwrap_or_default()
    }

    pub fn insurance(&self) -> Vec<InsuranceSample> {
        self.insurance.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liquidation_kinds_are_told_by_name() {
        for kind in ["liquidation_started", "auction_settled", "waterfall_step", "insurance_fund_drawn"] {
            assert!(is_liquidation_kind(kind), "{kind}");
        }
        for kind in ["order_filled", "funding_paid", "health_changed", "settled"] {
            assert!(!is_liquidation_kind(kind), "{kind}");
        }
    }

    #[test]
    fn funding_is_summed_exactly_per_market_and_asset() {
        let paid = |amount: &str| Event::FundingPaid {
            seq: 1,
            market: "ETH-PERP".into(),
            account: "alice/main".into(),
            asset: "USDC".into(),
            amount: amount.into(),
            rate: "0".into(),
        };
        let mut h = History::default();
        h.record(&[(1, paid("-1.000001")), (2, paid("0.25")), (3, paid("-0.1"))]);
        let sums = h.funding("alice/main");
        assert_eq!(sums.get(&("ETH-PERP".into(), "USDC".into())), Some(&-850_001_000_000_000_000), "-0.850001 at 18 decimals");
        assert!(h.funding("bob/main").is_empty());
        assert!(h.liquidations(10).is_empty(), "funding is not a liquidation event");
    }
}
