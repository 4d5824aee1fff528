//! Index compaction: many small index files superseded by a few merged ones
//! (FORMAT.md, "Index compaction").
//!
//! A nightly backup writes one small index file; after ten years a new
//! machine would GET 3,650 of them before reading a byte. Compaction merges
//! the small ones, under a `Prune` lock (so no prune rewrites or deletes an
//! index file meanwhile; backups are never blocked), in the order that keeps
//! every step a valid repository:
//!
//! 1. list `index/`; the candidates are the small files no condemned record
//!    names (those belong to a prune, or to an earlier compaction);
//! 2. read them and store merged index files listing the same packs
//!    (duplicates are allowed, so a crash here leaves only extra entries);
//! 3. store a condemned record naming the merged-away files and no pack;
//! 4. once that record is older than the grace period, delete the files,
//!    then the record (done by the next compaction, by prune's phase 2, or at
//!    once with a zero grace period).
//!
//! Index files written by a backup while this runs were not listed in step 1
//! and are left alone. A reader that listed `index/` before step 4 and then
//! finds a file gone lists again (the merged file is already there: step 2
//! came first), so it never loses an entry; that is what the grace period
//! protects for readers of builds that predate compaction, as kopia keeps
//! superseded index blobs for a safety margin before deleting them.

use crate::cache::open_index;
use crate::error::{Error, Result};
use crate::format::condemned::CondemnedRecord;
use crate::format::index::{IndexFile, IndexedPack};
use crate::format::layout;
use crate::format::lock::LockKind;
use crate::id::{CondemnedId, IndexId, PackId};
use crate::lock::{Held, LockOptions};
use crate::prune::{Pending, pending};
use crate::repo::{Repository, unix_ns};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

/// An index file smaller than this is a candidate for merging. A full file
/// (a long backup writes one every 100,000 blobs, ~5 MB) is left as it is.
pub const SMALL_INDEX_BYTES: u64 = 4 << 20;

/// Blobs per merged index file at most (about 14 MB sealed).
pub const MERGED_BLOBS: usize = 300_000;

/// Where to stop a compaction, for the fault-injection tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactStep {
    /// After the merged index files are stored, before the record.
    MergedWritten,
    /// After the condemned record, before anything is deleted.
    RecordWritten,
    /// After the first superseded index file is deleted.
    FirstDeleted,
}

#[derive(Clone, Debug)]
pub struct CompactOptions {
    /// Merge when more than this many small index files exist.
    pub max_small_files: usize,
    /// How long superseded index files stay before they are deleted.
    pub grace: Duration,
    pub lock: LockOptions,
    /// Test hook: fail with [`Error::InvalidInput`] at this step.
    pub fault: Option<CompactStep>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            max_small_files: 32,
            grace: Duration::from_secs(3600),
            lock: LockOptions::default(),
            fault: None,
        }
    }
}

/// What a compaction did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CompactReport {
    /// Small index files read and superseded by this run.
    pub merged: usize,
    /// Merged index files stored.
    pub written: Vec<IndexId>,
    /// The condemned record naming the superseded files.
    pub record: Option<CondemnedId>,
    /// Superseded index files deleted (this run's or earlier ones').
    pub deleted: usize,
    /// Earlier compaction records finished (their files deleted).
    pub records_finished: usize,
}

/// Compacts under a `Prune` lock; fails with [`Error::Locked`] when a prune
/// (or another compaction) runs.
pub fn compact(repo: &Repository, opts: &CompactOptions) -> Result<CompactReport> {
    crate::lock::hold(repo, LockKind::Prune, &opts.lock, |held| {
        compact_locked(repo, held, opts)
    })
}

/// Whether `index/` holds more small index files than compaction lets be
/// (one LIST).
pub fn is_due(repo: &Repository, opts: &CompactOptions) -> Result<bool> {
    let small = repo
        .backend()
        .list(layout::INDEX)?
        .iter()
        .filter(|(_, size)| *size < SMALL_INDEX_BYTES)
        .count();
    Ok(small > opts.max_small_files)
}

fn fault(opts: &CompactOptions, step: CompactStep) -> Result<()> {
    match opts.fault {
        Some(f) if f == step => Err(Error::InvalidInput(format!(
            "injected fault at compaction step {step:?}"
        ))),
        _ => Ok(()),
    }
}

