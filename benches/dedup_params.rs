//! How much a night costs to store for each candidate chunk size: the numbers
//! that pick coffer's default chunker parameters.
//!
//! ```text
//! benches/data/gen-erp-series.sh target/bench-data/erp-small --scale small
//! cargo bench --bench dedup_params -- target/bench-data/erp-small [--ext dump|sql]
//! COFFER_DEDUP_DIR=target/bench-data/erp-small cargo bench --bench dedup_params
//! ```
//!
//! For each candidate (average 16 KiB to 1 MiB, min = avg/4, max = avg*4), the
//! days `day-NNN.<ext>` are chunked in order, as nightly backups into one
//! repository would be, and a chunk counts as stored the first time its BLAKE3
//! id is seen. Per candidate it prints the bytes the first day stores, the mean
//! bytes each later day adds (raw and after per-chunk zstd level 3, as the store
//! compresses chunk by chunk), the number of distinct chunks after the series,
//! and the index that implies at 80 bytes per entry (id, pack id, offset,
//! lengths). Smaller chunks deduplicate scattered updates better but cost index
//! memory, per-chunk overhead and compression ratio; the table shows where that
//! trade turns. Without `--ext`, both `.dump` and `.sql` series are measured
//! when present.
//!
//! A plain `cargo bench` (no directory given) prints how to run it and succeeds.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use coffer_chunker::{ChunkerParams, chunk_boundaries};
use rayon::prelude::*;

const KIB: u32 = 1024;
const AVERAGES: [u32; 8] = [
    4 * KIB,
    8 * KIB,
    16 * KIB,
    32 * KIB,
    64 * KIB,
    128 * KIB,
    256 * KIB,
    1024 * KIB,
];
/// Bytes per entry of an in-memory chunk index: 32 B id, 32 B pack id, 4 B
/// offset, 4 B stored length, 4 B raw length, 4 B of overhead.
const INDEX_ENTRY_BYTES: u64 = 80;
const ZSTD_LEVEL: i32 = 3;
/// Any fixed seed: the statistics do not depend on it, the exact cut points do.
const SEED: u64 = 0x1d2c_3b4a_5968_7786;

struct Candidate {
    params: ChunkerParams,
    seen: HashSet<[u8; 32]>,
    /// (raw, zstd) bytes newly stored per day, in day order.
    days: Vec<(u64, u64)>,
}

impl Candidate {
    fn new(avg: u32) -> Self {
        Self {
            params: ChunkerParams {
                min_size: avg / 4,
                avg_size: avg,
                max_size: avg * 4,
                seed: SEED,
            },
            seen: HashSet::new(),
            days: Vec::new(),
        }
    }

    fn add_day(&mut self, data: &[u8]) {
        let (mut raw, mut packed) = (0u64, 0u64);
        for range in chunk_boundaries(data, &self.params) {
            let chunk = &data[range];
            if self.seen.insert(*blake3::hash(chunk).as_bytes()) {
                raw += chunk.len() as u64;
                // An error here would be a bug in zstd; count the chunk as stored raw.
                packed +=
                    zstd::bulk::compress(chunk, ZSTD_LEVEL).map_or(chunk.len(), |c| c.len()) as u64;
            }
        }
        self.days.push((raw, packed));
    }
}

fn mb(bytes: f64) -> f64 {
    bytes / 1e6
}

fn size_label(bytes: u32) -> String {
    if bytes >= 1024 * KIB {
        format!("{}M", bytes / (1024 * KIB))
    } else {
        format!("{}K", bytes / KIB)
    }
}

fn days_in(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut days: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == ext)
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("day-"))
        })
        .collect();
    days.sort();
    Ok(days)
}

fn measure(dir: &Path, ext: &str) -> Result<()> {
    let days = days_in(dir, ext)?;
    if days.len() < 2 {
        bail!(
            "{} has {} day-NNN.{ext} files; the series needs at least two",
            dir.display(),
            days.len()
        );
    }
    let mut candidates: Vec<Candidate> = AVERAGES.iter().map(|&avg| Candidate::new(avg)).collect();
    let started = Instant::now();
    let mut input_bytes = Vec::with_capacity(days.len());
    for day in &days {
        let data = std::fs::read(day).with_context(|| format!("reading {}", day.display()))?;
        input_bytes.push(data.len() as u64);
        candidates.par_iter_mut().for_each(|c| c.add_day(&data));
    }
    let later_days = (days.len() - 1) as f64;
    let mean_input = input_bytes.iter().sum::<u64>() as f64 / days.len() as f64;

    println!(
        "\n### {} — {} days of *.{ext}, {:.1} MB per day on average (measured in {:.0} s)\n",
        dir.display(),
        days.len(),
        mb(mean_input),
        started.elapsed().as_secs_f64()
    );
    println!(
        "| avg | min | max | day 1 MB | day 1 zstd MB | new MB/day | new zstd MB/day | new/day % of dump | chunks | index |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for c in &candidates {
        let (first_raw, first_zstd) = c.days[0];
        let later_raw = c.days[1..].iter().map(|d| d.0).sum::<u64>() as f64 / later_days;
        let later_zstd = c.days[1..].iter().map(|d| d.1).sum::<u64>() as f64 / later_days;
        let chunks = c.seen.len() as u64;
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.2} | {} | {:.2} MB |",
            size_label(c.params.avg_size),
            size_label(c.params.min_size),
            size_label(c.params.max_size),
            mb(first_raw as f64),
            mb(first_zstd as f64),
            mb(later_raw),
            mb(later_zstd),
            100.0 * later_raw / mean_input,
            chunks,
            mb((chunks * INDEX_ENTRY_BYTES) as f64),
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench` to every bench binary; ignore such flags.
    let mut dir = std::env::var_os("COFFER_DEDUP_DIR").map(PathBuf::from);
    let mut exts = vec![];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ext" => exts.push(args.next().context("--ext needs dump or sql")?),
            a if a.starts_with("--") => {}
            a => dir = Some(PathBuf::from(a)),
        }
    }
    let Some(dir) = dir else {
        eprintln!(
            "dedup_params: no series given; run\n  \
             cargo bench --bench dedup_params -- DIR [--ext dump|sql]\n\
             with DIR made by benches/data/gen-erp-series.sh (or set COFFER_DEDUP_DIR)"
        );
        return Ok(());
    };
    if exts.is_empty() {
        for ext in ["dump", "sql"] {
            if !days_in(&dir, ext)?.is_empty() {
                exts.push(ext.to_owned());
            }
        }
    }
    if exts.is_empty() {
        bail!(
            "{} holds no day-NNN.dump or day-NNN.sql files",
            dir.display()
        );
    }
    for ext in &exts {
        measure(&dir, ext)?;
    }
    Ok(())
}
