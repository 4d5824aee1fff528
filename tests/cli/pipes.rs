//! coffer in shell pipelines: a reader that stops early is not an error, and
//! output meant for a pipe or a log carries no progress drawing.

use crate::documents::{noise, write_documents};
use crate::harness::{Coffer, RepoKind};
use std::ffi::OsString;
use std::process::{Command, Stdio};

on_each_store!(cat_into_a_pipe_closed_early_exits_0);

fn cat_into_a_pipe_closed_early_exits_0(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let dump = noise(42, 8 << 20);
    c.run_with_stdin(["backup", "--stdin", "--stdin-name", "db/erp.dump"], &dump)
        .assert_code(0);

    // coffer cat latest:db/erp.dump | head -c 10
    let mut cat = c.command();
    cat.args(["cat", "latest:db/erp.dump"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut cat = cat.spawn().expect("start coffer cat");
    let head = Command::new("head")
        .args(["-c", "10"])
        .stdin(Stdio::from(cat.stdout.take().expect("piped")))
        .output()
        .expect("run head");
    let cat = cat.wait_with_output().expect("wait for coffer");
    assert_eq!(head.stdout, dump[..10], "head got other bytes");
    assert_eq!(
        cat.status.code(),
        Some(0),
        "a closed pipe made cat fail: {}",
        String::from_utf8_lossy(&cat.stderr)
    );
    assert!(
        cat.stderr.is_empty(),
        "cat complained: {}",
        String::from_utf8_lossy(&cat.stderr)
    );
}

#[test]
fn output_into_a_pipe_has_no_progress_drawing() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    let dump = noise(43, 3 << 20);
    let run = c.run_with_stdin(
        [
            OsString::from("backup"),
            docs.root.clone().into(),
            "--stdin".into(),
        ],
        &dump,
    );
    run.assert_code(0);
    let out = run.stdout_str();
    assert!(
        out.contains("saved"),
        "backup says nothing of its snapshot:\n{out}"
    );
    for (what, text) in [("stdout", out.as_str()), ("stderr", run.stderr.as_str())] {
        assert!(
            !text.contains('\r') && !text.contains('\x1b'),
            "{what} of backup in a pipe has progress escapes: {text:?}"
        );
    }

    let quiet = c.ok([
        OsString::from("--quiet"),
        "backup".into(),
        docs.root.clone().into(),
    ]);
    assert!(
        quiet.stdout.is_empty(),
        "--quiet printed: {}",
        quiet.stdout_str()
    );
    let restored = c.ok([
        OsString::from("restore"),
        "latest".into(),
        "--target".into(),
        c.path("restored").into(),
    ]);
    assert!(!restored.stdout_str().contains('\r') && !restored.stderr.contains('\x1b'));
}
