//! Passwords: `key list`, `key add`, `key remove`, `key passwd`. Changing
//! passwords rewrites key files only; the data restores under the new password
//! and the old one stops working.
#![allow(clippy::unwrap_used)]

use crate::documents::{assert_same_tree, write_documents};
use crate::harness::{Coffer, Run};
use std::os::unix::fs::PermissionsExt;

const SECOND: &str = "a second password for the accountant";
const THIRD: &str = "the new password after rotation";

/// `coffer ARGS` opened with `password`.
fn with_password(c: &Coffer, password: &str, args: &[&str]) -> Run {
    let mut cmd = c.command();
    cmd.env("COFFER_PASSWORD", password).args(args);
    Run::capture(cmd)
}

/// `coffer ARGS` with `new` as the new password.
fn with_new_password(c: &Coffer, new: &str, args: &[&str]) -> Run {
    let mut cmd = c.command();
    cmd.env("COFFER_NEW_PASSWORD", new).args(args);
    Run::capture(cmd)
}

fn keys(c: &Coffer, password: &str) -> Vec<serde_json::Value> {
    let run = with_password(c, password, &["--json", "key", "list"]);
    run.assert_code(0);
    run.json().as_array().unwrap().clone()
}

fn key_file_names(c: &Coffer) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(c.repo().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn passwords_are_added_removed_and_changed_without_touching_data() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    c.ok(["backup".as_ref(), docs.root.as_os_str()]);
    let data_before = std::fs::read_dir(c.repo().join("data")).unwrap().count();

    let first = keys(&c, crate::harness::PASSWORD);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["current"], true);
    assert_eq!(first[0]["kdf"]["algorithm"], "argon2id");
    let first_id = first[0]["id"].as_str().unwrap().to_string();

    // A second password opens the same repository; the first still does.
    let added = with_new_password(&c, SECOND, &["--json", "key", "add"]);
    added.assert_code(0);
    let second_id = added.json()["id"].as_str().unwrap().to_string();
    let listed = keys(&c, SECOND);
    assert_eq!(listed.len(), 2);
    let current: Vec<_> = listed.iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], second_id.as_str());
    with_password(&c, crate::harness::PASSWORD, &["snapshots"]).assert_code(0);

    // The key a password opened cannot be removed with that password.
    with_password(&c, SECOND, &["key", "remove", &second_id[..8]])
        .assert_error(1, &[&second_id[..8], "this password opened"]);
    with_password(&c, SECOND, &["key", "remove", "zz"]).assert_error(1, &["key id"]);
    // With the other one it can: the second password stops working (exit 12).
    c.ok(["key", "remove", &second_id[..8]]);
    with_password(&c, SECOND, &["snapshots"]).assert_error(12, &["wrong password"]);
    assert_eq!(keys(&c, crate::harness::PASSWORD).len(), 1);

    // Rotation: the new password works, the old one no longer does.
    let changed = with_new_password(&c, THIRD, &["--json", "key", "passwd"]);
    changed.assert_code(0);
    let third_id = changed.json()["id"].as_str().unwrap().to_string();
    with_password(&c, crate::harness::PASSWORD, &["snapshots"])
        .assert_error(12, &["wrong password"]);
    let after = keys(&c, THIRD);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], third_id.as_str());
    assert_ne!(third_id, first_id);

    // Nothing but key files changed, and the data restores under the new password.
    assert_eq!(
        std::fs::read_dir(c.repo().join("data")).unwrap().count(),
        data_before
    );
    let target = c.path("restored");
    with_password(
        &c,
        THIRD,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    )
    .assert_code(0);
    assert_same_tree(&docs.root, &target.join("documents"));

    // Key files are readable by their owner only.
    for path in key_file_names(&c) {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
    }
}

#[test]
fn a_new_password_must_be_given_and_not_empty() {
    let c = Coffer::init();
    let mut cmd = c.command();
    cmd.args(["key", "add"]);
    Run::capture(cmd).assert_error(1, &["no new password given", "COFFER_NEW_PASSWORD"]);
    with_new_password(&c, "", &["key", "add"]).assert_error(1, &["COFFER_NEW_PASSWORD is empty"]);
    assert_eq!(keys(&c, crate::harness::PASSWORD).len(), 1);
}
