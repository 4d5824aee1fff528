//! The headline use: `pg_dump` streamed into a snapshot beside the documents
//! folder, and `coffer cat | pg_restore` bringing back an identical database.

use crate::documents::{Documents, assert_same_tree, noise, write_documents};
use crate::harness::{Coffer, RepoKind, describe, num};
use crate::postgres::{self, A_DAY, Database, ERP_ROWS, Server};
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

const DUMP: &str = "db/erp.dump";

on_each_store!(dump_and_documents_in_one_snapshot_restore_identically);

/// `backup [DOCS] --stdin-from-command --stdin-name db/erp.dump -- pg_dump ... DB`.
fn backup_args(pg: &Server, db: &str, docs: Option<&Path>) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["backup".into()];
    if let Some(d) = docs {
        a.push(d.into());
    }
    a.extend(["--stdin-from-command", "--stdin-name", DUMP, "--"].map(OsString::from));
    a.extend(pg.dump_command(db).into_iter().map(OsString::from));
    a
}

/// `coffer cat SNAPSHOT:db/erp.dump | pg_restore -d DB`: coffer's stdout is
/// pg_restore's stdin, no file in between.
fn restore_dump(c: &Coffer, pg: &Server, snapshot: &str, into: &Database<'_>) {
    let mut cat = c.command();
    cat.arg("cat")
        .arg(format!("{snapshot}:{DUMP}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cat_line = describe(&cat);
    let mut cat = cat.spawn().expect("start coffer cat");
    let dump = cat.stdout.take().expect("stdout is piped");
    let mut pg_restore = Command::new("pg_restore");
    pg_restore
        .args(pg.conn_args())
        .args(["--exit-on-error", "--no-owner", "-d", &into.name])
        .stdin(Stdio::from(dump));
    let restored = pg_restore.output().expect("run pg_restore");
    let cat = cat.wait_with_output().expect("wait for coffer cat");
    assert!(
        cat.status.success(),
        "{cat_line}: {}\n{}",
        cat.status,
        String::from_utf8_lossy(&cat.stderr)
    );
    assert!(
        restored.status.success(),
        "pg_restore of {snapshot}:{DUMP} into {}: {}\n{}",
        into.name,
        restored.status,
        String::from_utf8_lossy(&restored.stderr)
    );
}

/// A clone of `snapshot`'s dump, restored into a fresh database.
fn clone_of<'a>(c: &Coffer, pg: &'a Server, snapshot: &str, tag: &str) -> Database<'a> {
    let clone = pg.create_db(tag);
    restore_dump(c, pg, snapshot, &clone);
    clone
}

fn dump_and_documents_in_one_snapshot_restore_identically(kind: RepoKind) {
    let Some(pg) = postgres::server() else { return };
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let erp = pg.create_erp_db("orig");
    assert_eq!(erp.row_counts(), ERP_ROWS);
    let docs = write_documents(c.root());

    let summary = c.json(backup_args(&pg, &erp.name, Some(&docs.root)));
    assert_eq!(
        num(&summary, "files_new"),
        docs.files + 1,
        "documents and the dump: {summary}"
    );
    let snaps = c.snapshots();
    assert_eq!(snaps.len(), 1);
    let paths = snaps[0]["paths"].to_string();
    assert!(
        paths.contains(DUMP) && paths.contains("documents"),
        "paths: {paths}"
    );

    let clone = clone_of(&c, &pg, "latest", "clone");
    assert_eq!(clone.row_counts(), ERP_ROWS);
    assert_eq!(
        clone.fingerprint(),
        erp.fingerprint(),
        "restored database differs"
    );

    let target = c.restore("latest", "restored", &["--include", "documents/**"]);
    assert_same_tree(&docs.root, &target.join("documents"));
    assert!(
        !target.join("db").exists(),
        "--include 'documents/**' restored the dump too"
    );
}

#[test]
fn a_day_of_changes_adds_little_and_each_snapshot_restores_its_day() {
    let Some(pg) = postgres::server() else { return };
    let erp = pg.create_erp_db("day");
    // The test database's dump is ~2.5 MB, a few hundred times smaller than a
    // real ERP's, so at the default 64 KiB each scattered change costs ~2.5% of
    // the whole dump; 16 KiB chunks keep the ratio of change sites to chunks
    // nearer a real night's. Measured on this data: 64 KiB stores ~31% again,
    // 16 KiB ~11%. (Were 1% of rows updated uniformly at random instead of
    // this day's pattern, nearly every 64 KiB chunk would change, and half of
    // even 4 KiB ones.)
    let c = Coffer::init_with(&["--chunk-avg-kib", "16"]);
    let first = c.json(backup_args(&pg, &erp.name, None));
    let monday = erp.fingerprint();

    erp.psql(A_DAY);
    let tuesday = erp.fingerprint();
    assert_ne!(monday, tuesday, "the day changed nothing");
    let second = c.json(backup_args(&pg, &erp.name, None));

    let (full, day) = (num(&first, "bytes_added"), num(&second, "bytes_added"));
    assert!(day > 0, "the changes were not stored: {second}");
    assert!(
        day * 100 < full * 30,
        "a day of changes added {day} bytes, {}% of the first backup's {full}",
        day * 100 / full
    );

    let first_id = first["snapshot_id"].as_str().expect("snapshot_id");
    let tue = clone_of(&c, &pg, "latest", "tue");
    assert_eq!(tue.row_counts(), [600, 4040, 12120]);
    assert_eq!(
        tue.fingerprint(),
        tuesday,
        "second snapshot does not restore the changed database"
    );
    let mon = clone_of(&c, &pg, &first_id[..12], "mon");
    assert_eq!(
        mon.fingerprint(),
        monday,
        "first snapshot no longer restores the first day"
    );
}

#[test]
fn a_failing_pg_dump_writes_no_snapshot_and_spoils_none() {
    let Some(pg) = postgres::server() else { return };
    let erp = pg.create_erp_db("fail");
    let c = Coffer::init();
    let docs: Documents = write_documents(c.root());
    let good = c.json(backup_args(&pg, &erp.name, Some(&docs.root)));
    let good_id = good["snapshot_id"]
        .as_str()
        .expect("snapshot_id")
        .to_string();

    // A new document, so the failing run does upload data before the dump dies.
    let extra = docs.root.join("facture/FA2605-0013.pdf");
    std::fs::write(&extra, noise(13, 300_000)).expect("write document");
    let missing = format!("{}_missing", erp.name);
    let run = c.run(backup_args(&pg, &missing, Some(&docs.root)));
    run.assert_code(1);
    for needle in [
        "pg_dump",
        "does not exist",
        missing.as_str(),
        "no snapshot was written",
    ] {
        assert!(
            run.stderr.contains(needle),
            "stderr should mention {needle:?}:\n{}",
            run.stderr
        );
    }
    std::fs::remove_file(&extra).expect("remove document");

    let ids: Vec<String> = c
        .snapshots()
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        ids,
        std::slice::from_ref(&good_id),
        "the failed backup left a snapshot"
    );
    c.ok(["check"]);
    let clone = clone_of(&c, &pg, &good_id[..12], "after");
    assert_eq!(clone.fingerprint(), erp.fingerprint());
    let target = c.restore(&good_id[..12], "restored", &[]);
    assert_same_tree(&docs.root, &target.join("documents"));
}
