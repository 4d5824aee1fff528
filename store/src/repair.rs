//! `repair index` and `repair snapshots`: recovering what can be recovered
//! after damage, without touching healthy data.
//!
//! Packs describe themselves (their sealed trailer lists their blobs), so the
//! index can always be rebuilt from the packs alone. A snapshot that lost
//! files is rewritten without them, as a new snapshot tagged `repaired`; the
//! original stays unless asked otherwise, since a later `repair index` or a
//! copy elsewhere may still bring its data back.

use crate::check::check_usable;
use crate::codec;
use crate::crypto::Domain;
use crate::damage::DamageWalk;
use crate::data_subset::DataSubset;
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexedPack};
use crate::format::layout;
use crate::format::pack::{self, PackTrailer};
use crate::format::tree::{Node, NodeKind};
use crate::id::{BlobId, PackId, SnapshotId};
use crate::packer::{INDEX_FLUSH_BLOBS, PackWriter};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::tree::{build_dir, dir_entries};
use std::collections::{HashMap, HashSet};

/// What `repair index` did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IndexRepair {
    pub packs_indexed: usize,
    pub blobs_indexed: usize,
    /// Packs whose trailer could not be read, with the reason. Their entries
    /// are kept from the old index files where those still list them.
    pub packs_unreadable: Vec<(String, String)>,
    pub index_files_written: usize,
    pub index_files_removed: usize,
}

/// Rebuilds the index from every pack's trailer, then removes the index files
/// that were there before (only those: one a concurrent backup writes meanwhile stays).
pub fn rebuild_index(repo: &Repository, progress: &dyn Progress) -> Result<IndexRepair> {
    let backend = repo.backend();
    let old_index = backend.list(layout::INDEX)?;
    let packs = backend.list(layout::DATA)?;
    progress.phase("read pack trailers", Some(packs.len() as u64));
    let mut out = IndexRepair::default();
    let mut rebuilt: Vec<IndexedPack> = Vec::new();
    let mut unreadable: HashSet<PackId> = HashSet::new();
    for (name, size) in &packs {
        progress.file_done();
        let Some(id) = layout::id_from_name(name).map(PackId) else {
            continue;
        };
        match pack_trailer(repo, name, *size) {
            Ok(t) => rebuilt.push(IndexedPack {
                pack: id,
                pack_length: *size,
                blobs: t.blobs,
            }),
            Err(e) => {
                unreadable.insert(id);
                out.packs_unreadable.push((name.clone(), e));
            }
        }
    }
    // A pack whose trailer is damaged may still hold good blobs the old index knows.
    let sizes: HashMap<PackId, u64> = packs
        .iter()
        .filter_map(|(n, s)| layout::id_from_name(n).map(|id| (PackId(id), *s)))
        .collect();
    let mut kept: HashSet<PackId> = HashSet::new();
    for (name, _) in &old_index {
        let Ok(Some(bytes)) = backend.get(name) else {
            continue;
        };
        let Ok(idx) = crate::cache::open_index(repo.key(), name, &bytes) else {
            continue;
        };
        for p in idx.packs {
            if unreadable.contains(&p.pack)
                && sizes.get(&p.pack) == Some(&p.pack_length)
                && kept.insert(p.pack)
            {
                rebuilt.push(p);
            }
        }
    }
    out.packs_indexed = rebuilt.len();
    out.blobs_indexed = rebuilt.iter().map(|p| p.blobs.len()).sum();
    // Written in files of bounded size, like a backup's.
    let mut batch: Vec<IndexedPack> = Vec::new();
    let mut blobs = 0;
    for p in rebuilt {
        blobs += p.blobs.len();
        batch.push(p);
        if blobs >= INDEX_FLUSH_BLOBS {
            repo.save_index(&IndexFile {
                packs: std::mem::take(&mut batch),
            })?;
            out.index_files_written += 1;
            blobs = 0;
        }
    }
    if !batch.is_empty() {
        repo.save_index(&IndexFile { packs: batch })?;
        out.index_files_written += 1;
    }
    // Only now that the new index is stored may the old one go.
    for (name, _) in &old_index {
        backend.delete(name)?;
        out.index_files_removed += 1;
    }
    repo.resync_index()?;
    Ok(out)
}

/// Reads a pack's trailer with two ranged reads and checks every entry fits.
fn pack_trailer(repo: &Repository, name: &str, size: u64) -> Result<PackTrailer, String> {
    let footer_len = pack::FOOTER_LEN as u64;
    if size < footer_len {
        return Err("shorter than a pack footer".into());
    }
    let footer = repo
        .backend()
        .get_range(name, size - footer_len..size)
        .map_err(|e| e.to_string())?;
    let range = pack::trailer_range(size, &footer)?;
    let sealed = repo
        .backend()
        .get_range(name, range.clone())
        .map_err(|e| e.to_string())?;
    let plain = repo
        .key()
        .open(Domain::PackTrailer, &sealed)
        .map_err(|e| format!("trailer: {e}"))?;
    let t: PackTrailer = codec::decode(&plain).map_err(|e| format!("trailer: {e}"))?;
    pack::check_entries(&t, range.start)?;
    Ok(t)
}

