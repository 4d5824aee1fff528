//! Restore of a hostile repository: trees crafted through the store API (as
//! anyone holding the key, or a bug, could write them) with names that climb
//! out of the target, symlinks planted ahead of entries under them, sizes and
//! content lists that lie, and length prefixes that claim 2^63 items. Restore
//! must never write outside the target, never follow a symlink it created,
//! refuse absurd sizes without allocating them, and say what it refused.

use crate::util::*;
use coffer_store::Repository;
use coffer_store::codec;
use coffer_store::format::pack::BlobKind;
use coffer_store::format::tree::{ChunkRef, Content, ContentRef, Node, NodeKind, TreeBlob};
use coffer_store::id::BlobId;
use coffer_store::packer::{PackWriter, raw_len, seal_blob};
use coffer_store::progress::NoProgress;
use coffer_store::restore::{self, RestoreOptions, RestoreReport};
use std::path::Path;

fn node(name: &[u8], kind: NodeKind, size: u64) -> Node {
    Node {
        name: name.to_vec(),
        kind,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime_unix_ns: 1_780_000_000_000_000_000,
        ctime_unix_ns: 0,
        inode: 0,
        size,
    }
}

/// A file node holding `data` inline.
fn file(w: &mut PackWriter<'_>, name: &[u8], data: &[u8]) -> Node {
    let id = w.add_data(data).unwrap();
    let content = Content::Inline(vec![ChunkRef {
        id,
        length: raw_len(data),
    }]);
    node(name, NodeKind::File { content }, data.len() as u64)
}

fn dir(tree: BlobId, name: &[u8]) -> Node {
    node(name, NodeKind::Dir { tree }, 0)
}

fn symlink(name: &[u8], target: &[u8]) -> Node {
    node(
        name,
        NodeKind::Symlink {
            target: target.to_vec(),
        },
        0,
    )
}

/// Stores a directory leaf exactly as given: no sorting, duplicates kept.
fn leaf(w: &mut PackWriter<'_>, nodes: Vec<Node>) -> BlobId {
    w.add_tree(&TreeBlob::DirLeaf(nodes)).unwrap()
}

/// Stores raw bytes as a tree blob (properly sealed, so only the record lies).
fn raw_tree(repo: &Repository, w: &mut PackWriter<'_>, bytes: &[u8]) -> BlobId {
    let id = BlobId(repo.key().chunk_ids().id(bytes));
    w.add(id, BlobKind::Tree, &seal_blob(repo, bytes), raw_len(bytes))
        .unwrap();
    id
}

