//! restic's retention durations (`1y2m3d4h`) and the calendar arithmetic
//! restic does with them.
//!
//! A duration is a count of calendar years, months, days and hours, not a
//! number of seconds: "1m" before March 31 is "March 31 minus one month", which
//! restic computes with Go's `AddDate` (it normalises February 31 to March 3,
//! where a clamping library would give February 28). [`Span::before`] does
//! exactly what Go does, so `--keep-within 1m` keeps the same snapshots.

use crate::error::{Error, Result};
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// `NyNmNdNh`, every part optional, at least one present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub years: i32,
    pub months: i32,
    pub days: i32,
    pub hours: i32,
}

impl Span {
    /// Parses restic's syntax: digits followed by `y`, `m`, `d` or `h`, in any order.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "duration {s:?} {why}: write it like 30d, 1y6m or 2d12h (y years, m months, d days, h hours)"
            ))
        };
        let mut span = Span::default();
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            if digits.is_empty() {
                return Err(bad("has a unit without a number"));
            }
            let n: i32 = digits.parse().map_err(|_| bad("has a number too large"))?;
            digits.clear();
            match c {
                'y' => span.years = n,
                'm' => span.months = n,
                'd' => span.days = n,
                'h' => span.hours = n,
                _ => return Err(bad(&format!("has an unknown unit {c:?}"))),
            }
        }
        if !digits.is_empty() {
            return Err(bad("ends in a number without a unit"));
        }
        if span.is_zero() && !s.chars().any(|c| c.is_ascii_digit()) {
            return Err(bad("is empty"));
        }
        Ok(span)
    }

    pub fn is_zero(&self) -> bool {
        *self == Span::default()
    }

    /// `t` minus this span, the way restic computes it: Go's
    /// `t.AddDate(-y, -m, -d).Add(-h hours)` with `t` read in `tz`.
    pub fn before(&self, unix_ns: i64, tz: &TimeZone) -> i64 {
        let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(unix_ns)) else {
            return i64::MIN;
        };
        let z = ts.to_zoned(tz.clone());
        let dt = z.datetime();
        // Go normalises months first (year and month by Euclidean division),
        // then lets the day overflow into the following days.
        let months = i64::from(dt.year()) * 12 + i64::from(dt.month())
            - 1
            - i64::from(self.years) * 12
            - i64::from(self.months);
        let year = months.div_euclid(12);
        let month = months.rem_euclid(12) + 1;
        let shifted = i16::try_from(year)
            .ok()
            .and_then(|y| Date::new(y, i8::try_from(month).ok()?, 1).ok())
            .and_then(|first| {
                let offset = i64::from(dt.day()) - 1 - i64::from(self.days);
                first.checked_add(jiff::Span::new().days(offset)).ok()
            });
        let Some(date) = shifted else {
            return i64::MIN;
        };
        let civil = date.to_datetime(dt.time());
        let Ok(back) = civil.to_zoned(tz.clone()) else {
            return i64::MIN;
        };
        let ns = back.timestamp().as_nanosecond() - i128::from(self.hours) * 3_600_000_000_000;
        i64::try_from(ns).unwrap_or(i64::MIN)
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, u) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{u}")?;
            }
        }
        if self.is_zero() {
            f.write_str("0d")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ns(s: &str) -> i64 {
        i64::try_from(s.parse::<jiff::Timestamp>().unwrap().as_nanosecond()).unwrap()
    }

    #[test]
    fn parses_restic_syntax() {
        assert_eq!(
            Span::parse("1y2m3d4h").unwrap(),
            Span {
                years: 1,
                months: 2,
                days: 3,
                hours: 4
            }
        );
        assert_eq!(Span::parse("30d").unwrap().days, 30);
        for bad in ["", "d", "3", "3w", "1.5d"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn month_arithmetic_overflows_like_go() {
        let utc = TimeZone::UTC;
        // Go: 2015-03-31 AddDate(0,-1,0) = "2015-02-31" = 2015-03-03.
        let m = Span::parse("1m").unwrap();
        assert_eq!(
            m.before(ns("2015-03-31T10:00:00Z"), &utc),
            ns("2015-03-03T10:00:00Z")
        );
        // Days go through month ends: 2016-01-18 minus 1m14d = 2015-12-04.
        let md = Span::parse("1m14d").unwrap();
        assert_eq!(
            md.before(ns("2016-01-18T12:02:03Z"), &utc),
            ns("2015-12-04T12:02:03Z")
        );
        let h = Span::parse("1d2h").unwrap();
        assert_eq!(
            h.before(ns("2016-01-02T01:00:00Z"), &utc),
            ns("2015-12-31T23:00:00Z")
        );
    }
}
