//! Many accounts at once: the full recompute of every account's margin from shared per-instrument
//! risk vectors, and the fast path for a single price update (Deribit-style precomputed risk
//! vectors: each account keeps the indices of its candidate tail scenarios, so an update revalues
//! only the instruments on the moved underlying and re-aggregates only the candidates).
//!
//! The batch margin differs from [`Engine::margin`] in one documented way: the expected shortfall
//! of the legs that survive a protocol failure is bounded from above by subadditivity,
//! `ES(book - frozen legs) <= ES(book) + sum |q_j| ES(one unit of leg j, opposite sign)`, instead of
//! a scan of every scenario per protocol; the bound is conservative (tested: batch >= exact).
//!
//! Threads: at most two, each over a contiguous half of the accounts, writing only its own
//! results; no floating-point reduction crosses threads, so results are bit-identical for one or
//! two threads.

use crate::RiskError;
use crate::margin::{Engine, Scratch};
use crate::market::{BaseMarket, Target, Universe};
use crate::scenarios::{RiskVectors, ScenarioBook, revalue_instruments};

/// Upper bound on accounts in one batch.
pub const MAX_ACCOUNTS: usize = 10_000_000;
/// Candidate tail scenarios kept per account beyond the expected-shortfall tail itself.
pub const EXTRA_CANDIDATES: usize = 16;
/// Most protocols an engine may price (the batch path keeps per-protocol sums on the stack).
pub const MAX_PROTOCOLS: usize = 64;

/// Accounts in compressed rows: account `a` holds `positions[offsets[a]..offsets[a + 1]]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accounts {
    pub offsets: Vec<usize>,
    /// (instrument index, signed units).
    pub positions: Vec<(usize, f64)>,
}

impl Accounts {
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn of(&self, a: usize) -> &[(usize, f64)] {
        &self.positions[self.offsets[a]..self.offsets[a + 1]]
    }
    /// Appends an account.
    pub fn push(&mut self, positions: &[(usize, f64)]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        assert!(self.len() < MAX_ACCOUNTS, "at most MAX_ACCOUNTS accounts per batch");
        self.positions.extend_from_slice(positions);
        self.offsets.push(self.positions.len());
    }
}

/// The margin state of one account in a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AccountMargin {
    pub net_liquidation_value: f64,
    pub initial_margin: f64,
    pub es_fhs: f64,
    pub floor_loss: f64,
    /// ES with protocol failures minus ES of FHS alone (kept constant by the fast path).
    pub protocol_addon: f64,
    /// Largest concentration charge (kept constant by the fast path).
    pub concentrated: f64,
    pub liquidity: f64,
}

/// The margins of all accounts and, per account, its candidate tail scenarios.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub margins: Vec<AccountMargin>,
    /// `candidates[a * per_account..(a + 1) * per_account]`: FHS scenario indices, largest loss first.
    pub candidates: Vec<u32>,
    pub per_account: usize,
}

impl Engine {
    fn tail_k(&self) -> usize {
        ((self.params.tail() * self.n_fhs as f64).ceil() as usize).min(self.n_fhs)
    }

    /// The batch margin of one account (see the module doc); writes its top candidate scenario
    /// indices (largest loss first, ties by index) into `cand`.
    pub fn margin_batch(&self, positions: &[(usize, f64)], scratch: &mut Scratch, cand: &mut [u32]) -> AccountMargin {
        let mut net = std::mem::take(&mut scratch.net);
        crate::margin::canonical_positions(positions, &mut net);
        let m = self.margin_batch_net(&net, scratch, cand);
        scratch.net = net;
        m
    }

