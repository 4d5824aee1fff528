//! The one place records become bytes and back.
//!
//! Every record is `tag (1 byte) || version (1 byte) || postcard(body)`.
//! postcard's wire format is frozen and documented (varint integers, length-prefixed
//! sequences, enums as varint discriminants), which is what a reader written ten
//! years from now needs. The tag says which record this is, the version lets a
//! later build keep reading old bodies; both are checked before postcard runs.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A record type with a fixed tag and the body version this build writes.
pub trait Record: Serialize + DeserializeOwned {
    /// Distinct per record type (see FORMAT.md, "Records").
    const TAG: u8;
    /// The body version this build writes and reads.
    const VERSION: u8;
    /// For error messages.
    const NAME: &'static str;
}

/// Why bytes did not decode as the expected record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty record")]
    Empty,
    #[error("expected a {expected} record (tag {tag_expected}), found tag {found}")]
    WrongTag {
        expected: &'static str,
        tag_expected: u8,
        found: u8,
    },
    #[error("{record} record version {found} is newer than this build reads ({supported})")]
    UnsupportedVersion {
        record: &'static str,
        found: u8,
        supported: u8,
    },
    #[error("malformed {record} record: {reason}")]
    Malformed {
        record: &'static str,
        reason: String,
    },
}

pub fn encode<R: Record>(record: &R) -> Vec<u8> {
    encode_as::<R, R>(record)
}

/// Encodes `body`, a borrowed view that serializes exactly as an `R` does
/// (the same fields in the same order, a slice where `R` has a `Vec`), as an
/// `R` record: a large record is then written without first copying its
/// parts into an owned `R`.
pub fn encode_as<R: Record, B: Serialize + ?Sized>(body: &B) -> Vec<u8> {
    let mut out = Vec::new();
    encode_as_into::<R, B>(body, &mut out);
    out
}

/// [`encode_as`] appended to `out` (a buffer that is then sealed in place).
pub fn encode_as_into<R: Record, B: Serialize + ?Sized>(body: &B, out: &mut Vec<u8>) {
    out.extend_from_slice(&[R::TAG, R::VERSION]);
    // Serializing plain structs into a Vec cannot fail.
    *out = postcard::to_extend(body, std::mem::take(out))
        .unwrap_or_else(|e| panic!("encoding a {} record: {e}", R::NAME));
}

pub fn decode<R: Record>(bytes: &[u8]) -> Result<R, DecodeError> {
    let (&tag, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if tag != R::TAG {
        return Err(DecodeError::WrongTag {
            expected: R::NAME,
            tag_expected: R::TAG,
            found: tag,
        });
    }
    let (&version, body) = rest.split_first().ok_or(DecodeError::Empty)?;
    if version != R::VERSION {
        return Err(DecodeError::UnsupportedVersion {
            record: R::NAME,
            found: version,
            supported: R::VERSION,
        });
    }
    let (record, trailing) =
        postcard::take_from_bytes::<R>(body).map_err(|e| DecodeError::Malformed {
            record: R::NAME,
            reason: e.to_string(),
        })?;
    if !trailing.is_empty() {
        return Err(DecodeError::Malformed {
            record: R::NAME,
            reason: format!("{} trailing bytes", trailing.len()),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Demo {
        a: u32,
        b: String,
    }
    impl Record for Demo {
        const TAG: u8 = 0xEE;
        const VERSION: u8 = 1;
        const NAME: &'static str = "demo";
    }

    #[test]
    fn round_trip_and_framing_checks() {
        let d = Demo {
            a: 300,
            b: "x".into(),
        };
        let bytes = encode(&d);
        // tag, version, varint(300) = ac 02, len 1, 'x'
        assert_eq!(bytes, vec![0xEE, 1, 0xac, 0x02, 1, b'x']);
        assert_eq!(decode::<Demo>(&bytes).unwrap(), d);
        let mut v2 = bytes.clone();
        v2[1] = 2;
        assert!(matches!(
            decode::<Demo>(&v2),
            Err(DecodeError::UnsupportedVersion { found: 2, .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<Demo>(&trailing),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(matches!(
            decode::<Demo>(&[0x01, 1]),
            Err(DecodeError::WrongTag { found: 1, .. })
        ));
    }
}
