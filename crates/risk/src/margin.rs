//! The margin of one account from precomputed per-instrument risk vectors: expected shortfall over
//! FHS scenarios mixed with protocol failures, the stress floor, concentrated protocol failures
//! charged in full, the liquidity charge, the manipulation guard, and the explanation.
//! Formulas: `docs/margin-methodology.md`.

use crate::book::{BookInstrument, Class};
use crate::liquidity::{close_out_cost, depth_for, price_move_to_close, unwind_loss_fraction};
use crate::market::{BaseMarket, Universe};
use crate::params::{MarketDepth, RiskParams};
use crate::protocol::{ProtocolRisk, protocol_risk};
use crate::scenarios::{RiskVectors, ScenarioBook};
use model::Config;
use serde::Serialize;
use std::cmp::Ordering;

/// Everything about a set of instruments that does not depend on the account.
#[derive(Debug, Clone)]
pub struct Engine {
    pub instruments: Vec<BookInstrument>,
    pub rv: RiskVectors,
    pub scenario_labels: ScenarioLabels,
    pub n_fhs: usize,
    pub params: RiskParams,
    pub protocols: Vec<ProtocolRisk>,
    /// Per instrument: (protocol index, fraction of its value at stake).
    pub(crate) links: Vec<Vec<(usize, f64)>>,
    /// Per instrument: the protocol whose failure collapses it (an unbacked token's issuer).
    pub(crate) collapse: Vec<Option<usize>>,
    /// Per instrument: FHS expected shortfall of one unit held long and held short, for the
    /// batch path's subadditive bound on the survivors of a protocol failure.
    pub(crate) unit_es: Vec<(f64, f64)>,
    /// Per instrument: USD notional of one unit (mark for perps, |value| otherwise).
    pub unit_notional: Vec<f64>,
    pub depth: Vec<MarketDepth>,
    /// Per floor scenario (scenario `n_fhs + k`): the weight of its loss (hypothetical extremes < 1).
    pub floor_weights: Vec<f64>,
    /// Per instrument: spot deltas (underlying id, units per unit).
    deltas: Vec<Vec<(u16, f64)>>,
    /// Oracle and stable price per underlying id.
    pub spot_usd: Vec<f64>,
    pub stable_usd: Vec<Option<f64>>,
    pub underlying_names: Vec<String>,
}

/// Labels of the scenarios: FHS window starts (formatted on demand, so a daily backtest does not
/// format thousands of strings) and the floor scenarios' names.
#[derive(Debug, Clone)]
pub struct ScenarioLabels {
    fhs_starts: Vec<marketdata::Hour>,
    mpor_hours: i64,
    floor: Vec<String>,
}

impl ScenarioLabels {
    /// Label of scenario `s`.
    pub fn label(&self, s: usize) -> String {
        match self.fhs_starts.get(s) {
            Some(t) => format!("FHS {t} +{}h", self.mpor_hours),
            None => self.floor.get(s - self.fhs_starts.len()).cloned().unwrap_or_default(),
        }
    }
}

/// A charge or component of the margin, for the explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charge {
    pub name: String,
    pub usd: f64,
    pub detail: String,
}

/// One position's share of a loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub position: String,
    pub quantity: f64,
    pub value_usd: f64,
    /// Average loss in the expected-shortfall tail (FHS), USD (negative = gain).
    pub tail_loss_usd: f64,
    /// Loss in the worst scenario, USD.
    pub worst_scenario_loss_usd: f64,
    /// Margin if held alone (market risk only), USD.
    pub standalone_margin_usd: f64,
}

/// A protocol claim of the account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolExposure {
    pub protocol: String,
    pub claim_usd: f64,
    pub pd_mpor: f64,
    pub lgd: f64,
    /// LGD x claim plus the expected shortfall of the legs that survive unhedged.
    pub failure_loss_usd: f64,
    /// The owner's claim on the protocol over all its sub-accounts (at least `claim_usd`).
    pub owner_claim_usd: f64,
    /// `w = C^2 / (C^2 + K^2)`, `C` the owner's claim and `K` `concentration_scale_usd`: the share
    /// of the failure loss charged outright (continuous in the claim, about 0 for a small claim,
    /// one half at `K`, towards 1 for a large one).
    pub concentration_weight: f64,
    /// `concentration_weight x failure_loss_usd`.
    pub concentration_charge_usd: f64,
}

/// What an owner holds over all its sub-accounts: the sums that make concentration and liquidity
/// charges impossible to lower by splitting a book (`docs/margin-methodology.md` section 6).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerTotals {
    /// Per protocol of the engine: sum over sub-accounts of each one's positive claim, USD.
    pub claims_usd: Vec<f64>,
    /// Per instrument of the engine: the owner's net units over all sub-accounts.
    pub net_units: Vec<f64>,
}