    /// [`Engine::margin_batch`] of positions already netted canonically.
    fn margin_batch_net(&self, positions: &[(usize, f64)], scratch: &mut Scratch, cand: &mut [u32]) -> AccountMargin {
        let mut loss = std::mem::take(&mut scratch.loss);
        self.fill_loss(positions, |_| false, &mut loss);
        let nf = self.n_fhs;
        let c = cand.len().min(nf);
        // Threshold by an O(n) selection on a copy of the values, then the indices at or above it
        // in index order: cheaper than selecting indices through an indirection.
        let mut top: Vec<(f64, u32)> = Vec::with_capacity(2 * c + 64);
        if c > 0 {
            // Estimate a threshold from every 16th scenario: the m-th largest of the sample with
            // m = c/16 + 2 is exceeded by about c + 32 scenarios. If at least c scenarios reach it,
            // they contain the true top c (whose c-th value is then >= the threshold); otherwise
            // fall back to an exact selection. Both paths give the same set, so the result does not
            // depend on which one ran.
            let tmp = &mut scratch.tmp;
            tmp.clear();
            tmp.extend(loss[..nf].iter().step_by(16).copied());
            let m = (c / 16 + 2).min(tmp.len());
            let (_, t0, _) = tmp.select_nth_unstable_by(m - 1, |a, b| b.total_cmp(a));
            let t0 = *t0;
            // Most blocks of 8 lie wholly below the threshold; test the block maximum first (a
            // vectorisable reduction) and scan only the blocks that reach it.
            for (bk, block) in loss[..nf].chunks(8).enumerate() {
                if block.iter().fold(f64::NEG_INFINITY, |m, x| m.max(*x)) >= t0 {
                    for (o, l) in block.iter().enumerate() {
                        if *l >= t0 {
                            top.push((*l, (bk * 8 + o) as u32));
                        }
                    }
                }
            }
            if top.len() < c {
                top.clear();
                tmp.clear();
                tmp.extend_from_slice(&loss[..nf]);
                let (_, thr, _) = tmp.select_nth_unstable_by(c - 1, |a, b| b.total_cmp(a));
                let thr = *thr;
                top.extend(loss[..nf].iter().enumerate().filter(|(_, l)| **l >= thr).map(|(s, l)| (*l, s as u32)));
            }
            top.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            top.truncate(c);
        }
        for (slot, (_, s)) in cand.iter_mut().zip(&top) {
            *slot = *s;
        }
        let floor = loss[nf..].iter().zip(&self.floor_weights).fold(0.0f64, |m, (l, w)| m.max(w * l));
        let sorted: Vec<f64> = top.iter().map(|t| t.0).collect();
        scratch.loss = loss;
        self.finish(positions, &sorted, floor)
    }

