//! `log`: each version of one path across snapshots.

use crate::error::Result;
use crate::format::snapshot::SnapshotEntry;
use crate::format::tree::{Node, NodeKind};
use crate::id::BlobId;
use crate::repo::Repository;
use crate::tree::lookup_child;
use std::collections::HashMap;

/// One version of a path: the same content in consecutive snapshots that hold it.
#[derive(Clone, Debug)]
pub struct Version {
    pub node: Node,
    pub content_id: String,
    /// Index (into the snapshots given) of the first and last snapshot seen.
    pub first: usize,
    pub last: usize,
    /// Snapshots in which this version was seen.
    pub seen: usize,
}

/// The versions of `path` in `snapshots` (oldest first). A path missing from
/// some snapshots just has no version there; content that comes back after a
/// different one is a new version (a revert is history too).
pub fn log(repo: &Repository, snapshots: &[SnapshotEntry], path: &str) -> Result<Vec<Version>> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    // (tree, depth) -> the node at parts[depth..] below that tree.
    let mut memo: HashMap<(BlobId, usize), Option<Node>> = HashMap::new();
    let mut out: Vec<Version> = Vec::new();
    for (i, s) in snapshots.iter().enumerate() {
        let Some(node) = resolve(repo, &s.snapshot.root, &parts, 0, &mut memo)? else {
            continue;
        };
        let id = super::content_id(&node);
        match out.last_mut() {
            Some(v) if v.content_id == id && v.node.mode == node.mode => {
                v.last = i;
                v.seen += 1;
            }
            _ => out.push(Version {
                node,
                content_id: id,
                first: i,
                last: i,
                seen: 1,
            }),
        }
    }
    Ok(out)
}

fn resolve(
    repo: &Repository,
    tree: &BlobId,
    parts: &[&str],
    depth: usize,
    memo: &mut HashMap<(BlobId, usize), Option<Node>>,
) -> Result<Option<Node>> {
    if let Some(hit) = memo.get(&(*tree, depth)) {
        return Ok(hit.clone());
    }
    let Some(part) = parts.get(depth) else {
        return Ok(None);
    };
    let found = match lookup_child(repo, tree, part.as_bytes())? {
        None => None,
        Some(node) if depth + 1 == parts.len() => Some(node),
        Some(Node {
            kind: NodeKind::Dir { tree: sub },
            ..
        }) => resolve(repo, &sub, parts, depth + 1, memo)?,
        Some(_) => None,
    };
    memo.insert((*tree, depth), found.clone());
    Ok(found)
}
