//! Reading files back: `cat` streams one file to a writer, `restore` writes a
//! (filtered) tree into a target folder.
//!
//! Content is fetched ahead with bounded concurrency: consecutive chunks of
//! one pack are coalesced into one ranged read, several reads are in flight
//! at once, and blobs are opened (decrypt, decompress, verify) on all cores,
//! then written strictly in order. Nothing is staged on disk.

use crate::backend::get_range_async;
use crate::cache::BlobLocation;
use crate::error::{Error, Result};
use crate::format::layout;
use crate::format::tree::{Content, Node, NodeKind, is_safe_name};
use crate::id::BlobId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::tree::{ContentChunks, dir_entries};
use bytes::Bytes;
use globset::GlobSet;
use rayon::prelude::*;
use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tokio::task::JoinHandle;

/// Largest coalesced read.
const MAX_READ: u64 = 8 << 20;
/// Reads in flight ahead of the writer.
const READ_AHEAD: usize = 4;

/// One ranged read covering consecutive blobs of one pack.
struct ReadGroup {
    pack_name: String,
    start: u64,
    end: u64,
    blobs: Vec<(BlobId, BlobLocation)>,
}

/// Streams a file's content into `out`; returns the bytes written.
pub fn write_content(
    repo: &Repository,
    content: &Content,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut chunks = ContentChunks::new(repo, content)?.peekable();
    let mut inflight: VecDeque<(ReadGroup, JoinHandle<Result<Bytes>>)> = VecDeque::new();
    let mut written = 0u64;
    loop {
        while inflight.len() < READ_AHEAD {
            let Some(group) = next_group(repo, &mut chunks)? else {
                break;
            };
            let fut = get_range_async(
                repo.backend().store(),
                group.pack_name.clone(),
                group.start..group.end,
            );
            let h = repo.backend().spawn(fut);
            inflight.push_back((group, h));
        }
        let Some((group, h)) = inflight.pop_front() else {
            break;
        };
        let bytes = repo
            .backend()
            .block_on(h)
            .unwrap_or_else(|e| panic!("read task failed: {e}"))?;
        let opened: Vec<Result<Vec<u8>>> = group
            .blobs
            .par_iter()
            .map(|(id, loc)| {
                let from = usize::try_from(loc.offset - group.start).unwrap_or(usize::MAX);
                let sealed = bytes
                    .get(from..from + loc.length as usize)
                    .ok_or_else(|| Error::corrupt(&group.pack_name, "blob outside the read range"))?;
                repo.open_blob(id, loc, sealed)
            })
            .collect();
        for data in opened {
            let data = data?;
            out.write_all(&data).map_err(Error::Output)?;
            written += data.len() as u64;
            progress.bytes(data.len() as u64);
        }
    }
    Ok(written)
}

/// Gathers the next run of chunks that one ranged read can fetch.
fn next_group(
    repo: &Repository,
    chunks: &mut std::iter::Peekable<ContentChunks<'_>>,
) -> Result<Option<ReadGroup>> {
    let Some(first) = chunks.next() else {
        return Ok(None);
    };
    let first = first?;
    let loc = repo.lookup(&first.id)?;
    let mut g = ReadGroup {
        pack_name: layout::pack(&loc.pack),
        start: loc.offset,
        end: loc.offset + u64::from(loc.length),
        blobs: vec![(first.id, loc)],
    };
    while let Some(Ok(next)) = chunks.peek() {
        let nloc = repo.lookup(&next.id)?;
        let contiguous = nloc.pack == loc.pack && nloc.offset == g.end;
        if !contiguous || nloc.offset + u64::from(nloc.length) - g.start > MAX_READ {
            break;
        }
        g.end = nloc.offset + u64::from(nloc.length);
        g.blobs.push((next.id, nloc));
        chunks.next();
    }
    Ok(Some(g))
}

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Entries not restored, with the reason.
    pub skipped: Vec<(String, String)>,
}

pub struct RestoreOptions<'a> {
    /// Restore only paths matching (and the folders leading to them).
    pub include: Option<&'a GlobSet>,
    /// Subtree of the snapshot to restore (`""` for all).
    pub subpath: &'a str,
}

