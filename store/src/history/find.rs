//! `find`: which snapshots hold paths matching a pattern.

use crate::error::Result;
use crate::format::snapshot::SnapshotEntry;
use crate::format::tree::TreeBlob;
use crate::format::tree::{Node, NodeKind};
use crate::id::BlobId;
use crate::repo::Repository;
use crate::tree::prefetch_trees;
use globset::GlobSet;
use std::collections::HashMap;
use std::sync::Arc;

/// One matching path with the same content over consecutive snapshots holding it.
#[derive(Clone, Debug)]
pub struct Match {
    pub path: String,
    pub node: Node,
    pub content_id: String,
    /// Indexes (into the snapshots given) of the first and last snapshot seen.
    pub first: usize,
    pub last: usize,
    pub seen: usize,
}

type Found = Arc<Vec<(String, Node)>>;

/// Paths of `snapshots` matching `whole` (globs with a `/`, tested on the whole
/// path) or `base` (globs without, tested on the name), grouped per path and
/// content, in path order.
pub fn find(
    repo: &Repository,
    snapshots: &[SnapshotEntry],
    whole: &GlobSet,
    base: &GlobSet,
) -> Result<Vec<Match>> {
    let mut walker = Walker {
        repo,
        whole,
        base,
        memo: HashMap::new(),
    };
    let mut groups: HashMap<String, Vec<Match>> = HashMap::new();
    for (i, s) in snapshots.iter().enumerate() {
        let found = walker.dir(&s.snapshot.root, "")?;
        for (path, node) in found.iter() {
            let id = super::content_id(node);
            let runs = groups.entry(path.clone()).or_default();
            match runs.last_mut() {
                Some(m) if m.content_id == id && m.last + 1 == i => {
                    m.last = i;
                    m.seen += 1;
                }
                _ => runs.push(Match {
                    path: path.clone(),
                    node: node.clone(),
                    content_id: id,
                    first: i,
                    last: i,
                    seen: 1,
                }),
            }
        }
    }
    let mut out: Vec<Match> = groups.into_values().flatten().collect();
    out.sort_by(|a, b| a.path.cmp(&b.path).then(a.first.cmp(&b.first)));
    Ok(out)
}

struct Walker<'a> {
    repo: &'a Repository,
    whole: &'a GlobSet,
    base: &'a GlobSet,
    /// (tree piece, path of its folder) -> matches below it: the same piece
    /// at the same place gives the same answer, whichever snapshot it is in.
    memo: HashMap<(BlobId, String), Found>,
}

impl Walker<'_> {
    fn dir(&mut self, tree: &BlobId, prefix: &str) -> Result<Found> {
        self.piece(tree, prefix)
    }

    /// The matches below one piece of a folder's tree. Memoized per piece,
    /// not per folder: a new invoice rewrites one leaf of a 100,000-entry
    /// folder, and the next night's walk reads that leaf alone.
    fn piece(&mut self, blob: &BlobId, prefix: &str) -> Result<Found> {
        let key = (*blob, prefix.to_string());
        if let Some(hit) = self.memo.get(&key) {
            return Ok(Arc::clone(hit));
        }
        let mut found = Vec::new();
        match &*self.repo.read_tree(blob)? {
            TreeBlob::DirInner(refs) => {
                let unseen: Vec<BlobId> = refs
                    .iter()
                    .map(|r| r.blob)
                    .filter(|b| !self.memo.contains_key(&(*b, prefix.to_string())))
                    .collect();
                prefetch_trees(self.repo, &unseen)?;
                for r in refs {
                    found.extend(self.piece(&r.blob, prefix)?.iter().cloned());
                }
            }
            TreeBlob::DirLeaf(nodes) => {
                for node in nodes {
                    let name = node.name_lossy();
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}/{name}")
                    };
                    if self.base.is_match(&name) || self.whole.is_match(&path) {
                        found.push((path.clone(), node.clone()));
                    }
                    if let NodeKind::Dir { tree: sub } = &node.kind {
                        found.extend(self.dir(sub, &path)?.iter().cloned());
                    }
                }
            }
            _ => {
                return Err(crate::error::Error::corrupt(
                    format!("tree {}", blob.short()),
                    "is not a directory",
                ));
            }
        }
        let found = Arc::new(found);
        self.memo.insert(key, Arc::clone(&found));
        Ok(found)
    }
}
