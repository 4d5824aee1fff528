//! Point in time: `cat`, `ls`, `restore`, `dump` `--as-of` a date over
//! back-dated snapshots; `find`, `log` and `diff` across them.

use crate::harness::{Coffer, RepoKind};
use serde_json::Value;
use std::path::Path;

on_each_store!(
    as_of_picks_the_snapshot_of_that_day,
    history_find_log_diff,
    dump_tar_and_zip
);

fn write(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, bytes).expect("write");
}

/// Three nightly snapshots (27, 28, 29 May 2026, 23:00 UTC) of `erp/`:
/// the invoice changes on the 28th, the contract is added on the 29th.
fn three_nights(kind: RepoKind) -> Option<Coffer> {
    let c = Coffer::init_on(kind, &[])?;
    let src = c.path("erp");
    write(
        &src.join("facture/FA2605-0001/FA2605-0001.pdf"),
        b"invoice v1",
    );
    write(
        &src.join("facture/FA2605-0002/FA2605-0002.pdf"),
        b"second invoice",
    );
    let night = |day: &str| {
        c.ok([
            "backup",
            src.to_str().expect("utf-8"),
            "--time",
            &format!("2026-05-{day}T23:00:00Z"),
        ]);
    };
    night("27");
    write(
        &src.join("facture/FA2605-0001/FA2605-0001.pdf"),
        b"invoice v2, corrected",
    );
    night("28");
    write(&src.join("contrats/acme.pdf"), b"contract");
    night("29");
    Some(c)
}

fn as_of_picks_the_snapshot_of_that_day(kind: RepoKind) {
    let Some(c) = three_nights(kind) else { return };
    let pdf = "erp/facture/FA2605-0001/FA2605-0001.pdf";
    let cat = |when: &str| c.ok(["cat", "--as-of", when, "--tz", "UTC", pdf]);
    // A day means its end: the backup of that night is included.
    let r = cat("2026-05-27");
    assert_eq!(r.stdout, b"invoice v1");
    assert!(
        r.stderr.contains("2026-05-27 23:00:00 UTC"),
        "chosen snapshot said: {}",
        r.stderr
    );
    assert_eq!(cat("2026-05-28 22:59").stdout, b"invoice v1");
    assert_eq!(cat("2026-05-28 23:00").stdout, b"invoice v2, corrected");
    assert_eq!(cat("2026-05-29T00:30:00+02:00").stdout, b"invoice v1");
    // In Paris (UTC+2) 23:00 UTC on the 28th is already the 29th.
    assert_eq!(
        c.ok(["cat", "--as-of", "2026-05-28", "--tz", "Europe/Paris", pdf])
            .stdout,
        b"invoice v1"
    );
    c.run(["cat", "--as-of", "2026-05-01", "--tz", "UTC", pdf])
        .assert_error(1, &["no snapshot at or before", "2026-05-01 23:59:59 UTC"]);
    c.run(["cat", "--as-of", "yesterday-ish", pdf])
        .assert_error(1, &["--as-of"]);
    c.run(["cat", "--as-of", "2026-05-28", "--tz", "Mars/Olympus", pdf])
        .assert_error(1, &["time zone", "Mars/Olympus"]);

    // ls: the contract is not there on the 28th, is on the 29th; --json lines.
    let ls = |when: &str| {
        c.ok(["ls", "--as-of", when, "--tz", "UTC", "erp"])
            .stdout_str()
    };
    assert!(!ls("2026-05-28").contains("acme.pdf"));
    assert!(ls("2026-05-29").contains("erp/contrats/acme.pdf"));
    let line = c
        .ok([
            "--json",
            "ls",
            "--as-of",
            "2026-05-29",
            "--tz",
            "UTC",
            "erp/contrats/acme.pdf",
        ])
        .stdout_str();
    let v: Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(v["size"], 8);

    // restore of a subset, with modes and mtimes, into a target.
    let target = c.path("clone");
    let mut args = vec![
        "restore",
        "--as-of",
        "2026-05-28",
        "--tz",
        "UTC",
        "--target",
    ];
    let t = target.to_str().expect("utf-8").to_string();
    args.push(&t);
    args.extend(["--include", "erp/facture/**"]);
    c.ok(&args);
    assert_eq!(
        std::fs::read(target.join(pdf)).expect("restored"),
        b"invoice v2, corrected"
    );
    assert!(!target.join("erp/contrats").exists());
    use std::os::unix::fs::MetadataExt;
    let (orig, got) = (
        std::fs::metadata(c.path(pdf)).expect("source"),
        std::fs::metadata(target.join(pdf)).expect("restored"),
    );
    assert_eq!(orig.mode() & 0o7777, got.mode() & 0o7777);
    assert_eq!(got.mtime(), orig.mtime());
    let t2 = c.path("clone2").to_str().expect("utf-8").to_string();
    c.run([
        "-q",
        "restore",
        "--as-of",
        "2026-05-29",
        "--target",
        &t2,
        "--include",
        "nothing/**",
    ])
    .assert_error(1, &["matches nothing"]);
    // --path: only snapshots that backed up this path count.
    c.run(["cat", "--as-of", "2026-05-29", "--path", "/elsewhere", pdf])
        .assert_error(1, &["no snapshot"]);
}

