//! The size of a backup before it is read, so a progress display can show a
//! percentage and an estimate of the time left (restic's "scanner").
//!
//! It walks the same sources with the same excludes, beside the real walk, and
//! only reads metadata. A stream (stdin, a producer command) has no size until
//! it ends, so a backup with one has no total. Files that change between the
//! two walks make the total an estimate; it is never used for anything stored.

use super::{Excludes, RootEntry};
use std::ffi::OsStr;
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
        walk(
            path,
            Path::new(OsStr::from_bytes(name)),
            excludes,
            &mut total,
        );
    }
    total
}

fn walk(path: &Path, rel: &Path, excludes: &Excludes, total: &mut (u64, u64)) {
    if excludes.is_excluded(path, rel) {
        return;
    }
    // Unreadable entries are the real walk's to report; here they count nothing.
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return;
    };
    if md.is_file() {
        total.0 += md.len();
        total.1 += 1;
    } else if md.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            walk(&path.join(&name), &rel.join(&name), excludes, total);
        }
    }
}
