//! Listing folders ahead of the walk. A nightly run over a Dolibarr documents
//! tree (90,000 files in 68,000 folders, almost all unchanged) is nothing but
//! `getdents`, `statx` and parent-tree lookups; done one folder at a time they
//! keep one core busy and the other idle. The walker therefore lists the next
//! window of sibling folders in parallel (rayon) while it keeps emitting in
//! order; the window bounds how much is held ahead.
//!
//! Folders are opened relative to their parent's descriptor and entries
//! `fstatat`ed relative to their folder's, never by full path: a tree deeper
//! than PATH_MAX is walked like any other. A listing made ahead holds no
//! descriptor once it is made (the walker opens the folder again when it
//! enters it), so the scan-ahead adds at most one open descriptor per rayon
//! thread, whatever the window.

use crate::format::tree::Node;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::tree::dir_entries;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Sibling folders listed ahead of the walker at once.
pub(crate) const WINDOW: usize = 256;
/// Fewer subfolders than this in a window are listed on the walker's thread.
pub(crate) const PARALLEL_FROM: usize = 4;

/// One listed entry: its name and its `lstat` (`fstatat` without following).
pub(crate) struct Listed {
    pub name: OsString,
    pub stat: std::io::Result<Stat>,
}

impl Listed {
    pub fn is_dir(&self) -> bool {
        self.stat.as_ref().is_ok_and(is_dir)
    }
}

fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

/// A folder's sorted listing, with its counterpart in the parent snapshot.
pub(crate) struct Scan {
    pub entries: Vec<Listed>,
    /// The parent snapshot's entries of this folder, by name.
    pub parent: HashMap<Vec<u8>, Node>,
    /// Problems met while listing; the walk reports them in order.
    pub warnings: Vec<String>,
}

/// Opens the folder `name` of the folder `at` (a root: its path from the
/// working folder), never following a symlink in its place.
pub(crate) fn open_dir(at: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(at, name, flags, Mode::empty())?)
}

/// `lstat` of `name` in the folder `at`.
pub(crate) fn stat_at(at: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<Stat> {
    Ok(rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// Lists the open folder `dir` (sorted by name bytes, each entry `fstatat`ed
/// relative to it) and loads the parent snapshot's version of it. `path` is
/// the folder's full path, for messages only.
pub(crate) fn scan(
    repo: &Repository,
    dir: &mut Dir,
    path: &Path,
    parent_tree: Option<BlobId>,
) -> std::io::Result<Scan> {
    let mut warnings = Vec::new();
    // `Dir` reads through its own descriptor; the names are copied out first
    // so the entries can then be `fstatat`ed through the same descriptor.
    let mut names = Vec::new();
    while let Some(ent) = dir.read() {
        match ent {
            Ok(ent) => {
                let name = ent.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(OsStr::from_bytes(name).to_os_string());
                }
            }
            Err(e) => {
                let e = std::io::Error::from(e);
                warnings.push(format!("{}: {e}; listing incomplete", path.display()));
                break;
            }
        }
    }
    let fd = dir.fd()?;
    let mut listed: Vec<Listed> = names
        .into_iter()
        .map(|name| Listed {
            stat: stat_at(fd, &name),
            name,
        })
        .collect();
    listed.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let parent = match parent_tree {
        None => HashMap::new(),
        Some(tree) => match dir_entries(repo, &tree) {
            Ok(nodes) => nodes.into_iter().map(|n| (n.name.clone(), n)).collect(),
            // A damaged parent only costs re-reading: say so and go on.
            Err(e) => {
                warnings.push(format!(
                    "parent tree {} of {} unreadable, its files are read again: {e}",
                    tree.short(),
                    path.display()
                ));
                HashMap::new()
            }
        },
    };
    Ok(Scan {
        entries: listed,
        parent,
        warnings,
    })
}
