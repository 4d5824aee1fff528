//! Cost audit (`coffer du`): what the repository, each snapshot and each group
//! of snapshots costs in stored bytes, and what forgetting snapshots would free.
//!
//! Every figure counts **stored bytes** from the index (a blob's sealed length
//! in its pack: compressed, encrypted, 41 bytes of framing), each distinct blob
//! once, tree blobs included. Definitions (README, "Cost audit"):
//!
//! - *referenced* by a snapshot: the blobs it reaches;
//! - *added*: blobs no earlier snapshot (by time) references, i.e. what taking
//!   it cost given every other snapshot kept;
//! - *exclusive*: blobs no other snapshot references, i.e. what forgetting it
//!   alone would free; *shared* = referenced - exclusive;
//! - *fair share*: each blob's bytes split equally among the snapshots (or, for
//!   groups, the groups) referencing it, remainders one byte at a time to the
//!   earliest in order, so shares add up exactly to the repository's total.
//!
//! The walk reads each distinct tree once and keeps chunk ids on disk (see
//! [`walk`]); cost is linear in the repository's trees, not snapshots × chunks.

mod owners;
mod paths;
mod projection;
mod scratch;
mod tally;
mod tiers;
mod walk;

pub use paths::{PathUsage, by_path};
pub use projection::{CostModel, Projection, ProjectionPoint, project};
pub use tiers::{FORGOTTEN, TierUsage, by_tier, kept_of_daily};

use crate::error::Result;
use crate::format::layout;
use crate::format::snapshot::SnapshotEntry;
use crate::id::{PackId, SnapshotId};
use crate::progress::Progress;
use crate::repo::Repository;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use tally::{SnapshotTally, totals};
use walk::Root;

