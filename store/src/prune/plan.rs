//! The pure half of prune: what phase 2 may delete now and what phase 1
//! condemns, computed from the snapshots, the index files and the pack
//! listing. Nothing is written here.

use super::mark::LiveSet;
use super::protocol::{self, Pending};
use super::{PruneOptions, RecordWait};
use crate::cache;
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexedPack};
use crate::format::layout;
use crate::format::pack::BlobEntry;
use crate::id::{BlobId, CondemnedId, IndexId, PackId, SnapshotId};
use crate::repo::{Repository, unix_ns};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

/// More index files than this (not condemned) are merged into few by phase 1.
pub const CONSOLIDATE_INDEX_FILES: usize = 64;

/// One pack as phase 1 sees it.
#[derive(Clone, Debug, Serialize)]
pub struct PackUse {
    pub pack: PackId,
    pub pack_bytes: u64,
    pub live_blobs: u64,
    pub live_bytes: u64,
    pub unused_blobs: u64,
    pub unused_bytes: u64,
}

/// Phase 2: condemned records whose objects are deleted now.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FinishPlan {
    pub records: Vec<CondemnedId>,
    /// Records not eligible yet, and why.
    pub waiting: Vec<RecordWait>,
    pub delete_index_files: Vec<IndexId>,
    pub delete_packs: Vec<(PackId, u64)>,
    /// Condemned packs still needed: a snapshot finished since phase 1 uses a
    /// blob stored only there. They get a new index file and stay.
    #[serde(serialize_with = "super::pack_ids")]
    pub rescue: Vec<IndexedPack>,
    /// Condemned packs that an index file outside the records lists (a backup
    /// indexed them after phase 1): kept as they are.
    pub kept: Vec<PackId>,
}

/// Phase 1: what a new condemned record will name, and what replaces it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CondemnPlan {
    /// Packs with nothing live.
    pub delete: Vec<PackUse>,
    /// Packs whose unused share is over the threshold: live blobs copied out.
    pub repack: Vec<PackUse>,
    /// Packs in no index file (left by interrupted backups).
    pub unindexed: Vec<(PackId, u64)>,
    /// Index files replaced by new ones listing their surviving packs.
    pub rewrite_index: Vec<IndexId>,
    /// Surviving packs the new index files list.
    #[serde(serialize_with = "super::pack_ids")]
    pub carried: Vec<IndexedPack>,
    /// Per repacked pack: the blob entries to copy.
    #[serde(skip)]
    pub copy: Vec<(PackId, Vec<BlobEntry>)>,
    /// Packs kept as they are, and the unused bytes they still hold.
    pub kept_packs: u64,
    pub kept_unused_bytes: u64,
}

