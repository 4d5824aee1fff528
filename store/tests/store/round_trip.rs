use crate::util::{assert_same_tree, backup_paths, erp_tree, memory_repo, restore_all};
use coffer_store::format::tree::{Content, NodeKind};
use coffer_store::progress::NoProgress;
use coffer_store::restore::write_content;
use coffer_store::tree::resolve_path;

#[test]
fn tree_restores_bytes_modes_mtimes_and_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    let files = erp_tree(&src);
    let repo = memory_repo();
    let report = backup_paths(&repo, &[&src], 10);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(!report.snapshot.partial);
    assert_eq!(report.snapshot.summary.files_new, files.len() as u64);
    assert_eq!(report.snapshot.summary.errors, 0);

    let target = tmp.path().join("restored");
    let restored = restore_all(&repo, &report, &target);
    assert_eq!(restored.files, files.len() as u64);
    assert_eq!(restored.symlinks, 1);
    assert!(restored.skipped.is_empty(), "{:?}", restored.skipped);
    // Sources are stored under their base name at the snapshot root.
    assert_same_tree(&src, &target.join("erp"));
}

#[test]
fn write_content_streams_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    erp_tree(&src);
    let repo = memory_repo();
    let report = backup_paths(&repo, &[&src], 10);
    // Whether a list is inline depends on its chunk count: `None` where that
    // count sits near the inline limit (it varies with the repository's seed).
    for (rel, list) in [
        ("documents/exports/grand-livre-2026.csv", Some(true)),
        ("documents/scans/2026/scan-0001.tiff", None),
        ("documents/facture/FA2605-0001.pdf", Some(false)),
        ("empty.txt", Some(false)),
    ] {
        let node = resolve_path(&repo, &report.snapshot.root, &format!("erp/{rel}"))
            .unwrap()
            .unwrap_or_else(|| panic!("{rel} not in the snapshot"));
        let NodeKind::File { content } = &node.kind else {
            panic!("{rel} is not a file: {:?}", node.kind);
        };
        // 5 MB is hundreds of chunks: far more than fit inline in the node.
        if let Some(list) = list {
            assert_eq!(matches!(content, Content::List(_)), list, "{rel}");
        }
        let mut out = Vec::new();
        let n = write_content(&repo, content, &mut out, &NoProgress).unwrap();
        let want = std::fs::read(src.join(rel)).unwrap();
        assert_eq!(n, want.len() as u64);
        assert!(out == want, "{rel}: content differs");
    }
}
