//! The factor panel: every risk factor on one hourly UTC grid, with the provenance of every cell.
//!
//! Building the panel from [`RawData`] is a pure function ([`FactorPanel::build`]); only
//! [`FactorPanel::load`] touches the file system. The construction of each factor, and every proxy
//! used where history is missing, is documented in `docs/market-data.md`; the numbers each proxy was
//! calibrated with are kept in [`ProxyParams`].

// Columns are built by walking several parallel series with one grid index; index loops say that
// more plainly than zipped iterators over four or five slices.
#![allow(clippy::needless_range_loop)]

use crate::error::{MarketDataError, Result};
use crate::loader::{self, DailyRange, Obs, RawData};
use crate::time::Hour;
use crate::vol::{self, EwmaParams, HOURS_PER_YEAR};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// First grid instant: the close of the first 2019 hourly bar, 2019-01-01T01:00:00Z (a constant
/// so the grid arithmetic stays `const`; the calendar date is checked against jiff in the tests).
pub const GRID_START: Hour = Hour(429_529);
/// Last grid instant: the close of the last 2024 hourly bar, 2025-01-01T00:00:00Z (checked likewise).
pub const GRID_END: Hour = Hour(482_136);

/// How a factor's level is defined and how its moves are measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    /// Level = ln(price in USD); move = difference of levels (a log-return).
    Price,
    /// Level = price ratio to the reference (1.0 at peg); move = absolute change of the ratio.
    Peg,
    /// Level = ln(perp / spot); move = absolute change.
    Basis,
    /// Level = funding rate per 8h (fraction); move = absolute change.
    Funding,
    /// Level = implied volatility, annualised fraction (0.6 = 60%); move = ln(new / old).
    Vol,
}

impl FactorKind {
    /// The move from level `a` to level `b`.
    pub fn move_between(self, a: f64, b: f64) -> f64 {
        match self {
            FactorKind::Vol => (b / a).ln(),
            _ => b - a,
        }
    }

    /// The level after applying `mv` to `level` (inverse of [`FactorKind::move_between`]).
    pub fn apply_move(self, level: f64, mv: f64) -> f64 {
        match self {
            FactorKind::Vol => level * mv.exp(),
            _ => level + mv,
        }
    }
}

/// Where a panel cell comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Source {
    /// A value of the factor's own series observed at exactly this instant.
    Observed = 0,
    /// The factor's own series, carried forward from an earlier observation (daily data, gaps).
    Filled = 1,
    /// A documented proxy built from other series.
    Proxy = 2,
}

/// The risk factors, in panel order.
pub const FACTORS: [(&str, FactorKind); 19] = [
    ("price:BTC", FactorKind::Price),
    ("price:ETH", FactorKind::Price),
    ("price:SOL", FactorKind::Price),
    ("price:LINK", FactorKind::Price),
    ("price:UNI", FactorKind::Price),
    ("price:AAVE", FactorKind::Price),
    ("price:LUNA", FactorKind::Price),
    ("peg:USDC", FactorKind::Peg),
    ("peg:DAI", FactorKind::Peg),
    ("peg:USDT", FactorKind::Peg),
    ("peg:UST", FactorKind::Peg),
    ("peg:stETH", FactorKind::Peg),
    ("peg:sBTC", FactorKind::Peg),
    ("basis:BTC-PERP", FactorKind::Basis),
    ("basis:ETH-PERP", FactorKind::Basis),
    ("funding:BTC-PERP", FactorKind::Funding),
    ("funding:ETH-PERP", FactorKind::Funding),
    ("vol:BTC", FactorKind::Vol),
    ("vol:ETH", FactorKind::Vol),
];

/// The kind of a factor by name, without a panel (e.g. to apply calibration stress moves).
pub fn factor_kind(name: &str) -> Option<FactorKind> {
    FACTORS.iter().find(|f| f.0 == name).map(|f| f.1)
}

const I_BTC: usize = 0;
const I_ETH: usize = 1;
const I_LUNA: usize = 6;
const I_USDC: usize = 7;
const I_DAI: usize = 8;
const I_USDT: usize = 9;
const I_UST: usize = 10;
const I_STETH: usize = 11;
const I_SBTC: usize = 12;
const I_BASIS_BTC: usize = 13;
const I_BASIS_ETH: usize = 14;
const I_FUND_BTC: usize = 15;
const I_FUND_ETH: usize = 16;
const I_VOL_BTC: usize = 17;
const I_VOL_ETH: usize = 18;

