//! Files and folders the backup may not read (permissions): each is named in a
//! warning and skipped, the snapshot is saved but marked partial (exit 3), and
//! everything readable in it restores byte for byte.
//!
//! Root reads everything, so when the tests run as root (CI does) the backup
//! runs as the unprivileged user `nobody` (uid 65534) through `setpriv`.
#![allow(clippy::unwrap_used)]

use crate::documents::{assert_same_tree, write_documents};
use crate::harness::{Coffer, Run, describe, num};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const NOBODY: &str = "65534";

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `cmd` as it is, or as `nobody` when this process is root. The binary is
/// copied into `dir` first: the build folder may sit where `nobody` cannot go.
fn unprivileged(cmd: Command, as_root: bool, dir: &Path) -> Command {
    if !as_root {
        return cmd;
    }
    let binary = dir.join("coffer");
    std::fs::copy(cmd.get_program(), &binary).unwrap();
    set_mode(&binary, 0o755);
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ])
        .arg(&binary)
        .args(cmd.get_args())
        .stdin(std::process::Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped
}

#[test]
fn unreadable_file_and_folder_are_named_skipped_and_the_snapshot_is_partial() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    let as_root = std::fs::metadata(c.root()).unwrap().uid() == 0;
    let secret = docs.root.join("facture/FA2605-0003/FA2605-0003.pdf");
    let locked = docs.root.join("societe/1/logos");
    if as_root {
        let chowned = Command::new("chown")
            .args(["-R", &format!("{NOBODY}:{NOBODY}")])
            .arg(c.root())
            .status()
            .unwrap();
        assert!(chowned.success(), "chown -R nobody {}", c.root().display());
    }
    set_mode(&secret, 0o000);
    set_mode(&locked, 0o000);

    let mut cmd = c.command();
    cmd.arg("--json").arg("backup").arg(&docs.root);
    let cmd = unprivileged(cmd, as_root, c.root());
    let described = describe(&cmd);
    let run = Run::capture(cmd);
    run.assert_code(3);
    for p in [&secret, &locked] {
        let named = run
            .stderr
            .lines()
            // With --json, warnings are JSON lines (README, "Progress").
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|w| {
                w["message_type"] == "warning"
                    && w["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&*p.to_string_lossy()))
            });
        assert!(
            named,
            "{described}: no warning names {}:\n{}",
            p.display(),
            run.stderr
        );
    }
    let summary = run.json();
    assert_eq!(summary["partial"], true, "{summary}");
    let id = summary["snapshot_id"].as_str().unwrap().to_string();
    let listed = c.snapshots();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["partial"], true);
    assert_eq!(num(&listed[0]["summary"], "errors"), 2, "{}", listed[0]);

    // What could be read is all there: the source without the two skipped entries.
    set_mode(&secret, 0o644);
    set_mode(&locked, 0o755);
    std::fs::remove_file(&secret).unwrap();
    std::fs::remove_dir_all(&locked).unwrap();
    let restored = c.restore(&id[..12], "restored", &[]);
    assert_same_tree(&docs.root, &restored.join("documents"));
    let report = c.json(["check", "--read-data"]);
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .count();
    assert_eq!(errors, 0, "{report}");
}
