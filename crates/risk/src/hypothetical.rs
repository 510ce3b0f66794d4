//! Hypothetical scenarios beside history (what SPAN 2, Eurex Prisma and Deribit's portfolio margin
//! do), so that margin holds in a crisis unlike the last one: a two-sided price scan per underlying
//! with implied vol up and down and an extreme move at partial weight; decorrelation of every pair
//! of underlyings; peg breaks per asset kind sized from the worst break of any asset of that kind;
//! short-dated options scanned through their strike. Every scenario is named. Formulas, parameters
//! and calibration: `docs/margin-methodology.md` section 4.5.

use crate::market::{Target, Universe};
use crate::params::HypotheticalParams;
use crate::protocol::enum_name;
use marketdata::vol::{self, EwmaParams};
use marketdata::{FactorPanel, Hour, VolShockParams};
use model::{AssetKind, Config, PegMechanism};
use pricing::{PegId, UnderlyingId};

/// One hypothetical scenario: its name, the weight of its loss in the floor, its factor moves.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothetical {
    pub name: String,
    pub weight: f64,
    pub moves: Vec<f64>,
}

/// What the scenarios are calibrated on, as of one instant.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub universe: &'a Universe,
    pub panel: &'a FactorPanel,
    pub as_of: Hour,
    pub mpor_hours: i64,
    /// FHS moves (rescaled to today's volatility), row-major scenarios x factors.
    pub fhs_moves: &'a [f64],
    pub vol_shock: Option<VolShockParams>,
    /// Short-dated options of the book: (underlying, strike USD, spot USD).
    pub short_dated: &'a [(UnderlyingId, f64, f64)],
    /// The FHS volatility rule, applied to a pair's spread as to a price (`sigma_now` floored at
    /// `floor_fraction`, `sigma_then` at `then_floor_fraction` of the long-run volatility).
    pub ewma: EwmaParams,
    pub floor_fraction: f64,
    pub then_floor_fraction: f64,
}

/// The scan range of an underlying's log price, one per direction: a crash is scanned over `down`,
/// a rise (a short squeeze) over `up` (`docs/margin-methodology.md` sections 4.5-4.6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanRange {
    pub up: f64,
    pub down: f64,
}

impl ScanRange {
    /// The range on the side of a move of sign `sign` (up for a positive sign, down otherwise).
    pub fn toward(&self, sign: f64) -> f64 {
        if sign > 0.0 { self.up } else { self.down }
    }
}

/// The scan ranges of an underlying's log price, each side from its own tail:
/// `down = max(q |FHS falls|, stressed_floor_fraction x worst unscaled fall, scan_range_min)` and
/// `up = max(q |FHS rises|, up_floor_fraction x worst unscaled rise, scan_range_min)`, with `q` the
/// `scan_quantile` quantile of that side's moves (the whole history, stress periods included,
/// rescaled to today's volatility; a move of the other sign counts as 0).
///
/// A young underlying (less own, non-proxy history than `min_own_history_days` for the crash side,
/// `min_own_history_days_up` for the rise) gets at least `young_scan_range` down and
/// `young_scan_range_up` up: its history cannot yet show that tail.
pub fn scan_range(inp: &Inputs<'_>, p: &HypotheticalParams, f: usize) -> ScanRange {
    let nf = inp.universe.factor_names.len();
    let side = |sign: f64, fraction: f64| {
        let rescaled = quantile(inp.fhs_moves.chunks(nf).map(|r| (sign * r[f]).max(0.0)).collect(), p.scan_quantile);
        rescaled.max(fraction * worst_unscaled(inp, f, |m| sign * m)).max(p.scan_range_min)
    };
    let (mut up, mut down) = (side(1.0, p.up_floor_fraction), side(-1.0, p.stressed_floor_fraction));
    let own = own_history_days(inp, f);
    if own < p.min_own_history_days {
        down = down.max(p.young_scan_range);
    }
    if own < p.min_own_history_days_up {
        up = up.max(p.young_scan_range_up);
    }
    ScanRange { up, down }
}

