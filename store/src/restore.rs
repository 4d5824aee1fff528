//! Reading files back: `cat` streams one file to a writer, `restore` writes a
//! (filtered) tree into a target folder.
//!
//! Content is fetched ahead with bounded concurrency: consecutive chunks of
//! one pack are coalesced into one ranged read, several reads are in flight
//! at once, and blobs are opened (decrypt, decompress, verify) on all cores,
//! then written strictly in order. Nothing is staged on disk.

use crate::cache::BlobLocation;
use crate::error::{Error, Result};
use crate::format::layout;
use crate::format::tree::{ChunkRef, Content, Node, NodeKind, is_safe_name};
use crate::id::BlobId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::sparse::SparseFile;
use crate::tree::{ContentChunks, dir_entries, prefetch_trees};
use bytes::Bytes;
use globset::GlobSet;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tokio::task::JoinHandle;

/// Largest coalesced read.
const MAX_READ: u64 = 8 << 20;
/// Bytes of other blobs a read may span to reach the next chunk of the same
/// pack: on an object store one request costs more than 1 MiB of transfer
/// (two files backed up side by side interleave their chunks in the packs).
const MAX_GAP: u64 = 1 << 20;
/// Reads in flight or opened ahead of the writer, at most...
const AHEAD_GROUPS: usize = 16;
/// ...and at most this many bytes read among them (memory stays bounded
/// however fragmented the file: 32 MiB read is at most a few times that opened).
const AHEAD_BYTES: u64 = 32 << 20;

/// One ranged read covering consecutive blobs of one pack (and the gaps between them).
struct ReadGroup {
    pack_name: String,
    start: u64,
    end: u64,
    blobs: Vec<(BlobId, BlobLocation)>,
}

type Opened = Result<Vec<Vec<u8>>>;

/// A group on its way to the writer: fetched by the I/O runtime, then opened
/// (decrypted, decompressed, verified) on the rayon pool.
enum Ahead {
    Fetching(ReadGroup, JoinHandle<Result<Bytes>>),
    Opening(crossbeam_channel::Receiver<Opened>),
}

/// Streams a file's content into `out`; returns the bytes written.
///
/// Three stages overlap: ranged reads run ahead on the I/O runtime, fetched
/// groups are opened on the rayon pool as soon as they arrive, and this thread
/// only writes, strictly in order. A writer that waited for each group to be
/// opened would leave the cores idle while it writes, and the reads while it opens.
pub fn write_content(
    repo: &Repository,
    content: &Content,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut chunks = Located::new(repo, ContentChunks::new(repo, content)?);
    let mut first = next_group(&mut chunks)?;
    // Content one read brings (a small document) from a local folder: read
    // here, with nothing to overlap and no hand-off to the I/O runtime.
    if let Some(group) = &first
        && chunks.peek()?.is_none()
        && let Some(bytes) = repo
            .backend()
            .read_local_range(&group.pack_name, group.start..group.end)
    {
        return write_blobs(out, open_group(repo, group, &bytes)?, progress);
    }
    rayon::in_place_scope(|scope| {
        let mut ahead: VecDeque<(u64, Ahead)> = VecDeque::new();
        let mut ahead_bytes = 0u64;
        let mut written = 0u64;
        loop {
            while ahead.len() < AHEAD_GROUPS && ahead_bytes < AHEAD_BYTES {
                let Some(group) = first
                    .take()
                    .map_or_else(|| next_group(&mut chunks), |g| Ok(Some(g)))?
                else {
                    break;
                };
                let client = repo.backend().client().clone();
                let (name, range) = (group.pack_name.clone(), group.start..group.end);
                let read = repo
                    .backend()
                    .spawn(async move { client.get_range(&name, range).await });
                let size = group.end - group.start;
                ahead_bytes += size;
                ahead.push_back((size, Ahead::Fetching(group, read)));
            }
            // Start opening every group whose read has landed, in order, so the
            // pool works on them while this thread writes the front one.
            for (_, stage) in ahead.iter_mut() {
                if matches!(stage, Ahead::Fetching(_, h) if h.is_finished()) {
                    promote(repo, scope, stage)?;
                }
            }
            let Some((size, front)) = ahead.pop_front() else {
                break;
            };
            let blobs = match front {
                // This thread would only wait for the pool: open it here (a small
                // document is one blob, and waking a worker for it costs more).
                Ahead::Fetching(group, h) => open_group(repo, &group, &landed(repo, h)?)?,
                Ahead::Opening(rx) => rx
                    .recv()
                    .unwrap_or_else(|_| panic!("a blob-opening task ended without an answer"))?,
            };
            ahead_bytes -= size;
            written += write_blobs(out, blobs, progress)?;
        }
        Ok(written)
    })
}

