//! `fixtures/vectors/format-v1.json`: the numbers a reader written from
//! FORMAT.md alone can test itself against.
//!
//! Every vector is recomputed here, mostly with the primitive crates directly
//! (blake3, chacha20poly1305, argon2, a hand-written record layout) and then
//! cross-checked against what `coffer_store` does, so the file holds what the
//! format says and the store agrees with it. When the recomputation differs from
//! the checked-in file the test fails and names the command that rewrites it
//! (BLAKE3's `test_checked_in_vectors_up_to_date` is the model). A difference
//! means this build writes format version 1 differently: regenerate only for a
//! deliberate change that FORMAT.md also records.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use coffer_chunker::{ChunkIdKey, ChunkerParams, chunk_boundaries};
use coffer_store::crypto::{self, Domain, KdfParams, MasterKey};
use coffer_store::format::tree::{CONTENT_FANOUT, DIR_FANOUT};
use serde_json::{Value, json};

const REGENERATE: &str = "COFFER_REGENERATE_VECTORS=1 cargo test --release --test format";
const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/vectors/format-v1.json"
);

/// The master secret of every vector: bytes 0x00, 0x01, ..., 0x1f.
pub(crate) fn master_secret() -> [u8; 32] {
    std::array::from_fn(|i| u8::try_from(i).unwrap())
}

/// Fixed nonces (real writers draw them at random): 24 bytes equal to `n`.
pub(crate) fn nonce(n: u8) -> [u8; 24] {
    [n; 24]
}

pub(crate) fn encryption_key() -> [u8; 32] {
    blake3::derive_key(crypto::CONTEXT_ENCRYPTION, &master_secret())
}

pub(crate) fn chunk_id_key() -> [u8; 32] {
    blake3::derive_key(crypto::CONTEXT_CHUNK_ID, &master_secret())
}

pub(crate) fn chunker_seed() -> u64 {
    let k = blake3::derive_key(crypto::CONTEXT_CHUNKER_SEED, &master_secret());
    u64::from_le_bytes(k[..8].try_into().unwrap())
}

/// `nonce || XChaCha20-Poly1305(key, nonce, aad, plaintext) || tag`, computed
/// with the AEAD crate, not through the store.
pub(crate) fn seal(key: &[u8; 32], nonce: [u8; 24], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*key));
    let ct = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

pub(crate) fn argon2id(password: &[u8], salt: &[u8], p: KdfParams) -> [u8; 32] {
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32)).unwrap();
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    a.hash_password_into(password, salt, &mut out).unwrap();
    out
}

pub(crate) fn id(fill: u8) -> [u8; 32] {
    [fill; 32]
}

/// The AAD strings, as FORMAT.md lists them.
const DOMAINS: [(Domain, &str, &str); 8] = [
    (Domain::Config, "config", "coffer:config"),
    (Domain::Index, "index", "coffer:index"),
    (Domain::Snapshot, "snapshot", "coffer:snapshot"),
    (Domain::PackTrailer, "pack trailer", "coffer:pack-trailer"),
    (Domain::Blob, "blob", "coffer:blob"),
    (Domain::Lock, "lock", "coffer:lock"),
    (Domain::Condemned, "condemned", "coffer:condemned"),
    (Domain::Catalogue, "catalogue", "coffer:catalogue"),
];
pub(crate) const MASTER_KEY_AAD: &str = "coffer:master-key";

// ---------------------------------------------------------------------------
// Keys, ids, sealing, argon2id.

