//! Upkeep that keeps a long history cheap to read: index compaction and
//! snapshot catalogues. Neither changes what the repository holds.
//!
//! When it runs: [`after_backup`], at the end of every backup (and of every
//! night `coffer-sim` writes), so a repository stays compact without anyone
//! scheduling anything: a nightly job is the one thing every repository has.
//! It costs a LIST or two when nothing is due. `coffer compact` does the same
//! on demand (with `--grace 0` it deletes superseded files at once). Prune is
//! left as it is: it already rewrites every index file it touches (all of
//! them past 64), but runs far less often than backups.

pub mod catalogue;
pub mod compact;

use crate::error::{Error, Result};
use crate::repo::Repository;
use serde::Serialize;

pub use catalogue::CatalogueReport;
pub use compact::{CompactOptions, CompactReport, CompactStep, compact};

/// What [`after_backup`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MaintenanceReport {
    pub compaction: Option<CompactReport>,
    /// Why compaction was due but did not run (a prune held the repository).
    pub compaction_skipped: Option<String>,
    pub catalogue: CatalogueReport,
}

/// Compacts the index when more than `opts.max_small_files` small index
/// files exist, and refreshes the snapshot catalogue when enough snapshots are
/// missing from it. A prune running elsewhere is not waited for: compaction
/// is skipped and the next backup tries again.
pub fn after_backup(repo: &Repository, opts: &CompactOptions) -> Result<MaintenanceReport> {
    let mut report = MaintenanceReport::default();
    if compact::is_due(repo, opts)? {
        match compact::compact(repo, opts) {
            Ok(r) => report.compaction = Some(r),
            Err(Error::Locked { holder }) => report.compaction_skipped = Some(holder),
            Err(e) => return Err(e),
        }
    }
    report.catalogue = catalogue::refresh(repo, false)?;
    Ok(report)
}
