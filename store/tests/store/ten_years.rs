//! Ten years of daily snapshots in one repository: the seed policies
//! (30d/12m/10y, 7d/4w/6m, 7d/4w/12m) through `retention::plan` keep exactly
//! what an independent computation over the sorted times keeps, and forgetting
//! leaves exactly those snapshots in the repository.
//!
//! The snapshots are cheap: four real backups give four distinct trees, and
//! 3,650 snapshot records pointing at them (plus a second snapshot on some
//! days, at a varying hour) are saved with `Repository::save_snapshot`.

use crate::util::{memory_repo, opts, random_bytes};
use coffer_store::backup::{self, Source};
use coffer_store::progress::NoProgress;
use coffer_store::retention::{self, Count, ForgetOptions, GroupBy, Policy};
use coffer_store::{Repository, id::SnapshotId};
use jiff::tz::TimeZone;
use std::collections::{BTreeMap, BTreeSet};

const DAY: i64 = 86_400;
/// 2016-01-01T00:00:00Z.
const START: i64 = 1_451_606_400;
const DAYS: i64 = 3_650;

/// Days since 1970-01-01 to (year, month): Howard Hinnant's `civil_from_days`,
/// written out here so the reference shares no calendar code with the engine.
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// The reference: for each rule, the newest snapshot of each of the N newest
/// buckets, over times sorted newest first; the rules' sets united.
/// Buckets: UTC day; Monday-to-Sunday week (1970-01-01 was a Thursday, so
/// `(days + 3) / 7` changes on Mondays, as ISO weeks do); month; year.
fn reference(
    times: &[i64],
    daily: usize,
    weekly: usize,
    monthly: usize,
    yearly: usize,
) -> BTreeSet<i64> {
    let mut newest_first = times.to_vec();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    let mut kept = BTreeSet::new();
    let rules: [(usize, &dyn Fn(i64) -> i64); 4] = [
        (daily, &|d| d),
        (weekly, &|d| (d + 3).div_euclid(7)),
        (monthly, &|d| {
            let (y, m) = year_month(d);
            y * 12 + m
        }),
        (yearly, &|d| year_month(d).0),
    ];
    for (n, bucket) in rules {
        // Newest snapshot per bucket: the first met in newest-first order.
        let mut newest: BTreeMap<i64, i64> = BTreeMap::new();
        for &t in &newest_first {
            newest.entry(bucket(t.div_euclid(DAY))).or_insert(t);
        }
        kept.extend(newest.values().rev().take(n));
    }
    kept
}

fn policy(daily: usize, weekly: usize, monthly: usize, yearly: usize) -> Policy {
    let c = |n: usize| {
        if n == 0 {
            Count::Off
        } else {
            Count::Newest(u32::try_from(n).unwrap())
        }
    };
    Policy {
        daily: c(daily),
        weekly: c(weekly),
        monthly: c(monthly),
        yearly: c(yearly),
        ..Policy::default()
    }
}

/// Four small real trees, then one snapshot a day for ten years pointing at
/// them in turn; every 97th day has a second, later snapshot.
fn ten_years() -> (Repository, BTreeMap<i64, SnapshotId>) {
    let repo = memory_repo();
    let mut templates = Vec::new();
    for v in 0..4u64 {
        let src = vec![Source::Stdin {
            name: "db/erp.sql".into(),
            reader: Box::new(std::io::Cursor::new(random_bytes(
                &format!("dump {v}"),
                5_000,
            ))),
        }];
        let report = backup::backup(&repo, src, &opts(v), &NoProgress).unwrap();
        templates.push(report.snapshot);
    }
    // Only the trees are wanted: the template snapshots go.
    let made: Vec<SnapshotId> = repo.snapshots().unwrap().iter().map(|s| s.id).collect();
    retention::execute(&repo, &made).unwrap();
    let mut ids = BTreeMap::new();
    for d in 0..DAYS {
        let mut times = vec![START + d * DAY + 3_600 * (1 + d % 5)];
        if d % 97 == 0 {
            times.push(START + d * DAY + 3_600 * 20 + d % 3_000);
        }
        for t in times {
            let mut s = templates[usize::try_from(d % 4).unwrap()].clone();
            s.time_unix_ns = t * 1_000_000_000;
            ids.insert(t, repo.save_snapshot(&s).unwrap());
        }
    }
    (repo, ids)
}

fn kept_by_plan(repo: &Repository, p: Policy) -> BTreeSet<i64> {
    let opts = ForgetOptions {
        policy: p,
        group_by: GroupBy::default(),
        tz: TimeZone::UTC,
        insurance_min_age_ns: 0,
    };
    let plan = retention::plan(repo.snapshots().unwrap(), &opts, i64::MAX);
    assert_eq!(plan.groups.len(), 1, "one host, one path: one group");
    plan.groups[0]
        .snapshots
        .iter()
        .filter(|v| v.keep)
        .map(|v| v.entry.snapshot.time_unix_ns / 1_000_000_000)
        .collect()
}

#[test]
fn seed_policies_keep_what_the_reference_keeps_over_ten_years() {
    let (repo, ids) = ten_years();
    let times: Vec<i64> = ids.keys().copied().collect();
    assert_eq!(times.len(), 3_650 + 38);
    assert_eq!(repo.snapshots().unwrap().len(), times.len());
    // The last day is 2025-12-28: ten calendar years, 2016 to 2025.
    assert_eq!(year_month((START + (DAYS - 1) * DAY) / DAY), (2025, 12));

    for (d, w, m, y, expected_len) in [
        (30, 0, 12, 10, 30 + 10 + 9),
        (7, 4, 6, 0, 7 + 3 + 5),
        (7, 4, 12, 0, 7 + 3 + 11),
    ] {
        let want = reference(&times, d, w, m, y);
        // Overlaps, counted by hand: 2025-12-28 (the last day) is a Sunday; the
        // dailies also hold the newest of December and November (30 days back
        // reach 2025-11-29), of 2025, and of the newest week.
        assert_eq!(
            want.len(),
            expected_len,
            "reference for {d}d/{w}w/{m}m/{y}y"
        );
        let got = kept_by_plan(&repo, policy(d, w, m, y));
        assert_eq!(got, want, "{d}d/{w}w/{m}m/{y}y");
    }

    // The 30d/12m/10y plan executed leaves exactly its snapshots.
    let want = reference(&times, 30, 0, 12, 10);
    let forget: Vec<SnapshotId> = ids
        .iter()
        .filter(|(t, _)| !want.contains(t))
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(retention::execute(&repo, &forget).unwrap(), 3_688 - 49);
    let left: BTreeSet<i64> = repo
        .snapshots()
        .unwrap()
        .iter()
        .map(|s| s.snapshot.time_unix_ns / 1_000_000_000)
        .collect();
    assert_eq!(left, want);
    // The yearlies are each year's last day: December 31st (2025: the 28th).
    for y in 2016..=2024 {
        assert!(
            left.iter()
                .any(|t| year_month(t / DAY) == (y, 12) && year_month(t / DAY + 1) == (y + 1, 1)),
            "year {y} keeps its last day"
        );
    }
}
