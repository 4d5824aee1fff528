//! `coffer`: deduplicating, encrypted backups of ERP databases and documents.
//!
//! The binary parses arguments, opens repositories, renders results (a table
//! for people, `--json` for scripts) and draws progress. Everything about the
//! repository format lives in the `coffer-store` crate.

mod args;
mod args_repair;
mod cmd_backup;
mod cmd_browse;
mod cmd_check;
mod cmd_init;
mod cmd_key;
mod cmd_repair;
mod cmd_restore;
mod cmd_snapshots;
mod exit;
mod open;
mod output;
mod password;
mod progress;
mod when;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
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
        C::Repair(a) => cmd_repair::run(&cli.global, a),
    }
}
