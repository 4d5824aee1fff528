//! What a point-in-time read of one document costs a new machine: the trees
//! on its path and its chunks, by ranged reads, and nothing else: no whole
//! pack, no other folder's trees, no other file's chunks.

use crate::util::*;
use coffer_store::archive::{ArchiveFormat, write_archive};
use coffer_store::backend::counting::{CountingStore, Method, Request};
use coffer_store::format::index::IndexedPack;
use coffer_store::format::tree::{Content, NodeKind, TreeBlob};
use coffer_store::id::BlobId;
use coffer_store::progress::NoProgress;
use coffer_store::repo::InitOptions;
use coffer_store::restore::write_content;
use coffer_store::tree::{ContentChunks, resolve_path};
use coffer_store::{Repository, select};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

on_each_place!(cat_and_dump_as_of_read_only_the_path_trees_and_the_file_chunks);

const DOC: &str = "documents/facture/FA2605-0117/FA2605-0117.pdf";

/// Night `night`'s invoices: 300 folders of one PDF each, some added each night.
fn invoices(root: &Path, night: u32) {
    for i in 1..=(300 + 20 * night) {
        let name = format!("FA2605-{i:04}");
        let path = root.join(format!("documents/facture/{name}/{name}.pdf"));
        if !path.exists() {
            write_file(&path, &random_bytes(&name, 20_000), 0o640, at(u64::from(i)));
        }
    }
    // The document read below is regenerated on the second night.
    if night == 1 {
        let path = root.join(DOC);
        write_file(
            &path,
            &random_bytes("FA2605-0117 v2", 23_000),
            0o640,
            at(90_000),
        );
    }
}

/// The tree pieces a reader must open to find `path` under `root`, found by
/// the rules of FORMAT.md 12.3 and nothing else.
fn pieces_on_path(repo: &Repository, root: &BlobId, path: &str) -> BTreeSet<BlobId> {
    let mut wanted = BTreeSet::new();
    let mut tree = *root;
    let parts: Vec<&str> = path.split('/').collect();
    for (depth, part) in parts.iter().enumerate() {
        let mut piece = tree;
        let node = loop {
            wanted.insert(piece);
            match &*repo.read_tree(&piece).unwrap() {
                TreeBlob::DirInner(refs) => {
                    piece = refs
                        .iter()
                        .rev()
                        .find(|r| r.first_name.as_slice() <= part.as_bytes())
                        .unwrap()
                        .blob;
                }
                TreeBlob::DirLeaf(nodes) => {
                    break nodes
                        .iter()
                        .find(|n| n.name == part.as_bytes())
                        .unwrap()
                        .clone();
                }
                other => panic!("not a folder: {other:?}"),
            }
        };
        match node.kind {
            NodeKind::Dir { tree: t } => tree = t,
            NodeKind::File { content } => {
                assert_eq!(depth + 1, parts.len());
                if let Content::List(list) = content {
                    wanted.insert(list);
                }
            }
            NodeKind::Symlink { .. } => panic!("a symlink on the path"),
        }
    }
    wanted
}

/// The blobs whose bytes a ranged read of a pack covers, at least in part.
fn blobs_read(packs: &[IndexedPack], r: &Request) -> Vec<BlobId> {
    let range = r.range.clone().unwrap();
    let name = r.path.rsplit('/').next().unwrap();
    let pack = packs
        .iter()
        .find(|p| p.pack.to_hex() == name)
        .unwrap_or_else(|| panic!("a read of a pack no index lists: {r:?}"));
    pack.blobs
        .iter()
        .filter(|b| b.offset < range.end && b.offset + u64::from(b.length) > range.start)
        .map(|b| b.id)
        .collect()
}

