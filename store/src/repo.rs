//! An open repository: backend, master key, config, and the index cache.

use crate::backend::{Backend, PutOutcome};
use crate::cache::{BlobLocation, IndexCache, SyncReport};
use crate::codec;
use crate::compress;
use crate::crypto::{self, Domain, KdfParams, MasterKey};
use crate::error::{Error, Result};
use crate::format::config::{self, ChunkerRecord, Config};
use crate::format::index::{IndexFile, IndexFileOf, IndexedPack};
use crate::format::key::{self, KeyFile};
use crate::format::snapshot::{Snapshot, SnapshotEntry};
use crate::format::tree::TreeBlob;
use crate::format::{FORMAT_VERSION, layout};
use crate::id::{BlobId, IndexId, KeyId, SnapshotId, content_hash};
use bytes::Bytes;
use coffer_chunker::ChunkerParams;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// Settings chosen at `init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Average chunk size; min is a quarter, max four times. The gear seed is
    /// derived from the new master key.
    pub avg_chunk_size: u32,
    pub pack_target_size: u32,
    pub zstd_level: i32,
    pub kdf: KdfParams,
    /// Chunker parameters (seed included) taken from another repository, so
    /// `copy` between the two keeps deduplicating; `avg_chunk_size` is then unused.
    pub copy_chunker: Option<ChunkerRecord>,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            avg_chunk_size: ChunkerParams::DEFAULT_AVG,
            pack_target_size: DEFAULT_PACK_SIZE,
            zstd_level: 3,
            kdf: KdfParams::DEFAULT,
            copy_chunker: None,
        }
    }
}

/// 16 MiB: large enough that a bucket holds few objects (requests cost money),
/// small enough that a backup's in-flight packs stay well inside 128 MiB of RAM.
pub const DEFAULT_PACK_SIZE: u32 = 16 << 20;

/// Where the index cache lives.
#[derive(Clone, Debug)]
pub enum CacheLocation {
    /// `<dir>/<repository id>/`.
    Dir(PathBuf),
    /// A private temporary cache, dropped with the repository.
    Temporary,
}

pub struct Repository {
    backend: Backend,
    key: MasterKey,
    /// The key file the password opened (`key remove` refuses to remove it).
    key_id: KeyId,
    config: Config,
    cache_location: CacheLocation,
    cache: OnceLock<IndexCache>,
    trees: Mutex<TreeMemo>,
    /// Packs a condemned record names: a writer never deduplicates against a
    /// blob stored there (FORMAT.md, "Deleting packs and index files").
    avoided_packs: Mutex<std::collections::HashSet<crate::id::PackId>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.backend.location())
    }
}

const TREE_CACHE_ENTRIES: usize = 4096;
/// Decoded trees kept in memory are also bounded by their encoded size: a
/// count alone let 1,000 folders of 1,000 files each (1,000,000 nodes, ~200 MiB
/// decoded) stay in memory through a whole backup.
const TREE_CACHE_BYTES: usize = 16 << 20;

/// Recently read trees; emptied when it holds too many or too large ones.
#[derive(Default)]
struct TreeMemo {
    trees: HashMap<BlobId, std::sync::Arc<TreeBlob>>,
    encoded_bytes: usize,
}

