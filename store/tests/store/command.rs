use crate::util::{memory_repo, opts};
use coffer_store::Error;
use coffer_store::backup::{Source, backup};
use coffer_store::progress::NoProgress;
use coffer_store::restore::write_content;
use coffer_store::tree::resolve_path;
use coffer_store::format::tree::NodeKind;

fn command(argv: &[&str]) -> Source {
    Source::Command {
        name: "db/erp.dump".into(),
        argv: argv.iter().map(Into::into).collect(),
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
        vec![command(&["sh", "-c", "printf 'COPY llx_societe FROM stdin;\\n'"])],
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
    let good = backup(&repo, vec![command(&["echo", "complete dump"])], &opts(10), &NoProgress)
        .unwrap();
    let before = repo.snapshots().unwrap();
    assert_eq!(before.len(), 1);

    let err = backup(
        &repo,
        vec![command(&["sh", "-c", "echo partial; echo boom >&2; exit 3"])],
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
    assert_eq!(cat(&repo, &good.snapshot.root, "db/erp.dump"), b"complete dump\n");
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
    assert!(!msg.contains("--format"), "arguments may hold secrets: {msg}");
    assert!(repo.snapshots().unwrap().is_empty());
}