/// Writes the snapshot tree (or part of it) under `target`.
pub fn restore(
    repo: &Repository,
    root: &BlobId,
    target: &Path,
    opts: &RestoreOptions<'_>,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let mut report = RestoreReport::default();
    std::fs::create_dir_all(target).map_err(|source| Error::Target {
        path: target.to_path_buf(),
        source,
    })?;
    progress.phase("restore", None);
    let start_tree = if opts.subpath.trim_matches('/').is_empty() {
        *root
    } else {
        match crate::tree::resolve_path(repo, root, opts.subpath)? {
            Some(Node {
                kind: NodeKind::Dir { tree },
                ..
            }) => tree,
            Some(node) => {
                restore_node(repo, &node, target, opts.subpath, opts, progress, &mut report)?;
                return Ok(report);
            }
            None => {
                return Err(Error::PathNotFound {
                    path: opts.subpath.to_string(),
                    snapshot: String::new(),
                });
            }
        }
    };
    restore_dir(repo, &start_tree, target, "", opts, progress, &mut report)?;
    Ok(report)
}

fn restore_dir(
    repo: &Repository,
    tree: &BlobId,
    dir: &Path,
    rel: &str,
    opts: &RestoreOptions<'_>,
    progress: &dyn Progress,
    report: &mut RestoreReport,
) -> Result<()> {
    for node in dir_entries(repo, tree)? {
        let name = node.name_lossy();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if !is_safe_name(&node.name) {
            report
                .skipped
                .push((child_rel, "unsafe name in the snapshot (.., / or empty)".into()));
            continue;
        }
        let path = dir.join(std::ffi::OsStr::from_bytes(&node.name));
        restore_node(repo, &node, &path, &child_rel, opts, progress, report)?;
    }
    Ok(())
}

fn wanted(opts: &RestoreOptions<'_>, rel: &str, is_dir: bool) -> bool {
    match opts.include {
        None => true,
        // A folder is entered when anything below it might match; files must match.
        Some(g) => g.is_match(rel) || is_dir,
    }
}

fn restore_node(
    repo: &Repository,
    node: &Node,
    path: &Path,
    rel: &str,
    opts: &RestoreOptions<'_>,
    progress: &dyn Progress,
    report: &mut RestoreReport,
) -> Result<()> {
    if !wanted(opts, rel, node.is_dir()) {
        return Ok(());
    }
    let target_err = |source| Error::Target {
        path: path.to_path_buf(),
        source,
    };
    // Never write through a symlink: one left by a hostile tree, or already in the target.
    if let Ok(md) = std::fs::symlink_metadata(path) {
        if md.file_type().is_symlink() {
            std::fs::remove_file(path).map_err(target_err)?;
        } else if md.is_dir() != node.is_dir() {
            report.skipped.push((rel.to_string(), "target exists with another type".into()));
            return Ok(());
        }
    }
    match &node.kind {
        NodeKind::Dir { tree } => {
            match std::fs::create_dir(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(target_err(e)),
            }
            let before = report.files + report.symlinks + report.dirs;
            restore_dir(repo, tree, path, rel, opts, progress, report)?;
            let restored_any = report.files + report.symlinks + report.dirs > before;
            if opts.include.is_some() && !restored_any && !opts.include.is_some_and(|g| g.is_match(rel)) {
                // Entered only to look for matches; none: leave no empty folder.
                let _ = std::fs::remove_dir(path);
                return Ok(());
            }
            report.dirs += 1;
            set_metadata(path, node).map_err(target_err)?;
        }
        NodeKind::File { content } => {
            let mut f = open_no_follow(path).map_err(target_err)?;
            let mut buf = std::io::BufWriter::with_capacity(1 << 20, &mut f);
            let n = write_content(repo, content, &mut buf, progress).map_err(|e| match e {
                Error::Output(source) => Error::Target {
                    path: path.to_path_buf(),
                    source,
                },
                other => other,
            })?;
            buf.flush().map_err(target_err)?;
            drop(buf);
            if n != node.size {
                return Err(Error::corrupt(
                    rel,
                    format!("restored {n} bytes, the snapshot records {}", node.size),
                ));
            }
            f.sync_data().map_err(target_err)?;
            report.files += 1;
            report.bytes += n;
            progress.file_done();
            set_metadata(path, node).map_err(target_err)?;
        }
        NodeKind::Symlink { target } => {
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), path)
                .map_err(target_err)?;
            report.symlinks += 1;
        }
    }
    Ok(())
}

/// Creates or truncates a regular file, refusing to follow a symlink.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)
}

fn set_metadata(path: &Path, node: &Node) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mtime = if node.mtime_unix_ns >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(node.mtime_unix_ns.unsigned_abs())
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_nanos(node.mtime_unix_ns.unsigned_abs())
    };
    let f = std::fs::File::open(path)?;
    f.set_times(std::fs::FileTimes::new().set_modified(mtime))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(node.mode & 0o7777))
}
