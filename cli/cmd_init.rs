//! `coffer init`.

use crate::args::{Global, InitArgs};
use crate::{exit, open, output, password};
use anyhow::{Context, Result, anyhow};
use coffer_store::format::config::ChunkerRecord;
use coffer_store::repo::{InitOptions, Repository};
use std::process::ExitCode;
use std::time::SystemTime;

pub fn run(g: &Global, a: InitArgs) -> Result<ExitCode> {
    let loc = open::location(g)?;
    let pw = password::read(g)?;
    let backend = open::backend(g, true)?;
    let copy_chunker = if a.from.copy_chunker_params {
        Some(chunker_of_other(g, &a)?)
    } else {
        None
    };
    let opts = InitOptions {
        copy_chunker,
        avg_chunk_size: a.chunk_avg_kib * 1024,
        pack_target_size: a.pack_size << 20,
        zstd_level: a.compression,
        ..Default::default()
    };
    let repo = Repository::init(backend, &pw.0, &opts, SystemTime::now(), open::cache(g))?;
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "initialized",
            "id": repo.repo_id_hex(),
            "repository": loc,
        }))?;
    } else if !g.quiet {
        println!(
            "created coffer repository {} at {loc}",
            &repo.repo_id_hex()[..8]
        );
        println!("Keep the password safe: without it the backups cannot be read, by anyone.");
    }
    Ok(ExitCode::from(exit::OK))
}

/// The chunker parameters of `--from-repo`, opened with its own password.
fn chunker_of_other(g: &Global, a: &InitArgs) -> Result<ChunkerRecord> {
    let from = a
        .from
        .from_repo
        .as_deref()
        .ok_or_else(|| anyhow!("--copy-chunker-params needs --from-repo LOCATION"))?;
    let other = open::repository_at(g, from, || {
        password::read_other(
            "COFFER_FROM_PASSWORD",
            a.from.from_password_file.as_deref(),
            a.from.from_password_command.as_deref(),
            "--from-password",
        )
    })
    .with_context(|| format!("--from-repo {from}"))?;
    Ok(other.config().chunker)
}
