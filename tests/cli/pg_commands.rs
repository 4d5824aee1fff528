//! `coffer pg backup / restore / drill` against the real server: recorded
//! metadata, a failing and a too-old pg_dump, skip-if-unchanged, side-by-side
//! and in-place restore, drills; the round trip on a folder and on S3.

use crate::harness::{Coffer, RepoKind, Run};
use crate::postgres::{self, A_DAY, ERP_ROWS};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

pub(crate) fn conn(pg: &postgres::Server, db: &str) -> Vec<String> {
    vec![
        "--dbname".into(),
        db.into(),
        "--host".into(),
        pg.host.clone(),
        "--port".into(),
        pg.port.clone(),
        "--username".into(),
        pg.user.clone(),
    ]
}

pub(crate) fn script(c: &Coffer, name: &str, body: &str) -> String {
    let p = c.path(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p.to_string_lossy().into_owned()
}

#[test]
fn backup_records_skips_unchanged_restores_and_drills() {
    let Some(pg) = postgres::server() else { return };
    let c = Coffer::init();
    let erp = pg.create_erp_db("pgcmd");
    let mut b = vec!["pg".to_string(), "backup".into()];
    b.extend(conn(&pg, &erp.name));
    let mut first = b.clone();
    first.extend([
        "--label-query".into(),
        "SELECT 'Dolibarr 19.0.2'".into(),
        "--skip-if-unchanged".into(),
    ]);
    let s1 = c.json(&first);
    assert_eq!(s1["dump_skipped"], false, "{s1}");
    assert_eq!(s1["label"], "Dolibarr 19.0.2");
    assert_eq!(s1["rows"]["public.llx_facture"], ERP_ROWS[1]);
    assert_eq!(s1["rows"]["public.llx_facturedet"], ERP_ROWS[2]);

    // Nothing changed: the dump is not run, the old one is carried over.
    let mut again = b.clone();
    again.push("--skip-if-unchanged".into());
    let s2 = c.json(&again);
    assert_eq!(s2["dump_skipped"], true, "{s2}");
    assert_eq!(s2["dump_carried_from"], s1["snapshot_id"]);
    assert_eq!(s2["bytes_read"], 0);

    // A business day changes the fingerprint: dumped again.
    erp.psql(A_DAY);
    let s3 = c.json(&again);
    assert_eq!(s3["dump_skipped"], false, "{s3}");
    let day_rows = erp.row_counts();

    // Side-by-side restore of the latest into a new database.
    let clone = format!("{}_clone", erp.name);
    let mut r = vec![
        "pg".to_string(),
        "restore".into(),
        "latest".into(),
        "--into".into(),
        clone.clone(),
    ];
    r.extend(conn(&pg, &erp.name));
    c.ok(&r);
    let clone_db = postgres::Database::adopt(&pg, &clone);
    assert_eq!(clone_db.fingerprint(), erp.fingerprint());
    // The same name again is refused.
    c.run(&r).assert_error(1, &["already exists"]);

    // Drill of the first snapshot succeeds and drops its scratch database.
    let scratch = format!("{}_drill", erp.name);
    let mut d = vec![
        "pg".to_string(),
        "drill".into(),
        "--dbname-scratch".into(),
        scratch.clone(),
    ];
    d.extend(conn(&pg, &erp.name));
    let report = c.json(&d);
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        !pg.psql(
            "postgres",
            &format!("SELECT datname FROM pg_database WHERE datname = '{scratch}'")
        )
        .contains(&scratch)
    );

    // Drill fails with a reason when the restore cannot complete (a broken pg_restore).
    let broken = script(
        &c,
        "pg_restore_broken",
        "cat >/dev/null; echo 'pg_restore: error: simulated' >&2; exit 1",
    );
    let mut bad = d.clone();
    bad.extend(["--pg-restore".into(), broken, "--quiet".into()]);
    c.run(&bad)
        .assert_error(1, &["drill", "failed", "simulated"]);

    // In-place: refused without --yes; with it, an insurance snapshot comes first.
    let mut ip = vec![
        "pg".to_string(),
        "restore".into(),
        s1["snapshot_id"].as_str().unwrap_or_default().to_string(),
        "--in-place".into(),
    ];
    ip.extend(conn(&pg, &erp.name));
    c.run(&ip).assert_error(1, &["--yes"]);
    ip.push("--yes".into());
    c.ok(&ip);
    assert_eq!(
        erp.row_counts(),
        ERP_ROWS,
        "the first snapshot's rows are back"
    );
    let snaps = c.snapshots();
    let insurance = snaps.iter().find(|s| {
        s["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|v| v == "insurance"))
    });
    assert!(insurance.is_some(), "an insurance snapshot: {snaps:?}");
    assert_ne!(day_rows, ERP_ROWS);
}

on_each_store!(
    pg_backup_and_restore_round_trip,
    a_failing_pg_dump_commits_nothing_and_spoils_nothing
);

/// `pg backup`, a day, `pg backup`; each snapshot restored by `pg restore`
/// (pg_restore under it) into a new database with the rows of its day.
fn pg_backup_and_restore_round_trip(kind: RepoKind) {
    let Some(pg) = postgres::server() else { return };
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let erp = pg.create_erp_db("pgtrip");
    let mut b = vec!["pg".to_string(), "backup".into()];
    b.extend(conn(&pg, &erp.name));
    let monday = c.json(&b);
    let monday_fp = erp.fingerprint();
    erp.psql(A_DAY);
    let tuesday = c.json(&b);
    assert_eq!(tuesday["dump_skipped"], false, "{tuesday}");
    let tuesday_rows = erp.row_counts();
    assert_eq!(tuesday_rows, [600, 4040, 12120]);

    for (snap, rows, tag) in [(&tuesday, tuesday_rows, "tue"), (&monday, ERP_ROWS, "mon")] {
        let id = snap["snapshot_id"].as_str().expect("snapshot_id");
        let into = format!("{}_{tag}", erp.name);
        let mut r = vec![
            "pg".to_string(),
            "restore".into(),
            id[..12].to_string(),
            "--into".into(),
            into.clone(),
        ];
        r.extend(conn(&pg, &erp.name));
        c.ok(&r);
        let restored = postgres::Database::adopt(&pg, &into);
        assert_eq!(
            restored.row_counts(),
            rows,
            "{tag}: rows restored from {id}"
        );
        assert_eq!(
            restored.row_counts()[2],
            snap["rows"]["public.llx_facturedet"],
            "{tag}: the count recorded at backup"
        );
        if tag == "mon" {
            assert_eq!(restored.fingerprint(), monday_fp, "monday's content");
        } else {
            assert_eq!(restored.fingerprint(), erp.fingerprint(), "today's content");
        }
    }
    c.ok(["check", "--read-data"]);
}

/// `name` found on PATH, as the shell would.
pub(crate) fn on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not on PATH"))
}

