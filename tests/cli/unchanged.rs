//! Nightly backups of a documents folder that did not change: nothing is read
//! again and nothing is stored again; `--force` reads everything, still stores
//! nothing new.

use crate::documents::write_documents;
use crate::harness::{Coffer, RepoKind, num};
use std::ffi::OsString;

on_each_store!(unchanged_documents_are_skipped_and_force_rereads_without_storing);

fn unchanged_documents_are_skipped_and_force_rereads_without_storing(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let docs = write_documents(c.root());
    let backup = |extra: &[&str]| {
        let mut a = vec![OsString::from("backup"), docs.root.clone().into()];
        a.extend(extra.iter().map(OsString::from));
        c.json(a)
    };

    let first = backup(&[]);
    assert_eq!(num(&first, "files_new"), docs.files);
    let full = num(&first, "bytes_added");
    assert!(
        full >= docs.bytes / 2,
        "first backup stored only {full} bytes: {first}"
    );

    let again = backup(&[]);
    assert_eq!(num(&again, "files_unmodified"), docs.files, "{again}");
    assert_eq!(
        num(&again, "files_new") + num(&again, "files_changed"),
        0,
        "{again}"
    );
    assert_eq!(
        num(&again, "bytes_read"),
        0,
        "unchanged files were read: {again}"
    );
    assert!(
        num(&again, "bytes_added") * 1000 < full,
        "re-backup of unchanged files stored {} bytes: {again}",
        num(&again, "bytes_added")
    );
    assert!(again["parent"] == first["snapshot_id"], "parent: {again}");

    let forced = backup(&["--force"]);
    assert_eq!(
        num(&forced, "bytes_read"),
        docs.bytes,
        "--force did not re-read: {forced}"
    );
    assert!(
        num(&forced, "bytes_added") * 1000 < full,
        "--force stored {} bytes again: {forced}",
        num(&forced, "bytes_added")
    );
    assert_eq!(c.snapshots().len(), 3);
}
