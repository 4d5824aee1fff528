//! `coffer pg restore` and `coffer pg drill`: a snapshot's dump streamed into
//! pg_restore (or psql), then checked against the row counts recorded at backup.

use crate::args::Global;
use crate::args_history::AsOf;
use crate::args_pg::{PgDrillArgs, PgFilter, PgRestoreArgs};
use crate::cmd_pg::{Plan, key, meta, pg_backup};
use crate::progress::Bar;
use crate::{exit, open, output, when};
use anyhow::{Result, anyhow, bail};
use coffer_pg::{Conn, DatabaseSettings, DumpFormat, FingerprintOptions, Session};
use coffer_store::format::snapshot::SnapshotEntry;
use coffer_store::format::tree::NodeKind;
use coffer_store::progress::NoProgress;
use coffer_store::repo::Repository;
use coffer_store::restore::{self, RestoreOptions};
use coffer_store::{select, tree};
use std::path::Path;
use std::process::ExitCode;

/// A table whose restored row count differs from the recorded one.
struct Mismatch {
    table: String,
    recorded: Option<u64>,
    restored: Option<u64>,
}

/// Snapshots of `pg backup` (they carry `pg.database`) that pass the filter.
fn pick(repo: &Repository, spec: &str, w: &AsOf, f: &PgFilter) -> Result<SnapshotEntry> {
    let all: Vec<SnapshotEntry> = repo
        .snapshots()?
        .into_iter()
        .filter(|s| meta(s, key::DATABASE).is_some())
        .filter(|s| f.hosts.is_empty() || f.hosts.contains(&s.snapshot.host))
        .filter(|s| f.tags.iter().all(|t| s.snapshot.tags.contains(t)))
        .collect();
    if all.is_empty() {
        bail!(
            "no snapshot made by `coffer pg backup` matches (plain `coffer backup` snapshots hold no database record)"
        );
    }
    let Some(at) = &w.as_of else {
        return Ok(select::find(&all, spec)?.clone());
    };
    let tz = when::zone(w.tz.as_deref())?;
    let at_ns = when::as_of(at, &tz)?;
    let chosen = select::as_of(&all, at_ns).ok_or_else(|| {
        anyhow!(
            "no `coffer pg backup` snapshot at or before {} (--as-of); `coffer snapshots` lists them",
            when::in_zone(at_ns, &tz)
        )
    })?;
    eprintln!(
        "using snapshot {} of {} (the newest at or before {})",
        chosen.id.short(),
        when::in_zone(chosen.snapshot.time_unix_ns, &tz),
        when::in_zone(at_ns, &tz)
    );
    Ok(chosen.clone())
}

/// Streams the snapshot's dump into `db`, which must exist and be empty.
fn load(repo: &Repository, conn: &Conn, snap: &SnapshotEntry, db: &str) -> Result<()> {
    let path = meta(snap, key::DUMP_PATH).ok_or_else(|| anyhow!("snapshot has no pg.dump_path"))?;
    let format = meta(snap, key::FORMAT)
        .and_then(DumpFormat::parse)
        .unwrap_or(DumpFormat::Custom);
    let node = tree::resolve_path(repo, &snap.snapshot.root, path)?
        .ok_or_else(|| anyhow!("snapshot {} has no {path}", snap.id.short()))?;
    let NodeKind::File { content } = node.kind else {
        bail!("{path} in snapshot {} is not a file", snap.id.short());
    };
    let mut store_error = None;
    let loaded = conn.load(db, format, &mut |w| {
        let mut buf = std::io::BufWriter::with_capacity(1 << 20, w);
        match restore::write_content(repo, &content, &mut buf, &NoProgress) {
            Ok(_) => std::io::Write::flush(&mut buf),
            Err(e) => {
                let msg = e.to_string();
                store_error = Some(e);
                Err(std::io::Error::other(msg))
            }
        }
    });
    if let Some(e) = store_error {
        return Err(anyhow::Error::new(e).context(format!("reading {path} from the repository")));
    }
    Ok(loaded?)
}

