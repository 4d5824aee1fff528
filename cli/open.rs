//! Opening the repository named on the command line.

use crate::args::Global;
use crate::password;
use anyhow::{Result, anyhow};
use coffer_store::backend::{Backend, RetryPolicy, StoreOptions};
use coffer_store::repo::{CacheLocation, Repository};
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
    Ok(Backend::open_with(location, create, &store_options(g))?)
}

pub fn repository(g: &Global) -> Result<Repository> {
    let backend = backend(g, false)?;
    let pw = password::read(g)?;
    Ok(Repository::open(backend, &pw.0, cache(g))?)
}
