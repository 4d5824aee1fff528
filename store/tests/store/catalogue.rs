//! Snapshot catalogues (FORMAT.md 11.1): a new machine learns every snapshot
//! with a LIST and a catalogue GET, and the catalogue never overrides
//! `snapshots/`: forgotten snapshots stay forgotten, new ones are read from
//! their objects, forged or damaged entries are ignored.

use crate::util::*;
use bytes::Bytes;
use coffer_store::Repository;
use coffer_store::backend::counting::{CountingStore, Method};
use coffer_store::backup::{self, BackupReport, Source};
use coffer_store::codec;
use coffer_store::crypto::Domain;
use coffer_store::format::catalogue::{Catalogue, CatalogueEntry};
use coffer_store::format::layout;
use coffer_store::id::{CatalogueId, SnapshotId, content_hash};
use coffer_store::maintenance::catalogue;
use coffer_store::progress::NoProgress;
use coffer_store::repo::CacheLocation;
use object_store::ObjectStore;
use std::collections::BTreeSet;
use std::sync::Arc;

fn nights(repo: &Repository, from: u64, count: u64) -> Vec<BackupReport> {
    (from..from + count)
        .map(|n| {
            let data: Arc<[u8]> = random_bytes(&format!("night {n}"), 1_000).into();
            let sources = vec![Source::Stdin {
                name: "db/erp.sql".into(),
                reader: Box::new(std::io::Cursor::new(data)),
            }];
            backup::backup(repo, sources, &opts(86_400 * n), &NoProgress).unwrap()
        })
        .collect()
}

/// A new machine's snapshot ids, and the GETs it made per top folder.
fn cold_snapshots(store: &Arc<dyn ObjectStore>) -> (BTreeSet<SnapshotId>, usize, usize) {
    let counting = Arc::new(CountingStore::new(Arc::clone(store)));
    let repo = Repository::open(
        on_store(&(counting.clone() as Arc<dyn ObjectStore>)),
        PASSWORD,
        CacheLocation::Temporary,
    )
    .unwrap();
    counting.reset();
    let ids = repo
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let log = counting.requests();
    let gets = |prefix: &str| {
        log.iter()
            .filter(|r| r.method == Method::Get && r.path.starts_with(prefix))
            .count()
    };
    (ids, gets("snapshots/"), gets("catalogue/"))
}

