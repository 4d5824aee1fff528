//! `copy`: snapshots of one repository written into another (an off-site copy).
//!
//! Blob ids are keyed hashes under each repository's own key, so the same
//! plaintext has different ids in the two repositories, and every tree that
//! names a blob changes too. A copy therefore streams each file's plaintext
//! out of the source (with restore's coalesced, read-ahead reader), cuts it at
//! the source's chunk boundaries, ids each chunk with the destination's key,
//! and stores only the chunks the destination lacks, sealed with its key.
//! Trees are rebuilt with the destination's tree builder, so their pieces are
//! cut exactly as a backup into the destination would cut them.
//!
//! Chunk boundaries stay the source's: when both repositories share chunker
//! parameters (`init --copy-chunker-params`), copied data also dedups against
//! the destination's own backups; otherwise it is still correct, just stored
//! beside them.
//!
//! The source snapshot's id is recorded in the copy's `meta` under
//! [`META_SOURCE`], and a snapshot whose original is already there is skipped:
//! copying twice is a no-op.

use crate::error::{Error, Result};
use crate::format::snapshot::{Snapshot, SnapshotEntry};
use crate::format::tree::{ChunkRef, Content, Node, NodeKind};
use crate::id::{BlobId, SnapshotId};
use crate::packer::{PackWriter, WriteStats};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::tree::{ContentBuilder, ContentChunks, build_dir, dir_entries};
use std::collections::{HashMap, VecDeque};
use std::io::Write;

/// Snapshot meta key holding the id of the snapshot a copy was made from
/// (the first original, when copies are copied on).
pub const META_SOURCE: &str = "copy.source-snapshot";
/// Snapshot meta key holding the repository id the copy was made from.
pub const META_SOURCE_REPO: &str = "copy.source-repository";

/// What happened to one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CopiedSnapshot {
    /// Id in the source repository.
    pub source: SnapshotId,
    /// Id in the destination (the existing one when skipped).
    pub destination: SnapshotId,
    /// Already in the destination: nothing was written.
    pub skipped: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CopyReport {
    pub snapshots: Vec<CopiedSnapshot>,
    /// Plaintext bytes read from the source.
    pub bytes_read: u64,
    pub blobs_added: u64,
    /// Sealed bytes added to the destination.
    pub bytes_added: u64,
    pub packs_written: u64,
}

/// The id a snapshot's first original had: its own, unless it is itself a copy.
pub fn original_id(entry: &SnapshotEntry) -> String {
    meta_value(&entry.snapshot, META_SOURCE).map_or_else(|| entry.id.to_hex(), str::to_string)
}

fn meta_value<'s>(s: &'s Snapshot, key: &str) -> Option<&'s str> {
    s.meta
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Copies `snapshots` (entries of `src`) into `dst`, oldest first.
pub fn copy_snapshots(
    src: &Repository,
    dst: &Repository,
    snapshots: &[SnapshotEntry],
    progress: &dyn Progress,
) -> Result<CopyReport> {
    if src.repo_id_hex() == dst.repo_id_hex() {
        return Err(Error::InvalidInput(
            "source and destination are the same repository".into(),
        ));
    }
    // A writer of the destination like a backup: shared lock, condemned packs avoided.
    let opts = crate::lock::LockOptions::default();
    crate::lock::hold(dst, crate::format::lock::LockKind::Backup, &opts, |held| {
        crate::prune::avoid_condemned(dst)?;
        copy_locked(src, dst, snapshots, progress, held)
    })
}

fn copy_locked(
    src: &Repository,
    dst: &Repository,
    snapshots: &[SnapshotEntry],
    progress: &dyn Progress,
    held: &crate::lock::Held<'_>,
) -> Result<CopyReport> {
    let mut report = CopyReport::default();
    // Originals already in the destination, and where they are there.
    let mut present: HashMap<String, SnapshotId> = dst
        .snapshots()?
        .iter()
        .map(|e| (original_id(e), e.id))
        .collect();
    dst.index()?;
    src.index()?;
    let mut order: Vec<&SnapshotEntry> = snapshots.iter().collect();
    order.sort_by_key(|e| (e.snapshot.time_unix_ns, e.id));
    for entry in order {
        let original = original_id(entry);
        if let Some(&existing) = present.get(&original) {
            report.snapshots.push(CopiedSnapshot {
                source: entry.id,
                destination: existing,
                skipped: true,
            });
            continue;
        }
        progress.phase(
            &format!("copy {}", entry.id.short()),
            Some(entry.snapshot.summary.bytes_total),
        );
        let mut writer = PackWriter::new(dst, 2);
        let mut trees = TreeCopier {
            src,
            writer: &mut writer,
            done: HashMap::new(),
            progress,
            bytes_read: 0,
        };
        let root = trees.copy_dir(&entry.snapshot.root, 0);
        let bytes_read = trees.bytes_read;
        // Store the index even on failure: a rerun reuses what was uploaded.
        let finished = writer.finish();
        let root = root?;
        let (_, stats) = finished?;
        add_stats(&mut report, &stats);
        report.bytes_read += bytes_read;

        let s = &entry.snapshot;
        let mut meta: Vec<(String, String)> = s
            .meta
            .iter()
            .filter(|(k, _)| k != META_SOURCE && k != META_SOURCE_REPO)
            .cloned()
            .collect();
        meta.push((META_SOURCE.into(), original.clone()));
        let source_repo =
            meta_value(s, META_SOURCE_REPO).map_or_else(|| src.repo_id_hex(), str::to_string);
        meta.push((META_SOURCE_REPO.into(), source_repo));
        meta.sort();
        // The parent, when it was copied too, is named by its copy's id.
        let parent = s
            .parent
            .and_then(|p| snapshots.iter().find(|e| e.id == p))
            .and_then(|p| present.get(&original_id(p)).copied());
        let copy = Snapshot {
            root,
            parent,
            meta,
            ..s.clone()
        };
        held.ensure_held()?;
        let id = dst.save_snapshot(&copy)?;
        present.insert(original, id);
        report.snapshots.push(CopiedSnapshot {
            source: entry.id,
            destination: id,
            skipped: false,
        });
    }
    Ok(report)
}

