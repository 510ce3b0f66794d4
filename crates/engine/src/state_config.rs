//! Configuration as state: the part of the configuration the engine's state depends on
//! (assets and their decimals, underlyings that may be priced, custodians and what they may
//! hold, principals at genesis, limits and settings). It is installed by the journalled
//! `genesis` command and changed only by journalled `configure` commands, so a journal replays
//! exactly whatever the configuration file says today. Risk metadata (protocol profiles,
//! incidents, instruments, risk parameters) is not part of it and never enters the state hash.
//!
//! [`StateConfig::diff`] compares the journal's configuration with a file's: additions become
//! [`ConfigChange`]s (a migration), anything else (a removed asset, changed decimals, a
//! principal with another role) is a [`ConfigConflict`] naming the key.

use crate::EngineError;
use model::{Limits, NAME_LEN_MAX, PrincipalConfig, Role};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Hard caps on list lengths inside configuration payloads, before any limit applies.
pub const CONFIG_LIST_LEN_MAX: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetDef {
    pub symbol: String,
    pub decimals: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianDef {
    pub id: String,
    /// Assets this custodian may hold.
    pub assets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub withdrawal_confirm_timeout_ms: u64,
    pub time_step_ms_max: u64,
    /// Margin in the loop: the oldest risk model in force (see `model::EngineSettings`).
    /// Absent: no margin is computed (accounts fully collateralized by their order holds).
    #[serde(default)]
    pub risk_model_max_age_ms: Option<u64>,
    /// Prints in the stable price's median (1 to 64); absent: collateral at the oracle price.
    #[serde(default)]
    pub stable_price_prints: Option<u32>,
    /// Yearly rate of borrows from the house, basis points (at most 10000).
    pub borrow_rate_bps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    pub assets: Vec<AssetDef>,
    pub underlyings: Vec<String>,
    pub custodians: Vec<CustodianDef>,
    pub principals: Vec<PrincipalConfig>,
    pub markets: Vec<model::Market>,
    pub limits: Limits,
    pub settings: Settings,
    /// Liquidation parameters (genesis only; absent: no liquidation, see [`crate::liquidate`]).
    #[serde(default)]
    pub liquidation: Option<model::LiquidationConfig>,
    /// Guarded oracles, one per symbol at most (`oracle_feed`); none: every symbol is priced by
    /// the operators' `set_price` alone.
    #[serde(default)]
    pub oracles: Vec<model::OracleDef>,
}

/// The fields of a [`StateConfig`] before `oracles`, in their order (for [`StateConfig::digest`]).
#[derive(Serialize)]
struct WithoutOracles<'a> {
    assets: &'a [AssetDef],
    underlyings: &'a [String],
    custodians: &'a [CustodianDef],
    principals: &'a [PrincipalConfig],
    markets: &'a [model::Market],
    limits: &'a Limits,
    settings: &'a Settings,
    #[serde(skip_serializing_if = "Option::is_none")]
    liquidation: &'a Option<model::LiquidationConfig>,
}

/// One journalled change of the configuration. (A market is the largest variant; changes are
/// rare and short-lived, so its size does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConfigChange {
    AddAsset {
        symbol: String,
        decimals: u8,
    },
    AddUnderlying {
        symbol: String,
    },
    AddCustodian {
        id: String,
        assets: Vec<String>,
    },
    AllowCustodyAsset {
        custodian: String,
        asset: String,
    },
    AddMarket {
        market: Box<model::Market>,
    },
    SetLimits {
        limits: Limits,
    },
    SetSettings {
        settings: Settings,
    },
    /// Adds the oracle guard of a symbol, or replaces it (a replaced guard starts empty: its
    /// sources print again before the symbol has a guarded price).
    SetOracle {
        oracle: model::OracleDef,
    },
}

/// A difference between the journal's configuration and a file's that no migration can make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key `{key}` differs: the journal has {journal}, the file has {file}")]
pub struct ConfigConflict {
    pub key: String,
    pub journal: String,
    pub file: String,
}