/// Writes opened blobs in order; the bytes written.
fn write_blobs(out: &mut dyn Write, blobs: Vec<Vec<u8>>, progress: &dyn Progress) -> Result<u64> {
    let mut written = 0u64;
    for data in blobs {
        out.write_all(&data).map_err(Error::Output)?;
        written += data.len() as u64;
        progress.bytes(data.len() as u64);
    }
    Ok(written)
}

/// Hands a group whose read has landed to the pool for opening.
fn promote<'s>(repo: &'s Repository, scope: &rayon::Scope<'s>, stage: &mut Ahead) -> Result<()> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let Ahead::Fetching(group, h) = std::mem::replace(stage, Ahead::Opening(rx)) else {
        return Ok(());
    };
    let bytes = landed(repo, h)?;
    scope.spawn(move |_| {
        let _ = tx.send(open_group(repo, &group, &bytes));
    });
    Ok(())
}

fn landed(repo: &Repository, read: JoinHandle<Result<Bytes>>) -> Result<Bytes> {
    repo.backend()
        .block_on(read)
        .unwrap_or_else(|e| panic!("read task failed: {e}"))
}

fn open_group(repo: &Repository, group: &ReadGroup, bytes: &[u8]) -> Opened {
    group
        .blobs
        .iter()
        .map(|(id, loc)| {
            let from = usize::try_from(loc.offset - group.start).unwrap_or(usize::MAX);
            let sealed = bytes
                .get(from..from + loc.length as usize)
                .ok_or_else(|| Error::corrupt(&group.pack_name, "blob outside the read range"))?;
            repo.open_blob(id, loc, sealed)
        })
        .collect()
}

/// Chunk references with their locations, looked up in batches.
struct Located<'r> {
    repo: &'r Repository,
    chunks: ContentChunks<'r>,
    ready: VecDeque<(BlobId, BlobLocation)>,
}

/// Chunk references looked up per batched read of the index cache.
const LOOKUP_BATCH: usize = 512;

impl<'r> Located<'r> {
    fn new(repo: &'r Repository, chunks: ContentChunks<'r>) -> Self {
        Self {
            repo,
            chunks,
            ready: VecDeque::new(),
        }
    }

    fn peek(&mut self) -> Result<Option<&(BlobId, BlobLocation)>> {
        if self.ready.is_empty() {
            let refs: Vec<ChunkRef> = self
                .chunks
                .by_ref()
                .take(LOOKUP_BATCH)
                .collect::<Result<_>>()?;
            let ids: Vec<BlobId> = refs.iter().map(|c| c.id).collect();
            let locs = self.repo.index()?.lookup_many(&ids)?;
            for (c, loc) in refs.into_iter().zip(locs) {
                let id = c.id;
                let loc = loc
                    .ok_or_else(|| Error::corrupt(format!("blob {id}"), "not in any index file"))?;
                // Opening checks the chunk against the index's length; a content
                // list that claims another one does not add up (and offsets
                // computed from it, by `cat` or `dump`, would be wrong).
                if c.length != loc.raw_length {
                    return Err(Error::corrupt(
                        format!("content list entry for blob {}", id.short()),
                        format!("says {} bytes, the blob holds {}", c.length, loc.raw_length),
                    ));
                }
                self.ready.push_back((id, loc));
            }
        }
        Ok(self.ready.front())
    }

