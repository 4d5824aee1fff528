//! Fixtures shared by the store's integration tests.

use coffer_store::Repository;
use coffer_store::backend::{Backend, RetryPolicy, StoreOptions};
use coffer_store::backup::{self, BackupOptions, BackupReport, Source};
use coffer_store::crypto::KdfParams;
use coffer_store::progress::NoProgress;
use coffer_store::repo::{CacheLocation, InitOptions};
use coffer_store::restore::{self, RestoreOptions, RestoreReport};
use object_store::ObjectStore;
use std::fs::{File, FileTimes};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const PASSWORD: &[u8] = b"correct horse battery staple";

/// Init options with a toy KDF: argon2 at its real cost would dominate the suite.
pub fn fast_init() -> InitOptions {
    InitOptions {
        kdf: KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        ..Default::default()
    }
}

/// A fixed instant, `secs` seconds after 2026-05-28 (the clock is a parameter).
pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000 + secs)
}

/// Backup options at a fixed time and host, so parent selection is deterministic.
pub fn opts(secs: u64) -> BackupOptions {
    let mut o = BackupOptions::new(at(secs));
    o.host = "erp-test".into();
    o
}

pub fn memory_repo() -> Repository {
    Repository::init(
        Backend::in_memory(),
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap()
}

/// An in-memory object store that several `Backend`s can share (reopen tests).
pub fn shared_store() -> Arc<dyn ObjectStore> {
    Arc::new(object_store::memory::InMemory::new())
}

pub fn on_store(store: &Arc<dyn ObjectStore>) -> Backend {
    Backend::with_store(Arc::clone(store), "memory:")
}

/// A repository in a local folder, for tests that damage files.
/// Every pack the repository's index files list, with its blobs.
pub fn indexed_packs(repo: &Repository) -> Vec<coffer_store::format::index::IndexedPack> {
    let mut out = Vec::new();
    for (name, _) in repo.backend().list("index").unwrap() {
        let bytes = repo.backend().get(&name).unwrap().unwrap();
        let id = name.rsplit('/').next().unwrap();
        out.extend(
            coffer_store::cache::open_index(repo.key(), id, &bytes)
                .unwrap()
                .packs,
        );
    }
    out
}

/// Hex names of the packs holding blobs of `kind` (data and trees never share a pack).
pub fn packs_of_kind(repo: &Repository, kind: coffer_store::format::pack::BlobKind) -> Vec<String> {
    indexed_packs(repo)
        .into_iter()
        .filter(|p| p.blobs.iter().any(|b| b.kind == kind))
        .map(|p| p.pack.to_hex())
        .collect()
}

pub fn folder_repo(dir: &Path) -> Repository {
    let backend = Backend::open(dir.to_str().unwrap(), true).unwrap();
    Repository::init(
        backend,
        PASSWORD,
        &fast_init(),
        at(0),
        CacheLocation::Temporary,
    )
    .unwrap()
}

pub fn reopen_folder(dir: &Path) -> Repository {
    let backend = Backend::open(dir.to_str().unwrap(), false).unwrap();
    Repository::open(backend, PASSWORD, CacheLocation::Temporary).unwrap()
}

pub fn backup_paths(repo: &Repository, paths: &[&Path], secs: u64) -> BackupReport {
    let sources = paths
        .iter()
        .map(|p| Source::Path(p.to_path_buf()))
        .collect();
    backup::backup(repo, sources, &opts(secs), &NoProgress).unwrap()
}

pub fn backup_stream(repo: &Repository, name: &str, data: &Arc<[u8]>, secs: u64) -> BackupReport {
    let sources = vec![Source::Stdin {
        name: name.into(),
        reader: Box::new(std::io::Cursor::new(Arc::clone(data))),
    }];
    backup::backup(repo, sources, &opts(secs), &NoProgress).unwrap()
}

pub fn restore_all(repo: &Repository, report: &BackupReport, target: &Path) -> RestoreReport {
    restore::restore(
        repo,
        &report.snapshot.root,
        target,
        &RestoreOptions {
            include: None,
            subpath: "",
        },
        &NoProgress,
    )
    .unwrap()
}

/// Pseudo-random, incompressible bytes: BLAKE3's extendable output is a
/// counter-mode stream keyed by `seed`.
pub fn random_bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// A small deterministic generator for text fields (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Compressible, PostgreSQL-dump-like text of about `len` bytes: `COPY` rows
/// of invoices (sequential numbers and dates, amounts from a price list,
/// customers from a few hundred), which zstd shrinks about as much as a real
/// dump. Lines are returned separately so tests can edit some of them.
pub fn sql_lines(seed: u64, len: usize) -> Vec<String> {
    const CUSTOMERS: [&str; 8] = [
        "Boulangerie Martin",
        "Garage du Centre",
        "SARL Dupont & Fils",
        "Pharmacie des Alpes",
        "Transports Lefebvre",
        "Cabinet Moreau",
        "Hôtel de la Gare",
        "Menuiserie Roux",
    ];
    let mut rng = Rng::new(seed);
    let mut lines = vec![
        "--\n-- PostgreSQL database dump\n--\n\n".to_string(),
        "COPY public.llx_facture (rowid, ref, fk_soc, datef, total_ht, total_tva, total_ttc, fk_statut, note_public) FROM stdin;\n".to_string(),
    ];
    let mut total: usize = lines.iter().map(String::len).sum();
    let mut row = 1u64;
    while total < len {
        let day = row / 40;
        let ht = (100 + rng.below(400)) * 25 * (1 + rng.below(8));
        let tva = ht / 5;
        let soc = rng.below(300);
        let line = format!(
            "{row}\tFA{:02}{:02}-{:05}\t{soc}\t{}-{:02}-{:02}\t{}.{:02}\t{}.{:02}\t{}.{:02}\t{}\t{}\n",
            24 + day / 360,
            1 + day / 30 % 12,
            row % 100_000,
            2024 + day / 360,
            1 + day / 30 % 12,
            1 + day % 30,
            ht / 100,
            ht % 100,
            tva / 100,
            tva % 100,
            (ht + tva) / 100,
            (ht + tva) % 100,
            1 + rng.below(3),
            if soc % 7 == 0 {
                CUSTOMERS[usize::try_from(soc % 8).unwrap()]
            } else {
                "\\N"
            },
        );
        total += line.len();
        lines.push(line);
        row += 1;
    }
    lines.push("\\.\n".to_string());
    lines
}

/// A general-ledger CSV export of `len` bytes: very repetitive, as they are.
pub fn ledger(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 100);
    let mut line = 0u64;
    while out.len() < len {
        let account = [411_000, 445_710, 706_000, 512_000][usize::try_from(line % 4).unwrap()];
        out.extend_from_slice(
            format!(
                "{line};2026-05-{:02};VE;{account};FA2605-{:05};120.00;EUR\n",
                1 + line / 3000 % 28,
                line / 4
            )
            .as_bytes(),
        );
        line += 1;
    }
    out.truncate(len);
    out
}

