//! Invariants of the cut points, whatever the input.

use std::collections::HashSet;

use coffer_chunker::{Chunker, ChunkerParams, chunk_boundaries};
use proptest::prelude::*;

use crate::input;

fn ends(ranges: &[std::ops::Range<usize>]) -> Vec<usize> {
    ranges.iter().map(|r| r.end).collect()
}

#[test]
fn empty_input_yields_no_chunks() {
    for params in [ChunkerParams::with_seed(0), ChunkerParams::with_seed(99)] {
        assert_eq!(chunk_boundaries(&[], &params), Vec::new());
        assert_eq!(Chunker::new(&[][..], &params).count(), 0);
    }
}

#[test]
fn seed_bits_above_47_do_not_move_boundaries() {
    // Mask bits stop at bit 47 and carries only travel upwards, so the top 16
    // bits of the seed never reach a tested bit: the effective seed has 48 bits.
    // Recorded here because it bounds what the seed can hide.
    let data = input::random_bytes(3, 1 << 20);
    let low = ChunkerParams::with_seed(0x0000_1234_5678_9abc);
    let high = ChunkerParams::with_seed(0xffff_1234_5678_9abc);
    assert_eq!(
        chunk_boundaries(&data, &low),
        chunk_boundaries(&data, &high)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunks_cover_the_input_in_order(params in input::small_params(), data in input::data()) {
        let ranges = chunk_boundaries(&data, &params);
        let mut next = 0;
        for range in &ranges {
            prop_assert_eq!(range.start, next);
            prop_assert!(range.end > range.start);
            next = range.end;
        }
        prop_assert_eq!(next, data.len());
        let joined: Vec<u8> = ranges.iter().flat_map(|r| data[r.clone()].iter().copied()).collect();
        prop_assert_eq!(joined, data);
    }

    #[test]
    fn chunk_sizes_stay_within_bounds(params in input::small_params(), data in input::data()) {
        let ranges = chunk_boundaries(&data, &params);
        let (min, max) = (params.min_size as usize, params.max_size as usize);
        if let Some((last, rest)) = ranges.split_last() {
            for range in rest {
                prop_assert!((min..=max).contains(&range.len()), "{:?} in {:?}", range, params);
            }
            prop_assert!((1..=max).contains(&last.len()), "last {:?} in {:?}", last, params);
        } else {
            prop_assert!(data.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// What deduplication rests on: an insertion near the start of a 2 MB file
    /// leaves the boundaries after it where they were, shifted by its length.
    #[test]
    fn insertion_near_start_keeps_later_boundaries(
        data_seed in any::<u64>(),
        seed in any::<u64>(),
        at in 0usize..4096,
        inserted in proptest::collection::vec(any::<u8>(), 1..=16),
    ) {
        let params = ChunkerParams::with_seed(seed);
        let data = input::random_bytes(data_seed, 2_000_000);
        let mut edited = data.clone();
        edited.splice(at..at, inserted.iter().copied());

        let settled = at + params.max_size as usize;
        let before: Vec<usize> = ends(&chunk_boundaries(&data, &params))
            .into_iter()
            .filter(|&end| end > settled)
            .collect();
        let after: HashSet<usize> = ends(&chunk_boundaries(&edited, &params))
            .into_iter()
            .map(|end| end - inserted.len())
            .collect();
        let kept = before.iter().filter(|end| after.contains(end)).count();
        prop_assert!(before.len() >= 10, "only {} boundaries to compare", before.len());
        prop_assert!(
            kept * 10 >= before.len() * 8,
            "kept {} of {} boundaries after inserting {} bytes at {}",
            kept, before.len(), inserted.len(), at
        );
    }

    /// The seed is what makes boundaries repository-specific.
    #[test]
    fn different_seeds_cut_differently(data_seed in any::<u64>(), a in any::<u64>(), b in any::<u64>()) {
        // Seeds that agree on their low 48 bits cut alike (see above).
        prop_assume!((a ^ b) & 0x0000_ffff_ffff_ffff != 0);
        let data = input::random_bytes(data_seed, 1 << 20);
        let cuts_a = chunk_boundaries(&data, &ChunkerParams::with_seed(a));
        let cuts_b = chunk_boundaries(&data, &ChunkerParams::with_seed(b));
        prop_assert_ne!(cuts_a, cuts_b);
    }
}