pub struct SnapshotRepairOptions {
    /// Read every pack to find damaged blobs (else only missing ones count).
    pub read_data: bool,
    /// Remove each original once its repaired copy is stored.
    pub forget_originals: bool,
}

/// One snapshot rewritten without what it lost.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RepairedSnapshot {
    pub original: String,
    pub repaired: String,
    /// Paths left out of the repaired snapshot.
    pub removed: Vec<String>,
    pub original_forgotten: bool,
}

/// The tag every repaired snapshot carries.
pub const REPAIRED_TAG: &str = "repaired";
/// `Snapshot.meta` key naming the snapshot a repaired one was made from.
pub const REPAIRED_FROM_META: &str = "coffer.repaired_from";

pub fn repair_snapshots(
    repo: &Repository,
    opts: &SnapshotRepairOptions,
    progress: &dyn Progress,
) -> Result<Vec<RepairedSnapshot>> {
    let subset = opts.read_data.then_some(DataSubset::All);
    let (report, usable) = check_usable(repo, subset, progress)?;
    progress.phase("repair snapshots", Some(report.damaged.len() as u64));
    let mut out = Vec::new();
    for d in &report.damaged {
        let id = SnapshotId::from_hex(&d.snapshot)
            .ok_or_else(|| Error::corrupt(&d.snapshot, "not a snapshot id"))?;
        let mut snap = repo.load_snapshot(&id)?;
        let mut writer = PackWriter::new(repo, 2);
        let root = {
            let mut rw = Rewriter {
                repo,
                walk: DamageWalk::new(repo, &usable),
                done: HashMap::new(),
            };
            match rw.dir(&mut writer, &snap.root)? {
                Some(root) => root,
                None => build_dir(&mut writer, Vec::new())?,
            }
        };
        writer.finish()?;
        snap.root = root;
        snap.partial = true;
        if !snap.tags.iter().any(|t| t == REPAIRED_TAG) {
            snap.tags.push(REPAIRED_TAG.into());
            snap.tags.sort();
        }
        snap.meta.retain(|(k, _)| k != REPAIRED_FROM_META);
        snap.meta.push((REPAIRED_FROM_META.into(), id.to_hex()));
        snap.meta.sort();
        snap.program = format!("coffer {}", env!("CARGO_PKG_VERSION"));
        let new_id = repo.save_snapshot(&snap)?;
        if opts.forget_originals {
            repo.backend().delete(&layout::snapshot(&id))?;
        }
        progress.file_done();
        out.push(RepairedSnapshot {
            original: id.to_hex(),
            repaired: new_id.to_hex(),
            removed: d.paths.clone(),
            original_forgotten: opts.forget_originals,
        });
    }
    Ok(out)
}

/// Rewrites folders without their unusable entries; each tree once.
struct Rewriter<'r> {
    repo: &'r Repository,
    walk: DamageWalk<'r>,
    done: HashMap<BlobId, Option<BlobId>>,
}

impl Rewriter<'_> {
    /// The folder's new tree, or None when its listing itself is lost.
    fn dir(&mut self, w: &mut PackWriter<'_>, tree: &BlobId) -> Result<Option<BlobId>> {
        if let Some(r) = self.done.get(tree) {
            return Ok(*r);
        }
        // Provisional: a forged cycle of trees ends as a lost folder.
        self.done.insert(*tree, None);
        let result = if !self.walk.dir_pieces_ok(tree, 0) {
            None
        } else if let Ok(nodes) = dir_entries(self.repo, tree) {
            let mut kept: Vec<Node> = Vec::with_capacity(nodes.len());
            let mut changed = false;
            for mut n in nodes {
                match &n.kind {
                    NodeKind::File { content } => {
                        if !self.walk.content_ok(content) {
                            changed = true;
                            continue;
                        }
                    }
                    NodeKind::Dir { tree: sub } => match self.dir(w, sub)? {
                        Some(new) => {
                            changed |= new != *sub;
                            n.kind = NodeKind::Dir { tree: new };
                        }
                        None => {
                            changed = true;
                            continue;
                        }
                    },
                    NodeKind::Symlink { .. } => {}
                }
                kept.push(n);
            }
            if changed {
                Some(build_dir(w, kept)?)
            } else {
                Some(*tree)
            }
        } else {
            None
        };
        self.done.insert(*tree, result);
        Ok(result)
    }
}
