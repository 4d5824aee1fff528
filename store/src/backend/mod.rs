//! Object storage through the `object_store` crate.
//!
//! The store's pipelines are synchronous (rayon for CPU work); storage I/O is
//! async. The backend owns a small tokio runtime and offers blocking calls for
//! the simple cases and [`Backend::spawn`] with a [`Client`] for requests that
//! overlap with work. Nothing here assumes a local filesystem: a folder is
//! just one `ObjectStore`, and every request, to a folder or a bucket, goes
//! through the same retrying, create-only [`Client`].

mod client;
pub mod counting;
mod direct;
pub mod faults;
mod location;
pub mod retry;
mod staging;

pub use client::{Client, MultipartPolicy, PutOutcome};
pub use direct::{ALIGN as DIRECT_ALIGN, DirectStream, DirectWriter};
pub use location::{Location, StoreOptions};
pub use retry::RetryPolicy;
pub use staging::Unfinished;

use crate::error::{Error, Result};
use bytes::Bytes;
use object_store::ObjectStore;
use std::ops::Range;
use std::sync::Arc;

/// Where a repository lives and how to reach it.
pub struct Backend {
    client: Client,
    runtime: tokio::runtime::Runtime,
    /// The folder, for a local repository: file modes are set there.
    local_root: Option<std::path::PathBuf>,
    /// Set when the store is the plain local folder store (not a test
    /// wrapper): [`Self::list_names`] then reads the folder without a stat
    /// per object, and [`Self::read_local_range`] reads on the caller's thread.
    names_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.client.location())
    }
}

impl Backend {
    /// Opens `location` with default options. See [`Self::open_with`].
    pub fn open(location: &str, create: bool) -> Result<Self> {
        Self::open_with(location, create, &StoreOptions::default())
    }

    /// Opens `location`: a folder path or `file://` URL, `s3://`, `gs://`,
    /// `az://` (see [`Location`]), or `memory:` (tests). `create` makes a
    /// missing folder (for `init`); buckets are never created.
    pub fn open_with(location: &str, create: bool, opts: &StoreOptions) -> Result<Self> {
        let store = open_store(location, create, opts)?;
        let mut me = Self::with_options(store, location, opts);
        me.names_root = me.local_root.clone();
        Ok(me)
    }

    /// A repository in memory, for unit tests.
    pub fn in_memory() -> Self {
        Self::with_store(Arc::new(object_store::memory::InMemory::new()), "memory:")
    }

    /// Any object store (a test wrapper around another, say), default options.
    pub fn with_store(store: Arc<dyn ObjectStore>, location: &str) -> Self {
        Self::with_options(store, location, &StoreOptions::default())
    }

    /// Any object store, with the retry and multipart parts of `opts`.
    pub fn with_options(store: Arc<dyn ObjectStore>, location: &str, opts: &StoreOptions) -> Self {
        let local_root = match Location::parse(location) {
            Ok(Location::Folder(path)) => Some(path),
            _ => None,
        };
        Self {
            client: Client::new(store, location, opts.retry, opts.multipart),
            runtime: io_runtime(),
            local_root,
            names_root: None,
        }
    }

    pub fn location(&self) -> &str {
        self.client.location()
    }

    /// The request client, to move into spawned I/O.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bare store, below the retries (tests and tools that inspect it).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.client.store()
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// The whole object, or `None` when there is no such object.
    pub fn get(&self, name: &str) -> Result<Option<Bytes>> {
        self.runtime.block_on(self.client.get(name))
    }

