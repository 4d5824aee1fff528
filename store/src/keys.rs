//! Passwords of a repository: listing, adding, removing and changing them.
//!
//! Every key file wraps the same master secret under one password
//! (FORMAT.md, section 7), so changing passwords touches key files only: no
//! pack, index or snapshot is rewritten. Removing a key file does not revoke
//! what someone who knew its password could already have copied: the master
//! secret stays the same (FORMAT.md, section 16).

use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::format::layout;
use crate::id::KeyId;
use crate::repo::{Repository, read_key_file, write_key_file};
use std::time::SystemTime;

/// What a key file says about itself (all of it is in clear in the repository).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: KeyId,
    pub created_unix_ns: i64,
    pub host: String,
    pub username: String,
    pub kdf: KdfParams,
    /// The key file this session's password opened.
    pub current: bool,
}

impl Repository {
    /// Every key file, oldest first. A damaged one is an error naming it.
    pub fn keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for (name, _) in self.backend().list(layout::KEYS)? {
            let Some(raw) = self.backend().get(&name)? else {
                continue; // removed between list and get
            };
            let file = read_key_file(&name, &raw)?;
            let id = layout::id_from_name(&name)
                .map(KeyId)
                .ok_or_else(|| Error::corrupt(&name, "key file name is not an id"))?;
            out.push(KeyInfo {
                id,
                created_unix_ns: file.created_unix_ns,
                host: file.host,
                username: file.username,
                kdf: file.kdf,
                current: id == self.key_id(),
            });
        }
        out.sort_by_key(|k| (k.created_unix_ns, k.id));
        Ok(out)
    }

    /// Adds a key file for another password; the current one keeps working.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams, now: SystemTime) -> Result<KeyId> {
        write_key_file(self.backend(), self.key(), password, kdf, now)
    }

    /// Removes the key file whose id starts with `spec` (at least 4 hex
    /// digits). Refuses the one this session's password opened, so that no
    /// command can lock out the password it runs with; `change_password`
    /// replaces that one.
    pub fn remove_key(&self, spec: &str) -> Result<KeyId> {
        let keys = self.keys()?;
        let id = find_key(&keys, spec)?;
        if id == self.key_id() {
            return Err(Error::InvalidInput(format!(
                "key {} is the one this password opened: remove it with another password, \
                 or use `key passwd` to replace it",
                id.short()
            )));
        }
        self.backend().delete(&layout::key(&id))?;
        Ok(id)
    }

    /// Replaces the current password: writes a key file for the new one,
    /// proves it opens, and only then removes the old one. Interrupted at any
    /// point, at least one of the two passwords still opens the repository.
    pub fn change_password(
        &self,
        new_password: &[u8],
        kdf: KdfParams,
        now: SystemTime,
    ) -> Result<KeyId> {
        let new_id = self.add_key(new_password, kdf, now)?;
        let name = layout::key(&new_id);
        let raw = self
            .backend()
            .get(&name)?
            .ok_or_else(|| Error::corrupt(&name, "the new key file vanished after writing"))?;
        let file = read_key_file(&name, &raw)?;
        let wk = crate::crypto::derive_wrapping_key(new_password, &file.salt, file.kdf)
            .map_err(Error::InvalidInput)?;
        let opened = crate::crypto::unwrap_master(&wk, &file.wrapped_master)
            .map_err(|e| Error::corrupt(&name, format!("the new key file does not open: {e}")))?;
        if opened.chunk_ids().id(b"coffer") != self.key().chunk_ids().id(b"coffer") {
            return Err(Error::corrupt(
                &name,
                "the new key file wraps another master key",
            ));
        }
        self.backend().delete(&layout::key(&self.key_id()))?;
        Ok(new_id)
    }
}

fn find_key(keys: &[KeyInfo], spec: &str) -> Result<KeyId> {
    let want = spec.to_ascii_lowercase();
    if want.len() < 4 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::InvalidInput(format!(
            "{spec:?} is not a key id: give at least 4 hex digits (see `coffer key list`)"
        )));
    }
    let mut hits = keys.iter().filter(|k| k.id.to_hex().starts_with(&want));
    let Some(first) = hits.next() else {
        return Err(Error::InvalidInput(format!(
            "no key file {spec} in this repository (see `coffer key list`)"
        )));
    };
    if hits.next().is_some() {
        return Err(Error::InvalidInput(format!(
            "{spec} matches several key files: give more digits"
        )));
    }
    Ok(first.id)
}
