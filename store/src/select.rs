//! Choosing snapshots: `latest`, an id prefix, and filters by host and tag.

use crate::error::{Error, Result};
use crate::format::snapshot::SnapshotEntry;

/// Restricts which snapshots a command considers.
#[derive(Clone, Debug, Default)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    /// Every tag listed must be present.
    pub tags: Vec<String>,
}

impl SnapshotFilter {
    pub fn matches(&self, s: &SnapshotEntry) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.snapshot.host))
            && self.tags.iter().all(|t| s.snapshot.tags.contains(t))
    }

    pub fn apply(&self, all: Vec<SnapshotEntry>) -> Vec<SnapshotEntry> {
        all.into_iter().filter(|s| self.matches(s)).collect()
    }
}

/// Resolves `latest` or a hex id prefix (at least 4 digits) among `snapshots`
/// (oldest first, as [`crate::Repository::snapshots`] returns them).
pub fn find<'a>(snapshots: &'a [SnapshotEntry], spec: &str) -> Result<&'a SnapshotEntry> {
    if spec == "latest" {
        return snapshots.last().ok_or_else(|| {
            Error::SnapshotNotFound("latest (the repository has no matching snapshot)".into())
        });
    }
    let want = spec.to_ascii_lowercase();
    if want.len() < 4 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::InvalidInput(format!(
            "{spec:?} is not a snapshot: give `latest` or at least 4 hex digits of an id"
        )));
    }
    let mut hits = snapshots
        .iter()
        .filter(|s| s.id.to_hex().starts_with(&want));
    let first = hits
        .next()
        .ok_or_else(|| Error::SnapshotNotFound(spec.to_string()))?;
    if hits.next().is_some() {
        return Err(Error::AmbiguousSnapshot(spec.to_string()));
    }
    Ok(first)
}