/// Writes the crafted tree, then restores it into `<sandbox>/target`.
fn restore_crafted(
    repo: &Repository,
    sandbox: &Path,
    build: impl FnOnce(&mut PackWriter<'_>) -> BlobId,
) -> coffer_store::Result<RestoreReport> {
    let mut w = PackWriter::new(repo, 2);
    let root = build(&mut w);
    w.finish().unwrap();
    repo.resync_index().unwrap();
    let opts = RestoreOptions {
        include: None,
        subpath: "",
    };
    restore::restore(repo, &root, &sandbox.join("target"), &opts, &NoProgress)
}

/// Everything under `sandbox` except the target folder itself (what must stay empty).
fn outside(sandbox: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(sandbox).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name != "target" && name != "outside" {
            out.push(name);
        }
    }
    let o = sandbox.join("outside");
    if o.exists() {
        for e in std::fs::read_dir(&o).unwrap() {
            out.push(format!(
                "outside/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn names_that_climb_out_or_are_not_names_are_skipped_and_reported() {
    let repo = memory_repo();
    let sandbox = tempfile::tempdir().unwrap();
    let report = restore_crafted(&repo, sandbox.path(), |w| {
        let nodes = vec![
            file(w, b"..", b"climb"),
            file(w, b".", b"dot"),
            file(w, b"", b"empty"),
            file(w, b"a/../../escaped", b"climb"),
            file(w, b"/tmp/absolute-from-coffer-test", b"abs"),
            file(w, b"nul\0byte", b"nul"),
            file(w, b"sub/dir", b"slash"),
            file(w, b"kept.txt", b"fine"),
        ];
        let inner = leaf(w, nodes);
        leaf(w, vec![dir(inner, b"d"), dir(inner, b"..")])
    })
    .unwrap();
    let target = sandbox.path().join("target");
    assert_eq!(std::fs::read(target.join("d/kept.txt")).unwrap(), b"fine");
    let mut listed: Vec<_> = std::fs::read_dir(target.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    listed.sort();
    assert_eq!(listed, ["kept.txt"]);
    assert_eq!(outside(sandbox.path()), Vec::<String>::new());
    assert!(!Path::new("/tmp/absolute-from-coffer-test").exists());
    // Each refused entry named, with the reason.
    let skipped: Vec<&str> = report.skipped.iter().map(|(p, _)| p.as_str()).collect();
    for expected in ["d/..", "d/.", "d/", "d/a/../../escaped", "d/sub/dir", ".."] {
        assert!(
            skipped.contains(&expected),
            "{expected} not reported: {skipped:?}"
        );
    }
    assert!(
        report
            .skipped
            .iter()
            .all(|(_, why)| why.contains("unsafe name"))
    );
    assert_eq!(report.files, 1);
}

#[test]
fn a_symlink_planted_before_entries_of_the_same_name_is_never_followed() {
    let repo = memory_repo();
    let sandbox = tempfile::tempdir().unwrap();
    let out = sandbox.path().join("outside");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("victim"), b"precious").unwrap();
    let out_bytes = out.to_str().unwrap().as_bytes().to_vec();
    let victim = out.join("victim");
    let victim_bytes = victim.to_str().unwrap().as_bytes().to_vec();
    let report = restore_crafted(&repo, sandbox.path(), |w| {
        let planted = file(w, b"planted", b"through the link");
        let under = leaf(w, vec![planted]);
        let nodes = vec![
            // A folder link, then a folder of the same name with a file in it.
            symlink(b"escape", &out_bytes),
            dir(under, b"escape"),
            // A file link, then a file of the same name.
            symlink(b"overwrite", &victim_bytes),
            file(w, b"overwrite", b"clobbered"),
            // A link whose own name is fine but whose target climbs.
            symlink(b"up", b"../../.."),
        ];
        leaf(w, nodes)
    })
    .unwrap();
    let target = sandbox.path().join("target");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(outside(sandbox.path()), ["outside/victim"]);
    // What the snapshot says ends up inside the target, as real entries.
    assert!(
        std::fs::symlink_metadata(target.join("escape"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(
        std::fs::read(target.join("escape/planted")).unwrap(),
        b"through the link"
    );
    let md = std::fs::symlink_metadata(target.join("overwrite")).unwrap();
    assert!(md.is_file());
    assert_eq!(
        std::fs::read(target.join("overwrite")).unwrap(),
        b"clobbered"
    );
    // A symlink is restored as a symlink, its target not resolved.
    assert_eq!(
        std::fs::read_link(target.join("up")).unwrap(),
        Path::new("../../..")
    );
    assert_eq!(report.files, 2);
}

#[test]
fn a_size_of_two_to_the_sixty_is_refused_and_named() {
    let repo = memory_repo();
    let sandbox = tempfile::tempdir().unwrap();
    let err = restore_crafted(&repo, sandbox.path(), |w| {
        let mut liar = file(w, b"huge.bin", b"eight by");
        liar.size = 1 << 60;
        leaf(w, vec![liar])
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("huge.bin"), "{msg}");
    assert!(msg.contains("1152921504606846976"), "{msg}");
}

#[test]
fn content_lists_that_do_not_add_up_are_refused() {
    let repo = memory_repo();
    // An inline chunk reference claiming 4 GiB for an 11-byte chunk.
    let sandbox = tempfile::tempdir().unwrap();
    let err = restore_crafted(&repo, sandbox.path(), |w| {
        let mut n = file(w, b"claims.bin", b"eleven byte");
        if let NodeKind::File {
            content: Content::Inline(refs),
        } = &mut n.kind
        {
            refs[0].length = u32::MAX;
        }
        leaf(w, vec![n])
    });
    assert_refused(err, "claims.bin");

    // A content piece claiming 2^60 bytes and 2^60 chunks over one real leaf.
    let sandbox = tempfile::tempdir().unwrap();
    let err = restore_crafted(&repo, sandbox.path(), |w| {
        let data = b"inner piece";
        let id = w.add_data(data).unwrap();
        let leaf_id = w
            .add_tree(&TreeBlob::ContentLeaf(vec![ChunkRef {
                id,
                length: raw_len(data),
            }]))
            .unwrap();
        let inner = w
            .add_tree(&TreeBlob::ContentInner(vec![ContentRef {
                blob: leaf_id,
                bytes: 1 << 60,
                chunks: 1 << 60,
            }]))
            .unwrap();
        let mut n = node(
            b"list.bin",
            NodeKind::File {
                content: Content::List(inner),
            },
            1 << 60,
        );
        n.mode = 0o600;
        leaf(w, vec![n])
    });
    assert_refused(err, "list.bin");

    // A content list whose root is a directory piece.
    let sandbox = tempfile::tempdir().unwrap();
    let err = restore_crafted(&repo, sandbox.path(), |w| {
        let not_content = leaf(w, vec![symlink(b"x", b"y")]);

        let n = node(
            b"wrongkind.bin",
            NodeKind::File {
                content: Content::List(not_content),
            },
            1,
        );
        leaf(w, vec![n])
    });
    assert_refused(err, "content list");
}

fn assert_refused(result: coffer_store::Result<RestoreReport>, what: &str) {
    match result {
        Ok(r) => panic!("restored a lying content list: {r:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(what), "error does not name {what}: {msg}");
        }
    }
}

#[test]
fn a_length_prefix_claiming_two_to_the_sixty_three_entries_is_a_clear_error() {
    let repo = memory_repo();
    let sandbox = tempfile::tempdir().unwrap();
    let err = restore_crafted(&repo, sandbox.path(), |w| {
        // TreeBlob::DirLeaf (variant 0) whose Vec<Node> length is 2^63 - 1.
        let mut bytes = codec::encode(&TreeBlob::DirLeaf(Vec::new()));
        bytes.truncate(3);
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        let bomb = raw_tree(&repo, w, &bytes);
        leaf(w, vec![dir(bomb, b"bomb")])
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("tree") && msg.contains("malformed"), "{msg}");
}

/// A chain of `levels` folders, each holding the next, with a file at the bottom.
fn nested_chain(w: &mut PackWriter<'_>, levels: usize) -> BlobId {
    let bottom = file(w, b"deep.pdf", b"at the bottom");
    let mut tree = leaf(w, vec![bottom]);
    for _ in 1..levels {
        tree = leaf(w, vec![dir(tree, b"d")]);
    }
    tree
}

#[test]
fn folders_nested_past_the_depth_limit_are_refused_not_a_stack_overflow() {
    // The root tree is level 1, so MAX_DEPTH nested trees restore...
    let repo = memory_repo();
    let sandbox = tempfile::tempdir().unwrap();
    let report = restore_crafted(&repo, sandbox.path(), |w| {
        nested_chain(w, restore::MAX_DEPTH)
    })
    .expect("a chain exactly at the depth limit restores");
    assert_eq!(report.files, 1);
    let mut deepest = sandbox.path().join("target");
    for _ in 1..restore::MAX_DEPTH {
        deepest.push("d");
    }
    assert_eq!(
        std::fs::read(deepest.join("deep.pdf")).unwrap(),
        b"at the bottom"
    );

    // ...and one more level (or twenty times more: the first refusal stops it) is a
    // clear error naming the place, with nothing written outside the target.
    for levels in [restore::MAX_DEPTH + 1, 20_000] {
        let repo = memory_repo();
        let sandbox = tempfile::tempdir().unwrap();
        let err = restore_crafted(&repo, sandbox.path(), |w| nested_chain(w, levels))
            .expect_err("a chain past the depth limit must be refused");
        let msg = err.to_string();
        assert!(msg.contains("nested deeper than"), "{levels} levels: {msg}");
        assert!(msg.contains("d/d/d"), "the error names where: {msg}");
        assert!(outside(sandbox.path()).is_empty());
    }
}
