//! Directory trees and content lists as blobs.
//!
//! A directory is a sorted list of nodes; a file's content is a list of chunk
//! references. Both can be huge (a 20,000-entry invoice folder, a 50 GB dump
//! of 800,000 chunks), and re-storing the whole list because one entry changed
//! is how other tools store megabytes of metadata a night. So both are cut into
//! pieces at content-defined points (an item ends a piece when the keyed hash of
//! its key is 0 modulo the fanout), and pieces referencing pieces form a tree
//! (a "prolly tree"): one changed entry rewrites one leaf and its path up.

use crate::codec::Record;
use crate::id::BlobId;
use serde::{Deserialize, Serialize};

/// Target entries per directory piece.
pub const DIR_FANOUT: u32 = 64;
/// Target chunk references per content piece.
pub const CONTENT_FANOUT: u32 = 128;
/// A piece is closed at this many items even without a boundary.
pub const MAX_PIECE_FACTOR: usize = 8;
/// A file's chunk list stays inline in its node when it has at most this many
/// chunks and no piece of it was closed while it streamed (see FORMAT.md).
pub const INLINE_CHUNKS: usize = 32;

/// The plaintext of a tree blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreeBlob {
    /// Directory entries, sorted by name bytes.
    DirLeaf(Vec<Node>),
    /// Directory pieces, in name order.
    DirInner(Vec<DirRef>),
    /// Chunk references, in file order.
    ContentLeaf(Vec<ChunkRef>),
    /// Content pieces, in file order.
    ContentInner(Vec<ContentRef>),
}

impl Record for TreeBlob {
    const TAG: u8 = 0x06;
    const VERSION: u8 = 1;
    const NAME: &'static str = "tree";
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirRef {
    /// Name of the first entry under this piece (for lookups by name).
    pub first_name: Vec<u8>,
    pub blob: BlobId,
    pub entries: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub id: BlobId,
    pub length: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRef {
    pub blob: BlobId,
    pub bytes: u64,
    pub chunks: u64,
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// File name bytes (not necessarily UTF-8); never empty, never `.`/`..`, no `/`.
    pub name: Vec<u8>,
    pub kind: NodeKind,
    /// Unix permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_unix_ns: i64,
    /// Inode change time: with size, mtime and inode, tells an unchanged file
    /// apart from one rewritten in place with its mtime kept (`rsync -t`, `cp -p`).
    pub ctime_unix_ns: i64,
    /// Used only to detect unchanged files on the next backup.
    pub inode: u64,
    /// Content length for files; 0 otherwise.
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    File { content: Content },
    Dir { tree: BlobId },
    Symlink { target: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// Up to [`INLINE_CHUNKS`] chunk references, in order.
    Inline(Vec<ChunkRef>),
    /// Root of a content list tree (a `ContentLeaf` or `ContentInner` blob).
    List(BlobId),
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir { .. })
    }

    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Is this a name restore may create? Defends against hostile trees.
pub fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}
