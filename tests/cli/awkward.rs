//! Awkward sources: file names that are not UTF-8 and a sparse 10 GB file come
//! back byte for byte (the sparse file sparse); a path longer than PATH_MAX is
//! backed up and restored whole; a file written to
//! while it is read is named in a warning.

use crate::harness::Coffer;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

/// Names as Latin-1 and broken UTF-8 systems leave them on old ERP servers.
const NAMES: [&[u8]; 4] = [
    b"facture-caf\xe9.pdf",      // Latin-1 e-acute
    b"\xff\xfe-not-utf8.txt",    // no valid encoding at all
    b"half-\xc3.txt",            // a UTF-8 sequence cut short
    b"devis-\xe9t\xe9-2026\x7f", // a DEL byte too
];

#[test]
fn file_names_that_are_not_utf8_come_back_byte_for_byte() {
    let c = Coffer::init();
    let src = c.path("erp");
    let sub = src.join(OsStr::from_bytes(b"dossier-\xe0-trier"));
    std::fs::create_dir_all(&sub).expect("mkdir");
    for (i, name) in NAMES.iter().enumerate() {
        std::fs::write(sub.join(OsStr::from_bytes(name)), format!("document {i}")).expect("write");
    }
    c.ok(["backup".as_ref(), src.as_os_str()]);
    let target = c.restore("latest", "target", &[]);

    let restored = target
        .join("erp")
        .join(OsStr::from_bytes(b"dossier-\xe0-trier"));
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(&restored)
        .expect("the non-UTF-8 folder was restored under its own bytes")
        .map(|e| e.expect("entry").file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    let mut want: Vec<Vec<u8>> = NAMES.iter().map(|n| n.to_vec()).collect();
    want.sort();
    assert_eq!(names, want, "restored names differ from the original bytes");
    for (i, name) in NAMES.iter().enumerate() {
        let got = std::fs::read(restored.join(OsStr::from_bytes(name))).expect("read");
        assert_eq!(got, format!("document {i}").into_bytes());
    }

    // Listings still work; --json carries a name it cannot spell losslessly
    // as a string that stays valid JSON.
    let ls = c.ok(["--json", "ls", "latest"]).stdout_str();
    let lines: Vec<serde_json::Value> = ls
        .lines()
        .map(|l| serde_json::from_str(l).expect("each ls --json line is JSON"))
        .collect();
    assert!(
        lines.len() >= NAMES.len() + 2,
        "ls --json listed {} entries: {ls}",
        lines.len()
    );
}

/// Builds `levels` nested folders of 200-byte names below `root` with
/// relative mkdirs (an absolute path that long is refused by the kernel),
/// a file at the bottom; returns the relative path's length in bytes.
fn deep_tree(root: &Path, levels: usize) -> usize {
    let name = "d".repeat(200);
    let script = format!(
        "set -e; cd \"$1\"; for i in $(seq {levels}); do mkdir {name}; cd {name}; done; \
         printf 'at the bottom' > invoice.pdf"
    );
    let status = std::process::Command::new("bash")
        .args(["-c", &script, "deep_tree"])
        .arg(root)
        .status()
        .expect("bash");
    assert!(status.success(), "building the deep tree failed");
    levels * (name.len() + 1) + "invoice.pdf".len()
}

/// The backup walks by folder descriptors (each folder opened relative to its
/// parent's, issue 9), so a file whose full path is past PATH_MAX is read
/// like any other and its snapshot path is whole (`cat` gives its bytes);
/// restore creates relative to folder descriptors as well, so the file comes
/// back at its full depth.
#[test]
fn a_path_longer_than_path_max_is_backed_up_and_restored_whole() {
    let c = Coffer::init();
    let src = c.path("erp");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("facture.pdf"), b"beside the deep tree").expect("write");
    let len = deep_tree(&src, 25);
    assert!(
        len > 4096,
        "the test path ({len} bytes) must exceed PATH_MAX"
    );
    let run = c.ok(["backup".as_ref(), src.as_os_str()]);
    assert!(
        !run.stderr.contains("warning: "),
        "no warning expected: {}",
        run.stderr
    );
    assert!(
        !run.stdout_str().contains("partial"),
        "{}",
        run.stdout_str()
    );

    let deep = format!(
        "erp/{}invoice.pdf",
        format!("{}/", "d".repeat(200)).repeat(25)
    );
    let out = c.ok(["cat".to_string(), format!("latest:{deep}")]);
    assert_eq!(out.stdout, b"at the bottom", "cat of the deep file");

    // Restore creates each folder and file relative to its parent's
    // descriptor too: the deep file comes back at its full depth.
    let target = c.restore("latest", "target", &[]);
    assert_eq!(
        std::fs::read(target.join("erp/facture.pdf")).expect("the sibling file was restored"),
        b"beside the deep tree"
    );
    assert_eq!(
        read_deep(&target.join("erp"), 25),
        b"at the bottom",
        "the deep file restored byte for byte at its full depth"
    );
}

