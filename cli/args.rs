//! Command-line syntax. Flags follow restic's where a habit exists.

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "coffer",
    version,
    about = "Deduplicating, encrypted backups of ERP databases and their documents",
    after_help = "Exit codes: 0 success, 1 error, 3 backup saved but some files could not be read, \
10 no repository at that location (or no such bucket), 11 the repository is locked, \
12 wrong password, 130 interrupted. The table is in README.md, \"Exit codes\"."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Repository location: a folder path (or file:// URL), s3://BUCKET/PREFIX,
    /// gs://BUCKET/PREFIX or az://CONTAINER/PREFIX. Credentials come from the
    /// environment (AWS_ACCESS_KEY_ID, ...), never from the command line
    #[arg(short = 'r', long, env = "COFFER_REPO", global = true)]
    pub repo: Option<String>,

    /// S3 endpoint of a non-AWS server (https://sos-ch-gva-2.example), or set AWS_ENDPOINT.
    /// An http:// endpoint also allows plain HTTP
    #[arg(long, global = true, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// S3 region [default: AWS_REGION, else us-east-1]
    #[arg(long, global = true)]
    pub s3_region: Option<String>,

    /// Address buckets as ENDPOINT/BUCKET (path-style) rather than BUCKET.ENDPOINT
    #[arg(long, global = true)]
    pub s3_path_style: bool,

    /// Times a failed storage request is retried (with backoff and jitter) before giving up [default: 5]
    #[arg(long, env = "COFFER_RETRIES", global = true,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retries: Option<u32>,

    /// Seconds one storage request may take before it counts as failed [default: 180]
    #[arg(long, env = "COFFER_REQUEST_TIMEOUT", global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400), value_name = "SECONDS")]
    pub request_timeout: Option<u64>,

    /// Read the password from this file (first line). Or set COFFER_PASSWORD.
    #[arg(long, env = "COFFER_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,

    /// Run this shell command and use its output as the password
    #[arg(long, env = "COFFER_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,

    /// Folder of the local index cache [default: the user cache folder]
    #[arg(long, env = "COFFER_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,

    /// Use a temporary index cache, removed at exit
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Machine-readable output (one JSON document, or JSON lines for streams)
    #[arg(long, global = true)]
    pub json: bool,

    /// No progress and no informational messages
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Use this profile of the config file (see --config)
    #[arg(long, env = "COFFER_PROFILE", global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Config file with the profiles [default: the user config folder's coffer/config.toml]
    #[arg(long, env = "COFFER_CONFIG", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// After backup and check, write Prometheus metrics to this file (node_exporter textfile)
    #[arg(long, env = "COFFER_METRICS_FILE", global = true, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// The key agent's socket (`coffer agent start`) [default: $XDG_RUNTIME_DIR/coffer/agent.sock]
    #[arg(long, env = "COFFER_AGENT_SOCK", global = true, value_name = "PATH")]
    pub agent_socket: Option<PathBuf>,

    /// Do not ask the key agent for the repository's key: derive it from the password
    #[arg(long, global = true)]
    pub no_agent: bool,

    /// The environment variable holding the password (a profile's password-env).
    #[arg(skip)]
    pub password_env: Option<String>,

    /// The config file's profile, once selected.
    #[arg(skip)]
    pub selected: Option<crate::config::Selected>,
}

impl Global {
    pub fn retries(&self) -> u32 {
        self.retries.unwrap_or(5)
    }

