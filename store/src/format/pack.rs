//! Pack files: `blob* || sealed trailer || u32 LE trailer length || "COFPACK1"`.
//!
//! Each blob is sealed on its own, so one can be fetched by a ranged read from
//! its offset; the trailer repeats the pack's index entries so a pack describes
//! itself and a lost index can be rebuilt from packs alone.

use crate::codec::Record;
use crate::id::BlobId;
use serde::{Deserialize, Serialize};

pub const FOOTER_MAGIC: &[u8; 8] = b"COFPACK1";
/// Trailer length (4) + magic (8).
pub const FOOTER_LEN: usize = 12;

/// What a blob holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlobKind {
    /// File content chunk.
    Data,
    /// A directory or content-list node ([`super::tree::TreeBlob`]).
    Tree,
}

/// Where one blob sits in its pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobEntry {
    pub id: BlobId,
    pub kind: BlobKind,
    /// Byte offset of the sealed blob in the pack.
    pub offset: u64,
    /// Sealed length (nonce + ciphertext + tag).
    pub length: u32,
    /// Length of the chunk itself, before compression framing.
    pub raw_length: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackTrailer {
    pub blobs: Vec<BlobEntry>,
}

impl Record for PackTrailer {
    const TAG: u8 = 0x03;
    const VERSION: u8 = 1;
    const NAME: &'static str = "pack trailer";
}

/// Appends the footer to `blobs_and_trailer` (blob bytes followed by the sealed trailer).
pub fn footer(sealed_trailer_len: usize) -> [u8; FOOTER_LEN] {
    let mut f = [0u8; FOOTER_LEN];
    let len = u32::try_from(sealed_trailer_len).unwrap_or(u32::MAX);
    f[..4].copy_from_slice(&len.to_le_bytes());
    f[4..].copy_from_slice(FOOTER_MAGIC);
    f
}

/// From a pack's last bytes, the range of its sealed trailer.
pub fn trailer_range(pack_len: u64, footer: &[u8]) -> Result<std::ops::Range<u64>, String> {
    if footer.len() != FOOTER_LEN || &footer[4..] != FOOTER_MAGIC {
        return Err("pack footer magic missing (truncated or not a pack)".into());
    }
    let mut l = [0u8; 4];
    l.copy_from_slice(&footer[..4]);
    let len = u64::from(u32::from_le_bytes(l));
    let end = pack_len
        .checked_sub(FOOTER_LEN as u64)
        .ok_or("pack shorter than its footer")?;
    let start = end
        .checked_sub(len)
        .ok_or("trailer length exceeds the pack")?;
    Ok(start..end)
}

/// Every entry of a trailer lies in the blob area (before `trailer_start`) and
/// is at least a seal long: a trailer is trusted only this far before its
/// entries are used to slice the pack.
pub fn check_entries(trailer: &PackTrailer, trailer_start: u64) -> Result<(), String> {
    for b in &trailer.blobs {
        let end = b.offset.checked_add(u64::from(b.length));
        if end.is_none_or(|end| end > trailer_start)
            || (b.length as usize) < crate::crypto::SEAL_OVERHEAD
        {
            return Err(format!(
                "trailer lists blob {} outside the pack",
                b.id.short()
            ));
        }
    }
    Ok(())
}
