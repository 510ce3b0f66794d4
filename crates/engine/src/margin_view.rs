//! Read-only margin views for readers such as the network service: an account's margin from
//! the model in force, explained (the charges beside the market loss and each position's
//! standalone requirement), and the same with hypothetical changes added (a what-if). These
//! are the very numbers that gate orders (`docs/engine.md`, "Margin in the loop"): the same
//! holdings, positions, prices, model and roundings as [`Engine::account_margin`]; they change
//! nothing, not even the margin cache.
//!
//! A what-if adds asset units (negative: spent) and derivative quantities (10^-9 of the
//! underlying) at the current oracle prices; a hypothetical perp position opens at the index
//! (no unrealised P&L), a hypothetical option position is valued at the model's unit value.

use crate::margin::{AccountMargin, margin_error};
use crate::*;
use margin_core::{Position, RiskModel};
use money::UsdValue;

/// Hypothetical changes to an account for a margin what-if.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarginWhatIf {
    /// (asset symbol, units added; negative spent).
    pub assets: Vec<(String, i128)>,
    /// (derivative market id, signed quantity added in 10^-9 of the underlying).
    pub derivatives: Vec<(String, i128)>,
}

/// The parts of the initial margin (USD, decimal).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarginCharges {
    pub expected_shortfall_usd: String,
    pub floor_usd: String,
    pub concentration_usd: String,
    pub liquidity_usd: String,
    /// The owner's add-on (`set_margin_add_on`), included in `initial_usd` when the account
    /// holds risk ("0" otherwise).
    #[serde(default = "zero")]
    pub add_on_usd: String,
}

fn zero() -> String {
    "0".into()
}

/// One position's requirement if it were held alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarginContribution {
    /// Asset symbol, or a derivative's instrument id.
    pub instrument: String,
    /// Signed quantity in whole units of the instrument (decimal).
    pub qty: String,
    pub standalone_initial_usd: String,
}

/// An account's margin as the gates see it, with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarginExplained {
    pub margin: AccountMargin,
    pub charges: MarginCharges,
    pub contributions: Vec<MarginContribution>,
}

fn usd(v: i128) -> String {
    UsdValue(v).to_string()
}

fn overflow(what: &str) -> EngineError {
    EngineError::Overflow { what: what.into() }
}

impl Engine {
    /// The margin of `account` with `what_if` added (nothing added: its margin now).
    pub fn margin_explained(&self, account: &str, what_if: &MarginWhatIf) -> Result<MarginExplained, EngineError> {
        let idx = self.trader_account(account)?;
        let model = self.usable_model()?;
        let holdings = self.what_if_holdings(idx, &what_if.assets)?;
        let mut positions = self.positions_from(&model, &holdings)?;
        let (derivatives, option_value) = self.what_if_derivatives(&model, idx, &what_if.derivatives)?;
        positions.extend(derivatives);
        let prices = self.underlying_prices(&model);
        let model_requirement = model.requirement(&model.account(&positions, &prices).map_err(margin_error)?).map_err(margin_error)?;
        let requirement = self.with_add_on(idx, model_requirement)?;
        let add_on = requirement.initial.0 - model_requirement.initial.0;
        let equity = self.equity_of(&holdings)?.0.checked_add(option_value).ok_or_else(|| overflow("equity"))?;
        let (initial, maintenance) = (requirement.initial.0, requirement.maintenance.0);
        assert!(maintenance <= initial, "maintenance margin never exceeds initial margin");
        let health = if equity < maintenance {
            health::Health::Liquidation
        } else if equity < initial {
            health::Health::ReduceOnly
        } else {
            health::Health::Healthy
        };
        let margin = AccountMargin {
            account: account.into(),
            equity_usd: usd(equity),
            initial_usd: usd(initial),
            maintenance_usd: usd(maintenance),
            free_collateral_usd: usd(equity.checked_sub(initial).ok_or_else(|| overflow("free collateral"))?),
            health,
            worst_scenario: requirement.worst_scenario,
            model_digest: hex(&self.risk_model.digest),
        };
        let charges = MarginCharges {
            expected_shortfall_usd: usd(requirement.expected_shortfall.0),
            floor_usd: usd(requirement.floor.0),
            concentration_usd: usd(requirement.concentration.0),
            liquidity_usd: usd(requirement.liquidity.0),
            add_on_usd: usd(add_on),
        };
        let contributions = positions.iter().map(|p| contribution(&model, p, &prices)).collect::<Result<_, _>>()?;
        Ok(MarginExplained { margin, charges, contributions })
    }

