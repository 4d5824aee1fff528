//! Point in time: choosing a snapshot `--as-of` a date, and `find`, `log`,
//! `diff`, `dump` across snapshots.

use crate::args::{Filter, Global};
use crate::args_history::{ArchiveKind, AsOf, DiffArgs, DumpArgs, FindArgs, LogArgs};
use crate::cmd_browse::split_target;
use crate::cmd_snapshots::filter;
use crate::{exit, open, output, when};
use anyhow::{Context, Result, bail};
use coffer_store::archive::{ArchiveFormat, write_archive};
use coffer_store::format::snapshot::SnapshotEntry;
use coffer_store::format::tree::Node;
use coffer_store::history::{self, ChangeKind};
use coffer_store::repo::Repository;
use coffer_store::{Error, select, tree};
use globset::{Glob, GlobSetBuilder};
use std::io::Write;
use std::process::ExitCode;

/// The snapshot spec and inner path of `SNAPSHOT:PATH` / `SNAPSHOT PATH`, or
/// with --as-of of a lone PATH (then the spec is None).
pub fn target(
    w: &AsOf,
    first: Option<&str>,
    second: Option<&str>,
) -> Result<(Option<String>, String)> {
    if w.as_of.is_some() {
        if second.is_some() {
            bail!("with --as-of give only the PATH, not a snapshot too");
        }
        return Ok((
            None,
            first.unwrap_or_default().trim_matches('/').to_string(),
        ));
    }
    let Some(first) = first else {
        bail!("name a snapshot (an id, `latest`) or give --as-of WHEN");
    };
    let (spec, path) = split_target(first, second);
    Ok((Some(spec), path))
}

/// The repository, snapshot, inner path and node that a `SNAPSHOT:PATH`
/// argument (or --as-of and a PATH) names; `no_path` is the error for an empty path.
pub fn locate(
    g: &Global,
    (first, second): (&str, Option<&str>),
    w: &AsOf,
    f: &Filter,
    no_path: &str,
) -> Result<(Repository, SnapshotEntry, String, Node)> {
    let (spec, path) = target(w, Some(first), second)?;
    if path.is_empty() {
        bail!("{no_path}");
    }
    let repo = open::repository(g)?;
    let snap = choose(&repo, g, spec.as_deref(), w, f)?;
    let node = tree::resolve_path(&repo, &snap.snapshot.root, &path)?.ok_or_else(|| {
        Error::PathNotFound {
            path: path.clone(),
            snapshot: snap.id.short(),
        }
    })?;
    Ok((repo, snap, path, node))
}

/// The snapshots the filters keep, oldest first.
pub fn filtered(repo: &Repository, f: &Filter) -> Result<Vec<SnapshotEntry>> {
    Ok(filter(f).apply(repo.snapshots()?))
}

/// The snapshot named by `spec`, or with --as-of the newest at or before that
/// moment; the --as-of choice is said on stderr, in the zone used.
pub fn choose(
    repo: &Repository,
    g: &Global,
    spec: Option<&str>,
    w: &AsOf,
    f: &Filter,
) -> Result<SnapshotEntry> {
    let snaps = filtered(repo, f)?;
    let Some(at) = &w.as_of else {
        return Ok(select::find(&snaps, spec.unwrap_or("latest"))?.clone());
    };
    let tz = when::zone(w.tz.as_deref())?;
    let at_ns = when::as_of(at, &tz)?;
    let Some(s) = select::as_of(&snaps, at_ns) else {
        let first = snaps.first().map_or_else(
            || "there is no matching snapshot at all".to_string(),
            |s| {
                format!(
                    "the oldest matching one is from {}",
                    when::in_zone(s.snapshot.time_unix_ns, &tz)
                )
            },
        );
        return Err(Error::SnapshotNotFound(format!(
            "--as-of {} (no snapshot at or before it; {first})",
            when::in_zone(at_ns, &tz)
        ))
        .into());
    };
    if !g.quiet {
        eprintln!(
            "using snapshot {} of {} (the newest at or before {})",
            s.id.short(),
            when::in_zone(s.snapshot.time_unix_ns, &tz),
            when::in_zone(at_ns, &tz)
        );
    }
    Ok(s.clone())
}

