//! The per-account report: the margin, its explanation and both comparators, as a readable table
//! or JSON. Also the one-call entry point [`margin_portfolio`].

use crate::book::Book;
use crate::comparators::{self, Comparator, Held};
use crate::error::RiskError;
use crate::margin::{Engine, MarginResult, Scratch};
use crate::market::{BaseMarket, Universe};
use crate::params::RiskParams;
use crate::portfolio::Portfolio;
use crate::scenarios::{ScenarioBook, revalue};
use marketdata::scenarios::VolModel;
use marketdata::{Calibration, FactorPanel};
use model::Config;
use serde::Serialize;
use std::fmt::Write as _;

/// The market-data directory, or an error naming the fix.
fn find_dir() -> Result<std::path::PathBuf, RiskError> {
    marketdata::loader::find_data_dir().map_err(|e| RiskError::MarketDataUnavailable {
        reason: e.to_string(),
        hint: format!(
            "set {} to the market-data directory, or choose the embedded calibration explicitly (--embedded-calibration)",
            marketdata::loader::DATA_DIR_ENV
        ),
    })
}

/// The embedded calibration carries factor levels at its last instant only: an as-of instant at
/// most this many hours before it is margined at those levels, anything else is refused.
pub const CALIBRATION_COVERAGE_HOURS: i64 = 24;

/// Where market history comes from.
pub enum MarketData {
    /// The raw-data panel and its EWMA model (FHS available).
    Panel { panel: Box<FactorPanel>, vol_model: Box<VolModel> },
    /// The committed calibration only (stress, vol shocks; no FHS).
    Calibration(Box<Calibration>),
}

impl MarketData {
    /// The raw history from `$CLEARHOUSE_MARKET_DATA` (or the shared directory found by walking up).
    /// A missing or unreadable directory is an error naming the fix; there is no silent fallback
    /// to the embedded calibration (choose it explicitly with [`MarketData::embedded_calibration`]).
    pub fn load_default() -> Result<MarketData, RiskError> {
        MarketData::load(&RiskParams::default_params())
    }

    /// [`MarketData::load`] plus the price sources the configuration names (every underlying with a
    /// `price_source` becomes a factor `price:SYMBOL` with its own history) and the peg series the
    /// risk parameters name (every `[peg_sources]` entry with `file` and `column` becomes `peg:ASSET`).
    pub fn load_for(config: &Config, params: &RiskParams) -> Result<MarketData, RiskError> {
        let dir = find_dir()?;
        let sources: Vec<(String, String, String, bool)> = config
            .underlyings
            .iter()
            .filter_map(|u| {
                u.price_source.as_ref().map(|p| (u.symbol.clone(), p.file.clone(), p.column.clone(), p.quote == model::PriceQuote::Usdt))
            })
            .collect();
        let pegs: Vec<(String, String, String)> =
            params.peg_sources.iter().filter_map(|(asset, s)| Some((asset.clone(), s.file.clone()?, s.column.clone()?))).collect();
        let panel = FactorPanel::load(&dir)?.with_price_sources(&dir, &sources)?.with_peg_sources(&dir, &pegs)?;
        MarketData::from_panel(panel, params)
    }

    /// [`MarketData::load_default`] with the EWMA estimator of `params`.
    pub fn load(params: &RiskParams) -> Result<MarketData, RiskError> {
        MarketData::from_panel(FactorPanel::load(&find_dir()?)?, params)
    }

    /// The committed calibration summary, chosen explicitly: no FHS, levels at its last instant only,
    /// so an as-of outside [`MarketData::check_as_of`]'s coverage is refused.
    pub fn embedded_calibration() -> Result<MarketData, RiskError> {
        Ok(MarketData::Calibration(Box::new(Calibration::embedded()?)))
    }