fn repo_on(store: &Arc<dyn ObjectStore>) -> Repository {
    Repository::init(
        on_store(store),
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap()
}

fn ids(reports: &[BackupReport]) -> BTreeSet<SnapshotId> {
    reports.iter().map(|r| r.snapshot_id).collect()
}

#[test]
fn a_new_machine_reads_the_catalogue_and_only_the_snapshots_it_lacks() {
    let store = shared_store();
    let repo = repo_on(&store);
    let reports = nights(&repo, 0, 21);
    // Written by the 16th backup: 16 snapshots in no catalogue.
    assert_eq!(repo.backend().list(layout::CATALOGUE).unwrap().len(), 1);
    let (got, snapshot_gets, catalogue_gets) = cold_snapshots(&store);
    assert_eq!(got, ids(&reports));
    assert_eq!(catalogue_gets, 1);
    assert_eq!(snapshot_gets, 5, "the five snapshots after the catalogue");
    // Each snapshot's fields come through the catalogue unchanged.
    let fresh = Repository::open(on_store(&store), PASSWORD, CacheLocation::Temporary).unwrap();
    for (entry, report) in fresh.snapshots().unwrap().iter().zip(&reports) {
        assert_eq!(entry.id, report.snapshot_id);
        assert_eq!(entry.snapshot, report.snapshot);
    }
    // The 32nd backup writes a new catalogue and removes the old one.
    nights(&repo, 21, 11);
    assert_eq!(repo.backend().list(layout::CATALOGUE).unwrap().len(), 1);
    let (got, snapshot_gets, catalogue_gets) = cold_snapshots(&store);
    assert_eq!(got.len(), 32);
    assert_eq!((snapshot_gets, catalogue_gets), (0, 1));
}

#[test]
fn a_forgotten_snapshot_stays_forgotten_whatever_the_catalogue_says() {
    let store = shared_store();
    let repo = repo_on(&store);
    let reports = nights(&repo, 0, 16);
    let gone = reports[3].snapshot_id;
    repo.backend().delete(&layout::snapshot(&gone)).unwrap();
    let (got, _, catalogue_gets) = cold_snapshots(&store);
    assert_eq!(catalogue_gets, 1);
    let mut want = ids(&reports);
    want.remove(&gone);
    assert_eq!(got, want);
    // No catalogue at all: the same answer, one GET per snapshot.
    for (name, _) in repo.backend().list(layout::CATALOGUE).unwrap() {
        repo.backend().delete(&name).unwrap();
    }
    let (got, snapshot_gets, _) = cold_snapshots(&store);
    assert_eq!(got, want);
    assert_eq!(snapshot_gets, 15);
}

/// Writes a catalogue sealed with the repository's key, as a writer would.
fn put_catalogue(repo: &Repository, entries: Vec<CatalogueEntry>) {
    let c = Catalogue {
        created_unix_ns: 1,
        snapshots: entries,
    };
    let sealed = repo.key().seal(Domain::Catalogue, &codec::encode(&c));
    let id = CatalogueId(content_hash(&sealed));
    repo.backend()
        .put_new(&layout::catalogue(&id), Bytes::from(sealed))
        .unwrap();
}

#[test]
fn forged_and_damaged_catalogues_are_ignored() {
    let store = shared_store();
    let repo = repo_on(&store);
    let mut o = opts(0);
    o.maintenance = None;
    let mut reports = Vec::new();
    for n in 0..8u64 {
        let data: Arc<[u8]> = random_bytes(&format!("n{n}"), 500).into();
        let mut o = o.clone();
        o.time = at(86_400 * n);
        let sources = vec![Source::Stdin {
            name: "db/erp.sql".into(),
            reader: Box::new(std::io::Cursor::new(data)),
        }];
        reports.push(backup::backup(&repo, sources, &o, &NoProgress).unwrap());
    }
    let sealed_of = |id: &SnapshotId| {
        repo.backend()
            .get(&layout::snapshot(id))
            .unwrap()
            .unwrap()
            .to_vec()
    };
    // Entries under each snapshot's id hold another snapshot's bytes (an
    // older night passed off as a newer one), and an entry names a snapshot
    // that does not exist.
    let mut forged: Vec<CatalogueEntry> = reports
        .iter()
        .zip(reports.iter().rev())
        .map(|(a, b)| CatalogueEntry {
            id: a.snapshot_id,
            sealed: sealed_of(&b.snapshot_id),
        })
        .collect();
    forged.push(CatalogueEntry {
        id: SnapshotId([7; 32]),
        sealed: sealed_of(&reports[0].snapshot_id),
    });
    put_catalogue(&repo, forged);
    // And garbage under a catalogue name.
    let junk =
        Bytes::from_static(b"not a catalogue at all, but long enough to pass for sealed bytes");
    repo.backend()
        .put_new(&layout::catalogue(&CatalogueId(content_hash(&junk))), junk)
        .unwrap();
    let fresh = Repository::open(on_store(&store), PASSWORD, CacheLocation::Temporary).unwrap();
    let got = fresh.snapshots().unwrap();
    assert_eq!(got.len(), 8);
    for (entry, report) in got.iter().zip(&reports) {
        assert_eq!(entry.id, report.snapshot_id);
        assert_eq!(entry.snapshot, report.snapshot, "the snapshot's own bytes");
    }
    // A refresh replaces both with a true catalogue.
    let r = catalogue::refresh(&repo, true).unwrap();
    assert_eq!(
        (r.snapshots, r.deleted),
        (8, 1),
        "the forged one read and removed"
    );
    let (got, snapshot_gets, _) = cold_snapshots(&store);
    assert_eq!(got, ids(&reports));
    assert_eq!(snapshot_gets, 0);
}
