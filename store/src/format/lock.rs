//! Lock objects (`locks/<random id>`): who is writing to, or pruning, the
//! repository right now. Advisory: readers ignore them (FORMAT.md, "Locks").

use crate::codec::Record;
use serde::{Deserialize, Serialize};

/// What the holder is doing. Backups share the repository with each other and
/// with prune; prune excludes other prunes; exclusive excludes everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockKind {
    /// A writer adding packs, index files and a snapshot (backup, pg backup, copy).
    Backup,
    /// A prune run (either phase).
    Prune,
    /// Nothing else may run (reserved for maintenance that rewrites everything).
    Exclusive,
}

impl LockKind {
    pub fn name(self) -> &'static str {
        match self {
            LockKind::Backup => "backup",
            LockKind::Prune => "prune",
            LockKind::Exclusive => "exclusive",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub kind: LockKind,
    pub host: String,
    pub pid: u32,
    pub username: String,
    /// When the holder took the lock (the first object of the run).
    pub created_unix_ns: i64,
    /// When this object was written; a refresh writes a new object.
    pub refreshed_unix_ns: i64,
}

impl Record for LockRecord {
    const TAG: u8 = 0x07;
    const VERSION: u8 = 1;
    const NAME: &'static str = "lock";
}
