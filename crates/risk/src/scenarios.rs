//! The scenario set of one as-of instant: filtered historical simulation (FHS) windows first, then
//! the floor scenarios (named stresses, implied-vol shocks, prediction-market resolutions), and the
//! revaluation of each distinct instrument once per scenario.

use crate::book::{Book, Class};
use crate::error::RiskError;
use crate::market::{BaseMarket, StateBuilder, Universe};
use crate::params::RiskParams;
use marketdata::scenarios::VolModel;
use marketdata::stress::VolShockDirection;
use marketdata::{FactorPanel, FhsParams, Hour, VolShockParams};
use pricing::{Factor, Resolution, Shift};

/// Per factor: the scan ranges of a price factor (None for other factors or without `hypo`).
fn scan_ranges(
    panel: &FactorPanel,
    as_of: Hour,
    params: &RiskParams,
    fhs_moves: &[f64],
    hypo: Option<&HypotheticalContext<'_>>,
) -> Vec<Option<crate::hypothetical::ScanRange>> {
    let Some(h) = hypo else { return Vec::new() };
    let inputs = crate::hypothetical::Inputs {
        config: h.config,
        universe: h.universe,
        panel,
        as_of,
        mpor_hours: params.mpor_hours,
        fhs_moves,
        vol_shock: None,
        short_dated: &[],
        ewma: params.ewma(),
        floor_fraction: params.floor_fraction,
        then_floor_fraction: params.fhs.then_floor_fraction,
    };
    (0..h.universe.factor_names.len())
        .map(|f| {
            (h.universe.factor_kinds[f] == marketdata::FactorKind::Price)
                .then(|| crate::hypothetical::scan_range(&inputs, &params.hypothetical, f))
        })
        .collect()
}

/// The short-dated options of a book, `(underlying, strike, spot)`, for the through-the-strike scan.
pub fn short_dated_options(book: &Book, base: &BaseMarket, universe: &Universe, max_days: f64) -> Vec<(pricing::UnderlyingId, f64, f64)> {
    let mut out: Vec<(pricing::UnderlyingId, f64, f64)> = book
        .instruments
        .iter()
        .filter_map(|i| match (i.pricing, i.expiry_days) {
            (pricing::Instrument::Option(o), Some(d)) if d <= max_days => {
                base.spot_usd(universe, o.underlying).map(|s| (o.underlying, o.strike_usd, s))
            }
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.0.0.cmp(&b.0.0).then(a.1.total_cmp(&b.1)));
    out.dedup();
    out
}

/// Upper bound on scenarios in one set.
pub const MAX_SCENARIOS: usize = 200_000;

/// What a scenario is.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioKind {
    /// A historical window, rescaled (equally weighted in the expected shortfall).
    Fhs { window_start: Hour },
    /// A named stress event (floor).
    Stress { id: String },
    /// Implied vol up or down, shorter expiries more (floor), no price move.
    VolShock { up: bool },
    /// A prediction market resolves (floor), no price move.
    Resolution { outcome: u16, market: String, yes: bool },
    /// The moves that actually happened (backtest only): pegs are not capped at par.
    Realised,
    /// A hypothetical scenario (floor), its loss counted at `weight` (`crate::hypothetical`).
    Hypothetical { name: String, weight: f64 },
}

/// What the hypothetical scenarios need beside the history: the configuration (asset kinds), the
/// universe (factor mapping) and the book's short-dated options `(underlying, strike, spot)`.
pub struct HypotheticalContext<'a> {
    pub config: &'a model::Config,
    pub universe: &'a crate::market::Universe,
    pub short_dated: Vec<(pricing::UnderlyingId, f64, f64)>,
}

/// The scenarios of one as-of instant.
#[derive(Debug, Clone)]
pub struct ScenarioBook {
    pub as_of: Hour,
    pub mpor_hours: i64,
    pub kinds: Vec<ScenarioKind>,
    /// Row-major moves (scenario x factor); zero rows for vol shocks and resolutions.
    pub moves: Vec<f64>,
    pub n_factors: usize,
    /// Scenarios `0..n_fhs` are FHS; the rest are floor scenarios.
    pub n_fhs: usize,
    pub vol_shock: Option<VolShockParams>,
}

