//! Throughput of the whole blob pipeline through the store's public API, on an
//! in-memory repository: a first backup of a 64 MiB pg_dump-like stream (chunk,
//! hash, compress, seal, pack), the same stream again (all chunks known: the
//! dedup path), and a stream restore of it (ranged reads, open, verify).
//!
//! `cargo bench --bench pipeline` takes about a minute.

use coffer_store::backend::Backend;
use coffer_store::backup::{BackupOptions, ParentChoice, Source, backup};
use coffer_store::crypto::KdfParams;
use coffer_store::format::tree::NodeKind;
use coffer_store::progress::NoProgress;
use coffer_store::repo::{CacheLocation, InitOptions, Repository};
use coffer_store::{restore, tree};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::time::{Duration, SystemTime};

const INPUT_LEN: usize = 64 << 20;

/// pg_dump-like COPY rows with the repetition real dumps have.
fn dump_text(len: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(len + 256);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut id = 0u64;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        id += 1;
        let _ = writeln!(
            out,
            "{id}\tFA{:04}-{:04}\t{}\t{}.{:02}\t2026-{:02}-{:02} 10:{:02}:00\tclient {}\tpaid",
            x % 10_000,
            id % 10_000,
            x % 977,
            x % 100_000,
            x % 100,
            x % 12 + 1,
            x % 28 + 1,
            x % 60,
            x % 5000
        );
    }
    out.truncate(len);
    out
}

fn fresh_repo() -> Repository {
    let opts = InitOptions {
        kdf: KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        ..Default::default()
    };
    Repository::init(
        Backend::in_memory(),
        b"bench",
        &opts,
        SystemTime::UNIX_EPOCH,
        CacheLocation::Temporary,
    )
    .expect("init")
}

fn backup_stream(repo: &Repository, data: &'static [u8]) -> coffer_store::backup::BackupReport {
    let mut opts = BackupOptions::new(SystemTime::UNIX_EPOCH);
    opts.parent = ParentChoice::None;
    backup(
        repo,
        vec![Source::Stdin {
            name: "db/erp.dump".into(),
            reader: Box::new(data),
        }],
        &opts,
        &NoProgress,
    )
    .expect("backup")
}

fn pipeline(c: &mut Criterion) {
    let data: &'static [u8] = Box::leak(dump_text(INPUT_LEN).into_boxed_slice());
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Bytes(INPUT_LEN as u64));

    g.bench_function("first backup (64 MiB dump text)", |b| {
        b.iter_with_setup(fresh_repo, |repo| backup_stream(&repo, data))
    });

    let repo = fresh_repo();
    let first = backup_stream(&repo, data);
    g.bench_function("unchanged re-backup (dedup path)", |b| {
        b.iter(|| backup_stream(&repo, data))
    });

    let node = tree::resolve_path(&repo, &first.snapshot.root, "db/erp.dump")
        .expect("resolve")
        .expect("present");
    let NodeKind::File { content } = node.kind else {
        panic!("not a file")
    };
    g.bench_function("stream restore", |b| {
        b.iter(|| {
            restore::write_content(&repo, &content, &mut std::io::sink(), &NoProgress)
                .expect("restore")
        })
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
