//! `coffer prune`, `coffer locks`, `coffer unlock` syntax.

use clap::Args;

/// How prune deletes; shared by `prune` and `forget --prune`.
#[derive(Args, Debug, Clone)]
pub struct PruneFlags {
    /// Repack a pack when more than this share of its bytes is unused (5%, or 0.05)
    #[arg(long, default_value = "5%", value_name = "SHARE")]
    pub max_unused: String,
    /// Condemned packs wait this long before deletion (1h, 30m, 0s: delete in the same run
    /// when no backup runs)
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub grace: String,
    /// Allowed clock difference between the machines that back up and prune
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub clock_margin: String,
    /// Wait up to this long for another prune's lock (the short index compaction that may end
    /// a backup holds one) before giving up with exit 11; 0s gives up at once
    #[arg(long, default_value = "2m", value_name = "DURATION")]
    pub retry_lock: String,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub flags: PruneFlags,
    /// Show the plan (what would be condemned, repacked and deleted); change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct LocksArgs {}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove every lock, live ones too (only when you know nothing runs)
    #[arg(long)]
    pub remove_all: bool,
}

#[derive(Args, Debug)]
pub struct CompactArgs {
    /// Superseded index files wait this long before deletion (0s: at once; only
    /// when no coffer older than compaction reads the repository)
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub grace: String,
    /// Merge when more than this many small index files exist
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub max_small_files: usize,
}
