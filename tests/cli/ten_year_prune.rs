//! Issue 4's ten-year simulation: 3,650 nights of a slowly changing document
//! tree (coffer-sim), `forget --keep-daily 30 --keep-monthly 12 --keep-yearly
//! 10 --prune`, and then two independent checks:
//!
//! - the snapshots left are exactly those a plain reference computation over
//!   the nights' calendar dates keeps (written here, not restic's engine);
//! - the data left in the repository is exactly what those snapshots use:
//!   the data chunks the index lists are, byte for byte, the distinct chunks
//!   of the file versions the generator's plan says the kept nights hold
//!   (cut here with the chunker itself, identified by plain BLAKE3).

use crate::harness::*;
use coffer_sim::{Params, Plan, WriteOptions, plan, write_plan};
use coffer_store::backend::Backend;
use coffer_store::format::pack::BlobKind;
use coffer_store::id::SnapshotId;
use coffer_store::repo::{CacheLocation, Repository};
use std::collections::{BTreeMap, BTreeSet};

fn fixture<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.expect("ten-year prune fixture")
}

/// The UTC calendar date of a night.
fn date(ns: i64) -> jiff::civil::Date {
    let ts = fixture(jiff::Timestamp::from_nanosecond(i128::from(ns)));
    ts.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// restic's rule for one bucket kind, the plain way: newest first, keep a
/// night when its bucket differs from the previous kept one, `n` buckets.
fn newest_per_bucket<K: PartialEq>(
    nights_newest_first: &[(usize, jiff::civil::Date)],
    n: usize,
    bucket: impl Fn(jiff::civil::Date) -> K,
) -> BTreeSet<usize> {
    let mut kept = BTreeSet::new();
    let mut last: Option<K> = None;
    for &(night, d) in nights_newest_first {
        if kept.len() == n {
            break;
        }
        let b = bucket(d);
        if last.as_ref() != Some(&b) {
            kept.insert(night);
            last = Some(b);
        }
    }
    kept
}

fn reference_30d_12m_10y(plan: &Plan) -> BTreeSet<usize> {
    let mut nights: Vec<(usize, jiff::civil::Date)> = plan
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| (i, date(d.time_unix_ns)))
        .collect();
    nights.reverse();
    let mut keep = newest_per_bucket(&nights, 30, |d| d);
    keep.extend(newest_per_bucket(&nights, 12, |d| (d.year(), d.month())));
    keep.extend(newest_per_bucket(&nights, 10, |d| d.year()));
    keep
}

/// Bytes of the distinct chunks of the file versions the given nights hold.
fn distinct_chunk_bytes(
    plan: &Plan,
    nights: impl IntoIterator<Item = usize>,
    params: &coffer_chunker::ChunkerParams,
) -> u64 {
    let mut versions: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for night in nights {
        for (path, s) in plan.state_at(night) {
            versions.insert((path, s.version), s.size);
        }
    }
    let mut chunks: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    for ((path, version), size) in versions {
        let data = coffer_sim::content(plan.params.seed, &path, version, size);
        for r in coffer_chunker::chunk_boundaries(&data, params) {
            chunks.insert(*blake3::hash(&data[r.clone()]).as_bytes(), r.len() as u64);
        }
    }
    chunks.values().sum()
}

/// Raw bytes of the distinct data chunks the repository's index lists.
fn indexed_data_bytes(c: &Coffer) -> u64 {
    let repo = fixture(Repository::open(
        fixture(Backend::open(c.location(), false)),
        PASSWORD.as_bytes(),
        CacheLocation::Temporary,
    ));
    let mut chunks: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    for (name, _) in fixture(repo.backend().list("index")) {
        let bytes = fixture(repo.backend().get(&name)).expect("listed index file");
        let id = name.rsplit('/').next().expect("index name");
        for pack in fixture(coffer_store::cache::open_index(repo.key(), id, &bytes)).packs {
            for b in pack.blobs.iter().filter(|b| b.kind == BlobKind::Data) {
                chunks.insert(b.id.0, u64::from(b.raw_length));
            }
        }
    }
    chunks.values().sum()
}

