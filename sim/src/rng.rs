//! A seeded generator whose sequence is fixed forever.
//!
//! The plan must be the same for a seed on every machine and every release,
//! because a benchmark's repository and a test's expectations are both derived
//! from it. `rand`'s `StdRng` explicitly does not promise a stable sequence
//! across versions, so this is SplitMix64 (Steele, Lea, Flood 2014), a
//! well-known ten-line generator, good enough for choosing file names.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the tiny modulo bias does not matter here).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        let i = usize::try_from(self.next_u64() % items.len() as u64).unwrap_or(0);
        items.get(i)
    }
}
