//! Backtest statistics for VaR and expected-shortfall models. Pure functions.
//!
//! - [`kupiec_pof`]: Kupiec (1995) proportion-of-failures likelihood-ratio test.
//! - [`christoffersen`]: Christoffersen (1998) independence and conditional-coverage tests.
//! - [`traffic_light`]: Basel Committee (1996) traffic-light zones from the binomial CDF, for any
//!   number of periods and coverage.
//! - [`es_z2`] and [`es_exceedance_ratio`]: expected-shortfall backtests (Acerbi & Szekely 2014).
//! - [`chi2_cdf`], [`chi2_sf`], [`binomial_cdf`]: the distributions, implemented here (Lanczos
//!   log-gamma, series / continued-fraction incomplete gamma) and tested against scipy fixtures.
//!
//! Formulas and references: `docs/backtest-statistics.md`.

use crate::error::{MarketDataError, Result};
use serde::{Deserialize, Serialize};

/// Largest sample accepted by the binomial functions (they sum up to `n` terms).
pub const MAX_PERIODS: u64 = 10_000_000;

fn invalid(name: &'static str, value: f64, why: &'static str) -> MarketDataError {
    MarketDataError::InvalidStatisticInput { name, value, why }
}

/// Natural log of the gamma function for `x > 0` (Lanczos approximation, g = 7, 9 terms; relative
/// error about 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1-x) = pi / sin(pi x).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularized lower incomplete gamma `P(a, x)`.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x < a + 1.0 { gamma_series(a, x) } else { 1.0 - gamma_cf(a, x) }
}

/// Regularized upper incomplete gamma `Q(a, x) = 1 - P(a, x)`, accurate in the far tail.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 { 1.0 - gamma_series(a, x) } else { gamma_cf(a, x) }
}

fn gamma_series(a: f64, x: f64) -> f64 {
    let mut sum = 1.0 / a;
    let mut term = sum;
    let mut ap = a;
    // Converges in well under 1000 terms for x < a + 1.
    for _ in 0..10_000 {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if term.abs() < sum.abs() * 1e-17 {
            break;
        }
    }
    sum * (-x + a * x.ln() - ln_gamma(a)).exp()
}

fn gamma_cf(a: f64, x: f64) -> f64 {
    // Modified Lentz evaluation of the continued fraction for Q(a, x).
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x + a * x.ln() - ln_gamma(a)).exp() * h
}

/// Chi-square CDF with `dof` degrees of freedom.
pub fn chi2_cdf(x: f64, dof: u32) -> f64 {
    gamma_p(f64::from(dof) / 2.0, x / 2.0)
}

/// Chi-square survival function (p-value of a statistic `x`).
pub fn chi2_sf(x: f64, dof: u32) -> f64 {
    gamma_q(f64::from(dof) / 2.0, x / 2.0)
}

fn check_p(p: f64) -> Result<()> {
    if p > 0.0 && p < 1.0 { Ok(()) } else { Err(invalid("p", p, "must lie in (0, 1)")) }
}

/// `ln` of the binomial probability mass `P(X = k)` for `X ~ Bin(n, p)`.
pub fn binomial_ln_pmf(n: u64, k: u64, p: f64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let (n, k) = (n as f64, k as f64);
    ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0) + k * p.ln() + (n - k) * (-p).ln_1p()
}

/// Binomial CDF `P(X <= x)` for `X ~ Bin(n, p)`.
pub fn binomial_cdf(n: u64, x: u64, p: f64) -> Result<f64> {
    check_p(p)?;
    if n > MAX_PERIODS {
        return Err(invalid("n", n as f64, "exceeds MAX_PERIODS"));
    }
    if x >= n {
        return Ok(1.0);
    }
    // Sum the smaller tail for accuracy.
    let mean = n as f64 * p;
    if (x as f64) <= mean {
        Ok((0..=x).map(|k| binomial_ln_pmf(n, k, p).exp()).sum::<f64>().min(1.0))
    } else {
        let upper: f64 = (x + 1..=n).map(|k| binomial_ln_pmf(n, k, p).exp()).sum();
        Ok((1.0 - upper).max(0.0))
    }
}

/// `x * ln(y)` with the convention `0 * ln(0) = 0`.
fn xlny(x: f64, y: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * y.ln() }
}

/// A likelihood-ratio test result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrTest {
    /// The LR statistic.
    pub statistic: f64,
    /// Degrees of freedom of the asymptotic chi-square distribution.
    pub dof: u32,
    /// `P(chi2(dof) > statistic)`.
    pub p_value: f64,
}

