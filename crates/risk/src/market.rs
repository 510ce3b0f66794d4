//! From the configuration and the factor history to pricing market states: which pricing id each
//! underlying, peg and outcome gets, which history factor drives it, the base market at the as-of
//! instant, and the in-place application of a scenario's factor moves.

use crate::error::RiskError;
use crate::params::RiskParams;
use crate::portfolio::{MarketOverrides, PRICE_USD_BOUNDS, PROBABILITY_BOUNDS, RATE_ANNUAL_BOUNDS, VOL_ANNUAL_BOUNDS, bounded};
use marketdata::{FactorKind, FactorPanel, Hour};
use model::{AssetKind, Config};
use pricing::{Factor, MarketState, OutcomeId, PegId, Shift, UnderlyingId, VolSurface};
use std::collections::BTreeMap;

/// Hours in the 365-day year used by the market-data layer.
pub const HOURS_PER_YEAR: f64 = 8760.0;
/// Funding periods (8h) per year.
pub const FUNDING_PERIODS_PER_YEAR: f64 = 1095.0;

/// What a history factor sets in the pricing market state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// `price:X`: spot = exp(level).
    Spot(UnderlyingId),
    /// `peg:X`: peg ratio = level.
    Peg(PegId),
    /// `basis:X-PERP`: mark premium = exp(level) - 1.
    Premium(UnderlyingId),
    /// `funding:X-PERP`: funding per year = level (per 8h) x 1095.
    Funding(UnderlyingId),
    /// `vol:X`: flat implied vol = level, applied as a shift over the base surface.
    Vol(UnderlyingId),
}

/// The mapping from configuration names to pricing ids and history factors.
#[derive(Debug, Clone)]
pub struct Universe {
    /// Underlying symbols; index = `UnderlyingId.0`; index 0 is USD.
    pub underlyings: Vec<String>,
    /// Asset symbols with their own peg; index = `PegId.0`; index 0 is the par peg ("").
    pub pegs: Vec<String>,
    /// Prediction markets; index = `OutcomeId.0`.
    pub outcomes: Vec<String>,
    /// History factor names (panel order) and kinds.
    pub factor_names: Vec<String>,
    pub factor_kinds: Vec<FactorKind>,
    /// Which factor drives which target.
    pub targets: Vec<(Target, usize)>,
    /// Per underlying id: its price follows another coin's factor (`[factor_proxies]`), so its level
    /// and stable price must be given explicitly (never the proxy's).
    pub proxied_spot: Vec<bool>,
    /// Pegged assets whose peg follows another asset's (`[peg_sources]` proxies), each with the
    /// asset it follows and the documented reason (listed in the report as overrides).
    pub peg_proxies: Vec<PegProxy>,
}

/// A pegged asset whose peg ratio follows another asset's history.
#[derive(Debug, Clone, PartialEq)]
pub struct PegProxy {
    pub asset: String,
    pub follows: String,
    pub reason: String,
}

impl PegProxy {
    /// The report line.
    pub fn describe(&self) -> String {
        format!("peg of {} follows peg of {} (proxy: {})", self.asset, self.follows, self.reason)
    }
}

/// The history factor of a pegged asset's peg, from its `[peg_sources]` entry: its own factor, or
/// the own factor of the asset it is proxied to (one step; a proxy of a proxy is refused). No entry,
/// or a factor absent from the market data, is an error: there is no fallback by asset kind.
fn peg_factor(params: &RiskParams, factor_names: &[String], asset: &str) -> Result<(usize, Option<PegProxy>), RiskError> {
    let err = |problem: String| RiskError::PegSource { asset: asset.to_string(), problem };
    let src = params.peg_sources.get(asset).ok_or_else(|| err("no entry in [peg_sources]".into()))?;
    let own_file = src.file.as_ref().map(|_| format!("peg:{asset}"));
    match (src.factor.as_ref().or(own_file.as_ref()), &src.proxy) {
        (Some(f), _) => index_of(factor_names, f).map(|i| (i, None)).ok_or_else(|| {
            let hint = if own_file.is_some() { "; load the market data with MarketData::load_for(config, params)" } else { "" };
            err(format!("its factor {f} is not in the market data{hint}"))
        }),
        (None, Some(p)) => {
            let target = params.peg_sources.get(p).ok_or_else(|| err(format!("its proxy {p} has no entry in [peg_sources]")))?;
            let name = target.factor.clone().or_else(|| target.file.as_ref().map(|_| format!("peg:{p}")));
            let f = name
                .and_then(|n| index_of(factor_names, &n))
                .ok_or_else(|| err(format!("its proxy {p} has no peg history of its own (a proxy of a proxy is refused)")))?;
            let reason = src.reason.clone().unwrap_or_default();
            Ok((f, Some(PegProxy { asset: asset.to_string(), follows: p.clone(), reason })))
        }
        (None, None) => Err(err("the entry names neither a factor nor a proxy".into())),
    }
}

