//! Named stress scenarios and implied-volatility shocks.
//!
//! Each named event has an event window. Its scenario is the joint move of every factor over the
//! `mpor_hours` window inside the event window where the event's key factor moved most adversely
//! (e.g. the largest BTC fall for the March 2020 crash, the largest USDC fall for March 2023). Taking
//! all factors from one window keeps the joint structure, so hedges decouple as they did (basis, peg,
//! vol jumps). Peg factors with daily OHLC data use the worst intraday excursion of the days touching
//! the window, because daily closes hide intraday depegs (USDC closed 0.97 on 2023-03-11 but traded
//! at 0.877). A scenario becomes available only after its event window has ended.

use crate::calibration::Calibration;
use crate::error::{MarketDataError, Result};
use crate::panel::{FactorKind, FactorPanel, Source};
use crate::time::Hour;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// A named historical stress event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StressEvent {
    /// Stable identifier.
    pub id: &'static str,
    /// Short name.
    pub name: &'static str,
    /// What happened.
    pub description: &'static str,
    /// Start of the event window.
    pub window_start: Hour,
    /// End of the event window; the scenario is available strictly after this instant.
    pub window_end: Hour,
    /// Factor whose adverse move selects the worst window.
    pub key_factor: &'static str,
    /// Adverse direction of the key factor: -1 for a fall, +1 for a rise.
    pub key_direction: f64,
}

/// The five named events of the margin methodology (a lazily built static because the calendar
/// conversion of the window dates goes through jiff, which is not `const`).
pub static STRESS_EVENTS: LazyLock<[StressEvent; 5]> = LazyLock::new(|| {
    [
        StressEvent {
            id: "2020-03-covid-crash",
            name: "March 2020 crash (Black Thursday)",
            description: "COVID liquidity crash: BTC fell about 50% in two days, perps traded far below spot, funding hit the caps, implied vol spiked and DAI traded at a premium as Maker vaults were liquidated.",
            window_start: Hour::from_ymdh(2020, 3, 8, 0),
            window_end: Hour::from_ymdh(2020, 3, 20, 0),
            key_factor: "price:BTC",
            key_direction: -1.0,
        },
        StressEvent {
            id: "2022-05-terra",
            name: "May 2022 Terra/UST collapse",
            description: "The algorithmic stablecoin UST lost its peg and LUNA hyperinflated to zero within days; contagion hit all crypto prices.",
            window_start: Hour::from_ymdh(2022, 5, 7, 0),
            window_end: Hour::from_ymdh(2022, 5, 14, 0),
            key_factor: "peg:UST",
            key_direction: -1.0,
        },
        StressEvent {
            id: "2022-06-steth",
            name: "June 2022 stETH discount (Celsius/3AC)",
            description: "Celsius froze withdrawals and 3AC unwound; stETH traded at a 6% discount to ETH while ETH fell about 30% in a week.",
            window_start: Hour::from_ymdh(2022, 6, 8, 0),
            window_end: Hour::from_ymdh(2022, 6, 21, 0),
            key_factor: "peg:stETH",
            key_direction: -1.0,
        },
        StressEvent {
            id: "2022-11-ftx",
            name: "November 2022 FTX collapse",
            description: "FTX/Alameda insolvency: BTC fell 20-25%, SOL (Alameda-linked) lost more than half, venue risk realised.",
            window_start: Hour::from_ymdh(2022, 11, 6, 0),
            window_end: Hour::from_ymdh(2022, 11, 15, 0),
            key_factor: "price:SOL",
            key_direction: -1.0,
        },
        StressEvent {
            id: "2023-03-usdc",
            name: "March 2023 USDC depeg (SVB)",
            description: "Circle disclosed USD 3.3bn at Silicon Valley Bank; USDC traded as low as 0.88 and DAI followed; USDT traded at a premium.",
            window_start: Hour::from_ymdh(2023, 3, 9, 0),
            window_end: Hour::from_ymdh(2023, 3, 15, 0),
            key_factor: "peg:USDC",
            key_direction: -1.0,
        },
    ]
});

/// A stress scenario: the joint move of every factor over one margin period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StressScenario {
    /// Stable identifier of the event.
    pub id: String,
    /// Short name.
    pub name: String,
    /// What happened.
    pub description: String,
    /// Event window.
    pub event_start: Hour,
    /// End of the event window.
    pub event_end: Hour,
    /// The scenario may be used only at as-of instants strictly after this.
    pub available_after: Hour,
    /// Start of the selected worst window.
    pub window_start: Hour,
    /// Margin period of risk in hours.
    pub mpor_hours: i64,
    /// Key factor that selected the window.
    pub key_factor: String,
    /// Factor names (panel order).
    pub factor_names: Vec<String>,
    /// Kind of each factor: how to apply a move to a level ([`FactorKind::apply_move`]).
    pub factor_kinds: Vec<FactorKind>,
    /// Moves in the panel conventions (log-returns for price/vol, absolute changes otherwise).
    pub moves: Vec<f64>,
    /// Level of each factor at the window start in natural units (USD for prices), for reports.
    pub start_levels: Vec<f64>,
    /// Worst provenance over the window for each factor (`observed`, `filled`, `proxy`).
    pub sources: Vec<Source>,
}