    /// Everything after the scenario scan: expected shortfall from the sorted top losses, the
    /// protocol mixture with the subadditive survivor bound, concentration, liquidity.
    fn finish(&self, positions: &[(usize, f64)], top_sorted: &[f64], floor: f64) -> AccountMargin {
        let p = &self.params;
        let tail = p.tail();
        let nf = self.n_fhs;
        let k_exact = tail * nf as f64;
        let tail_sum = |w: f64, extra: &[(f64, f64)]| -> f64 {
            // Merge the market losses (sorted, weight `w` each, in scenario units) with the failures
            // (sorted) without allocating, taking mass until the tail is full.
            let (mut mass, mut sum) = (0.0, 0.0);
            let (mut a, mut b) = (0, 0);
            loop {
                let next = match (top_sorted.get(a), extra.get(b)) {
                    (Some(l), Some(e)) if e.0 > *l => {
                        b += 1;
                        *e
                    }
                    (Some(l), _) => {
                        a += 1;
                        (*l, w)
                    }
                    (None, Some(e)) => {
                        b += 1;
                        *e
                    }
                    (None, None) => break,
                };
                let take = next.1.min(k_exact - mass);
                if take <= 0.0 {
                    break;
                }
                sum += next.0 * take;
                mass += take;
            }
            sum
        };
        let es_fhs = if nf > 0 { (tail_sum(1.0, &[]) / k_exact).max(0.0) } else { 0.0 };
        let floor = if p.stress_floor { floor } else { 0.0 };
        let nlv: f64 = positions.iter().map(|&(i, q)| q * self.rv.base_values[i]).sum();
        // Claims and frozen-leg bounds per protocol in one pass (stack arrays: at most
        // MAX_PROTOCOLS protocols, checked when the engine is built).
        let np = self.protocols.len();
        let mut claims = [0.0f64; MAX_PROTOCOLS];
        let mut frozen = [0.0f64; MAX_PROTOCOLS];
        for &(i, q) in positions {
            let v = q * self.rv.base_values[i];
            for &(j, f) in &self.links[i] {
                claims[j] += f * v;
                if f >= 1.0 {
                    let (long, short) = self.unit_es[i];
                    // Removing a long leg leaves the book short of it, and vice versa.
                    frozen[j] += q.abs() * if q > 0.0 { short } else { long };
                }
            }
        }
        let wrong_way = self.wrong_way(positions);
        for &(i, q) in positions {
            if let Some(j) = self.collapse[i] {
                // The collapsed token no longer hedges: bound the survivors as for a frozen leg.
                let (long, short) = self.unit_es[i];
                if !self.links[i].iter().any(|l| l.0 == j && l.1 >= 1.0) {
                    frozen[j] += q.abs() * if q > 0.0 { short } else { long };
                }
            }
        }
        let mut extra_buf = [(0.0f64, 0.0f64); MAX_PROTOCOLS];
        let mut n_extra = 0;
        let mut conc = 0.0f64;
        for (j, pr) in self.protocols.iter().enumerate().take(np) {
            let claim = claims[j].max(0.0);
            if claim <= 0.0 && wrong_way[j].0 <= 0.0 {
                continue;
            }
            let failure = pr.lgd * claim + wrong_way[j].1 + es_fhs + frozen[j];
            // Failure probabilities in scenario units (one market scenario weighs (1 - sum pd) / n).
            extra_buf[n_extra] = (failure, pr.pd_mpor * nf as f64);
            n_extra += 1;
            conc = conc.max(crate::margin::concentration_weight(claim + wrong_way[j].0, p.concentration_scale_usd) * failure);
        }
        let extra = &mut extra_buf[..n_extra];
        extra.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.total_cmp(&b.1)));
        let es_mix = if nf > 0 && !extra.is_empty() {
            let p_extra: f64 = extra.iter().map(|e| e.1).sum::<f64>() / nf as f64;
            (tail_sum((1.0 - p_extra).max(0.0), extra) / k_exact).max(es_fhs)
        } else {
            es_fhs
        };
        let mut liq = 0.0;
        // Positions are netted per instrument (canonical_positions) before this point.
        for &(i, q) in positions {
            liq += self.close_out(i, q, q);
        }
        let core = es_mix.max(floor).max(conc);
        AccountMargin {
            net_liquidation_value: nlv,
            initial_margin: core + liq,
            es_fhs,
            floor_loss: floor,
            protocol_addon: es_mix - es_fhs,
            concentrated: conc,
            liquidity: liq,
        }
    }

    /// Re-aggregates one account over its candidate scenarios and the floor scenarios after the
    /// instruments' risk vectors changed (the fast path). `positions` are netted canonically.
    fn margin_update(&self, positions: &[(usize, f64)], cand: &[u32], buf: &mut Vec<f64>) -> AccountMargin {
        let nf = self.n_fhs;
        let ns = self.rv.n_scenarios;
        buf.clear();
        buf.resize(cand.len() + (ns - nf), 0.0);
        for &(i, q) in positions {
            let dv = self.rv.of(i);
            let (c, f) = buf.split_at_mut(cand.len());
            for (b, &s) in c.iter_mut().zip(cand) {
                *b -= q * dv[s as usize];
            }
            for (b, d) in f.iter_mut().zip(&dv[nf..]) {
                *b -= q * d;
            }
        }
        let floor = buf[cand.len()..].iter().zip(&self.floor_weights).fold(0.0f64, |m, (l, w)| m.max(w * l));
        buf.truncate(cand.len());
        buf.sort_unstable_by(|a, b| b.total_cmp(a));
        self.finish(positions, buf, floor)
    }
}

fn split<T>(v: &mut [T], threads: usize) -> Vec<&mut [T]> {
    let n = v.len();
    let chunk = n.div_ceil(threads.clamp(1, 2)).max(1);
    v.chunks_mut(chunk).collect()
}

