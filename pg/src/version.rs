//! PostgreSQL version numbers: a "major" is 15 for 15.x, 906 for 9.6.x
//! (before 10 the first two numbers formed the major release).

use crate::{Error, Result};

/// The major of `server_version_num` (150018 -> 15, 90603 -> 906).
pub fn major_of_version_num(num: u32) -> u32 {
    if num >= 100_000 {
        num / 10_000
    } else {
        num / 100
    }
}

/// The version and its major from `pg_dump --version`
/// (`pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` -> ("15.18", 15)).
pub fn major_of_version_text(text: &str) -> Result<(String, u32)> {
    let bad = || Error::Unparsable {
        what: "the version pg_dump reported".into(),
        text: text.trim().to_string(),
    };
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .ok_or_else(bad)?;
    let nums: Vec<u32> = word
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let major = match nums.as_slice() {
        [m, ..] if *m >= 10 => *m,
        [m, n] => m * 100 + n,
        _ => return Err(bad()),
    };
    Ok((word.to_string(), major))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors() {
        assert_eq!(major_of_version_num(150_018), 15);
        assert_eq!(major_of_version_num(90_603), 906);
        let (v, m) = major_of_version_text("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n")
            .expect("parses");
        assert_eq!((v.as_str(), m), ("15.18", 15));
        assert_eq!(
            major_of_version_text("pg_dump (PostgreSQL) 9.6.24")
                .expect("parses")
                .1,
            906
        );
        assert!(major_of_version_text("nonsense").is_err());
    }
}