impl StateConfig {
    /// The state part of a (validated) model configuration.
    pub fn from_model(config: &model::Config) -> StateConfig {
        StateConfig {
            assets: config.assets.iter().map(|a| AssetDef { symbol: a.symbol.clone(), decimals: a.decimals }).collect(),
            underlyings: config.underlyings.iter().map(|u| u.symbol.clone()).collect(),
            custodians: config
                .custodians
                .iter()
                .map(|c| CustodianDef { id: c.id.clone(), assets: in_asset_order(&c.assets, config) })
                .collect(),
            principals: config.principals.clone(),
            markets: config.markets.clone(),
            limits: config.limits.clone(),
            settings: Settings {
                withdrawal_confirm_timeout_ms: config.engine.withdrawal_confirm_timeout_ms,
                time_step_ms_max: config.engine.time_step_ms_max,
                risk_model_max_age_ms: config.engine.risk_model_max_age_ms,
                stable_price_prints: config.engine.stable_price_prints,
                borrow_rate_bps: config.engine.borrow_rate_bps,
            },
            liquidation: config.liquidation.clone(),
            oracles: config.oracles.clone(),
        }
    }

    /// Checks a genesis configuration on its own (the model validated files already; a
    /// journalled genesis may come from anywhere).
    pub fn validate(&self) -> Result<(), EngineError> {
        let refused = |key: &str, why: String| EngineError::ConfigRefused { key: key.into(), why };
        for (key, len) in [
            ("assets", self.assets.len()),
            ("underlyings", self.underlyings.len()),
            ("custodians", self.custodians.len()),
            ("principals", self.principals.len()),
            ("markets", self.markets.len()),
            ("oracles", self.oracles.len()),
        ] {
            if len > CONFIG_LIST_LEN_MAX {
                return Err(refused(key, format!("{len} entries, at most {CONFIG_LIST_LEN_MAX}")));
            }
        }
        validate_limits(&self.limits)?;
        validate_settings(&self.settings)?;
        if let Some(l) = &self.liquidation {
            crate::liquidate::validate(l)?;
        }
        let mut symbols = BTreeSet::new();
        for a in &self.assets {
            check_asset(a, &symbols)?;
            symbols.insert(a.symbol.as_str());
        }
        let mut underlyings = BTreeSet::new();
        for u in &self.underlyings {
            check_identifier("underlyings", u)?;
            if !underlyings.insert(u.as_str()) {
                return Err(refused("underlyings", format!("duplicate {u:?}")));
            }
        }
        let position: BTreeMap<&str, usize> = self.assets.iter().enumerate().map(|(i, a)| (a.symbol.as_str(), i)).collect();
        let mut custodians = BTreeSet::new();
        for c in &self.custodians {
            check_custodian(c, &symbols)?;
            // The engine keeps a custodian's assets in the order of the assets (as the file's
            // configuration is converted): another order could not be installed as given.
            if c.assets.windows(2).any(|w| position[w[0].as_str()] > position[w[1].as_str()]) {
                return Err(refused(&format!("custodians.{}.assets", c.id), "not in the order of the assets".into()));
            }
            if !custodians.insert(c.id.as_str()) {
                return Err(refused("custodians", format!("duplicate {:?}", c.id)));
            }
        }
        let mut oracles = BTreeSet::new();
        for o in &self.oracles {
            crate::oracle_feed::check_oracle(o, &|s| symbols.contains(s) || underlyings.contains(s))?;
            if !oracles.insert(o.symbol.as_str()) {
                return Err(refused("oracles", format!("duplicate {:?}", o.symbol)));
            }
        }
        let mut markets = BTreeSet::new();
        for m in &self.markets {
            if !markets.insert(m.id.as_str()) {
                return Err(refused("markets", format!("duplicate {:?}", m.id)));
            }
            if m.kind != model::MarketKind::Spot && !underlyings.contains(m.base.as_str()) {
                return Err(refused(&format!("markets.{}.base", m.id), format!("unknown underlying {:?}", m.base)));
            }
            crate::limits::check_market(m).map_err(|e| refused("markets", e.to_string()))?;
            crate::markets::MarketState::check(m, &self.assets, self.limits.market_orders_max)?;
        }
        crate::limits::check_settlement_result(&self.markets.iter().collect::<Vec<_>>()).map_err(|e| refused("markets", e.to_string()))?;
        if self.liquidation.is_some() {
            crate::limits::check_liquidation(&self.markets.iter().collect::<Vec<_>>(), &self.limits)
                .map_err(|e| refused("liquidation", e.to_string()))?;
        }
        let mut names = BTreeSet::new();
        for p in &self.principals {
            check_principal_name(&p.name)?;
            if !names.insert(p.name.as_str()) {
                return Err(refused("principals", format!("duplicate {:?}", p.name)));
            }
        }
        self.check_counts(&self.limits)
    }

