//! A whole repository built object by object from the primitives (the
//! `repository` section of the vectors), and proof that the store opens,
//! reads and checks it.

use crate::vectors::{
    MASTER_KEY_AAD, argon2id, checked_in, chunk_id_key, chunker_seed, compute, encryption_key, id,
    master_secret, nonce, seal,
};
use coffer_chunker::ChunkIdKey;
use coffer_store::backend::Backend;
use coffer_store::check::{CheckOptions, check};
use coffer_store::codec;
use coffer_store::compress;
use coffer_store::crypto::KdfParams;
use coffer_store::format::config::{self, ChunkerRecord, Config};
use coffer_store::format::index::{IndexFile, IndexedPack};
use coffer_store::format::key::{self, KeyFile};
use coffer_store::format::layout as names;
use coffer_store::format::pack::{self, BlobEntry, BlobKind, PackTrailer};
use coffer_store::format::snapshot::{Snapshot, Summary};
use coffer_store::format::tree::{ChunkRef, Content, Node, NodeKind, TreeBlob};
use coffer_store::id::{BlobId, IndexId, KeyId, PackId, SnapshotId};
use coffer_store::progress::NoProgress;
use coffer_store::repo::{CacheLocation, Repository};
use serde_json::{Value, json};

pub const VECTOR_PASSWORD: &str = "coffer-vector";
const T0: i64 = 1_793_581_200_000_000_000;

fn hello() -> Vec<u8> {
    b"Bonjour, coffer!\n".to_vec()
}

fn dump() -> Vec<u8> {
    let mut d = b"COPY public.llx_facture (rowid, ref) FROM stdin;\n".to_vec();
    for i in 1..=40 {
        d.extend_from_slice(format!("{i}\tFA2601-{i:04}\n").as_bytes());
    }
    d.extend_from_slice(b"\\.\n");
    d
}

struct Blob {
    what: &'static str,
    kind: BlobKind,
    /// What the id hashes and `raw_length` counts.
    data: Vec<u8>,
    /// Mode byte and payload: the plaintext that is sealed.
    framed: Vec<u8>,
}

fn raw_blob(what: &'static str, kind: BlobKind, data: Vec<u8>) -> Blob {
    let mut framed = vec![compress::MODE_RAW];
    framed.extend_from_slice(&data);
    Blob {
        what,
        kind,
        data,
        framed,
    }
}

/// zstd's output may change between library versions without any format
/// change; the checked-in frame is kept for as long as it still decodes.
fn zstd_frame(data: &[u8], previous: Option<&Value>) -> Vec<u8> {
    let kept = previous
        .and_then(|p| p.pointer("/repository/zstd_frame_hex"))
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .filter(|f| zstd::bulk::decompress(f, data.len()).ok().as_deref() == Some(data));
    kept.unwrap_or_else(|| zstd::bulk::compress(data, 3).unwrap())
}

