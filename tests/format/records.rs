//! Every record type encoded by the store and laid out by hand
//! (`crate::layout`) from FORMAT.md: the two must give the same bytes.

use crate::layout::Layout;
use crate::vectors::{chunker_seed, id};
use coffer_store::codec::{self, Record};
use coffer_store::crypto::{self, KdfParams};
use coffer_store::format::catalogue::{Catalogue, CatalogueEntry};
use coffer_store::format::condemned::CondemnedRecord;
use coffer_store::format::config::{ChunkerRecord, Config};
use coffer_store::format::index::{IndexFile, IndexedPack};
use coffer_store::format::key::KeyFile;
use coffer_store::format::lock::{LockKind, LockRecord};
use coffer_store::format::pack::{BlobEntry, BlobKind, PackTrailer};
use coffer_store::format::snapshot::{Snapshot, Summary};
use coffer_store::format::tree::{ChunkRef, Content, ContentRef, DirRef, Node, NodeKind, TreeBlob};
use coffer_store::id::{BlobId, IndexId, PackId, SnapshotId};
use serde_json::{Value, json};

fn chunk_ref(r: &ChunkRef) -> Layout {
    let mut l = Layout::fragment();
    l.array("id", &r.id.0).uint("length", u64::from(r.length));
    l
}

fn node(n: &Node) -> Layout {
    let mut l = Layout::fragment();
    l.bytes("name", &n.name);
    match &n.kind {
        NodeKind::File { content } => {
            l.variant("kind", 0, "File");
            match content {
                Content::Inline(refs) => {
                    l.variant("kind.content", 0, "Inline");
                    l.seq("kind.content.chunks", refs.len());
                    for (i, r) in refs.iter().enumerate() {
                        l.nest(&format!("kind.content.chunks[{i}]."), chunk_ref(r));
                    }
                }
                Content::List(root) => {
                    l.variant("kind.content", 1, "List");
                    l.array("kind.content.root", &root.0);
                }
            }
        }
        NodeKind::Dir { tree } => {
            l.variant("kind", 1, "Dir").array("kind.tree", &tree.0);
        }
        NodeKind::Symlink { target } => {
            l.variant("kind", 2, "Symlink").bytes("kind.target", target);
        }
    }
    l.uint("mode", u64::from(n.mode))
        .uint("uid", u64::from(n.uid))
        .uint("gid", u64::from(n.gid))
        .int("mtime_unix_ns", n.mtime_unix_ns)
        .int("ctime_unix_ns", n.ctime_unix_ns)
        .uint("inode", n.inode)
        .uint("size", n.size);
    l
}

fn tree(t: &TreeBlob) -> Layout {
    let mut l = Layout::record(TreeBlob::TAG, TreeBlob::VERSION);
    match t {
        TreeBlob::DirLeaf(nodes) => {
            l.variant("TreeBlob", 0, "DirLeaf")
                .seq("nodes", nodes.len());
            for (i, n) in nodes.iter().enumerate() {
                l.nest(&format!("nodes[{i}]."), node(n));
            }
        }
        TreeBlob::DirInner(refs) => {
            l.variant("TreeBlob", 1, "DirInner")
                .seq("pieces", refs.len());
            for (i, r) in refs.iter().enumerate() {
                l.bytes(&format!("pieces[{i}].first_name"), &r.first_name)
                    .array(&format!("pieces[{i}].blob"), &r.blob.0)
                    .uint(&format!("pieces[{i}].entries"), r.entries);
            }
        }
        TreeBlob::ContentLeaf(refs) => {
            l.variant("TreeBlob", 2, "ContentLeaf")
                .seq("chunks", refs.len());
            for (i, r) in refs.iter().enumerate() {
                l.nest(&format!("chunks[{i}]."), chunk_ref(r));
            }
        }
        TreeBlob::ContentInner(refs) => {
            l.variant("TreeBlob", 3, "ContentInner")
                .seq("pieces", refs.len());
            for (i, r) in refs.iter().enumerate() {
                l.array(&format!("pieces[{i}].blob"), &r.blob.0)
                    .uint(&format!("pieces[{i}].bytes"), r.bytes)
                    .uint(&format!("pieces[{i}].chunks"), r.chunks);
            }
        }
    }
    l
}

fn blob_entries(l: &mut Layout, prefix: &str, blobs: &[BlobEntry]) {
    l.seq(prefix, blobs.len());
    for (i, b) in blobs.iter().enumerate() {
        let (index, name) = match b.kind {
            BlobKind::Data => (0, "Data"),
            BlobKind::Tree => (1, "Tree"),
        };
        l.array(&format!("{prefix}[{i}].id"), &b.id.0)
            .variant(&format!("{prefix}[{i}].kind"), index, name)
            .uint(&format!("{prefix}[{i}].offset"), b.offset)
            .uint(&format!("{prefix}[{i}].length"), u64::from(b.length))
            .uint(
                &format!("{prefix}[{i}].raw_length"),
                u64::from(b.raw_length),
            );
    }
}

