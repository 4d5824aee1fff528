//! A plain local folder repository takes shortcuts past the object store
//! (a direct walk for listings, direct I/O for packs); each must give what
//! the store would, and fall back to it where the shortcut cannot work.

use crate::util::*;
use coffer_store::backend::Backend;
use std::sync::Arc;

/// A local folder's listing is a direct walk of the folder (for speed); it
/// must name what the object store's own listing names, with the same sizes,
/// and leave out an upload in progress the same way.
#[test]
fn local_folder_listing_matches_the_store_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let backend = Backend::open(tmp.path().to_str().unwrap(), true).unwrap();
    for (name, len) in [
        ("data/ab/ab01", 3),
        ("data/ab/ab02", 70),
        ("data/cd/cd03", 0),
    ] {
        backend
            .put_new(name, bytes::Bytes::from(vec![7u8; len]))
            .unwrap();
    }
    std::fs::write(tmp.path().join("data/ab/ab04#12"), b"half").unwrap();
    std::fs::write(tmp.path().join("data/cd/cd05#x"), b"kept").unwrap();
    std::fs::create_dir_all(tmp.path().join("data/ef")).unwrap();
    let mut walked = backend.list("data").unwrap();
    walked.sort();
    let store = backend.store();
    let mut listed: Vec<(String, u64)> = backend.block_on(async {
        use futures::TryStreamExt;
        let prefix = object_store::path::Path::from("data");
        let metas: Vec<object_store::ObjectMeta> =
            store.list(Some(&prefix)).try_collect().await.unwrap();
        metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect()
    });
    listed.sort();
    assert_eq!(walked, listed);
    assert_eq!(
        walked,
        vec![
            ("data/ab/ab01".to_string(), 3),
            ("data/ab/ab02".to_string(), 70),
            ("data/cd/cd03".to_string(), 0),
            ("data/cd/cd05#x".to_string(), 4),
        ]
    );
    assert!(backend.list("nothing-here").unwrap().is_empty());
}

/// On a file system without direct I/O (tmpfs) packs still go through: the
/// store writes them, the backup restores byte for byte, `check --read-data`
/// passes, and no staging file is left behind.
#[test]
fn packs_are_stored_where_direct_io_is_refused() {
    let Ok(tmp) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("no /dev/shm here: nothing to test");
        return;
    };
    let repo = folder_repo(tmp.path());
    let data: Arc<[u8]> = Arc::from(random_bytes("tmpfs", 3 << 20));
    let report = backup_stream(&repo, "db/dump.sql", &data, 10);
    let repo = reopen_folder(tmp.path());
    assert_eq!(&cat(&repo, &report, "db/dump.sql")[..], &data[..]);
    let checked = coffer_store::check::check(
        &repo,
        &coffer_store::check::CheckOptions { read_data: true },
        &coffer_store::progress::NoProgress,
    )
    .unwrap();
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    assert!(repo.backend().unfinished_writes().is_empty());
    assert!(!repo.backend().list("data").unwrap().is_empty());
}
