//! PostgreSQL through its own client programs: `psql` for queries, `pg_dump`
//! for the dump, `pg_restore` / `psql` to load it back.
//!
//! coffer links no PostgreSQL driver: the dump must come from `pg_dump` anyway,
//! and the same programs read the same connection settings (flags, a libpq
//! connection string in `--dbname`, `PG*` variables, `~/.pgpass`), so whatever
//! works for the operator's `pg_dump` works here. This crate knows nothing of
//! repositories (that is `coffer-store`) and never prints (that is the binary).

mod conn;
mod dump_rows;
mod session;
mod version;

pub use conn::{Conn, DatabaseSettings, DumpFormat};
pub use dump_rows::{DumpRows, StreamError};
pub use session::{Fingerprint, FingerprintOptions, Session, TableCount};
pub use version::{Major, major_of_version_text};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} failed ({status}){}", tail(stderr))]
    Failed {
        what: String,
        status: String,
        stderr: String,
    },
    #[error(
        "pg_dump {dump} ({}) is older than the server (PostgreSQL {server}): its dump could miss \
         or misread objects, so nothing was dumped; install pg_dump {server_major} or newer \
         (e.g. the package postgresql-client-{server_major}) and pass it with --pg-dump PATH",
        program.display()
    )]
    DumpTooOld {
        program: PathBuf,
        dump: String,
        server: String,
        server_major: String,
    },
    #[error("cannot understand {what}: {text:?}")]
    Unparsable { what: String, text: String },
    #[error("database {0:?} already exists; choose another name with --into, or drop it first")]
    DatabaseExists(String),
    #[error("{0}")]
    Invalid(String),
}

fn tail(stderr: &str) -> String {
    let t = stderr.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

pub type Result<T> = std::result::Result<T, Error>;
