//! Keyed chunk ids.

use std::fmt;

/// Keyed BLAKE3 chunk id: ids reveal nothing about content without the key.
///
/// An id is `blake3::keyed_hash(key, chunk)`. With a plain hash, anyone holding
/// the repository could test whether it contains a known file by hashing that
/// file's chunks; keyed, the test needs the key.
#[derive(Clone)]
pub struct ChunkIdKey([u8; 32]);

impl ChunkIdKey {
    /// Wraps 32 secret bytes; the store derives them from the repository key.
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// The id of one chunk.
    #[must_use]
    pub fn id(&self, data: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.0, data).as_bytes()
    }
}

/// Never prints the key: `Debug` output ends up in logs and panic messages.
impl fmt::Debug for ChunkIdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkIdKey").finish_non_exhaustive()
    }
}
