//! Running out of space: on stdout (`/dev/full`), in the restore target and in
//! the cache folder (tiny tmpfs mounts, which need root). Each fails with a
//! message naming what is full, and the repository stays whole.

use crate::documents::{assert_same_tree, noise, write_documents};
use crate::harness::{Coffer, Run, skip};
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A size-limited tmpfs, unmounted when dropped (also when the test fails).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts one at `path`, or says why the test skips and returns `None`.
    fn mount(path: &Path, size: &str) -> Option<Self> {
        fs::create_dir_all(path).expect("create mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self {
                path: path.to_path_buf(),
            }),
            Ok(o) => {
                skip(&format!(
                    "cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(&format!("cannot run mount: {e}"));
                None
            }
        }
    }

    /// Fills it up to the last byte.
    fn fill(&self) {
        let mut f = fs::File::create(self.path.join("filler")).expect("create filler");
        let block = vec![0xA5u8; 4096];
        while f.write_all(&block).is_ok() {}
        for _ in 0..64 {
            if f.write_all(&[0]).is_err() {
                break;
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still has a file open there: detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

#[test]
fn cat_into_a_full_stdout_reports_no_space() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    c.ok([OsString::from("backup"), docs.root.clone().into()]);
    // One file smaller than coffer's output buffer (fails on the final flush),
    // one larger (fails while streaming).
    for file in [
        "documents/export/factures.csv",
        "documents/ecm/scans/releve-2026-05.tif",
    ] {
        let full = OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full");
        let mut cmd = c.command();
        cmd.args(["cat", &format!("latest:{file}")]).stdout(full);
        Run::capture(cmd).assert_error(1, &["No space left on device"]);
    }
}

#[test]
fn restore_into_a_full_folder_names_the_file_and_a_roomy_one_works() {
    let c = Coffer::init();
    let archive = c.path("archive");
    fs::create_dir_all(&archive).expect("create folder");
    fs::write(archive.join("notes.txt"), b"small enough\n").expect("write");
    fs::write(archive.join("scan-2mb.tif"), noise(7, 2 << 20)).expect("write");
    c.ok([OsString::from("backup"), archive.clone().into()]);

    let mount = c.path("tiny");
    let Some(_tmpfs) = Tmpfs::mount(&mount, "512k") else {
        return;
    };
    let target = mount.join("target");
    let big = target.join("archive/scan-2mb.tif");
    c.run([
        OsString::from("restore"),
        "latest".into(),
        "--target".into(),
        target.into(),
    ])
    .assert_error(1, &[&big.to_string_lossy(), "No space left on device"]);

    let roomy = c.restore("latest", "roomy", &[]);
    assert_same_tree(&archive, &roomy.join("archive"));
}

#[test]
fn a_full_cache_folder_is_a_clear_error_and_harms_nothing() {
    let c = Coffer::init();
    let docs = write_documents(c.root());
    c.ok([OsString::from("backup"), docs.root.clone().into()]);
    fs::write(docs.root.join("export/new.csv"), b"1;2;3\n").expect("write");

    let mount = c.path("tiny-cache");
    let Some(tmpfs) = Tmpfs::mount(&mount, "64k") else {
        return;
    };
    tmpfs.fill();
    let mut cmd = c.command_at(&c.repo(), &mount);
    cmd.arg("backup").arg(&docs.root);
    let run = Run::capture(cmd);
    run.assert_error(1, &["cache", "No space left on device"]);
    assert!(
        run.stderr.contains("disposable"),
        "the message should say the cache can be deleted:\n{}",
        run.stderr
    );
    drop(tmpfs);

    assert_eq!(
        c.snapshots().len(),
        1,
        "a snapshot was written without a cache"
    );
    c.ok(["check"]);
    fs::remove_file(docs.root.join("export/new.csv")).expect("remove");
    let target = c.restore("latest", "restored", &[]);
    assert_same_tree(&docs.root, &target.join("documents"));
}
