//! The `config` object: plaintext magic and format version, then the sealed
//! repository settings. The version sits in clear so a build can say
//! "unsupported version" before asking for a password.

use super::{FORMAT_VERSION, split_header, with_header};
use crate::codec::Record;
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"COFFERRP";

/// Repository-wide settings, fixed at `init`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Random; names the local cache folder.
    pub repo_id: [u8; 32],
    pub chunker: ChunkerRecord,
    /// Packs are closed once they reach this many bytes.
    pub pack_target_size: u32,
    /// zstd level for compressible blobs.
    pub zstd_level: i32,
    pub created_unix_ns: i64,
}

/// FastCDC parameters (normalization level 1). Part of the format: changing
/// them changes every chunk boundary and so defeats deduplication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerRecord {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
    /// Gear-table seed; secret (the config is sealed), so chunk lengths do not
    /// fingerprint content.
    pub seed: u64,
}

impl Record for Config {
    const TAG: u8 = 0x01;
    const VERSION: u8 = 1;
    const NAME: &'static str = "config";
}

/// `MAGIC || u32 LE FORMAT_VERSION || sealed config`.
pub fn frame(sealed: &[u8]) -> Vec<u8> {
    with_header(MAGIC, FORMAT_VERSION, sealed)
}

/// Returns (format version, sealed config).
pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), &'static str> {
    split_header(bytes, MAGIC)
}
