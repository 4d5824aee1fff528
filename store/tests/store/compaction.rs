//! Index compaction (FORMAT.md 10.1): small index files superseded by merged
//! ones, with backups, readers and a killed compaction around it. What must
//! hold: every blob any index file ever listed stays findable from a new
//! machine, `check` finds nothing, and superseded files go only through a
//! condemned record, after its grace period.

use crate::util::*;
use coffer_store::Repository;
use coffer_store::backup::{self, BackupReport, Source};
use coffer_store::check::{CheckOptions, check};
use coffer_store::format::layout;
use coffer_store::id::BlobId;
use coffer_store::maintenance::{self, CompactOptions, CompactStep};
use coffer_store::progress::NoProgress;
use coffer_store::repo::CacheLocation;
use object_store::ObjectStore;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn open(store: &Arc<dyn ObjectStore>) -> Repository {
    Repository::open(on_store(store), PASSWORD, CacheLocation::Temporary).unwrap()
}

/// One small backup a night, without the upkeep (so tests decide when it runs).
fn nights(repo: &Repository, from: u64, count: u64) -> Vec<BackupReport> {
    (from..from + count)
        .map(|n| {
            let data: Arc<[u8]> = random_bytes(&format!("night {n}"), 3_000).into();
            let mut o = opts(86_400 * n);
            o.maintenance = None;
            let sources = vec![Source::Stdin {
                name: format!("db/night-{n}.sql"),
                reader: Box::new(std::io::Cursor::new(data)),
            }];
            backup::backup(repo, sources, &o, &NoProgress).unwrap()
        })
        .collect()
}

fn count(repo: &Repository, prefix: &str) -> usize {
    repo.backend().list(prefix).unwrap().len()
}

fn all_blobs(repo: &Repository) -> BTreeSet<BlobId> {
    indexed_packs(repo)
        .iter()
        .flat_map(|p| p.blobs.iter().map(|b| b.id))
        .collect()
}

/// A new machine finds every blob of `want`, `check` is clean, and every
/// night's file reads back.
fn intact(store: &Arc<dyn ObjectStore>, want: &BTreeSet<BlobId>, reports: &[BackupReport]) {
    let repo = open(store);
    for id in want {
        assert!(
            repo.index().unwrap().lookup(id).unwrap().is_some(),
            "blob {id:?} lost"
        );
    }
    let report = check(&repo, &CheckOptions { read_data: true }, &NoProgress).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    for r in reports {
        let name = &r.snapshot.paths[0];
        assert_eq!(cat(&repo, r, name).len(), 3_000);
    }
}

fn now_opts(grace: Duration) -> CompactOptions {
    CompactOptions {
        max_small_files: 1,
        grace,
        ..CompactOptions::default()
    }
}

