//! Writing a plan into a repository through the store API, one snapshot a night.
//!
//! A real nightly backup rereads the tree's metadata; here the tree lives in
//! memory and each folder remembers its tree id until something below it
//! changes, so a night rebuilds only the folders on the paths of its changes
//! (`documents/facture` and the root, for a new invoice) and ten years of
//! nights over 100,000 files take minutes, not hours. Files are chunked with
//! the repository's chunker and trees cut by `coffer_store::tree::build_dir`,
//! so the blobs are the ones `coffer backup` of the same tree would store.
//!
//! Each night has its own pack writer, index file and snapshot, like a nightly
//! `coffer backup`: a reader meets the same number of objects.

use crate::content::content;
use crate::plan::{Change, ChangeKind, Plan};
use coffer_store::format::snapshot::{Snapshot, Summary};
use coffer_store::format::tree::{ChunkRef, Node, NodeKind};
use coffer_store::id::{BlobId, SnapshotId};
use coffer_store::maintenance::CompactOptions;
use coffer_store::packer::PackWriter;
use coffer_store::tree::{ContentBuilder, build_dir};
use coffer_store::{Repository, Result};
use std::collections::BTreeMap;

/// Who the snapshots say made them.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub host: String,
    /// The source path recorded in each snapshot (its root holds `documents`).
    pub source_path: String,
    pub tags: Vec<String>,
    pub upload_concurrency: usize,
    /// The upkeep a backup does after each snapshot (index compaction,
    /// snapshot catalogue); `None` skips it.
    pub maintenance: Option<CompactOptions>,
    /// Upkeep runs after every this many nights and after the last one. A
    /// backup runs it every night; doing it each 16th changes little (it
    /// acts past 32 small index files or 16 uncatalogued snapshots) and
    /// spares ten years of listings of a growing `snapshots/`.
    pub maintenance_every: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            host: "erp1".into(),
            source_path: "/srv/dolibarr/documents".into(),
            tags: Vec::new(),
            upload_concurrency: 2,
            // Ten years are written in minutes, alone: no reader needs the
            // superseded index files kept for an hour of wall-clock time.
            maintenance: Some(CompactOptions {
                grace: std::time::Duration::ZERO,
                ..CompactOptions::default()
            }),
            maintenance_every: 16,
        }
    }
}

const FILE_MODE: u32 = 0o640;
const DIR_MODE: u32 = 0o750;
const OWNER: u32 = 33; // www-data, as Dolibarr's files are

#[derive(Default)]
struct Dir {
    entries: BTreeMap<Vec<u8>, Entry>,
    /// The tree id while nothing below changed.
    tree: Option<BlobId>,
    mtime_unix_ns: i64,
    inode: u64,
}

enum Entry {
    File(Node),
    Dir(Box<Dir>),
}

struct Model {
    root: Dir,
    next_inode: u64,
    files: u64,
    bytes: u64,
}

/// Writes every night of `plan` as a snapshot; `on_night(i)` is called after
/// each one. Returns the snapshot ids, oldest first.
pub fn write_plan(
    repo: &Repository,
    plan: &Plan,
    opts: &WriteOptions,
    on_night: &mut dyn FnMut(usize, &SnapshotId),
) -> Result<Vec<SnapshotId>> {
    let mut model = Model {
        root: Dir::default(),
        next_inode: 2,
        files: 0,
        bytes: 0,
    };
    let mut ids = Vec::with_capacity(plan.days.len());
    let mut parent = None;
    for (i, day) in plan.days.iter().enumerate() {
        let mut w = PackWriter::new(repo, opts.upload_concurrency);
        let mut summary = Summary::default();
        for change in &day.changes {
            model.apply(repo, &mut w, plan.params.seed, change, &mut summary)?;
        }
        let root = model.root.store(&mut w)?;
        let (_, stats) = w.finish()?;
        summary.files_unmodified = model.files - summary.files_new - summary.files_changed;
        summary.bytes_total = model.bytes;
        summary.blobs_added = stats.blobs_added;
        summary.bytes_added = stats.bytes_added;
        let mut tags = opts.tags.clone();
        tags.sort();
        let snapshot = Snapshot {
            time_unix_ns: day.time_unix_ns,
            host: opts.host.clone(),
            username: "dolibarr".into(),
            tags,
            paths: vec![opts.source_path.clone()],
            root,
            parent,
            partial: false,
            program: format!("coffer-sim {}", env!("CARGO_PKG_VERSION")),
            summary,
            meta: Vec::new(),
        };
        let id = repo.save_snapshot(&snapshot)?;
        if let Some(m) = &opts.maintenance {
            let every = opts.maintenance_every.max(1);
            if (i + 1) % every == 0 || i + 1 == plan.days.len() {
                coffer_store::maintenance::after_backup(repo, m)?;
            }
        }
        on_night(i, &id);
        parent = Some(id);
        ids.push(id);
    }
    Ok(ids)
}

