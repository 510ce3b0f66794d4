//! UTC time on an hourly grid.
//!
//! All market data in this crate lives on whole UTC hours, so time is an integer count of hours since
//! the Unix epoch: the hot paths (grid indexing, windows, look-ahead filters) are integer arithmetic.
//! Every conversion between that integer and the calendar goes through the `jiff` date library;
//! there is no hand-written calendar code. An impossible date (2023-02-31, 2024-02-30, month 13,
//! hour 24, a leap second) is refused with [`MarketDataError::InvalidDate`], never rolled over.

use crate::error::{MarketDataError, Result};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::fmt;

const SECONDS_PER_HOUR: i64 = 3600;

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
        parse_hour(&s, "serialised timestamp").map_err(serde::de::Error::custom)
    }
}

/// Parses a whole UTC hour written `YYYY-MM-DDTHH:00:00Z`, or a date `YYYY-MM-DD` (its midnight).
///
/// This is the one entry point for every date and time this crate and its users read: market-data
/// CSV timestamps, portfolio `as_of`, command-line dates. `origin` says where the text came from
/// (`"btc.csv:12 column timestamp"`, `"--as-of"`) and is carried by the error. The layout is checked
/// byte by byte (so an offset, a fraction, a sign or a basic-format date is refused rather than
/// reinterpreted), then jiff validates the calendar (`DateTime::new` refuses day 31 of a 30-day
/// month, 29 February of a common year, hour 24 and second 60) and converts it to Unix time. This
/// runs once per CSV row, so it allocates nothing on success.
pub fn parse_hour(text: &str, origin: &str) -> Result<Hour> {
    let invalid = |reason: String| MarketDataError::InvalidDate { origin: origin.to_string(), value: text.to_string(), reason };
    let civil = civil_datetime(text).map_err(invalid)?;
    if civil.minute() != 0 || civil.second() != 0 {
        return Err(invalid("minutes and seconds must be zero: every series is on whole UTC hours".to_string()));
    }
    let instant = TimeZone::UTC.to_timestamp(civil).map_err(|e| invalid(e.to_string()))?;
    Ok(Hour(instant.as_second().div_euclid(SECONDS_PER_HOUR)))
}

/// `text` matches `layout`, where `D` stands for an ASCII digit and every other byte for itself.
fn has_layout(text: &str, layout: &[u8]) -> bool {
    text.len() == layout.len() && text.bytes().zip(layout).all(|(c, l)| if *l == b'D' { c.is_ascii_digit() } else { c == *l })
}

/// The civil date and time of a `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` text, validated by jiff.
fn civil_datetime(text: &str) -> std::result::Result<DateTime, String> {
    let is_date = has_layout(text, b"DDDD-DD-DD");
    if !is_date && !has_layout(text, b"DDDD-DD-DDTDD:DD:DDZ") {
        return Err("not in the form YYYY-MM-DD or YYYY-MM-DDTHH:00:00Z".to_string());
    }
    // After the layout check every field is 2 or 4 ASCII digits, so the sums cannot overflow.
    let field = |range: std::ops::Range<usize>| text[range].bytes().fold(0i16, |n, c| n * 10 + i16::from(c - b'0'));
    let small = |range| i8::try_from(field(range)).map_err(|e| e.to_string());
    let (year, month, day) = (field(0..4), small(5..7)?, small(8..10)?);
    if is_date {
        let date = Date::new(year, month, day).map_err(|e| e.to_string())?;
        Ok(date.to_datetime(Time::midnight()))
    } else {
        DateTime::new(year, month, day, small(11..13)?, small(14..16)?, small(17..19)?, 0).map_err(|e| e.to_string())
    }
}