#[test]
fn compaction_merges_small_index_files_and_deletes_them_only_after_the_grace_period() {
    let store = shared_store();
    let repo = Repository::init(
        on_store(&store),
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap();
    let reports = nights(&repo, 0, 40);
    let before = all_blobs(&repo);
    assert_eq!(count(&repo, layout::INDEX), 40);

    // Under the threshold: nothing happens.
    let idle = maintenance::compact(
        &repo,
        &CompactOptions {
            max_small_files: 40,
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert_eq!(idle.merged, 0);
    assert_eq!(count(&repo, layout::INDEX), 40);

    // Merged, but the superseded files stay for the grace period.
    let r = maintenance::compact(&repo, &now_opts(Duration::from_secs(3600))).unwrap();
    assert_eq!(r.merged, 40);
    assert_eq!(r.written.len(), 1);
    assert!(r.record.is_some());
    assert_eq!(r.deleted, 0);
    assert_eq!(count(&repo, layout::INDEX), 41);
    assert_eq!(count(&repo, layout::CONDEMNED), 1);
    intact(&store, &before, &reports);

    // A second run within the grace period neither deletes nor merges the
    // files the record names again.
    let again = maintenance::compact(&repo, &now_opts(Duration::from_secs(3600))).unwrap();
    assert_eq!((again.merged, again.deleted), (0, 0));
    assert_eq!(count(&repo, layout::INDEX), 41);

    // Past the grace period (zero here), the next run finishes the record.
    let done = maintenance::compact(&repo, &now_opts(Duration::ZERO)).unwrap();
    assert_eq!(done.records_finished, 1);
    assert_eq!(done.deleted, 40);
    assert_eq!(count(&repo, layout::INDEX), 1);
    assert_eq!(count(&repo, layout::CONDEMNED), 0);
    intact(&store, &before, &reports);
    // The repository keeps working: a backup, and its blobs are found.
    let more = nights(&repo, 40, 2);
    let mut want = before;
    want.extend(all_blobs(&repo));
    let mut all = reports;
    all.extend(more);
    intact(&store, &want, &all);
}

#[test]
fn a_backup_runs_compaction_past_32_small_index_files() {
    let store = shared_store();
    let repo = Repository::init(
        on_store(&store),
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap();
    let reports = nights(&repo, 0, 32);
    let before = all_blobs(&repo);
    let data: Arc<[u8]> = random_bytes("night 32", 3_000).into();
    let sources = vec![Source::Stdin {
        name: "db/night-32.sql".into(),
        reader: Box::new(std::io::Cursor::new(data)),
    }];
    let last = backup::backup(&repo, sources, &opts(86_400 * 32), &NoProgress).unwrap();
    let m = last.maintenance.as_ref().unwrap();
    let c = m.compaction.as_ref().expect("33 small index files: due");
    assert_eq!(c.merged, 33);
    // Default grace period: the superseded files are still there.
    assert_eq!(count(&repo, layout::INDEX), 34);
    assert_eq!(count(&repo, layout::LOCKS), 0, "the prune lock is gone");
    let mut all = reports;
    all.push(last);
    intact(&store, &before, &all);
}

#[test]
fn a_killed_compaction_leaves_a_valid_repository_at_every_step() {
    for step in [
        CompactStep::MergedWritten,
        CompactStep::RecordWritten,
        CompactStep::FirstDeleted,
    ] {
        let store = shared_store();
        let repo = Repository::init(
            on_store(&store),
            PASSWORD,
            &fast_init(),
            at(0),
            CacheLocation::Temporary,
        )
        .unwrap();
        let reports = nights(&repo, 0, 12);
        let before = all_blobs(&repo);
        let failed = maintenance::compact(
            &repo,
            &CompactOptions {
                fault: Some(step),
                ..now_opts(Duration::ZERO)
            },
        );
        assert!(failed.is_err(), "{step:?}: the fault fires");
        intact(&store, &before, &reports);
        // A lock left by a killed process would be stale; the error path removed it.
        assert_eq!(count(&repo, layout::LOCKS), 0);
        // A rerun finishes the job, whatever was left.
        maintenance::compact(&repo, &now_opts(Duration::ZERO)).unwrap();
        assert_eq!(count(&repo, layout::CONDEMNED), 0, "{step:?}");
        assert!(count(&repo, layout::INDEX) <= 2, "{step:?}");
        intact(&store, &before, &reports);
        // And a prune after it agrees that nothing is missing.
        let pruned = coffer_store::prune::run(
            &repo,
            &coffer_store::prune::PruneOptions {
                grace: Duration::ZERO,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
        assert_eq!(pruned.bytes_deleted(), 0, "{step:?}");
        intact(&store, &before, &reports);
    }
}

#[test]
fn prune_finishes_a_pending_compaction_record() {
    let store = shared_store();
    let repo = Repository::init(
        on_store(&store),
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap();
    let reports = nights(&repo, 0, 10);
    let before = all_blobs(&repo);
    maintenance::compact(&repo, &now_opts(Duration::from_secs(3600))).unwrap();
    assert_eq!(count(&repo, layout::INDEX), 11);
    coffer_store::prune::run(
        &repo,
        &coffer_store::prune::PruneOptions {
            grace: Duration::ZERO,
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(count(&repo, layout::CONDEMNED), 0);
    assert_eq!(count(&repo, layout::INDEX), 1);
    intact(&store, &before, &reports);
}

/// Backups, compactions (grace zero: deleting at once) and new machines
/// reading the index, all at the same time on one store. Whatever the
/// interleaving, no reader misses a blob indexed before it started, and at
/// the end nothing is lost.
#[test]
fn backups_and_readers_during_compaction_lose_nothing() {
    let store = shared_store();
    let repo = Repository::init(
        on_store(&store),
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap();
    let first = nights(&repo, 0, 20);
    let before = all_blobs(&repo);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (later, compactions) = std::thread::scope(|s| {
        let backups = s.spawn(|| {
            let writer = open(&store);
            let r = nights(&writer, 20, 25);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        });
        let compactor = s.spawn(|| {
            let c = open(&store);
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || runs < 3 {
                match maintenance::compact(&c, &now_opts(Duration::ZERO)) {
                    Ok(_) => runs += 1,
                    Err(coffer_store::Error::Locked { .. }) => {}
                    Err(e) => panic!("compaction failed: {e}"),
                }
            }
            runs
        });
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || reads < 3 {
                let r = open(&store);
                for id in &before {
                    assert!(
                        r.index().unwrap().lookup(id).unwrap().is_some(),
                        "a reader lost blob {id:?}"
                    );
                }
                reads += 1;
            }
        });
        reader.join().unwrap();
        (backups.join().unwrap(), compactor.join().unwrap())
    });
    assert!(compactions >= 3);
    let check_repo = open(&store);
    let mut all = first;
    all.extend(later);
    // Every night's blobs, those written during compactions included.
    let mut want = before;
    for r in &all {
        let node =
            coffer_store::tree::resolve_path(&check_repo, &r.snapshot.root, &r.snapshot.paths[0])
                .unwrap()
                .unwrap();
        let coffer_store::format::tree::NodeKind::File { content } = &node.kind else {
            panic!("a file");
        };
        for c in coffer_store::tree::ContentChunks::new(&check_repo, content).unwrap() {
            want.insert(c.unwrap().id);
        }
    }
    intact(&store, &want, &all);
}
