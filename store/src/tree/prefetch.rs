//! Fetching tree pieces in batches.
//!
//! On a cold cache (a new machine, a bucket) each tree piece read is one
//! ranged request: a 64 MiB file's content list is ~70 pieces and a folder
//! of documents one piece per subfolder, so restoring from an object store
//! was bound by request latency (and paid per request). Pieces written
//! together sit side by side in a pack, so when a reader knows which pieces
//! it is about to need, the missing ones are fetched with a few coalesced
//! ranged reads, in parallel, into the local cache; `read_tree` then finds
//! them there. The cache stores pieces sealed and `read_tree` verifies them
//! when it opens them, so nothing unverified is ever used.

use crate::cache::BlobLocation;
use crate::error::Result;
use crate::format::layout;
use crate::id::BlobId;
use crate::repo::Repository;
use futures::StreamExt;

/// Bytes of other blobs one read may span to reach the next wanted piece
/// (one request costs more than 1 MiB of transfer on an object store).
const MAX_GAP: u64 = 1 << 20;
/// Largest coalesced read.
const MAX_READ: u64 = 8 << 20;
/// Reads in flight at once.
const CONCURRENT_READS: usize = 8;

/// One ranged read covering several wanted pieces of one pack.
struct ReadGroup {
    pack_name: String,
    start: u64,
    end: u64,
    pieces: Vec<(BlobId, BlobLocation)>,
}

/// Brings the pieces of `ids` that are not in the local cache into it.
///
/// Best effort: a piece that is unknown or whose read fails is left for
/// `read_tree`, which reads it alone and reports the error with its context.
pub fn prefetch_trees(repo: &Repository, ids: &[BlobId]) -> Result<()> {
    // One piece is one read either way: let `read_tree` do it.
    if ids.len() < 2 {
        return Ok(());
    }
    let index = repo.index()?;
    let mut missing = Vec::new();
    for id in ids {
        if !index.has_tree(id)? {
            missing.push(*id);
        }
    }
    if missing.len() < 2 {
        return Ok(());
    }
    let locations = index.lookup_many(&missing)?;
    let mut located: Vec<(BlobId, BlobLocation)> = missing
        .into_iter()
        .zip(locations)
        .filter_map(|(id, loc)| loc.map(|loc| (id, loc)))
        .collect();
    located.sort_by_key(|(_, loc)| (loc.pack, loc.offset));
    located.dedup_by_key(|(id, _)| *id);

    let client = repo.backend().client().clone();
    let reads = coalesce(located).into_iter().map(|group| {
        let client = client.clone();
        async move {
            let bytes = client
                .get_range(&group.pack_name, group.start..group.end)
                .await;
            (group, bytes)
        }
    });
    let fetched: Vec<_> = repo.backend().block_on(
        futures::stream::iter(reads)
            .buffer_unordered(CONCURRENT_READS)
            .collect(),
    );
    for (group, bytes) in fetched {
        let Ok(bytes) = bytes else { continue };
        for (id, loc) in &group.pieces {
            let at = usize::try_from(loc.offset - group.start).unwrap_or(usize::MAX);
            if let Some(sealed) = bytes.get(at..at.saturating_add(loc.length as usize)) {
                index.put_tree(id, loc.raw_length, sealed)?;
            }
        }
    }
    Ok(())
}

/// Groups pieces sorted by (pack, offset) into reads of one pack each.
fn coalesce(located: Vec<(BlobId, BlobLocation)>) -> Vec<ReadGroup> {
    let mut groups: Vec<ReadGroup> = Vec::new();
    for (id, loc) in located {
        let end = loc.offset + u64::from(loc.length);
        if let Some(g) = groups.last_mut() {
            let same_pack = g.pieces.last().is_some_and(|(_, l)| l.pack == loc.pack);
            if same_pack
                && loc.offset >= g.end
                && loc.offset - g.end <= MAX_GAP
                && end - g.start <= MAX_READ
            {
                g.end = end;
                g.pieces.push((id, loc));
                continue;
            }
        }
        groups.push(ReadGroup {
            pack_name: layout::pack(&loc.pack),
            start: loc.offset,
            end,
            pieces: vec![(id, loc)],
        });
    }
    groups
}
