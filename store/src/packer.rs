//! Writes blobs into packs, uploads packs in the background, and commits
//! index files: the write side of the repository.
//!
//! Ordering (FORMAT.md, "Read and write ordering"): a pack is uploaded before any index
//! file lists it, and an index file is stored before any snapshot needs it.
//! Blobs added in this run are remembered in `session` until an index file
//! listing them is stored and ingested in the cache; the set is flushed every
//! [`INDEX_FLUSH_BLOBS`] blobs, so memory stays bounded on a 50 GB dump.

use crate::backend::{DIRECT_ALIGN, DirectStream, DirectWriter};
use crate::codec;
use crate::crypto::Domain;
use crate::error::Result;
use crate::format::index::{IndexFile, IndexedPack};
use crate::format::layout;
use crate::format::pack::{self, BlobEntry, BlobKind, PackTrailer};
use crate::id::{BlobId, ContentHasher, IndexId, PackId, content_hash};
use crate::repo::Repository;
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use tokio::task::JoinHandle;

/// Spare capacity for the last blob past the target and the trailer.
const TRAILER_ROOM: usize = 1 << 20;

/// A pack written as it fills goes to its folder in pieces of about this
/// size (whole blocks): its buffer stays this small, not a whole pack.
const STREAM_PIECE: usize = 1 << 20;

/// Parent tree ids remembered at most (32 bytes each).
const STORED_HINT_MAX: usize = 1 << 16;

/// Blobs per index file written during a long backup.
pub const INDEX_FLUSH_BLOBS: usize = 100_000;

/// Running totals of what a writer stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub blobs_added: u64,
    /// Sealed bytes of the added blobs.
    pub bytes_added: u64,
    pub packs_written: u64,
    /// Pack trailers, footers and index files.
    pub overhead_bytes: u64,
}

type Upload = JoinHandle<Result<IndexedPack>>;

/// A pack being filled: its bytes so far (those not written yet from
/// `buf[start]`) and the trailer entries.
#[derive(Default)]
struct OpenPack {
    buf: Vec<u8>,
    /// Padding before the pack, so that a data pack starts at an address a
    /// local folder can write with direct I/O (see `backend::direct`).
    start: usize,
    entries: Vec<BlobEntry>,
    /// A pack written as it fills: the staging file holding its first
    /// bytes, which `hasher` has hashed.
    stream: Option<DirectStream>,
    hasher: ContentHasher,
}

impl OpenPack {
    /// Bytes of pack so far.
    fn len(&self) -> usize {
        self.written() + self.buf.len() - self.start
    }

    /// Bytes of pack already in its staging file.
    fn written(&self) -> usize {
        self.stream
            .as_ref()
            .map_or(0, |s| usize::try_from(s.written()).unwrap_or(usize::MAX))
    }

    /// Moves the bytes not written yet to a new buffer with room for
    /// `room` more, starting at an address direct I/O can write from (a
    /// `Vec` that grows in place may move anywhere).
    fn realign(&mut self, room: usize) {
        let pending = &self.buf[self.start..];
        let mut buf = Vec::<u8>::with_capacity(pending.len() + room + DIRECT_ALIGN);
        let pad = buf.as_ptr().align_offset(DIRECT_ALIGN).min(DIRECT_ALIGN);
        buf.resize(pad, 0);
        buf.extend_from_slice(pending);
        self.buf = buf;
        self.start = pad;
    }

    /// Writes the whole blocks buffered, keeping the rest. On an error the
    /// pack is taken back into memory (the staging file read back): it is
    /// then stored whole, through the store.
    fn write_piece(&mut self) -> Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        let pending = self.buf.len() - self.start;
        let whole = pending - pending % DIRECT_ALIGN;
        let piece = &self.buf[self.start..self.start + whole];
        if stream.append(piece).is_ok() {
            self.hasher.update(piece);
            self.buf.copy_within(self.start + whole.., self.start);
            self.buf.truncate(self.start + pending - whole);
            Ok(())
        } else {
            self.take_back()
        }
    }

    /// Stops writing as the pack fills: what its staging file holds comes
    /// back into the buffer.
    fn take_back(&mut self) -> Result<()> {
        if let Some(stream) = self.stream.take() {
            let mut whole = stream.read_back().map_err(staging_unreadable)?;
            whole.extend_from_slice(&self.buf[self.start..]);
            self.buf = whole;
            self.start = 0;
            self.hasher = ContentHasher::default();
        }
        Ok(())
    }
}