/// Row counts of `db` against those the snapshot recorded.
fn verify(conn: &Conn, snap: &SnapshotEntry, db: &str) -> Result<(usize, Vec<Mismatch>)> {
    let mut c = conn.clone();
    c.dbname = db.to_string();
    let mut s = Session::open(&c)?;
    let now = s.row_counts()?;
    let _ = s.close();
    let recorded: Vec<(String, u64)> = snap
        .snapshot
        .meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(key::ROWS)?.to_string(), v.parse().ok()?)))
        .collect();
    let mut bad = Vec::new();
    for (t, n) in &recorded {
        let got = now.iter().find(|c| &c.table == t).map(|c| c.rows);
        if got != Some(*n) {
            bad.push(Mismatch {
                table: t.clone(),
                recorded: Some(*n),
                restored: got,
            });
        }
    }
    for c in &now {
        if !recorded.iter().any(|(t, _)| t == &c.table) {
            bad.push(Mismatch {
                table: c.table.clone(),
                recorded: None,
                restored: Some(c.rows),
            });
        }
    }
    Ok((recorded.len(), bad))
}

fn describe(m: &[Mismatch]) -> String {
    let show = |v: Option<u64>| v.map_or("absent".to_string(), |n| n.to_string());
    m.iter()
        .map(|x| {
            format!(
                "{}: recorded {}, restored {}",
                x.table,
                show(x.recorded),
                show(x.restored)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The snapshot's entries other than the dump, restored under `target`.
fn restore_documents(repo: &Repository, snap: &SnapshotEntry, target: &Path) -> Result<u64> {
    let dump_top = meta(snap, key::DUMP_PATH)
        .and_then(|p| p.split('/').find(|c| !c.is_empty()))
        .unwrap_or_default()
        .to_string();
    let mut files = 0;
    for n in tree::dir_entries(repo, &snap.snapshot.root)? {
        let name = n.name_lossy();
        if name == dump_top {
            continue;
        }
        let dest = target.join(&name);
        let r = restore::restore(
            repo,
            &snap.snapshot.root,
            &dest,
            &RestoreOptions {
                include: None,
                subpath: &name,
            },
            &NoProgress,
        )?;
        files += r.files;
    }
    Ok(files)
}

pub fn restore(g: &Global, a: PgRestoreArgs) -> Result<ExitCode> {
    let conn = crate::cmd_pg::conn_or_maintenance(&a.conn)?;
    if a.in_place && !a.yes {
        bail!(
            "--in-place replaces the live database: add --yes to confirm (an insurance snapshot is taken first)"
        );
    }
    let repo = open::repository(g)?;
    let snap = pick(
        &repo,
        a.snapshot.as_deref().unwrap_or("latest"),
        &a.when,
        &a.filter,
    )?;
    let source_db = meta(&snap, key::DATABASE).unwrap_or_default().to_string();
    let mut insurance = None;
    let target = if a.in_place {
        let live = conn.database_name()?;
        let settings = conn.database_settings(&live)?;
        let bar = Bar::new(g);
        let out = pg_backup(&repo, &conn, &insurance_plan(), &bar);
        bar.finish();
        let out = out.map_err(|e| {
            e.context("the insurance snapshot failed; the live database was not touched")
        })?;
        insurance = Some(out.report.snapshot_id.to_hex());
        if !g.quiet && !g.json {
            println!(
                "insurance snapshot {} of {live} saved",
                out.report.snapshot_id.short()
            );
        }
        conn.drop_database(&live)?;
        conn.create_database(&live, &settings)?;
        live
    } else {
        let into = a
            .into
            .clone()
            .unwrap_or_else(|| format!("{source_db}_{}", snap.id.short()));
        if conn.database_exists(&into)? {
            return Err(coffer_pg::Error::DatabaseExists(into).into());
        }
        conn.create_database(
            &into,
            &DatabaseSettings {
                encoding: meta(&snap, key::ENCODING).map(String::from),
                ..DatabaseSettings::default()
            },
        )?;
        into
    };
    load(&repo, &conn, &snap, &target)?;
    let (tables, bad) = verify(&conn, &snap, &target)?;
    let documents = match &a.documents_target {
        Some(d) => Some(restore_documents(&repo, &snap, d)?),
        None => None,
    };
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "summary",
            "snapshot_id": snap.id.to_hex(),
            "database": target,
            "in_place": a.in_place,
            "insurance_snapshot_id": insurance,
            "tables_checked": tables,
            "mismatches": describe(&bad),
            "documents_restored": documents,
        }))?;
    } else if !g.quiet {
        println!(
            "restored snapshot {} (database {source_db}) into {target}: {tables} tables, row counts {}",
            snap.id.short(),
            if bad.is_empty() { "match" } else { "DIFFER" }
        );
        if let (Some(n), Some(d)) = (documents, &a.documents_target) {
            println!("  {n} document files restored into {}", d.display());
        }
    }
    if !bad.is_empty() {
        bail!("row counts differ from the snapshot's: {}", describe(&bad));
    }
    Ok(ExitCode::from(exit::OK))
}

