//! Marking: every indexed blob the snapshots reach, each distinct tree read once.
//!
//! The live set is a bitmap over the blobs the index files list, not a set of
//! ids: the index files prune reads anyway are numbered (each entry an
//! ordinal), a table of `(first 8 bytes of the id, ordinal)` sorted by id
//! finds an entry's slot, and one bit per slot says "reached" (a second bit,
//! "claimed", is for phase 1's choice of one copy per blob). A table from
//! ordinal to slot lets the plan walk index files without looking ids up.
//! That is about 13 bytes and 3 bits per distinct indexed blob and 4 bytes an
//! entry, where a hash set of reached ids cost ~100 bytes per reached blob;
//! nothing grows with the number of references or snapshots. A reached tree's bit doubles as "already walked", so an
//! unchanged folder or file (the same blob in every snapshot) is read once and
//! the work is linear in distinct trees.
//!
//! Trees are read a level at a time: the unvisited children of a level are
//! prefetched into the local cache in coalesced reads (a cold cache or an
//! object store) and then opened (decrypted, decompressed, decoded) on the
//! rayon pool; only the bitmap updates are sequential.
//!
//! Blobs a tree references that no index file lists have no slot and are not
//! recorded: prune deletes only indexed objects, so there is nothing to keep
//! for them (`check` reports them). A tree that no index file lists cannot be
//! walked and stops prune.

use crate::cache::BlobLocation;
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexedPack};
use crate::format::pack::BlobEntry;
use crate::format::snapshot::SnapshotEntry;
use crate::format::tree::{Content, NodeKind, TreeBlob};
use crate::id::{BlobId, IndexId};
use crate::progress::Progress;
use crate::repo::Repository;
use rayon::prelude::*;

fn prefix(id: &BlobId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_be_bytes(b)
}

/// The bucket of a prefix: its top `bits` bits.
fn bucket(prefix: u64, bits: u32) -> u64 {
    prefix.checked_shr(64 - bits).unwrap_or(0)
}

/// The blobs of a set of index files, each distinct id one slot, with a
/// "live" and a "claimed" bit per slot.
#[derive(Debug)]
pub struct LiveSet<'a> {
    files: &'a [(IndexId, IndexFile)],
    /// Per indexed pack, in order: the ordinal of its first entry, its file, its position.
    packs: Vec<(u32, u32, u32)>,
    /// Per index file, sorted by id: its position in `files` and in `packs`.
    file_at: Vec<(IndexId, u32, u32)>,
    /// Per slot, sorted: the id's first 8 bytes, and the ordinal of its first entry.
    prefixes: Vec<u64>,
    ordinals: Vec<u32>,
    /// Per entry (by ordinal): its id's slot. Walking an index file's packs
    /// in order then needs no lookup by id (prune's plan makes two per
    /// indexed blob: most of its time on ten years of nights).
    slot_of: Vec<u32>,
    /// `buckets[b]`: the first slot whose prefix's top `bucket_bits` bits are
    /// at least `b` (ids are uniform hashes: a lookup jumps near its slot).
    buckets: Vec<u32>,
    bucket_bits: u32,
    live: Vec<u64>,
    claimed: Vec<u64>,
    /// Trees already walked (not the live bit: a data chunk may have a tree's id).
    walked: Vec<u64>,
    live_count: usize,
}

