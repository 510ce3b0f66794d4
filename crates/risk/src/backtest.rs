//! The backtest: walks the real history, computes each example portfolio's margin on day `t` with
//! only data, parameters and scenarios dated before `t`, and compares it with the loss realised
//! over the following margin period at observed prices. Portfolios are held at constant notional
//! and re-struck daily (perpetual entries at the mark, option strikes at constant moneyness and
//! constant tenor, LP shares at constant USD value: the pool keeps its reserves and the share count
//! is scaled by the ratio of the share's value on the reference day to its value that day). Statistics: `docs/backtest-statistics.md`;
//! results: `docs/backtest.md`.

use crate::book::{Book, Restrike};
use crate::comparators::{self, Held};
use crate::error::RiskError;
use crate::margin::{Engine, Scratch};
use crate::market::{BaseMarket, Universe};
use crate::params::RiskParams;
use crate::portfolio::{MarketOverrides, Portfolio};
use crate::scenarios::{ScenarioBook, ScenarioKind, revalue};
use marketdata::scenarios::VolModel;
use marketdata::stats::{self, Zone};
use marketdata::{FactorPanel, Hour};
use model::Config;
use serde::Serialize;
use std::fmt::Write as _;

/// Upper bound on backtest days.
pub const MAX_DAYS: usize = 10_000;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestOptions {
    /// First and last as-of instants (inclusive).
    pub from: Hour,
    pub to: Hour,
    /// Hours between as-of instants; at least the realised horizon so periods do not overlap.
    pub step_hours: i64,
    /// Horizon of the realised loss, hours (the true close-out time: 24).
    pub realised_hours: i64,
    /// Worker threads (1 or 2); results are identical for either.
    pub threads: usize,
}

/// One day of one portfolio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub as_of: String,
    pub initial_margin: f64,
    pub var: f64,
    pub es: f64,
    pub realised_loss: f64,
    pub isolated: f64,
    pub weighted: f64,
    /// The term that set the IM that day (`Margin::binding`: the floor scenario, the ES or a charge).
    pub binding: String,
    /// An asset of the book that did not exist that day (its issuer launched later; its peg is
    /// the panel's documented stand-in, `Book::peg_stand_in`): the day is a stress on a stand-in
    /// path, reported apart and not counted in the coverage statistics.
    pub stand_in: Option<String>,
}

/// Statistics of one portfolio under one setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortfolioBacktest {
    pub portfolio: String,
    pub periods: usize,
    pub var_exceedances: usize,
    pub kupiec_statistic: f64,
    pub kupiec_p_value: f64,
    pub christoffersen_ind_statistic: f64,
    pub christoffersen_ind_p_value: f64,
    pub traffic_light: String,
    pub yellow_from: u64,
    pub red_from: u64,
    pub es_z2: f64,
    pub es_exceedance_ratio: Option<f64>,
    pub im_exceedances: Vec<(String, f64, f64)>,
    pub var_exceedance_dates: Vec<String>,
    pub mean_initial_margin: f64,
    pub mean_isolated: f64,
    pub mean_weighted: f64,
    /// Per named crisis: (crisis, IM exceedance days, worst uncovered loss = realised - IM, USD).
    pub crises: Vec<(String, usize, f64)>,
    /// On the reference day (the portfolio as written): per group of floor scenarios, the largest
    /// weighted loss, USD, and the initial margin it is compared with.
    pub stress_coverage: Vec<(String, f64)>,
    pub reference_initial_margin: f64,
    /// Capital efficiency on the reference day (the portfolio as written).
    pub capital_efficiency: Option<CapitalEfficiency>,
    /// IM over the worst realised loss of the look-back (`im_to_worst_loss`), summarised over the
    /// days that have one: `None` when no day has.
    pub im_to_worst_loss: Option<RatioSummary>,
    /// The days before an asset of the book existed (`Day::stand_in`), with the same per-crisis
    /// rows: a stress on a stand-in path, not coverage. Empty for most books.
    pub stand_in_days: Vec<Day>,
    pub stand_in_crises: Vec<(String, usize, f64)>,
    pub days: Vec<Day>,
}

