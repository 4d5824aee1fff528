//! Damage to each kind of object, of each kind: found by `check --read-data`
//! with the snapshots and files it costs named, healthy files still readable,
//! and `repair index` / `repair snapshots` recovering the rest.

use crate::util::{at, backup_paths, cat, folder_repo, reopen_folder, write_file};
use coffer_store::check::{CheckOptions, CheckReport, check};
use coffer_store::format::layout;
use coffer_store::format::tree::{Content, NodeKind};
use coffer_store::id::BlobId;
use coffer_store::progress::NoProgress;
use coffer_store::repair::{self, REPAIRED_TAG, SnapshotRepairOptions};
use coffer_store::{Repository, tree};
use std::path::Path;

fn run(repo: &Repository) -> CheckReport {
    check(repo, &CheckOptions { read_data: true }, &NoProgress).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    FlipBit,
    Truncate,
    Delete,
}

fn damage(path: &Path, how: Damage, at_offset: u64) {
    match how {
        Damage::FlipBit => {
            let mut b = std::fs::read(path).unwrap();
            b[usize::try_from(at_offset).unwrap()] ^= 0x10;
            std::fs::write(path, b).unwrap();
        }
        Damage::Truncate => {
            let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            f.set_len(at_offset).unwrap();
        }
        Damage::Delete => std::fs::remove_file(path).unwrap(),
    }
}

/// Two snapshots: `docs` (two invoices) then `docs` plus `orders`.
struct Setup {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    first: coffer_store::backup::BackupReport,
    second: coffer_store::backup::BackupReport,
}

/// `facture/FA1.pdf` (a short invoice) and `facture/FA2.pdf` (`second`) under `src`.
fn two_invoices(src: &Path, second: &[u8]) {
    write_file(
        &src.join("facture/FA1.pdf"),
        b"%PDF invoice one",
        0o644,
        at(1),
    );
    write_file(&src.join("facture/FA2.pdf"), second, 0o644, at(1));
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("docs");
    two_invoices(&src, b"%PDF invoice two");
    let dir = tmp.path().join("repo");
    let repo = folder_repo(&dir);
    let first = backup_paths(&repo, &[&src], 10);
    write_file(
        &src.join("commande/CO1.pdf"),
        b"%PDF order one",
        0o644,
        at(2),
    );
    let second = backup_paths(&repo, &[&src], 20);
    Setup {
        _tmp: tmp,
        dir,
        first,
        second,
    }
}

/// The first chunk of a file, and the pack object holding it.
fn file_blob(repo: &Repository, root: &BlobId, path: &str) -> (BlobId, String, u64) {
    let node = tree::resolve_path(repo, root, path).unwrap().unwrap();
    let NodeKind::File {
        content: Content::Inline(refs),
    } = node.kind
    else {
        panic!("{path} should be one inline chunk");
    };
    let loc = repo.lookup(&refs[0].id).unwrap();
    (refs[0].id, layout::pack(&loc.pack), loc.offset)
}

fn damaged_paths(r: &CheckReport, snapshot: &coffer_store::id::SnapshotId) -> Vec<String> {
    r.damaged
        .iter()
        .find(|d| d.snapshot == snapshot.to_hex())
        .map(|d| d.paths.clone())
        .unwrap_or_default()
}