impl Batch {
    /// Full recompute of every account, on `threads` (1 or 2) threads.
    pub fn full(engine: &Engine, accounts: &Accounts, threads: usize) -> Batch {
        let per_account = (engine.tail_k() + EXTRA_CANDIDATES).min(engine.n_fhs);
        let n = accounts.len();
        let mut margins = vec![AccountMargin::default(); n];
        let mut candidates = vec![0u32; n * per_account];
        let threads = threads.clamp(1, 2);
        let chunk = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for (t, (m, c)) in split(&mut margins, threads).into_iter().zip(candidates.chunks_mut((chunk * per_account).max(1))).enumerate()
            {
                s.spawn(move || {
                    let mut scratch = Scratch::default();
                    for (k, slot) in m.iter_mut().enumerate() {
                        let a = t * chunk + k;
                        *slot = engine.margin_batch(accounts.of(a), &mut scratch, &mut c[k * per_account..(k + 1) * per_account]);
                    }
                });
            }
        });
        Batch { margins, candidates, per_account }
    }

    /// The fast path: after `engine`'s risk vectors changed for `changed` instruments (see
    /// [`reprice_underlying`]), recompute only the accounts holding one of them, over their
    /// candidate scenarios. Exact while the tail stays among the candidates; the next full
    /// recompute refreshes the candidates.
    pub fn price_update(&mut self, engine: &Engine, accounts: &Accounts, changed: &[usize], threads: usize) -> usize {
        let n = accounts.len();
        let threads = threads.clamp(1, 2);
        let chunk = n.div_ceil(threads).max(1);
        let per = self.per_account;
        let cands = &self.candidates;
        let mut touched = vec![0usize; threads];
        std::thread::scope(|s| {
            for (t, (m, cnt)) in split(&mut self.margins, threads).into_iter().zip(touched.iter_mut()).enumerate() {
                s.spawn(move || {
                    let mut buf = Vec::new();
                    let mut net = Vec::new();
                    for (k, slot) in m.iter_mut().enumerate() {
                        let a = t * chunk + k;
                        let pos = accounts.of(a);
                        if !pos.iter().any(|(i, _)| changed.contains(i)) {
                            continue;
                        }
                        crate::margin::canonical_positions(pos, &mut net);
                        *slot = engine.margin_update(&net, &cands[a * per..(a + 1) * per], &mut buf);
                        *cnt += 1;
                    }
                });
            }
        });
        touched.iter().sum()
    }
}

/// Moves the oracle price of underlying `u` to `new_spot_usd` in `base` and revalues, under every
/// scenario, only the instruments of `engine` that depend on it; returns their indices.
pub fn reprice_underlying(
    engine: &mut Engine,
    universe: &Universe,
    base: &mut BaseMarket,
    scen: &ScenarioBook,
    u: pricing::UnderlyingId,
    new_spot_usd: f64,
) -> Result<Vec<usize>, RiskError> {
    let f = universe
        .factor_of(Target::Spot(u))
        .ok_or_else(|| RiskError::MarketDataMissing { what: format!("underlying #{}", u.0), hint: "no price factor".into() })?;
    match base.proxied_spot_log.get_mut(usize::from(u.0)) {
        Some(slot @ Some(_)) => *slot = Some(new_spot_usd.ln()),
        _ => base.levels[f] = new_spot_usd.ln(),
    }
    let changed: Vec<usize> = engine
        .instruments
        .iter()
        .enumerate()
        .filter(|(_, i)| {
            i.underlying == Some(u)
                || matches!(i.pricing, pricing::Instrument::UniswapV2Lp(lp) if lp.token0.underlying == u || lp.token1.underlying == u)
        })
        .map(|(k, _)| k)
        .collect();
    let list: Vec<_> = changed
        .iter()
        .map(|&k| {
            let b = &engine.instruments[k];
            (b.id.as_str(), b.pricing, b.class, b.expiry_days)
        })
        .collect();
    let rv: RiskVectors = revalue_instruments(&list, universe, base, scen)?;
    let ns = engine.rv.n_scenarios;
    for (n, &k) in changed.iter().enumerate() {
        engine.rv.base_values[k] = rv.base_values[n];
        engine.rv.dv[k * ns..(k + 1) * ns].copy_from_slice(rv.of(n));
        if let pricing::Instrument::Perpetual(p) = engine.instruments[k].pricing {
            engine.unit_notional[k] = rv.base_values[n] + p.entry_price_usd;
        } else {
            engine.unit_notional[k] = rv.base_values[n].abs();
        }
    }
    if let Some(s) = engine.spot_usd.get_mut(usize::from(u.0)) {
        *s = new_spot_usd;
    }
    Ok(changed)
}

/// A deterministic book of `n_accounts` accounts with `per_account` positions each over
/// `n_instruments` instruments, for benchmarks: a pure function of its arguments (a 64-bit linear
/// congruential sequence from `seed`), so every run measures the same accounts.
pub fn demo_accounts(n_accounts: usize, per_account: usize, n_instruments: usize, seed: u64) -> Accounts {
    assert!(n_instruments > 0 && n_accounts <= MAX_ACCOUNTS);
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let mut acc = Accounts::default();
    let mut pos = Vec::with_capacity(per_account);
    for _ in 0..n_accounts {
        pos.clear();
        for _ in 0..per_account {
            let i = (next() % n_instruments as u64) as usize;
            // Quantities between -5 and +5 units, never zero.
            let q = ((next() % 1000) as f64 - 499.5) / 100.0;
            pos.push((i, q));
        }
        acc.push(&pos);
    }
    acc
}
