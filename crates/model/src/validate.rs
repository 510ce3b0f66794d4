//! Load-time checks: every reference resolves, every kind has the fields it needs.

use crate::*;
use std::collections::HashSet;

pub(crate) fn validate(config: &Config) -> Result<(), ConfigError> {
    if config.version != CONFIG_VERSION {
        return Err(ConfigError::invalid("version", format!("is {}, this build reads version {CONFIG_VERSION}", config.version)));
    }
    validate_limits(config)?;
    let name_len_max = config.limits.name_len_max as usize;

    let mut underlyings = HashSet::new();
    for (i, u) in config.underlyings.iter().enumerate() {
        check_id(&format!("underlyings[{i}].symbol"), &u.symbol, name_len_max)?;
        if !underlyings.insert(u.symbol.as_str()) {
            return Err(ConfigError::invalid(format!("underlyings[{i}].symbol"), format!("duplicate underlying {:?}", u.symbol)));
        }
    }
    if !underlyings.contains("USD") {
        return Err(ConfigError::invalid("underlyings", "must declare USD, the numeraire"));
    }

    let mut protocols = HashSet::new();
    for (i, p) in config.protocols.iter().enumerate() {
        let key = format!("protocols[{i}]");
        check_id(&format!("{key}.id"), &p.id, name_len_max)?;
        if !protocols.insert(p.id.as_str()) {
            return Err(ConfigError::invalid(format!("{key}.id"), format!("duplicate protocol {:?}", p.id)));
        }
        parse_date(&p.risk.launched).map_err(|problem| ConfigError::invalid(format!("{key}.risk.launched"), problem))?;
        for (j, incident) in p.risk.incidents.iter().enumerate() {
            parse_date(&incident.date).map_err(|problem| ConfigError::invalid(format!("{key}.risk.incidents[{j}].date"), problem))?;
            parse_usd(&incident.loss_usd, &format!("{key}.risk.incidents[{j}].loss_usd"))?;
        }
        if let Some(rules) = &p.margin_rules {
            for (name, value) in [
                ("initial_margin_fraction", &rules.initial_margin_fraction),
                ("maintenance_margin_fraction", &rules.maintenance_margin_fraction),
            ] {
                if let Some(v) = value {
                    check_fraction(v, &format!("{key}.margin_rules.{name}"))?;
                }
            }
            for (symbol, v) in &rules.ltv {
                check_fraction(v, &format!("{key}.margin_rules.ltv.{symbol}"))?;
            }
        }
    }

    let mut assets = HashSet::new();
    for (i, a) in config.assets.iter().enumerate() {
        check_id(&format!("assets[{i}].symbol"), &a.symbol, name_len_max)?;
        if !assets.insert(a.symbol.as_str()) {
            return Err(ConfigError::invalid(format!("assets[{i}].symbol"), format!("duplicate asset {:?}", a.symbol)));
        }
    }
    for (i, a) in config.assets.iter().enumerate() {
        validate_asset(config, &format!("assets[{i}]"), a, &underlyings, &assets, &protocols)?;
    }

    validate_custodians(config, &protocols, &assets)?;
    validate_principals(config)?;

    let mut instruments = HashSet::new();
    for (i, inst) in config.instruments.iter().enumerate() {
        let key = format!("instruments[{i}]");
        check_id(&format!("{key}.id"), &inst.id, name_len_max)?;
        if !instruments.insert(inst.id.as_str()) {
            return Err(ConfigError::invalid(format!("{key}.id"), format!("duplicate instrument {:?}", inst.id)));
        }
        validate_instrument(config, &key, inst, &underlyings, &assets, &protocols)?;
    }
    validate_markets(config, &assets)?;
    if let Some(h) = &config.hedging {
        let holds = |c: &str, a: &str| config.custodians.iter().any(|k| k.id == c && k.assets.iter().any(|x| x == a));
        h.check(|a| assets.contains(a), holds).map_err(|(key, problem)| ConfigError::invalid(key, problem))?;
    }
    Ok(())
}

