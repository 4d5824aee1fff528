//! A profile's `[profile.NAME.retention."TAG"]` tables as store tiers: what
//! `coffer forget` applies when it is given no `--keep-*` rule.

use crate::config::{RetentionTier, Selected};
use anyhow::{Context, Result, bail};
use coffer_store::retention::tiers::Tier;
use coffer_store::retention::{Count, Policy, Span};

fn count(tier: &str, key: &str, v: Option<u32>) -> Result<Count> {
    Ok(match v {
        None => Count::Off,
        Some(0) => bail!(
            "retention tier {tier:?}: {key} = 0 keeps nothing; remove the key or give a count"
        ),
        Some(n) => Count::Newest(n),
    })
}

fn policy(selector: &str, t: &RetentionTier) -> Result<Policy> {
    Ok(Policy {
        last: count(selector, "keep-last", t.keep_last)?,
        hourly: count(selector, "keep-hourly", t.keep_hourly)?,
        daily: count(selector, "keep-daily", t.keep_daily)?,
        weekly: count(selector, "keep-weekly", t.keep_weekly)?,
        monthly: count(selector, "keep-monthly", t.keep_monthly)?,
        yearly: count(selector, "keep-yearly", t.keep_yearly)?,
        within: t
            .keep_within
            .as_deref()
            .map(Span::parse)
            .transpose()
            .with_context(|| format!("retention tier {selector:?}: keep-within"))?,
        ..Policy::default()
    })
}

/// The selected profile's tiers, in the file's (sorted) key order; empty
/// when there is no profile or it has no retention tables.
pub fn from_profile(selected: Option<&Selected>) -> Result<Vec<Tier>> {
    let Some(sel) = selected else {
        return Ok(Vec::new());
    };
    sel.profile
        .retention
        .iter()
        .map(|(selector, t)| {
            Ok(Tier {
                selector: selector.clone(),
                policy: policy(selector, t).with_context(|| {
                    format!("config file {}, profile {:?}", sel.file.display(), sel.name)
                })?,
            })
        })
        .collect()
}
