//! Prune: what it frees, that every remaining snapshot still restores, the
//! two-phase protocol (condemned data is never reused, and rescued when a
//! snapshot needs it), an injected failure at every step, and backups
//! running beside prunes.

use super::util::*;
use coffer_store::Repository;
use coffer_store::backup::{self, Source};
use coffer_store::check::{self, CheckOptions};
use coffer_store::progress::NoProgress;
use coffer_store::prune::{self, Fault, PruneOptions, STEPS};
use coffer_store::repo::CacheLocation;
use coffer_store::retention;
use std::sync::Arc;
use std::time::Duration;

fn now_opts() -> PruneOptions {
    PruneOptions {
        grace: Duration::ZERO,
        clock_margin: Duration::ZERO,
        ..PruneOptions::default()
    }
}

fn small_pack_repo(store: &Arc<dyn object_store::ObjectStore>) -> Repository {
    let mut init = fast_init();
    init.pack_target_size = 256 << 10;
    Repository::init(
        on_store(store),
        PASSWORD,
        &init,
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap()
}

fn open(store: &Arc<dyn object_store::ObjectStore>) -> Repository {
    Repository::open(on_store(store), PASSWORD, CacheLocation::Temporary).unwrap()
}

fn assert_clean(repo: &Repository) {
    let r = check::check(repo, &CheckOptions { read_data: true }, &NoProgress).unwrap();
    assert!(!r.has_errors(), "{:#?}", r.findings);
}

fn stream(seed: &str, kib: usize) -> Arc<[u8]> {
    Arc::from(random_bytes(seed, kib << 10))
}

fn count(repo: &Repository, prefix: &str) -> u64 {
    repo.backend().list(prefix).unwrap().len() as u64
}

/// Four snapshots of distinct data plus a shared part; the first two forgotten.
fn four_then_forget_two(repo: &Repository) -> Vec<(coffer_store::backup::BackupReport, Arc<[u8]>)> {
    let shared = random_bytes("shared", 300 << 10);
    let mut out = Vec::new();
    for i in 0..4 {
        let mut data = shared.clone();
        data.extend(random_bytes(&format!("own {i}"), 600 << 10));
        let data: Arc<[u8]> = Arc::from(data);
        out.push((backup_stream(repo, "db/erp.sql", &data, 10 * i), data));
    }
    let gone: Vec<_> = out[..2].iter().map(|(r, _)| r.snapshot_id).collect();
    retention::execute(repo, &gone).unwrap();
    out.split_off(2)
}

#[test]
fn prune_frees_what_no_snapshot_uses_and_every_snapshot_still_restores() {
    let store = shared_store();
    let repo = small_pack_repo(&store);
    let kept = four_then_forget_two(&repo);
    let packs_before = count(&repo, "data");

    let plan = prune::plan(&repo, &now_opts(), &NoProgress).unwrap();
    assert!(!plan.condemn.delete.is_empty(), "{plan:#?}");
    assert_eq!(count(&repo, "data"), packs_before, "a plan changes nothing");
    assert_eq!(count(&repo, "condemned"), 0);

    let out = prune::run(&repo, &now_opts(), &NoProgress).unwrap();
    let second = out
        .second
        .as_ref()
        .expect("zero grace: phase 2 in the same run");
    assert_eq!(second.report.records_finished, 1);
    // Exactly the packs phase 1 condemned are gone, nothing else.
    let condemned = out.report.packs_condemned;
    assert_eq!(second.report.packs_deleted, condemned);
    assert_eq!(
        count(&repo, "data"),
        packs_before - condemned + out.report.packs_written
    );
    assert_eq!(count(&repo, "condemned"), 0);
    assert_eq!(count(&repo, "locks"), 0);

    // The cache prune synced (on a second thread while it deleted packs)
    // holds exactly what a cache built afresh holds: no entry of a deleted
    // pack, none of the repacked blobs missing.
    let fresh = open(&store);
    let entries = |r: &Repository| -> Vec<String> {
        let index = r.index().unwrap();
        index
            .blobs()
            .map(|b| b.map(|(id, loc)| format!("{id:?} {loc:?}")))
            .collect::<coffer_store::Result<_>>()
            .unwrap()
    };
    let synced = entries(&repo);
    assert!(!synced.is_empty());
    assert_eq!(synced, entries(&fresh));

    let repo = fresh;
    for (report, data) in &kept {
        assert_eq!(&cat(&repo, report, "db/erp.sql")[..], &data[..]);
    }
    assert_clean(&repo);
    // Nothing is left to free.
    let again = prune::plan(&repo, &now_opts(), &NoProgress).unwrap();
    assert!(again.condemn.is_empty(), "{:#?}", again.condemn);
}

#[test]
fn a_backup_never_reuses_condemned_data_and_a_late_snapshot_rescues_it() {
    let store = shared_store();
    let repo = small_pack_repo(&store);
    let data = stream("payload", 900);
    let first = backup_stream(&repo, "db/erp.sql", &data, 0);
    retention::execute(&repo, &[first.snapshot_id]).unwrap();
    // Phase 1 only: the grace period keeps the record waiting.
    let waiting = PruneOptions {
        grace: Duration::from_secs(3600),
        ..now_opts()
    };
    let out = prune::run(&repo, &waiting, &NoProgress).unwrap();
    assert!(out.report.record_written.is_some() && out.second.is_none());

    // A backup that starts after the record stores the same data again.
    let repo = open(&store);
    let again = backup_stream(&repo, "db/erp.sql", &data, 10);
    assert!(
        again.write.bytes_added >= data.len() as u64,
        "{:?}",
        again.write
    );

    // A snapshot written by a backup that started before the record (here:
    // the forgotten one, stored back) uses the condemned packs: phase 2 keeps them.
    repo.save_snapshot(&first.snapshot).unwrap();
    let out = prune::run(&open(&store), &now_opts(), &NoProgress).unwrap();
    assert!(out.report.packs_rescued > 0, "{:#?}", out.report);
    let repo = open(&store);
    assert_eq!(&cat(&repo, &first, "db/erp.sql")[..], &data[..]);
    assert_eq!(&cat(&repo, &again, "db/erp.sql")[..], &data[..]);
    assert_clean(&repo);
}

#[test]
fn a_failure_at_every_step_leaves_a_checkable_repository_the_next_prune_finishes() {
    for step in STEPS {
        let store = shared_store();
        let repo = small_pack_repo(&store);
        let kept = four_then_forget_two(&repo);
        let opts = PruneOptions {
            fault: Some(Fault {
                step: step.to_string(),
                abort: false,
            }),
            max_unused: 0.0,
            ..now_opts()
        };
        let _ = prune::run(&repo, &opts, &NoProgress);
        let repo = open(&store);
        assert_clean(&repo);
        for (report, data) in &kept {
            assert_eq!(
                &cat(&repo, report, "db/erp.sql")[..],
                &data[..],
                "after {step}"
            );
        }
        // At most two more runs finish everything.
        let finish = PruneOptions {
            max_unused: 0.0,
            ..now_opts()
        };
        for _ in 0..2 {
            prune::run(&open(&store), &finish, &NoProgress).unwrap();
        }
        let repo = open(&store);
        let plan = prune::plan(&repo, &finish, &NoProgress).unwrap();
        assert!(plan.condemn.is_empty(), "after {step}: {:#?}", plan.condemn);
        assert_eq!(count(&repo, "condemned"), 0, "after {step}");
        assert_clean(&repo);
        for (report, data) in &kept {
            assert_eq!(
                &cat(&repo, report, "db/erp.sql")[..],
                &data[..],
                "after {step}"
            );
        }
    }
}

#[test]
fn backups_and_forget_with_prune_running_side_by_side_lose_nothing() {
    for _ in 0..3 {
        concurrent_round();
    }
}

fn concurrent_round() {
    let store = shared_store();
    drop(small_pack_repo(&store));
    // A pool of pieces: each backup mixes old pieces (dedup against data a
    // concurrent forget may just have made unused) with a new one.
    let pool: Vec<Vec<u8>> = (0..24)
        .map(|i| random_bytes(&format!("piece {i}"), 48 << 10))
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let written: std::sync::Mutex<Vec<(coffer_store::backup::BackupReport, Arc<[u8]>)>> =
        std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let repo = open(&store);
            for i in 0..40u64 {
                let mut data = Vec::new();
                for k in 0..6 {
                    data.extend_from_slice(&pool[((i * 7 + k * 5) % 24) as usize]);
                }
                data.extend(random_bytes(&format!("new {i}"), 32 << 10));
                let data: Arc<[u8]> = Arc::from(data);
                let sources = vec![Source::Stdin {
                    name: "db/erp.sql".into(),
                    reader: Box::new(std::io::Cursor::new(Arc::clone(&data))),
                }];
                let r = backup::backup(&repo, sources, &opts(i), &NoProgress).unwrap();
                written.lock().unwrap().push((r, data));
                // Room for prunes to start between backups as well as during them.
                std::thread::sleep(Duration::from_millis(5));
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        s.spawn(|| {
            let mut rounds = 0;
            let (mut deleted, mut deferred, mut overlapping) = (0, 0, 0);
            while !done.load(std::sync::atomic::Ordering::SeqCst) || rounds < 3 {
                let repo = open(&store);
                let snaps = repo.snapshots().unwrap();
                if snaps.len() > 3 {
                    let old: Vec<_> = snaps[..snaps.len() - 3].iter().map(|s| s.id).collect();
                    retention::execute(&repo, &old).unwrap();
                }
                let out = prune::run(&repo, &now_opts(), &NoProgress).unwrap();
                for r in std::iter::once(&out.report).chain(out.second.as_ref().map(|s| &s.report))
                {
                    deleted += r.packs_deleted;
                    deferred += u64::from(r.deferred.is_some());
                }
                rounds += 1;
                if !done.load(std::sync::atomic::Ordering::SeqCst) {
                    overlapping += 1;
                }
            }
            eprintln!(
                "prune rounds {rounds} ({overlapping} while backups ran), packs deleted \
                 {deleted}, phase 2 deferred {deferred} time(s)"
            );
            assert!(overlapping >= 3, "prunes did not overlap the backups");
            // The test means something only if prunes really deleted.
            assert!(deleted > 0);
        });
    });
    let repo = open(&store);
    prune::run(&repo, &now_opts(), &NoProgress).unwrap();
    let repo = open(&store);
    let alive: std::collections::HashSet<_> = repo
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(!alive.is_empty());
    for (report, data) in written.lock().unwrap().iter() {
        if alive.contains(&report.snapshot_id) {
            assert_eq!(&cat(&repo, report, "db/erp.sql")[..], &data[..]);
        }
    }
    assert_clean(&repo);
    assert_eq!(count(&repo, "locks"), 0);
}