fn validate_limits(config: &Config) -> Result<(), ConfigError> {
    let l = &config.limits;
    let positive: [(&str, u64); 13] = [
        ("accounts_max", l.accounts_max.into()),
        ("sub_accounts_per_owner_max", l.sub_accounts_per_owner_max.into()),
        ("assets_max", l.assets_max.into()),
        ("custodians_max", l.custodians_max.into()),
        ("principals_max", l.principals_max.into()),
        ("client_ids_window", l.client_ids_window.into()),
        ("batch_commands_max", l.batch_commands_max.into()),
        ("pending_withdrawals_max", l.pending_withdrawals_max.into()),
        ("pending_withdrawals_per_account_max", l.pending_withdrawals_per_account_max.into()),
        ("deposit_refs_max", l.deposit_refs_max),
        ("name_len_max", l.name_len_max.into()),
        ("markets_max", l.markets_max.into()),
        ("market_orders_max", l.market_orders_max.into()),
    ];
    for (name, value) in positive {
        if value == 0 {
            return Err(ConfigError::invalid(format!("limits.{name}"), "must be positive"));
        }
    }
    if l.name_len_max > NAME_LEN_MAX {
        return Err(ConfigError::invalid("limits.name_len_max", format!("at most {NAME_LEN_MAX}")));
    }
    let e = &config.engine;
    for (name, value) in [
        ("withdrawal_confirm_timeout_ms", e.withdrawal_confirm_timeout_ms),
        ("time_step_ms_max", e.time_step_ms_max),
        ("snapshot_interval_batches", e.snapshot_interval_batches),
        ("risk_model_max_age_ms", e.risk_model_max_age_ms.unwrap_or(1)),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(format!("engine.{name}"), "must be positive"));
        }
    }
    if e.stable_price_prints.is_some_and(|n| n == 0 || n > 64) {
        return Err(ConfigError::invalid("engine.stable_price_prints", "1 to 64"));
    }
    if e.borrow_rate_bps > 10_000 {
        return Err(ConfigError::invalid("engine.borrow_rate_bps", "at most 10000 (100% a year)"));
    }
    Ok(())
}

fn validate_custodians(config: &Config, protocols: &HashSet<&str>, assets: &HashSet<&str>) -> Result<(), ConfigError> {
    let name_len_max = config.limits.name_len_max as usize;
    let mut custodians = HashSet::new();
    for (i, c) in config.custodians.iter().enumerate() {
        let key = format!("custodians[{i}]");
        check_id(&format!("{key}.id"), &c.id, name_len_max)?;
        if !custodians.insert(c.id.as_str()) {
            return Err(ConfigError::invalid(format!("{key}.id"), format!("duplicate custodian {:?}", c.id)));
        }
        match (c.kind, &c.protocol) {
            (CustodianKind::Protocol, None) => {
                return Err(ConfigError::invalid(format!("{key}.protocol"), "a protocol custodian must name its protocol"));
            }
            (_, Some(p)) if !protocols.contains(p.as_str()) => {
                return Err(ConfigError::invalid(format!("{key}.protocol"), format!("unknown protocol {p:?}")));
            }
            _ => {}
        }
        let mut held = HashSet::new();
        for (j, symbol) in c.assets.iter().enumerate() {
            if !assets.contains(symbol.as_str()) {
                return Err(ConfigError::invalid(format!("{key}.assets[{j}]"), format!("unknown asset {symbol:?}")));
            }
            if !held.insert(symbol.as_str()) {
                return Err(ConfigError::invalid(format!("{key}.assets[{j}]"), format!("duplicate asset {symbol:?}")));
            }
        }
    }
    if config.custodians.is_empty() {
        return Err(ConfigError::invalid("custodians", "at least one custodian is needed to hold deposits"));
    }
    Ok(())
}