/// Writes a file with the given content, permission bits and mtime.
pub fn write_file(path: &Path, content: &[u8], mode: u32, mtime: SystemTime) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
    set_mtime(path, mtime);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn set_mtime(path: &Path, mtime: SystemTime) {
    File::open(path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(mtime))
        .unwrap();
}

pub fn mtime_ns(md: &std::fs::Metadata) -> i64 {
    md.mtime() * 1_000_000_000 + md.mtime_nsec()
}

/// Asserts `restored` holds what `source` holds: the same names, file bytes,
/// permission bits and mtimes (files and folders), and symlink targets.
pub fn assert_same_tree(source: &Path, restored: &Path) {
    let src = std::fs::symlink_metadata(source).unwrap();
    let dst = std::fs::symlink_metadata(restored)
        .unwrap_or_else(|e| panic!("{}: {e}", restored.display()));
    let what = restored.display();
    assert_eq!(src.file_type(), dst.file_type(), "{what}: type");
    if src.file_type().is_symlink() {
        assert_eq!(
            std::fs::read_link(source).unwrap(),
            std::fs::read_link(restored).unwrap(),
            "{what}: symlink target"
        );
        return;
    }
    assert_eq!(src.mode() & 0o7777, dst.mode() & 0o7777, "{what}: mode");
    assert_eq!(mtime_ns(&src), mtime_ns(&dst), "{what}: mtime");
    if src.is_file() {
        let (a, b) = (
            std::fs::read(source).unwrap(),
            std::fs::read(restored).unwrap(),
        );
        assert!(
            a == b,
            "{what}: content differs ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    } else if src.is_dir() {
        let names = |p: &Path| {
            let mut v: Vec<Vec<u8>> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name().as_bytes().to_vec())
                .collect();
            v.sort();
            v
        };
        let here = names(source);
        assert_eq!(here, names(restored), "{what}: entries");
        for n in here {
            let n = std::ffi::OsStr::from_bytes(&n);
            assert_same_tree(&source.join(n), &restored.join(n));
        }
    }
}

