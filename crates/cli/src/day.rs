//! `clearhouse` with no arguments, or `clearhouse day [--data-dir DIR] [--embedded-calibration]`:
//! the scripted day of the broker on real prices (`docs/engine.md`, "The scripted day").
//!
//! The day is the last 24 hours of the market-data directory (`CLEARHOUSE_MARKET_DATA` or the
//! shared directory): the hourly closes of ETH and BTC are the oracle prints, the engine's clock
//! runs on those real hours. Without the directory the embedded calibration's levels are used
//! (flat through the day), after a printed notice; never a silent default.
//!
//! The day's configuration is the given one with margin on (a model at most two days old), a
//! house quote on ETH/USDC and, instead of the configured option series (which expire in 2026),
//! one ETH call at the money expiring at the day's end. The risk model is compiled as of the
//! day's first hour with the broker's own venue assumed live (`docs/margin-core.md`, section 11),
//! installed by parts and checked against its digest by the engine. Everything goes through the
//! journal (SQLite in DIR, a fresh temporary directory by default) with the configuration written
//! beside it, so `clearhouse --config DIR/config.toml --journal DIR/journal.sqlite verify`
//! replays it bit-identically.

use anyhow::{Context, Result, bail};
use engine::markets::{OrderKind, OrderSide};
use engine::{Command, Envelope, Outcome};
use model::Config;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::script::{CUSTODIAN, HOUR_MS, MINUTE_MS, Script, checked_toml, usd, with_one_call};

/// The prices of the day: 25 hourly levels (hour 0 to hour 24) of ETH and BTC, USD.
pub struct DayPrices {
    pub start: marketdata::Hour,
    pub eth: Vec<f64>,
    pub btc: Vec<f64>,
    /// Where they come from, printed.
    pub source: String,
}

