//! The streaming Chunker against the in-memory path.

use std::io;

use coffer_chunker::{Chunker, ChunkerParams, ParamsError, chunk_boundaries};
use proptest::prelude::*;

use crate::input::{self, FailsAfter, Interrupting, ShortReads};

fn expected_chunks(data: &[u8], params: &ChunkerParams) -> Vec<Vec<u8>> {
    chunk_boundaries(data, params)
        .into_iter()
        .map(|r| data[r].to_vec())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn short_reads_give_the_same_chunks(
        params in input::small_params(),
        data in input::data(),
        read_seed in any::<u64>(),
    ) {
        let streamed: Vec<Vec<u8>> = Chunker::new(ShortReads::new(&data, read_seed), &params)
            .collect::<io::Result<_>>()
            .unwrap();
        prop_assert_eq!(streamed, expected_chunks(&data, &params));
    }
}

#[test]
fn short_reads_give_the_same_chunks_on_default_params() {
    let params = ChunkerParams::with_seed(0xc0ff_ee00);
    let data = input::random_bytes(11, 1_500_001);
    let streamed: Vec<Vec<u8>> = Chunker::new(ShortReads::new(&data, 5), &params)
        .collect::<io::Result<_>>()
        .unwrap();
    assert!(streamed.len() > 10);
    assert_eq!(streamed, expected_chunks(&data, &params));
}

#[test]
fn reader_error_is_yielded_once_after_the_chunks_before_it() {
    let params = ChunkerParams::with_seed(17);
    let data = input::random_bytes(12, 3 << 20);
    let mut chunker = Chunker::new(
        FailsAfter {
            data: &data[..1 << 20],
            kind: io::ErrorKind::PermissionDenied,
        },
        &params,
    );

    let mut good = Vec::new();
    let err = loop {
        match chunker.next() {
            Some(Ok(chunk)) => good.push(chunk),
            Some(Err(err)) => break err,
            None => panic!("the read error was swallowed"),
        }
    };
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(err.to_string(), "disk went away");
    assert!(
        chunker.next().is_none(),
        "iteration must stop after an error"
    );
    assert!(chunker.next().is_none());

    // Chunks yielded before the failure were cut with a full window, so they
    // are the ones the whole input would give.
    assert!(!good.is_empty());
    assert_eq!(good[..], expected_chunks(&data, &params)[..good.len()]);
}

#[test]
fn reader_error_before_any_chunk() {
    let params = ChunkerParams::with_seed(17);
    let mut chunker = Chunker::new(
        FailsAfter {
            data: &[1, 2, 3],
            kind: io::ErrorKind::UnexpectedEof,
        },
        &params,
    );
    assert_eq!(
        chunker.next().unwrap().unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
    assert!(chunker.next().is_none());
}

#[test]
fn interrupted_reads_are_retried() {
    let params = ChunkerParams::with_seed(23);
    let data = input::random_bytes(13, 600_000);
    let reader = Interrupting {
        inner: ShortReads::new(&data, 1),
        interrupt_next: false,
    };
    let streamed: Vec<Vec<u8>> = Chunker::new(reader, &params)
        .collect::<io::Result<_>>()
        .unwrap();
    assert_eq!(streamed, expected_chunks(&data, &params));
}

#[test]
fn invalid_params_are_one_invalid_input_error() {
    let params = ChunkerParams {
        min_size: 63,
        ..ChunkerParams::with_seed(1)
    };
    let mut chunker = Chunker::new(&b"some bytes"[..], &params);
    let err = chunker.next().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let inner = err
        .get_ref()
        .unwrap()
        .downcast_ref::<ParamsError>()
        .unwrap();
    assert_eq!(inner, &params.validate().unwrap_err());
    assert!(chunker.next().is_none());
}

#[test]
#[should_panic(
    expected = "chunk_boundaries called with invalid parameters: chunker avg_size 4096 is larger than max_size 2048"
)]
fn chunk_boundaries_panics_on_invalid_params() {
    let params = ChunkerParams {
        min_size: 64,
        avg_size: 4096,
        max_size: 2048,
        seed: 0,
    };
    let _ = chunk_boundaries(b"abc", &params);
}