/// Paths of every regular file under `root`.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if md.is_file() {
            out.push(p);
        }
    }
    out
}

/// The tree the round-trip and dedup tests back up: files of 0 B, 1 B, 10 KB,
/// 300 KB (random) and 5 MB (text, many chunks), nested folders, a symlink, a file name that
/// is not UTF-8, and distinct modes and mtimes. Returns the regular files'
/// paths relative to `root`.
pub fn erp_tree(root: &Path) -> Vec<PathBuf> {
    let files: Vec<(PathBuf, Vec<u8>, u32)> = vec![
        ("empty.txt".into(), Vec::new(), 0o640),
        ("one.bin".into(), b"x".to_vec(), 0o600),
        (
            "documents/facture/FA2605-0001.pdf".into(),
            random_bytes("FA2605-0001", 10_000),
            0o640,
        ),
        (
            "documents/scans/2026/scan-0001.tiff".into(),
            random_bytes("scan-0001", 300_000),
            0o640,
        ),
        (
            PathBuf::from(std::ffi::OsStr::from_bytes(
                b"documents/commande/CO-caf\xe9.txt",
            )),
            sql_lines(7, 10_000).concat().into_bytes(),
            0o644,
        ),
        // Repetitive text, not random: debug builds seal only ~2 MB/s (the
        // cipher's generics are compiled unoptimised), and exports are like this.
        (
            "documents/exports/grand-livre-2026.csv".into(),
            ledger(5_000_000),
            0o644,
        ),
        // Identical chunks one after another: stored once, restored every time.
        ("documents/vide.img".into(), vec![0; 1 << 20], 0o600),
        (
            "scripts/nightly.sh".into(),
            b"#!/bin/sh\npg_dump erp | coffer backup --stdin\n".to_vec(),
            0o755,
        ),
    ];
    for (i, (rel, content, mode)) in files.iter().enumerate() {
        let secs = 1_000 * u64::try_from(i).unwrap();
        let mtime = at(secs) + Duration::from_nanos(123_456_789);
        write_file(&root.join(rel), content, *mode, mtime);
    }
    std::os::unix::fs::symlink("documents/facture/FA2605-0001.pdf", root.join("latest.pdf"))
        .unwrap();
    std::fs::create_dir(root.join("documents/propal")).unwrap();
    // Folders last, deepest first: creating entries changes a folder's mtime.
    for (dir, mode) in [
        ("documents/scans/2026", 0o750),
        ("documents/scans", 0o755),
        ("documents/facture", 0o750),
        ("documents/exports", 0o750),
        ("documents/commande", 0o755),
        ("documents/propal", 0o700),
        ("documents", 0o755),
        ("scripts", 0o700),
        ("", 0o755),
    ] {
        let p = root.join(dir);
        set_mtime(&p, at(50_000));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    files.into_iter().map(|(p, _, _)| p).collect()
}

/// Where a test's repository lives: the same tests run on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceKind {
    Folder,
    /// Under a fresh prefix of the bucket on `COFFER_TEST_S3_ENDPOINT`.
    S3,
}

/// Declares `mod $test { fn folder(); fn s3() }`, each running `$test(kind)`.
macro_rules! on_each_place {
    ($($test:ident),* $(,)?) => {
        $(mod $test {
            #[test]
            fn folder() {
                super::$test($crate::util::PlaceKind::Folder)
            }
            #[test]
            fn s3() {
                super::$test($crate::util::PlaceKind::S3)
            }
        })*
    };
}