fn keys_section() -> Value {
    let m = master_secret();
    let store_key = MasterKey::from_secret(m);
    let seed = chunker_seed();
    assert_eq!(
        store_key.chunker_seed(),
        seed,
        "store derives another chunker seed"
    );
    let contexts = [
        (
            crypto::CONTEXT_ENCRYPTION,
            "XChaCha20-Poly1305 key for every object sealed under the master key",
        ),
        (
            crypto::CONTEXT_CHUNK_ID,
            "BLAKE3 key of blob ids (keyed_hash) and tree piece boundaries",
        ),
        (
            crypto::CONTEXT_CHUNKER_SEED,
            "source of the gear seed chosen at init (first 8 bytes, little-endian)",
        ),
    ];
    let chunk_input = b"COPY public.llx_facture (rowid, ref) FROM stdin;\n";
    let chunk_id = ChunkIdKey::new(chunk_id_key()).id(chunk_input);
    assert_eq!(store_key.chunk_ids().id(chunk_input), chunk_id);
    json!({
        "master_secret": hex::encode(m),
        "derive_key": contexts.iter().map(|(ctx, purpose)| json!({
            "context": ctx,
            "purpose": purpose,
            "key": hex::encode(blake3::derive_key(ctx, &m)),
        })).collect::<Vec<_>>(),
        "chunker_seed": {
            "hex": format!("{seed:#018x}"),
            "decimal": seed.to_string(),
        },
        "chunk_id": {
            "key": hex::encode(chunk_id_key()),
            "input_utf8": std::str::from_utf8(chunk_input).unwrap(),
            "id": hex::encode(chunk_id),
        },
    })
}

fn aead_section() -> Value {
    let key = encryption_key();
    let store_key = MasterKey::from_secret(master_secret());
    let plaintext = b"coffer format v1";
    let mut seals = Vec::new();
    for (i, (domain, name, aad)) in DOMAINS.iter().enumerate() {
        assert_eq!(domain.aad(), aad.as_bytes(), "AAD of {name} changed");
        let n = nonce(0x10 + u8::try_from(i).unwrap());
        let sealed = seal(&key, n, aad.as_bytes(), plaintext);
        assert_eq!(sealed.len(), plaintext.len() + crypto::SEAL_OVERHEAD);
        assert_eq!(store_key.open(*domain, &sealed).unwrap(), plaintext);
        seals.push(json!({
            "object": name,
            "aad_utf8": aad,
            "key": hex::encode(key),
            "nonce": hex::encode(n),
            "plaintext_hex": hex::encode(plaintext),
            "sealed_hex": hex::encode(&sealed),
        }));
    }
    assert_eq!(Domain::MasterKey.aad(), MASTER_KEY_AAD.as_bytes());
    Value::Array(seals)
}

