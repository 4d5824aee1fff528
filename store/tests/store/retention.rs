//! The policy engine against restic 0.14 itself: `retention/expected.txt`
//! holds what `restic forget --dry-run` kept for each policy of
//! `retention/policies.txt` over the snapshots of restic's own
//! `snapshot_policy_test.go` (`retention/make-expected.sh` regenerates it).

use coffer_store::format::snapshot::{Snapshot, SnapshotEntry, Summary};
use coffer_store::id::{BlobId, SnapshotId};
use coffer_store::retention::{self, Count, ForgetOptions, GroupBy, Policy, Span};
use jiff::tz::TimeZone;

const SNAPSHOTS: &str = include_str!("retention/snapshots.txt");
const POLICIES: &str = include_str!("retention/policies.txt");
const EXPECTED: &str = include_str!("retention/expected.txt");

fn ns(day: &str, time: &str) -> i64 {
    let ts: jiff::Timestamp = format!("{day}T{time}Z").parse().unwrap();
    i64::try_from(ts.as_nanosecond()).unwrap()
}

fn snapshot(i: usize, time_unix_ns: i64, tags: Vec<String>) -> SnapshotEntry {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    SnapshotEntry {
        id: SnapshotId(id),
        snapshot: Snapshot {
            time_unix_ns,
            host: "h".into(),
            username: String::new(),
            tags,
            paths: vec!["src".into()],
            root: BlobId([0; 32]),
            parent: None,
            partial: false,
            program: String::new(),
            summary: Summary::default(),
            meta: Vec::new(),
        },
    }
}

fn input() -> Vec<SnapshotEntry> {
    SNAPSHOTS
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut parts = line.split_whitespace();
            let (day, time) = (parts.next().unwrap(), parts.next().unwrap());
            let tags = parts
                .next()
                .map(|t| t.split(',').map(String::from).collect())
                .unwrap_or_default();
            snapshot(i, ns(day, time), tags)
        })
        .collect()
}

/// The restic flags of one line of policies.txt.
fn policy(flags: &str) -> Policy {
    let mut p = Policy::default();
    let words: Vec<&str> = flags.split_whitespace().collect();
    for pair in words.chunks(2) {
        let (flag, value) = (pair[0], pair[1]);
        let count = || Count::Newest(value.parse().unwrap());
        let span = || Some(Span::parse(value).unwrap());
        match flag {
            "--keep-last" => p.last = count(),
            "--keep-hourly" => p.hourly = count(),
            "--keep-daily" => p.daily = count(),
            "--keep-weekly" => p.weekly = count(),
            "--keep-monthly" => p.monthly = count(),
            "--keep-yearly" => p.yearly = count(),
            "--keep-within" => p.within = span(),
            "--keep-within-hourly" => p.within_hourly = span(),
            "--keep-within-daily" => p.within_daily = span(),
            "--keep-within-weekly" => p.within_weekly = span(),
            "--keep-within-monthly" => p.within_monthly = span(),
            "--keep-within-yearly" => p.within_yearly = span(),
            "--keep-tag" => p.tags.push(value.split(',').map(String::from).collect()),
            other => panic!("policies.txt: unknown flag {other}"),
        }
    }
    p
}

fn kept_times(flags: &str) -> Vec<String> {
    let opts = ForgetOptions {
        policy: policy(flags),
        group_by: GroupBy::parse("").unwrap(),
        tz: TimeZone::UTC,
        insurance_min_age_ns: 0,
    };
    let plan = retention::plan(input(), &opts, i64::MAX);
    assert_eq!(plan.groups.len(), 1);
    plan.groups[0]
        .snapshots
        .iter()
        .filter(|v| v.keep)
        .map(|v| {
            let ts = jiff::Timestamp::from_nanosecond(i128::from(v.entry.snapshot.time_unix_ns));
            ts.unwrap().strftime("%Y-%m-%d %H:%M:%SZ").to_string()
        })
        .collect()
}

