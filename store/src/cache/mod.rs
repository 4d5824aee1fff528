//! The local chunk-index cache: blob id -> (pack, offset, length) in RocksDB.
//!
//! Disposable by design: it is a copy of the repository's index files, rebuilt
//! from them when missing or stale, so deleting it changes nothing but time.
//! RocksDB keeps memory bounded however many blobs the repository holds (an
//! in-memory map of a ten-year repository would not fit in a CronJob's limits).
//!
//! Keys: `b` + blob id -> location (49 bytes), `i` + index id -> empty (which
//! index files are ingested), `t` + tree blob id -> raw length (u32 LE) and the
//! sealed tree blob as stored in its pack. Trees are cached because every
//! backup reads the parent snapshot's trees (68,000 folders in a Dolibarr
//! documents tree): one ranged GET each would dominate a nightly run on S3.
//! They are kept sealed, so the cache holds no file names in clear. `s` +
//! snapshot id -> the sealed snapshot object as stored: `--as-of`, `log` and
//! `find` list every snapshot, and 3,650 GETs per command would cost seconds
//! on a bucket (snapshots are immutable, so an entry never goes stale; one
//! whose object was forgotten is simply never asked for again). A repository index file that the cache knows but
//! the repository no longer has (prune rewrote it) makes the cache rebuild.

use crate::backend::Backend;
use crate::codec;
use crate::crypto::{Domain, MasterKey};
use crate::error::{CacheError, Error, Result};
use crate::format::index::IndexFile;
use crate::format::layout;
use crate::format::pack::{BlobEntry, BlobKind};
use crate::id::{BlobId, IndexId, PackId, SnapshotId};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const BLOB_PREFIX: u8 = b'b';
const INDEX_PREFIX: u8 = b'i';
const TREE_PREFIX: u8 = b't';
const SNAPSHOT_PREFIX: u8 = b's';
/// An index file whose entries are partly written (see [`IndexCache::ingest`]).
const PARTIAL_PREFIX: u8 = b'p';
/// Level-0 files at which opening the cache merges them first.
const LEVEL_ZERO_PILE: u64 = 8;
/// Entries per write batch of an ingest.
const INGEST_BATCH: usize = 16 * 1024;
const LOCATION_LEN: usize = 32 + 1 + 8 + 4 + 4;

/// Where a blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: PackId,
    pub kind: BlobKind,
    pub offset: u64,
    pub length: u32,
    pub raw_length: u32,
}

impl BlobLocation {
    pub fn of(pack: PackId, e: &BlobEntry) -> Self {
        Self {
            pack,
            kind: e.kind,
            offset: e.offset,
            length: e.length,
            raw_length: e.raw_length,
        }
    }

    fn encode(&self) -> [u8; LOCATION_LEN] {
        let mut v = [0u8; LOCATION_LEN];
        v[..32].copy_from_slice(&self.pack.0);
        v[32] = match self.kind {
            BlobKind::Data => 0,
            BlobKind::Tree => 1,
        };
        v[33..41].copy_from_slice(&self.offset.to_le_bytes());
        v[41..45].copy_from_slice(&self.length.to_le_bytes());
        v[45..49].copy_from_slice(&self.raw_length.to_le_bytes());
        v
    }

    fn decode(v: &[u8]) -> Option<Self> {
        if v.len() != LOCATION_LEN {
            return None;
        }
        let mut pack = [0u8; 32];
        pack.copy_from_slice(&v[..32]);
        let kind = match v[32] {
            0 => BlobKind::Data,
            1 => BlobKind::Tree,
            _ => return None,
        };
        Some(Self {
            pack: PackId(pack),
            kind,
            offset: u64::from_le_bytes(v[33..41].try_into().ok()?),
            length: u32::from_le_bytes(v[41..45].try_into().ok()?),
            raw_length: u32::from_le_bytes(v[45..49].try_into().ok()?),
        })
    }
}

/// What a sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub index_files_added: usize,
    pub rebuilt: bool,
}