    /// Bytes `range` of an object (a ranged GET on remote stores).
    pub fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        self.runtime.block_on(self.client.get_range(name, range))
    }

    /// Whether this is a plain local folder, whose objects
    /// [`Self::read_local_range`] and [`Self::delete_local`] reach without
    /// the I/O runtime.
    pub fn is_local_folder(&self) -> bool {
        self.names_root.is_some()
    }

    /// Deletes `names` (a missing object counts as deleted), `concurrency`
    /// requests at a time; one result per name, in order. A plain local
    /// folder's files are removed directly, on the rayon pool.
    pub fn delete_many(&self, names: &[String], concurrency: usize) -> Vec<Result<()>> {
        use rayon::prelude::*;
        let done: Vec<Option<()>> = if self.is_local_folder() {
            names
                .par_iter()
                .map(|n| self.delete_local(n).then_some(()))
                .collect()
        } else {
            vec![None; names.len()]
        };
        let client = &self.client;
        let rest: Vec<Result<()>> = self.runtime.block_on(async {
            use futures::StreamExt;
            futures::stream::iter(
                names
                    .iter()
                    .zip(&done)
                    .filter(|(_, done)| done.is_none())
                    .map(|(name, _)| client.delete(name)),
            )
            .buffered(concurrency.max(1))
            .collect()
            .await
        });
        in_order(done, rest)
    }

    /// Deletes an object of a plain local folder on the caller's thread;
    /// true when it is gone (a missing one counts, as with [`Self::delete`]).
    /// False elsewhere, and when the removal failed: the caller then asks the
    /// store, whose retries and error apply. Prune deletes thousands of packs:
    /// through the runtime and the store's blocking pool each took three
    /// thread hand-offs.
    pub fn delete_local(&self, name: &str) -> bool {
        let Some(root) = self.names_root.as_ref() else {
            return false;
        };
        let path = root.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                // As the folder store does (automatic cleanup): folders left
                // empty go, up to the repository's own.
                let mut parent = path.parent();
                while let Some(dir) = parent.filter(|d| *d != root.as_path()) {
                    if std::fs::remove_dir(dir).is_err() {
                        break;
                    }
                    parent = dir.parent();
                }
                true
            }
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        }
    }

    /// Bytes `range` of an object read straight from the folder on this
    /// thread, for a plain local folder; `None` elsewhere, and when the direct
    /// read fails (the caller then asks the store, whose error and retries
    /// apply). A small document is one short read: going through the I/O
    /// runtime (a task, then the store's blocking pool) cost three thread
    /// hand-offs each, most of a million-file restore's time.
    pub fn read_local_range(&self, name: &str, range: Range<u64>) -> Option<Bytes> {
        use std::os::unix::fs::FileExt;
        let root = self.names_root.as_ref()?;
        let file = std::fs::File::open(root.join(name)).ok()?;
        let mut buf = vec![0; usize::try_from(range.end.checked_sub(range.start)?).ok()?];
        file.read_exact_at(&mut buf, range.start).ok()?;
        Some(Bytes::from(buf))
    }

    /// Create-only write. Objects are never overwritten in place: every name is
    /// either content-derived or random, so an existing object is kept.
    pub fn put_new(&self, name: &str, bytes: Bytes) -> Result<PutOutcome> {
        self.runtime.block_on(self.client.put_new(name, bytes))
    }

    /// For a plain local folder: a writer of new objects with direct I/O
    /// (packs: see the `direct` module for why), to move into a blocking
    /// task; `None` elsewhere.
    pub fn direct_writer(&self) -> Option<DirectWriter> {
        self.names_root.clone().map(DirectWriter::new)
    }

    /// Names and sizes of the objects below `prefix`. A plain local folder
    /// is walked directly, its subfolders on the rayon pool: the store's
    /// listing hands every file's metadata through the I/O runtime (7,300
    /// packs after ten years of nights: a tenth of prune's planning).
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        if let Some(root) = &self.names_root {
            match walk_local(&root.join(prefix), prefix) {
                Ok(found) => return Ok(found),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                // Anything else: the store's listing says what is wrong.
                Err(_) => {}
            }
        }
        self.runtime.block_on(self.client.list(prefix))
    }

    /// Names of the objects directly in the flat folder `prefix` (`index`,
    /// `snapshots`, `keys`, `catalogue`), without their sizes. On a local
    /// folder this is one `readdir`, where the object store's listing stats
    /// every file (3,650 snapshots: a tenth of a warm `cat --as-of`). Names
    /// that are not ids (a file being written, `<id>#<n>`) are the caller's to
    /// skip, as with [`Self::list`].
    pub fn list_names(&self, prefix: &str) -> Result<Vec<String>> {
        if let Some(root) = &self.names_root {
            match std::fs::read_dir(root.join(prefix)) {
                Ok(dir) => {
                    let mut out = Vec::new();
                    let mut complete = true;
                    for entry in dir {
                        let Ok(entry) = entry else {
                            complete = false;
                            break;
                        };
                        if entry.file_type().is_ok_and(|t| t.is_file()) {
                            // `<name>#<n>`: the local store's upload in progress,
                            // which its own listing leaves out too.
                            if let Some(name) =
                                entry.file_name().to_str().filter(|n| !n.contains('#'))
                            {
                                out.push(format!("{prefix}/{name}"));
                            }
                        }
                    }
                    if complete {
                        return Ok(out);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                // Anything else: the store's listing says what is wrong.
                Err(_) => {}
            }
        }
        Ok(self
            .list(prefix)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Is there any object below `prefix` (`""`: anywhere in the repository)?
    pub fn has_objects(&self, prefix: &str) -> Result<bool> {
        self.runtime.block_on(self.client.has_objects(prefix))
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        self.runtime.block_on(self.client.delete(name))
    }

    /// Makes an object readable by its owner only, where the store has file
    /// modes (a local folder); object stores keep access in their own policies.
    pub fn restrict_to_owner(&self, name: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let path = root.join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|source| Error::Target { path, source })
    }

    /// Runs a future on the I/O runtime without waiting for it.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(fut)
    }

    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }
}

