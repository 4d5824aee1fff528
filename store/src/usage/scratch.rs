//! A disk-backed sort of `(blob id, tree node)` pairs: which distinct trees
//! reference each blob, read back in blob id order.
//!
//! A ten-year repository references millions of chunks; holding a set of them
//! in memory is what the audit must not do. RocksDB (already the index cache's
//! engine) sorts on disk with bounded memory, and reading it back in key order
//! lets the audit merge it with the index cache, also in id order, in one pass.

use crate::error::{CacheError, Error, Result};
use crate::id::BlobId;
use std::path::Path;

const BATCH: usize = 64 * 1024;

pub struct Scratch {
    db: rocksdb::DB,
    batch: rocksdb::WriteBatch,
    pending: usize,
    // Dropped after `db`: the folder is removed once RocksDB has closed.
    _dir: tempfile::TempDir,
}

impl Scratch {
    /// A fresh scratch database in a temporary folder under `parent` (the
    /// cache's folder when there is one, so it lands on the same disk).
    pub fn new(parent: Option<&Path>) -> Result<Self> {
        let mut b = tempfile::Builder::new();
        b.prefix("coffer-usage-");
        let dir = match parent {
            Some(p) => b.tempdir_in(p),
            None => b.tempdir(),
        }
        .map_err(|e| scratch_err(Path::new("(temp)"), e.into()))?;
        let mut o = rocksdb::Options::default();
        o.create_if_missing(true);
        o.set_write_buffer_size(16 << 20);
        o.set_max_write_buffer_number(2);
        o.set_max_open_files(128);
        o.set_keep_log_file_num(1);
        // Written once, read once in order: no compression work, no block cache to speak of.
        o.set_compression_type(rocksdb::DBCompressionType::None);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(8 << 20));
        o.set_block_based_table_factory(&table);
        let db =
            rocksdb::DB::open(&o, dir.path()).map_err(|e| scratch_err(dir.path(), e.into()))?;
        Ok(Self {
            db,
            batch: rocksdb::WriteBatch::default(),
            pending: 0,
            _dir: dir,
        })
    }

    /// Records that tree node `node` references `blob`.
    pub fn add(&mut self, blob: &BlobId, node: u32) -> Result<()> {
        let mut k = [0u8; 36];
        k[..32].copy_from_slice(&blob.0);
        k[32..].copy_from_slice(&node.to_be_bytes());
        self.batch.put(k, []);
        self.pending += 1;
        if self.pending >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.pending = 0;
        let mut w = rocksdb::WriteOptions::default();
        w.disable_wal(true);
        self.db
            .write_opt(batch, &w)
            .map_err(|e| scratch_err(self._dir.path(), e.into()))
    }

    /// Every blob with the nodes referencing it, in blob id order.
    pub fn grouped(&mut self) -> Result<Grouped<'_>> {
        self.flush()?;
        let iter = self.db.iterator(rocksdb::IteratorMode::Start);
        Ok(Grouped {
            iter,
            pending: None,
            path: self._dir.path(),
        })
    }
}

pub struct Grouped<'a> {
    iter: rocksdb::DBIterator<'a>,
    pending: Option<(BlobId, u32)>,
    path: &'a Path,
}

impl Grouped<'_> {
    fn next_pair(&mut self) -> Option<Result<(BlobId, u32)>> {
        let item = self.iter.next()?;
        Some(match item {
            Err(e) => Err(scratch_err(self.path, e.into())),
            Ok((k, _)) => match (
                <[u8; 32]>::try_from(&k[..32]),
                <[u8; 4]>::try_from(&k[32..]),
            ) {
                (Ok(id), Ok(n)) => Ok((BlobId(id), u32::from_be_bytes(n))),
                _ => Err(scratch_err(
                    self.path,
                    CacheError::Record("scratch key".into()),
                )),
            },
        })
    }
}

impl Iterator for Grouped<'_> {
    type Item = Result<(BlobId, Vec<u32>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (id, first) = match self.pending.take() {
            Some(p) => p,
            None => match self.next_pair()? {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            },
        };
        let mut nodes = vec![first];
        loop {
            match self.next_pair() {
                None => break,
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok((next, n))) if next == id => nodes.push(n),
                Some(Ok(p)) => {
                    self.pending = Some(p);
                    break;
                }
            }
        }
        Some(Ok((id, nodes)))
    }
}

fn scratch_err(path: &Path, source: CacheError) -> Error {
    Error::Cache {
        path: path.to_path_buf(),
        source,
    }
}
