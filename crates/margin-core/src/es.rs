//! Expected shortfall in integers: the FHS scenarios alone, and mixed with protocol-failure
//! entries at their probabilities, exactly as `risk::margin::expected_shortfall` defines it, with
//! masses scaled to integers and every term rounded up.

use crate::charges::Exposure;
use crate::{MarginError, PPB, PPM, RiskModel, mul_div_ceil};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The market terms of a loss vector (fine units).
pub(crate) struct MarketTerms {
    /// ES of the FHS scenarios alone (may be negative: a book that gains in its tail).
    pub(crate) es_fhs_raw: i128,
    /// `max(es_fhs_raw, 0)`.
    pub(crate) es_fhs: i128,
    /// Largest weighted floor loss, at least 0.
    pub(crate) floor: i128,
    /// Column of the binding scenario: the worst floor column if the floor binds, else the
    /// largest FHS loss.
    pub(crate) worst: u32,
}

impl RiskModel {
    /// ES of the FHS columns and the worst weighted floor column. `top` receives the largest FHS
    /// losses, enough of them for the ES mixed with failures of total probability `p_extra_ppb`
    /// ([`RiskModel::es_mixed`] reuses them: one pass over the scenarios for both).
    pub(crate) fn market_terms(&self, loss: &[i128], p_extra_ppb: u128, top: &mut Vec<i128>) -> Result<MarketTerms, MarginError> {
        let n = self.fhs_scenarios as usize;
        let (fhs, floor) = loss.split_at(n);
        // The largest loss's column is found in the same pass as the tail.
        let mut largest = (i128::MIN, 0u32);
        let tracked = fhs.iter().enumerate().map(|(s, l)| {
            if *l > largest.0 {
                largest = (*l, s as u32);
            }
            *l
        });
        top_k_of(tracked, k_needed(n, p_extra_ppb, self.tail_ppm), top);
        let es_fhs_raw = es_from_top(top, n, &[], self.tail_ppm)?;
        let es_fhs = es_fhs_raw.max(0);
        let mut worst = largest.1;
        let mut worst_floor = 0;
        for (f, (l, w)) in floor.iter().zip(&self.floor_weights_ppm).enumerate() {
            let weighted = mul_div_ceil(*l, *w as i128, PPM as i128)?;
            if weighted > worst_floor {
                worst_floor = weighted;
                if weighted > es_fhs {
                    worst = (n + f) as u32;
                }
            }
        }
        Ok(MarketTerms { es_fhs_raw, es_fhs, floor: worst_floor, worst })
    }

    /// ES of the FHS columns (their largest losses in `top`, from [`RiskModel::market_terms`])
    /// mixed with one entry per exposure (failure loss, probability).
    pub(crate) fn es_mixed(&self, top: &[i128], exposures: &[Exposure]) -> Result<i128, MarginError> {
        // As the f64 engine: without FHS scenarios there is no ES to mix failures into (they are
        // charged through concentration alone).
        if self.fhs_scenarios == 0 {
            return Ok(0);
        }
        let extra: Vec<(i128, u64)> = exposures.iter().map(|e| (e.failure, self.charges.protocols[e.protocol].pd_ppb)).collect();
        es_from_top(top, self.fhs_scenarios as usize, &extra, self.tail_ppm)
    }
}

/// Mass units of `1 / (PPB n')`, `n' = max(n, 1)`: (weight of one scenario, the tail).
fn masses(n: usize, p_extra_ppb: u128, tail_ppm: u32) -> (u128, u128) {
    // Without FHS scenarios (the embedded calibration) the failure entries alone fill the tail
    // at their own probabilities, as in the f64 engine: the unit is then `1 / PPB`.
    let w0 = if n == 0 { 0 } else { (PPB as u128).saturating_sub(p_extra_ppb) };
    (w0, tail_ppm as u128 * (PPB as u128 / PPM as u128) * (n as u128).max(1))
}

/// How many of the largest FHS losses the ES can reach: `ceil(tail / w0) + 1`, at most `n`.
pub(crate) fn k_needed(n: usize, p_extra_ppb: u128, tail_ppm: u32) -> usize {
    let (w0, tail) = masses(n, p_extra_ppb, tail_ppm);
    if w0 > 0 { (tail.div_ceil(w0) + 1).min(n as u128) as usize } else { 0 }
}