/// The ranges of an underlying with no price history of its own (a proxied price): young on both
/// sides, whatever its proxy's age.
fn proxied(r: ScanRange, p: &HypotheticalParams) -> ScanRange {
    ScanRange { up: r.up.max(p.young_scan_range_up), down: r.down.max(p.young_scan_range) }
}

/// Days of the factor's own (observed or carried, not proxy) history up to as-of.
pub fn own_history_days(inp: &Inputs<'_>, f: usize) -> f64 {
    match panel_index(inp, f).and_then(|pf| inp.panel.real_span(pf)) {
        Some((first, _)) if first <= inp.as_of => (inp.as_of.0 - first.0) as f64 / 24.0,
        _ => 0.0,
    }
}

/// The `q` quantile (lower) of `x`; 0 for no data.
fn quantile(mut x: Vec<f64>, q: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.sort_by(f64::total_cmp);
    x[((x.len() - 1) as f64 * q).floor() as usize]
}

/// The largest `g(move)` over the unscaled `mpor`-hour windows ending at or before as-of, every
/// `mpor / 3` hours (at least 1).
fn worst_unscaled(inp: &Inputs<'_>, f: usize, g: impl Fn(f64) -> f64) -> f64 {
    let Ok(ia) = inp.panel.index_of(inp.as_of) else { return 0.0 };
    let h = inp.mpor_hours.max(1) as usize;
    (h..=ia).step_by((h / 3).max(1)).map(|e| g(inp.panel.move_between(f, e - h, e))).fold(0.0, f64::max)
}

fn panel_index(inp: &Inputs<'_>, f: usize) -> Option<usize> {
    inp.panel.factor_index(&inp.universe.factor_names[f]).ok()
}

/// Every hypothetical scenario as of `inp.as_of`.
pub fn scenarios(inp: &Inputs<'_>, p: &HypotheticalParams) -> Vec<Hypothetical> {
    let mut out = Vec::new();
    let priced: Vec<(UnderlyingId, usize)> = (1..inp.universe.underlyings.len())
        .filter_map(|u| {
            let id = UnderlyingId(u as u16);
            inp.universe.factor_of(Target::Spot(id)).map(|f| (id, f))
        })
        .collect();
    let mut ranges = Vec::with_capacity(priced.len());
    let mut own = Vec::with_capacity(priced.len());
    for &(u, f) in &priced {
        // A proxied price has no history of its own at all: it is young whatever its proxy's age.
        let o = !inp.universe.proxied_spot.get(usize::from(u.0)).copied().unwrap_or(false);
        ranges.push(if o { scan_range(inp, p, f) } else { proxied(scan_range(inp, p, f), p) });
        own.push(o);
    }
    let down = if p.joint_crash_scan { joint_groups(inp, p, -1.0, &priced, &own) } else { Vec::new() };
    let up = if p.joint_rise_scan { joint_groups(inp, p, 1.0, &priced, &own) } else { Vec::new() };
    for (k, &(u, f)) in priced.iter().enumerate() {
        let alone = |g: &[Vec<usize>]| !g.iter().any(|g| g.contains(&k));
        price_scan(inp, p, u, f, ranges[k], [alone(&down), alone(&up)], &mut out);
    }
    for (sign, groups) in [(-1.0, &down), (1.0, &up)] {
        for g in groups {
            let legs: Vec<(UnderlyingId, usize, f64)> = g.iter().map(|&k| (priced[k].0, priced[k].1, ranges[k].toward(sign))).collect();
            joint_scan(inp, p, sign, &legs, &mut out);
        }
    }
    for a in 0..priced.len() {
        for b in a + 1..priced.len() {
            if p.spread_scan {
                spread_scan(inp, p, (priced[a], ranges[a]), (priced[b], ranges[b]), &mut out);
            } else {
                decorrelation(inp, p, (priced[a], ranges[a]), (priced[b], ranges[b]), &mut out);
            }
        }
    }
    peg_breaks(inp, p, &mut out);
    for &(u, strike, spot) in inp.short_dated {
        if let Some(k) = priced.iter().position(|x| x.0 == u) {
            through_strike(inp, p, priced[k], ranges[k], strike, spot, &mut out);
        }
    }
    out
}

