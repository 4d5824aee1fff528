//! Mistakes an operator makes: each fails with one clear line and the
//! documented exit code, and leaves what is stored restorable.

use crate::documents::{Documents, assert_same_tree, write_documents};
use crate::harness::{Coffer, PASSWORD, Run, num};
use std::ffi::OsString;
use std::sync::atomic::{AtomicU32, Ordering};

/// A repository with one snapshot of a documents folder.
struct Stored {
    c: Coffer,
    docs: Documents,
    snapshot: String,
}

fn stored() -> Stored {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    let summary = c.json([OsString::from("backup"), docs.root.clone().into()]);
    let snapshot = summary["snapshot_id"]
        .as_str()
        .expect("snapshot_id")
        .to_string();
    Stored { c, docs, snapshot }
}

impl Stored {
    /// The snapshot is still the only one and restores byte for byte.
    fn assert_intact(&self) {
        let ids: Vec<String> = self
            .c
            .snapshots()
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect();
        assert_eq!(
            ids,
            std::slice::from_ref(&self.snapshot),
            "snapshots changed"
        );
        self.assert_restores(&self.snapshot);
    }

    fn assert_restores(&self, snapshot: &str) {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("restore-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let target = self.c.restore(&snapshot[..12], &name, &[]);
        assert_same_tree(&self.docs.root, &target.join("documents"));
    }
}

#[test]
fn missing_repository_folder_exits_10() {
    let s = stored();
    let missing = s.c.path("no-such-repo");
    let mut cmd = s.c.command_at(&missing, &s.c.cache());
    cmd.arg("snapshots");
    Run::capture(cmd).assert_error(10, &["no repository at", &missing.to_string_lossy()]);
    assert!(
        !missing.exists(),
        "looking for a repository created its folder"
    );
    s.assert_intact();
}

#[test]
fn folder_that_is_not_a_repository_exits_10() {
    let s = stored();
    // An easy slip: pointing --repo at the folder being backed up.
    let mut cmd = s.c.command_at(&s.docs.root, &s.c.cache());
    cmd.args(["ls", "latest"]);
    Run::capture(cmd).assert_error(
        10,
        &[&s.docs.root.to_string_lossy(), "is not a coffer repository"],
    );
    s.assert_intact();
}

#[test]
fn wrong_password_exits_12() {
    let s = stored();
    let mut cmd = s.c.command();
    cmd.env("COFFER_PASSWORD", "not the password")
        .args(["snapshots"]);
    Run::capture(cmd).assert_error(12, &["wrong password"]);
    s.assert_intact();
}

#[test]
fn no_password_exits_1_and_says_where_to_give_one() {
    let s = stored();
    let mut cmd = s.c.command();
    cmd.env_remove("COFFER_PASSWORD").args(["snapshots"]);
    Run::capture(cmd).assert_error(1, &["no password", "COFFER_PASSWORD"]);
    s.assert_intact();
}

#[test]
fn unsupported_format_version_is_named() {
    let s = stored();
    let config = s.c.repo().join("config");
    let original = std::fs::read(&config).expect("read config");
    let mut patched = original.clone();
    patched[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&config, &patched).expect("patch config");
    s.c.run(["snapshots"])
        .assert_error(1, &["version 2 is not supported"]);
    s.c.run(["ls", "latest"])
        .assert_error(1, &["version 2 is not supported"]);
    assert_eq!(
        std::fs::read(&config).expect("read config"),
        patched,
        "config was rewritten"
    );
    std::fs::write(&config, &original).expect("restore config");
    s.assert_intact();
}

#[test]
fn nonexistent_source_path_is_named_and_nothing_is_stored() {
    let s = stored();
    let missing = s.c.path("documents-2026");
    s.c.run([
        OsString::from("backup"),
        s.docs.root.clone().into(),
        missing.clone().into(),
    ])
    .assert_error(
        1,
        &[&missing.to_string_lossy(), "No such file or directory"],
    );
    s.assert_intact();
}

#[test]
fn stdin_from_command_without_a_command_is_refused() {
    let s = stored();
    s.c.run([
        "backup",
        "--stdin-from-command",
        "--stdin-name",
        "db/erp.dump",
    ])
    .assert_error(1, &["--stdin-from-command", "command"]);
    s.c.run([
        OsString::from("backup"),
        s.docs.root.clone().into(),
        "--stdin-from-command".into(),
    ])
    .assert_error(1, &["--stdin-from-command", "command"]);
    s.assert_intact();
}

#[test]
fn special_file_is_skipped_with_a_warning_and_a_partial_snapshot() {
    let s = stored();
    let fifo = s.docs.root.join("admin/temp/dolibarr.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");

    let run = s.c.run([
        OsString::from("--json"),
        "backup".into(),
        s.docs.root.clone().into(),
    ]);
    run.assert_code(3);
    assert!(
        run.stderr.contains(&*fifo.to_string_lossy()) && run.stderr.contains("warning"),
        "stderr should warn about {}:\n{}",
        fifo.display(),
        run.stderr
    );
    let summary = run.json();
    assert_eq!(summary["partial"], true, "{summary}");
    let partial = summary["snapshot_id"]
        .as_str()
        .expect("snapshot_id")
        .to_string();

    let snaps = s.c.snapshots();
    assert_eq!(snaps.len(), 2);
    let listed = snaps
        .iter()
        .find(|x| x["id"] == partial.as_str())
        .expect("partial snapshot listed");
    assert_eq!(listed["partial"], true, "{listed}");
    assert_eq!(num(&listed["summary"], "errors"), 1, "{listed}");
    let first = snaps
        .iter()
        .find(|x| x["id"] == s.snapshot.as_str())
        .expect("first snapshot listed");
    assert_eq!(first["partial"], false);

    // Everything else of the partial snapshot is there; the first is untouched.
    std::fs::remove_file(&fifo).expect("remove fifo");
    s.assert_restores(&partial);
    s.assert_restores(&s.snapshot);
}

#[test]
fn password_from_a_file_or_a_command_and_a_failing_command() {
    let s = stored();
    let file = s.c.path("password.txt");
    std::fs::write(&file, format!("{}\n", PASSWORD)).expect("write password file");
    let mut cmd = s.c.command();
    cmd.env_remove("COFFER_PASSWORD")
        .arg("--password-file")
        .arg(&file)
        .arg("snapshots");
    Run::capture(cmd).assert_code(0);

    let mut cmd = s.c.command();
    cmd.env_remove("COFFER_PASSWORD")
        .args(["--password-command", &format!("echo '{}'", PASSWORD)])
        .arg("snapshots");
    Run::capture(cmd).assert_code(0);

    let mut cmd = s.c.command();
    cmd.env_remove("COFFER_PASSWORD")
        .args(["--password-command", "exit 7", "snapshots"]);
    Run::capture(cmd).assert_error(1, &["--password-command failed"]);
    s.assert_intact();
}