impl Repository {
    /// Creates a repository in an empty location.
    pub fn init(
        backend: Backend,
        password: &[u8],
        opts: &InitOptions,
        now: SystemTime,
        cache: CacheLocation,
    ) -> Result<Self> {
        if backend.get(layout::CONFIG)?.is_some() {
            return Err(Error::AlreadyExists {
                location: backend.location().to_string(),
            });
        }
        let key = MasterKey::generate();
        let avg = opts.avg_chunk_size;
        let chunker = match opts.copy_chunker {
            Some(c) => ChunkerParams {
                min_size: c.min_size,
                avg_size: c.avg_size,
                max_size: c.max_size,
                seed: c.seed,
            },
            None => ChunkerParams {
                min_size: avg / 4,
                avg_size: avg,
                max_size: avg.saturating_mul(4),
                seed: key.chunker_seed(),
            },
        };
        chunker
            .validate()
            .map_err(|e| Error::InvalidInput(format!("chunker parameters: {e}")))?;
        let config = Config {
            repo_id: crypto::random_array(),
            chunker: ChunkerRecord {
                min_size: chunker.min_size,
                avg_size: chunker.avg_size,
                max_size: chunker.max_size,
                seed: chunker.seed,
            },
            pack_target_size: opts.pack_target_size,
            zstd_level: opts.zstd_level,
            created_unix_ns: unix_ns(now),
        };
        // Key file first: a crash between the two leaves no config, so the
        // folder is not mistaken for a repository and `init` can run again.
        let key_id = write_key_file(&backend, &key, password, opts.kdf, now)?;
        let sealed = key.seal(Domain::Config, &codec::encode(&config));
        match backend.put_new(layout::CONFIG, Bytes::from(config::frame(&sealed)))? {
            PutOutcome::Created => {}
            PutOutcome::AlreadyExisted => {
                return Err(Error::AlreadyExists {
                    location: backend.location().to_string(),
                });
            }
        }
        Ok(Self::assemble(backend, (key_id, key), config, cache))
    }

    /// Opens an existing repository with a password.
    pub fn open(backend: Backend, password: &[u8], cache: CacheLocation) -> Result<Self> {
        let sealed = read_sealed_config(&backend)?;
        let (key_id, key) = unlock(&backend, password)?;
        let plain = key
            .open(Domain::Config, &sealed)
            .map_err(|e| Error::corrupt("config", e.to_string()))?;
        Self::open_config(backend, (key_id, key), &plain, cache)
    }

    /// Opens an existing repository with a master secret already unwrapped
    /// from key file `key_id` (a key agent's): no password, no key derivation.
    /// A secret that does not open the config is [`Error::WrongPassword`], so a
    /// caller can fall back to asking for the password.
    pub fn open_with_master(
        backend: Backend,
        key_id: KeyId,
        secret: [u8; 32],
        cache: CacheLocation,
    ) -> Result<Self> {
        let sealed = read_sealed_config(&backend)?;
        let key = MasterKey::from_secret(secret);
        let Ok(plain) = key.open(Domain::Config, &sealed) else {
            return Err(Error::WrongPassword { key_files: 1 });
        };
        Self::open_config(backend, (key_id, key), &plain, cache)
    }

    /// The ids of the repository's key files (one LIST): what a key agent is
    /// asked about before any password is read.
    pub fn key_file_ids(backend: &Backend) -> Result<Vec<KeyId>> {
        Ok(backend
            .list(layout::KEYS)?
            .iter()
            .filter_map(|(name, _)| layout::id_from_name(name).map(KeyId))
            .collect())
    }

    fn open_config(
        backend: Backend,
        (key_id, key): (KeyId, MasterKey),
        plain: &[u8],
        cache: CacheLocation,
    ) -> Result<Self> {
        let config: Config =
            codec::decode(plain).map_err(|e| Error::corrupt("config", e.to_string()))?;
        let me = Self::assemble(backend, (key_id, key), config, cache);
        me.chunker_params()
            .validate()
            .map_err(|e| Error::corrupt("config", e.to_string()))?;
        Ok(me)
    }

