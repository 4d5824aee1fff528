//! Prune: delete what no snapshot uses, safely while backups run.
//!
//! Two phases (FORMAT.md, "Deleting packs and index files"):
//!
//! - **Phase 1** only adds: live blobs of half-empty packs are copied into new
//!   packs, new index files list every surviving pack, and then one
//!   `condemned/<id>` record names the packs and index files to delete.
//! - **Phase 2**, in a later run (or the same one with a zero grace period),
//!   once the grace period is over and no backup that started before the
//!   record runs: everything is marked again, condemned packs a new snapshot
//!   still needs are rescued, and the rest is deleted: index files, then
//!   packs, then the record.
//!
//! Public API, a plan and an execute step (restic's `PlanPrune` /
//! `PrunePlan.Execute`):
//!
//! ```no_run
//! # fn f(repo: &coffer_store::Repository) -> coffer_store::Result<()> {
//! use coffer_store::prune::{self, PruneOptions};
//! use coffer_store::progress::NoProgress;
//! let opts = PruneOptions::default(); // 5% max unused, 1 hour grace
//! let plan = prune::plan(repo, &opts, &NoProgress)?;      // changes nothing (a dry run)
//! let report = prune::execute(repo, &plan, &opts, &NoProgress)?;
//! // or both, and phase 2 at once when the grace period is zero:
//! let outcome = prune::run(repo, &opts, &NoProgress)?;
//! # Ok(()) }
//! ```

mod execute;
mod mark;
mod plan;
mod protocol;

pub use execute::{Fault, PruneReport, STEPS, UNFINISHED_WRITE_AGE};
pub use mark::{LiveSet, mark};
pub use plan::{CondemnPlan, FinishPlan, PackUse, PrunePlan};
pub(crate) use protocol::write_record;
pub use protocol::{Pending, avoid_condemned, pending};

use crate::error::Result;
use crate::format::index::IndexedPack;
use crate::format::lock::LockKind;
use crate::id::{CondemnedId, PackId};
use crate::lock::LockOptions;
use crate::progress::Progress;
use crate::repo::{Repository, unix_ns};
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug)]
pub struct PruneOptions {
    /// A pack whose unused share of blob bytes is above this (0.05 = 5%) is repacked.
    pub max_unused: f64,
    /// How long a condemned record waits before phase 2 may delete what it names.
    pub grace: Duration,
    /// Allowed clock difference between machines: a backup lock created up to
    /// this long after a record still holds the record back.
    pub clock_margin: Duration,
    pub lock: LockOptions,
    /// Test hook: fail (or abort the process) at one step of execute.
    pub fault: Option<Fault>,
    /// Snapshots a plan treats as already forgotten (`forget --prune
    /// --dry-run` shows what prune would do after the forget).
    pub assume_forgotten: Vec<crate::id::SnapshotId>,
}

/// How long a prune waits for another prune lock to go: the compaction that
/// may end a backup holds one for seconds, and a nightly prune meeting it
/// should not fail. A real second prune still makes it give up after this.
pub const DEFAULT_RETRY_LOCK: Duration = Duration::from_secs(120);

impl Default for PruneOptions {
    fn default() -> Self {
        Self {
            max_unused: 0.05,
            grace: Duration::from_secs(3600),
            clock_margin: Duration::from_secs(5 * 60),
            lock: LockOptions {
                retry_for: DEFAULT_RETRY_LOCK,
                ..LockOptions::default()
            },
            fault: None,
            assume_forgotten: Vec::new(),
        }
    }
}

/// A condemned record phase 2 leaves for later, and why.
#[derive(Clone, Debug, Serialize)]
pub struct RecordWait {
    pub record: CondemnedId,
    pub created_unix_ns: i64,
    pub reason: String,
}

/// Plan and execute of one run; `second` is phase 2 of the record the first
/// round wrote, when the grace period allowed it at once.
#[derive(Clone, Debug, Serialize)]
pub struct PruneOutcome {
    pub plan: PrunePlan,
    pub report: PruneReport,
    pub second: Option<Box<PruneOutcome>>,
}

impl PruneOutcome {
    /// Bytes of packs (and of unfinished writes) deleted by all rounds.
    pub fn bytes_deleted(&self) -> u64 {
        self.report.bytes_deleted
            + self.report.unfinished_bytes_removed
            + self.second.as_ref().map_or(0, |s| s.bytes_deleted())
    }
}

