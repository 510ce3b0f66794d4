//! Time-weighted averages of oracle observations over a window, with missing data as an error.
//!
//! The observed value is a step function: each observation holds from its time until the next
//! one (or the window's end). The window `[start, end)` must be covered: there must be an
//! observation at or before `start`, and no observation may be held longer than `gap_max_ms`
//! after it was made. An observation after `end` is refused, so a caller cannot pass a future
//! price by mistake. Observations before the one in force at `start` are ignored.

use crate::{ClearingError, add, mul};
use money::{Rounding, div_round};

/// The most observations one average may read (a 30-minute window at one per 100 ms is 18_000).
pub const OBSERVATIONS_MAX: usize = 100_000;

/// A window of time and the longest an observation may stand in for the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
    pub gap_max_ms: u64,
}

/// The time-weighted average of `(time_ms, value)` samples over `window`:
/// `sum(value_i * held_i) / (end - start)`, with `held_i` the part of `[t_i, t_(i+1))` inside
/// the window, rounded as told.
pub fn time_weighted_average(samples: &[(u64, i128)], window: Window, rounding: Rounding) -> Result<i128, ClearingError> {
    let first = check_samples(samples, window)?;
    let mut weighted_sum: i128 = 0;
    let mut covered_ms: u64 = 0;
    for index in first..samples.len() {
        let (time_ms, value) = samples[index];
        let next_ms = samples.get(index + 1).map_or(window.end_ms, |next| next.0);
        if next_ms - time_ms > window.gap_max_ms {
            return Err(ClearingError::ObservationGap { from_ms: time_ms, to_ms: next_ms, gap_max_ms: window.gap_max_ms });
        }
        let held_ms = next_ms - time_ms.max(window.start_ms);
        weighted_sum = add(weighted_sum, mul(value, i128::from(held_ms), "twap weight")?, "twap sum")?;
        covered_ms += held_ms;
    }
    let length_ms = window.end_ms - window.start_ms;
    assert_eq!(covered_ms, length_ms, "the steps must tile the window exactly");
    Ok(div_round(weighted_sum, i128::from(length_ms), rounding)?)
}

/// Validates the window and the samples; returns the index of the sample in force at `start`.
fn check_samples(samples: &[(u64, i128)], window: Window) -> Result<usize, ClearingError> {
    if window.start_ms >= window.end_ms {
        return Err(ClearingError::EmptyWindow { start_ms: window.start_ms, end_ms: window.end_ms });
    }
    if samples.is_empty() {
        return Err(ClearingError::NoObservations);
    }
    if samples.len() > OBSERVATIONS_MAX {
        return Err(ClearingError::TooManyObservations { count: samples.len(), max: OBSERVATIONS_MAX });
    }
    if let Some(index) = (1..samples.len()).find(|&i| samples[i].0 <= samples[i - 1].0) {
        return Err(ClearingError::ObservationsOutOfOrder { index });
    }
    let last_ms = samples[samples.len() - 1].0;
    if last_ms > window.end_ms {
        return Err(ClearingError::ObservationAfterWindow { time_ms: last_ms, end_ms: window.end_ms });
    }
    // The number of samples at or before the start; the last of them is in force at the start.
    let at_or_before = samples.partition_point(|sample| sample.0 <= window.start_ms);
    if at_or_before == 0 {
        return Err(ClearingError::NoObservationAtStart { start_ms: window.start_ms });
    }
    Ok(at_or_before - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start_ms: u64, end_ms: u64, gap_max_ms: u64) -> Window {
        Window { start_ms, end_ms, gap_max_ms }
    }

    #[test]
    fn steps_are_weighted_by_the_time_they_hold() {
        // Window [1000, 4000): 10 carried in from 500 holds 1000..2000 (1000 ms), 20 holds
        // 2000..3500 (1500 ms), 40 holds 3500..4000 (500 ms).
        // (10*1000 + 20*1500 + 40*500) / 3000 = 60_000 / 3000 = 20 exactly.
        let samples = [(500, 10), (2000, 20), (3500, 40)];
        assert_eq!(time_weighted_average(&samples, window(1000, 4000, 1500), Rounding::Floor).unwrap(), 20);
        // Shift the last step to 3600: (10_000 + 20*1600 + 40*400) / 3000 = 58_000/3000 = 19.33.
        let samples = [(500, 10), (2000, 20), (3600, 40)];
        assert_eq!(time_weighted_average(&samples, window(1000, 4000, 1600), Rounding::Floor).unwrap(), 19);
        assert_eq!(time_weighted_average(&samples, window(1000, 4000, 1600), Rounding::Ceil).unwrap(), 20);
    }

    #[test]
    fn samples_before_the_one_in_force_are_ignored() {
        // 99 at 0 is superseded at 900 by 7, which holds the whole window [1000, 2000).
        let samples = [(0, 99), (900, 7)];
        assert_eq!(time_weighted_average(&samples, window(1000, 2000, 1100), Rounding::Floor).unwrap(), 7);
    }

    #[test]
    fn missing_data_is_an_error_never_a_default() {
        let w = window(1000, 4000, 1000);
        assert_eq!(time_weighted_average(&[], w, Rounding::Floor), Err(ClearingError::NoObservations));
        assert_eq!(time_weighted_average(&[(1001, 5)], w, Rounding::Floor), Err(ClearingError::NoObservationAtStart { start_ms: 1000 }));
        // 5 at 1000 would have to hold until 2500: a 1500 ms hole.
        assert_eq!(
            time_weighted_average(&[(1000, 5), (2500, 6), (3500, 6)], w, Rounding::Floor),
            Err(ClearingError::ObservationGap { from_ms: 1000, to_ms: 2500, gap_max_ms: 1000 })
        );
        // The last observation may not go stale before the end either.
        assert_eq!(
            time_weighted_average(&[(1000, 5), (2000, 6), (2900, 6)], w, Rounding::Floor),
            Err(ClearingError::ObservationGap { from_ms: 2900, to_ms: 4000, gap_max_ms: 1000 })
        );
        // An observation carried in from too long before the start is stale as well.
        assert_eq!(
            time_weighted_average(&[(0, 5), (1500, 6), (2500, 6), (3500, 6)], w, Rounding::Floor),
            Err(ClearingError::ObservationGap { from_ms: 0, to_ms: 1500, gap_max_ms: 1000 })
        );
    }

    #[test]
    fn malformed_series_are_refused() {
        let w = window(1000, 4000, 5000);
        assert_eq!(
            time_weighted_average(&[(1000, 5), (1000, 6)], w, Rounding::Floor),
            Err(ClearingError::ObservationsOutOfOrder { index: 1 })
        );
        assert_eq!(
            time_weighted_average(&[(1000, 5), (4001, 6)], w, Rounding::Floor),
            Err(ClearingError::ObservationAfterWindow { time_ms: 4001, end_ms: 4000 })
        );
        assert_eq!(
            time_weighted_average(&[(1000, 5)], window(4000, 4000, 1), Rounding::Floor),
            Err(ClearingError::EmptyWindow { start_ms: 4000, end_ms: 4000 })
        );
    }

    #[test]
    fn negative_values_average_and_round_exactly() {
        // Premium samples can be negative: (-3*1 + 0*1 + -4*1) / 3 = -7/3 = -2.33.
        let samples = [(0, -3), (1, 0), (2, -4)];
        assert_eq!(time_weighted_average(&samples, window(0, 3, 1), Rounding::Floor).unwrap(), -3);
        assert_eq!(time_weighted_average(&samples, window(0, 3, 1), Rounding::Ceil).unwrap(), -2);
    }
}