    /// The configured lists fit the limits.
    pub fn check_counts(&self, limits: &Limits) -> Result<(), EngineError> {
        for (key, len, max) in [
            ("assets", self.assets.len(), limits.assets_max as usize),
            ("underlyings", self.underlyings.len(), limits.assets_max as usize),
            ("custodians", self.custodians.len(), limits.custodians_max as usize),
            ("principals", self.principals.len(), limits.principals_max as usize),
            ("markets", self.markets.len(), limits.markets_max as usize),
        ] {
            if len > max {
                return Err(EngineError::ConfigRefused { key: key.into(), why: format!("{len} entries exceed the limit of {max}") });
            }
        }
        Ok(())
    }

    /// Canonical digest (BLAKE3 over the canonical JSON; struct fields in declaration order).
    /// Without oracles the JSON is the one before `oracles` existed, so the digests of existing
    /// journals' configurations are unchanged.
    pub fn digest(&self) -> [u8; 32] {
        let json = if self.oracles.is_empty() {
            let c = WithoutOracles {
                assets: &self.assets,
                underlyings: &self.underlyings,
                custodians: &self.custodians,
                principals: &self.principals,
                markets: &self.markets,
                limits: &self.limits,
                settings: &self.settings,
                liquidation: &self.liquidation,
            };
            serde_json::to_vec(&c)
        } else {
            serde_json::to_vec(self)
        };
        let mut bytes = json.expect("a StateConfig always serialises");
        // A `[liquidation]` without `insurance_fee_ppm` keeps the digest it had before the key
        // existed: the key is the last of its object, so its absence serialises as exactly this
        // text, which cannot occur elsewhere (quotes inside JSON strings are escaped).
        const ABSENT_FEE_SHARE: &[u8] = br#","insurance_fee_ppm":null"#;
        if let Some(at) = bytes.windows(ABSENT_FEE_SHARE.len()).position(|w| w == ABSENT_FEE_SHARE) {
            bytes.drain(at..at + ABSENT_FEE_SHARE.len());
        }
        *blake3::hash(&bytes).as_bytes()
    }

    /// The changes that bring `self` (the journal's configuration) to `file`, or the first
    /// key that no change can reconcile. Registered principals beyond the file's are the
    /// journal's own business and never a conflict (`registered`: name -> role).
    pub fn diff(&self, file: &StateConfig, registered: &BTreeMap<String, Role>) -> Result<Vec<ConfigChange>, ConfigConflict> {
        let mut changes = Vec::new();
        self.diff_assets(file, &mut changes)?;
        for (i, u) in self.underlyings.iter().enumerate() {
            if !file.underlyings.contains(u) {
                return Err(conflict(format!("underlyings[{i}]"), u, "no such underlying"));
            }
        }
        for u in &file.underlyings {
            if !self.underlyings.contains(u) {
                changes.push(ConfigChange::AddUnderlying { symbol: u.clone() });
            }
        }
        self.diff_custodians(file, &mut changes)?;
        for m in &self.markets {
            match file.markets.iter().find(|f| f.id == m.id) {
                None => return Err(conflict(format!("markets.{}", m.id), "a market", "no such market (markets are never removed)")),
                Some(f) if f != m => return Err(conflict(format!("markets.{}", m.id), &format!("{m:?}"), &format!("{f:?}"))),
                Some(_) => {}
            }
        }
        for f in &file.markets {
            if !self.markets.iter().any(|m| m.id == f.id) {
                changes.push(ConfigChange::AddMarket { market: Box::new(f.clone()) });
            }
        }
        for p in &file.principals {
            if let Some(role) = registered.get(&p.name).filter(|r| **r != p.role) {
                return Err(conflict(format!("principals.{}.role", p.name), &format!("{role:?}"), &format!("{:?}", p.role)));
            }
        }
        if self.limits != file.limits {
            changes.push(ConfigChange::SetLimits { limits: file.limits.clone() });
        }
        if self.settings != file.settings {
            changes.push(ConfigChange::SetSettings { settings: file.settings.clone() });
        }
        for o in &self.oracles {
            if !file.oracles.iter().any(|f| f.symbol == o.symbol) {
                return Err(conflict(format!("oracles.{}", o.symbol), "a guarded oracle", "none (oracles are never removed)"));
            }
        }
        for f in &file.oracles {
            if !self.oracles.contains(f) {
                changes.push(ConfigChange::SetOracle { oracle: f.clone() });
            }
        }
        Ok(changes)
    }

