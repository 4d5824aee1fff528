//! Writing trees: pieces cut where an item's hash says so, so that one change
//! rewrites one piece per level.

use crate::error::Result;
use crate::format::tree::{
    CONTENT_FANOUT, ChunkRef, Content, ContentRef, DIR_FANOUT, DirRef, INLINE_CHUNKS,
    MAX_PIECE_FACTOR, Node, TreeBlob,
};
use crate::id::BlobId;
use crate::packer::PackWriter;

/// Does an item whose key hashes to `h` end a piece?
fn is_boundary(h: &[u8; 32], fanout: u32) -> bool {
    u32::from_le_bytes([h[0], h[1], h[2], h[3]]) % fanout == 0
}

/// Stores a directory's entries (sorted here) and returns its root tree blob.
pub fn build_dir(w: &mut PackWriter<'_>, mut nodes: Vec<Node>) -> Result<BlobId> {
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let max = DIR_FANOUT as usize * MAX_PIECE_FACTOR;
    let ids = w.id_key().clone();
    // Level 0: leaves of entries.
    let mut refs: Vec<DirRef> = Vec::new();
    let mut piece: Vec<Node> = Vec::new();
    let total = nodes.len();
    for node in nodes {
        let h = ids.id(&node.name);
        piece.push(node);
        if is_boundary(&h, DIR_FANOUT) || piece.len() >= max {
            refs.push(store_dir_leaf(w, std::mem::take(&mut piece))?);
        }
    }
    if !piece.is_empty() || refs.is_empty() {
        if refs.is_empty() {
            // Small directory: a single leaf is the root.
            return w.add_tree(&TreeBlob::DirLeaf(piece));
        }
        refs.push(store_dir_leaf(w, piece)?);
    }
    debug_assert_eq!(refs.iter().map(|r| r.entries).sum::<u64>(), total as u64);
    // Upper levels: pieces of references, cut by the child blob id.
    loop {
        if refs.len() == 1 {
            return Ok(refs[0].blob);
        }
        let mut next = Vec::new();
        let mut piece: Vec<DirRef> = Vec::new();
        for r in refs {
            let end = is_boundary(&r.blob.0, DIR_FANOUT);
            piece.push(r);
            if end || piece.len() >= max {
                next.push(store_dir_inner(w, std::mem::take(&mut piece))?);
            }
        }
        if !piece.is_empty() {
            next.push(store_dir_inner(w, piece)?);
        }
        refs = next;
    }
}

fn store_dir_leaf(w: &mut PackWriter<'_>, piece: Vec<Node>) -> Result<DirRef> {
    let first_name = piece.first().map(|n| n.name.clone()).unwrap_or_default();
    let entries = piece.len() as u64;
    let blob = w.add_tree(&TreeBlob::DirLeaf(piece))?;
    Ok(DirRef {
        first_name,
        blob,
        entries,
    })
}

fn store_dir_inner(w: &mut PackWriter<'_>, piece: Vec<DirRef>) -> Result<DirRef> {
    let first_name = piece
        .first()
        .map(|r| r.first_name.clone())
        .unwrap_or_default();
    let entries = piece.iter().map(|r| r.entries).sum();
    let blob = w.add_tree(&TreeBlob::DirInner(piece))?;
    Ok(DirRef {
        first_name,
        blob,
        entries,
    })
}

/// Builds a file's content list as its chunks arrive, never holding more than
/// one open piece per level: a 50 GB dump's list is written as it streams.
#[derive(Default)]
pub struct ContentBuilder {
    leaf: Vec<ChunkRef>,
    /// `upper[0]` holds references to leaves, `upper[1]` to those pieces, ...
    upper: Vec<Vec<ContentRef>>,
    bytes: u64,
}

impl ContentBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn push(&mut self, w: &mut PackWriter<'_>, chunk: ChunkRef) -> Result<()> {
        self.bytes += u64::from(chunk.length);
        self.leaf.push(chunk);
        if is_boundary(&chunk.id.0, CONTENT_FANOUT)
            || self.leaf.len() >= CONTENT_FANOUT as usize * MAX_PIECE_FACTOR
        {
            self.flush_leaf(w)?;
        }
        Ok(())
    }

    fn flush_leaf(&mut self, w: &mut PackWriter<'_>) -> Result<()> {
        let leaf = std::mem::take(&mut self.leaf);
        let r = ContentRef {
            bytes: leaf.iter().map(|c| u64::from(c.length)).sum(),
            chunks: leaf.len() as u64,
            blob: w.add_tree(&TreeBlob::ContentLeaf(leaf))?,
        };
        self.push_ref(w, 0, r)
    }

    fn push_ref(&mut self, w: &mut PackWriter<'_>, level: usize, r: ContentRef) -> Result<()> {
        if self.upper.len() <= level {
            self.upper.push(Vec::new());
        }
        let end = is_boundary(&r.blob.0, CONTENT_FANOUT);
        self.upper[level].push(r);
        if end || self.upper[level].len() >= CONTENT_FANOUT as usize * MAX_PIECE_FACTOR {
            let piece = std::mem::take(&mut self.upper[level]);
            let up = inner_ref(w, piece)?;
            self.push_ref(w, level + 1, up)?;
        }
        Ok(())
    }

    /// The file's content: inline when short, else the root of its list.
    pub fn finish(mut self, w: &mut PackWriter<'_>) -> Result<Content> {
        if self.upper.is_empty() && self.leaf.len() <= INLINE_CHUNKS {
            return Ok(Content::Inline(self.leaf));
        }
        if !self.leaf.is_empty() {
            self.flush_leaf(w)?;
        }
        // Close every level bottom-up; the root is the lone reference at the top.
        let mut level = 0;
        loop {
            let is_top = level + 1 >= self.upper.len();
            let piece = std::mem::take(&mut self.upper[level]);
            if is_top && piece.len() == 1 {
                return Ok(Content::List(piece[0].blob));
            }
            if !piece.is_empty() {
                let up = inner_ref(w, piece)?;
                if self.upper.len() <= level + 1 {
                    self.upper.push(Vec::new());
                }
                self.upper[level + 1].push(up);
            }
            level += 1;
        }
    }
}

fn inner_ref(w: &mut PackWriter<'_>, piece: Vec<ContentRef>) -> Result<ContentRef> {
    Ok(ContentRef {
        bytes: piece.iter().map(|r| r.bytes).sum(),
        chunks: piece.iter().map(|r| r.chunks).sum(),
        blob: w.add_tree(&TreeBlob::ContentInner(piece))?,
    })
}
