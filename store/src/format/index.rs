//! Index files (`index/<id>`): which blobs live in which packs. Written after
//! the packs they list and before any snapshot that needs them.

use super::pack::BlobEntry;
use crate::codec::Record;
use crate::id::PackId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    pub packs: Vec<IndexedPack>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedPack {
    pub pack: PackId,
    /// Total stored bytes of the pack object.
    pub pack_length: u64,
    pub blobs: Vec<BlobEntry>,
}

impl Record for IndexFile {
    const TAG: u8 = 0x04;
    const VERSION: u8 = 1;
    const NAME: &'static str = "index";
}
