//! The coffer repository: its byte format, packs, index cache, snapshots,
//! and the backup, restore and check pipelines.
//!
//! A repository is a set of immutable objects on an object store (a local
//! folder, S3, GCS, Azure: anything `object_store` speaks): sealed packs of
//! deduplicated, compressed chunks; index files saying where each chunk is;
//! snapshot manifests pointing at directory trees. FORMAT.md beside this
//! crate specifies every byte.
//!
//! This crate never prints: progress goes through [`progress::Progress`],
//! results come back as data, errors as [`Error`].
//!
//! ```
//! use coffer_store::{backend::Backend, repo::{Repository, InitOptions, CacheLocation}};
//! use coffer_store::backup::{backup, BackupOptions, Source};
//! use coffer_store::crypto::KdfParams;
//! use std::time::SystemTime;
//!
//! let fast = InitOptions { kdf: KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 }, ..Default::default() };
//! let repo = Repository::init(Backend::in_memory(), b"pw", &fast, SystemTime::now(), CacheLocation::Temporary)?;
//! let dump: &[u8] = b"COPY llx_facture FROM stdin;\n1\tFA2605-0001\n\\.\n";
//! let report = backup(&repo, vec![Source::Stdin { name: "db/erp.sql".into(), reader: Box::new(dump) }],
//!                     &BackupOptions::new(SystemTime::now()), &coffer_store::progress::NoProgress)?;
//! let node = coffer_store::tree::resolve_path(&repo, &report.snapshot.root, "db/erp.sql")?.unwrap();
//! assert_eq!(node.size, dump.len() as u64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod archive;
pub mod backend;
pub mod backup;
pub mod cache;
pub mod check;
pub mod codec;
pub mod compress;
pub mod copy;
pub mod crypto;
pub mod damage;
pub mod data_subset;
mod error;
pub mod format;
pub mod history;
pub mod id;
pub mod keys;
pub mod lock;
pub mod maintenance;
pub mod packer;
pub mod progress;
pub mod prune;
pub mod repair;
pub mod repo;
pub mod restore;
pub mod retention;
pub mod select;
pub mod sparse;
pub mod tree;
pub mod untrusted;
pub mod usage;

pub use error::{CacheError, Error, Operation, Result, StorageFailure};
pub use repo::Repository;
