//! Passwords and S3 credentials never show: not in anything coffer prints
//! (plain or `--json`, success or error), not in its cache folder, and there
//! is no argument that takes a password (an argument is visible to every user
//! of the machine in `ps` and lands in shell history).
#![allow(clippy::unwrap_used)]

use crate::documents::write_documents;
use crate::harness::{Coffer, RepoKind, Run, unique};
use std::path::Path;
use std::process::Command;

on_each_store!(secrets_never_printed_nor_cached);

/// Every file below `dir`, searched for `needle` as bytes.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

fn secrets_never_printed_nor_cached(kind: RepoKind) {
    let Some(c) = Coffer::empty_on(kind) else {
        return;
    };
    let password = format!("pw-{:016x}-never-shown", unique());
    // moto takes any credentials: a distinctive secret key, so a leak is found.
    let secret = format!("sk-{:016x}-never-shown", unique());
    let pw_file = c.path("password.txt");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let docs = write_documents(c.root());

    // The password from the environment, or from a file; the secret key from
    // the environment, as the AWS SDKs read it.
    let with_env = |args: &[&str]| -> Run {
        let mut cmd = c.command();
        cmd.env("COFFER_PASSWORD", &password)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .args(args);
        Run::capture(cmd)
    };
    let with_file = |args: &[&str]| -> Run {
        let mut cmd = c.command();
        cmd.env_remove("COFFER_PASSWORD")
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .arg("--password-file")
            .arg(&pw_file)
            .args(args);
        Run::capture(cmd)
    };
    let docs_arg = docs.root.to_str().unwrap();
    let mut runs = vec![
        with_env(&["init"]),
        with_env(&["backup", docs_arg]),
        with_file(&["--json", "backup", docs_arg]),
        with_env(&["snapshots"]),
        with_file(&["--json", "snapshots"]),
        with_env(&["--json", "ls", "latest"]),
        with_file(&["check", "--read-data"]),
        with_env(&["--json", "check"]),
        with_env(&["key", "list"]),
        with_file(&["--json", "key", "list"]),
        with_env(&[
            "restore",
            "latest",
            "--target",
            c.path("restored").to_str().unwrap(),
        ]),
    ];
    for r in &runs[..2] {
        r.assert_code(0);
    }
    // Failures too: a wrong password, a snapshot that is not there.
    let mut wrong = c.command();
    wrong
        .env("COFFER_PASSWORD", format!("{password}-wrong"))
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .args(["--json", "snapshots"]);
    let wrong = Run::capture(wrong);
    assert_ne!(wrong.code, Some(0));
    runs.push(wrong);
    runs.push(with_env(&["--json", "ls", "ffffffff"]));
    runs.push(with_file(&[
        "restore",
        "ffffffff",
        "--target",
        "/nonexistent/x",
    ]));

    for r in &runs {
        let printed = format!("{}\n{}", r.stdout_str(), r.stderr);
        assert!(
            !printed.contains(&password),
            "{} printed the password:\n{printed}",
            r.command
        );
        assert!(
            !printed.contains(&secret),
            "{} printed the secret key:\n{printed}",
            r.command
        );
    }
    for needle in [&password, &secret] {
        let hits = files_containing(&c.cache(), needle.as_bytes());
        assert!(hits.is_empty(), "the cache holds a secret: {hits:?}");
        if kind == RepoKind::Folder {
            let hits = files_containing(&c.repo(), needle.as_bytes());
            assert!(
                hits.is_empty(),
                "the repository holds a secret in clear: {hits:?}"
            );
        }
    }
}

/// No flag takes the password itself: only a file, a command or the environment.
#[test]
fn no_argument_takes_a_password() {
    let c = Coffer::init();
    for flag in ["--password", "--new-password", "--pass"] {
        let mut cmd = c.command();
        cmd.args([flag, "hunter2", "snapshots"]);
        let r = Run::capture(cmd);
        assert_eq!(r.code, Some(2), "{flag} was accepted: {}", r.stderr);
    }
    let mut cmd = c.command();
    cmd.args(["key", "add", "--new-password", "hunter2"]);
    assert_eq!(Run::capture(cmd).code, Some(2));
    // Every flag that mentions a password in the help is a file, a command or a variable.
    let help = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in help.lines().filter(|l| l.trim_start().starts_with('-')) {
        if line.contains("password") && line.contains("<") {
            assert!(
                line.contains("-file") || line.contains("-command") || line.contains("-env"),
                "a flag that may take a password: {line}"
            );
        }
    }
}
