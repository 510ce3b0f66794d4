//! Implied volatility surface of one underlying: a small fixed grid of absolute expiries x strikes.
//!
//! Interpolation: across strikes, linear in volatility with flat extrapolation beyond the first/last
//! strike (sticky strike: the vol of a given strike does not move when spot moves, so the analytic
//! Black-Scholes delta is the full derivative of the value). Across expiries, linear in total variance
//! sigma^2 * tau (tau = expiry - now), which keeps forward variance non-negative on a calendar-arbitrage-free
//! grid; flat in volatility before the first and after the last expiry.

use crate::error::PricingError;

/// Largest number of expiries in one surface.
pub const MAX_EXPIRIES: usize = 8;
/// Largest number of strikes in one surface.
pub const MAX_STRIKES: usize = 8;

/// A volatility grid (per 1.00 per year) on absolute expiries (years on the market clock) and strikes (USD).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolSurface {
    expiries_years: [f64; MAX_EXPIRIES],
    strikes_usd: [f64; MAX_STRIKES],
    vols: [[f64; MAX_STRIKES]; MAX_EXPIRIES],
    n_expiries: u8,
    n_strikes: u8,
}

impl VolSurface {
    /// A flat surface: the same volatility for every strike and expiry.
    ///
    /// # Errors
    /// `VolSurfaceInvalid` if the vol is not positive and finite.
    pub fn flat(vol_annual: f64) -> Result<Self, PricingError> {
        Self::new(&[0.0], &[1.0], &[vol_annual])
    }

    /// A grid surface. `vols_row_major[e * strikes.len() + s]` is the vol at expiry `e`, strike `s`.
    /// Expiries and strikes must be strictly increasing; strikes positive; vols positive and finite.
    ///
    /// # Errors
    /// `VolSurfaceInvalid` naming the offending axis or value.
    pub fn new(expiries_years: &[f64], strikes_usd: &[f64], vols_row_major: &[f64]) -> Result<Self, PricingError> {
        let invalid = |reason, index, value| Err(PricingError::VolSurfaceInvalid { reason, index, value });
        if expiries_years.is_empty() || expiries_years.len() > MAX_EXPIRIES {
            return invalid("expiry count must be 1..=8", expiries_years.len(), f64::NAN);
        }
        if strikes_usd.is_empty() || strikes_usd.len() > MAX_STRIKES {
            return invalid("strike count must be 1..=8", strikes_usd.len(), f64::NAN);
        }
        if vols_row_major.len() != expiries_years.len() * strikes_usd.len() {
            return invalid("vol count must be expiries x strikes", vols_row_major.len(), f64::NAN);
        }
        for (i, w) in expiries_years.windows(2).enumerate() {
            if w[1] <= w[0] || !w[1].is_finite() {
                return invalid("expiries must increase strictly", i + 1, w[1]);
            }
        }
        if !expiries_years[0].is_finite() {
            return invalid("expiries must be finite", 0, expiries_years[0]);
        }
        for (i, &k) in strikes_usd.iter().enumerate() {
            if !(k > 0.0 && k.is_finite()) || (i > 0 && k <= strikes_usd[i - 1]) {
                return invalid("strikes must be positive and increase strictly", i, k);
            }
        }
        let mut surface = VolSurface {
            expiries_years: [0.0; MAX_EXPIRIES],
            strikes_usd: [0.0; MAX_STRIKES],
            vols: [[0.0; MAX_STRIKES]; MAX_EXPIRIES],
            // Both lengths were checked to be <= 8 above, so the casts cannot truncate.
            n_expiries: expiries_years.len() as u8,
            n_strikes: strikes_usd.len() as u8,
        };
        surface.expiries_years[..expiries_years.len()].copy_from_slice(expiries_years);
        surface.strikes_usd[..strikes_usd.len()].copy_from_slice(strikes_usd);
        for (idx, &v) in vols_row_major.iter().enumerate() {
            if !(v > 0.0 && v.is_finite()) {
                return invalid("vols must be positive and finite", idx, v);
            }
            surface.vols[idx / strikes_usd.len()][idx % strikes_usd.len()] = v;
        }
        Ok(surface)
    }