    /// Refuses an as-of instant the data cannot describe: outside the panel, or, for the embedded
    /// calibration (whose levels are those of its last instant), more than
    /// [`CALIBRATION_COVERAGE_HOURS`] before its end or after it.
    pub fn check_as_of(&self, as_of: marketdata::Hour) -> Result<(), RiskError> {
        let (start, end) = match self {
            MarketData::Panel { panel, .. } => (panel.start(), panel.end()),
            MarketData::Calibration(c) => (c.data_end.plus_hours(-CALIBRATION_COVERAGE_HOURS), c.data_end),
        };
        if as_of < start || as_of > end {
            return Err(RiskError::AsOfOutsideHistory { as_of: as_of.to_iso(), start: start.to_iso(), end: end.to_iso() });
        }
        Ok(())
    }

    /// Wraps a panel, computing its EWMA model with the estimator of `params`.
    pub fn from_panel(panel: FactorPanel, params: &RiskParams) -> Result<MarketData, RiskError> {
        let vm = VolModel::compute(&panel, &params.ewma())?;
        Ok(MarketData::Panel { panel: Box::new(panel), vol_model: Box::new(vm) })
    }

    /// Factor names and kinds.
    pub fn factors(&self) -> (Vec<String>, Vec<marketdata::FactorKind>) {
        match self {
            MarketData::Panel { panel, .. } => (panel.factor_names().to_vec(), (0..panel.n_factors()).map(|f| panel.kind(f)).collect()),
            MarketData::Calibration(c) => (c.factors.iter().map(|f| f.name.clone()).collect(), c.factors.iter().map(|f| f.kind).collect()),
        }
    }

    /// A short description for the report.
    pub fn describe(&self) -> String {
        match self {
            MarketData::Panel { panel, .. } => format!("market history {} .. {}", panel.start().to_date(), panel.end().to_date()),
            MarketData::Calibration(c) => format!("embedded calibration (chosen explicitly; no FHS), levels of {}", c.data_end.to_iso()),
        }
    }
}

/// The `[market]` overrides, then every peg proxy (`[peg_sources]`) of an asset the portfolio holds,
/// trades or provides liquidity with.
fn overrides_of(config: &Config, portfolio: &Portfolio, c: &Computed) -> Vec<String> {
    let mut named: Vec<&str> = portfolio.balances.iter().map(|b| b.asset.as_str()).collect();
    for p in &portfolio.positions {
        if let Some(i) = config.instruments.iter().find(|i| i.id == p.instrument) {
            named.extend(i.asset.as_deref());
            named.extend(i.settlement_asset.as_deref());
        }
    }
    let pools: Vec<&str> = named
        .iter()
        .filter_map(|a| config.asset(a))
        .flat_map(|a| a.pool_assets.iter().flatten().map(String::as_str).chain(a.underlying_asset.as_deref()))
        .collect();
    named.extend(pools);
    let mut out = c.base.overrides.clone();
    out.extend(c.universe.peg_proxies.iter().filter(|p| named.contains(&p.asset.as_str())).map(|p| p.describe()));
    out
}

/// Comparators shown next to the portfolio margin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparators {
    pub isolated: Comparator,
    pub weighted: Comparator,
}

/// Everything `clearhouse margin` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginReport {
    pub portfolio: String,
    pub description: String,
    pub as_of: String,
    pub data: String,
    pub mpor_hours: i64,
    pub confidence: f64,
    /// The portfolio's `[market]` overrides, each with the history value it replaced.
    pub overrides: Vec<String>,
    pub fhs_scenarios: usize,
    pub floor_scenarios: usize,
    pub net_liquidation_value: f64,
    pub initial_margin: f64,
    pub maintenance_margin: f64,
    pub health_usd: f64,
    pub health_ratio: Option<f64>,
    pub margin: MarginResult,
    pub comparators: Comparators,
    /// initial margin / comparator initial margin.
    pub efficiency_vs_isolated: Option<f64>,
    pub efficiency_vs_weighted: Option<f64>,
}

