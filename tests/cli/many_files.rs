//! A million small files: an ERP's document folder after ten years of attachments.
//! The backup stores every one, a second night finds them all unchanged, the
//! restore brings every one back with its bytes, and the peak memory of each
//! run stays bounded (measured with GNU time, which `.ci/install` installs).

use crate::harness::{Coffer, Run, num};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const FOLDERS: usize = 1_000;
const FILES_PER_FOLDER: usize = 1_000;
const FILES: u64 = (FOLDERS * FILES_PER_FOLDER) as u64;
/// Peak resident memory any one run may use. Measured on 2026-12-03 (two
/// runs): first backup 293-307 MiB, unchanged night 244-275 MiB, restore
/// 101-103 MiB, of which 64 MiB is the key derivation. A limit, not a proof of
/// flatness (per-file records of ~100 bytes would still pass): holding the
/// files' bytes, or a copy of the source tree per folder, would break it.
const PEAK_RSS_LIMIT_KIB: u64 = 512 * 1024;

/// The bytes of file `f` of folder `d`: distinct (one chunk each, the index's
/// worst case), 20 to ~500 bytes.
fn content(d: usize, f: usize) -> Vec<u8> {
    let line = format!(
        "FA{d:04}-{f:04} total {}\n",
        (d * 7919 + f * 104_729) % 100_000
    );
    line.repeat(1 + (d + f) % 17).into_bytes()
}

fn folder_name(d: usize) -> String {
    format!("FA{d:04}")
}

fn file_name(f: usize) -> String {
    format!("piece-{f:04}.pdf")
}

fn write_tree(root: &Path) {
    for d in 0..FOLDERS {
        let dir = root.join(folder_name(d));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..FILES_PER_FOLDER {
            std::fs::write(dir.join(file_name(f)), content(d, f)).expect("write a small file");
        }
    }
}

/// `cmd` run under `/usr/bin/time`: its result and its peak RSS in KiB.
fn run_measured(cmd: &Command, label: &str, scratch: &Path) -> (Run, u64) {
    let rss_file = scratch.join(format!("{label}.rss"));
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(std::process::Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let started = std::time::Instant::now();
    let run = Run::capture(timed);
    let rss = std::fs::read_to_string(&rss_file)
        .unwrap_or_else(|e| panic!("GNU time wrote no {}: {e}", rss_file.display()));
    let kib = rss
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time's output is not a number: {rss:?}"));
    eprintln!(
        "{label}: peak RSS {} MiB, {:.1} s",
        kib / 1024,
        started.elapsed().as_secs_f64()
    );
    (run, kib)
}

fn coffer_args(c: &Coffer, args: &[OsString]) -> Command {
    let mut cmd = c.command();
    cmd.args(args);
    cmd
}

#[test]
fn a_million_small_files_back_up_and_restore_with_bounded_memory() {
    if !Path::new("/usr/bin/time").exists() {
        crate::harness::skip("GNU time (/usr/bin/time) is not installed (run: bash .ci/install)");
        return;
    }
    let c = match memory_folder() {
        Some(base) => Coffer::init_in(&base),
        None => Coffer::init(),
    };
    let src = c.path("documents");
    let started = std::time::Instant::now();
    write_tree(&src);
    eprintln!(
        "writing the source: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let scratch = c.path("measure");
    std::fs::create_dir_all(&scratch).expect("mkdir");

    let backup: Vec<OsString> = vec!["--json".into(), "backup".into(), src.clone().into()];
    let (first, first_rss) = run_measured(&coffer_args(&c, &backup), "first backup", &scratch);
    first.assert_code(0);
    let summary = summary_of(&first);
    assert_eq!(num(&summary, "files_new"), FILES, "{summary}");
    assert_eq!(num(&summary, "dirs"), FOLDERS as u64 + 1, "{summary}");
    assert_eq!(summary["partial"], false, "{summary}");
    assert!(
        first_rss < PEAK_RSS_LIMIT_KIB,
        "the first backup of {FILES} files peaked at {} MiB",
        first_rss / 1024
    );

    // The next night: nothing changed, nothing is read again.
    let (second, second_rss) = run_measured(&coffer_args(&c, &backup), "second backup", &scratch);
    second.assert_code(0);
    let summary = summary_of(&second);
    assert_eq!(num(&summary, "files_unmodified"), FILES, "{summary}");
    assert_eq!(num(&summary, "bytes_read"), 0, "{summary}");
    assert!(
        second_rss < PEAK_RSS_LIMIT_KIB,
        "second backup: {} MiB",
        second_rss / 1024
    );

    // The restore must not lean on the source (and the memory folder is halved).
    std::fs::remove_dir_all(&src).expect("remove the source");
    let target = c.path("target");
    let restore: Vec<OsString> = vec![
        "restore".into(),
        "latest".into(),
        "--target".into(),
        target.clone().into(),
    ];
    let (restored, restore_rss) = run_measured(&coffer_args(&c, &restore), "restore", &scratch);
    restored.assert_code(0);
    assert!(
        restore_rss < PEAK_RSS_LIMIT_KIB,
        "restore: {} MiB",
        restore_rss / 1024
    );
    let started = std::time::Instant::now();
    assert_restored(&target.join("documents"));
    eprintln!(
        "verifying the restore: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Free bytes a memory folder must have for this test: a page per small file,
/// for the source and then the restored copy, and the repository, with room
/// to spare for the tests running beside it.
const MEMORY_FOLDER_NEEDS: u64 = 12 << 30;

/// `/dev/shm` when it is a tmpfs with room for the test. Creating, restoring
/// and deleting two million files on a disk's journal took most of this
/// test's ten minutes and more in CI, and measured the disk, not coffer; in
/// memory the same calls take a fraction of that. Elsewhere the test runs in
/// the usual temporary folder.
fn memory_folder() -> Option<PathBuf> {
    let shm = Path::new("/dev/shm");
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let is_tmpfs = mounts.lines().any(|l| {
        let mut f = l.split_whitespace();
        f.next();
        f.next() == Some("/dev/shm") && f.next() == Some("tmpfs")
    });
    if !is_tmpfs {
        return None;
    }
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(shm)
        .output()
        .ok()?;
    let avail: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    (avail >= MEMORY_FOLDER_NEEDS).then(|| shm.to_path_buf())
}

fn summary_of(run: &Run) -> serde_json::Value {
    let out = run.stdout_str();
    let line = out
        .lines()
        .rev()
        .find(|l| l.contains("\"summary\""))
        .unwrap_or_else(|| panic!("no summary line in {out}"));
    serde_json::from_str(line).expect("the summary line is JSON")
}

/// Every file is there with its bytes, and nothing else is.
fn assert_restored(root: &PathBuf) {
    let folders = std::fs::read_dir(root).expect("restored tree").count();
    assert_eq!(folders, FOLDERS, "restored folders in {}", root.display());
    for d in 0..FOLDERS {
        let dir = root.join(folder_name(d));
        let listed = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .count();
        assert_eq!(listed, FILES_PER_FOLDER, "entries in {}", dir.display());
        for f in 0..FILES_PER_FOLDER {
            let path = dir.join(file_name(f));
            let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                got == content(d, f),
                "{} restored different bytes",
                path.display()
            );
        }
    }
}
