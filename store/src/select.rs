//! Choosing snapshots: `latest`, an id prefix, the newest at or before a
//! moment (`--as-of`), and filters by host, tag and backed-up path.

use crate::error::{Error, Result};
use crate::format::snapshot::SnapshotEntry;

/// Restricts which snapshots a command considers.
#[derive(Clone, Debug, Default)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    /// Every tag listed must be present.
    pub tags: Vec<String>,
    /// At least one of these must be among the snapshot's recorded paths
    /// (source paths as given, stdin names); empty: any.
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    pub fn matches(&self, s: &SnapshotEntry) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.snapshot.host))
            && self.tags.iter().all(|t| s.snapshot.tags.contains(t))
            && (self.paths.is_empty() || self.paths.iter().any(|p| s.snapshot.paths.contains(p)))
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

/// The newest snapshot taken at or before `at_unix_ns`, among `snapshots`
/// sorted oldest first (as [`crate::Repository::snapshots`] returns them).
/// Two snapshots at the same instant: the later in that order (the larger id).
pub fn as_of(snapshots: &[SnapshotEntry], at_unix_ns: i64) -> Option<&SnapshotEntry> {
    let after = snapshots.partition_point(|s| s.snapshot.time_unix_ns <= at_unix_ns);
    after.checked_sub(1).map(|i| &snapshots[i])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::format::snapshot::{Snapshot, Summary};
    use crate::id::{BlobId, SnapshotId};

    fn entry(n: u8, time: i64) -> SnapshotEntry {
        SnapshotEntry {
            id: SnapshotId([n; 32]),
            snapshot: Snapshot {
                time_unix_ns: time,
                host: "h".into(),
                username: "u".into(),
                tags: vec![],
                paths: vec![],
                root: BlobId([0; 32]),
                parent: None,
                partial: false,
                program: String::new(),
                summary: Summary::default(),
                meta: vec![],
            },
        }
    }

    #[test]
    fn as_of_takes_the_newest_at_or_before() {
        let s = vec![entry(1, 10), entry(2, 20), entry(3, 20), entry(4, 30)];
        assert!(as_of(&s, 9).is_none());
        assert_eq!(as_of(&s, 10).unwrap().id, s[0].id);
        assert_eq!(as_of(&s, 19).unwrap().id, s[0].id);
        assert_eq!(as_of(&s, 20).unwrap().id, s[2].id);
        assert_eq!(as_of(&s, 29).unwrap().id, s[2].id);
        assert_eq!(as_of(&s, i64::MAX).unwrap().id, s[3].id);
        assert!(as_of(&[], 5).is_none());
    }
}