fn name_of<'a>(inp: &Inputs<'a>, u: UnderlyingId) -> &'a str {
    &inp.universe.underlyings[usize::from(u.0)]
}

/// A price move of `mv` (log) on factor `f` with implied vol `vol` (0: unchanged, 1 up, -1 down).
fn priced_row(inp: &Inputs<'_>, u: UnderlyingId, f: usize, mv: f64, vol: i8) -> Vec<f64> {
    let mut row = vec![0.0; inp.universe.factor_names.len()];
    row[f] = mv;
    if let (Some(vf), Some(vs)) = (inp.universe.factor_of(Target::Vol(u)), inp.vol_shock) {
        row[vf] = match vol {
            1 => vs.up_log_ref,
            -1 => vs.down_log_ref,
            _ => 0.0,
        };
    }
    row
}

/// Two-sided scan: `+k R_up` and `-k R_down` for every scan point `k`, each with implied vol up and
/// down; the extreme moves `+extreme_multiple R_up` at `extreme_weight` and `-extreme_multiple
/// R_down` at `extreme_weight_down` (the first-of-a-kind crash), vol up.
/// A side is left out when the underlying moves jointly with others on it (`alone` = [down, up]
/// false: `joint_scan` carries it).
fn price_scan(
    inp: &Inputs<'_>,
    p: &HypotheticalParams,
    u: UnderlyingId,
    f: usize,
    range: ScanRange,
    alone: [bool; 2],
    out: &mut Vec<Hypothetical>,
) {
    let sym = name_of(inp, u).to_string();
    let signs: Vec<f64> = [(-1.0, alone[0]), (1.0, alone[1])].into_iter().filter(|x| x.1).map(|x| x.0).collect();
    for &k in &p.scan_points {
        for &sign in &signs {
            let r = range.toward(sign);
            for (vol, word) in [(1i8, "up"), (-1i8, "down")] {
                let mv = sign * k * r;
                out.push(Hypothetical {
                    name: format!(
                        "scan {sym} {:+.1}% ({:+.2} of range {:.1}%), implied vol {word}",
                        100.0 * mv.exp_m1(),
                        sign * k,
                        100.0 * r
                    ),
                    weight: 1.0,
                    moves: priced_row(inp, u, f, mv, vol),
                });
            }
        }
    }
    for &sign in &signs {
        let mv = sign * p.extreme_multiple * range.toward(sign);
        let weight = if sign < 0.0 { p.extreme_weight_down } else { p.extreme_weight };
        out.push(Hypothetical {
            name: format!("extreme {sym} {:+.1}% ({} x range), at weight {weight}", 100.0 * mv.exp_m1(), p.extreme_multiple),
            weight,
            moves: priced_row(inp, u, f, mv, 1),
        });
    }
}

/// The groups of underlyings that move jointly on the side of `sign` (-1: crashes, +1: rises;
/// indices into `priced`, each group of at least two, in universe order): an underlying with its own
/// history joins the first group with every member of which it co-moves (`co_move`), else starts
/// its own. A proxied price has no history of its own to show it and is scanned alone.
fn joint_groups(inp: &Inputs<'_>, p: &HypotheticalParams, sign: f64, priced: &[(UnderlyingId, usize)], own: &[bool]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for k in (0..priced.len()).filter(|&k| own[k]) {
        match groups.iter_mut().find(|g| g.iter().all(|&j| co_move(inp, p, sign, priced[j].1, priced[k].1))) {
            Some(g) => g.push(k),
            None => groups.push(vec![k]),
        }
    }
    groups.retain(|g| g.len() > 1);
    groups
}

