//! The cost audit against a brute-force oracle: every snapshot's blob set
//! collected naively, exclusive / added / fair shares / group shares / forget
//! cost recomputed from the sets, on interleaved tenants with shared data.

use crate::util::*;
use coffer_store::backup::{self, Source};
use coffer_store::format::tree::{Content, NodeKind, TreeBlob};
use coffer_store::id::{BlobId, SnapshotId};
use coffer_store::progress::NoProgress;
use coffer_store::usage::{self, UsageOptions};
use std::collections::{BTreeSet, HashMap, HashSet};

fn reachable(repo: &coffer_store::Repository, tree: &BlobId, out: &mut BTreeSet<BlobId>) {
    if !out.insert(*tree) {
        return;
    }
    match &*repo.read_tree(tree).unwrap() {
        TreeBlob::DirLeaf(nodes) => {
            for n in nodes {
                match &n.kind {
                    NodeKind::Dir { tree } => reachable(repo, tree, out),
                    NodeKind::File {
                        content: Content::List(r),
                    } => reachable(repo, r, out),
                    NodeKind::File {
                        content: Content::Inline(refs),
                    } => out.extend(refs.iter().map(|r| r.id)),
                    NodeKind::Symlink { .. } => {}
                }
            }
        }
        TreeBlob::DirInner(refs) => refs.iter().for_each(|r| reachable(repo, &r.blob, out)),
        TreeBlob::ContentLeaf(refs) => out.extend(refs.iter().map(|r| r.id)),
        TreeBlob::ContentInner(refs) => refs.iter().for_each(|r| reachable(repo, &r.blob, out)),
    }
}

