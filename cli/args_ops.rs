//! Command-line syntax of the operations commands: `copy`, `metrics`, `config`,
//! and the second repository `init --copy-chunker-params` reads.

use crate::args::Filter;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Destination repository (same location forms as --repo), e.g. the off-site bucket
    #[arg(long, env = "COFFER_TO_REPO", value_name = "LOCATION")]
    pub to_repo: String,
    /// Read the destination's password from this file (first line). Or set COFFER_TO_PASSWORD.
    #[arg(long, env = "COFFER_TO_PASSWORD_FILE")]
    pub to_password_file: Option<PathBuf>,
    /// Run this shell command and use its output as the destination's password
    #[arg(long, env = "COFFER_TO_PASSWORD_COMMAND")]
    pub to_password_command: Option<String>,
    /// Snapshots to copy (ids, prefixes or `latest`) [default: every snapshot the filters match]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub filter: Filter,
}

/// The repository whose chunker parameters `init --copy-chunker-params` takes.
#[derive(Args, Debug, Default)]
pub struct FromRepo {
    /// Take the chunker parameters (and secret seed) of --from-repo, so `copy`
    /// from it deduplicates against this repository's own backups
    #[arg(long, requires = "from_repo")]
    pub copy_chunker_params: bool,
    /// The repository to take them from
    #[arg(long, env = "COFFER_FROM_REPO", value_name = "LOCATION")]
    pub from_repo: Option<String>,
    /// Read --from-repo's password from this file. Or set COFFER_FROM_PASSWORD.
    #[arg(long, env = "COFFER_FROM_PASSWORD_FILE")]
    pub from_password_file: Option<PathBuf>,
    /// Run this shell command and use its output as --from-repo's password
    #[arg(long, env = "COFFER_FROM_PASSWORD_COMMAND")]
    pub from_password_command: Option<String>,
}

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// Output format (--json also selects json)
    #[arg(long, value_enum, default_value_t = MetricsFormat::Table)]
    pub format: MetricsFormat,
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsFormat {
    Table,
    Json,
    /// Prometheus text exposition format
    Prometheus,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {}