    pub fn request_timeout(&self) -> u64 {
        self.request_timeout.unwrap_or(180)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository
    Init(InitArgs),
    /// Back up folders, files, and a dump stream into one snapshot
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(SnapshotsArgs),
    /// List the files of a snapshot
    Ls(LsArgs),
    /// Write one file of a snapshot to standard output
    Cat(CatArgs),
    /// Restore a snapshot (or part of it) into a folder
    Restore(RestoreArgs),
    /// Verify the repository's structure, and with --read-data all stored data
    Check(CheckArgs),
    /// Manage the repository's passwords (key files)
    Key(KeyArgs),
    /// Keep unlocked keys in memory for a while, so commands skip the password's key derivation
    Agent(AgentArgs),
    /// Forget snapshots by a retention policy (restic's --keep-* rules) or by id
    Forget(crate::args_forget::ForgetArgs),
    /// Which snapshots hold paths matching a pattern, with sizes and dates
    Find(crate::args_history::FindArgs),
    /// Each version of one path across snapshots: first and last seen, size, hash
    Log(crate::args_history::LogArgs),
    /// What changed between two snapshots
    Diff(crate::args_history::DiffArgs),
    /// Write a folder (or file) of a snapshot to standard output as a tar or zip
    Dump(crate::args_history::DumpArgs),
    /// What the repository, each snapshot, tenant and path costs; growth and projected cost
    Du(crate::args_du::DuArgs),
    /// PostgreSQL-aware backup, restore and restore drills
    Pg(crate::args_pg::PgArgs),
    /// Copy snapshots into another repository (an off-site copy); only missing data is sent
    Copy(crate::args_ops::CopyArgs),
    /// Age of the newest snapshot of each group (host and tags), for alerting
    Metrics(crate::args_ops::MetricsArgs),
    /// Show the configuration file's profile as resolved (no secrets)
    Config(crate::args_ops::ConfigArgs),
    /// Rebuild the index from packs, or rewrite snapshots that lost data
    Repair(crate::args_repair::RepairArgs),
    /// Delete data no snapshot uses (two phases, safe while backups run)
    Prune(crate::args_prune::PruneArgs),
    /// List the repository's locks, with their age and whether they are stale
    Locks(crate::args_prune::LocksArgs),
    /// Remove stale locks (all locks with --remove-all)
    Unlock(crate::args_prune::UnlockArgs),
    /// Merge small index files and refresh the snapshot catalogue (each backup does it when due)
    Compact(crate::args_prune::CompactArgs),
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Pack size target in MiB
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pack_size: u32,
    /// zstd compression level for compressible data (0 stores everything raw; -1 to -7 are
    /// zstd's fast levels, as `zstd --fast=N`: faster, larger)
    #[arg(
        long,
        default_value_t = 3,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i32).range(-7..=19)
    )]
    pub compression: i32,
    /// Average chunk size in KiB (min = avg/4, max = avg*4). Fixed for the repository's life.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub chunk_avg_kib: u32,
    #[command(flatten)]
    pub from: crate::args_ops::FromRepo,
}

/// Which snapshots a command considers.
#[derive(Args, Debug, Clone, Default)]
pub struct Filter {
    /// Only snapshots with this tag (repeat: all must match)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots of this host (repeatable)
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Only snapshots that backed up this path, as given to `backup` (repeatable: any)
    #[arg(long = "path")]
    pub paths: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and folders to back up (each is stored under its base name)
    pub paths: Vec<PathBuf>,

    /// Back up standard input as the file --stdin-name
    #[arg(long, conflicts_with = "stdin_from_command")]
    pub stdin: bool,

    /// Run the command given after `--` and back up its output as --stdin-name;
    /// if it fails, no snapshot is written
    #[arg(long)]
    pub stdin_from_command: bool,

    /// Path of the stream inside the snapshot
    #[arg(long, default_value = "stdin")]
    pub stdin_name: String,

    /// Label the snapshot (key=value by convention; repeatable)
    #[arg(long = "tag")]
    pub tags: Vec<String>,

    /// Host name recorded in the snapshot [default: this machine's]
    #[arg(long)]
    pub host: Option<String>,

    /// Snapshot time instead of now (RFC 3339, "YYYY-MM-DD HH:MM[:SS]" or a day), for imports
    #[arg(long)]
    pub time: Option<String>,

