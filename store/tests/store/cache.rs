use crate::util::{
    PASSWORD, assert_same_tree, at, backup_paths, erp_tree, fast_init, on_store, restore_all,
    shared_store,
};
use coffer_store::Repository;
use coffer_store::repo::CacheLocation;
use std::path::Path;

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

/// The cache is a disposable copy of the index files: a new or emptied cache
/// folder is rebuilt from them and restores work the same.
#[test]
fn restore_works_with_an_empty_or_wiped_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erp");
    erp_tree(&src);
    let (d1, d2) = (tmp.path().join("cache1"), tmp.path().join("cache2"));
    let store = shared_store();
    let report = {
        let repo = Repository::init(
            on_store(&store),
            PASSWORD,
            &fast_init(),
            at(0),
            CacheLocation::Dir(d1.clone()),
        )
        .unwrap();
        let report = backup_paths(&repo, &[&src], 10);
        assert!(d1.join(repo.repo_id_hex()).is_dir());
        report
    };
    let open = |cache: &Path| {
        Repository::open(
            on_store(&store),
            PASSWORD,
            CacheLocation::Dir(cache.to_path_buf()),
        )
        .unwrap()
    };

    let repo = open(&d2);
    let target = tmp.path().join("from-new-cache");
    restore_all(&repo, &report, &target);
    assert_same_tree(&src, &target.join("erp"));
    assert!(d2.join(repo.repo_id_hex()).is_dir());
    // A second user of a cache in use (RocksDB allows one) still works.
    let other = open(&d2);
    let target = tmp.path().join("while-cache-busy");
    restore_all(&other, &report, &target);
    assert_same_tree(&src, &target.join("erp"));
    drop((repo, other));

    for e in std::fs::read_dir(&d1).unwrap() {
        std::fs::remove_dir_all(e.unwrap().path()).unwrap();
    }
    assert_eq!(entries(&d1), 0);
    let repo = open(&d1);
    let target = tmp.path().join("from-wiped-cache");
    restore_all(&repo, &report, &target);
    assert_same_tree(&src, &target.join("erp"));
    assert_eq!(entries(&d1), 1);
}
