//! The consumer side of a backup: hashes, deduplicates, compresses and seals
//! each batch's chunks on all cores (rayon), then, in order, appends new blobs
//! to packs and assembles file nodes and directory trees.

use super::walk::{FileStatus, Item, Meta, ParentDir};
use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::format::snapshot::Summary;
use crate::format::tree::{ChunkRef, Node, NodeKind};
use crate::id::BlobId;
use crate::packer::{PackWriter, raw_len, seal_blob};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::tree::{ContentBuilder, build_dir};
use rayon::prelude::*;

struct DirFrame {
    name: Vec<u8>,
    meta: Meta,
    nodes: Vec<Node>,
    parent: Option<ParentDir>,
    /// Entries equal to their node in the parent snapshot.
    identical: usize,
    /// Some entry is new, changed or read again.
    dirty: bool,
}

impl DirFrame {
    fn new(name: Vec<u8>, meta: Meta, parent: Option<ParentDir>) -> Self {
        Self {
            name,
            meta,
            nodes: Vec::new(),
            parent,
            identical: 0,
            dirty: false,
        }
    }

    /// The parent snapshot's tree, when this folder came out identical to it.
    fn unchanged_tree(&self) -> Option<BlobId> {
        self.parent
            .filter(|p| !self.dirty && self.identical == p.entries)
            .map(|p| p.tree)
    }
}

struct FileFrame {
    name: Vec<u8>,
    meta: Meta,
    status: FileStatus,
    content: ContentBuilder,
}

pub(crate) struct Assembler<'r, 'w> {
    repo: &'r Repository,
    w: &'w mut PackWriter<'r>,
    dirs: Vec<DirFrame>,
    file: Option<FileFrame>,
    pub summary: Summary,
    pub warnings: Vec<String>,
    progress: &'r dyn Progress,
}

impl<'r, 'w> Assembler<'r, 'w> {
    pub fn new(
        repo: &'r Repository,
        w: &'w mut PackWriter<'r>,
        root_meta: Meta,
        progress: &'r dyn Progress,
    ) -> Self {
        Self {
            repo,
            w,
            dirs: vec![DirFrame::new(Vec::new(), root_meta, None)],
            file: None,
            summary: Summary::default(),
            warnings: Vec::new(),
            progress,
        }
    }

    pub fn process(&mut self, batch: Vec<Item>) -> Result<()> {
        let key = self.repo.key().chunk_ids();
        let repo = self.repo;
        let writer: &PackWriter<'_> = self.w;
        // One parallel pass: hash each chunk, skip the known ones, compress and
        // seal the rest. A chunk that repeats within the batch is sealed twice
        // and stored once (the writer ignores the second): rare, and cheaper
        // than a sequential pass between two parallel ones.
        let prepared: Vec<Option<(BlobId, Option<Vec<u8>>)>> = batch
            .par_iter()
            .map(|it| match it {
                Item::Chunk(d) => {
                    let id = BlobId(key.id(d));
                    let sealed = if writer.is_known(&id)? {
                        None
                    } else {
                        Some(seal_blob(repo, d))
                    };
                    Ok(Some((id, sealed)))
                }
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        // Then, in order: append new blobs to packs, assemble nodes and trees.
        for (item, prepared) in batch.into_iter().zip(prepared) {
            let (id, sealed) = prepared.unzip();
            self.apply(item, id, sealed.flatten())?;
        }
        Ok(())
    }

    fn apply(&mut self, item: Item, id: Option<BlobId>, sealed: Option<Vec<u8>>) -> Result<()> {
        match item {
            Item::Chunk(data) => {
                let id = id.ok_or_else(|| Error::InvalidInput("chunk without id".into()))?;
                self.summary.bytes_read += data.len() as u64;
                if let Some(s) = sealed {
                    self.w.add(id, BlobKind::Data, &s, raw_len(&data))?;
                }
                let f = self
                    .file
                    .as_mut()
                    .ok_or_else(|| Error::InvalidInput("chunk outside a file".into()))?;
                f.content.push(
                    self.w,
                    ChunkRef {
                        id,
                        length: raw_len(&data),
                    },
                )?;
            }
            Item::FileStart { name, meta, status } => {
                self.file = Some(FileFrame {
                    name,
                    meta,
                    status,
                    content: ContentBuilder::new(),
                });
            }
            Item::FileEnd { size } => {
                let f = self
                    .file
                    .take()
                    .ok_or_else(|| Error::InvalidInput("file end outside a file".into()))?;
                let content = f.content.finish(self.w)?;
                match f.status {
                    FileStatus::New => self.summary.files_new += 1,
                    FileStatus::Changed => self.summary.files_changed += 1,
                }
                self.summary.bytes_total += size;
                self.progress.file_done();
                let node = f.meta.node(f.name, NodeKind::File { content }, size);
                self.push_node(node, false);
            }
            Item::FileAbort => {
                self.file = None;
                if let Some(d) = self.dirs.last_mut() {
                    d.dirty = true;
                }
            }
            Item::Node {
                node,
                unchanged,
                identical,
            } => {
                if unchanged {
                    self.summary.files_unmodified += 1;
                    self.summary.bytes_total += node.size;
                    self.progress.file_done();
                }
                self.push_node(node, identical);
            }
            Item::DirStart { name, meta, parent } => {
                if let Some(p) = parent {
                    self.w.note_stored(p.tree);
                }
                self.dirs.push(DirFrame::new(name, meta, parent));
            }
            Item::DirEnd => {
                let d = self
                    .dirs
                    .pop()
                    .ok_or_else(|| Error::InvalidInput("unbalanced folder end".into()))?;
                let tree = match d.unchanged_tree() {
                    Some(tree) => tree,
                    None => build_dir(self.w, d.nodes)?,
                };
                self.summary.dirs += 1;
                let identical = d.parent.is_some_and(|p| p.meta_same && p.tree == tree);
                let node = d.meta.node(d.name, NodeKind::Dir { tree }, 0);
                self.push_node(node, identical);
            }
            Item::Warn(w) => {
                self.summary.errors += 1;
                self.warnings.push(w);
            }
            Item::Fatal(e) => return Err(e),
        }
        Ok(())
    }

    fn push_node(&mut self, node: Node, identical: bool) {
        if let Some(d) = self.dirs.last_mut() {
            d.nodes.push(node);
            if identical {
                d.identical += 1;
            } else {
                d.dirty = true;
            }
        }
    }

    /// Stores the root folder and returns its tree id.
    pub fn finish(mut self) -> Result<BlobId> {
        if self.dirs.len() != 1 || self.file.is_some() {
            return Err(Error::InvalidInput(
                "backup stream ended inside a folder or file".into(),
            ));
        }
        let root = self.dirs.pop().map(|d| d.nodes).unwrap_or_default();
        build_dir(self.w, root)
    }
}
