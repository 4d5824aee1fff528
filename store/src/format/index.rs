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

/// An index file's body over borrowed packs: encodes (with
/// [`crate::codec::encode_as`]) to the same bytes as the [`IndexFile`]
/// holding them, without cloning every blob entry first.
#[derive(Serialize)]
pub struct IndexFileOf<'a> {
    pub packs: &'a [IndexedPack],
}

impl Record for IndexFile {
    const TAG: u8 = 0x04;
    const VERSION: u8 = 1;
    const NAME: &'static str = "index";
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::format::pack::BlobKind;
    use crate::id::BlobId;

    #[test]
    fn a_borrowed_index_encodes_to_the_owned_ones_bytes() {
        let packs: Vec<IndexedPack> = (0..3u8)
            .map(|n| IndexedPack {
                pack: PackId([n; 32]),
                pack_length: 1000 + u64::from(n),
                blobs: (0..n)
                    .map(|k| BlobEntry {
                        id: BlobId([k ^ n; 32]),
                        kind: if k % 2 == 0 {
                            BlobKind::Data
                        } else {
                            BlobKind::Tree
                        },
                        offset: u64::from(k) * 300,
                        length: 300,
                        raw_length: 700,
                    })
                    .collect(),
            })
            .collect();
        let owned = crate::codec::encode(&IndexFile {
            packs: packs.clone(),
        });
        let borrowed = crate::codec::encode_as::<IndexFile, _>(&IndexFileOf { packs: &packs });
        assert_eq!(owned, borrowed);
        assert_eq!(
            crate::codec::decode::<IndexFile>(&borrowed).unwrap().packs,
            packs
        );
    }
}
