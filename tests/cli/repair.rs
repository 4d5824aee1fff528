//! `repair index` from the command line: index files deleted or damaged,
//! rebuilt from the packs' trailers, after which `check` (and `check
//! --read-data`) passes with the same cache folder as before, and every
//! snapshot restores byte for byte.
#![allow(clippy::unwrap_used)]

use crate::documents::{assert_same_tree, write_documents};
use crate::harness::Coffer;

#[test]
fn repair_index_after_deleted_and_damaged_index_files() {
    let c = Coffer::init_with(&["--pack-size", "1"]);
    let docs = write_documents(c.root());
    let first = c.json(["backup".as_ref(), docs.root.as_os_str()]);
    std::fs::write(docs.root.join("added-later.txt"), b"second night").unwrap();
    let second = c.json(["backup".as_ref(), docs.root.as_os_str()]);
    // The cache knows both index files now; the damage below is behind its back.
    c.ok(["check"]);
    let ids: Vec<String> = [&first, &second]
        .iter()
        .map(|s| s["snapshot_id"].as_str().unwrap().to_string())
        .collect();
    let before: Vec<_> = ids
        .iter()
        .map(|id| c.restore(id, &format!("before-{}", &id[..8]), &[]))
        .collect();

    let mut index_files: Vec<_> = std::fs::read_dir(c.repo().join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    index_files.sort();
    assert!(index_files.len() >= 2, "{index_files:?}");
    std::fs::remove_file(&index_files[0]).unwrap();
    let mut bytes = std::fs::read(&index_files[1]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&index_files[1], &bytes).unwrap();

    let broken = c.run(["check"]);
    assert_ne!(
        broken.code,
        Some(0),
        "check passed a repository missing an index: {}",
        broken.stdout_str()
    );

    let repaired = c.json(["repair", "index"]);
    assert!(
        repaired["blobs_indexed"].as_u64().unwrap() > 0,
        "{repaired}"
    );
    assert!(
        !c.repo()
            .join("index")
            .join(index_files[1].file_name().unwrap())
            .exists()
    );

    for args in [vec!["check"], vec!["check", "--read-data"]] {
        let run = c.ok(&args);
        let all = format!("{}{}", run.stdout_str(), run.stderr);
        assert!(
            !all.contains("missing"),
            "{args:?} after repair still says: {all}"
        );
    }
    for (id, expected) in ids.iter().zip(&before) {
        let target = c.restore(id, &format!("after-{}", &id[..8]), &[]);
        assert_same_tree(expected, &target);
    }
    assert!(before[1].join("documents/added-later.txt").exists());
}
