//! Sets of owners (snapshots, or paths) as sorted runs of consecutive indexes.
//!
//! Owners are numbered so that snapshots of one series (same group, host and
//! paths) are consecutive and in time order. A chunk is then usually owned by
//! one run: it appears in a backup and stays until the data changes. A set of
//! 3,650 owners is a handful of intervals, and unions, counts and splits cost
//! per interval, not per owner, which keeps the audit linear.

/// Inclusive `(first, last)` runs, sorted, disjoint and not touching.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owners(Vec<(u32, u32)>);

impl Owners {
    pub fn one(i: u32) -> Self {
        Self(vec![(i, i)])
    }

    pub fn runs(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// How many owners.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|&(a, b)| u64::from(b - a) + 1).sum()
    }

    /// `self ∪ other`, in one merge pass.
    pub fn union(&self, other: &Self) -> Self {
        if other.0.is_empty() {
            return self.clone();
        }
        if self.0.is_empty() {
            return other.clone();
        }
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() || j < other.0.len() {
            let next = match (self.0.get(i), other.0.get(j)) {
                (Some(&a), Some(&b)) if a.0 <= b.0 => {
                    i += 1;
                    a
                }
                (_, Some(&b)) => {
                    j += 1;
                    b
                }
                (Some(&a), None) => {
                    i += 1;
                    a
                }
                (None, None) => break,
            };
            push_run(&mut out, next);
        }
        Self(out)
    }

    /// Adds the owners of `other` into `self`.
    pub fn absorb(&mut self, other: &Self) {
        if !other.0.is_empty() {
            *self = self.union(other);
        }
    }
}

fn push_run(out: &mut Vec<(u32, u32)>, (a, b): (u32, u32)) {
    if let Some(last) = out.last_mut() {
        if u64::from(a) <= u64::from(last.1) + 1 {
            last.1 = last.1.max(b);
            return;
        }
    }
    out.push((a, b));
}

/// Range-minimum over a fixed array (sparse table): which owner of a run came
/// first in time, in O(1) per run.
pub struct FirstInRange {
    rank: Vec<u64>,
    /// `table[k][i]`: index of the minimum of `rank[i .. i + 2^k]`.
    table: Vec<Vec<u32>>,
}

impl FirstInRange {
    pub fn new(rank: Vec<u64>) -> Self {
        let n = rank.len();
        let mut table: Vec<Vec<u32>> = vec![
            (0..n)
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                .collect(),
        ];
        let mut width = 1;
        while width * 2 <= n {
            let prev = table.last().map(Vec::as_slice).unwrap_or_default();
            let row: Vec<u32> = (0..=n - width * 2)
                .map(|i| {
                    let (x, y) = (prev[i], prev[i + width]);
                    if rank[y as usize] < rank[x as usize] {
                        y
                    } else {
                        x
                    }
                })
                .collect();
            table.push(row);
            width *= 2;
        }
        Self { rank, table }
    }

    /// Index of the smallest rank in `a..=b`.
    pub fn argmin(&self, a: u32, b: u32) -> u32 {
        let len = (b - a + 1) as usize;
        let k = usize::BITS - 1 - len.leading_zeros();
        let row = &self.table[k as usize];
        let x = row[a as usize];
        let y = row[b as usize + 1 - (1 << k)];
        if self.rank[y as usize] < self.rank[x as usize] {
            y
        } else {
            x
        }
    }

    /// The owner of `owners` with the smallest rank.
    pub fn first(&self, owners: &Owners) -> Option<u32> {
        owners
            .runs()
            .iter()
            .map(|&(a, b)| self.argmin(a, b))
            .min_by_key(|&i| self.rank[i as usize])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn of(set: &BTreeSet<u32>) -> Owners {
        let mut o = Owners::default();
        for &i in set {
            o.absorb(&Owners::one(i));
        }
        o
    }

    proptest! {
        #[test]
        fn union_is_set_union(a in proptest::collection::btree_set(0u32..60, 0..30),
                              b in proptest::collection::btree_set(0u32..60, 0..30)) {
            let u = of(&a).union(&of(&b));
            let want: BTreeSet<u32> = a.union(&b).copied().collect();
            prop_assert_eq!(u.count(), want.len() as u64);
            prop_assert_eq!(&u, &of(&want));
            for w in u.runs().windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
        }

        #[test]
        fn argmin_is_the_minimum(rank in proptest::collection::vec(0u64..1000, 1..80), x in 0usize..80, y in 0usize..80) {
            let n = rank.len();
            let (a, b) = ((x % n).min(y % n) as u32, (x % n).max(y % n) as u32);
            let t = FirstInRange::new(rank.clone());
            let got = t.argmin(a, b);
            let min = (a..=b).map(|i| rank[i as usize]).min().unwrap();
            prop_assert_eq!(rank[got as usize], min);
        }
    }
}
