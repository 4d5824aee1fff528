//! Errors to messages and exit codes (the table is in README.md, "Exit codes").

use coffer_store::{Error, StorageFailure};
use std::process::ExitCode;

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const PARTIAL: u8 = 3;
pub const NO_REPOSITORY: u8 = 10;
pub const LOCKED: u8 = 11;
pub const WRONG_PASSWORD: u8 = 12;

/// Prints the error chain once, with a hint where one helps, and picks the code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(e) {
        // `coffer cat ... | head` is a normal thing to do.
        return ExitCode::from(OK);
    }
    eprintln!("coffer: {e:#}");
    let store = e.downcast_ref::<Error>();
    if let Some(hint) = store.and_then(hint) {
        eprintln!("  hint: {hint}");
    }
    ExitCode::from(match store {
        Some(
            Error::RepositoryNotFound { .. }
            | Error::NotARepository { .. }
            | Error::BucketNotFound { .. },
        ) => NO_REPOSITORY,
        Some(Error::WrongPassword { .. }) => WRONG_PASSWORD,
        Some(Error::Locked { .. }) => LOCKED,
        _ => FAILURE,
    })
}

fn hint(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::RepositoryNotFound { .. } => {
            "create one with `coffer init`, or check --repo / COFFER_REPO"
        }
        Error::NotARepository { .. } => {
            "check --repo; `coffer init` creates a repository in an empty folder"
        }
        Error::WrongPassword { .. } => {
            "check COFFER_PASSWORD, --password-file or --password-command"
        }
        Error::Locked { .. } => {
            "wait for it to finish; `coffer locks` lists locks, `coffer unlock` removes stale ones"
        }
        Error::LockLost { .. } => "run it again; nothing it wrote is lost or damaged",
        Error::UnsupportedVersion { .. } => "use a newer coffer to read this repository",
        Error::Cache { .. } => {
            "the index cache is disposable: free space or delete it, or use --cache-dir / --no-cache"
        }
        Error::Corrupt { .. } => "run `coffer check --read-data` to see what is affected",
        Error::BucketNotFound { .. } => {
            "check the bucket name in --repo, and the endpoint and region \
             (--s3-endpoint / AWS_ENDPOINT, --s3-region / AWS_REGION)"
        }
        Error::Backend {
            operation: coffer_store::Operation::Read,
            failure: StorageFailure::Refused,
            object,
            ..
        } if object.starts_with("data/") => {
            "a pack gone while this ran was most likely deleted by a prune: run it again (it then reads the current index); if it stays, run `coffer check`"
        }
        Error::Backend {
            failure: StorageFailure::Denied,
            ..
        } => {
            "check the credentials in the environment (AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*) and \
             what they may do in this bucket"
        }
        Error::Backend {
            failure: StorageFailure::Unavailable,
            ..
        } => {
            "the store kept failing: check the endpoint and the network, or raise --retries / \
             --request-timeout; nothing already stored was changed, so running again is safe"
        }
        _ => return None,
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
