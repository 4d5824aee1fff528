use crate::util::{
    at, backup_paths, erp_tree, folder_repo, packs_of_kind, reopen_folder, restore_all, write_file,
};
use coffer_store::Error;
use coffer_store::check::{CheckOptions, CheckReport, Severity, check};
use coffer_store::format::pack::BlobKind;
use coffer_store::progress::NoProgress;
use coffer_store::restore::{RestoreOptions, restore};
use std::path::{Path, PathBuf};

fn run(repo: &coffer_store::Repository, read_data: bool) -> CheckReport {
    check(repo, &CheckOptions { read_data }, &NoProgress).unwrap()
}

fn errors(r: &CheckReport) -> Vec<(String, String)> {
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.object.clone(), f.message.clone()))
        .collect()
}

/// Pack files of a local-folder repository.
fn packs(repo_dir: &Path) -> Vec<PathBuf> {
    let mut out = crate::util::files_under(&repo_dir.join("data"));
    out.sort();
    out
}

fn pack_path(repo_dir: &Path, hex: &str) -> PathBuf {
    repo_dir.join("data").join(&hex[..2]).join(hex)
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn healthy_repository_has_no_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    erp_tree(&src);
    let repo = folder_repo(&tmp.path().join("repo"));
    backup_paths(&repo, &[&src], 10);
    for read_data in [false, true] {
        let r = run(&repo, read_data);
        assert_eq!(errors(&r), vec![], "read_data={read_data}");
        assert_eq!(r.snapshots, 1);
        assert!(r.trees_checked > 0);
        if read_data {
            assert_eq!(r.packs_read, r.packs);
            assert!(r.blobs_verified > 0);
        }
    }
}

#[test]
fn flipped_byte_is_found_and_restore_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    erp_tree(&src);
    let dir = tmp.path().join("repo");
    let repo = folder_repo(&dir);
    let report = backup_paths(&repo, &[&src], 10);
    let data = packs_of_kind(&repo, BlobKind::Data);
    drop(repo);

    assert_eq!(data.len(), 1, "{data:?}");
    let pack = &pack_path(&dir, &data[0]);
    let mut bytes = std::fs::read(pack).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(pack, bytes).unwrap();

    let repo = reopen_folder(&dir);
    let r = run(&repo, true);
    let errs = errors(&r);
    assert!(
        errs.iter()
            .any(|(object, _)| object.contains(&file_name(pack))),
        "no finding names pack {}: {errs:?}",
        file_name(pack)
    );

    let err = restore(
        &repo,
        &report.snapshot.root,
        &tmp.path().join("restored"),
        &RestoreOptions {
            include: None,
            subpath: "",
        },
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

/// Error findings naming `object`.
fn about<'a>(errs: &'a [(String, String)], object: &str) -> Vec<&'a str> {
    errs.iter()
        .filter(|(o, _)| o.contains(object))
        .map(|(_, m)| m.as_str())
        .collect()
}

#[test]
fn deleted_pack_is_missing_and_its_snapshot_not_restorable() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    erp_tree(&src);
    let dir = tmp.path().join("repo");
    let repo = folder_repo(&dir);
    let first = backup_paths(&repo, &[&src], 10);
    let before = packs(&dir);
    write_file(
        &src.join("documents/facture/FA2605-0003.pdf"),
        b"%PDF new",
        0o640,
        at(70_000),
    );
    let second = backup_paths(&repo, &[&src], 20);
    // The second run's packs (one of data, one of trees) hold only what the
    // second snapshot adds.
    let added: Vec<PathBuf> = packs(&dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(added.len(), 2, "{added:?}");
    drop(repo);
    for pack in &added {
        std::fs::remove_file(pack).unwrap();
    }

    let repo = reopen_folder(&dir);
    let errs = errors(&run(&repo, false));
    for pack in added.iter().map(|p| file_name(p)) {
        assert!(
            about(&errs, &pack).iter().any(|m| m.contains("missing")),
            "pack {pack} not reported missing: {errs:?}"
        );
    }
    let second_id = second.snapshot_id.to_hex();
    assert!(
        about(&errs, &second_id)
            .iter()
            .any(|m| m.contains("not fully restorable")),
        "snapshot {second_id} not reported: {errs:?}"
    );
    assert_eq!(
        about(&errs, &first.snapshot_id.to_hex()),
        Vec::<&str>::new(),
        "the first snapshot needs nothing from the lost pack"
    );
    // ... and indeed still restores.
    restore_all(&repo, &first, &tmp.path().join("restored"));
}

/// Regression: trees were walked once for all snapshots, so of the snapshots
/// sharing a damaged subtree only the first walked was reported.
#[test]
fn lost_shared_data_makes_every_snapshot_unrestorable() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("devis");
    let quote = crate::util::random_bytes("DE2605-0001", 10_000);
    let dir = tmp.path().join("repo");
    let repo = folder_repo(&dir);
    write_file(&src.join("a/DE2605-0001.pdf"), &quote, 0o644, at(1));
    let first = backup_paths(&repo, &[&src], 10);
    let lost = packs_of_kind(&repo, BlobKind::Data);
    // The second run stores only new trees: folder `b` and the copy's content
    // are already known. The third shares `a` and `b` with the second.
    write_file(&src.join("b/copie.pdf"), &quote, 0o644, at(2));
    let second = backup_paths(&repo, &[&src], 20);
    write_file(&src.join("c/DE2605-0002.pdf"), b"%PDF", 0o644, at(3));
    let third = backup_paths(&repo, &[&src], 30);
    drop(repo);
    assert_eq!(lost.len(), 1);
    std::fs::remove_file(pack_path(&dir, &lost[0])).unwrap();

    let repo = reopen_folder(&dir);
    let errs = errors(&run(&repo, false));
    for report in [&first, &second, &third] {
        let id = report.snapshot_id.to_hex();
        assert!(
            about(&errs, &id)
                .iter()
                .any(|m| m.contains("not fully restorable")),
            "snapshot {id} not reported: {errs:?}"
        );
    }
}
