//! `coffer backup`.

use crate::args::{BackupArgs, Global};
use crate::metrics::{self, RunMetrics};
use crate::progress::Bar;
use crate::{exit, open, output, when};
use anyhow::{Context, Result, bail};
use coffer_store::backup::{self, BackupOptions, ParentChoice, Source};
use coffer_store::id::SnapshotId;
use coffer_store::select;
use std::process::ExitCode;
use std::time::SystemTime;

pub fn run(g: &Global, a: BackupArgs) -> Result<ExitCode> {
    let time = match &a.time {
        Some(t) => when::parse(t)?,
        None => SystemTime::now(),
    };
    let mut sources: Vec<Source> = a.paths.iter().cloned().map(Source::Path).collect();
    if a.stdin_from_command {
        if a.command.is_empty() {
            bail!("--stdin-from-command needs the command after `--`, e.g. -- pg_dump -Fc -Z0 erp");
        }
        sources.push(Source::Command {
            name: a.stdin_name.clone(),
            argv: a.command.clone(),
            tap: None,
        });
    } else if !a.command.is_empty() {
        bail!("arguments after `--` are a producer command: add --stdin-from-command");
    } else if a.stdin {
        sources.push(Source::Stdin {
            name: a.stdin_name.clone(),
            reader: Box::new(std::io::stdin()),
        });
    }
    let mut excludes = a.excludes.clone();
    let mut exclude_files = a.exclude_files.clone();
    if let Some(p) = &g.selected {
        excludes.extend(p.profile.excludes.iter().cloned());
        exclude_files.extend(p.profile.exclude_files.iter().cloned());
    }
    for f in &exclude_files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read exclude file {}", f.display()))?;
        excludes.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }

    let repo = open::repository(g)?;
    let parent = if a.force {
        ParentChoice::None
    } else if let Some(p) = &a.parent {
        let all = repo.snapshots()?;
        ParentChoice::Id(select::find(&all, p)?.id)
    } else {
        ParentChoice::Auto
    };
    let mut opts = BackupOptions::new(time);
    if let Some(h) = &a.host {
        opts.host = h.clone();
    }
    opts.tags = a.tags.clone();
    opts.excludes = excludes;
    opts.parent = parent;
    opts.upload_concurrency = usize::from(a.upload_concurrency);

    let bar = Bar::new(g);
    let result = backup::backup(&repo, sources, &opts, &bar);
    bar.finish();
    record_metrics(g, &opts, &result);
    let report = result.map_err(|e| match e {
        // Packs already uploaded stay for the next run to reuse; say that
        // nothing half-done is visible.
        e @ coffer_store::Error::Backend { .. } => {
            anyhow::Error::new(e).context("backup stopped, no snapshot was written")
        }
        e => e.into(),
    })?;
    let s = &report.snapshot;
    let sum = &s.summary;
    if let Err(why) = &report.maintenance {
        eprintln!("warning: snapshot saved, but index compaction or the catalogue failed: {why}");
    }
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "summary",
            "snapshot_id": report.snapshot_id.to_hex(),
            "parent": s.parent.as_ref().map(SnapshotId::to_hex),
            "time": when::rfc3339(s.time_unix_ns),
            "partial": s.partial,
            "files_new": sum.files_new,
            "files_changed": sum.files_changed,
            "files_unmodified": sum.files_unmodified,
            "dirs": sum.dirs,
            "bytes_read": sum.bytes_read,
            "bytes_total": sum.bytes_total,
            "blobs_added": sum.blobs_added,
            "bytes_added": sum.bytes_added,
            "packs_written": report.write.packs_written,
            "duration_seconds": sum.duration_ms as f64 / 1000.0,
            "warnings": report.warnings,
            "maintenance": report.maintenance.as_ref().ok(),
        }))?;
    } else if !g.quiet {
        println!(
            "snapshot {} saved{}",
            report.snapshot_id.short(),
            if s.partial {
                format!(
                    " (partial: {} problem(s), see warnings above)",
                    report.warnings.len()
                )
            } else {
                String::new()
            }
        );
        println!(
            "  files: {} new, {} changed, {} unmodified; {} folders",
            sum.files_new, sum.files_changed, sum.files_unmodified, sum.dirs
        );
        println!(
            "  read {}, added {} to the repository in {:.1} s (snapshot holds {})",
            output::bytes(sum.bytes_read),
            output::bytes(sum.bytes_added),
            sum.duration_ms as f64 / 1000.0,
            output::bytes(sum.bytes_total),
        );
    }
    Ok(ExitCode::from(if s.partial {
        exit::PARTIAL
    } else {
        exit::OK
    }))
}

fn record_metrics(
    g: &Global,
    opts: &BackupOptions,
    result: &coffer_store::Result<backup::BackupReport>,
) {
    record(g, &opts.host, &opts.tags, result.as_ref().ok());
}

/// The `backup` samples of `--metrics-file` for one run (`None`: it failed);
/// `pg backup` writes the same, so one alert rule covers both.
pub fn record(g: &Global, host: &str, tags: &[String], report: Option<&backup::BackupReport>) {
    let (host, tags) = match report {
        Some(r) => (r.snapshot.host.as_str(), r.snapshot.tags.as_slice()),
        None => (host, tags),
    };
    let labels = metrics::labels("backup", host, tags);
    let m = match report {
        Some(r) => {
            let sum = &r.snapshot.summary;
            RunMetrics {
                success: !r.snapshot.partial,
                duration_seconds: sum.duration_ms as f64 / 1000.0,
                bytes_read: Some(sum.bytes_read),
                bytes_added: Some(sum.bytes_added),
                files: Some(sum.files_new + sum.files_changed + sum.files_unmodified),
                #[allow(clippy::cast_precision_loss)]
                dedup_ratio: Some(sum.bytes_total as f64 / sum.bytes_added.max(1) as f64),
                errors: r.warnings.len() as u64,
                extra: Vec::new(),
            }
        }
        None => RunMetrics {
            errors: 1,
            ..RunMetrics::default()
        },
    };
    metrics::after_run(g, &labels, &m);
}