#[test]
fn a_reader_with_an_old_cache_gets_a_clear_error_and_a_resync_forgets_deleted_entries() {
    let store = shared_store();
    let repo = small_pack_repo(&store);
    let data = stream("old", 600);
    let old = backup_stream(&repo, "db/erp.sql", &data, 0);
    backup_stream(&repo, "db/erp.sql", &stream("new", 300), 10);
    let reader = open(&store);
    reader.index().unwrap();
    let tree = old.snapshot.root;
    assert!(reader.index().unwrap().contains(&tree).unwrap());
    retention::execute(&repo, &[old.snapshot_id]).unwrap();
    let out = prune::run(&open(&store), &now_opts(), &NoProgress).unwrap();
    assert!(out.bytes_deleted() > 0);

    // The reader's cache still places the root tree in a deleted pack.
    let loc = reader.index().unwrap().lookup(&tree).unwrap().unwrap();
    let err = reader.read_blob(&tree).unwrap_err().to_string();
    assert!(
        err.contains("reading data/") && err.contains(&loc.pack.to_hex()),
        "{err}"
    );
    // Its index file is gone, so a sync rebuilds the cache without it.
    let sync = reader.resync_index().unwrap();
    assert!(sync.rebuilt);
    assert!(!reader.index().unwrap().contains(&tree).unwrap());
}

