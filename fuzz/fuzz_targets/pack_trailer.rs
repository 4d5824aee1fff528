//! Fuzz target: `Decoder::Pack` (see store/src/untrusted.rs). Ok or Err, never a panic.
#![no_main]

use coffer_store::untrusted::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Decoder::Pack.run(data);
});
