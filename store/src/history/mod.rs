//! Across snapshots: the versions of one path (`log`), the snapshots holding
//! paths that match a pattern (`find`), and what changed between two (`diff`).
//!
//! Consecutive snapshots share almost all their trees, so every walk is
//! memoized by tree id: a subtree seen once is never read or walked again,
//! and 3,650 nightly snapshots of an unchanged folder cost one walk.

mod diff;
mod find;
mod log;

pub use diff::{Change, ChangeKind, diff};
pub use find::{Match, find};
pub use log::{Version, log};

use crate::format::tree::{Node, NodeKind};
use crate::id::content_hash;

/// What a node holds, as one comparable value: the same id means the same
/// bytes (content ids name chunk lists, which name content).
pub fn content_id(node: &Node) -> String {
    let bytes = match &node.kind {
        NodeKind::File { content } => postcard::to_allocvec(content).unwrap_or_default(),
        NodeKind::Dir { tree } => tree.0.to_vec(),
        NodeKind::Symlink { target } => target.clone(),
    };
    hex::encode(&content_hash(&bytes)[..16])
}

/// `file`, `dir` or `symlink`.
pub fn kind_name(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::File { .. } => "file",
        NodeKind::Dir { .. } => "dir",
        NodeKind::Symlink { .. } => "symlink",
    }
}
