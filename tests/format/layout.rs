//! A record's bytes written field by field from the rules of FORMAT.md
//! ("Conventions"), with a label per field. The vectors carry these labelled
//! pieces so a stranger can see where each field sits, and the test proves
//! that their concatenation is what `coffer_store::codec::encode` writes:
//! the document and postcard agree.

use serde_json::{Value, json};

/// A record being laid out: `(label, bytes)` pieces in wire order.
pub struct Layout {
    parts: Vec<(String, Vec<u8>)>,
}

impl Layout {
    /// Starts a record with its tag and body version bytes.
    pub fn record(tag: u8, version: u8) -> Self {
        Self {
            parts: vec![
                ("record tag".into(), vec![tag]),
                ("record version".into(), vec![version]),
            ],
        }
    }

    /// Starts a fragment with no record header (a nested value).
    pub fn fragment() -> Self {
        Self { parts: Vec::new() }
    }

    fn push(&mut self, label: String, bytes: Vec<u8>) -> &mut Self {
        self.parts.push((label, bytes));
        self
    }

    /// Unsigned integer (u16, u32, u64): LEB128 varint.
    pub fn uint(&mut self, label: &str, v: u64) -> &mut Self {
        self.push(format!("{label}: varint {v}"), varint(v))
    }

    /// Signed integer (i32, i64): zigzag, then LEB128 varint.
    pub fn int(&mut self, label: &str, v: i64) -> &mut Self {
        let z = zigzag(v);
        self.push(format!("{label}: zigzag varint {v} (-> {z})"), varint(z))
    }

    pub fn bool(&mut self, label: &str, v: bool) -> &mut Self {
        self.push(format!("{label}: bool {v}"), vec![u8::from(v)])
    }

    /// `[u8; 32]` and other fixed arrays: the bytes alone, no length.
    pub fn array(&mut self, label: &str, bytes: &[u8]) -> &mut Self {
        self.push(
            format!("{label}: [u8; {}] raw, no length prefix", bytes.len()),
            bytes.to_vec(),
        )
    }

    /// `Vec<u8>` and `String`: varint length, then the bytes.
    pub fn bytes(&mut self, label: &str, bytes: &[u8]) -> &mut Self {
        let mut out = varint(bytes.len() as u64);
        out.extend_from_slice(bytes);
        let shown = match std::str::from_utf8(bytes) {
            Ok(s) if !s.is_empty() && s.chars().all(|c| !c.is_control()) => format!(" {s:?}"),
            _ => String::new(),
        };
        self.push(
            format!("{label}: length {} + bytes{shown}", bytes.len()),
            out,
        )
    }

    /// The varint element count that starts a `Vec<T>` of non-byte items.
    pub fn seq(&mut self, label: &str, len: usize) -> &mut Self {
        self.push(
            format!("{label}: sequence length {len}"),
            varint(len as u64),
        )
    }

    /// An enum variant: its declaration index as a varint.
    pub fn variant(&mut self, label: &str, index: u32, name: &str) -> &mut Self {
        self.push(
            format!("{label}: variant {index} = {name}"),
            varint(u64::from(index)),
        )
    }

    /// `Option<T>`: tag 0 (None) or 1 (Some, the value follows).
    pub fn option(&mut self, label: &str, some: bool) -> &mut Self {
        self.push(
            format!(
                "{label}: option tag {}",
                if some { "1 = Some" } else { "0 = None" }
            ),
            vec![u8::from(some)],
        )
    }

    /// Appends a fragment's pieces, prefixing their labels.
    pub fn nest(&mut self, prefix: &str, inner: Layout) -> &mut Self {
        for (label, bytes) in inner.parts {
            self.parts.push((format!("{prefix}{label}"), bytes));
        }
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    /// `[[label, hex], ...]` for the vectors file.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.parts
                .iter()
                .map(|(label, bytes)| json!([label, hex::encode(bytes)]))
                .collect(),
        )
    }
}

/// LEB128: seven bits at a time, least significant first, high bit set on
/// every byte but the last.
pub fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let low = u8::try_from(v & 0x7f).unwrap();
        v >>= 7;
        if v == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

/// Zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
#[allow(clippy::cast_sign_loss)] // the reinterpretation is the point
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[test]
fn varint_and_zigzag_match_the_examples_in_format_md() {
    assert_eq!(varint(0), [0x00]);
    assert_eq!(varint(127), [0x7f]);
    assert_eq!(varint(128), [0x80, 0x01]);
    assert_eq!(varint(300), [0xac, 0x02]);
    assert_eq!(varint(u64::MAX).len(), 10);
    assert_eq!(zigzag(0), 0);
    assert_eq!(zigzag(-1), 1);
    assert_eq!(zigzag(1), 2);
    assert_eq!(zigzag(-2), 3);
    assert_eq!(zigzag(i64::MIN), u64::MAX);
}
