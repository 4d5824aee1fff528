//! The writing half of prune. Every step leaves a repository that `check`
//! accepts and that the next prune finishes (FORMAT.md, "Deleting packs and
//! index files"): phase 1 only adds until its record is stored; phase 2
//! re-indexes rescued packs before deleting index files, deletes index files
//! before the packs they list, and the record last.

use super::plan::PrunePlan;
use super::{PruneOptions, protocol};
use crate::error::{Error, Result};
use crate::format::condemned::CondemnedRecord;
use crate::format::index::IndexedPack;
use crate::format::layout;
use crate::format::pack::BlobEntry;
use crate::id::{CondemnedId, PackId};
use crate::lock::Held;
use crate::packer::{INDEX_FLUSH_BLOBS, PackWriter};
use crate::progress::Progress;
use crate::repo::{Repository, unix_ns};
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// A failure injected at a step, for crash tests: `abort` kills the process
/// there (as SIGKILL would), otherwise the step returns an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub step: String,
    pub abort: bool,
}

/// The steps, in execution order, for [`Fault::step`].
pub const STEPS: [&str; 8] = [
    "rescue-index",
    "delete-index",
    "delete-pack",
    "delete-record",
    "repack-pack",
    "repack-index",
    "write-index",
    "write-record",
];

#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    /// Phase 2 did not run now, and why.
    pub deferred: Option<String>,
    pub records_finished: u64,
    pub packs_rescued: u64,
    pub index_files_deleted: u64,
    pub packs_deleted: u64,
    pub bytes_deleted: u64,
    /// Phase 1.
    pub record_written: Option<CondemnedId>,
    pub packs_condemned: u64,
    pub bytes_condemned: u64,
    pub packs_repacked: u64,
    pub blobs_copied: u64,
    pub packs_written: u64,
    pub bytes_written: u64,
    pub index_files_written: u64,
    pub index_files_condemned: u64,
    /// Staging files of killed writes removed (local folders only).
    pub unfinished_writes_removed: u64,
    pub unfinished_bytes_removed: u64,
    /// The index files phase 1 stored (they list the packs it wrote and the
    /// plan's carried packs).
    #[serde(skip)]
    pub index_files_stored: Vec<crate::id::IndexId>,
}

fn checkpoint(opts: &PruneOptions, step: &str) -> Result<()> {
    match &opts.fault {
        Some(f) if f.step == step => {
            if f.abort {
                std::process::abort();
            }
            Err(Error::InjectedFault(step.to_string()))
        }
        _ => Ok(()),
    }
}

pub(crate) fn execute(
    repo: &Repository,
    held: &Held<'_>,
    plan: &PrunePlan,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    execute_syncing(repo, held, plan, opts, progress, false).map(|(report, _)| report)
}

/// [`execute`]; with `sync_cache`, a plan that only deletes (phase 2) also
/// brings the local cache up to date, on a second thread while its packs are
/// deleted (the index files are final once the doomed ones are gone, and
/// deleting thousands of packs leaves a core idle). True when it did.
pub(crate) fn execute_syncing(
    repo: &Repository,
    held: &Held<'_>,
    plan: &PrunePlan,
    opts: &PruneOptions,
    progress: &dyn Progress,
    sync_cache: bool,
) -> Result<(PruneReport, bool)> {
    let now_pending: HashSet<CondemnedId> =
        protocol::pending(repo)?.into_iter().map(|p| p.id).collect();
    if !now_pending.is_subset(&plan.pending_seen) {
        return Err(Error::InvalidInput(
            "another prune ran since this plan was made: plan again".into(),
        ));
    }
    let mut report = PruneReport::default();
    let mut synced = false;
    if !plan.finish.records.is_empty() {
        match finish_allowed(repo, plan, opts)? {
            Some(why) => report.deferred = Some(why),
            None => {
                synced = sync_cache && plan.condemn.is_empty();
                finish(repo, held, plan, opts, progress, &mut report, synced)?;
            }
        }
    }
    if !plan.condemn.is_empty() {
        condemn(repo, plan, opts, progress, &mut report)?;
    }
    remove_unfinished_writes(repo, &mut report);
    // Otherwise the local cache is brought up to date by the caller, once,
    // after it has let go of the index files and the mark.
    Ok((report, synced))
}

/// How long a staging file must have gone unwritten before prune removes
/// it: far longer than any write pauses, and as long as a writer's lock may
/// go unrefreshed before it stops writing.
pub const UNFINISHED_WRITE_AGE: Duration = Duration::from_secs(30 * 60);

