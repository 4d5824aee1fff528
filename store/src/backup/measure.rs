//! The size of a backup before it is read, so a progress display can show a
//! percentage and an estimate of the time left (restic's "scanner").
//!
//! It walks the same sources with the same excludes, beside the real walk, and
//! only reads metadata. A stream (stdin, a producer command) has no size until
//! it ends, so a backup with one has no total. Files that change between the
//! two walks make the total an estimate; it is never used for anything stored.

use super::scan::{open_dir, stat_at};
use super::walk::Meta;
use super::{Excludes, RootEntry};
use rustix::fs::{Dir, FileType};
use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The folders and files a backup of `roots` reads, or `None` when a root is a
/// stream (taken before the walk starts, which holds the roots).
pub(crate) fn sources(roots: &[RootEntry]) -> Option<Vec<(Vec<u8>, PathBuf)>> {
    let mut out = Vec::new();
    for root in roots {
        match root {
            RootEntry::Path { name, path } => out.push((name.clone(), path.clone())),
            // Carried over from the parent unread: it adds nothing to read.
            RootEntry::Carried { .. } => {}
            RootEntry::Stdin { .. } => return None,
        }
    }
    Some(out)
}

/// Bytes and files in `sources`, as the backup will count them.
pub(crate) fn measure(sources: &[(Vec<u8>, PathBuf)], excludes: &Excludes) -> (u64, u64) {
    let mut total = (0u64, 0u64);
    for (name, path) in sources {
        let rel = Path::new(OsStr::from_bytes(name));
        walk(
            rustix::fs::CWD,
            path.as_os_str(),
            (path, rel),
            excludes,
            &mut total,
        );
    }
    total
}

/// By folder descriptors, as the real walk: `name` in the open folder `at`
/// (a root: its path), so a path past PATH_MAX is counted too.
fn walk(
    at: BorrowedFd<'_>,
    name: &OsStr,
    (path, rel): (&Path, &Path),
    excludes: &Excludes,
    total: &mut (u64, u64),
) {
    if excludes.is_excluded(path, rel) {
        return;
    }
    // Unreadable entries are the real walk's to report; here they count nothing.
    let Ok(st) = stat_at(at, name) else {
        return;
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            total.0 += Meta::of(&st).size;
            total.1 += 1;
        }
        FileType::Directory => {
            let Ok(mut dir) = open_dir(at, name).and_then(|fd| Ok(Dir::new(fd)?)) else {
                return;
            };
            let mut names = Vec::new();
            while let Some(Ok(e)) = dir.read() {
                let n = e.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(OsStr::from_bytes(n).to_os_string());
                }
            }
            let Ok(fd) = dir.fd() else {
                return;
            };
            for n in names {
                walk(fd, &n, (&path.join(&n), &rel.join(&n)), excludes, total);
            }
        }
        _ => {}
    }
}
