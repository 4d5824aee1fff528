//! Today's bytes per retention tier: which snapshots each rule of a
//! [`ForgetPlan`] keeps, and what the snapshots of each tier cost.
//!
//! A kept snapshot is often kept by several rules (the newest one by `daily`,
//! `monthly` and `yearly` at once). For the byte figures each snapshot
//! counts in ONE tier: its most durable rule (in this order: `tags`, `yearly`,
//! `monthly`, `weekly`, `daily`, `hourly`, `last`, `within`, insurance), so a
//! tier's exclusive bytes are what would go if that rule were dropped and the
//! snapshots it alone holds were forgotten. Forgotten snapshots form the tier `forgotten`, whose
//! exclusive bytes are what the plan frees. How many snapshots each rule keeps,
//! counting overlaps, is given beside.

use super::{UsageOptions, UsageReport, analyze};
use crate::error::Result;
use crate::format::snapshot::{Snapshot, SnapshotEntry};
use crate::id::{BlobId, SnapshotId};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::retention::{self, ForgetOptions, ForgetPlan};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The label of forgotten snapshots.
pub const FORGOTTEN: &str = "forgotten";

#[derive(Clone, Debug, Serialize)]
pub struct TierUsage {
    /// The rule (`yearly`, `monthly`, `within 30d`, `tags a,b`, ...) or `forgotten`.
    pub tier: String,
    /// Snapshots the rule keeps, also those a more durable rule keeps too.
    pub snapshots_kept_by_rule: u64,
    /// Snapshots counted in this tier (this is their most durable rule).
    pub snapshots: u64,
    pub oldest_unix_ns: Option<i64>,
    pub newest_unix_ns: Option<i64>,
    /// Stored bytes the tier's snapshots reference.
    pub referenced_bytes: u64,
    /// Referenced by no snapshot of another tier.
    pub exclusive_bytes: u64,
    /// Each blob split equally among the tiers referencing it; adds up to the stored total.
    pub fair_share_bytes: u64,
}

/// How durable a rule is: a snapshot counts in its most durable rule's tier.
fn durability(reason: &str) -> u8 {
    let rule = reason.split_whitespace().next().unwrap_or("");
    match rule {
        "tags" => 9,
        "yearly" => 8,
        "monthly" => 7,
        "weekly" => 6,
        "daily" => 5,
        "hourly" => 4,
        "last" => 3,
        "within" => 2,
        _ => 1,
    }
}

/// The tier of one snapshot of the plan.
fn tier_of(reasons: &[String]) -> String {
    reasons
        .iter()
        .max_by_key(|r| durability(r))
        .cloned()
        .unwrap_or_else(|| FORGOTTEN.to_string())
}

/// Audits `snapshots` (every snapshot of the repository, oldest first) by the
/// tiers of `plan`, also computing what the plan frees. Snapshots the plan
/// does not mention (outside its `--host`/`--tag` filter) are the tier `not in
/// the plan`. Returns the tiers, most durable first, `forgotten` last, and the
/// whole audit (its groups are the tiers).
pub fn by_tier(
    repo: &Repository,
    snapshots: &[SnapshotEntry],
    plan: &ForgetPlan,
    progress: &dyn Progress,
) -> Result<(Vec<TierUsage>, UsageReport)> {
    let mut tier: HashMap<SnapshotId, String> = HashMap::new();
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    for v in plan.groups.iter().flat_map(|g| &g.snapshots) {
        tier.insert(v.entry.id, tier_of(&v.reasons));
        for r in &v.reasons {
            *by_rule.entry(r.clone()).or_default() += 1;
        }
    }
    let labels: Vec<String> = snapshots
        .iter()
        .map(|s| {
            tier.get(&s.id)
                .cloned()
                .unwrap_or_else(|| "not in the plan".to_string())
        })
        .collect();
    let forget: HashSet<SnapshotId> = plan.forgotten().map(|s| s.id).collect();
    let opts = UsageOptions {
        groups: Some(labels.clone()),
        forget: Some(forget),
    };
    let report = analyze(repo, snapshots, &opts, progress)?;
    let mut span: HashMap<&str, (i64, i64)> = HashMap::new();
    for (s, label) in snapshots.iter().zip(&labels) {
        let t = s.snapshot.time_unix_ns;
        let e = span.entry(label.as_str()).or_insert((t, t));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
    }
    let mut tiers: Vec<TierUsage> = report
        .groups
        .iter()
        .map(|g| TierUsage {
            tier: g.group.clone(),
            snapshots_kept_by_rule: by_rule.get(&g.group).copied().unwrap_or(0),
            snapshots: g.snapshots,
            oldest_unix_ns: span.get(g.group.as_str()).map(|s| s.0),
            newest_unix_ns: span.get(g.group.as_str()).map(|s| s.1),
            referenced_bytes: g.referenced_bytes,
            exclusive_bytes: g.exclusive_bytes,
            fair_share_bytes: g.fair_share_bytes,
        })
        .collect();
    // Rules that keep snapshots only ever counted in a more durable tier still show.
    for (rule, n) in &by_rule {
        if !tiers.iter().any(|t| &t.tier == rule) {
            tiers.push(TierUsage {
                tier: rule.clone(),
                snapshots_kept_by_rule: *n,
                snapshots: 0,
                oldest_unix_ns: None,
                newest_unix_ns: None,
                referenced_bytes: 0,
                exclusive_bytes: 0,
                fair_share_bytes: 0,
            });
        }
    }
    tiers.sort_by_key(|t| {
        let last = t.tier == FORGOTTEN || t.tier == "not in the plan";
        (last, std::cmp::Reverse(durability(&t.tier)), t.tier.clone())
    });
    Ok((tiers, report))
}

/// How many of `days` daily snapshots, the newest at `newest_ns`, the plan's
/// policy keeps: the same rules as [`retention::plan`] over a synthetic series
/// (one host, one path, no tags), for the projection.
pub fn kept_of_daily(opts: &ForgetOptions, newest_ns: i64, days: u64) -> u64 {
    const DAY_NS: i64 = 86_400_000_000_000;
    let n = i64::try_from(days).unwrap_or(i64::MAX);
    let series: Vec<SnapshotEntry> = (0..n)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            SnapshotEntry {
                id: SnapshotId(id),
                snapshot: Snapshot {
                    time_unix_ns: newest_ns - (n - 1 - i) * DAY_NS,
                    host: String::new(),
                    username: String::new(),
                    tags: Vec::new(),
                    paths: Vec::new(),
                    root: BlobId([0; 32]),
                    parent: None,
                    partial: false,
                    program: String::new(),
                    summary: Default::default(),
                    meta: Vec::new(),
                },
            }
        })
        .collect();
    let plan = retention::plan(series, opts, i64::MAX);
    plan.groups
        .iter()
        .flat_map(|g| &g.snapshots)
        .filter(|v| v.keep)
        .count() as u64
}