/// Parameters used to build proxies (inputs) and the values they were calibrated to (outputs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyParams {
    /// Hours of trailing Deribit-index / Binance ratios whose median is USDT/USD (source A).
    pub usdt_deribit_median_hours: usize,
    /// Days of trailing Yahoo ETH-USD / Binance ETH-USDT ratios whose median is USDT/USD (source B).
    pub usdt_yahoo_median_days: usize,
    /// Binance interest component per 8h subtracted from funding for the basis proxy.
    pub basis_interest_per_8h: f64,
    /// stETH/ETH closes before this instant are replaced by a trailing median (noisy Yahoo data).
    pub steth_trusted_from: Hour,
    /// Length of the trailing median applied to untrusted stETH/ETH closes (days).
    pub steth_untrusted_median_days: usize,
    /// Clamp for the vol-ratio betas of price proxies.
    pub price_beta_clamp: (f64, f64),
    /// EWMA used for realised-vol proxies (DVOL before launch, ETH implied vol).
    pub realised_vol_ewma: EwmaParams,
    /// Hours before the first real value over which a peg or implied-vol proxy is blended into it.
    pub seam_ramp_hours: usize,
    /// Output: first DVOL / proxy value at the DVOL launch (blended in over `seam_ramp_hours`).
    pub dvol_seam_ratio: Option<f64>,
    /// Output: per price factor, `(factor, side, beta)` of the ETH-scaled proxy; side is
    /// `before` (leading gap) or `after` (trailing gap).
    pub price_betas: Vec<(String, String, f64)>,
    /// Scale of the peg proxies built from another stablecoin (DAI from USDC, UST and stETH/ETH
    /// from DAI). 1.0: the source's dislocation is carried over unscaled (see the tail-ratio
    /// diagnostics for why a fitted scale was rejected).
    pub peg_proxy_beta: f64,
    /// Diagnostic (not used): max |DAI - 1| / max |USDC - 1| over DAI's first year.
    pub dai_on_usdc_tail_ratio: Option<f64>,
    /// Diagnostic (not used): max UST discount / max |DAI - 1| over UST's first year.
    pub ust_on_dai_tail_ratio: Option<f64>,
    /// Diagnostic (not used): max stETH discount / max |DAI - 1| over the trusted stETH period.
    pub steth_on_dai_tail_ratio: Option<f64>,
    /// Output: mean of DVOL / EWMA realised vol of BTC over the overlap; DVOL proxy multiplier.
    pub dvol_over_realised: Option<f64>,
    /// Output: number of hourly points in the DVOL/realised overlap.
    pub dvol_overlap_hours: usize,
}

impl Default for ProxyParams {
    fn default() -> Self {
        ProxyParams {
            usdt_deribit_median_hours: 24,
            usdt_yahoo_median_days: 3,
            basis_interest_per_8h: 0.0001,
            steth_trusted_from: Hour::from_ymdh(2022, 1, 1, 0),
            steth_untrusted_median_days: 7,
            price_beta_clamp: (0.5, 3.0),
            realised_vol_ewma: EwmaParams::default(),
            seam_ramp_hours: 720,
            dvol_seam_ratio: None,
            price_betas: Vec::new(),
            peg_proxy_beta: 1.0,
            dai_on_usdc_tail_ratio: None,
            ust_on_dai_tail_ratio: None,
            steth_on_dai_tail_ratio: None,
            dvol_over_realised: None,
            dvol_overlap_hours: 0,
        }
    }
}

/// All risk factors on the hourly grid [`GRID_START`]..=[`GRID_END`].
#[derive(Clone, Debug)]
pub struct FactorPanel {
    start: Hour,
    len: usize,
    names: Vec<String>,
    kinds: Vec<FactorKind>,
    levels: Vec<Vec<f64>>,
    sources: Vec<Vec<Source>>,
    moves: Vec<Vec<f64>>,
    daily_range: Vec<Option<DailyRange>>,
    proxies: ProxyParams,
}

/// A column on the grid under construction: NaN = no value yet.
struct Col {
    v: Vec<f64>,
    s: Vec<Source>,
}

impl Col {
    fn new(n: usize) -> Col {
        Col { v: vec![f64::NAN; n], s: vec![Source::Proxy; n] }
    }
    fn first(&self) -> Option<usize> {
        self.v.iter().position(|x| x.is_finite())
    }
    fn last(&self) -> Option<usize> {
        self.v.iter().rposition(|x| x.is_finite())
    }
    /// Fills still-empty cells from `other`, marking them with `as_source` (or keeping other's source).
    fn fill_from(&mut self, other: &Col, as_source: Option<Source>) {
        for i in 0..self.v.len() {
            if !self.v[i].is_finite() && other.v[i].is_finite() {
                self.v[i] = other.v[i];
                self.s[i] = as_source.unwrap_or(other.s[i]);
            }
        }
    }
    /// Carries the last value forward over any remaining gap (flagged Filled) and the first value
    /// backward over a leading gap (flagged Proxy); errors if the column is entirely empty.
    fn close_gaps(&mut self, name: &str) -> Result<()> {
        let f = self.first().ok_or_else(|| MarketDataError::NoAnchor { factor: name.into() })?;
        for i in 0..f {
            self.v[i] = self.v[f];
            self.s[i] = Source::Proxy;
        }
        for i in f + 1..self.v.len() {
            if !self.v[i].is_finite() {
                self.v[i] = self.v[i - 1];
                self.s[i] = Source::Filled;
            }
        }
        Ok(())
    }
}