    /// Volatility on one expiry slice at a strike (linear in vol, flat outside the strike range).
    #[inline]
    fn slice_vol(&self, e: usize, strike_usd: f64) -> f64 {
        let n = usize::from(self.n_strikes);
        let ks = &self.strikes_usd[..n];
        let vs = &self.vols[e][..n];
        if strike_usd <= ks[0] {
            return vs[0];
        }
        if strike_usd >= ks[n - 1] {
            return vs[n - 1];
        }
        // n <= 8: a linear scan beats a binary search here.
        let mut j = 1;
        while ks[j] < strike_usd {
            j += 1;
        }
        let w = (strike_usd - ks[j - 1]) / (ks[j] - ks[j - 1]);
        vs[j - 1] + w * (vs[j] - vs[j - 1])
    }

    /// Interpolated volatility for a strike and an absolute expiry, given the market clock.
    #[inline]
    #[must_use]
    pub fn vol(&self, strike_usd: f64, expiry_years: f64, now_years: f64) -> f64 {
        let n = usize::from(self.n_expiries);
        let ts = &self.expiries_years[..n];
        if expiry_years <= ts[0] {
            return self.slice_vol(0, strike_usd);
        }
        if expiry_years >= ts[n - 1] {
            return self.slice_vol(n - 1, strike_usd);
        }
        let mut j = 1;
        while ts[j] < expiry_years {
            j += 1;
        }
        let (v0, v1) = (self.slice_vol(j - 1, strike_usd), self.slice_vol(j, strike_usd));
        let (tau0, tau1, tau) = (ts[j - 1] - now_years, ts[j] - now_years, expiry_years - now_years);
        let w = (expiry_years - ts[j - 1]) / (ts[j] - ts[j - 1]);
        if tau0 > 0.0 {
            let var = v0 * v0 * tau0 + w * (v1 * v1 * tau1 - v0 * v0 * tau0);
            (var / tau).sqrt()
        } else {
            // The earlier slice has already expired, so total variance is undefined there; fall back to
            // linear interpolation in volatility.
            v0 + w * (v1 - v0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_total_variance_between_expiries() {
        let s = VolSurface::new(&[1.0, 2.0], &[100.0], &[0.2, 0.3]).unwrap();
        // At 1.5y from now 0: var = 0.04*1 + 0.5*(0.09*2 - 0.04) = 0.11, vol = sqrt(0.11/1.5).
        let v = s.vol(100.0, 1.5, 0.0);
        assert!((v - (0.11f64 / 1.5).sqrt()).abs() < 1e-15);
        assert_eq!(s.vol(100.0, 0.5, 0.0), 0.2);
        assert_eq!(s.vol(100.0, 3.0, 0.0), 0.3);
    }

    #[test]
    fn interpolates_linearly_in_strike_and_flat_outside() {
        let s = VolSurface::new(&[1.0], &[80.0, 100.0, 120.0], &[0.3, 0.2, 0.25]).unwrap();
        assert!((s.vol(90.0, 1.0, 0.0) - 0.25).abs() < 1e-15);
        assert!((s.vol(110.0, 1.0, 0.0) - 0.225).abs() < 1e-15);
        assert_eq!(s.vol(50.0, 1.0, 0.0), 0.3);
        assert_eq!(s.vol(500.0, 1.0, 0.0), 0.25);
    }

    #[test]
    fn rejects_bad_axes() {
        assert!(VolSurface::new(&[1.0, 1.0], &[100.0], &[0.2, 0.2]).is_err());
        assert!(VolSurface::new(&[1.0], &[100.0, 90.0], &[0.2, 0.2]).is_err());
        assert!(VolSurface::new(&[1.0], &[100.0], &[-0.2]).is_err());
        assert!(VolSurface::flat(0.0).is_err());
    }
}