fn pack_ids<S: serde::Serializer>(
    packs: &[IndexedPack],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(packs.len()))?;
    for p in packs {
        seq.serialize_element(&p.pack)?;
    }
    seq.end()
}

/// Computes what a prune would do now, under a prune lock. Changes nothing.
pub fn plan(repo: &Repository, opts: &PruneOptions, progress: &dyn Progress) -> Result<PrunePlan> {
    crate::lock::hold(repo, LockKind::Prune, &opts.lock, |_| {
        plan_locked(repo, opts, progress)
    })
}

/// Carries out a plan under a prune lock: phase 2 of the eligible records
/// (unless a check made just before deleting defers it), then phase 1.
pub fn execute(
    repo: &Repository,
    plan: &PrunePlan,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    crate::lock::hold(repo, LockKind::Prune, &opts.lock, |held| {
        let report = execute::execute(repo, held, plan, opts, progress)?;
        repo.resync_index()?;
        Ok(report)
    })
}

/// Plan and execute under one lock; with a zero grace period a second round
/// finishes (phase 2) the record the first wrote.
///
/// The second round reuses the first round's mark instead of marking again
/// (FORMAT.md section 14.3, "Phase 2 in the run that wrote the record"): its
/// checks then compare against the first mark's time and snapshot list, so a
/// backup that ran meanwhile defers the deletion to the next prune.
pub fn run(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneOutcome> {
    crate::lock::hold(repo, LockKind::Prune, &opts.lock, |held| {
        let start = begin(repo, opts, progress)?;
        let files = plan::load_index_files(repo)?;
        let mut live = mark::mark(repo, &files, &start.snapshots, progress)?;
        let listing = plan::pack_listing(repo)?;
        let mut plan = assemble(opts, start, &mut live, &listing)?;
        let report = execute::execute(repo, held, &plan, opts, progress)?;
        let second_plan = if report.record_written.is_some() && opts.grace.is_zero() {
            // The packs phase 2 may delete were all listed before phase 1
            // (records name listed packs); those deleted since are left out.
            let mut listing = listing;
            if report.deferred.is_none() {
                for (pack, _) in &plan.finish.delete_packs {
                    listing.remove(pack);
                }
            }
            Some(finish_with_mark(
                repo,
                opts,
                &plan,
                &report.index_files_stored,
                &mut live,
                &listing,
                progress,
            )?)
        } else {
            None
        };
        // The index files, the mark and the plan's blob lists are let go of
        // before the local cache is synced (holding them through the sync
        // was prune's peak of memory).
        drop(live);
        drop(files);
        plan.condemn.forget_blob_lists();
        // One sync of the cache (it rebuilds the cache when phase 2 deleted
        // index files): while phase 2 deletes packs, or now.
        let mut cache_synced = false;
        let second = match second_plan {
            Some(plan) => {
                let (report, synced) =
                    execute::execute_syncing(repo, held, &plan, opts, progress, true)?;
                cache_synced = synced;
                Some(Box::new(PruneOutcome {
                    plan,
                    report,
                    second: None,
                }))
            }
            None => None,
        };
        if !cache_synced {
            repo.resync_index()?;
        }
        Ok(PruneOutcome {
            plan,
            report,
            second,
        })
    })
}

/// What a plan knows before it marks.
struct Start {
    pending: Vec<Pending>,
    eligible: Vec<Pending>,
    waiting: Vec<RecordWait>,
    mark_started: SystemTime,
    snapshots: Vec<crate::format::snapshot::SnapshotEntry>,
}

fn begin(repo: &Repository, opts: &PruneOptions, progress: &dyn Progress) -> Result<Start> {
    progress.phase("plan", None);
    let pending = protocol::pending(repo)?;
    let now = SystemTime::now();
    let locks = crate::lock::list(repo, now, &opts.lock)?;
    let (eligible, waiting) = plan::eligible(&pending, &locks, opts, now);
    // Marking starts with this listing: execute compares against it.
    let mark_started = SystemTime::now();
    let mut snapshots = repo.snapshots()?;
    snapshots.retain(|s| !opts.assume_forgotten.contains(&s.id));
    // Index files are read after the snapshots are listed: every blob a
    // listed snapshot references is then in them (writers store the index
    // first). The cache is synced for the tree reads.
    repo.resync_index()?;
    Ok(Start {
        pending,
        eligible,
        waiting,
        mark_started,
        snapshots,
    })
}

fn assemble(
    opts: &PruneOptions,
    start: Start,
    live: &mut LiveSet<'_>,
    listing: &HashMap<PackId, u64>,
) -> Result<PrunePlan> {
    let files = live.files();
    let borrowed: Vec<(crate::id::IndexId, &crate::format::index::IndexFile)> =
        files.iter().map(|(id, f)| (*id, f)).collect();
    let mut finish = plan::finish(&start.eligible, &borrowed, listing, live);
    finish.waiting = start.waiting;
    let condemn = plan::condemn(&start.pending, files, listing, live, opts)?;
    Ok(PrunePlan {
        snapshots: start.snapshots.len(),
        live_blobs: live.len(),
        mark_started_unix_ns: unix_ns(start.mark_started),
        marked: start.snapshots.iter().map(|s| s.id).collect(),
        pending_seen: start.pending.iter().map(|p| p.id).collect(),
        finish,
        condemn,
    })
}

/// Phase 2 of the records now due, against the mark `first` was planned
/// with. The index files are listed again (phase 1 and any backup since
/// wrote new ones); only those neither the mark read nor phase 1 stored
/// (`stored`) are fetched: phase 1's list the packs it wrote, holding the
/// blobs of the plan's copy lists, and the plan's carried packs, which cover
/// what they list without being read back (reading them beside the mark's
/// was phase 2's peak of memory). `listing` is the pack listing phase 1 was
/// planned with, less the packs it deleted: every pack a record names was
/// listed before the record was written.
fn finish_with_mark(
    repo: &Repository,
    opts: &PruneOptions,
    first: &PrunePlan,
    stored_by_first: &[crate::id::IndexId],
    live: &mut LiveSet<'_>,
    listing: &HashMap<PackId, u64>,
    progress: &dyn Progress,
) -> Result<PrunePlan> {
    progress.phase("plan", None);
    let pending = protocol::pending(repo)?;
    let now = SystemTime::now();
    let locks = crate::lock::list(repo, now, &opts.lock)?;
    let (eligible, waiting) = plan::eligible(&pending, &locks, opts, now);
    let read: std::collections::HashMap<crate::id::IndexId, &crate::format::index::IndexFile> =
        live.files().iter().map(|(id, f)| (*id, f)).collect();
    let stored = plan::list_index_files(repo)?;
    // Only when every one is there (none can have gone: their packs are
    // not condemned; if one did, all are read as any other).
    let known = stored_by_first.iter().all(|id| stored.contains(id));
    let fresh = plan::fetch_index_files(
        repo,
        stored
            .iter()
            .filter(|id| !(read.contains_key(id) || known && stored_by_first.contains(id)))
            .copied()
            .collect(),
    )?;
    live.clear_claims();
    let mut listed_elsewhere = std::collections::HashSet::new();
    if known {
        for p in &first.condemn.carried {
            listed_elsewhere.insert(p.pack);
            p.blobs.iter().for_each(|b| live.cover(&b.id));
        }
        for (_, blobs) in &first.condemn.copy {
            blobs.iter().for_each(|b| live.cover(&b.id));
        }
    }
    let mut files: Vec<(crate::id::IndexId, &crate::format::index::IndexFile)> = stored
        .iter()
        .filter_map(|id| read.get(id).map(|f| (*id, *f)))
        .chain(fresh.iter().map(|(id, f)| (*id, f)))
        .collect();
    files.sort_by_key(|(id, _)| *id);
    let mut finish = plan::finish_covering(&eligible, &files, listing, live, listed_elsewhere);
    finish.waiting = waiting;
    Ok(PrunePlan {
        snapshots: first.snapshots,
        live_blobs: first.live_blobs,
        mark_started_unix_ns: first.mark_started_unix_ns,
        marked: first.marked.clone(),
        pending_seen: pending.iter().map(|p| p.id).collect(),
        finish,
        condemn: CondemnPlan::default(),
    })
}

fn plan_locked(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PrunePlan> {
    let start = begin(repo, opts, progress)?;
    let files = plan::load_index_files(repo)?;
    let mut live = mark::mark(repo, &files, &start.snapshots, progress)?;
    let listing = plan::pack_listing(repo)?;
    assemble(opts, start, &mut live, &listing)
}
