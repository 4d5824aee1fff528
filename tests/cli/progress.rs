//! Progress in its three forms: a bar with a percentage and an ETA under a
//! pseudo-terminal (util-linux `script`), nothing in a pipe, and `--json`
//! status lines on stderr that parse, one object per line.

use crate::documents::{noise, write_documents};
use crate::harness::{Coffer, Run, describe, num, skip};
use std::ffi::OsString;
use std::process::{Command, Stdio};

/// Runs `cmd` with a pseudo-terminal as its stdin, stdout and stderr, through
/// `script -qec`, and returns everything the terminal showed.
fn in_terminal(cmd: &Command) -> Option<(Option<i32>, String)> {
    if Command::new("script").arg("--version").output().is_err() {
        skip("util-linux `script` is not installed: no pseudo-terminal test");
        return None;
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(&a.to_string_lossy()));
    }
    let mut s = Command::new("script");
    s.args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        // A wide terminal, so a frame is one line.
        .env("COLUMNS", "200");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    let out = s.output().expect("run script");
    Some((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[test]
fn a_terminal_shows_a_bar_with_eta_and_a_pipe_shows_none() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    std::fs::write(docs.root.join("scan-big.bin"), noise(7, 24 << 20)).expect("write");

    let mut backup = c.command();
    backup.arg("backup").arg(&docs.root);
    let Some((code, screen)) = in_terminal(&backup) else {
        return;
    };
    assert_eq!(code, Some(0), "{}:\n{screen}", describe(&backup));
    // The backup measured its sources: a bar with a total, a percentage, an ETA.
    let frame = screen
        .split(['\r', '\n'])
        .find(|l| l.contains("backup [") && l.contains("ETA"))
        .unwrap_or_else(|| panic!("no backup bar with ETA on the terminal:\n{screen:?}"));
    assert!(frame.contains('%') && frame.contains("files"), "{frame:?}");
    assert!(screen.contains("saved"), "{screen:?}");

    let target = c.path("restored");
    let mut restore = c.command();
    restore
        .arg("restore")
        .arg("latest")
        .arg("--target")
        .arg(&target);
    let (code, screen) = in_terminal(&restore).expect("script is there");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen
            .split(['\r', '\n'])
            .any(|l| l.contains("restore [") && l.contains("ETA") && l.contains("files")),
        "no restore bar with ETA on the terminal:\n{screen:?}"
    );

    // check reads every pack: the index gives the total.
    let mut check = c.command();
    check.args(["check", "--read-data"]);
    let (code, screen) = in_terminal(&check).expect("script is there");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen
            .split(['\r', '\n'])
            .any(|l| l.contains("read data [") && l.contains("ETA") && l.contains("packs")),
        "no check bar with ETA on the terminal:\n{screen:?}"
    );

    // copy: each snapshot's summary gives the total.
    let other = c.path("other");
    let mut init = c.command_at(&other, &c.path("other-cache"));
    init.arg("init");
    assert!(init.status().expect("init").success());
    let mut copy = c.command();
    copy.arg("copy")
        .arg("--to-repo")
        .arg(&other)
        .env("COFFER_TO_PASSWORD", crate::harness::PASSWORD);
    let (code, screen) = in_terminal(&copy).expect("script is there");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen
            .split(['\r', '\n'])
            .any(|l| l.contains("copy ") && l.contains('[') && l.contains("ETA")),
        "no copy bar with ETA on the terminal:\n{screen:?}"
    );

    // The same commands into pipes: results only, not a byte of drawing.
    let piped = c.ok([
        OsString::from("backup"),
        "--force".into(),
        docs.root.clone().into(),
    ]);
    let again = c.ok([
        OsString::from("restore"),
        "latest".into(),
        "--target".into(),
        c.path("restored-2").into(),
    ]);
    let check = c.ok(["check", "--read-data"]);
    for run in [&piped, &again, &check] {
        for text in [run.stdout_str(), run.stderr.clone()] {
            assert!(
                !text.contains('\r') && !text.contains('\x1b') && !text.contains("ETA"),
                "{}: progress in a pipe: {text:?}",
                run.command
            );
        }
        assert!(run.stderr.is_empty(), "{}: {}", run.command, run.stderr);
    }
}