#[test]
fn folders_nested_past_the_depth_limit_are_named_and_skipped_the_rest_is_kept() {
    let c = Coffer::init();
    let src = c.path("erp");
    // 600 nested one-letter folders (1,200 bytes of path: no PATH_MAX issue),
    // a file at level 10 and one at the bottom.
    let mut dir = src.clone();
    for level in 1..=600 {
        dir.push("d");
        std::fs::create_dir_all(&dir).expect("mkdir");
        if level == 10 {
            std::fs::write(dir.join("shallow.pdf"), b"level ten").expect("write");
        }
    }
    std::fs::write(dir.join("bottom.pdf"), b"too deep").expect("write");

    let run = c.run(["backup".as_ref(), src.as_os_str()]);
    run.assert_code(3);
    assert!(
        run.stderr
            .contains("nested deeper than 511 folders; folder skipped"),
        "the warning names the depth limit: {}",
        run.stderr
    );
    let target = c.restore("latest", "target", &[]);
    let shallow = target.join("erp").join("d/".repeat(10)).join("shallow.pdf");
    assert_eq!(
        std::fs::read(shallow).expect("the shallow file is kept"),
        b"level ten"
    );
    // `erp` is the first of the 511 folders the limit allows.
    let deepest_kept = target.join("erp").join("d/".repeat(510));
    assert!(deepest_kept.is_dir(), "folders down to the limit are kept");
    assert!(
        !deepest_kept.join("d").exists(),
        "the folder past the limit is not stored"
    );
}

/// The bytes of `invoice.pdf` at the bottom of a `deep_tree`, read with
/// relative `cd`s (its full path is too long to open).
fn read_deep(root: &Path, levels: usize) -> Vec<u8> {
    let name = "d".repeat(200);
    let script =
        format!("set -e; cd \"$1\"; for i in $(seq {levels}); do cd {name}; done; cat invoice.pdf");
    let out = std::process::Command::new("bash")
        .args(["-c", &script, "read_deep"])
        .arg(root)
        .output()
        .expect("bash");
    assert!(out.status.success(), "the deep file is not there: {out:?}");
    out.stdout
}

#[test]
fn a_sparse_10_gb_file_comes_back_with_its_bytes_and_its_holes() {
    let c = Coffer::init();
    let src = c.path("vm");
    std::fs::create_dir_all(&src).expect("mkdir");
    let path = src.join("disk.img");
    let size = 10u64 << 30;
    let marks: [(u64, &[u8]); 3] = [
        (0, b"boot sector"),
        (4 << 30, b"in the middle of nowhere"),
        (size - 9, b"last byte"),
    ];
    {
        let f = std::fs::File::create(&path).expect("create");
        f.set_len(size).expect("set_len");
        for (at, data) in marks {
            f.write_all_at(data, at).expect("write mark");
        }
    }
    c.ok(["backup".as_ref(), src.as_os_str()]);
    let target = c.restore("latest", "target", &[]);

    let restored = target.join("vm/disk.img");
    let md = std::fs::metadata(&restored).expect("restored");
    assert_eq!(md.len(), size, "restored length");
    let allocated = md.blocks() * 512;
    assert!(
        allocated < 64 << 20,
        "a 10 GB file holding 44 bytes took {allocated} bytes of disk once restored"
    );
    let f = std::fs::File::open(&restored).expect("open");
    for (at, data) in marks {
        let mut got = vec![0u8; data.len()];
        f.read_exact_at(&mut got, at).expect("read mark");
        assert_eq!(got, data, "bytes at offset {at}");
    }
    // And the zeros between them are zeros.
    let mut gap = vec![1u8; 1 << 20];
    f.read_exact_at(&mut gap, 2 << 30).expect("read a hole");
    assert!(gap.iter().all(|&b| b == 0), "a hole reads back as zeros");

    // The repository stores the zeros once, not 10 GB of them.
    let stored: u64 = c.objects("data").iter().map(|(_, n)| n).sum();
    assert!(
        stored < 16 << 20,
        "{stored} bytes stored for a sparse 10 GB file"
    );
}

#[test]
fn a_file_written_to_while_it_is_read_is_named_in_a_warning() {
    let c = Coffer::init();
    let src = c.path("erp");
    std::fs::create_dir_all(&src).expect("mkdir");
    let path = src.join("growing.log");
    std::fs::write(&path, crate::documents::noise(7, 64 << 20)).expect("write");
    // A writer that keeps touching the file until the backup is over: every
    // write moves the mtime, so whatever the backup reads, it sees a change.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open");
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all_at(&i.to_le_bytes(), (i * 4096) % (64 << 20))
                    .expect("write");
                i += 1;
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = c.run(["backup".as_ref(), src.as_os_str()]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    assert!(
        run.stderr.contains("growing.log: changed while being read"),
        "the change should be named: {}",
        run.stderr
    );
    assert_eq!(
        run.code,
        Some(3),
        "a snapshot with a changed file is partial"
    );
    // The snapshot is there, and what it holds restores at its recorded size.
    let target = c.restore("latest", "target", &[]);
    assert_eq!(
        std::fs::metadata(target.join("erp/growing.log"))
            .expect("restored")
            .len(),
        64 << 20
    );
}