pub struct PackWriter<'r> {
    repo: &'r Repository,
    /// Data blobs and tree blobs fill separate packs: trees are read on their
    /// own (listing, restore planning, a new machine's first read), and packed
    /// densely a few coalesced ranged reads fetch hundreds of them.
    data: OpenPack,
    trees: OpenPack,
    uploads: VecDeque<Upload>,
    max_uploads: usize,
    uploaded: Vec<IndexedPack>,
    session: HashSet<BlobId>,
    stored_hint: HashSet<BlobId>,
    indexes: Vec<IndexId>,
    stats: WriteStats,
    /// Whether each index file stored is ingested into the local cache.
    ingest: bool,
    /// Whether the caller adds each blob once (no `session` kept).
    distinct: bool,
    /// Where packs are written as they fill (a synchronous writer to a
    /// local folder), until that fails once.
    stream_to: Option<DirectWriter>,
}

impl<'r> PackWriter<'r> {
    /// A writer with up to `max_uploads` packs uploading while it fills the
    /// next; with 0, each full pack is stored before [`Self::add`] returns
    /// (one pack's buffer held, not two).
    pub fn new(repo: &'r Repository, max_uploads: usize) -> Self {
        Self {
            repo,
            data: OpenPack::default(),
            trees: OpenPack::default(),
            uploads: VecDeque::new(),
            max_uploads,
            uploaded: Vec::new(),
            session: HashSet::new(),
            stored_hint: HashSet::new(),
            indexes: Vec::new(),
            stats: WriteStats::default(),
            ingest: true,
            distinct: false,
            // Only a synchronous writer: a backup's packs are uploaded
            // beside the chunking, and writing pieces on its thread would
            // hold the pipeline up.
            stream_to: if max_uploads == 0 {
                repo.backend().direct_writer()
            } else {
                None
            },
        }
    }

    /// Index files stored are not ingested into the local cache: for a
    /// caller that brings the cache up to date itself afterwards (prune
    /// syncs it once at its end, and rebuilds it after deleting index files:
    /// ingesting the repacked blobs first was work thrown away).
    pub fn without_cache_ingest(mut self) -> Self {
        self.ingest = false;
        self
    }

    /// The caller adds each blob at most once and asks nothing of
    /// [`Self::is_known`] (prune copies the one copy of each live blob its
    /// plan claimed): the blobs added are not remembered, where remembering
    /// them cost 3 MiB of prune's peak on ten years of nights.
    pub fn with_distinct_blobs(mut self) -> Self {
        self.distinct = true;
        self
    }

    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    /// The keyed hash used for blob ids (and for tree piece boundaries).
    pub fn id_key(&self) -> &coffer_chunker::ChunkIdKey {
        self.repo.key().chunk_ids()
    }

    /// Is the blob already stored, or written by this run?
    pub fn is_known(&self, id: &BlobId) -> Result<bool> {
        Ok(self.session.contains(id)
            || self.stored_hint.contains(id)
            || self.repo.has_reusable_blob(id)?)
    }

    /// Records that a blob is stored (a parent snapshot's folder tree), so an
    /// unchanged folder's tree needs no index lookup. Bounded: cleared when full.
    pub fn note_stored(&mut self, id: BlobId) {
        if self.stored_hint.len() >= STORED_HINT_MAX {
            self.stored_hint.clear();
        }
        self.stored_hint.insert(id);
    }

    /// Adds a sealed blob. The caller has checked [`Self::is_known`].
    pub fn add(
        &mut self,
        id: BlobId,
        kind: BlobKind,
        sealed: &[u8],
        raw_length: u32,
    ) -> Result<()> {
        if !self.distinct && !self.session.insert(id) {
            return Ok(());
        }
        let length = u32::try_from(sealed.len()).unwrap_or(u32::MAX);
        let target = self.repo.config().pack_target_size as usize;
        self.begin_stream(kind);
        let open = self.open_pack(kind);
        if open.stream.is_some() {
            if open.buf.len() + sealed.len() > open.buf.capacity() {
                open.realign(STREAM_PIECE + sealed.len());
            }
        } else if open.buf.capacity() == 0 && kind == BlobKind::Data {
            // Room for a full pack and its trailer up front: growing by doubling
            // would briefly hold 3x a pack and keep 2x a pack's capacity.
            // (Tree packs are rarely full in a nightly run: they grow, and
            // are written through the page cache.) The pack starts aligned.
            open.buf.reserve(target + TRAILER_ROOM + DIRECT_ALIGN);
            let pad = open.buf.as_ptr().align_offset(DIRECT_ALIGN);
            if pad < DIRECT_ALIGN {
                open.buf.resize(pad, 0);
                open.start = pad;
            }
        } else if open.buf.len() + sealed.len() > open.buf.capacity() {
            // A growing tree pack doubles, but never past a full pack and
            // its trailer (a prune that repacks ten years of trees fills
            // them: doubling from 16 MiB held a 32 MiB buffer).
            let wanted = (open.buf.capacity() * 2)
                .clamp(1 << 16, target + TRAILER_ROOM)
                .max(open.buf.len() + sealed.len());
            open.buf.reserve_exact(wanted - open.buf.len());
        }
        open.entries.push(BlobEntry {
            id,
            kind,
            offset: open.len() as u64,
            length,
            raw_length,
        });
        open.buf.extend_from_slice(sealed);
        if open.stream.is_some() && open.buf.len() - open.start >= STREAM_PIECE {
            open.write_piece()?;
            if open.stream.is_none() {
                self.stream_to = None;
            }
        }
        let open = self.open_pack(kind);
        let full = open.len() >= target;
        self.stats.blobs_added += 1;
        self.stats.bytes_added += u64::from(length);
        if full {
            self.close_pack(kind)?;
        }
        Ok(())
    }