fn validate_markets(config: &Config, assets: &HashSet<&str>) -> Result<(), ConfigError> {
    let name_len_max = config.limits.name_len_max as usize;
    let mut ids = HashSet::new();
    for (i, m) in config.markets.iter().enumerate() {
        let key = format!("markets[{i}]");
        check_id(&format!("{key}.id"), &m.id.replace('/', "-"), name_len_max)?;
        if !ids.insert(m.id.as_str()) {
            return Err(ConfigError::invalid(format!("{key}.id"), format!("duplicate market {:?}", m.id)));
        }
        let fields: &[(&str, &String)] =
            if m.kind == MarketKind::Spot { &[("base", &m.base), ("quote", &m.quote)] } else { &[("quote", &m.quote)] };
        for (field, symbol) in fields {
            if !assets.contains(symbol.as_str()) {
                return Err(ConfigError::invalid(format!("{key}.{field}"), format!("unknown asset {symbol:?}")));
            }
        }
        validate_market_terms(config, &key, m)?;
        if m.base == m.quote {
            return Err(ConfigError::invalid(format!("{key}.quote"), "base and quote are the same asset"));
        }
        if m.taker_fee_bps > 1000 || m.maker_fee_bps.unsigned_abs() > 1000 || m.maker_fee_bps < -(m.taker_fee_bps as i32) {
            return Err(ConfigError::invalid(
                format!("{key}.maker_fee_bps"),
                "fees are at most 1000 bps and a maker rebate at most the taker fee",
            ));
        }
    }
    Ok(())
}

/// A spot market carries no derivative terms; a perp or option market names an instrument of
/// the broker's own venue whose terms it repeats exactly.
fn validate_market_terms(config: &Config, key: &str, m: &Market) -> Result<(), ConfigError> {
    let invalid = |field: &str, problem: String| Err(ConfigError::invalid(format!("{key}.{field}"), problem));
    let perp_terms = m.funding_interval_ms.is_some() || m.funding_cap_bps.is_some();
    let option_terms = m.strike.is_some() || m.expiry.is_some() || m.right.is_some() || m.twap_window_ms.is_some();
    let derivative_terms = m.instrument.is_some() || m.positions_max.is_some();
    match m.kind {
        MarketKind::Spot if perp_terms || option_terms || derivative_terms => {
            return invalid("kind", "a spot market takes no instrument, positions, funding or option terms".into());
        }
        MarketKind::Spot => return Ok(()),
        MarketKind::Perp if option_terms => return invalid("kind", "strike, expiry, right and twap_window_ms belong to options".into()),
        MarketKind::Option if perp_terms => return invalid("kind", "funding terms belong to perps".into()),
        _ => {}
    }
    let Some(id) = &m.instrument else { return invalid("instrument", "required for a perp or option market".into()) };
    let Some(inst) = config.instrument(id) else { return invalid("instrument", format!("unknown instrument {id:?}")) };
    let venue_kind = inst.venue.as_deref().and_then(|v| config.protocol(v)).map(|p| p.kind);
    if venue_kind != Some(ProtocolKind::ClearingHouse) {
        return invalid("instrument", format!("{id:?} is not cleared by the broker itself (venue of kind clearing_house)"));
    }
    let expected = if m.kind == MarketKind::Perp { InstrumentKind::Perpetual } else { InstrumentKind::Option };
    if inst.kind != expected {
        return invalid("instrument", format!("{id:?} is a {:?}, not a {expected:?}", inst.kind));
    }
    if inst.underlying.as_deref() != Some(m.base.as_str()) {
        return invalid("base", format!("must be the instrument's underlying {:?}", inst.underlying));
    }
    if inst.settlement_asset.as_deref() != Some(m.quote.as_str()) {
        return invalid("quote", format!("must be the instrument's settlement asset {:?}", inst.settlement_asset));
    }
    if m.positions_max.is_none_or(|n| n == 0) {
        return invalid("positions_max", "required and positive for a perp or option market".into());
    }
    if m.kind == MarketKind::Perp {
        if m.funding_interval_ms.is_none_or(|n| n == 0) {
            return invalid("funding_interval_ms", "required and positive for a perp".into());
        }
        if m.funding_cap_bps.is_none_or(|n| n == 0 || n > 10_000) {
            return invalid("funding_cap_bps", "required, 1 to 10000".into());
        }
        return Ok(());
    }
    if m.twap_window_ms.is_none_or(|n| n == 0) {
        return invalid("twap_window_ms", "required and positive for an option".into());
    }
    for (field, mine, theirs) in [("strike", &m.strike, &inst.strike_usd), ("expiry", &m.expiry, &inst.expiry)] {
        if mine != theirs {
            return invalid(field, format!("must repeat the instrument's {theirs:?}"));
        }
    }
    if m.right != inst.right {
        return invalid("right", format!("must repeat the instrument's {:?}", inst.right));
    }
    Ok(())
}