/// The market data: the directory's history, or the embedded calibration (explicitly, or
/// because the directory is absent, with the notice printed by the caller).
pub fn market_data(config: &Config, params: &risk::RiskParams, embedded: bool) -> Result<(risk::MarketData, Option<String>)> {
    if embedded {
        return Ok((
            risk::MarketData::embedded_calibration()?,
            Some("the embedded calibration was chosen (--embedded-calibration)".into()),
        ));
    }
    match risk::MarketData::load_for(config, params) {
        Ok(data) => Ok((data, None)),
        Err(risk::RiskError::MarketDataUnavailable { reason, .. }) => {
            let notice = format!(
                "no market-data directory ({reason}): the day runs on the embedded calibration's levels, flat through the day (set {} for real hourly prices)",
                marketdata::loader::DATA_DIR_ENV
            );
            Ok((risk::MarketData::embedded_calibration()?, Some(notice)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The last 24 hours of the data.
pub fn day_prices(data: &risk::MarketData) -> Result<DayPrices> {
    match data {
        risk::MarketData::Panel { panel, .. } => {
            let start = panel.end().plus_hours(-24);
            let series = |name: &str| -> Result<Vec<f64>> {
                let f = panel.factor_index(name)?;
                let i = panel.index_of(start)?;
                // Price levels are ln(USD).
                Ok(panel.levels(f)[i..=i + 24].iter().map(|l| l.exp()).collect())
            };
            let source = format!("hourly closes {} .. {} of the market-data directory", start.to_iso(), panel.end().to_iso());
            Ok(DayPrices { start, eth: series("price:ETH")?, btc: series("price:BTC")?, source })
        }
        risk::MarketData::Calibration(c) => {
            let level = |name: &str| {
                c.factors.iter().find(|f| f.name == name).map(|f| f.level_at_end.exp()).context(format!("no {name} in the calibration"))
            };
            let (eth, btc) = (level("price:ETH")?, level("price:BTC")?);
            let source = format!("the embedded calibration's levels at {} (flat)", c.data_end.to_iso());
            Ok(DayPrices { start: c.data_end.plus_hours(-24), eth: vec![eth; 25], btc: vec![btc; 25], source })
        }
    }
}

fn start_ms(p: &DayPrices) -> Result<u64> {
    crate::script::hour_ms(p.start)
}

/// The day's configuration (see the module documentation).
pub fn day_config(base: &Config, prices: &DayPrices) -> Result<(Config, String)> {
    let mut c = base.clone();
    c.engine.risk_model_max_age_ms = Some(48 * HOUR_MS);
    let strike = (prices.eth[0] / 100.0).round() * 100.0;
    let id = with_one_call(&mut c, strike, prices.start.plus_hours(24))?;
    let spot = c.markets.iter_mut().find(|m| m.id == "ETH/USDC").context("no ETH/USDC market")?;
    spot.house_quote = Some(model::HouseQuote { spread_bps: 20, size_max: "5".into(), exposure_max: "50".into() });
    checked_toml(&c).context("the day's configuration")?;
    Ok((c, id))
}

/// The morning: clock, prices, the model by parts, clients, deposits, trades, a refused order.
fn morning(p: &DayPrices, model: &margin_core::RiskModel, option: &str) -> Result<Script> {
    let mut s = Script::default();
    s.op(Command::AdvanceTime { now_ms: start_ms(p)? });
    s.op(Command::SetPrice { symbol: "USDC".into(), price_usd: "1".into() });
    s.price("ETH", p.eth[0]);
    s.price("BTC", p.btc[0]);
    for part in engine::risk_model_parts(model) {
        s.op(part);
    }
    for owner in ["alice", "bob", "carol"] {
        s.op(Command::RegisterPrincipal { name: owner.into(), role: model::Role::Owner });
        s.op(Command::CreateAccount { owner: owner.into(), sub: "main".into() });
    }
    let deposit = |account: &str, asset: &str, amount: &str, r: &str| Command::Deposit {
        account: account.into(),
        asset: asset.into(),
        amount: amount.into(),
        custodian: CUSTODIAN.into(),
        external_ref: r.into(),
    };
    for (account, asset, amount) in
        [("alice", "USDC", "250000"), ("bob", "USDC", "250000"), ("bob", "ETH", "20"), ("carol", "USDC", "2000")]
    {
        s.op(deposit(&format!("{account}/main"), asset, amount, &format!("0xday-{account}-{asset}")));
    }
    let eth = usd(p.eth[0]);
    use OrderKind::*;
    use OrderSide::*;
    // Spot crossed internally: bob sells 5 ETH, alice buys them. Against the house: carol buys
    // 0.05 ETH at market (the book is empty, the house fills at the oracle plus its spread).
    s.order("bob", "ETH/USDC", Sell, Limit, Some(eth.clone()), "5");
    s.order("alice", "ETH/USDC", Buy, Limit, Some(eth.clone()), "5");
    s.order("carol", "ETH/USDC", Buy, Market, None, "0.05");
    // Perps: alice long 10 ETH from bob, carol long 0.5 ETH from bob, bob long 0.2 BTC from alice.
    s.order("bob", "ETH-PERP", Sell, Limit, Some(eth.clone()), "10.5");
    s.order("alice", "ETH-PERP", Buy, Limit, Some(eth.clone()), "10");
    s.order("carol", "ETH-PERP", Buy, Limit, Some(eth.clone()), "0.5");
    s.order("alice", "BTC-PERP", Sell, Limit, Some(format!("{:.1}", p.btc[0])), "0.2");
    s.order("bob", "BTC-PERP", Buy, Limit, Some(format!("{:.1}", p.btc[0])), "0.2");
    // The day's call: bob writes 5, alice buys them at intrinsic value plus 1% of the spot.
    let strike: f64 = option.split('-').nth(2).and_then(|k| k.parse().ok()).context("the option's strike")?;
    let premium = format!("{:.1}", (p.eth[0] - strike).max(0.0) + 0.01 * p.eth[0]);
    s.order("bob", option, Sell, Limit, Some(premium.clone()), "5");
    s.order("alice", option, Buy, Limit, Some(premium), "5");
    // A bid and an ask resting above the index: the perp's mark is their mid, so funding is paid
    // at the 8-hour boundaries (longs to shorts).
    s.order("alice", "ETH-PERP", Buy, PostOnly, Some(usd(p.eth[0] * 1.002)), "0.1");
    s.order("bob", "ETH-PERP", Sell, PostOnly, Some(usd(p.eth[0] * 1.004)), "0.1");
    // Refused for margin: carol (about 2,000 USD) asks for 20 ETH more of perp.
    s.order("carol", "ETH-PERP", Buy, Limit, Some(eth), "20");
    Ok(s)
}

/// The hours: a print of ETH and BTC every hour (funding at the 8-hour boundaries), ETH every
/// 10 minutes over the option's 30-minute settlement window, the expiry at the day's end.
fn hours(p: &DayPrices, s: &mut Script) -> Result<()> {
    let start = start_ms(p)?;
    for h in 1..=23u64 {
        s.op(Command::AdvanceTime { now_ms: start + h * HOUR_MS });
        s.price("ETH", p.eth[h as usize]);
        s.price("BTC", p.btc[h as usize]);
    }
    let end = start + 24 * HOUR_MS;
    for minutes in [30, 20, 10] {
        s.op(Command::AdvanceTime { now_ms: end - minutes * MINUTE_MS });
        s.price("ETH", p.eth[24]);
    }
    s.op(Command::AdvanceTime { now_ms: end });
    s.price("ETH", p.eth[24]);
    s.price("BTC", p.btc[24]);
    Ok(())
}

/// Runs the day into `dir`, printing as it goes.
pub fn run_day(base: &Config, params: &risk::RiskParams, dir: &Path, embedded: bool, out: &mut dyn Write) -> Result<()> {
    let (data, notice) = market_data(base, params, embedded)?;
    if let Some(notice) = &notice {
        writeln!(out, "NOTICE: {notice}")?;
    }
    let prices = day_prices(&data)?;
    writeln!(out, "the scripted day on {}", prices.source)?;
    let (config, option) = day_config(base, &prices)?;
    let (compiled, note) =
        risk::arrays::compile_assuming(&config, params, &data, prices.start, risk::arrays::VenueAssumption::OwnVenueLive)?;
    if let Some(note) = note {
        writeln!(out, "NOTICE: {note}")?;
    }
    let model = compiled.model;
    writeln!(out, "risk model {} digest {}", model.label, engine::hex(&model.digest()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("config.toml"), config.to_toml()?).context("writing the day's configuration")?;
    let journal = crate::JournalLocation::Sqlite(dir.join("journal.sqlite"));
    let (mut node, _) = crate::open_node(&config, &journal, crate::Access::ReadWrite, Some(false))?;
    if node.engine().next_seq() > 2 {
        bail!("{} already holds a day: give an empty --data-dir", dir.display());
    }
    let mut script = morning(&prices, &model, &option)?;
    hours(&prices, &mut script)?;
    submit(&mut node, &script.lines, out)?;
    // The afternoon's withdrawals, sized on carol's free collateral now: one unit more is
    // refused, half of it passes and is confirmed.
    let mut e = node.engine().clone();
    let free: f64 = e.account_margin("carol/main")?.free_collateral_usd.parse().context("carol's free collateral")?;
    let mut w = Script { ids: script.ids, ..Script::default() };
    w.withdraw("carol", &format!("{:.6}", free.floor() + 1.0), "day-carol-1");
    w.withdraw("carol", &format!("{:.0}", (free / 2.0).floor()), "day-carol-2");
    w.op(Command::ConfirmWithdrawal { withdrawal_id: "day-carol-2".into(), chain_ref: "0xday-carol-2-tx".into() });
    w.op(Command::AdvanceTime { now_ms: start_ms(&prices)? + 25 * HOUR_MS });
    submit(&mut node, &w.lines, out)?;
    report(&mut node, &journal, out)?;
    let state_hash = node::hex(&node.state_hash());
    writeln!(out, "state hash {state_hash}")?;
    writeln!(out, "replay it: clearhouse --config {0}/config.toml --journal {0}/journal.sqlite verify", dir.display())?;
    out.flush()?;
    Ok(())
}

fn submit(node: &mut node::Node, lines: &[Envelope], out: &mut dyn Write) -> Result<()> {
    crate::script::submit(node, lines, &mut |envelope, outcome| {
        match outcome {
            Outcome::Rejected { error, .. } => {
                writeln!(out, "rejected: {} {}: {error}", envelope.client, crate::script::kind_of(&envelope.command))?;
            }
            Outcome::Applied { seq, events } => {
                for event in events.iter().filter(|e| reported(e)) {
                    writeln!(out, "seq {seq}: {}", serde_json::to_string(event)?)?;
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// The events the day prints as they happen: fills against the house, funding boundaries and
/// payments, expiries,
/// health changes.
fn reported(event: &engine::Event) -> bool {
    use engine::Event::*;
    matches!(
        event,
        HouseFilled { .. }
            | FundingIndexMoved { .. }
            | FundingPaid { .. }
            | OptionExpired { .. }
            | OptionExpiryFailed { .. }
            | HealthChanged { .. }
    )
}

/// Statements (reconciled with the ledger), margins and the house's exposure.
fn report(node: &mut node::Node, journal: &crate::JournalLocation, out: &mut dyn Write) -> Result<()> {
    let mut e = node.engine().clone();
    let accounts: Vec<String> = e.trader_accounts().map(String::from).collect();
    for account in &accounts {
        writeln!(out, "\n== {account}")?;
        out.write_all(crate::statement_table(node, journal, account)?.as_bytes())?;
        let m = e.account_margin(account)?;
        writeln!(
            out,
            "margin: equity {} USD, initial {} USD, maintenance {} USD, free {} USD, {:?}",
            m.equity_usd, m.initial_usd, m.maintenance_usd, m.free_collateral_usd, m.health
        )?;
    }
    writeln!(out, "\nhouse net exposure")?;
    for (asset, units) in e.house_exposure() {
        writeln!(out, "  {asset:<8} {units}")?;
    }
    e.check_invariants().map_err(|e| anyhow::anyhow!("invariant broken: {e}"))?;
    Ok(())
}

/// A fresh directory for the day's journal under the system's temporary directory.
pub fn temp_dir() -> Result<PathBuf> {
    crate::script::temp_dir("day")
}