    /// Encodes, and stores unless known, a data blob. Returns its id.
    pub fn add_data(&mut self, data: &[u8]) -> Result<BlobId> {
        let id = BlobId(self.repo.key().chunk_ids().id(data));
        if !self.is_known(&id)? {
            let sealed = seal_blob(self.repo, data);
            self.add(id, BlobKind::Data, &sealed, raw_len(data))?;
        }
        Ok(id)
    }

    /// Encodes, and stores unless known, a tree blob. Returns its id.
    pub fn add_tree(&mut self, tree: &crate::format::tree::TreeBlob) -> Result<BlobId> {
        let bytes = codec::encode(tree);
        let id = BlobId(self.repo.key().chunk_ids().id(&bytes));
        if !self.is_known(&id)? {
            let sealed = seal_blob(self.repo, &bytes);
            self.add(id, BlobKind::Tree, &sealed, raw_len(&bytes))?;
            // The next backup reads this tree as its parent: keep it local.
            self.repo.index()?.put_tree(&id, raw_len(&bytes), &sealed)?;
        }
        Ok(id)
    }

    /// Opens the staging file of a new pack of `kind` when packs are
    /// written as they fill (or stops writing so, if it cannot be opened).
    fn begin_stream(&mut self, kind: BlobKind) {
        let Some(to) = &self.stream_to else { return };
        let open = match kind {
            BlobKind::Data => &self.data,
            BlobKind::Tree => &self.trees,
        };
        if !open.entries.is_empty() || open.stream.is_some() {
            return;
        }
        match to.begin(layout::DATA) {
            Ok(stream) => self.open_pack(kind).stream = Some(stream),
            // A file system without direct I/O (tmpfs): whole packs, as
            // any other writer stores them.
            Err(_) => self.stream_to = None,
        }
    }

    fn open_pack(&mut self, kind: BlobKind) -> &mut OpenPack {
        match kind {
            BlobKind::Data => &mut self.data,
            BlobKind::Tree => &mut self.trees,
        }
    }

    /// Seals the trailer onto the current pack of `kind` and starts its upload.
    fn close_pack(&mut self, kind: BlobKind) -> Result<()> {
        let mut open = std::mem::take(self.open_pack(kind));
        if open.entries.is_empty() {
            return Ok(());
        }
        self.seal_trailer(&mut open);
        if open.stream.is_some() {
            return self.close_stream(open);
        }
        let (buf, start, blobs) = (open.buf, open.start, open.entries);
        let id = PackId(content_hash(&buf[start..]));
        let pack_length = (buf.len() - start) as u64;
        let client = self.repo.backend().client().clone();
        let direct = self.repo.backend().direct_writer();
        let name = layout::pack(&id);
        while self.uploads.len() >= self.max_uploads.max(1) {
            self.reap_one()?;
        }
        let handle = self.repo.backend().spawn(async move {
            let bytes = Bytes::from(buf).slice(start..);
            // A local folder's packs skip the page cache; on any trouble
            // there the store writes the pack (and reports what is wrong).
            let written = match direct {
                Some(w) if bytes.as_ptr().align_offset(DIRECT_ALIGN) == 0 => {
                    let (name, bytes) = (name.clone(), bytes.clone());
                    tokio::task::spawn_blocking(move || w.put_new(&name, &bytes))
                        .await
                        .is_ok_and(|r| r.is_ok())
                }
                _ => false,
            };
            if !written {
                client.put_new(&name, bytes).await?;
            }
            Ok(IndexedPack {
                pack: id,
                pack_length,
                blobs,
            })
        });
        self.uploads.push_back(handle);
        if self.max_uploads == 0 {
            self.reap_one()?;
        }
        Ok(())
    }

