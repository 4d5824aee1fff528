//! Object storage through the `object_store` crate.
//!
//! The store's pipelines are synchronous (rayon for CPU work); storage I/O is
//! async. The backend owns a small tokio runtime and offers blocking calls for
//! the simple cases and [`Backend::spawn`] for uploads that overlap with work.
//! Nothing here assumes a local filesystem: a folder is just one `ObjectStore`.

use crate::error::{Error, Result};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::ops::Range;
use std::sync::Arc;

/// Where a repository lives and how to reach it.
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    location: String,
    runtime: tokio::runtime::Runtime,
    /// The folder, for a local repository: file modes are set there.
    local_root: Option<std::path::PathBuf>,
}

/// The result of a create-only write.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// An object of that name was already there and was left untouched.
    AlreadyExisted,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.location)
    }
}

impl Backend {
    /// Opens `location`: a folder path or `file://` URL, or `memory:` (tests).
    /// `create` makes a missing folder (for `init`).
    pub fn open(location: &str, create: bool) -> Result<Self> {
        if location == "memory:" {
            return Ok(Self::in_memory());
        }
        if let Some((scheme, _)) = location.split_once("://") {
            if scheme != "file" {
                return Err(Error::InvalidInput(format!(
                    "repository {location}: the {scheme}:// backend is not available in this build; use a folder path"
                )));
            }
        }
        let path = match location.strip_prefix("file://") {
            Some(p) => std::path::PathBuf::from(p),
            None => std::path::PathBuf::from(location),
        };
        if !path.exists() {
            if !create {
                return Err(Error::RepositoryNotFound {
                    location: location.to_string(),
                });
            }
            std::fs::create_dir_all(&path).map_err(|source| Error::Target {
                path: path.clone(),
                source,
            })?;
        } else if !path.is_dir() {
            return Err(Error::NotARepository {
                location: location.to_string(),
                reason: "it is a file, not a folder".into(),
            });
        }
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&path)
            .map_err(|e| Error::backend(location, e))?
            .with_automatic_cleanup(true)
            .with_fsync(true);
        let mut backend = Self::with_store(Arc::new(fs), location);
        backend.local_root = Some(path);
        Ok(backend)
    }

    /// A repository in memory, for unit tests.
    pub fn in_memory() -> Self {
        Self::with_store(Arc::new(object_store::memory::InMemory::new()), "memory:")
    }

    pub fn with_store(store: Arc<dyn ObjectStore>, location: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coffer-io")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the I/O runtime: {e}"));
        Self {
            store,
            location: location.to_string(),
            runtime,
            local_root: None,
        }
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

    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// The whole object, or `None` when there is no such object.
    pub fn get(&self, name: &str) -> Result<Option<Bytes>> {
        let store = self.store();
        let path = ObjectPath::from(name);
        self.runtime
            .block_on(async move {
                match store.get(&path).await {
                    Ok(r) => r.bytes().await.map(Some),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .map_err(|e| Error::backend(name, e))
    }

    /// Bytes `range` of an object (a ranged GET on remote stores).
    pub fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        self.runtime
            .block_on(get_range_async(self.store(), name.to_string(), range))
    }

    /// Create-only write. Objects are never overwritten in place: every name is
    /// either content-derived or random, so an existing object is kept.
    pub fn put_new(&self, name: &str, bytes: Bytes) -> Result<PutOutcome> {
        self.runtime
            .block_on(put_new_async(self.store(), name.to_string(), bytes))
    }

    /// Names and sizes of the objects below `prefix`.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let store = self.store();
        let path = ObjectPath::from(prefix);
        self.runtime
            .block_on(async move {
                store
                    .list(Some(&path))
                    .map_ok(|m| (m.location.to_string(), m.size))
                    .try_collect::<Vec<_>>()
                    .await
            })
            .map_err(|e| Error::backend(prefix, e))
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        let store = self.store();
        let path = ObjectPath::from(name);
        self.runtime
            .block_on(async move { store.delete(&path).await })
            .map_err(|e| Error::backend(name, e))
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

pub(crate) async fn get_range_async(
    store: Arc<dyn ObjectStore>,
    name: String,
    range: Range<u64>,
) -> Result<Bytes> {
    let path = ObjectPath::from(name.as_str());
    let want = range.end - range.start;
    let bytes = store
        .get_range(&path, range)
        .await
        .map_err(|e| Error::backend(&name, e))?;
    if bytes.len() as u64 != want {
        return Err(Error::corrupt(
            name,
            format!("short read: wanted {want} bytes, got {}", bytes.len()),
        ));
    }
    Ok(bytes)
}

pub(crate) async fn put_new_async(
    store: Arc<dyn ObjectStore>,
    name: String,
    bytes: Bytes,
) -> Result<PutOutcome> {
    let path = ObjectPath::from(name.as_str());
    let opts = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    match store.put_opts(&path, PutPayload::from(bytes), opts).await {
        Ok(_) => Ok(PutOutcome::Created),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyExisted),
        Err(e) => Err(Error::backend(name, e)),
    }
}
