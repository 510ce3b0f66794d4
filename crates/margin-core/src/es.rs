//! Expected shortfall in integers: the FHS scenarios alone, and mixed with protocol-failure
//! entries at their probabilities, exactly as `risk::margin::expected_shortfall` defines it, with
//! masses scaled to integers and every term rounded up.

use crate::charges::Exposure;
use crate::{MarginError, PPB, PPM, RiskModel};
use money::{Rounding, mul_div};

/// The market terms of a loss vector (fine units).
pub(crate) struct MarketTerms {
    /// ES of the FHS scenarios alone, at least 0.
    pub(crate) es_fhs: i128,
    /// Largest weighted floor loss, at least 0.
    pub(crate) floor: i128,
    /// Column of the binding scenario: the worst floor column if the floor binds, else the
    /// largest FHS loss.
    pub(crate) worst: u32,
}

impl RiskModel {
    /// ES of the FHS columns and the worst weighted floor column.
    pub(crate) fn market_terms(&self, loss: &[i128], buf: &mut Vec<i128>) -> Result<MarketTerms, MarginError> {
        let n = self.fhs_scenarios as usize;
        let (fhs, floor) = loss.split_at(n);
        let es_fhs = expected_shortfall(fhs, &[], self.tail_ppm, buf)?.max(0);
        let mut worst = fhs.iter().enumerate().fold((i128::MIN, 0u32), |w, (s, l)| if *l > w.0 { (*l, s as u32) } else { w }).1;
        let mut worst_floor = 0;
        for (f, (l, w)) in floor.iter().zip(&self.floor_weights_ppm).enumerate() {
            let weighted = mul_div(*l, *w as i128, PPM as i128, Rounding::Ceil)?;
            if weighted > worst_floor {
                worst_floor = weighted;
                if weighted > es_fhs {
                    worst = (n + f) as u32;
                }
            }
        }
        Ok(MarketTerms { es_fhs, floor: worst_floor, worst })
    }

    /// ES of the FHS columns mixed with one entry per exposure (failure loss, probability).
    pub(crate) fn es_mixed(&self, loss: &[i128], exposures: &[Exposure], buf: &mut Vec<i128>) -> Result<i128, MarginError> {
        // As the f64 engine: without FHS scenarios there is no ES to mix failures into (they are
        // charged through concentration alone).
        if self.fhs_scenarios == 0 {
            return Ok(0);
        }
        let extra: Vec<(i128, u64)> = exposures.iter().map(|e| (e.failure, self.charges.protocols[e.protocol].pd_ppb)).collect();
        expected_shortfall(&loss[..self.fhs_scenarios as usize], &extra, self.tail_ppm, buf)
    }
}

/// Expected shortfall at tail probability `tail_ppm` of the `n` equally likely `losses` mixed
/// with `extra` (loss, probability in ppb) entries; the equally likely ones share what the extra
/// entries leave. In mass units of `1 / (PPB n)`: each scenario weighs `PPB - sum(pd)`, an extra
/// entry `pd n`, the tail `tail_ppm x 1000 x n`. Entries are taken largest first until the tail
/// is full; `ES = sum(loss x taken) / tail`, each term rounded up.
pub(crate) fn expected_shortfall(losses: &[i128], extra: &[(i128, u64)], tail_ppm: u32, buf: &mut Vec<i128>) -> Result<i128, MarginError> {
    // Without FHS scenarios (the embedded calibration) the failure entries alone fill the tail
    // at their own probabilities, as in the f64 engine: the unit is then `1 / PPB`.
    let n = losses.len() as u128;
    let unit = n.max(1);
    let p_extra: u128 = extra.iter().map(|e| e.1 as u128).sum();
    let w0 = if n == 0 { 0 } else { (PPB as u128).saturating_sub(p_extra) };
    let tail = tail_ppm as u128 * (PPB as u128 / PPM as u128) * unit;
    let k = if w0 > 0 { (tail.div_ceil(w0) + 1).min(n) as usize } else { 0 };
    top_k(losses, k, buf);
    let mut extra: Vec<(i128, u128)> = extra.iter().map(|e| (e.0, e.1 as u128 * unit)).collect();
    extra.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    let (mut i, mut j, mut mass, mut sum) = (0usize, 0usize, 0u128, 0i128);
    while mass < tail {
        let (l, w) = match (buf.get(i), extra.get(j)) {
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
        let term = mul_div(l, take as i128, tail as i128, Rounding::Ceil)?;
        sum = sum.checked_add(term).ok_or(MarginError::Overflow)?;
    }
    Ok(sum)
}

/// The `k` largest losses, in descending order, into `buf[..k]` (`buf` truncated to `k`).
fn top_k(losses: &[i128], k: usize, buf: &mut Vec<i128>) {
    buf.clear();
    if k == 0 {
        return;
    }
    buf.extend_from_slice(losses);
    if k < buf.len() {
        buf.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
        buf.truncate(k);
    }
    buf.sort_unstable_by(|a, b| b.cmp(a));
}
