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
//! object is kept) and unlinked. A pack can also be written as it fills
//! ([`DirectWriter::begin`]: prune's repack, which then holds a megabyte of
//! pack, not sixteen): its staging file is `data/writing#<digits>` until its
//! hash, its name, is known. Anything unusual (a file system without
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
        // Whole, it is a stream of one piece staged beside its name.
        self.stream_beside(&self.root.join(name))?
            .finish(bytes, name)
    }

    /// Starts an object whose name is known only at its end (a pack, named
    /// by its hash), written as it fills: a staging file in `folder`.
    pub fn begin(&self, folder: &str) -> io::Result<DirectStream> {
        self.stream_beside(&self.root.join(folder).join("writing"))
    }

    /// A stream into a fresh staging file `<path>#<digits>`.
    fn stream_beside(&self, path: &Path) -> io::Result<DirectStream> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let staging = staging_path(path)?;
        let fd = rustix::fs::open(
            &staging,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::DIRECT,
            Mode::from_raw_mode(0o666),
        )?;
        Ok(DirectStream {
            file: std::fs::File::from(fd),
            staging,
            root: self.root.clone(),
            written: 0,
        })
    }
}

/// An object being written with direct I/O in pieces (see
/// [`DirectWriter::begin`]). Dropped unfinished, its staging file goes.
#[derive(Debug)]
pub struct DirectStream {
    file: std::fs::File,
    staging: PathBuf,
    root: PathBuf,
    written: u64,
}

impl DirectStream {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends whole blocks: `bytes` starts at an [`ALIGN`]ed address and
    /// its length is a multiple of [`ALIGN`].
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.as_ptr().align_offset(ALIGN) != 0 || bytes.len() % ALIGN != 0 {
            return Err(io::Error::other("piece not aligned for direct I/O"));
        }
        self.file.write_all_at(bytes, self.written)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the last bytes (aligned address, any length) and places the
    /// object as `name`; `Ok(false)` when one of that name was already there
    /// (left untouched). After an error, [`Self::written`] tells how much
    /// of `tail` is in the staging file.
    pub fn finish(&mut self, tail: &[u8], name: &str) -> io::Result<bool> {
        let body = tail.len() - tail.len() % ALIGN;
        self.append(&tail[..body])?;
        let flags = rustix::fs::fcntl_getfl(&self.file)?;
        rustix::fs::fcntl_setfl(&self.file, flags - OFlags::DIRECT)?;
        self.file.write_all_at(&tail[body..], self.written)?;
        self.written += (tail.len() - body) as u64;
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::hard_link(&self.staging, &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// What was written so far, read back (to store it another way after a
    /// failed write); the staging file goes.
    pub fn read_back(self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; usize::try_from(self.written).map_err(io::Error::other)?];
        std::fs::File::open(&self.staging)?.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
}

impl Drop for DirectStream {
    fn drop(&mut self) {
        // Placed or abandoned, the staging name goes (best effort: prune
        // removes a leftover one once it is old).
        let _ = std::fs::remove_file(&self.staging);
    }
}

/// A fresh staging name beside `path`: `<name>#<random digits>`.
fn staging_path(path: &Path) -> io::Result<PathBuf> {
    let n = getrandom::u64().map_err(|e| io::Error::other(e.to_string()))?;
    let mut s = path.as_os_str().to_owned();
    s.push(format!("#{n}"));
    Ok(PathBuf::from(s))
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
            match DirectWriter::new(dir.path().to_path_buf()).put_new(&name, &bytes) {
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
        let Ok(true) = DirectWriter::new(dir.path().to_path_buf()).put_new("data/cd/same", &first)
        else {
            return; // no direct I/O here: nothing of this path to test
        };
        let other = aligned(ALIGN);
        assert!(
            !DirectWriter::new(dir.path().to_path_buf())
                .put_new("data/cd/same", &other)
                .unwrap()
        );
        let back = std::fs::read(dir.path().join("data/cd/same")).unwrap();
        assert!(back == first[..], "the first object stays");
        assert!(staging_left(dir.path()).is_empty());
    }

    #[test]
    fn an_unaligned_buffer_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = aligned(ALIGN + 10).slice(1..);
        assert!(
            DirectWriter::new(dir.path().to_path_buf())
                .put_new("data/ef/odd", &bytes)
                .is_err()
        );
        assert!(!dir.path().join("data/ef/odd").exists());
        assert!(staging_left(dir.path()).is_empty());
    }

    #[test]
    fn a_pack_written_in_pieces_is_placed_whole_under_its_final_name() {
        let dir = tempfile::tempdir().unwrap();
        let writer = DirectWriter::new(dir.path().to_path_buf());
        let mut stream = match writer.begin("data") {
            Ok(s) => s,
            Err(e) if must_take_direct_io(dir.path()) => panic!("ext4/xfs: {e}"),
            Err(_) => return, // tmpfs: the pack writer stores whole packs
        };
        assert_eq!(
            staging_left(dir.path()).len(),
            1,
            "one staging file while writing"
        );
        let all = aligned(3 * ALIGN + 100);
        stream.append(&all[..ALIGN]).unwrap();
        stream.append(&all[ALIGN..3 * ALIGN]).unwrap();
        assert!(
            stream.append(&all[..10]).is_err(),
            "a piece that is not whole blocks"
        );
        assert_eq!(stream.written(), 3 * ALIGN as u64);
        // The tail is whatever is left: here a block and a bit less.
        let tail = aligned(ALIGN + 100);
        let mut expected = all[..3 * ALIGN].to_vec();
        expected.extend_from_slice(&tail);
        assert!(stream.finish(&tail, "data/ab/whole").unwrap());
        drop(stream);
        let back = std::fs::read(dir.path().join("data/ab/whole")).unwrap();
        assert!(back == expected, "pieces and tail in order");
        assert!(staging_left(dir.path()).is_empty());

        // An object of that name already there is kept.
        let mut again = writer.begin("data").unwrap();
        assert!(!again.finish(&aligned(5), "data/ab/whole").unwrap());
        drop(again);
        assert!(std::fs::read(dir.path().join("data/ab/whole")).unwrap() == expected);
        assert!(staging_left(dir.path()).is_empty());
    }

    #[test]
    fn what_a_stream_wrote_reads_back_and_its_staging_file_goes() {
        let dir = tempfile::tempdir().unwrap();
        let writer = DirectWriter::new(dir.path().to_path_buf());
        let Ok(mut stream) = writer.begin("data") else {
            return; // no direct I/O here
        };
        let piece = aligned(2 * ALIGN);
        stream.append(&piece).unwrap();
        assert!(stream.read_back().unwrap() == piece[..]);
        assert!(staging_left(dir.path()).is_empty());
        // Dropped unfinished: nothing stays either.
        let mut dropped = writer.begin("data").unwrap();
        dropped.append(&piece).unwrap();
        drop(dropped);
        assert!(staging_left(dir.path()).is_empty());
        assert!(walk(&dir.path().join("data")).is_empty());
    }
}
