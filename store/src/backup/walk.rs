//! The producer side of a backup: walks the sources in order, decides which
//! files are unchanged (size, mtime and inode equal to the parent snapshot's),
//! reads and chunks the others, and sends everything downstream in batches
//! over a bounded channel, so reading overlaps hashing and compression and a
//! 50 GB dump never sits in memory.

use super::scan::{Listed, PARALLEL_FROM, Scan, WINDOW, open_dir, scan, stat_at};
use super::{Excludes, RootEntry, StdinSource};
use crate::error::Error;
use crate::format::tree::{Node, NodeKind};
use crate::id::BlobId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::tree::dir_entries;
use coffer_chunker::{Chunker, ChunkerParams};
use crossbeam_channel::Sender;
use rayon::prelude::*;
use rustix::fs::{Dir, FileType, Mode, OFlags, Stat};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes of chunk data per batch: enough to keep every core busy.
const BATCH_BYTES: usize = 4 << 20;
const BATCH_ITEMS: usize = 2048;
/// Folders nested deeper than this are skipped with a warning: the walk
/// recurses and holds one descriptor per level (under the usual limit of
/// 1,024 open files), and restore refuses the same depth
/// (`restore::MAX_DEPTH`), so nothing is stored that could not come back.
const MAX_DEPTH: usize = crate::restore::MAX_DEPTH - 1;

/// File metadata as stored in nodes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_unix_ns: i64,
    pub ctime_unix_ns: i64,
    pub inode: u64,
    pub size: u64,
}

impl Meta {
    /// The field widths of `struct stat` differ between architectures (the
    /// nanoseconds are `u32` on some, `c_ulong` on others): hence the casts,
    /// each of a value that fits (nanoseconds below 10^9, a size and an inode
    /// the kernel reports as non-negative).
    #[allow(
        clippy::unnecessary_cast,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap
    )]
    pub fn of(st: &Stat) -> Self {
        Self {
            mode: (st.st_mode as u32) & 0o7777,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            mtime_unix_ns: unix_ns_of(st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime_unix_ns: unix_ns_of(st.st_ctime as i64, st.st_ctime_nsec as i64),
            inode: st.st_ino as u64,
            size: st.st_size as u64,
        }
    }

    pub fn node(&self, name: Vec<u8>, kind: NodeKind, size: u64) -> Node {
        Node {
            name,
            kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            mtime_unix_ns: self.mtime_unix_ns,
            ctime_unix_ns: self.ctime_unix_ns,
            inode: self.inode,
            size,
        }
    }
}

/// Seconds and nanoseconds to one i64, saturating outside years ~1677-2262
/// rather than overflowing on a file with an absurd timestamp.
fn unix_ns_of(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The tree of a parent-snapshot node, when it is a folder.
fn prev_dir_tree(prev: Option<&Node>) -> Option<BlobId> {
    match prev.map(|n| &n.kind) {
        Some(NodeKind::Dir { tree }) => Some(*tree),
        _ => None,
    }
}

/// A folder as the parent snapshot has it. When every entry comes out
/// identical to the parent's and none is missing or added, the folder's tree
/// is the parent's tree: no need to encode, hash and look it up again (a
/// nightly run over 68,000 unchanged folders is mostly that).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParentDir {
    pub tree: BlobId,
    /// Entries in the parent's version of the folder.
    pub entries: usize,
    /// The folder's own metadata is the parent node's.
    pub meta_same: bool,
}

/// Does a parent-snapshot node carry exactly this metadata?
fn same_meta(p: &Node, m: &Meta) -> bool {
    p.mode == m.mode
        && p.uid == m.uid
        && p.gid == m.gid
        && p.mtime_unix_ns == m.mtime_unix_ns
        && p.ctime_unix_ns == m.ctime_unix_ns
        && p.inode == m.inode
}

/// Whether a file had a counterpart in the parent snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileStatus {
    New,
    Changed,
}

pub(crate) enum Item {
    DirStart {
        name: Vec<u8>,
        meta: Meta,
        /// The folder in the parent snapshot, if it was there.
        parent: Option<ParentDir>,
    },
    DirEnd,
    FileStart {
        name: Vec<u8>,
        meta: Meta,
        status: FileStatus,
    },
    Chunk(Vec<u8>),
    FileEnd {
        size: u64,
    },
    /// The file could not be read to its end; drop what was sent of it.
    FileAbort,
    /// A finished node (unchanged file, symlink).
    Node {
        node: Node,
        /// An unchanged file (counted as such).
        unchanged: bool,
        /// Equal to its node in the parent snapshot.
        identical: bool,
    },
    Warn(String),
    Fatal(Error),
}

/// The consumer hung up (it failed); stop walking.
pub(crate) struct Hangup;