/// The concentration weight of a claim: `x^2 / (1 + x^2)` with `x = claim / scale`, continuous,
/// increasing, flat at zero (small claims are left to the probability-weighted ES).
pub fn concentration_weight(claim_usd: f64, scale_usd: f64) -> f64 {
    let x = claim_usd.max(0.0) / scale_usd;
    let x2 = x * x;
    if x2.is_finite() { x2 / (1.0 + x2) } else { 1.0 }
}

/// A liquidity line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiquidityLine {
    pub instrument: String,
    pub market: String,
    pub notional_usd: f64,
    pub price_move_to_close: f64,
    pub cost_usd: f64,
    /// Set when the market has no configured depth and a conservative default was used.
    pub warning: Option<String>,
}

/// The margin of one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginResult {
    /// Value of every position and balance at oracle prices, USD.
    pub net_liquidation_value: f64,
    /// NLV after the manipulation guard (never above NLV).
    pub guarded_nlv: f64,
    pub initial_margin: f64,
    pub maintenance_margin: f64,
    /// guarded NLV - maintenance margin (negative: liquidate).
    pub health_usd: f64,
    /// guarded NLV / maintenance margin (None when the margin is zero).
    pub health_ratio: Option<f64>,
    /// Expected shortfall of FHS scenarios alone.
    pub es_fhs: f64,
    /// Value at risk of FHS scenarios alone (the backtest's VaR).
    pub var_fhs: f64,
    /// Expected shortfall of FHS scenarios mixed with protocol failures weighted by probability.
    pub es_with_protocols: f64,
    /// Worst floor scenario loss (stress, vol shock, resolution).
    pub floor_loss: f64,
    /// Largest concentration charge over protocols (weight x failure loss).
    pub concentrated_failure_loss: f64,
    /// max(es_with_protocols, floor_loss, concentrated_failure_loss).
    pub core_margin: f64,
    pub liquidity_charge: f64,
    /// Which of the three sets the core margin.
    pub binding: String,
    pub worst_scenario: String,
    pub worst_scenario_loss: f64,
    pub charges: Vec<Charge>,
    pub contributions: Vec<Contribution>,
    pub protocols: Vec<ProtocolExposure>,
    pub liquidity: Vec<LiquidityLine>,
    /// Sum of standalone margins minus the portfolio's market margin: the hedges recognised.
    pub offsets_recognised_usd: f64,
    pub manipulation_guard_usd: f64,
    pub guard_detail: Vec<String>,
    /// With `explain`: the floor scenarios (named stresses, hypothetical scans, decorrelations, peg
    /// breaks, vol shocks, resolutions) with the largest weighted losses, largest first (at most 12).
    pub floor_scenarios: Vec<FloorLine>,
}

/// One floor scenario's loss, for the explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorLine {
    pub scenario: String,
    pub weight: f64,
    /// Loss of the book in the scenario, USD (before the weight).
    pub loss_usd: f64,
}

/// Reusable buffers so the per-account loop does not allocate.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    pub(crate) net: Vec<(usize, f64)>,
    pub(crate) loss: Vec<f64>,
    pub(crate) idx: Vec<u32>,
    pub(crate) tmp: Vec<f64>,
}

/// The market part of the margin of a loss vector.
struct MarketCharge {
    es_fhs: f64,
    var_fhs: f64,
    floor_loss: f64,
    floor_at: Option<usize>,
}

/// Nets `positions` per instrument into `out`, in a canonical order: by instrument index, each
/// instrument's quantities summed in ascending order (a total order on f64), zero nets dropped.
/// Any permutation of the same positions gives the same bits (finding 12 of issue 8).
pub fn canonical_positions(positions: &[(usize, f64)], out: &mut Vec<(usize, f64)>) {
    out.clear();
    out.extend_from_slice(positions);
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut w = 0;
    for r in 0..out.len() {
        let (i, q) = out[r];
        if w > 0 && out[w - 1].0 == i {
            out[w - 1].1 += q;
        } else {
            out[w] = (i, q);
            w += 1;
        }
    }
    out.truncate(w);
    out.retain(|&(_, q)| q != 0.0);
}

/// The largest concentration charge (weight x failure loss) and its protocol.
fn concentration_charge(exposures: &[ProtocolExposure]) -> (f64, String) {
    exposures.iter().fold((0.0, String::new()), |(m, n), e| {
        if e.concentration_charge_usd > m { (e.concentration_charge_usd, e.protocol.clone()) } else { (m, n) }
    })
}