fn config_layout(c: &Config) -> Layout {
    let mut l = Layout::record(Config::TAG, Config::VERSION);
    l.array("repo_id", &c.repo_id)
        .uint("chunker.min_size", u64::from(c.chunker.min_size))
        .uint("chunker.avg_size", u64::from(c.chunker.avg_size))
        .uint("chunker.max_size", u64::from(c.chunker.max_size))
        .uint("chunker.seed", c.chunker.seed)
        .uint("pack_target_size", u64::from(c.pack_target_size))
        .int("zstd_level", i64::from(c.zstd_level))
        .int("created_unix_ns", c.created_unix_ns);
    l
}

fn key_file_layout(k: &KeyFile) -> Layout {
    let mut l = Layout::record(KeyFile::TAG, KeyFile::VERSION);
    l.uint("kdf.memory_kib", u64::from(k.kdf.memory_kib))
        .uint("kdf.iterations", u64::from(k.kdf.iterations))
        .uint("kdf.parallelism", u64::from(k.kdf.parallelism))
        .bytes("salt", &k.salt)
        .bytes("wrapped_master", &k.wrapped_master)
        .int("created_unix_ns", k.created_unix_ns)
        .bytes("host", k.host.as_bytes())
        .bytes("username", k.username.as_bytes());
    l
}

fn trailer_layout(t: &PackTrailer) -> Layout {
    let mut l = Layout::record(PackTrailer::TAG, PackTrailer::VERSION);
    blob_entries(&mut l, "blobs", &t.blobs);
    l
}

fn index_layout(ix: &IndexFile) -> Layout {
    let mut l = Layout::record(IndexFile::TAG, IndexFile::VERSION);
    l.seq("packs", ix.packs.len());
    for (i, p) in ix.packs.iter().enumerate() {
        l.array(&format!("packs[{i}].pack"), &p.pack.0)
            .uint(&format!("packs[{i}].pack_length"), p.pack_length);
        blob_entries(&mut l, &format!("packs[{i}].blobs"), &p.blobs);
    }
    l
}

fn snapshot_layout(s: &Snapshot) -> Layout {
    let mut l = Layout::record(Snapshot::TAG, Snapshot::VERSION);
    l.int("time_unix_ns", s.time_unix_ns)
        .bytes("host", s.host.as_bytes())
        .bytes("username", s.username.as_bytes())
        .seq("tags", s.tags.len());
    for (i, t) in s.tags.iter().enumerate() {
        l.bytes(&format!("tags[{i}]"), t.as_bytes());
    }
    l.seq("paths", s.paths.len());
    for (i, p) in s.paths.iter().enumerate() {
        l.bytes(&format!("paths[{i}]"), p.as_bytes());
    }
    l.array("root", &s.root.0)
        .option("parent", s.parent.is_some());
    if let Some(p) = &s.parent {
        l.array("parent.some", &p.0);
    }
    let m = &s.summary;
    l.bool("partial", s.partial)
        .bytes("program", s.program.as_bytes())
        .uint("summary.files_new", m.files_new)
        .uint("summary.files_changed", m.files_changed)
        .uint("summary.files_unmodified", m.files_unmodified)
        .uint("summary.dirs", m.dirs)
        .uint("summary.bytes_read", m.bytes_read)
        .uint("summary.bytes_total", m.bytes_total)
        .uint("summary.blobs_added", m.blobs_added)
        .uint("summary.bytes_added", m.bytes_added)
        .uint("summary.errors", m.errors)
        .uint("summary.duration_ms", m.duration_ms)
        .seq("meta", s.meta.len());
    for (i, (k, v)) in s.meta.iter().enumerate() {
        l.bytes(&format!("meta[{i}].0 (key)"), k.as_bytes())
            .bytes(&format!("meta[{i}].1 (value)"), v.as_bytes());
    }
    l
}

fn lock_layout(r: &LockRecord) -> Layout {
    let mut l = Layout::record(LockRecord::TAG, LockRecord::VERSION);
    let (index, name) = match r.kind {
        LockKind::Backup => (0, "Backup"),
        LockKind::Prune => (1, "Prune"),
        LockKind::Exclusive => (2, "Exclusive"),
    };
    l.variant("kind", index, name)
        .bytes("host", r.host.as_bytes())
        .uint("pid", u64::from(r.pid))
        .bytes("username", r.username.as_bytes())
        .int("created_unix_ns", r.created_unix_ns)
        .int("refreshed_unix_ns", r.refreshed_unix_ns);
    l
}