/// Puts a sparse series on the grid: exact hits are Observed, carried values Filled for at most
/// `max_stale_hours`, anything older stays empty so a fallback or proxy can take over.
fn align(obs: &Obs, start: Hour, n: usize, max_stale_hours: i64) -> Col {
    let mut col = Col::new(n);
    let mut j = 0usize;
    for i in 0..n {
        let t = start.plus_hours(i as i64);
        while j < obs.times.len() && obs.times[j] <= t {
            j += 1;
        }
        if j == 0 {
            continue;
        }
        let (ot, ov) = (obs.times[j - 1], obs.values[j - 1]);
        if ot == t {
            col.v[i] = ov;
            col.s[i] = Source::Observed;
        } else if t.0 - ot.0 <= max_stale_hours {
            col.v[i] = ov;
            col.s[i] = Source::Filled;
        }
    }
    col
}

/// Trailing median over the last `k` observations (inclusive), as a new series at the same times.
fn trailing_median(obs: &Obs, k: usize) -> Obs {
    let k = k.max(1);
    let mut out = Obs::default();
    let mut buf: Vec<f64> = Vec::with_capacity(k);
    for (i, t) in obs.times.iter().enumerate() {
        let lo = (i + 1).saturating_sub(k);
        buf.clear();
        buf.extend_from_slice(&obs.values[lo..=i]);
        buf.sort_by(f64::total_cmp);
        let m = buf.len();
        let med = if m % 2 == 1 { buf[m / 2] } else { 0.5 * (buf[m / 2 - 1] + buf[m / 2]) };
        out.times.push(*t);
        out.values.push(med);
    }
    out
}