    fn diff_assets(&self, file: &StateConfig, changes: &mut Vec<ConfigChange>) -> Result<(), ConfigConflict> {
        for (i, a) in self.assets.iter().enumerate() {
            match file.assets.iter().find(|f| f.symbol == a.symbol) {
                None => return Err(conflict(format!("assets[{i}]"), &a.symbol, "no such asset (assets are never removed)")),
                Some(f) if f.decimals != a.decimals => {
                    return Err(conflict(format!("assets.{}.decimals", a.symbol), &a.decimals.to_string(), &f.decimals.to_string()));
                }
                Some(_) => {}
            }
        }
        for f in &file.assets {
            if !self.assets.iter().any(|a| a.symbol == f.symbol) {
                changes.push(ConfigChange::AddAsset { symbol: f.symbol.clone(), decimals: f.decimals });
            }
        }
        Ok(())
    }

    fn diff_custodians(&self, file: &StateConfig, changes: &mut Vec<ConfigChange>) -> Result<(), ConfigConflict> {
        for c in &self.custodians {
            let Some(f) = file.custodians.iter().find(|f| f.id == c.id) else {
                return Err(conflict(format!("custodians.{}", c.id), "a custodian", "no such custodian (custodians are never removed)"));
            };
            if let Some(asset) = c.assets.iter().find(|a| !f.assets.contains(a)) {
                return Err(conflict(format!("custodians.{}.assets", c.id), asset, "no such asset (holdings are never disallowed)"));
            }
            for asset in f.assets.iter().filter(|a| !c.assets.contains(a)) {
                changes.push(ConfigChange::AllowCustodyAsset { custodian: c.id.clone(), asset: asset.clone() });
            }
        }
        for f in &file.custodians {
            if !self.custodians.iter().any(|c| c.id == f.id) {
                changes.push(ConfigChange::AddCustodian { id: f.id.clone(), assets: f.assets.clone() });
            }
        }
        Ok(())
    }
}

/// A custodian's assets in the order the configuration lists the assets (the engine's order).
fn in_asset_order(assets: &[String], config: &model::Config) -> Vec<String> {
    let mut sorted = assets.to_vec();
    sorted.sort_by_key(|symbol| config.assets.iter().position(|a| &a.symbol == symbol));
    sorted
}

fn conflict(key: String, journal: &str, file: &str) -> ConfigConflict {
    ConfigConflict { key, journal: journal.into(), file: file.into() }
}