/// All the pieces of one portfolio's margin computation, kept for the backtest and tests.
pub struct Computed {
    pub universe: Universe,
    pub base: BaseMarket,
    pub book: Book,
    pub scenarios: ScenarioBook,
    pub engine: Engine,
}

/// Compiles, revalues and builds the engine for a portfolio as of its own date (or `as_of`).
pub fn compute(
    config: &Config,
    params: &RiskParams,
    portfolio: &Portfolio,
    data: &MarketData,
    as_of: Option<marketdata::Hour>,
    restrike: Option<&crate::book::Restrike>,
) -> Result<Computed, RiskError> {
    let as_of = match as_of {
        Some(t) => t,
        None => portfolio.as_of_hour()?,
    };
    data.check_as_of(as_of)?;
    if let MarketData::Panel { vol_model, .. } = data
        && *vol_model.params() != params.ewma()
    {
        return Err(RiskError::ParamsInvalid {
            problem: "the market data's EWMA model was computed with other [fhs] parameters; load it with MarketData::load(params)".into(),
        });
    }
    let (names, kinds) = data.factors();
    for u in config.underlyings.iter().filter(|u| u.price_source.is_some()) {
        if !names.iter().any(|n| *n == format!("price:{}", u.symbol)) {
            return Err(RiskError::MarketDataMissing {
                what: format!("price:{}", u.symbol),
                hint: "the configuration names a price source; load the market data with MarketData::load_for(config, params)".into(),
            });
        }
    }
    let universe = Universe::new(config, params, &names, &kinds)?;
    let base = match data {
        MarketData::Panel { panel, .. } => BaseMarket::from_panel(&universe, panel, as_of, params, &portfolio.market)?,
        MarketData::Calibration(c) => BaseMarket::from_calibration(&universe, c, as_of, params, &portfolio.market)?,
    };
    let book = Book::compile(config, params, &universe, &base, portfolio, restrike)?;
    book.check_launches(config, as_of)?;
    if let MarketData::Panel { panel, .. } = data {
        book.check_first_observations(&universe, panel, as_of)?;
    }
    let mut outcomes: Vec<(u16, String)> =
        book.instruments.iter().filter_map(|i| i.outcome.map(|o| (o.0, universe.outcomes[usize::from(o.0)].clone()))).collect();
    outcomes.sort_unstable();
    outcomes.dedup();
    let scenarios = match data {
        MarketData::Panel { panel, vol_model } => {
            let hypo = crate::scenarios::HypotheticalContext {
                config,
                universe: &universe,
                short_dated: crate::scenarios::short_dated_options(&book, &base, &universe, params.hypothetical.short_dated_days),
            };
            ScenarioBook::from_panel(panel, vol_model, as_of, params, &outcomes, Some(&hypo))?
        }
        MarketData::Calibration(c) => ScenarioBook::from_calibration(c, as_of, params, &outcomes)?,
    };
    let rv = revalue(&book, &universe, &base, &scenarios)?;
    book.check_values(&rv.base_values)?;
    let engine = Engine::new(config, &universe, &base, book.instruments.clone(), &scenarios, rv, params)?;
    Ok(Computed { universe, base, book, scenarios, engine })
}

/// The full report of a portfolio: margin with explanation and both comparators.
pub fn margin_portfolio(config: &Config, params: &RiskParams, portfolio: &Portfolio, data: &MarketData) -> Result<MarginReport, RiskError> {
    margin_portfolio_as_of(config, params, portfolio, data, None)
}

/// [`margin_portfolio`] on another as-of instant than the file's (e.g. inside a crisis); the
/// quantities are kept as written, perpetual entries default to that day's mark.
pub fn margin_portfolio_as_of(
    config: &Config,
    params: &RiskParams,
    portfolio: &Portfolio,
    data: &MarketData,
    as_of: Option<marketdata::Hour>,
) -> Result<MarginReport, RiskError> {
    let c = compute(config, params, portfolio, data, as_of, None)?;
    Ok(report_of(config, params, portfolio, data, &c))
}

