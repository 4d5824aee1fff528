//! `coffer pg ...`: PostgreSQL-aware backup, restore and restore drills.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PgArgs {
    #[command(subcommand)]
    pub command: PgCommand,
}

#[derive(Subcommand, Debug)]
pub enum PgCommand {
    /// Dump a database with pg_dump (and documents) into one snapshot
    Backup(PgBackupArgs),
    /// Restore a snapshot's dump into a new database (or, with --in-place, over the live one)
    Restore(PgRestoreArgs),
    /// Restore the latest dump into a scratch database, verify it, drop it, report
    Drill(PgDrillArgs),
}

/// Where the server is; unset flags fall back to PGHOST, PGPORT, PGUSER, PGDATABASE.
#[derive(Args, Debug, Clone)]
pub struct PgConnArgs {
    /// Database name, or a libpq connection string (key=value form)
    #[arg(short = 'd', long, env = "PGDATABASE")]
    pub dbname: Option<String>,
    #[arg(long)]
    pub host: Option<String>,
    #[arg(short = 'p', long)]
    pub port: Option<String>,
    #[arg(short = 'U', long)]
    pub username: Option<String>,
    /// Database to connect to for CREATE / DROP DATABASE
    #[arg(long, default_value = "postgres")]
    pub maintenance_db: String,
    /// pg_dump program to run
    #[arg(long, default_value = "pg_dump", value_name = "PATH")]
    pub pg_dump: PathBuf,
    /// pg_restore program to run
    #[arg(long, default_value = "pg_restore", value_name = "PATH")]
    pub pg_restore: PathBuf,
    /// psql program to run
    #[arg(long, default_value = "psql", value_name = "PATH")]
    pub psql: PathBuf,
}

#[derive(Args, Debug)]
pub struct PgBackupArgs {
    #[command(flatten)]
    pub conn: PgConnArgs,
    /// Dump format: custom (-Fc -Z0, restored by pg_restore) or plain (SQL)
    #[arg(long, default_value = "custom", value_parser = ["custom", "plain"])]
    pub format: String,
    /// Query whose first value labels the snapshot (e.g. the application version)
    #[arg(long)]
    pub label_query: Option<String>,
    /// Skip the dump when the fingerprint equals the last snapshot's of this database
    #[arg(long)]
    pub skip_if_unchanged: bool,
    /// Columns read as "last modified" by the fingerprint (comma-separated)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tms,updated_at,write_date,date_modification,modified_at"
    )]
    pub timestamp_columns: Vec<String>,
    /// Tables the fingerprint ignores (sessions, caches, logs; comma-separated, repeatable)
    #[arg(long, value_delimiter = ',')]
    pub volatile_tables: Vec<String>,
    /// Fingerprint query replacing the default (its whole result is compared)
    #[arg(long)]
    pub fingerprint_query: Option<String>,
    /// A documents folder backed up in the same snapshot
    #[arg(long)]
    pub documents: Vec<PathBuf>,
    /// Skip document paths matching this glob (repeatable)
    #[arg(short = 'e', long = "exclude")]
    pub excludes: Vec<String>,
    /// Path of the dump inside the snapshot [default: db/DATABASE.dump or .sql]
    #[arg(long)]
    pub dump_name: Option<String>,
    /// Label the snapshot (key=value; repeatable)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host name recorded in the snapshot [default: this machine's]
    #[arg(long = "snapshot-host")]
    pub snapshot_host: Option<String>,
}

#[derive(Args, Debug)]
pub struct PgRestoreArgs {
    /// Snapshot id (prefix) or `latest` [default: latest, or with --as-of the newest at or before it]
    #[arg(conflicts_with = "as_of")]
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub when: crate::args_history::AsOf,
    /// New database to restore into (refused if it exists)
    #[arg(long, conflicts_with = "in_place")]
    pub into: Option<String>,
    /// Replace the database named by --dbname: insurance snapshot, drop, recreate, restore
    #[arg(long)]
    pub in_place: bool,
    /// Confirms --in-place
    #[arg(long)]
    pub yes: bool,
    /// Also restore the snapshot's documents into this folder
    #[arg(long)]
    pub documents_target: Option<PathBuf>,
    #[command(flatten)]
    pub conn: PgConnArgs,
    #[command(flatten)]
    pub filter: PgFilter,
}

#[derive(Args, Debug)]
pub struct PgDrillArgs {
    /// Scratch database (created, verified, dropped; refused if it exists)
    #[arg(long)]
    pub dbname_scratch: String,
    /// Snapshot to drill [default: latest]
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    #[command(flatten)]
    pub conn: PgConnArgs,
    #[command(flatten)]
    pub filter: PgFilter,
}

/// Which snapshots count (`--host` is the server's here, so the snapshot host is `--snapshot-host`).
#[derive(Args, Debug, Clone)]
pub struct PgFilter {
    /// Only snapshots with this tag (repeat: all must match)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots of this host (repeatable)
    #[arg(long = "snapshot-host")]
    pub hosts: Vec<String>,
}
