//! Hypothetical scenarios beside history (what SPAN 2, Eurex Prisma and Deribit's portfolio margin
//! do), so that margin holds in a crisis unlike the last one: a two-sided price scan per underlying
//! with implied vol up and down and an extreme move at partial weight; decorrelation of every pair
//! of underlyings; peg breaks per asset kind sized from the worst break of any asset of that kind;
//! short-dated options scanned through their strike. Every scenario is named. Formulas, parameters
//! and calibration: `docs/margin-methodology.md` section 4.5.

use crate::market::{Target, Universe};
use crate::params::HypotheticalParams;
use crate::protocol::enum_name;
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
    /// Per factor, the floored EWMA volatility of today (hourly) that rescaled the FHS moves.
    pub sigma_now_hourly: &'a [f64],
    pub vol_shock: Option<VolShockParams>,
    /// Short-dated options of the book: (underlying, strike USD, spot USD).
    pub short_dated: &'a [(UnderlyingId, f64, f64)],
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
    up = up.max(p.kind_rise_fraction * kind_rise(inp, p, f));
    let own = own_history_days(inp, f);
    if own < p.min_own_history_days {
        down = down.max(p.young_scan_range);
    }
    if own < p.min_own_history_days_up {
        up = up.max(p.young_scan_range_up);
    }
    ScanRange { up, down }
}

