//! The walk shared by every audit: each distinct tree read once, who owns it,
//! and a merge of the blobs they reference with the index.
//!
//! 1. From the roots (one per owner: a snapshot's root tree, or a path inside
//!    one), every distinct tree blob is read once: tree ids repeat across
//!    snapshots, and an unchanged subtree is the same blob. Each tree becomes a
//!    node; each blob it references directly (itself, its chunks) goes into the
//!    on-disk [`Scratch`] as `(blob id, node)`.
//! 2. Owners flow down the tree graph, parents before children, as runs of
//!    owner indexes ([`Owners`]): cost per edge, not per snapshot.
//! 3. The scratch, read back in blob id order, is merged with the index cache
//!    (also in id order): each referenced blob meets its stored size and the
//!    union of its nodes' owners; index entries nothing references are unused.
//!
//! Memory holds one entry per distinct tree (id, owner runs, child list), never
//! one per chunk.

use super::owners::Owners;
use super::scratch::Scratch;
use crate::cache::BlobLocation;
use crate::error::Result;
use crate::format::tree::{ChunkRef, Content, NodeKind, TreeBlob};
use crate::id::BlobId;
use crate::progress::Progress;
use crate::repo::Repository;
use std::collections::HashMap;

/// Where an owner's content starts.
#[derive(Clone, Debug)]
pub enum Root {
    /// A directory tree or a file's content list.
    Tree(BlobId),
    /// A file whose few chunks sit inline in its directory entry.
    Chunks(Vec<ChunkRef>),
}

/// What an audit does with each blob.
pub trait Tally {
    /// A blob some owner references; `loc` is `None` when no index lists it (damage).
    fn referenced(&mut self, id: &BlobId, loc: Option<&BlobLocation>, owners: &Owners);
    /// A blob the index lists that no owner references.
    fn unused(&mut self, id: &BlobId, loc: &BlobLocation);
}

/// Walks `roots` (owner `i` starts at `roots[i]`), feeds every indexed blob to
/// `tally`, and returns each owner's logical size (bytes of its files).
pub fn run(
    repo: &Repository,
    roots: &[Root],
    progress: &dyn Progress,
    tally: &mut dyn Tally,
) -> Result<Vec<u64>> {
    let scratch_parent = repo
        .index()?
        .path()
        .parent()
        .map(std::path::Path::to_path_buf);
    let mut scratch = Scratch::new(scratch_parent.as_deref())?;
    progress.phase("read trees", None);
    let mut graph = Graph {
        repo,
        scratch: &mut scratch,
        ids: HashMap::new(),
        children: Vec::new(),
        logical: Vec::new(),
        postorder: Vec::new(),
        progress,
    };
    let mut owner_nodes = Vec::with_capacity(roots.len());
    for root in roots {
        owner_nodes.push(match root {
            Root::Tree(id) => graph.visit(id)?,
            Root::Chunks(refs) => graph.inline_node(refs)?,
        });
    }
    let Graph {
        children,
        logical,
        postorder,
        ..
    } = graph;
    let owners = propagate(&owner_nodes, &children, &postorder);
    drop(children);
    let owner_logical = owner_nodes.iter().map(|&n| logical[n as usize]).collect();

    progress.phase("count blobs", None);
    merge_with_index(repo, &mut scratch, &owners, tally)?;
    Ok(owner_logical)
}

struct Graph<'a> {
    repo: &'a Repository,
    scratch: &'a mut Scratch,
    ids: HashMap<BlobId, u32>,
    children: Vec<Vec<u32>>,
    /// Bytes of files under each node.
    logical: Vec<u64>,
    postorder: Vec<u32>,
    progress: &'a dyn Progress,
}

