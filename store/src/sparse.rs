//! Writing restored files sparse: runs of zero blocks become holes.
//!
//! A VM image or a preallocated database file of 10 GB may hold a few MB of
//! data; writing its zeros back would fill a disk the original never used.
//! The snapshot does not record where the holes were (the chunks of a hole
//! are ordinary zero chunks, deduplicated to one), so holes are made wherever
//! a whole file-system block is zero: the restored file reads back the same
//! bytes and uses at most the blocks that hold data.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};

/// Holes are made per block of this size, aligned to file offsets (the usual
/// file-system block: a smaller zero run could not become a hole anyway).
const BLOCK: u64 = 4096;

/// A writer into a freshly truncated file that seeks over zero blocks.
/// Call [`SparseFile::finish`] at the end: a trailing hole exists only once
/// the file's length is set.
pub struct SparseFile<'f> {
    file: &'f mut File,
    /// Logical position: bytes accepted so far.
    pos: u64,
    /// Zero bytes accepted but not yet skipped over in the file.
    pending_hole: u64,
}

impl<'f> SparseFile<'f> {
    /// Wraps a file opened for writing at offset 0 and empty (truncated).
    pub fn new(file: &'f mut File) -> Self {
        Self {
            file,
            pos: 0,
            pending_hole: 0,
        }
    }

    /// Sets the file's length to the bytes written, so a trailing hole counts.
    pub fn finish(self) -> std::io::Result<()> {
        if self.pending_hole > 0 {
            self.file.set_len(self.pos)?;
        }
        Ok(())
    }

    fn write_data(&mut self, data: &[u8]) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if self.pending_hole > 0 {
            let skip = i64::try_from(self.pending_hole).map_err(std::io::Error::other)?;
            self.file.seek(SeekFrom::Current(skip))?;
            self.pending_hole = 0;
        }
        self.file.write_all(data)
    }
}

impl Write for SparseFile<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Walk `buf` in pieces ending on block boundaries of the file; a zero
        // piece that covers a whole block is skipped, data is written in runs.
        let mut data_start = 0usize;
        let mut offset = 0usize;
        while offset < buf.len() {
            let at = self.pos + offset as u64;
            let to_boundary = usize::try_from(BLOCK - at % BLOCK).expect("at most one block");
            let end = (offset + to_boundary).min(buf.len());
            let piece = &buf[offset..end];
            let whole_block = piece.len() as u64 == BLOCK;
            if whole_block && piece.iter().all(|&b| b == 0) {
                self.write_data(&buf[data_start..offset])?;
                self.pending_hole += BLOCK;
                data_start = end;
            }
            offset = end;
        }
        self.write_data(&buf[data_start..])?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    fn write_sparse(pieces: &[Vec<u8>]) -> (Vec<u8>, u64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut f = File::create(&path).expect("create");
        let mut w = SparseFile::new(&mut f);
        for p in pieces {
            w.write_all(p).expect("write");
        }
        w.finish().expect("finish");
        drop(f);
        let mut back = Vec::new();
        File::open(&path)
            .expect("open")
            .read_to_end(&mut back)
            .expect("read");
        let blocks = std::fs::metadata(&path).expect("stat").blocks() * 512;
        (back, blocks)
    }

    #[test]
    fn bytes_read_back_equal_bytes_written_whatever_the_piece_boundaries() {
        let mut expected = Vec::new();
        let mut pieces = Vec::new();
        // Zero runs and data of awkward lengths, crossing block boundaries.
        for (i, len) in [1usize, 4095, 8192, 3, 70_000, 4096, 12_288, 5]
            .iter()
            .enumerate()
        {
            let byte = if i % 2 == 0 {
                0u8
            } else {
                u8::try_from(i).expect("eight pieces")
            };
            let mut p = vec![byte; *len];
            if i == 4 {
                p[35_000] = 9; // a lone byte in the middle of a zero run
            }
            expected.extend_from_slice(&p);
            pieces.push(p);
        }
        pieces.push(vec![0u8; 1 << 20]); // a trailing hole
        expected.extend_from_slice(&[0u8; 1 << 20]);
        let (back, _) = write_sparse(&pieces);
        assert_eq!(back.len(), expected.len());
        assert!(back == expected, "restored bytes differ");
    }

    #[test]
    fn a_file_of_zeros_with_a_little_data_uses_few_blocks() {
        let mut pieces = vec![vec![0u8; 64 << 20]];
        pieces.push(b"the only data".to_vec());
        pieces.push(vec![0u8; 64 << 20]);
        let (back, allocated) = write_sparse(&pieces);
        assert_eq!(back.len(), (128 << 20) + 13);
        assert!(
            allocated < 1 << 20,
            "{allocated} bytes allocated for 13 bytes of data in 128 MiB"
        );
    }
}
