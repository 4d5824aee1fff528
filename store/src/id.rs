//! Typed 32-byte identifiers, one newtype per kind so a pack id can never be
//! passed where a blob id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// Lowercase hex, the form used in object names and on screen.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 8 hex digits: enough to name an object to a person.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }

            /// Parses 64 hex digits.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).ok()?;
                Some(Self(out))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

define_id!(
    /// A blob (data chunk or tree node): keyed BLAKE3 of its plaintext.
    BlobId
);
define_id!(
    /// A pack file: plain BLAKE3 of its stored bytes, so `check` can verify it unkeyed.
    PackId
);
define_id!(
    /// An index file: plain BLAKE3 of its stored bytes.
    IndexId
);
define_id!(
    /// A snapshot manifest: plain BLAKE3 of its stored bytes.
    SnapshotId
);
define_id!(
    /// A key file: random.
    KeyId
);
define_id!(
    /// A lock object: random (a refresh writes a new one).
    LockId
);
define_id!(
    /// A condemned record (prune's phase 1): plain BLAKE3 of its stored bytes.
    CondemnedId
);
define_id!(
    /// A snapshot catalogue: plain BLAKE3 of its stored bytes.
    CatalogueId
);

/// Unkeyed BLAKE3 of stored bytes: names for content-addressed objects.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = ContentHasher::default();
    h.update(bytes);
    h.finalize()
}

/// [`content_hash`] of bytes given in pieces (a pack written as it fills).
#[derive(Default)]
pub struct ContentHasher(blake3::Hasher);

impl ContentHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        // A pack (16 MiB, or its megabyte pieces) is hashed on all cores:
        // the writer's thread hashed each one alone while the pool waited for
        // it (BLAKE3's tree splits the work; the same hash either way).
        if bytes.len() >= PARALLEL_HASH_MIN {
            self.0.update_rayon(bytes);
        } else {
            self.0.update(bytes);
        }
    }

    pub fn finalize(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// Below this, splitting a hash across threads costs more than it gains
/// (BLAKE3's documentation: 128 KiB at the least).
const PARALLEL_HASH_MIN: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_short_form() {
        let id = PackId([0xab; 32]);
        assert_eq!(PackId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(id.short(), "abababab");
        assert_eq!(PackId::from_hex("abc"), None);
    }

    #[test]
    fn a_large_input_hashes_as_blake3_does_on_one_thread() {
        let big: Vec<u8> = (0..PARALLEL_HASH_MIN * 3 + 7)
            .map(|i| u8::try_from(i % 253).unwrap_or(0))
            .collect();
        assert_eq!(content_hash(&big), *blake3::hash(&big).as_bytes());
        assert_eq!(content_hash(b"abc"), *blake3::hash(b"abc").as_bytes());
        // In pieces, large and small, as a pack written while it fills.
        let mut h = ContentHasher::default();
        for piece in [
            &big[..PARALLEL_HASH_MIN],
            &big[PARALLEL_HASH_MIN..PARALLEL_HASH_MIN + 5],
            &big[PARALLEL_HASH_MIN + 5..],
        ] {
            h.update(piece);
        }
        assert_eq!(h.finalize(), content_hash(&big));
    }
}
