use crate::util::{memory_repo, opts};
use coffer_store::Error;
use coffer_store::backup::{Source, backup};
use coffer_store::format::tree::NodeKind;
use coffer_store::progress::NoProgress;
use coffer_store::restore::write_content;
use coffer_store::tree::resolve_path;

fn command(argv: &[&str]) -> Source {
    Source::Command {
        name: "db/erp.dump".into(),
        argv: argv.iter().map(Into::into).collect(),
        tap: None,
    }
}

fn cat(repo: &coffer_store::Repository, root: &coffer_store::id::BlobId, path: &str) -> Vec<u8> {
    let node = resolve_path(repo, root, path).unwrap().unwrap();
    let NodeKind::File { content } = node.kind else {
        panic!("{path} is not a file");
    };
    let mut out = Vec::new();
    write_content(repo, &content, &mut out, &NoProgress).unwrap();
    out
}

#[test]
fn successful_command_output_is_stored() {
    let repo = memory_repo();
    let report = backup(
        &repo,
        vec![command(&[
            "sh",
            "-c",
            "printf 'COPY llx_societe FROM stdin;\\n'",
        ])],
        &opts(10),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(
        cat(&repo, &report.snapshot.root, "db/erp.dump"),
        b"COPY llx_societe FROM stdin;\n"
    );
}

/// A dump that died half-way must never pass for a whole one.
#[test]
fn failing_command_writes_no_snapshot() {
    let repo = memory_repo();
    let good = backup(
        &repo,
        vec![command(&["echo", "complete dump"])],
        &opts(10),
        &NoProgress,
    )
    .unwrap();
    let before = repo.snapshots().unwrap();
    assert_eq!(before.len(), 1);

    let err = backup(
        &repo,
        vec![command(&[
            "sh",
            "-c",
            "echo partial; echo boom >&2; exit 3",
        ])],
        &opts(20),
        &NoProgress,
    )
    .unwrap_err();
    match &err {
        Error::CommandFailed {
            what,
            status,
            stderr_tail,
        } => {
            assert_eq!(what, "sh");
            assert!(status.contains('3'), "{status}");
            assert!(stderr_tail.contains("boom"), "{stderr_tail:?}");
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    assert!(err.to_string().contains("no snapshot was written"), "{err}");
    let after = repo.snapshots().unwrap();
    assert_eq!(
        after.iter().map(|s| s.id).collect::<Vec<_>>(),
        before.iter().map(|s| s.id).collect::<Vec<_>>()
    );
    assert_eq!(
        cat(&repo, &good.snapshot.root, "db/erp.dump"),
        b"complete dump\n"
    );
}

#[test]
fn missing_command_is_a_command_failure() {
    let repo = memory_repo();
    let err = backup(
        &repo,
        vec![command(&["coffer-no-such-pg_dump", "--format=custom"])],
        &opts(10),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, Error::CommandFailed { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("coffer-no-such-pg_dump"), "{msg}");
    assert!(msg.contains("No such file or directory"), "{msg}");
    assert!(
        !msg.contains("--format"),
        "arguments may hold secrets: {msg}"
    );
    assert!(repo.snapshots().unwrap().is_empty());
}

/// A stream that breaks off is an error, not a short file.
#[test]
fn failing_reader_writes_no_snapshot() {
    struct Broken(usize);
    impl std::io::Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("connection reset by peer"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }
    let repo = memory_repo();
    let err = backup(
        &repo,
        vec![Source::Stdin {
            name: "db/erp.dump".into(),
            reader: Box::new(Broken(300_000)),
        }],
        &opts(10),
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Source { .. }), "{err:?}");
    assert!(repo.snapshots().unwrap().is_empty());
}

/// Regression: the walker thread's panic was ignored, and a panic between two
/// sources left a snapshot that silently lacked the rest.
#[test]
fn producer_panic_is_not_a_short_snapshot() {
    struct Exploding;
    impl coffer_store::progress::Progress for Exploding {
        fn bytes(&self, _: u64) {
            panic!("progress exploded");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.txt"), tmp.path().join("b.txt"));
    std::fs::write(&a, "a").unwrap();
    std::fs::write(&b, "b").unwrap();
    let repo = memory_repo();
    let sources = || vec![Source::Path(a.clone()), Source::Path(b.clone())];
    backup(&repo, sources(), &opts(10), &NoProgress).unwrap();
    // Unchanged, `b.txt` is reported to progress without being read: the walker
    // panics outside any file or folder.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        backup(&repo, sources(), &opts(20), &Exploding)
    }));
    assert!(
        !matches!(outcome, Ok(Ok(_))),
        "a backup whose producer panicked returned a snapshot"
    );
    assert_eq!(repo.snapshots().unwrap().len(), 1);
}