/// Where an entry is: `name` in the open folder `at` (for a root, its path
/// from the working folder), which is all that reaches a syscall; `path`
/// (full) and `rel` (inside the snapshot) are for messages and excludes only,
/// so a path longer than PATH_MAX is walked like any other.
#[derive(Clone, Copy)]
struct Place<'a> {
    at: BorrowedFd<'a>,
    name: &'a OsStr,
    path: &'a Path,
    rel: &'a Path,
}

pub(crate) struct Walker<'a> {
    pub repo: &'a Repository,
    pub tx: Sender<Vec<Item>>,
    pub excludes: &'a Excludes,
    pub params: ChunkerParams,
    pub progress: &'a dyn Progress,
    pub now_meta: Meta,
    batch: Vec<Item>,
    batch_bytes: usize,
    /// Folders entered on the way to the current one.
    depth: usize,
}

impl<'a> Walker<'a> {
    pub fn new(
        repo: &'a Repository,
        tx: Sender<Vec<Item>>,
        excludes: &'a Excludes,
        progress: &'a dyn Progress,
        now_meta: Meta,
    ) -> Self {
        Self {
            repo,
            params: repo.chunker_params(),
            tx,
            excludes,
            progress,
            now_meta,
            batch: Vec::new(),
            batch_bytes: 0,
            depth: 0,
        }
    }

    fn emit(&mut self, item: Item) -> Result<(), Hangup> {
        if let Item::Chunk(d) = &item {
            self.batch_bytes += d.len();
        }
        self.batch.push(item);
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_ITEMS {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), Hangup> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch_bytes = 0;
        self.tx
            .send(std::mem::take(&mut self.batch))
            .map_err(|_| Hangup)
    }

    fn warn(&mut self, msg: String) -> Result<(), Hangup> {
        self.progress.warn(&msg);
        self.emit(Item::Warn(msg))
    }

    /// Walks every root entry; the consumer's root frame is implicit.
    pub fn run(
        &mut self,
        roots: &mut [RootEntry],
        parent_root: Option<BlobId>,
    ) -> Result<(), Hangup> {
        let parent = self.parent_entries(parent_root);
        for root in roots.iter_mut() {
            match root {
                RootEntry::Path { name, path } => {
                    let prev = parent.get(name.as_slice());
                    let rel = Path::new(OsStr::from_bytes(name)).to_path_buf();
                    let place = Place {
                        at: rustix::fs::CWD,
                        name: path.as_os_str(),
                        path,
                        rel: &rel,
                    };
                    self.entry(place, name.clone(), prev, None, None)?;
                }
                RootEntry::Stdin { components, source } => {
                    self.stdin(components, source, parent_root)?;
                }
                RootEntry::Carried { components, node } => self.carried(components, node)?,
            }
        }
        self.flush()
    }

    fn parent_entries(&mut self, tree: Option<BlobId>) -> HashMap<Vec<u8>, Node> {
        let Some(tree) = tree else {
            return HashMap::new();
        };
        match dir_entries(self.repo, &tree) {
            Ok(nodes) => nodes.into_iter().map(|n| (n.name.clone(), n)).collect(),
            // A damaged parent only costs re-reading: say so and go on.
            Err(e) => {
                self.progress.warn(&format!(
                    "parent tree {} unreadable, re-reading files: {e}",
                    tree.short()
                ));
                HashMap::new()
            }
        }
    }

    /// `listed` is the entry's `lstat` from its folder's listing (roots have
    /// none); `scanned` the folder's own listing when it was made ahead.
    fn entry(
        &mut self,
        place: Place<'_>,
        name: Vec<u8>,
        prev: Option<&Node>,
        listed: Option<std::io::Result<Stat>>,
        scanned: Option<std::io::Result<Scan>>,
    ) -> Result<(), Hangup> {
        let path = place.path;
        if self.excludes.is_excluded(path, place.rel) {
            return Ok(());
        }
        let st = match listed.unwrap_or_else(|| stat_at(place.at, place.name)) {
            Ok(st) => st,
            Err(e) => return self.warn(format!("{}: {e}; skipped", path.display())),
        };
        let meta = Meta::of(&st);
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft == FileType::Directory {
            let prev_tree = prev_dir_tree(prev);
            let meta_same = prev.is_some_and(|p| same_meta(p, &meta));
            if self.depth >= MAX_DEPTH {
                return self.warn(format!(
                    "{}: nested deeper than {MAX_DEPTH} folders; folder skipped",
                    path.display()
                ));
            }
            self.depth += 1;
            let done = self.dir(place, name, meta, (prev_tree, meta_same), scanned);
            self.depth -= 1;
            done
        } else if ft == FileType::RegularFile {
            self.file(place, name, meta, prev)
        } else if ft == FileType::Symlink {
            match rustix::fs::readlinkat(place.at, place.name, Vec::new()) {
                Ok(target) => {
                    let node = meta.node(
                        name,
                        NodeKind::Symlink {
                            target: target.into_bytes(),
                        },
                        0,
                    );
                    let identical = prev == Some(&node);
                    self.emit(Item::Node {
                        node,
                        unchanged: false,
                        identical,
                    })
                }
                Err(e) => {
                    let e = std::io::Error::from(e);
                    self.warn(format!("{}: {e}; skipped", path.display()))
                }
            }
        } else {
            self.warn(format!(
                "{}: special file (fifo, socket or device) skipped",
                path.display()
            ))
        }
    }