fn validate_principals(config: &Config) -> Result<(), ConfigError> {
    let name_len_max = config.limits.name_len_max as usize;
    let mut names = HashSet::new();
    for (i, p) in config.principals.iter().enumerate() {
        let key = format!("principals[{i}].name");
        if !is_principal_name(&p.name, name_len_max) {
            return Err(ConfigError::invalid(
                key,
                format!("{:?} is not a principal name (1 to {name_len_max} of a-z 0-9 _ -)", printable(&p.name)),
            ));
        }
        if !names.insert(p.name.as_str()) {
            return Err(ConfigError::invalid(key, format!("duplicate principal {:?}", p.name)));
        }
    }
    if !config.principals.iter().any(|p| p.role == Role::Operator) {
        return Err(ConfigError::invalid("principals", "at least one operator is needed"));
    }
    Ok(())
}

fn validate_asset(
    config: &Config,
    key: &str,
    a: &Asset,
    underlyings: &HashSet<&str>,
    assets: &HashSet<&str>,
    protocols: &HashSet<&str>,
) -> Result<(), ConfigError> {
    if a.decimals > money::SCALE_MAX {
        return Err(ConfigError::invalid(format!("{key}.decimals"), format!("{} exceeds the maximum of {}", a.decimals, money::SCALE_MAX)));
    }
    let needs = |field: &str, present: bool| -> Result<(), ConfigError> {
        if present { Ok(()) } else { Err(ConfigError::invalid(format!("{key}.{field}"), format!("required for kind {:?}", a.kind))) }
    };
    let forbids = |field: &str, present: bool| -> Result<(), ConfigError> {
        if present { Err(ConfigError::invalid(format!("{key}.{field}"), format!("not allowed for kind {:?}", a.kind))) } else { Ok(()) }
    };
    use AssetKind::*;
    let tracks_required = matches!(a.kind, NativeCoin | Stablecoin | Wrapped | Synthetic);
    let protocol_required = !matches!(a.kind, NativeCoin);
    let underlying_asset_required = matches!(a.kind, LendingReceipt | StakingDerivative);
    needs("tracks", !tracks_required || a.tracks.is_some())?;
    forbids("tracks", !tracks_required && a.tracks.is_some())?;
    needs("protocol", !protocol_required || a.protocol.is_some())?;
    // A native coin may name its issuer (an exchange token and its exchange); nothing else forbids one.
    needs("underlying_asset", !underlying_asset_required || a.underlying_asset.is_some())?;
    forbids("underlying_asset", !underlying_asset_required && a.underlying_asset.is_some())?;
    needs("pool_assets", a.kind != LpShare || a.pool_assets.is_some())?;
    forbids("pool_assets", a.kind != LpShare && a.pool_assets.is_some())?;
    needs("market", a.kind != PredictionShare || a.market.is_some())?;
    needs("outcome", a.kind != PredictionShare || a.outcome.is_some())?;
    forbids("market", a.kind != PredictionShare && a.market.is_some())?;
    forbids("outcome", a.kind != PredictionShare && a.outcome.is_some())?;

    if let Some(t) = &a.tracks
        && !underlyings.contains(t.as_str())
    {
        return Err(ConfigError::invalid(format!("{key}.tracks"), format!("unknown underlying {t:?}")));
    }
    if let Some(p) = &a.protocol {
        if !protocols.contains(p.as_str()) {
            return Err(ConfigError::invalid(format!("{key}.protocol"), format!("unknown protocol {p:?}")));
        }
        let kind = config.protocol(p).map(|p| p.kind);
        let fits = match a.kind {
            Stablecoin => kind == Some(ProtocolKind::StablecoinIssuer),
            Wrapped => kind == Some(ProtocolKind::WrappedCustodian),
            Synthetic => kind == Some(ProtocolKind::SyntheticIssuer),
            LendingReceipt => kind == Some(ProtocolKind::Lending),
            StakingDerivative => kind == Some(ProtocolKind::LiquidStaking),
            LpShare => matches!(
                kind,
                Some(ProtocolKind::ConstantProductAmm | ProtocolKind::ConcentratedLiquidityAmm | ProtocolKind::StableswapAmm)
            ),
            PredictionShare => kind == Some(ProtocolKind::PredictionMarket),
            NativeCoin => true,
        };
        if !fits {
            return Err(ConfigError::invalid(
                format!("{key}.protocol"),
                format!("protocol {p:?} of kind {kind:?} cannot issue an asset of kind {:?}", a.kind),
            ));
        }
    }
    if let Some(u) = &a.underlying_asset
        && (!assets.contains(u.as_str()) || u == &a.symbol)
    {
        return Err(ConfigError::invalid(format!("{key}.underlying_asset"), format!("unknown asset {u:?}")));
    }
    if let Some(pool) = &a.pool_assets {
        if pool.len() < 2 || pool.len() > 8 {
            return Err(ConfigError::invalid(format!("{key}.pool_assets"), format!("a pool has 2 to 8 assets, got {}", pool.len())));
        }
        for (j, s) in pool.iter().enumerate() {
            if !assets.contains(s.as_str()) || s == &a.symbol {
                return Err(ConfigError::invalid(format!("{key}.pool_assets[{j}]"), format!("unknown asset {s:?}")));
            }
        }
    }
    Ok(())
}

