//! Building and reading directory trees and content lists (see
//! [`crate::format::tree`] for why they are split into pieces).

mod build;
mod prefetch;
mod read;

pub use build::{ContentBuilder, build_dir};
pub use prefetch::prefetch_trees;
pub use read::{ContentChunks, dir_entries, lookup_child, resolve_path};
