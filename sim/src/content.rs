//! The bytes of a document version, derived from (seed, path, version) alone:
//! PDF-like page text that compresses, and a high-entropy part that does not
//! (embedded images and fonts).

/// The length of a version, from one random draw of the plan.
pub fn size_of(path: &str, _version: u32, draw: u64) -> u64 {
    if path.starts_with("documents/contrats/") {
        40_000 + draw % 360_000
    } else {
        3_000 + draw % 6_000
    }
}

/// The content of `path` at `version`, exactly `size` bytes.
pub fn content(seed: u64, path: &str, version: u32, size: u64) -> Vec<u8> {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(format!("%PDF-1.4\n% {path} v{version}\n").as_bytes());
    // A quarter of the bytes from an extendable hash: images, fonts, compressed
    // streams. The rest is page text, which zstd squeezes.
    let mut line = 0u32;
    while out.len() < size - size / 4 {
        out.extend_from_slice(
            format!(
                "BT /F1 10 Tf 72 {} Td ({path} ligne {line}) Tj ET\n",
                800 - line % 700
            )
            .as_bytes(),
        );
        line += 1;
    }
    out.truncate(size - size / 4);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(path.as_bytes());
    hasher.update(&version.to_le_bytes());
    let start = out.len();
    out.resize(size, 0);
    hasher.finalize_xof().fill(&mut out[start..]);
    out
}