// Counts and positions fit in u32: `new` refuses more than u32::MAX entries,
// and a bucket number has at most 32 bits.
#[allow(clippy::cast_possible_truncation)]
impl<'a> LiveSet<'a> {
    /// An empty mark over the blobs `files` list.
    pub fn new(files: &'a [(IndexId, IndexFile)]) -> Result<Self> {
        let mut packs = Vec::new();
        let mut file_at = Vec::with_capacity(files.len());
        // (prefix, ordinal, entry): the entry is at hand for the ties of the
        // sort below (an id listed by several index files), where looking it
        // up by ordinal was a third of building the set.
        let mut slots: Vec<(u64, u32, &BlobEntry)> = Vec::new();
        let mut ordinal: u64 = 0;
        for (f, (id, file)) in files.iter().enumerate() {
            file_at.push((*id, f as u32, packs.len() as u32));
            for (p, pack) in file.packs.iter().enumerate() {
                let first = u32::try_from(ordinal).map_err(|_| too_many())?;
                packs.push((first, f as u32, p as u32));
                for (i, b) in pack.blobs.iter().enumerate() {
                    slots.push((prefix(&b.id), first + i as u32, b));
                }
                ordinal += pack.blobs.len() as u64;
            }
        }
        u32::try_from(ordinal).map_err(|_| too_many())?;
        let mut set = Self {
            files,
            file_at,
            packs,
            prefixes: Vec::new(),
            ordinals: Vec::new(),
            slot_of: Vec::new(),
            buckets: Vec::new(),
            bucket_bits: 0,
            live: Vec::new(),
            claimed: Vec::new(),
            walked: Vec::new(),
            live_count: 0,
        };
        // By id (ties by ordinal, so a slot names an id's first entry), one slot per id.
        slots.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.2.id.cmp(&b.2.id))
                .then(a.1.cmp(&b.1))
        });
        // Each entry's slot, then one slot per id (its first entry's).
        let mut slot_of = vec![0u32; ordinal as usize];
        let mut n = 0u32;
        for k in 0..slots.len() {
            if k > 0 && (slots[k].0 != slots[k - 1].0 || slots[k].2.id != slots[k - 1].2.id) {
                n += 1;
            }
            slot_of[slots[k].1 as usize] = n;
        }
        slots.dedup_by(|b, a| a.0 == b.0 && a.2.id == b.2.id);
        let n = slots.len();
        set.prefixes = slots.iter().map(|s| s.0).collect();
        set.ordinals = slots.iter().map(|s| s.1).collect();
        set.slot_of = slot_of;
        drop(slots);
        set.file_at.sort_unstable_by_key(|f| f.0);
        // About 8 slots a bucket.
        set.bucket_bits = (n / 8).max(1).ilog2().min(32);
        let mut buckets = Vec::with_capacity((1usize << set.bucket_bits) + 1);
        let mut at = 0usize;
        for b in 0..(1u64 << set.bucket_bits) {
            while at < n && bucket(set.prefixes[at], set.bucket_bits) < b {
                at += 1;
            }
            buckets.push(at as u32);
        }
        buckets.push(n as u32);
        set.buckets = buckets;
        let words = n.div_ceil(64);
        set.live = vec![0; words];
        set.claimed = vec![0; words];
        set.walked = vec![0; words];
        Ok(set)
    }

    /// The index files this set numbers.
    pub fn files(&self) -> &'a [(IndexId, IndexFile)] {
        self.files
    }

    fn entry(&self, ordinal: u32) -> &'a BlobEntry {
        let at = self.packs.partition_point(|p| p.0 <= ordinal) - 1;
        let (first, f, p) = self.packs[at];
        &self.files[f as usize].1.packs[p as usize].blobs[(ordinal - first) as usize]
    }

    /// Where an index file says `id` is stored (its first entry).
    pub fn location(&self, id: &BlobId) -> Option<BlobLocation> {
        let ordinal = self.ordinals[self.slot(id)?];
        let at = self.packs.partition_point(|p| p.0 <= ordinal) - 1;
        let (first, f, p) = self.packs[at];
        let pack = &self.files[f as usize].1.packs[p as usize];
        Some(BlobLocation::of(
            pack.pack,
            &pack.blobs[(ordinal - first) as usize],
        ))
    }

    /// The slot of each blob of `pack`, the `pos`-th pack of index file
    /// `file` (`None` for an id no index file of the set lists): by position
    /// when the set numbered that file, by id otherwise.
    pub fn pack_slots<'s>(
        &'s self,
        file: &IndexId,
        pos: usize,
        pack: &'s IndexedPack,
    ) -> impl Iterator<Item = Option<usize>> + 's {
        let numbered = self.pack_ordinal(file, pos).filter(|&(f, p, _)| {
            let ours = &self.files[f as usize].1.packs[p as usize];
            ours.pack == pack.pack && ours.blobs.len() == pack.blobs.len()
        });
        let by_position = numbered
            .map(|(_, _, first)| &self.slot_of[first as usize..first as usize + pack.blobs.len()]);
        pack.blobs
            .iter()
            .enumerate()
            .map(move |(i, b)| match by_position {
                Some(slots) => Some(slots[i] as usize),
                None => self.slot(&b.id),
            })
    }

    /// Where the set has the `pos`-th pack of index file `file`: its
    /// positions in `files` and the pack's list, and its first ordinal.
    fn pack_ordinal(&self, file: &IndexId, pos: usize) -> Option<(u32, u32, u32)> {
        let at = self.file_at.binary_search_by_key(file, |f| f.0).ok()?;
        let (_, f, first_pack) = self.file_at[at];
        let &(first, pf, p) = self.packs.get(first_pack as usize + pos)?;
        (pf == f && p as usize == pos).then_some((f, p, first))
    }

    /// The slot of `id`, when an index file lists it.
    fn slot(&self, id: &BlobId) -> Option<usize> {
        let p = prefix(id);
        let b = bucket(p, self.bucket_bits) as usize;
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let mut at = lo + self.prefixes[lo..hi].partition_point(|&q| q < p);
        while at < self.prefixes.len() && self.prefixes[at] == p {
            if self.entry(self.ordinals[at]).id == *id {
                return Some(at);
            }
            at += 1;
        }
        None
    }

    fn test_and_set(bits: &mut [u64], slot: usize) -> bool {
        let (w, b) = (slot / 64, 1u64 << (slot % 64));
        let was = bits[w] & b != 0;
        bits[w] |= b;
        was
    }

    /// Marks `id` reached; false when it was already, or is in no index file.
    pub fn insert(&mut self, id: &BlobId) -> bool {
        match self.slot(id) {
            Some(s) if !Self::test_and_set(&mut self.live, s) => {
                self.live_count += 1;
                true
            }
            _ => false,
        }
    }

    /// Marks tree `id` reached and walked: `Some(true)` the first time,
    /// `Some(false)` when walked before, `None` when no index file lists it.
    fn walk(&mut self, id: &BlobId) -> Option<bool> {
        let s = self.slot(id)?;
        if !Self::test_and_set(&mut self.live, s) {
            self.live_count += 1;
        }
        Some(!Self::test_and_set(&mut self.walked, s))
    }

    /// Whether `id` is reached (an id no index file lists never is).
    pub fn contains(&self, id: &BlobId) -> bool {
        self.is_live_at(self.slot(id))
    }

    /// Whether the blob in `slot` (from [`Self::pack_slots`]) is reached.
    pub fn is_live_at(&self, slot: Option<usize>) -> bool {
        slot.is_some_and(|s| self.live[s / 64] & (1 << (s % 64)) != 0)
    }

    /// Claims a reached blob for one pack: true the first time for a reached
    /// id, false when it was claimed before or is not reached.
    pub fn claim(&mut self, id: &BlobId) -> bool {
        self.claim_at(self.slot(id))
    }

    /// [`Self::claim`] by slot.
    pub fn claim_at(&mut self, slot: Option<usize>) -> bool {
        match slot {
            Some(s) if self.is_live_at(slot) => !Self::test_and_set(&mut self.claimed, s),
            _ => false,
        }
    }

    /// Marks the blob in `slot` (from [`Self::pack_slots`]) as listed by an
    /// index file that stays (phase 2), in the claim bits: a phase-2 plan
    /// does not claim.
    pub fn cover_at(&mut self, slot: Option<usize>) {
        if let Some(s) = slot {
            Self::test_and_set(&mut self.claimed, s);
        }
    }

    /// [`Self::cover_at`] by id (an id no index file of the set lists has
    /// no slot: nothing to cover).
    pub fn cover(&mut self, id: &BlobId) {
        self.cover_at(self.slot(id));
    }

    /// Whether [`Self::cover_at`] marked the blob in `slot`.
    pub fn is_covered_at(&self, slot: Option<usize>) -> bool {
        slot.is_some_and(|s| self.claimed[s / 64] & (1 << (s % 64)) != 0)
    }

    /// Forgets every claim (a new classification).
    pub fn clear_claims(&mut self) {
        self.claimed.iter_mut().for_each(|w| *w = 0);
    }

    /// Reached blobs.
    pub fn len(&self) -> usize {
        self.live_count
    }

    pub fn is_empty(&self) -> bool {
        self.live_count == 0
    }

    /// Distinct blobs the index files list.
    pub fn indexed(&self) -> usize {
        self.prefixes.len()
    }

    /// Every indexed pack, as its index file lists it.
    pub fn indexed_packs(&self) -> impl Iterator<Item = &'a IndexedPack> + '_ {
        self.packs
            .iter()
            .map(|&(_, f, p)| &self.files[f as usize].1.packs[p as usize])
    }
}

