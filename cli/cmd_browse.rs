//! `coffer ls` and `coffer cat`: looking inside one snapshot.

use crate::args::{CatArgs, Global, LsArgs};
use crate::cmd_history::{choose, locate, target};
use crate::{exit, open, when};
use anyhow::{Result, bail};
use coffer_store::format::tree::{Node, NodeKind};
use coffer_store::progress::NoProgress;
use coffer_store::repo::Repository;
use coffer_store::{Error, restore, tree};
use std::io::Write;
use std::process::ExitCode;

/// Splits `SNAPSHOT:PATH`; a separate PATH argument wins.
pub fn split_target(target: &str, path: Option<&str>) -> (String, String) {
    let (snap, inner) = match target.split_once(':') {
        Some((s, p)) => (s.to_string(), p.to_string()),
        None => (target.to_string(), String::new()),
    };
    let p = path.map(str::to_string).unwrap_or(inner);
    (snap, p.trim_matches('/').to_string())
}

pub fn ls(g: &Global, a: LsArgs) -> Result<ExitCode> {
    let (spec, path) = target(&a.when, Some(&a.snapshot), a.path.as_deref())?;
    let repo = open::repository(g)?;
    let snap = choose(&repo, g, spec.as_deref(), &a.when, &a.filter)?;
    let root = snap.snapshot.root;
    let mut out = std::io::stdout().lock();
    let start = if path.is_empty() {
        None
    } else {
        Some(
            tree::resolve_path(&repo, &root, &path)?.ok_or_else(|| Error::PathNotFound {
                path: path.clone(),
                snapshot: snap.id.short(),
            })?,
        )
    };
    let mut emit = |rel: &str, n: &Node| -> Result<()> {
        if g.json {
            serde_json::to_writer(&mut out, &node_json(rel, n))?;
            writeln!(out)?;
        } else if a.long {
            writeln!(
                out,
                "{} {:>10} {} {}",
                mode_string(n),
                n.size,
                when::short(n.mtime_unix_ns),
                rel
            )?;
        } else {
            writeln!(out, "{rel}")?;
        }
        Ok(())
    };
    match start {
        None => walk(&repo, &root, "", &mut emit)?,
        Some(node) => {
            emit(&path, &node)?;
            if let NodeKind::Dir { tree } = node.kind {
                walk(&repo, &tree, &path, &mut emit)?;
            }
        }
    }
    Ok(ExitCode::from(exit::OK))
}

fn walk(
    repo: &Repository,
    tree: &coffer_store::id::BlobId,
    prefix: &str,
    emit: &mut dyn FnMut(&str, &Node) -> Result<()>,
) -> Result<()> {
    for n in tree::dir_entries(repo, tree)? {
        let rel = if prefix.is_empty() {
            n.name_lossy()
        } else {
            format!("{prefix}/{}", n.name_lossy())
        };
        emit(&rel, &n)?;
        if let NodeKind::Dir { tree } = &n.kind {
            walk(repo, tree, &rel, emit)?;
        }
    }
    Ok(())
}

/// The documented `ls --json` line (additive only).
fn node_json(path: &str, n: &Node) -> serde_json::Value {
    let (kind, target) = match &n.kind {
        NodeKind::File { .. } => ("file", None),
        NodeKind::Dir { .. } => ("dir", None),
        NodeKind::Symlink { target } => (
            "symlink",
            Some(String::from_utf8_lossy(target).into_owned()),
        ),
    };
    serde_json::json!({
        "path": path,
        "name": n.name_lossy(),
        "type": kind,
        "size": n.size,
        "mode": format!("{:o}", n.mode),
        "mtime": when::rfc3339(n.mtime_unix_ns),
        "uid": n.uid,
        "gid": n.gid,
        "link_target": target,
    })
}

fn mode_string(n: &Node) -> String {
    let t = match n.kind {
        NodeKind::Dir { .. } => 'd',
        NodeKind::Symlink { .. } => 'l',
        NodeKind::File { .. } => '-',
    };
    let mut s = String::from(t);
    for shift in [6, 3, 0] {
        let bits = (n.mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

pub fn cat(g: &Global, a: CatArgs) -> Result<ExitCode> {
    let (repo, snap, path, node) = locate(
        g,
        (&a.target, a.path.as_deref()),
        &a.when,
        &a.filter,
        "name the file: coffer cat SNAPSHOT:PATH (e.g. latest:db/erp.dump)",
    )?;
    let NodeKind::File { content } = &node.kind else {
        bail!(
            "{path} is not a file in snapshot {} (use `coffer ls` or `coffer restore`)",
            snap.id.short()
        );
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    restore::write_content(&repo, content, &mut out, &NoProgress)?;
    out.flush().map_err(Error::Output)?;
    Ok(ExitCode::from(exit::OK))
}