/// The scenario with the largest loss (first on ties).
fn worst_scenario(loss: &[f64]) -> (Option<usize>, f64) {
    let (mut worst, mut worst_loss) = (None, f64::NEG_INFINITY);
    for (s, l) in loss.iter().enumerate() {
        if *l > worst_loss {
            worst_loss = *l;
            worst = Some(s);
        }
    }
    (worst, worst_loss)
}

fn desc(a: &(f64, f64), b: &(f64, f64)) -> Ordering {
    b.0.total_cmp(&a.0)
}

/// Expected shortfall and VaR at tail probability `tail` of `n` equally likely losses mixed with
/// `extra` (loss, probability) entries; the equally likely ones share `1 - sum(probabilities)`.
/// Returns (ES, VaR). Deterministic: the tail is taken by a total order on (loss, index).
pub fn expected_shortfall(losses: &[f64], extra: &[(f64, f64)], tail: f64, idx: &mut Vec<u32>) -> (f64, f64) {
    let n = losses.len();
    if n == 0 && extra.is_empty() {
        return (0.0, 0.0);
    }
    let p_extra: f64 = extra.iter().map(|e| e.1).sum();
    let w0 = if n > 0 { (1.0 - p_extra).max(0.0) / n as f64 } else { 0.0 };
    let k = if w0 > 0.0 { ((tail / w0).ceil() as usize + 1).min(n) } else { 0 };
    top_k(losses, k, idx);
    let mut entries: Vec<(f64, f64)> = Vec::with_capacity(k + extra.len());
    entries.extend(idx[..k].iter().map(|&i| (losses[i as usize], w0)));
    entries.extend_from_slice(extra);
    entries.sort_by(desc);
    let (mut mass, mut sum, mut var) = (0.0, 0.0, 0.0);
    for (l, w) in entries {
        let take = w.min(tail - mass);
        if take <= 0.0 {
            break;
        }
        sum += l * take;
        mass += take;
        var = l;
    }
    let es = if mass > 0.0 { sum / tail.max(mass) } else { 0.0 };
    (es, var)
}

/// Puts the indices of the `k` largest losses, in descending order (ties: lower index first), into
/// `idx[..k]`.
pub fn top_k(losses: &[f64], k: usize, idx: &mut Vec<u32>) {
    idx.clear();
    idx.extend(0..losses.len() as u32);
    let cmp = |a: &u32, b: &u32| losses[*b as usize].total_cmp(&losses[*a as usize]).then(a.cmp(b));
    if k == 0 {
        return;
    }
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, cmp);
    }
    idx[..k].sort_by(cmp);
}

/// `out[s] -= q x d[s]` for every (d, q) in order, tiled (see the kernel). On x86-64 with AVX2 the same code is compiled
/// for 256-bit vectors; element-wise IEEE operations (no fused multiply-add) give the same bits.
fn accumulate(out: &mut [f64], live: &[(&[f64], f64)]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of a
            // `target_feature(enable = "avx2")` function.
            unsafe { accumulate_avx2(out, live) };
            return;
        }
    }
    accumulate_kernel(out, live);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_avx2(out: &mut [f64], live: &[(&[f64], f64)]) {
    accumulate_kernel(out, live);
}

#[inline(always)]
fn accumulate_kernel(out: &mut [f64], live: &[(&[f64], f64)]) {
    // Tiles of 512 scenarios (4 KiB, in L1): within a tile every position is applied in order, so
    // each element sees the same subtractions in the same order as one pass per position (same
    // bits), while `out` is read and written once per tile instead of once per position.
    const TILE: usize = 512;
    let n = out.len();
    let mut start = 0;
    while start < n {
        let end = (start + TILE).min(n);
        let o = &mut out[start..end];
        for (d, q) in live {
            let q = *q;
            for (x, y) in o.iter_mut().zip(&d[start..end]) {
                *x -= q * y;
            }
        }
        start = end;
    }
}