impl StressScenario {
    /// Move of the named factor.
    pub fn move_of(&self, name: &str) -> Result<f64> {
        self.factor_names
            .iter()
            .position(|n| n == name)
            .map(|i| self.moves[i])
            .ok_or_else(|| MarketDataError::UnknownFactor { name: name.into() })
    }
}

/// Computes the scenario of one event for a margin period of `mpor_hours`, from the event window only.
pub fn compute_stress_scenario(panel: &FactorPanel, ev: &StressEvent, mpor_hours: i64) -> Result<StressScenario> {
    let ws = panel.index_of(ev.window_start)?;
    let we = panel.index_of(ev.window_end)?;
    let h = mpor_hours as usize;
    if mpor_hours < 1 || ws + h > we {
        return Err(MarketDataError::InvalidParameter {
            name: "mpor_hours",
            value: mpor_hours as f64,
            why: "must be positive and fit inside the event window",
        });
    }
    let key = panel.factor_index(ev.key_factor)?;
    // Ties keep the earliest window, so the choice is deterministic.
    let mut best = ws;
    let mut best_val = f64::NEG_INFINITY;
    for s in ws..=we - h {
        let v = ev.key_direction * key_move(panel, key, s, s + h);
        if v > best_val {
            best_val = v;
            best = s;
        }
    }
    let (s, e) = (best, best + h);
    let nf = panel.n_factors();
    let moves: Vec<f64> = (0..nf).map(|f| key_move(panel, f, s, e)).collect();
    let sources = (0..nf).map(|f| panel.sources(f)[s..=e].iter().copied().max().unwrap_or(Source::Proxy)).collect();
    Ok(StressScenario {
        id: ev.id.into(),
        name: ev.name.into(),
        description: ev.description.into(),
        event_start: ev.window_start,
        event_end: ev.window_end,
        available_after: ev.window_end,
        window_start: panel.time(s),
        mpor_hours,
        key_factor: ev.key_factor.into(),
        factor_names: panel.factor_names().to_vec(),
        factor_kinds: (0..nf).map(|f| panel.kind(f)).collect(),
        moves,
        start_levels: (0..nf).map(|f| panel.natural_level(f, s)).collect(),
        sources,
    })
}

/// Move of factor `f` over `[s, e]`; for pegs with daily OHLC, the larger excursion of the close move
/// and of the intraday low/high of the days touching the window, relative to the start level.
fn key_move(panel: &FactorPanel, f: usize, s: usize, e: usize) -> f64 {
    let close_move = panel.move_between(f, s, e);
    if panel.kind(f) != FactorKind::Peg {
        return close_move;
    }
    let Some(range) = panel.daily_range(f) else {
        return close_move;
    };
    let (ts, te) = (panel.time(s), panel.time(e));
    let start_level = panel.level(f, s);
    let mut worst = close_move;
    // Days [D, D+24h) that intersect (ts, te]: D < te and D + 24 > ts.
    let first = range.partition_point(|(d, _, _)| d.0 + 24 <= ts.0);
    for (d, lo, hi) in &range[first..] {
        if *d >= te {
            break;
        }
        for x in [lo - start_level, hi - start_level] {
            if x.abs() > worst.abs() {
                worst = x;
            }
        }
    }
    worst
}

/// The named stress scenarios available at `as_of` (event window ended strictly before `as_of`).
pub fn stress_scenarios(panel: &FactorPanel, as_of: Hour, mpor_hours: i64) -> Result<Vec<StressScenario>> {
    STRESS_EVENTS.iter().filter(|ev| ev.window_end < as_of).map(|ev| compute_stress_scenario(panel, ev, mpor_hours)).collect()
}

/// The named stress scenarios from the committed calibration (raw data absent), for its margin period.
pub fn stress_scenarios_from_calibration(cal: &Calibration, as_of: Hour, mpor_hours: i64) -> Result<Vec<StressScenario>> {
    if cal.mpor_hours != mpor_hours {
        return Err(MarketDataError::MporNotCalibrated { calibrated_hours: cal.mpor_hours, requested_hours: mpor_hours });
    }
    Ok(cal.stress_scenarios.iter().filter(|s| s.available_after < as_of).cloned().collect())
}

/// Direction of an implied-vol shock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolShockDirection {
    /// Implied vol rises.
    Up,
    /// Implied vol falls.
    Down,
}

