//! Reading trees: walk only the pieces a question needs.

use crate::error::{Error, Result};
use crate::format::tree::{ChunkRef, Content, Node, NodeKind, TreeBlob};
use crate::id::BlobId;
use crate::repo::Repository;
use crate::tree::prefetch_trees;
use std::sync::Arc;

/// All entries of a directory, in name order.
pub fn dir_entries(repo: &Repository, tree: &BlobId) -> Result<Vec<Node>> {
    let mut out = Vec::new();
    collect_entries(repo, tree, &mut out)?;
    Ok(out)
}

fn collect_entries(repo: &Repository, tree: &BlobId, out: &mut Vec<Node>) -> Result<()> {
    match &*repo.read_tree(tree)? {
        TreeBlob::DirLeaf(nodes) => out.extend(nodes.iter().cloned()),
        TreeBlob::DirInner(refs) => {
            let pieces: Vec<BlobId> = refs.iter().map(|r| r.blob).collect();
            prefetch_trees(repo, &pieces)?;
            for r in refs {
                collect_entries(repo, &r.blob, out)?;
            }
        }
        _ => return Err(not_a(tree, "directory")),
    }
    Ok(())
}

/// One entry of a directory by name, reading one piece per level.
pub fn lookup_child(repo: &Repository, tree: &BlobId, name: &[u8]) -> Result<Option<Node>> {
    let mut current = *tree;
    loop {
        let blob = repo.read_tree(&current)?;
        match &*blob {
            TreeBlob::DirLeaf(nodes) => {
                return Ok(nodes
                    .binary_search_by(|n| n.name.as_slice().cmp(name))
                    .ok()
                    .map(|i| nodes[i].clone()));
            }
            TreeBlob::DirInner(refs) => {
                // The last piece whose first name is <= name.
                let i = refs.partition_point(|r| r.first_name.as_slice() <= name);
                if i == 0 {
                    return Ok(None);
                }
                current = refs[i - 1].blob;
            }
            _ => return Err(not_a(&current, "directory")),
        }
    }
}

/// The node at `path` (`a/b/c`, no leading slash) under a root tree.
pub fn resolve_path(repo: &Repository, root: &BlobId, path: &str) -> Result<Option<Node>> {
    let mut parts = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .peekable();
    let mut tree = *root;
    while let Some(part) = parts.next() {
        let Some(node) = lookup_child(repo, &tree, part.as_bytes())? else {
            return Ok(None);
        };
        if parts.peek().is_none() {
            return Ok(Some(node));
        }
        match node.kind {
            NodeKind::Dir { tree: t } => tree = t,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// A file's chunk references in order, reading list pieces lazily.
pub struct ContentChunks<'r> {
    repo: &'r Repository,
    inline: std::vec::IntoIter<ChunkRef>,
    /// Pending pieces, innermost last.
    stack: Vec<(Arc<TreeBlob>, usize)>,
}

impl<'r> ContentChunks<'r> {
    pub fn new(repo: &'r Repository, content: &Content) -> Result<Self> {
        let mut me = Self {
            repo,
            inline: Vec::new().into_iter(),
            stack: Vec::new(),
        };
        match content {
            Content::Inline(refs) => me.inline = refs.clone().into_iter(),
            Content::List(root) => me.push(repo.read_tree(root)?)?,
        }
        Ok(me)
    }

    /// Descends into a piece; the pieces an inner one lists are fetched in
    /// one batch, since all of them will be read.
    fn push(&mut self, piece: Arc<TreeBlob>) -> Result<()> {
        if let TreeBlob::ContentInner(refs) = &*piece {
            let children: Vec<BlobId> = refs.iter().map(|r| r.blob).collect();
            prefetch_trees(self.repo, &children)?;
        }
        self.stack.push((piece, 0));
        Ok(())
    }

    fn advance(&mut self) -> Result<Option<ChunkRef>> {
        if let Some(c) = self.inline.next() {
            return Ok(Some(c));
        }
        loop {
            let Some((blob, pos)) = self.stack.last_mut() else {
                return Ok(None);
            };
            match &**blob {
                TreeBlob::ContentLeaf(refs) => {
                    if let Some(c) = refs.get(*pos) {
                        *pos += 1;
                        return Ok(Some(*c));
                    }
                    self.stack.pop();
                }
                TreeBlob::ContentInner(refs) => {
                    if let Some(r) = refs.get(*pos) {
                        *pos += 1;
                        let child = r.blob;
                        if self.stack.len() > 64 {
                            return Err(Error::corrupt(
                                format!("content list {}", child.short()),
                                "nested deeper than any real file",
                            ));
                        }
                        let t = self.repo.read_tree(&child)?;
                        self.push(t)?;
                    } else {
                        self.stack.pop();
                    }
                }
                _ => {
                    return Err(Error::corrupt(
                        "content list",
                        "piece is not a content list",
                    ));
                }
            }
        }
    }
}

impl Iterator for ContentChunks<'_> {
    type Item = Result<ChunkRef>;

    fn next(&mut self) -> Option<Self::Item> {
        self.advance().transpose()
    }
}

fn not_a(id: &BlobId, what: &str) -> Error {
    Error::corrupt(format!("tree {}", id.short()), format!("is not a {what}"))
}