    /// Descriptors: the walker holds one open folder per level of the current
    /// path (each opened relative to its parent's), plus the file it reads;
    /// the scan-ahead holds at most one more per rayon thread while it lists
    /// (a listing made ahead keeps none). So the count is depth + 1 + threads,
    /// whatever the folders' widths.
    fn dir(
        &mut self,
        place: Place<'_>,
        name: Vec<u8>,
        meta: Meta,
        (prev, meta_same): (Option<BlobId>, bool),
        scanned: Option<std::io::Result<Scan>>,
    ) -> Result<(), Hangup> {
        let (path, rel) = (place.path, place.rel);
        let mut dir = match open_dir(place.at, place.name).and_then(|fd| Ok(Dir::new(fd)?)) {
            Ok(d) => d,
            Err(e) => return self.warn(format!("{}: {e}; folder skipped", path.display())),
        };
        // A listing made ahead is of the folder this descriptor opens unless
        // the folder was replaced in between: then it is listed again here.
        let same_folder = || dir.stat().is_ok_and(|st| Meta::of(&st).inode == meta.inode);
        let scanned = match scanned {
            Some(s) if same_folder() => s,
            _ => scan(self.repo, &mut dir, path, prev),
        };
        let scanned = match scanned {
            Ok(s) => s,
            Err(e) => return self.warn(format!("{}: {e}; folder skipped", path.display())),
        };
        let fd = match dir.fd() {
            Ok(fd) => fd,
            Err(e) => return self.warn(format!("{}: {e}; folder skipped", path.display())),
        };
        for w in scanned.warnings {
            self.warn(w)?;
        }
        let parent = scanned.parent;
        self.emit(Item::DirStart {
            name,
            meta,
            parent: prev.map(|tree| ParentDir {
                tree,
                entries: parent.len(),
                meta_same,
            }),
        })?;
        let mut entries = scanned.entries.into_iter().peekable();
        while entries.peek().is_some() {
            let window: Vec<Listed> = entries.by_ref().take(WINDOW).collect();
            // List this window's subfolders in parallel, ahead of emitting them.
            let (repo, excludes) = (self.repo, self.excludes);
            let scan_ahead = |l: &Listed| {
                let child = path.join(&l.name);
                (l.is_dir() && !excludes.is_excluded(&child, &rel.join(&l.name))).then(|| {
                    let prev = prev_dir_tree(parent.get(l.name.as_bytes()));
                    let mut sub = Dir::new(open_dir(fd, &l.name)?)?;
                    scan(repo, &mut sub, &child, prev)
                })
            };
            let subfolders = window.iter().filter(|l| l.is_dir()).count();
            // Waking the pool for one or two folders costs more than it saves.
            let ahead: Vec<Option<std::io::Result<Scan>>> = if subfolders >= PARALLEL_FROM {
                window.par_iter().map(scan_ahead).collect()
            } else {
                window.iter().map(scan_ahead).collect()
            };
            for (l, ahead) in window.into_iter().zip(ahead) {
                let cname = l.name.as_bytes().to_vec();
                let prev = parent.get(&cname);
                let (cpath, crel) = (path.join(&l.name), rel.join(&l.name));
                let child = Place {
                    at: fd,
                    name: &l.name,
                    path: &cpath,
                    rel: &crel,
                };
                self.entry(child, cname, prev, Some(l.stat), ahead)?;
            }
        }
        self.emit(Item::DirEnd)
    }