/// Removes the staging files killed writes left (best effort: one that
/// cannot be removed is tried again next time).
fn remove_unfinished_writes(repo: &Repository, report: &mut PruneReport) {
    let now = SystemTime::now();
    for u in repo.backend().unfinished_writes() {
        let old = now
            .duration_since(u.modified)
            .is_ok_and(|age| age > UNFINISHED_WRITE_AGE);
        if old && repo.backend().remove_unfinished(&u) {
            report.unfinished_writes_removed += 1;
            report.unfinished_bytes_removed += u.bytes;
        }
    }
}

/// The checks made right before deleting: no backup that started before the
/// mark (plus the clock margin) still runs, and no snapshot appeared that the
/// mark did not see.
fn finish_allowed(
    repo: &Repository,
    plan: &PrunePlan,
    opts: &PruneOptions,
) -> Result<Option<String>> {
    let locks = crate::lock::list(repo, SystemTime::now(), &opts.lock)?;
    let margin = i64::try_from(opts.clock_margin.as_nanos()).unwrap_or(i64::MAX);
    if let Some(why) =
        protocol::backup_started_before(&locks, plan.mark_started_unix_ns.saturating_add(margin))
    {
        return Ok(Some(format!("{why}; deleting next time")));
    }
    let added = repo
        .snapshots()?
        .iter()
        .filter(|s| !plan.marked.contains(&s.id))
        .count();
    if added > 0 {
        return Ok(Some(format!(
            "{added} snapshot(s) finished while prune marked; deleting next time"
        )));
    }
    Ok(None)
}

fn finish(
    repo: &Repository,
    held: &Held<'_>,
    plan: &PrunePlan,
    opts: &PruneOptions,
    progress: &dyn Progress,
    report: &mut PruneReport,
    sync_cache: bool,
) -> Result<()> {
    let f = &plan.finish;
    progress.phase("delete", None);
    held.ensure_held()?;
    if !f.rescue.is_empty() {
        write_index_files(repo, &f.rescue)?;
        report.packs_rescued = f.rescue.len() as u64;
        checkpoint(opts, "rescue-index")?;
    }
    let index: Vec<String> = f.delete_index_files.iter().map(layout::index).collect();
    report.index_files_deleted += delete_all(repo, &index, opts, "delete-index")?;
    // Only once every index file listing them is gone.
    let packs: Vec<String> = f
        .delete_packs
        .iter()
        .map(|(id, _)| layout::pack(id))
        .collect();
    // The sync stays on this thread, whose memory the caller just freed (a
    // new thread allocates from an arena of its own: 10-17 MiB more peak).
    let (deleted, synced) = if sync_cache {
        std::thread::scope(|scope| {
            let deleting = scope.spawn(|| delete_all(repo, &packs, opts, "delete-pack"));
            let synced = repo.resync_index();
            let deleted = deleting
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (deleted, Some(synced))
        })
    } else {
        (delete_all(repo, &packs, opts, "delete-pack"), None)
    };
    let deleted = deleted?;
    if let Some(synced) = synced {
        synced?;
    }
    report.packs_deleted += deleted;
    report.bytes_deleted += f.delete_packs[..usize::try_from(deleted).unwrap_or(usize::MAX)]
        .iter()
        .map(|(_, size)| size)
        .sum::<u64>();
    for id in &f.records {
        repo.backend().delete(&layout::condemned(id))?;
        report.records_finished += 1;
        checkpoint(opts, "delete-record")?;
    }
    Ok(())
}

/// Objects deleted per batch (each batch's deletes run concurrently; a step's
/// fault is checked after each batch).
const DELETE_BATCH: usize = 256;
/// Deletes in flight at once.
const CONCURRENT_DELETES: usize = 16;

/// Deletes `names` in batches of concurrent requests; the count deleted.
/// Order within one step does not matter (no index file names another, no
/// pack names anything), so the requests of a batch may finish in any order.
fn delete_all(repo: &Repository, names: &[String], opts: &PruneOptions, step: &str) -> Result<u64> {
    let mut deleted = 0u64;
    for batch in names.chunks(DELETE_BATCH) {
        for r in repo.backend().delete_many(batch, CONCURRENT_DELETES) {
            r?;
        }
        deleted += batch.len() as u64;
        checkpoint(opts, step)?;
    }
    Ok(deleted)
}

