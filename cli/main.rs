//! `coffer`: deduplicating, encrypted backups of ERP databases and documents.
//!
//! The binary parses arguments, opens repositories, renders results (a table
//! for people, `--json` for scripts) and draws progress. Everything about the
//! repository format lives in the `coffer-store` crate.

mod agent;
mod agent_serve;
mod args;
mod args_du;
mod args_forget;
mod args_history;
mod args_ops;
mod args_pg;
mod args_prune;
mod args_repair;
mod cmd_agent;
mod cmd_backup;
mod cmd_browse;
mod cmd_check;
mod cmd_config;
mod cmd_copy;
mod cmd_du;
mod cmd_forget;
mod cmd_history;
mod cmd_init;
mod cmd_key;
mod cmd_metrics;
mod cmd_pg;
mod cmd_pg_restore;
mod cmd_prune;
mod cmd_repair;
mod cmd_restore;
mod cmd_snapshots;
mod config;
mod du_html;
mod du_policy;
mod exit;
mod forget_tiers;
mod metrics;
mod open;
mod output;
mod password;
mod progress;
mod when;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut cli = args::Cli::parse();
    if let Err(e) = config::apply(&mut cli.global) {
        return exit::report(&e);
    }
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    };
    open::write_request_log();
    code
}

fn run(cli: args::Cli) -> anyhow::Result<ExitCode> {
    use args::Command as C;
    match cli.command {
        C::Init(a) => cmd_init::run(&cli.global, a),
        C::Backup(a) => cmd_backup::run(&cli.global, a),
        C::Snapshots(a) => cmd_snapshots::run(&cli.global, a),
        C::Ls(a) => cmd_browse::ls(&cli.global, a),
        C::Cat(a) => cmd_browse::cat(&cli.global, a),
        C::Restore(a) => cmd_restore::run(&cli.global, a),
        C::Check(a) => cmd_check::run(&cli.global, a),
        C::Key(a) => cmd_key::run(&cli.global, a),
        C::Agent(a) => cmd_agent::run(&cli.global, a),
        C::Forget(a) => cmd_forget::run(&cli.global, a),
        C::Find(a) => cmd_history::find(&cli.global, a),
        C::Log(a) => cmd_history::log(&cli.global, a),
        C::Diff(a) => cmd_history::diff(&cli.global, a),
        C::Dump(a) => cmd_history::dump(&cli.global, a),
        C::Du(a) => cmd_du::run(&cli.global, a),
        C::Pg(a) => cmd_pg::run(&cli.global, a),
        C::Copy(a) => cmd_copy::run(&cli.global, a),
        C::Metrics(a) => cmd_metrics::run(&cli.global, a),
        C::Config(a) => cmd_config::run(&cli.global, a),
        C::Repair(a) => cmd_repair::run(&cli.global, a),
        C::Prune(a) => cmd_prune::run(&cli.global, a),
        C::Locks(a) => cmd_prune::locks(&cli.global, a),
        C::Unlock(a) => cmd_prune::unlock(&cli.global, a),
        C::Compact(a) => cmd_prune::compact(&cli.global, a),
    }
}
