//! Snapshot manifests (`snapshots/<id>`): one backup run, pointing at its root tree.

use crate::codec::Record;
use crate::id::{BlobId, SnapshotId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Nanoseconds since the Unix epoch, UTC.
    pub time_unix_ns: i64,
    pub host: String,
    pub username: String,
    /// Free-form labels, `key=value` by convention (`env=prod`, `tenant=acme`).
    pub tags: Vec<String>,
    /// What was backed up, as given (source paths and stdin names).
    pub paths: Vec<String>,
    /// Root directory tree.
    pub root: BlobId,
    /// The snapshot whose file metadata let unchanged files be skipped.
    pub parent: Option<SnapshotId>,
    /// Some sources could not be read; see `summary.errors`.
    pub partial: bool,
    /// `coffer x.y.z` that wrote it.
    pub program: String,
    pub summary: Summary,
    /// Extension point for later features (database versions, fingerprints):
    /// sorted key/value pairs, unknown keys are kept and ignored.
    pub meta: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs: u64,
    /// Bytes read from sources (unchanged files are not read and count nothing here).
    pub bytes_read: u64,
    /// Logical size of everything in the snapshot.
    pub bytes_total: u64,
    /// Blobs written by this run.
    pub blobs_added: u64,
    /// Bytes those blobs occupy in packs (after compression and encryption).
    pub bytes_added: u64,
    pub errors: u64,
    pub duration_ms: u64,
}

impl Record for Snapshot {
    const TAG: u8 = 0x05;
    const VERSION: u8 = 1;
    const NAME: &'static str = "snapshot";
}

/// A snapshot together with its id.
#[derive(Clone, Debug)]
pub struct SnapshotEntry {
    pub id: SnapshotId,
    pub snapshot: Snapshot,
}