/// Ratio `a / b` at instants where both have an observation.
fn ratio_at_common(a: &Obs, b: &Obs) -> Obs {
    let mut out = Obs::default();
    let (mut i, mut j) = (0, 0);
    while i < a.times.len() && j < b.times.len() {
        match a.times[i].cmp(&b.times[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.times.push(a.times[i]);
                out.values.push(a.values[i] / b.values[j]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn std_dev(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = x.iter().sum::<f64>() / x.len() as f64;
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// 24h changes of two columns sampled every 24h over `[from, to)` where both are finite.
fn daily_changes(a: &[f64], b: &[f64], from: usize, to: usize, f: impl Fn(f64) -> f64) -> (Vec<f64>, Vec<f64>) {
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    let mut i = from;
    while i + 24 < to.min(a.len()) {
        let (a0, a1, b0, b1) = (f(a[i]), f(a[i + 24]), f(b[i]), f(b[i + 24]));
        if a0.is_finite() && a1.is_finite() && b0.is_finite() && b1.is_finite() {
            ra.push(a1 - a0);
            rb.push(b1 - b0);
        }
        i += 24;
    }
    (ra, rb)
}

/// Tail ratio, a diagnostic of peg proxies: the largest deviation from 1 of `target` (only its
/// discount when `discount_only`) divided by the largest absolute deviation of `source`, over
/// `[from, to)` where both exist. A proxy scaled by it would reproduce the target's worst
/// dislocation, but the sources were far noisier before the target existed than during the overlap
/// (DAI's daily changes had a 1.3% standard deviation in 2020, 0.2% in 2021), so the scaled path
/// would be mostly amplified noise; the proxies therefore use `peg_proxy_beta` (1.0).
fn tail_ratio(target: &[f64], source: &[f64], from: usize, to: usize, discount_only: bool) -> f64 {
    let (mut mt, mut ms) = (0.0f64, 0.0f64);
    for i in from..to.min(target.len()) {
        let (t, s) = (target[i], source[i]);
        if t.is_finite() && s.is_finite() {
            mt = mt.max(if discount_only { 1.0 - t } else { (t - 1.0).abs() });
            ms = ms.max((s - 1.0).abs());
        }
    }
    if ms > 0.0 { mt / ms } else { f64::NAN }
}

/// Removes the seam where a leading proxy meets the first real value at index `f`: the proxy's
/// mismatch `gap` there (real minus proxy formula) is phased in linearly over the `ramp` hours before
/// `f`, additively. Without it the seam would be an artificial jump that FHS would replay as a move.
fn ramp_additive(v: &mut [f64], f: usize, ramp: usize, gap: f64) {
    let r0 = f.saturating_sub(ramp);
    let len = (f - r0).max(1) as f64;
    for (k, x) in v[r0..f].iter_mut().enumerate() {
        *x += gap * (k as f64 + 1.0) / (len + 1.0);
    }
}

/// Multiplicative version of [`ramp_additive`] for levels that are positive (implied vol): the
/// proxy is multiplied by `ratio^w` with `w` rising linearly to 1 at `f`.
fn ramp_multiplicative(v: &mut [f64], f: usize, ramp: usize, ratio: f64) {
    let r0 = f.saturating_sub(ramp);
    let len = (f - r0).max(1) as f64;
    let lr = ratio.ln();
    for (k, x) in v[r0..f].iter_mut().enumerate() {
        *x *= (lr * (k as f64 + 1.0) / (len + 1.0)).exp();
    }
}

fn clamp_beta(b: f64, (lo, hi): (f64, f64)) -> f64 {
    if b.is_finite() { b.clamp(lo, hi) } else { 1.0 }
}

const YEAR_HOURS: usize = 365 * 24;

/// Most price sources a configuration may add to the panel.
pub const MAX_EXTRA_FACTORS: usize = 64;
/// A configured hourly series is carried forward over gaps of at most this many hours.
pub const EXTRA_MAX_STALE_HOURS: i64 = 48;

impl FactorPanel {
    /// Loads the raw files from `dir` and builds the panel.
    pub fn load(dir: &Path) -> Result<FactorPanel> {
        FactorPanel::build(&loader::load_raw(dir)?, ProxyParams::default())
    }

    /// Finds the data directory ([`loader::find_data_dir`]) and loads the panel.
    pub fn load_default() -> Result<FactorPanel> {
        FactorPanel::load(&loader::find_data_dir()?)
    }

    /// Builds the panel from parsed raw data. Pure and deterministic.
    pub fn build(raw: &RawData, mut pp: ProxyParams) -> Result<FactorPanel> {
        let start = GRID_START;
        let n = (GRID_END.0 - GRID_START.0 + 1) as usize;
        let spot = |sym: &str| raw.spot_usdt.iter().find(|(s, _)| s == sym).map(|(_, o)| o);
        let empty = Obs::default();
        let btc_usdt = spot("BTC").unwrap_or(&empty);
        let eth_usdt = spot("ETH").unwrap_or(&empty);

        // --- USDT/USD (peg:USDT), needed to convert every Binance series to USD.
        let usdc = align(&raw.usdc_usd_daily, start, n, 72);
        let usdt_a =
            align(&trailing_median(&ratio_at_common(&raw.deribit_btc_index, btc_usdt), pp.usdt_deribit_median_hours), start, n, 24);
        let usdt_b = align(&trailing_median(&ratio_at_common(&raw.eth_usd_yahoo_daily, eth_usdt), pp.usdt_yahoo_median_days), start, n, 72);
        let mut usdt = Col::new(n);
        usdt.fill_from(&usdt_a, Some(Source::Proxy));
        usdt.fill_from(&usdt_b, Some(Source::Proxy));
        // Before the Deribit index (Jan-Apr 2019): the USDC/USD aggregate was quoted mostly through
        // USDT pairs then, so its deviation mirrors USDT's; attribute the spread to USDT.
        let mut usdc_mirror = Col::new(n);
        for i in 0..n {
            usdc_mirror.v[i] = 2.0 - usdc.v[i];
        }
        usdt.fill_from(&usdc_mirror, Some(Source::Proxy));
        usdt.close_gaps("peg:USDT")?;

        let mut cols: Vec<Col> = (0..FACTORS.len()).map(|_| Col::new(n)).collect();

        // --- Prices: ln(close_usdt * usdt_usd).
        let syms = ["BTC", "ETH", "SOL", "LINK", "UNI", "AAVE", "LUNA"];
        for (k, sym) in syms.iter().enumerate() {
            let o = spot(sym).ok_or_else(|| MarketDataError::NoAnchor { factor: format!("price:{sym}") })?;
            let mut c = align(o, start, n, 48);
            for i in 0..n {
                c.v[i] = (c.v[i] * usdt.v[i]).ln();
            }
            if k == I_LUNA {
                // CoinMarketCap LUNA/USD (already USD) before the Binance listing and after the halt.
                let mut d = align(&raw.luna_usd_daily, start, n, 72);
                for x in d.v.iter_mut() {
                    *x = x.ln();
                }
                c.fill_from(&d, None);
            }
            cols[k] = c;
        }
        // ETH is complete from the grid start; it anchors the alt-coin proxies.
        cols[I_ETH].close_gaps("price:ETH")?;
        cols[I_BTC].close_gaps("price:BTC")?;
        let eth = cols[I_ETH].v.clone();
        for k in 2..=I_LUNA {
            let name = FACTORS[k].0;
            let c = &mut cols[k];
            let f = c.first().ok_or_else(|| MarketDataError::NoAnchor { factor: name.into() })?;
            let l = c.last().unwrap_or(f);
            if f > 0 {
                let (ra, rb) = daily_changes(&c.v, &eth, f, f + YEAR_HOURS, |x| x);
                let beta = clamp_beta(std_dev(&ra) / std_dev(&rb), pp.price_beta_clamp);
                pp.price_betas.push((name.into(), "before".into(), beta));
                for i in 0..f {
                    c.v[i] = c.v[f] + beta * (eth[i] - eth[f]);
                    c.s[i] = Source::Proxy;
                }
            }
            if l + 1 < n {
                let (ra, rb) = daily_changes(&c.v, &eth, l.saturating_sub(YEAR_HOURS), l + 1, |x| x);
                let beta = clamp_beta(std_dev(&ra) / std_dev(&rb), pp.price_beta_clamp);
                pp.price_betas.push((name.into(), "after".into(), beta));
                for i in l + 1..n {
                    c.v[i] = c.v[l] + beta * (eth[i] - eth[l]);
                    c.s[i] = Source::Proxy;
                }
            }
            c.close_gaps(name)?;
        }

        // --- Pegs.
        let mut usdc_c = usdc;
        usdc_c.close_gaps("peg:USDC")?;
        let mut dai = align(&raw.dai_usd_daily, start, n, 72);
        if let Some(f) = dai.first()
            && f > 0
        {
            pp.dai_on_usdc_tail_ratio = Some(tail_ratio(&dai.v, &usdc_c.v, f, f + YEAR_HOURS, false));
            let beta = pp.peg_proxy_beta;
            for i in 0..f {
                dai.v[i] = 1.0 + beta * (usdc_c.v[i] - 1.0);
                dai.s[i] = Source::Proxy;
            }
            let gap = dai.v[f] - (1.0 + beta * (usdc_c.v[f] - 1.0));
            ramp_additive(&mut dai.v, f, pp.seam_ramp_hours, gap);
        }
        dai.close_gaps("peg:DAI")?;

        let mut ust = Col::new(n);
        let ust_usdt = align(&raw.ust_usdt_hourly, start, n, 2);
        for i in 0..n {
            if ust_usdt.v[i].is_finite() {
                ust.v[i] = ust_usdt.v[i] * usdt.v[i];
                ust.s[i] = ust_usdt.s[i];
            }
        }
        ust.fill_from(&align(&raw.ust_usd_daily, start, n, 72), None);
        if let Some(f) = ust.first()
            && f > 0
        {
            // An algorithmic stablecoin fails by losing value, so the proxy is a discount.
            pp.ust_on_dai_tail_ratio = Some(tail_ratio(&ust.v, &dai.v, f, f + YEAR_HOURS, true));
            let beta = pp.peg_proxy_beta;
            for i in 0..f {
                ust.v[i] = 1.0 - beta * (dai.v[i] - 1.0).abs();
                ust.s[i] = Source::Proxy;
            }
            let gap = ust.v[f] - (1.0 - beta * (dai.v[f] - 1.0).abs());
            ramp_additive(&mut ust.v, f, pp.seam_ramp_hours, gap);
        }
        ust.close_gaps("peg:UST")?;

        // stETH/ETH: trusted closes from `steth_trusted_from`, trailing median before it.
        let (mut trusted, mut untrusted) = (Obs::default(), Obs::default());
        for (t, v) in raw.steth_eth_daily.times.iter().zip(&raw.steth_eth_daily.values) {
            let o = if *t >= pp.steth_trusted_from { &mut trusted } else { &mut untrusted };
            o.times.push(*t);
            o.values.push(*v);
        }
        let mut steth = align(&trusted, start, n, 72);
        let smoothed = trailing_median(&untrusted, pp.steth_untrusted_median_days);
        steth.fill_from(&align(&smoothed, start, n, 72), Some(Source::Proxy));
        if let Some(f) = steth.first()
            && f > 0
        {
            let from = ((pp.steth_trusted_from.0 - start.0).max(0)) as usize;
            pp.steth_on_dai_tail_ratio = Some(tail_ratio(&steth.v, &dai.v, from, n, true));
            let beta = pp.peg_proxy_beta;
            for i in 0..f {
                steth.v[i] = 1.0 - beta * (dai.v[i] - 1.0).abs();
                steth.s[i] = Source::Proxy;
            }
            let gap = steth.v[f] - (1.0 - beta * (dai.v[f] - 1.0).abs());
            ramp_additive(&mut steth.v, f, pp.seam_ramp_hours, gap);
        }
        steth.close_gaps("peg:stETH")?;

        // sBTC/BTC: no data; the worst concurrent dislocation of the collateralised (USDC, DAI) and
        // staked (stETH) pegs, as a discount.
        let mut sbtc = Col::new(n);
        for i in 0..n {
            let d = (1.0 - steth.v[i]).max(0.0).max((usdc_c.v[i] - 1.0).abs()).max((dai.v[i] - 1.0).abs());
            sbtc.v[i] = 1.0 - d;
        }
        cols[I_USDC] = usdc_c;
        cols[I_DAI] = dai;
        cols[I_USDT] = usdt;
        cols[I_UST] = ust;
        cols[I_STETH] = steth;
        cols[I_SBTC] = sbtc;

        // --- Funding per 8h: Binance (the perp venue), else BitMEX XBTUSD, else carried.
        let mut fb = align(&raw.btc_funding_binance, start, n, 16);
        fb.fill_from(&align(&raw.btc_funding_bitmex, start, n, 16), Some(Source::Proxy));
        fb.close_gaps("funding:BTC-PERP")?;
        let mut fe = align(&raw.eth_funding_binance, start, n, 16);
        fe.fill_from(&fb, Some(Source::Proxy));
        fe.close_gaps("funding:ETH-PERP")?;

        // --- Basis ln(perp/spot): real inside the perp windows, funding minus interest elsewhere.
        for (bi, perp, sym, fcol) in [(I_BASIS_BTC, &raw.btc_perp_usdt, "BTC", &fb), (I_BASIS_ETH, &raw.eth_perp_usdt, "ETH", &fe)] {
            // The perp close must be observed at the instant (a carried perp close against a fresh
            // spot close would be a fake basis); spot may carry its one missing bar (2020-03-04).
            let p = align(perp, start, n, 0);
            let s = align(spot(sym).unwrap_or(&empty), start, n, 1);
            let mut c = Col::new(n);
            for i in 0..n {
                if p.v[i].is_finite() && s.v[i].is_finite() {
                    c.v[i] = (p.v[i] / s.v[i]).ln();
                    c.s[i] = p.s[i].max(s.s[i]);
                } else {
                    c.v[i] = fcol.v[i] - pp.basis_interest_per_8h;
                    c.s[i] = Source::Proxy;
                }
            }
            cols[bi] = c;
        }
        cols[I_FUND_BTC] = fb;
        cols[I_FUND_ETH] = fe;

        // --- Implied vol: DVOL, realised-vol proxies elsewhere.
        let rv = |lv: &[f64]| -> Vec<f64> {
            let mv: Vec<f64> = std::iter::once(0.0).chain(lv.windows(2).map(|w| w[1] - w[0])).collect();
            // Forecast index i+1 includes the move ending at i, i.e. the vol known at instant i.
            let v = vol::ewma_forecast_variance(&mv, &pp.realised_vol_ewma);
            v[1..].iter().map(|x| (x * HOURS_PER_YEAR).sqrt()).collect()
        };
        let rv_btc = rv(&cols[I_BTC].v);
        let rv_eth = rv(&cols[I_ETH].v);
        let mut dv = align(&raw.btc_dvol, start, n, 48);
        for x in dv.v.iter_mut() {
            *x /= 100.0;
        }
        let (mut sum, mut cnt) = (0.0, 0usize);
        // Skip the first month of the grid so the EWMA seed does not enter the ratio.
        for i in 720..n {
            if dv.s[i] == Source::Observed && dv.v[i].is_finite() && rv_btc[i] > 0.0 {
                sum += dv.v[i] / rv_btc[i];
                cnt += 1;
            }
        }
        let k = if cnt > 0 { sum / cnt as f64 } else { 1.0 };
        pp.dvol_over_realised = Some(k);
        pp.dvol_overlap_hours = cnt;
        let first_dvol = dv.first();
        for i in 0..n {
            if !dv.v[i].is_finite() {
                dv.v[i] = k * rv_btc[i];
                dv.s[i] = Source::Proxy;
            }
        }
        if let Some(f) = first_dvol
            && f > 0
            && rv_btc[f] > 0.0
        {
            let ratio = dv.v[f] / (k * rv_btc[f]);
            pp.dvol_seam_ratio = Some(ratio);
            ramp_multiplicative(&mut dv.v, f, pp.seam_ramp_hours, ratio);
        }
        let mut ve = Col::new(n);
        for i in 0..n {
            ve.v[i] = dv.v[i] * rv_eth[i] / rv_btc[i];
        }
        cols[I_VOL_BTC] = dv;
        cols[I_VOL_ETH] = ve;

        // --- Final checks and moves.
        let names: Vec<String> = FACTORS.iter().map(|f| f.0.to_string()).collect();
        let kinds: Vec<FactorKind> = FACTORS.iter().map(|f| f.1).collect();
        for (k, c) in cols.iter_mut().enumerate() {
            c.close_gaps(&names[k])?;
            if let Some(i) = c.v.iter().position(|x| !x.is_finite()) {
                return Err(MarketDataError::NoAnchor { factor: format!("{} (non-finite at {})", names[k], start.plus_hours(i as i64)) });
            }
        }
        let moves: Vec<Vec<f64>> = cols
            .iter()
            .zip(&kinds)
            .map(|(c, kind)| std::iter::once(0.0).chain(c.v.windows(2).map(|w| kind.move_between(w[0], w[1]))).collect())
            .collect();
        let mut daily_range = vec![None; FACTORS.len()];
        daily_range[I_USDC] = Some(raw.usdc_range.clone());
        daily_range[I_DAI] = Some(raw.dai_range.clone());
        daily_range[I_UST] = Some(raw.ust_range.clone());
        // Boundary check of the panel invariant (checked above with a typed error; kept as a
        // statement of what every consumer may rely on).
        assert!(moves.iter().all(|m| m.len() == n && m.iter().all(|x| x.is_finite())), "panel moves must be finite");
        let (levels, sources) = cols.into_iter().map(|c| (c.v, c.s)).unzip();
        Ok(FactorPanel { start, len: n, names, kinds, levels, sources, moves, daily_range, proxies: pp })
    }

    /// Adds a factor `price:SYMBOL` for every configured price source (`sources`: symbol, file name
    /// in `dir`, column, quoted in USDT). The file is read like the built-in hourly bars: rows
    /// stamped at the bar's open, the close known an hour later, carried forward at most
    /// [`EXTRA_MAX_STALE_HOURS`]; levels before the first observation are a backward fill flagged
    /// `Proxy` (so `real_span` shows where the asset's own history begins). A symbol that already
    /// has a factor, a path instead of a file name, or more than [`MAX_EXTRA_FACTORS`] sources is an
    /// error.
    pub fn with_price_sources(mut self, dir: &Path, sources: &[(String, String, String, bool)]) -> Result<FactorPanel> {
        if sources.len() > MAX_EXTRA_FACTORS {
            return Err(MarketDataError::PriceSourceInvalid {
                symbol: "*".into(),
                problem: format!("more than {MAX_EXTRA_FACTORS} sources"),
            });
        }
        let usdt = self.factor_index("peg:USDT")?;
        for (symbol, file, column, in_usdt) in sources {
            let fx: Vec<f64> = if *in_usdt { self.levels[usdt].clone() } else { vec![1.0; self.len] };
            self.add_series(dir, symbol, format!("price:{symbol}"), FactorKind::Price, file, column, |v, i| (v * fx[i]).ln())?;
        }
        Ok(self)
    }

    /// Adds a factor `peg:SYMBOL` for every configured peg source (`sources`: asset symbol, file
    /// name in `dir`, column): the column is the asset's ratio to what it tracks (a stablecoin's USD
    /// price, a wrapped coin's price in the coin), read like [`FactorPanel::with_price_sources`]
    /// (hourly bars stamped at their open, carried forward at most [`EXTRA_MAX_STALE_HOURS`],
    /// levels before the first observation a backward fill flagged `Proxy`). A symbol that already
    /// has a peg factor, a path instead of a file name, or too many sources is an error.
    pub fn with_peg_sources(mut self, dir: &Path, sources: &[(String, String, String)]) -> Result<FactorPanel> {
        if sources.len() > MAX_EXTRA_FACTORS {
            return Err(MarketDataError::PriceSourceInvalid {
                symbol: "*".into(),
                problem: format!("more than {MAX_EXTRA_FACTORS} sources"),
            });
        }
        for (symbol, file, column) in sources {
            self.add_series(dir, symbol, format!("peg:{symbol}"), FactorKind::Peg, file, column, |v, _| v)?;
        }
        Ok(self)
    }

    /// Reads one configured series into a new factor `name` of `kind`; `level(value, i)` turns
    /// the observation at grid index `i` into the factor's level.
    #[allow(clippy::too_many_arguments)]
    fn add_series(
        &mut self,
        dir: &Path,
        symbol: &str,
        name: String,
        kind: FactorKind,
        file: &str,
        column: &str,
        level: impl Fn(f64, usize) -> f64,
    ) -> Result<()> {
        let bad = |problem: String| MarketDataError::PriceSourceInvalid { symbol: symbol.to_string(), problem };
        if self.names.contains(&name) {
            return Err(bad(format!("{name} is already a factor of the panel")));
        }
        if file.is_empty() || file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(bad(format!("{file:?} must be a file name in the market-data directory")));
        }
        let obs = loader::CsvTable::read(&dir.join(file))?.obs(column, 1, true)?;
        let mut col = align(&obs, self.start, self.len, EXTRA_MAX_STALE_HOURS);
        for i in 0..self.len {
            if col.v[i].is_finite() {
                col.v[i] = level(col.v[i], i);
            }
        }
        col.close_gaps(&name)?;
        let moves: Vec<f64> = std::iter::once(0.0).chain(col.v.windows(2).map(|w| kind.move_between(w[0], w[1]))).collect();
        if !moves.iter().all(|m| m.is_finite()) {
            return Err(bad("non-finite move".into()));
        }
        self.names.push(name);
        self.kinds.push(kind);
        self.levels.push(col.v);
        self.sources.push(col.s);
        self.moves.push(moves);
        self.daily_range.push(None);
        Ok(())
    }

    /// Number of grid instants.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the grid is empty (never, for a built panel).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// First grid instant.
    pub fn start(&self) -> Hour {
        self.start
    }

    /// Last grid instant.
    pub fn end(&self) -> Hour {
        self.start.plus_hours(self.len as i64 - 1)
    }

    /// The instant of grid index `i`.
    pub fn time(&self, i: usize) -> Hour {
        self.start.plus_hours(i as i64)
    }

    /// Grid index of instant `t`.
    pub fn index_of(&self, t: Hour) -> Result<usize> {
        let d = t.0 - self.start.0;
        if d < 0 || d >= self.len as i64 {
            return Err(MarketDataError::TimeOutsideGrid {
                time: t.to_iso(),
                grid_start: self.start.to_iso(),
                grid_end: self.end().to_iso(),
            });
        }
        Ok(d as usize)
    }

    /// Factor names in panel order.
    pub fn factor_names(&self) -> &[String] {
        &self.names
    }

    /// Number of factors.
    pub fn n_factors(&self) -> usize {
        self.names.len()
    }

    /// Index of the factor called `name` (e.g. `"price:BTC"`).
    pub fn factor_index(&self, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| MarketDataError::UnknownFactor { name: name.into() })
    }

    /// Kind of factor `f`.
    pub fn kind(&self, f: usize) -> FactorKind {
        self.kinds[f]
    }

    /// Levels of factor `f` on the grid (log USD price for prices; see [`FactorKind`]).
    pub fn levels(&self, f: usize) -> &[f64] {
        &self.levels[f]
    }

    /// Hourly moves of factor `f` (`moves[0] = 0`; `moves[i]` from index `i-1` to `i`).
    pub fn moves(&self, f: usize) -> &[f64] {
        &self.moves[f]
    }

    /// Provenance of every cell of factor `f`.
    pub fn sources(&self, f: usize) -> &[Source] {
        &self.sources[f]
    }

    /// Level of factor `f` at grid index `i`.
    pub fn level(&self, f: usize, i: usize) -> f64 {
        self.levels[f][i]
    }

    /// The level in natural units: USD price for price factors (exp of the log level), otherwise the level.
    pub fn natural_level(&self, f: usize, i: usize) -> f64 {
        match self.kinds[f] {
            FactorKind::Price => self.levels[f][i].exp(),
            _ => self.levels[f][i],
        }
    }

    /// Time-weighted average of factor `f` in natural units (USD for prices) over the `hours`
    /// instants ending at `as_of` (inclusive), using no data after `as_of`. A single print moves it
    /// by only 1/`hours` of its size. (The margin engine's manipulation guard does not use it: its
    /// stable price is the median of the hourly prices, `risk::market::BaseMarket::from_panel`.)
    pub fn time_weighted_natural(&self, f: usize, as_of: Hour, hours: usize) -> Result<f64> {
        let i = self.index_of(as_of)?;
        if hours == 0 || hours > 24 * 365 {
            return Err(MarketDataError::InvalidParameter { name: "hours", value: hours as f64, why: "must lie in 1..=8760" });
        }
        let i0 = (i + 1).saturating_sub(hours);
        let sum: f64 = (i0..=i).map(|k| self.natural_level(f, k)).sum();
        Ok(sum / (i - i0 + 1) as f64)
    }

    /// Move of factor `f` from index `i0` to index `i1`.
    pub fn move_between(&self, f: usize, i0: usize, i1: usize) -> f64 {
        self.kinds[f].move_between(self.levels[f][i0], self.levels[f][i1])
    }

    /// Daily low/high ranges of the peg factors that have OHLC data (USDC, DAI, UST).
    pub fn daily_range(&self, f: usize) -> Option<&DailyRange> {
        self.daily_range[f].as_ref()
    }

    /// The proxy parameters and their calibrated values.
    pub fn proxy_params(&self) -> &ProxyParams {
        &self.proxies
    }

    /// Fraction of cells of factor `f` per source: `(observed, filled, proxy)`.
    pub fn coverage(&self, f: usize) -> (f64, f64, f64) {
        let mut c = [0usize; 3];
        for s in &self.sources[f] {
            c[*s as usize] += 1;
        }
        let n = self.len as f64;
        (c[0] as f64 / n, c[1] as f64 / n, c[2] as f64 / n)
    }

    /// A copy whose levels at instants strictly after `t` are replaced by `g(factor, level)` (moves
    /// recomputed). Used to prove that computations as of `t` do not read the future; also a way to
    /// build what-if panels.
    pub fn with_future_replaced(&self, t: Hour, g: impl Fn(usize, f64) -> f64) -> FactorPanel {
        let mut p = self.clone();
        let from = ((t.0 - self.start.0 + 1).max(0) as usize).min(self.len);
        for f in 0..p.levels.len() {
            for i in from..p.len {
                p.levels[f][i] = g(f, p.levels[f][i]);
            }
            let kind = p.kinds[f];
            let lv = &p.levels[f];
            p.moves[f] = std::iter::once(0.0).chain(lv.windows(2).map(|w| kind.move_between(w[0], w[1]))).collect();
            // Daily ranges after `t` are future data too.
            if let Some(r) = p.daily_range[f].as_mut() {
                r.retain(|(d, _, _)| d.0 + 24 <= t.0);
            }
        }
        p
    }

    /// First and last instants where factor `f` is not a proxy.
    pub fn real_span(&self, f: usize) -> Option<(Hour, Hour)> {
        let s = &self.sources[f];
        let a = s.iter().position(|x| *x != Source::Proxy)?;
        let b = s.iter().rposition(|x| *x != Source::Proxy)?;
        Some((self.time(a), self.time(b)))
    }
}