pub(crate) fn validate_limits(l: &Limits) -> Result<(), EngineError> {
    let positive = [
        ("accounts_max", l.accounts_max as u64),
        ("sub_accounts_per_owner_max", l.sub_accounts_per_owner_max as u64),
        ("assets_max", l.assets_max as u64),
        ("custodians_max", l.custodians_max as u64),
        ("principals_max", l.principals_max as u64),
        ("client_ids_window", l.client_ids_window as u64),
        ("batch_commands_max", l.batch_commands_max as u64),
        ("pending_withdrawals_max", l.pending_withdrawals_max as u64),
        ("pending_withdrawals_per_account_max", l.pending_withdrawals_per_account_max as u64),
        ("deposit_refs_max", l.deposit_refs_max),
        ("name_len_max", l.name_len_max as u64),
        ("markets_max", l.markets_max as u64),
        ("market_orders_max", l.market_orders_max as u64),
    ];
    for (name, value) in positive {
        if value == 0 {
            return Err(EngineError::ConfigRefused { key: format!("limits.{name}"), why: "must be positive".into() });
        }
    }
    if l.name_len_max > NAME_LEN_MAX || l.assets_max > u16::MAX as u32 / 2 {
        return Err(EngineError::ConfigRefused {
            key: "limits".into(),
            why: format!("name_len_max is at most {NAME_LEN_MAX}, assets_max at most {}", u16::MAX / 2),
        });
    }
    crate::limits::reconcile(l).map_err(|e| EngineError::ConfigRefused { key: "limits".into(), why: e.to_string() })
}

pub(crate) fn validate_settings(s: &Settings) -> Result<(), EngineError> {
    if s.withdrawal_confirm_timeout_ms == 0 || s.time_step_ms_max == 0 || s.risk_model_max_age_ms == Some(0) {
        return Err(EngineError::ConfigRefused { key: "settings".into(), why: "every setting must be positive".into() });
    }
    if s.stable_price_prints.is_some_and(|n| n == 0 || n > crate::stable_price::STABLE_PRICE_PRINTS_MAX) {
        let why = format!("1 to {} prints", crate::stable_price::STABLE_PRICE_PRINTS_MAX);
        return Err(EngineError::ConfigRefused { key: "settings.stable_price_prints".into(), why });
    }
    if s.borrow_rate_bps > 10_000 {
        return Err(EngineError::ConfigRefused { key: "settings.borrow_rate_bps".into(), why: "at most 10000 (100% a year)".into() });
    }
    Ok(())
}

pub(crate) fn check_identifier(key: &str, id: &str) -> Result<(), EngineError> {
    if model::is_identifier(id, NAME_LEN_MAX as usize) {
        Ok(())
    } else {
        Err(EngineError::InvalidName { name: model::printable(id), why: format!("{key}: 1 to {NAME_LEN_MAX} of A-Z a-z 0-9 _ - . @") })
    }
}

pub(crate) fn check_principal_name(name: &str) -> Result<(), EngineError> {
    if model::is_principal_name(name, NAME_LEN_MAX as usize) {
        Ok(())
    } else {
        Err(EngineError::InvalidName { name: model::printable(name), why: format!("principal: 1 to {NAME_LEN_MAX} of a-z 0-9 _ -") })
    }
}

pub(crate) fn check_asset(a: &AssetDef, existing: &BTreeSet<&str>) -> Result<(), EngineError> {
    check_identifier("asset", &a.symbol)?;
    if existing.contains(a.symbol.as_str()) {
        return Err(EngineError::ConfigRefused { key: format!("assets.{}", a.symbol), why: "already exists".into() });
    }
    if a.decimals > money::SCALE_MAX {
        return Err(EngineError::ConfigRefused {
            key: format!("assets.{}.decimals", a.symbol),
            why: format!("at most {}", money::SCALE_MAX),
        });
    }
    Ok(())
}

pub(crate) fn check_custodian(c: &CustodianDef, assets: &BTreeSet<&str>) -> Result<(), EngineError> {
    check_identifier("custodian", &c.id)?;
    let mut seen = BTreeSet::new();
    for asset in &c.assets {
        if !assets.contains(asset.as_str()) {
            return Err(EngineError::ConfigRefused { key: format!("custodians.{}.assets", c.id), why: format!("unknown asset {asset:?}") });
        }
        if !seen.insert(asset) {
            return Err(EngineError::ConfigRefused { key: format!("custodians.{}.assets", c.id), why: format!("duplicate {asset:?}") });
        }
    }
    Ok(())
}