    fn file(
        &mut self,
        place: Place<'_>,
        name: Vec<u8>,
        meta: Meta,
        prev: Option<&Node>,
    ) -> Result<(), Hangup> {
        if let Some(p) = prev {
            if let NodeKind::File { content } = &p.kind {
                if p.size == meta.size
                    && p.mtime_unix_ns == meta.mtime_unix_ns
                    && p.ctime_unix_ns == meta.ctime_unix_ns
                    && p.inode == meta.inode
                {
                    let node = meta.node(
                        name,
                        NodeKind::File {
                            content: content.clone(),
                        },
                        meta.size,
                    );
                    self.progress.bytes(meta.size);
                    return self.emit(Item::Node {
                        node,
                        unchanged: true,
                        identical: true,
                    });
                }
            }
        }
        let status = if prev.is_some() {
            FileStatus::Changed
        } else {
            FileStatus::New
        };
        let path = place.path;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let f = match rustix::fs::openat(place.at, place.name, flags, Mode::empty()) {
            Ok(fd) => std::fs::File::from(fd),
            Err(e) => {
                let e = std::io::Error::from(e);
                return self.warn(format!("{}: {e}; skipped", path.display()));
            }
        };
        self.emit(Item::FileStart { name, meta, status })?;
        match self.stream(&f)? {
            Ok(size) => {
                self.emit(Item::FileEnd { size })?;
                // fstat of the open file: no second path lookup per file.
                if let Ok(after) = rustix::fs::fstat(f.as_fd()) {
                    let a = Meta::of(&after);
                    if a.size != meta.size
                        || a.mtime_unix_ns != meta.mtime_unix_ns
                        || a.ctime_unix_ns != meta.ctime_unix_ns
                    {
                        self.warn(format!(
                            "{}: changed while being read; the stored copy may be inconsistent",
                            path.display()
                        ))?;
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.emit(Item::FileAbort)?;
                self.warn(format!("{}: read failed: {e}; skipped", path.display()))
            }
        }
    }

    /// Chunks a reader into the batch stream. Outer error: hung up; inner: I/O.
    fn stream(&mut self, reader: impl Read) -> Result<std::io::Result<u64>, Hangup> {
        let mut total = 0u64;
        for chunk in Chunker::new(reader, &self.params) {
            match chunk {
                Ok(c) => {
                    total += c.len() as u64;
                    self.progress.bytes(c.len() as u64);
                    self.emit(Item::Chunk(c))?;
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(total))
    }

    /// Opens the folders of a stream's name (`db/` of `db/erp.dump`): they
    /// exist only in the snapshot, so they get this run's time and mode 755.
    fn open_virtual_dirs(&mut self, dirs: &[Vec<u8>]) -> Result<(), Hangup> {
        for d in dirs {
            self.emit(Item::DirStart {
                name: d.clone(),
                meta: Meta {
                    mode: 0o755,
                    ..self.now_meta
                },
                parent: None,
            })?;
        }
        Ok(())
    }

    /// An earlier snapshot's file node, under virtual folders like a stream's.
    fn carried(&mut self, components: &[Vec<u8>], node: &Node) -> Result<(), Hangup> {
        let (file_name, dirs) = components.split_last().unwrap_or((&components[0], &[]));
        self.open_virtual_dirs(dirs)?;
        let mut node = node.clone();
        node.name = file_name.clone();
        self.emit(Item::Node {
            node,
            unchanged: true,
            identical: false,
        })?;
        for _ in dirs {
            self.emit(Item::DirEnd)?;
        }
        Ok(())
    }

    fn stdin(
        &mut self,
        components: &[Vec<u8>],
        source: &mut StdinSource,
        parent_root: Option<BlobId>,
    ) -> Result<(), Hangup> {
        // Virtual folders for `db/erp.dump`; unchanged-file detection does not apply to streams.
        let _ = parent_root;
        let (file_name, dirs) = components.split_last().unwrap_or((&components[0], &[]));
        self.open_virtual_dirs(dirs)?;
        let meta = Meta {
            mode: 0o644,
            ..self.now_meta
        };
        self.emit(Item::FileStart {
            name: file_name.clone(),
            meta,
            status: FileStatus::New,
        })?;
        let result = match source {
            StdinSource::Reader(r) => self.stream(r)?,
            StdinSource::Command(cmd) => match cmd.output() {
                Some(out) => self.stream(out)?,
                None => Err(std::io::Error::other("command has no output stream")),
            },
        };
        let verdict = match (result, source) {
            (Err(e), StdinSource::Command(cmd)) => Err(cmd.failure(Some(e))),
            (Err(e), StdinSource::Reader(_)) => Err(Error::Source {
                path: "(stdin)".into(),
                source: e,
            }),
            (Ok(size), StdinSource::Command(cmd)) => match cmd.wait() {
                Ok(()) => Ok(size),
                Err(e) => Err(e),
            },
            (Ok(size), StdinSource::Reader(_)) => Ok(size),
        };
        match verdict {
            Ok(size) => self.emit(Item::FileEnd { size })?,
            Err(e) => {
                self.emit(Item::Fatal(e))?;
                self.flush()?;
                return Err(Hangup);
            }
        }
        for _ in dirs {
            self.emit(Item::DirEnd)?;
        }
        Ok(())
    }
}
