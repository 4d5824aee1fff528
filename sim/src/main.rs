//! `coffer-sim`: builds a repository of years of simulated ERP nights, or
//! writes one night's tree as files. Used by `benches/history.sh`.
//!
//! ```sh
//! coffer-sim generate --repo DIR_OR_S3 --password-file PW [--days 3650] [--files 100000] [--seed 1]
//! coffer-sim materialise --dir DIR --to NIGHT [--from NIGHT] [--days ...] [--files ...]
//! coffer-sim list --night NIGHT [--days ...]       # paths present that night
//! ```

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use coffer_sim::{Params, WriteOptions, materialise, plan, write_plan};
use coffer_store::backend::{Backend, StoreOptions};
use coffer_store::repo::{CacheLocation, InitOptions, Repository};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

#[derive(Parser)]
#[command(name = "coffer-sim", about = "Simulated years of ERP nightly backups")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct PlanArgs {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Nights (snapshots)
    #[arg(long, default_value_t = 3650)]
    days: u32,
    /// Documents on the first night
    #[arg(long, default_value_t = 100_000)]
    files: usize,
    #[arg(long, default_value_t = 40)]
    contracts: usize,
    /// Day of the first night (YYYY-MM-DD)
    #[arg(long, default_value = "2016-06-01")]
    start: jiff::civil::Date,
}

impl PlanArgs {
    fn params(&self) -> Params {
        Params {
            seed: self.seed,
            days: self.days,
            start: self.start,
            initial_files: self.files,
            contracts: self.contracts,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a new repository holding one snapshot per simulated night
    Generate {
        #[command(flatten)]
        plan: PlanArgs,
        /// Repository location (folder or s3://BUCKET/PREFIX); must not exist yet
        #[arg(long)]
        repo: String,
        #[arg(long)]
        password_file: PathBuf,
        /// S3 endpoint of a non-AWS server (an http:// one allows plain HTTP)
        #[arg(long)]
        s3_endpoint: Option<String>,
        /// Index cache folder (default: a temporary one)
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        #[arg(long, default_value = "erp1")]
        host: String,
    },
    /// Write a night's tree as files under DIR (or bring DIR from night FROM to night TO)
    Materialise {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        from: Option<usize>,
        #[arg(long)]
        to: usize,
    },
    /// Print the paths present on a night, one a line
    List {
        #[command(flatten)]
        plan: PlanArgs,
        #[arg(long)]
        night: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate {
            plan: p,
            repo,
            password_file,
            s3_endpoint,
            cache_dir,
            host,
        } => {
            let password = std::fs::read(&password_file)
                .with_context(|| format!("reading {}", password_file.display()))?;
            let password = password.strip_suffix(b"\n").unwrap_or(&password);
            let store = StoreOptions {
                s3_endpoint,
                ..StoreOptions::default()
            };
            let backend = Backend::open_with(&repo, true, &store)?;
            let cache = cache_dir.map_or(CacheLocation::Temporary, CacheLocation::Dir);
            let repository = Repository::init(
                backend,
                password,
                &InitOptions::default(),
                SystemTime::now(),
                cache,
            )?;
            let started = Instant::now();
            let plan = plan(&p.params());
            let opts = WriteOptions {
                host,
                ..WriteOptions::default()
            };
            let nights = plan.days.len();
            write_plan(&repository, &plan, &opts, &mut |i, _| {
                if (i + 1) % 100 == 0 || i + 1 == nights {
                    eprintln!(
                        "coffer-sim: night {}/{nights}, {:.0} s",
                        i + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
            })?;
        }
        Command::Materialise {
            plan: p,
            dir,
            from,
            to,
        } => {
            let plan = plan(&p.params());
            if to >= plan.days.len() || from.is_some_and(|f| f >= to) {
                bail!("--to must be a night of the plan (< --days) and after --from");
            }
            materialise(&plan, &dir, from, to)
                .with_context(|| format!("writing under {}", dir.display()))?;
        }
        Command::List { plan: p, night } => {
            let plan = plan(&p.params());
            if night >= plan.days.len() {
                bail!("--night must be below --days ({})", plan.days.len());
            }
            for path in plan.state_at(night).keys() {
                println!("{path}");
            }
        }
    }
    Ok(())
}