/// Every stderr line of a `--json` run as an object with a `message_type`.
fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stderr
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: stderr line is not JSON ({e}): {l}", run.command));
            assert!(v["message_type"].is_string(), "no message_type: {l}");
            v
        })
        .collect()
}

/// The status lines of `phase`, in order; the last one must be complete.
fn statuses<'a>(lines: &'a [serde_json::Value], phase: &str) -> Vec<&'a serde_json::Value> {
    let v: Vec<_> = lines
        .iter()
        .filter(|l| l["message_type"] == "status" && l["phase"] == phase)
        .collect();
    assert!(
        v.len() >= 2,
        "phase {phase}: a first and a last status expected: {lines:?}"
    );
    for s in &v {
        for field in [
            "seconds_elapsed",
            "bytes_done",
            "files_done",
            "bytes_per_second",
        ] {
            assert!(s[field].is_number(), "{field} missing in {s}");
        }
    }
    v
}

#[test]
fn json_status_and_summary_lines_parse() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    let run = c.ok([
        OsString::from("--json"),
        "backup".into(),
        docs.root.clone().into(),
    ]);
    let summary = run.json();
    assert_eq!(summary["message_type"], "summary");
    let lines = json_lines(&run);
    let backup = statuses(&lines, "backup");
    let (first, last) = (backup[0], backup[backup.len() - 1]);
    assert_eq!(num(first, "bytes_done"), 0, "{first}");
    // The measured total is what the backup then read: documents only, no stream.
    assert_eq!(num(last, "total_bytes"), docs.bytes, "{last}");
    assert_eq!(num(last, "bytes_done"), num(&summary, "bytes_total"));
    assert_eq!(num(last, "total_files"), docs.files);
    assert_eq!(num(last, "files_done"), docs.files);
    assert_eq!(last["percent_done"], 1.0);
    assert!(last["seconds_remaining"].is_number(), "{last}");

    let run = c.ok([
        OsString::from("--json"),
        "restore".into(),
        "latest".into(),
        "--target".into(),
        c.path("r").into(),
    ]);
    let summary = run.json();
    assert_eq!(summary["message_type"], "summary");
    let lines = json_lines(&run);
    let restore = statuses(&lines, "restore");
    let last = restore[restore.len() - 1];
    assert_eq!(num(last, "total_bytes"), docs.bytes);
    assert_eq!(num(last, "bytes_done"), num(&summary, "bytes_restored"));
    assert_eq!(num(last, "files_done"), num(&summary, "files_restored"));

    let run = c.ok(["--json", "check", "--read-data"]);
    let summary = run.json();
    assert_eq!(summary["message_type"], "summary");
    let lines = json_lines(&run);
    let read = statuses(&lines, "read data");
    let last = read[read.len() - 1];
    assert_eq!(last["unit"], "packs");
    assert_eq!(num(last, "files_done"), num(&summary, "packs_read"));
    assert_eq!(num(last, "bytes_done"), num(&summary, "bytes_read"));
    assert_eq!(num(last, "total_bytes"), num(&summary, "bytes_read"));

    // A stream has no size until it ends: statuses, but no total and no ETA.
    let run = c.run_with_stdin(["--json", "backup", "--stdin"], &noise(3, 1 << 20));
    run.assert_code(0);
    let lines = json_lines(&run);
    for s in statuses(&lines, "backup") {
        assert!(s.get("total_bytes").is_none(), "{s}");
        assert!(s.get("seconds_remaining").is_none(), "{s}");
    }

    // --quiet silences the status lines too.
    let quiet = c.ok([
        OsString::from("--json"),
        "--quiet".into(),
        "backup".into(),
        docs.root.clone().into(),
    ]);
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
    assert_eq!(quiet.json()["message_type"], "summary");
}