fn add_stats(report: &mut CopyReport, s: &WriteStats) {
    report.blobs_added += s.blobs_added;
    report.bytes_added += s.bytes_added;
    report.packs_written += s.packs_written;
}

/// Folders nested deeper than this are a forged tree, not a file system.
const MAX_DEPTH: usize = 1024;

struct TreeCopier<'a, 'w> {
    src: &'a Repository,
    writer: &'a mut PackWriter<'w>,
    /// Source folder tree -> destination folder tree: snapshots share folders.
    done: HashMap<BlobId, BlobId>,
    progress: &'a dyn Progress,
    bytes_read: u64,
}

impl TreeCopier<'_, '_> {
    fn copy_dir(&mut self, tree: &BlobId, depth: usize) -> Result<BlobId> {
        if let Some(id) = self.done.get(tree) {
            return Ok(*id);
        }
        if depth > MAX_DEPTH {
            return Err(Error::corrupt(
                format!("tree {}", tree.short()),
                "folders nested deeper than any real file system",
            ));
        }
        let mut nodes: Vec<Node> = Vec::new();
        for node in dir_entries(self.src, tree)? {
            let kind = match &node.kind {
                NodeKind::Dir { tree } => NodeKind::Dir {
                    tree: self.copy_dir(tree, depth + 1)?,
                },
                NodeKind::File { content } => NodeKind::File {
                    content: self.copy_content(content)?,
                },
                NodeKind::Symlink { target } => NodeKind::Symlink {
                    target: target.clone(),
                },
            };
            nodes.push(Node { kind, ..node });
        }
        let id = build_dir(self.writer, nodes)?;
        self.done.insert(*tree, id);
        Ok(id)
    }

    fn copy_content(&mut self, content: &Content) -> Result<Content> {
        let mut lengths = VecDeque::new();
        let mut chunks = ContentChunks::new(self.src, content)?;
        while let Some(c) = chunks.next().transpose()? {
            lengths.push_back(c.length);
        }
        let mut sink = Rechunk {
            lengths,
            buf: Vec::new(),
            writer: &mut *self.writer,
            builder: ContentBuilder::new(),
            error: None,
        };
        let written = crate::restore::write_content(self.src, content, &mut sink, self.progress);
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        let written = written?;
        if !sink.buf.is_empty() || !sink.lengths.is_empty() {
            return Err(Error::corrupt(
                "content list",
                "file content does not add up to its chunk lengths",
            ));
        }
        self.bytes_read += written;
        let builder = std::mem::take(&mut sink.builder);
        builder.finish(self.writer)
    }
}

/// Receives a file's plaintext in order and stores it in the destination,
/// cut at the source's chunk boundaries.
struct Rechunk<'a, 'w> {
    lengths: VecDeque<u32>,
    buf: Vec<u8>,
    writer: &'a mut PackWriter<'w>,
    builder: ContentBuilder,
    /// A store error, kept typed (io::Error would flatten it).
    error: Option<Error>,
}

impl Rechunk<'_, '_> {
    fn store(&mut self, chunk: &[u8]) -> Result<()> {
        let id = self.writer.add_data(chunk)?;
        self.builder.push(
            self.writer,
            ChunkRef {
                id,
                length: crate::packer::raw_len(chunk),
            },
        )
    }

    fn take_chunks(&mut self) -> Result<()> {
        while let Some(&len) = self.lengths.front() {
            let len = len as usize;
            if self.buf.len() < len {
                break;
            }
            self.lengths.pop_front();
            let rest = self.buf.split_off(len);
            let chunk = std::mem::replace(&mut self.buf, rest);
            self.store(&chunk)?;
        }
        if self.lengths.is_empty() && !self.buf.is_empty() {
            return Err(Error::corrupt(
                "content list",
                "file content is longer than its chunk lengths",
            ));
        }
        Ok(())
    }
}

impl Write for Rechunk<'_, '_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Err(std::io::Error::other("copy stopped"));
        }
        // The reader hands over whole blobs: store them without a copy.
        let exact =
            self.buf.is_empty() && self.lengths.front().map(|&l| l as usize) == Some(data.len());
        let result = if exact {
            self.lengths.pop_front();
            self.store(data)
        } else {
            self.buf.extend_from_slice(data);
            self.take_chunks()
        };
        match result {
            Ok(()) => Ok(data.len()),
            Err(e) => {
                self.error = Some(e);
                Err(std::io::Error::other("copy stopped"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