pub struct IndexCache {
    db: rocksdb::DB,
    path: PathBuf,
    /// Keeps a private fallback cache folder alive as long as the cache.
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IndexCache({})", self.path.display())
    }
}

impl IndexCache {
    /// Opens (or creates) the cache at `path`. When another coffer process
    /// holds that cache (RocksDB allows one writer), a private temporary cache
    /// is used instead: slower to fill, never wrong.
    pub fn open(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| cache_err(path, e.into()))?;
        check_room(path)?;
        match rocksdb::DB::open(&db_options(), path) {
            Ok(db) => {
                let cache = Self {
                    db,
                    path: path.to_path_buf(),
                    _temp: None,
                };
                cache.settle_level_zero();
                Ok(cache)
            }
            Err(e) if e.to_string().contains("lock") => Self::temporary(),
            Err(e) => Err(cache_err(path, e.into())),
        }
    }

    /// Merges level 0 when short-lived runs have piled it up. Each run's
    /// ingests flush memtables into level-0 files, and a process that exits
    /// seconds later never lets RocksDB's background compaction merge them:
    /// after ten years of nights 13 such files made every scan of the cache
    /// merge 13 sorted runs (`coffer snapshots` 0.55 s, against 0.18 s once
    /// merged). Best effort: the cache is disposable and still correct
    /// without it.
    fn settle_level_zero(&self) {
        let piled = self
            .db
            .property_int_value("rocksdb.num-files-at-level0")
            .ok()
            .flatten()
            .is_some_and(|n| n >= LEVEL_ZERO_PILE);
        if piled {
            self.db.compact_range::<&[u8], &[u8]>(None, None);
        }
    }

    /// A cache in a fresh temporary folder, removed when dropped.
    pub fn temporary() -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("coffer-cache-")
            .tempdir()
            .map_err(|e| cache_err(Path::new("(temp)"), e.into()))?;
        let path = temp.path().to_path_buf();
        check_room(&path)?;
        let db = rocksdb::DB::open(&db_options(), &path).map_err(|e| cache_err(&path, e.into()))?;
        Ok(Self {
            db,
            path,
            _temp: Some(temp),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl Into<CacheError>) -> Error {
        cache_err(&self.path, e.into())
    }

    pub fn lookup(&self, id: &BlobId) -> Result<Option<BlobLocation>> {
        let v = self.db.get_pinned(blob_key(id)).map_err(|e| self.err(e))?;
        match v {
            None => Ok(None),
            Some(v) => BlobLocation::decode(&v)
                .map(Some)
                .ok_or_else(|| self.err(CacheError::Record(format!("blob {}", id.short())))),
        }
    }

    /// Many lookups in one batched read (RocksDB MultiGet): a restore asks
    /// for every chunk of a file, in order.
    pub fn lookup_many(&self, ids: &[BlobId]) -> Result<Vec<Option<BlobLocation>>> {
        self.db
            .multi_get(ids.iter().map(blob_key))
            .into_iter()
            .zip(ids)
            .map(|(r, id)| match r.map_err(|e| self.err(e))? {
                None => Ok(None),
                Some(v) => BlobLocation::decode(&v)
                    .map(Some)
                    .ok_or_else(|| self.err(CacheError::Record(format!("blob {}", id.short())))),
            })
            .collect()
    }

    /// Every indexed blob, in id order, streamed from RocksDB (the usage audit
    /// merges it with another id-sorted stream instead of loading either).
    pub fn blobs(&self) -> impl Iterator<Item = Result<(BlobId, BlobLocation)>> + '_ {
        self.db
            .prefix_iterator([BLOB_PREFIX])
            .take_while(|r| {
                r.as_ref()
                    .map_or(true, |(k, _)| k.first() == Some(&BLOB_PREFIX))
            })
            .map(|r| {
                let (k, v) = r.map_err(|e| self.err(e))?;
                let id = <[u8; 32]>::try_from(&k[1..])
                    .map(BlobId)
                    .map_err(|_| self.err(CacheError::Record("blob key".into())))?;
                let loc = BlobLocation::decode(&v)
                    .ok_or_else(|| self.err(CacheError::Record(format!("blob {}", id.short()))))?;
                Ok((id, loc))
            })
    }

    pub fn contains(&self, id: &BlobId) -> Result<bool> {
        Ok(self.lookup(id)?.is_some())
    }

    /// Index files already ingested.
    pub fn known_index_files(&self) -> Result<HashSet<IndexId>> {
        let mut out = HashSet::new();
        let iter = self.db.prefix_iterator([INDEX_PREFIX]);
        for item in iter {
            let (k, _) = item.map_err(|e| self.err(e))?;
            if k.first() != Some(&INDEX_PREFIX) {
                break;
            }
            if let Ok(id) = <[u8; 32]>::try_from(&k[1..]) {
                out.insert(IndexId(id));
            }
        }
        Ok(out)
    }

    /// Records one index file's entries; its marker is written with the
    /// last of them.
    ///
    /// A large file (a merged index of a ten-year repository: 300,000
    /// entries) goes in several write batches, so memory stays bounded
    /// whatever its size; the first batch then also writes a "partly
    /// ingested" record for it, which the last removes. A process killed in
    /// between leaves that record, and the next sync rebuilds the cache
    /// rather than trust entries whose index file it may never see again.
    pub fn ingest(&self, id: &IndexId, index: &IndexFile) -> Result<()> {
        let count = index.packs.iter().map(|p| p.blobs.len()).sum();
        let mut entries: Vec<(&BlobEntry, &PackId)> = Vec::with_capacity(count);
        for p in &index.packs {
            entries.extend(p.blobs.iter().map(|b| (b, &p.pack)));
        }
        // In key order: the memtable's skip list then inserts each entry next
        // to the one before instead of searching from the top for random ids,
        // which was most of a cold cache's CPU (300,000 entries of a
        // ten-year repository took 1.4 s).
        entries.sort_unstable_by_key(|(b, _)| &b.id);
        let partial = prefixed_raw(PARTIAL_PREFIX, &id.0);
        let batches = entries.len().div_ceil(INGEST_BATCH).max(1);
        for k in 0..batches {
            let mut batch = rocksdb::WriteBatch::default();
            if k == 0 && batches > 1 {
                batch.put(partial, []);
            }
            let part = entries.get(k * INGEST_BATCH..).unwrap_or_default();
            for (b, pack) in part.iter().take(INGEST_BATCH) {
                batch.put(blob_key(&b.id), BlobLocation::of(**pack, b).encode());
            }
            if k + 1 == batches {
                batch.put(prefixed_raw(INDEX_PREFIX, &id.0), []);
                if batches > 1 {
                    batch.delete(partial);
                }
            }
            self.db
                .write_opt(batch, &no_wal())
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Whether an ingest was cut short (see [`Self::ingest`]).
    fn partly_ingested(&self) -> Result<bool> {
        let mut it = self.db.raw_iterator();
        it.seek([PARTIAL_PREFIX]);
        if it.valid() {
            return Ok(it.key().is_some_and(|k| k.first() == Some(&PARTIAL_PREFIX)));
        }
        it.status().map_err(|e| self.err(e))?;
        Ok(false)
    }

    /// A cached sealed tree blob: (raw length, sealed bytes).
    pub fn tree(&self, id: &BlobId) -> Result<Option<(u32, Vec<u8>)>> {
        let Some(v) = self
            .db
            .get_pinned(prefixed(TREE_PREFIX, id))
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        let raw = v
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| self.err(CacheError::Record(format!("tree {}", id.short()))))?;
        Ok(Some((raw, v[4..].to_vec())))
    }

    /// Whether a tree blob is cached, without copying it out.
    pub fn has_tree(&self, id: &BlobId) -> Result<bool> {
        let found = self
            .db
            .get_pinned(prefixed(TREE_PREFIX, id))
            .map_err(|e| self.err(e))?;
        Ok(found.is_some())
    }

    /// Remembers a sealed tree blob (trees are immutable: the id names the content).
    pub fn put_tree(&self, id: &BlobId, raw_length: u32, sealed: &[u8]) -> Result<()> {
        let mut v = Vec::with_capacity(4 + sealed.len());
        v.extend_from_slice(&raw_length.to_le_bytes());
        v.extend_from_slice(sealed);
        self.db
            .put_opt(prefixed(TREE_PREFIX, id), v, &no_wal())
            .map_err(|e| self.err(e))
    }

    /// Cached sealed snapshot objects, in the order of `ids`. One sequential
    /// scan of the cached records merged with the sorted ids: 3,650 point
    /// lookups cost a warm `cat` several times more. Records of snapshots no
    /// longer listed (forgotten) are dropped on the way, so the scan stays as
    /// long as the repository's list.
    pub fn snapshot_records(&self, ids: &[SnapshotId]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&i| ids[i]);
        let mut out: Vec<Option<Vec<u8>>> = vec![None; ids.len()];
        let mut stale = rocksdb::WriteBatch::default();
        let mut wanted = order.iter().peekable();
        for item in self.db.prefix_iterator([SNAPSHOT_PREFIX]) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if k.first() != Some(&SNAPSHOT_PREFIX) {
                break;
            }
            let Ok(id) = <[u8; 32]>::try_from(&k[1..]).map(SnapshotId) else {
                stale.delete(&k);
                continue;
            };
            while wanted.next_if(|&&i| ids[i] < id).is_some() {}
            let mut listed = false;
            while let Some(&i) = wanted.next_if(|&&i| ids[i] == id) {
                out[i] = Some(v.to_vec());
                listed = true;
            }
            if !listed {
                stale.delete(&k);
            }
        }
        if !stale.is_empty() {
            self.db
                .write_opt(stale, &no_wal())
                .map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Remembers sealed snapshot objects (immutable: the id is their hash).
    pub fn put_snapshot_records(&self, records: &[(SnapshotId, &[u8])]) -> Result<()> {
        let mut batch = rocksdb::WriteBatch::default();
        for (id, sealed) in records {
            batch.put(prefixed_raw(SNAPSHOT_PREFIX, &id.0), sealed);
        }
        self.db.write_opt(batch, &no_wal()).map_err(|e| self.err(e))
    }

    /// Forgets the index (not the trees, which stay valid whatever the index says).
    fn clear(&self) -> Result<()> {
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_range(&[BLOB_PREFIX][..], &[BLOB_PREFIX + 1][..]);
        batch.delete_range(&[INDEX_PREFIX][..], &[INDEX_PREFIX + 1][..]);
        batch.delete_range(&[PARTIAL_PREFIX][..], &[PARTIAL_PREFIX + 1][..]);
        self.db.write_opt(batch, &no_wal()).map_err(|e| self.err(e))
    }

    /// Brings the cache up to date with the repository's `index/` folder:
    /// downloads only index files it has not seen; rebuilds when one it knows
    /// has gone. Never reads packs.
    ///
    /// An index file listed but gone when fetched was superseded meanwhile
    /// (prune or compaction store its replacement before deleting it): the
    /// folder is listed again, so the replacement is read and no entry is
    /// lost, up to a few rounds.
    pub fn sync(&self, backend: &Backend, key: &MasterKey) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        for _ in 0..SYNC_ROUNDS {
            if self.sync_once(backend, key, &mut report)? {
                break;
            }
        }
        Ok(report)
    }

    /// One listing and the fetches it calls for; false when a listed file was gone.
    fn sync_once(
        &self,
        backend: &Backend,
        key: &MasterKey,
        report: &mut SyncReport,
    ) -> Result<bool> {
        let listed: HashSet<IndexId> = backend
            .list_names(layout::INDEX)?
            .into_iter()
            .filter_map(|name| layout::id_from_name(&name).map(IndexId))
            .collect();
        let mut known = self.known_index_files()?;
        if !known.is_subset(&listed) || self.partly_ingested()? {
            self.clear()?;
            known.clear();
            report.rebuilt = true;
        }
        let missing: Vec<IndexId> = listed.difference(&known).copied().collect();
        let client = backend.client();
        // Fetch concurrently, ingest each as it arrives (only the few in
        // flight are held).
        backend.block_on(async {
            use futures::StreamExt;
            let mut arriving = futures::stream::iter(missing.into_iter().map(|id| async move {
                let name = layout::index(&id);
                let r = client.get(&name).await;
                (id, name, r)
            }))
            .buffer_unordered(16);
            let mut complete = true;
            while let Some((id, name, r)) = arriving.next().await {
                let Some(bytes) = r? else {
                    complete = false;
                    continue;
                };
                let index = open_index(key, &name, &bytes)?;
                drop(bytes);
                self.ingest(&id, &index)?;
                report.index_files_added += 1;
            }
            Ok(complete)
        })
    }
}