fn condemned_layout(r: &CondemnedRecord) -> Layout {
    let mut l = Layout::record(CondemnedRecord::TAG, CondemnedRecord::VERSION);
    l.int("created_unix_ns", r.created_unix_ns)
        .seq("packs", r.packs.len());
    for (i, p) in r.packs.iter().enumerate() {
        l.array(&format!("packs[{i}]"), &p.0);
    }
    l.seq("index_files", r.index_files.len());
    for (i, x) in r.index_files.iter().enumerate() {
        l.array(&format!("index_files[{i}]"), &x.0);
    }
    l
}

fn catalogue_layout(c: &Catalogue) -> Layout {
    let mut l = Layout::record(Catalogue::TAG, Catalogue::VERSION);
    l.int("created_unix_ns", c.created_unix_ns)
        .seq("snapshots", c.snapshots.len());
    for (i, e) in c.snapshots.iter().enumerate() {
        l.array(&format!("snapshots[{i}].id"), &e.id.0)
            .bytes(&format!("snapshots[{i}].sealed"), &e.sealed);
    }
    l
}

/// Encodes with the store, checks the hand layout gives the same bytes and
/// that they decode back, and returns the vector entry.
fn record_vector<R: Record + PartialEq + std::fmt::Debug>(
    what: &str,
    value: &R,
    layout: &Layout,
) -> Value {
    let bytes = codec::encode(value);
    assert_eq!(
        hex::encode(layout.to_bytes()),
        hex::encode(&bytes),
        "{what}: the layout FORMAT.md describes is not what codec::encode writes"
    );
    assert_eq!(
        &codec::decode::<R>(&bytes).unwrap(),
        value,
        "{what} round trip"
    );
    json!({
        "record": what,
        "tag": R::TAG,
        "version": R::VERSION,
        "hex": hex::encode(&bytes),
        "layout": layout.to_json(),
    })
}

fn sample_snapshot() -> Snapshot {
    Snapshot {
        time_unix_ns: 1_793_581_200_000_000_000,
        host: "erp-prod".into(),
        username: "coffer".into(),
        tags: vec!["env=prod".into(), "tenant=acme".into()],
        paths: vec!["/srv/dolibarr/documents".into(), "db/erp.sql".into()],
        root: BlobId(id(0x0a)),
        parent: Some(SnapshotId(id(0x0b))),
        partial: false,
        program: "coffer 0.1.0".into(),
        summary: Summary {
            files_new: 3,
            files_changed: 1,
            files_unmodified: 20_000,
            dirs: 812,
            bytes_read: 52_000_000_000,
            bytes_total: 61_000_000_000,
            blobs_added: 300,
            bytes_added: 19_000_000,
            errors: 0,
            duration_ms: 95_000,
        },
        meta: vec![("pg_dump.version".into(), "15.18".into())],
    }
}

