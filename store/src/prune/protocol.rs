//! The records and checks of the two-phase deletion (FORMAT.md, "Deleting
//! packs and index files"): reading and writing `condemned/<id>`, and which
//! backup locks hold a record back.

use crate::codec;
use crate::crypto::Domain;
use crate::error::{Error, Result};
use crate::format::condemned::CondemnedRecord;
use crate::format::layout;
use crate::format::lock::LockKind;
use crate::id::{CondemnedId, PackId, content_hash};
use crate::lock::LockEntry;
use crate::repo::Repository;
use bytes::Bytes;
use std::collections::HashSet;

/// A condemned record waiting for (or in) phase 2.
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: CondemnedId,
    pub record: CondemnedRecord,
}

/// Every condemned record, oldest first.
pub fn pending(repo: &Repository) -> Result<Vec<Pending>> {
    let mut out = Vec::new();
    for (name, _) in repo.backend().list(layout::CONDEMNED)? {
        let Some(id) = layout::id_from_name(&name).map(CondemnedId) else {
            continue;
        };
        // Finished by another prune between the listing and the read.
        let Some(bytes) = repo.backend().get(&name)? else {
            continue;
        };
        let plain = repo
            .key()
            .open(Domain::Condemned, &bytes)
            .map_err(|e| Error::corrupt(&name, e.to_string()))?;
        let record: CondemnedRecord =
            codec::decode(&plain).map_err(|e| Error::corrupt(&name, e.to_string()))?;
        out.push(Pending { id, record });
    }
    out.sort_by_key(|p| (p.record.created_unix_ns, p.id));
    Ok(out)
}

pub fn write_record(repo: &Repository, record: &CondemnedRecord) -> Result<CondemnedId> {
    let sealed = repo.key().seal(Domain::Condemned, &codec::encode(record));
    let id = CondemnedId(content_hash(&sealed));
    repo.backend()
        .put_new(&layout::condemned(&id), Bytes::from(sealed))?;
    Ok(id)
}

/// Makes the repository's writers store again any blob whose indexed copy is
/// in a condemned pack, then brings the index cache up to date. Called by
/// every writer right after taking its lock.
///
/// The order matters: a record read here keeps its packs avoided; a record
/// already gone was finished, its index files deleted first, so the sync that
/// follows drops every cached location in the packs it deleted (a process
/// that keeps a repository open across backups would otherwise reuse them).
pub fn avoid_condemned(repo: &Repository) -> Result<()> {
    let packs: HashSet<PackId> = pending(repo)?
        .into_iter()
        .flat_map(|p| p.record.packs)
        .collect();
    repo.avoid_packs(packs);
    repo.resync_index()?;
    Ok(())
}

/// The first live backup lock taken before `limit_ns` (a run that may not
/// have seen a record written at `limit_ns - margin`), described.
pub fn backup_started_before(locks: &[LockEntry], limit_ns: i64) -> Option<String> {
    locks
        .iter()
        .find(|l| {
            !l.is_stale() && l.record.kind == LockKind::Backup && l.created_unix_ns < limit_ns
        })
        .map(|l| {
            format!(
                "backup lock {} (pid {} on {}) is older than the safety point",
                l.id.short(),
                l.pid,
                l.host
            )
        })
}
