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

pub use execute::{Fault, PruneReport, STEPS};
pub use mark::{LiveSet, mark};
pub use plan::{CondemnPlan, FinishPlan, PackUse, PrunePlan};
pub(crate) use protocol::write_record;
pub use protocol::{Pending, avoid_condemned, pending};

use crate::error::Result;
use crate::format::index::IndexedPack;
use crate::format::lock::LockKind;
use crate::id::CondemnedId;
use crate::lock::LockOptions;
use crate::progress::Progress;
use crate::repo::{Repository, unix_ns};
use serde::Serialize;
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

impl Default for PruneOptions {
    fn default() -> Self {
        Self {
            max_unused: 0.05,
            grace: Duration::from_secs(3600),
            clock_margin: Duration::from_secs(5 * 60),
            lock: LockOptions::default(),
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
    /// Bytes of packs deleted by all rounds.
    pub fn bytes_deleted(&self) -> u64 {
        self.report.bytes_deleted + self.second.as_ref().map_or(0, |s| s.bytes_deleted())
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
        execute::execute(repo, held, plan, opts, progress)
    })
}

/// Plan and execute under one lock; with a zero grace period a second round
/// finishes (phase 2) the record the first wrote.
pub fn run(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneOutcome> {
    crate::lock::hold(repo, LockKind::Prune, &opts.lock, |held| {
        let plan = plan_locked(repo, opts, progress)?;
        let report = execute::execute(repo, held, &plan, opts, progress)?;
        let second = if report.record_written.is_some() && opts.grace.is_zero() {
            let plan = plan_locked(repo, opts, progress)?;
            let report = execute::execute(repo, held, &plan, opts, progress)?;
            Some(Box::new(PruneOutcome {
                plan,
                report,
                second: None,
            }))
        } else {
            None
        };
        Ok(PruneOutcome {
            plan,
            report,
            second,
        })
    })
}

fn plan_locked(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PrunePlan> {
    progress.phase("plan", None);
    let pending = protocol::pending(repo)?;
    let now = SystemTime::now();
    let locks = crate::lock::list(repo, now, &opts.lock)?;
    let (eligible, waiting) = plan::eligible(&pending, &locks, opts, now);
    // Marking starts with this listing: execute compares against it.
    let mark_started = SystemTime::now();
    let mut snapshots = repo.snapshots()?;
    snapshots.retain(|s| !opts.assume_forgotten.contains(&s.id));
    // Index files listed after the snapshots: every blob a listed snapshot
    // references is then known (writers store the index first).
    repo.resync_index()?;
    let live = mark::mark(repo, &snapshots, progress)?;
    let index_files = plan::load_index_files(repo)?;
    let listing = plan::pack_listing(repo)?;
    let mut finish = plan::finish(&eligible, &index_files, &listing, &live);
    finish.waiting = waiting;
    let condemn = plan::condemn(&pending, &index_files, &listing, &live, opts)?;
    Ok(PrunePlan {
        snapshots: snapshots.len(),
        live_blobs: live.len(),
        mark_started_unix_ns: unix_ns(mark_started),
        marked: snapshots.iter().map(|s| s.id).collect(),
        pending_seen: pending.iter().map(|p| p.id).collect(),
        finish,
        condemn,
    })
}
