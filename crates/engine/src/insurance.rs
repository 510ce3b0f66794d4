//! Insurance fund sizing (docs/liquidation.md, "Cover-2 in the engine"): the cover-2 stress test
//! of `liquidation::cover2` on the engine's own accounts and the installed model. Per owner (its
//! sub-accounts together), the loss in every scenario column of the model (named, hypothetical
//! and FHS columns alike) against its equity; per protocol of the model, what its failure costs
//! the broker beyond each owner's equity (the value of the owner's claims on it times the
//! fraction at stake and the loss given failure). The resources are the insurance fund
//! (`@insurance` at collateral prices) plus the broker's capital (`@house`'s balances plus what
//! it lent, per asset, at collateral prices, never below zero). A read-only report: nothing in
//! the state changes.

use crate::*;
use liquidation::cover2::{self, StressedAccount};
use margin_core::RiskModel;
use money::{Amount, Rounding, UsdValue, mul_div};

/// The cover-2 report, USD amounts as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cover2Report {
    pub model_digest: String,
    /// The scenario column whose two worst defaults cost most.
    pub scenario: Option<usize>,
    pub defaulters: Vec<(String, String)>,
    pub cover2_usd: String,
    pub largest_protocol: Option<(String, String)>,
    pub requirement_usd: String,
    pub insurance_fund_usd: String,
    pub broker_capital_usd: String,
    pub shortfall_usd: String,
    /// IM add-ons that would close the shortfall, per owner.
    pub add_ons: Vec<(String, String)>,
}

fn overflow() -> EngineError {
    EngineError::Overflow { what: "cover-2".into() }
}

impl Engine {
    /// The fund's share of a fill's net fee (`insurance_fee_ppm`, rounded up): from `@fees` to
    /// `@insurance`, posted without an event as the fees themselves are (a reader derives it
    /// from the fill's fees and the configuration). Returns the share.
    pub(crate) fn fee_share_to_insurance(&mut self, asset: AssetIdx, taker_fee: i128, maker_fee: i128, seq: u64) -> i128 {
        let Some(ppm) = self.config.liquidation.as_ref().and_then(|l| l.insurance_fee_ppm) else { return 0 };
        let net = taker_fee + maker_fee;
        let share = liquidation::auction::insurance_fee_share(net, ppm).expect("a validated share of a fee that fits");
        if share == 0 {
            return 0;
        }
        let (fees, insurance) = (self.account_index[FEES], self.account_index[INSURANCE]);
        let t = ledger::Transfer {
            debit: fees,
            credit: insurance,
            asset,
            amount: share,
            reason: ledger::Reason::InsuranceFunding,
            command_seq: seq,
        };
        self.ledger.post(&t).expect("`@fees` may go negative and the fund's credit is within the fee just paid");
        share
    }

    /// Operator: `amount` of `asset` from `@house` to `@insurance`, one journalled transfer
    /// (reason `insurance_funding`). Refused, with nothing moved, beyond the house's capital in
    /// the asset (`house_capital`: its balance plus what it lent).
    pub(crate) fn fund_insurance(&mut self, asset: &str, amount: &str, seq: u64, events: &mut Vec<Event>) -> Result<(), EngineError> {
        let (idx, units) = self.asset_amount(asset, amount)?;
        let capital = self.house_capital(idx)?;
        if units > capital {
            return Err(EngineError::InsufficientBalance {
                account: HOUSE.into(),
                asset: asset.into(),
                needed: self.format(idx, units),
                available: self.format(idx, capital),
            });
        }
        let (house, insurance) = (self.account_index[HOUSE], self.account_index[INSURANCE]);
        let before = self.ledger.balance(insurance, idx).posted;
        let t = ledger::Transfer {
            debit: house,
            credit: insurance,
            asset: idx,
            amount: units,
            reason: ledger::Reason::InsuranceFunding,
            command_seq: seq,
        };
        self.ledger.post(&t).map_err(|e| self.ledger_error(e))?;
        assert_eq!(self.ledger.balance(insurance, idx).posted, before + units, "the fund grows by the top-up exactly");
        events.push(self.transferred_event(&t));
        Ok(())
    }

