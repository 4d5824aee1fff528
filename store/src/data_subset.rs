//! Which packs `check --read-data-subset` downloads.
//!
//! `n/t` takes the packs whose id falls in bucket `n` of `t` (the first 8
//! bytes of the id, big-endian, modulo `t`). Pack ids are hashes, so buckets
//! are even, and the choice depends only on the id: running `1/7` to `7/7` on
//! seven nights reads every pack exactly once. A percentage takes a fresh
//! random sample each run.

use crate::error::{Error, Result};
use crate::id::PackId;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DataSubset {
    /// Every pack (`--read-data`).
    All,
    /// Bucket `n` (1-based) of `of`.
    Bucket { n: u64, of: u64 },
    /// This share of the packs (0 < p <= 100), chosen at random.
    Percent(f64),
}

impl DataSubset {
    /// Parses `n/t` (1 <= n <= t) or `p%` (0 < p <= 100).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "--read-data-subset {s:?}: {why}; give n/t (e.g. 1/7, one of 7 nights) or a percentage (e.g. 5%)"
            ))
        };
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad("not a number"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad("the percentage must be above 0 and at most 100"));
            }
            return Ok(Self::Percent(p));
        }
        let (n, t) = s.split_once('/').ok_or_else(|| bad("no `/` or `%`"))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| bad("n is not a whole number"))?;
        let t: u64 = t
            .trim()
            .parse()
            .map_err(|_| bad("t is not a whole number"))?;
        if t == 0 || n == 0 || n > t {
            return Err(bad("n must be between 1 and t"));
        }
        Ok(Self::Bucket { n, of: t })
    }

    /// The packs of `all` this subset reads, in id order.
    pub fn select(&self, all: &[PackId]) -> Vec<PackId> {
        let mut ids: Vec<PackId> = all.to_vec();
        ids.sort();
        match *self {
            Self::All => ids,
            Self::Bucket { n, of } => ids
                .into_iter()
                .filter(|id| bucket(id, of) == n - 1)
                .collect(),
            Self::Percent(p) => {
                #[allow(
                    clippy::cast_precision_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss
                )]
                let want = ((ids.len() as f64) * p / 100.0).ceil() as usize;
                // Keyed by fresh randomness: a different sample every run.
                let salt: [u8; 32] = crate::crypto::random_array();
                ids.sort_by_key(|id| blake3::keyed_hash(&salt, &id.0).as_bytes()[..8].to_vec());
                ids.truncate(want.min(all.len()));
                ids.sort();
                ids
            }
        }
    }
}

/// The 0-based bucket of `of` a pack id falls in.
pub fn bucket(id: &PackId, of: u64) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(first) % of
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_buckets_partition_the_packs() {
        let ids: Vec<PackId> = (0u32..500)
            .map(|i| PackId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
            .collect();
        let mut seen = std::collections::HashMap::new();
        for n in 1..=7 {
            for id in (DataSubset::Bucket { n, of: 7 }).select(&ids) {
                *seen.entry(id).or_insert(0) += 1;
            }
        }
        assert_eq!(seen.len(), ids.len());
        assert!(seen.values().all(|&c| c == 1));
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            DataSubset::parse("1/7").ok(),
            Some(DataSubset::Bucket { n: 1, of: 7 })
        );
        assert_eq!(DataSubset::parse("5%").ok(), Some(DataSubset::Percent(5.0)));
        for bad in ["0/7", "8/7", "1/0", "0%", "101%", "x"] {
            assert!(DataSubset::parse(bad).is_err(), "{bad}");
        }
    }
}