fn too_many() -> Error {
    Error::InvalidInput("prune: more than 4 billion index entries".into())
}

/// Marks what `snapshots` use, over the blobs `files` list (read after the
/// snapshots were listed). A tree that cannot be read stops prune: deleting on
/// an incomplete mark could delete what a snapshot needs.
pub fn mark<'a>(
    repo: &Repository,
    files: &'a [(IndexId, IndexFile)],
    snapshots: &[SnapshotEntry],
    progress: &dyn Progress,
) -> Result<LiveSet<'a>> {
    progress.phase("mark", None);
    let mut live = LiveSet::new(files)?;
    // (tree, snapshot it was reached from, for the error message)
    let mut level: Vec<(BlobId, usize)> = Vec::new();
    for (i, s) in snapshots.iter().enumerate() {
        visit(&mut live, &mut level, s.snapshot.root, i, snapshots)?;
    }
    while !level.is_empty() {
        let mut next = Vec::new();
        for batch in level.chunks(LEVEL_BATCH) {
            walk_batch(repo, &mut live, batch, &mut next, snapshots)?;
        }
        level = next;
    }
    Ok(live)
}

/// Trees opened at once: bounds the decoded trees held in memory.
const LEVEL_BATCH: usize = 512;

/// Reads `batch` (in parallel), marks what the trees reference, queues new
/// trees in `next`.
fn walk_batch(
    repo: &Repository,
    live: &mut LiveSet<'_>,
    batch: &[(BlobId, usize)],
    next: &mut Vec<(BlobId, usize)>,
    snapshots: &[SnapshotEntry],
) -> Result<()> {
    {
        let level = batch;
        let read = read_trees(repo, live, level, snapshots)?;
        for ((_, from), blob) in level.iter().zip(read) {
            match &*blob? {
                TreeBlob::DirLeaf(nodes) => {
                    for n in nodes {
                        match &n.kind {
                            NodeKind::Dir { tree } => visit(live, next, *tree, *from, snapshots)?,
                            NodeKind::File {
                                content: Content::List(root),
                            } => visit(live, next, *root, *from, snapshots)?,
                            NodeKind::File {
                                content: Content::Inline(chunks),
                            } => chunks.iter().for_each(|c| {
                                live.insert(&c.id);
                            }),
                            NodeKind::Symlink { .. } => {}
                        }
                    }
                }
                TreeBlob::DirInner(refs) => {
                    for r in refs {
                        visit(live, next, r.blob, *from, snapshots)?;
                    }
                }
                TreeBlob::ContentInner(refs) => {
                    for r in refs {
                        visit(live, next, r.blob, *from, snapshots)?;
                    }
                }
                TreeBlob::ContentLeaf(chunks) => chunks.iter().for_each(|c| {
                    live.insert(&c.id);
                }),
            }
        }
    }
    Ok(())
}