impl LrTest {
    fn new(statistic: f64, dof: u32) -> LrTest {
        let statistic = statistic.max(0.0);
        LrTest { statistic, dof, p_value: chi2_sf(statistic, dof) }
    }

    /// True if the model is rejected at significance `level` (e.g. 0.05).
    pub fn rejects_at(&self, level: f64) -> bool {
        self.p_value < level
    }
}

/// Kupiec (1995) proportion-of-failures test: `n` periods, `x` exceedances, expected rate `p`
/// (0.01 for a 99% VaR).
pub fn kupiec_pof(n: u64, x: u64, p: f64) -> Result<LrTest> {
    check_p(p)?;
    if n == 0 || x > n {
        return Err(invalid("x", x as f64, "need 0 <= x <= n and n > 0"));
    }
    let (nf, xf) = (n as f64, x as f64);
    let phat = xf / nf;
    let ll0 = xlny(nf - xf, 1.0 - p) + xlny(xf, p);
    let ll1 = xlny(nf - xf, 1.0 - phat) + xlny(xf, phat);
    Ok(LrTest::new(-2.0 * (ll0 - ll1), 1))
}

/// Result of the Christoffersen tests.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Christoffersen {
    /// Transition counts `n[i][j]`: exceedance state `i` followed by state `j`.
    pub transitions: [[u64; 2]; 2],
    /// Independence test (1 dof).
    pub independence: LrTest,
    /// Conditional coverage `LR_pof + LR_ind` (2 dof).
    pub conditional_coverage: LrTest,
    /// The Kupiec part, on the whole sequence.
    pub unconditional: LrTest,
}

/// Christoffersen (1998) independence test on a 0/1 exceedance sequence, and the conditional
/// coverage test against expected rate `p`.
pub fn christoffersen(exceedances: &[bool], p: f64) -> Result<Christoffersen> {
    check_p(p)?;
    if exceedances.len() < 2 {
        return Err(invalid("len", exceedances.len() as f64, "need at least two periods"));
    }
    let mut n = [[0u64; 2]; 2];
    for w in exceedances.windows(2) {
        n[usize::from(w[0])][usize::from(w[1])] += 1;
    }
    let [[n00, n01], [n10, n11]] = n.map(|r| r.map(|v| v as f64));
    let pi0 = if n00 + n01 > 0.0 { n01 / (n00 + n01) } else { 0.0 };
    let pi1 = if n10 + n11 > 0.0 { n11 / (n10 + n11) } else { 0.0 };
    let pi = (n01 + n11) / (n00 + n01 + n10 + n11);
    let ll0 = xlny(n00 + n10, 1.0 - pi) + xlny(n01 + n11, pi);
    let ll1 = xlny(n00, 1.0 - pi0) + xlny(n01, pi0) + xlny(n10, 1.0 - pi1) + xlny(n11, pi1);
    let independence = LrTest::new(-2.0 * (ll0 - ll1), 1);
    let x = exceedances.iter().filter(|b| **b).count() as u64;
    let unconditional = kupiec_pof(exceedances.len() as u64, x, p)?;
    let conditional_coverage = LrTest::new(unconditional.statistic + independence.statistic, 2);
    Ok(Christoffersen { transitions: n, independence, conditional_coverage, unconditional })
}

/// Basel traffic-light zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// Cumulative probability below 95%.
    Green,
    /// Cumulative probability from 95% to below 99.99%.
    Yellow,
    /// Cumulative probability at or above 99.99%.
    Red,
}

/// Traffic-light classification of `x` exceedances in `n` periods at expected rate `p`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficLight {
    /// The zone.
    pub zone: Zone,
    /// `P(X <= x)` under `Bin(n, p)`.
    pub cumulative_probability: f64,
    /// Smallest exceedance count in the yellow zone.
    pub yellow_from: u64,
    /// Smallest exceedance count in the red zone.
    pub red_from: u64,
}

/// Cumulative-probability bounds of the zones (Basel Committee 1996).
pub const GREEN_BELOW: f64 = 0.95;
/// Red from this cumulative probability on.
pub const RED_FROM: f64 = 0.9999;

