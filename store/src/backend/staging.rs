//! Unfinished writes left in a local folder repository.
//!
//! The local store writes an object as `<name>#<n>` and renames it into
//! place, so a process killed in between leaves that staging file behind:
//! up to a pack's size each, invisible to every listing (so harmless), but
//! never removed by anything else. `check` reports them and `prune` removes
//! the ones old enough that no live writer can still be filling them.

use super::Backend;
use std::path::Path;
use std::time::SystemTime;

/// One staging file: its path inside the repository, size, last write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfinished {
    pub path: String,
    pub bytes: u64,
    pub modified: SystemTime,
}

/// Folders below the repository's root that hold objects (`data/` has one
/// more level, by the first two hex digits).
const MAX_DEPTH: usize = 3;

impl Backend {
    /// The staging files of killed writes, for a plain local folder; none for
    /// other stores (their uploads are atomic, or expire as the bucket says).
    /// Best effort: an unreadable folder is skipped.
    pub fn unfinished_writes(&self) -> Vec<Unfinished> {
        let mut out = Vec::new();
        if let Some(root) = &self.names_root {
            walk(root, "", 0, &mut out);
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Removes one staging file; false if it could not be removed (gone already
    /// counts as removed).
    pub fn remove_unfinished(&self, u: &Unfinished) -> bool {
        let Some(root) = &self.names_root else {
            return false;
        };
        match std::fs::remove_file(root.join(&u.path)) {
            Ok(()) => true,
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    }
}

fn walk(root: &Path, rel: &str, depth: usize, out: &mut Vec<Unfinished>) {
    let Ok(dir) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in dir.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // The entry's type comes with the listing; only a staging file is
        // stat'ed (a repository holds many thousand packs).
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(root, &path, depth + 1, out);
            }
        } else if kind.is_file() && is_staging_name(&name) {
            let Ok(meta) = entry.metadata() else { continue };
            out.push(Unfinished {
                path,
                bytes: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    }
}

/// `<name>#<digits>`: the local store's staging name (object names never
/// hold a `#`).
pub(super) fn is_staging_name(name: &str) -> bool {
    name.split_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::is_staging_name;

    #[test]
    fn only_name_hash_digits_is_a_staging_file() {
        assert!(is_staging_name("3032c1bc#1"));
        assert!(is_staging_name("config#12"));
        assert!(!is_staging_name("3032c1bc"));
        assert!(!is_staging_name("3032c1bc#"));
        assert!(!is_staging_name("3032c1bc#part"));
    }
}