pub(crate) fn repository_section(previous: Option<&Value>) -> Value {
    let enc = encryption_key();
    let ids = ChunkIdKey::new(chunk_id_key());
    let mut objects: Vec<Value> = Vec::new();
    let mut object = |name: String, bytes: &[u8], what: &str, plaintext: Option<&[u8]>| {
        let mut o = json!({ "name": name, "what": what, "hex": hex::encode(bytes) });
        if let Some(p) = plaintext {
            o["plaintext_hex"] = json!(hex::encode(p));
        }
        objects.push(o);
    };

    // Key file: the master secret wrapped under the password.
    let kdf = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let salt: Vec<u8> = (0x30..0x40).collect();
    let wrapping = argon2id(VECTOR_PASSWORD.as_bytes(), &salt, kdf);
    let key_file = KeyFile {
        kdf,
        salt,
        wrapped_master: seal(
            &wrapping,
            nonce(0x29),
            MASTER_KEY_AAD.as_bytes(),
            &master_secret(),
        ),
        created_unix_ns: T0,
        host: "vector-host".into(),
        username: "coffer".into(),
    };
    let key_record = codec::encode(&key_file);
    let mut key_object = b"COFFERKY".to_vec();
    key_object.extend_from_slice(&1u32.to_le_bytes());
    key_object.extend_from_slice(&key_record);
    assert_eq!(key_object, key::frame(&key_record));
    object(
        names::key(&KeyId(id(0x4b))),
        &key_object,
        "key file: magic, u32 LE 1, KeyFile record (not sealed)",
        None,
    );

    // Config.
    let config = Config {
        repo_id: id(0x52),
        chunker: ChunkerRecord {
            min_size: 16_384,
            avg_size: 65_536,
            max_size: 262_144,
            seed: chunker_seed(),
        },
        pack_target_size: 16 << 20,
        zstd_level: 3,
        created_unix_ns: T0,
    };
    let config_plain = codec::encode(&config);
    let mut config_object = b"COFFERRP".to_vec();
    config_object.extend_from_slice(&1u32.to_le_bytes());
    config_object.extend_from_slice(&seal(&enc, nonce(0x28), b"coffer:config", &config_plain));
    assert_eq!(
        config::unframe(&config_object).unwrap().0,
        coffer_store::format::FORMAT_VERSION
    );
    object(
        names::CONFIG.to_string(),
        &config_object,
        "config: magic, u32 LE format version 1, sealed Config record",
        Some(&config_plain),
    );

    // Blobs: two files and two directories.
    let hello = hello();
    let dump = dump();
    let hello_id = BlobId(ids.id(&hello));
    let dump_id = BlobId(ids.id(&dump));
    let frame = zstd_frame(&dump, previous);
    let mut dump_framed = vec![compress::MODE_ZSTD];
    dump_framed.extend_from_slice(&frame);
    let db_tree = TreeBlob::DirLeaf(vec![Node {
        name: b"erp.sql".to_vec(),
        kind: NodeKind::File {
            content: Content::Inline(vec![ChunkRef {
                id: dump_id,
                length: u32::try_from(dump.len()).unwrap(),
            }]),
        },
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime_unix_ns: T0,
        ctime_unix_ns: T0,
        inode: 0,
        size: dump.len() as u64,
    }]);
    let db_bytes = codec::encode(&db_tree);
    let db_id = BlobId(ids.id(&db_bytes));
    let root_tree = TreeBlob::DirLeaf(vec![
        Node {
            name: b"db".to_vec(),
            kind: NodeKind::Dir { tree: db_id },
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime_unix_ns: T0,
            ctime_unix_ns: T0,
            inode: 0,
            size: 0,
        },
        Node {
            name: b"hello.txt".to_vec(),
            kind: NodeKind::File {
                content: Content::Inline(vec![ChunkRef {
                    id: hello_id,
                    length: u32::try_from(hello.len()).unwrap(),
                }]),
            },
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            mtime_unix_ns: T0 - 3_600_000_000_000,
            ctime_unix_ns: T0 - 3_600_000_000_000,
            inode: 4242,
            size: hello.len() as u64,
        },
    ]);
    let root_bytes = codec::encode(&root_tree);
    let root_id = BlobId(ids.id(&root_bytes));
    let blobs = [
        raw_blob("hello.txt content", BlobKind::Data, hello.clone()),
        Blob {
            what: "db/erp.sql content",
            kind: BlobKind::Data,
            data: dump.clone(),
            framed: dump_framed,
        },
        raw_blob("db/ directory", BlobKind::Tree, db_bytes),
        raw_blob("root directory", BlobKind::Tree, root_bytes),
    ];

    // Pack: sealed blobs, sealed trailer, u32 LE trailer length, magic.
    let mut pack_bytes = Vec::new();
    let mut entries = Vec::new();
    let mut blob_json = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        let sealed = seal(
            &enc,
            nonce(0x21 + u8::try_from(i).unwrap()),
            b"coffer:blob",
            &b.framed,
        );
        let entry = BlobEntry {
            id: BlobId(ids.id(&b.data)),
            kind: b.kind,
            offset: pack_bytes.len() as u64,
            length: u32::try_from(sealed.len()).unwrap(),
            raw_length: u32::try_from(b.data.len()).unwrap(),
        };
        assert_eq!(
            compress::decode_blob(&b.framed, b.data.len()).unwrap(),
            b.data
        );
        blob_json.push(json!({
            "what": b.what,
            "id": hex::encode(entry.id.0),
            "offset": entry.offset,
            "length": entry.length,
            "raw_length": entry.raw_length,
            "mode": b.framed[0],
            "plaintext_hex": hex::encode(&b.data),
        }));
        entries.push(entry);
        pack_bytes.extend_from_slice(&sealed);
    }
    let trailer_plain = codec::encode(&PackTrailer {
        blobs: entries.clone(),
    });
    let trailer = seal(&enc, nonce(0x25), b"coffer:pack-trailer", &trailer_plain);
    pack_bytes.extend_from_slice(&trailer);
    let footer: Vec<u8> = [
        &u32::try_from(trailer.len()).unwrap().to_le_bytes()[..],
        b"COFPACK1",
    ]
    .concat();
    assert_eq!(footer, pack::footer(trailer.len()));
    pack_bytes.extend_from_slice(&footer);
    let pack_len = pack_bytes.len() as u64;
    let range = pack::trailer_range(pack_len, &footer).unwrap();
    assert_eq!(
        usize::try_from(range.end - range.start).unwrap(),
        trailer.len()
    );
    let pack_id = PackId(*blake3::hash(&pack_bytes).as_bytes());
    object(
        names::pack(&pack_id),
        &pack_bytes,
        "pack: four sealed blobs, sealed PackTrailer, u32 LE trailer length, COFPACK1; named by BLAKE3 of all its bytes",
        Some(&trailer_plain),
    );

    // Index.
    let index_plain = codec::encode(&IndexFile {
        packs: vec![IndexedPack {
            pack: pack_id,
            pack_length: pack_len,
            blobs: entries,
        }],
    });
    let index_object = seal(&enc, nonce(0x26), b"coffer:index", &index_plain);
    let index_id = IndexId(*blake3::hash(&index_object).as_bytes());
    object(
        names::index(&index_id),
        &index_object,
        "index file: sealed IndexFile record; named by BLAKE3 of the sealed bytes",
        Some(&index_plain),
    );

    // Snapshot.
    let snapshot = Snapshot {
        time_unix_ns: T0,
        host: "vector-host".into(),
        username: "coffer".into(),
        tags: vec!["env=vector".into()],
        paths: vec!["/srv/hello.txt".into(), "db/erp.sql".into()],
        root: root_id,
        parent: None,
        partial: false,
        program: "coffer 0.1.0".into(),
        summary: Summary {
            files_new: 2,
            files_changed: 0,
            files_unmodified: 0,
            dirs: 1,
            bytes_read: (hello.len() + dump.len()) as u64,
            bytes_total: (hello.len() + dump.len()) as u64,
            blobs_added: 4,
            bytes_added: pack_len - (trailer.len() + pack::FOOTER_LEN) as u64,
            errors: 0,
            duration_ms: 12,
        },
        meta: vec![("pg_dump.version".into(), "15.18".into())],
    };
    let snapshot_plain = codec::encode(&snapshot);
    let snapshot_object = seal(&enc, nonce(0x27), b"coffer:snapshot", &snapshot_plain);
    let snapshot_id = SnapshotId(*blake3::hash(&snapshot_object).as_bytes());
    object(
        names::snapshot(&snapshot_id),
        &snapshot_object,
        "snapshot: sealed Snapshot record; named by BLAKE3 of the sealed bytes",
        Some(&snapshot_plain),
    );

    json!({
        "password_utf8": VECTOR_PASSWORD,
        "master_secret": hex::encode(master_secret()),
        "wrapping_key": hex::encode(wrapping),
        "zstd_frame_hex": hex::encode(&frame),
        "blobs": blob_json,
        "snapshot_id": snapshot_id.to_hex(),
        "files": [
            { "path": "hello.txt", "content_hex": hex::encode(&hello) },
            { "path": "db/erp.sql", "content_hex": hex::encode(&dump) },
        ],
        "objects": objects,
    })
}

