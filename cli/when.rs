//! Times on the command line and on screen.

use anyhow::{Result, bail};
use jiff::{Timestamp, Zoned, civil, tz::TimeZone};
use std::time::SystemTime;

/// RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DD` (local time zone).
pub fn parse(s: &str) -> Result<SystemTime> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(SystemTime::from(ts));
    }
    let tz = TimeZone::system();
    let civil = s.parse::<civil::DateTime>().or_else(|_| {
        s.parse::<civil::Date>()
            .map(|d| d.to_datetime(civil::Time::midnight()))
    });
    match civil {
        Ok(dt) => Ok(SystemTime::from(dt.to_zoned(tz)?.timestamp())),
        Err(_) => bail!(
            "cannot read time {s:?}: use RFC 3339 (2026-05-29T18:00:00Z), \"2026-05-29 18:00\" or 2026-05-29"
        ),
    }
}

fn zoned(unix_ns: i64) -> Option<Zoned> {
    Timestamp::from_nanosecond(i128::from(unix_ns))
        .ok()
        .map(|t| t.to_zoned(TimeZone::system()))
}

/// `2026-05-29 18:00:00` in the local zone, for tables.
pub fn short(unix_ns: i64) -> String {
    zoned(unix_ns)
        .map(|z| z.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| unix_ns.to_string())
}

/// RFC 3339 with offset, for JSON.
pub fn rfc3339(unix_ns: i64) -> String {
    zoned(unix_ns)
        .map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string())
        .unwrap_or_else(|| unix_ns.to_string())
}
