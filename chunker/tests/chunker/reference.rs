//! FastCDC 2020 one byte at a time, written from the "Format" section of the
//! crate docs and the paper (Xia et al., "The Design of Fast Content-Defined
//! Chunking for Data Deduplication Based Storage Systems", TPDS 2020),
//! sharing no code with fastcdc. Slow on purpose: every rule is
//! one visible line.

use std::ops::Range;

use coffer_chunker::ChunkerParams;

use crate::md5::md5;

/// Cut-point masks by number of one-bits (entry `k` has `k`), as pinned by the
/// format: fastcdc 5's table (destor's values up to 128 KiB, restic-FastCDC's
/// above). Entries 0 to 4 are unused.
#[rustfmt::skip]
pub const MASKS: [u64; 26] = [
    0, 0, 0, 0, 0,
    0x0000_0000_0180_4110, // 5
    0x0000_0000_0180_3110, // 6: 64 B
    0x0000_0000_1803_5100, // 7
    0x0000_0018_0003_5300, // 8: 256 B
    0x0000_0190_0035_3000, // 9
    0x0000_5900_0353_0000, // 10: 1 KiB
    0x0000_d900_0353_0000, // 11
    0x0000_d901_0353_0000, // 12: 4 KiB
    0x0000_d903_0353_0000, // 13
    0x0000_d903_1353_0000, // 14: 16 KiB
    0x0000_d90f_0353_0000, // 15
    0x0000_d903_0353_7000, // 16: 64 KiB
    0x0000_d907_0353_7000, // 17
    0x0000_d907_0753_7000, // 18: 256 KiB
    0x0000_d917_0753_7000, // 19
    0x0000_d917_4753_7000, // 20: 1 MiB
    0x0000_d917_6753_7000, // 21
    0x0000_d937_6753_7000, // 22: 4 MiB
    0x0000_d937_7753_7000, // 23
    0x0000_d937_7757_7000, // 24: 16 MiB
    0x0000_db37_7757_7000, // 25
];

/// The unkeyed gear table: entry `i` is the first 8 bytes, big-endian, of the
/// MD5 of 64 bytes equal to `i`.
pub fn unkeyed_gear() -> [u64; 256] {
    let mut gear = [0u64; 256];
    for (i, entry) in gear.iter_mut().enumerate() {
        let digest = md5(&[i as u8; 64]);
        *entry = u64::from_be_bytes(digest[..8].try_into().unwrap());
    }
    gear
}

pub struct Reference {
    gear: [u64; 256],
    min: usize,
    avg: usize,
    max: usize,
    mask_strict: u64,
    mask_loose: u64,
}

impl Reference {
    pub fn new(params: &ChunkerParams) -> Self {
        let mut gear = unkeyed_gear();
        for entry in &mut gear {
            *entry ^= params.seed;
        }
        // The mask bucket is the power of two nearest to avg_size (in log
        // scale); normalization level 1 moves one bit either way.
        let bits = f64::from(params.avg_size).log2().round() as usize;
        Self {
            gear,
            min: params.min_size as usize,
            avg: params.avg_size as usize,
            max: params.max_size as usize,
            mask_strict: MASKS[bits + 1],
            mask_loose: MASKS[bits - 1],
        }
    }

    /// Length of the chunk at the start of `rest`.
    pub fn cut(&self, rest: &[u8]) -> usize {
        let window = &rest[..rest.len().min(self.max)];
        if window.len() <= self.min {
            return window.len();
        }
        let center = self.avg.min(window.len());
        // fastcdc tests positions in pairs, so the last position of an odd
        // window is never a candidate.
        let candidates_end = window.len() - window.len() % 2;
        let mut hash = 0u64;
        for (i, &byte) in window
            .iter()
            .enumerate()
            .take(candidates_end)
            .skip(self.min)
        {
            hash = (hash << 1).wrapping_add(self.gear[usize::from(byte)]);
            let mask = if i < center {
                self.mask_strict
            } else {
                self.mask_loose
            };
            if hash & mask == 0 {
                // The matching byte starts the next chunk.
                return i;
            }
        }
        window.len()
    }

    pub fn boundaries(&self, data: &[u8]) -> Vec<Range<usize>> {
        let mut ranges = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let end = start + self.cut(&data[start..]);
            ranges.push(start..end);
            start = end;
        }
        ranges
    }
}
