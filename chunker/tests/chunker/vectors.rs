//! Checked-in cut points of fixed inputs.
//!
//! Cut points are not needed to read a repository, but a build that cuts
//! differently stops deduplicating against every existing backup. If a case
//! fails, the chunker's output changed (a fastcdc upgrade, a parameter, the
//! normalization level): treat it as a format change. Only when that change is
//! intended, replace the constant with the literal printed in the failure.

use coffer_chunker::{ChunkerParams, chunk_boundaries};

use crate::input;

fn check(name: &str, data: &[u8], params: &ChunkerParams, expected: &[usize]) {
    let actual: Vec<usize> = chunk_boundaries(data, params)
        .iter()
        .map(|r| r.end)
        .collect();
    assert!(
        actual == expected,
        "cut points of {name} changed (format change, see module docs); now:\n\
         const {}: &[usize] = &{actual:?};\n\
         regenerate with: cargo test -p coffer-chunker --test chunker vectors",
        name.to_uppercase()
    );
}

const RANDOM_SEED_0: &[usize] = &[
    126693, 266214, 289195, 377995, 400175, 518936, 574340, 652301, 676148, 738541, 857690, 957350,
    1050337, 1125495, 1151904, 1210738, 1282841, 1306361, 1382219, 1425879, 1552372, 1627695,
    1737219, 1804232, 1877266, 1963758, 2015717, 2080764, 2097152,
];
const RANDOM_SEEDED: &[usize] = &[
    59017, 105189, 142645, 263554, 329840, 448927, 466762, 549739, 641138, 710609, 746655, 819250,
    852276, 936016, 1030026, 1112791, 1187503, 1308182, 1454497, 1537325, 1615670, 1748259,
    1781112, 1874636, 2065355, 2097152,
];
const SQL_SEEDED: &[usize] = &[
    169072, 200121, 268215, 376616, 443076, 528000, 594262, 762121, 828757, 871157, 968523,
    1038633, 1048576,
];
const SQL_SMALL: &[usize] = &[
    669, 2761, 3855, 6536, 7174, 10308, 13540, 17582, 20056, 23051, 25222, 26508, 30152, 32979,
    35160, 37405, 39842, 42498, 44724, 47028, 51883, 54360, 56539, 57968, 59255, 61255, 62046,
    62792, 64157, 65197, 65536,
];

#[test]
fn random_seed_0() {
    let data = input::random_bytes(0x00c0_ffe7, 2 << 20);
    check("random_seed_0", &data, &pinned(0), RANDOM_SEED_0);
}

#[test]
fn random_seeded() {
    let data = input::random_bytes(0x00c0_ffe7, 2 << 20);
    check(
        "random_seeded",
        &data,
        &pinned(0x0123_4567_89ab_cdef),
        RANDOM_SEEDED,
    );
}

#[test]
fn sql_seeded() {
    let data = input::sql_text(1, 1 << 20);
    check(
        "sql_seeded",
        &data,
        &pinned(0x0123_4567_89ab_cdef),
        SQL_SEEDED,
    );
}

#[test]
fn sql_small() {
    let data = input::sql_text(2, 64 << 10);
    let params = ChunkerParams {
        min_size: 512,
        avg_size: 2048,
        max_size: 8192,
        seed: 0xfeed_f00d,
    };
    check("sql_small", &data, &params, SQL_SMALL);
}

/// The parameters these vectors were made with, independent of the defaults.
fn pinned(seed: u64) -> ChunkerParams {
    ChunkerParams {
        min_size: 16 * 1024,
        avg_size: 64 * 1024,
        max_size: 256 * 1024,
        seed,
    }
}