/// A pg_dump that answers `--version` like the real one, then writes the first
/// 200 kB of a real dump and dies as pg_dump does when the server goes away.
fn a_failing_pg_dump_commits_nothing_and_spoils_nothing(kind: RepoKind) {
    let Some(pg) = postgres::server() else { return };
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let erp = pg.create_erp_db("pgfail");
    let mut b = vec!["pg".to_string(), "backup".into()];
    b.extend(conn(&pg, &erp.name));
    let good = c.json(&b);
    let good_id = good["snapshot_id"]
        .as_str()
        .expect("snapshot_id")
        .to_string();
    let monday = erp.fingerprint();
    // Today's changes, so the partial dump holds data the repository lacks.
    erp.psql(A_DAY);

    let real = on_path("pg_dump");
    let failing = script(
        &c,
        "pg_dump_dies",
        &format!(
            "if [ \"$1\" = --version ]; then exec '{real}' --version; fi\n\
             '{real}' \"$@\" | head -c 200000\n\
             echo 'pg_dump: error: Dumping the contents of table \"llx_facturedet\" failed: \
             server closed the connection unexpectedly' >&2\n\
             exit 7",
            real = real.display()
        ),
    );
    let mut bad = b.clone();
    bad.extend(["--pg-dump".into(), failing.clone()]);
    let run = c.run(&bad);
    run.assert_code(1);
    let first = run.stderr.lines().next().unwrap_or_default();
    for needle in [
        "coffer: pg_dump (",
        failing.as_str(),
        erp.name.as_str(),
        "exit status 7",
        "no snapshot was written",
    ] {
        assert!(
            first.contains(needle),
            "first line should name {needle:?}:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr
            .contains("server closed the connection unexpectedly"),
        "pg_dump's own stderr is passed on:\n{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty() && !run.stderr.contains("panicked"),
        "{}",
        run.stderr
    );

    let ids: Vec<String> = c
        .snapshots()
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        ids,
        std::slice::from_ref(&good_id),
        "the failed dump left a snapshot"
    );
    c.ok(["check", "--read-data"]);
    let into = format!("{}_after", erp.name);
    let mut r = vec![
        "pg".to_string(),
        "restore".into(),
        good_id[..12].to_string(),
        "--into".into(),
        into.clone(),
    ];
    r.extend(conn(&pg, &erp.name));
    c.ok(&r);
    let restored = postgres::Database::adopt(&pg, &into);
    assert_eq!(restored.row_counts(), ERP_ROWS);
    assert_eq!(
        restored.fingerprint(),
        monday,
        "the earlier snapshot restores"
    );
}

/// A pg_dump 9.6 first on PATH (as on a server whose old client package is
/// still installed) is refused before it dumps anything: it logs each call,
/// and only `--version` may have been asked of it.
#[test]
fn a_too_old_pg_dump_is_refused_before_dumping() {
    let Some(pg) = postgres::server() else { return };
    let c = Coffer::init();
    let erp = pg.create_erp_db("pgold");
    let real = on_path("pg_dump");
    let bin = c.path("old-client-bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let calls = c.path("pg_dump_calls.log");
    let old = bin.join("pg_dump");
    std::fs::write(
        &old,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{calls}'\n\
             if [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 9.6.24'; exit 0; fi\n\
             exec '{real}' \"$@\"\n",
            calls = calls.display(),
            real = real.display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let server = pg
        .psql("postgres", "SHOW server_version")
        .trim()
        .to_string();
    let server = server
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let major = server.split('.').next().unwrap_or_default().to_string();

    let mut cmd = c.command();
    cmd.env("PATH", &path)
        .args(["pg", "backup"])
        .args(conn(&pg, &erp.name));
    let run = Run::capture(cmd);
    run.assert_error(
        1,
        &[
            "pg_dump 9.6.24",
            "older than the server",
            &format!("PostgreSQL {server}"),
            &format!("install pg_dump {major} or newer"),
            "--pg-dump PATH",
        ],
    );
    let asked = std::fs::read_to_string(&calls).expect("the wrapper was run");
    assert_eq!(
        asked.trim(),
        "--version",
        "pg_dump was asked to dump: {asked}"
    );
    assert!(c.snapshots().is_empty());

    // The same server's own pg_dump passed with --pg-dump goes through.
    let mut cmd = c.command();
    cmd.env("PATH", &path)
        .args(["--json", "pg", "backup", "--pg-dump"])
        .arg(&real)
        .args(conn(&pg, &erp.name));
    let run = Run::capture(cmd);
    run.assert_code(0);
    assert_eq!(run.json()["server_version"], server.as_str());
    assert_eq!(c.snapshots().len(), 1);
}