    fn next(&mut self) -> Result<Option<(BlobId, BlobLocation)>> {
        self.peek()?;
        Ok(self.ready.pop_front())
    }
}

/// Gathers the next run of chunks that one ranged read can fetch.
fn next_group(chunks: &mut Located<'_>) -> Result<Option<ReadGroup>> {
    let Some((id, loc)) = chunks.next()? else {
        return Ok(None);
    };
    let mut g = ReadGroup {
        pack_name: layout::pack(&loc.pack),
        start: loc.offset,
        end: loc.offset + u64::from(loc.length),
        blobs: vec![(id, loc)],
    };
    while let Some(&(nid, nloc)) = chunks.peek()? {
        let contiguous =
            nloc.pack == loc.pack && nloc.offset >= g.end && nloc.offset - g.end <= MAX_GAP;
        if !contiguous || nloc.offset + u64::from(nloc.length) - g.start > MAX_READ {
            break;
        }
        g.end = nloc.offset + u64::from(nloc.length);
        g.blobs.push((nid, nloc));
        chunks.next()?;
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
    let target_err = |source| Error::Target {
        path: target.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(target).map_err(target_err)?;
    // Everything below is created relative to this descriptor (and each folder
    // relative to its parent's), so path length does not matter and no
    // symlink can be followed on the way.
    let top = open_dir(rustix::fs::CWD, target.as_os_str()).map_err(target_err)?;
    progress.phase("restore", None);
    let mut r = Restorer {
        repo,
        include: opts.include,
        progress,
        report: RestoreReport::default(),
        depth: 0,
    };
    if opts.subpath.trim_matches('/').is_empty() {
        r.dir(root, top.as_fd(), target, "", r.include.is_none())?;
        return Ok(r.report);
    }
    let Some(found) = resolve_subpath(repo, root, opts.subpath, &mut r)? else {
        // A symlink on the way: reported, nothing below it is followed.
        return Ok(r.report);
    };
    match found {
        Some(Node {
            kind: NodeKind::Dir { tree },
            ..
        }) => r.dir(&tree, top.as_fd(), target, "", r.include.is_none())?,
        Some(node) => {
            // A single file or symlink lands in the target folder under its own name.
            let name = node.name_lossy();
            if is_safe_name(&node.name) {
                let leaf = std::ffi::OsStr::from_bytes(&node.name);
                let path = target.join(leaf);
                let at = Place {
                    dir: top.as_fd(),
                    name: leaf,
                    path: &path,
                };
                r.node(&node, at, &name, r.include.is_none())?;
            } else {
                r.skip(name, "unsafe name in the snapshot (.., / or empty)");
            }
        }
        None => {
            return Err(Error::PathNotFound {
                path: opts.subpath.to_string(),
                snapshot: String::new(),
            });
        }
    }
    Ok(r.report)
}

/// The node at `subpath`, refusing `..` (a path inside a snapshot never needs
/// one) and never following a symlink of the snapshot: `None` when one is on
/// the way (and reported as skipped), `Some(None)` when the path is not there.
fn resolve_subpath(
    repo: &Repository,
    root: &BlobId,
    subpath: &str,
    r: &mut Restorer<'_>,
) -> Result<Option<Option<Node>>> {
    let parts: Vec<&str> = subpath
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(Error::InvalidInput(format!(
            "{subpath}: `..` cannot appear in a path inside a snapshot; name it from the snapshot root"
        )));
    }
    let mut tree = *root;
    for (i, part) in parts.iter().enumerate() {
        let Some(node) = crate::tree::lookup_child(repo, &tree, part.as_bytes())? else {
            return Ok(Some(None));
        };
        if i + 1 == parts.len() {
            return Ok(Some(Some(node)));
        }
        match &node.kind {
            NodeKind::Dir { tree: t } => tree = *t,
            NodeKind::Symlink { target } => {
                let at = parts[..=i].join("/");
                r.skip(
                    subpath.to_string(),
                    &format!(
                        "{at} is a symlink in the snapshot (to {}); restore does not follow it",
                        String::from_utf8_lossy(target)
                    ),
                );
                return Ok(None);
            }
            NodeKind::File { .. } => return Ok(Some(None)),
        }
    }
    Ok(Some(None))
}

/// Folders nested deeper than this are refused. Restore descends by recursion,
/// holding one descriptor per level (under the usual limit of 1,024 open
/// files), and a crafted snapshot can chain trees a million deep in a few
/// megabytes; document trees are a few dozen levels deep.
pub const MAX_DEPTH: usize = 512;

/// One restore run: where it reads from, what it keeps, what it did.
struct Restorer<'a> {
    repo: &'a Repository,
    include: Option<&'a GlobSet>,
    progress: &'a dyn Progress,
    report: RestoreReport,
    /// Folders entered on the way to the current one.
    depth: usize,
}

