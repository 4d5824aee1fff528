//! Keyed chunk ids.

use coffer_chunker::ChunkIdKey;
use proptest::prelude::*;

use crate::md5::hex;

/// Chunk ids name every chunk in every repository: if this fails, existing
/// repositories no longer deduplicate against new backups and `check` would
/// find every chunk mismatched. Do not regenerate; find what changed. The
/// literal was cross-checked with `b3sum --keyed` (key on stdin).
#[test]
fn checked_in_chunk_id_vector() {
    let key = ChunkIdKey::new([7u8; 32]);
    let id = key.id(b"coffer");
    assert_eq!(id, *blake3::keyed_hash(&[7u8; 32], b"coffer").as_bytes());
    assert_eq!(
        hex(&id),
        "661a5a9cf8c9b5a71a66c05f19b191ce124d4784a8aa6d63ed7c7769e37ea71e"
    );
}

#[test]
fn debug_does_not_print_the_key() {
    let key = ChunkIdKey::new([0xab; 32]);
    let shown = format!("{key:?} {key:#?}");
    assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    assert_eq!(format!("{key:?}"), "ChunkIdKey { .. }");
}

#[test]
fn clones_give_the_same_ids() {
    let key = ChunkIdKey::new([1; 32]);
    assert_eq!(key.clone().id(b"row 1"), key.id(b"row 1"));
}

proptest! {
    #[test]
    fn different_keys_give_different_ids(
        a in any::<[u8; 32]>(),
        b in any::<[u8; 32]>(),
        data in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        prop_assume!(a != b);
        prop_assert_ne!(ChunkIdKey::new(a).id(&data), ChunkIdKey::new(b).id(&data));
    }

    #[test]
    fn different_data_gives_different_ids(
        key in any::<[u8; 32]>(),
        a in proptest::collection::vec(any::<u8>(), 0..512),
        b in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        prop_assume!(a != b);
        let key = ChunkIdKey::new(key);
        prop_assert_ne!(key.id(&a), key.id(&b));
    }
}