/// Builds the report from computed pieces.
pub fn report_of(config: &Config, params: &RiskParams, portfolio: &Portfolio, data: &MarketData, c: &Computed) -> MarginReport {
    let positions: Vec<(usize, f64)> = c.book.positions.iter().map(|p| (p.instrument, p.quantity)).collect();
    let labels: Vec<String> = c.book.positions.iter().map(|p| p.label.clone()).collect();
    let mut scratch = Scratch::default();
    let m = c.engine.margin(&positions, &labels, true, &mut scratch);
    let held: Vec<Held<'_>> = c.book.positions.iter().map(|p| (&c.book.instruments[p.instrument], p.quantity, p.is_balance)).collect();
    let base_values: Vec<f64> = c.book.positions.iter().map(|p| c.engine.rv.base_values[p.instrument]).collect();
    let notional: Vec<f64> = c.book.positions.iter().map(|p| c.engine.unit_notional[p.instrument]).collect();
    let isolated = comparators::isolated(config, &held, &base_values, &notional, &c.engine.spot_usd);
    let weighted = comparators::weighted(config, &params.weights, &held, &base_values, &notional);
    let ratio = |x: f64| (x > 0.0).then(|| m.initial_margin / x);
    MarginReport {
        portfolio: portfolio.name.clone(),
        description: portfolio.description.clone(),
        as_of: c.base.as_of.to_iso(),
        data: data.describe(),
        mpor_hours: params.mpor_hours,
        confidence: params.confidence,
        overrides: overrides_of(config, portfolio, c),
        fhs_scenarios: c.scenarios.n_fhs,
        floor_scenarios: c.scenarios.len() - c.scenarios.n_fhs,
        net_liquidation_value: m.net_liquidation_value,
        initial_margin: m.initial_margin,
        maintenance_margin: m.maintenance_margin,
        health_usd: m.health_usd,
        health_ratio: m.health_ratio,
        efficiency_vs_isolated: ratio(isolated.initial_margin),
        efficiency_vs_weighted: ratio(weighted.initial_margin),
        comparators: Comparators { isolated, weighted },
        margin: m,
    }
}

fn usd(x: f64) -> String {
    let neg = x < 0.0;
    let whole = x.abs().round() as u64;
    let s = whole.to_string();
    let mut out = String::new();
    for (k, ch) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if neg { format!("-{out}") } else { out }
}

