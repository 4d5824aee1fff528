//! Key files (`keys/<id>`): the master secret wrapped under a password.
//! Not sealed with the master key (that is what they unlock); the wrapped
//! secret inside is sealed with the argon2id-derived key.

use super::{split_header, with_header};
use crate::codec::Record;
use crate::crypto::KdfParams;
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"COFFERKY";
pub const KEY_FILE_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    pub kdf: KdfParams,
    /// 16 random bytes.
    pub salt: Vec<u8>,
    /// `nonce || XChaCha20-Poly1305(master secret) || tag`, AAD "coffer:master-key".
    pub wrapped_master: Vec<u8>,
    pub created_unix_ns: i64,
    pub host: String,
    pub username: String,
}

impl Record for KeyFile {
    const TAG: u8 = 0x02;
    const VERSION: u8 = 1;
    const NAME: &'static str = "key file";
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    with_header(MAGIC, KEY_FILE_VERSION, body)
}

pub fn unframe(bytes: &[u8]) -> Result<(u32, &[u8]), &'static str> {
    split_header(bytes, MAGIC)
}