impl ScenarioBook {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
    pub fn row(&self, s: usize) -> &[f64] {
        &self.moves[s * self.n_factors..(s + 1) * self.n_factors]
    }
    /// Readable name: the window start date of an FHS scenario, the event id of a stress.
    pub fn label(&self, s: usize) -> String {
        match &self.kinds[s] {
            ScenarioKind::Fhs { window_start } => format!("FHS {} +{}h", window_start, self.mpor_hours),
            ScenarioKind::Stress { id } => format!("stress {id}"),
            ScenarioKind::VolShock { up } => format!("implied vol {}", if *up { "up" } else { "down" }),
            ScenarioKind::Resolution { market, yes, .. } => format!("{market} resolves {}", if *yes { "YES" } else { "NO" }),
            ScenarioKind::Realised => "realised".to_string(),
            ScenarioKind::Hypothetical { name, .. } => format!("hypothetical: {name}"),
        }
    }

    /// Weight of scenario `s` in the floor (1 except partial-weight hypothetical scenarios).
    pub fn weight(&self, s: usize) -> f64 {
        match &self.kinds[s] {
            ScenarioKind::Hypothetical { weight, .. } => *weight,
            _ => 1.0,
        }
    }

    /// FHS from the panel as of `as_of` (only data before it), stress events that ended before it,
    /// vol shocks calibrated on data before it, and resolutions of the book's prediction markets.
    ///
    /// With `hypo`, the price moves of the named stress scenarios are capped at today's scan range
    /// of their factor (so the March 2020 path is not applied unscaled forever; pegs, basis,
    /// funding and implied vol keep their observed joint moves), and the hypothetical scenarios
    /// follow (`crate::hypothetical`).
    pub fn from_panel(
        panel: &FactorPanel,
        vol_model: &VolModel,
        as_of: Hour,
        params: &RiskParams,
        outcomes: &[(u16, String)],
        hypo: Option<&HypotheticalContext<'_>>,
    ) -> Result<ScenarioBook, RiskError> {
        let fhs_params = FhsParams {
            mpor_hours: params.mpor_hours,
            stride_hours: params.fhs_stride_hours,
            floor_fraction: params.floor_fraction,
            then_floor_fraction: params.fhs.then_floor_fraction,
            ewma: params.ewma(),
            max_scenarios: MAX_SCENARIOS,
            ..FhsParams::default()
        };
        let fhs = marketdata::fhs_scenarios_with(panel, vol_model, as_of, &fhs_params)?;
        let nf = fhs.n_factors();
        let mut kinds: Vec<ScenarioKind> = fhs.window_start.iter().map(|w| ScenarioKind::Fhs { window_start: *w }).collect();
        let mut moves = fhs.moves;
        let n_fhs = kinds.len();
        let mut vol_shock = None;
        if params.stress_floor {
            let ranges = scan_ranges(panel, as_of, params, &moves[..n_fhs * nf], hypo);
            for st in marketdata::stress_scenarios(panel, as_of, params.mpor_hours)? {
                assert_eq!(st.moves.len(), nf, "stress moves in panel factor order");
                for (f, m) in st.moves.iter().enumerate() {
                    // A named move is never larger than today's scan range of its price factor on
                    // its side (a crash against the down range, a rise against the up range).
                    moves.push(match ranges.get(f).copied().flatten().map(|r| r.toward(*m)) {
                        Some(r) if m.abs() > r => m.signum() * r,
                        _ => *m,
                    });
                }
                kinds.push(ScenarioKind::Stress { id: st.id });
            }
            vol_shock = Some(vol_shock_as_of(panel, as_of, params)?);
            if let Some(h) = hypo {
                let inputs = crate::hypothetical::Inputs {
                    config: h.config,
                    universe: h.universe,
                    panel,
                    as_of,
                    mpor_hours: params.mpor_hours,
                    fhs_moves: &moves[..n_fhs * nf],
                    vol_shock,
                    short_dated: &h.short_dated,
                    ewma: params.ewma(),
                    floor_fraction: params.floor_fraction,
                    then_floor_fraction: params.fhs.then_floor_fraction,
                };
                let hs = crate::hypothetical::scenarios(&inputs, &params.hypothetical);
                for x in hs {
                    assert_eq!(x.moves.len(), nf, "hypothetical moves in factor order");
                    moves.extend_from_slice(&x.moves);
                    kinds.push(ScenarioKind::Hypothetical { name: x.name, weight: x.weight });
                }
            }
        }
        if kinds.len() > MAX_SCENARIOS {
            return Err(RiskError::CapacityExceeded { what: "scenarios", count: kinds.len(), capacity: MAX_SCENARIOS });
        }
        let mut book = ScenarioBook { as_of, mpor_hours: params.mpor_hours, kinds, moves, n_factors: nf, n_fhs, vol_shock };
        if params.stress_floor {
            book.push_floor_extras(outcomes);
        }
        Ok(book)
    }

