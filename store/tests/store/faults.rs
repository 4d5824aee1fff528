//! Backups and restores through a store that fails requests the ways networks
//! do (module `coffer_store::backend::faults`), on a folder and on S3. Either
//! the retries carry the operation through, or it fails with a storage error
//! and leaves no snapshot; in both cases every snapshot that exists restores
//! and `check` finds nothing wrong.

use crate::util::*;
use coffer_store::backend::RetryPolicy;
use coffer_store::backend::faults::{FaultPlan, FaultStore};
use coffer_store::backup::{self, Source};
use coffer_store::check::{CheckOptions, check};
use coffer_store::progress::NoProgress;
use coffer_store::repo::InitOptions;
use coffer_store::{Error, Repository, StorageFailure};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

on_each_place!(
    backups_complete_with_ten_percent_of_requests_failing,
    a_store_that_keeps_failing_stops_the_backup_without_a_snapshot,
    read_only_credentials_stop_the_backup_at_the_first_write,
    broken_off_and_short_bodies_are_read_again_not_trusted,
    requests_that_never_answer_are_abandoned_and_retried,
);

/// Packs of 128 KiB: many requests per backup, so many chances to fail.
fn small_packs() -> InitOptions {
    InitOptions {
        pack_target_size: 128 << 10,
        ..fast_init()
    }
}

/// After faults: a clean machine finds no error and restores every snapshot.
fn assert_whole(place: &Place, expected: &[(&BackupReportRef, &Path)]) {
    let repo = place.open();
    let report = check(&repo, &CheckOptions { read_data: true }, &NoProgress).unwrap();
    assert!(!report.has_errors(), "{:?}", report.findings);
    assert_eq!(report.snapshots, expected.len());
    for (snap, source) in expected {
        let out = tempfile::tempdir().unwrap();
        restore_all(&repo, snap, out.path());
        let name = source.file_name().unwrap();
        assert_same_tree(source, &out.path().join(name));
    }
}

type BackupReportRef = coffer_store::backup::BackupReport;

fn edit(root: &Path, day: u64) {
    write_file(
        &root.join(format!("documents/facture/FA2605-{day:04}.pdf")),
        &random_bytes(&format!("day {day}"), 150_000),
        0o640,
        at(day * 100),
    );
}

fn backups_complete_with_ten_percent_of_requests_failing(kind: PlaceKind) {
    let Some(place) = Place::new(kind) else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("erp");
    erp_tree(&root);
    let repo = place.init_with(&small_packs());
    let clean = backup_paths(&repo, &[&root], 10);
    let clean_copy = tempfile::tempdir().unwrap();
    restore_all(&repo, &clean, clean_copy.path());
    drop(repo);

    let faults = Arc::new(FaultStore::new(place.store(), FaultPlan::failing(42, 0.10)));
    let repo = place.open_on(faults.clone());
    let mut reports = Vec::new();
    let mut copies = Vec::new();
    for day in 1..=3 {
        edit(&root, day);
        reports.push(backup_paths(&repo, &[&root], 10 + day));
        let copy = tempfile::tempdir().unwrap();
        restore_all(&repo, reports.last().unwrap(), copy.path());
        assert_same_tree(&root, &copy.path().join("erp"));
        copies.push(copy);
    }
    let c = faults.counts();
    assert!(
        c.failed_before > 0 && c.failed_after > 0,
        "too few faults to prove anything: {c:?}"
    );
    eprintln!("faults injected over {} requests: {c:?}", c.requests);

    let mut expected: Vec<(&BackupReportRef, std::path::PathBuf)> =
        vec![(&clean, clean_copy.path().join("erp"))];
    for (r, copy) in reports.iter().zip(&copies) {
        expected.push((r, copy.path().join("erp")));
    }
    let refs: Vec<(&BackupReportRef, &Path)> =
        expected.iter().map(|(r, p)| (*r, p.as_path())).collect();
    assert_whole(&place, &refs);
}

/// Opens `place` through a store whose every write fails, with `attempts` tries.
fn hostile(place: &Place, plan: FaultPlan, attempts: u32) -> (Arc<FaultStore>, Repository) {
    let faults = Arc::new(FaultStore::new(place.store(), plan));
    let mut opts = place.opts.clone();
    opts.retry = RetryPolicy {
        max_attempts: attempts,
        ..opts.retry
    };
    let backend = coffer_store::backend::Backend::with_options(
        faults.clone() as Arc<dyn object_store::ObjectStore>,
        &place.location,
        &opts,
    );
    let repo = Repository::open(
        backend,
        PASSWORD,
        coffer_store::repo::CacheLocation::Temporary,
    )
    .unwrap();
    (faults, repo)
}

fn stream_backup(repo: &Repository, data: &Arc<[u8]>) -> coffer_store::Result<BackupReportRef> {
    backup::backup(
        repo,
        vec![Source::Stdin {
            name: "db/erp.sql".into(),
            reader: Box::new(std::io::Cursor::new(Arc::clone(data))),
        }],
        &opts(100),
        &NoProgress,
    )
}