fn index_of(names: &[String], name: &str) -> Option<usize> {
    names.iter().position(|n| n == name)
}

impl Universe {
    /// Builds the mapping. Every pegged asset's peg comes from its `[peg_sources]` entry (its own
    /// factor or a named proxy; none is an error). A basis or funding factor without its own history
    /// follows `params.factor_proxies`, then the ETH perp's; a price or implied-vol factor without
    /// history needs a `[factor_proxies]` entry.
    pub fn new(config: &Config, params: &RiskParams, factor_names: &[String], factor_kinds: &[FactorKind]) -> Result<Universe, RiskError> {
        let mut underlyings = vec!["USD".to_string()];
        underlyings.extend(config.underlyings.iter().filter(|u| u.symbol != "USD").map(|u| u.symbol.clone()));
        let mut pegs = vec![String::new()];
        pegs.extend(config.assets.iter().filter(|a| has_own_peg(a.kind)).map(|a| a.symbol.clone()));
        let mut outcomes: Vec<String> = config.assets.iter().filter_map(|a| a.market.clone()).collect();
        outcomes.dedup();
        if underlyings.len() > pricing::MAX_UNDERLYINGS {
            return Err(RiskError::CapacityExceeded { what: "underlyings", count: underlyings.len(), capacity: pricing::MAX_UNDERLYINGS });
        }
        if pegs.len() > pricing::MAX_PEGS {
            return Err(RiskError::CapacityExceeded { what: "pegged assets", count: pegs.len(), capacity: pricing::MAX_PEGS });
        }
        if outcomes.len() > pricing::MAX_OUTCOMES {
            return Err(RiskError::CapacityExceeded { what: "prediction markets", count: outcomes.len(), capacity: pricing::MAX_OUTCOMES });
        }
        let resolve = |wanted: &str, fallback: Option<&str>| -> Option<usize> {
            index_of(factor_names, wanted)
                .or_else(|| params.factor_proxies.get(wanted).and_then(|p| index_of(factor_names, p)))
                .or_else(|| fallback.and_then(|f| index_of(factor_names, f)))
        };
        let mut targets = Vec::new();
        let mut proxied_spot = vec![false; underlyings.len()];
        for (i, sym) in underlyings.iter().enumerate().skip(1) {
            // Pricing ids are u16 and the count was checked against the capacity above.
            let u = UnderlyingId(i as u16);
            if let Some(f) = resolve(&format!("price:{sym}"), None) {
                targets.push((Target::Spot(u), f));
                proxied_spot[i] = index_of(factor_names, &format!("price:{sym}")).is_none();
            }
            if let Some(f) = resolve(&format!("basis:{sym}-PERP"), Some("basis:ETH-PERP")) {
                targets.push((Target::Premium(u), f));
            }
            if let Some(f) = resolve(&format!("funding:{sym}-PERP"), Some("funding:ETH-PERP")) {
                targets.push((Target::Funding(u), f));
            }
            if let Some(f) = resolve(&format!("vol:{sym}"), None) {
                targets.push((Target::Vol(u), f));
            }
        }
        let mut peg_proxies = Vec::new();
        for (i, sym) in pegs.iter().enumerate().skip(1) {
            let (f, proxy) = peg_factor(params, factor_names, sym)?;
            targets.push((Target::Peg(PegId(i as u16)), f));
            peg_proxies.extend(proxy);
        }
        Ok(Universe {
            underlyings,
            pegs,
            outcomes,
            factor_names: factor_names.to_vec(),
            factor_kinds: factor_kinds.to_vec(),
            targets,
            proxied_spot,
            peg_proxies,
        })
    }