pub(crate) fn records_section() -> Value {
    let config = Config {
        repo_id: id(0x01),
        chunker: ChunkerRecord {
            min_size: 16_384,
            avg_size: 65_536,
            max_size: 262_144,
            seed: chunker_seed(),
        },
        pack_target_size: 16 << 20,
        zstd_level: 3,
        created_unix_ns: 1_793_581_200_000_000_000,
    };
    let key_file = KeyFile {
        kdf: KdfParams {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 1,
        },
        salt: (0..16).collect(),
        wrapped_master: vec![0x77; crypto::SEAL_OVERHEAD + 32],
        created_unix_ns: 1_793_581_200_000_000_000,
        host: "erp-prod".into(),
        username: "coffer".into(),
    };
    let entries = vec![
        BlobEntry {
            id: BlobId(id(0x02)),
            kind: BlobKind::Data,
            offset: 0,
            length: 65_577,
            raw_length: 65_536,
        },
        BlobEntry {
            id: BlobId(id(0x03)),
            kind: BlobKind::Tree,
            offset: 65_577,
            length: 300,
            raw_length: 259,
        },
    ];
    let trailer = PackTrailer {
        blobs: entries.clone(),
    };
    let index = IndexFile {
        packs: vec![IndexedPack {
            pack: PackId(id(0x04)),
            pack_length: 66_020,
            blobs: entries,
        }],
    };
    let snapshot = sample_snapshot();
    let mut unparented = sample_snapshot();
    unparented.parent = None;
    unparented.partial = true;
    unparented.meta.clear();
    let dir_leaf = TreeBlob::DirLeaf(vec![
        Node {
            name: b"FA2601-0001.pdf".to_vec(),
            kind: NodeKind::File {
                content: Content::Inline(vec![ChunkRef {
                    id: BlobId(id(0x05)),
                    length: 860,
                }]),
            },
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            mtime_unix_ns: 1_767_225_600_123_456_789,
            ctime_unix_ns: 1_767_225_600_123_456_789,
            inode: 131_073,
            size: 860,
        },
        Node {
            name: b"erp.sql".to_vec(),
            kind: NodeKind::File {
                content: Content::List(BlobId(id(0x06))),
            },
            mode: 0o600,
            uid: 0,
            gid: 0,
            mtime_unix_ns: 1_793_581_200_000_000_000,
            ctime_unix_ns: 1_793_581_200_000_000_000,
            inode: 0,
            size: 52_000_000_000,
        },
        Node {
            name: b"facture".to_vec(),
            kind: NodeKind::Dir {
                tree: BlobId(id(0x07)),
            },
            mode: 0o755,
            uid: 33,
            gid: 33,
            mtime_unix_ns: -86_400_000_000_000,
            ctime_unix_ns: -86_400_000_000_000,
            inode: 2,
            size: 0,
        },
        Node {
            name: b"latest".to_vec(),
            kind: NodeKind::Symlink {
                target: b"facture/FA2601-0001".to_vec(),
            },
            mode: 0o777,
            uid: 33,
            gid: 33,
            mtime_unix_ns: 0,
            ctime_unix_ns: 0,
            inode: 3,
            size: 0,
        },
    ]);
    let dir_inner = TreeBlob::DirInner(vec![
        DirRef {
            first_name: b"FA2601-0001".to_vec(),
            blob: BlobId(id(0x08)),
            entries: 300,
        },
        DirRef {
            first_name: b"FA2604-0120".to_vec(),
            blob: BlobId(id(0x09)),
            entries: 212,
        },
    ]);
    let content_leaf = TreeBlob::ContentLeaf(vec![
        ChunkRef {
            id: BlobId(id(0x0c)),
            length: 65_536,
        },
        ChunkRef {
            id: BlobId(id(0x0d)),
            length: 12_345,
        },
    ]);
    let content_inner = TreeBlob::ContentInner(vec![
        ContentRef {
            blob: BlobId(id(0x0e)),
            bytes: 50_000_000_000,
            chunks: 762_000,
        },
        ContentRef {
            blob: BlobId(id(0x0f)),
            bytes: 77_881,
            chunks: 2,
        },
    ]);
    let lock = LockRecord {
        kind: LockKind::Prune,
        host: "erp-01".into(),
        pid: 4242,
        username: "backup".into(),
        created_unix_ns: 1_796_000_000_000_000_000,
        refreshed_unix_ns: 1_796_000_300_000_000_000,
    };
    let condemned = CondemnedRecord {
        created_unix_ns: 1_796_000_600_000_000_000,
        packs: vec![PackId(id(0x10)), PackId(id(0x11))],
        index_files: vec![IndexId(id(0x12))],
    };
    // Entries stand for sealed snapshot objects; a reader checks each
    // against its id (FORMAT.md 11.1), which these short bytes would fail.
    let catalogue = Catalogue {
        created_unix_ns: 1_796_000_900_000_000_000,
        snapshots: vec![
            CatalogueEntry {
                id: SnapshotId(id(0x13)),
                sealed: vec![0xaa; 3],
            },
            CatalogueEntry {
                id: SnapshotId(id(0x14)),
                sealed: vec![0xbb; 2],
            },
        ],
    };
    json!([
        record_vector("Config", &config, &config_layout(&config)),
        record_vector("KeyFile", &key_file, &key_file_layout(&key_file)),
        record_vector("PackTrailer", &trailer, &trailer_layout(&trailer)),
        record_vector("IndexFile", &index, &index_layout(&index)),
        record_vector("Snapshot", &snapshot, &snapshot_layout(&snapshot)),
        record_vector(
            "Snapshot (no parent, partial, no meta)",
            &unparented,
            &snapshot_layout(&unparented)
        ),
        record_vector("TreeBlob::DirLeaf", &dir_leaf, &tree(&dir_leaf)),
        record_vector("TreeBlob::DirInner", &dir_inner, &tree(&dir_inner)),
        record_vector("TreeBlob::ContentLeaf", &content_leaf, &tree(&content_leaf)),
        record_vector(
            "TreeBlob::ContentInner",
            &content_inner,
            &tree(&content_inner)
        ),
        record_vector("LockRecord", &lock, &lock_layout(&lock)),
        record_vector("CondemnedRecord", &condemned, &condemned_layout(&condemned)),
        record_vector("Catalogue", &catalogue, &catalogue_layout(&catalogue)),
    ])
}