#[test]
fn every_policy_keeps_what_restic_keeps() {
    let policies: Vec<&str> = POLICIES.lines().collect();
    let expected: Vec<&str> = EXPECTED.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(policies.len(), expected.len(), "regenerate expected.txt");
    let mut failures = Vec::new();
    for (flags, line) in policies.iter().zip(&expected) {
        let (p, kept) = line.split_once(" | ").unwrap();
        assert_eq!(p.trim(), *flags, "expected.txt is for another policies.txt");
        let want: Vec<String> = kept
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let got = kept_times(flags);
        if got != want {
            failures.push(format!(
                "{flags}:\n  restic keeps {want:?}\n  coffer keeps {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_kept_snapshot_names_all_its_rules() {
    let opts = ForgetOptions {
        policy: policy("--keep-last 1 --keep-daily 1 --keep-within 1d"),
        group_by: GroupBy::default(),
        tz: TimeZone::UTC,
        insurance_min_age_ns: 0,
    };
    let plan = retention::plan(input(), &opts, i64::MAX);
    let newest = &plan.groups[0].snapshots[0];
    assert_eq!(newest.reasons, ["within 1d", "last", "daily"]);
}

#[test]
fn insurance_outlives_any_policy() {
    let mut all = input();
    let newest = all.iter().map(|s| s.snapshot.time_unix_ns).max().unwrap();
    let day = 86_400 * 1_000_000_000_i64;
    all.push(snapshot(999, newest - 3 * day, vec!["insurance".into()]));
    all.push(snapshot(998, newest - 30 * day, vec!["insurance".into()]));
    let opts = ForgetOptions {
        policy: policy("--keep-last 1"),
        group_by: GroupBy::default(),
        tz: TimeZone::UTC,
        insurance_min_age_ns: 7 * day,
    };
    let plan = retention::plan(all, &opts, newest + day);
    let kept: Vec<_> = plan.groups[0].snapshots.iter().filter(|v| v.keep).collect();
    assert_eq!(
        kept.len(),
        2,
        "the newest and the 4-day-old insurance snapshot"
    );
    assert_eq!(kept[1].reasons, ["insurance (younger than 7d)"]);
    let old = plan
        .forgotten()
        .filter(|s| s.snapshot.tags.contains(&"insurance".into()))
        .count();
    assert_eq!(old, 1, "a 31-day-old insurance snapshot follows the policy");
}

#[test]
fn calendar_buckets_follow_the_time_zone() {
    // 23:30 UTC on two days is 00:30 the next day in Zurich (UTC+1 in winter):
    // one day apart either way, but 2016-01-01 23:30Z and 2016-01-02 00:10Z
    // are two days in UTC and one day in Zurich.
    let all = vec![
        snapshot(1, ns("2016-01-01", "23:30:00"), vec![]),
        snapshot(2, ns("2016-01-02", "00:10:00"), vec![]),
    ];
    let keep = |tz: TimeZone| {
        let opts = ForgetOptions {
            policy: policy("--keep-daily 5"),
            group_by: GroupBy::default(),
            tz,
            insurance_min_age_ns: 0,
        };
        retention::plan(all.clone(), &opts, i64::MAX)
            .forgotten()
            .count()
    };
    assert_eq!(keep(TimeZone::UTC), 0);
    assert_eq!(keep(TimeZone::get("Europe/Zurich").unwrap()), 1);
}

fn daily(n: u32) -> Policy {
    Policy {
        daily: Count::Newest(n),
        ..Policy::default()
    }
}

/// Forty nightly snapshots for each of two tenants and one untagged.
fn two_tenants() -> Vec<SnapshotEntry> {
    let mut out = Vec::new();
    for day in 0..40i64 {
        let t = ns("2026-01-01", "02:00:00") + day * 86_400_000_000_000;
        out.push(snapshot(out.len(), t, vec!["tenant=basic".into()]));
        out.push(snapshot(out.len(), t, vec!["tenant=premium".into()]));
        out.push(snapshot(out.len(), t, vec![]));
    }
    out
}

fn tier(selector: &str, policy: Policy) -> retention::tiers::Tier {
    retention::tiers::Tier {
        selector: selector.into(),
        policy,
    }
}

fn base() -> ForgetOptions {
    ForgetOptions {
        policy: Policy::default(),
        group_by: GroupBy::parse("host,paths").unwrap(),
        tz: TimeZone::UTC,
        insurance_min_age_ns: 0,
    }
}

fn kept_with_tag(plan: &retention::ForgetPlan, tag: Option<&str>) -> usize {
    plan.groups
        .iter()
        .flat_map(|g| &g.snapshots)
        .filter(|v| v.keep)
        .filter(|v| match tag {
            Some(t) => v.entry.snapshot.tags.iter().any(|x| x == t),
            None => v.entry.snapshot.tags.is_empty(),
        })
        .count()
}

#[test]
fn each_tier_keeps_by_its_own_policy_and_untiered_snapshots_stay() {
    let tiers = [
        tier("tenant=basic", daily(7)),
        tier("tenant=premium", daily(30)),
    ];
    let now = ns("2026-03-01", "00:00:00");
    let plan = retention::tiers::plan_tiers(two_tenants(), &tiers, &base(), now).unwrap();
    assert_eq!(kept_with_tag(&plan, Some("tenant=basic")), 7);
    assert_eq!(kept_with_tag(&plan, Some("tenant=premium")), 30);
    // No tier and no `*`: all 40 untagged snapshots are kept, and why.
    assert_eq!(kept_with_tag(&plan, None), 40);
    let untagged = plan
        .groups
        .iter()
        .flat_map(|g| &g.snapshots)
        .find(|v| v.entry.snapshot.tags.is_empty())
        .unwrap();
    assert_eq!(untagged.reasons, [retention::tiers::UNTIERED_REASON]);
    let basic = plan
        .groups
        .iter()
        .flat_map(|g| &g.snapshots)
        .find(|v| v.keep && v.entry.snapshot.tags == ["tenant=basic"])
        .unwrap();
    assert!(
        basic.reasons[0].starts_with("tier tenant=basic: "),
        "{:?}",
        basic.reasons
    );
    assert_eq!(plan.forgotten().count(), 33 + 10);
}

#[test]
fn the_catch_all_tier_takes_what_no_other_claims() {
    let tiers = [tier("tenant=basic", daily(7)), tier("*", daily(3))];
    let now = ns("2026-03-01", "00:00:00");
    let plan = retention::tiers::plan_tiers(two_tenants(), &tiers, &base(), now).unwrap();
    assert_eq!(kept_with_tag(&plan, Some("tenant=basic")), 7);
    // premium and untagged fall to the catch-all; with the same host and
    // paths they form one group, so three days are kept between them.
    assert_eq!(
        kept_with_tag(&plan, Some("tenant=premium")) + kept_with_tag(&plan, None),
        3
    );
}

#[test]
fn a_snapshot_of_two_tiers_and_an_empty_tier_are_refused() {
    let mut snaps = two_tenants();
    snaps[0].snapshot.tags.push("tenant=premium".into());
    let tiers = [
        tier("tenant=basic", daily(7)),
        tier("tenant=premium", daily(30)),
    ];
    let err = retention::tiers::plan_tiers(snaps, &tiers, &base(), 0).unwrap_err();
    assert!(err.to_string().contains("several retention tiers"), "{err}");
    let err = retention::tiers::plan_tiers(
        two_tenants(),
        &[tier("tenant=basic", Policy::default())],
        &base(),
        0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no keep-* rule"), "{err}");
}