    /// Pricing id of an underlying symbol.
    pub fn underlying(&self, symbol: &str) -> Option<UnderlyingId> {
        index_of(&self.underlyings, symbol).map(|i| UnderlyingId(i as u16))
    }

    /// Pricing id of an asset's own peg.
    pub fn peg(&self, symbol: &str) -> Option<PegId> {
        self.pegs.iter().skip(1).position(|p| p == symbol).map(|i| PegId(i as u16 + 1))
    }

    /// Pricing id of a prediction market.
    pub fn outcome(&self, market: &str) -> Option<OutcomeId> {
        index_of(&self.outcomes, market).map(|i| OutcomeId(i as u16))
    }

    /// The history factor that drives a target, if any.
    pub fn factor_of(&self, target: Target) -> Option<usize> {
        self.targets.iter().find(|(t, _)| *t == target).map(|(_, f)| *f)
    }
}

/// Whether an asset kind carries its own peg ratio to what it tracks.
pub fn has_own_peg(kind: AssetKind) -> bool {
    matches!(kind, AssetKind::Stablecoin | AssetKind::Wrapped | AssetKind::Synthetic | AssetKind::StakingDerivative)
}

/// The market at the as-of instant: factor levels (history conventions), stable prices, outcome
/// probabilities, and the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseMarket {
    pub as_of: Hour,
    /// Market clock, years since 1970 (365-day years), as the pricing crate expects.
    pub now_years: f64,
    pub rate_annual: f64,
    /// Factor levels, universe factor order.
    pub levels: Vec<f64>,
    /// Stable price per underlying id (None for USD or when no history), USD.
    pub stable_price_usd: Vec<Option<f64>>,
    /// Probability of YES per outcome id (NaN when unknown).
    pub probabilities: Vec<f64>,
    /// The `[market]` overrides applied, each with the value it replaced (listed in the report).
    pub overrides: Vec<String>,
    /// Per underlying id: the log price of an underlying whose price follows a proxy factor (given
    /// by `[market] spot_usd`; the proxy's own level is never used).
    pub proxied_spot_log: Vec<Option<f64>>,
}

/// Years since 1970 of an hourly instant.
pub fn years_of(t: Hour) -> f64 {
    t.0 as f64 / HOURS_PER_YEAR
}

impl BaseMarket {
    /// Levels at `as_of` from the panel (values known at that instant), the stable price as the
    /// median of the hourly prices over the last `stable_price_hours`, then the overrides.
    pub fn from_panel(
        universe: &Universe,
        panel: &FactorPanel,
        as_of: Hour,
        params: &RiskParams,
        overrides: &MarketOverrides,
    ) -> Result<BaseMarket, RiskError> {
        let ia = panel.index_of(as_of).map_err(|_| RiskError::AsOfOutsideHistory {
            as_of: as_of.to_iso(),
            start: panel.start().to_iso(),
            end: panel.end().to_iso(),
        })?;
        let levels: Vec<f64> = (0..universe.factor_names.len()).map(|f| panel.level(f, ia)).collect();
        let mut stable = vec![None; universe.underlyings.len()];
        for (u, slot) in stable.iter_mut().enumerate().skip(1) {
            if universe.proxied_spot[u] {
                continue;
            }
            if let Some(f) = universe.factor_of(Target::Spot(UnderlyingId(u as u16))) {
                let h = params.stable_price_hours as usize;
                let from = (ia + 1).saturating_sub(h);
                let mut window: Vec<f64> = (from..=ia).map(|i| panel.natural_level(f, i)).collect();
                *slot = Some(median(&mut window));
            }
        }
        let mut base = BaseMarket {
            as_of,
            now_years: years_of(as_of),
            rate_annual: params.rate_annual,
            levels,
            stable_price_usd: stable,
            probabilities: vec![f64::NAN; universe.outcomes.len()],
            overrides: Vec::new(),
            proxied_spot_log: vec![None; universe.underlyings.len()],
        };
        base.apply_overrides(universe, overrides)?;
        base.check_proxied(universe)?;
        Ok(base)
    }

