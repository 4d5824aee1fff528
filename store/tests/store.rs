//! Integration tests of the coffer store: one test binary (as ripgrep's
//! `tests/tests.rs`), each module below covering one concern.

// Shared fixtures: fast repositories, fixed clocks, deterministic data.
#[path = "store/util.rs"]
mod util;

// Backup then restore of a tree with every kind of entry, byte for byte.
#[path = "store/round_trip.rs"]
mod round_trip;

// Unchanged files are not re-read, identical content is stored once, and a
// big folder's metadata grows with the change, not with the folder.
#[path = "store/dedup.rs"]
mod dedup;

// A 40 MB dump through `Source::Stdin`: its content list, reading it back,
// and how little an edited dump adds.
#[path = "store/stream.rs"]
mod stream;

// `--stdin-from-command`: its exit status decides whether a snapshot is written.
#[path = "store/command.rs"]
mod command;

// Opening: wrong password, not a repository, missing, init twice, newer format.
#[path = "store/open.rs"]
mod open;

// The index cache is disposable: a new or wiped cache folder is rebuilt.
#[path = "store/cache.rs"]
mod cache;

// `check` on healthy and damaged repositories; restore refuses damaged data.
#[path = "store/check.rs"]
mod check;

// Restore filters (`--include`) and never writes through symlinks in the target.
#[path = "store/restore_safety.rs"]
mod restore_safety;

// FIFOs, sockets and devices are skipped with a warning; the snapshot is partial.
#[path = "store/special_files.rs"]
mod special_files;

// Several sources (folders and a stream) in one snapshot, and name collisions.
#[path = "store/sources.rs"]
mod sources;
