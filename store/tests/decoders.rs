//! Corpus replay of every decoder of repository bytes, on stable, in the normal
//! `cargo test`: the same entry points the fuzz targets call
//! (`coffer_store::untrusted`), fed with seeds made from the fixtures, every
//! file under `fuzz/corpus/<target>/` (the committed seeds and anything a fuzz
//! run kept), and deterministic mutations of each. Every input must come back
//! `Ok` or `Err`: a panic fails the test, and so does one allocation larger
//! than [`LIMIT`] (the capped allocator below refuses it and the process aborts
//! naming the size), which is what a length prefix trusted too far looks like.
//!
//! `COFFER_WRITE_FUZZ_SEEDS=1 cargo test --release -p coffer-store --test decoders`
//! rewrites `fuzz/corpus/*/seed-*` from the fixtures.

#![allow(clippy::unwrap_used)]

use cap::Cap;
use coffer_store::Repository;
use coffer_store::backend::Backend;
use coffer_store::codec;
use coffer_store::crypto::Domain;
use coffer_store::format::{config, key, pack};
use coffer_store::repo::CacheLocation;
use coffer_store::untrusted::Decoder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every allocation in this test binary counts against the cap: the test's own
/// data stays far below it, an absurd one (gigabytes for a claimed length) does not.
const LIMIT: usize = 1 << 30;

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, LIMIT);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Valid inputs for each decoder, from `fixtures/vectors` and `fixtures/repo-v1`.
fn seeds() -> BTreeMap<&'static str, Vec<(String, Vec<u8>)>> {
    let mut out: BTreeMap<&'static str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut add = |d: Decoder, name: String, bytes: Vec<u8>| {
        out.entry(d.name()).or_default().push((name, bytes));
    };
    let vectors: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace().join("fixtures/vectors/format-v1.json")).unwrap(),
    )
    .unwrap();
    for (i, r) in vectors["records"].as_array().unwrap().iter().enumerate() {
        let bytes = hex::decode(r["hex"].as_str().unwrap()).unwrap();
        let name = format!("seed-vector-{i}");
        match r["tag"].as_u64().unwrap() {
            1 => add(Decoder::Config, name, config::frame(&bytes)),
            2 => add(Decoder::KeyFile, name, key::frame(&bytes)),
            3 => {
                // A pack of no blobs but the trailer's claims would fail the
                // entry check; that is a seed of the failing path, still useful.
                let mut tail = vec![0u8; 4096];
                tail.extend_from_slice(&bytes);
                tail.extend_from_slice(&pack::footer(bytes.len()));
                add(Decoder::Pack, name, tail);
            }
            4 => add(Decoder::Index, name, bytes),
            5 => add(Decoder::Snapshot, name, bytes),
            6 => add(Decoder::Tree, name, bytes),
            // Lock, condemned and catalogue records (prune's, compaction's):
            // no decoder target of their own yet.
            7..=9 => {}
            other => panic!("unknown record tag {other} in the vectors"),
        }
    }

    let fixture = workspace().join("fixtures/repo-v1");
    let backend = Backend::open(fixture.to_str().unwrap(), false).unwrap();
    let repo = Repository::open(backend, b"coffer-fixture", CacheLocation::Temporary).unwrap();
    let get = |name: &str| repo.backend().get(name).unwrap().unwrap().to_vec();
    let list = |prefix: &str| repo.backend().list(prefix).unwrap();
    let (_, sealed) = config::unframe(&get("config"))
        .map(|(v, s)| (v, s.to_vec()))
        .unwrap();
    let plain = repo.key().open(Domain::Config, &sealed).unwrap();
    add(
        Decoder::Config,
        "seed-repo-v1".into(),
        config::frame(&plain),
    );
    for (name, _) in list("keys") {
        add(Decoder::KeyFile, "seed-repo-v1".into(), get(&name));
    }
    for (i, (name, _)) in list("index").into_iter().enumerate() {
        let plain = repo.key().open(Domain::Index, &get(&name)).unwrap();
        add(Decoder::Index, format!("seed-repo-v1-{i}"), plain);
    }
    for (i, (name, _)) in list("snapshots").into_iter().enumerate() {
        let plain = repo.key().open(Domain::Snapshot, &get(&name)).unwrap();
        add(Decoder::Snapshot, format!("seed-repo-v1-{i}"), plain);
    }
    let mut trees = 0;
    let mut blobs = 0;
    for (i, (name, size)) in list("data").into_iter().enumerate() {
        let bytes = get(&name);
        let footer = &bytes[bytes.len() - pack::FOOTER_LEN..];
        let range = pack::trailer_range(size, footer).unwrap();
        let start = usize::try_from(range.start).unwrap();
        let end = usize::try_from(range.end).unwrap();
        let plain = repo
            .key()
            .open(Domain::PackTrailer, &bytes[start..end])
            .unwrap();
        let trailer: pack::PackTrailer = codec::decode(&plain).unwrap();
        // The pack with its trailer unsealed: a real blob area and entries that fit.
        let mut tail = bytes[..start].to_vec();
        tail.extend_from_slice(&plain);
        tail.extend_from_slice(&pack::footer(plain.len()));
        add(Decoder::Pack, format!("seed-repo-v1-{i}"), tail);
        for b in &trailer.blobs {
            let from = usize::try_from(b.offset).unwrap();
            let sealed = &bytes[from..from + b.length as usize];
            let framed = repo.key().open(Domain::Blob, sealed).unwrap();
            let is_tree = b.kind == pack::BlobKind::Tree;
            // A handful of each is variety enough; the rest are alike.
            if (is_tree && trees < 12) || (!is_tree && blobs < 6) {
                let mut input = b.raw_length.to_le_bytes().to_vec();
                input.extend_from_slice(&framed);
                add(
                    Decoder::Blob,
                    format!("seed-repo-v1-{}", b.id.short()),
                    input,
                );
                blobs += 1;
            }
            if is_tree && trees < 12 {
                let plain =
                    coffer_store::compress::decode_blob(&framed, b.raw_length as usize).unwrap();
                add(
                    Decoder::Tree,
                    format!("seed-repo-v1-{}", b.id.short()),
                    plain,
                );
                trees += 1;
            }
        }
    }
    out
}