fn validate_instrument(
    config: &Config,
    key: &str,
    inst: &Instrument,
    underlyings: &HashSet<&str>,
    assets: &HashSet<&str>,
    protocols: &HashSet<&str>,
) -> Result<(), ConfigError> {
    use InstrumentKind::*;
    let needs = |field: &str, present: bool| -> Result<(), ConfigError> {
        if present { Ok(()) } else { Err(ConfigError::invalid(format!("{key}.{field}"), format!("required for kind {:?}", inst.kind))) }
    };
    let derivative = matches!(inst.kind, Perpetual | Option);
    needs("asset", derivative || inst.asset.is_some())?;
    needs("underlying", !derivative || inst.underlying.is_some())?;
    needs("venue", inst.kind == Spot || inst.venue.is_some())?;
    needs("settlement_asset", !derivative || inst.settlement_asset.is_some())?;
    needs("strike_usd", inst.kind != Option || inst.strike_usd.is_some())?;
    needs("expiry", inst.kind != Option || inst.expiry.is_some())?;
    needs("right", inst.kind != Option || inst.right.is_some())?;
    if inst.kind != Option && (inst.strike_usd.is_some() || inst.expiry.is_some() || inst.right.is_some()) {
        return Err(ConfigError::invalid(key, "strike_usd, expiry and right belong to options only"));
    }
    for (field, value) in [("asset", &inst.asset), ("settlement_asset", &inst.settlement_asset)] {
        if let Some(s) = value
            && !assets.contains(s.as_str())
        {
            return Err(ConfigError::invalid(format!("{key}.{field}"), format!("unknown asset {s:?}")));
        }
    }
    if let Some(u) = &inst.underlying
        && !underlyings.contains(u.as_str())
    {
        return Err(ConfigError::invalid(format!("{key}.underlying"), format!("unknown underlying {u:?}")));
    }
    if let Some(v) = &inst.venue {
        if !protocols.contains(v.as_str()) {
            return Err(ConfigError::invalid(format!("{key}.venue"), format!("unknown protocol {v:?}")));
        }
        let kind = config.protocol(v).map(|p| p.kind);
        let fits = match inst.kind {
            Perpetual => matches!(kind, Some(ProtocolKind::PerpVenue | ProtocolKind::ClearingHouse)),
            Option => matches!(kind, Some(ProtocolKind::OptionVenue | ProtocolKind::ClearingHouse)),
            LendingDeposit | LendingBorrow => kind == Some(ProtocolKind::Lending),
            LpPosition => matches!(
                kind,
                Some(ProtocolKind::ConstantProductAmm | ProtocolKind::ConcentratedLiquidityAmm | ProtocolKind::StableswapAmm)
            ),
            PredictionShare => kind == Some(ProtocolKind::PredictionMarket),
            Spot => true,
        };
        if !fits {
            return Err(ConfigError::invalid(
                format!("{key}.venue"),
                format!("protocol {v:?} of kind {kind:?} cannot list an instrument of kind {:?}", inst.kind),
            ));
        }
    }
    if let Some(strike) = &inst.strike_usd {
        let units = parse_usd(strike, &format!("{key}.strike_usd"))?;
        if units <= 0 {
            return Err(ConfigError::invalid(format!("{key}.strike_usd"), "must be positive"));
        }
    }
    if let Some(expiry) = &inst.expiry {
        parse_datetime_ms(expiry).map_err(|problem| ConfigError::invalid(format!("{key}.expiry"), problem))?;
    }
    Ok(())
}