/// The squeeze of the kind carried to factor `f` in volatility units (section 4.7):
/// `Z x sigma_now(f)` with `Z = max over the underlyings c of the kind with their own history of
/// q_scan_quantile( max(0, FHS move of c) / sigma_now(c) )`. An FHS move is the historical move
/// `m x sigma_now / sigma_then`, so the quotient is `m / sigma_then`: the rise in units of the
/// coin's volatility at the time. The kind of an underlying is the price of a coin: every priced
/// underlying of the universe with its own (non-proxy) history is pooled. 0 when disabled.
fn kind_rise(inp: &Inputs<'_>, p: &HypotheticalParams, f: usize) -> f64 {
    if p.kind_rise_fraction == 0.0 || inp.sigma_now_hourly.is_empty() {
        return 0.0;
    }
    let nf = inp.universe.factor_names.len();
    assert_eq!(inp.sigma_now_hourly.len(), nf, "one sigma_now per factor");
    let peers = (1..inp.universe.underlyings.len()).filter_map(|u| {
        let own = !inp.universe.proxied_spot.get(u).copied().unwrap_or(false);
        inp.universe.factor_of(Target::Spot(UnderlyingId(u as u16))).filter(|&g| own && own_history_days(inp, g) > 0.0)
    });
    let z = peers
        .filter(|&g| inp.sigma_now_hourly[g] > 0.0)
        .map(|g| {
            let units = inp.fhs_moves.chunks(nf).map(|r| r[g].max(0.0) / inp.sigma_now_hourly[g]).collect();
            quantile(units, p.scan_quantile)
        })
        .fold(0.0, f64::max);
    z * inp.sigma_now_hourly[f]
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
    let mut legs = Vec::with_capacity(priced.len());
    for &(u, f) in &priced {
        // A proxied price has no history of its own at all: it is young whatever its proxy's age.
        let own = !inp.universe.proxied_spot.get(usize::from(u.0)).copied().unwrap_or(false);
        let range = if own { scan_range(inp, p, f) } else { proxied(scan_range(inp, p, f), p) };
        let mature_down = own && own_history_days(inp, f) >= p.min_own_history_days;
        ranges.push(range);
        legs.push(ScanLeg { u, f, range, mature_down });
    }
    for sign in [-1.0, 1.0] {
        market_scan(inp, p, &legs, sign, &mut out);
    }
    for a in 0..priced.len() {
        for b in a + 1..priced.len() {
            decorrelation(inp, p, (priced[a], ranges[a]), (priced[b], ranges[b]), &mut out);
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
    set_move(inp, &mut row, u, f, mv, vol);
    row
}

/// Sets the price move `mv` of factor `f` and the implied-vol move `vol` of underlying `u` in `row`.
fn set_move(inp: &Inputs<'_>, row: &mut [f64], u: UnderlyingId, f: usize, mv: f64, vol: i8) {
    row[f] = mv;
    if let (Some(vf), Some(vs)) = (inp.universe.factor_of(Target::Vol(u)), inp.vol_shock) {
        row[vf] = match vol {
            1 => vs.up_log_ref,
            -1 => vs.down_log_ref,
            _ => 0.0,
        };
    }
}

/// One underlying of the price scan: its factor, its ranges, and whether it has left the young
/// rule on its crash side (`min_own_history_days` of its own history).
#[derive(Debug, Clone, Copy)]
struct ScanLeg {
    u: UnderlyingId,
    f: usize,
    range: ScanRange,
    mature_down: bool,
}

/// The price scan on the side `sign` (-1: the crash, +1: the squeeze). With `joint_crash_scan`,
/// the underlyings that are mature on the crash side fall together along the market factor, each
/// by `k` times its own down range (a stressed beta of 1 in range units: in 2019-2024 no 24h fall
/// of BTC or ETH beyond 15% came with the other within 3%), and their spread is left to the
/// decorrelation scenarios. Rises are scanned one coin at a time: squeezes are a coin's own (ETH
/// rose more than 15% in 24h with BTC within 3% in 4 of 20 windows, 2021-01 and 2024-05). A young
/// underlying is scanned alone on both sides: its idiosyncratic tail is unknown. A book on one
/// underlying sees the same moves either way (`docs/margin-methodology.md` section 4.7).
fn market_scan(inp: &Inputs<'_>, p: &HypotheticalParams, legs: &[ScanLeg], sign: f64, out: &mut Vec<Hypothetical>) {
    let joint: Vec<ScanLeg> = legs.iter().copied().filter(|l| p.joint_crash_scan && sign < 0.0 && l.mature_down).collect();
    if joint.len() > 1 {
        side_scan(inp, p, &joint, sign, out);
    }
    for leg in legs {
        if joint.len() <= 1 || !joint.iter().any(|j| j.u == leg.u) {
            side_scan(inp, p, std::slice::from_ref(leg), sign, out);
        }
    }
}

/// The scan of one side for the legs moving together: `sign k R` for every scan point `k` (`R` each
/// leg's range on that side), each with implied vol up and down, and the extreme move `sign
/// extreme_multiple R` (vol up) at `extreme_weight` (up) or `extreme_weight_down` (down, the
/// first-of-a-kind crash).
fn side_scan(inp: &Inputs<'_>, p: &HypotheticalParams, legs: &[ScanLeg], sign: f64, out: &mut Vec<Hypothetical>) {
    assert!(!legs.is_empty(), "a scan moves at least one underlying");
    for &k in &p.scan_points {
        for (vol, word) in [(1i8, "up"), (-1i8, "down")] {
            out.push(Hypothetical {
                name: format!("scan {} ({:+.2} of range), implied vol {word}", leg_moves(inp, legs, sign * k), sign * k),
                weight: 1.0,
                moves: joint_row(inp, legs, sign * k, vol),
            });
        }
    }
    let weight = if sign < 0.0 { p.extreme_weight_down } else { p.extreme_weight };
    let m = sign * p.extreme_multiple;
    out.push(Hypothetical {
        name: format!("extreme {} ({} x range), at weight {weight}", leg_moves(inp, legs, m), p.extreme_multiple),
        weight,
        moves: joint_row(inp, legs, m, 1),
    });
}

/// `BTC -25.7% (range 29.7%)`, joined by ` / ` for a joint move of `m` ranges.
fn leg_moves(inp: &Inputs<'_>, legs: &[ScanLeg], m: f64) -> String {
    let one = |l: &ScanLeg| {
        let r = l.range.toward(m);
        format!("{} {:+.1}% (range {:.1}%)", name_of(inp, l.u), 100.0 * (m * r).exp_m1(), 100.0 * r)
    };
    let parts: Vec<String> = legs.iter().map(one).collect();
    if legs.len() > 1 { format!("market {}", parts.join(" / ")) } else { parts.concat() }
}

/// Every leg moved by `m` times its range on the side of `m`, each leg's implied vol as `vol`.
fn joint_row(inp: &Inputs<'_>, legs: &[ScanLeg], m: f64, vol: i8) -> Vec<f64> {
    let mut row = vec![0.0; inp.universe.factor_names.len()];
    for l in legs {
        set_move(inp, &mut row, l.u, l.f, m * l.range.toward(m), vol);
    }
    row
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