impl Engine {
    /// Precomputes what does not depend on the account.
    pub fn new(
        config: &Config,
        universe: &Universe,
        base: &BaseMarket,
        instruments: Vec<BookInstrument>,
        scen: &ScenarioBook,
        rv: RiskVectors,
        params: &RiskParams,
    ) -> Result<Engine, crate::RiskError> {
        params.validate()?;
        let as_of_days = base.as_of.0.div_euclid(24);
        let mut protocols: Vec<ProtocolRisk> = Vec::new();
        // The index of a protocol's risk in `protocols`, added on first mention.
        let mut index_of = |inst: &BookInstrument, p: &String| -> Result<usize, crate::RiskError> {
            if let Some(j) = protocols.iter().position(|r| &r.protocol == p) {
                return Ok(j);
            }
            let prot = config.protocol(p).ok_or_else(|| crate::RiskError::UnknownReference {
                portfolio: inst.id.clone(),
                what: "protocol",
                name: p.clone(),
            })?;
            protocols.push(protocol_risk(prot, &params.protocol, as_of_days, params.mpor_hours));
            Ok(protocols.len() - 1)
        };
        let mut links = Vec::with_capacity(instruments.len());
        for inst in &instruments {
            links.push(inst.links.iter().map(|(p, frac)| Ok((index_of(inst, p)?, *frac))).collect::<Result<Vec<_>, crate::RiskError>>()?);
        }
        let mut collapse = Vec::with_capacity(instruments.len());
        for inst in &instruments {
            collapse.push(inst.issuer_collapse.as_ref().map(|p| index_of(inst, p)).transpose()?);
        }
        if protocols.len() > crate::fast::MAX_PROTOCOLS {
            return Err(crate::RiskError::CapacityExceeded {
                what: "protocols",
                count: protocols.len(),
                capacity: crate::fast::MAX_PROTOCOLS,
            });
        }
        let mut sb = crate::market::StateBuilder::new(universe, base, params.mpor_hours)?;
        let mut deltas = Vec::with_capacity(instruments.len());
        let mut unit_notional = Vec::with_capacity(instruments.len());
        for (i, inst) in instruments.iter().enumerate() {
            let g = inst.pricing.greeks(sb.base()).map_err(|e| crate::RiskError::Valuation {
                instrument: inst.id.clone(),
                scenario: "base greeks".into(),
                source: e,
            })?;
            deltas.push(g.spot.as_slice().iter().map(|s| (s.factor.0, s.delta)).collect());
            let v = rv.base_values[i];
            unit_notional.push(match inst.pricing {
                pricing::Instrument::Perpetual(p) => v + p.entry_price_usd,
                _ => v.abs(),
            });
        }
        let _ = sb.unmoved();
        let spot_usd =
            (0..universe.underlyings.len()).map(|u| base.spot_usd(universe, pricing::UnderlyingId(u as u16)).unwrap_or(f64::NAN)).collect();
        let depth = instruments.iter().map(|i| depth_for(i, &params.liquidity)).collect();
        let mut idx = Vec::new();
        let unit_es = (0..instruments.len())
            .map(|i| {
                let dv = &rv.of(i)[..scen.n_fhs];
                let long: Vec<f64> = dv.iter().map(|d| -d).collect();
                let (el, _) = expected_shortfall(&long, &[], params.tail(), &mut idx);
                let (es, _) = expected_shortfall(dv, &[], params.tail(), &mut idx);
                (el.max(0.0), es.max(0.0))
            })
            .collect();
        let fhs_starts = scen
            .kinds
            .iter()
            .filter_map(|k| match k {
                crate::scenarios::ScenarioKind::Fhs { window_start } => Some(*window_start),
                _ => None,
            })
            .collect();
        let labels =
            ScenarioLabels { fhs_starts, mpor_hours: scen.mpor_hours, floor: (scen.n_fhs..scen.len()).map(|s| scen.label(s)).collect() };
        Ok(Engine {
            instruments,
            rv,
            scenario_labels: labels,
            n_fhs: scen.n_fhs,
            params: params.clone(),
            protocols,
            links,
            collapse,
            unit_es,
            unit_notional,
            depth,
            floor_weights: (scen.n_fhs..scen.len()).map(|s| scen.weight(s)).collect(),
            deltas,
            spot_usd,
            stable_usd: base.stable_price_usd.clone(),
            underlying_names: universe.underlyings.clone(),
        })
    }

    pub(crate) fn fill_loss(&self, positions: &[(usize, f64)], skip: impl Fn(usize) -> bool, out: &mut Vec<f64>) {
        let ns = self.rv.n_scenarios;
        out.clear();
        out.resize(ns, 0.0);
        let live: Vec<(&[f64], f64)> = positions.iter().filter(|(i, _)| !skip(*i)).map(|&(i, q)| (self.rv.of(i), q)).collect();
        accumulate(out, &live);
    }

    /// Market margin of a loss vector: (ES of FHS, VaR of FHS, floor loss, floor index).
    fn market_parts(&self, loss: &[f64], idx: &mut Vec<u32>) -> (f64, f64, f64, Option<usize>) {
        let tail = self.params.tail();
        let (es, var) = expected_shortfall(&loss[..self.n_fhs], &[], tail, idx);
        let mut floor = 0.0;
        let mut at = None;
        for ((s, l), w) in loss.iter().enumerate().skip(self.n_fhs).zip(&self.floor_weights) {
            if w * l > floor {
                floor = w * l;
                at = Some(s);
            }
        }
        (es.max(0.0), var, floor, at)
    }