/// A repository location that is gone (folder removed, objects deleted) when dropped.
pub struct Place {
    pub location: String,
    pub opts: StoreOptions,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    /// `None` (after saying why) when the S3 server is not configured.
    pub fn new(kind: PlaceKind) -> Option<Self> {
        // Quick retries: the faults in these tests come from a wrapper, not a
        // busy server that needs time to recover.
        let mut opts = StoreOptions {
            retry: RetryPolicy {
                max_attempts: 8,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(50),
                attempt_timeout: Duration::from_secs(60),
            },
            ..StoreOptions::default()
        };
        match kind {
            PlaceKind::Folder => {
                let dir = tempfile::tempdir().unwrap();
                Some(Self {
                    location: dir.path().join("repo").to_str().unwrap().to_string(),
                    opts,
                    _dir: Some(dir),
                })
            }
            PlaceKind::S3 => {
                let (Some(endpoint), Some(bucket)) = (
                    std::env::var_os("COFFER_TEST_S3_ENDPOINT"),
                    std::env::var_os("COFFER_TEST_S3_BUCKET"),
                ) else {
                    skip(
                        "no S3 server: COFFER_TEST_S3_ENDPOINT is not set (eval \"$(bash .ci/services)\")",
                    );
                    return None;
                };
                opts.s3_endpoint = Some(endpoint.to_string_lossy().into_owned());
                Some(Self {
                    location: format!(
                        "s3://{}/store-test-{:016x}",
                        bucket.to_string_lossy(),
                        unique()
                    ),
                    opts,
                    _dir: None,
                })
            }
        }
    }

    /// A fresh store for this place (one per simulated machine).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        coffer_store::backend::open_store(&self.location, true, &self.opts).unwrap()
    }

    /// A backend on `store` (this place's store, perhaps wrapped).
    pub fn backend_on(&self, store: Arc<dyn ObjectStore>) -> Backend {
        Backend::with_options(store, &self.location, &self.opts)
    }

    pub fn backend(&self) -> Backend {
        self.backend_on(self.store())
    }

    pub fn init(&self) -> Repository {
        self.init_with(&fast_init())
    }

    pub fn init_with(&self, init: &InitOptions) -> Repository {
        Repository::init(
            self.backend(),
            PASSWORD,
            init,
            at(0),
            CacheLocation::Temporary,
        )
        .unwrap()
    }

    /// Opens the repository from `store`, with a new, empty cache: a new machine.
    pub fn open_on(&self, store: Arc<dyn ObjectStore>) -> Repository {
        Repository::open(self.backend_on(store), PASSWORD, CacheLocation::Temporary).unwrap()
    }

    pub fn open(&self) -> Repository {
        self.open_on(self.store())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self._dir.is_some() {
            return;
        }
        // Leave the shared bucket as it was found; best effort.
        let b = self.backend();
        if let Ok(all) = b.list("") {
            for (name, _) in all {
                let _ = b.delete(&name);
            }
        }
    }
}

/// Says why a test does not run; fails instead under COFFER_REQUIRE_SERVICES=1.
pub fn skip(why: &str) {
    let required = std::env::var_os("COFFER_REQUIRE_SERVICES").is_some_and(|v| v == "1");
    assert!(!required, "{why} (COFFER_REQUIRE_SERVICES=1)");
    eprintln!("skipped: {why}");
}

/// A number no other test (of this run or another helper's) will draw.
pub fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// The bytes a file of the snapshot holds, read the way `cat` reads it.
pub fn cat(repo: &Repository, report: &BackupReport, path: &str) -> Vec<u8> {
    let node = coffer_store::tree::resolve_path(repo, &report.snapshot.root, path)
        .unwrap()
        .unwrap_or_else(|| panic!("{path} not in the snapshot"));
    let coffer_store::format::tree::NodeKind::File { content } = &node.kind else {
        panic!("{path} is not a file");
    };
    let mut out = Vec::new();
    restore::write_content(repo, content, &mut out, &NoProgress).unwrap();
    out
}