    fn assemble(
        backend: Backend,
        (key_id, key): (KeyId, MasterKey),
        config: Config,
        cache: CacheLocation,
    ) -> Self {
        Self {
            backend,
            key,
            key_id,
            config,
            cache_location: cache,
            cache: OnceLock::new(),
            trees: Mutex::new(TreeMemo::default()),
            avoided_packs: Mutex::new(std::collections::HashSet::new()),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The key file that the password opened.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn repo_id_hex(&self) -> String {
        hex::encode(self.config.repo_id)
    }

    pub fn chunker_params(&self) -> ChunkerParams {
        let c = self.config.chunker;
        ChunkerParams {
            min_size: c.min_size,
            avg_size: c.avg_size,
            max_size: c.max_size,
            seed: c.seed,
        }
    }

    /// The index cache, brought up to date with the repository on first use.
    pub fn index(&self) -> Result<&IndexCache> {
        if let Some(c) = self.cache.get() {
            return Ok(c);
        }
        let cache = match &self.cache_location {
            CacheLocation::Dir(dir) => IndexCache::open(&dir.join(self.repo_id_hex()))?,
            CacheLocation::Temporary => IndexCache::temporary()?,
        };
        cache.sync(&self.backend, &self.key)?;
        Ok(self.cache.get_or_init(|| cache))
    }

    /// Whether the index cache is yet to be made (not opened by this process,
    /// and no folder for it on disk): it then holds nothing at all.
    fn cache_is_new(&self) -> bool {
        self.cache.get().is_none()
            && match &self.cache_location {
                CacheLocation::Dir(dir) => !dir.join(self.repo_id_hex()).exists(),
                CacheLocation::Temporary => true,
            }
    }

    /// Re-reads the repository's index files into the cache.
    pub fn resync_index(&self) -> Result<SyncReport> {
        self.index()?.sync(&self.backend, &self.key)
    }

    /// Packs whose blobs a writer must store again rather than reuse: those a
    /// condemned record names (read after taking the backup lock).
    pub fn avoid_packs(&self, packs: std::collections::HashSet<crate::id::PackId>) {
        *self
            .avoided_packs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = packs;
    }

    /// Is the blob stored in a pack a writer may reference (not condemned)?
    pub fn has_reusable_blob(&self, id: &BlobId) -> Result<bool> {
        let Some(loc) = self.index()?.lookup(id)? else {
            return Ok(false);
        };
        let avoided = self
            .avoided_packs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(!avoided.contains(&loc.pack))
    }

    pub fn lookup(&self, id: &BlobId) -> Result<BlobLocation> {
        self.index()?
            .lookup(id)?
            .ok_or_else(|| Error::corrupt(format!("blob {id}"), "not in any index file"))
    }

    /// Opens a sealed blob read from its pack and checks it is the blob asked for.
    pub fn open_blob(&self, id: &BlobId, loc: &BlobLocation, sealed: &[u8]) -> Result<Vec<u8>> {
        self.open_sealed(id, loc.raw_length, sealed, || {
            format!("blob {} in pack {}", id.short(), loc.pack.short())
        })
    }

    fn open_sealed(
        &self,
        id: &BlobId,
        raw_length: u32,
        sealed: &[u8],
        object: impl Fn() -> String,
    ) -> Result<Vec<u8>> {
        let framed = self
            .key
            .open(Domain::Blob, sealed)
            .map_err(|e| Error::corrupt(object(), e.to_string()))?;
        let data = compress::decode_blob(&framed, raw_length as usize)
            .map_err(|e| Error::corrupt(object(), e))?;
        if self.key.chunk_ids().id(&data) != id.0 {
            return Err(Error::corrupt(object(), "content does not match its id"));
        }
        Ok(data)
    }

    /// Reads one blob with a ranged read of its pack.
    pub fn read_blob(&self, id: &BlobId) -> Result<Vec<u8>> {
        let loc = self.lookup(id)?;
        let sealed = self.backend.get_range(
            &layout::pack(&loc.pack),
            loc.offset..loc.offset + u64::from(loc.length),
        )?;
        self.open_blob(id, &loc, &sealed)
    }

    /// Opens and decodes a tree read from its pack, without caching it: for
    /// walks that read each tree once (prune's mark).
    pub fn open_tree(&self, id: &BlobId, loc: &BlobLocation, sealed: &[u8]) -> Result<TreeBlob> {
        let bytes = self.open_blob(id, loc, sealed)?;
        codec::decode(&bytes)
            .map_err(|e| Error::corrupt(format!("tree {}", id.short()), e.to_string()))
    }

    /// Reads and decodes a tree blob: from memory, else the local cache, else
    /// a ranged read of its pack (then cached). Trees are shared between snapshots.
    pub fn read_tree(&self, id: &BlobId) -> Result<std::sync::Arc<TreeBlob>> {
        if let Some(t) = self.trees_lock().trees.get(id) {
            return Ok(std::sync::Arc::clone(t));
        }
        // A damaged cache entry is not an error: the pack has the truth.
        let cached = self.index()?.tree(id)?.and_then(|(raw_length, sealed)| {
            self.open_sealed(id, raw_length, &sealed, String::new).ok()
        });
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let loc = self.lookup(id)?;
                let sealed = self.backend.get_range(
                    &layout::pack(&loc.pack),
                    loc.offset..loc.offset + u64::from(loc.length),
                )?;
                let bytes = self.open_blob(id, &loc, &sealed)?;
                self.index()?.put_tree(id, loc.raw_length, &sealed)?;
                bytes
            }
        };
        let tree: TreeBlob = codec::decode(&bytes)
            .map_err(|e| Error::corrupt(format!("tree {}", id.short()), e.to_string()))?;
        let tree = std::sync::Arc::new(tree);
        let mut m = self.trees_lock();
        if m.trees.len() >= TREE_CACHE_ENTRIES || m.encoded_bytes + bytes.len() > TREE_CACHE_BYTES {
            m.trees.clear();
            m.encoded_bytes = 0;
        }
        m.encoded_bytes += bytes.len();
        m.trees.insert(*id, std::sync::Arc::clone(&tree));
        Ok(tree)
    }