    /// The margin of an account holding `positions` (instrument index, signed units). With
    /// `explain`, also the standalone margins and per-position contributions (slower).
    ///
    /// The positions are first netted per instrument in a canonical order
    /// ([`canonical_positions`]), so the order in which they are given never changes a bit. The
    /// build-up reads like the report: market charge (ES and floor), protocol failures,
    /// concentration, liquidity, then the manipulation guard on the NLV.
    pub fn margin(&self, positions: &[(usize, f64)], labels: &[String], explain: bool, scratch: &mut Scratch) -> MarginResult {
        let owner = self.owner_totals(&[positions]);
        self.margin_in_owner(positions, &owner, labels, explain, scratch)
    }

    /// The claims and net units of an owner over all its sub-accounts (each a position list).
    pub fn owner_totals(&self, sub_accounts: &[&[(usize, f64)]]) -> OwnerTotals {
        let mut claims_usd = vec![0.0; self.protocols.len()];
        let mut net_units = vec![0.0; self.instruments.len()];
        let mut net = Vec::new();
        for positions in sub_accounts {
            canonical_positions(positions, &mut net);
            let wrong_way = self.wrong_way(&net);
            for (j, c) in self.claims(&net).into_iter().enumerate() {
                claims_usd[j] += c.max(0.0) + wrong_way[j].0;
            }
            for &(i, q) in &net {
                net_units[i] += q;
            }
        }
        OwnerTotals { claims_usd, net_units }
    }

    /// The margins of the sub-accounts of one owner: each pays its concentration and liquidity
    /// charges at the rate of the owner's totals, so splitting a book never lowers the sum.
    pub fn margin_of_owner(&self, sub_accounts: &[&[(usize, f64)]], scratch: &mut Scratch) -> Vec<MarginResult> {
        let owner = self.owner_totals(sub_accounts);
        sub_accounts.iter().map(|p| self.margin_in_owner(p, &owner, &[], false, scratch)).collect()
    }

    /// [`Engine::margin`] of one sub-account of an owner whose totals are `owner` (which must
    /// include this sub-account).
    pub fn margin_in_owner(
        &self,
        positions: &[(usize, f64)],
        owner: &OwnerTotals,
        labels: &[String],
        explain: bool,
        scratch: &mut Scratch,
    ) -> MarginResult {
        assert_eq!(owner.claims_usd.len(), self.protocols.len(), "owner totals of this engine");
        assert_eq!(owner.net_units.len(), self.instruments.len(), "owner totals of this engine");
        let mut net = std::mem::take(&mut scratch.net);
        canonical_positions(positions, &mut net);
        let mut loss = std::mem::take(&mut scratch.loss);
        self.fill_loss(&net, |_| false, &mut loss);
        let market = self.market_charge(&loss, &mut scratch.idx);
        let nlv: f64 = net.iter().map(|&(i, q)| q * self.rv.base_values[i]).sum();
        let exposures = self.protocol_exposures(&net, owner, scratch);
        let es_mix = self.es_with_protocols(&loss, &exposures, market.es_fhs, &mut scratch.idx);
        let (conc_loss, conc_name) = concentration_charge(&exposures);
        let (liq_total, liquidity) = self.liquidity_charge(&net, owner, explain);
        let core = es_mix.max(market.floor_loss).max(conc_loss);
        let im = core + liq_total;
        assert!(im >= 0.0 && !im.is_nan(), "initial margin {im} must be a non-negative number");
        let (guard, guard_detail) = self.manipulation_guard(&net, explain);
        let (worst, worst_loss) = worst_scenario(&loss);
        let (contributions, offsets) =
            if explain { self.explain_positions(positions, labels, &loss, worst, &market, scratch) } else { (Vec::new(), 0.0) };
        let charges = self.charges(&market, es_mix, conc_loss, &conc_name, liq_total);
        let floor_scenarios = if explain { self.floor_lines(&loss) } else { Vec::new() };
        let binding = self.binding(core, &market, conc_loss, &conc_name);
        scratch.loss = loss;
        scratch.net = net;
        let mm = self.params.maintenance_fraction * im;
        let guarded = nlv + guard;
        assert!(guarded <= nlv, "the manipulation guard never raises the NLV");
        MarginResult {
            net_liquidation_value: nlv,
            guarded_nlv: guarded,
            initial_margin: im,
            maintenance_margin: mm,
            health_usd: guarded - mm,
            health_ratio: (mm > 0.0).then(|| guarded / mm),
            es_fhs: market.es_fhs,
            var_fhs: market.var_fhs,
            es_with_protocols: es_mix,
            floor_loss: market.floor_loss,
            concentrated_failure_loss: conc_loss,
            core_margin: core,
            liquidity_charge: liq_total,
            binding,
            worst_scenario: worst.map_or("-".into(), |s| self.scenario_labels.label(s)),
            worst_scenario_loss: worst_loss.max(0.0),
            charges,
            contributions,
            protocols: exposures,
            liquidity,
            offsets_recognised_usd: offsets,
            manipulation_guard_usd: guard,
            guard_detail,
            floor_scenarios,
        }
    }