/// The longest name of anything (asset, custodian, principal, account part) any configuration may allow.
pub const NAME_LEN_MAX: u32 = 64;

/// An identifier of the configuration (asset, underlying, protocol, custodian, instrument):
/// 1 to `len_max` of `A-Z a-z 0-9 _ - . @`.
pub fn is_identifier(id: &str, len_max: usize) -> bool {
    !id.is_empty() && id.len() <= len_max && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// A principal name or account part (owner, sub-account): 1 to `len_max` of `a-z 0-9 _ -`.
pub fn is_principal_name(name: &str, len_max: usize) -> bool {
    !name.is_empty()
        && name.len() <= len_max
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_id(key: &str, id: &str, len_max: usize) -> Result<(), ConfigError> {
    if is_identifier(id, len_max) {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("{:?} is not an identifier (1 to {len_max} of A-Z a-z 0-9 _ - . @)", printable(id))))
    }
}

/// A name as it may be echoed in a message: at most 64 characters, control and bidirectional
/// formatting characters escaped.
pub fn printable(name: &str) -> String {
    name.chars().take(64).flat_map(char::escape_debug).collect()
}

fn parse_usd(text: &str, key: &str) -> Result<i128, ConfigError> {
    money::parse_decimal(text, money::USD_SCALE).map_err(|e| ConfigError::invalid(key, e.to_string()))
}

fn check_fraction(text: &str, key: &str) -> Result<(), ConfigError> {
    let units = parse_usd(text, key)?;
    if !(0..=money::USD_SCALE.one()).contains(&units) {
        return Err(ConfigError::invalid(key, format!("{text} is not a fraction between 0 and 1")));
    }
    Ok(())
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian, through `jiff`).
///
/// Only the canonical spelling is accepted and the calendar is jiff's: an impossible date
/// (2023-02-31, 2024-02-30, month 13) is refused with a message naming it, never rolled over.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let refuse = |why: String| format!("{text:?} is not a date YYYY-MM-DD: {why}");
    let date: jiff::civil::Date = text.parse().map_err(|e: jiff::Error| refuse(e.to_string()))?;
    if date.to_string() != text {
        return Err(refuse("not in the canonical form".to_string()));
    }
    let epoch = jiff::civil::date(1970, 1, 1);
    let days = epoch.until(date).map_err(|e| refuse(e.to_string()))?.get_days();
    Ok(i64::from(days))
}

/// Unix milliseconds of `YYYY-MM-DDTHH:MM:SSZ` (UTC, through `jiff`).
///
/// Only the canonical spelling is accepted: an impossible date or hour 24 is refused by jiff, and a
/// leap second (which jiff would clamp to :59), an offset or a fraction is refused because the text
/// is not what the parsed instant writes back as.
pub fn parse_datetime_ms(text: &str) -> Result<i64, String> {
    let refuse = |why: String| format!("{text:?} is not a UTC time YYYY-MM-DDTHH:MM:SSZ: {why}");
    let instant: jiff::Timestamp = text.parse().map_err(|e: jiff::Error| refuse(e.to_string()))?;
    if instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() != text {
        return Err(refuse("not in the canonical form".to_string()));
    }
    Ok(instant.as_millisecond())
}
