//! The fast path against the reference implementation.

use coffer_chunker::{ChunkerParams, chunk_boundaries};
use proptest::prelude::*;

use crate::input;
use crate::reference::{MASKS, Reference, unkeyed_gear};

#[test]
fn derived_gear_table_is_fastcdc_table() {
    let derived = unkeyed_gear();
    assert_eq!(fastcdc::v2020::get_gear_with_seed(0).0[..], derived[..]);
    for seed in [1, 0x5eed, u64::MAX, 0x8000_0000_0000_0000] {
        let keyed: Vec<u64> = derived.iter().map(|g| g ^ seed).collect();
        assert_eq!(
            fastcdc::v2020::get_gear_with_seed(seed).0[..],
            keyed[..],
            "seed {seed:#x}"
        );
    }
}

#[test]
fn mask_table_is_fastcdc_table_and_entry_k_has_k_bits() {
    assert_eq!(MASKS, fastcdc::v2020::MASKS);
    for (k, mask) in MASKS.iter().enumerate().skip(5) {
        assert_eq!(mask.count_ones() as usize, k, "MASKS[{k}] = {mask:#x}");
    }
}

#[test]
fn default_params_select_the_documented_masks() {
    let (strict, loose) = fastcdc::v2020::select_masks(
        ChunkerParams::DEFAULT_AVG as usize,
        fastcdc::v2020::Normalization::Level1,
    );
    assert_eq!(
        (strict, loose),
        (0x0000_d903_1353_0000, 0x0000_d901_0353_0000)
    );
}

#[test]
fn fast_path_matches_reference_on_default_params() {
    for seed in [0, 0x0123_4567_89ab_cdef] {
        let params = ChunkerParams::with_seed(seed);
        // Random data cuts by hash; constant data only at max_size.
        for data in [input::random_bytes(seed, 1 << 20), vec![0u8; 700_001]] {
            assert_eq!(
                chunk_boundaries(&data, &params),
                Reference::new(&params).boundaries(&data)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fast_path_matches_reference(params in input::small_params(), data in input::data()) {
        prop_assert_eq!(chunk_boundaries(&data, &params), Reference::new(&params).boundaries(&data));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Average sizes off a power of two exercise the rounding of the mask bucket.
    #[test]
    fn fast_path_matches_reference_for_any_even_avg(
        avg_half in 128u32..=16_384,
        seed in any::<u64>(),
        data_seed in any::<u64>(),
    ) {
        let params = ChunkerParams { min_size: 256, avg_size: avg_half * 2, max_size: 65_536, seed };
        let data = input::random_bytes(data_seed, 200_000);
        prop_assert_eq!(chunk_boundaries(&data, &params), Reference::new(&params).boundaries(&data));
    }
}