    /// Skip paths matching this glob (with a `/`: whole path, else base name; repeatable)
    #[arg(short = 'e', long = "exclude")]
    pub excludes: Vec<String>,

    /// Read exclude globs from this file, one per line (# comments)
    #[arg(long = "exclude-file")]
    pub exclude_files: Vec<PathBuf>,

    /// Compare with this snapshot to skip unchanged files [default: the latest of this host and paths]
    #[arg(long)]
    pub parent: Option<String>,

    /// Read every file even if unchanged
    #[arg(long)]
    pub force: bool,

    /// Pack uploads in flight at once
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub upload_concurrency: u16,

    /// The producer command for --stdin-from-command (after `--`)
    #[arg(last = true)]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: Filter,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot id (prefix) or `latest`; `SNAPSHOT:PATH` also works; with --as-of, the PATH
    pub snapshot: String,
    /// Folder or file inside the snapshot
    pub path: Option<String>,
    /// Show mode, size and modification time
    #[arg(short, long)]
    pub long: bool,
    #[command(flatten)]
    pub filter: Filter,
    #[command(flatten)]
    pub when: crate::args_history::AsOf,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// `SNAPSHOT:PATH` (e.g. latest:db/erp.dump), or SNAPSHOT with PATH after it;
    /// with --as-of, just the PATH
    pub target: String,
    pub path: Option<String>,
    #[command(flatten)]
    pub filter: Filter,
    #[command(flatten)]
    pub when: crate::args_history::AsOf,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot id (prefix) or `latest`; `SNAPSHOT:PATH` restores only that subtree;
    /// with --as-of, only a PATH (or nothing)
    pub snapshot: Option<String>,
    /// Folder to restore into (created if missing)
    #[arg(short, long)]
    pub target: PathBuf,
    /// Restore only paths matching this glob (repeatable), e.g. 'documents/facture/**'
    #[arg(short, long = "include")]
    pub includes: Vec<String>,
    #[command(flatten)]
    pub filter: Filter,
    #[command(flatten)]
    pub when: crate::args_history::AsOf,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Also download every pack and verify every blob
    #[arg(long)]
    pub read_data: bool,
    /// Read only some packs: n/t (bucket n of t by pack id, so 1/7 .. 7/7 on seven
    /// nights read every pack once) or a percentage such as 5% (a random sample)
    #[arg(long, value_name = "n/t|P%", conflicts_with = "read_data")]
    pub read_data_subset: Option<String>,
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List the key files (* marks the one the password opened)
    List,
    /// Add a password; the current one keeps working
    Add(NewPassword),
    /// Remove a key file by id (not the one the password opened)
    Remove {
        /// Key file id (at least 4 hex digits, see `key list`)
        id: String,
    },
    /// Change the password: add a key file for the new one, then remove the current one
    Passwd(NewPassword),
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Unlock --repo with its password and hand its key to the agent, starting one if none
    /// runs (run it again for each repository)
    Start {
        /// How long the agent keeps this key; when it holds none, it exits
        #[arg(long, default_value = "1h", value_name = "DURATION")]
        ttl: String,
    },
    /// The keys the agent holds: repository, key file, until when
    List,
    /// Forget every key now and stop the agent
    Stop,
    /// Run the agent in the foreground (what `start` runs in the background), e.g. from a
    /// service manager; it exits when its last key expires
    Serve,
}

/// Where the new password comes from; never from an argument.
#[derive(Args, Debug)]
pub struct NewPassword {
    /// Read the new password from this file (first line). Or set COFFER_NEW_PASSWORD.
    #[arg(long, env = "COFFER_NEW_PASSWORD_FILE")]
    pub new_password_file: Option<PathBuf>,
    /// Run this shell command and use its output as the new password
    #[arg(long, env = "COFFER_NEW_PASSWORD_COMMAND")]
    pub new_password_command: Option<String>,
}