impl Graph<'_> {
    fn new_node(&mut self) -> u32 {
        let n = u32::try_from(self.children.len()).unwrap_or(u32::MAX);
        self.children.push(Vec::new());
        self.logical.push(0);
        n
    }

    fn inline_node(&mut self, refs: &[ChunkRef]) -> Result<u32> {
        let n = self.new_node();
        for r in refs {
            self.scratch.add(&r.id, n)?;
            self.logical[n as usize] += u64::from(r.length);
        }
        self.postorder.push(n);
        Ok(n)
    }

    fn visit(&mut self, id: &BlobId) -> Result<u32> {
        if let Some(&n) = self.ids.get(id) {
            return Ok(n);
        }
        let n = self.new_node();
        // Registered before its children: a forged cycle of trees ends here.
        self.ids.insert(*id, n);
        self.scratch.add(id, n)?;
        let tree = self.repo.read_tree(id)?;
        self.progress.file_done();
        let mut logical = 0u64;
        match &*tree {
            TreeBlob::DirLeaf(nodes) => {
                for node in nodes {
                    match &node.kind {
                        NodeKind::File {
                            content: Content::Inline(refs),
                        } => {
                            for r in refs {
                                self.scratch.add(&r.id, n)?;
                            }
                            logical += node.size;
                        }
                        NodeKind::File {
                            content: Content::List(root),
                        } => {
                            let c = self.visit(root)?;
                            self.children[n as usize].push(c);
                            logical += node.size;
                        }
                        NodeKind::Dir { tree } => {
                            let c = self.visit(tree)?;
                            self.children[n as usize].push(c);
                            logical += self.logical[c as usize];
                        }
                        NodeKind::Symlink { .. } => {}
                    }
                }
            }
            TreeBlob::ContentLeaf(refs) => {
                for r in refs {
                    self.scratch.add(&r.id, n)?;
                    logical += u64::from(r.length);
                }
            }
            TreeBlob::DirInner(refs) => {
                for r in refs {
                    let c = self.visit(&r.blob)?;
                    self.children[n as usize].push(c);
                    logical += self.logical[c as usize];
                }
            }
            TreeBlob::ContentInner(refs) => {
                for r in refs {
                    let c = self.visit(&r.blob)?;
                    self.children[n as usize].push(c);
                    logical += self.logical[c as usize];
                }
            }
        }
        self.logical[n as usize] = logical;
        self.postorder.push(n);
        Ok(n)
    }
}

/// Each node's owners: those whose root it is, and its parents' owners.
/// Reverse postorder visits every parent before its children.
fn propagate(owner_nodes: &[u32], children: &[Vec<u32>], postorder: &[u32]) -> Vec<Owners> {
    let mut owners = vec![Owners::default(); children.len()];
    for (i, &n) in owner_nodes.iter().enumerate() {
        owners[n as usize].absorb(&Owners::one(u32::try_from(i).unwrap_or(u32::MAX)));
    }
    for &n in postorder.iter().rev() {
        let mine = std::mem::take(&mut owners[n as usize]);
        for &c in &children[n as usize] {
            if c != n {
                owners[c as usize].absorb(&mine);
            }
        }
        owners[n as usize] = mine;
    }
    owners
}

/// Merges the scratch (referenced blobs, id order) with the index (id order).
fn merge_with_index(
    repo: &Repository,
    scratch: &mut Scratch,
    node_owners: &[Owners],
    tally: &mut dyn Tally,
) -> Result<()> {
    let mut index = repo.index()?.blobs().peekable();
    for item in scratch.grouped()? {
        let (id, nodes) = item?;
        // Index entries before this id: nothing references them.
        while let Some(Ok((next, _))) = index.peek() {
            if *next >= id {
                break;
            }
            if let Some(Ok((uid, loc))) = index.next() {
                tally.unused(&uid, &loc);
            }
        }
        let loc = match index.peek() {
            Some(Ok((next, _))) if *next == id => match index.next() {
                Some(Ok((_, loc))) => Some(loc),
                _ => None,
            },
            Some(Err(_)) => {
                if let Some(Err(e)) = index.next() {
                    return Err(e);
                }
                None
            }
            _ => None,
        };
        let mut owners = Owners::default();
        for n in nodes {
            owners.absorb(&node_owners[n as usize]);
        }
        tally.referenced(&id, loc.as_ref(), &owners);
    }
    for item in index {
        let (id, loc) = item?;
        tally.unused(&id, &loc);
    }
    Ok(())
}