impl CondemnPlan {
    /// Lets go of the blob entries only executing the plan needs (the copy
    /// lists, the carried packs' blobs), keeping every pack id it reports.
    pub fn forget_blob_lists(&mut self) {
        self.copy = Vec::new();
        for p in &mut self.carried {
            p.blobs = Vec::new();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.delete.is_empty()
            && self.repack.is_empty()
            && self.unindexed.is_empty()
            && self.rewrite_index.is_empty()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PrunePlan {
    pub snapshots: usize,
    pub live_blobs: usize,
    /// When the snapshots were listed for marking (ns since the epoch).
    pub mark_started_unix_ns: i64,
    #[serde(skip)]
    pub marked: HashSet<SnapshotId>,
    /// Condemned records seen by the plan (execute refuses if others appeared).
    #[serde(skip)]
    pub pending_seen: HashSet<CondemnedId>,
    pub finish: FinishPlan,
    pub condemn: CondemnPlan,
}

/// Every index file, read concurrently.
pub(crate) fn load_index_files(repo: &Repository) -> Result<Vec<(IndexId, IndexFile)>> {
    fetch_index_files(repo, list_index_files(repo)?)
}

/// The ids of the index files stored now.
pub(crate) fn list_index_files(repo: &Repository) -> Result<Vec<IndexId>> {
    Ok(repo
        .backend()
        .list(layout::INDEX)?
        .into_iter()
        .filter_map(|(name, _)| layout::id_from_name(&name).map(IndexId))
        .collect())
}

/// The index files `ids` names, read concurrently (one deleted meanwhile is
/// left out), sorted by id. Each is decoded as it arrives, so the sealed
/// bytes of only the few in flight are held at once.
pub(crate) fn fetch_index_files(
    repo: &Repository,
    ids: Vec<IndexId>,
) -> Result<Vec<(IndexId, IndexFile)>> {
    let client = repo.backend().client();
    let mut out = repo.backend().block_on(async {
        use futures::StreamExt;
        let mut arriving = futures::stream::iter(ids.into_iter().map(|id| async move {
            let r = client.get(&layout::index(&id)).await;
            (id, r)
        }))
        .buffer_unordered(16);
        let mut out = Vec::new();
        while let Some((id, r)) = arriving.next().await {
            if let Some(bytes) = r? {
                out.push((
                    id,
                    cache::open_index(repo.key(), &layout::index(&id), &bytes)?,
                ));
            }
        }
        Ok::<_, Error>(out)
    })?;
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}

pub(crate) fn pack_listing(repo: &Repository) -> Result<HashMap<PackId, u64>> {
    Ok(repo
        .backend()
        .list(layout::DATA)?
        .into_iter()
        .filter_map(|(name, size)| layout::id_from_name(&name).map(|id| (PackId(id), size)))
        .collect())
}

/// Which pending records phase 2 may finish now (grace period over, no backup
/// lock older than the record plus the clock margin), and why others wait.
pub(crate) fn eligible(
    pending: &[Pending],
    locks: &[crate::lock::LockEntry],
    opts: &PruneOptions,
    now: SystemTime,
) -> (Vec<Pending>, Vec<RecordWait>) {
    let now_ns = unix_ns(now);
    let grace = i64::try_from(opts.grace.as_nanos()).unwrap_or(i64::MAX);
    let margin = i64::try_from(opts.clock_margin.as_nanos()).unwrap_or(i64::MAX);
    let mut ok = Vec::new();
    let mut waiting = Vec::new();
    for p in pending {
        let created = p.record.created_unix_ns;
        let reason = if now_ns.saturating_sub(created) < grace {
            Some(format!(
                "grace period: {}s left",
                (grace - (now_ns - created)) / 1_000_000_000
            ))
        } else {
            protocol::backup_started_before(locks, created.saturating_add(margin))
        };
        match reason {
            Some(reason) => waiting.push(RecordWait {
                record: p.id,
                created_unix_ns: created,
                reason,
            }),
            None => ok.push(p.clone()),
        }
    }
    (ok, waiting)
}

/// Phase 2 for the eligible records, against the current mark.
pub(crate) fn finish(
    eligible: &[Pending],
    index_files: &[(IndexId, &IndexFile)],
    listing: &HashMap<PackId, u64>,
    live: &mut LiveSet<'_>,
) -> FinishPlan {
    live.clear_claims();
    finish_covering(eligible, index_files, listing, live, HashSet::new())
}

/// [`finish`] when some surviving index files are known without being read
/// (those phase 1 of this run stored): `live`'s claim bits already cover
/// their blobs ([`LiveSet::cover`]) and `listed_elsewhere` names their packs.
pub(crate) fn finish_covering(
    eligible: &[Pending],
    index_files: &[(IndexId, &IndexFile)],
    listing: &HashMap<PackId, u64>,
    live: &mut LiveSet<'_>,
    mut listed_elsewhere: HashSet<PackId>,
) -> FinishPlan {
    let mut plan = FinishPlan {
        records: eligible.iter().map(|p| p.id).collect(),
        ..FinishPlan::default()
    };
    let doomed_index: HashSet<IndexId> = eligible
        .iter()
        .flat_map(|p| p.record.index_files.iter().copied())
        .collect();
    let doomed_packs: HashSet<PackId> = eligible
        .iter()
        .flat_map(|p| p.record.packs.iter().copied())
        .collect();
    let surviving = || {
        index_files
            .iter()
            .filter(|(id, _)| !doomed_index.contains(id))
    };
    listed_elsewhere.extend(surviving().flat_map(|(_, f)| f.packs.iter().map(|p| p.pack)));
    // A copy listed by a surviving index file is enough: those ids are
    // marked in the live set's claim bits (a bit an id, where a set of the
    // live blobs of every doomed pack cost ~120 bytes each).
    for (id, f) in surviving() {
        for (pos, p) in f.packs.iter().enumerate() {
            // Collected first: covering needs the set mutably.
            let slots: Vec<Option<usize>> = live.pack_slots(id, pos, p).collect();
            slots.into_iter().for_each(|s| live.cover_at(s));
        }
    }
    // Live blobs stored only in packs about to go, and those packs.
    let mut uncovered: Vec<(BlobId, PackId)> = Vec::new();
    let mut entries: HashMap<PackId, &IndexedPack> = HashMap::new();
    for (id, f) in index_files {
        if !doomed_index.contains(id) {
            continue;
        }
        for (pos, p) in f.packs.iter().enumerate() {
            if !doomed_packs.contains(&p.pack)
                || listed_elsewhere.contains(&p.pack)
                || !listing.contains_key(&p.pack)
            {
                continue;
            }
            entries.entry(p.pack).or_insert(p);
            for (b, s) in p.blobs.iter().zip(live.pack_slots(id, pos, p)) {
                if live.is_live_at(s) && !live.is_covered_at(s) {
                    uncovered.push((b.id, p.pack));
                }
            }
        }
    }
    live.clear_claims();
    uncovered.sort();
    uncovered.dedup();
    let mut rescued: HashSet<PackId> = HashSet::new();
    for copies in uncovered.chunk_by(|a, b| a.0 == b.0) {
        if !copies.iter().any(|(_, p)| rescued.contains(p)) {
            rescued.insert(copies[0].1);
        }
    }
    let mut rescue: Vec<IndexedPack> = rescued.iter().map(|p| entries[p].clone()).collect();
    rescue.sort_by_key(|p| p.pack);
    plan.rescue = rescue;
    let mut kept: Vec<PackId> = doomed_packs
        .iter()
        .filter(|p| listed_elsewhere.contains(p))
        .copied()
        .collect();
    kept.sort();
    plan.kept = kept;
    let mut delete: Vec<(PackId, u64)> = doomed_packs
        .iter()
        .filter(|p| !listed_elsewhere.contains(p) && !rescued.contains(p))
        .filter_map(|p| listing.get(p).map(|&size| (*p, size)))
        .collect();
    delete.sort();
    plan.delete_packs = delete;
    let present: HashSet<IndexId> = index_files.iter().map(|(id, _)| *id).collect();
    let mut idx: Vec<IndexId> = doomed_index.intersection(&present).copied().collect();
    idx.sort();
    plan.delete_index_files = idx;
    plan
}

/// Phase 1 over everything no pending record names.
pub(crate) fn condemn(
    pending: &[Pending],
    index_files: &[(IndexId, IndexFile)],
    listing: &HashMap<PackId, u64>,
    live: &mut LiveSet<'_>,
    opts: &PruneOptions,
) -> Result<CondemnPlan> {
    live.clear_claims();
    let pending_index: HashSet<IndexId> = pending
        .iter()
        .flat_map(|p| p.record.index_files.iter().copied())
        .collect();
    let pending_packs: HashSet<PackId> = pending
        .iter()
        .flat_map(|p| p.record.packs.iter().copied())
        .collect();
    let considered: Vec<&(IndexId, IndexFile)> = index_files
        .iter()
        .filter(|(id, _)| !pending_index.contains(id))
        .collect();
    // Each pack once, as its first index file lists it (and where).
    let mut packs: HashMap<PackId, (&IndexedPack, &IndexId, usize)> = HashMap::new();
    for (id, f) in &considered {
        for (pos, p) in f.packs.iter().enumerate() {
            if pending_packs.contains(&p.pack) {
                continue;
            }
            if !listing.contains_key(&p.pack) {
                return Err(Error::InvalidInput(format!(
                    "prune stops: pack {} is listed in the index but missing; run `coffer check`, \
                     then `coffer repair index`",
                    p.pack
                )));
            }
            packs.entry(p.pack).or_insert((p, id, pos));
        }
    }
    // A blob stored twice is used in one pack only: the one with the largest
    // live share, so a pack that an interrupted prune already wrote wins over
    // the half-empty one it was copied from.
    let mut order: Vec<(&IndexedPack, f64, &IndexId, usize)> = packs
        .values()
        .map(|&(p, id, pos)| {
            let (mut live_b, mut all) = (0u64, 0u64);
            for (b, s) in p.blobs.iter().zip(live.pack_slots(id, pos, p)) {
                all += u64::from(b.length);
                if live.is_live_at(s) {
                    live_b += u64::from(b.length);
                }
            }
            let share = if all == 0 {
                0.0
            } else {
                live_b as f64 / all as f64
            };
            (p, share, id, pos)
        })
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.pack.cmp(&b.0.pack)));
    let mut plan = CondemnPlan::default();
    for (p, _, id, pos) in order {
        // Collected first: claiming needs the set mutably.
        let slots: Vec<Option<usize>> = live.pack_slots(id, pos, p).collect();
        let mut usage = PackUse {
            pack: p.pack,
            pack_bytes: p.pack_length,
            live_blobs: 0,
            live_bytes: 0,
            unused_blobs: 0,
            unused_bytes: 0,
        };
        let mut copy = Vec::new();
        for (b, s) in p.blobs.iter().zip(slots) {
            if live.claim_at(s) {
                usage.live_blobs += 1;
                usage.live_bytes += u64::from(b.length);
                copy.push(*b);
            } else {
                usage.unused_blobs += 1;
                usage.unused_bytes += u64::from(b.length);
            }
        }
        let total = usage.live_bytes + usage.unused_bytes;
        if usage.live_blobs == 0 {
            plan.delete.push(usage);
        } else if total > 0 && usage.unused_bytes as f64 / total as f64 > opts.max_unused {
            // In pack order, so neighbouring live blobs are read at once.
            copy.sort_by_key(|b| b.offset);
            plan.copy.push((p.pack, copy));
            plan.repack.push(usage);
        } else {
            plan.kept_packs += 1;
            plan.kept_unused_bytes += usage.unused_bytes;
        }
    }
    plan.delete.sort_by_key(|u| u.pack);
    plan.repack.sort_by_key(|u| u.pack);
    plan.copy.sort_by_key(|(p, _)| *p);
    let indexed_anywhere: HashSet<PackId> = index_files
        .iter()
        .flat_map(|(_, f)| f.packs.iter().map(|p| p.pack))
        .collect();
    let mut unindexed: Vec<(PackId, u64)> = listing
        .iter()
        .filter(|(p, _)| !indexed_anywhere.contains(p) && !pending_packs.contains(p))
        .map(|(p, s)| (*p, *s))
        .collect();
    unindexed.sort();
    plan.unindexed = unindexed;

    let going: HashSet<PackId> = plan
        .delete
        .iter()
        .chain(&plan.repack)
        .map(|u| u.pack)
        .collect();
    let consolidate = considered.len() > CONSOLIDATE_INDEX_FILES;
    let rewrite: HashSet<IndexId> = considered
        .iter()
        .filter(|(_, f)| consolidate || f.packs.iter().any(|p| going.contains(&p.pack)))
        .map(|(id, _)| *id)
        .collect();
    let listed_by_others: HashSet<PackId> = considered
        .iter()
        .filter(|(id, _)| !rewrite.contains(id))
        .flat_map(|(_, f)| f.packs.iter().map(|p| p.pack))
        .collect();
    let mut carried: HashMap<PackId, IndexedPack> = HashMap::new();
    for (id, f) in &considered {
        if !rewrite.contains(id) {
            continue;
        }
        for p in &f.packs {
            let keep = !going.contains(&p.pack)
                && !listed_by_others.contains(&p.pack)
                && listing.contains_key(&p.pack);
            if keep {
                carried.entry(p.pack).or_insert_with(|| p.clone());
            }
        }
    }
    let mut carried: Vec<IndexedPack> = carried.into_values().collect();
    carried.sort_by_key(|p| p.pack);
    plan.carried = carried;
    let mut rewrite: Vec<IndexId> = rewrite.into_iter().collect();
    rewrite.sort();
    plan.rewrite_index = rewrite;
    // Merging index files alone is not worth a record when nothing else changes
    // and they are few.
    Ok(plan)
}
