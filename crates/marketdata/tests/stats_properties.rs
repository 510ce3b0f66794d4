//! Property tests of the backtest statistics: facts that hold for every input.

use marketdata::stats::{self, Zone};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The binomial CDF is a CDF: in [0, 1], non-decreasing in x, 1 at x = n.
    #[test]
    fn binomial_cdf_is_monotone(n in 1u64..3000, p in 0.0005f64..0.5, x in 0u64..3000) {
        let x = x.min(n);
        let c = stats::binomial_cdf(n, x, p).unwrap();
        prop_assert!((0.0..=1.0).contains(&c));
        if x > 0 {
            prop_assert!(stats::binomial_cdf(n, x - 1, p).unwrap() <= c + 1e-12);
        }
        prop_assert_eq!(stats::binomial_cdf(n, n, p).unwrap(), 1.0);
    }

    /// Zones never improve with more exceedances, and the bounds are consistent.
    #[test]
    fn traffic_light_is_monotone(n in 10u64..3000, p in 0.001f64..0.1, x in 0u64..200) {
        let x = x.min(n - 1);
        let a = stats::traffic_light(n, x, p).unwrap();
        let b = stats::traffic_light(n, x + 1, p).unwrap();
        let rank = |z: Zone| match z { Zone::Green => 0, Zone::Yellow => 1, Zone::Red => 2 };
        prop_assert!(rank(a.zone) <= rank(b.zone));
        prop_assert!(a.yellow_from <= a.red_from);
    }

    /// Kupiec's LR is non-negative and zero only when the observed rate equals p.
    #[test]
    fn kupiec_is_non_negative(n in 1u64..5000, x in 0u64..5000, p in 0.001f64..0.5) {
        let x = x.min(n);
        let t = stats::kupiec_pof(n, x, p).unwrap();
        prop_assert!(t.statistic >= 0.0 && (0.0..=1.0).contains(&t.p_value));
    }

    /// Chi-square CDF and survival function add up to one.
    #[test]
    fn chi2_cdf_plus_sf_is_one(x in 0.0f64..200.0, k in 1u32..30) {
        prop_assert!((stats::chi2_cdf(x, k) + stats::chi2_sf(x, k) - 1.0).abs() < 1e-12);
    }

    /// The independence LR is non-negative, conditional coverage includes it, and a sequence
    /// without exceedances is perfectly independent.
    #[test]
    fn christoffersen_non_negative(bits in proptest::collection::vec(any::<bool>(), 2..400)) {
        let c = stats::christoffersen(&bits, 0.05).unwrap();
        prop_assert!(c.independence.statistic >= 0.0);
        prop_assert!(c.conditional_coverage.statistic >= c.independence.statistic - 1e-12);
        let zeros = vec![false; bits.len()];
        prop_assert_eq!(stats::christoffersen(&zeros, 0.05).unwrap().independence.statistic, 0.0);
    }
}
