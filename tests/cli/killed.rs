//! A backup killed with SIGKILL half-way (the OOM killer, a node drain, a
//! CronJob deadline): no snapshot appears, every earlier snapshot still
//! restores byte for byte, `check` finds no error, and the next run completes.
//!
//! The kill points are chosen by what the repository shows, not by timing, so
//! the test means the same on a fast machine and a loaded CI runner: once
//! while the producer has written nothing, once after packs of the killed
//! run have reached the repository but before any index names them.
#![allow(clippy::unwrap_used)]

use crate::documents::{assert_same_tree, noise, write_documents};
use crate::harness::{Coffer, RepoKind};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

on_each_store!(killed_backups_leave_the_repository_whole);

/// Complete packs in the repository: objects under `data/` named by 64 hex
/// digits. An upload in flight is not listed (a folder's temporary file has
/// another name; a bucket shows an object only once its PUT completed).
fn packs(c: &Coffer) -> usize {
    c.objects("data")
        .iter()
        .filter(|(name, _)| {
            let name = name.rsplit('/').next().unwrap_or_default();
            name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .count()
}

/// SIGKILL to coffer and its producer at once, as a pod's deadline does.
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let status = std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {group} failed");
    let status = child.wait().unwrap();
    assert!(!status.success(), "backup exited cleanly despite SIGKILL");
}

fn killed_backups_leave_the_repository_whole(kind: RepoKind) {
    // 1 MiB packs: a few MiB of stream uploads several before the end.
    let Some(c) = Coffer::init_on(kind, &["--pack-size", "1"]) else {
        return;
    };
    let docs = write_documents(c.root());
    let first = c.json(["backup".as_ref(), docs.root.as_os_str()]);
    let first_id = first["snapshot_id"].as_str().unwrap().to_string();
    let packs_before = packs(&c);

    let stream = c.path("dump.bin");
    std::fs::write(&stream, noise(7, 12 << 20)).unwrap();
    let stalls_first = "sleep 30; cat \"$0\"".to_string();
    // 8 MiB, then a stall: coffer has sealed and uploaded packs and waits for more.
    let stalls_midway = "head -c 8388608 \"$0\"; sleep 30; cat \"$0\"".to_string();

    for (case, script) in [
        ("before any data", stalls_first),
        ("after packs were uploaded", stalls_midway),
    ] {
        let mut cmd = c.command();
        cmd.args([
            "backup",
            "--stdin-from-command",
            "--stdin-name",
            "db/erp.dump",
            "--",
        ])
        .args(["sh", "-c", &script])
        .arg(&stream)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
        let mut child = cmd.spawn().unwrap();
        if case == "before any data" {
            std::thread::sleep(Duration::from_millis(300));
        } else {
            let deadline = Instant::now() + Duration::from_secs(60);
            while packs(&c) < packs_before + 2 {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "backup ended before the kill ({case})"
                );
                assert!(
                    Instant::now() < deadline,
                    "no pack was uploaded within 60 s ({case})"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        kill_group(&mut child);

        let snaps = c.snapshots();
        assert_eq!(
            snaps.len(),
            1,
            "a killed backup left a snapshot ({case}): {snaps:?}"
        );
        assert_eq!(snaps[0]["id"], first_id.as_str());
        let report = c.json(["check", "--read-data"]);
        let findings = report["findings"].as_array().unwrap();
        let errors: Vec<_> = findings
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect();
        assert!(errors.is_empty(), "check after a kill {case}: {errors:?}");
        // One finding counts them: "N pack(s) in no index (...)".
        let orphans: usize = findings
            .iter()
            .filter_map(|f| f["message"].as_str())
            .filter(|m| m.contains("in no index"))
            .map(|m| m.split(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        let new_packs = packs(&c) - packs_before;
        assert_eq!(
            orphans, new_packs,
            "check should report each pack of the killed run as in no index ({case}): {findings:?}"
        );
        let restored = c.restore(&first_id[..8], &format!("restore-{}", case.len()), &[]);
        assert_same_tree(&docs.root, &restored.join(docs.root.file_name().unwrap()));
    }

    // The next night runs to the end and reads back what it stored.
    let done = c.json([
        "backup".as_ref(),
        "--stdin-from-command".as_ref(),
        "--stdin-name".as_ref(),
        "db/erp.dump".as_ref(),
        "--".as_ref(),
        "cat".as_ref(),
        stream.as_os_str(),
    ]);
    assert_eq!(done["partial"], false);
    let out = c.ok(["cat", "latest:db/erp.dump"]);
    assert!(
        out.stdout == std::fs::read(&stream).unwrap(),
        "stream differs after the kills"
    );
    let report = c.json(["check", "--read-data"]);
    let errors: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(
        errors.is_empty(),
        "check after the completed run: {errors:?}"
    );
}
