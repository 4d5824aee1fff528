//! Unit tests of the index cache: locations, snapshot records, batched
//! ingests, a cut-short ingest and a piled-up level 0.

use super::*;

#[test]
fn location_round_trip() {
    let l = BlobLocation {
        pack: PackId([3; 32]),
        kind: BlobKind::Tree,
        offset: 1 << 40,
        length: 77,
        raw_length: 99,
    };
    assert_eq!(BlobLocation::decode(&l.encode()), Some(l));
    assert_eq!(BlobLocation::decode(&[0; 3]), None);
}

#[test]
fn snapshot_records_come_back_in_the_order_asked_and_forgotten_ones_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cache = IndexCache::open(dir.path()).unwrap();
    let id = |b: u8| SnapshotId([b; 32]);
    let records: Vec<(SnapshotId, Vec<u8>)> = [9u8, 1, 5, 7]
        .iter()
        .map(|&b| (id(b), vec![b; 3]))
        .collect();
    let refs: Vec<(SnapshotId, &[u8])> = records.iter().map(|(i, r)| (*i, &r[..])).collect();
    cache.put_snapshot_records(&refs).unwrap();
    // Unsorted, with a repeat, an uncached id and without 1 and 9 (forgotten).
    let asked = [id(7), id(3), id(5), id(7)];
    let got = cache.snapshot_records(&asked).unwrap();
    assert_eq!(
        got,
        vec![Some(vec![7; 3]), None, Some(vec![5; 3]), Some(vec![7; 3])]
    );
    // The forgotten ones' records are gone; the listed ones stay.
    let all = [id(1), id(5), id(7), id(9)];
    let after = cache.snapshot_records(&all).unwrap();
    assert_eq!(after, vec![None, Some(vec![5; 3]), Some(vec![7; 3]), None]);
}

fn big_index(packs: u32, per_pack: u32) -> IndexFile {
    IndexFile {
        packs: (0..packs)
            .map(|p| crate::format::index::IndexedPack {
                pack: PackId(crate::id::content_hash(&p.to_le_bytes())),
                pack_length: 1 << 20,
                blobs: (0..per_pack)
                    .map(|b| BlobEntry {
                        id: BlobId(crate::id::content_hash(&(p * per_pack + b).to_le_bytes())),
                        kind: BlobKind::Data,
                        offset: u64::from(b) * 100,
                        length: 100,
                        raw_length: 200,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[test]
fn a_large_index_file_is_ingested_in_batches_and_a_cut_short_one_forces_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let cache = IndexCache::open(dir.path()).unwrap();
    // Three batches' worth of entries.
    let index = big_index(50, 1000);
    let id = IndexId([4; 32]);
    cache.ingest(&id, &index).unwrap();
    assert!(cache.known_index_files().unwrap().contains(&id));
    assert!(
        !cache.partly_ingested().unwrap(),
        "the last batch removes the mark"
    );
    assert_eq!(cache.blobs().count(), 50_000);
    for p in &index.packs {
        let b = &p.blobs[p.blobs.len() / 2];
        assert_eq!(
            cache.lookup(&b.id).unwrap(),
            Some(BlobLocation::of(p.pack, b))
        );
    }
    // A small one is one batch and leaves no mark either.
    cache.ingest(&IndexId([5; 32]), &big_index(1, 10)).unwrap();
    assert!(!cache.partly_ingested().unwrap());
    // A process killed between two batches leaves the mark behind; the
    // next sync then starts from nothing (clear), which removes it.
    cache
        .db
        .put(prefixed_raw(PARTIAL_PREFIX, &[6; 32]), [])
        .unwrap();
    assert!(cache.partly_ingested().unwrap());
    cache.clear().unwrap();
    assert!(!cache.partly_ingested().unwrap());
    assert!(cache.known_index_files().unwrap().is_empty());
    assert_eq!(cache.blobs().count(), 0);
}

#[test]
fn opening_merges_a_piled_up_level_zero_and_keeps_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let level0 = |c: &IndexCache| {
        c.db.property_int_value("rocksdb.num-files-at-level0")
            .unwrap()
            .unwrap()
    };
    {
        // As short-lived runs leave it: each ingest flushed, none merged
        // (their processes end before RocksDB's background compaction).
        let mut o = db_options();
        o.set_disable_auto_compactions(true);
        let cache = IndexCache {
            db: rocksdb::DB::open(&o, dir.path()).unwrap(),
            path: dir.path().to_path_buf(),
            _temp: None,
        };
        for n in 0..10u8 {
            cache.ingest(&IndexId([n; 32]), &big_index(1, 5)).unwrap();
            cache.db.flush().unwrap();
        }
        assert!(level0(&cache) >= LEVEL_ZERO_PILE, "{}", level0(&cache));
    }
    let cache = IndexCache::open(dir.path()).unwrap();
    assert!(level0(&cache) < LEVEL_ZERO_PILE, "{}", level0(&cache));
    assert_eq!(cache.known_index_files().unwrap().len(), 10);
    let index = big_index(1, 5);
    let b = &index.packs[0].blobs[3];
    assert_eq!(
        cache.lookup(&b.id).unwrap(),
        Some(BlobLocation::of(index.packs[0].pack, b))
    );
}

#[test]
fn a_sync_after_a_cut_short_ingest_rebuilds_from_the_index_files() {
    let backend = Backend::in_memory();
    let key = MasterKey::generate();
    let index = big_index(3, 10);
    let sealed = key.seal(Domain::Index, &codec::encode(&index));
    let id = IndexId(crate::id::content_hash(&sealed));
    backend
        .put_new(&layout::index(&id), bytes::Bytes::from(sealed))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = IndexCache::open(dir.path()).unwrap();
    assert_eq!(cache.sync(&backend, &key).unwrap().index_files_added, 1);
    // A stale entry of some index file whose ingest was cut short.
    let stale = BlobId([9; 32]);
    let loc = BlobLocation::of(index.packs[0].pack, &index.packs[0].blobs[0]);
    cache.db.put(blob_key(&stale), loc.encode()).unwrap();
    cache
        .db
        .put(prefixed_raw(PARTIAL_PREFIX, &[8; 32]), [])
        .unwrap();
    let report = cache.sync(&backend, &key).unwrap();
    assert!(report.rebuilt);
    assert_eq!(
        cache.lookup(&stale).unwrap(),
        None,
        "the stale entry is gone"
    );
    assert!(cache.lookup(&index.packs[2].blobs[9].id).unwrap().is_some());
}