/// Reads and opens the trees of `level` (in its order) on the rayon pool.
///
/// From a plain local folder, straight from their packs at the places the
/// index files give, a read per run of neighbouring pieces, and nothing is
/// cached: each tree is walked once, and putting ten thousand pieces into the
/// local cache only to read them back was most of the mark. Elsewhere they
/// are first fetched into the local cache with coalesced ranged reads (the
/// cache then spares the next run those requests).
fn read_trees(
    repo: &Repository,
    live: &LiveSet<'_>,
    level: &[(BlobId, usize)],
    snapshots: &[SnapshotEntry],
) -> Result<Vec<Result<std::sync::Arc<TreeBlob>>>> {
    let through_cache = |(tree, from): &(BlobId, usize)| {
        repo.read_tree(tree)
            .map_err(|e| unreadable(tree, &snapshots[*from], &e.to_string()))
    };
    if !repo.backend().is_local_folder() {
        let ids: Vec<BlobId> = level.iter().map(|(t, _)| *t).collect();
        crate::tree::prefetch_trees(repo, &ids)?;
        return Ok(level.par_iter().map(through_cache).collect());
    }
    let mut located: Vec<(usize, BlobLocation)> = level
        .iter()
        .enumerate()
        .filter_map(|(i, (tree, _))| live.location(tree).map(|loc| (i, loc)))
        .collect();
    located.sort_by_key(|(_, loc)| (loc.pack, loc.offset));
    let runs = runs_of(&located);
    let opened: Vec<Vec<(usize, Option<TreeBlob>)>> = runs
        .par_iter()
        .map(|run| {
            let (first, last) = (&run[0].1, &run[run.len() - 1].1);
            let span = first.offset..last.offset + u64::from(last.length);
            let bytes = repo
                .backend()
                .read_local_range(&crate::format::layout::pack(&first.pack), span.clone());
            run.iter()
                .map(|(i, loc)| {
                    let piece = bytes.as_ref().and_then(|b| {
                        let at = usize::try_from(loc.offset - span.start).ok()?;
                        b.get(at..at.checked_add(loc.length as usize)?)
                    });
                    // Any trouble is left to the cache path, which names it.
                    let tree = piece.and_then(|p| repo.open_tree(&level[*i].0, loc, p).ok());
                    (*i, tree)
                })
                .collect()
        })
        .collect();
    let mut out: Vec<Option<Result<std::sync::Arc<TreeBlob>>>> =
        level.iter().map(|_| None).collect();
    for (i, tree) in opened.into_iter().flatten() {
        out[i] = tree.map(|t| Ok(std::sync::Arc::new(t)));
    }
    Ok(out
        .into_par_iter()
        .zip(level.par_iter())
        .map(|(read, entry)| read.unwrap_or_else(|| through_cache(entry)))
        .collect())
}

