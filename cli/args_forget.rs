//! `coffer forget` syntax: restic's retention flags.

use crate::args::Filter;
use clap::Args;

#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Forget these snapshots (id prefixes) instead of applying a policy
    pub snapshots: Vec<String>,
    /// Keep the N newest snapshots (-1: all)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_last: Option<i64>,
    /// Keep the newest snapshot of each of the N newest hours (-1: every hour)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_hourly: Option<i64>,
    /// Keep the newest snapshot of each of the N newest days (-1: every day)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_daily: Option<i64>,
    /// Keep the newest snapshot of each of the N newest ISO weeks (-1: every week)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_weekly: Option<i64>,
    /// Keep the newest snapshot of each of the N newest months (-1: every month)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_monthly: Option<i64>,
    /// Keep the newest snapshot of each of the N newest years (-1: every year)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_yearly: Option<i64>,
    /// Keep every snapshot within this duration (1y2m3d4h) of the NEWEST snapshot
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// Keep the newest snapshot of each hour within DURATION of the newest snapshot
    #[arg(long, value_name = "DURATION")]
    pub keep_within_hourly: Option<String>,
    /// Keep the newest snapshot of each day within DURATION of the newest snapshot
    #[arg(long, value_name = "DURATION")]
    pub keep_within_daily: Option<String>,
    /// Keep the newest snapshot of each week within DURATION of the newest snapshot
    #[arg(long, value_name = "DURATION")]
    pub keep_within_weekly: Option<String>,
    /// Keep the newest snapshot of each month within DURATION of the newest snapshot
    #[arg(long, value_name = "DURATION")]
    pub keep_within_monthly: Option<String>,
    /// Keep the newest snapshot of each year within DURATION of the newest snapshot
    #[arg(long, value_name = "DURATION")]
    pub keep_within_yearly: Option<String>,
    /// Keep snapshots having all of these tags (comma-separated; repeat for alternatives)
    #[arg(long = "keep-tag", value_name = "TAG[,TAG]")]
    pub keep_tags: Vec<String>,
    /// Apply the policy to each group of snapshots sharing these (host, tags, paths; '' = one group)
    #[arg(long, default_value = "host,paths")]
    pub group_by: String,
    /// Time zone of the calendar buckets (IANA name, e.g. Europe/Zurich)
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Snapshots tagged `insurance` younger than this (e.g. 7d, 36h) are never forgotten
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub insurance_min_age: String,
    /// Forget named insurance snapshots even when younger than --insurance-min-age
    #[arg(long)]
    pub force_insurance: bool,
    /// Show every snapshot, kept or not, and why; change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Also say what the forget frees in storage (bytes only the forgotten
    /// snapshots use, packs emptied), computed like `coffer du`
    #[arg(long)]
    pub cost: bool,
    /// With --cost: price of storage, to say the money freed per month
    #[arg(long, value_name = "PRICE", requires = "cost")]
    pub price_per_gb_month: Option<f64>,
    /// Then prune: delete the data no remaining snapshot uses
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub prune_flags: crate::args_prune::PruneFlags,
    #[command(flatten)]
    pub filter: Filter,
}
