//! Condemned records (`condemned/<id>`): what prune's first phase decided to
//! delete, and when. Its second phase deletes them, at the earliest after the
//! grace period and once no backup that could still use them runs
//! (FORMAT.md, "Deleting packs and index files").

use crate::codec::Record;
use crate::id::{IndexId, PackId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CondemnedRecord {
    /// When phase 1 wrote the record (after every object it added).
    pub created_unix_ns: i64,
    /// Packs to delete, sorted.
    pub packs: Vec<PackId>,
    /// Index files to delete, sorted. Every surviving pack they list is
    /// listed again by an index file not in any condemned record.
    pub index_files: Vec<IndexId>,
}

impl Record for CondemnedRecord {
    const TAG: u8 = 0x08;
    const VERSION: u8 = 1;
    const NAME: &'static str = "condemned";
}