/// Whether factors `a` and `b` move together on the side of `sign` in the data before as-of: each
/// one's stressed beta on the other's moves beyond `joint_crash_fall` on that side
/// (`stressed_beta_side`) at least `joint_crash_beta`, each over at least `joint_crash_min_windows`
/// windows. The same test for crashes and for rises.
fn co_move(inp: &Inputs<'_>, p: &HypotheticalParams, sign: f64, a: usize, b: usize) -> bool {
    let ok = |(n, beta): (usize, f64)| n as f64 >= p.joint_crash_min_windows && beta >= p.joint_crash_beta;
    let t = p.joint_crash_fall;
    ok(stressed_beta_side(inp, sign, t, a, b)) && ok(stressed_beta_side(inp, sign, t, b, a))
}

/// [`stressed_beta_side`] over the falls of `a` (the crash side).
pub fn stressed_beta(inp: &Inputs<'_>, fall: f64, a: usize, b: usize) -> (usize, f64) {
    stressed_beta_side(inp, -1.0, fall, a, b)
}

/// Over the unscaled `mpor`-hour windows ending at or before as-of (every `mpor / 3` hours, as
/// `worst_unscaled`) in which factor `a` moved more than `threshold` (log) in the direction of
/// `sign` (-1 a fall, +1 a rise): the number of windows and `sum(move of b) / sum(move of a)` (0 for
/// none). Only windows where both have own history count.
pub fn stressed_beta_side(inp: &Inputs<'_>, sign: f64, threshold: f64, a: usize, b: usize) -> (usize, f64) {
    let (Some(pa), Some(pb)) = (panel_index(inp, a), panel_index(inp, b)) else { return (0, 0.0) };
    let (Some((fa, _)), Some((fb, _))) = (inp.panel.real_span(pa), inp.panel.real_span(pb)) else { return (0, 0.0) };
    let Ok(ia) = inp.panel.index_of(inp.as_of) else { return (0, 0.0) };
    let Ok(start) = inp.panel.index_of(marketdata::Hour(fa.0.max(fb.0))) else { return (0, 0.0) };
    let h = inp.mpor_hours.max(1) as usize;
    let (mut n, mut sa, mut sb) = (0usize, 0.0, 0.0);
    for e in (h..=ia).step_by((h / 3).max(1)).filter(|&e| e - h >= start) {
        let ma = inp.panel.move_between(pa, e - h, e);
        if sign * ma > threshold {
            n += 1;
            sa += ma;
            sb += inp.panel.move_between(pb, e - h, e);
        }
    }
    (n, if n == 0 { 0.0 } else { sb / sa })
}

/// The scan of underlyings that move together on the side of `sign` (`legs`: underlying, factor,
/// range on that side): one scenario per scan point `k` moves every leg by `sign k` times its own
/// range, implied vol up and down, and the extreme move `extreme_multiple` ranges (vol up) at the
/// side's extreme weight. Named `scan market BTC -x% / ETH -y%`.
fn joint_scan(inp: &Inputs<'_>, p: &HypotheticalParams, sign: f64, legs: &[(UnderlyingId, usize, f64)], out: &mut Vec<Hypothetical>) {
    let names = |m: f64| {
        let parts: Vec<String> = legs.iter().map(|&(u, _, r)| format!("{} {:+.1}%", name_of(inp, u), 100.0 * (m * r).exp_m1())).collect();
        parts.join(" / ")
    };
    let row = |m: f64, vol: i8| {
        let mut row = vec![0.0; inp.universe.factor_names.len()];
        for &(u, f, r) in legs {
            let one = priced_row(inp, u, f, m * r, vol);
            for (x, y) in row.iter_mut().zip(one) {
                if y != 0.0 {
                    *x = y;
                }
            }
        }
        row
    };
    for &k in &p.scan_points {
        for (vol, word) in [(1i8, "up"), (-1i8, "down")] {
            out.push(Hypothetical {
                name: format!("scan market {} ({:+.2} of each range), implied vol {word}", names(sign * k), sign * k),
                weight: 1.0,
                moves: row(sign * k, vol),
            });
        }
    }
    let m = sign * p.extreme_multiple;
    let weight = if sign < 0.0 { p.extreme_weight_down } else { p.extreme_weight };
    out.push(Hypothetical {
        name: format!("extreme market {} ({} x each range), at weight {weight}", names(m), p.extreme_multiple),
        weight,
        moves: row(m, 1),
    });
}