fn compact_locked(
    repo: &Repository,
    held: &Held<'_>,
    opts: &CompactOptions,
) -> Result<CompactReport> {
    let mut report = CompactReport::default();
    let now = unix_ns(SystemTime::now());
    let grace = i64::try_from(opts.grace.as_nanos()).unwrap_or(i64::MAX);
    let records = pending(repo)?;
    // Earlier compactions' records (no packs) past their grace period.
    for p in records.iter().filter(|p| is_compaction(p)) {
        if now.saturating_sub(p.record.created_unix_ns) >= grace {
            report.deleted += finish(repo, held, p, opts)?;
            report.records_finished += 1;
        }
    }
    let claimed: HashSet<IndexId> = records
        .iter()
        .flat_map(|p| p.record.index_files.iter().copied())
        .collect();
    let candidates: Vec<IndexId> = repo
        .backend()
        .list(layout::INDEX)?
        .into_iter()
        .filter(|(_, size)| *size < SMALL_INDEX_BYTES)
        .filter_map(|(name, _)| layout::id_from_name(&name).map(IndexId))
        .filter(|id| !claimed.contains(id))
        .collect();
    if candidates.len() <= opts.max_small_files {
        return Ok(report);
    }
    let files = read_index_files(repo, &candidates)?;
    // Every pack once (a pack listed twice has the same entries: its trailer's).
    let mut packs: BTreeMap<PackId, IndexedPack> = BTreeMap::new();
    let mut superseded = Vec::new();
    for (id, file) in files {
        superseded.push(id);
        for p in file.packs {
            packs.entry(p.pack).or_insert(p);
        }
    }
    let mut merged = IndexFile { packs: Vec::new() };
    let mut blobs = 0;
    for p in packs.into_values() {
        if blobs + p.blobs.len() > MERGED_BLOBS && !merged.packs.is_empty() {
            report.written.push(repo.save_index(&merged)?);
            merged.packs.clear();
            blobs = 0;
        }
        blobs += p.blobs.len();
        merged.packs.push(p);
    }
    if !merged.packs.is_empty() {
        report.written.push(repo.save_index(&merged)?);
    }
    report.merged = superseded.len();
    fault(opts, CompactStep::MergedWritten)?;
    superseded.sort();
    let record = CondemnedRecord {
        created_unix_ns: unix_ns(SystemTime::now()),
        packs: Vec::new(),
        index_files: superseded,
    };
    held.ensure_held()?;
    let id = crate::prune::write_record(repo, &record)?;
    report.record = Some(id);
    fault(opts, CompactStep::RecordWritten)?;
    if opts.grace.is_zero() {
        report.deleted += finish(repo, held, &Pending { id, record }, opts)?;
        report.records_finished += 1;
    }
    Ok(report)
}

/// A record of compaction: it condemns index files and no pack.
pub fn is_compaction(p: &Pending) -> bool {
    p.record.packs.is_empty()
}

/// Deletes a compaction record's index files, then the record. Rerunning it
/// after a crash deletes what is left.
fn finish(repo: &Repository, held: &Held<'_>, p: &Pending, opts: &CompactOptions) -> Result<usize> {
    held.ensure_held()?;
    for (n, id) in p.record.index_files.iter().enumerate() {
        repo.backend().delete(&layout::index(id))?;
        if n == 0 {
            fault(opts, CompactStep::FirstDeleted)?;
        }
    }
    repo.backend().delete(&layout::condemned(&p.id))?;
    Ok(p.record.index_files.len())
}

/// Reads and opens index files concurrently; one deleted since the listing is
/// left out (nothing else deletes index files while the lock is held, but a
/// stale lock could have let a prune in).
fn read_index_files(repo: &Repository, ids: &[IndexId]) -> Result<Vec<(IndexId, IndexFile)>> {
    let client = repo.backend().client();
    let fetched = repo.backend().block_on(async {
        use futures::StreamExt;
        futures::stream::iter(ids.iter().map(|id| async move {
            let name = layout::index(id);
            let r = client.get(&name).await;
            (*id, name, r)
        }))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
    });
    let mut out = Vec::with_capacity(fetched.len());
    for (id, name, r) in fetched {
        if let Some(bytes) = r? {
            out.push((id, open_index(repo.key(), &name, &bytes)?));
        }
    }
    Ok(out)
}
