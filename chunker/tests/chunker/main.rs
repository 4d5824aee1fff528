//! Integration tests of coffer-chunker. Support modules first, then one module
//! per concern.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

// Support: deterministic inputs, parameter strategies and awkward readers.
mod input;
// Support: MD5 from RFC 1321, only to derive the gear table independently.
mod md5;
// Support: byte-at-a-time FastCDC 2020 written from the crate's format section.
mod reference;

// The fast path cuts exactly where the reference does; the tables match.
mod oracle;
// Chunking invariants: coverage, size bounds, locality of edits, seeding.
mod properties;
// The streaming Chunker: short reads, errors, interrupted reads, bad params.
mod stream;
// Keyed chunk ids: key separation, the checked-in vector, no key in Debug.
mod ids;
// Checked-in boundaries of fixed inputs: a tripwire for format changes.
mod vectors;