/// The capital efficiency of a book as written, on its reference day
/// (`docs/margin-methodology.md` section 6.3): the initial margin split into what the positions
/// need and what holding the stablecoin collateral adds, beside the isolated venue margins with the
/// same haircut rate on the collateral those venues would require.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CapitalEfficiency {
    pub initial_margin: f64,
    /// IM of the book without its stablecoin balances (the positions and any other holdings).
    pub position_margin: f64,
    /// `initial_margin - position_margin`: the depeg of the collateral and its claim on the venue
    /// (slightly negative when the collateral diversifies the book's own risk).
    pub collateral_haircut: f64,
    /// Stablecoin balances, USD.
    pub collateral_usd: f64,
    /// Of the position margin: the outright charge for the concentrated failure of one protocol
    /// (e.g. the issuer of a synthetic leg), when it is what binds (0 otherwise).
    pub issuer_charge: f64,
    /// The position margin the book would need without that outright charge: the larger of the
    /// ES with protocol failures and the floor, plus the liquidity charge.
    pub position_margin_ex_issuer: f64,
    /// Isolated margin (each venue's own rules on its own positions).
    pub isolated: f64,
    /// `collateral_haircut / collateral_usd` x the collateral the isolated venues require (their
    /// margins), i.e. the same haircut rate on the collateral an isolated book must post.
    pub isolated_collateral_haircut: f64,
}

impl CapitalEfficiency {
    /// Position margin over isolated venue margin (the goal of issue 8: at most 0.10 for hedged books).
    pub fn position_ratio(&self) -> f64 {
        self.position_margin / self.isolated.max(1e-9)
    }
    /// The same without the outright issuer charge.
    pub fn ex_issuer_ratio(&self) -> f64 {
        self.position_margin_ex_issuer / self.isolated.max(1e-9)
    }
    /// IM over isolated margin plus the same collateral haircut.
    pub fn total_ratio(&self) -> f64 {
        self.initial_margin / (self.isolated + self.isolated_collateral_haircut).max(1e-9)
    }
}

/// Median, smallest and largest of a per-day ratio, the number of days it was measured on and
/// the number of days above [`IM_TO_WORST_LOSS_GOAL`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioSummary {
    pub days: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub days_above_goal: usize,
}

/// The goal of issue 8 for directional books: IM at most this multiple of the worst realised 24h
/// loss of the look-back.
pub const IM_TO_WORST_LOSS_GOAL: f64 = 1.5;

/// Days of realised losses a day's IM is compared with before the ratio to the worst one counts:
/// the first 180 as-of days only build up the look-back.
pub const LOOKBACK_MIN_DAYS: usize = 180;

/// Per day `t`: `IM(t) / max { realised loss of day d : d + horizon <= t }` over every earlier
/// as-of day of the walk (the look-back of the FHS: all history before `t`, the book at today's
/// notional), once at least [`LOOKBACK_MIN_DAYS`] losses are known and the worst is positive.
/// `days` are in date order, one per step of at least the realised horizon, so day `d` is known
/// at `t` exactly when it comes before `t`.
pub fn im_to_worst_loss(days: &[Day]) -> Vec<(String, f64)> {
    let mut worst = f64::NEG_INFINITY;
    let mut out = Vec::new();
    for (k, d) in days.iter().enumerate() {
        if k >= LOOKBACK_MIN_DAYS && worst > 0.0 {
            out.push((d.as_of.clone(), d.initial_margin / worst));
        }
        worst = worst.max(d.realised_loss);
    }
    out
}

/// Median (the mean of the two middle values for an even count), min and max; `None` if empty.
pub fn summarise(values: &[f64]) -> Option<RatioSummary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
    let days_above_goal = v.iter().filter(|x| **x > IM_TO_WORST_LOSS_GOAL).count();
    Some(RatioSummary { days: n, median, min: v[0], max: v[n - 1], days_above_goal })
}

/// The named crises the backtest reports on: (name, first as-of day, last as-of day).
pub const CRISES: [(&str, &str, &str); 9] = [
    ("2020-03 covid crash", "2020-03-08", "2020-03-20"),
    ("2021-01 ETH squeeze", "2021-01-01", "2021-01-06"),
    ("2021-05 crash", "2021-05-17", "2021-05-24"),
    ("2022-05 Terra", "2022-05-07", "2022-05-14"),
    ("2022-06 stETH/3AC", "2022-06-10", "2022-06-20"),
    ("2022-11 FTX", "2022-11-06", "2022-11-12"),
    ("2023-03 USDC/SVB", "2023-03-09", "2023-03-14"),
    ("2024-05 ETH ETF squeeze", "2024-05-18", "2024-05-23"),
    ("2024-08 carry unwind", "2024-08-02", "2024-08-07"),
];

/// The group of a floor scenario in the stress-coverage table.
pub fn scenario_group(label: &str) -> String {
    let words: Vec<&str> = label.split_whitespace().collect();
    match words.as_slice() {
        ["stress", id, ..] => format!("named {id}"),
        ["hypothetical:", "scan", u, ..] => format!("scan {u}"),
        ["hypothetical:", "extreme", u, ..] => format!("extreme {u}"),
        ["hypothetical:", "decorrelation", ..] => "decorrelation".to_string(),
        ["hypothetical:", "peg", "break", kind, ..] => format!("peg break {kind}"),
        ["hypothetical:", "through", ..] => "through strike".to_string(),
        ["implied", "vol", ..] => "vol shock".to_string(),
        _ => label.to_string(),
    }
}