#[test]
fn damaged_data_in_a_pack_names_the_snapshots_and_the_file() {
    for how in [Damage::FlipBit, Damage::Truncate, Damage::Delete] {
        let s = setup();
        let repo = reopen_folder(&s.dir);
        let (_, pack, offset) = file_blob(&repo, &s.first.snapshot.root, "docs/facture/FA1.pdf");
        // Inside the sealed blob: past its nonce, before its tag.
        damage(&s.dir.join(&pack), how, offset + 30);
        let repo = reopen_folder(&s.dir);
        let r = run(&repo);
        assert!(r.has_errors(), "{how:?} not detected");
        for snap in [&s.first.snapshot_id, &s.second.snapshot_id] {
            let paths = damaged_paths(&r, snap);
            // The pack may hold the folder listings too: then those are what is named.
            assert!(
                paths.iter().any(|p| p == "docs/facture/FA1.pdf"
                    || p.starts_with("docs/facture/ (")
                    || p.starts_with("(everything")),
                "{how:?}: {paths:?} in {:?}",
                r.findings
            );
        }
        assert!(
            r.findings
                .iter()
                .any(|f| f.object == format!("snapshot {}", s.first.snapshot_id)
                    && f.message.contains("path(s) damaged or missing")),
            "{:?}",
            r.findings
        );
        if matches!(how, Damage::FlipBit) {
            // Only that blob: the other invoice still reads, and is not named.
            assert_eq!(
                damaged_paths(&r, &s.first.snapshot_id),
                vec!["docs/facture/FA1.pdf".to_string()]
            );
            assert_eq!(
                cat(&repo, &s.first, "docs/facture/FA2.pdf"),
                b"%PDF invoice two"
            );
        }
        // Repair: rewritten without the lost file(s), tagged, originals kept.
        let fixed = repair::repair_snapshots(
            &repo,
            &SnapshotRepairOptions {
                read_data: true,
                forget_originals: false,
            },
            &NoProgress,
        )
        .unwrap();
        assert_eq!(fixed.len(), 2, "{how:?}");
        let repo = reopen_folder(&s.dir);
        let snaps = repo.snapshots().unwrap();
        assert_eq!(snaps.len(), 4, "originals are kept");
        assert!(snaps.iter().any(|e| e.id == s.first.snapshot_id));
        let after = run(&repo);
        for f in &fixed {
            let id = coffer_store::id::SnapshotId::from_hex(&f.repaired).unwrap();
            assert!(damaged_paths(&after, &id).is_empty(), "{:?}", after.damaged);
            let snap = repo.load_snapshot(&id).unwrap();
            assert!(snap.tags.contains(&REPAIRED_TAG.to_string()));
            assert!(snap.partial);
            assert!(
                tree::resolve_path(&repo, &snap.root, "docs/facture/FA1.pdf")
                    .unwrap()
                    .is_none()
            );
        }
        if matches!(how, Damage::FlipBit) {
            let id = coffer_store::id::SnapshotId::from_hex(&fixed[0].repaired).unwrap();
            let root = repo.load_snapshot(&id).unwrap().root;
            assert!(
                tree::resolve_path(&repo, &root, "docs/facture/FA2.pdf")
                    .unwrap()
                    .is_some()
            );
        }
    }
}

#[test]
fn damaged_folder_listing_names_the_folder() {
    let s = setup();
    let repo = reopen_folder(&s.dir);
    let node = tree::resolve_path(&repo, &s.second.snapshot.root, "docs/commande")
        .unwrap()
        .unwrap();
    let NodeKind::Dir { tree: t } = node.kind else {
        panic!("commande is a folder");
    };
    let loc = repo.lookup(&t).unwrap();
    damage(
        &s.dir.join(layout::pack(&loc.pack)),
        Damage::FlipBit,
        loc.offset + 30,
    );
    let repo = reopen_folder(&s.dir);
    let r = run(&repo);
    let paths = damaged_paths(&r, &s.second.snapshot_id);
    assert!(
        paths.iter().any(|p| p.starts_with("docs/commande/")),
        "{paths:?}"
    );
    assert!(damaged_paths(&r, &s.first.snapshot_id).is_empty());
    assert_eq!(
        cat(&repo, &s.second, "docs/facture/FA2.pdf"),
        b"%PDF invoice two"
    );
}

