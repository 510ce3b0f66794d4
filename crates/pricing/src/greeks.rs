//! Sensitivities of one instrument to its risk factors, in fixed-capacity lists (no heap).

use crate::market::{Asset, PegId, UnderlyingId};

/// Largest number of distinct factors of one kind an instrument depends on (a 4-coin Curve pool).
pub const MAX_LEGS: usize = 4;

/// First and second derivative of the value with respect to one factor.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sensitivity<I> {
    /// The factor.
    pub factor: I,
    /// dV/dfactor. For a spot factor: units of the underlying. For a peg: USD per 1.00 of peg ratio.
    pub delta: f64,
    /// d2V/dfactor2 (same-factor second derivative, cross terms between *different* factors excluded).
    pub gamma: f64,
}

/// Up to `MAX_LEGS` sensitivities, one per distinct factor.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sensitivities<I> {
    items: [Sensitivity<I>; MAX_LEGS],
    len: u8,
}

impl<I: Copy + PartialEq + Default> Sensitivities<I> {
    /// Add to the sensitivity of `factor`, creating it if new.
    ///
    /// # Panics
    /// If more than `MAX_LEGS` distinct factors are added. No instrument of this crate has more than
    /// `MAX_LEGS` assets, so this is a programming error, not a data error.
    pub fn add(&mut self, factor: I, delta: f64, gamma: f64) {
        let n = usize::from(self.len);
        if let Some(s) = self.items[..n].iter_mut().find(|s| s.factor == factor) {
            s.delta += delta;
            s.gamma += gamma;
            return;
        }
        assert!(n < MAX_LEGS, "an instrument depends on at most MAX_LEGS factors of one kind");
        self.items[n] = Sensitivity { factor, delta, gamma };
        self.len += 1;
    }

    /// The sensitivity to `factor`, if the instrument depends on it.
    #[must_use]
    pub fn get(&self, factor: I) -> Option<Sensitivity<I>> {
        self.as_slice().iter().copied().find(|s| s.factor == factor)
    }

    /// All sensitivities.
    #[must_use]
    pub fn as_slice(&self) -> &[Sensitivity<I>] {
        &self.items[..usize::from(self.len)]
    }
}

/// Value and sensitivities of one unit of an instrument under one market state.
///
/// Units: value in USD; spot delta in units of the underlying; spot gamma in units of the underlying per
/// USD; peg delta in USD per 1.00 of peg ratio; vega in USD per 1.00 of volatility; theta in USD per year;
/// rho in USD per 1.00 of rate; probability delta in USD per 1.00 of probability.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    /// Value, USD.
    pub value_usd: f64,
    /// Per underlying spot price (the USD numeraire is never listed).
    pub spot: Sensitivities<UnderlyingId>,
    /// Per peg ratio (the par peg is never listed).
    pub peg: Sensitivities<PegId>,
    /// dV/dsigma, parallel shift of the underlying's surface.
    pub vega: f64,
    /// dV/dt, calendar time.
    pub theta_per_year: f64,
    /// dV/dr, settlement-currency rate.
    pub rho: f64,
    /// dV/dprobability of the outcome (prediction shares).
    pub probability_delta: f64,
}

/// Project sensitivities in asset-price space onto underlyings and pegs.
///
/// With asset price p_i = S_u(i) x g_p(i), the chain rule gives dV/dS_u = sum over assets of u of
/// dV/dp_i x g_i, and d2V/dS_u2 = sum over pairs (i, j) both of u of H_ij g_i g_j; pegs likewise with
/// S in place of g. Pairs of assets that share an underlying (a stETH/ETH pool) therefore get their cross
/// terms, which is what makes the spot gamma of such a pool correct.
pub(crate) fn project(
    greeks: &mut Greeks,
    assets: &[Asset],
    spot_usd: &[f64],
    peg_ratio: &[f64],
    grad: &[f64],
    hess: &[[f64; MAX_LEGS]; MAX_LEGS],
) {
    debug_assert!(assets.len() <= MAX_LEGS);
    for (i, a) in assets.iter().enumerate() {
        if a.underlying != UnderlyingId::USD {
            let mut gamma = 0.0;
            for (j, b) in assets.iter().enumerate() {
                if b.underlying == a.underlying {
                    // Each pair (i, j) is visited once with i as the first leg; accumulating only the
                    // i-row keeps the double sum exact when summed over i.
                    gamma += hess[i][j] * peg_ratio[i] * peg_ratio[j];
                }
            }
            greeks.spot.add(a.underlying, grad[i] * peg_ratio[i], gamma);
        }
        if a.peg != PegId::PAR {
            let mut gamma = 0.0;
            for (j, b) in assets.iter().enumerate() {
                if b.peg == a.peg {
                    gamma += hess[i][j] * spot_usd[i] * spot_usd[j];
                }
            }
            greeks.peg.add(a.peg, grad[i] * spot_usd[i], gamma);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_merges_same_factor() {
        let mut s: Sensitivities<UnderlyingId> = Sensitivities::default();
        s.add(UnderlyingId(1), 1.0, 0.5);
        s.add(UnderlyingId(2), 2.0, 0.0);
        s.add(UnderlyingId(1), 3.0, 0.25);
        assert_eq!(s.as_slice().len(), 2);
        assert_eq!(s.get(UnderlyingId(1)).map(|x| (x.delta, x.gamma)), Some((4.0, 0.75)));
        assert!(s.get(UnderlyingId(3)).is_none());
    }

    #[test]
    fn projection_includes_cross_terms_within_one_underlying() {
        // V = p0 * p1 with both assets on underlying 1 and pegs g0 = 1, g1 = 2: V = 2 S^2,
        // dV/dS = 4 S, d2V/dS2 = 4. At S = 3: grad = (p1, p0) = (6, 3), H = [[0, 1], [1, 0]].
        let assets = [Asset::native(UnderlyingId(1)), Asset::pegged(UnderlyingId(1), PegId(1))];
        let mut h = [[0.0; MAX_LEGS]; MAX_LEGS];
        h[0][1] = 1.0;
        h[1][0] = 1.0;
        let mut g = Greeks::default();
        project(&mut g, &assets, &[3.0, 3.0], &[1.0, 2.0], &[6.0, 3.0], &h);
        let s = g.spot.get(UnderlyingId(1)).unwrap();
        assert!((s.delta - 12.0).abs() < 1e-12);
        assert!((s.gamma - 4.0).abs() < 1e-12);
    }
}
