//! `coffer forget`: a policy over back-dated snapshots, its dry run (table and
//! JSON with the reasons), the real run, insurance, and bad flags.

// Test code: a missing JSON field is a failed test.
#![allow(clippy::unwrap_used)]

use crate::harness::{Coffer, RepoKind, num};

on_each_store!(
    policy_dry_run_then_forget_and_insurance,
    dry_run_cost_counts_only_what_the_forgotten_snapshots_use,
);

fn backup_on(c: &Coffer, day: &str, tags: &[&str]) -> String {
    let mut args = vec![
        "--json",
        "backup",
        "--stdin",
        "--stdin-name",
        "db/erp.sql",
        "--host",
        "erp-01",
    ];
    if !day.is_empty() {
        args.extend(["--time", day]);
    }
    for t in tags {
        args.extend(["--tag", t]);
    }
    let r = c.run_with_stdin(args, format!("dump of {day}\n").as_bytes());
    r.assert_code(0);
    r.json()["snapshot_id"].as_str().unwrap().to_string()
}

fn policy_dry_run_then_forget_and_insurance(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    // 2026-01-05 is a Monday: days 5..18 span ISO weeks 2 and 3 (and day 4, week 1).
    let mut ids = Vec::new();
    for d in 4..=18 {
        ids.push(backup_on(&c, &format!("2026-01-{d:02}T02:00:00Z"), &[]));
    }
    let insured = backup_on(&c, "", &["insurance"]);
    let policy = [
        "forget",
        "--keep-daily",
        "3",
        "--keep-weekly",
        "3",
        "--group-by",
        "host",
    ];

    let mut dry: Vec<&str> = policy.to_vec();
    dry.push("--dry-run");
    let plan = c.json(&dry);
    assert_eq!(plan["dry_run"], true);
    let groups = plan["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{plan}");
    assert_eq!(groups[0]["group"]["host"], "erp-01");
    let snaps = groups[0]["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 16, "every snapshot is listed, kept or not");
    let reasons = |id: &str| -> Vec<String> {
        let s = snaps.iter().find(|s| s["id"] == id).unwrap();
        s["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().into())
            .collect()
    };
    // Newest first: the insurance snapshot (today) is daily, weekly and insured.
    assert_eq!(
        reasons(&insured),
        ["daily", "weekly", "insurance (younger than 7d)"]
    );
    // Then Jan 18 (Sunday of ISO week 3: daily and weekly), Jan 17 (the third
    // daily), Jan 16 (nothing), and Jan 11 (Sunday of week 2: the third weekly).
    assert_eq!(reasons(&ids[14]), ["daily", "weekly"]);
    assert_eq!(reasons(&ids[13]), ["daily"]);
    assert!(reasons(&ids[12]).is_empty());
    assert_eq!(reasons(&ids[7]), ["weekly"]);
    let kept: Vec<&str> = snaps
        .iter()
        .filter(|s| s["keep"] == true)
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [insured.as_str(), &ids[14], &ids[13], &ids[7]]);
    assert_eq!(plan["forgotten"], 16 - kept.len());
    assert_eq!(c.snapshots().len(), 16, "a dry run forgets nothing");

    let table = c.ok(&dry).stdout_str();
    assert!(
        table.contains("Kept by") && table.contains("forget"),
        "{table}"
    );
    assert!(table.contains("would be forgotten (dry run)"), "{table}");

    let done = c.json(policy);
    assert_eq!(done["forgotten"], plan["forgotten"]);
    let left: Vec<String> = c
        .snapshots()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut got = left.clone();
    got.sort();
    assert_eq!(got, want, "exactly the planned snapshots remain");
    c.ok(["check"]);

    // Naming an insured snapshot is refused, unless forced.
    let short = &insured[..8];
    c.run(["forget", short])
        .assert_error(1, &["insurance", "younger than 7d", "--force-insurance"]);
    assert_eq!(c.snapshots().len(), kept.len());
    c.ok(["forget", short, "--force-insurance"]);
    assert!(!c.snapshots().iter().any(|s| s["id"] == insured.clone()));

    c.run(["forget", "--keep-daily", "3", "--tz", "Mars/Olympus"])
        .assert_error(1, &["time zone", "Europe/Zurich"]);
    c.run(["forget", "--keep-within", "3w"])
        .assert_error(1, &["3w", "30d"]);
    c.run(["forget"]).assert_error(1, &["nothing to forget"]);
}

/// Day 1 holds a 300 kB dump no later day shares; days 2 and 3 share theirs.
/// Forgetting day 1 frees its dump's bytes (stored raw: random), and nothing
/// the kept snapshots use.
fn dry_run_cost_counts_only_what_the_forgotten_snapshots_use(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let unique = crate::documents::noise(11, 300_000);
    let shared = crate::documents::noise(12, 200_000);
    for (day, dump) in [(1, &unique), (2, &shared), (3, &shared)] {
        c.run_with_stdin(
            [
                "backup",
                "--stdin",
                "--stdin-name",
                "db/erp.dump",
                "--time",
                &format!("2026-03-0{day}T02:00:00Z"),
            ],
            dump,
        )
        .assert_code(0);
    }
    let plan = c.json([
        "forget",
        "--keep-last",
        "2",
        "--dry-run",
        "--cost",
        "--price-per-gb-month",
        "1000",
    ]);
    let cost = &plan["cost"];
    assert_eq!(num(cost, "snapshots_forgotten"), 1, "{plan}");
    let freed = num(cost, "freed_bytes");
    // Sealing adds a few dozen bytes per chunk, and the forgotten snapshot's
    // own tree blobs are freed too.
    assert!(
        (300_000..300_000 + 16_384).contains(&freed),
        "freed {freed} bytes for a 300,000-byte dump only it used: {plan}"
    );
    let money = cost["freed_per_month"].as_f64().unwrap();
    let expected = freed as f64 / f64::from(1u32 << 30) * 1000.0;
    assert!((money - expected).abs() < 1e-9, "{money} vs {expected}");
    assert_eq!(c.snapshots().len(), 3, "a dry run forgets nothing");

    let table = c.ok(["forget", "--keep-last", "2", "--dry-run", "--cost"]);
    assert!(
        table.stdout_str().contains("frees "),
        "{}",
        table.stdout_str()
    );
}

/// With no `--keep-*` rule, `--profile`'s retention tiers decide: each tenant
/// by its plan, `*` for the rest; a snapshot of two tiers is refused.
#[test]
fn profile_tiers_keep_each_tenant_by_its_plan() {
    let c = Coffer::init();
    for d in 1..=10 {
        let day = format!("2026-03-{d:02}T02:00:00Z");
        backup_on(&c, &day, &["tenant=basic"]);
        backup_on(&c, &day, &["tenant=premium"]);
        backup_on(&c, &day, &["env=test"]);
    }
    let config = c.path("tiers.toml");
    std::fs::write(
        &config,
        "[profile.p.retention.\"tenant=basic\"]\nkeep-daily = 2\n\
         [profile.p.retention.\"tenant=premium\"]\nkeep-daily = 5\n\
         [profile.p.retention.\"*\"]\nkeep-last = 1\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let with_profile = |extra: &[&str]| {
        let mut cmd = c.command();
        cmd.args(["--config", cfg, "--profile", "p", "--json", "forget"])
            .args(["--group-by", "host,tags"])
            .args(extra);
        crate::harness::Run::capture(cmd)
    };
    let dry = with_profile(&["--dry-run"]);
    dry.assert_code(0);
    let plan = dry.json();
    let kept = |tag: &str| {
        plan["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["snapshots"].as_array().unwrap())
            .filter(|s| s["keep"] == true && s["tags"][0] == tag)
            .count()
    };
    assert_eq!(kept("tenant=basic"), 2, "{plan}");
    assert_eq!(kept("tenant=premium"), 5, "{plan}");
    assert_eq!(kept("env=test"), 1, "{plan}");
    assert_eq!(plan["forgotten"], 8 + 5 + 9);
    assert_eq!(c.snapshots().len(), 30, "a dry run forgets nothing");

    with_profile(&[]).assert_code(0);
    let left = c.snapshots();
    assert_eq!(left.len(), 8);
    // The newest basic snapshot is kept by its tier's rule, and says so.
    let again = with_profile(&["--dry-run"]).json();
    let reasons: Vec<String> = again["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["snapshots"].as_array().unwrap())
        .filter(|s| s["tags"][0] == "tenant=basic")
        .flat_map(|s| s["reasons"].as_array().unwrap().clone())
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.iter().all(|r| r == "tier tenant=basic: daily"),
        "{reasons:?}"
    );

    backup_on(
        &c,
        "2026-03-11T02:00:00Z",
        &["tenant=basic", "tenant=premium"],
    );
    with_profile(&["--dry-run"]).assert_error(1, &["several retention tiers"]);
}