    /// Levels from the committed calibration (its last instant), for when raw history is absent.
    pub fn from_calibration(
        universe: &Universe,
        cal: &marketdata::Calibration,
        as_of: Hour,
        params: &RiskParams,
        overrides: &MarketOverrides,
    ) -> Result<BaseMarket, RiskError> {
        let levels = universe.factor_names.iter().map(|n| cal.factor(n).map(|f| f.level_at_end)).collect::<Result<Vec<f64>, _>>()?;
        let mut stable = vec![None; universe.underlyings.len()];
        for (u, slot) in stable.iter_mut().enumerate().skip(1) {
            if universe.proxied_spot[u] {
                continue;
            }
            if let Some(f) = universe.factor_of(Target::Spot(UnderlyingId(u as u16))) {
                *slot = Some(levels[f].exp());
            }
        }
        let mut base = BaseMarket {
            as_of,
            now_years: years_of(as_of),
            rate_annual: params.rate_annual,
            levels,
            stable_price_usd: stable,
            probabilities: vec![f64::NAN; universe.outcomes.len()],
            overrides: Vec::new(),
            proxied_spot_log: vec![None; universe.underlyings.len()],
        };
        base.apply_overrides(universe, overrides)?;
        base.check_proxied(universe)?;
        Ok(base)
    }

    fn apply_overrides(&mut self, universe: &Universe, o: &MarketOverrides) -> Result<(), RiskError> {
        let unknown =
            |what: &'static str, name: &str| RiskError::UnknownReference { portfolio: "market overrides".into(), what, name: name.into() };
        for (sym, text) in &o.spot_usd {
            let u = universe.underlying(sym).ok_or_else(|| unknown("underlying", sym))?;
            let key = format!("market.spot_usd.{sym}");
            let price = bounded(&key, text, PRICE_USD_BOUNDS)?;
            let f = universe.factor_of(Target::Spot(u)).ok_or_else(|| RiskError::MarketDataMissing {
                what: format!("price:{sym}"),
                hint: "add a [factor_proxies] entry so the price has a history to move with".into(),
            })?;
            if universe.proxied_spot[usize::from(u.0)] {
                self.overrides.push(format!("{key} = {text} (price follows {} from this level)", universe.factor_names[f]));
                self.proxied_spot_log[usize::from(u.0)] = Some(price.ln());
            } else {
                self.overrides.push(format!("{key} = {text} (history: {:.6})", self.levels[f].exp()));
                self.levels[f] = price.ln();
            }
        }
        for (sym, text) in &o.stable_price_usd {
            let u = universe.underlying(sym).ok_or_else(|| unknown("underlying", sym))?;
            let key = format!("market.stable_price_usd.{sym}");
            let price = bounded(&key, text, PRICE_USD_BOUNDS)?;
            let slot = &mut self.stable_price_usd[usize::from(u.0)];
            self.overrides.push(format!("{key} = {text} (history: {})", slot.map_or("none".into(), |x| format!("{x:.6}"))));
            *slot = Some(price);
        }
        for (sym, text) in &o.vol_annual {
            let u = universe.underlying(sym).ok_or_else(|| unknown("underlying", sym))?;
            let key = format!("market.vol_annual.{sym}");
            let vol = bounded(&key, text, VOL_ANNUAL_BOUNDS)?;
            let f = universe.factor_of(Target::Vol(u)).ok_or_else(|| RiskError::MarketDataMissing {
                what: format!("vol:{sym}"),
                hint: "add a [factor_proxies] entry for the implied vol".into(),
            })?;
            self.overrides.push(format!("{key} = {text} (history: {:.4})", self.levels[f]));
            self.levels[f] = vol;
        }
        for (market, text) in &o.probability {
            let id = universe.outcome(market).ok_or_else(|| unknown("prediction market", market))?;
            let key = format!("market.probability.{market}");
            self.probabilities[usize::from(id.0)] = bounded(&key, text, PROBABILITY_BOUNDS)?;
            self.overrides.push(format!("{key} = {text} (no history)"));
        }
        if let Some(r) = &o.rate_annual {
            self.rate_annual = bounded("market.rate_annual", r, RATE_ANNUAL_BOUNDS)?;
            self.overrides.push(format!("market.rate_annual = {r} (default 0)"));
        }
        Ok(())
    }