/// A plain dump of the live database, tagged `insurance`, never skipped.
fn insurance_plan() -> Plan {
    Plan {
        format: DumpFormat::Custom,
        label_query: None,
        skip_if_unchanged: false,
        fingerprint: FingerprintOptions {
            timestamp_columns: vec!["tms".into()],
            volatile_tables: Vec::new(),
            custom_query: None,
        },
        documents: Vec::new(),
        excludes: Vec::new(),
        dump_name: None,
        tags: vec!["insurance".into()],
        host: None,
    }
}

pub fn drill(g: &Global, a: PgDrillArgs) -> Result<ExitCode> {
    let conn = crate::cmd_pg::conn_or_maintenance(&a.conn)?;
    let repo = open::repository(g)?;
    let snap = pick(&repo, &a.snapshot, &AsOf::default(), &a.filter)?;
    let db = a.dbname_scratch.clone();
    if conn.database_exists(&db)? {
        return Err(coffer_pg::Error::DatabaseExists(db).into());
    }
    conn.create_database(
        &db,
        &DatabaseSettings {
            encoding: meta(&snap, key::ENCODING).map(String::from),
            ..DatabaseSettings::default()
        },
    )?;
    let started = std::time::Instant::now();
    let outcome = load(&repo, &conn, &snap, &db).and_then(|()| verify(&conn, &snap, &db));
    let dropped = conn.drop_database(&db);
    let seconds = started.elapsed().as_secs_f64();
    let (tables, reason) = match &outcome {
        Ok((t, bad)) if bad.is_empty() => (*t, None),
        Ok((t, bad)) => (*t, Some(format!("row counts differ: {}", describe(bad)))),
        Err(e) => (0, Some(format!("{e:#}"))),
    };
    let ok = reason.is_none();
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "drill",
            "snapshot_id": snap.id.to_hex(),
            "database": meta(&snap, key::DATABASE),
            "label": meta(&snap, key::LABEL),
            "scratch_database": db,
            "ok": ok,
            "tables_checked": tables,
            "reason": reason,
            "duration_seconds": seconds,
        }))?;
    } else if !g.quiet {
        output::table(
            &[
                "snapshot", "database", "label", "tables", "restore", "seconds",
            ],
            &[vec![
                snap.id.short(),
                meta(&snap, key::DATABASE).unwrap_or_default().to_string(),
                meta(&snap, key::LABEL).unwrap_or_default().to_string(),
                tables.to_string(),
                if ok { "ok".into() } else { "FAILED".into() },
                format!("{seconds:.1}"),
            ]],
        )?;
    }
    dropped?;
    match reason {
        None => Ok(ExitCode::from(exit::OK)),
        Some(r) => bail!("drill of snapshot {} failed: {r}", snap.id.short()),
    }
}
