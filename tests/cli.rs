//! End-to-end tests of the `coffer` binary: every test runs the real executable
//! (`CARGO_BIN_EXE_coffer`) against a throwaway repository, as a cron job or an
//! operator would, and checks exit codes, messages and restored bytes.
//!
//! Tests that need PostgreSQL read PGHOST/PGPORT/PGUSER and run when
//! `COFFER_TEST_PG` is set (`eval "$(bash .ci/services)"`); otherwise they print
//! why they skipped, unless `COFFER_REQUIRE_SERVICES=1` makes that a failure
//! (`.ci/run` sets it). Tests that mount a tmpfs need root, under the same rule.
//! Tests declared with `on_each_store!` run twice, `::folder` on a local folder
//! and `::s3` on the S3 server of `COFFER_TEST_S3_ENDPOINT` (same rule again).
//!
//! Run them with `cargo test --release --test cli`.

// The running binary, a temporary repository, captured output.
#[path = "cli/harness.rs"]
#[macro_use]
mod harness;

// Dolibarr-like document folders, and byte-for-byte comparison of restored trees.
#[path = "cli/documents.rs"]
mod documents;

// The PostgreSQL service: throwaway databases, psql, a content fingerprint.
#[path = "cli/postgres.rs"]
mod postgres;

// pg_dump into a snapshot and back out through pg_restore; a day of changes; a failing dump.
#[path = "cli/pg_round_trip.rs"]
mod pg_round_trip;

// coffer pg backup/restore/drill: metadata, bad pg_dump, skip-if-unchanged, restores, drills.
#[path = "cli/pg_commands.rs"]
mod pg_commands;

// Row counts read from the pg_dump stream against count(*); streams it refuses.
#[path = "cli/pg_dump_rows.rs"]
mod pg_dump_rows;

// The key agent: no password (and no key derivation) while it holds the key; expiry; refusals.
#[path = "cli/agent.rs"]
mod agent;

// Wrong repository, password, version, sources and special files: exit codes, messages, no damage.
#[path = "cli/bad_input.rs"]
mod bad_input;

// A full stdout, a full restore target and a full cache folder.
#[path = "cli/full_disk.rs"]
mod full_disk;

// The documented shapes of `--json` output.
#[path = "cli/json.rs"]
mod json;

// Backing up the same documents again: unchanged files are skipped, --force re-reads.
#[path = "cli/unchanged.rs"]
mod unchanged;

// Choosing snapshots: --tag and --host filters, --time back-dating, `latest`.
#[path = "cli/selection.rs"]
mod selection;

// Behaviour in shell pipelines: a reader that hangs up early, no progress escapes.
#[path = "cli/pipes.rs"]
mod pipes;

// Files and folders the backup may not read: named, skipped, partial snapshot, exit 3.
#[path = "cli/unreadable.rs"]
mod unreadable;

// Passwords: key list, add, remove and passwd rewrite key files only.
#[path = "cli/keys.rs"]
mod keys;

// SIGKILL in the middle of a backup: no snapshot, nothing damaged, the next run completes.
#[path = "cli/killed.rs"]
mod killed;

// Buckets: four writers at once, a new machine with only the bucket, bucket and endpoint errors.
#[path = "cli/remote.rs"]
mod remote;

// forget: policy dry run with reasons, the real run, insurance, bad flags.
#[path = "cli/forget.rs"]
mod forget;
// Point in time: --as-of on cat, ls, restore and dump; find, log and diff across snapshots.
#[path = "cli/point_in_time.rs"]
mod point_in_time;
// `du`: per snapshot, tenant, path and month; prices; the HTML report in headless chromium.
#[path = "cli/du.rs"]
mod du;
// Operations: copy between a folder and a bucket, rolling read-data subsets, config profiles,
// compression levels.
#[path = "cli/operations.rs"]
mod operations;
// Progress: a bar with ETA under a pseudo-terminal, nothing in pipes, --json status lines.
#[path = "cli/progress.rs"]
mod progress;
// --metrics-file after backup, forget and check, parsed as Prometheus text; `coffer metrics` ages.
#[path = "cli/metrics.rs"]
mod metrics;
// deploy/ run for real (init, two nights, restore) and deploy/RUNBOOK.md from a blank home.
#[path = "cli/runbook.rs"]
mod runbook;
// deploy/ where it cannot run: Kubernetes YAML, systemd-analyze verify, crontab, every coffer line run.
#[path = "cli/deploy.rs"]
mod deploy;
// Ten years of nights from coffer-sim: log and find against the generator's plan.
#[path = "cli/ten_years.rs"]
mod ten_years;

// A cold `cat --as-of` over 300 nights: the catalogue and merged index files, counted per request.
#[path = "cli/cold_as_of.rs"]
mod cold_as_of;
// Restore of a subset: never through a symlink, never `..`; what is skipped is said.
#[path = "cli/restore_subset.rs"]
mod restore_subset;
// `prune`, `forget --prune`, `locks`, `unlock`: frees, repacks, killed at every step, stale locks.
#[path = "cli/prune.rs"]
mod prune;

// repair index after deleted and damaged index files: check passes, restores work.
#[path = "cli/repair.rs"]
mod repair;

// Passwords and S3 secret keys: never printed, never cached, never an argument.
#[path = "cli/secrets.rs"]
mod secrets;
// Issue 4's ten-year simulation: forget 30d/12m/10y --prune against independent references.
#[path = "cli/ten_year_prune.rs"]
mod ten_year_prune;

// Awkward sources: non-UTF-8 names, paths over PATH_MAX, a sparse 10 GB file.
#[path = "cli/awkward.rs"]
mod awkward;

// A million small files: stored, unchanged the next night, restored, memory bounded.
#[path = "cli/many_files.rs"]
mod many_files;

// A short run of benches/torture.sh: SIGKILL at random points, then check and restore all.
#[path = "cli/torture.rs"]
mod torture;
