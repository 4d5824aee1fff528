//! A Dolibarr-like `documents/` folder (invoice PDFs, logos, a large scan, odd
//! names, a symlink, an empty folder) and a byte-for-byte comparison of a
//! restored tree with its original.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What [`write_documents`] made.
pub struct Documents {
    /// `<parent>/documents`.
    pub root: PathBuf,
    /// Regular files in it.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
}

/// Deterministic, incompressible bytes (xorshift64*), like PDFs and scans.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn put(root: &Path, rel: &str, data: &[u8], count: &mut (u64, u64)) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a file has a parent")).expect("create folder");
    fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    count.0 += 1;
    count.1 += data.len() as u64;
}

/// Writes `<parent>/documents` and returns what is in it.
pub fn write_documents(parent: &Path) -> Documents {
    let root = parent.join("documents");
    let mut count = (0u64, 0u64);
    for i in 1..=12u64 {
        let r = format!("FA2605-{i:04}");
        let size = 20_000 + 3_000 * usize::try_from(i).expect("small");
        put(
            &root,
            &format!("facture/{r}/{r}.pdf"),
            &noise(i, size),
            &mut count,
        );
    }
    put(
        &root,
        "societe/1/logos/logo.png",
        &noise(100, 30_000),
        &mut count,
    );
    put(
        &root,
        "societe/1/logos/thumbs/logo_small.png",
        &noise(101, 4_000),
        &mut count,
    );
    put(
        &root,
        "ecm/contrats/contrat-cadre 2026 é.odt",
        &noise(102, 100_000),
        &mut count,
    );
    // Larger than several chunks, so it is stored as a chunk list.
    put(
        &root,
        "ecm/scans/releve-2026-05.tif",
        &noise(103, 1_500_000),
        &mut count,
    );
    let text: String = (0..2_000)
        .map(|i| format!("{i};FA2605-{i:04};Société {i};{}.00\n", i * 17 % 1000))
        .collect();
    put(&root, "export/factures.csv", text.as_bytes(), &mut count);
    put(&root, "admin/temp/.keep", b"", &mut count);
    fs::create_dir_all(root.join("propale")).expect("create empty folder");
    std::os::unix::fs::symlink("FA2605-0012", root.join("facture/latest")).expect("symlink");
    Documents {
        root,
        files: count.0,
        bytes: count.1,
    }
}

/// Asserts `actual` holds exactly what `expected` holds: the same names, kinds,
/// file bytes, permission bits, file modification times and symlink targets.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let want = listing(expected);
    let got = listing(actual);
    let names = |l: &[(String, fs::Metadata)]| l.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&got),
        names(&want),
        "restored tree {} differs in names from {}",
        actual.display(),
        expected.display()
    );
    for ((rel, w), (_, g)) in want.iter().zip(&got) {
        let (wp, gp) = (expected.join(rel), actual.join(rel));
        assert_eq!(g.file_type(), w.file_type(), "{rel}: kind differs");
        assert_eq!(
            g.mode() & 0o7777,
            w.mode() & 0o7777,
            "{rel}: permissions differ"
        );
        if w.is_file() {
            let (a, b) = (
                fs::read(&wp).expect("read original"),
                fs::read(&gp).expect("read restored"),
            );
            if a != b {
                let at = a
                    .iter()
                    .zip(&b)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(b.len()));
                panic!(
                    "{rel}: restored content differs (sizes {} and {}, first difference at byte {at})",
                    a.len(),
                    b.len()
                );
            }
            assert_eq!(
                (g.mtime(), g.mtime_nsec()),
                (w.mtime(), w.mtime_nsec()),
                "{rel}: modification time differs"
            );
        } else if w.file_type().is_symlink() {
            assert_eq!(
                fs::read_link(&gp).expect("read restored link"),
                fs::read_link(&wp).expect("read original link"),
                "{rel}: symlink target differs"
            );
        }
    }
}

/// Every entry below `root`, sorted, with its metadata (symlinks not followed).
fn listing(root: &Path) -> Vec<(String, fs::Metadata)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, fs::Metadata)>) {
        let rd = fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
        for ent in rd {
            let p = ent.expect("folder entry").path();
            let md = fs::symlink_metadata(&p).expect("metadata");
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            out.push((rel, md.clone()));
            if md.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
