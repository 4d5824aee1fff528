//! Throughput of the CPU stages a backup runs on every byte, on 64 MiB inputs:
//! cut points (random bytes, and pg_dump-like text), keyed BLAKE3 chunk ids
//! (one thread, and rayon across chunks), and zstd level 3 on the text chunks.
//!
//! `cargo bench --bench chunking` takes about a minute; sample counts are small
//! because each iteration already covers 64 MiB.

use std::hint::black_box;
use std::ops::Range;
use std::time::Duration;

use coffer_chunker::{ChunkIdKey, ChunkerParams, chunk_boundaries};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;

const INPUT_LEN: usize = 64 << 20;

/// xorshift64*: deterministic bytes that look random to a chunker.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// pg_dump-like text: INSERT statements and COPY blocks of tab-separated rows,
/// with the repetition real dumps have.
fn sql_text(len: usize) -> Vec<u8> {
    use std::io::Write;

    let mut rng = Rng(0x5eed_0000_c0ff_ee00);
    let mut out = Vec::with_capacity(len + 4096);
    let mut id = 100_000u64;
    while out.len() < len {
        for _ in 0..rng.below(20) {
            id += 1;
            let _ = writeln!(
                out,
                "INSERT INTO public.customer (id, name, city, credit_limit) VALUES ({id}, 'Customer {}', 'City {}', {}.00);",
                rng.below(1_000_000),
                rng.below(500),
                rng.below(100_000),
            );
        }
        out.extend_from_slice(
            b"COPY public.invoice_line (id, invoice_id, sku, qty, price, note) FROM stdin;\n",
        );
        for _ in 0..20 + rng.below(400) {
            id += 1;
            let _ = writeln!(
                out,
                "{id}\t{}\tSKU-{:05}\t{}\t{}.{:02}\tdelivered to warehouse {}\t2025-{:02}-{:02}",
                id / 7,
                rng.below(100_000),
                1 + rng.below(50),
                rng.below(10_000),
                rng.below(100),
                1 + rng.below(12),
                1 + rng.below(12),
                1 + rng.below(28),
            );
        }
        out.extend_from_slice(b"\\.\n\n");
    }
    out.truncate(len);
    out
}

fn slices<'a>(data: &'a [u8], ranges: &[Range<usize>]) -> Vec<&'a [u8]> {
    ranges.iter().map(|r| &data[r.clone()]).collect()
}

fn bytes_throughput(data: &[u8]) -> Throughput {
    Throughput::Bytes(u64::try_from(data.len()).unwrap_or(u64::MAX))
}

fn benches(c: &mut Criterion) {
    let params = ChunkerParams::with_seed(0x0123_4567_89ab_cdef);
    let key = ChunkIdKey::new([7; 32]);
    let random = random_bytes(INPUT_LEN);
    let sql = sql_text(INPUT_LEN);
    let random_chunks = chunk_boundaries(&random, &params);
    let sql_chunks = chunk_boundaries(&sql, &params);
    for (name, chunks) in [("random", &random_chunks), ("sql", &sql_chunks)] {
        eprintln!(
            "{name}: {} chunks, mean {} KiB",
            chunks.len(),
            INPUT_LEN / chunks.len().max(1) / 1024
        );
    }

    let mut group = c.benchmark_group("chunk_boundaries");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(SamplingMode::Flat);
    for (name, data) in [("random", &random), ("sql", &sql)] {
        group.throughput(bytes_throughput(data));
        group.bench_function(name, |b| {
            b.iter(|| chunk_boundaries(black_box(data), &params));
        });
    }
    group.finish();

    let random_slices = slices(&random, &random_chunks);
    let mut group = c.benchmark_group("chunk_id_blake3_keyed");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(SamplingMode::Flat)
        .throughput(bytes_throughput(&random));
    group.bench_function("sequential", |b| {
        b.iter(|| {
            black_box(&random_slices)
                .iter()
                .map(|chunk| key.id(chunk))
                .collect::<Vec<_>>()
        });
    });
    group.bench_function("rayon_across_chunks", |b| {
        b.iter(|| {
            black_box(&random_slices)
                .par_iter()
                .map(|chunk| key.id(chunk))
                .collect::<Vec<_>>()
        });
    });
    group.finish();

    let sql_slices = slices(&sql, &sql_chunks);
    let compressed: usize = sql_slices
        .par_iter()
        .map(|chunk| zstd::bulk::compress(chunk, 3).map_or(0, |z| z.len()))
        .sum();
    eprintln!(
        "sql: zstd level 3 per chunk compresses {INPUT_LEN} bytes to {compressed} ({:.1}x)",
        INPUT_LEN as f64 / compressed.max(1) as f64
    );
    let mut group = c.benchmark_group("zstd_level3_sql_chunks");
    // An iteration takes about half a second on two cores; ten need more than 5 s.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .sampling_mode(SamplingMode::Flat)
        .throughput(bytes_throughput(&sql));
    group.bench_function("rayon_across_chunks", |b| {
        b.iter(|| {
            black_box(&sql_slices)
                .par_iter()
                .map_init(
                    // One context per worker, as a backup pipeline keeps them.
                    || zstd::bulk::Compressor::new(3),
                    |compressor, chunk| match compressor {
                        Ok(compressor) => compressor.compress(chunk).map(|z| z.len()),
                        Err(err) => Err(std::io::Error::new(err.kind(), err.to_string())),
                    },
                )
                .collect::<Result<Vec<_>, _>>()
                .expect("zstd compression failed")
        });
    });
    group.finish();
}

criterion_group!(chunking, benches);
criterion_main!(chunking);