#[test]
fn audit_matches_brute_force() {
    let repo = memory_repo();
    let base = random_bytes("shared base", 300_000);
    // Day d: tenant acme and globex each back up the shared base plus a part
    // that changes every few days, and an unrepeated daily part.
    for day in 0..9u64 {
        for tenant in ["acme", "globex"] {
            let mut data = base.clone();
            data.extend(random_bytes(&format!("{tenant} slow {}", day / 3), 100_000));
            data.extend(random_bytes(&format!("{tenant} daily {day}"), 20_000));
            let mut o = opts(day * 86_400 + u64::from(tenant == "globex"));
            o.tags = vec![format!("tenant={tenant}")];
            let src = vec![Source::Stdin {
                name: format!("db/{tenant}.sql"),
                reader: Box::new(std::io::Cursor::new(data)),
            }];
            backup::backup(&repo, src, &o, &NoProgress).unwrap();
        }
    }
    let snaps = repo.snapshots().unwrap();
    let sets: Vec<BTreeSet<BlobId>> = snaps
        .iter()
        .map(|s| {
            let mut out = BTreeSet::new();
            reachable(&repo, &s.snapshot.root, &mut out);
            out
        })
        .collect();
    let size = |id: &BlobId| u64::from(repo.lookup(id).unwrap().length);
    let mut owners: HashMap<BlobId, Vec<usize>> = HashMap::new();
    for (i, set) in sets.iter().enumerate() {
        for id in set {
            owners.entry(*id).or_default().push(i);
        }
    }
    let forget: HashSet<SnapshotId> = snaps.iter().step_by(3).map(|s| s.id).collect();
    let labels = usage::labels_by_tag(&snaps, "tenant");
    let opts = UsageOptions {
        groups: Some(labels.clone()),
        forget: Some(forget.clone()),
    };
    let report = usage::analyze(&repo, &snaps, &opts, &NoProgress).unwrap();

    let total: u64 = owners.keys().map(size).sum();
    assert_eq!(report.repository.stored_bytes, total);
    assert_eq!(report.repository.referenced_blobs, owners.len() as u64);
    assert_eq!(report.repository.unused_bytes, 0);
    let mut fair_sum = 0;
    for (i, s) in report.snapshots.iter().enumerate() {
        assert_eq!(s.id, snaps[i].id);
        let set = &sets[i];
        let referenced: u64 = set.iter().map(size).sum();
        let exclusive: u64 = set.iter().filter(|b| owners[*b].len() == 1).map(size).sum();
        let added: u64 = set.iter().filter(|b| owners[*b][0] == i).map(size).sum();
        let fair_floor: u64 = set.iter().map(|b| size(b) / owners[b].len() as u64).sum();
        assert_eq!(s.referenced_bytes, referenced, "snapshot {i} referenced");
        assert_eq!(s.exclusive_bytes, exclusive, "snapshot {i} exclusive");
        assert_eq!(s.added_bytes, added, "snapshot {i} added");
        assert_eq!(s.shared_bytes, referenced - exclusive);
        // Remainders add at most one byte per shared blob.
        assert!(
            s.fair_share_bytes >= fair_floor && s.fair_share_bytes <= fair_floor + set.len() as u64
        );
        assert_eq!(s.logical_bytes, snaps[i].snapshot.summary.bytes_total);
        fair_sum += s.fair_share_bytes;
    }
    assert_eq!(fair_sum, total, "fair shares add up to the total");
    assert!(
        report
            .snapshots
            .iter()
            .any(|s| s.exclusive_bytes > 0 && s.shared_bytes > 0)
    );

    // Groups: blobs per tenant.
    assert_eq!(report.groups.len(), 2);
    let mut group_fair = 0;
    for g in &report.groups {
        let members: Vec<usize> = (0..snaps.len()).filter(|&i| labels[i] == g.group).collect();
        let mut refd = 0;
        let mut excl = 0;
        for (b, os) in &owners {
            let mine = os.iter().any(|o| members.contains(o));
            if mine {
                refd += size(b);
                if os.iter().all(|o| members.contains(o)) {
                    excl += size(b);
                }
            }
        }
        assert_eq!(g.referenced_bytes, refd, "group {}", g.group);
        assert_eq!(g.exclusive_bytes, excl, "group {}", g.group);
        assert_eq!(g.snapshots, members.len() as u64);
        group_fair += g.fair_share_bytes;
    }
    assert_eq!(group_fair, total);
    assert!(
        report
            .groups
            .iter()
            .all(|g| g.exclusive_bytes > 0 && g.shared_bytes > 0)
    );

    // Forget: blobs all of whose owners are forgotten.
    let gone: HashSet<usize> = (0..snaps.len())
        .filter(|i| forget.contains(&snaps[*i].id))
        .collect();
    let freed: u64 = owners
        .iter()
        .filter(|(_, os)| os.iter().all(|o| gone.contains(o)))
        .map(|(b, _)| size(b))
        .sum();
    let f = report.forget.as_ref().unwrap();
    assert!(freed > 0);
    assert_eq!(f.freed_bytes, freed);
    assert_eq!(f.stored_bytes_after, total - freed);
    assert_eq!(f.snapshots_forgotten, gone.len() as u64);

    // Timeline: cumulative stored bytes end at the total.
    let t = usage::timeline(&report, |ns| (ns / 86_400_000_000_000).to_string());
    assert_eq!(t.len(), 9);
    assert_eq!(t.last().unwrap().stored_bytes, total);
    assert!(t.windows(2).all(|w| w[0].stored_bytes <= w[1].stored_bytes));
}

#[test]
fn unreferenced_blobs_are_unused() {
    let repo = memory_repo();
    let data: std::sync::Arc<[u8]> = random_bytes("only", 50_000).into();
    backup_stream(&repo, "db/x.sql", &data, 0);
    // A second repository handle sees the blobs of a snapshot it is not told about.
    let all = repo.snapshots().unwrap();
    let report = usage::analyze(&repo, &all, &UsageOptions::default(), &NoProgress).unwrap();
    assert_eq!(report.repository.unused_blobs, 0);
    let none = usage::analyze(&repo, &[], &UsageOptions::default(), &NoProgress).unwrap();
    assert_eq!(none.repository.unused_bytes, report.repository.stored_bytes);
    assert_eq!(none.repository.stored_bytes, 0);
    assert!(report.repository.pack_overhead_bytes > 0);
    assert_eq!(
        report.repository.pack_bytes,
        report.repository.stored_bytes + report.repository.pack_overhead_bytes
    );
}