    /// Runs cover-2 on every trader account at the engine's prices and the model in force.
    pub fn cover2_report(&mut self) -> Result<Cover2Report, EngineError> {
        let model = self.usable_model()?;
        let prices = self.underlying_prices(&model);
        let mut owners: BTreeMap<String, StressedAccount<String>> = BTreeMap::new();
        let mut claims: BTreeMap<String, Vec<i128>> = BTreeMap::new();
        for i in 0..self.account_names.len() {
            let account = AccountIdx(i as u32);
            if self.account_kinds[i] != AccountKind::Trader {
                continue;
            }
            let holdings = self.holdings_of(account)?;
            let equity = self.measure(&model, account, &holdings)?.equity.0;
            let mut positions = self.positions_from(&model, &holdings)?;
            positions.extend(self.derivative_margin_positions(&model, account, &[])?.0);
            let risk = model.account(&positions, &prices).map_err(margin::margin_error)?;
            let owner = owner_of(&self.account_names[i]).to_string();
            let entry = owners.entry(owner.clone()).or_insert_with(|| StressedAccount {
                account: owner.clone(),
                equity: 0,
                losses: vec![0; model.columns()],
            });
            entry.equity = entry.equity.checked_add(equity).ok_or_else(overflow)?;
            for (total, loss) in entry.losses.iter_mut().zip(risk.losses()) {
                // 10^-15 USD to 10^-18 USD.
                *total = loss.checked_mul(1_000).and_then(|l| total.checked_add(l)).ok_or_else(overflow)?;
            }
            let claim = claims.entry(owner).or_insert_with(|| vec![0; model.charges.protocols.len()]);
            add_claims(&model, &positions, claim)?;
        }
        let protocol_losses = protocol_losses(&model, &owners, &claims)?;
        let (fund, capital) = (self.insurance_fund_usd()?, self.broker_capital_usd()?);
        let accounts: Vec<StressedAccount<String>> = owners.into_values().collect();
        let resources = fund.checked_add(capital).ok_or_else(overflow)?;
        let result =
            cover2::cover2(&accounts, &protocol_losses, resources).map_err(|e| EngineError::LiquidationFailed { why: e.to_string() })?;
        let usd = |v: i128| UsdValue(v).to_string();
        Ok(Cover2Report {
            model_digest: hex(&self.risk_model.digest),
            scenario: result.scenario,
            defaulters: result.defaulters.iter().map(|(a, u)| (a.clone(), usd(*u))).collect(),
            cover2_usd: usd(result.cover2),
            largest_protocol: result.protocol.as_ref().map(|(p, l)| (p.clone(), usd(*l))),
            requirement_usd: usd(result.requirement),
            insurance_fund_usd: usd(fund),
            broker_capital_usd: usd(capital),
            shortfall_usd: usd(result.shortfall),
            add_ons: result.add_ons.iter().map(|(a, u)| (a.clone(), usd(*u))).collect(),
        })
    }

    /// `@insurance`'s balances at collateral prices, rounded down.
    fn insurance_fund_usd(&self) -> Result<i128, EngineError> {
        let insurance = self.account_index[INSURANCE];
        let mut total = 0i128;
        for a in 0..self.assets.len() {
            let units = self.ledger.balance(insurance, AssetIdx(a as u16)).posted.max(0);
            total = total.checked_add(self.value_of(a, units)?).ok_or_else(overflow)?;
        }
        Ok(total)
    }

    /// `@house`'s balances plus what it lent, per asset (never below zero), at collateral prices.
    fn broker_capital_usd(&self) -> Result<i128, EngineError> {
        let mut total = 0i128;
        for a in 0..self.assets.len() {
            let units = self.house_capital(AssetIdx(a as u16))?;
            total = total.checked_add(self.value_of(a, units)?).ok_or_else(overflow)?;
        }
        Ok(total)
    }

    fn value_of(&self, asset: usize, units: i128) -> Result<i128, EngineError> {
        if units == 0 {
            return Ok(0);
        }
        let info = &self.assets[asset];
        let price = self.collateral_price(&info.symbol, units)?;
        Ok(money::value_usd(Amount(units), info.scale, price, Rounding::Floor).map_err(|_| overflow())?.0)
    }
}

/// Adds an account's claims on each protocol (10^-18 USD): the model value of every long
/// position linked to it, times the fraction at stake.
fn add_claims(model: &RiskModel, positions: &[margin_core::Position], claims: &mut [i128]) -> Result<(), EngineError> {
    for p in positions.iter().filter(|p| p.qty > 0) {
        let Some(charges) = model.charges.instruments.get(p.instrument.0 as usize) else { continue };
        let one = 10i128.pow(u32::from(model.decimals(p.instrument)));
        // micro-USD per whole unit x 10^12 = 10^-18 USD per whole unit.
        let value = mul_div(p.qty, i128::from(charges.value_musd) * 1_000_000_000_000, one, Rounding::Floor).map_err(|_| overflow())?;
        for &(protocol, ppm) in &charges.links {
            let stake = mul_div(value, i128::from(ppm), 1_000_000, Rounding::Ceil).map_err(|_| overflow())?;
            let slot = claims.get_mut(protocol as usize).ok_or_else(overflow)?;
            *slot = slot.checked_add(stake).ok_or_else(overflow)?;
        }
    }
    Ok(())
}

/// Per protocol: the sum over owners of `max(0, claim x LGD - equity)`.
fn protocol_losses(
    model: &RiskModel,
    owners: &BTreeMap<String, StressedAccount<String>>,
    claims: &BTreeMap<String, Vec<i128>>,
) -> Result<Vec<(String, i128)>, EngineError> {
    let mut out = Vec::new();
    for (p, protocol) in model.charges.protocols.iter().enumerate() {
        let mut loss = 0i128;
        for (owner, stressed) in owners {
            let claim = claims.get(owner).and_then(|c| c.get(p)).copied().unwrap_or(0);
            let lost = mul_div(claim, i128::from(protocol.lgd_ppm), 1_000_000, Rounding::Ceil).map_err(|_| overflow())?;
            loss = loss.checked_add((lost - stressed.equity).max(0)).ok_or_else(overflow)?;
        }
        out.push((protocol.name.clone(), loss));
    }
    Ok(out)
}