/// The readable table printed by `clearhouse margin`.
pub fn render_table(r: &MarginReport) -> String {
    let m = &r.margin;
    let mut o = String::new();
    let _ = writeln!(o, "portfolio {}  as of {}  ({})", r.portfolio, r.as_of, r.data);
    if !r.description.is_empty() {
        let _ = writeln!(o, "  {}", r.description);
    }
    let _ = writeln!(
        o,
        "margin period {}h, ES {:.1}%, {} FHS scenarios + {} floor scenarios\n",
        r.mpor_hours,
        100.0 * r.confidence,
        r.fhs_scenarios,
        r.floor_scenarios
    );
    for line in &r.overrides {
        let _ = writeln!(o, "market override: {line}");
    }
    if !r.overrides.is_empty() {
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "{:<34} {:>16}", "net liquidation value (USD)", usd(r.net_liquidation_value));
    let _ = writeln!(o, "{:<34} {:>16}", "  after manipulation guard", usd(m.guarded_nlv));
    let _ = writeln!(o, "{:<34} {:>16}", "initial margin", usd(r.initial_margin));
    let _ = writeln!(o, "{:<34} {:>16}", "maintenance margin", usd(r.maintenance_margin));
    let _ = writeln!(
        o,
        "{:<34} {:>16}   ratio {}",
        "health (guarded NLV - maintenance)",
        usd(r.health_usd),
        r.health_ratio.map_or("-".into(), |h| format!("{h:.2}"))
    );
    let _ = writeln!(o, "\ncomparators (initial margin, USD)");
    let _ = writeln!(o, "  {:<32} {:>16}", "portfolio margin (this engine)", usd(r.initial_margin));
    let _ = writeln!(
        o,
        "  {:<32} {:>16}   ratio {}",
        "isolated per protocol",
        usd(r.comparators.isolated.initial_margin),
        r.efficiency_vs_isolated.map_or("-".into(), |x| format!("{x:.2}"))
    );
    let _ = writeln!(
        o,
        "  {:<32} {:>16}   ratio {}",
        "weighted cross margin (Mango v4)",
        usd(r.comparators.weighted.initial_margin),
        r.efficiency_vs_weighted.map_or("-".into(), |x| format!("{x:.2}"))
    );
    let _ = writeln!(o, "\nmargin build-up (USD)");
    for c in &m.charges {
        let _ = writeln!(o, "  {:<32} {:>16}   {}", c.name, usd(c.usd), c.detail);
    }
    let _ = writeln!(o, "  {:<32} {:>16}   binding: {}", "= initial margin", usd(r.initial_margin), m.binding);
    let _ = writeln!(o, "  worst scenario: {} (loss {})", m.worst_scenario, usd(m.worst_scenario_loss));
    let _ = writeln!(o, "  offsets recognised (standalone margins - portfolio market margin): {}", usd(m.offsets_recognised_usd));
    let _ = writeln!(
        o,
        "\npositions{:<25} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "", "quantity", "value", "ES tail loss", "worst loss", "standalone"
    );
    for c in &m.contributions {
        let _ = writeln!(
            o,
            "  {:<32} {:>14.4} {:>14} {:>14} {:>14} {:>14}",
            c.position,
            c.quantity,
            usd(c.value_usd),
            usd(c.tail_loss_usd),
            usd(c.worst_scenario_loss_usd),
            usd(c.standalone_margin_usd)
        );
    }
    let _ = writeln!(o, "\nprotocol claims{:<19} {:>14} {:>10} {:>6} {:>14} {:>12}", "", "claim", "PD(MPOR)", "LGD", "failure loss", "");
    for p in &m.protocols {
        let _ = writeln!(
            o,
            "  {:<32} {:>14} {:>10.2e} {:>6.2} {:>14} {:>12}",
            p.protocol,
            usd(p.claim_usd),
            p.pd_mpor,
            p.lgd,
            usd(p.failure_loss_usd),
            format!("w {:.3}", p.concentration_weight)
        );
    }
    let _ = writeln!(o, "\nliquidity{:<25} {:>14} {:>10} {:>14}", "", "notional", "move", "cost");
    for l in &m.liquidity {
        let _ = writeln!(
            o,
            "  {:<32} {:>14} {:>9.2}% {:>14}   on {}",
            l.instrument,
            usd(l.notional_usd),
            100.0 * l.price_move_to_close,
            usd(l.cost_usd),
            l.market
        );
        if let Some(w) = &l.warning {
            let _ = writeln!(o, "    warning: {w}");
        }
    }
    if !m.floor_scenarios.is_empty() {
        let _ = writeln!(o, "\nfloor scenarios, largest weighted loss first{:<8} {:>14} {:>7}", "", "loss", "weight");
        for f in &m.floor_scenarios {
            let _ = writeln!(o, "  {:<52} {:>14} {:>7.2}", f.scenario, usd(f.loss_usd), f.weight);
        }
    }
    if !m.guard_detail.is_empty() {
        let _ = writeln!(o, "\nmanipulation guard: {}", usd(m.manipulation_guard_usd));
        for g in &m.guard_detail {
            let _ = writeln!(o, "  {g}");
        }
    }
    o
}

/// The JSON printed by `clearhouse margin --json`.
pub fn render_json(r: &MarginReport) -> Result<String, RiskError> {
    serde_json::to_string_pretty(r).map_err(|e| RiskError::PortfolioInvalid { problem: format!("JSON encoding: {e}") })
}
