//! `coffer copy`: snapshots into a second repository.

use crate::args::Global;
use crate::args_ops::CopyArgs;
use crate::cmd_snapshots::filter;
use crate::progress::Bar;
use crate::{exit, open, output, password};
use anyhow::{Context, Result};
use coffer_store::copy::copy_snapshots;
use coffer_store::repo::Repository;
use coffer_store::select;
use std::process::ExitCode;

pub fn run(g: &Global, a: CopyArgs) -> Result<ExitCode> {
    let src = open::repository(g)?;
    let dst = open_destination(g, &a)?;
    let matching = filter(&a.filter).apply(src.snapshots()?);
    let chosen = if a.snapshots.is_empty() {
        matching
    } else {
        let mut out = Vec::new();
        for spec in &a.snapshots {
            let e = select::find(&matching, spec)?.clone();
            if !out
                .iter()
                .any(|o: &coffer_store::format::snapshot::SnapshotEntry| o.id == e.id)
            {
                out.push(e);
            }
        }
        out
    };
    if src.chunker_params() != dst.chunker_params() && !g.quiet && !g.json {
        eprintln!(
            "note: the repositories' chunker parameters differ: copied data is correct but does not \
             deduplicate against the destination's own backups (create it with \
             `coffer init --copy-chunker-params --from-repo SOURCE` for that)"
        );
    }
    let bar = Bar::new(g);
    let result = copy_snapshots(&src, &dst, &chosen, &bar);
    bar.finish();
    let report =
        result.context("copy stopped; snapshots already copied stay, running again resumes")?;
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "summary",
            "snapshots": report.snapshots.iter().map(|s| serde_json::json!({
                "source": s.source.to_hex(),
                "destination": s.destination.to_hex(),
                "skipped": s.skipped,
            })).collect::<Vec<_>>(),
            "snapshots_copied": report.snapshots.iter().filter(|s| !s.skipped).count(),
            "snapshots_skipped": report.snapshots.iter().filter(|s| s.skipped).count(),
            "bytes_read": report.bytes_read,
            "blobs_added": report.blobs_added,
            "bytes_added": report.bytes_added,
            "packs_written": report.packs_written,
        }))?;
    } else if !g.quiet {
        for s in &report.snapshots {
            if s.skipped {
                println!(
                    "snapshot {} already there as {}",
                    s.source.short(),
                    s.destination.short()
                );
            } else {
                println!(
                    "snapshot {} copied as {}",
                    s.source.short(),
                    s.destination.short()
                );
            }
        }
        println!(
            "read {}, added {} to {}",
            output::bytes(report.bytes_read),
            output::bytes(report.bytes_added),
            a.to_repo
        );
    }
    Ok(ExitCode::from(exit::OK))
}

fn open_destination(g: &Global, a: &CopyArgs) -> Result<Repository> {
    open::repository_at(g, &a.to_repo, || {
        password::read_other(
            "COFFER_TO_PASSWORD",
            a.to_password_file.as_deref(),
            a.to_password_command.as_deref(),
            "--to-password",
        )
    })
    .with_context(|| format!("destination {}", a.to_repo))
}
