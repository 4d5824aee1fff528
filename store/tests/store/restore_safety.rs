use crate::util::{at, backup_paths, memory_repo, restore_all, write_file};
use coffer_store::progress::NoProgress;
use coffer_store::restore::{RestoreOptions, restore};
use globset::{Glob, GlobSetBuilder};
use std::path::Path;

/// `documents/` with invoices, orders and a loose file.
fn documents(root: &Path) -> std::path::PathBuf {
    let docs = root.join("documents");
    for (rel, content) in [
        ("facture/FA2605-0001.pdf", "%PDF facture 1"),
        ("facture/2026/FA2605-0002.pdf", "%PDF facture 2"),
        ("commande/CO2605-0001.pdf", "%PDF commande"),
        ("lisezmoi.txt", "documents de l'ERP"),
    ] {
        write_file(&docs.join(rel), content.as_bytes(), 0o644, at(100));
    }
    std::fs::create_dir(docs.join("propal")).unwrap();
    docs
}

/// Every path under `root`, relative, sorted.
fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
            if e.file_type().unwrap().is_dir() {
                todo.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn include_restores_only_matching_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = documents(tmp.path());
    let repo = memory_repo();
    let report = backup_paths(&repo, &[&docs], 10);
    let mut globs = GlobSetBuilder::new();
    globs.add(Glob::new("documents/facture/**").unwrap());
    let globs = globs.build().unwrap();
    let target = tmp.path().join("restored");
    let restored = restore(
        &repo,
        &report.snapshot.root,
        &target,
        &RestoreOptions {
            include: Some(&globs),
            subpath: "",
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(restored.files, 2);
    assert_eq!(
        listing(&target),
        [
            "documents",
            "documents/facture",
            "documents/facture/2026",
            "documents/facture/2026/FA2605-0002.pdf",
            "documents/facture/FA2605-0001.pdf",
        ]
    );
    assert_eq!(
        std::fs::read(target.join("documents/facture/2026/FA2605-0002.pdf")).unwrap(),
        b"%PDF facture 2"
    );
}

/// A symlink already in the target, where restore puts a folder or a file,
/// must be replaced, never followed out of the target.
#[test]
fn restore_does_not_write_through_symlinks_in_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = documents(tmp.path());
    let repo = memory_repo();
    let report = backup_paths(&repo, &[&docs], 10);

    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("passwd"), "root:x:0:0").unwrap();
    let target = tmp.path().join("restored");
    std::fs::create_dir_all(target.join("documents")).unwrap();
    // Where a folder goes ...
    std::os::unix::fs::symlink(&outside, target.join("documents/facture")).unwrap();
    // ... and where a file goes.
    std::os::unix::fs::symlink(
        outside.join("passwd"),
        target.join("documents/lisezmoi.txt"),
    )
    .unwrap();

    restore_all(&repo, &report, &target);
    assert_eq!(listing(&outside), ["passwd"]);
    assert_eq!(
        std::fs::read(outside.join("passwd")).unwrap(),
        b"root:x:0:0"
    );
    let facture = std::fs::symlink_metadata(target.join("documents/facture")).unwrap();
    assert!(facture.is_dir(), "{facture:?}");
    let readme = std::fs::symlink_metadata(target.join("documents/lisezmoi.txt")).unwrap();
    assert!(readme.is_file(), "{readme:?}");
    assert_eq!(
        std::fs::read(target.join("documents/lisezmoi.txt")).unwrap(),
        b"documents de l'ERP"
    );
    assert_eq!(
        std::fs::read(target.join("documents/facture/FA2605-0001.pdf")).unwrap(),
        b"%PDF facture 1"
    );
}

#[test]
fn subpath_restores_a_folder_or_a_single_file() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = documents(tmp.path());
    let repo = memory_repo();
    let report = backup_paths(&repo, &[&docs], 10);
    let sub = |subpath: &str, target: &Path| {
        restore(
            &repo,
            &report.snapshot.root,
            target,
            &RestoreOptions {
                include: None,
                subpath,
            },
            &NoProgress,
        )
        .unwrap()
    };

    let target = tmp.path().join("folder");
    let r = sub("documents/facture", &target);
    assert_eq!(r.files, 2);
    assert_eq!(
        listing(&target),
        ["2026", "2026/FA2605-0002.pdf", "FA2605-0001.pdf"]
    );

    // A file lands in the target folder under its own name.
    let target = tmp.path().join("file");
    let r = sub("documents/facture/2026/FA2605-0002.pdf", &target);
    assert_eq!((r.files, r.bytes), (1, 14), "{r:?}");
    assert_eq!(
        std::fs::read(target.join("FA2605-0002.pdf")).unwrap(),
        b"%PDF facture 2"
    );
}

/// Restoring again into the same folder rewrites what is there; an entry of
/// another type where the snapshot has a symlink is reported, like one where
/// it has a file or folder, instead of ending the restore half-way.
#[test]
fn restore_into_a_folder_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = documents(tmp.path());
    std::os::unix::fs::symlink("facture/FA2605-0001.pdf", docs.join("derniere.pdf")).unwrap();
    let repo = memory_repo();
    let report = backup_paths(&repo, &[&docs], 10);
    let target = tmp.path().join("restored");
    restore_all(&repo, &report, &target);
    let again = restore_all(&repo, &report, &target);
    assert_eq!((again.files, again.symlinks), (4, 1), "{again:?}");
    assert!(again.skipped.is_empty(), "{:?}", again.skipped);

    let target = tmp.path().join("occupied");
    write_file(
        &target.join("documents/derniere.pdf"),
        b"mine",
        0o644,
        at(1),
    );
    write_file(
        &target.join("documents/commande"),
        b"not a folder",
        0o644,
        at(1),
    );
    let r = restore_all(&repo, &report, &target);
    let mut skipped: Vec<&str> = r.skipped.iter().map(|(p, _)| p.as_str()).collect();
    skipped.sort_unstable();
    assert_eq!(skipped, ["documents/commande", "documents/derniere.pdf"]);
    assert_eq!(
        std::fs::read(target.join("documents/derniere.pdf")).unwrap(),
        b"mine"
    );
    assert_eq!(r.files, 3);
}
