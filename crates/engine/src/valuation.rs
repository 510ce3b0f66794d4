//! Valuation of an account at the engine's own oracle prices (`set_price`): each balance times
//! its asset's price, rounded down (what is counted as a client's collateral is never rounded
//! up). A balance whose asset has no price is an error, never a zero.

use crate::*;
use money::{Amount, Rounding, UsdValue};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValuedBalance {
    pub asset: String,
    pub amount: String,
    pub price_usd: String,
    /// When the price was set (engine time, ms).
    pub price_at_ms: u64,
    pub value_usd: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Valuation {
    pub account: String,
    pub balances: Vec<ValuedBalance>,
    /// Sum of the balances' values, each rounded down.
    pub total_usd: String,
}

impl Engine {
    /// Values every posted balance of an account at the engine's prices.
    pub fn valuation(&self, account: &str) -> Result<Valuation, EngineError> {
        let idx = *self.account_index.get(account).ok_or_else(|| EngineError::UnknownAccount { account: account.into() })?;
        let mut total = UsdValue(0);
        let mut balances = Vec::new();
        for asset in (0..self.assets.len()).map(|i| AssetIdx(i as u16)) {
            let posted = self.ledger.balance(idx, asset).posted;
            if posted == 0 {
                continue;
            }
            let info = &self.assets[asset.0 as usize];
            let (price, at_ms) =
                self.prices.get(&info.symbol).copied().ok_or_else(|| EngineError::MissingPrice { symbol: info.symbol.clone() })?;
            let overflow = || EngineError::Overflow { what: format!("value of {account} in {}", info.symbol) };
            let value = money::value_usd(Amount(posted), info.scale, price, Rounding::Floor).map_err(|_| overflow())?;
            total = UsdValue(total.0.checked_add(value.0).ok_or_else(overflow)?);
            balances.push(ValuedBalance {
                asset: info.symbol.clone(),
                amount: self.format(asset, posted),
                price_usd: price.to_string(),
                price_at_ms: at_ms,
                value_usd: value.to_string(),
            });
        }
        Ok(Valuation { account: account.into(), balances, total_usd: total.to_string() })
    }

    /// Trader account names, in creation order.
    pub fn trader_accounts(&self) -> impl Iterator<Item = &str> {
        self.account_names.iter().zip(&self.account_kinds).filter(|(_, k)| **k == AccountKind::Trader).map(|(n, _)| n.as_str())
    }
}
