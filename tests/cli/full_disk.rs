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

/// A small ext4 file system on a loop device (ext4 takes direct I/O, which
/// tmpfs does not: the path prune writes packs by), unmounted when dropped.
struct Ext4 {
    tmpfs: Tmpfs,
}

impl Ext4 {
    /// Makes an image of `mib` MiB in `image` and mounts it at `path`, or
    /// says why the test skips and returns `None`.
    fn mount(image: &Path, path: &Path, mib: u64) -> Option<Self> {
        let file = fs::File::create(image).expect("create image");
        file.set_len(mib << 20).expect("size image");
        drop(file);
        let made = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(image)
            .output();
        if !made.as_ref().is_ok_and(|o| o.status.success()) {
            skip(&format!("cannot make an ext4 image: {made:?}"));
            return None;
        }
        fs::create_dir_all(path).expect("create mount point");
        let out = Command::new("mount")
            .args(["-o", "loop"])
            .arg(image)
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => {
                // An empty folder for `init`.
                let _ = fs::remove_dir(path.join("lost+found"));
                Some(Self {
                    tmpfs: Tmpfs {
                        path: path.to_path_buf(),
                    },
                })
            }
            other => {
                skip(&format!(
                    "cannot mount a loop device (needs root): {other:?}"
                ));
                None
            }
        }
    }

    /// Fills it, then frees `room` bytes again.
    fn fill_leaving(&self, room: u64) {
        self.tmpfs.fill();
        let filler = fs::OpenOptions::new()
            .write(true)
            .open(self.tmpfs.path.join("filler"))
            .expect("open filler");
        let len = filler.metadata().expect("filler size").len();
        filler
            .set_len(len.saturating_sub(room))
            .expect("shrink filler");
    }

    fn empty(&self) {
        fs::remove_file(self.tmpfs.path.join("filler")).expect("remove filler");
    }
}

#[test]
fn prune_onto_a_full_disk_fails_clearly_and_the_next_prune_finishes() {
    let c = crate::harness::Coffer::empty_on(crate::harness::RepoKind::Folder)
        .expect("a folder is always there");
    let Some(disk) = Ext4::mount(&c.path("disk.img"), &c.repo(), 48) else {
        return;
    };
    c.ok(["init"]);
    // Night one stores three scans in one pack; night two keeps one of them:
    // once night one is forgotten that pack is two thirds dead, and prune
    // copies the live scan (3 MiB, written in pieces) into a new pack.
    let scans = c.path("scans");
    fs::create_dir_all(&scans).expect("create folder");
    for (name, seed) in [("a.tif", 1), ("b.tif", 2), ("kept.tif", 3)] {
        fs::write(scans.join(name), noise(seed, 3 << 20)).expect("write");
    }
    c.ok([OsString::from("backup"), scans.clone().into()]);
    fs::remove_file(scans.join("a.tif")).expect("remove");
    fs::remove_file(scans.join("b.tif")).expect("remove");
    fs::write(scans.join("new.txt"), b"night two\n").expect("write");
    c.ok([OsString::from("backup"), scans.clone().into()]);
    let packs_before = c.objects("data");

    disk.fill_leaving(256 << 10);
    c.run(["forget", "--keep-last", "1", "--prune", "--grace", "0s"])
        .assert_error(1, &["No space left on device"]);
    disk.empty();

    // Nothing stored was lost: every pack is still there and whole, and no
    // staging file of the failed write is left.
    let packs_after = c.objects("data");
    for p in &packs_before {
        assert!(packs_after.contains(p), "pack {p:?} is gone or changed");
    }
    let staging: Vec<_> = walk_files(&c.repo())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains('#'))
        .collect();
    assert!(staging.is_empty(), "staging files left: {staging:?}");
    c.ok(["check", "--read-data"]);
    let restored = c.restore("latest", "restored", &[]);
    crate::documents::assert_same_tree(&scans, &restored.join("scans"));

    // With room again, the next prune finishes the work.
    let done = c.json(["prune", "--grace", "0s"]);
    assert!(
        done["plan"]["condemn"]["repack"]
            .as_array()
            .expect("a list")
            .iter()
            .any(|p| crate::harness::num(p, "live_bytes") > 3_000_000),
        "the kept scan's pack is repacked: {done}"
    );
    c.ok(["check", "--read-data"]);
    let restored = c.restore("latest", "again", &[]);
    crate::documents::assert_same_tree(&scans, &restored.join("scans"));
    assert_eq!(c.snapshots().len(), 1);
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("read folder").flatten() {
        if e.file_type().expect("file type").is_dir() {
            out.extend(walk_files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