impl Restorer<'_> {
    fn skip(&mut self, rel: String, why: &str) {
        self.report.skipped.push((rel, why.to_string()));
    }

    fn restored_count(&self) -> u64 {
        self.report.files + self.report.symlinks + self.report.dirs
    }

    /// `covered`: an enclosing folder matched `--include` (or there is none),
    /// so everything below is restored.
    /// `fd` is the open folder `dir` (its path is for messages only).
    fn dir(
        &mut self,
        tree: &BlobId,
        fd: BorrowedFd<'_>,
        dir: &Path,
        rel: &str,
        covered: bool,
    ) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::corrupt(
                rel,
                format!(
                    "folders nested deeper than {MAX_DEPTH} levels; refused (a damaged or crafted snapshot)"
                ),
            ));
        }
        self.depth += 1;
        let done = self.entries(tree, fd, dir, rel, covered);
        self.depth -= 1;
        done
    }

    fn entries(
        &mut self,
        tree: &BlobId,
        fd: BorrowedFd<'_>,
        dir: &Path,
        rel: &str,
        covered: bool,
    ) -> Result<()> {
        let entries = dir_entries(self.repo, tree)?;
        // Every subfolder and long file's content list below will be read
        // (an --include may prune some; fetching a few extra pieces costs less
        // than one request each).
        let below: Vec<BlobId> = entries
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Dir { tree } => Some(*tree),
                NodeKind::File {
                    content: Content::List(root),
                } => Some(*root),
                _ => None,
            })
            .collect();
        prefetch_trees(self.repo, &below)?;
        for node in entries {
            let name = node.name_lossy();
            let child_rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if !is_safe_name(&node.name) {
                self.skip(child_rel, "unsafe name in the snapshot (.., / or empty)");
                continue;
            }
            let leaf = std::ffi::OsStr::from_bytes(&node.name);
            let path = dir.join(leaf);
            let at = Place {
                dir: fd,
                name: leaf,
                path: &path,
            };
            self.node(&node, at, &child_rel, covered)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &Node, at: Place<'_>, rel: &str, covered: bool) -> Result<()> {
        let path = at.path;
        let matched = covered || self.include.is_some_and(|g| g.is_match(rel));
        // A folder that does not match is still entered: something below may.
        if !matched && !node.is_dir() {
            return Ok(());
        }
        let target_err = |source| Error::Target {
            path: path.to_path_buf(),
            source,
        };
        // Never write through a symlink: one left by a hostile tree, or already in
        // the target. Anything else already there whose type differs (where a
        // symlink goes, any non-symlink does) is left alone and reported.
        if let Ok(st) = rustix::fs::statat(at.dir, at.name, AtFlags::SYMLINK_NOFOLLOW) {
            let ft = FileType::from_raw_mode(st.st_mode);
            if ft == FileType::Symlink {
                rustix::fs::unlinkat(at.dir, at.name, AtFlags::empty())
                    .map_err(|e| target_err(e.into()))?;
            } else if (ft == FileType::Directory) != node.is_dir()
                || matches!(node.kind, NodeKind::Symlink { .. })
            {
                self.skip(rel.to_string(), "target exists with another type");
                return Ok(());
            }
        }
        match &node.kind {
            NodeKind::Dir { tree } => {
                let created = match rustix::fs::mkdirat(at.dir, at.name, Mode::from_raw_mode(0o777))
                {
                    Ok(()) => true,
                    Err(rustix::io::Errno::EXIST) => false,
                    Err(e) => return Err(target_err(e.into())),
                };
                // Held while the folder is filled: at most one descriptor per
                // level of the snapshot path being restored.
                let dir = std::fs::File::from(open_dir(at.dir, at.name).map_err(target_err)?);
                let before = self.restored_count();
                self.dir(tree, dir.as_fd(), path, rel, matched)?;
                if !matched && self.restored_count() == before {
                    // Entered only to look for matches and found none: leave no
                    // empty folder behind (but never remove one that was there).
                    if created {
                        let _ = rustix::fs::unlinkat(at.dir, at.name, AtFlags::REMOVEDIR);
                    }
                    return Ok(());
                }
                self.report.dirs += 1;
                set_metadata(&dir, node).map_err(target_err)?;
            }
            NodeKind::File { content } => {
                let mut f = open_no_follow(at).map_err(target_err)?;
                // Sized to the file: a 1 MiB buffer per small document is an mmap each.
                let capacity =
                    usize::try_from(node.size.clamp(8 << 10, 1 << 20)).unwrap_or(1 << 20);
                // Zero blocks become holes: a sparse file comes back sparse.
                let mut sparse = SparseFile::new(&mut f);
                let mut buf = std::io::BufWriter::with_capacity(capacity, &mut sparse);
                let n = write_content(self.repo, content, &mut buf, self.progress).map_err(
                    |e| match e {
                        Error::Output(source) => Error::Target {
                            path: path.to_path_buf(),
                            source,
                        },
                        // Damage is named by the file it stops, not only the blob.
                        Error::Corrupt { object, reason } => Error::Corrupt {
                            object: format!("{rel} ({object})"),
                            reason,
                        },
                        other => other,
                    },
                )?;
                buf.flush().map_err(target_err)?;
                drop(buf);
                sparse.finish().map_err(target_err)?;
                if n != node.size {
                    return Err(Error::corrupt(
                        rel,
                        format!("restored {n} bytes, the snapshot records {}", node.size),
                    ));
                }
                // No fsync per file: it would make restoring 100,000 small
                // documents crawl; the page cache writes them out as usual.
                self.report.files += 1;
                self.report.bytes += n;
                self.progress.file_done();
                set_metadata(&f, node).map_err(target_err)?;
            }
            NodeKind::Symlink { target } => {
                rustix::fs::symlinkat(std::ffi::OsStr::from_bytes(target), at.dir, at.name)
                    .map_err(|e| target_err(e.into()))?;
                self.report.symlinks += 1;
            }
        }
        Ok(())
    }
}

/// Where a node goes: `name` in the open folder `dir`; `path` (its full
/// path) is for messages only and never reaches a syscall.
#[derive(Clone, Copy)]
struct Place<'a> {
    dir: BorrowedFd<'a>,
    name: &'a OsStr,
    path: &'a Path,
}

/// Opens the folder `name` of `at`, refusing to follow a symlink in its place.
fn open_dir(at: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(at, name, flags, Mode::empty())?)
}

/// Creates or truncates a regular file in its folder, refusing to follow a symlink.
fn open_no_follow(at: Place<'_>) -> std::io::Result<std::fs::File> {
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(at.dir, at.name, flags, Mode::from_raw_mode(0o600))?;
    Ok(std::fs::File::from(fd))
}

/// Sets a node's mtime and mode on an open file or folder (no second path lookup).
fn set_metadata(file: &std::fs::File, node: &Node) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mtime = if node.mtime_unix_ns >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(node.mtime_unix_ns.unsigned_abs())
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_nanos(node.mtime_unix_ns.unsigned_abs())
    };
    file.set_times(std::fs::FileTimes::new().set_modified(mtime))?;
    file.set_permissions(std::fs::Permissions::from_mode(node.mode & 0o7777))
}