fn condemn(
    repo: &Repository,
    plan: &PrunePlan,
    opts: &PruneOptions,
    progress: &dyn Progress,
    report: &mut PruneReport,
) -> Result<()> {
    let c = &plan.condemn;
    progress.phase("repack", None);
    // Each pack stored before the next is filled: a local folder's direct
    // write of 16 MiB is ~10 ms, and a second pack buffer was 5 MiB of peak
    // on ten years of nights. The caller syncs the cache once, after phase 2.
    let mut writer = PackWriter::new(repo, 0)
        .without_cache_ingest()
        .with_distinct_blobs();
    let copied = copy_live(repo, c, &mut writer, opts, progress, report);
    // The index of what was copied is stored even when a later copy failed.
    let finished = writer.finish();
    copied?;
    let (new_index, stats) = finished?;
    report.packs_written = stats.packs_written;
    report.bytes_written = stats.bytes_added + stats.overhead_bytes;
    report.index_files_written = new_index.len() as u64;
    report.index_files_stored = new_index;
    checkpoint(opts, "repack-index")?;
    let carried = write_index_files(repo, &c.carried)?;
    report.index_files_written += carried.len() as u64;
    report.index_files_stored.extend(carried);
    checkpoint(opts, "write-index")?;

    let mut packs: Vec<PackId> = c
        .delete
        .iter()
        .chain(&c.repack)
        .map(|u| u.pack)
        .chain(c.unindexed.iter().map(|(p, _)| *p))
        .collect();
    packs.sort();
    packs.dedup();
    let record = CondemnedRecord {
        // Taken after every object above is stored: the record's time is what
        // backup locks are compared with.
        created_unix_ns: unix_ns(SystemTime::now()),
        packs,
        index_files: c.rewrite_index.clone(),
    };
    report.packs_condemned = record.packs.len() as u64;
    report.bytes_condemned = c
        .delete
        .iter()
        .chain(&c.repack)
        .map(|u| u.pack_bytes)
        .chain(c.unindexed.iter().map(|(_, s)| *s))
        .sum();
    report.index_files_condemned = record.index_files.len() as u64;
    report.record_written = Some(protocol::write_record(repo, &record)?);
    checkpoint(opts, "write-record")?;
    Ok(())
}

/// Bytes of live blobs (and the dead ones between them) read ahead at once
/// while repacking, from as many packs as they take (a daily backup's packs
/// are small: thousands of them in ten years): from a local folder, enough
/// to keep the pool busy; from a store, enough for several requests in
/// flight.
const LOCAL_AHEAD: u64 = 2 << 20;
const REMOTE_AHEAD: u64 = 8 << 20;
/// Longest read of a pack being repacked (a blob longer than this is read
/// alone).
const SPAN_MAX: u64 = 1 << 20;
/// Reads of a remote store in flight at once while repacking.
const REPACK_CONCURRENT_READS: usize = 8;
/// Dead bytes one read may span to reach the next live blob: a local read
/// costs little, a request to a store more than a megabyte of transfer.
const LOCAL_GAP: u64 = 64 << 10;
const REMOTE_GAP: u64 = 1 << 20;

/// One read of a pack being repacked: neighbouring live blobs.
struct Span<'p> {
    pack: PackId,
    start: u64,
    end: u64,
    entries: &'p [BlobEntry],
}

/// Splits a pack's live blobs (in offset order) into reads.
fn spans(pack: PackId, entries: &[BlobEntry], gap: u64) -> Vec<Span<'_>> {
    let mut out: Vec<Span<'_>> = Vec::new();
    let mut first = 0;
    for k in 1..=entries.len() {
        let split = k == entries.len() || {
            let end = entries[k - 1].offset + u64::from(entries[k - 1].length);
            let next_end = entries[k].offset + u64::from(entries[k].length);
            entries[k].offset > end.saturating_add(gap)
                || next_end.saturating_sub(entries[first].offset) > SPAN_MAX
        };
        if split {
            let run = &entries[first..k];
            out.push(Span {
                pack,
                start: run[0].offset,
                end: run
                    .iter()
                    .map(|e| e.offset + u64::from(e.length))
                    .max()
                    .unwrap_or(0),
                entries: run,
            });
            first = k;
        }
    }
    out
}

