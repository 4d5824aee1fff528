//! Integration tests of the coffer store: one test binary (as ripgrep's
//! `tests/tests.rs`), each module below covering one concern.

// A failed unwrap is a test failure with its reason: exactly what tests want.
#![allow(clippy::unwrap_used)]

// Shared fixtures: fast repositories, fixed clocks, deterministic data.
#[path = "store/util.rs"]
#[macro_use]
mod util;

// Backup then restore of every kind of entry: bytes, modes, mtimes, symlinks.
#[path = "store/round_trip.rs"]
mod round_trip;

// Unchanged files and known content add nothing; a big folder grows by its change only.
#[path = "store/dedup.rs"]
mod dedup;

// A 40 MB dump through stdin: content list, byte-identical cat, an edit stays small.
#[path = "store/stream.rs"]
mod stream;

// No snapshot unless every source was read to its end (commands, streams, panics).
#[path = "store/command.rs"]
mod command;

// Opening: wrong password, not a repository, missing, init twice, newer format.
#[path = "store/open.rs"]
mod open;

// A local folder's shortcuts (listing walk, direct pack writes) match the store's ways.
#[path = "store/local_folder.rs"]
mod local_folder;

// Index compaction: merged index files, grace period, killed runs, concurrent backups.
#[path = "store/compaction.rs"]
mod compaction;

// Snapshot catalogues: a LIST and a GET instead of one GET per snapshot, never trusted.
#[path = "store/catalogue.rs"]
mod catalogue;

// The index cache is disposable: a new, wiped or busy cache folder still works.
#[path = "store/cache.rs"]
mod cache;

// `check` on healthy and damaged repositories; restore refuses damaged data.
#[path = "store/check.rs"]
mod check;

// What restore writes: --include, subpath, occupied targets, never through symlinks.
#[path = "store/restore_safety.rs"]
mod restore_safety;

// FIFOs, sockets and devices are skipped with a warning; the snapshot is partial.
#[path = "store/special_files.rs"]
mod special_files;

// Several sources (folders and a stream) in one snapshot, and name collisions.
#[path = "store/sources.rs"]
mod sources;

// Repositories on a folder and on S3: ranged reads, recovery from the bucket
// alone, create-only writes, multipart uploads, four writers at once.
#[path = "store/remote.rs"]
mod remote;

// Backups through a store that fails requests: retried, or failed cleanly.
#[path = "store/faults.rs"]
mod faults;

// Retention policies keep exactly what restic 0.14 keeps on restic's own test list.
#[path = "store/retention.rs"]
mod retention;
// The cost audit (`du`) against a brute-force count of every snapshot's blobs.
#[path = "store/usage.rs"]
mod usage;
// Bit flips, truncation and deletion of packs, index files and snapshots:
// found and named by check, healthy files still readable, repair recovers.
#[path = "store/corruption.rs"]
mod corruption;
// A cold point-in-time read: the path's trees and the file's chunks, by ranges.
#[path = "store/point_in_time_reads.rs"]
mod point_in_time_reads;
// Prune: frees what nothing uses, two-phase safety, faults at every step,
// backups and prunes side by side.
#[path = "store/prune.rs"]
mod prune;
// Locks of killed processes of this host are removed by the next lock; no others.
#[path = "store/locks.rs"]
mod locks;
// Ten years of daily snapshots: the seed policies against an independent reference.
#[path = "store/ten_years.rs"]
mod ten_years;

// Hostile trees: names out of the target, planted symlinks, lying sizes and lengths.
#[path = "store/hostile.rs"]
mod hostile;
