//! Snapshot catalogues (`catalogue/<id>`): copies of many snapshot objects in
//! one, so a machine with no cache learns every snapshot's time, host, tags
//! and root with one GET instead of one per snapshot (FORMAT.md, "Snapshot
//! catalogues"). Advisory: `snapshots/` stays the truth, and an entry counts
//! only when its snapshot is listed there and its bytes hash to its id.

use crate::codec::Record;
use crate::id::SnapshotId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    /// When the catalogue was written.
    pub created_unix_ns: i64,
    /// Sorted by id, each id once.
    pub snapshots: Vec<CatalogueEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    pub id: SnapshotId,
    /// The object `snapshots/<id>` byte for byte (sealed): BLAKE3 of it is `id`.
    pub sealed: Vec<u8>,
}

impl Record for Catalogue {
    const TAG: u8 = 0x09;
    const VERSION: u8 = 1;
    const NAME: &'static str = "catalogue";
}