/// Copies the live blobs of each pack to repack: only their ranges are read
/// (a few megabytes at once: from a local folder on the rayon pool, from a
/// store concurrently; most of a repacked pack is dead), every blob is checked
/// against its id (on all cores) before it is written again, in the plan's
/// order.
///
/// Reads are grouped by bytes, not by pack, and no read is longer than
/// [`SPAN_MAX`] (unless one blob is): a mostly live pack read whole on top
/// of the read-ahead was 15 MiB of prune's peak on ten years of nights.
/// A second thread reads and checks the next group (on the pool) while this
/// one copies the group before into the writer, whose direct writes block
/// it: done one after the other, the pool sat idle through ~0.07 s of
/// writes on ten years of nights.
fn copy_live(
    repo: &Repository,
    c: &super::CondemnPlan,
    writer: &mut PackWriter<'_>,
    opts: &PruneOptions,
    progress: &dyn Progress,
    report: &mut PruneReport,
) -> Result<()> {
    let (gap, ahead) = if repo.backend().is_local_folder() {
        (LOCAL_GAP, LOCAL_AHEAD)
    } else {
        (REMOTE_GAP, REMOTE_AHEAD)
    };
    // (position of the pack in the plan, one read of it), in plan order.
    let reads = c
        .copy
        .iter()
        .enumerate()
        .flat_map(move |(k, (pack, entries))| {
            spans(*pack, entries, gap).into_iter().map(move |s| (k, s))
        });
    std::thread::scope(|scope| {
        // A rendezvous: at most the group being copied and the next one.
        let (ready, groups) = std::sync::mpsc::sync_channel(0);
        scope.spawn(move || read_ahead(repo, reads, ahead, &ready));
        let mut pack: Option<usize> = None;
        for group in groups {
            for (k, span, bytes) in group? {
                // A read of the next pack: every live blob of the last is copied.
                if pack.is_some_and(|p| p != k) {
                    report.packs_repacked += 1;
                    checkpoint(opts, "repack-pack")?;
                }
                pack = Some(k);
                for e in span.entries {
                    writer.add(e.id, e.kind, cut(&span, &bytes, e)?, e.raw_length)?;
                    report.blobs_copied += 1;
                    progress.bytes(u64::from(e.length));
                }
            }
        }
        if pack.is_some() {
            report.packs_repacked += 1;
            checkpoint(opts, "repack-pack")?;
        }
        Ok(())
    })
}

/// Reads of a group, with their bytes, every blob in them checked.
type CheckedGroup<'p> = Vec<(usize, Span<'p>, bytes::Bytes)>;

/// Fetches and checks the reads a group at a time, handing each group on,
/// until they end, one fails, or the receiver is gone (the copy failed).
fn read_ahead<'p>(
    repo: &Repository,
    mut reads: impl Iterator<Item = (usize, Span<'p>)>,
    ahead: u64,
    ready: &std::sync::mpsc::SyncSender<Result<CheckedGroup<'p>>>,
) {
    loop {
        let mut group: Vec<(usize, Span<'p>)> = Vec::new();
        let mut bytes = 0;
        while bytes < ahead {
            let Some((k, span)) = reads.next() else { break };
            bytes += span.end - span.start;
            group.push((k, span));
        }
        if group.is_empty() {
            return;
        }
        let checked = fetch_and_check(repo, group);
        let failed = checked.is_err();
        if ready.send(checked).is_err() || failed {
            return;
        }
    }
}

fn fetch_and_check<'p>(
    repo: &Repository,
    group: Vec<(usize, Span<'p>)>,
) -> Result<CheckedGroup<'p>> {
    use rayon::prelude::*;
    let all: Vec<&Span<'_>> = group.iter().map(|(_, s)| s).collect();
    let fetched: Vec<bytes::Bytes> = fetch_spans(repo, &all).into_iter().collect::<Result<_>>()?;
    all.par_iter()
        .zip(fetched.par_iter())
        .try_for_each(|(span, got)| check_span(repo, span, got))?;
    Ok(group
        .into_iter()
        .zip(fetched)
        .map(|((k, span), bytes)| (k, span, bytes))
        .collect())
}

/// The sealed bytes of blob `e` in the bytes read for `span`.
fn cut<'a>(span: &Span<'_>, bytes: &'a [u8], e: &BlobEntry) -> Result<&'a [u8]> {
    let at = usize::try_from(e.offset - span.start).unwrap_or(usize::MAX);
    at.checked_add(e.length as usize)
        .and_then(|end| bytes.get(at..end))
        .ok_or_else(|| {
            Error::corrupt(
                format!("pack {}", span.pack),
                format!("blob {} past its end", e.id.short()),
            )
        })
}