/// Listings of `index/` one sync makes at most when files vanish under it.
const SYNC_ROUNDS: usize = 4;

/// Decrypts and decodes an index file.
pub fn open_index(key: &MasterKey, name: &str, bytes: &[u8]) -> Result<IndexFile> {
    let plain = key
        .open(Domain::Index, bytes)
        .map_err(|e| Error::corrupt(name, e.to_string()))?;
    codec::decode(&plain).map_err(|e| Error::corrupt(name, e.to_string()))
}

fn blob_key(id: &BlobId) -> [u8; 33] {
    prefixed(BLOB_PREFIX, id)
}

fn prefixed(prefix: u8, id: &BlobId) -> [u8; 33] {
    prefixed_raw(prefix, &id.0)
}

fn prefixed_raw(prefix: u8, id: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = prefix;
    k[1..].copy_from_slice(id);
    k
}

/// Free space the cache folder must have before RocksDB is given it.
const ROOM_NEEDED: usize = 1 << 20;

/// Fails cleanly when the cache folder's file system is full or nearly so.
/// RocksDB would find out half-way through writing its log or WAL, and the
/// librocksdb we link (Debian's, built with assertions) then aborts the whole
/// process on its next write instead of returning the error. This catches the
/// common case, a cache disk already full; running out later can still abort.
fn check_room(dir: &Path) -> Result<()> {
    use std::io::Write;
    let mut probe = tempfile::Builder::new()
        .prefix(".room-probe-")
        .tempfile_in(dir)
        .map_err(|e| cache_err(dir, e.into()))?;
    // write() reserves blocks (tmpfs, ext4 delayed allocation, XFS), so a full
    // disk fails here without an fsync.
    probe
        .as_file_mut()
        .write_all(&vec![0u8; ROOM_NEEDED])
        .map_err(|e| cache_err(dir, e.into()))
}

fn cache_err(path: &Path, source: CacheError) -> Error {
    Error::Cache {
        path: path.to_path_buf(),
        source,
    }
}

/// No write-ahead log: the cache is disposable, a crash loses at most the
/// last unflushed writes (each batch, with its index-file marker, all or
/// nothing), and the next sync fetches them again. Halves write cost.
fn no_wal() -> rocksdb::WriteOptions {
    let mut w = rocksdb::WriteOptions::default();
    w.disable_wal(true);
    w
}

/// Bounded memory: a small block cache and write buffer, whatever the size.
fn db_options() -> rocksdb::Options {
    let mut o = rocksdb::Options::default();
    o.create_if_missing(true);
    o.set_write_buffer_size(4 << 20);
    o.set_max_write_buffer_number(2);
    o.set_max_open_files(256);
    o.set_keep_log_file_num(2);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&rocksdb::Cache::new_lru_cache(32 << 20));
    table.set_bloom_filter(10.0, false);
    o.set_block_based_table_factory(&table);
    o
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