fn cat_and_dump_as_of_read_only_the_path_trees_and_the_file_chunks(kind: PlaceKind) {
    let Some(place) = Place::new(kind) else {
        return;
    };
    // Small packs: a repository of many, where reading a whole one would show.
    let repo = place.init_with(&InitOptions {
        pack_target_size: 256 << 10,
        ..fast_init()
    });
    let src = tempfile::tempdir().unwrap();
    let docs = src.path().join("documents");
    let mut nights = Vec::new();
    for night in 0..3 {
        invoices(src.path(), night);
        nights.push(backup_paths(&repo, &[&docs], 86_400 * u64::from(night)));
    }
    let want = std::fs::read(src.path().join(DOC)).unwrap();
    let second = &nights[1];
    let trees_on_path = pieces_on_path(&repo, &second.snapshot.root, DOC);
    let packs = indexed_packs(&repo);
    let tree_blobs = packs
        .iter()
        .flat_map(|p| &p.blobs)
        .filter(|b| b.kind == coffer_store::format::pack::BlobKind::Tree)
        .count();
    let node = resolve_path(&repo, &second.snapshot.root, DOC)
        .unwrap()
        .unwrap();
    let NodeKind::File { content } = &node.kind else {
        panic!("{DOC} is a file");
    };
    let chunks: BTreeSet<BlobId> = ContentChunks::new(&repo, content)
        .unwrap()
        .map(|c| c.unwrap().id)
        .collect();
    drop(repo);
    assert!(
        tree_blobs > 3 * trees_on_path.len(),
        "the test needs trees off the path: {tree_blobs} in all, {} on it",
        trees_on_path.len()
    );
    assert!(packs.len() > 10, "the test needs many packs");

    for what in ["cat", "dump"] {
        // A new machine each time: no cache at all.
        let counting = Arc::new(CountingStore::new(place.store()));
        let repo = place.open_on(counting.clone());
        let snapshots = repo.snapshots().unwrap();
        // As of the end of the second night's day.
        let chosen =
            select::as_of(&snapshots, second.snapshot.time_unix_ns + 3_600_000_000_000).unwrap();
        assert_eq!(chosen.id, second.snapshot_id);
        repo.index().unwrap();
        counting.reset();

        let node = resolve_path(&repo, &chosen.snapshot.root, DOC)
            .unwrap()
            .unwrap();
        let got = match what {
            "cat" => {
                let NodeKind::File { content } = &node.kind else {
                    panic!("{DOC} is a file");
                };
                let mut out = Vec::new();
                write_content(&repo, content, &mut out, &NoProgress).unwrap();
                out
            }
            _ => {
                let mut tar_bytes = Vec::new();
                write_archive(
                    &repo,
                    &node,
                    "FA2605-0117.pdf",
                    ArchiveFormat::Tar,
                    &mut tar_bytes,
                )
                .unwrap();
                let mut archive = tar::Archive::new(&tar_bytes[..]);
                let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut out).unwrap();
                out
            }
        };
        assert!(got == want, "{what}: the second night's version");

        let log = counting.requests();
        let mut read = BTreeSet::new();
        for r in &log {
            assert!(
                r.path.starts_with("data/"),
                "{what}: only packs are read once the index is loaded: {r:?}"
            );
            assert_eq!(
                r.method,
                Method::GetRange,
                "{what}: never a whole pack: {r:?}"
            );
            read.extend(blobs_read(&packs, r));
        }
        let expected: BTreeSet<BlobId> = trees_on_path.union(&chunks).copied().collect();
        let extra: Vec<_> = read.difference(&expected).collect();
        assert!(
            extra.is_empty(),
            "{what}: read blobs off the path or of other files: {extra:?}"
        );
        let missing: Vec<_> = expected.difference(&read).collect();
        assert!(
            missing.is_empty(),
            "{what}: did not read {missing:?} (was the cache not cold?)"
        );
        let bytes: u64 = log.iter().map(|r| r.bytes).sum();
        assert!(
            bytes < want.len() as u64 + 64 * 1024,
            "{what}: {bytes} bytes read for a {}-byte document",
            want.len()
        );
    }
}
