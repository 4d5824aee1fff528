//! Per-blob arithmetic of the snapshot audit: exclusive, added, fair shares,
//! group shares and what a forget frees, each in time per run of owners.
//!
//! Per-owner sums over runs use difference arrays (add at the run's start,
//! subtract after its end, prefix-sum once at the end), so a blob shared by
//! 3,650 snapshots in one run costs one addition, not 3,650.

use super::owners::{FirstInRange, Owners};
use super::walk::Tally;
use crate::cache::BlobLocation;
use crate::id::{BlobId, PackId};
use std::collections::HashMap;

/// Stored bytes per pack: everything the index places there, what snapshots
/// reference now, and what they would still reference after the forget.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackTally {
    pub indexed: u64,
    pub live: u64,
    pub live_after: u64,
}

pub struct SnapshotTally {
    n: usize,
    first: FirstInRange,
    /// Group index of each owner; owners of one group are consecutive.
    group_of: Vec<u32>,
    groups: usize,
    /// Prefix counts of owners the forget removes (`forgotten[b+1] - forgotten[a]`).
    forgotten: Option<Vec<u32>>,

    pub referenced_diff: Vec<i128>,
    pub fair_diff: Vec<i128>,
    pub exclusive: Vec<u64>,
    pub added: Vec<u64>,
    pub group_referenced: Vec<u64>,
    pub group_exclusive: Vec<u64>,
    pub group_fair: Vec<u64>,
    pub packs: HashMap<PackId, PackTally>,

    pub referenced_blobs: u64,
    pub stored_bytes: u64,
    pub raw_bytes: u64,
    pub missing_blobs: u64,
    pub unused_blobs: u64,
    pub unused_bytes: u64,
    pub freed_blobs: u64,
    pub freed_bytes: u64,
}

impl SnapshotTally {
    /// `rank[i]`: owner `i`'s position in time; `group_of[i]` its group;
    /// `forget[i]`: whether the forget removes it.
    pub fn new(rank: Vec<u64>, group_of: Vec<u32>, forget: Option<Vec<bool>>) -> Self {
        let n = rank.len();
        let groups = group_of.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
        let forgotten = forget.map(|f| {
            let mut p = Vec::with_capacity(n + 1);
            p.push(0u32);
            let mut c = 0;
            for x in f {
                c += u32::from(x);
                p.push(c);
            }
            p
        });
        Self {
            n,
            first: FirstInRange::new(rank),
            group_of,
            groups,
            forgotten,
            referenced_diff: vec![0; n + 1],
            fair_diff: vec![0; n + 1],
            exclusive: vec![0; n],
            added: vec![0; n],
            group_referenced: vec![0; groups],
            group_exclusive: vec![0; groups],
            group_fair: vec![0; groups],
            packs: HashMap::new(),
            referenced_blobs: 0,
            stored_bytes: 0,
            raw_bytes: 0,
            missing_blobs: 0,
            unused_blobs: 0,
            unused_bytes: 0,
            freed_blobs: 0,
            freed_bytes: 0,
        }
    }

    pub fn owners(&self) -> usize {
        self.n
    }

    fn all_forgotten(&self, owners: &Owners) -> bool {
        let Some(p) = &self.forgotten else {
            return false;
        };
        owners
            .runs()
            .iter()
            .all(|&(a, b)| p[b as usize + 1] - p[a as usize] == b - a + 1)
    }

    fn groups_of(&self, owners: &Owners) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for &(a, b) in owners.runs() {
            let (ga, gb) = (self.group_of[a as usize], self.group_of[b as usize]);
            for g in ga..=gb {
                if out.last() != Some(&g) {
                    out.push(g);
                }
            }
        }
        out
    }
}

/// Splits `size` into `parts` whole-byte shares: `size / parts` each, and one
/// more byte to each of the first `size % parts`, so the shares add up exactly.
pub fn split(size: u64, parts: u64, index: u64) -> u64 {
    size / parts + u64::from(index < size % parts)
}

impl Tally for SnapshotTally {
    fn referenced(&mut self, _id: &BlobId, loc: Option<&BlobLocation>, owners: &Owners) {
        let Some(loc) = loc else {
            self.missing_blobs += 1;
            return;
        };
        let size = u64::from(loc.length);
        self.referenced_blobs += 1;
        self.stored_bytes += size;
        self.raw_bytes += u64::from(loc.raw_length);
        let count = owners.count();
        if count == 0 || self.n == 0 {
            return;
        }
        let runs = owners.runs();
        let big = i128::from(size);
        for &(a, b) in runs {
            self.referenced_diff[a as usize] += big;
            self.referenced_diff[b as usize + 1] -= big;
        }
        if count == 1 {
            self.exclusive[runs[0].0 as usize] += size;
        }
        if let Some(first) = self.first.first(owners) {
            self.added[first as usize] += size;
        }
        // Fair share: size / count to each owner, the remainder one byte each
        // to the first owners in index order (a prefix of the runs).
        let q = i128::from(size / count);
        let mut rest = size % count;
        for &(a, b) in runs {
            self.fair_diff[a as usize] += q;
            self.fair_diff[b as usize + 1] -= q;
            if rest > 0 {
                let take = rest.min(u64::from(b - a) + 1);
                let end = a as usize + usize::try_from(take).unwrap_or(usize::MAX);
                self.fair_diff[a as usize] += 1;
                self.fair_diff[end] -= 1;
                rest -= take;
            }
        }
        if self.groups > 0 {
            let gs = self.groups_of(owners);
            let parts = gs.len() as u64;
            for (i, &g) in gs.iter().enumerate() {
                self.group_referenced[g as usize] += size;
                self.group_fair[g as usize] += split(size, parts, i as u64);
            }
            if gs.len() == 1 {
                self.group_exclusive[gs[0] as usize] += size;
            }
        }
        let gone = self.all_forgotten(owners);
        if gone {
            self.freed_blobs += 1;
            self.freed_bytes += size;
        }
        let p = self.packs.entry(loc.pack).or_default();
        p.indexed += size;
        p.live += size;
        if !gone {
            p.live_after += size;
        }
    }

    fn unused(&mut self, _id: &BlobId, loc: &BlobLocation) {
        let size = u64::from(loc.length);
        self.unused_blobs += 1;
        self.unused_bytes += size;
        self.packs.entry(loc.pack).or_default().indexed += size;
    }
}

/// Prefix sums of a difference array: the per-owner totals.
pub fn totals(diff: &[i128], n: usize) -> Vec<u64> {
    let mut acc: i128 = 0;
    diff.iter()
        .take(n)
        .map(|d| {
            acc += d;
            u64::try_from(acc).unwrap_or(0)
        })
        .collect()
}