/// What to compute besides the per-snapshot figures.
#[derive(Clone, Debug, Default)]
pub struct UsageOptions {
    /// A group label for each snapshot given (same order): per-group figures.
    pub groups: Option<Vec<String>>,
    /// Snapshots a forget would remove: what that frees.
    pub forget: Option<HashSet<SnapshotId>>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RepositoryUsage {
    pub snapshots: u64,
    /// Bytes of all files of all snapshots, before any deduplication.
    pub logical_bytes: u64,
    /// Distinct blobs the snapshots reference.
    pub referenced_blobs: u64,
    /// Their raw bytes: after deduplication, before compression.
    pub deduplicated_bytes: u64,
    /// Their stored bytes: after compression and encryption.
    pub stored_bytes: u64,
    /// Stored bytes of pack objects the index lists.
    pub pack_bytes: u64,
    pub packs: u64,
    /// Pack bytes that are no blob the index places there: trailers, footers,
    /// and second copies of a blob two backups stored at once.
    pub pack_overhead_bytes: u64,
    /// Blobs the index lists that no snapshot references (prune removes them).
    pub unused_blobs: u64,
    pub unused_bytes: u64,
    /// Packs no index file lists (left by interrupted backups).
    pub unindexed_packs: u64,
    pub unindexed_pack_bytes: u64,
    /// Referenced blobs no index lists (damage: `check` says which snapshots).
    pub missing_blobs: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SnapshotUsage {
    pub id: SnapshotId,
    pub time_unix_ns: i64,
    pub host: String,
    pub tags: Vec<String>,
    pub group: Option<String>,
    pub logical_bytes: u64,
    pub referenced_bytes: u64,
    pub added_bytes: u64,
    pub exclusive_bytes: u64,
    pub shared_bytes: u64,
    pub fair_share_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupUsage {
    pub group: String,
    pub snapshots: u64,
    pub logical_bytes: u64,
    /// Distinct blobs any of its snapshots reference.
    pub referenced_bytes: u64,
    /// Referenced by no other group: freed if all its snapshots were forgotten.
    pub exclusive_bytes: u64,
    pub shared_bytes: u64,
    /// Exclusive bytes plus an equal part of each blob shared with other groups.
    pub fair_share_bytes: u64,
    /// Sum of its snapshots' added bytes.
    pub added_bytes: u64,
}

/// What forgetting a set of snapshots frees, before and after prune repacks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ForgetCost {
    pub snapshots_forgotten: u64,
    pub snapshots_kept: u64,
    /// Blobs referenced only by forgotten snapshots.
    pub freed_blobs: u64,
    pub freed_bytes: u64,
    /// Blobs already unused now: prune removes them too.
    pub unused_bytes: u64,
    /// Packs left with no referenced blob: deleted whole (trailers included).
    pub packs_emptied: u64,
    pub packs_emptied_bytes: u64,
    /// Unreferenced bytes left in packs that keep some referenced blobs:
    /// freed only if prune rewrites those packs.
    pub bytes_in_mixed_packs: u64,
    /// Stored bytes the kept snapshots reference.
    pub stored_bytes_after: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct UsageReport {
    pub repository: RepositoryUsage,
    /// In time order, as given.
    pub snapshots: Vec<SnapshotUsage>,
    /// Sorted by group label.
    pub groups: Vec<GroupUsage>,
    pub forget: Option<ForgetCost>,
}

/// Labels snapshots by the value of tag `key=...` (`(no key tag)` without one).
pub fn labels_by_tag(snapshots: &[SnapshotEntry], key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    snapshots
        .iter()
        .map(|s| {
            s.snapshot
                .tags
                .iter()
                .find_map(|t| t.strip_prefix(&prefix).map(str::to_string))
                .unwrap_or_else(|| format!("(no {key} tag)"))
        })
        .collect()
}

/// Labels snapshots by host.
pub fn labels_by_host(snapshots: &[SnapshotEntry]) -> Vec<String> {
    snapshots.iter().map(|s| s.snapshot.host.clone()).collect()
}

/// Audits `snapshots`, which must be every snapshot of the repository (what is
/// exclusive depends on all of them), oldest first.
pub fn analyze(
    repo: &Repository,
    snapshots: &[SnapshotEntry],
    opts: &UsageOptions,
    progress: &dyn Progress,
) -> Result<UsageReport> {
    let n = snapshots.len();
    // Owner order: by group, then series (host, paths), then time, so that a
    // blob's owners form few runs and each group is one range.
    let label = |i: usize| opts.groups.as_ref().map_or("", |g| g[i].as_str());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&snapshots[a].snapshot, &snapshots[b].snapshot);
        (label(a), &x.host, &x.paths, a).cmp(&(label(b), &y.host, &y.paths, b))
    });
    let mut group_names: Vec<String> = Vec::new();
    let group_of: Vec<u32> = match &opts.groups {
        None => Vec::new(),
        Some(_) => order
            .iter()
            .map(|&i| {
                if group_names.last().map(String::as_str) != Some(label(i)) {
                    group_names.push(label(i).to_string());
                }
                u32::try_from(group_names.len() - 1).unwrap_or(u32::MAX)
            })
            .collect(),
    };
    let rank: Vec<u64> = order.iter().map(|&i| i as u64).collect();
    let forget = opts.forget.as_ref().map(|f| {
        order
            .iter()
            .map(|&i| f.contains(&snapshots[i].id))
            .collect::<Vec<bool>>()
    });
    let mut tally = SnapshotTally::new(rank, group_of.clone(), forget);
    let roots: Vec<Root> = order
        .iter()
        .map(|&i| Root::Tree(snapshots[i].snapshot.root))
        .collect();
    let logical = walk::run(repo, &roots, progress, &mut tally)?;
    let n_owners = tally.owners();
    let referenced = totals(&tally.referenced_diff, n_owners);
    let fair = totals(&tally.fair_diff, n_owners);

    let mut per: Vec<Option<SnapshotUsage>> = vec![None; n];
    for (pos, &i) in order.iter().enumerate() {
        let e = &snapshots[i];
        per[i] = Some(SnapshotUsage {
            id: e.id,
            time_unix_ns: e.snapshot.time_unix_ns,
            host: e.snapshot.host.clone(),
            tags: e.snapshot.tags.clone(),
            group: opts.groups.as_ref().map(|g| g[i].clone()),
            logical_bytes: logical[pos],
            referenced_bytes: referenced[pos],
            added_bytes: tally.added[pos],
            exclusive_bytes: tally.exclusive[pos],
            shared_bytes: referenced[pos] - tally.exclusive[pos],
            fair_share_bytes: fair[pos],
        });
    }
    let per: Vec<SnapshotUsage> = per.into_iter().flatten().collect();

    let groups = group_names
        .iter()
        .enumerate()
        .map(|(g, name)| {
            let members = order
                .iter()
                .enumerate()
                .filter(|(pos, _)| group_of[*pos] as usize == g);
            let (mut count, mut logical_sum, mut added) = (0, 0, 0);
            for (pos, _) in members {
                count += 1;
                logical_sum += logical[pos];
                added += tally.added[pos];
            }
            GroupUsage {
                group: name.clone(),
                snapshots: count,
                logical_bytes: logical_sum,
                referenced_bytes: tally.group_referenced[g],
                exclusive_bytes: tally.group_exclusive[g],
                shared_bytes: tally.group_referenced[g] - tally.group_exclusive[g],
                fair_share_bytes: tally.group_fair[g],
                added_bytes: added,
            }
        })
        .collect();

