//! `check`: is every snapshot restorable? Findings are data, not errors: the
//! binary picks the exit code from their severity.
//!
//! Structure check (always): every snapshot decodes, every tree it reaches
//! decodes, every blob it references is in the index, every indexed pack
//! exists with the recorded size. `read_data`: every pack is downloaded,
//! its name checked against its hash, its trailer against the index, and
//! every blob opened and verified against its id.

use crate::cache;
use crate::codec;
use crate::crypto::Domain;
use crate::damage::{DamageWalk, Usable};
use crate::data_subset::DataSubset;
use crate::error::Result;
use crate::format::index::IndexedPack;
use crate::format::layout;
use crate::format::pack::{self, PackTrailer};
use crate::format::tree::{ChunkRef, Content, NodeKind, TreeBlob};
use crate::id::{BlobId, IndexId, PackId, SnapshotId, content_hash};
use crate::progress::Progress;
use crate::repo::Repository;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, nothing at risk (e.g. unreferenced packs awaiting prune).
    Info,
    /// Data that a snapshot needs is missing or damaged.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The object concerned: `pack <id>`, `snapshot <id>`, `index <id>`, ...
    pub object: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CheckReport {
    pub snapshots: usize,
    pub index_files: usize,
    pub packs: usize,
    pub trees_checked: usize,
    pub blobs_verified: u64,
    pub packs_read: usize,
    /// Bytes of the packs read.
    pub bytes_read: u64,
    pub findings: Vec<Finding>,
    /// Snapshots that cannot be fully restored, with the files affected.
    pub damaged: Vec<DamagedSnapshot>,
}

/// One snapshot that lost data, and what it lost.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DamagedSnapshot {
    pub snapshot: String,
    /// Paths inside the snapshot (files, or folders whose listing is lost).
    pub paths: Vec<String>,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    fn error(&mut self, object: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Error,
            object: object.into(),
            message: message.into(),
        });
    }

    fn info(&mut self, object: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Info,
            object: object.into(),
            message: message.into(),
        });
    }
}

pub struct CheckOptions {
    pub read_data: bool,
}

pub fn check(
    repo: &Repository,
    opts: &CheckOptions,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    let subset = opts.read_data.then_some(DataSubset::All);
    check_reading(repo, subset, progress)
}

/// The structure check, then a read of the packs `subset` picks (none when `None`).
pub fn check_reading(
    repo: &Repository,
    subset: Option<DataSubset>,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    Ok(check_usable(repo, subset, progress)?.0)
}

/// Files named in a finding before "and N more".
const PATHS_NAMED: usize = 20;