/// Bytes of other blobs a local read may span to reach the next wanted piece.
const LOCAL_GAP: u64 = 256 << 10;
/// Largest local read.
const LOCAL_READ: u64 = 8 << 20;

/// Splits pieces sorted by (pack, offset) into runs read at once: same pack,
/// gaps of at most [`LOCAL_GAP`], spans of at most [`LOCAL_READ`].
fn runs_of(located: &[(usize, BlobLocation)]) -> Vec<&[(usize, BlobLocation)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for k in 1..=located.len() {
        let split = k == located.len() || {
            let (a, b) = (&located[k - 1].1, &located[k].1);
            let first = &located[start].1;
            let end = b.offset + u64::from(b.length);
            a.pack != b.pack
                || b.offset > a.offset + u64::from(a.length) + LOCAL_GAP
                || end.saturating_sub(first.offset) > LOCAL_READ
        };
        if split {
            runs.push(&located[start..k]);
            start = k;
        }
    }
    runs
}

/// Marks a tree and queues it for reading if it is new.
fn visit(
    live: &mut LiveSet<'_>,
    queue: &mut Vec<(BlobId, usize)>,
    tree: BlobId,
    from: usize,
    snapshots: &[SnapshotEntry],
) -> Result<()> {
    match live.walk(&tree) {
        Some(true) => queue.push((tree, from)),
        Some(false) => {}
        None => {
            return Err(unreadable(
                &tree,
                &snapshots[from],
                "no index file lists it",
            ));
        }
    }
    Ok(())
}

