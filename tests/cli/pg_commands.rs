//! `coffer pg backup / restore / drill` against the real server: recorded
//! metadata, a failing and a too-old pg_dump, skip-if-unchanged, side-by-side
//! and in-place restore, drills.

use crate::harness::Coffer;
use crate::postgres::{self, A_DAY, ERP_ROWS};
use std::os::unix::fs::PermissionsExt;

fn conn(pg: &postgres::Server, db: &str) -> Vec<String> {
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

fn script(c: &Coffer, name: &str, body: &str) -> String {
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