    /// The floor scenarios with the largest weighted losses (at most 12), largest first.
    fn floor_lines(&self, loss: &[f64]) -> Vec<FloorLine> {
        let mut lines: Vec<(f64, usize)> =
            loss[self.n_fhs..].iter().zip(&self.floor_weights).enumerate().map(|(k, (l, w))| (w * l, k)).collect();
        lines.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        lines
            .iter()
            .take(12)
            .map(|&(_, k)| FloorLine {
                scenario: self.scenario_labels.label(self.n_fhs + k),
                weight: self.floor_weights[k],
                loss_usd: loss[self.n_fhs + k],
            })
            .collect()
    }

    /// Market charge: ES and VaR over the FHS scenarios, and the worst floor scenario.
    fn market_charge(&self, loss: &[f64], idx: &mut Vec<u32>) -> MarketCharge {
        let (es_fhs, var_fhs, floor, floor_at) = self.market_parts(loss, idx);
        let floor_loss = if self.params.stress_floor { floor } else { 0.0 };
        MarketCharge { es_fhs, var_fhs, floor_loss, floor_at }
    }

    /// The account's claim on each protocol and the loss if it fails (LGD x claim plus the ES of
    /// the legs that survive unhedged).
    fn protocol_exposures(&self, net: &[(usize, f64)], owner: &OwnerTotals, scratch: &mut Scratch) -> Vec<ProtocolExposure> {
        let p = &self.params;
        let claims = self.claims(net);
        let wrong_way = self.wrong_way(net);
        let mut exposures = Vec::new();
        let mut tmp = std::mem::take(&mut scratch.tmp);
        for (j, pr) in self.protocols.iter().enumerate() {
            let claim = claims[j].max(0.0);
            if claim <= 0.0 && wrong_way[j].0 <= 0.0 {
                continue;
            }
            let frozen = |i: usize| self.links[i].iter().any(|&(k, f)| k == j && f >= 1.0) || self.collapse[i] == Some(j);
            self.fill_loss(net, frozen, &mut tmp);
            let (es_surv, _) = expected_shortfall(&tmp[..self.n_fhs], &[], p.tail(), &mut scratch.idx);
            let failure = pr.lgd * claim + wrong_way[j].1 + es_surv.max(0.0);
            let owner_claim = owner.claims_usd[j].max(claim + wrong_way[j].0);
            let w = concentration_weight(owner_claim, p.concentration_scale_usd);
            exposures.push(ProtocolExposure {
                protocol: pr.protocol.clone(),
                claim_usd: claim,
                pd_mpor: pr.pd_mpor,
                lgd: pr.lgd,
                failure_loss_usd: failure,
                owner_claim_usd: owner_claim,
                concentration_weight: w,
                concentration_charge_usd: w * failure,
            });
        }
        scratch.tmp = tmp;
        exposures
    }

    /// Per protocol: (value of the unbacked tokens it issued that the account holds, their loss
    /// when it fails). A token collapses by `issuer_token_collapse`; what is left of it is still
    /// lost at the LGD if it sits on the failed issuer too: `v (c + (1 - c) LGD frac) - LGD frac v`
    /// on top of the claim's `LGD frac v`, i.e. `c v (1 - LGD frac)`.
    pub(crate) fn wrong_way(&self, net: &[(usize, f64)]) -> Vec<(f64, f64)> {
        let c = self.params.protocol.issuer_token_collapse;
        let mut out = vec![(0.0, 0.0); self.protocols.len()];
        for &(i, q) in net {
            let Some(j) = self.collapse[i] else { continue };
            let v = (q * self.rv.base_values[i]).max(0.0);
            let frac = self.links[i].iter().find(|l| l.0 == j).map_or(0.0, |l| l.1);
            out[j].0 += v;
            out[j].1 += c * v * (1.0 - self.protocols[j].lgd * frac);
        }
        out
    }

    /// The claim on each protocol (signed: a debt on a venue offsets collateral there).
    fn claims(&self, net: &[(usize, f64)]) -> Vec<f64> {
        let mut claims = vec![0.0; self.protocols.len()];
        for &(i, q) in net {
            let v = q * self.rv.base_values[i];
            for &(j, frac) in &self.links[i] {
                claims[j] += frac * v;
            }
        }
        claims
    }

