//! Packs written to a local folder with direct I/O (`O_DIRECT`), past the
//! page cache.
//!
//! A nightly backup or prune writes tens of megabytes to gigabytes of packs
//! that nobody reads soon; through the page cache they evict what the
//! machine's database server keeps hot, and on virtual machines whose host
//! reclaims free guest memory every fresh page of cache costs a fault on the
//! host (2-3.5 s a gigabyte of system time measured on ours, 10x a direct
//! write). So a pack's aligned body goes straight to the device and only its
//! last partial block through the cache.
//!
//! Same create-only protocol as the folder store: the bytes go to a staging
//! file `<name>#<digits>` (invisible to listings, removed by prune when a
//! killed write leaves it), which is then hard-linked into place (an existing
//! object is kept) and unlinked. Anything unusual (a file system without
//! direct I/O, a buffer not aligned, any error) returns an error and the
//! caller stores the pack through the store, whose retries and messages apply.

use bytes::Bytes;
use rustix::fs::{Mode, OFlags};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Alignment of a direct write's memory, offset and length: a page, which
/// covers every logical block size Linux file systems use.
pub const ALIGN: usize = 4096;

/// Writes new objects of one local folder directly; cheap to clone into a
/// blocking task.
#[derive(Clone, Debug)]
pub struct DirectWriter {
    root: PathBuf,
}

impl DirectWriter {
    pub(super) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Writes `bytes` (starting at an [`ALIGN`]ed address) as the new object
    /// `name`; `Ok(false)` when one of that name was already there (left
    /// untouched). An error leaves nothing behind: store the object through
    /// the store instead.
    pub fn put_new(&self, name: &str, bytes: &Bytes) -> io::Result<bool> {
        put_new(&self.root, name, bytes)
    }
}

fn put_new(root: &Path, name: &str, bytes: &Bytes) -> io::Result<bool> {
    let path = root.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let staging = staging_path(&path)?;
    let written = write_staging(&staging, bytes);
    let placed = written.and_then(|()| match std::fs::hard_link(&staging, &path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    });
    // Placed or not, the staging name goes (best effort: prune removes a
    // leftover one once it is old).
    let _ = std::fs::remove_file(&staging);
    placed
}

/// A fresh staging name beside `path`: `<name>#<random digits>`.
fn staging_path(path: &Path) -> io::Result<PathBuf> {
    let n = getrandom::u64().map_err(|e| io::Error::other(e.to_string()))?;
    let mut s = path.as_os_str().to_owned();
    s.push(format!("#{n}"));
    Ok(PathBuf::from(s))
}

/// The aligned body with direct I/O, the tail (under a block) buffered.
fn write_staging(staging: &Path, bytes: &[u8]) -> io::Result<()> {
    if bytes.as_ptr().align_offset(ALIGN) != 0 {
        return Err(io::Error::other("buffer not aligned for direct I/O"));
    }
    let fd = rustix::fs::open(
        staging,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::DIRECT,
        Mode::from_raw_mode(0o666),
    )?;
    let file = std::fs::File::from(fd);
    let body = bytes.len() - bytes.len() % ALIGN;
    let written = file.write_all_at(&bytes[..body], 0).and_then(|()| {
        let flags = rustix::fs::fcntl_getfl(&file)?;
        rustix::fs::fcntl_setfl(&file, flags - OFlags::DIRECT)?;
        file.write_all_at(&bytes[body..], body as u64)
    });
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(staging);
    }
    written
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An aligned buffer of `len` bytes (a pattern), as the pack writer makes.
    fn aligned(len: usize) -> Bytes {
        let mut v: Vec<u8> = Vec::with_capacity(len + ALIGN);
        let pad = v.as_ptr().align_offset(ALIGN);
        v.resize(pad, 0);
        v.extend((0..len).map(|i| u8::try_from(i % 251).unwrap()));
        Bytes::from(v).slice(pad..)
    }

    fn staging_left(dir: &Path) -> Vec<String> {
        let mut left = Vec::new();
        for e in walk(dir) {
            if e.contains('#') {
                left.push(e);
            }
        }
        left
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
        out
    }

    /// ext4 and xfs take direct I/O: there the direct path must work (CI's
    /// temporary folders are on ext4), elsewhere it may refuse.
    fn must_take_direct_io(dir: &Path) -> bool {
        const EXT4: i64 = 0xEF53;
        const XFS: i64 = 0x5846_5342;
        rustix::fs::statfs(dir).is_ok_and(|s| {
            // f_type is i64 here, narrower on other architectures.
            #[allow(clippy::useless_conversion)]
            let kind = i64::from(s.f_type);
            kind == EXT4 || kind == XFS
        })
    }

    #[test]
    fn a_pack_is_written_whole_and_the_staging_file_goes() {
        // The file systems under test may refuse direct I/O (tmpfs): then
        // the call must fail cleanly, leaving nothing, for the store to write.
        let dir = tempfile::tempdir().unwrap();
        let must = must_take_direct_io(dir.path());
        for len in [0, 1, ALIGN - 1, ALIGN, 3 * ALIGN + 17, (1 << 20) + 5] {
            let bytes = aligned(len);
            let name = format!("data/ab/pack-{len}");
            match put_new(dir.path(), &name, &bytes) {
                Err(e) if must => panic!("{len} bytes on ext4/xfs: {e}"),
                Ok(created) => {
                    assert!(created);
                    let back = std::fs::read(dir.path().join(&name)).unwrap();
                    assert_eq!(back.len(), len);
                    assert!(back == bytes[..], "content of {len} bytes");
                }
                Err(e) => {
                    assert!(!dir.path().join(&name).exists(), "{len}: {e}");
                }
            }
        }
        assert!(staging_left(dir.path()).is_empty());
    }

    #[test]
    fn an_existing_object_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = aligned(2 * ALIGN + 3);
        let Ok(true) = put_new(dir.path(), "data/cd/same", &first) else {
            return; // no direct I/O here: nothing of this path to test
        };
        let other = aligned(ALIGN);
        assert!(!put_new(dir.path(), "data/cd/same", &other).unwrap());
        let back = std::fs::read(dir.path().join("data/cd/same")).unwrap();
        assert!(back == first[..], "the first object stays");
        assert!(staging_left(dir.path()).is_empty());
    }

    #[test]
    fn an_unaligned_buffer_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = aligned(ALIGN + 10).slice(1..);
        assert!(put_new(dir.path(), "data/ef/odd", &bytes).is_err());
        assert!(!dir.path().join("data/ef/odd").exists());
        assert!(staging_left(dir.path()).is_empty());
    }
}