    fn trees_lock(&self) -> std::sync::MutexGuard<'_, TreeMemo> {
        self.trees
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seals, stores and returns the id of a new index file.
    pub fn save_index(&self, index: &IndexFile) -> Result<IndexId> {
        self.save_index_of(&index.packs)
    }

    /// [`Self::save_index`] of an index file listing `packs`, encoded from
    /// the borrowed slice.
    pub fn save_index_of(&self, packs: &[IndexedPack]) -> Result<IndexId> {
        // Encoded and sealed in one buffer (a plaintext and a sealed copy
        // of a 100,000-blob index file were 8 MiB of prune's peak). Room for
        // the usual sizes: a blob entry encodes to at most 46 bytes when its
        // offset is under 32 GiB, a pack's header to 40.
        let blobs: usize = packs.iter().map(|p| p.blobs.len()).sum();
        let room = 16 + packs.len() * 40 + blobs * 46;
        let sealed = self.key.seal_built(Domain::Index, room, |out| {
            codec::encode_as_into::<IndexFile, _>(&IndexFileOf { packs }, out);
        });
        let id = IndexId(content_hash(&sealed));
        self.backend
            .put_new(&layout::index(&id), Bytes::from(sealed))?;
        Ok(id)
    }

    pub fn save_snapshot(&self, snapshot: &Snapshot) -> Result<SnapshotId> {
        let sealed = self.key.seal(Domain::Snapshot, &codec::encode(snapshot));
        let id = SnapshotId(content_hash(&sealed));
        self.backend
            .put_new(&layout::snapshot(&id), Bytes::from(sealed))?;
        Ok(id)
    }