/// Files a fuzz run left (or committed seeds) for one target.
fn corpus_files(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = workspace().join("fuzz/corpus").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Deterministic damage: bit flips, truncations, huge varints spliced in
/// (a length prefix claiming 2^63 items), bytes dropped and repeated.
fn mutations(input: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n = input.len();
    // At most ~64 positions per kind, spread over the input.
    let step = (n / 64).max(1);
    for pos in (0..n).step_by(step) {
        for bit in [0u8, 3, 7] {
            let mut m = input.to_vec();
            m[pos] ^= 1 << bit;
            out.push(m);
        }
        out.push(input[..pos].to_vec());
        let mut huge = input[..pos].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        huge.extend_from_slice(&input[pos..]);
        out.push(huge);
        let mut replaced = input.to_vec();
        let end = (pos + 5).min(n);
        replaced.splice(pos..end, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        out.push(replaced);
        let mut dropped = input.to_vec();
        dropped.remove(pos);
        out.push(dropped);
        let mut doubled = input.to_vec();
        doubled.insert(pos, input[pos]);
        out.push(doubled);
    }
    out.push(Vec::new());
    out
}

fn survives(d: Decoder, input: &[u8]) -> Result<bool, String> {
    std::panic::catch_unwind(|| d.run(input).is_ok()).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn every_decoder_survives_its_corpus_and_mutations() {
    let seeds = seeds();
    if std::env::var_os("COFFER_WRITE_FUZZ_SEEDS").is_some() {
        for (target, inputs) in &seeds {
            let dir = workspace().join("fuzz/corpus").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in inputs {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
    let mut panics = Vec::new();
    for d in Decoder::ALL {
        let own = seeds.get(d.name()).cloned().unwrap_or_default();
        assert!(!own.is_empty(), "no seed for {}", d.name());
        // Seeds from the repository fixture are real objects: they must decode.
        for (name, bytes) in own.iter().filter(|(n, _)| n.starts_with("seed-repo-v1")) {
            assert_eq!(
                survives(d, bytes),
                Ok(true),
                "{} {name} must decode",
                d.name()
            );
            // A record is exactly as long as its fields: any cut is noticed.
            for cut in (0..bytes.len()).step_by((bytes.len() / 97).max(1)) {
                assert_eq!(
                    survives(d, &bytes[..cut]),
                    Ok(false),
                    "{} {name} cut to {cut} bytes must be refused",
                    d.name()
                );
            }
        }
        let mut inputs = own;
        inputs.extend(corpus_files(d.name()));
        let mut tried = 0usize;
        let mut refused = 0usize;
        for (name, bytes) in &inputs {
            for m in std::iter::once(bytes.clone()).chain(mutations(bytes)) {
                tried += 1;
                match survives(d, &m) {
                    Ok(true) => {}
                    Ok(false) => refused += 1,
                    Err(msg) => {
                        panics.push(format!("{} {name} ({} bytes): {msg}", d.name(), m.len()))
                    }
                }
            }
        }
        // Plaintext has no integrity of its own (the AEAD gives it), so a flipped
        // bit in an id or a name decodes; damage to the structure must not.
        assert!(
            refused * 5 > tried,
            "{}: only {refused} of {tried} damaged inputs refused",
            d.name()
        );
    }
    assert!(
        panics.is_empty(),
        "decoders panicked:\n{}",
        panics.join("\n")
    );
}

#[test]
fn a_claimed_length_is_refused_without_allocating_it() {
    // 4 GiB claimed by a blob: refused before zstd preallocates it.
    let mut input = u32::MAX.to_le_bytes().to_vec();
    input.push(1);
    input.extend_from_slice(&zstd::bulk::compress(b"x", 3).unwrap());
    let err = Decoder::Blob.run(&input).unwrap_err();
    assert!(err.contains("more than any blob may hold"), "{err}");
    // A directory piece whose entry count says 2^63: postcard reserves
    // cautiously, so this is a short read error, not an allocation.
    let mut tree = vec![0x06, 1, 0];
    tree.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(Decoder::Tree.run(&tree).is_err());
}

#[test]
fn a_key_file_asking_for_an_absurd_argon2_cost_is_refused_before_hashing() {
    use coffer_store::crypto::{KdfParams, derive_wrapping_key};
    let hostile = KdfParams {
        memory_kib: u32::MAX,
        iterations: u32::MAX,
        parallelism: 1,
    };
    let err = derive_wrapping_key(b"pw", &[0; 16], hostile).unwrap_err();
    assert!(err.contains("above the ceiling"), "{err}");
}
