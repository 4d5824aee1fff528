//! Keys and authenticated encryption.
//!
//! One random 32-byte master secret per repository. Every other key is derived
//! from it with BLAKE3's key derivation mode and a fixed context string, so the
//! key files only need to wrap those 32 bytes. The password never touches data:
//! argon2id turns it into a wrapping key for the master secret (key files), which
//! is what lets a password change leave every pack untouched.
//!
//! Objects are sealed with XChaCha20-Poly1305: its 192-bit random nonces can be
//! drawn freshly for every blob of a ten-year repository without a counter to
//! keep and without a birthday bound worth worrying about (AES-GCM's 96-bit
//! random nonces are not safe past ~2^32 messages per key).

use chacha20poly1305::aead::{Aead, AeadInOut, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use coffer_chunker::ChunkIdKey;
use zeroize::Zeroizing;

/// Nonce bytes at the start of every sealed object.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag bytes at the end of every sealed object.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// BLAKE3 `derive_key` contexts: part of the format, never change them.
pub const CONTEXT_ENCRYPTION: &str = "coffer 2026-11 object encryption key v1";
pub const CONTEXT_CHUNK_ID: &str = "coffer 2026-11 chunk id key v1";
pub const CONTEXT_CHUNKER_SEED: &str = "coffer 2026-11 chunker seed v1";

/// Associated data: binds a sealed object to its kind, so an index file can
/// never be passed off as a snapshot or a blob as a pack trailer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    Config,
    Index,
    Snapshot,
    PackTrailer,
    Blob,
    MasterKey,
    Lock,
    Condemned,
    Catalogue,
}

impl Domain {
    pub fn aad(self) -> &'static [u8] {
        match self {
            Domain::Config => b"coffer:config",
            Domain::Index => b"coffer:index",
            Domain::Snapshot => b"coffer:snapshot",
            Domain::PackTrailer => b"coffer:pack-trailer",
            Domain::Blob => b"coffer:blob",
            Domain::MasterKey => b"coffer:master-key",
            Domain::Lock => b"coffer:lock",
            Domain::Condemned => b"coffer:condemned",
            Domain::Catalogue => b"coffer:catalogue",
        }
    }
}

/// The authentication tag did not verify: wrong key, or damaged bytes.
#[derive(Debug, thiserror::Error)]
#[error("authentication failed (wrong key or damaged bytes)")]
pub struct AuthError;

/// The repository's master secret and what derives from it.
pub struct MasterKey {
    secret: Zeroizing<[u8; 32]>,
    cipher: XChaCha20Poly1305,
    chunk_ids: ChunkIdKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh random master secret.
    pub fn generate() -> Self {
        Self::from_secret(random_array())
    }

    pub fn from_secret(secret: [u8; 32]) -> Self {
        let enc = Zeroizing::new(blake3::derive_key(CONTEXT_ENCRYPTION, &secret));
        let id_key = blake3::derive_key(CONTEXT_CHUNK_ID, &secret);
        Self {
            cipher: XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*enc)),
            chunk_ids: ChunkIdKey::new(id_key),
            secret: Zeroizing::new(secret),
        }
    }

    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The chunker's gear seed chosen at `init` (stored in the config afterwards).
    pub fn chunker_seed(&self) -> u64 {
        let k = blake3::derive_key(CONTEXT_CHUNKER_SEED, self.secret.as_ref());
        let mut b = [0u8; 8];
        b.copy_from_slice(&k[..8]);
        u64::from_le_bytes(b)
    }

    pub fn chunk_ids(&self) -> &ChunkIdKey {
        &self.chunk_ids
    }

    /// `nonce || ciphertext || tag` with a fresh random nonce.
    pub fn seal(&self, domain: Domain, plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher, domain, plaintext)
    }

    /// Like [`Self::seal`] for a plaintext that `write` appends to the
    /// buffer it is given (at most about `capacity` bytes): the plaintext is
    /// built, encrypted and tagged in the one allocation that is returned,
    /// where `seal` of a separately built plaintext copies it twice more.
    /// This is the per-blob path of a backup.
    pub fn seal_built(
        &self,
        domain: Domain,
        capacity: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = random_array();
        let mut out = Vec::with_capacity(NONCE_LEN + capacity + TAG_LEN);
        out.extend_from_slice(&nonce_bytes);
        write(&mut out);
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &XNonce::from(nonce_bytes),
                domain.aad(),
                (&mut out[NONCE_LEN..]).into(),
            )
            .unwrap_or_else(|_| panic!("plaintext of {} bytes too long to seal", out.len()));
        out.extend_from_slice(&tag);
        out
    }

    pub fn open(&self, domain: Domain, sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
        open_with(&self.cipher, domain, sealed)
    }
}

fn seal_with(cipher: &XChaCha20Poly1305, domain: Domain, plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes: [u8; NONCE_LEN] = random_array();
    let nonce = XNonce::from(nonce_bytes);
    let payload = Payload {
        msg: plaintext,
        aad: domain.aad(),
    };
    // Encryption only fails for messages beyond 256 GiB; blobs are capped far below.
    let ct = cipher
        .encrypt(&nonce, payload)
        .unwrap_or_else(|_| panic!("plaintext of {} bytes too long to seal", plaintext.len()));
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ct);
    out
}