#[test]
fn damaged_or_deleted_index_is_rebuilt_from_the_packs() {
    for how in [Damage::FlipBit, Damage::Truncate, Damage::Delete] {
        let s = setup();
        let indexes = crate::util::files_under(&s.dir.join("index"));
        assert!(!indexes.is_empty());
        for ix in &indexes {
            damage(ix, how, 40);
        }
        let backend = coffer_store::backend::Backend::open(s.dir.to_str().unwrap(), false).unwrap();
        let repo = Repository::open(
            backend,
            crate::util::PASSWORD,
            coffer_store::repo::CacheLocation::Temporary,
        );
        // A damaged index file stops the cache sync; a missing one leaves the
        // snapshots without their blobs: both are findings of check.
        if let Ok(repo) = &repo {
            let r = run(repo);
            assert!(r.has_errors(), "{how:?}");
        }
        let repo = reopen_folder(&s.dir);
        let done = repair::rebuild_index(&repo, &NoProgress).unwrap();
        assert!(done.packs_indexed > 0);
        assert!(done.packs_unreadable.is_empty());
        let repo = reopen_folder(&s.dir);
        let r = run(&repo);
        assert!(!r.has_errors(), "{how:?}: {:?}", r.findings);
        assert_eq!(
            cat(&repo, &s.first, "docs/facture/FA1.pdf"),
            b"%PDF invoice one"
        );
        assert_eq!(
            cat(&repo, &s.second, "docs/commande/CO1.pdf"),
            b"%PDF order one"
        );
    }
}

#[test]
fn damaged_snapshot_object_is_named() {
    for how in [Damage::FlipBit, Damage::Truncate] {
        let s = setup();
        let name = layout::snapshot(&s.first.snapshot_id);
        damage(&s.dir.join(&name), how, 30);
        let repo = reopen_folder(&s.dir);
        let r = run(&repo);
        assert!(
            r.findings
                .iter()
                .any(|f| f.object.contains(&s.first.snapshot_id.to_hex())),
            "{how:?}: {:?}",
            r.findings
        );
        // The other snapshot is untouched and restores.
        assert_eq!(
            cat(&repo, &s.second, "docs/commande/CO1.pdf"),
            b"%PDF order one"
        );
    }
}

#[test]
fn a_damaged_blob_stops_prune_before_anything_is_deleted() {
    // Night one stores two invoices in one pack, night two only the first:
    // once night one is forgotten prune copies the first out of that
    // half-dead pack, and finds it damaged.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("docs");
    two_invoices(&src, &crate::util::random_bytes("FA2", 64 << 10));
    let dir = tmp.path().join("repo");
    let repo = folder_repo(&dir);
    let first = backup_paths(&repo, &[&src], 10);
    std::fs::remove_file(src.join("facture/FA2.pdf")).unwrap();
    let second = backup_paths(&repo, &[&src], 20);
    coffer_store::retention::execute(&repo, &[first.snapshot_id]).unwrap();
    let (_, pack, offset) = file_blob(&repo, &second.snapshot.root, "docs/facture/FA1.pdf");
    damage(&dir.join(&pack), Damage::FlipBit, offset + 30);
    let before = crate::util::files_under(&dir);

    let repo = reopen_folder(&dir);
    let opts = coffer_store::prune::PruneOptions {
        grace: std::time::Duration::ZERO,
        clock_margin: std::time::Duration::ZERO,
        ..coffer_store::prune::PruneOptions::default()
    };
    let pack_id = pack.rsplit('/').next().unwrap();
    let plan = coffer_store::prune::plan(&repo, &opts, &NoProgress).unwrap();
    assert!(
        plan.condemn
            .repack
            .iter()
            .any(|u| u.pack.to_hex() == pack_id),
        "the damaged pack is one to copy from: {plan:#?}"
    );
    let err = coffer_store::prune::run(&repo, &opts, &NoProgress).unwrap_err();
    assert!(
        matches!(err, coffer_store::Error::Corrupt { .. })
            && err.to_string().contains(&pack_id[..8]),
        "the damaged pack should be named: {err}"
    );
    // Nothing was deleted or condemned: every file is still there (the
    // damaged pack too, with the other snapshot's data), no staging file.
    let after = crate::util::files_under(&dir);
    for f in &before {
        assert!(after.contains(f), "{} is gone", f.display());
    }
    assert!(repo.backend().list("condemned").unwrap().is_empty());
    assert!(
        after.iter().all(|f| !f.to_string_lossy().contains('#')),
        "a staging file is left: {after:?}"
    );
    // check still names the damaged file, and nothing else.
    let r = run(&reopen_folder(&dir));
    assert_eq!(
        damaged_paths(&r, &second.snapshot_id),
        vec!["docs/facture/FA1.pdf".to_string()]
    );
}