    /// Appends the sealed trailer and the footer to a pack. Its bytes stay
    /// where direct I/O can write them from (a trailer of thousands of
    /// entries may not fit the room left, and growing would move them).
    fn seal_trailer(&mut self, open: &mut OpenPack) {
        let trailer = self.repo.key().seal(
            Domain::PackTrailer,
            &codec::encode(&PackTrailer {
                blobs: open.entries.clone(),
            }),
        );
        let room = trailer.len() + pack::FOOTER_LEN;
        if open.buf.len() + room > open.buf.capacity() {
            open.realign(room);
        }
        open.buf.extend_from_slice(&trailer);
        open.buf.extend_from_slice(&pack::footer(trailer.len()));
        self.stats.overhead_bytes += room as u64;
        self.stats.packs_written += 1;
    }

    /// Writes the last piece of a sealed pack written as it filled and puts
    /// it in place; on any trouble the whole pack is read back and stored
    /// through the store (whose retries and messages apply).
    fn close_stream(&mut self, mut open: OpenPack) -> Result<()> {
        let tail = &open.buf[open.start..];
        open.hasher.update(tail);
        let id = PackId(open.hasher.finalize());
        let pack_length = open.len() as u64;
        let name = layout::pack(&id);
        let mut stream = open.stream.take().expect("a pack written as it fills");
        let before = stream.written();
        if stream.finish(tail, &name).is_err() {
            self.stream_to = None;
            let in_file = usize::try_from(stream.written() - before).unwrap_or(usize::MAX);
            let mut whole = stream.read_back().map_err(staging_unreadable)?;
            whole.extend_from_slice(tail.get(in_file..).unwrap_or_default());
            if content_hash(&whole) != id.0 {
                return Err(crate::error::Error::corrupt(
                    format!("pack {id}"),
                    "its staging file did not read back as written",
                ));
            }
            self.repo.backend().put_new(&name, Bytes::from(whole))?;
        }
        self.pack_stored(IndexedPack {
            pack: id,
            pack_length,
            blobs: open.entries,
        })
    }

    fn reap_one(&mut self) -> Result<()> {
        if let Some(h) = self.uploads.pop_front() {
            let packed = self
                .repo
                .backend()
                .block_on(h)
                .unwrap_or_else(|e| panic!("pack upload task failed: {e}"))?;
            self.pack_stored(packed)?;
        }
        Ok(())
    }

    /// Records a stored pack; its index file is written once enough blobs wait.
    fn pack_stored(&mut self, packed: IndexedPack) -> Result<()> {
        self.uploaded.push(packed);
        if self.uploaded.iter().map(|p| p.blobs.len()).sum::<usize>() >= INDEX_FLUSH_BLOBS {
            self.write_index()?;
        }
        Ok(())
    }

    /// Stores an index file for the packs uploaded so far and lets the cache know.
    fn write_index(&mut self) -> Result<()> {
        if self.uploaded.is_empty() {
            return Ok(());
        }
        let index = IndexFile {
            packs: std::mem::take(&mut self.uploaded),
        };
        let id = self.repo.save_index(&index)?;
        if self.ingest {
            self.repo.index()?.ingest(&id, &index)?;
        }
        for p in &index.packs {
            for b in &p.blobs {
                self.session.remove(&b.id);
            }
        }
        self.indexes.push(id);
        Ok(())
    }

    /// Closes the last pack, waits for every upload and stores the index.
    /// Only after this returns may a snapshot refer to the blobs.
    pub fn finish(mut self) -> Result<(Vec<IndexId>, WriteStats)> {
        self.close_pack(BlobKind::Data)?;
        self.close_pack(BlobKind::Tree)?;
        while !self.uploads.is_empty() {
            self.reap_one()?;
        }
        self.write_index()?;
        Ok((self.indexes, self.stats))
    }
}

/// A pack's staging file that could not be read back after a failed write.
fn staging_unreadable(source: std::io::Error) -> crate::error::Error {
    crate::error::Error::Target {
        path: std::path::PathBuf::from(format!("{}/ (a pack being written)", layout::DATA)),
        source,
    }
}

/// Compression framing + sealing of one blob's plaintext, built in the one
/// buffer that is returned (the frame is written where it is encrypted).
pub fn seal_blob(repo: &Repository, data: &[u8]) -> Vec<u8> {
    let level = repo.config().zstd_level;
    let capacity = crate::compress::framed_capacity(data.len(), level);
    repo.key().seal_built(Domain::Blob, capacity, |out| {
        crate::compress::encode_blob_into(out, data, level);
    })
}

pub fn raw_len(data: &[u8]) -> u32 {
    u32::try_from(data.len()).unwrap_or(u32::MAX)
}
