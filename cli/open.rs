//! Opening the repository named on the command line.

use crate::args::Global;
use crate::password;
use anyhow::{Result, anyhow};
use coffer_store::backend::Backend;
use coffer_store::repo::{CacheLocation, Repository};

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

pub fn repository(g: &Global) -> Result<Repository> {
    let loc = location(g)?;
    let backend = Backend::open(loc, false)?;
    let pw = password::read(g)?;
    Ok(Repository::open(backend, &pw.0, cache(g))?)
}
