//! Years of an ERP's document tree, night by night, deterministic from a seed.
//!
//! [`plan`] says what changes each night (new invoices
//! `documents/facture/FAyymm-nnnn/FAyymm-nnnn.pdf`, proposals, orders,
//! supplier invoices, now and then a regenerated invoice or a revised
//! contract, a removed proposal): a pure function, so a test can compute from
//! it what `log` and `find` must say. [`write_plan`] stores those nights as
//! back-dated snapshots through the store API, rebuilding only the folders on
//! the paths of each night's changes. [`materialise`] writes a night's tree
//! as files, for tools that back up folders.
//!
//! ```
//! use coffer_sim::{Params, plan, write_plan, WriteOptions};
//! use coffer_store::{backend::Backend, crypto::KdfParams, repo::{CacheLocation, InitOptions, Repository}};
//!
//! let params = Params { days: 5, initial_files: 50, contracts: 2, ..Params::default() };
//! let plan = plan(&params);
//! let fast = InitOptions { kdf: KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 }, ..Default::default() };
//! let repo = Repository::init(Backend::in_memory(), b"pw", &fast, std::time::SystemTime::now(), CacheLocation::Temporary)?;
//! let ids = write_plan(&repo, &plan, &WriteOptions::default(), &mut |_, _| {})?;
//! assert_eq!(ids.len(), 5);
//! assert_eq!(repo.snapshots()?.len(), 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod content;
mod materialise;
mod plan;
mod rng;
mod write;

pub use content::content;
pub use materialise::materialise;
pub use plan::{Change, ChangeKind, Day, FileState, Params, Plan, apply, plan};
pub use write::{WriteOptions, write_plan};
