//! `coffer prune`, `forget --prune`, `locks`, `unlock` against the real binary:
//! what prune frees, repacking, dry runs, a process killed at every step,
//! stale and live locks, and "repository locked".

// Test code: a missing JSON field is a failed test.
#![allow(clippy::unwrap_used)]

use crate::harness::{Coffer, PASSWORD, RepoKind, num};
use std::io::Write;
use std::process::Stdio;

on_each_store!(
    prune_frees_the_unused_packs_and_every_snapshot_restores,
    max_unused_decides_what_is_repacked,
    prune_killed_at_every_step_leaves_a_repository_check_accepts,
    stale_locks_are_listed_and_cleared_live_ones_kept,
);

/// Pseudo-random bytes (incompressible, so pack sizes are predictable).
fn random(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut h = blake3::Hasher::new();
    h.update(seed.as_bytes());
    h.finalize_xof().fill(&mut out);
    out
}

fn backup_folder(c: &Coffer, dir: &str, time: &str) -> String {
    let r = c.run([
        "--json",
        "backup",
        c.path(dir).to_str().unwrap(),
        "--host",
        "erp-01",
        "--time",
        time,
    ]);
    r.assert_code(0);
    r.json()["snapshot_id"].as_str().unwrap().to_string()
}

fn write(c: &Coffer, rel: &str, data: &[u8]) {
    let p = c.path(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn packs(c: &Coffer) -> Vec<String> {
    let mut v: Vec<String> = c.objects("data").into_iter().map(|(n, _)| n).collect();
    v.sort();
    v
}

/// Restores the snapshot's `docs` folder and compares every file with `files`.
fn assert_restores(c: &Coffer, id: &str, files: &[(&str, Vec<u8>)], name: &str) {
    let target = c.restore(id, name, &[]);
    for (rel, data) in files {
        let got = std::fs::read(target.join("docs").join(rel)).unwrap();
        assert!(got == *data, "{rel} of {id} differs after prune");
    }
}

fn prune_frees_the_unused_packs_and_every_snapshot_restores(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &["--pack-size", "1"]) else {
        return;
    };
    let shared = random("shared", 400_000);
    let mut ids = Vec::new();
    let mut contents = Vec::new();
    for day in 1..=4 {
        let own = random(&format!("day {day}"), 1_500_000);
        write(&c, "docs/shared.bin", &shared);
        write(&c, "docs/own.bin", &own);
        ids.push(backup_folder(
            &c,
            "docs",
            &format!("2026-03-0{day}T02:00:00Z"),
        ));
        contents.push(vec![("shared.bin", shared.clone()), ("own.bin", own)]);
    }
    let before = packs(&c);

    // The dry run plans, and changes nothing.
    let dry = c.json([
        "forget",
        &ids[0],
        &ids[1],
        "--prune",
        "--grace",
        "0s",
        "--dry-run",
    ]);
    assert_eq!(dry["prune"]["dry_run"], true, "{dry}");
    // Planned as after the forget: the two forgotten days' packs would go.
    let would = dry["prune"]["plan"]["condemn"]["delete"]
        .as_array()
        .unwrap()
        .len();
    assert!(would >= 2, "{dry}");
    assert_eq!(packs(&c), before);
    assert!(c.objects("condemned").is_empty());
    assert_eq!(c.snapshots().len(), 4);

    let out = c.json(["forget", &ids[0], &ids[1], "--prune", "--grace", "0s"]);
    let p = &out["prune"];
    let condemned = num(&p["report"], "packs_condemned");
    assert!(condemned >= would as u64, "{p}");
    assert_eq!(
        num(&p["second"]["report"], "packs_deleted"),
        condemned,
        "{p}"
    );
    let after = packs(&c);
    // Exactly the condemned packs went; the only new ones are repacked tree packs.
    let written = num(&p["report"], "packs_written");
    assert_eq!(
        after.len() as u64,
        before.len() as u64 - condemned + written,
        "{p}"
    );
    let new = after.iter().filter(|a| !before.contains(a)).count() as u64;
    assert_eq!(new, written, "{p}");
    assert!(num(p, "bytes_deleted") > 2_000_000, "{p}");
    assert!(c.objects("condemned").is_empty() && c.objects("locks").is_empty());

    for (i, id) in ids.iter().enumerate().skip(2) {
        let files: Vec<(&str, Vec<u8>)> = contents[i].clone();
        assert_restores(&c, id, &files, &format!("restored-{i}"));
    }
    c.ok(["check", "--read-data"]);
    // A second prune finds nothing more.
    let again = c.json(["prune", "--grace", "0s"]);
    assert_eq!(num(&again, "bytes_deleted"), 0, "{again}");
    assert_eq!(packs(&c), after);
    // Text output says what it did.
    let text = c.ok(["prune", "--grace", "0s"]).stdout_str();
    assert!(text.contains("freed 0 B"), "{text}");
}

fn max_unused_decides_what_is_repacked(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &["--pack-size", "4"]) else {
        return;
    };
    let keep = random("keep", 300_000);
    write(&c, "docs/keep.bin", &keep);
    write(&c, "docs/gone.bin", &random("gone", 300_000));
    let first = backup_folder(&c, "docs", "2026-03-01T02:00:00Z");
    std::fs::remove_file(c.path("docs/gone.bin")).unwrap();
    let second = backup_folder(&c, "docs", "2026-03-02T02:00:00Z");
    c.ok(["forget", &first]);

    // Half the data pack is unused: kept under 60%, repacked under 5%.
    let lax = c.json(["prune", "--grace", "0s", "--max-unused", "60%"]);
    assert!(
        lax["plan"]["condemn"]["repack"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{lax}"
    );
    assert!(
        num(&lax["plan"]["condemn"], "kept_unused_bytes") > 250_000,
        "{lax}"
    );
    let strict = c.json(["prune", "--grace", "0s", "--max-unused", "5%"]);
    // The half-used data pack is repacked (a tree pack may be too: its
    // unused share depends on how the trees were cut).
    assert!(
        strict["plan"]["condemn"]["repack"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| num(p, "unused_bytes") > 250_000),
        "{strict}"
    );
    assert!(num(&strict["report"], "blobs_copied") > 0, "{strict}");
    assert!(num(&strict, "bytes_deleted") > 250_000, "{strict}");
    let plan = c.json(["prune", "--dry-run", "--max-unused", "5%"]);
    assert_eq!(
        num(&plan["plan"]["condemn"], "kept_unused_bytes"),
        0,
        "{plan}"
    );
    assert_restores(&c, &second, &[("keep.bin", keep)], "restored");
    c.ok(["check", "--read-data"]);
    c.run(["prune", "--max-unused", "150%"])
        .assert_error(1, &["--max-unused 150%", "between 0% and 100%"]);
}

fn prune_killed_at_every_step_leaves_a_repository_check_accepts(kind: RepoKind) {
    for step in coffer_store::prune::STEPS {
        let Some(c) = Coffer::init_on(kind, &["--pack-size", "1"]) else {
            return;
        };
        let keep = random("keep", 600_000);
        let mut ids = Vec::new();
        for day in 1..=3 {
            write(&c, "docs/keep.bin", &keep);
            write(
                &c,
                "docs/day.bin",
                &random(&format!("{step} {day}"), 700_000),
            );
            ids.push(backup_folder(
                &c,
                "docs",
                &format!("2026-03-0{day}T02:00:00Z"),
            ));
        }
        std::fs::remove_file(c.path("docs/day.bin")).unwrap();
        let last = backup_folder(&c, "docs", "2026-03-04T02:00:00Z");
        c.ok(["forget", &ids[0], &ids[1], &ids[2]]);

        // Killed there, as SIGKILL would: no cleanup, its lock left behind.
        let mut cmd = c.command();
        cmd.args(["prune", "--grace", "0s", "--max-unused", "0%"])
            .env("COFFER_TEST_PRUNE_FAULT", format!("{step}:abort"));
        let killed = cmd.output().unwrap();
        let died = !killed.status.success();
        c.ok(["check"]);
        if died {
            // Its lock is stale at once: same host, process gone.
            let locks = c.json(["locks"]);
            assert!(
                locks
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|l| !l["stale"].is_null()),
                "{locks}"
            );
        }
        // The next prunes finish the work.
        c.ok(["prune", "--grace", "0s", "--max-unused", "0%"]);
        c.ok(["prune", "--grace", "0s", "--max-unused", "0%"]);
        let plan = c.json(["prune", "--dry-run", "--grace", "0s", "--max-unused", "0%"]);
        let cond = &plan["plan"]["condemn"];
        for what in ["delete", "repack", "unindexed"] {
            assert!(
                cond[what].as_array().unwrap().is_empty(),
                "after {step}: {plan}"
            );
        }
        assert!(c.objects("condemned").is_empty(), "after {step}");
        c.ok(["check", "--read-data"]);
        assert_restores(&c, &last, &[("keep.bin", keep.clone())], "restored");
        c.ok(["unlock"]);
        assert!(c.objects("locks").is_empty());
    }
}

