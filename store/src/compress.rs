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
    if level > 0 && data.len() >= 64 && sample_entropy(data) < ENTROPY_LIMIT {
        if let Ok(z) = compress_reusing_context(data, level) {
            if z.len() + z.len() / 50 < data.len() {
                let mut out = Vec::with_capacity(z.len() + 1);
                out.push(MODE_ZSTD);
                out.extend_from_slice(&z);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(MODE_RAW);
    out.extend_from_slice(data);
    out
}

/// zstd with one compression context per thread: creating a context per blob
/// costs more than compressing a small document.
fn compress_reusing_context(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    use std::cell::RefCell;
    thread_local! {
        static CONTEXT: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
    }
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(data),
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
    fn decode_refuses_wrong_sizes_and_modes() {
        let framed = encode_blob(&[b'a'; 1000], 3);
        assert!(decode_blob(&framed, 999).is_err());
        assert!(decode_blob(&[9, 1, 2], 2).is_err());
        assert!(decode_blob(&[], 0).is_err());
    }
}