impl Model {
    fn apply(
        &mut self,
        repo: &Repository,
        w: &mut PackWriter<'_>,
        seed: u64,
        change: &Change,
        summary: &mut Summary,
    ) -> Result<()> {
        let parts: Vec<&[u8]> = change.path.split('/').map(str::as_bytes).collect();
        let Some((name, folders)) = parts.split_last() else {
            return Ok(());
        };
        let next_inode = &mut self.next_inode;
        let dir = self
            .root
            .folder(folders, change.mtime_unix_ns, next_inode)
            .ok_or_else(|| {
                coffer_store::Error::InvalidInput(format!(
                    "{}: a folder of this path is a file in the plan",
                    change.path
                ))
            })?;
        match change.kind {
            ChangeKind::Removed => {
                if let Some(Entry::File(old)) = dir.entries.remove(*name) {
                    self.files -= 1;
                    self.bytes -= old.size;
                }
                dir.mtime_unix_ns = change.mtime_unix_ns;
            }
            ChangeKind::Added | ChangeKind::Modified => {
                let data = content(seed, &change.path, change.version, change.size);
                let file_content = store_content(repo, w, &data)?;
                summary.bytes_read += data.len() as u64;
                let inode = match dir.entries.get(*name) {
                    Some(Entry::File(old)) => {
                        self.bytes -= old.size;
                        summary.files_changed += 1;
                        old.inode
                    }
                    _ => {
                        self.files += 1;
                        summary.files_new += 1;
                        dir.mtime_unix_ns = change.mtime_unix_ns;
                        *next_inode += 1;
                        *next_inode
                    }
                };
                self.bytes += change.size;
                let node = Node {
                    name: name.to_vec(),
                    kind: NodeKind::File {
                        content: file_content,
                    },
                    mode: FILE_MODE,
                    uid: OWNER,
                    gid: OWNER,
                    mtime_unix_ns: change.mtime_unix_ns,
                    ctime_unix_ns: change.mtime_unix_ns,
                    inode,
                    size: change.size,
                };
                dir.entries.insert(name.to_vec(), Entry::File(node));
            }
        }
        Ok(())
    }
}

impl Dir {
    /// The folder at `path` below this one, made when missing; every folder on
    /// the way forgets its tree id, since something below it is about to change.
    fn folder(&mut self, path: &[&[u8]], mtime: i64, next_inode: &mut u64) -> Option<&mut Dir> {
        self.tree = None;
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        let entry = self.entries.entry(first.to_vec()).or_insert_with(|| {
            *next_inode += 1;
            Entry::Dir(Box::new(Dir {
                mtime_unix_ns: mtime,
                inode: *next_inode,
                ..Dir::default()
            }))
        });
        match entry {
            Entry::Dir(d) => d.folder(rest, mtime, next_inode),
            Entry::File(_) => None,
        }
    }

    /// This folder's tree id, storing the trees of changed folders below it.
    fn store(&mut self, w: &mut PackWriter<'_>) -> Result<BlobId> {
        if let Some(id) = self.tree {
            return Ok(id);
        }
        let mut nodes = Vec::with_capacity(self.entries.len());
        for (name, entry) in &mut self.entries {
            nodes.push(match entry {
                Entry::File(node) => node.clone(),
                Entry::Dir(d) => Node {
                    name: name.clone(),
                    kind: NodeKind::Dir { tree: d.store(w)? },
                    mode: DIR_MODE,
                    uid: OWNER,
                    gid: OWNER,
                    mtime_unix_ns: d.mtime_unix_ns,
                    ctime_unix_ns: d.mtime_unix_ns,
                    inode: d.inode,
                    size: 0,
                },
            });
        }
        let id = build_dir(w, nodes)?;
        self.tree = Some(id);
        Ok(id)
    }
}

/// Chunks and stores a file's bytes as `coffer backup` does.
fn store_content(
    repo: &Repository,
    w: &mut PackWriter<'_>,
    data: &[u8],
) -> Result<coffer_store::format::tree::Content> {
    let mut list = ContentBuilder::new();
    for range in coffer_chunker::chunk_boundaries(data, &repo.chunker_params()) {
        let chunk = &data[range];
        let id = w.add_data(chunk)?;
        let length = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        list.push(w, ChunkRef { id, length })?;
    }
    list.finish(w)
}
