//! The `--json` contracts scripts rely on (additive only): field names, types,
//! and nothing but JSON on stdout.

use crate::documents::write_documents;
use crate::harness::{Coffer, RepoKind, num};
use serde_json::Value;
use std::ffi::OsString;

on_each_store!(backup_snapshots_ls_and_check_json_shapes);

fn is_hex_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn backup_snapshots_ls_and_check_json_shapes(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let docs = write_documents(c.root());

    let b = c.json([
        OsString::from("backup"),
        docs.root.clone().into(),
        "--tag".into(),
        "env=prod".into(),
        "--host".into(),
        "erp-01".into(),
    ]);
    assert!(is_hex_id(&b["snapshot_id"]), "snapshot_id: {b}");
    assert_eq!(num(&b, "files_new"), docs.files, "{b}");
    assert!(num(&b, "bytes_added") > 0, "{b}");
    assert_eq!(num(&b, "bytes_read"), docs.bytes, "{b}");
    assert_eq!(b["partial"], false);

    let snaps = c.json(["snapshots"]);
    let list = snaps.as_array().expect("snapshots --json is an array");
    assert_eq!(list.len(), 1);
    let s = &list[0];
    assert_eq!(s["id"], b["snapshot_id"]);
    let short = s["short_id"].as_str().expect("short_id is a string");
    assert!(
        !short.is_empty() && s["id"].as_str().is_some_and(|id| id.starts_with(short)),
        "short_id {short} is not a prefix of id"
    );
    let time = s["time"].as_str().expect("time is a string");
    time.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("time {time:?} is not RFC 3339: {e}"));
    assert_eq!(s["host"], "erp-01");
    assert_eq!(s["tags"], serde_json::json!(["env=prod"]));
    assert_eq!(s["paths"], serde_json::json!([docs.root.to_string_lossy()]));
    assert_eq!(s["summary"]["bytes_added"], b["bytes_added"]);

    // JSON lines: one object per entry.
    let ls = c.ok(["--json", "ls", "latest"]);
    let entries: Vec<Value> = ls
        .stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("ls --json line {l:?}: {e}")))
        .collect();
    let find = |p: &str| {
        entries
            .iter()
            .find(|e| e["path"] == p)
            .unwrap_or_else(|| panic!("ls --json has no {p}"))
    };
    let scan = find("documents/ecm/scans/releve-2026-05.tif");
    assert_eq!(
        (scan["type"].as_str(), scan["size"].as_u64()),
        (Some("file"), Some(1_500_000))
    );
    assert_eq!(find("documents/propale")["type"], "dir");
    assert_eq!(find("documents/facture/latest")["type"], "symlink");
    let files = entries.iter().filter(|e| e["type"] == "file").count() as u64;
    assert_eq!(files, docs.files, "ls --json lists every file");
    assert!(
        entries.iter().all(|e| e["size"].is_u64()),
        "every entry has a size"
    );

    let check = c.json(["check"]);
    let findings = check["findings"]
        .as_array()
        .expect("check --json has findings");
    assert!(
        findings.iter().all(|f| f["severity"] != "error"),
        "a fresh repository has errors: {check}"
    );
}
