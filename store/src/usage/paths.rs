//! Where the bytes are inside one snapshot (`du --by path --depth N`).
//!
//! Each path down to the depth is an owner in the same walk as the snapshot
//! audit; paths are numbered in depth-first order, so a blob under `a/b/c`
//! is owned by the consecutive run `a`, `a/b`, `a/b/c`, and counted once per
//! path however many files under it share it.

use super::owners::Owners;
use super::tally::totals;
use super::walk::{self, Root, Tally};
use crate::cache::BlobLocation;
use crate::error::Result;
use crate::format::snapshot::SnapshotEntry;
use crate::format::tree::{Content, NodeKind};
use crate::id::BlobId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::tree::dir_entries;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct PathUsage {
    /// `.` for the snapshot's root, else `documents/facture`.
    pub path: String,
    pub depth: u32,
    /// `dir`, `file` or `symlink`.
    pub kind: &'static str,
    pub logical_bytes: u64,
    /// Raw bytes of the distinct blobs under the path (after deduplication).
    pub deduplicated_bytes: u64,
    /// Stored bytes of the distinct blobs under the path.
    pub stored_bytes: u64,
}

/// Every path of `snapshot` down to `depth` levels (depth 0: only the root),
/// in depth-first name order.
pub fn by_path(
    repo: &Repository,
    snapshot: &SnapshotEntry,
    depth: u32,
    progress: &dyn Progress,
) -> Result<Vec<PathUsage>> {
    let mut rows = vec![Row {
        path: ".".into(),
        depth: 0,
        kind: "dir",
        root: Some(Root::Tree(snapshot.snapshot.root)),
    }];
    list(repo, &snapshot.snapshot.root, "", 1, depth, &mut rows)?;
    let roots: Vec<Root> = rows
        .iter()
        .map(|r| r.root.clone().unwrap_or(Root::Chunks(Vec::new())))
        .collect();
    let mut tally = PathTally {
        stored: vec![0; rows.len() + 1],
        raw: vec![0; rows.len() + 1],
    };
    let logical = walk::run(repo, &roots, progress, &mut tally)?;
    let stored = totals(&tally.stored, rows.len());
    let raw = totals(&tally.raw, rows.len());
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| PathUsage {
            path: r.path,
            depth: r.depth,
            kind: r.kind,
            logical_bytes: logical[i],
            deduplicated_bytes: raw[i],
            stored_bytes: stored[i],
        })
        .collect())
}

struct Row {
    path: String,
    depth: u32,
    kind: &'static str,
    root: Option<Root>,
}

fn list(
    repo: &Repository,
    tree: &BlobId,
    prefix: &str,
    depth: u32,
    max: u32,
    rows: &mut Vec<Row>,
) -> Result<()> {
    if depth > max {
        return Ok(());
    }
    for node in dir_entries(repo, tree)? {
        let path = format!("{prefix}{}", node.name_lossy());
        let (kind, root) = match &node.kind {
            NodeKind::Dir { tree } => ("dir", Some(Root::Tree(*tree))),
            NodeKind::File {
                content: Content::List(root),
            } => ("file", Some(Root::Tree(*root))),
            NodeKind::File {
                content: Content::Inline(refs),
            } => ("file", Some(Root::Chunks(refs.clone()))),
            NodeKind::Symlink { .. } => ("symlink", None),
        };
        rows.push(Row {
            path: path.clone(),
            depth,
            kind,
            root,
        });
        if let NodeKind::Dir { tree } = &node.kind {
            list(repo, tree, &format!("{path}/"), depth + 1, max, rows)?;
        }
    }
    Ok(())
}

struct PathTally {
    stored: Vec<i128>,
    raw: Vec<i128>,
}

impl Tally for PathTally {
    fn referenced(&mut self, _id: &BlobId, loc: Option<&BlobLocation>, owners: &Owners) {
        let Some(loc) = loc else {
            return;
        };
        for &(a, b) in owners.runs() {
            self.stored[a as usize] += i128::from(loc.length);
            self.stored[b as usize + 1] -= i128::from(loc.length);
            self.raw[a as usize] += i128::from(loc.raw_length);
            self.raw[b as usize + 1] -= i128::from(loc.raw_length);
        }
    }

    fn unused(&mut self, _id: &BlobId, _loc: &BlobLocation) {}
}
