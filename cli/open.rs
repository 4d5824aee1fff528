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

/// Opens the repository of `--repo`: with the key agent's key when it holds
/// one for this repository, else with the password.
pub fn repository(g: &Global) -> Result<Repository> {
    repository_at(g, location(g)?, || password::read(g))
}

/// Opens the repository at `location` (the agent first, then `password`).
pub fn repository_at(
    g: &Global,
    location: &str,
    password: impl FnOnce() -> Result<password::Password>,
) -> Result<Repository> {
    let backend = match with_agent(g, backend_at(g, location, false)?, location)? {
        Ok(repo) => return Ok(repo),
        Err(unused) => unused,
    };
    let pw = password()?;
    Ok(Repository::open(backend, &pw.0, cache(g))?)
}

/// The repository opened with a key the agent holds, if it holds one that
/// opens it; else the backend back, unused. Without an agent this costs one
/// `exists` of its socket.
fn with_agent(
    g: &Global,
    backend: Backend,
    location: &str,
) -> Result<std::result::Result<Repository, Backend>> {
    if g.no_agent || !crate::agent::socket_path(g).exists() {
        return Ok(Err(backend));
    }
    // No key files (no repository there) is for the password path to report.
    let Ok(ids) = Repository::key_file_ids(&backend) else {
        return Ok(Err(backend));
    };
    let Some((id, secret)) = crate::agent::lookup(g, &ids) else {
        return Ok(Err(backend));
    };
    match Repository::open_with_master(backend, id, secret, cache(g)) {
        Ok(repo) => Ok(Ok(repo)),
        // A key of another repository that reused the id: ask for the password.
        Err(coffer_store::Error::WrongPassword { .. }) => Ok(Err(backend_at(g, location, false)?)),
        Err(e) => Err(e.into()),
    }
}