    let repository = repository_totals(repo, &tally, n, logical.iter().sum())?;
    let forget = opts
        .forget
        .as_ref()
        .map(|f| forget_cost(repo, &tally, f, snapshots))
        .transpose()?;
    Ok(UsageReport {
        repository,
        snapshots: per,
        groups,
        forget,
    })
}

fn pack_sizes(repo: &Repository) -> Result<HashMap<PackId, u64>> {
    Ok(repo
        .backend()
        .list(layout::DATA)?
        .into_iter()
        .filter_map(|(name, size)| layout::id_from_name(&name).map(|id| (PackId(id), size)))
        .collect())
}

fn repository_totals(
    repo: &Repository,
    t: &SnapshotTally,
    snapshots: usize,
    logical: u64,
) -> Result<RepositoryUsage> {
    let sizes = pack_sizes(repo)?;
    let mut r = RepositoryUsage {
        snapshots: snapshots as u64,
        logical_bytes: logical,
        referenced_blobs: t.referenced_blobs,
        deduplicated_bytes: t.raw_bytes,
        stored_bytes: t.stored_bytes,
        unused_blobs: t.unused_blobs,
        unused_bytes: t.unused_bytes,
        missing_blobs: t.missing_blobs,
        ..RepositoryUsage::default()
    };
    for (id, size) in &sizes {
        match t.packs.get(id) {
            Some(p) => {
                r.packs += 1;
                r.pack_bytes += size;
                r.pack_overhead_bytes += size.saturating_sub(p.indexed);
            }
            None => {
                r.unindexed_packs += 1;
                r.unindexed_pack_bytes += size;
            }
        }
    }
    Ok(r)
}

fn forget_cost(
    repo: &Repository,
    t: &SnapshotTally,
    forget: &HashSet<SnapshotId>,
    snapshots: &[SnapshotEntry],
) -> Result<ForgetCost> {
    let sizes = pack_sizes(repo)?;
    let forgotten = snapshots.iter().filter(|s| forget.contains(&s.id)).count() as u64;
    let mut c = ForgetCost {
        snapshots_forgotten: forgotten,
        snapshots_kept: snapshots.len() as u64 - forgotten,
        freed_blobs: t.freed_blobs,
        freed_bytes: t.freed_bytes,
        unused_bytes: t.unused_bytes,
        stored_bytes_after: t.stored_bytes - t.freed_bytes,
        ..ForgetCost::default()
    };
    for (id, p) in &t.packs {
        if p.live_after == 0 {
            c.packs_emptied += 1;
            c.packs_emptied_bytes += sizes.get(id).copied().unwrap_or(p.indexed);
        } else {
            c.bytes_in_mixed_packs += p.indexed - p.live_after;
        }
    }
    Ok(c)
}

/// One period of the growth timeline.
#[derive(Clone, Debug, Serialize)]
pub struct TimelinePoint {
    pub period: String,
    pub snapshots: u64,
    /// Stored bytes added by the period's snapshots.
    pub added_bytes: u64,
    /// Stored bytes referenced by every snapshot up to the period's end.
    pub stored_bytes: u64,
    /// Logical bytes of every snapshot up to the period's end.
    pub logical_bytes: u64,
}

/// Growth per period: `period_of` names the period of a snapshot time (e.g.
/// `2026-05` for monthly). Snapshots are in time order, so periods are too.
pub fn timeline(report: &UsageReport, period_of: impl Fn(i64) -> String) -> Vec<TimelinePoint> {
    let mut out: Vec<TimelinePoint> = Vec::new();
    let (mut stored, mut logical) = (0u64, 0u64);
    for s in &report.snapshots {
        let p = period_of(s.time_unix_ns);
        stored += s.added_bytes;
        logical += s.logical_bytes;
        if out.last().map(|l| &l.period) != Some(&p) {
            out.push(TimelinePoint {
                period: p,
                snapshots: 0,
                added_bytes: 0,
                stored_bytes: 0,
                logical_bytes: 0,
            });
        }
        if let Some(l) = out.last_mut() {
            l.snapshots += 1;
            l.added_bytes += s.added_bytes;
            l.stored_bytes = stored;
            l.logical_bytes = logical;
        }
    }
    out
}
