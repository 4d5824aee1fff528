//! Which snapshots a command sees: `--host` and `--tag` filters, `latest`,
//! id prefixes, and `--time` for back-dated imports.

use crate::harness::{Coffer, RepoKind};
use serde_json::Value;

on_each_store!(
    host_and_tag_filters_choose_snapshots,
    time_back_dates_a_snapshot
);

/// Backs up `content` from stdin as `erp.sql` with extra flags; returns the id.
fn backup_stdin(c: &Coffer, content: &str, flags: &[&str]) -> String {
    let mut args = vec!["--json", "backup", "--stdin", "--stdin-name", "erp.sql"];
    args.extend_from_slice(flags);
    let run = c.run_with_stdin(args, content.as_bytes());
    run.assert_code(0);
    run.json()["snapshot_id"]
        .as_str()
        .expect("snapshot_id")
        .to_string()
}

fn ids(c: &Coffer, filter: &[&str]) -> Vec<String> {
    let mut args = vec!["snapshots"];
    args.extend_from_slice(filter);
    match c.json(args) {
        Value::Array(v) => v
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect(),
        other => panic!("not an array: {other}"),
    }
}

fn host_and_tag_filters_choose_snapshots(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let acme = backup_stdin(
        &c,
        "acme prod\n",
        &[
            "--host",
            "erp-a",
            "--tag",
            "env=prod",
            "--tag",
            "tenant=acme",
        ],
    );
    let beta = backup_stdin(&c, "beta prod\n", &["--host", "erp-b", "--tag", "env=prod"]);
    let test = backup_stdin(&c, "acme test\n", &["--host", "erp-a", "--tag", "env=test"]);

    assert_eq!(ids(&c, &[]).len(), 3);
    let mut want = vec![acme.clone(), test.clone()];
    let mut got = ids(&c, &["--host", "erp-a"]);
    want.sort();
    got.sort();
    assert_eq!(got, want, "--host erp-a");
    let mut got = ids(&c, &["--tag", "env=prod"]);
    let mut want = vec![acme.clone(), beta.clone()];
    got.sort();
    want.sort();
    assert_eq!(got, want, "--tag env=prod");
    assert_eq!(
        ids(&c, &["--tag", "env=prod", "--tag", "tenant=acme"]),
        std::slice::from_ref(&acme),
        "all tags must match"
    );
    assert_eq!(
        ids(&c, &["--host", "erp-b", "--tag", "env=test"]),
        Vec::<String>::new()
    );

    // `latest` within a filter is the newest snapshot that passes it.
    let cat = |filter: &[&str]| {
        let mut args = vec!["cat", "latest:erp.sql"];
        args.extend_from_slice(filter);
        c.ok(args).stdout_str()
    };
    assert_eq!(cat(&[]), "acme test\n");
    assert_eq!(cat(&["--host", "erp-b"]), "beta prod\n");
    assert_eq!(cat(&["--tag", "tenant=acme"]), "acme prod\n");
    c.run(["cat", "latest:erp.sql", "--host", "erp-c"])
        .assert_error(1, &["no snapshot matches latest"]);
    assert_eq!(
        c.ok(["cat", &format!("{}:erp.sql", &beta[..8])])
            .stdout_str(),
        "beta prod\n"
    );
}

fn time_back_dates_a_snapshot(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let now = backup_stdin(&c, "tonight\n", &[]);
    let old = backup_stdin(&c, "imported\n", &["--time", "2024-02-29T08:30:00+01:00"]);
    let snaps = c.json(["snapshots"]);
    let list = snaps.as_array().expect("array");
    // Oldest first, by snapshot time rather than by when it was written.
    assert_eq!(list[0]["id"], old.as_str(), "{snaps}");
    assert_eq!(list[1]["id"], now.as_str(), "{snaps}");
    let time: jiff::Timestamp = list[0]["time"]
        .as_str()
        .expect("time")
        .parse()
        .expect("RFC 3339 time");
    let want: jiff::Timestamp = "2024-02-29T07:30:00Z".parse().expect("timestamp");
    assert_eq!(time, want);
    assert_eq!(
        c.ok(["cat", "latest:erp.sql"]).stdout_str(),
        "tonight\n",
        "latest is the newest by time"
    );
    c.run(["backup", "--stdin", "--time", "last tuesday"])
        .assert_error(1, &["last tuesday"]);
}