/// A prune lock held a moment (the index compaction that may end a backup)
/// makes a prune wait for it, not fail; with no retry it fails at once, and
/// a lock that stays makes it give up once the retry time is over.
#[test]
fn a_prune_waits_for_a_short_held_prune_lock_and_gives_up_on_one_that_stays() {
    use coffer_store::format::lock::{LockKind, LockRecord};
    use coffer_store::repo::{hostname, unix_ns};
    let store = shared_store();
    let repo = small_pack_repo(&store);
    four_then_forget_two(&repo);
    let live = || {
        let now = unix_ns(std::time::SystemTime::now());
        coffer_store::lock::write_lock(
            &repo,
            &LockRecord {
                kind: LockKind::Prune,
                host: hostname(),
                pid: std::process::id(),
                username: "compaction".into(),
                created_unix_ns: now,
                refreshed_unix_ns: now,
            },
        )
        .unwrap()
    };
    let with_retry = |retry_for| {
        let mut o = now_opts();
        o.lock.retry_for = retry_for;
        o
    };

    let held = live();
    match prune::run(&repo, &with_retry(Duration::ZERO), &NoProgress) {
        Err(coffer_store::Error::Locked { .. }) => {}
        other => panic!(
            "a prune beside a live prune lock ran: {:?}",
            other.map(|_| ())
        ),
    }
    let started = std::time::Instant::now();
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(600));
            repo.backend()
                .delete(&coffer_store::format::layout::lock(&held))
                .unwrap();
        });
        prune::run(&repo, &with_retry(Duration::from_secs(30)), &NoProgress)
    })
    .expect("the prune waited for the lock to go");
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert!(
        outcome.bytes_deleted() > 0,
        "the waiting prune did its work"
    );
    assert_clean(&repo);

    live();
    let started = std::time::Instant::now();
    match prune::run(&repo, &with_retry(Duration::from_secs(1)), &NoProgress) {
        Err(coffer_store::Error::Locked { .. }) => {}
        other => panic!(
            "a prune ran beside a lock that stayed: {:?}",
            other.map(|_| ())
        ),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it gave up without waiting"
    );
    assert_eq!(
        count(&repo, "locks"),
        1,
        "the waiting prune left no lock of its own"
    );
}
