//! Repository bytes: every record and object layout, with no I/O.
//!
//! FORMAT.md (beside this crate's Cargo.toml) is the specification; a change
//! here is a change there, and to the fixtures.

pub mod catalogue;
pub mod condemned;
pub mod config;
pub mod index;
pub mod key;
pub mod layout;
pub mod lock;
pub mod pack;
pub mod snapshot;
pub mod tree;

/// The repository format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Splits a plaintext `MAGIC || u32 LE version || rest` header.
pub(crate) fn split_header<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
) -> Result<(u32, &'a [u8]), &'static str> {
    if bytes.len() < 12 || &bytes[..8] != magic {
        return Err("bad magic bytes");
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&bytes[8..12]);
    Ok((u32::from_le_bytes(v), &bytes[12..]))
}

pub(crate) fn with_header(magic: &[u8; 8], version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(body);
    out
}
