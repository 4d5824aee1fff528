//! The streaming chunker over a reader.

use std::io::{self, Read};
use std::iter::FusedIterator;

use fastcdc::v2020::StreamCDC;

use crate::params::{ChunkerParams, NORMALIZATION, ParamsError};

/// Bytes read from the source at a time.
const READ_BUFFER: usize = 1 << 20;

/// Streaming chunker over any reader: yields owned chunks in order; never holds
/// more than ~max_size bytes (plus fastcdc's buffer).
///
/// The cut points are those of [`chunk_boundaries`](crate::chunk_boundaries) on
/// the same bytes, however the reader splits its reads.
///
/// Errors: an I/O error from the reader is yielded as an `Err` item, after which
/// the iterator is finished (it returns `None`), so a loop that skips errors
/// cannot spin on a reader that keeps failing. Reads interrupted by a signal
/// ([`io::ErrorKind::Interrupted`]) are retried, as [`Read::read_exact`] does.
/// Invalid parameters are reported the same way, as one
/// [`io::ErrorKind::InvalidInput`] error wrapping the [`ParamsError`].
pub struct Chunker<R: Read> {
    state: State<R>,
}

enum State<R: Read> {
    Running(StreamCDC<RetryInterrupted<io::BufReader<R>>>),
    Invalid(ParamsError),
    Done,
}

impl<R: Read> Chunker<R> {
    /// Chunks everything `reader` yields, with `params`.
    ///
    /// Allocates fastcdc's `max_size` buffer up front; nothing is read until the
    /// first call to `next`.
    pub fn new(reader: R, params: &ChunkerParams) -> Self {
        let state = match params.validate() {
            Ok(()) => {
                let (min, avg, max) = params.sizes();
                State::Running(StreamCDC::with_level_and_seed(
                    // fastcdc refills a max_size buffer per chunk: without a
                    // large buffer in front, that is one read call per chunk.
                    RetryInterrupted(io::BufReader::with_capacity(READ_BUFFER, reader)),
                    min,
                    avg,
                    max,
                    NORMALIZATION,
                    params.seed,
                ))
            }
            Err(err) => State::Invalid(err),
        };
        Self { state }
    }
}

impl<R: Read> Iterator for Chunker<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        // Taking the state out leaves `Done` behind on every path that does not
        // put the chunker back, which drops fastcdc's buffer at the end.
        match std::mem::replace(&mut self.state, State::Done) {
            State::Running(mut cdc) => match cdc.next()? {
                Ok(chunk) => {
                    self.state = State::Running(cdc);
                    Some(Ok(chunk.data))
                }
                // fastcdc's error converts to the reader's own io::Error
                // (kind and source intact); its other variants cannot occur
                // in iteration and map to ErrorKind::Other.
                Err(err) => Some(Err(err.into())),
            },
            State::Invalid(err) => Some(Err(io::Error::new(io::ErrorKind::InvalidInput, err))),
            State::Done => None,
        }
    }
}

impl<R: Read> FusedIterator for Chunker<R> {}

/// Retries reads interrupted by a signal; fastcdc would otherwise surface them
/// as errors and abort the stream.
struct RetryInterrupted<R>(R);

impl<R: Read> Read for RetryInterrupted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }
}
