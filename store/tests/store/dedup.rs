use crate::util::{at, backup_paths, erp_tree, memory_repo, write_file};
use coffer_store::tree::resolve_path;

#[test]
fn identical_tree_adds_nothing_and_keeps_its_root() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    let files = erp_tree(&src);
    let repo = memory_repo();
    let first = backup_paths(&repo, &[&src], 10);
    assert!(first.snapshot.summary.blobs_added > 0);

    let second = backup_paths(&repo, &[&src], 20);
    let s = &second.snapshot.summary;
    assert_eq!(second.snapshot.parent, Some(first.snapshot_id));
    assert_eq!(s.files_unmodified, files.len() as u64);
    assert_eq!((s.files_new, s.files_changed), (0, 0));
    assert_eq!(s.bytes_read, 0, "unchanged files are not read");
    assert_eq!(s.bytes_total, first.snapshot.summary.bytes_total);
    assert_eq!((s.blobs_added, s.bytes_added), (0, 0));
    assert_eq!(second.write.packs_written, 0);
    assert_eq!(second.snapshot.root, first.snapshot.root);

    // One file's content changes (and so its size and mtime).
    write_file(
        &src.join("documents/facture/FA2605-0001.pdf"),
        b"%PDF-1.7 avoir",
        0o640,
        at(60_000),
    );
    let third = backup_paths(&repo, &[&src], 30);
    let s = &third.snapshot.summary;
    assert_eq!(s.files_changed, 1);
    assert_eq!(s.files_new, 0);
    assert_eq!(s.files_unmodified, files.len() as u64 - 1);
    assert_eq!(s.bytes_read, 14);
    assert_ne!(third.snapshot.root, first.snapshot.root);
}

/// Directory metadata must grow with the change, not with the folder: a
/// folder is stored in content-defined pieces and one new entry rewrites one
/// piece per level.
#[test]
fn one_new_file_in_a_big_folder_stores_little() {
    const FILES: usize = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("ged");
    std::fs::create_dir(&src).unwrap();
    for i in 0..FILES {
        let p = src.join(format!("doc-{i:06}.txt"));
        std::fs::write(&p, format!("document {i}\n")).unwrap();
    }
    let repo = memory_repo();
    let first = backup_paths(&repo, &[&src], 10);
    assert_eq!(first.snapshot.summary.files_new, FILES as u64);

    std::fs::write(src.join("doc-010000a.txt"), "one more\n").unwrap();
    let second = backup_paths(&repo, &[&src], 20);
    let s = &second.snapshot.summary;
    println!(
        "big folder: first run added {} bytes, one new file in {FILES} added {} bytes in {} blobs",
        first.snapshot.summary.bytes_added, s.bytes_added, s.blobs_added
    );
    assert_eq!((s.files_new, s.files_unmodified), (1, FILES as u64));
    // Lookups by name descend through the folder's pieces.
    let root = &second.snapshot.root;
    for (name, present) in [
        ("doc-000000.txt", true),
        ("doc-010000a.txt", true),
        ("doc-019999.txt", true),
        ("doc-020000.txt", false),
        ("a", false),
    ] {
        let found = resolve_path(&repo, root, &format!("ged/{name}")).unwrap();
        assert_eq!(found.is_some(), present, "{name}");
    }
    assert!(
        s.bytes_added < 64 * 1024,
        "one new file cost {} bytes of {}",
        s.bytes_added,
        first.snapshot.summary.bytes_added
    );
}

/// Unchanged folders reuse the parent snapshot's tree without rebuilding it;
/// a change anywhere below (edit, addition, deletion, rename, chmod) must still
/// reach the root. Regression guard for that shortcut.
#[test]
fn changes_deep_below_unchanged_folders_are_all_kept() {
    use crate::util::{assert_same_tree, restore_all};
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    erp_tree(&src);
    let deep = src.join("documents/a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    write_file(&deep.join("keep.txt"), b"keep", 0o644, at(1_000));
    write_file(&deep.join("gone.txt"), b"gone", 0o644, at(1_000));
    write_file(&deep.join("old-name.txt"), b"same bytes", 0o644, at(1_000));
    let repo = memory_repo();
    let first = backup_paths(&repo, &[&src], 10);
    let first_copy = tmp.path().join("first");
    restore_all(&repo, &first, &first_copy);

    let steps: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| std::fs::remove_file(deep.join("gone.txt")).unwrap()),
        Box::new(|| std::fs::rename(deep.join("old-name.txt"), deep.join("new-name.txt")).unwrap()),
        Box::new(|| write_file(&deep.join("added.txt"), b"new", 0o644, at(2_000))),
        Box::new(|| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                deep.join("keep.txt"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap()
        }),
    ];
    let mut previous_root = first.snapshot.root;
    for (i, step) in steps.iter().enumerate() {
        step();
        let report = backup_paths(&repo, &[&src], 20 + i as u64);
        assert_ne!(
            report.snapshot.root, previous_root,
            "step {i} must change the root tree"
        );
        previous_root = report.snapshot.root;
        let out = tmp.path().join(format!("step{i}"));
        restore_all(&repo, &report, &out);
        assert_same_tree(&src, &out.join("erp"));
    }
    // The first snapshot is untouched by all of it.
    let again = tmp.path().join("first-again");
    restore_all(&repo, &first, &again);
    assert_same_tree(&first_copy.join("erp"), &again.join("erp"));
}