    pub fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        let name = layout::snapshot(id);
        let bytes = self
            .backend
            .get(&name)?
            .ok_or_else(|| Error::SnapshotNotFound(id.to_hex()))?;
        open_snapshot(&self.key, &name, &bytes)
    }

    /// Every snapshot, oldest first. One listing; the objects come from the
    /// local cache, else from a catalogue, else one GET each (see
    /// [`Self::snapshot_objects`]).
    pub fn snapshots(&self) -> Result<Vec<SnapshotEntry>> {
        let mut out = Vec::new();
        for (id, bytes) in self.snapshot_objects()? {
            out.push(SnapshotEntry {
                id,
                snapshot: open_snapshot(&self.key, &layout::snapshot(&id), &bytes)?,
            });
        }
        out.sort_by_key(|s| (s.snapshot.time_unix_ns, s.id));
        Ok(out)
    }

    /// The sealed object of every snapshot listed under `snapshots/`, in no
    /// particular order. The listing is the truth; the bytes come from the
    /// local cache, then (when more than a few are missing) from the
    /// repository's catalogues, which hold copies of many snapshot objects,
    /// then one GET each, fetched concurrently (bounded) and cached. So a new
    /// machine learns 3,650 snapshots with a LIST and a few GETs, not 3,650.
    pub fn snapshot_objects(&self) -> Result<Vec<(SnapshotId, Bytes)>> {
        // The listing and a cold cache's index download are both waits on
        // the store: overlap them (on a bucket, each can take seconds).
        // A new cache holds no snapshot record: the catalogues will be read,
        // so fetch them beside the listing too instead of after it.
        let cold = self.cache_is_new();
        let (names, cache, catalogues) = std::thread::scope(|scope| {
            let cache = scope.spawn(|| self.index().map(|_| ()));
            let catalogues =
                cold.then(|| scope.spawn(|| crate::maintenance::catalogue::read_all(self)));
            let names = self.backend.list_names(layout::SNAPSHOTS);
            let catalogues = catalogues.map(joined);
            (names, joined(cache), catalogues)
        });
        cache?;
        let cache = self.index()?;
        let mut ids = Vec::new();
        for name in names? {
            let id = layout::id_from_name(&name)
                .map(SnapshotId)
                .ok_or_else(|| Error::corrupt(&name, "object name is not an id"))?;
            ids.push(id);
        }
        let cached = cache.snapshot_records(&ids)?;
        let mut out: Vec<(SnapshotId, Bytes)> = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for (id, c) in ids.into_iter().zip(cached) {
            match c {
                Some(bytes) => out.push((id, Bytes::from(bytes))),
                None => missing.push(id),
            }
        }
        let mut new: Vec<(SnapshotId, Bytes)> = Vec::new();
        if missing.len() > crate::maintenance::catalogue::WORTH_A_CATALOGUE {
            let catalogues = match catalogues {
                Some(prefetched) => prefetched?,
                None => crate::maintenance::catalogue::read_all(self)?,
            };
            let wanted: std::collections::HashSet<SnapshotId> = missing.iter().copied().collect();
            let mut found = crate::maintenance::catalogue::lookup(&catalogues, &wanted);
            missing.retain(|id| match found.remove(id) {
                Some(bytes) => {
                    new.push((*id, bytes));
                    false
                }
                None => true,
            });
        }
        let client = self.backend.client();
        let fetched = self.backend.block_on(async {
            use futures::StreamExt;
            futures::stream::iter(missing.into_iter().map(|id| async move {
                let r = client.get(&layout::snapshot(&id)).await;
                (id, r)
            }))
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await
        });
        for (id, r) in fetched {
            // Forgotten between list and get: not an error.
            if let Some(bytes) = r? {
                new.push((id, bytes));
            }
        }
        // Only records that open are cached: a damaged object is read again next time.
        for (id, bytes) in &new {
            open_snapshot(&self.key, &layout::snapshot(id), bytes)?;
        }
        let records: Vec<(SnapshotId, &[u8])> = new.iter().map(|(id, b)| (*id, &b[..])).collect();
        cache.put_snapshot_records(&records)?;
        out.extend(new);
        Ok(out)
    }
}

/// A scoped thread's result; its panic goes on in the caller.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