    /// Without raw history: no FHS; the committed stress scenarios and vol shocks only.
    pub fn from_calibration(
        cal: &marketdata::Calibration,
        as_of: Hour,
        params: &RiskParams,
        outcomes: &[(u16, String)],
    ) -> Result<ScenarioBook, RiskError> {
        let nf = cal.factors.len();
        let mut kinds = Vec::new();
        let mut moves = Vec::new();
        for st in marketdata::stress::stress_scenarios_from_calibration(cal, as_of, params.mpor_hours)? {
            moves.extend_from_slice(&st.moves);
            kinds.push(ScenarioKind::Stress { id: st.id });
        }
        let mut book =
            ScenarioBook { as_of, mpor_hours: params.mpor_hours, kinds, moves, n_factors: nf, n_fhs: 0, vol_shock: Some(cal.vol_shock) };
        book.push_floor_extras(outcomes);
        Ok(book)
    }

    fn push_floor_extras(&mut self, outcomes: &[(u16, String)]) {
        if self.vol_shock.is_some() {
            for up in [true, false] {
                self.kinds.push(ScenarioKind::VolShock { up });
                self.moves.extend(std::iter::repeat_n(0.0, self.n_factors));
            }
        }
        for (o, market) in outcomes {
            for yes in [true, false] {
                self.kinds.push(ScenarioKind::Resolution { outcome: *o, market: market.clone(), yes });
                self.moves.extend(std::iter::repeat_n(0.0, self.n_factors));
            }
        }
    }
}

/// Vol shocks calibrated on data before `as_of`: the `[vol_shock] quantile` quantiles of observed
/// DVOL changes when there are at least `min_observed_windows` observed windows, else of the
/// (proxy) `vol:BTC` path (at least `min_proxy_windows`), so the backtest never reads a later
/// calibration.
pub fn vol_shock_as_of(panel: &FactorPanel, as_of: Hour, params: &RiskParams) -> Result<VolShockParams, RiskError> {
    let (q, mpor_hours) = (params.vol_shock.quantile, params.mpor_hours);
    if let Ok(p) = VolShockParams::calibrate_with(panel, as_of, mpor_hours, q, params.vol_shock.min_observed_windows) {
        return Ok(p);
    }
    let f = panel.factor_index("vol:BTC")?;
    let ia = panel.index_of(as_of)?;
    let h = mpor_hours.max(1) as usize;
    let mut x: Vec<f64> = (h..=ia).step_by(h).map(|e| panel.move_between(f, e - h, e)).collect();
    if x.len() < params.vol_shock.min_proxy_windows {
        return Err(RiskError::MarketDataMissing { what: "vol:BTC history".into(), hint: format!("too little history before {as_of}") });
    }
    x.sort_by(f64::total_cmp);
    let pick = |p: f64| x[((x.len() - 1) as f64 * p).floor() as usize];
    Ok(VolShockParams { up_log_ref: pick(q), down_log_ref: pick(1.0 - q), reference_days: 30.0, min_expiry_days: 1.0, quantile: q })
}

/// Per-unit value changes of each instrument in each scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskVectors {
    /// Base value per unit, USD.
    pub base_values: Vec<f64>,
    pub n_scenarios: usize,
    /// Instrument-major: `dv[i * n_scenarios + s]` = value change per unit, USD.
    pub dv: Vec<f64>,
}

impl RiskVectors {
    pub fn of(&self, i: usize) -> &[f64] {
        &self.dv[i * self.n_scenarios..(i + 1) * self.n_scenarios]
    }
}