/// The snapshot objects in the repository, as a clean client lists them.
fn snapshot_count(place: &Place) -> usize {
    place.backend().list("snapshots").unwrap().len()
}

fn a_store_that_keeps_failing_stops_the_backup_without_a_snapshot(kind: PlaceKind) {
    let Some(place) = Place::new(kind) else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("erp");
    erp_tree(&root);
    let repo = place.init_with(&small_packs());
    let earlier = backup_paths(&repo, &[&root], 10);
    drop(repo);

    let (faults, repo) = hostile(
        &place,
        FaultPlan {
            seed: 3,
            fail_before: 1.0,
            writes_only: true,
            ..Default::default()
        },
        3,
    );
    let dump: Arc<[u8]> = sql_lines(9, 1_000_000).concat().into_bytes().into();
    let err = stream_backup(&repo, &dump).unwrap_err();
    match &err {
        Error::Backend {
            attempts, failure, ..
        } => {
            assert_eq!(*attempts, 3, "{err}");
            assert_eq!(*failure, StorageFailure::Unavailable, "{err}");
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    assert!(err.is_transient_storage_failure());
    assert!(faults.counts().failed_before >= 3);
    assert_eq!(snapshot_count(&place), 1, "a snapshot of a failed backup");
    drop(repo);
    assert_whole(&place, &[(&earlier, &root)]);

    // The next night, with the store healthy again, completes.
    let repo = place.open();
    let next = stream_backup(&repo, &dump).unwrap();
    assert!(cat(&repo, &next, "db/erp.sql") == dump.as_ref());
}

fn read_only_credentials_stop_the_backup_at_the_first_write(kind: PlaceKind) {
    let Some(place) = Place::new(kind) else {
        return;
    };
    let repo = place.init();
    let dump: Arc<[u8]> = sql_lines(2, 300_000).concat().into_bytes().into();
    let earlier = backup_stream(&repo, "db/erp.sql", &dump, 5);
    drop(repo);

    let (_faults, repo) = hostile(
        &place,
        FaultPlan {
            deny_writes: true,
            ..Default::default()
        },
        6,
    );
    let changed: Arc<[u8]> = sql_lines(3, 300_000).concat().into_bytes().into();
    let err = stream_backup(&repo, &changed).unwrap_err();
    match &err {
        Error::Backend {
            attempts, failure, ..
        } => {
            assert_eq!(*attempts, 1, "a refusal is not retried: {err}");
            assert_eq!(*failure, StorageFailure::Denied, "{err}");
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    assert!(err.to_string().starts_with("writing "), "{err}");
    // Reading still works with read-only credentials.
    assert!(cat(&repo, &earlier, "db/erp.sql") == dump.as_ref());
    assert_eq!(snapshot_count(&place), 1);
}

fn broken_off_and_short_bodies_are_read_again_not_trusted(kind: PlaceKind) {
    let Some(place) = Place::new(kind) else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("erp");
    erp_tree(&root);
    let repo = place.init_with(&small_packs());
    let report = backup_paths(&repo, &[&root], 10);
    drop(repo);

    let faults = Arc::new(FaultStore::new(
        place.store(),
        FaultPlan {
            seed: 11,
            // 0.2 + 0.2 failed about one run in five beside the other tests:
            // a read then failed all six attempts (0.4^6 per read over a few
            // hundred reads; the draws follow the requests' order, which
            // concurrency varies). 0.3^6 is a twentieth of that.
            drop_body: 0.15,
            truncate_body: 0.15,
            ..Default::default()
        },
    ));
    // A new machine, so the index files and trees come through the faults too.
    let repo = place.open_on(faults.clone());
    let out = tempfile::tempdir().unwrap();
    restore_all(&repo, &report, out.path());
    assert_same_tree(&root, &out.path().join("erp"));
    let c = faults.counts();
    assert!(
        c.truncated_bodies > 0 && c.dropped_bodies > 0,
        "no body was cut: {c:?}"
    );
}

fn requests_that_never_answer_are_abandoned_and_retried(kind: PlaceKind) {
    let Some(mut place) = Place::new(kind) else {
        return;
    };
    let repo = place.init_with(&small_packs());
    drop(repo);
    // A stalled request only ends at its deadline; keep it short (healthy
    // requests here are small and far quicker) and the attempts many.
    place.opts.retry.attempt_timeout = Duration::from_secs(2);
    let faults = Arc::new(FaultStore::new(
        place.store(),
        FaultPlan {
            seed: 5,
            stall: 0.08,
            ..Default::default()
        },
    ));
    let repo = place.open_on(faults.clone());
    let dump: Arc<[u8]> = random_bytes("stalls", 1_500_000).into();
    let report = backup_stream(&repo, "db/erp.dump", &dump, 10);
    assert!(cat(&repo, &report, "db/erp.dump") == dump.as_ref());
    assert!(
        faults.counts().stalled > 0,
        "nothing stalled: {:?}",
        faults.counts()
    );
}