/// [`check_reading`], also returning which blobs are usable (for `repair snapshots`).
pub fn check_usable(
    repo: &Repository,
    subset: Option<DataSubset>,
    progress: &dyn Progress,
) -> Result<(CheckReport, Usable)> {
    let mut report = CheckReport::default();
    progress.phase("check index", None);

    // Index files, read directly (the cache may be what is wrong).
    let mut indexed: HashMap<PackId, IndexedPack> = HashMap::new();
    let mut blob_home: HashMap<BlobId, PackId> = HashMap::new();
    for (name, _) in repo.backend().list(layout::INDEX)? {
        report.index_files += 1;
        let Some(bytes) = repo.backend().get(&name)? else {
            continue;
        };
        match cache::open_index(repo.key(), &name, &bytes) {
            Ok(idx) => {
                if layout::id_from_name(&name).map(IndexId) != Some(IndexId(content_hash(&bytes))) {
                    report.error(&name, "content does not match its name");
                }
                for p in idx.packs {
                    for b in &p.blobs {
                        blob_home.insert(b.id, p.pack);
                    }
                    indexed.insert(p.pack, p);
                }
            }
            Err(e) => report.error(&name, e.to_string()),
        }
    }

    // Packs present.
    let mut present: HashMap<PackId, u64> = HashMap::new();
    for (name, size) in repo.backend().list(layout::DATA)? {
        match layout::id_from_name(&name) {
            Some(id) => {
                present.insert(PackId(id), size);
            }
            None => report.info(&name, "stray object in data/ (not a pack name)"),
        }
    }
    report.packs = present.len();
    for (id, p) in &indexed {
        match present.get(id) {
            None => report.error(format!("pack {id}"), "listed in the index but missing"),
            Some(&size) if size != p.pack_length => report.error(
                format!("pack {id}"),
                format!("is {size} bytes, the index says {}", p.pack_length),
            ),
            Some(_) => {}
        }
    }
    // A blob is only as available as its pack: one whose pack is gone counts as
    // missing for the snapshots that need it, not just for the pack.
    blob_home.retain(|_, pack| present.contains_key(pack));
    let unindexed = present
        .keys()
        .filter(|id| !indexed.contains_key(id))
        .count();
    if unindexed > 0 {
        report.info(
            "data/",
            format!("{unindexed} pack(s) in no index (left by an interrupted backup; prune removes them)"),
        );
    }

    let unfinished = repo.backend().unfinished_writes();
    if !unfinished.is_empty() {
        let bytes: u64 = unfinished.iter().map(|u| u.bytes).sum();
        report.info(
            repo.backend().location(),
            format!(
                "{} unfinished write(s), {bytes} bytes (staging files `NAME#N` of killed runs, \
                 never read; prune removes those older than {} minutes)",
                unfinished.len(),
                crate::prune::UNFINISHED_WRITE_AGE.as_secs() / 60
            ),
        );
    }

    // Snapshots and the trees they reach.
    progress.phase("check snapshots", None);
    let mut walked = Walked::new();
    let snaps = snapshot_objects(repo, &mut report)?;
    report.snapshots = snaps.len();
    let mut suspect: Vec<(SnapshotId, BlobId)> = Vec::new();
    for &(sid, root) in &snaps {
        let missing = walk_tree(repo, &root, &blob_home, &mut walked, &mut report, &sid);
        if missing > 0 {
            suspect.push((sid, root));
            report.error(
                format!("snapshot {sid}"),
                format!(
                    "{missing} referenced blob(s) missing (in no index, or their pack is gone) \
                     or unreadable: not fully restorable"
                ),
            );
        }
    }
    report.trees_checked = walked.len();

    let mut usable = Usable {
        present: blob_home.keys().copied().collect(),
        damaged: HashSet::new(),
    };
    if let Some(subset) = subset {
        let all: Vec<PackId> = present.keys().copied().collect();
        let ids = subset.select(&all);
        let total: u64 = ids.iter().filter_map(|id| present.get(id)).sum();
        progress.phase("read data", Some(total));
        let mut bad: HashSet<(PackId, BlobId)> = HashSet::new();
        for id in &ids {
            read_pack(repo, id, indexed.get(id), &mut report, &mut bad, progress);
            progress.file_done();
        }
        // A blob damaged in one pack is lost only if that is the copy reads use.
        usable.damaged = bad
            .into_iter()
            .filter(|(p, b)| blob_home.get(b) == Some(p))
            .map(|(_, b)| b)
            .collect();
    }
    // Name what is lost, file by file, for every snapshot that lost anything.
    let to_name: Vec<(SnapshotId, BlobId)> = if usable.all_fine() {
        suspect
    } else {
        snaps.clone()
    };
    if !to_name.is_empty() {
        progress.phase("name damaged files", None);
        let mut walk = DamageWalk::new(repo, &usable);
        for (sid, root) in to_name {
            let paths = walk.affected(&root);
            if paths.is_empty() {
                continue;
            }
            let mut named = paths
                .iter()
                .take(PATHS_NAMED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if paths.len() > PATHS_NAMED {
                named.push_str(&format!(" and {} more", paths.len() - PATHS_NAMED));
            }
            report.error(
                format!("snapshot {sid}"),
                format!(
                    "{} path(s) damaged or missing: {named} (`coffer repair snapshots` \
                     rewrites it without them)",
                    paths.len()
                ),
            );
            report.damaged.push(DamagedSnapshot {
                snapshot: sid.to_hex(),
                paths,
            });
        }
    }
    Ok((report, usable))
}

fn snapshot_objects(
    repo: &Repository,
    report: &mut CheckReport,
) -> Result<Vec<(SnapshotId, BlobId)>> {
    let mut out = Vec::new();
    for (name, _) in repo.backend().list(layout::SNAPSHOTS)? {
        let Some(id) = layout::id_from_name(&name).map(SnapshotId) else {
            report.error(&name, "not a snapshot id");
            continue;
        };
        let bytes = match repo.backend().get(&name) {
            Ok(Some(b)) => b,
            // Forgotten since the listing: nothing to check.
            Ok(None) => continue,
            Err(e) => {
                report.error(format!("snapshot {id}"), e.to_string());
                continue;
            }
        };
        if content_hash(&bytes) != id.0 {
            report.error(&name, "content does not match its name");
        }
        match crate::repo::open_snapshot(repo.key(), &name, &bytes) {
            Ok(s) => out.push((id, s.root)),
            Err(e) => report.error(format!("snapshot {id}"), e.to_string()),
        }
    }
    Ok(out)
}

/// For each tree walked so far, how many blobs it and everything below it
/// lack. Snapshots share most trees: each is read once, yet every snapshot
/// reaching a damaged subtree is judged by it.
type Walked = HashMap<BlobId, u64>;

/// Returns how many blobs the tree `id` and its descendants lack.
fn walk_tree(
    repo: &Repository,
    id: &BlobId,
    home: &HashMap<BlobId, PackId>,
    walked: &mut Walked,
    report: &mut CheckReport,
    sid: &SnapshotId,
) -> u64 {
    if let Some(&missing) = walked.get(id) {
        return missing;
    }
    // Provisional entry, so a forged cycle of trees ends instead of recursing forever.
    walked.insert(*id, 0);
    let missing = walk_new_tree(repo, id, home, walked, report, sid);
    walked.insert(*id, missing);
    missing
}

fn walk_new_tree(
    repo: &Repository,
    id: &BlobId,
    home: &HashMap<BlobId, PackId>,
    walked: &mut Walked,
    report: &mut CheckReport,
    sid: &SnapshotId,
) -> u64 {
    if !home.contains_key(id) {
        return 1;
    }
    let tree = match repo.read_tree(id) {
        Ok(t) => t,
        Err(e) => {
            report.error(
                format!("tree {id}"),
                format!("in snapshot {}: {e}", sid.short()),
            );
            return 1;
        }
    };
    let absent =
        |refs: &[ChunkRef]| refs.iter().filter(|r| !home.contains_key(&r.id)).count() as u64;
    let mut missing = 0;
    let mut children: Vec<BlobId> = Vec::new();
    match &*tree {
        TreeBlob::DirLeaf(nodes) => {
            for n in nodes {
                match &n.kind {
                    NodeKind::Dir { tree } => children.push(*tree),
                    NodeKind::File {
                        content: Content::List(root),
                    } => children.push(*root),
                    NodeKind::File {
                        content: Content::Inline(refs),
                    } => missing += absent(refs),
                    NodeKind::Symlink { .. } => {}
                }
            }
        }
        TreeBlob::DirInner(refs) => children.extend(refs.iter().map(|r| r.blob)),
        TreeBlob::ContentLeaf(refs) => missing += absent(refs),
        TreeBlob::ContentInner(refs) => children.extend(refs.iter().map(|r| r.blob)),
    }
    for c in children {
        missing += walk_tree(repo, &c, home, walked, report, sid);
    }
    missing
}

/// Downloads one pack and verifies everything in it. Blobs are located by
/// the index where it lists the pack (that is what restores use), else by the
/// pack's own trailer; each one that fails is added to `bad`.
fn read_pack(
    repo: &Repository,
    id: &PackId,
    indexed: Option<&IndexedPack>,
    report: &mut CheckReport,
    bad: &mut HashSet<(PackId, BlobId)>,
    progress: &dyn Progress,
) {
    let object = format!("pack {id}");
    let name = layout::pack(id);
    let bytes = match repo.backend().get(&name) {
        Ok(Some(b)) => b,
        Ok(None) => return,
        Err(e) => {
            report.error(&object, e.to_string());
            return;
        }
    };
    progress.bytes(bytes.len() as u64);
    report.packs_read += 1;
    report.bytes_read += bytes.len() as u64;
    if content_hash(&bytes) != id.0 {
        report.error(&object, "content does not match its name (damaged)");
    }
    let trailer = read_trailer(repo, &bytes);
    let entries: &[pack::BlobEntry] = match (&trailer, indexed) {
        (Ok(t), Some(ix)) => {
            if ix.blobs != t.blobs {
                report.error(&object, "trailer and index disagree about the pack's blobs");
            }
            &ix.blobs
        }
        (Err(e), Some(ix)) => {
            report.error(&object, e.clone());
            &ix.blobs
        }
        (Ok(t), None) => &t.blobs,
        (Err(e), None) => {
            report.error(&object, e.clone());
            return;
        }
    };
    let mut damaged = 0usize;
    for b in entries {
        let loc = cache::BlobLocation::of(*id, b);
        let start = usize::try_from(b.offset).unwrap_or(usize::MAX);
        let ok = bytes
            .get(start..start.saturating_add(b.length as usize))
            .is_some_and(|sealed| repo.open_blob(&b.id, &loc, sealed).is_ok());
        if ok {
            report.blobs_verified += 1;
        } else {
            damaged += 1;
            bad.insert((*id, b.id));
        }
    }
    if damaged > 0 {
        report.error(&object, format!("{damaged} blob(s) damaged"));
    }
}

/// Opens and decodes the trailer of a whole pack held in memory.
pub(crate) fn read_trailer(repo: &Repository, bytes: &[u8]) -> Result<PackTrailer, String> {
    let footer = &bytes[bytes.len().saturating_sub(pack::FOOTER_LEN)..];
    let r = pack::trailer_range(bytes.len() as u64, footer)?;
    let sealed = &bytes[usize::try_from(r.start).unwrap_or(0)..usize::try_from(r.end).unwrap_or(0)];
    let plain = repo
        .key()
        .open(Domain::PackTrailer, sealed)
        .map_err(|e| format!("trailer: {e}"))?;
    codec::decode::<PackTrailer>(&plain).map_err(|e| format!("trailer: {e}"))
}