fn unreadable(tree: &BlobId, s: &SnapshotEntry, why: &str) -> Error {
    Error::InvalidInput(format!(
        "prune stops: tree {} of snapshot {} cannot be read ({why}); run `coffer check` and \
         `coffer repair snapshots` first",
        tree.short(),
        s.id.short()
    ))
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::format::pack::BlobKind;
    use crate::id::PackId;

    fn id(prefix: u8, tail: u8) -> BlobId {
        let mut b = [0u8; 32];
        b[..8].fill(prefix);
        b[31] = tail;
        BlobId(b)
    }

    fn pack(n: u8, ids: &[BlobId]) -> IndexedPack {
        IndexedPack {
            pack: PackId([n; 32]),
            pack_length: 100,
            blobs: ids
                .iter()
                .enumerate()
                .map(|(i, id)| BlobEntry {
                    id: *id,
                    kind: BlobKind::Data,
                    offset: i as u64 * 10,
                    length: 10,
                    raw_length: 5,
                })
                .collect(),
        }
    }

    /// Two index files: packs [a1, b] and [c] in the first, [b, a2] in the second.
    fn two_files(a1: BlobId, a2: BlobId, b: BlobId, c: BlobId) -> Vec<(IndexId, IndexFile)> {
        vec![
            (
                IndexId([1; 32]),
                IndexFile {
                    packs: vec![pack(1, &[a1, b]), pack(2, &[c])],
                },
            ),
            (
                IndexId([2; 32]),
                IndexFile {
                    packs: vec![pack(3, &[b, a2])],
                },
            ),
        ]
    }

    #[test]
    fn ids_sharing_a_prefix_duplicates_and_unknown_ids_are_told_apart() {
        // a1 and a2 share their first 8 bytes; b is stored in two packs of two files.
        let (a1, a2, b, c) = (id(1, 1), id(1, 2), id(2, 0), id(3, 0));
        let files = two_files(a1, a2, b, c);
        let mut live = LiveSet::new(&files).expect("fewer than 4 billion entries");
        assert_eq!(live.indexed(), 4);
        assert_eq!(live.indexed_packs().count(), 3);
        assert!(live.is_empty());
        assert!(live.insert(&a2));
        assert!(!live.insert(&a2), "second insert");
        assert!(
            live.contains(&a2) && !live.contains(&a1),
            "a prefix is not an id"
        );
        assert!(
            !live.insert(&id(1, 3)),
            "an id no index file lists has no slot"
        );
        assert!(!live.contains(&id(1, 3)) && !live.contains(&id(9, 9)));
        assert!(live.insert(&b));
        assert_eq!(live.len(), 2);
        // One claim per reached id, whichever pack asks first.
        assert!(live.claim(&b));
        assert!(!live.claim(&b));
        assert!(!live.claim(&c), "not reached");
        assert!(live.claim(&a2));
        live.clear_claims();
        assert!(live.claim(&b));
        // Walking marks a tree reached once; a reached data id is not "walked".
        assert_eq!(live.walk(&b), Some(true));
        assert_eq!(live.walk(&b), Some(false));
        assert_eq!(live.walk(&c), Some(true));
        assert!(live.contains(&c));
        assert_eq!(live.walk(&id(7, 7)), None);
        assert_eq!(live.len(), 3);
    }

    #[test]
    fn many_ids_over_many_buckets_are_each_found() {
        let ids: Vec<BlobId> = (0..5000u32)
            .map(|i| BlobId(crate::id::content_hash(&i.to_le_bytes())))
            .collect();
        let files: Vec<(IndexId, IndexFile)> = ids
            .chunks(700)
            .enumerate()
            .map(|(n, c)| {
                (
                    IndexId([n as u8; 32]),
                    IndexFile {
                        packs: c
                            .chunks(90)
                            .enumerate()
                            .map(|(k, c)| pack((n * 10 + k) as u8, c))
                            .collect(),
                    },
                )
            })
            .collect();
        let mut live = LiveSet::new(&files).expect("fewer than 4 billion entries");
        assert_eq!(live.indexed(), 5000);
        assert!(live.bucket_bits > 0);
        for id in ids.iter().step_by(2) {
            assert!(live.insert(id));
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(live.contains(id), i % 2 == 0, "id {i}");
        }
        assert_eq!(live.len(), 2500);
        let other = BlobId(crate::id::content_hash(b"not indexed"));
        assert!(!live.contains(&other) && !live.insert(&other));
    }

    #[test]
    fn slots_by_position_are_the_slots_by_id() {
        // b is listed twice (two files), a2 shares a1's prefix.
        let (a1, a2, b, c) = (id(1, 1), id(1, 2), id(2, 0), id(3, 0));
        let files = two_files(a1, a2, b, c);
        let mut live = LiveSet::new(&files).expect("fewer than 4 billion entries");
        live.insert(&b);
        live.insert(&a2);
        for (file, f) in &files {
            for (pos, p) in f.packs.iter().enumerate() {
                let by_position: Vec<Option<usize>> = live.pack_slots(file, pos, p).collect();
                let by_id: Vec<Option<usize>> = p.blobs.iter().map(|b| live.slot(&b.id)).collect();
                assert_eq!(by_position, by_id, "file {file:?} pack {pos}");
                for (s, b) in by_position.iter().zip(&p.blobs) {
                    assert_eq!(live.is_live_at(*s), live.contains(&b.id));
                }
            }
        }
        // The two entries of b share one slot: claimed once.
        let first: Vec<Option<usize>> = live
            .pack_slots(&files[0].0, 0, &files[0].1.packs[0])
            .collect();
        let second: Vec<Option<usize>> = live
            .pack_slots(&files[1].0, 0, &files[1].1.packs[0])
            .collect();
        assert!(live.claim_at(first[1]));
        assert!(!live.claim_at(second[0]));
        // A file the set did not number, or a pack not where the file has
        // it, is looked up by id.
        let unknown = pack(9, &[c, id(4, 0), a1]);
        let slots: Vec<Option<usize>> = live.pack_slots(&IndexId([7; 32]), 0, &unknown).collect();
        assert_eq!(slots, vec![live.slot(&c), None, live.slot(&a1)]);
        let moved: Vec<Option<usize>> = live
            .pack_slots(&files[0].0, 1, &files[0].1.packs[0])
            .collect();
        assert_eq!(moved, vec![live.slot(&a1), live.slot(&b)]);
        assert_eq!(live.pack_slots(&files[0].0, 5, &unknown).count(), 3);
    }

    #[test]
    fn an_empty_index_is_an_empty_set() {
        let files: Vec<(IndexId, IndexFile)> = Vec::new();
        let mut live = LiveSet::new(&files).expect("fewer than 4 billion entries");
        assert_eq!(live.indexed(), 0);
        assert!(!live.insert(&id(1, 1)) && !live.contains(&id(1, 1)) && !live.claim(&id(1, 1)));
    }
}