/// Revalues every distinct instrument of `book` once per scenario (full revaluation).
pub fn revalue(book: &Book, universe: &Universe, base: &BaseMarket, scen: &ScenarioBook) -> Result<RiskVectors, RiskError> {
    revalue_instruments(
        &book.instruments.iter().map(|b| (b.id.as_str(), b.pricing, b.class, b.expiry_days)).collect::<Vec<_>>(),
        universe,
        base,
        scen,
    )
}

/// [`revalue`] for a plain list of instruments `(id, instrument, class, expiry_days)`.
pub fn revalue_instruments(
    instruments: &[(&str, pricing::Instrument, Class, Option<f64>)],
    universe: &Universe,
    base: &BaseMarket,
    scen: &ScenarioBook,
) -> Result<RiskVectors, RiskError> {
    let mut sb = StateBuilder::new(universe, base, scen.mpor_hours)?;
    let ni = instruments.len();
    let ns = scen.len();
    let err = |i: usize, s: &str, e| RiskError::Valuation { instrument: instruments[i].0.to_string(), scenario: s.to_string(), source: e };
    let mut base_values = Vec::with_capacity(ni);
    for (i, inst) in instruments.iter().enumerate() {
        base_values.push(inst.1.value(sb.base()).map_err(|e| err(i, "base", e))?);
    }
    let mut dv = vec![0.0; ni * ns];
    let mut vals = vec![0.0; ni];
    for s in 0..ns {
        match &scen.kinds[s] {
            ScenarioKind::Fhs { .. } | ScenarioKind::Stress { .. } | ScenarioKind::Hypothetical { .. } => {
                let m = sb.scenario(scen.row(s)).map_err(|e| err(0, &scen.label(s), e))?;
                for (i, inst) in instruments.iter().enumerate() {
                    vals[i] = inst.1.value(m).map_err(|e| err(i, &scen.label(s), e))?;
                }
            }
            ScenarioKind::Realised => {
                let m = sb.realised(scen.row(s)).map_err(|e| err(0, &scen.label(s), e))?;
                for (i, inst) in instruments.iter().enumerate() {
                    vals[i] = inst.1.value(m).map_err(|e| err(i, &scen.label(s), e))?;
                }
            }
            ScenarioKind::VolShock { up } => {
                let dir = if *up { VolShockDirection::Up } else { VolShockDirection::Down };
                let vs = scen.vol_shock.unwrap_or(VolShockParams {
                    up_log_ref: 0.0,
                    down_log_ref: 0.0,
                    reference_days: 30.0,
                    min_expiry_days: 1.0,
                    quantile: 0.5,
                });
                let base_vol = sb.base_vol.clone();
                let m = sb.unmoved().map_err(|e| err(0, &scen.label(s), e))?;
                for (i, inst) in instruments.iter().enumerate() {
                    if let (pricing::Instrument::Option(o), Some(days)) = (inst.1, inst.3) {
                        let v0 = base_vol.get(usize::from(o.underlying.0)).copied().unwrap_or(f64::NAN);
                        let shift = if v0.is_finite() { vs.shocked_vol(v0, days, dir) - v0 } else { 0.0 };
                        m.shock(Factor::VolShift(o.underlying), Shift::Set(shift)).map_err(|e| err(i, &scen.label(s), e))?;
                        vals[i] = inst.1.value(m).map_err(|e| err(i, &scen.label(s), e))?;
                        m.shock(Factor::VolShift(o.underlying), Shift::Set(0.0)).map_err(|e| err(i, &scen.label(s), e))?;
                    } else {
                        vals[i] = inst.1.value(m).map_err(|e| err(i, &scen.label(s), e))?;
                    }
                }
            }
            ScenarioKind::Resolution { outcome, yes, .. } => {
                let m = sb.unmoved().map_err(|e| err(0, &scen.label(s), e))?;
                let r = if *yes { Resolution::Yes } else { Resolution::No };
                m.set_resolution(pricing::OutcomeId(*outcome), r).map_err(|e| err(0, &scen.label(s), e))?;
                for (i, inst) in instruments.iter().enumerate() {
                    vals[i] = inst.1.value(m).map_err(|e| err(i, &scen.label(s), e))?;
                }
            }
        }
        for i in 0..ni {
            dv[i * ns + s] = vals[i] - base_values[i];
        }
    }
    Ok(RiskVectors { base_values, n_scenarios: ns, dv })
}
