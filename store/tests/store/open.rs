use crate::util::{PASSWORD, at, fast_init, folder_repo, on_store, shared_store};
use coffer_store::Error;
use coffer_store::Repository;
use coffer_store::backend::Backend;
use coffer_store::repo::CacheLocation;

fn open_folder(dir: &std::path::Path, password: &[u8]) -> coffer_store::Result<Repository> {
    let backend = Backend::open(dir.to_str().unwrap(), false)?;
    Repository::open(backend, password, CacheLocation::Temporary)
}

#[test]
fn wrong_password() {
    let store = shared_store();
    Repository::init(
        on_store(&store),
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap();
    let err = Repository::open(on_store(&store), b"hunter2", CacheLocation::Temporary).unwrap_err();
    assert!(
        matches!(err, Error::WrongPassword { key_files: 1 }),
        "{err:?}"
    );
    Repository::open(on_store(&store), PASSWORD, CacheLocation::Temporary).unwrap();
}

#[test]
fn folder_without_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "not a repository").unwrap();
    let err = open_folder(tmp.path(), PASSWORD).unwrap_err();
    assert!(matches!(err, Error::NotARepository { .. }), "{err:?}");
    // Someone else's `config` file is not ours either.
    std::fs::write(tmp.path().join("config"), "[core]\n\tbare = true\n").unwrap();
    let err = open_folder(tmp.path(), PASSWORD).unwrap_err();
    assert!(matches!(err, Error::NotARepository { .. }), "{err:?}");
}

#[test]
fn missing_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let err = open_folder(&tmp.path().join("nowhere"), PASSWORD).unwrap_err();
    assert!(matches!(err, Error::RepositoryNotFound { .. }), "{err:?}");
    assert!(
        !tmp.path().join("nowhere").exists(),
        "opening must not create the folder"
    );
}

#[test]
fn init_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let first = folder_repo(tmp.path());
    let backend = Backend::open(tmp.path().to_str().unwrap(), true).unwrap();
    let err = Repository::init(
        backend,
        b"other",
        &fast_init(),
        at(1),
        CacheLocation::Temporary,
    )
    .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    // The first repository is untouched: its password still opens it, the other does not.
    let again = open_folder(tmp.path(), PASSWORD).unwrap();
    assert_eq!(again.repo_id_hex(), first.repo_id_hex());
    let err = open_folder(tmp.path(), b"other").unwrap_err();
    assert!(matches!(err, Error::WrongPassword { .. }), "{err:?}");
}

#[test]
fn newer_format_version() {
    let tmp = tempfile::tempdir().unwrap();
    folder_repo(tmp.path());
    let config = tmp.path().join("config");
    let mut bytes = std::fs::read(&config).unwrap();
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&config, bytes).unwrap();
    // The version is checked before the password is tried.
    let err = open_folder(tmp.path(), b"any password").unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        ),
        "{err:?}"
    );
}

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
