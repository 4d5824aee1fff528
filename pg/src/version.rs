//! PostgreSQL major versions: 15 for 15.x, but 9.6 for 9.6.x (before 10 the
//! first two numbers formed the major release).
//!
//! A major is kept in `server_version_num` units (15 -> 150000, 9.6 -> 90600)
//! so that comparing two majors compares releases. An earlier encoding as
//! "15" and "906" compared 9.6 as newer than 15, and a 9.6 pg_dump against a
//! 15 server was let through.

use crate::{Error, Result};
use std::fmt;

/// A major release, ordered by age.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Major(u32);

impl Major {
    /// The major of `server_version_num` (150018 -> 15, 90603 -> 9.6).
    pub fn of_version_num(num: u32) -> Self {
        if num >= 100_000 {
            Self(num / 10_000 * 10_000)
        } else {
            Self(num / 100 * 100)
        }
    }
}

impl fmt::Display for Major {
    /// `15`, or `9.6`: how PostgreSQL names its releases and packages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 100_000 {
            write!(f, "{}", self.0 / 10_000)
        } else {
            write!(f, "{}.{}", self.0 / 10_000, self.0 / 100 % 100)
        }
    }
}

/// The version and its major from `pg_dump --version`
/// (`pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` -> ("15.18", 15)).
pub fn major_of_version_text(text: &str) -> Result<(String, Major)> {
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
        [m, ..] if *m >= 10 => Major(m * 10_000),
        [m, n] => Major(m * 10_000 + n * 100),
        _ => return Err(bad()),
    };
    Ok((word.to_string(), major))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_major(t: &str) -> Major {
        major_of_version_text(t).expect("parses").1
    }

    #[test]
    fn majors_parse_and_print() {
        assert_eq!(Major::of_version_num(150_018).to_string(), "15");
        assert_eq!(Major::of_version_num(90_603).to_string(), "9.6");
        let (v, m) = major_of_version_text("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n")
            .expect("parses");
        assert_eq!((v.as_str(), m.to_string().as_str()), ("15.18", "15"));
        assert_eq!(text_major("pg_dump (PostgreSQL) 9.6.24").to_string(), "9.6");
        assert_eq!(text_major("pg_dump (PostgreSQL) 17devel").to_string(), "17");
        assert!(major_of_version_text("nonsense").is_err());
    }

    #[test]
    fn majors_compare_by_release_across_the_version_10_renumbering() {
        let server15 = Major::of_version_num(150_018);
        assert!(text_major("pg_dump (PostgreSQL) 9.6.24") < server15);
        assert!(text_major("pg_dump (PostgreSQL) 14.11") < server15);
        assert_eq!(text_major("pg_dump (PostgreSQL) 15.2"), server15);
        assert!(text_major("pg_dump (PostgreSQL) 16.1") > server15);
        assert!(text_major("pg_dump (PostgreSQL) 10.23") > Major::of_version_num(90_624));
        assert!(text_major("pg_dump (PostgreSQL) 9.5.3") < Major::of_version_num(90_624));
    }
}
