//! The tree of some night as real files, for tools that can only back up a
//! folder (restic, `coffer backup` itself).

use crate::content::content;
use crate::plan::{ChangeKind, Plan};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Brings `dir` (which holds night `from`'s tree, or is empty when `from` is
/// `None`) to night `to`'s tree: writes the files added or changed in
/// between, with their mtimes, and removes the removed ones.
pub fn materialise(plan: &Plan, dir: &Path, from: Option<usize>, to: usize) -> io::Result<u64> {
    let first = from.map_or(0, |f| f + 1);
    let mut written = 0;
    for day in plan.days.iter().take(to + 1).skip(first) {
        for c in &day.changes {
            let path = dir.join(&c.path);
            if c.kind == ChangeKind::Removed {
                std::fs::remove_file(&path)?;
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content(plan.params.seed, &c.path, c.version, c.size))?;
            let mtime =
                UNIX_EPOCH + Duration::from_nanos(u64::try_from(c.mtime_unix_ns).unwrap_or(0));
            std::fs::File::options()
                .write(true)
                .open(&path)?
                .set_modified(mtime.max(SystemTime::UNIX_EPOCH))?;
            written += 1;
        }
    }
    Ok(written)
}