/// Checks each blob of a read against its id (decrypted, decompressed, hashed).
fn check_span(repo: &Repository, span: &Span<'_>, bytes: &[u8]) -> Result<()> {
    for e in span.entries {
        let loc = crate::cache::BlobLocation::of(span.pack, e);
        repo.open_blob(&e.id, &loc, cut(span, bytes, e)?)?;
    }
    Ok(())
}

/// The bytes of each span, in order. A plain local folder's are read on the
/// rayon pool; a store's a few requests at a time (and a local read that
/// fails is asked of the store, whose error then names the pack).
fn fetch_spans(repo: &Repository, spans: &[&Span<'_>]) -> Vec<Result<bytes::Bytes>> {
    use rayon::prelude::*;
    let read = |s: &Span<'_>| {
        repo.backend()
            .read_local_range(&layout::pack(&s.pack), s.start..s.end)
    };
    let local: Vec<Option<bytes::Bytes>> = if repo.backend().is_local_folder() {
        spans.par_iter().map(|s| read(s)).collect()
    } else {
        vec![None; spans.len()]
    };
    let client = repo.backend().client();
    let remote: Vec<Result<bytes::Bytes>> = repo.backend().block_on(async {
        use futures::StreamExt;
        futures::stream::iter(spans.iter().zip(&local).filter(|(_, l)| l.is_none()).map(
            |(s, _)| {
                let (name, range) = (layout::pack(&s.pack), s.start..s.end);
                async move { client.get_range(&name, range).await }
            },
        ))
        .buffered(REPACK_CONCURRENT_READS)
        .collect()
        .await
    });
    crate::backend::in_order(local, remote)
}

/// Stores index files listing `packs`, at most [`INDEX_FLUSH_BLOBS`] blobs each
/// (encoded from the slice: no copy of the entries).
fn write_index_files(repo: &Repository, packs: &[IndexedPack]) -> Result<Vec<crate::id::IndexId>> {
    let mut written = Vec::new();
    let mut start = 0;
    let mut blobs = 0;
    for (k, p) in packs.iter().enumerate() {
        blobs += p.blobs.len();
        if blobs >= INDEX_FLUSH_BLOBS || k + 1 == packs.len() {
            written.push(repo.save_index_of(&packs[start..=k])?);
            start = k + 1;
            blobs = 0;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pack::BlobKind;
    use crate::id::BlobId;

    fn entry(offset: u64, length: u32) -> BlobEntry {
        BlobEntry {
            id: BlobId([0; 32]),
            kind: BlobKind::Data,
            offset,
            length,
            raw_length: length,
        }
    }

    #[test]
    fn live_blobs_are_read_in_runs_split_at_gaps_wider_than_allowed() {
        let pack = PackId([1; 32]);
        // 0..100 and 100..150 touch; 160 is 10 bytes on; 1000 is far.
        let e = [
            entry(0, 100),
            entry(100, 50),
            entry(160, 40),
            entry(1000, 24),
        ];
        let runs: Vec<(u64, u64, usize)> = spans(pack, &e, 16)
            .iter()
            .map(|s| (s.start, s.end, s.entries.len()))
            .collect();
        assert_eq!(runs, vec![(0, 200, 3), (1000, 1024, 1)]);
        let one: Vec<(u64, u64)> = spans(pack, &e, 1 << 20)
            .iter()
            .map(|s| (s.start, s.end))
            .collect();
        assert_eq!(one, vec![(0, 1024)], "within the gap: one read");
        let tight: Vec<usize> = spans(pack, &e, 0).iter().map(|s| s.entries.len()).collect();
        assert_eq!(
            tight,
            vec![2, 1, 1],
            "touching blobs share a read even with no gap"
        );
        assert!(spans(pack, &[], 16).is_empty());
    }

    #[test]
    fn no_read_is_longer_than_span_max_unless_one_blob_is() {
        let pack = PackId([1; 32]);
        let quarter = u32::try_from(SPAN_MAX / 4).expect("small");
        // Eight touching quarter-reads, then one blob twice the limit.
        let mut e: Vec<BlobEntry> = (0..8u64)
            .map(|i| entry(i * u64::from(quarter), quarter))
            .collect();
        e.push(entry(8 * u64::from(quarter), quarter * 8));
        let runs: Vec<(u64, usize)> = spans(pack, &e, 1 << 20)
            .iter()
            .map(|s| (s.end - s.start, s.entries.len()))
            .collect();
        assert_eq!(runs, vec![(SPAN_MAX, 4), (SPAN_MAX, 4), (2 * SPAN_MAX, 1)]);
    }
}