fn argon2_section() -> Value {
    let cases = [
        (
            "coffer-vector",
            KdfParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
        ),
        (
            "correct horse battery staple",
            KdfParams {
                memory_kib: 256,
                iterations: 2,
                parallelism: 2,
            },
        ),
    ];
    let salt: [u8; 16] = std::array::from_fn(|i| 0xa0 + u8::try_from(i).unwrap());
    Value::Array(
        cases
            .iter()
            .map(|(pw, p)| {
                let out = argon2id(pw.as_bytes(), &salt, *p);
                let store = crypto::derive_wrapping_key(pw.as_bytes(), &salt, *p).unwrap();
                assert_eq!(*store, out, "store's argon2id differs");
                json!({
                    "password_utf8": pw,
                    "salt": hex::encode(salt),
                    "memory_kib": p.memory_kib,
                    "iterations": p.iterations,
                    "parallelism": p.parallelism,
                    "version": "0x13",
                    "output_length": 32,
                    "key": hex::encode(out),
                })
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Chunking and tree pieces.

const CHUNKER_INPUT_KEY: &[u8] = b"coffer format v1 chunker input";

/// 1 MiB: the first 1,048,576 bytes of BLAKE3's extendable output for
/// `CHUNKER_INPUT_KEY` (plain `hash` mode).
fn chunker_input() -> Vec<u8> {
    let mut out = vec![0u8; 1 << 20];
    blake3::Hasher::new()
        .update(CHUNKER_INPUT_KEY)
        .finalize_xof()
        .fill(&mut out);
    out
}

fn chunking_section() -> Value {
    let input = chunker_input();
    let ids = ChunkIdKey::new(chunk_id_key());
    let cases = [
        (
            "sizes 16/64/256 KiB, seed derived from the master secret, with chunk ids",
            // Explicit sizes: the crate's defaults are a writer's choice and may change.
            ChunkerParams {
                min_size: 16_384,
                avg_size: 65_536,
                max_size: 262_144,
                seed: chunker_seed(),
            },
            true,
        ),
        (
            "small sizes, seed 0 (the unkeyed gear table)",
            ChunkerParams {
                min_size: 2048,
                avg_size: 8192,
                max_size: 32_768,
                seed: 0,
            },
            false,
        ),
    ];
    let cases: Vec<Value> = cases
        .iter()
        .map(|(what, p, with_ids)| {
            let ranges = chunk_boundaries(&input, p);
            let mut case = json!({
                "what": what,
                "min_size": p.min_size,
                "avg_size": p.avg_size,
                "max_size": p.max_size,
                "seed_hex": format!("{:#018x}", p.seed),
                "chunk_ends": ranges.iter().map(|r| r.end).collect::<Vec<_>>(),
            });
            if *with_ids {
                case["chunk_ids"] = ranges
                    .iter()
                    .map(|r| hex::encode(ids.id(&input[r.clone()])))
                    .collect();
            }
            case
        })
        .collect();
    json!({
        "input": format!(
            "the first 1048576 bytes of the BLAKE3 extendable output (unkeyed hash mode) of the {} ASCII bytes {:?}",
            CHUNKER_INPUT_KEY.len(),
            std::str::from_utf8(CHUNKER_INPUT_KEY).unwrap()
        ),
        "input_blake3": blake3::hash(&input).to_hex().to_string(),
        "chunk_id_key": hex::encode(chunk_id_key()),
        "cases": cases,
    })
}

fn tree_pieces_section() -> Value {
    let ids = ChunkIdKey::new(chunk_id_key());
    let ends: Vec<Value> = (0..512)
        .map(|i| format!("file-{i:04}"))
        .filter_map(|name| {
            let h = ids.id(name.as_bytes());
            let v = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            (v % DIR_FANOUT == 0).then(|| json!({ "name": name, "u32_le": v }))
        })
        .collect();
    json!({
        "rule": "an item ends a piece when u32::from_le_bytes(first 4 bytes of h) % fanout == 0; for directory entries h = keyed_hash(chunk id key, name bytes)",
        "chunk_id_key": hex::encode(chunk_id_key()),
        "dir_fanout": DIR_FANOUT,
        "content_fanout": CONTENT_FANOUT,
        "names": "file-0000 to file-0511 (ASCII)",
        "names_that_end_a_directory_piece": ends,
    })
}

pub(crate) fn compute(previous: Option<&Value>) -> Value {
    json!({
        "about": "coffer repository format version 1 test vectors; see store/FORMAT.md, section Test vectors. Byte strings are lowercase hex.",
        "regenerate": REGENERATE,
        "keys": keys_section(),
        "aead": aead_section(),
        "argon2id": argon2_section(),
        "records": crate::records::records_section(),
        "repository": crate::tiny_repo::repository_section(previous),
        "chunking": chunking_section(),
        "tree_pieces": tree_pieces_section(),
    })
}

pub(crate) fn checked_in() -> Option<Value> {
    let text = std::fs::read_to_string(FILE).ok()?;
    serde_json::from_str(&text).ok()
}

#[test]
fn checked_in_vectors_are_up_to_date() {
    let previous = checked_in();
    let computed = compute(previous.as_ref());
    if std::env::var_os("COFFER_REGENERATE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&computed).unwrap() + "\n";
        std::fs::create_dir_all(std::path::Path::new(FILE).parent().unwrap()).unwrap();
        std::fs::write(FILE, text).unwrap();
        eprintln!("rewrote {FILE}");
        return;
    }
    let Some(previous) = previous else {
        panic!("{FILE} is missing or not JSON; write it with:\n    {REGENERATE}");
    };
    if previous != computed {
        let stale: Vec<&String> = computed
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, v)| previous.get(k.as_str()) != Some(v))
            .map(|(k, _)| k)
            .collect();
        panic!(
            "the checked-in vectors in {FILE} differ from what this build computes \
             (sections {stale:?}).\n\
             This build reads or writes format version 1 differently: a format break \
             unless the change is deliberate and store/FORMAT.md records it. Only then \
             regenerate with:\n    {REGENERATE}"
        );
    }
}