fn history_find_log_diff(kind: RepoKind) {
    let Some(c) = three_nights(kind) else { return };
    let snaps = c.snapshots();
    assert_eq!(snaps.len(), 3);
    let id = |i: usize| snaps[i]["id"].as_str().expect("id").to_string();

    let log = c.json(["log", "erp/facture/FA2605-0001/FA2605-0001.pdf"]);
    let versions = log.as_array().expect("array");
    assert_eq!(versions.len(), 2, "{log}");
    assert_eq!(versions[0]["size"], 10);
    assert_eq!(versions[0]["first"]["id"], id(0));
    assert_eq!(versions[0]["last"]["id"], id(0));
    assert_eq!(versions[1]["size"], 21);
    assert_eq!(versions[1]["first"]["id"], id(1));
    assert_eq!(versions[1]["last"]["id"], id(2));
    assert_eq!(versions[1]["snapshots"], 2);
    assert_ne!(versions[0]["content_id"], versions[1]["content_id"]);
    let text = c
        .ok(["log", "erp/facture/FA2605-0002/FA2605-0002.pdf"])
        .stdout_str();
    assert_eq!(text.lines().count(), 1, "one unchanged version: {text}");
    c.run(["log", "erp/nothing.pdf"])
        .assert_error(1, &["erp/nothing.pdf", "not found"]);

    let found = c.json(["find", "FA2605-*"]);
    let found = found.as_array().expect("array");
    let paths: Vec<&str> = found
        .iter()
        .map(|m| m["path"].as_str().expect("path"))
        .collect();
    // Two folders and two files; the first invoice has two versions.
    assert_eq!(
        paths,
        [
            "erp/facture/FA2605-0001",
            "erp/facture/FA2605-0001",
            "erp/facture/FA2605-0001/FA2605-0001.pdf",
            "erp/facture/FA2605-0001/FA2605-0001.pdf",
            "erp/facture/FA2605-0002",
            "erp/facture/FA2605-0002/FA2605-0002.pdf",
        ],
        "{found:?}"
    );
    assert_eq!(found[5]["snapshots"], 3);
    let whole = c.json(["find", "erp/contrats/*.pdf"]);
    assert_eq!(whole.as_array().expect("array").len(), 1);
    assert_eq!(whole[0]["first"]["id"], id(2));
    // find up to a date sees only those snapshots.
    let early = c.json(["find", "--as-of", "2026-05-28", "--tz", "UTC", "acme.pdf"]);
    assert_eq!(early.as_array().expect("array").len(), 0);

    let d = c.json(["diff", &id(0), &id(2)]);
    let changes = d["changes"].as_array().expect("changes");
    let summary: Vec<(String, String, i64)> = changes
        .iter()
        .map(|ch| {
            (
                ch["path"].as_str().expect("path").to_string(),
                ch["change"].as_str().expect("change").to_string(),
                ch["size_delta"].as_i64().expect("delta"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("erp/contrats".into(), "added".into(), 0),
            ("erp/contrats/acme.pdf".into(), "added".into(), 8),
            (
                "erp/facture/FA2605-0001/FA2605-0001.pdf".into(),
                "modified".into(),
                11
            ),
        ]
    );
    let none = c.json(["diff", &id(2), &id(2)]);
    assert_eq!(none["changes"].as_array().expect("changes").len(), 0);
    let text = c.ok(["diff", &id(2), &id(0)]).stdout_str();
    assert!(text.contains("- erp/contrats/acme.pdf  -8"), "{text}");
}

fn dump_tar_and_zip(kind: RepoKind) {
    let Some(c) = three_nights(kind) else { return };
    let r = c.ok([
        "dump",
        "--as-of",
        "2026-05-28",
        "--tz",
        "UTC",
        "erp/facture",
        "--archive",
        "tar",
    ]);
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&r.stdout[..]);
    for e in archive.entries().expect("a tar") {
        let mut e = e.expect("an entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        if name == "erp/facture/FA2605-0001/FA2605-0001.pdf" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            assert_eq!(s, "invoice v2, corrected");
        }
        names.push(name);
    }
    assert!(
        names.contains(&"erp/facture/FA2605-0002/FA2605-0002.pdf".to_string()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("contrats")));

    let r = c.ok(["dump", "latest:erp", "--archive", "zip"]);
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(r.stdout)).expect("a zip");
    let mut s = String::new();
    std::io::Read::read_to_string(
        &mut z.by_name("erp/contrats/acme.pdf").expect("entry"),
        &mut s,
    )
    .expect("read");
    assert_eq!(s, "contract");
    c.run(["dump", "latest:erp/none"])
        .assert_error(1, &["erp/none"]);
}