    /// ES over the FHS scenarios mixed with the failure scenarios weighted by their probability.
    fn es_with_protocols(&self, loss: &[f64], exposures: &[ProtocolExposure], es_fhs: f64, idx: &mut Vec<u32>) -> f64 {
        let extra: Vec<(f64, f64)> = exposures.iter().map(|e| (e.failure_loss_usd, e.pd_mpor)).collect();
        let (es_mix, _) =
            if self.n_fhs > 0 { expected_shortfall(&loss[..self.n_fhs], &extra, self.params.tail(), idx) } else { (0.0, 0.0) };
        es_mix.max(es_fhs)
    }

    /// Liquidity: the close-out cost of the net units of each instrument on its own market, at
    /// the average cost rate of closing the larger of this account's and its owner's net
    /// position (so the same position split over sub-accounts pays at least as much).
    fn liquidity_charge(&self, net: &[(usize, f64)], owner: &OwnerTotals, explain: bool) -> (f64, Vec<LiquidityLine>) {
        let mut lines = Vec::new();
        let mut total = 0.0;
        for &(i, q) in net {
            let notional = (q * self.unit_notional[i]).abs();
            if notional == 0.0 || self.instruments[i].class == Class::Cash {
                continue;
            }
            let d = &self.depth[i];
            let cost = self.close_out(i, q, owner.net_units[i]);
            let (market, price_move) = match &self.instruments[i].unwind {
                Some(u) => {
                    let shares = q.abs().max(owner.net_units[i].abs());
                    (format!("unwind into its own pool ({:.4}% of the supply)", 100.0 * shares / u.total_supply()), cost / notional)
                }
                None => (d.market.clone(), price_move_to_close(notional, d)),
            };
            total += cost;
            if explain {
                lines.push(LiquidityLine {
                    instrument: self.instruments[i].id.clone(),
                    market,
                    notional_usd: notional,
                    price_move_to_close: price_move,
                    cost_usd: cost,
                    warning: (d.is_default && self.instruments[i].unwind.is_none())
                        .then(|| format!("no configured depth for {}: conservative default {}", self.instruments[i].id, d.market)),
                });
            }
        }
        (total, lines)
    }

    /// Close-out cost of `q` units of instrument `i` held by an owner whose net is `owner_units`:
    /// an LP share unwinds into its own pool, anything else trades on its market's depth, at the
    /// average cost rate of the larger of the two sizes; cash costs nothing.
    pub(crate) fn close_out(&self, i: usize, q: f64, owner_units: f64) -> f64 {
        let notional = (q * self.unit_notional[i]).abs();
        if notional == 0.0 || self.instruments[i].class == Class::Cash {
            return 0.0;
        }
        match &self.instruments[i].unwind {
            Some(u) => notional * unwind_loss_fraction(q.abs().max(owner_units.abs()), u),
            None => {
                let at = notional.max((owner_units * self.unit_notional[i]).abs());
                notional * close_out_cost(at, &self.depth[i]) / at
            }
        }
    }

    /// Manipulation guard on the net delta per underlying (never positive).
    fn manipulation_guard(&self, net: &[(usize, f64)], explain: bool) -> (f64, Vec<String>) {
        let mut net_delta = vec![0.0; self.spot_usd.len()];
        for &(i, q) in net {
            for &(u, d) in &self.deltas[i] {
                if let Some(x) = net_delta.get_mut(usize::from(u)) {
                    *x += q * d;
                }
            }
        }
        let mut guard = 0.0;
        let mut detail = Vec::new();
        for (u, &d) in net_delta.iter().enumerate() {
            let (Some(stable), s) = (self.stable_usd.get(u).copied().flatten(), self.spot_usd[u]) else { continue };
            if d == 0.0 || !s.is_finite() {
                continue;
            }
            let price = if d > 0.0 { stable.min(s) } else { stable.max(s) };
            let adj = d * (price - s);
            guard += adj;
            if explain && adj != 0.0 {
                detail.push(format!(
                    "{}: net delta {d:.4}, oracle {s:.2}, stable {stable:.2}, valued at {price:.2}: {adj:.2} USD",
                    self.underlying_names[u]
                ));
            }
        }
        (guard, detail)
    }

