//! `diff`: what changed between two snapshots, skipping every shared subtree.

use crate::error::Result;
use crate::format::tree::{Node, NodeKind};
use crate::id::BlobId;
use crate::repo::Repository;
use crate::tree::dir_entries;
use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    /// Same type, other content or mode.
    Modified,
    /// A file became a folder, a symlink a file, ...
    TypeChanged,
}

#[derive(Clone, Debug)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    pub old: Option<Node>,
    pub new: Option<Node>,
}

/// Changes from tree `a` to tree `b`, in path order. Folders added or removed
/// are listed with everything below them; a folder whose content changed is
/// not listed itself, only what changed in it.
pub fn diff(repo: &Repository, a: &BlobId, b: &BlobId) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    dirs(repo, a, b, "", &mut out)?;
    Ok(out)
}

fn dirs(
    repo: &Repository,
    a: &BlobId,
    b: &BlobId,
    prefix: &str,
    out: &mut Vec<Change>,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let (left, right) = (dir_entries(repo, a)?, dir_entries(repo, b)?);
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let order = match (l.peek(), r.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.name.cmp(&y.name),
        };
        match order {
            Ordering::Less => {
                let n = l.next().unwrap_or_else(|| unreachable!());
                whole(repo, n, prefix, ChangeKind::Removed, out)?;
            }
            Ordering::Greater => {
                let n = r.next().unwrap_or_else(|| unreachable!());
                whole(repo, n, prefix, ChangeKind::Added, out)?;
            }
            Ordering::Equal => {
                let x = l.next().unwrap_or_else(|| unreachable!());
                let y = r.next().unwrap_or_else(|| unreachable!());
                let path = join(prefix, &y);
                match (&x.kind, &y.kind) {
                    (NodeKind::Dir { tree: ta }, NodeKind::Dir { tree: tb }) => {
                        dirs(repo, ta, tb, &path, out)?;
                    }
                    (NodeKind::Dir { .. }, _) | (_, NodeKind::Dir { .. }) => {
                        whole(repo, x, prefix, ChangeKind::Removed, out)?;
                        whole(repo, y, prefix, ChangeKind::Added, out)?;
                    }
                    (NodeKind::File { content: ca }, NodeKind::File { content: cb }) => {
                        if ca != cb || x.mode != y.mode {
                            out.push(change(path, ChangeKind::Modified, Some(x), Some(y)));
                        }
                    }
                    (NodeKind::Symlink { target: ta }, NodeKind::Symlink { target: tb }) => {
                        if ta != tb {
                            out.push(change(path, ChangeKind::Modified, Some(x), Some(y)));
                        }
                    }
                    _ => out.push(change(path, ChangeKind::TypeChanged, Some(x), Some(y))),
                }
            }
        }
    }
}

/// A node added or removed, with everything below it.
fn whole(
    repo: &Repository,
    node: Node,
    prefix: &str,
    kind: ChangeKind,
    out: &mut Vec<Change>,
) -> Result<()> {
    let path = join(prefix, &node);
    let sub = match &node.kind {
        NodeKind::Dir { tree } => Some(*tree),
        _ => None,
    };
    let (old, new) = if kind == ChangeKind::Added {
        (None, Some(node))
    } else {
        (Some(node), None)
    };
    out.push(change(path.clone(), kind, old, new));
    if let Some(tree) = sub {
        for child in dir_entries(repo, &tree)? {
            whole(repo, child, &path, kind, out)?;
        }
    }
    Ok(())
}

fn change(path: String, kind: ChangeKind, old: Option<Node>, new: Option<Node>) -> Change {
    Change {
        path,
        kind,
        old,
        new,
    }
}

fn join(prefix: &str, n: &Node) -> String {
    if prefix.is_empty() {
        n.name_lossy()
    } else {
        format!("{prefix}/{}", n.name_lossy())
    }
}
