//! Repositories in a bucket as well as in a folder: several hosts backing up
//! at once, a new machine that has only the bucket, its credentials and the
//! password, and the mistakes people make with buckets and endpoints.

use crate::documents::{assert_same_tree, noise, write_documents};
use crate::harness::{Coffer, RepoKind, Run, unique};
use std::path::Path;
use std::process::Stdio;

on_each_store!(
    four_hosts_back_up_at_once_and_every_snapshot_is_whole,
    a_new_machine_with_only_the_location_and_password_restores,
);

/// `check --read-data --json` reports no error.
fn assert_check_clean(c: &Coffer) {
    let report = c.json(["check", "--read-data"]);
    let errors: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "check: {errors:?}");
}

fn four_hosts_back_up_at_once_and_every_snapshot_is_whole(kind: RepoKind) {
    // 1 MiB packs: each writer uploads several while the others do too.
    let Some(c) = Coffer::init_on(kind, &["--pack-size", "1"]) else {
        return;
    };
    let docs = write_documents(c.root());
    let writers = 4;
    let mut children = Vec::new();
    for i in 0..writers {
        let own = c.path(&format!("tenant-{i}.dump"));
        std::fs::write(&own, noise(1_000 + i, 3 << 20)).expect("write the tenant's dump");
        // Each host has its own cache, as separate machines would.
        let mut cmd = c.command_with_cache(&c.path(&format!("cache-{i}")));
        cmd.arg("--json")
            .args(["backup", "--host", &format!("erp-{i}")])
            .arg(&docs.root)
            .arg(&own)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        children.push((own, cmd.spawn().expect("start a backup")));
    }
    let mut ids = Vec::new();
    for (own, child) in children {
        let out = child.wait_with_output().expect("wait for a backup");
        assert!(
            out.status.success(),
            "a concurrent backup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("one JSON summary");
        ids.push((
            own,
            summary["snapshot_id"].as_str().expect("id").to_string(),
        ));
    }

    let snaps = c.snapshots();
    assert_eq!(
        snaps.len(),
        usize::try_from(writers).expect("small"),
        "{snaps:?}"
    );
    let mut hosts: Vec<&str> = snaps.iter().filter_map(|s| s["host"].as_str()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["erp-0", "erp-1", "erp-2", "erp-3"]);
    assert_check_clean(&c);
    for (own, id) in &ids {
        let name = own.file_name().expect("a name").to_string_lossy();
        let out = c.ok(["cat", &format!("{}:{name}", &id[..12])]);
        assert!(
            out.stdout == std::fs::read(own).expect("read the dump"),
            "{name} differs in snapshot {id}"
        );
    }
    let restored = c.restore(&ids[3].1[..12], "restored", &["--include", "documents/**"]);
    assert_same_tree(&docs.root, &restored.join("documents"));
}

fn a_new_machine_with_only_the_location_and_password_restores(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let docs = write_documents(c.root());
    let dump = noise(77, 2 << 20);
    let mut cmd = c.command();
    cmd.arg("--json")
        .args(["backup", "--stdin", "--stdin-name", "db/erp.dump"])
        .arg(&docs.root);
    let first = Run::capture_with_stdin(cmd, &dump);
    first.assert_code(0);
    let id = first.json()["snapshot_id"]
        .as_str()
        .expect("id")
        .to_string();

    // The machine burned down: a new one has an empty cache and nothing else.
    let cache = c.path("new-machine/cache");
    let on_new = |args: &[&str]| {
        let mut cmd = c.command_with_cache(&cache);
        cmd.args(args);
        let run = Run::capture(cmd);
        run.assert_code(0);
        run
    };
    let listed: serde_json::Value = on_new(&["--json", "snapshots"]).json();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    let ls = on_new(&["ls", "latest"]).stdout_str();
    assert!(ls.contains("db") && ls.contains("documents"), "{ls}");
    assert!(on_new(&["cat", "latest:db/erp.dump"]).stdout == dump);
    let target = c.path("new-machine/restore");
    on_new(&["restore", "latest", "--target", &target.to_string_lossy()]);
    assert_same_tree(&docs.root, &target.join("documents"));
    assert!(
        std::fs::read_dir(&cache).is_ok_and(|mut d| d.next().is_some()),
        "the new machine's cache was not rebuilt"
    );
}

/// A plain `coffer` command with no repository flags but the password and a cache.
fn bare(c: &Coffer, repo: &str) -> std::process::Command {
    c.command_at(Path::new(repo), &c.cache())
}

#[test]
fn bucket_and_endpoint_mistakes_get_one_clear_line() {
    let Some(c) = Coffer::empty_on(RepoKind::S3) else {
        return;
    };
    let endpoint = std::env::var("COFFER_TEST_S3_ENDPOINT").expect("set when S3 is");
    let missing_bucket = format!("s3://coffer-no-such-bucket-{:x}/erp", unique());
    for cmd in ["snapshots", "init"] {
        let mut run = bare(&c, &missing_bucket);
        run.args(["--s3-endpoint", &endpoint, cmd]);
        Run::capture(run).assert_error(10, &[&missing_bucket, "does not exist"]);
    }

    // Nothing listens on port 9: every attempt is refused, two are made.
    let mut run = bare(&c, c.location());
    run.args([
        "--s3-endpoint",
        "http://127.0.0.1:9",
        "--retries",
        "1",
        "snapshots",
    ]);
    Run::capture(run).assert_error(
        1,
        &["reading config failed after 2 attempts", "127.0.0.1:9"],
    );

    let mut run = c.command();
    run.arg("snapshots");
    Run::capture(run).assert_error(10, &["no repository at", c.location()]);

    let mut run = bare(&c, "ftp://backup.example/erp");
    run.arg("snapshots");
    Run::capture(run).assert_error(1, &["ftp://", "s3://BUCKET/PREFIX"]);
}

#[test]
fn the_endpoint_can_come_from_the_environment_or_restics_url_form() {
    let Some(c) = Coffer::empty_on(RepoKind::S3) else {
        return;
    };
    let endpoint = std::env::var("COFFER_TEST_S3_ENDPOINT").expect("set when S3 is");
    let mut init = bare(&c, c.location());
    init.env("AWS_ENDPOINT", &endpoint).arg("init");
    Run::capture(init).assert_code(0);

    let mut backup = bare(&c, c.location());
    backup.env("AWS_ENDPOINT", &endpoint).args([
        "--json",
        "backup",
        "--stdin",
        "--stdin-name",
        "notes.txt",
    ]);
    let run = Run::capture_with_stdin(backup, b"facture FA2605-0001 payee\n");
    run.assert_code(0);
    let id = run.json()["snapshot_id"].as_str().expect("id").to_string();

    // restic's spelling: s3:http://host:port/bucket/prefix.
    let restic_form = c
        .location()
        .replacen("s3://", &format!("s3:{endpoint}/"), 1);
    let mut cat = bare(&c, &restic_form);
    cat.args(["cat", &format!("{}:notes.txt", &id[..8])]);
    let run = Run::capture(cat);
    run.assert_code(0);
    assert_eq!(run.stdout, b"facture FA2605-0001 payee\n");
}
