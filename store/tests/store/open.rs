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