fn canonical_utc(instant: Timestamp) -> String {
    instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Hour {
    /// The instant `year-month-day hour:00:00Z` from calendar constants written in the source (the
    /// grid bounds, the stress-event windows, tests). Panics on an impossible date: a wrong literal
    /// is a programming error. Text from files or users goes through [`parse_hour`] instead.
    pub fn from_ymdh(year: i16, month: i8, day: i8, hour: i8) -> Hour {
        let civil = DateTime::new(year, month, day, hour, 0, 0, 0)
            .and_then(|dt| TimeZone::UTC.to_timestamp(dt))
            .unwrap_or_else(|e| panic!("calendar constant {year:04}-{month:02}-{day:02} {hour:02}h is impossible: {e}"));
        Hour(civil.as_second().div_euclid(SECONDS_PER_HOUR))
    }

    /// The instant as a jiff timestamp, or `None` outside the years -9999..=9999 that jiff (and
    /// ISO-8601 without extension) can write. Parsed values are always inside.
    fn timestamp(self) -> Option<Timestamp> {
        self.0.checked_mul(SECONDS_PER_HOUR).and_then(|s| Timestamp::from_second(s).ok())
    }

    /// `YYYY-MM-DDTHH:00:00Z`. An instant outside the calendar range (only reachable by arithmetic
    /// on a raw `Hour`, never by parsing) is written `hour N (outside the calendar)`, so a message
    /// that prints it stays readable and cannot be mistaken for a date.
    pub fn to_iso(self) -> String {
        match self.timestamp() {
            Some(t) => canonical_utc(t),
            None => self.outside_calendar(),
        }
    }

    /// `YYYY-MM-DD` of the UTC day containing this instant (same out-of-range rule as [`Hour::to_iso`]).
    pub fn to_date(self) -> String {
        match self.timestamp() {
            Some(t) => t.strftime("%Y-%m-%d").to_string(),
            None => self.outside_calendar(),
        }
    }

    fn outside_calendar(self) -> String {
        format!("hour {} (outside the calendar)", self.0)
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

    fn reason(text: &str) -> String {
        match parse_hour(text, "test") {
            Err(MarketDataError::InvalidDate { origin, value, reason }) => {
                assert_eq!((origin.as_str(), value.as_str()), ("test", text));
                reason
            }
            other => panic!("{text}: expected InvalidDate, got {other:?}"),
        }
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(Hour::from_ymdh(1970, 1, 1, 0), Hour(0));
        // 2020-03-13T00:00Z is Unix time 1584057600 s (independent: `date -u -d 2020-03-13 +%s`).
        assert_eq!(Hour::from_ymdh(2020, 3, 13, 0).0 * 3600, 1_584_057_600);
        // 2024-02-29 exists (leap year): 1709164800 s.
        assert_eq!(parse_hour("2024-02-29T00:00:00Z", "test").map(|h| h.0 * 3600).ok(), Some(1_709_164_800));
        // 2000 is a leap year (divisible by 400): 2000-02-29 is 951782400 s.
        assert_eq!(parse_hour("2000-02-29", "test").map(|h| h.0 * 3600).ok(), Some(951_782_400));
        // Before the epoch: 1969-12-31T23:00Z is hour -1.
        assert_eq!(parse_hour("1969-12-31T23:00:00Z", "test").ok(), Some(Hour(-1)));
    }

    #[test]
    fn grid_bounds_are_the_documented_dates() {
        use crate::panel::{GRID_END, GRID_START};
        assert_eq!(GRID_START, Hour::from_ymdh(2019, 1, 1, 1));
        assert_eq!(GRID_END, Hour::from_ymdh(2025, 1, 1, 0));
        // Independent: `date -u -d 2019-01-01T01:00:00Z +%s` is 1546304400.
        assert_eq!(GRID_START.0 * 3600, 1_546_304_400);
    }

    #[test]
    fn round_trip() {
        for h in [-1i64, 0, 1, 438_288, 480_000, 500_123] {
            assert_eq!(parse_hour(&Hour(h).to_iso(), "test").ok(), Some(Hour(h)));
        }
        assert_eq!(parse_hour("2020-03-13", "test").ok(), Some(Hour::from_ymdh(2020, 3, 13, 0)));
        assert_eq!(Hour::from_ymdh(2020, 3, 13, 5).to_date(), "2020-03-13");
    }

    #[test]
    fn impossible_dates_are_refused_not_rolled_over() {
        for text in [
            "2023-02-31",
            "2024-02-30",
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-04-31",
            "2023-01-00",
            "2023-02-31T00:00:00Z",
            "2023-06-31T10:00:00Z",
            "2023-01-01T24:00:00Z",
            "2016-12-31T23:59:60Z",
        ] {
            reason(text);
        }
        assert!(reason("2023-02-31").contains("day"), "{}", reason("2023-02-31"));
        assert!(reason("2023-01-01T24:00:00Z").contains("hour"), "{}", reason("2023-01-01T24:00:00Z"));
    }

    #[test]
    fn only_the_canonical_spelling_is_accepted() {
        for text in [
            "20240229",
            "+002024-02-29",
            "2024-2-29",
            " 2024-02-29",
            "2020-03-13T02:30:00Z",
            "2020-03-13T02:00:00.5Z",
            "2020-03-13T02:00:00+01:00",
            "2020-03-13T02:00:00",
            "2020-03-13 02:00:00Z",
            "garbage",
            "",
            "2023-02-3",
            "2023-02-3\u{e9}",
            "\u{e9}023-02-03",
        ] {
            reason(text);
        }
    }

    #[test]
    #[should_panic(expected = "2023-02-31 00h is impossible")]
    fn an_impossible_calendar_constant_panics() {
        Hour::from_ymdh(2023, 2, 31, 0);
    }

    #[test]
    fn outside_the_calendar_is_never_written_as_a_date() {
        assert_eq!(Hour(i64::MAX).to_iso(), format!("hour {} (outside the calendar)", i64::MAX));
        assert_eq!(Hour(i64::MIN).to_date(), format!("hour {} (outside the calendar)", i64::MIN));
    }
}
