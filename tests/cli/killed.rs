//! A backup killed with SIGKILL half-way (the OOM killer, a node drain, a
//! CronJob deadline): no snapshot appears, every earlier snapshot still
//! restores byte for byte, `check` finds no error, and the next run completes.
#![allow(clippy::unwrap_used)]

use crate::documents::{assert_same_tree, noise, write_documents};
use crate::harness::Coffer;
use std::time::Duration;

#[test]
fn killed_backups_leave_the_repository_whole() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    let first = c.json(["backup".as_ref(), docs.root.as_os_str()]);
    let first_id = first["snapshot_id"].as_str().unwrap().to_string();

    // A 48 MB stream that a shell writes slowly, so the kill lands mid-stream:
    // after some packs are uploaded, while others are in flight.
    let stream = c.path("dump.bin");
    std::fs::write(&stream, noise(7, 48 << 20)).unwrap();
    let script = format!(
        "for i in 0 1 2 3 4 5 6 7 8 9 10 11; do dd if='{}' bs=4M skip=$i count=1 status=none; sleep 0.1; done",
        stream.display()
    );
    let mut killed_after_uploads = 0;
    for delay_ms in [150u64, 450, 900] {
        let mut cmd = c.command();
        cmd.args([
            "backup",
            "--stdin-from-command",
            "--stdin-name",
            "db/erp.dump",
            "--",
        ])
        .args(["sh", "-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "backup finished before the kill at {delay_ms} ms"
        );

        let snaps = c.snapshots();
        assert_eq!(snaps.len(), 1, "a killed backup left a snapshot: {snaps:?}");
        assert_eq!(snaps[0]["id"], first_id.as_str());
        let report = c.json(["check", "--read-data"]);
        let errors: Vec<_> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect();
        assert!(
            errors.is_empty(),
            "check after a kill at {delay_ms} ms: {errors:?}"
        );
        let text = report["findings"].to_string();
        if text.contains("in no index") {
            killed_after_uploads += 1;
        }
        let restored = c.restore(&first_id[..8], &format!("restore-{delay_ms}"), &[]);
        assert_same_tree(&docs.root, &restored.join(docs.root.file_name().unwrap()));
    }

    assert!(
        killed_after_uploads > 0,
        "no kill landed after a pack was uploaded: the test did not exercise that case"
    );

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
}
