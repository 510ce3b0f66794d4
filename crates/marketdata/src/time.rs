//! UTC time on an hourly grid.
//!
//! All market data in this crate lives on whole UTC hours, so time is an integer count of hours since
//! the Unix epoch. This avoids any dependency on a date library and keeps arithmetic exact.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant on the hourly grid: whole hours since 1970-01-01T00:00:00Z.
///
/// An observation "at" an `Hour` is a value known at that instant: for an hourly bar that opened at
/// 10:00 the close is observed at 11:00; for a daily bar that opened on day D the close is observed at
/// D+24h.
///
/// Serialised as the ISO-8601 string (`2020-03-12T10:00:00Z`) so committed JSON is readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hour(pub i64);

impl Serialize for Hour {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso())
    }
}

impl<'de> Deserialize<'de> for Hour {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Hour, D::Error> {
        let s = String::deserialize(d)?;
        Hour::parse_iso(&s).ok_or_else(|| serde::de::Error::custom(format!("not a whole-hour UTC timestamp: {s}")))
    }
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), after Howard Hinnant's
/// `days_from_civil` algorithm.
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Hour {
    /// The instant `year-month-day hour:00:00Z`. Panics on an impossible date, because callers pass
    /// literal calendar constants.
    pub const fn from_ymdh(year: i64, month: u32, day: u32, hour: u32) -> Hour {
        assert!(month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24, "bad date");
        Hour(days_from_civil(year, month, day) * 24 + hour as i64)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (also accepts `YYYY-MM-DD`). Minutes and seconds must be zero,
    /// because every series in this crate is on whole hours; anything else is a data error.
    pub fn parse_iso(text: &str) -> Option<Hour> {
        let b = text.trim().as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let s = b.get(range)?;
            if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(s).ok()?.parse().ok()
        };
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = num(0..4)?;
        let month = u32::try_from(num(5..7)?).ok()?;
        let day = u32::try_from(num(8..10)?).ok()?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let hour = if b.len() == 10 {
            0
        } else {
            if b.len() != 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
                return None;
            }
            let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
            if h > 23 || mi != 0 || se != 0 {
                return None;
            }
            h as u32
        };
        Some(Hour(days_from_civil(year, month, day) * 24 + i64::from(hour)))
    }

    /// `YYYY-MM-DDTHH:00:00Z`.
    pub fn to_iso(self) -> String {
        let days = self.0.div_euclid(24);
        let hour = self.0.rem_euclid(24);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{hour:02}:00:00Z")
    }

    /// `YYYY-MM-DD` of the UTC day containing this instant.
    pub fn to_date(self) -> String {
        let (y, m, d) = civil_from_days(self.0.div_euclid(24));
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// This instant plus `hours`.
    pub fn plus_hours(self, hours: i64) -> Hour {
        Hour(self.0 + hours)
    }
}

impl fmt::Display for Hour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(Hour::from_ymdh(1970, 1, 1, 0), Hour(0));
        // 2020-03-13T00:00Z is Unix time 1584057600 s (independent: `date -u -d 2020-03-13 +%s`).
        assert_eq!(Hour::from_ymdh(2020, 3, 13, 0).0 * 3600, 1_584_057_600);
        // 2024-02-29 exists (leap year): 1709164800 s.
        assert_eq!(Hour::parse_iso("2024-02-29T00:00:00Z").map(|h| h.0 * 3600), Some(1_709_164_800));
    }

    #[test]
    fn round_trip_and_rejects() {
        for h in [0i64, 1, 438_288, 480_000, 500_123] {
            assert_eq!(Hour::parse_iso(&Hour(h).to_iso()), Some(Hour(h)));
        }
        assert_eq!(Hour::parse_iso("2020-03-13T02:30:00Z"), None);
        assert_eq!(Hour::parse_iso("2020-13-13T02:00:00Z"), None);
        assert_eq!(Hour::parse_iso("garbage"), None);
        assert_eq!(Hour::parse_iso("2020-03-13"), Some(Hour::from_ymdh(2020, 3, 13, 0)));
    }
}