/// Decorrelation of a pair: the legs move apart by the stressed spread move `D` (the
/// `scan_quantile` quantile of the rescaled FHS moves of `ln(a) - ln(b)`, floored like a scan
/// range, at most the sum of the rising leg's up range and the falling leg's down range), half each
/// way, in both directions.
fn decorrelation(
    inp: &Inputs<'_>,
    p: &HypotheticalParams,
    ((ua, fa), ra): ((UnderlyingId, usize), ScanRange),
    ((ub, fb), rb): ((UnderlyingId, usize), ScanRange),
    out: &mut Vec<Hypothetical>,
) {
    let nf = inp.universe.factor_names.len();
    let rescaled = quantile(inp.fhs_moves.chunks(nf).map(|r| (r[fa] - r[fb]).abs()).collect(), p.scan_quantile);
    let unscaled = match (panel_index(inp, fa), panel_index(inp, fb)) {
        (Some(pa), Some(pb)) => {
            let Ok(ia) = inp.panel.index_of(inp.as_of) else { return };
            let h = inp.mpor_hours.max(1) as usize;
            (h..=ia)
                .step_by((h / 3).max(1))
                .map(|e| (inp.panel.move_between(pa, e - h, e) - inp.panel.move_between(pb, e - h, e)).abs())
                .fold(0.0, f64::max)
        }
        _ => 0.0,
    };
    let d = rescaled.max(p.stressed_floor_fraction * unscaled).max(p.decorrelation_min);
    let (sa, sb) = (name_of(inp, ua).to_string(), name_of(inp, ub).to_string());
    for sign in [1.0, -1.0] {
        let d = d.min(ra.toward(sign) + rb.toward(-sign));
        let mut row = vec![0.0; nf];
        row[fa] = sign * 0.5 * d;
        row[fb] = -sign * 0.5 * d;
        let (up, down) = if sign > 0.0 { (&sa, &sb) } else { (&sb, &sa) };
        out.push(Hypothetical {
            name: format!(
                "decorrelation {up} {:+.1}% / {down} {:+.1}% (spread move {:.1}%)",
                100.0 * (0.5 * d).exp_m1(),
                100.0 * (-0.5 * d).exp_m1(),
                100.0 * d
            ),
            weight: 1.0,
            moves: row,
        });
    }
}

/// The stressed range of a pair's spread `ln a - ln b` on the side of `sign` (+1: `a` gains on `b`),
/// by the rule of a price's range: `max(q, up_floor_fraction x worst, decorrelation_min)`, with `q`
/// the `scan_quantile` quantile of the spread's own 24h moves on that side rescaled to today's
/// spread volatility (the FHS rule: the EWMA of the spread's hourly moves, `sigma_now` and
/// `sigma_then` floored as the FHS floors them) and `worst` its largest unscaled move on that side
/// (the anti-procyclical floor at the goal-1 fraction: a decorrelation of a size already seen is
/// covered at full range). Returns `[down, up]`, the down side being `b` gaining on `a`.
pub fn spread_range(inp: &Inputs<'_>, p: &HypotheticalParams, a: usize, b: usize) -> [f64; 2] {
    let (scaled, raw) = spread_windows(inp, a, b);
    let side = |sign: f64| {
        let q = quantile(scaled.iter().map(|m| (sign * m).max(0.0)).collect(), p.scan_quantile);
        let worst = raw.iter().map(|m| (sign * m).max(0.0)).fold(0.0, f64::max);
        q.max(p.up_floor_fraction * worst).max(p.decorrelation_min)
    };
    [side(-1.0), side(1.0)]
}