/// Expected shortfall at tail probability `tail_ppm` of `n` equally likely losses mixed with
/// `extra` (loss, probability in ppb) entries; the equally likely ones share what the extra
/// entries leave. In mass units of `1 / (PPB n)`: each scenario weighs `PPB - sum(pd)`, an extra
/// entry `pd n`, the tail `tail_ppm x 1000 x n`. Entries are taken largest first until the tail
/// is full; `ES = sum(loss x taken) / tail`, each term rounded up. Computed from the largest of
/// the `n` losses in descending order (`top`, at least as many as [`k_needed`] asks for the same
/// extra entries).
pub(crate) fn es_from_top(top: &[i128], n: usize, extra: &[(i128, u64)], tail_ppm: u32) -> Result<i128, MarginError> {
    let mut sum = 0i128;
    tail_terms(top, n, extra, tail_ppm, |l, take, tail| {
        let term = mul_div_ceil(l, take as i128, tail as i128)?;
        sum = sum.checked_add(term).ok_or(MarginError::Overflow)?;
        Ok::<(), MarginError>(())
    })?;
    Ok(sum)
}

/// An upper bound of [`es_from_top`] with one division instead of one per term: the unrounded
/// sum rounded up, plus one per term taken (each term of `es_from_top` is its unrounded value
/// rounded up, so less than one above it). Where the sum does not fit in i128, `es_from_top`.
pub(crate) fn es_upper_from_top(top: &[i128], n: usize, extra: &[(i128, u64)], tail_ppm: u32) -> Result<i128, MarginError> {
    let (mut sum, mut terms) = (0i128, 0i128);
    let walked = tail_terms(top, n, extra, tail_ppm, |l, take, _| {
        terms += 1;
        let product = i128::try_from(take).ok().and_then(|t| l.checked_mul(t));
        sum = product.and_then(|p| sum.checked_add(p)).ok_or(())?;
        Ok(())
    });
    match walked {
        Ok(tail) => Ok(money::div_round(sum, tail as i128, money::Rounding::Ceil)? + terms),
        Err(()) => es_from_top(top, n, extra, tail_ppm),
    }
}

/// Walks the entries the ES takes, largest first (the `n` equally likely losses `top` merged with
/// the `extra` entries), calling `term(loss, mass taken, tail)` until the tail is full; returns
/// the tail's mass.
fn tail_terms<E>(
    top: &[i128],
    n: usize,
    extra: &[(i128, u64)],
    tail_ppm: u32,
    mut term: impl FnMut(i128, u128, u128) -> Result<(), E>,
) -> Result<u128, E> {
    let p_extra: u128 = extra.iter().map(|e| e.1 as u128).sum();
    let (w0, tail) = masses(n, p_extra, tail_ppm);
    let unit = (n as u128).max(1);
    let mut extra: Vec<(i128, u128)> = extra.iter().map(|e| (e.0, e.1 as u128 * unit)).collect();
    extra.sort_unstable_by_key(|e| Reverse(e.0));
    let (mut i, mut j, mut mass) = (0usize, 0usize, 0u128);
    while mass < tail {
        let (l, w) = match (top.get(i).filter(|_| w0 > 0), extra.get(j)) {
            (Some(a), Some(b)) if b.0 > *a => {
                j += 1;
                *b
            }
            (Some(a), _) => {
                i += 1;
                (*a, w0)
            }
            (None, Some(b)) => {
                j += 1;
                *b
            }
            (None, None) => break,
        };
        let take = w.min(tail - mass);
        mass += take;
        term(l, take, tail)?;
    }
    Ok(tail)
}

/// The `k` largest of a sequence of losses, in descending order, into `buf` (exactly
/// `min(k, n)` entries): one pass keeping the `k` largest seen in a min-heap, so most losses
/// cost one comparison with the smallest kept (the tail is about 1% of the scenarios).
pub(crate) fn top_k_of(losses: impl Iterator<Item = i128>, k: usize, buf: &mut Vec<i128>) {
    buf.clear();
    if k == 0 {
        return;
    }
    let mut heap: BinaryHeap<Reverse<i128>> = BinaryHeap::with_capacity(k);
    let mut losses = losses;
    for l in losses.by_ref().take(k) {
        heap.push(Reverse(l));
    }
    // The smallest loss kept: after the first `k`, a loss at or below it costs one comparison.
    let mut threshold = heap.peek().map_or(i128::MAX, |r| r.0);
    for l in losses {
        if l > threshold {
            if let Some(mut smallest) = heap.peek_mut() {
                *smallest = Reverse(l);
            }
            threshold = heap.peek().map_or(i128::MAX, |r| r.0);
        }
    }
    // Ascending `Reverse` order is descending loss order.
    buf.extend(heap.into_sorted_vec().into_iter().map(|r| r.0));
}

/// Expected shortfall without extra entries of `n` losses given as a sequence.
pub(crate) fn expected_shortfall_of(
    losses: impl Iterator<Item = i128>,
    n: usize,
    tail_ppm: u32,
    buf: &mut Vec<i128>,
) -> Result<i128, MarginError> {
    top_k_of(losses, k_needed(n, 0, tail_ppm), buf);
    es_from_top(buf, n, &[], tail_ppm)
}
