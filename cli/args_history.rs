//! Arguments of the point-in-time commands: `--as-of`, `find`, `log`, `diff`, `dump`.

use crate::args::Filter;
use clap::{Args, ValueEnum};

/// Choosing a snapshot by date instead of by id.
#[derive(Args, Debug, Clone, Default)]
pub struct AsOf {
    /// The newest snapshot at or before this moment (among those the filters
    /// keep): a day (its end), "YYYY-MM-DD HH:MM[:SS]" or RFC 3339
    #[arg(long, value_name = "WHEN")]
    pub as_of: Option<String>,
    /// Time zone of --as-of and of the dates shown (IANA name, e.g. Europe/Paris)
    /// [default: the system's]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}

#[derive(Args, Debug)]
pub struct FindArgs {
    /// Glob: with a `/` it matches the whole path (facture/**/FA2605-*), else
    /// the name (FA2605-*). Repeat: any
    #[arg(required = true)]
    pub patterns: Vec<String>,
    #[command(flatten)]
    pub filter: Filter,
    #[command(flatten)]
    pub when: AsOf,
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Path inside the snapshots (e.g. contrats/acme.pdf or db/erp.dump)
    pub path: String,
    #[command(flatten)]
    pub filter: Filter,
    #[command(flatten)]
    pub when: AsOf,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot (id prefix or `latest`)
    pub from: String,
    /// The newer snapshot (id prefix or `latest`)
    pub to: String,
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ArchiveKind {
    Tar,
    Zip,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// `SNAPSHOT:PATH`, SNAPSHOT with PATH after it, or with --as-of just PATH
    pub target: String,
    pub path: Option<String>,
    /// Archive format written to standard output
    #[arg(long, value_enum, default_value = "tar")]
    pub archive: ArchiveKind,
    #[command(flatten)]
    pub filter: Filter,
    #[command(flatten)]
    pub when: AsOf,
}
