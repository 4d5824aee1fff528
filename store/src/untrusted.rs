//! Every decoder of repository bytes, behind one entry point each, for the
//! fuzz targets (`fuzz/`) and the corpus-replay test (`store/tests/store/decoders.rs`).
//!
//! Sealed objects reach their decoders only after the AEAD has authenticated
//! them, so a fuzzer that fed sealed bytes would test nothing but the tag check.
//! Each entry here takes what its decoder really sees: the plaintext record
//! (or, for key files and the config, the unsealed framing around it). The
//! contract, for any input: return `Ok` or `Err`, never panic, never allocate
//! in proportion to a length the input merely claims.

use crate::codec;
use crate::compress;
use crate::format::config;
use crate::format::index::IndexFile;
use crate::format::pack::{self, PackTrailer};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Content, NodeKind, TreeBlob};

/// One decoder of repository bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoder {
    /// The last bytes of a pack: footer, then its (plaintext) trailer, entries checked.
    Pack,
    /// An index file's plaintext.
    Index,
    /// A snapshot manifest's plaintext.
    Snapshot,
    /// A tree blob's plaintext (directory or content-list piece).
    Tree,
    /// A key file object as stored (it is not sealed), its argon2 cost checked.
    KeyFile,
    /// The config object's clear header, then a config record's plaintext.
    Config,
    /// A blob's compression framing: `u32 LE claimed length || framed bytes`.
    Blob,
}

impl Decoder {
    pub const ALL: [Decoder; 7] = [
        Decoder::Pack,
        Decoder::Index,
        Decoder::Snapshot,
        Decoder::Tree,
        Decoder::KeyFile,
        Decoder::Config,
        Decoder::Blob,
    ];

    /// The fuzz target's and corpus folder's name.
    pub fn name(self) -> &'static str {
        match self {
            Decoder::Pack => "pack_trailer",
            Decoder::Index => "index_file",
            Decoder::Snapshot => "snapshot",
            Decoder::Tree => "tree_blob",
            Decoder::KeyFile => "key_file",
            Decoder::Config => "config",
            Decoder::Blob => "blob_framing",
        }
    }

    /// Decodes `bytes` as this decoder's input; the error says why not.
    pub fn run(self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Decoder::Pack => pack_tail(bytes),
            Decoder::Index => {
                let index: IndexFile = record(bytes)?;
                // What the index cache does with each entry: nothing sized by it.
                let blobs: usize = index.packs.iter().map(|p| p.blobs.len()).sum();
                std::hint::black_box(blobs);
                Ok(())
            }
            Decoder::Snapshot => record::<Snapshot>(bytes).map(drop),
            Decoder::Tree => tree(bytes),
            Decoder::KeyFile => {
                let file =
                    crate::repo::read_key_file("keys/fuzz", bytes).map_err(|e| e.to_string())?;
                file.kdf.check_ceiling()
            }
            Decoder::Config => {
                let (_version, body) = config::unframe(bytes)?;
                let c: config::Config = record(body)?;
                coffer_chunker::ChunkerParams {
                    min_size: c.chunker.min_size,
                    avg_size: c.chunker.avg_size,
                    max_size: c.chunker.max_size,
                    seed: c.chunker.seed,
                }
                .validate()
                .map_err(|e| e.to_string())
            }
            Decoder::Blob => {
                let (len, framed) = bytes.split_at_checked(4).ok_or("shorter than a length")?;
                let claimed = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
                compress::decode_blob(framed, claimed as usize).map(drop)
            }
        }
    }
}

fn record<R: codec::Record>(bytes: &[u8]) -> Result<R, String> {
    codec::decode(bytes).map_err(|e| e.to_string())
}

/// As `repair index` reads a pack: footer, trailer range, trailer, entries.
fn pack_tail(bytes: &[u8]) -> Result<(), String> {
    let footer = &bytes[bytes.len().saturating_sub(pack::FOOTER_LEN)..];
    let range = pack::trailer_range(bytes.len() as u64, footer)?;
    let start = usize::try_from(range.start).map_err(|e| e.to_string())?;
    let end = usize::try_from(range.end).map_err(|e| e.to_string())?;
    let trailer: PackTrailer = record(bytes.get(start..end).ok_or("trailer range outside")?)?;
    pack::check_entries(&trailer, range.start)
}

/// A tree piece, and the sums restore and check rely on.
fn tree(bytes: &[u8]) -> Result<(), String> {
    match record::<TreeBlob>(bytes)? {
        TreeBlob::DirLeaf(nodes) => {
            for n in &nodes {
                if let NodeKind::File {
                    content: Content::Inline(chunks),
                } = &n.kind
                {
                    // Restore compares the chunks' total with the node's size.
                    let total = chunks.iter().map(|c| u64::from(c.length)).sum::<u64>();
                    std::hint::black_box(total == n.size);
                }
            }
        }
        TreeBlob::DirInner(refs) => {
            std::hint::black_box(refs.iter().fold(0u64, |a, r| a.saturating_add(r.entries)));
        }
        TreeBlob::ContentLeaf(chunks) => {
            std::hint::black_box(chunks.iter().map(|c| u64::from(c.length)).sum::<u64>());
        }
        TreeBlob::ContentInner(refs) => {
            std::hint::black_box(refs.iter().fold(0u64, |a, r| a.saturating_add(r.bytes)));
        }
    }
    Ok(())
}
