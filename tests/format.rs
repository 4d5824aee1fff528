//! Repository format version 1 (store/FORMAT.md), checked from outside the
//! store: checked-in vectors a reader in another language can test against,
//! and a repository written by version 1 that every later build must read.

#![allow(clippy::unwrap_used)]

// Byte-level layouts built by hand from FORMAT.md, independent of postcard.
#[path = "format/layout.rs"]
mod layout;

// fixtures/vectors/format-v1.json: recomputed, and regenerated on request.
#[path = "format/vectors.rs"]
mod vectors;

// The vectors' record section: each record type, laid out field by field.
#[path = "format/records.rs"]
mod records;

// The vectors' tiny repository: built from primitives, read by the store.
#[path = "format/tiny_repo.rs"]
mod tiny_repo;

// fixtures/repo-v1: opened, listed, restored and checked read-only.
#[path = "format/repo_v1.rs"]
mod repo_v1;
