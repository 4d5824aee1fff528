//! Content-defined chunking and keyed chunk ids for coffer.
//!
//! coffer stores nightly ERP backups: PostgreSQL dumps and document trees that
//! change a little from one night to the next. This crate splits each file into
//! chunks whose boundaries depend on the bytes around them, not on offsets, so
//! a row inserted near the start of a dump changes only the chunks around it and
//! every later chunk deduplicates against last night's. Each chunk is named by a
//! keyed BLAKE3 hash.
//!
//! The crate is a leaf: it takes its parameters as a value ([`ChunkerParams`],
//! which the store keeps in the repository config) and knows nothing of
//! repositories, packs or encryption.
//!
//! ```
//! use coffer_chunker::{chunk_boundaries, ChunkIdKey, Chunker, ChunkerParams};
//!
//! // In a repository both secrets come from the key material.
//! let params = ChunkerParams::with_seed(0x1d2c_3b4a_5968_7786);
//! params.validate()?;
//! let key = ChunkIdKey::new([7; 32]);
//!
//! // A megabyte of arbitrary bytes standing in for a dump.
//! let mut x = 1u64;
//! let data: Vec<u8> = (0..1 << 20)
//!     .map(|_| {
//!         x ^= x << 13;
//!         x ^= x >> 7;
//!         x ^= x << 17;
//!         x.to_le_bytes()[0]
//!     })
//!     .collect();
//!
//! let mut ids = Vec::new();
//! for chunk in Chunker::new(&data[..], &params) {
//!     let chunk = chunk?; // read errors come through as items
//!     ids.push(key.id(&chunk));
//! }
//!
//! // The in-memory path cuts at the same places.
//! let ranges = chunk_boundaries(&data, &params);
//! assert_eq!(ids.len(), ranges.len());
//! assert_eq!(ids[0], key.id(&data[ranges[0].clone()]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why FastCDC
//!
//! FastCDC (Xia et al., 2016 and 2020) uses a gear hash, one shift and one add
//! per byte, where restic's Rabin fingerprint and borg's buzhash do more work
//! per byte; it skips hashing the first `min_size` bytes of each chunk, and its
//! normalized chunking (a stricter mask before `avg_size`, a looser one after)
//! narrows the spread of chunk sizes around the average. On one core it runs at
//! well over a gigabyte per second, faster than the compression and encryption
//! that follow, so chunking is not the bottleneck of a backup. The `fastcdc`
//! crate's 2020 variant supplies both a slice and a reader interface with the
//! same cut points and lets the gear table be seeded.
//!
//! # Why a seed
//!
//! With the published gear table, chunk lengths are a function of the content
//! alone. Anyone who can see the sizes of stored (encrypted) chunks could then
//! tell whether a known document is in the repository by comparing them with
//! the length sequence that document chunks into. XORing a secret,
//! per-repository `seed` into every gear entry keys the table, so boundaries,
//! and with them the lengths, differ between repositories and cannot be
//! precomputed.
//!
//! The seed is a mitigation, not a cryptographic key: "Breaking and Fixing
//! Content-Defined Chunking" (Truong, Merz, Scarlata, Günther, Paterson; RWC
//! 2025) recovers comparable secrets in borg and restic from chunk lengths of
//! known or chosen data. The store should also keep exact chunk lengths out of
//! sight (packing, padding). A seed of zero means the unkeyed table; stores
//! must use a random one. Only the low 48 bits of the seed reach a cut
//! decision: no mask tests a bit above bit 47 and additions carry upwards, so
//! seeds that differ only above it cut alike (a test records this).
//!
//! # Format
//!
//! A reader of a repository never needs the cut points (snapshots list chunk
//! ids), but a writer that cuts differently no longer deduplicates against
//! earlier backups. These rules are therefore pinned, and the tests check the
//! fast path against an independent byte-at-a-time implementation of them:
//!
//! * Gear table: `G[i]` is the first 8 bytes, read big-endian, of the MD5
//!   digest of 64 bytes all equal to `i`, for `i` in `0..=255` (fastcdc 5's
//!   table). The keyed table is `G[i] ^ seed`.
//! * Masks: with `bits = round(log2(avg_size))`, the strict mask is
//!   `MASKS[bits + 1]` and the loose one `MASKS[bits - 1]` (normalization
//!   level 1), from fastcdc 5's `MASKS`, whose entry `k` has `k` one-bits. For
//!   the default 8 KiB average they are `0x0000_d903_1353_0000` and
//!   `0x0000_d901_0353_0000`.
//! * Cut: let `w` be the unchunked rest of the input, capped at `max_size`
//!   bytes. If `w.len() <= min_size` the chunk is `w`. Otherwise `h = 0`, and
//!   for each position `i` from `min_size` on, `h = (h << 1) + G[w[i]]`
//!   (wrapping); the chunk ends before byte `i` as soon as `h & mask == 0`,
//!   where `mask` is strict for `i < min(avg_size, w.len())` and loose after.
//!   If no position matches, the chunk is `w`. When `w.len()` is odd its last
//!   position is not tested (fastcdc tests positions in pairs).
//! * Ids: `blake3::keyed_hash(key, chunk)`.

mod id;
mod params;
mod stream;

use std::ops::Range;

use fastcdc::v2020::FastCDC;

pub use id::ChunkIdKey;
pub use params::{ChunkerParams, ParamsError};
pub use stream::Chunker;

/// Boundaries of an in-memory buffer (same cut points as [`Chunker`] on the same bytes).
///
/// The ranges are in order, contiguous and cover `data`; empty `data` has none.
///
/// # Panics
///
/// If `params` fails [`ChunkerParams::validate`]. Parameters come from the
/// repository config, which is validated when it is read, so this is a bug in
/// the caller rather than a condition to handle.
#[must_use]
pub fn chunk_boundaries(data: &[u8], params: &ChunkerParams) -> Vec<Range<usize>> {
    if let Err(err) = params.validate() {
        panic!("chunk_boundaries called with invalid parameters: {err}");
    }
    let (min, avg, max) = params.sizes();
    let mut ranges = Vec::with_capacity(data.len() / avg + 1);
    ranges.extend(
        FastCDC::with_level_and_seed(data, min, avg, max, params::NORMALIZATION, params.seed)
            .map(|chunk| chunk.offset..chunk.offset + chunk.length),
    );
    ranges
}
