//! `fixtures/repo-v1`, written by the first coffer build (see fixtures/README.md),
//! must open, list, restore and check cleanly with every later build. Never
//! regenerate it: a build that cannot read it has broken format version 1.

use coffer_store::backend::Backend;
use coffer_store::check::{CheckOptions, Severity, check};
use coffer_store::format::config;
use coffer_store::format::snapshot::SnapshotEntry;
use coffer_store::format::tree::{Content, Node, NodeKind, TreeBlob};
use coffer_store::id::BlobId;
use coffer_store::progress::NoProgress;
use coffer_store::repo::{CacheLocation, Repository};
use coffer_store::restore::{self, RestoreOptions};
use coffer_store::tree::resolve_path;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
const PASSWORD: &[u8] = b"coffer-fixture";

/// Content-derived names: these change only if the fixture is rewritten.
const SNAPSHOT_1: &str = "665cb4fe2eda1dfed56b6b876d5cb4bdfa2499374dd77375b0f9cb5247914149";
const SNAPSHOT_2: &str = "65027054c55285bc2d3c0536dc8fd4cbce4f2e06ad7572aa9237a965c08decee";
const TAGS: [&str; 2] = ["env=fixture", "tenant=acme"];
const PATHS: [&str; 2] = ["/tmp/coffer-fixture/documents", "db/erp.sql"];

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file below `root` by relative path, and every folder (as `None`).
fn contents(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let md = std::fs::symlink_metadata(&path).unwrap();
            if md.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                assert!(md.is_file(), "{} is not a plain file", path.display());
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The fixture, copied so that nothing a build does can touch the original.
struct Fixture {
    _dir: tempfile::TempDir,
    repo: Repository,
}

fn open_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("repo-v1");
    copy_tree(&Path::new(FIXTURES).join("repo-v1"), &copy);
    let backend = Backend::open(copy.to_str().unwrap(), false).unwrap();
    let repo = Repository::open(backend, PASSWORD, CacheLocation::Temporary).unwrap();
    Fixture { _dir: dir, repo }
}

fn cat(repo: &Repository, root: &BlobId, path: &str) -> Vec<u8> {
    let node = resolve_path(repo, root, path)
        .unwrap()
        .unwrap_or_else(|| panic!("{path} not in the snapshot"));
    let NodeKind::File { content } = &node.kind else {
        panic!("{path} is not a file");
    };
    let mut out = Vec::new();
    restore::write_content(repo, content, &mut out, &NoProgress).unwrap();
    assert_eq!(out.len() as u64, node.size, "{path}: size in the node");
    out
}

/// The dump of the first night: the sample dump before invoice FA2511-0001
/// (`grep -v FA2511-0001`).
fn first_night_dump() -> Vec<u8> {
    let full = std::fs::read(Path::new(FIXTURES).join("sample/erp.sql")).unwrap();
    full.split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.windows(11).any(|w| w == b"FA2511-0001"))
        .flatten()
        .copied()
        .collect()
}

fn dir_node(repo: &Repository, root: &BlobId, path: &str) -> Node {
    let node = resolve_path(repo, root, path).unwrap().unwrap();
    assert!(node.is_dir(), "{path}");
    node
}

#[test]
fn repo_v1_config_and_snapshots() {
    let raw = std::fs::read(Path::new(FIXTURES).join("repo-v1/config")).unwrap();
    let (version, _) = config::unframe(&raw).unwrap();
    assert_eq!(version, 1);

    let f = open_fixture();
    let c = f.repo.config();
    assert_eq!(
        (c.chunker.min_size, c.chunker.avg_size, c.chunker.max_size),
        (256, 1024, 4096)
    );
    assert_eq!(c.pack_target_size, 1 << 20);
    assert_eq!(c.zstd_level, 3);

    let snaps: Vec<SnapshotEntry> = f.repo.snapshots().unwrap();
    let ids: Vec<String> = snaps.iter().map(|s| s.id.to_hex()).collect();
    assert_eq!(ids, [SNAPSHOT_1, SNAPSHOT_2], "oldest first");
    for (s, (secs, parent)) in snaps
        .iter()
        .zip([(1_793_581_200i64, None), (1_793_667_600, Some(snaps[0].id))])
    {
        let s = &s.snapshot;
        assert_eq!(s.time_unix_ns, secs * 1_000_000_000);
        assert_eq!(s.host, "fixture");
        assert_eq!(s.username, "coffer");
        assert_eq!(s.tags, TAGS);
        assert_eq!(s.paths, PATHS);
        assert_eq!(s.parent, parent);
        assert!(!s.partial);
        assert_eq!(s.program, "coffer 0.1.0");
        assert!(s.meta.is_empty());
        assert_eq!(s.summary.errors, 0);
    }
    let (first, second) = (&snaps[0].snapshot.summary, &snaps[1].snapshot.summary);
    assert_eq!((first.files_new, first.files_unmodified), (10, 0));
    assert_eq!((second.files_new, second.files_unmodified), (2, 9));
}

