//! `dump --archive`: a snapshot subtree as a tar or zip stream.
//!
//! File content goes through [`crate::restore::write_content`], the same
//! pipelined ranged reader as restore and cat: nothing is staged on disk and
//! only the trees below the subtree and its files' chunks are read.

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind};
use crate::progress::NoProgress;
use crate::repo::Repository;
use crate::restore::write_content;
use crate::tree::dir_entries;
use std::io::{Read, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    Tar,
    Zip,
}

/// What went into the archive.
#[derive(Clone, Copy, Debug, Default)]
pub struct ArchiveReport {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// Writes `node` (named `path` in the archive) and everything below it.
/// A zip is written as a stream (data descriptors), so `out` needs no seeking.
pub fn write_archive<W: Write>(
    repo: &Repository,
    node: &Node,
    path: &str,
    format: ArchiveFormat,
    out: W,
) -> Result<ArchiveReport> {
    let mut report = ArchiveReport::default();
    match format {
        ArchiveFormat::Tar => {
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            walk(repo, node, path, &mut |n, p| {
                tar_entry(repo, &mut b, n, p, &mut report)
            })?;
            b.into_inner()
                .map_err(Error::Output)?
                .flush()
                .map_err(Error::Output)?;
        }
        ArchiveFormat::Zip => {
            let mut z = zip::ZipWriter::new_stream(out);
            walk(repo, node, path, &mut |n, p| {
                zip_entry(repo, &mut z, n, p, &mut report)
            })?;
            z.finish().map_err(zip_err)?;
        }
    }
    Ok(report)
}

fn walk(
    repo: &Repository,
    node: &Node,
    path: &str,
    f: &mut dyn FnMut(&Node, &str) -> Result<()>,
) -> Result<()> {
    f(node, path)?;
    if let NodeKind::Dir { tree } = &node.kind {
        for child in dir_entries(repo, tree)? {
            let p = format!("{path}/{}", child.name_lossy());
            walk(repo, &child, &p, f)?;
        }
    }
    Ok(())
}

fn tar_entry<W: Write>(
    repo: &Repository,
    b: &mut tar::Builder<W>,
    n: &Node,
    path: &str,
    report: &mut ArchiveReport,
) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(n.mode & 0o7777);
    h.set_mtime(u64::try_from(n.mtime_unix_ns / 1_000_000_000).unwrap_or(0));
    h.set_uid(u64::from(n.uid));
    h.set_gid(u64::from(n.gid));
    match &n.kind {
        NodeKind::Dir { .. } => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, format!("{path}/"), std::io::empty())
                .map_err(Error::Output)?;
            report.dirs += 1;
        }
        NodeKind::Symlink { target } => {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, path, String::from_utf8_lossy(target).as_ref())
                .map_err(Error::Output)?;
            report.symlinks += 1;
        }
        NodeKind::File { content } => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(n.size);
            // tar pulls content through a reader and write_content pushes it:
            // a bounded channel between this thread and a scoped writer thread.
            let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(4);
            let written = std::thread::scope(|s| {
                let producer = s.spawn(move || {
                    let mut w = ChannelWriter(tx);
                    write_content(repo, content, &mut w, &NoProgress)
                });
                let appended = b.append_data(
                    &mut h,
                    path,
                    ChannelReader {
                        rx,
                        buf: Vec::new(),
                        pos: 0,
                    },
                );
                let written = producer
                    .join()
                    .unwrap_or_else(|_| panic!("a content reader thread panicked"));
                appended.map_err(Error::Output)?;
                written
            })?;
            if written != n.size {
                return Err(Error::corrupt(
                    path,
                    format!("read {written} bytes, the snapshot records {}", n.size),
                ));
            }
            report.files += 1;
            report.bytes += written;
        }
    }
    Ok(())
}

fn zip_entry<W: Write>(
    repo: &Repository,
    z: &mut zip::ZipWriter<zip::write::StreamWriter<W>>,
    n: &Node,
    path: &str,
    report: &mut ArchiveReport,
) -> Result<()> {
    let secs = n.mtime_unix_ns.div_euclid(1_000_000_000);
    let time = jiff_free_datetime(secs);
    let opts = zip::write::SimpleFileOptions::default()
        .unix_permissions(n.mode & 0o7777)
        .last_modified_time(time)
        .large_file(n.size >= u64::from(u32::MAX));
    match &n.kind {
        NodeKind::Dir { .. } => {
            z.add_directory(format!("{path}/"), opts).map_err(zip_err)?;
            report.dirs += 1;
        }
        NodeKind::Symlink { target } => {
            z.add_symlink(path, String::from_utf8_lossy(target), opts)
                .map_err(zip_err)?;
            report.symlinks += 1;
        }
        NodeKind::File { content } => {
            z.start_file(
                path,
                opts.compression_method(zip::CompressionMethod::Deflated),
            )
            .map_err(zip_err)?;
            let written = write_content(repo, content, z, &NoProgress)?;
            report.files += 1;
            report.bytes += written;
        }
    }
    Ok(())
}

/// A zip time (local civil time, 1980..2107, 2 s steps) from Unix seconds, in UTC.
fn jiff_free_datetime(secs: i64) -> zip::DateTime {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let parts = (
        u16::try_from(year.clamp(1980, 2107)).unwrap_or(1980),
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
        u8::try_from(rem / 3600).unwrap_or(0),
        u8::try_from(rem % 3600 / 60).unwrap_or(0),
        u8::try_from(rem % 60).unwrap_or(0),
    );
    zip::DateTime::from_date_and_time(parts.0, parts.1, parts.2, parts.3, parts.4, parts.5)
        .unwrap_or_default()
}

fn zip_err(e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(io) => Error::Output(io),
        other => Error::Output(std::io::Error::other(other)),
    }
}

struct ChannelWriter(crossbeam_channel::Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct ChannelReader {
    rx: crossbeam_channel::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
