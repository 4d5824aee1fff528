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
    #[command(flatten)]
    pub policy: DuPolicyArgs,
    /// Also write a self-contained HTML report with charts to this file
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// A retention policy to audit: `forget`'s rules (restic's), what it frees,
/// the bytes per tier today and the 10-year projection under it.
#[derive(Args, Debug)]
pub struct DuPolicyArgs {
    /// Policy: keep the N newest snapshots (-1: all)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_last: Option<i64>,
    /// Policy: the newest snapshot of each of the N newest hours (-1: every hour)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_hourly: Option<i64>,
    /// Policy: the newest snapshot of each of the N newest days (-1: every day)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_daily: Option<i64>,
    /// Policy: the newest snapshot of each of the N newest ISO weeks (-1: every week)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_weekly: Option<i64>,
    /// Policy: the newest snapshot of each of the N newest months (-1: every month)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_monthly: Option<i64>,
    /// Policy: the newest snapshot of each of the N newest years (-1: every year)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_yearly: Option<i64>,
    /// Policy: every snapshot within this duration (1y2m3d4h) of the newest snapshot
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// Policy: keep snapshots having all of these tags (comma-separated; repeat for alternatives)
    #[arg(long = "keep-tag", value_name = "TAG[,TAG]")]
    pub keep_tags: Vec<String>,
    /// Policy: applied to each group of snapshots sharing these (host, tags, paths; '' = one group)
    #[arg(long, default_value = "host,paths")]
    pub group_by: String,
    /// Policy: time zone of the calendar buckets (IANA name, e.g. Europe/Zurich)
    #[arg(long, default_value = "UTC")]
    pub tz: String,
}