/// A backtest of all portfolios under one setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    pub setting: String,
    pub mpor_hours: i64,
    pub stress_floor: bool,
    pub realised_hours: i64,
    pub from: String,
    pub to: String,
    pub portfolios: Vec<PortfolioBacktest>,
}

struct Prepared<'a> {
    portfolio: &'a Portfolio,
    restrike: Restrike,
    overrides: MarketOverrides,
}

/// Runs the backtest of `portfolios` with `params` over `opts`.
pub fn run(
    config: &Config,
    params: &RiskParams,
    portfolios: &[Portfolio],
    panel: &FactorPanel,
    vol_model: &VolModel,
    opts: &BacktestOptions,
    setting: &str,
) -> Result<Backtest, RiskError> {
    if opts.step_hours < opts.realised_hours || opts.to <= opts.from || panel.index_of(opts.from).is_err() {
        return Err(RiskError::BacktestRange { from: opts.from.to_iso(), to: opts.to.to_iso() });
    }
    let last = opts.to.0.min(panel.end().0 - opts.realised_hours);
    let days: Vec<Hour> = (0..).map(|k| Hour(opts.from.0 + k * opts.step_hours)).take_while(|t| t.0 <= last).take(MAX_DAYS).collect();
    let names = panel.factor_names().to_vec();
    let kinds: Vec<_> = (0..panel.n_factors()).map(|f| panel.kind(f)).collect();
    let universe = Universe::new(config, params, &names, &kinds)?;
    let mut prepared = Vec::new();
    for p in portfolios {
        let ref_t = p.as_of_hour()?;
        // Held at the reference day's USD notional; overrides that pin prices are dropped so that
        // every day uses its own observed prices (probabilities and pool states stay).
        let overrides = MarketOverrides { probability: p.market.probability.clone(), ..MarketOverrides::default() };
        let base_ref = BaseMarket::from_panel(&universe, panel, ref_t, params, &overrides)?;
        let ref_spot_usd = (0..universe.underlyings.len()).map(|u| base_ref.spot_usd(&universe, pricing::UnderlyingId(u as u16))).collect();
        prepared.push(Prepared { portfolio: p, restrike: Restrike { ref_spot_usd, ref_now_years: base_ref.now_years }, overrides });
    }
    let threads = opts.threads.clamp(1, 2);
    let chunk = days.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Vec<Day>>, RiskError>> = std::thread::scope(|s| {
        let handles: Vec<_> = days
            .chunks(chunk)
            .map(|ds| {
                let (universe, prepared) = (&universe, &prepared);
                s.spawn(move || {
                    ds.iter()
                        .map(|t| one_day(config, params, universe, prepared, panel, vol_model, *t, opts))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(RiskError::BacktestRange { from: "worker".into(), to: "panicked".into() })))
            .collect()
    });
    // Reassemble in day order (chunks are contiguous and joined in order).
    let mut per_day: Vec<Vec<Day>> = Vec::with_capacity(days.len());
    for r in results {
        per_day.extend(r?);
    }
    let mut out = Vec::new();
    for (k, p) in portfolios.iter().enumerate() {
        let (stand_in, mut series): (Vec<Day>, Vec<Day>) = per_day.iter().map(|d| d[k].clone()).partition(|d| d.stand_in.is_some());
        if series.is_empty() {
            // A window wholly before the asset's own history (e.g. a crisis replay of March 2020):
            // its statistics are the stand-in days', which the stand-in table also lists.
            series.clone_from(&stand_in);
        }
        let mut st = statistics(&p.name, series, params.tail())?;
        st.stand_in_crises = crisis_rows(&stand_in);
        st.stand_in_days = stand_in;
        let reference = stress_coverage(config, params, &universe, panel, vol_model, p)?;
        (st.stress_coverage, st.reference_initial_margin, st.capital_efficiency) = reference;
        out.push(st);
    }
    Ok(Backtest {
        setting: setting.to_string(),
        mpor_hours: params.mpor_hours,
        stress_floor: params.stress_floor,
        realised_hours: opts.realised_hours,
        from: days.first().map_or(String::new(), |t| t.to_iso()),
        to: days.last().map_or(String::new(), |t| t.to_iso()),
        portfolios: out,
    })
}

/// Per group of floor scenarios the largest weighted loss, the initial margin, the capital efficiency.
type Reference = (Vec<(String, f64)>, f64, Option<CapitalEfficiency>);

/// The floor scenarios of a portfolio as written, on its own as-of day: per group, the largest
/// weighted loss; its initial margin; its capital efficiency.
fn stress_coverage(
    config: &Config,
    params: &RiskParams,
    universe: &Universe,
    panel: &FactorPanel,
    vol_model: &VolModel,
    p: &Portfolio,
) -> Result<Reference, RiskError> {
    let t = p.as_of_hour()?;
    let base = BaseMarket::from_panel(universe, panel, t, params, &p.market)?;
    let book = Book::compile(config, params, universe, &base, p, None)?;
    let mut outcomes: Vec<(u16, String)> =
        book.instruments.iter().filter_map(|i| i.outcome.map(|o| (o.0, universe.outcomes[usize::from(o.0)].clone()))).collect();
    outcomes.sort_unstable();
    outcomes.dedup();
    let short_dated = crate::scenarios::short_dated_options(&book, &base, universe, params.hypothetical.short_dated_days);
    let hypo = crate::scenarios::HypotheticalContext { config, universe, short_dated };
    let scen = ScenarioBook::from_panel(panel, vol_model, t, params, &outcomes, Some(&hypo))?;
    let rv = revalue(&book, universe, &base, &scen)?;
    let engine = Engine::new(config, universe, &base, book.instruments.clone(), &scen, rv, params)?;
    let positions: Vec<(usize, f64)> = book.positions.iter().map(|q| (q.instrument, q.quantity)).collect();
    let mut loss = Vec::new();
    engine.fill_loss(&positions, |_| false, &mut loss);
    let mut groups: Vec<(String, f64)> = Vec::new();
    for (s, l) in loss.iter().enumerate().skip(scen.n_fhs) {
        let g = scenario_group(&scen.label(s));
        let l = scen.weight(s) * l;
        match groups.iter_mut().find(|x| x.0 == g) {
            Some(x) => x.1 = x.1.max(l),
            None => groups.push((g, l)),
        }
    }
    let m = engine.margin(&positions, &[], false, &mut Scratch::default());
    let efficiency = capital_efficiency(config, &book, &engine, m.initial_margin);
    Ok((groups, m.initial_margin, Some(efficiency)))
}

/// [`CapitalEfficiency`] of a compiled book whose initial margin is `im`.
pub fn capital_efficiency(config: &Config, book: &Book, engine: &Engine, im: f64) -> CapitalEfficiency {
    let is_collateral = |q: &crate::book::BookPosition| {
        let inst = &book.instruments[q.instrument];
        q.is_balance && inst.asset.as_deref().and_then(|a| config.asset(a)).is_some_and(|a| a.kind == model::AssetKind::Stablecoin)
    };
    let kept: Vec<(usize, f64)> = book.positions.iter().filter(|q| !is_collateral(q)).map(|q| (q.instrument, q.quantity)).collect();
    let collateral_usd: f64 =
        book.positions.iter().filter(|q| is_collateral(q)).map(|q| q.quantity * engine.rv.base_values[q.instrument]).sum();
    let pm = engine.margin(&kept, &[], false, &mut Scratch::default());
    let issuer_charge = if pm.binding.contains("concentrat") { pm.concentrated_failure_loss } else { 0.0 };
    let held: Vec<Held<'_>> = book.positions.iter().map(|q| (&book.instruments[q.instrument], q.quantity, q.is_balance)).collect();
    let base_values: Vec<f64> = book.positions.iter().map(|q| engine.rv.base_values[q.instrument]).collect();
    let notional: Vec<f64> = book.positions.iter().map(|q| engine.unit_notional[q.instrument]).collect();
    let isolated = comparators::isolated(config, &held, &base_values, &notional, &engine.spot_usd).initial_margin;
    let collateral_haircut = im - pm.initial_margin;
    let rate = if collateral_usd > 0.0 { collateral_haircut.max(0.0) / collateral_usd } else { 0.0 };
    CapitalEfficiency {
        initial_margin: im,
        position_margin: pm.initial_margin,
        collateral_haircut,
        collateral_usd,
        issuer_charge,
        position_margin_ex_issuer: pm.es_with_protocols.max(pm.floor_loss) + pm.liquidity_charge,
        isolated,
        isolated_collateral_haircut: rate * isolated,
    }
}

#[allow(clippy::too_many_arguments)]
fn one_day(
    config: &Config,
    params: &RiskParams,
    universe: &Universe,
    prepared: &[Prepared<'_>],
    panel: &FactorPanel,
    vol_model: &VolModel,
    t: Hour,
    opts: &BacktestOptions,
) -> Result<Vec<Day>, RiskError> {
    let realised = marketdata::realised_move(panel, t, opts.realised_hours)?;
    let mut out = Vec::with_capacity(prepared.len());
    let mut scratch = Scratch::default();
    type ScenarioKey = (Vec<(u16, String)>, Vec<(pricing::UnderlyingId, f64, f64)>);
    let mut scen_cache: Option<(ScenarioKey, ScenarioBook)> = None;
    for p in prepared {
        let base = BaseMarket::from_panel(universe, panel, t, params, &p.overrides)?;
        let book = Book::compile(config, params, universe, &base, p.portfolio, Some(&p.restrike))?;
        book.check_first_observations(universe, panel, t)?;
        let mut outcomes: Vec<(u16, String)> =
            book.instruments.iter().filter_map(|i| i.outcome.map(|o| (o.0, universe.outcomes[usize::from(o.0)].clone()))).collect();
        outcomes.sort_unstable();
        outcomes.dedup();
        let short_dated = crate::scenarios::short_dated_options(&book, &base, universe, params.hypothetical.short_dated_days);
        let key = (outcomes.clone(), short_dated.clone());
        let scen = match &scen_cache {
            Some((k, s)) if *k == key => s.clone(),
            _ => {
                let hypo = crate::scenarios::HypotheticalContext { config, universe, short_dated };
                let s = ScenarioBook::from_panel(panel, vol_model, t, params, &outcomes, Some(&hypo))?;
                scen_cache = Some((key, s.clone()));
                s
            }
        };
        let rv = revalue(&book, universe, &base, &scen)?;
        book.check_values(&rv.base_values)?;
        let engine = Engine::new(config, universe, &base, book.instruments.clone(), &scen, rv, params)?;
        let positions: Vec<(usize, f64)> = book.positions.iter().map(|q| (q.instrument, q.quantity)).collect();
        let m = engine.margin(&positions, &[], false, &mut scratch);
        let real = ScenarioBook {
            as_of: t,
            mpor_hours: opts.realised_hours,
            kinds: vec![ScenarioKind::Realised],
            moves: realised.clone(),
            n_factors: realised.len(),
            n_fhs: 0,
            vol_shock: None,
        };
        let rr = revalue(&book, universe, &base, &real)?;
        let realised_loss: f64 = positions.iter().map(|&(i, q)| -q * rr.dv[i]).sum();
        let held: Vec<Held<'_>> = book.positions.iter().map(|q| (&book.instruments[q.instrument], q.quantity, q.is_balance)).collect();
        let bv: Vec<f64> = book.positions.iter().map(|q| engine.rv.base_values[q.instrument]).collect();
        let un: Vec<f64> = book.positions.iter().map(|q| engine.unit_notional[q.instrument]).collect();
        let iso = comparators::isolated(config, &held, &bv, &un, &engine.spot_usd).initial_margin;
        let wei = comparators::weighted(config, &params.weights, &held, &bv, &un).initial_margin;
        out.push(Day {
            as_of: t.to_iso(),
            initial_margin: m.initial_margin,
            var: m.var_fhs,
            es: m.es_fhs,
            realised_loss,
            isolated: iso,
            weighted: wei,
            binding: m.binding.clone(),
            stand_in: book.peg_stand_in(config, universe, panel, t),
        });
    }
    Ok(out)
}

fn crisis_rows(days: &[Day]) -> Vec<(String, usize, f64)> {
    CRISES
        .iter()
        .map(|(name, from, to)| {
            let inside: Vec<&Day> = days.iter().filter(|d| d.as_of.as_str() >= *from && &d.as_of[..10] <= *to).collect();
            let exceed = inside.iter().filter(|d| d.realised_loss > d.initial_margin).count();
            let worst = inside.iter().map(|d| (d.realised_loss - d.initial_margin).max(0.0)).fold(0.0, f64::max);
            (name.to_string(), exceed, worst)
        })
        .collect()
}

fn statistics(name: &str, days: Vec<Day>, tail: f64) -> Result<PortfolioBacktest, RiskError> {
    let n = days.len();
    let exceed: Vec<bool> = days.iter().map(|d| d.realised_loss > d.var).collect();
    let x = exceed.iter().filter(|e| **e).count();
    let kup = stats::kupiec_pof(n as u64, x as u64, tail)?;
    let chr = stats::christoffersen(&exceed, tail)?;
    let tl = stats::traffic_light(n as u64, x as u64, tail)?;
    let losses: Vec<f64> = days.iter().map(|d| d.realised_loss).collect();
    let var: Vec<f64> = days.iter().map(|d| d.var).collect();
    // The ES tests need a positive ES; a book with no loss in any scenario has ES 0, floored at 1 cent.
    let es: Vec<f64> = days.iter().map(|d| d.es.max(0.01)).collect();
    let z2 = stats::es_z2(&losses, &var, &es, tail)?;
    let ratio = stats::es_exceedance_ratio(&losses, &var, &es)?;
    let mean = |f: fn(&Day) -> f64| days.iter().map(f).sum::<f64>() / n.max(1) as f64;
    Ok(PortfolioBacktest {
        portfolio: name.to_string(),
        periods: n,
        var_exceedances: x,
        kupiec_statistic: kup.statistic,
        kupiec_p_value: kup.p_value,
        christoffersen_ind_statistic: chr.independence.statistic,
        christoffersen_ind_p_value: chr.independence.p_value,
        traffic_light: match tl.zone {
            Zone::Green => "green",
            Zone::Yellow => "yellow",
            Zone::Red => "red",
        }
        .to_string(),
        yellow_from: tl.yellow_from,
        red_from: tl.red_from,
        es_z2: z2,
        es_exceedance_ratio: ratio,
        im_exceedances: days
            .iter()
            .filter(|d| d.realised_loss > d.initial_margin)
            .map(|d| (d.as_of.clone(), d.realised_loss, d.initial_margin))
            .collect(),
        var_exceedance_dates: days.iter().zip(&exceed).filter(|(_, e)| **e).map(|(d, _)| d.as_of[..10].to_string()).collect(),
        mean_initial_margin: mean(|d| d.initial_margin),
        mean_isolated: mean(|d| d.isolated),
        mean_weighted: mean(|d| d.weighted),
        crises: crisis_rows(&days),
        stress_coverage: Vec::new(),
        reference_initial_margin: 0.0,
        capital_efficiency: None,
        im_to_worst_loss: summarise(&im_to_worst_loss(&days).iter().map(|r| r.1).collect::<Vec<_>>()),
        stand_in_days: Vec::new(),
        stand_in_crises: Vec::new(),
        days,
    })
}

fn f0(x: f64) -> String {
    format!("{x:.0}")
}

/// Markdown tables of one or more backtests (the content of `docs/backtest.md`).
pub fn render_markdown(runs: &[Backtest]) -> String {
    let mut o = String::new();
    for b in runs {
        let _ = writeln!(
            o,
            "### {}\n\nMargin period {} h, stress floor {}, realised loss over {} h, as-of dates {} .. {} (daily at 00:00 UTC).\n",
            b.setting,
            b.mpor_hours,
            if b.stress_floor { "on" } else { "off" },
            b.realised_hours,
            &b.from[..10.min(b.from.len())],
            &b.to[..10.min(b.to.len())]
        );
        let _ = writeln!(
            o,
            "| portfolio | periods | VaR99 exceedances | Kupiec LR (p) | Christoffersen ind. LR (p) | traffic light (yellow from, red from) | ES Z2 | ES exceedance ratio | IM exceedances | mean IM | IM / isolated | IM / weighted |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for p in &b.portfolios {
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {:.2} ({:.3}) | {:.2} ({:.3}) | {} ({}, {}) | {:.2} | {} | {} | {} | {:.2} | {:.2} |",
                p.portfolio,
                p.periods,
                p.var_exceedances,
                p.kupiec_statistic,
                p.kupiec_p_value,
                p.christoffersen_ind_statistic,
                p.christoffersen_ind_p_value,
                p.traffic_light,
                p.yellow_from,
                p.red_from,
                p.es_z2,
                p.es_exceedance_ratio.map_or("-".into(), |r| format!("{r:.2}")),
                p.im_exceedances.len(),
                f0(p.mean_initial_margin),
                p.mean_initial_margin / p.mean_isolated.max(1e-9),
                p.mean_initial_margin / p.mean_weighted.max(1e-9),
            );
        }
        render_crises(&mut o, b);
        render_stand_in(&mut o, b);
        render_worst_loss_ratio(&mut o, b);
        if b.stress_floor {
            render_coverage(&mut o, b);
            render_efficiency(&mut o, b);
        }
        let march = im_exceedances_between(b, "2020-03-01", "2020-04-01");
        let _ = writeln!(
            o,
            "\nLosses above the whole initial margin in March 2020: {}.",
            if march.is_empty() {
                "none".to_string()
            } else {
                march
                    .iter()
                    .map(|(p, d, l, m)| format!("`{p}` {} (loss {}, IM {})", &d[..10], f0(*l), f0(*m)))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
        let _ = writeln!(o, "\nExceedance dates (VaR99; `IM` marks a loss above the whole initial margin):\n");
        for p in &b.portfolios {
            let im_dates: Vec<String> =
                p.im_exceedances.iter().map(|(d, l, m)| format!("{} (loss {}, IM {})", &d[..10], f0(*l), f0(*m))).collect();
            let _ = writeln!(
                o,
                "- `{}`: VaR {}{}",
                p.portfolio,
                if p.var_exceedance_dates.is_empty() { "none".to_string() } else { p.var_exceedance_dates.join(", ") },
                if im_dates.is_empty() { String::new() } else { format!("; IM: {}", im_dates.join(", ")) }
            );
        }
        let _ = writeln!(o);
    }
    o
}

/// Per book and named crisis: IM exceedance days and the worst uncovered loss (realised - IM).
fn render_crises(o: &mut String, b: &Backtest) {
    let _ = writeln!(
        o,
        "\nUncovered 24h loss per book and named crisis (worst day: realised loss - IM, USD; in brackets the days with a loss above IM; `-` none):\n"
    );
    let _ = writeln!(o, "| portfolio | {} |", CRISES.iter().map(|c| c.0).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(o, "|---|{}", "---|".repeat(CRISES.len()));
    for p in &b.portfolios {
        let cells: Vec<String> =
            p.crises.iter().map(|(_, n, w)| if *n == 0 { "-".to_string() } else { format!("{} ({n})", f0(*w)) }).collect();
        let _ = writeln!(o, "| `{}` | {} |", p.portfolio, cells.join(" | "));
    }
}

/// The books with days before one of their assets existed: those days, apart, as a stress.
fn render_stand_in(o: &mut String, b: &Backtest) {
    let books: Vec<&PortfolioBacktest> = b.portfolios.iter().filter(|p| !p.stand_in_days.is_empty()).collect();
    if books.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\nDays before an asset of the book existed (its issuer launched later; its price is the documented stand-in of market-data.md), not counted above: a stress on a stand-in path, not coverage. Uncovered 24h loss per named crisis as above:\n"
    );
    let _ = writeln!(
        o,
        "| portfolio | stand-in asset | days | first day counted | {} |",
        CRISES.iter().map(|c| c.0).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(o, "|---|---|---|---|{}", "---|".repeat(CRISES.len()));
    for p in books {
        let cells: Vec<String> =
            p.stand_in_crises.iter().map(|(_, n, w)| if *n == 0 { "-".to_string() } else { format!("{} ({n})", f0(*w)) }).collect();
        let asset = p.stand_in_days.first().and_then(|d| d.stand_in.clone()).unwrap_or_default();
        let first = p.days.first().map_or("-".to_string(), |d| d.as_of[..10].to_string());
        let _ = writeln!(o, "| `{}` | {asset} | {} | {first} | {} |", p.portfolio, p.stand_in_days.len(), cells.join(" | "));
    }
}

/// Per book: IM over the worst realised 24h loss of the look-back, median/min/max over the days.
fn render_worst_loss_ratio(o: &mut String, b: &Backtest) {
    let _ = writeln!(
        o,
        "\nInitial margin over the worst realised {h}h loss of the look-back (per as-of day `t`: IM(t) / the largest realised {h}h loss of the same book on any earlier as-of day, from the {LOOKBACK_MIN_DAYS}th day on; goal for directional books: at most {IM_TO_WORST_LOSS_GOAL}):\n",
        h = b.realised_hours
    );
    let _ = writeln!(o, "| portfolio | days | median | min | max | days above {IM_TO_WORST_LOSS_GOAL} |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for p in &b.portfolios {
        match &p.im_to_worst_loss {
            Some(r) => {
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {:.2} | {:.2} | {:.2} | {} |",
                    p.portfolio, r.days, r.median, r.min, r.max, r.days_above_goal
                );
            }
            None => {
                let _ = writeln!(o, "| `{}` | 0 | - | - | - | - |", p.portfolio);
            }
        }
    }
}

/// Stress coverage on the reference day: each group's largest weighted loss as a share of IM.
fn render_coverage(o: &mut String, b: &Backtest) {
    let mut groups: Vec<String> = b.portfolios.iter().flat_map(|p| p.stress_coverage.iter().map(|g| g.0.clone())).collect();
    groups.sort();
    groups.dedup();
    let _ = writeln!(
        o,
        "\nStress coverage on the reference day (2024-12-31, books as written): the largest weighted loss of each group of floor scenarios as a percentage of the initial margin (100% = the group sets the floor; IM covers every scenario at weight 1):\n"
    );
    let _ = writeln!(o, "| portfolio | IM | {} |", groups.join(" | "));
    let _ = writeln!(o, "|---|---|{}", "---|".repeat(groups.len()));
    for p in &b.portfolios {
        let im = p.reference_initial_margin.max(1e-9);
        let cells: Vec<String> = groups
            .iter()
            .map(|g| p.stress_coverage.iter().find(|x| &x.0 == g).map_or("".to_string(), |x| format!("{:.0}%", 100.0 * x.1.max(0.0) / im)))
            .collect();
        let _ = writeln!(o, "| `{}` | {} | {} |", p.portfolio, f0(p.reference_initial_margin), cells.join(" | "));
    }
}

/// Capital efficiency on the reference day: position margin and collateral haircut apart, against
/// the isolated venue margins and the same haircut on the collateral those venues require.
fn render_efficiency(o: &mut String, b: &Backtest) {
    let _ = writeln!(
        o,
        "\nCapital efficiency on the reference day (2024-12-31, books as written; docs/margin-methodology.md section 6.3): IM = position margin (the book without its stablecoin balances) + collateral haircut (what holding the stablecoins adds: their depeg, their claim on the venue); the issuer charge is the outright concentration charge inside the position margin when it binds (a synthetic or wrapped leg pays for its issuer in size), shown beside the ratio without it; isolated = each venue's own margin on its own positions, and the same haircut rate applied to the collateral those margins require. Goal for hedged books: position margin / isolated at most 0.10.\n"
    );
    let _ = writeln!(
        o,
        "| portfolio | IM | position margin | collateral haircut (on collateral) | issuer charge | isolated venue margin | isolated collateral haircut | position margin / isolated | without issuer charge | IM / (isolated + haircut) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|");
    for p in &b.portfolios {
        let Some(e) = &p.capital_efficiency else { continue };
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | {} ({}) | {} | {} | {} | {:.3} | {:.3} | {:.2} |",
            p.portfolio,
            f0(e.initial_margin),
            f0(e.position_margin),
            f0(e.collateral_haircut),
            f0(e.collateral_usd),
            f0(e.issuer_charge),
            f0(e.isolated),
            f0(e.isolated_collateral_haircut),
            e.position_ratio(),
            e.ex_issuer_ratio(),
            e.total_ratio()
        );
    }
}

/// The exceedances of the whole initial margin in a date range (e.g. March 2020), over all
/// portfolios: `(portfolio, date, loss, margin)`.
pub fn im_exceedances_between(b: &Backtest, from: &str, to: &str) -> Vec<(String, String, f64, f64)> {
    b.portfolios
        .iter()
        .flat_map(|p| {
            p.im_exceedances
                .iter()
                .filter(|(d, _, _)| d.as_str() >= from && d.as_str() < to)
                .map(|(d, l, m)| (p.portfolio.clone(), d.clone(), *l, *m))
        })
        .collect()
}

/// The published suite: the model as configured, and the negative control (no stress floor, a
/// one-hour margin period) judged against the same 24-hour realised losses.
pub fn run_suite(
    config: &Config,
    params: &RiskParams,
    portfolios: &[Portfolio],
    panel: &FactorPanel,
    vol_model: &VolModel,
    opts: &BacktestOptions,
) -> Result<Vec<Backtest>, RiskError> {
    let model_run = run(config, params, portfolios, panel, vol_model, opts, "Model (default parameters)")?;
    let mut weak = params.clone();
    weak.stress_floor = false;
    weak.mpor_hours = 1;
    let control = run(config, &weak, portfolios, panel, vol_model, opts, "Negative control (no stress floor, 1-hour margin period)")?;
    Ok(vec![model_run, control])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(k: usize, im: f64, loss: f64) -> Day {
        Day {
            as_of: format!("day{k:04}"),
            initial_margin: im,
            var: 0.0,
            es: 0.0,
            realised_loss: loss,
            isolated: 0.0,
            weighted: 0.0,
            binding: String::new(),
            stand_in: None,
        }
    }

    #[test]
    fn im_to_worst_loss_uses_only_earlier_days_and_the_largest_loss() {
        // Losses 1..=LOOKBACK_MIN_DAYS on the first days, then a day with loss 1000 (its own loss
        // must not count on that day) and one more day.
        let mut days: Vec<Day> = (0..LOOKBACK_MIN_DAYS).map(|k| day(k, 50.0, (k + 1) as f64)).collect();
        days.push(day(LOOKBACK_MIN_DAYS, 360.0, 1000.0));
        days.push(day(LOOKBACK_MIN_DAYS + 1, 1500.0, 0.0));
        let r = im_to_worst_loss(&days);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1, 360.0 / LOOKBACK_MIN_DAYS as f64);
        assert_eq!(r[1].1, 1.5);
        let s = summarise(&[3.0, 1.0, 2.0, 10.0]).expect("four values");
        assert_eq!((s.days, s.median, s.min, s.max, s.days_above_goal), (4, 2.5, 1.0, 10.0, 3));
        assert!(summarise(&[]).is_none());
    }

    #[test]
    fn im_to_worst_loss_skips_days_without_a_positive_worst_loss() {
        let days: Vec<Day> = (0..LOOKBACK_MIN_DAYS + 5).map(|k| day(k, 10.0, -1.0)).collect();
        assert!(im_to_worst_loss(&days).is_empty());
    }
}