    /// Per position: its share of the ES tail, its loss in the worst scenario and its standalone
    /// margin; and the offsets recognised (standalone sum minus the portfolio's market margin).
    fn explain_positions(
        &self,
        positions: &[(usize, f64)],
        labels: &[String],
        loss: &[f64],
        worst: Option<usize>,
        market: &MarketCharge,
        scratch: &mut Scratch,
    ) -> (Vec<Contribution>, f64) {
        let k = ((self.params.tail() * self.n_fhs as f64).ceil() as usize).min(self.n_fhs);
        top_k(&loss[..self.n_fhs], k, &mut scratch.idx);
        let tail_idx: Vec<u32> = scratch.idx[..k].to_vec();
        let mut standalone_sum = 0.0;
        let mut contributions = Vec::with_capacity(positions.len());
        for (n, &(i, q)) in positions.iter().enumerate() {
            let dv = self.rv.of(i);
            let tail_loss = if k > 0 { tail_idx.iter().map(|&s| -q * dv[s as usize]).sum::<f64>() / k as f64 } else { 0.0 };
            let mut alone = std::mem::take(&mut scratch.tmp);
            self.fill_loss(&[(i, q)], |_| false, &mut alone);
            let (e, _, f, _) = self.market_parts(&alone, &mut scratch.idx);
            scratch.tmp = alone;
            let standalone = e.max(if self.params.stress_floor { f } else { 0.0 });
            standalone_sum += standalone;
            contributions.push(Contribution {
                position: labels.get(n).cloned().unwrap_or_else(|| self.instruments[i].id.clone()),
                quantity: q,
                value_usd: q * self.rv.base_values[i],
                tail_loss_usd: tail_loss,
                worst_scenario_loss_usd: worst.map_or(0.0, |s| -q * dv[s]),
                standalone_margin_usd: standalone,
            });
        }
        (contributions, standalone_sum - market.es_fhs.max(market.floor_loss))
    }

    /// Which term sets the core margin, in words.
    fn binding(&self, core: f64, market: &MarketCharge, conc_loss: f64, conc_name: &str) -> String {
        if core == 0.0 {
            "none".to_string()
        } else if conc_loss >= core && conc_loss > 0.0 {
            format!("concentration on {conc_name} (failure loss x C^2 / (C^2 + K^2))")
        } else if market.floor_loss >= core {
            format!("floor: {}", market.floor_at.map_or("-".to_string(), |s| self.scenario_labels.label(s)))
        } else {
            "expected shortfall (FHS with protocol failures)".to_string()
        }
    }

    /// The build-up of the initial margin, one line per charge.
    fn charges(&self, market: &MarketCharge, es_mix: f64, conc_loss: f64, conc_name: &str, liq_total: f64) -> Vec<Charge> {
        let p = &self.params;
        vec![
            Charge {
                name: "market ES (FHS)".into(),
                usd: market.es_fhs,
                detail: format!("{:.1}% ES over {} FHS scenarios", 100.0 * p.confidence, self.n_fhs),
            },
            Charge {
                name: "protocol failures in ES".into(),
                usd: es_mix - market.es_fhs,
                detail: "failure scenarios weighted by their probability".into(),
            },
            Charge {
                name: "stress floor add-on".into(),
                usd: (market.floor_loss - es_mix).max(0.0),
                detail: market.floor_at.map_or("no floor scenario".into(), |s| format!("worst floor: {}", self.scenario_labels.label(s))),
            },
            Charge {
                name: "concentrated protocol add-on".into(),
                usd: (conc_loss - es_mix.max(market.floor_loss)).max(0.0),
                detail: if conc_name.is_empty() {
                    "no protocol claim".into()
                } else {
                    format!("failure of {conc_name} x concentration weight")
                },
            },
            Charge { name: "liquidity".into(), usd: liq_total, detail: "close-out cost on each venue's depth".into() },
        ]
    }

    /// Whether an instrument is a perpetual (for reports).
    pub fn is_perp(&self, i: usize) -> bool {
        self.instruments[i].class == Class::Perp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es_of_equal_weights_matches_hand_computation() {
        // 200 losses 1..=200; 1% tail = the top 2: (200 + 199) / 2.
        let losses: Vec<f64> = (1..=200).map(f64::from).collect();
        let mut idx = Vec::new();
        let (es, var) = expected_shortfall(&losses, &[], 0.01, &mut idx);
        assert!((es - 199.5).abs() < 1e-9, "{es}");
        assert_eq!(var, 199.0);
        // 150 losses: tail 1.5 scenarios = 150 + 0.5 x 149.
        let losses: Vec<f64> = (1..=150).map(f64::from).collect();
        let (es, _) = expected_shortfall(&losses, &[], 0.01, &mut idx);
        assert!((es - (150.0 + 0.5 * 149.0) / 1.5).abs() < 1e-9, "{es}");
    }

    #[test]
    fn a_failure_entry_with_tail_probability_enters_fully() {
        // 100 losses of 0 and a failure of 1000 with probability 0.01: ES(99%) = 1000.
        let losses = vec![0.0; 100];
        let mut idx = Vec::new();
        let (es, _) = expected_shortfall(&losses, &[(1000.0, 0.01)], 0.01, &mut idx);
        assert!((es - 1000.0).abs() < 1e-9, "{es}");
        // With probability 0.002 it contributes 1000 x 0.002 / 0.01 = 200.
        let (es, _) = expected_shortfall(&losses, &[(1000.0, 0.002)], 0.01, &mut idx);
        assert!((es - 200.0).abs() < 1e-9, "{es}");
    }
}
