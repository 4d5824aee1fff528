//! Reading and writing snapshot catalogues (FORMAT.md, "Snapshot catalogues").
//!
//! A catalogue is never trusted over `snapshots/`: readers take from it only
//! the snapshots they listed there and lack, and only bytes that hash to the
//! snapshot's id (so they are exactly the snapshot object, whose own seal is
//! then checked as usual). A damaged or vanished catalogue costs time, never
//! correctness: the snapshots are then read one by one.

use crate::codec;
use crate::crypto::Domain;
use crate::error::{Error, Result};
use crate::format::catalogue::{Catalogue, CatalogueEntry};
use crate::format::layout;
use crate::id::{CatalogueId, SnapshotId, content_hash};
use crate::repo::{Repository, unix_ns};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

/// New snapshots no catalogue holds before a backup writes a new catalogue:
/// a cold reader then GETs at most this many snapshot objects one by one.
pub const UNCOVERED_BEFORE_REWRITE: usize = 16;

/// Below this many snapshots missing from the local cache, a reader GETs them
/// one by one rather than fetching a catalogue (which holds them all).
pub const WORTH_A_CATALOGUE: usize = 4;

/// The catalogues of the repository, with what each holds. Unreadable ones
/// (damaged, or deleted since the listing) are left out.
pub fn read_all(repo: &Repository) -> Result<Vec<(CatalogueId, Catalogue)>> {
    let names: Vec<(CatalogueId, String)> = repo
        .backend()
        .list_names(layout::CATALOGUE)?
        .into_iter()
        .filter_map(|name| layout::id_from_name(&name).map(|id| (CatalogueId(id), name)))
        .collect();
    let client = repo.backend().client();
    let fetched = repo.backend().block_on(async {
        use futures::StreamExt;
        futures::stream::iter(names.into_iter().map(|(id, name)| async move {
            let r = client.get(&name).await;
            (id, r)
        }))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
    });
    let mut out = Vec::new();
    for (id, r) in fetched {
        let Some(bytes) = r? else { continue };
        // Advisory: a catalogue that does not open is skipped, not an error.
        if content_hash(&bytes) != id.0 {
            continue;
        }
        if let Ok(c) = open(repo, &bytes) {
            out.push((id, c));
        }
    }
    out.sort_by_key(|(id, c)| (c.created_unix_ns, *id));
    Ok(out)
}

fn open(repo: &Repository, bytes: &[u8]) -> Result<Catalogue> {
    let plain = repo
        .key()
        .open(Domain::Catalogue, bytes)
        .map_err(|e| Error::corrupt("catalogue", e.to_string()))?;
    codec::decode(&plain).map_err(|e| Error::corrupt("catalogue", e.to_string()))
}

/// The sealed snapshot objects among `wanted` that the catalogues hold and
/// that hash to their ids.
pub fn lookup(
    catalogues: &[(CatalogueId, Catalogue)],
    wanted: &HashSet<SnapshotId>,
) -> HashMap<SnapshotId, Bytes> {
    let mut out = HashMap::new();
    for (_, c) in catalogues {
        for e in &c.snapshots {
            if wanted.contains(&e.id)
                && !out.contains_key(&e.id)
                && content_hash(&e.sealed) == e.id.0
            {
                out.insert(e.id, Bytes::from(e.sealed.clone()));
            }
        }
    }
    out
}

/// What [`refresh`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CatalogueReport {
    /// The catalogue written, if one was.
    pub written: Option<CatalogueId>,
    /// Snapshots it holds.
    pub snapshots: usize,
    /// Older catalogues deleted after it was stored.
    pub deleted: usize,
}

/// Writes a new catalogue of every listed snapshot when at least
/// [`UNCOVERED_BEFORE_REWRITE`] of them are in no catalogue, or when the
/// catalogues hold many forgotten ones (always, with `force`, if anything
/// changed), then deletes the catalogues it read. Needs no lock: two runs at
/// once each write theirs and delete only older ones, and a reader that
/// finds a catalogue gone reads snapshot objects instead.
pub fn refresh(repo: &Repository, force: bool) -> Result<CatalogueReport> {
    let catalogues = read_all(repo)?;
    // Listed after the catalogues were: the new one holds at least what they did.
    let snapshots = repo.snapshot_objects()?;
    let listed: HashSet<SnapshotId> = snapshots.iter().map(|(id, _)| *id).collect();
    let covered: HashSet<SnapshotId> = catalogues
        .iter()
        .flat_map(|(_, c)| c.snapshots.iter().map(|e| e.id))
        .collect();
    let uncovered = listed.difference(&covered).count();
    let forgotten = covered.difference(&listed).count();
    let needed = if force {
        uncovered > 0 || forgotten > 0 || catalogues.len() > 1
    } else {
        uncovered >= UNCOVERED_BEFORE_REWRITE
            || forgotten > UNCOVERED_BEFORE_REWRITE.max(listed.len() / 4)
    };
    if !needed {
        return Ok(CatalogueReport::default());
    }
    let mut entries: Vec<CatalogueEntry> = snapshots
        .into_iter()
        .map(|(id, sealed)| CatalogueEntry {
            id,
            sealed: sealed.to_vec(),
        })
        .collect();
    entries.sort_by_key(|e| e.id);
    let count = entries.len();
    let catalogue = Catalogue {
        created_unix_ns: unix_ns(SystemTime::now()),
        snapshots: entries,
    };
    let sealed = repo
        .key()
        .seal(Domain::Catalogue, &codec::encode(&catalogue));
    let id = CatalogueId(content_hash(&sealed));
    repo.backend()
        .put_new(&layout::catalogue(&id), Bytes::from(sealed))?;
    let mut deleted = 0;
    for (old, _) in &catalogues {
        if *old != id {
            repo.backend().delete(&layout::catalogue(old))?;
            deleted += 1;
        }
    }
    Ok(CatalogueReport {
        written: Some(id),
        snapshots: count,
        deleted,
    })
}