#[test]
fn repo_v1_latest_restores_to_the_sample() {
    let f = open_fixture();
    let snaps = f.repo.snapshots().unwrap();
    let latest = &snaps.last().unwrap().snapshot;
    let target = tempfile::tempdir().unwrap();
    let report = restore::restore(
        &f.repo,
        &latest.root,
        target.path(),
        &RestoreOptions {
            include: None,
            subpath: "",
        },
        &NoProgress,
    )
    .unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);

    let sample = Path::new(FIXTURES).join("sample");
    let mut expected = BTreeMap::new();
    expected.insert(PathBuf::from("db"), None);
    expected.insert(
        PathBuf::from("db/erp.sql"),
        Some(std::fs::read(sample.join("erp.sql")).unwrap()),
    );
    expected.insert(PathBuf::from("documents"), None);
    for (rel, content) in contents(&sample.join("documents")) {
        expected.insert(Path::new("documents").join(rel), content);
    }
    let restored = contents(target.path());
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (rel, content) in &expected {
        assert!(restored[rel] == *content, "{} differs", rel.display());
    }

    assert_eq!(
        cat(&f.repo, &latest.root, "db/erp.sql"),
        std::fs::read(sample.join("erp.sql")).unwrap()
    );
}

#[test]
fn repo_v1_first_snapshot_is_the_night_before() {
    let f = open_fixture();
    let snaps = f.repo.snapshots().unwrap();
    let (old, new) = (&snaps[0].snapshot.root, &snaps[1].snapshot.root);
    assert_eq!(cat(&f.repo, old, "db/erp.sql"), first_night_dump());
    assert!(
        resolve_path(&f.repo, old, "documents/facture/FA2601-0003")
            .unwrap()
            .is_none()
    );
    let invoice = "documents/facture/FA2601-0002/FA2601-0002.pdf";
    assert_eq!(cat(&f.repo, old, invoice), cat(&f.repo, new, invoice));

    // Unchanged folders are the same tree blobs; the changed path is not.
    for same in [
        "documents/societe",
        "documents/ecm",
        "documents/fournisseur",
    ] {
        assert_eq!(
            dir_node(&f.repo, old, same).kind,
            dir_node(&f.repo, new, same).kind,
            "{same}"
        );
    }
    assert_ne!(
        dir_node(&f.repo, old, "documents/facture").kind,
        dir_node(&f.repo, new, "documents/facture").kind
    );
}

/// The fixture exercises content list trees (the dump has ~200 chunks of
/// 1 KiB, pieces of leaves under an inner piece), not only inline chunk lists.
#[test]
fn repo_v1_holds_content_lists() {
    let f = open_fixture();
    let snaps = f.repo.snapshots().unwrap();
    let node = resolve_path(&f.repo, &snaps[1].snapshot.root, "db/erp.sql")
        .unwrap()
        .unwrap();
    let NodeKind::File {
        content: Content::List(root),
    } = node.kind
    else {
        panic!("db/erp.sql should have a content list");
    };
    let TreeBlob::ContentInner(pieces) = &*f.repo.read_tree(&root).unwrap() else {
        panic!("db/erp.sql's list should start with an inner piece");
    };
    assert!(pieces.len() > 1);
    assert_eq!(pieces.iter().map(|p| p.bytes).sum::<u64>(), node.size);
    for p in pieces {
        assert!(matches!(
            *f.repo.read_tree(&p.blob).unwrap(),
            TreeBlob::ContentLeaf(_)
        ));
    }
}

#[test]
fn repo_v1_checks_clean_reading_all_data() {
    let f = open_fixture();
    let report = check(&f.repo, &CheckOptions { read_data: true }, &NoProgress).unwrap();
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|x| x.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report.snapshots, 2);
    assert_eq!(report.packs_read, 2);
    assert_eq!(report.blobs_verified, 318);
}
