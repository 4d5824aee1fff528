//! `coffer restore`.

use crate::args::{Global, RestoreArgs};
use crate::cmd_history::{choose, target};
use crate::progress::Bar;
use crate::{exit, open, output};
use anyhow::{Context, Result};
use coffer_store::restore::{self, RestoreOptions};
use globset::{Glob, GlobSetBuilder};
use std::process::ExitCode;

pub fn run(g: &Global, a: RestoreArgs) -> Result<ExitCode> {
    let (spec, subpath) = target(&a.when, a.snapshot.as_deref(), None)?;
    // Paths inside a snapshot never hold `..`: such a pattern can only be a
    // mistake or an attempt to reach outside the target.
    if let Some(p) = a.includes.iter().find(|p| p.split('/').any(|c| c == "..")) {
        anyhow::bail!(
            "--include {p:?}: `..` cannot appear in a path inside a snapshot; name it from the snapshot root"
        );
    }
    let include = if a.includes.is_empty() {
        None
    } else {
        let mut b = GlobSetBuilder::new();
        for p in &a.includes {
            b.add(
                Glob::new(p.trim_start_matches('/'))
                    .with_context(|| format!("include pattern {p:?}"))?,
            );
        }
        Some(b.build()?)
    };
    let repo = open::repository(g)?;
    let snap = choose(&repo, g, spec.as_deref(), &a.when, &a.filter)?;
    let bar = Bar::new(g);
    if subpath.is_empty() && include.is_none() {
        // A whole snapshot: its size is in its summary, so the bar has an ETA.
        let sum = &snap.snapshot.summary;
        bar.expect_totals(
            sum.bytes_total,
            sum.files_new + sum.files_changed + sum.files_unmodified,
        );
    }
    let result = restore::restore(
        &repo,
        &snap.snapshot.root,
        &a.target,
        &RestoreOptions {
            include: include.as_ref(),
            subpath: &subpath,
        },
        &bar,
    );
    bar.finish();
    let report = result?;
    if include.is_some()
        && report.files + report.dirs + report.symlinks == 0
        && report.skipped.is_empty()
    {
        anyhow::bail!(
            "--include {} matches nothing in snapshot {}: nothing was restored (see `coffer ls {}`)",
            a.includes.join(" --include "),
            snap.id.short(),
            snap.id.short()
        );
    }
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "summary",
            "snapshot_id": snap.id.to_hex(),
            "files_restored": report.files,
            "dirs_restored": report.dirs,
            "symlinks_restored": report.symlinks,
            "bytes_restored": report.bytes,
            "skipped": report.skipped.iter().map(|(p, why)| serde_json::json!({"path": p, "reason": why})).collect::<Vec<_>>(),
        }))?;
    } else {
        for (p, why) in &report.skipped {
            eprintln!("warning: {p}: not restored: {why}");
        }
        if !g.quiet {
            println!(
                "restored snapshot {} into {}: {} files, {} folders, {} symlinks, {}",
                snap.id.short(),
                a.target.display(),
                report.files,
                report.dirs,
                report.symlinks,
                output::bytes(report.bytes)
            );
        }
    }
    Ok(ExitCode::from(if report.skipped.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    }))
}
