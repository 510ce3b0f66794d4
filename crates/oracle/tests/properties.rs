//! Random prints from three sources: every reading keeps the guard's promises.

use oracle::{Guard, GuardParams};
use proptest::prelude::*;

proptest! {
    #[test]
    fn readings_keep_their_bounds(
        steps in proptest::collection::vec((0usize..3, 1i128..1i128 << 80, 1u64..600_000), 1..200),
        max_move_bps in 1u32..9_999,
        growth in 1u32..100_000,
    ) {
        let params = GuardParams { sources: 3, quorum: 2, staleness_ms_max: 900_000, max_move_bps, stable_growth_bps_per_hour: growth };
        let mut guard = Guard::new(params).unwrap();
        let mut now = 0u64;
        let mut previous: Option<oracle::Reading> = None;
        for (source, price, dt) in steps {
            now += dt;
            guard.observe(source, price, now, now).unwrap();
            let Ok(r) = guard.update(now) else { continue };
            prop_assert!(r.collateral() <= r.liability());
            prop_assert!(r.collateral() > 0);
            if let Some(p) = previous {
                // At most max_move from the previous guarded price (rounded toward it).
                let limit = p.guarded / 10_000 * max_move_bps as i128 + p.guarded % 10_000 * max_move_bps as i128 / 10_000;
                prop_assert!((r.guarded - p.guarded).abs() <= limit, "{} -> {} beyond {}", p.guarded, r.guarded, limit);
            }
            previous = Some(r);
        }
    }
}
