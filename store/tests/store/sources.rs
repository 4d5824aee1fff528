use crate::util::{at, memory_repo, opts, write_file};
use coffer_store::Error;
use coffer_store::backup::{Source, backup};
use coffer_store::format::tree::NodeKind;
use coffer_store::progress::NoProgress;
use coffer_store::tree::resolve_path;

fn stdin(name: &str, data: &'static [u8]) -> Source {
    Source::Stdin {
        name: name.into(),
        reader: Box::new(data),
    }
}

#[test]
fn folder_and_stream_share_one_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("documents");
    write_file(&docs.join("facture/FA2605-0001.pdf"), b"%PDF", 0o644, at(1));
    let repo = memory_repo();
    let report = backup(
        &repo,
        vec![
            Source::Path(docs.clone()),
            stdin("db/erp.dump", b"PGDMP dump"),
        ],
        &opts(10),
        &NoProgress,
    )
    .unwrap();
    let root = &report.snapshot.root;
    let dump = resolve_path(&repo, root, "db/erp.dump").unwrap().unwrap();
    assert!(matches!(dump.kind, NodeKind::File { .. }));
    assert_eq!(dump.size, 10);
    let db = resolve_path(&repo, root, "db").unwrap().unwrap();
    assert!(db.is_dir());
    let pdf = resolve_path(&repo, root, "documents/facture/FA2605-0001.pdf")
        .unwrap()
        .unwrap();
    assert_eq!(pdf.size, 4);
    assert_eq!(report.snapshot.paths.len(), 2);
    assert!(report.snapshot.paths.contains(&"db/erp.dump".to_string()));
}

#[test]
fn stream_named_inside_a_folder_source_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("documents");
    std::fs::create_dir(&docs).unwrap();
    let repo = memory_repo();
    let err = backup(
        &repo,
        vec![Source::Path(docs), stdin("documents/x", b"x")],
        &opts(10),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("documents"), "{err}");
    assert!(repo.snapshots().unwrap().is_empty());
}
