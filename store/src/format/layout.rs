//! Where each object lives, relative to the repository root.

use crate::id::{CatalogueId, CondemnedId, IndexId, KeyId, LockId, PackId, SnapshotId};

pub const CONFIG: &str = "config";
pub const KEYS: &str = "keys";
pub const DATA: &str = "data";
pub const INDEX: &str = "index";
pub const SNAPSHOTS: &str = "snapshots";
pub const LOCKS: &str = "locks";
pub const CONDEMNED: &str = "condemned";
pub const CATALOGUE: &str = "catalogue";

pub fn key(id: &KeyId) -> String {
    format!("{KEYS}/{}", id.to_hex())
}

/// Packs fan out over 256 folders by their first hex byte, so no listing of
/// a local folder grows past a few thousand entries.
pub fn pack(id: &PackId) -> String {
    let hex = id.to_hex();
    format!("{DATA}/{}/{hex}", &hex[..2])
}

pub fn index(id: &IndexId) -> String {
    format!("{INDEX}/{}", id.to_hex())
}

pub fn snapshot(id: &SnapshotId) -> String {
    format!("{SNAPSHOTS}/{}", id.to_hex())
}

pub fn lock(id: &LockId) -> String {
    format!("{LOCKS}/{}", id.to_hex())
}

pub fn condemned(id: &CondemnedId) -> String {
    format!("{CONDEMNED}/{}", id.to_hex())
}

pub fn catalogue(id: &CatalogueId) -> String {
    format!("{CATALOGUE}/{}", id.to_hex())
}

/// The id at the end of an object name (`index/<hex>`, `data/ab/<hex>`).
pub fn id_from_name(name: &str) -> Option<[u8; 32]> {
    let last = name.rsplit('/').next()?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(last, &mut out).ok()?;
    Some(out)
}