/// Basel traffic light for any `n` and `p`: green while `P(X <= x) < 95%`, yellow while `< 99.99%`,
/// red beyond. At `n = 250`, `p = 1%`: green 0-4, yellow 5-9, red 10+.
pub fn traffic_light(n: u64, x: u64, p: f64) -> Result<TrafficLight> {
    check_p(p)?;
    if n == 0 || n > MAX_PERIODS {
        return Err(invalid("n", n as f64, "must lie in 1..=MAX_PERIODS"));
    }
    let zone_of = |c: f64| {
        if c < GREEN_BELOW {
            Zone::Green
        } else if c < RED_FROM {
            Zone::Yellow
        } else {
            Zone::Red
        }
    };
    // Walk the CDF once, from 0, to find both bounds (the CDF is monotone).
    let (mut cum, mut yellow_from, mut red_from) = (0.0, n + 1, n + 1);
    for k in 0..=n {
        cum += binomial_ln_pmf(n, k, p).exp();
        let z = zone_of(cum.min(1.0));
        if z != Zone::Green && yellow_from > n {
            yellow_from = k;
        }
        if z == Zone::Red {
            red_from = k;
            break;
        }
    }
    let c = binomial_cdf(n, x, p)?;
    Ok(TrafficLight { zone: zone_of(c), cumulative_probability: c, yellow_from, red_from })
}

fn check_es_inputs(losses: &[f64], var: &[f64], es: &[f64], alpha: f64) -> Result<()> {
    check_p(alpha)?;
    if losses.is_empty() || losses.len() != var.len() || losses.len() != es.len() {
        return Err(invalid("len", losses.len() as f64, "losses, var and es must be non-empty and of equal length"));
    }
    if let Some(e) = es.iter().find(|e| e.is_nan() || **e <= 0.0) {
        return Err(invalid("es", *e, "expected shortfall must be positive"));
    }
    Ok(())
}

/// Acerbi & Szekely (2014) test statistic Z2 in loss convention:
/// `Z2 = 1 - sum_t L_t 1{L_t > VaR_t} / (T alpha ES_t)`, where `alpha` is the tail probability
/// (0.025 for a 97.5% ES, 0.01 for 99%). `E[Z2] = 0` if ES is right; negative values mean the
/// model underestimates tail losses (approximate 5% critical value -0.70, 0.01% critical value -1.8).
pub fn es_z2(losses: &[f64], var: &[f64], es: &[f64], alpha: f64) -> Result<f64> {
    check_es_inputs(losses, var, es, alpha)?;
    let t = losses.len() as f64;
    let s: f64 = losses.iter().zip(var).zip(es).filter(|((l, v), _)| *l > *v).map(|((l, _), e)| l / e).sum();
    Ok(1.0 - s / (t * alpha))
}

/// Mean of `L_t / ES_t` over the exceedance periods (`L_t > VaR_t`); about 1 or less if ES is
/// adequate, `None` if there was no exceedance.
pub fn es_exceedance_ratio(losses: &[f64], var: &[f64], es: &[f64]) -> Result<Option<f64>> {
    check_es_inputs(losses, var, es, 0.5)?;
    let r: Vec<f64> = losses.iter().zip(var).zip(es).filter(|((l, v), _)| *l > *v).map(|((l, _), e)| l / e).collect();
    Ok((!r.is_empty()).then(|| r.iter().sum::<f64>() / r.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_known_values() {
        // Gamma(5) = 24, Gamma(1/2) = sqrt(pi).
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
    }

    #[test]
    fn chi2_critical_values_from_tables() {
        // Textbook table: chi2(1) 95% = 3.841459, chi2(2) 95% = 5.991465.
        assert!((chi2_cdf(3.841_458_820_694_124, 1) - 0.95).abs() < 1e-12);
        assert!((chi2_sf(5.991_464_547_107_979, 2) - 0.05).abs() < 1e-12);
        // chi2(2) has closed form sf = exp(-x/2).
        for x in [0.1, 1.0, 10.0, 50.0] {
            assert!((chi2_sf(x, 2) - (-x / 2.0f64).exp()).abs() < 1e-14 * (1.0 + (-x / 2.0f64).exp().recip().min(1.0)));
        }
    }

    #[test]
    fn kupiec_zero_and_all() {
        let t = kupiec_pof(250, 0, 0.01).unwrap();
        // x = 0: LR = -2 * 250 * ln(0.99) = 5.025168.
        assert!((t.statistic - (-500.0 * 0.99f64.ln())).abs() < 1e-12);
        assert!(kupiec_pof(250, 251, 0.01).is_err());
        assert!(kupiec_pof(250, 1, 1.5).is_err());
    }

    #[test]
    fn es_z2_perfect_model_is_zero() {
        // One exceedance in 100 periods at alpha = 1% with loss equal to ES gives Z2 = 0.
        let mut l = vec![0.0; 100];
        l[3] = 2.0;
        let v = vec![1.0; 100];
        let e = vec![2.0; 100];
        assert!(es_z2(&l, &v, &e, 0.01).unwrap().abs() < 1e-12);
        assert_eq!(es_exceedance_ratio(&l, &v, &e).unwrap(), Some(1.0));
        assert!(es_z2(&l, &v, &vec![0.0; 100], 0.01).is_err());
    }
}