/// The repository section, written out as files, is a repository the store
/// opens, lists, reads and checks without complaint.
#[test]
fn vector_repository_reads_with_the_store() {
    // Computed rather than read back, so a regeneration running alongside
    // cannot race it; `checked_in_vectors_are_up_to_date` ties the two together.
    let v = compute(checked_in().as_ref());
    let repo_v = &v["repository"];
    let dir = tempfile::tempdir().unwrap();
    for o in repo_v["objects"].as_array().unwrap() {
        let path = dir.path().join(o["name"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, hex::decode(o["hex"].as_str().unwrap()).unwrap()).unwrap();
    }
    let backend = Backend::open(dir.path().to_str().unwrap(), false).unwrap();
    let repo = Repository::open(
        backend,
        VECTOR_PASSWORD.as_bytes(),
        CacheLocation::Temporary,
    )
    .unwrap();
    assert_eq!(
        hex::encode(repo.key().secret()),
        repo_v["master_secret"].as_str().unwrap()
    );
    let snaps = repo.snapshots().unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(
        snaps[0].id.to_hex(),
        repo_v["snapshot_id"].as_str().unwrap()
    );
    assert_eq!(
        snaps[0].snapshot.meta,
        [("pg_dump.version".to_string(), "15.18".to_string())]
    );
    for f in repo_v["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let node = coffer_store::tree::resolve_path(&repo, &snaps[0].snapshot.root, path)
            .unwrap()
            .unwrap();
        let NodeKind::File { content } = &node.kind else {
            panic!("{path} is not a file");
        };
        let mut out = Vec::new();
        coffer_store::restore::write_content(&repo, content, &mut out, &NoProgress).unwrap();
        assert_eq!(
            hex::encode(&out),
            f["content_hex"].as_str().unwrap(),
            "{path}"
        );
    }
    let report = check(&repo, &CheckOptions { read_data: true }, &NoProgress).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.blobs_verified, 4);
}

/// A wrong password is refused, and opening reads the key file, not a guess.
#[test]
fn vector_key_file_refuses_another_password() {
    let v = compute(checked_in().as_ref());
    let dir = tempfile::tempdir().unwrap();
    for o in v["repository"]["objects"].as_array().unwrap() {
        let path = dir.path().join(o["name"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, hex::decode(o["hex"].as_str().unwrap()).unwrap()).unwrap();
    }
    let backend = Backend::open(dir.path().to_str().unwrap(), false).unwrap();
    let err = Repository::open(backend, b"coffer-vectors", CacheLocation::Temporary).unwrap_err();
    assert!(
        matches!(err, coffer_store::Error::WrongPassword { key_files: 1 }),
        "{err}"
    );
}
