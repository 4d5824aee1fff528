//! `coffer du`: what the repository, its snapshots and groups cost.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DuArgs {
    /// Break down by `snapshot`, `host`, `tag:KEY` (e.g. tag:tenant) or `path` (inside SNAPSHOT)
    #[arg(long, value_name = "WHAT")]
    pub by: Option<String>,
    /// Snapshot for --by path (id prefix or `latest`)
    pub snapshot: Option<String>,
    /// Levels below the snapshot's root for --by path
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub depth: u32,
    /// Growth over time: `daily`, `monthly` or `yearly`
    #[arg(long, value_name = "PERIOD")]
    pub timeline: Option<String>,
    /// Storage price per GiB-month: shows monthly cost now and projected over 10 years
    #[arg(long, value_name = "PRICE")]
    pub price_per_gb_month: Option<f64>,
    /// Price per 1,000 requests [default: 0]
    #[arg(long, value_name = "PRICE")]
    pub price_per_1k_requests: Option<f64>,
    /// Projection: daily snapshots kept (with --keep-monthly/--keep-yearly: a policy)
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u64>,
    /// Projection: monthly snapshots kept
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u64>,
    /// Projection: yearly snapshots kept
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u64>,
    /// Also write a self-contained HTML report with charts to this file
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}