fn snap_json(s: &SnapshotEntry, tz: &jiff::tz::TimeZone) -> serde_json::Value {
    serde_json::json!({"id": s.id.to_hex(), "short_id": s.id.short(), "time": rfc3339_in(s.snapshot.time_unix_ns, tz)})
}

fn rfc3339_in(ns: i64, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).map_or_else(
        |_| ns.to_string(),
        |t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        },
    )
}

/// Snapshots up to --as-of (all without it), for `find` and `log`.
fn history_snapshots(repo: &Repository, w: &AsOf, f: &Filter) -> Result<Vec<SnapshotEntry>> {
    let mut snaps = filtered(repo, f)?;
    if let Some(at) = &w.as_of {
        let at_ns = when::as_of(at, &when::zone(w.tz.as_deref())?)?;
        snaps.retain(|s| s.snapshot.time_unix_ns <= at_ns);
    }
    Ok(snaps)
}

pub fn find(g: &Global, a: FindArgs) -> Result<ExitCode> {
    let (mut whole, mut base) = (GlobSetBuilder::new(), GlobSetBuilder::new());
    for p in &a.patterns {
        let glob = Glob::new(p.trim_matches('/')).with_context(|| format!("pattern {p:?}"))?;
        if p.trim_matches('/').contains('/') {
            whole.add(glob);
        } else {
            base.add(glob);
        }
    }
    let tz = when::zone(a.when.tz.as_deref())?;
    let repo = open::repository(g)?;
    let snaps = history_snapshots(&repo, &a.when, &a.filter)?;
    let found = history::find(&repo, &snaps, &whole.build()?, &base.build()?)?;
    let mut out = std::io::stdout().lock();
    if g.json {
        let v: Vec<_> = found
            .iter()
            .map(|m| {
                serde_json::json!({
                    "path": m.path, "type": history::kind_name(&m.node), "size": m.node.size,
                    "mtime": rfc3339_in(m.node.mtime_unix_ns, &tz), "content_id": m.content_id,
                    "first": snap_json(&snaps[m.first], &tz), "last": snap_json(&snaps[m.last], &tz),
                    "snapshots": m.seen,
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(v))?;
    } else {
        for m in &found {
            writeln!(
                out,
                "{}  {:>10}  {} .. {} ({} snapshots: {} .. {})",
                m.path,
                output::bytes(m.node.size),
                when::in_zone(snaps[m.first].snapshot.time_unix_ns, &tz),
                when::in_zone(snaps[m.last].snapshot.time_unix_ns, &tz),
                m.seen,
                snaps[m.first].id.short(),
                snaps[m.last].id.short(),
            )?;
        }
        if found.is_empty() && !g.quiet {
            eprintln!("no path matches in {} snapshots", snaps.len());
        }
    }
    Ok(ExitCode::from(exit::OK))
}

pub fn log(g: &Global, a: LogArgs) -> Result<ExitCode> {
    let tz = when::zone(a.when.tz.as_deref())?;
    let repo = open::repository(g)?;
    let snaps = history_snapshots(&repo, &a.when, &a.filter)?;
    let path = a.path.trim_matches('/');
    let versions = history::log(&repo, &snaps, path)?;
    if versions.is_empty() {
        return Err(Error::PathNotFound {
            path: path.to_string(),
            snapshot: format!("any of the {} matching snapshots", snaps.len()),
        }
        .into());
    }
    if g.json {
        let v: Vec<_> = versions
            .iter()
            .map(|v| {
                serde_json::json!({
                    "path": path, "type": history::kind_name(&v.node), "size": v.node.size,
                    "mode": format!("{:o}", v.node.mode), "mtime": rfc3339_in(v.node.mtime_unix_ns, &tz),
                    "content_id": v.content_id, "first": snap_json(&snaps[v.first], &tz),
                    "last": snap_json(&snaps[v.last], &tz), "snapshots": v.seen,
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(v))?;
    } else {
        let mut out = std::io::stdout().lock();
        for v in &versions {
            writeln!(
                out,
                "{}  {:>10}  first {} {}  last {} {}  ({} snapshots)",
                &v.content_id[..16],
                output::bytes(v.node.size),
                snaps[v.first].id.short(),
                when::in_zone(snaps[v.first].snapshot.time_unix_ns, &tz),
                snaps[v.last].id.short(),
                when::in_zone(snaps[v.last].snapshot.time_unix_ns, &tz),
                v.seen
            )?;
        }
    }
    Ok(ExitCode::from(exit::OK))
}

pub fn diff(g: &Global, a: DiffArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let snaps = filtered(&repo, &a.filter)?;
    let from = select::find(&snaps, &a.from)?.clone();
    let to = select::find(&snaps, &a.to)?.clone();
    let changes = history::diff(&repo, &from.snapshot.root, &to.snapshot.root)?;
    let size = |n: &Option<coffer_store::format::tree::Node>| n.as_ref().map_or(0, |n| n.size);
    if g.json {
        let v: Vec<_> = changes
            .iter()
            .map(|c| {
                let (old, new) = (size(&c.old), size(&c.new));
                serde_json::json!({
                    "path": c.path, "change": change_name(c.kind),
                    "type": c.new.as_ref().or(c.old.as_ref()).map(history::kind_name),
                    "old_size": c.old.as_ref().map(|n| n.size), "new_size": c.new.as_ref().map(|n| n.size),
                    "size_delta": i128::from(new) - i128::from(old),
                })
            })
            .collect();
        output::json(
            &serde_json::json!({"from": from.id.to_hex(), "to": to.id.to_hex(), "changes": v}),
        )?;
    } else {
        let mut out = std::io::stdout().lock();
        let (mut added, mut removed, mut modified) = (0, 0, 0);
        for c in &changes {
            let (old, new) = (size(&c.old), size(&c.new));
            let mark = match c.kind {
                ChangeKind::Added => {
                    added += 1;
                    '+'
                }
                ChangeKind::Removed => {
                    removed += 1;
                    '-'
                }
                ChangeKind::Modified | ChangeKind::TypeChanged => {
                    modified += 1;
                    'M'
                }
            };
            let delta = i128::from(new) - i128::from(old);
            writeln!(
                out,
                "{mark} {}  {}{}",
                c.path,
                if delta >= 0 { "+" } else { "" },
                delta
            )?;
        }
        if !g.quiet {
            eprintln!(
                "{} .. {}: {added} added, {removed} removed, {modified} modified",
                from.id.short(),
                to.id.short()
            );
        }
    }
    Ok(ExitCode::from(exit::OK))
}

fn change_name(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Modified => "modified",
        ChangeKind::TypeChanged => "type_changed",
    }
}

pub fn dump(g: &Global, a: DumpArgs) -> Result<ExitCode> {
    let (repo, snap, path, node) = locate(
        g,
        (&a.target, a.path.as_deref()),
        &a.when,
        &a.filter,
        "name the folder or file to dump (e.g. documents/facture)",
    )?;
    let format = match a.archive {
        ArchiveKind::Tar => ArchiveFormat::Tar,
        ArchiveKind::Zip => ArchiveFormat::Zip,
    };
    let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let report = write_archive(&repo, &node, &path, format, out)?;
    if !g.quiet {
        eprintln!(
            "dumped {path} of snapshot {}: {} files, {} folders, {} symlinks, {}",
            snap.id.short(),
            report.files,
            report.dirs,
            report.symlinks,
            output::bytes(report.bytes)
        );
    }
    Ok(ExitCode::from(exit::OK))
}