/// The spread's 24h moves (windows ending every `mpor / 3` hours up to as-of, as `worst_unscaled`),
/// rescaled by `sigma_now / sigma_then` of the spread's own EWMA volatility, and unscaled.
fn spread_windows(inp: &Inputs<'_>, a: usize, b: usize) -> (Vec<f64>, Vec<f64>) {
    let (Some(pa), Some(pb)) = (panel_index(inp, a), panel_index(inp, b)) else { return (Vec::new(), Vec::new()) };
    let Ok(ia) = inp.panel.index_of(inp.as_of) else { return (Vec::new(), Vec::new()) };
    let spread = |i: usize, j: usize| inp.panel.move_between(pa, i, j) - inp.panel.move_between(pb, i, j);
    let hourly: Vec<f64> = (0..=ia).map(|i| if i == 0 { 0.0 } else { spread(i - 1, i) }).collect();
    let var = vol::ewma_forecast_variance(&hourly, &inp.ewma);
    let cum = vol::cumulative_squares(&hourly);
    let sigma = |i: usize, fraction: f64| {
        vol::floored(var[(i + 1).min(var.len() - 1)].sqrt(), vol::long_run_variance(&cum, i + 1).sqrt(), fraction)
    };
    let now = sigma(ia, inp.floor_fraction);
    let h = inp.mpor_hours.max(1) as usize;
    let raw: Vec<f64> = (h..=ia).step_by((h / 3).max(1)).map(|e| spread(e - h, e)).collect();
    let scaled = (h..=ia)
        .step_by((h / 3).max(1))
        .zip(&raw)
        .map(|(e, m)| {
            let then = sigma(e - h, inp.then_floor_fraction);
            if then > 0.0 { m * now / then } else { *m }
        })
        .collect();
    (scaled, raw)
}

/// Decorrelation of a pair scanned like a price: the legs move apart by `k` times the spread's
/// stressed range on each side (`spread_range`, at most twice the smaller of the rising leg's up
/// range and the falling leg's down range), half each way, for every scan point `k` at full weight, and by
/// `extreme_multiple` ranges at `extreme_weight`.
fn spread_scan(
    inp: &Inputs<'_>,
    p: &HypotheticalParams,
    ((ua, fa), ra): ((UnderlyingId, usize), ScanRange),
    ((ub, fb), rb): ((UnderlyingId, usize), ScanRange),
    out: &mut Vec<Hypothetical>,
) {
    let nf = inp.universe.factor_names.len();
    let d = spread_range(inp, p, fa, fb);
    let (sa, sb) = (name_of(inp, ua).to_string(), name_of(inp, ub).to_string());
    for (i, sign) in [(0usize, -1.0), (1, 1.0)] {
        // Each leg moves at most by its own range on its side (a one-coin book is never charged
        // more by a decorrelation than by its own scan).
        let range = d[i].min(2.0 * ra.toward(sign).min(rb.toward(-sign)));
        let (up, down) = if sign > 0.0 { (&sa, &sb) } else { (&sb, &sa) };
        let points = p.scan_points.iter().map(|&k| (k, 1.0, String::new()));
        let extreme = std::iter::once((p.extreme_multiple, p.extreme_weight, format!(", extreme, at weight {}", p.extreme_weight)));
        for (k, weight, tag) in points.chain(extreme) {
            let m = k * range;
            let mut row = vec![0.0; nf];
            row[fa] = sign * 0.5 * m;
            row[fb] = -sign * 0.5 * m;
            out.push(Hypothetical {
                name: format!(
                    "decorrelation {up} {:+.1}% / {down} {:+.1}% ({k:.2} of spread range {:.1}%{tag})",
                    100.0 * (0.5 * m).exp_m1(),
                    100.0 * (-0.5 * m).exp_m1(),
                    100.0 * range
                ),
                weight,
                moves: row,
            });
        }
    }
}