    /// A proxied price needs its own level and stable price: the proxy gives only its moves.
    fn check_proxied(&self, universe: &Universe) -> Result<(), RiskError> {
        for (u, proxied) in universe.proxied_spot.iter().enumerate() {
            if !proxied {
                continue;
            }
            let sym = &universe.underlyings[u];
            if self.proxied_spot_log[u].is_none() || self.stable_price_usd[u].is_none() {
                return Err(RiskError::MarketDataMissing {
                    what: format!("price level and stable price of {sym}"),
                    hint: format!(
                        "price:{sym} follows a proxy's moves only; give [market] spot_usd = {{ {sym} = \"...\" }} and stable_price_usd = {{ {sym} = \"...\" }}"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The log price of an underlying's spot target: its own level when proxied, else its factor's.
    pub fn spot_log(&self, universe: &Universe, u: UnderlyingId) -> Option<f64> {
        match self.proxied_spot_log.get(usize::from(u.0)).copied().flatten() {
            Some(l) => Some(l),
            None => universe.factor_of(Target::Spot(u)).map(|f| self.levels[f]),
        }
    }

    /// The oracle price of an underlying, USD (1 for USD).
    pub fn spot_usd(&self, universe: &Universe, u: UnderlyingId) -> Option<f64> {
        if u == UnderlyingId::USD {
            return Some(1.0);
        }
        self.spot_log(universe, u).map(f64::exp)
    }
}

/// Median of a non-empty slice (sorted in place; the mean of the middle two for even lengths).
pub fn median(x: &mut [f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.sort_by(f64::total_cmp);
    let n = x.len();
    if n % 2 == 1 { x[n / 2] } else { 0.5 * (x[n / 2 - 1] + x[n / 2]) }
}

/// Builds pricing market states: the base state and, in place, the state after a scenario.
#[derive(Debug, Clone)]
pub struct StateBuilder {
    base: MarketState,
    work: MarketState,
    targets: Vec<(Target, usize)>,
    kinds: Vec<FactorKind>,
    /// Base level per target (universe target order).
    levels: Vec<f64>,
    n_factors: usize,
    /// Base implied vol per underlying (NaN when none).
    pub base_vol: Vec<f64>,
    now_years: f64,
    horizon_years: f64,
}

fn pricing_err(what: &str, e: pricing::PricingError) -> RiskError {
    RiskError::MarketDataMissing { what: what.to_string(), hint: e.to_string() }
}

impl StateBuilder {
    /// The base state at the as-of instant; scenarios advance the clock by `horizon_hours`.
    pub fn new(universe: &Universe, base: &BaseMarket, horizon_hours: i64) -> Result<StateBuilder, RiskError> {
        let mut m = MarketState::new(base.now_years, base.rate_annual);
        let mut base_vol = vec![f64::NAN; universe.underlyings.len()];
        let mut target_levels = Vec::with_capacity(universe.targets.len());
        for &(t, f) in &universe.targets {
            let level = match t {
                Target::Spot(u) => base.spot_log(universe, u).unwrap_or(base.levels[f]),
                _ => base.levels[f],
            };
            target_levels.push(level);
            set_target(&mut m, t, level, &base_vol).map_err(|e| pricing_err(&universe.factor_names[f], e))?;
            if let Target::Vol(u) = t {
                m.set_vol_surface(u, VolSurface::flat(level).map_err(|e| pricing_err(&universe.factor_names[f], e))?)
                    .map_err(|e| pricing_err("vol surface", e))?;
                base_vol[usize::from(u.0)] = level;
            }
        }
        for (i, p) in base.probabilities.iter().enumerate() {
            if p.is_finite() {
                m.set_probability(OutcomeId(i as u16), *p).map_err(|e| pricing_err("probability", e))?;
            }
        }
        Ok(StateBuilder {
            work: m.clone(),
            base: m,
            targets: universe.targets.clone(),
            kinds: universe.factor_kinds.clone(),
            levels: target_levels,
            n_factors: base.levels.len(),
            base_vol,
            now_years: base.now_years,
            horizon_years: horizon_hours as f64 / HOURS_PER_YEAR,
        })
    }

    /// The base state (as-of instant, no move).
    pub fn base(&self) -> &MarketState {
        &self.base
    }

    /// The state after applying `moves` (universe factor order) and advancing the clock by the
    /// horizon. Every target is set on every call, so no state leaks from one scenario to the next.
    ///
    /// A peg is never credited above par: its scenario level is capped at `max(1, base level)`, so
    /// a print above par in the history (USDC at 1.08 in March 2020) is not a gain on collateral
    /// (finding 9 of issue 8; `docs/margin-methodology.md` section 3). [`StateBuilder::realised`]
    /// applies observed moves uncapped.
    pub fn scenario(&mut self, moves: &[f64]) -> Result<&mut MarketState, pricing::PricingError> {
        self.moved(moves, true)
    }

    /// The state after the moves that actually happened (backtest): pegs are not capped.
    pub fn realised(&mut self, moves: &[f64]) -> Result<&mut MarketState, pricing::PricingError> {
        self.moved(moves, false)
    }

    fn moved(&mut self, moves: &[f64], cap_pegs: bool) -> Result<&mut MarketState, pricing::PricingError> {
        assert_eq!(moves.len(), self.n_factors, "one move per factor");
        for (k, &(t, f)) in self.targets.iter().enumerate() {
            let base = self.levels[k];
            let mut level = self.kinds[f].apply_move(base, moves[f]);
            if cap_pegs && matches!(t, Target::Peg(_)) {
                level = level.min(base.max(1.0));
            }
            set_target(&mut self.work, t, level, &self.base_vol)?;
        }
        self.work.set_now_years(self.now_years + self.horizon_years)?;
        for i in 0..pricing::MAX_OUTCOMES {
            self.work.set_resolution(OutcomeId(i as u16), pricing::Resolution::Open)?;
        }
        Ok(&mut self.work)
    }

    /// The base state with the clock advanced by the horizon (no factor move).
    pub fn unmoved(&mut self) -> Result<&mut MarketState, pricing::PricingError> {
        self.work.clone_from(&self.base);
        self.work.set_now_years(self.now_years + self.horizon_years)?;
        Ok(&mut self.work)
    }
}

fn set_target(m: &mut MarketState, t: Target, level: f64, base_vol: &[f64]) -> Result<(), pricing::PricingError> {
    match t {
        Target::Spot(u) => m.set_spot_usd(u, level.exp()),
        // A peg cannot fall to zero or below in the pricing state; a move that large means the asset
        // is worthless, represented by a ratio of one millionth.
        Target::Peg(p) => m.set_peg_ratio(p, level.max(1e-6)),
        Target::Premium(u) => m.set_mark_premium(u, level.exp() - 1.0),
        Target::Funding(u) => m.set_funding_rate_annual(u, level * FUNDING_PERIODS_PER_YEAR),
        Target::Vol(u) => {
            let base = base_vol.get(usize::from(u.0)).copied().unwrap_or(f64::NAN);
            let shift = if base.is_finite() { level - base } else { 0.0 };
            m.shock(Factor::VolShift(u), Shift::Set(shift))
        }
    }
}

/// Sorted map of factor name to base level, for reports.
pub fn levels_by_name(universe: &Universe, base: &BaseMarket) -> BTreeMap<String, f64> {
    universe.factor_names.iter().cloned().zip(base.levels.iter().copied()).collect()
}