/// The files below `dir` (named `prefix/...`, as the store names them) and
/// their sizes, following links as the store does; the local store's uploads
/// in progress (`<name>#<digits>`) are left out, as its own listing does. A
/// file or folder that vanishes meanwhile (a prune removing it) is left out;
/// `dir` itself missing is the caller's NotFound.
fn walk_local(dir: &std::path::Path, prefix: &str) -> std::io::Result<Vec<(String, u64)>> {
    use rayon::prelude::*;
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let meta = match std::fs::metadata(entry.path()) {
            Ok(meta) => meta,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            folders.push((entry.path(), format!("{prefix}/{name}")));
        } else if meta.is_file() && !staging::is_staging_name(&name) {
            files.push((format!("{prefix}/{name}"), meta.len()));
        }
    }
    let nested: Vec<std::io::Result<Vec<(String, u64)>>> = folders
        .par_iter()
        .map(|(path, name)| match walk_local(path, name) {
            Err(e) if gone(&e) => Ok(Vec::new()),
            other => other,
        })
        .collect();
    for n in nested {
        files.extend(n?);
    }
    Ok(files)
}

/// The bare store behind `location` (see [`Backend::open_with`]), for
/// wrapping in another store before handing it to [`Backend::with_options`].
pub fn open_store(
    location: &str,
    create: bool,
    opts: &StoreOptions,
) -> Result<Arc<dyn ObjectStore>> {
    let parsed = Location::parse(location)?;
    let path = match &parsed {
        Location::Memory => return Ok(Arc::new(object_store::memory::InMemory::new())),
        Location::Folder(path) => path,
        remote => return location::remote_store(location, remote, opts),
    };
    if !path.exists() {
        if !create {
            return Err(Error::RepositoryNotFound {
                location: location.to_string(),
            });
        }
        std::fs::create_dir_all(path).map_err(|source| Error::Target {
            path: path.clone(),
            source,
        })?;
    } else if !path.is_dir() {
        return Err(Error::NotARepository {
            location: location.to_string(),
            reason: "it is a file, not a folder".into(),
        });
    }
    let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
        .map_err(|e| Error::InvalidInput(format!("repository {location}: {e}")))?
        .with_automatic_cleanup(true)
        .with_fsync(true);
    Ok(Arc::new(fs))
}

/// Results of work done partly on a local fast path, in the original order:
/// `here` holds what was done there (`None`: left to the store), `store`
/// the store's answers for the rest, in order.
pub(crate) fn in_order<T>(here: Vec<Option<T>>, store: Vec<Result<T>>) -> Vec<Result<T>> {
    let mut store = store.into_iter();
    here.into_iter()
        .map(|h| match h {
            Some(v) => Ok(v),
            None => store.next().unwrap_or_else(|| {
                Err(Error::InvalidInput(
                    "the store answered fewer requests than it was asked".into(),
                ))
            }),
        })
        .collect()
}

fn io_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("coffer-io")
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the I/O runtime: {e}"))
}
