//! `du --keep-*`: the retention policy `du` audits, built with `forget`'s
//! engine (`coffer_store::retention`, restic's rules), so what `du` says a
//! policy frees is what `coffer forget` with the same flags would forget.

use crate::args_du::DuPolicyArgs;
use anyhow::{Result, bail};
use coffer_store::retention::{Count, ForgetOptions, GroupBy, Policy, Span};
use jiff::tz::TimeZone;

/// `forget`'s default: insurance snapshots younger than this are kept.
const INSURANCE_MIN_AGE_NS: i64 = 7 * 86_400 * 1_000_000_000;

pub struct DuPolicy {
    pub opts: ForgetOptions,
    /// The flags as given, for headings (`--keep-daily 30 --keep-monthly 12`).
    pub describe: String,
}

fn count(flag: &str, v: Option<i64>) -> Result<Count> {
    Ok(match v {
        None | Some(0) => Count::Off,
        Some(-1) => Count::All,
        Some(n) if n > 0 => Count::Newest(u32::try_from(n)?),
        Some(n) => bail!("--{flag} {n}: give a positive count, or -1 for all"),
    })
}

/// `None` when no `--keep-*` flag is given: then `du` audits no policy.
pub fn from_args(a: &DuPolicyArgs) -> Result<Option<DuPolicy>> {
    let counts = [
        ("keep-last", a.keep_last),
        ("keep-hourly", a.keep_hourly),
        ("keep-daily", a.keep_daily),
        ("keep-weekly", a.keep_weekly),
        ("keep-monthly", a.keep_monthly),
        ("keep-yearly", a.keep_yearly),
    ];
    let mut describe: Vec<String> = counts
        .iter()
        .filter_map(|(f, v)| v.map(|n| format!("--{f} {n}")))
        .collect();
    if let Some(w) = &a.keep_within {
        describe.push(format!("--keep-within {w}"));
    }
    for t in &a.keep_tags {
        describe.push(format!("--keep-tag {t}"));
    }
    if describe.is_empty() {
        return Ok(None);
    }
    let policy = Policy {
        last: count(counts[0].0, counts[0].1)?,
        hourly: count(counts[1].0, counts[1].1)?,
        daily: count(counts[2].0, counts[2].1)?,
        weekly: count(counts[3].0, counts[3].1)?,
        monthly: count(counts[4].0, counts[4].1)?,
        yearly: count(counts[5].0, counts[5].1)?,
        within: a.keep_within.as_deref().map(Span::parse).transpose()?,
        tags: a
            .keep_tags
            .iter()
            .map(|t| t.split(',').map(String::from).collect())
            .collect(),
        ..Policy::default()
    };
    let tz = TimeZone::get(&a.tz).map_err(|e| {
        anyhow::anyhow!(
            "--tz {}: unknown time zone ({e}); use an IANA name like Europe/Zurich or UTC",
            a.tz
        )
    })?;
    if a.group_by != "host,paths" {
        describe.push(format!("--group-by {:?}", a.group_by));
    }
    Ok(Some(DuPolicy {
        opts: ForgetOptions {
            policy,
            group_by: GroupBy::parse(&a.group_by)?,
            tz,
            insurance_min_age_ns: INSURANCE_MIN_AGE_NS,
        },
        describe: describe.join(" "),
    }))
}