fn stored_bytes(c: &Coffer) -> u64 {
    c.objects("data").iter().map(|(_, n)| n).sum()
}

#[test]
fn ten_years_of_nights_forget_30d_12m_10y_and_prune_to_what_is_kept() {
    let c = fixture(Coffer::empty_on(RepoKind::Folder).ok_or("folder"));
    let plan = plan(&Params {
        seed: 11,
        days: 3650,
        initial_files: 120,
        contracts: 3,
        ..Params::default()
    });
    let fast = crate::harness::fast_init_options();
    let repo = fixture(Repository::init(
        fixture(Backend::open(c.location(), true)),
        PASSWORD.as_bytes(),
        &fast,
        std::time::SystemTime::now(),
        CacheLocation::Temporary,
    ));
    let params = repo.chunker_params();
    let ids: Vec<SnapshotId> = fixture(write_plan(
        &repo,
        &plan,
        &WriteOptions::default(),
        &mut |_, _| {},
    ));
    drop(repo);
    assert_eq!(ids.len(), 3650);
    // Before anything goes, the index holds every night's chunks, and more: a
    // document added and removed before the same night's snapshot was stored
    // but is in no snapshot (prune's to delete).
    let all_bytes = distinct_chunk_bytes(&plan, 0..plan.days.len(), &params);
    assert!(indexed_data_bytes(&c) >= all_bytes);
    let before = stored_bytes(&c);

    let want = reference_30d_12m_10y(&plan);
    // 30 dailies; the monthlies and yearlies overlap them and each other.
    assert!(
        want.len() > 30 && want.len() < 30 + 12 + 10,
        "{}",
        want.len()
    );

    let out = c.json([
        "forget",
        "--keep-daily",
        "30",
        "--keep-monthly",
        "12",
        "--keep-yearly",
        "10",
        "--prune",
        "--max-unused",
        "0%",
        "--grace",
        "0s",
    ]);
    assert_eq!(out["forgotten"], 3650 - want.len(), "{out}");

    let left: BTreeSet<usize> = c
        .snapshots()
        .iter()
        .map(|s| {
            let hex = s["id"].as_str().expect("id");
            ids.iter()
                .position(|id| id.to_hex() == hex)
                .expect("a snapshot the generator wrote")
        })
        .collect();
    assert_eq!(left, want, "the snapshots kept are the reference's");

    // Storage: exactly what the kept nights use, and much less than before.
    let kept_bytes = distinct_chunk_bytes(&plan, want.iter().copied(), &params);
    assert!(
        kept_bytes < all_bytes,
        "the forgotten nights held data of their own"
    );
    assert_eq!(indexed_data_bytes(&c), kept_bytes);
    let after = stored_bytes(&c);
    assert!(after < before, "prune deleted packs: {before} -> {after}");
    assert!(
        c.objects("condemned").is_empty(),
        "phase 2 ran: no record left"
    );
    c.ok(["check", "--read-data"]);

    // The oldest night kept (a yearly) restores as the plan says it was.
    let oldest = *want.iter().next().expect("kept");
    let target = c.restore(&ids[oldest].to_hex(), "oldest", &[]);
    let state = plan.state_at(oldest);
    for (path, s) in &state {
        let got = fixture(std::fs::read(target.join(path)));
        assert_eq!(
            got,
            coffer_sim::content(11, path, s.version, s.size),
            "{path} as of night {oldest}"
        );
    }
    let restored_files = walk_files(&target);
    assert_eq!(restored_files, state.len(), "nothing more was restored");
}

fn walk_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in fixture(std::fs::read_dir(dir)) {
        let e = fixture(e);
        if fixture(e.file_type()).is_dir() {
            n += walk_files(&e.path());
        } else {
            n += 1;
        }
    }
    n
}