fn open_with(
    cipher: &XChaCha20Poly1305,
    domain: Domain,
    sealed: &[u8],
) -> Result<Vec<u8>, AuthError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(AuthError);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| AuthError)?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ct,
                aad: domain.aad(),
            },
        )
        .map_err(|_| AuthError)
}

/// Argon2id cost parameters, recorded in each key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes).
    /// The lanes are computed in parallel (argon2's `parallel` feature):
    /// ~0.06 s on two cores, where one lane took ~0.13 s for the same memory
    /// and passes. Key files made with one lane keep theirs.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };

    /// The most a key file may ask for. A key file is read before anything is
    /// authenticated, so its cost is attacker-chosen: without a ceiling, one
    /// planted key file makes every open allocate terabytes or spin for days.
    /// 4 GiB and 64 passes are far above any cost a person would choose.
    pub const MAX_MEMORY_KIB: u32 = 4 << 20;
    pub const MAX_ITERATIONS: u32 = 64;
    pub const MAX_PARALLELISM: u32 = 64;

    /// Refuses a cost above the ceilings (argon2 itself refuses one below its floors).
    pub fn check_ceiling(&self) -> Result<(), String> {
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism > Self::MAX_PARALLELISM
        {
            return Err(format!(
                "argon2 cost of {} KiB, {} passes, {} lanes is above the ceiling \
                 ({} KiB, {} passes, {} lanes)",
                self.memory_kib,
                self.iterations,
                self.parallelism,
                Self::MAX_MEMORY_KIB,
                Self::MAX_ITERATIONS,
                Self::MAX_PARALLELISM
            ));
        }
        Ok(())
    }
}

/// Argon2id(password, salt) -> 32-byte key that wraps the master secret.
pub fn derive_wrapping_key(
    password: &[u8],
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, String> {
    params.check_ceiling()?;
    let p = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, salt, out.as_mut())
        .map_err(|e| format!("argon2: {e}"))?;
    Ok(out)
}

/// Seals the master secret under a password-derived key.
pub fn wrap_master(wrapping_key: &[u8; 32], master: &MasterKey) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*wrapping_key));
    seal_with(&cipher, Domain::MasterKey, master.secret())
}

/// Opens a wrapped master secret; `AuthError` means the password was wrong.
pub fn unwrap_master(wrapping_key: &[u8; 32], wrapped: &[u8]) -> Result<MasterKey, AuthError> {
    let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*wrapping_key));
    let plain = Zeroizing::new(open_with(&cipher, Domain::MasterKey, wrapped)?);
    let secret: [u8; 32] = plain.as_slice().try_into().map_err(|_| AuthError)?;
    Ok(MasterKey::from_secret(secret))
}

/// Random bytes from the operating system.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS generator failing leaves nothing sane to do: refusing to make keys is right.
    getrandom::fill(&mut b)
        .unwrap_or_else(|e| panic!("operating system random source failed: {e}"));
    b
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_domain_binding() {
        let k = MasterKey::generate();
        let s = k.seal(Domain::Index, b"hello");
        assert_eq!(s.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(k.open(Domain::Index, &s).unwrap(), b"hello");
        assert!(k.open(Domain::Snapshot, &s).is_err(), "domain must bind");
        let mut bad = s.clone();
        bad[NONCE_LEN + 1] ^= 1;
        assert!(
            k.open(Domain::Index, &bad).is_err(),
            "a flipped bit must fail"
        );
        assert!(k.open(Domain::Index, &s[..10]).is_err());
    }

    #[test]
    fn a_plaintext_built_in_place_seals_as_seal_does() {
        let k = MasterKey::generate();
        let s = k.seal_built(Domain::Blob, 3, |out| out.extend_from_slice(b"abc"));
        assert_eq!(s.len(), 3 + SEAL_OVERHEAD);
        assert_eq!(k.open(Domain::Blob, &s).unwrap(), b"abc");
        assert!(k.open(Domain::Index, &s).is_err(), "domain must bind");
        // A write past the hinted capacity still seals whole.
        let long = k.seal_built(Domain::Blob, 0, |out| out.extend_from_slice(&[7; 100]));
        assert_eq!(k.open(Domain::Blob, &long).unwrap(), vec![7; 100]);
    }

    #[test]
    fn wrap_unwrap_with_password() {
        let fast = KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let k = MasterKey::generate();
        let wk = derive_wrapping_key(b"pw", b"0123456789abcdef", fast).unwrap();
        let wrapped = wrap_master(&wk, &k);
        let back = unwrap_master(&wk, &wrapped).unwrap();
        assert_eq!(back.secret(), k.secret());
        let wrong = derive_wrapping_key(b"nope", b"0123456789abcdef", fast).unwrap();
        assert!(unwrap_master(&wrong, &wrapped).is_err());
    }
}