    /// The account's holdings (as margin counts them) plus hypothetical asset units.
    fn what_if_holdings(&self, account: AccountIdx, assets: &[(String, i128)]) -> Result<Vec<i128>, EngineError> {
        let mut holdings = self.holdings_of(account)?;
        for (symbol, units) in assets {
            let asset = *self.asset_index.get(symbol.as_str()).ok_or_else(|| EngineError::UnknownAsset { symbol: symbol.clone() })?;
            let slot = &mut holdings[asset.0 as usize];
            *slot = slot.checked_add(*units).ok_or_else(|| overflow("what-if holdings"))?;
        }
        Ok(holdings)
    }

    /// The account's derivative positions plus hypothetical quantities, in the model, and the
    /// value of its options at the model's unit values (10^-18 USD).
    fn what_if_derivatives(
        &self,
        model: &RiskModel,
        account: AccountIdx,
        added: &[(String, i128)],
    ) -> Result<(Vec<Position>, i128), EngineError> {
        let mut quantities: BTreeMap<u16, i128> = BTreeMap::new();
        for (&(_, m), _) in self.positions.range((account, 0)..=(account, u16::MAX)) {
            quantities.insert(m, self.settled_view(account, m)?.1.quantity);
        }
        for (market, qty) in added {
            let m = self.market(market)?;
            if self.markets[m as usize].derivative.is_none() {
                return Err(EngineError::MalformedField { field: "market".into(), why: format!("{market} is not a derivative market") });
            }
            let slot = quantities.entry(m).or_insert(0);
            *slot = slot.checked_add(*qty).ok_or_else(|| overflow("what-if position"))?;
        }
        let (mut positions, mut option_value) = (Vec::new(), 0i128);
        for (m, qty) in quantities.into_iter().filter(|(_, q)| *q != 0) {
            let def = &self.markets[m as usize].def;
            let id = def.instrument.as_deref().unwrap_or(def.id.as_str());
            let instrument = model.instrument(id).ok_or_else(|| EngineError::RiskModelUnknownName { name: id.into() })?;
            positions.push(Position { instrument, qty });
            if self.markets[m as usize].derivative.as_ref().is_some_and(|d| d.is_option()) {
                let unit = model.charges.instruments.get(instrument.0 as usize).map(|c| c.value_musd);
                let unit = unit.ok_or_else(|| EngineError::MissingPrice { symbol: id.into() })?;
                // 10^-9 units x micro-USD = 10^-15 USD: times 1000 for 10^-18, exact.
                let value = qty.checked_mul(i128::from(unit)).and_then(|v| v.checked_mul(1_000)).ok_or_else(|| overflow("option value"))?;
                option_value = option_value.checked_add(value).ok_or_else(|| overflow("option value"))?;
            }
        }
        Ok((positions, option_value))
    }
}

/// The initial margin of one position held alone.
fn contribution(model: &RiskModel, position: &Position, prices: &[Option<UsdPrice>]) -> Result<MarginContribution, EngineError> {
    let alone = model.requirement(&model.account(std::slice::from_ref(position), prices).map_err(margin_error)?).map_err(margin_error)?;
    let array = model.instruments.get(position.instrument.0 as usize).ok_or_else(|| overflow("instrument index"))?;
    let scale = Scale::new(array.decimals).map_err(|e| overflow(&format!("instrument decimals: {e}")))?;
    Ok(MarginContribution {
        instrument: array.id.clone(),
        qty: money::format_decimal(position.qty, scale),
        standalone_initial_usd: usd(alone.initial.0),
    })
}
