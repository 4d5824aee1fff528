//! `coffer snapshots`.

use crate::args::{Global, SnapshotsArgs};
use crate::{exit, open, output, when};
use anyhow::Result;
use coffer_store::format::snapshot::SnapshotEntry;
use coffer_store::select::SnapshotFilter;
use std::process::ExitCode;

pub fn filter(f: &crate::args::Filter) -> SnapshotFilter {
    SnapshotFilter {
        hosts: f.hosts.clone(),
        tags: f.tags.clone(),
        paths: f.paths.clone(),
    }
}

/// The documented `--json` shape of one snapshot (additive only).
pub fn to_json(e: &SnapshotEntry) -> serde_json::Value {
    let s = &e.snapshot;
    serde_json::json!({
        "id": e.id.to_hex(),
        "short_id": e.id.short(),
        "time": when::rfc3339(s.time_unix_ns),
        "host": s.host,
        "username": s.username,
        "tags": s.tags,
        "paths": s.paths,
        "parent": s.parent.map(|p| p.to_hex()),
        "tree": s.root.to_hex(),
        "partial": s.partial,
        "program": s.program,
        // Recorded facts (pg backup: versions, row counts, fingerprint), key -> value.
        "meta": s.meta.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
        "summary": {
            "files_new": s.summary.files_new,
            "files_changed": s.summary.files_changed,
            "files_unmodified": s.summary.files_unmodified,
            "dirs": s.summary.dirs,
            "bytes_read": s.summary.bytes_read,
            "bytes_total": s.summary.bytes_total,
            "blobs_added": s.summary.blobs_added,
            "bytes_added": s.summary.bytes_added,
            "errors": s.summary.errors,
            "duration_ms": s.summary.duration_ms,
        },
    })
}

pub fn run(g: &Global, a: SnapshotsArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let snaps = filter(&a.filter).apply(repo.snapshots()?);
    if g.json {
        output::json(&snaps.iter().map(to_json).collect::<Vec<_>>())?;
        return Ok(ExitCode::from(exit::OK));
    }
    let rows: Vec<Vec<String>> = snaps
        .iter()
        .map(|e| {
            let s = &e.snapshot;
            vec![
                e.id.short(),
                when::short(s.time_unix_ns),
                s.host.clone(),
                s.tags.join(","),
                s.paths.join(" "),
                output::bytes(s.summary.bytes_total),
                output::bytes(s.summary.bytes_added),
                if s.partial {
                    "partial".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    output::table(
        &["ID", "Time", "Host", "Tags", "Paths", "Size", "Added", ""],
        &rows,
    )?;
    if !g.quiet {
        println!("{} snapshot(s)", snaps.len());
    }
    Ok(ExitCode::from(exit::OK))
}
