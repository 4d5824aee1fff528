//! Deterministic test inputs and readers.

use std::io::{self, Read};

use coffer_chunker::ChunkerParams;
use proptest::prelude::*;

/// xorshift64*: tiny, deterministic and good enough to look random to a chunker.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // xorshift has a fixed point at zero.
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `low..=high`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next_u64() % (high - low + 1) as u64) as usize
    }
}

/// `len` pseudo-random bytes drawn from the first `alphabet` byte values;
/// a small alphabet gives low-entropy input, an alphabet of 1 constant input.
pub fn bytes(seed: u64, len: usize, alphabet: u16) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| (rng.next_u64() >> 32).wrapping_rem(u64::from(alphabet)) as u8)
        .collect()
}

pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    bytes(seed, len, 256)
}

/// Inputs for property tests: mostly random, sometimes low-entropy or constant,
/// lengths from empty to several maximum-size chunks (of `small_params`).
pub fn data() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = prop_oneof![4 => Just(256u16), 1 => 1u16..=4, 1 => 5u16..=255];
    let len = prop_oneof![1 => 0usize..=2048, 4 => 0usize..=65_536];
    (any::<u64>(), len, alphabet).prop_map(|(seed, len, alphabet)| bytes(seed, len, alphabet))
}

/// Valid parameters small enough that short inputs hold many chunks; clamping
/// makes `min == avg`, `avg == max` and the lowest bounds common.
pub fn small_params() -> impl Strategy<Value = ChunkerParams> {
    let seed = prop_oneof![1 => Just(0u64), 4 => any::<u64>()];
    (32u32..=1024, 64u32..=4096, 256u32..=8192, seed).prop_map(|(min, avg, max, seed)| {
        let min_size = min * 2;
        let avg_size = (avg * 2).max(min_size).max(256);
        let max_size = (max * 2).max(avg_size).max(1024);
        let params = ChunkerParams {
            min_size,
            avg_size,
            max_size,
            seed,
        };
        assert_eq!(params.validate(), Ok(()), "{params:?}");
        params
    })
}

/// Hands out 1 to 7 bytes per read.
pub struct ShortReads<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl<'a> ShortReads<'a> {
    pub fn new(data: &'a [u8], seed: u64) -> Self {
        Self {
            data,
            rng: Rng::new(seed),
        }
    }
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.rng.range(1, 7).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Reads `data` and then fails with `kind` instead of reporting the end.
pub struct FailsAfter<'a> {
    pub data: &'a [u8],
    pub kind: io::ErrorKind,
}

impl Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::Error::new(self.kind, "disk went away"));
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Fails every other read with `Interrupted`, as a read hit by a signal does.
pub struct Interrupting<R> {
    pub inner: R,
    pub interrupt_next: bool,
}

impl<R: Read> Read for Interrupting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt_next = !self.interrupt_next;
        if self.interrupt_next {
            Err(io::ErrorKind::Interrupted.into())
        } else {
            self.inner.read(buf)
        }
    }
}

/// About `len` bytes of pg_dump-like text: COPY blocks of tab-separated rows,
/// repetitive the way real dumps are.
pub fn sql_text(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 256);
    let mut id = 1000u64;
    while out.len() < len {
        out.extend_from_slice(
            b"COPY public.invoice_line (id, invoice_id, sku, qty, price, note) FROM stdin;\n",
        );
        for _ in 0..rng.range(20, 400) {
            id += 1;
            let line = format!(
                "{id}\t{}\tSKU-{:05}\t{}\t{}.{:02}\tdelivered to warehouse {}\n",
                id / 7,
                rng.range(0, 99_999),
                rng.range(1, 50),
                rng.range(0, 9_999),
                rng.range(0, 99),
                rng.range(1, 12),
            );
            out.extend_from_slice(line.as_bytes());
        }
        out.extend_from_slice(b"\\.\n\n");
    }
    out.truncate(len);
    out
}
