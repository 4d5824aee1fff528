//! The one error type of the store. Messages are lowercase, name the object they
//! concern and do not repeat their source: the binary prints the chain once.

use std::path::PathBuf;

/// Result alias for the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in a form the caller can act on (exit codes, hints).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("no repository at {location}")]
    RepositoryNotFound { location: String },

    #[error("{location} is not a coffer repository: {reason}")]
    NotARepository { location: String, reason: String },

    #[error("a repository already exists at {location}")]
    AlreadyExists { location: String },

    #[error(
        "repository format version {found} is not supported by this build of coffer (it reads version {supported})"
    )]
    UnsupportedVersion { found: u32, supported: u32 },

    #[error("wrong password: none of the repository's {key_files} key file(s) opens with it")]
    WrongPassword { key_files: usize },

    #[error("corrupt {object}: {reason}")]
    Corrupt { object: String, reason: String },

    /// A storage request that did not succeed, after the retries it was worth.
    #[error("{operation} {object} failed{}: {detail}", attempts_suffix(*attempts))]
    Backend {
        operation: Operation,
        /// The object's name inside the repository (`data/3f/3fa2...`, `config`).
        object: String,
        /// Attempts made, the first included.
        attempts: u32,
        failure: StorageFailure,
        /// What the store said, on one line.
        detail: String,
    },

    #[error(
        "the bucket or container of {location} does not exist (or these credentials cannot see it)"
    )]
    BucketNotFound { location: String },

    #[error("local index cache at {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: CacheError,
    },

    #[error("cannot read {}", path.display())]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{what} failed ({status}); no snapshot was written{}",
        tail_suffix(stderr_tail)
    )]
    CommandFailed {
        what: String,
        status: String,
        stderr_tail: String,
    },

    #[error("{0}; no snapshot was written")]
    LateMeta(String),

    #[error("cannot write {}", path.display())]
    Target {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no snapshot matches {0}")]
    SnapshotNotFound(String),

    #[error("snapshot id prefix {0} is ambiguous: give more digits")]
    AmbiguousSnapshot(String),

    #[error("{path} not found in snapshot {snapshot}")]
    PathNotFound { path: String, snapshot: String },

    #[error("{0}")]
    InvalidInput(String),

    /// Another run holds a lock this one cannot share (FORMAT.md, "Locks").
    #[error("the repository is locked: {holder}")]
    Locked { holder: String },

    /// This run's own lock went unrefreshed long enough for others to call it
    /// stale (the process was suspended, or the store unreachable): what it
    /// was about to write could name deleted data, so it stops.
    #[error(
        "this run's lock {lock} was not refreshed for {minutes} minutes and may have been taken for stale; nothing more was written"
    )]
    LockLost { lock: String, minutes: u64 },

    /// A test asked for a failure at this point (prune's fault injection).
    #[error("injected failure at prune step {0}")]
    InjectedFault(String),

    #[error("writing the output stream")]
    Output(#[source] std::io::Error),
}

/// What a storage request was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    List,
    Delete,
    Open,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Read => "reading",
            Operation::Write => "writing",
            Operation::List => "listing",
            Operation::Delete => "deleting",
            Operation::Open => "opening",
        })
    }
}

/// Why a storage request gave up: what the operator should look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageFailure {
    /// Credentials missing, wrong or without the right to do this.
    Denied,
    /// Transient failures all the way to the last attempt: network, endpoint, overload.
    Unavailable,
    /// The store refused the request itself (not found, malformed, full disk, ...).
    Refused,
}

/// The cache's own failures, kept apart so the binary can say the cache is disposable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error(transparent)]
    Db(#[from] rocksdb::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("unreadable cache record: {0}")]
    Record(String),
}

fn attempts_suffix(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; its last error output:\n{}", tail.trim_end())
    }
}

impl Error {
    pub(crate) fn corrupt(object: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            object: object.into(),
            reason: reason.into(),
        }
    }

    /// Is this a storage request that kept failing for reasons that may pass?
    pub fn is_transient_storage_failure(&self) -> bool {
        matches!(
            self,
            Error::Backend {
                failure: StorageFailure::Unavailable,
                ..
            }
        )
    }
}
