//! Retention: which snapshots to forget (a pure plan) and forgetting them.
//!
//! [`plan`] groups the snapshots (by host, tags and/or paths, restic's
//! default being host and paths), applies the [`policy::Policy`] to each
//! group and then the insurance rule: a snapshot tagged [`INSURANCE_TAG`]
//! younger than its minimum age is kept whatever the policy says. The plan
//! lists every snapshot with its decision and the rules behind it, so a dry
//! run shows exactly what a real one does. [`execute`] deletes the snapshot
//! objects of the forgotten ones; their data goes at the next prune.

pub mod policy;
pub mod span;
pub mod tiers;

use crate::error::{Error, Result};
use crate::format::layout;
use crate::format::snapshot::SnapshotEntry;
use crate::id::SnapshotId;
use crate::repo::Repository;
use jiff::tz::TimeZone;
pub use policy::{Count, Policy};
pub use span::Span;

/// Snapshots taken before a destructive operation carry this tag.
pub const INSURANCE_TAG: &str = "insurance";

/// What snapshots are grouped by before the policy is applied to each group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupBy {
    pub host: bool,
    pub tags: bool,
    pub paths: bool,
}

impl Default for GroupBy {
    /// restic's default: host and paths.
    fn default() -> Self {
        Self {
            host: true,
            tags: false,
            paths: true,
        }
    }
}

impl GroupBy {
    /// `host,tags,paths` in any combination; empty means one group.
    pub fn parse(s: &str) -> Result<Self> {
        let mut g = GroupBy {
            host: false,
            tags: false,
            paths: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "tags" => g.tags = true,
                "paths" => g.paths = true,
                other => {
                    return Err(Error::InvalidInput(format!(
                        "cannot group by {other:?}: use host, tags and/or paths, comma-separated (or '' for one group)"
                    )));
                }
            }
        }
        Ok(g)
    }
}

/// The values a group shares (only the grouped-by fields are set).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct GroupKey {
    pub host: Option<String>,
    pub tags: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub struct ForgetOptions {
    pub policy: Policy,
    pub group_by: GroupBy,
    /// Calendar buckets and durations are read in this zone.
    pub tz: TimeZone,
    /// Snapshots tagged `insurance` younger than this (by the clock) are never forgotten.
    pub insurance_min_age_ns: i64,
}

/// One snapshot in a plan.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub entry: SnapshotEntry,
    pub keep: bool,
    /// The rules that keep it; empty when it goes.
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub key: GroupKey,
    /// Newest first.
    pub snapshots: Vec<Verdict>,
}

#[derive(Clone, Debug, Default)]
pub struct ForgetPlan {
    pub groups: Vec<Group>,
}

impl ForgetPlan {
    pub fn forgotten(&self) -> impl Iterator<Item = &SnapshotEntry> {
        self.groups
            .iter()
            .flat_map(|g| &g.snapshots)
            .filter(|v| !v.keep)
            .map(|v| &v.entry)
    }
}

fn key_of(s: &SnapshotEntry, by: GroupBy) -> GroupKey {
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    GroupKey {
        host: by.host.then(|| s.snapshot.host.clone()),
        tags: by.tags.then(|| sorted(&s.snapshot.tags)),
        paths: by.paths.then(|| sorted(&s.snapshot.paths)),
    }
}

/// Is `s` an insurance snapshot still under its minimum age at `now_ns`?
pub fn is_insured(s: &SnapshotEntry, min_age_ns: i64, now_ns: i64) -> bool {
    s.snapshot.tags.iter().any(|t| t == INSURANCE_TAG)
        && now_ns.saturating_sub(s.snapshot.time_unix_ns) < min_age_ns
}

/// Decides, for every snapshot given, whether it stays and why. Pure.
pub fn plan(snapshots: Vec<SnapshotEntry>, opts: &ForgetOptions, now_ns: i64) -> ForgetPlan {
    let mut groups: std::collections::BTreeMap<GroupKey, Vec<SnapshotEntry>> = Default::default();
    for s in snapshots {
        groups.entry(key_of(&s, opts.group_by)).or_default().push(s);
    }
    let insurance = format!(
        "insurance (younger than {})",
        age(opts.insurance_min_age_ns)
    );
    let groups = groups
        .into_iter()
        .map(|(key, members)| {
            let decisions = policy::apply(&members, &opts.policy, &opts.tz, now_ns);
            let snapshots = decisions
                .into_iter()
                .map(|d| {
                    let entry = members[d.index].clone();
                    let mut reasons = d.reasons;
                    if is_insured(&entry, opts.insurance_min_age_ns, now_ns) {
                        reasons.push(insurance.clone());
                    }
                    Verdict {
                        keep: !reasons.is_empty(),
                        entry,
                        reasons,
                    }
                })
                .collect();
            Group { key, snapshots }
        })
        .collect();
    ForgetPlan { groups }
}

/// `7d`, `36h`, `90m`: a minimum age for messages.
pub fn age(ns: i64) -> String {
    let secs = ns / 1_000_000_000;
    if secs % 86_400 == 0 && secs != 0 {
        format!("{}d", secs / 86_400)
    } else if secs % 3_600 == 0 && secs != 0 {
        format!("{}h", secs / 3_600)
    } else {
        format!("{}s", secs)
    }
}

/// Refuses to forget insured snapshots named explicitly, unless `force`.
pub fn check_explicit(
    chosen: &[SnapshotEntry],
    min_age_ns: i64,
    now_ns: i64,
    force: bool,
) -> Result<()> {
    if force {
        return Ok(());
    }
    let insured: Vec<String> = chosen
        .iter()
        .filter(|s| is_insured(s, min_age_ns, now_ns))
        .map(|s| s.id.short())
        .collect();
    if insured.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "snapshot(s) {} are tagged {INSURANCE_TAG} and younger than {}: they are kept until then \
         (add --force-insurance to forget them anyway)",
        insured.join(", "),
        age(min_age_ns)
    )))
}

/// Snapshot deletes in flight at once.
const CONCURRENT_DELETES: usize = 16;

/// Deletes the snapshot objects, several at a time (a snapshot is a leaf
/// nothing names, so the order does not matter). Data stays until the next
/// prune.
pub fn execute(repo: &Repository, ids: &[SnapshotId]) -> Result<usize> {
    let names: Vec<String> = ids.iter().map(layout::snapshot).collect();
    for r in repo.backend().delete_many(&names, CONCURRENT_DELETES) {
        r?;
    }
    Ok(ids.len())
}
