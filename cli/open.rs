//! Opening the repository named on the command line.

use crate::args::Global;
use crate::password;
use anyhow::{Result, anyhow};
use coffer_store::backend::counting::CountingStore;
use coffer_store::backend::{Backend, RetryPolicy, StoreOptions};
use coffer_store::repo::{CacheLocation, Repository};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn location(g: &Global) -> Result<&str> {
    g.repo
        .as_deref()
        .ok_or_else(|| anyhow!("no repository given: use --repo LOCATION or set COFFER_REPO"))
}

pub fn cache(g: &Global) -> CacheLocation {
    if g.no_cache {
        return CacheLocation::Temporary;
    }
    match g
        .cache_dir
        .clone()
        .or_else(|| dirs::cache_dir().map(|d| d.join("coffer")))
    {
        Some(d) => CacheLocation::Dir(d),
        None => CacheLocation::Temporary,
    }
}

/// How to reach the store: flags first, then the environment `object_store` reads.
pub fn store_options(g: &Global) -> StoreOptions {
    let timeout = Duration::from_secs(g.request_timeout());
    StoreOptions {
        s3_endpoint: g.s3_endpoint.clone(),
        s3_region: g.s3_region.clone(),
        s3_path_style: g.s3_path_style.then_some(true),
        request_timeout: timeout,
        retry: RetryPolicy {
            max_attempts: g.retries() + 1,
            // One attempt covers the request and its whole body: leave the
            // HTTP client's own deadline (and its quick retries) room inside it.
            attempt_timeout: timeout.saturating_mul(2),
            ..RetryPolicy::default()
        },
        ..StoreOptions::default()
    }
}

/// The repository's backend; `create` makes a missing folder (init).
pub fn backend(g: &Global, create: bool) -> Result<Backend> {
    backend_at(g, location(g)?, create)
}

/// A backend for another repository (`copy --to-repo`, `init --from-repo`),
/// reached with the same store options.
pub fn backend_at(g: &Global, location: &str, create: bool) -> Result<Backend> {
    let opts = store_options(g);
    if std::env::var_os(REQUEST_LOG).is_some() {
        let store = coffer_store::backend::open_store(location, create, &opts)?;
        let counting = Arc::new(CountingStore::new(store));
        logged().push(Arc::clone(&counting));
        return Ok(Backend::with_options(counting, location, &opts));
    }
    Ok(Backend::open_with(location, create, &opts)?)
}

/// `COFFER_REQUEST_LOG=FILE`: every request made to the repository's store is
/// written to FILE when the command ends, one line each (`Get index/<id>`),
/// so tests and cost audits can count what a command asks of a bucket.
const REQUEST_LOG: &str = "COFFER_REQUEST_LOG";

static LOGGED: Mutex<Vec<Arc<CountingStore>>> = Mutex::new(Vec::new());

fn logged() -> std::sync::MutexGuard<'static, Vec<Arc<CountingStore>>> {
    LOGGED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes the requests of [`REQUEST_LOG`], if it is set; best effort.
pub fn write_request_log() {
    let Some(path) = std::env::var_os(REQUEST_LOG) else {
        return;
    };
    let mut out = String::new();
    for store in logged().iter() {
        for r in store.requests() {
            out.push_str(&format!("{:?} {}\n", r.method, r.path));
        }
    }
    if let Err(e) = std::fs::write(&path, out) {
        eprintln!("warning: {}: {e}", std::path::Path::new(&path).display());
    }
}

pub fn repository(g: &Global) -> Result<Repository> {
    let backend = backend(g, false)?;
    let pw = password::read(g)?;
    Ok(Repository::open(backend, &pw.0, cache(g))?)
}