/// The peg kind of an asset: stablecoins by their issuer's peg mechanism, then the asset kinds.
pub fn peg_kind(config: &Config, symbol: &str) -> Option<String> {
    let a = config.asset(symbol)?;
    let mech = a.protocol.as_deref().and_then(|p| config.protocol(p)).map(|p| p.risk.peg_mechanism);
    Some(match (a.kind, mech) {
        (AssetKind::Stablecoin, Some(PegMechanism::FiatReserve)) => "fiat_backed_stablecoin".into(),
        (AssetKind::Stablecoin, Some(PegMechanism::Algorithmic)) => "algorithmic_stablecoin".into(),
        (AssetKind::Stablecoin, _) => "collateralised_stablecoin".into(),
        (k, _) => enum_name(&k),
    })
}

/// Per peg kind: every asset of the kind breaks together by the worst break of any peg factor that
/// drives an asset of that kind (the larger of its worst 24h fall and its deepest intraday low below
/// par, history before as-of), at least `peg_break_min`.
fn peg_breaks(inp: &Inputs<'_>, p: &HypotheticalParams, out: &mut Vec<Hypothetical>) {
    let mut kinds: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, sym) in inp.universe.pegs.iter().enumerate().skip(1) {
        let (Some(kind), Some(f)) = (peg_kind(inp.config, sym), inp.universe.factor_of(Target::Peg(PegId(i as u16)))) else { continue };
        match kinds.iter_mut().find(|k| k.0 == kind) {
            Some(k) => k.1.push(f),
            None => kinds.push((kind, vec![f])),
        }
    }
    kinds.sort();
    for (kind, factors) in kinds {
        let mut worst = factors
            .iter()
            .filter_map(|&f| panel_index(inp, f))
            .map(|pf| worst_unscaled(inp, pf, |m| -m).max(worst_daily_low(inp, pf)))
            .fold(0.0, f64::max);
        worst = worst.max(p.peg_break_min).min(1.0);
        let mut row = vec![0.0; inp.universe.factor_names.len()];
        for &f in &factors {
            row[f] = -worst;
        }
        let members: Vec<&str> = inp
            .universe
            .pegs
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| inp.universe.factor_of(Target::Peg(PegId(*i as u16))).is_some_and(|f| factors.contains(&f)))
            .map(|(_, s)| s.as_str())
            .collect();
        out.push(Hypothetical {
            name: format!("peg break {kind} -{:.1}% ({})", 100.0 * worst, members.join(", ")),
            weight: 1.0,
            moves: row,
        });
    }
}

/// The deepest intraday break below par in the daily ranges of a peg factor (days that ended by
/// as-of): the hourly panel carries daily closes, which miss an intraday low like USDC's 0.88.
fn worst_daily_low(inp: &Inputs<'_>, f: usize) -> f64 {
    inp.panel
        .daily_range(f)
        .map_or(0.0, |r| r.iter().filter(|(d, _, _)| d.0 + 24 <= inp.as_of.0).map(|(_, low, _)| 1.0 - low).fold(0.0, f64::max))
}

/// A short-dated option's underlying moved to its strike and a third of a range either side, implied
/// vol up (gap risk to expiry); at full weight within the scan range on the strike's side, else at
/// the extreme weight.
fn through_strike(
    inp: &Inputs<'_>,
    p: &HypotheticalParams,
    (u, f): (UnderlyingId, usize),
    range: ScanRange,
    strike: f64,
    spot: f64,
    out: &mut Vec<Hypothetical>,
) {
    let m = (strike / spot).ln();
    let r = range.toward(m);
    for k in [-1.0, 0.0, 1.0] {
        let mv = m + k * r / 3.0;
        if mv.abs() > p.extreme_multiple * r {
            continue;
        }
        let weight = if mv.abs() <= r { 1.0 } else { p.extreme_weight };
        out.push(Hypothetical {
            name: format!(
                "through strike {strike:.0}: {} {:+.1}%, implied vol up, at weight {weight}",
                name_of(inp, u),
                100.0 * mv.exp_m1()
            ),
            weight,
            moves: priced_row(inp, u, f, mv, 1),
        });
    }
}