/// Implied-vol shock parameters: a log shock for the reference (30-day) tenor, scaled by
/// `sqrt(reference_days / T)` for expiry `T`, so shorter expiries are shocked more.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolShockParams {
    /// Log shock up at the reference tenor (positive), e.g. 0.35 = vol x 1.42.
    pub up_log_ref: f64,
    /// Log shock down at the reference tenor (negative).
    pub down_log_ref: f64,
    /// Reference tenor in days (30: DVOL is a 30-day implied vol).
    pub reference_days: f64,
    /// Expiries shorter than this are treated as this long (bounds the sqrt scaling).
    pub min_expiry_days: f64,
    /// Quantile of margin-period DVOL log changes the shocks were calibrated at.
    pub quantile: f64,
}

impl VolShockParams {
    /// The log shock for an option expiring in `expiry_days`.
    pub fn log_shock(&self, expiry_days: f64, dir: VolShockDirection) -> f64 {
        let t = if expiry_days.is_finite() { expiry_days.max(self.min_expiry_days) } else { self.reference_days };
        let scale = (self.reference_days / t).sqrt();
        match dir {
            VolShockDirection::Up => self.up_log_ref * scale,
            VolShockDirection::Down => self.down_log_ref * scale,
        }
    }

    /// The shocked implied vol: `vol * exp(log_shock)`.
    pub fn shocked_vol(&self, vol_annual: f64, expiry_days: f64, dir: VolShockDirection) -> f64 {
        vol_annual * self.log_shock(expiry_days, dir).exp()
    }

    /// Calibrates the shocks from observed (not proxy) `vol:BTC` log changes over `mpor_hours`,
    /// using windows ending at or before `as_of`: `up` = the `quantile` quantile, `down` = the
    /// `1 - quantile` quantile (empirical, lower interpolation).
    pub fn calibrate(panel: &FactorPanel, as_of: Hour, mpor_hours: i64, quantile: f64) -> Result<VolShockParams> {
        VolShockParams::calibrate_with(panel, as_of, mpor_hours, quantile, 100)
    }

    /// [`VolShockParams::calibrate`] requiring at least `min_windows` observed windows.
    pub fn calibrate_with(panel: &FactorPanel, as_of: Hour, mpor_hours: i64, quantile: f64, min_windows: usize) -> Result<VolShockParams> {
        if !(0.5..1.0).contains(&quantile) {
            return Err(MarketDataError::InvalidParameter { name: "quantile", value: quantile, why: "must lie in [0.5, 1)" });
        }
        let f = panel.factor_index("vol:BTC")?;
        let ia = panel.index_of(as_of)?;
        let h = mpor_hours.max(1) as usize;
        let src = panel.sources(f);
        let mut x: Vec<f64> = (h..=ia)
            .filter(|&e| src[e - h] == Source::Observed && src[e] == Source::Observed)
            .map(|e| panel.move_between(f, e - h, e))
            .collect();
        if x.len() < min_windows.max(1) {
            return Err(MarketDataError::NoScenarioWindow { as_of: as_of.to_iso(), lookback_start: panel.start().to_iso(), mpor_hours });
        }
        x.sort_by(f64::total_cmp);
        let q = |p: f64| x[((x.len() - 1) as f64 * p).floor() as usize];
        Ok(VolShockParams {
            up_log_ref: q(quantile),
            down_log_ref: q(1.0 - quantile),
            reference_days: 30.0,
            min_expiry_days: 1.0,
            quantile,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_expiries_are_shocked_more() {
        let p = VolShockParams { up_log_ref: 0.3, down_log_ref: -0.2, reference_days: 30.0, min_expiry_days: 1.0, quantile: 0.99 };
        assert!((p.log_shock(30.0, VolShockDirection::Up) - 0.3).abs() < 1e-15);
        // 7.5-day expiry: sqrt(30/7.5) = 2.
        assert!((p.log_shock(7.5, VolShockDirection::Up) - 0.6).abs() < 1e-12);
        assert!((p.log_shock(120.0, VolShockDirection::Down) + 0.1).abs() < 1e-12);
        // Below the minimum expiry the shock stops growing.
        assert_eq!(p.log_shock(0.01, VolShockDirection::Up), p.log_shock(1.0, VolShockDirection::Up));
        assert!((p.shocked_vol(0.5, 30.0, VolShockDirection::Up) - 0.5 * 0.3f64.exp()).abs() < 1e-12);
    }

    #[test]
    fn events_are_ordered_and_well_formed() {
        for ev in STRESS_EVENTS.iter() {
            assert!(ev.window_start < ev.window_end, "{}", ev.id);
            assert!(ev.key_direction == 1.0 || ev.key_direction == -1.0);
        }
    }
}
