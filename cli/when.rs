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

/// The zone of `--tz` (an IANA name such as Europe/Paris, or UTC), else the system's.
pub fn zone(tz: Option<&str>) -> Result<TimeZone> {
    match tz {
        None => Ok(TimeZone::system()),
        Some(name) => TimeZone::get(name).map_err(|e| {
            anyhow::anyhow!(
                "unknown time zone {name:?} ({e}): give an IANA name such as Europe/Paris, or UTC"
            )
        }),
    }
}

/// A zone's name for messages: its IANA name, else its current offset.
pub fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().map_or_else(
        || tz.to_offset(Timestamp::now()).to_string(),
        str::to_string,
    )
}

/// The moment `--as-of` means, in Unix nanoseconds: RFC 3339 as written, a day
/// and time in `tz`, and a day alone as the end of that day in `tz` (the state
/// "as it was on 29 May" includes that night's backup).
pub fn as_of(s: &str, tz: &TimeZone) -> Result<i64> {
    // A day alone first: jiff also reads `2026-05-29` as a civil date-time (midnight).
    let day = (s.len() == 10)
        .then(|| s.parse::<civil::Date>().ok())
        .flatten();
    let ts = if let Some(d) = day {
        let next = d.tomorrow()?.to_zoned(tz.clone())?.timestamp();
        next - jiff::SignedDuration::from_nanos(1)
    } else if let Ok(ts) = s.parse::<Timestamp>() {
        ts
    } else if let Ok(dt) = s.parse::<civil::DateTime>() {
        dt.to_zoned(tz.clone())?.timestamp()
    } else {
        bail!(
            "cannot read --as-of {s:?}: use a day (2026-05-29, its end), a day and time (\"2026-05-29 18:00\") or RFC 3339 (2026-05-29T18:00:00Z)"
        );
    };
    i64::try_from(ts.as_nanosecond()).map_err(|_| anyhow::anyhow!("--as-of {s:?} is out of range"))
}

/// `2026-05-29 18:00:00 Europe/Paris`: a moment in a stated zone.
pub fn in_zone(unix_ns: i64, tz: &TimeZone) -> String {
    Timestamp::from_nanosecond(i128::from(unix_ns))
        .map(|t| {
            format!(
                "{} {}",
                t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S"),
                zone_name(tz)
            )
        })
        .unwrap_or_else(|_| unix_ns.to_string())
}
