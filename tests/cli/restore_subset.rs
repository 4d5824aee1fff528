//! Restoring part of a snapshot never writes outside the target: not through
//! a symlink the snapshot holds, nor one an earlier restore left in the
//! target, nor by a `..` in what is asked for; what is skipped is said.

use crate::harness::{Coffer, RepoKind};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

on_each_store!(
    a_later_subset_replaces_a_symlink_and_never_writes_through_it,
    a_path_through_a_symlink_of_the_snapshot_is_skipped_and_said,
    dot_dot_in_a_path_or_an_include_is_refused
);

/// Night 1 (27 May): `erp/a` is a symlink to `outside/`, a folder beside the
/// target holding `x`. Night 2 (28 May): `erp/a` is a real folder holding `x`.
fn two_nights(kind: RepoKind) -> Option<Coffer> {
    let c = Coffer::init_on(kind, &[])?;
    let outside = c.path("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("x"), b"outside, must stay").expect("write");
    let src = c.path("erp");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("doc.txt"), b"a document").expect("write");
    std::os::unix::fs::symlink(&outside, src.join("a")).expect("symlink");
    let backup = |day: &str| {
        c.ok([
            "backup",
            src.to_str().expect("utf-8"),
            "--time",
            &format!("2026-05-{day}T23:00:00Z"),
        ]);
    };
    backup("27");
    std::fs::remove_file(src.join("a")).expect("rm symlink");
    std::fs::create_dir(src.join("a")).expect("mkdir");
    let x = src.join("a/x");
    std::fs::write(&x, b"inside, night 2").expect("write");
    std::fs::set_permissions(&x, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    backup("28");
    Some(c)
}

fn outside_untouched(c: &Coffer) {
    assert_eq!(
        std::fs::read(c.path("outside/x")).expect("outside/x is still there"),
        b"outside, must stay"
    );
    let entries = std::fs::read_dir(c.path("outside")).expect("ls").count();
    assert_eq!(entries, 1, "nothing was added outside the target");
}

fn a_later_subset_replaces_a_symlink_and_never_writes_through_it(kind: RepoKind) {
    let Some(c) = two_nights(kind) else { return };
    let target = c.path("target");
    let t = target.to_str().expect("utf-8");
    c.ok(["restore", "--as-of", "2026-05-27", "--target", t]);
    let link = target.join("erp/a");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("restored")
            .file_type()
            .is_symlink(),
        "night 1 restores the symlink as a symlink"
    );

    // Night 2's `erp/a/x` into the same target, where `erp/a` now points outside.
    let r = c.ok([
        "restore",
        "--as-of",
        "2026-05-28",
        "--target",
        t,
        "--include",
        "erp/a/**",
        "--json",
    ]);
    outside_untouched(&c);
    let md = std::fs::symlink_metadata(&link).expect("erp/a");
    assert!(md.is_dir(), "the symlink was replaced by the folder");
    let x = target.join("erp/a/x");
    assert_eq!(std::fs::read(&x).expect("x"), b"inside, night 2");
    let source = std::fs::metadata(c.path("erp/a/x")).expect("source");
    let restored = std::fs::metadata(&x).expect("restored");
    assert_eq!(restored.mode() & 0o7777, 0o604, "mode restored");
    assert_eq!(restored.mtime(), source.mtime(), "mtime restored");
    assert_eq!(restored.mtime_nsec(), source.mtime_nsec(), "mtime restored");
    let summary = r.json();
    assert_eq!(summary["files_restored"], 1, "{summary}");
    assert_eq!(summary["skipped"].as_array().map(Vec::len), Some(0));
}

fn a_path_through_a_symlink_of_the_snapshot_is_skipped_and_said(kind: RepoKind) {
    let Some(c) = two_nights(kind) else { return };
    let target = c.path("target");
    let t = target.to_str().expect("utf-8");
    // `erp/a/x` of night 1 would be `outside/x` if the symlink were followed.
    let r = c.run([
        "restore",
        "--as-of",
        "2026-05-27",
        "erp/a/x",
        "--target",
        t,
        "--json",
    ]);
    r.assert_code(3);
    outside_untouched(&c);
    let summary = r.json();
    let skipped = summary["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 1, "{summary}");
    assert_eq!(skipped[0]["path"], "erp/a/x");
    let why = skipped[0]["reason"].as_str().expect("reason");
    assert!(
        why.contains("erp/a is a symlink") && why.contains("does not follow"),
        "{why}"
    );
    assert_eq!(summary["files_restored"], 0);
    assert!(files_under(&target).is_empty(), "nothing restored");

    // Without --json the same is said on stderr.
    let r = c.run(["restore", "--as-of", "2026-05-27", "erp/a/x", "--target", t]);
    r.assert_code(3);
    assert!(
        r.stderr
            .contains("erp/a/x: not restored: erp/a is a symlink"),
        "{}",
        r.stderr
    );

    // An --include below the symlink matches nothing in that snapshot: nothing
    // is followed, and the command says so.
    let r = c.run([
        "restore",
        "--as-of",
        "2026-05-27",
        "--include",
        "erp/a/*",
        "--target",
        t,
    ]);
    refused(&r, &["matches nothing"]);
    outside_untouched(&c);
}

fn dot_dot_in_a_path_or_an_include_is_refused(kind: RepoKind) {
    let Some(c) = two_nights(kind) else { return };
    let target = c.path("target");
    let t = target.to_str().expect("utf-8");
    let r = c.run([
        "restore",
        "--as-of",
        "2026-05-28",
        "erp/../../outside",
        "--target",
        t,
    ]);
    refused(&r, &["`..`", "erp/../../outside"]);
    let r = c.run([
        "restore",
        "--as-of",
        "2026-05-28",
        "--include",
        "erp/../outside/*",
        "--target",
        t,
    ]);
    refused(&r, &["`..`", "--include"]);
    outside_untouched(&c);
    assert!(files_under(&target).is_empty(), "nothing restored");
}

/// Failed with exit code 1 and an error line (after the line naming the
/// chosen snapshot) that mentions every needle.
fn refused(r: &crate::harness::Run, needles: &[&str]) {
    r.assert_code(1);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("coffer: "))
        .unwrap_or_else(|| panic!("no error line: {}", r.stderr));
    for n in needles {
        assert!(line.contains(n), "error line should mention {n:?}: {line}");
    }
}

fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
