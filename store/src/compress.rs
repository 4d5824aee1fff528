//! Blob compression: zstd, skipped where it cannot help.
//!
//! A blob's plaintext (what gets sealed) is `mode (1 byte) || payload`:
//! mode 0 = payload stored as is, mode 1 = payload is one zstd frame.
//! PDFs, JPEGs and zips are already compressed; a byte histogram of a sample
//! (~5 us) recognises them so we neither burn CPU nor store a larger blob.

/// Stored as is.
pub const MODE_RAW: u8 = 0;
/// One zstd frame.
pub const MODE_ZSTD: u8 = 1;

/// Bits per byte above which a sample is treated as incompressible.
const ENTROPY_LIMIT: f64 = 7.5;
// 4 KiB tells a PDF from SQL as well as more would, at a quarter of the cost.
const SAMPLE: usize = 4 * 1024;

/// Shannon entropy (bits per byte) of a prefix of `data`.
pub fn sample_entropy(data: &[u8]) -> f64 {
    let sample = &data[..data.len().min(SAMPLE)];
    if sample.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[usize::from(b)] += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let n = sample.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Frames `data` for sealing, compressed when that saves at least 2%.
pub fn encode_blob(data: &[u8], level: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    encode_blob_into(&mut out, data, level);
    out
}

/// Appends the framing of `data` to `out` (a sealed blob's buffer, so the
/// frame is written where it is encrypted, without a copy).
///
/// `level` is zstd's: 1 to 22, or negative for its fast levels (`zstd
/// --fast=N` is level -N: `init --compression -3` trades ratio for speed);
/// 0 stores the raw bytes.
pub fn encode_blob_into(out: &mut Vec<u8>, data: &[u8], level: i32) {
    let start = out.len();
    if level != 0 && data.len() >= 64 && sample_entropy(data) < ENTROPY_LIMIT {
        out.push(MODE_ZSTD);
        let frame_start = out.len();
        out.reserve(zstd::zstd_safe::compress_bound(data.len()));
        if let Ok(z) = compress_reusing_context(data, level, out) {
            if z + z / 50 < data.len() {
                return;
            }
        }
        out.truncate(start);
        debug_assert!(out.len() < frame_start);
    }
    out.push(MODE_RAW);
    out.extend_from_slice(data);
}

/// The most [`encode_blob_into`] may need to append for `len` bytes at
/// `level` (with the mode byte), so a buffer sized by it never grows.
pub fn framed_capacity(len: usize, level: i32) -> usize {
    if level == 0 {
        1 + len
    } else {
        1 + zstd::zstd_safe::compress_bound(len).max(len)
    }
}

/// zstd with one compression context per thread: creating a context per blob
/// costs more than compressing a small document. Appends one frame to `out`
/// (which has room for the worst case) and returns its length.
fn compress_reusing_context(data: &[u8], level: i32, out: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::cell::RefCell;
    thread_local! {
        static CONTEXT: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
    }
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some((l, c)) if *l != level => {
                c.set_compression_level(level)?;
                *l = level;
            }
            Some(_) => {}
            None => *slot = Some((level, zstd::bulk::Compressor::new(level)?)),
        }
        match slot.as_mut() {
            Some((_, c)) => {
                let at = out.len() as u64;
                let mut cursor = std::io::Cursor::new(out);
                cursor.set_position(at);
                c.compress_to_buffer(data, &mut cursor)
            }
            None => Err(std::io::Error::other("no zstd context")),
        }
    })
}

/// zstd decompression with one context per thread, for the same reason.
fn decompress_reusing_context(payload: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    use std::cell::RefCell;
    thread_local! {
        static CONTEXT: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { RefCell::new(None) };
    }
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(payload, capacity),
            None => Err(std::io::Error::other("no zstd context")),
        }
    })
}

/// No blob this build writes comes near this: chunks are at most 16 MiB (the
/// chunker's ceiling), tree pieces a few MiB. A larger length in an index
/// entry is damage or hostility, and decompression preallocates the length.
pub const MAX_BLOB_LEN: usize = 64 << 20;

/// Undoes [`encode_blob`]. `raw_len` (from the index) bounds decompression, so a
/// hostile frame cannot make us allocate more than the blob claims, and
/// [`MAX_BLOB_LEN`] bounds what a blob may claim.
pub fn decode_blob(framed: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    if raw_len > MAX_BLOB_LEN {
        return Err(format!(
            "claims {raw_len} bytes, more than any blob may hold ({MAX_BLOB_LEN})"
        ));
    }
    let (&mode, payload) = framed.split_first().ok_or("empty blob")?;
    let data = match mode {
        MODE_RAW => payload.to_vec(),
        MODE_ZSTD => decompress_reusing_context(payload, raw_len)
            .map_err(|e| format!("zstd frame does not decode: {e}"))?,
        other => return Err(format!("unknown compression mode {other}")),
    };
    if data.len() != raw_len {
        return Err(format!(
            "decodes to {} bytes, index says {raw_len}",
            data.len()
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_compresses_random_does_not() {
        let text = b"INSERT INTO llx_facture VALUES (1, 'FA2605-0001', 120.00);\n".repeat(500);
        let framed = encode_blob(&text, 3);
        assert_eq!(framed[0], MODE_ZSTD);
        assert!(framed.len() < text.len() / 10);
        assert_eq!(decode_blob(&framed, text.len()).unwrap(), text);

        let random: Vec<u8> = (0..100_000u32)
            .map(|i| blake3::hash(&i.to_le_bytes()).as_bytes()[0])
            .collect();
        assert!(sample_entropy(&random) > 7.5);
        let framed = encode_blob(&random, 3);
        assert_eq!(framed[0], MODE_RAW);
        assert_eq!(decode_blob(&framed, random.len()).unwrap(), random);
    }

    #[test]
    fn fast_levels_compress_and_level_zero_stores_raw() {
        let text =
            b"COPY public.llx_facture (rowid, ref) FROM stdin;\n1\tFA2605-0001\n".repeat(300);
        let mut sizes = Vec::new();
        for level in [3, 1, -1, -5] {
            let framed = encode_blob(&text, level);
            assert_eq!(framed[0], MODE_ZSTD, "level {level}");
            assert_eq!(decode_blob(&framed, text.len()).unwrap(), text);
            sizes.push(framed.len());
        }
        assert!(
            sizes[3] < text.len() / 4,
            "a fast level still compresses: {sizes:?}"
        );
        let raw = encode_blob(&text, 0);
        assert_eq!(raw[0], MODE_RAW);
        assert_eq!(&raw[1..], &text[..]);
    }

    #[test]
    fn a_frame_is_appended_after_what_the_buffer_holds() {
        let text = b"INSERT INTO llx_societe VALUES (1, 'SARL');\n".repeat(200);
        let mut out = b"nonce".to_vec();
        encode_blob_into(&mut out, &text, 3);
        assert_eq!(&out[..5], b"nonce");
        assert_eq!(out[5..], encode_blob(&text, 3)[..]);
        // One thread switching levels back and forth keeps producing valid frames.
        for level in [1, -3, 3, 1] {
            let framed = encode_blob(&text, level);
            assert_eq!(decode_blob(&framed, text.len()).unwrap(), text);
        }
    }

    #[test]
    fn decode_refuses_wrong_sizes_and_modes() {
        let framed = encode_blob(&[b'a'; 1000], 3);
        assert!(decode_blob(&framed, 999).is_err());
        assert!(decode_blob(&[9, 1, 2], 2).is_err());
        assert!(decode_blob(&[], 0).is_err());
    }
}