pub(crate) fn open_snapshot(key: &MasterKey, name: &str, bytes: &[u8]) -> Result<Snapshot> {
    let plain = key
        .open(Domain::Snapshot, bytes)
        .map_err(|e| Error::corrupt(name, e.to_string()))?;
    codec::decode(&plain).map_err(|e| Error::corrupt(name, e.to_string()))
}

pub(crate) fn write_key_file(
    backend: &Backend,
    key: &MasterKey,
    password: &[u8],
    kdf: KdfParams,
    now: SystemTime,
) -> Result<KeyId> {
    let salt: [u8; 16] = crypto::random_array();
    let wk = crypto::derive_wrapping_key(password, &salt, kdf).map_err(Error::InvalidInput)?;
    let file = KeyFile {
        kdf,
        salt: salt.to_vec(),
        wrapped_master: crypto::wrap_master(&wk, key),
        created_unix_ns: unix_ns(now),
        host: hostname(),
        username: username(),
    };
    let id = KeyId(crypto::random_array());
    let name = layout::key(&id);
    backend.put_new(&name, Bytes::from(key::frame(&codec::encode(&file))))?;
    // Only the owner needs to read it: it is what a password guesser would attack.
    backend.restrict_to_owner(&name)?;
    Ok(id)
}

/// The config object's sealed body, after checking it is coffer's and of a
/// format version this build reads.
fn read_sealed_config(backend: &Backend) -> Result<Vec<u8>> {
    let location = backend.location().to_string();
    let Some(raw) = backend.get(layout::CONFIG)? else {
        // A bucket prefix has no folder to be missing: nothing at all there
        // is "no repository", something else there is "not a repository".
        if !backend.has_objects("")? {
            return Err(Error::RepositoryNotFound { location });
        }
        return Err(Error::NotARepository {
            location,
            reason: "it has no config object".into(),
        });
    };
    let (version, sealed) = config::unframe(&raw).map_err(|reason| Error::NotARepository {
        location: location.clone(),
        reason: format!("its config object is not coffer's ({reason})"),
    })?;
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(sealed.to_vec())
}

/// Tries the password on every key file.
fn unlock(backend: &Backend, password: &[u8]) -> Result<(KeyId, MasterKey)> {
    let names = backend.list(layout::KEYS)?;
    if names.is_empty() {
        return Err(Error::NotARepository {
            location: backend.location().to_string(),
            reason: "it has no key files".into(),
        });
    }
    // One damaged key file must not lock out a password another one opens:
    // try them all, and only say "damaged" when nothing else was usable.
    let mut damaged: Option<Error> = None;
    let mut usable = 0;
    for (name, _) in &names {
        let Some(raw) = backend.get(name)? else {
            continue;
        };
        let file = match read_key_file(name, &raw) {
            Ok(f) => f,
            Err(e) => {
                damaged.get_or_insert(e);
                continue;
            }
        };
        let wk = match crypto::derive_wrapping_key(password, &file.salt, file.kdf) {
            Ok(wk) => wk,
            Err(e) => {
                damaged.get_or_insert(Error::corrupt(name.as_str(), e));
                continue;
            }
        };
        usable += 1;
        if let Ok(key) = crypto::unwrap_master(&wk, &file.wrapped_master) {
            let id = layout::id_from_name(name)
                .map(KeyId)
                .ok_or_else(|| Error::corrupt(name.as_str(), "key file name is not an id"))?;
            return Ok((id, key));
        }
    }
    match damaged {
        Some(e) if usable == 0 => Err(e),
        _ => Err(Error::WrongPassword { key_files: usable }),
    }
}

pub(crate) fn read_key_file(name: &str, raw: &[u8]) -> Result<KeyFile> {
    let (version, body) = key::unframe(raw).map_err(|r| Error::corrupt(name, r.to_string()))?;
    if version != key::KEY_FILE_VERSION {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: key::KEY_FILE_VERSION,
        });
    }
    codec::decode(body).map_err(|e| Error::corrupt(name, e.to_string()))
}

pub fn unix_ns(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

pub fn username() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default()
}
