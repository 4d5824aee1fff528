use crate::util::{at, backup_paths, memory_repo, write_file};
use coffer_store::tree::resolve_path;

#[test]
fn fifo_is_skipped_with_a_warning_and_the_snapshot_is_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("spool");
    write_file(&src.join("a.txt"), b"before", 0o644, at(1));
    write_file(&src.join("z.txt"), b"after", 0o644, at(2));
    let status = std::process::Command::new("mkfifo")
        .arg(src.join("m-pipe"))
        .status()
        .unwrap();
    assert!(status.success());

    let repo = memory_repo();
    // Reading the FIFO would block forever: the backup finishing at all is part of the test.
    let report = backup_paths(&repo, &[&src], 10);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("m-pipe"),
        "{:?}",
        report.warnings
    );
    assert!(report.snapshot.partial);
    assert_eq!(report.snapshot.summary.errors, 1);
    assert_eq!(report.snapshot.summary.files_new, 2);
    let root = &report.snapshot.root;
    assert!(resolve_path(&repo, root, "spool/a.txt").unwrap().is_some());
    assert!(resolve_path(&repo, root, "spool/z.txt").unwrap().is_some());
    assert!(resolve_path(&repo, root, "spool/m-pipe").unwrap().is_none());
}