fn stale_locks_are_listed_and_cleared_live_ones_kept(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    // A backup waiting on its standard input holds a live lock.
    let mut cmd = c.command();
    cmd.args(["backup", "--stdin", "--stdin-name", "db/erp.sql"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"COPY t FROM stdin;\n")
        .unwrap();
    let mut locks = serde_json::Value::Null;
    for _ in 0..100 {
        locks = c.json(["locks"]);
        if !locks.as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let l = &locks.as_array().unwrap()[0];
    assert_eq!(l["kind"], "backup", "{locks}");
    assert_eq!(num(l, "pid"), u64::from(child.id()));
    assert!(
        l["stale"].is_null(),
        "a running backup's lock is live: {locks}"
    );
    assert_eq!(c.json(["unlock"])["removed"].as_array().unwrap().len(), 0);
    // Prune does not wait for it, and a backup beside a prune is fine.
    c.ok(["prune", "--grace", "0s"]);

    // A lock nobody refreshed for two hours, of a process that is alive (this one).
    let repo = coffer_store::Repository::open(
        c.backend().unwrap(),
        PASSWORD.as_bytes(),
        coffer_store::repo::CacheLocation::Temporary,
    )
    .unwrap();
    let old = coffer_store::repo::unix_ns(std::time::SystemTime::now()) - 7_200_000_000_000;
    coffer_store::lock::write_lock(
        &repo,
        &coffer_store::format::lock::LockRecord {
            kind: coffer_store::format::lock::LockKind::Prune,
            host: coffer_store::repo::hostname(),
            pid: std::process::id(),
            username: "ops".into(),
            created_unix_ns: old,
            refreshed_unix_ns: old,
        },
    )
    .unwrap();
    // A live prune lock of another process makes prune refuse: exit 11.
    coffer_store::lock::write_lock(
        &repo,
        &coffer_store::format::lock::LockRecord {
            kind: coffer_store::format::lock::LockKind::Prune,
            host: coffer_store::repo::hostname(),
            pid: std::process::id(),
            username: "ops".into(),
            created_unix_ns: old + 7_200_000_000_000,
            refreshed_unix_ns: coffer_store::repo::unix_ns(std::time::SystemTime::now()),
        },
    )
    .unwrap();
    c.run(["prune", "--retry-lock", "0s"])
        .assert_error(11, &["repository is locked", "prune lock"]);
    assert!(
        c.run(["prune", "--retry-lock", "0s"])
            .stderr
            .contains("`coffer unlock` removes stale ones")
    );
    let table = c.ok(["locks"]).stdout_str();
    assert!(table.contains("not refreshed for 120 minutes"), "{table}");

    // The backup is killed: its lock stays, stale since its process is gone.
    child.kill().unwrap();
    child.wait().unwrap();
    let locks = c.json(["locks"]);
    let stale: Vec<_> = locks
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| !l["stale"].is_null())
        .collect();
    assert_eq!(stale.len(), 2, "{locks}");
    let removed = c.json(["unlock"]);
    assert_eq!(removed["removed"].as_array().unwrap().len(), 2, "{removed}");
    // The live prune lock stays until --remove-all.
    assert_eq!(c.objects("locks").len(), 1);
    c.ok(["unlock", "--remove-all"]);
    assert!(c.objects("locks").is_empty());
    c.ok(["prune", "--grace", "0s"]);
    c.ok(["check"]);
}

/// Staging files (`NAME#N`) of writes killed before their rename: `check`
/// reports them without failing, `prune` removes those no writer can still
/// be filling (unwritten for 30 minutes) and leaves a fresh one.
#[test]
fn prune_removes_the_unfinished_writes_of_killed_runs() {
    let c = Coffer::init();
    write(&c, "docs/a.bin", &random("a", 300_000));
    let snap = backup_folder(&c, "docs", "2026-03-01T02:00:00Z");
    let pack = packs(&c).into_iter().next().unwrap();
    let repo = c.repo();
    let old = repo.join(format!("{pack}#1"));
    std::fs::copy(repo.join(&pack), &old).unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let fresh = repo.join("index").join(format!("{}#2", "ab".repeat(32)));
    std::fs::write(&fresh, b"half an index file").unwrap();

    let checked = c.json(["check"]);
    let said: Vec<String> = checked["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        said.iter().any(|m| m.starts_with("2 unfinished write(s)")),
        "{checked}"
    );

    let pruned = c.json(["prune", "--grace", "0s"]);
    assert_eq!(
        num(&pruned["report"], "unfinished_writes_removed"),
        1,
        "{pruned}"
    );
    assert!(!old.exists(), "the old staging file stayed");
    assert!(
        fresh.exists(),
        "a staging file a writer may still fill was removed"
    );
    let checked = c.ok(["check"]);
    assert!(
        checked.stderr.contains("1 unfinished write(s)"),
        "{}",
        checked.stderr
    );
    // Nothing real was touched: the snapshot restores as it was.
    c.ok([
        "restore",
        &snap,
        "--target",
        c.path("out").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(c.path("out/docs/a.bin")).unwrap(),
        random("a", 300_000)
    );
}
