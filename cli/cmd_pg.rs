//! `coffer pg backup`: pg_dump run by coffer, streamed into a snapshot with
//! what it takes to trust it later (versions, label, row counts, fingerprint).

use crate::args::Global;
use crate::args_pg::{PgArgs, PgBackupArgs, PgCommand, PgConnArgs};
use crate::progress::Bar;
use crate::{open, output};
use anyhow::{Context, Result, anyhow};
use coffer_pg::{Conn, DumpFormat, DumpRows, FingerprintOptions, Session};
use coffer_store::backup::{self, BackupOptions, BackupReport, Source, StreamTap};
use coffer_store::format::snapshot::SnapshotEntry;
use coffer_store::repo::Repository;
use coffer_store::tree;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// `Snapshot.meta` keys written by `pg backup` (FORMAT.md 15.3).
pub mod key {
    pub const DATABASE: &str = "pg.database";
    pub const SERVER_VERSION: &str = "pg.server_version";
    pub const PG_DUMP_VERSION: &str = "pg.pg_dump_version";
    pub const FORMAT: &str = "pg.format";
    pub const DUMP_PATH: &str = "pg.dump_path";
    pub const LABEL: &str = "pg.label";
    pub const FINGERPRINT: &str = "pg.fingerprint";
    pub const DUMP_FROM: &str = "pg.dump_from";
    pub const ENCODING: &str = "pg.encoding";
    pub const ROWS: &str = "pg.rows.";
}

pub fn run(g: &Global, a: PgArgs) -> Result<ExitCode> {
    match a.command {
        PgCommand::Backup(b) => backup_cmd(g, b),
        PgCommand::Restore(r) => crate::cmd_pg_restore::restore(g, r),
        PgCommand::Drill(d) => crate::cmd_pg_restore::drill(g, d),
    }
}

pub fn conn(c: &PgConnArgs) -> Result<Conn> {
    let dbname = c
        .dbname
        .clone()
        .ok_or_else(|| anyhow!("no database given: use --dbname NAME or set PGDATABASE"))?;
    Ok(Conn {
        dbname,
        host: c.host.clone(),
        port: c.port.clone(),
        username: c.username.clone(),
        maintenance_db: c.maintenance_db.clone(),
        psql: c.psql.clone(),
        pg_dump: c.pg_dump.clone(),
        pg_restore: c.pg_restore.clone(),
    })
}

/// For restore and drill: the connection, with `postgres` standing in when no
/// --dbname is given (a side-by-side restore needs no source database).
pub fn conn_or_maintenance(c: &PgConnArgs) -> Result<Conn> {
    let mut c = c.clone();
    if c.dbname.is_none() {
        c.dbname = Some(c.maintenance_db.clone());
    }
    conn(&c)
}

pub fn meta<'a>(s: &'a SnapshotEntry, k: &str) -> Option<&'a str> {
    s.snapshot
        .meta
        .iter()
        .find(|(mk, _)| mk == k)
        .map(|(_, v)| v.as_str())
}

/// What one `pg backup` run needs besides the connection.
pub struct Plan {
    pub format: DumpFormat,
    pub label_query: Option<String>,
    pub skip_if_unchanged: bool,
    pub fingerprint: FingerprintOptions,
    pub documents: Vec<std::path::PathBuf>,
    pub excludes: Vec<String>,
    pub dump_name: Option<String>,
    pub tags: Vec<String>,
    pub host: Option<String>,
}

/// A finished `pg backup`: the snapshot, and the snapshot whose dump it carried over.
pub struct Outcome {
    pub report: BackupReport,
    pub carried_from: Option<String>,
    pub database: String,
    /// Why row counts fell back to count(*), if they did.
    pub row_note: Option<String>,
}

/// Checks versions, reads the label (and with --skip-if-unchanged the fingerprint) in the
/// dump's own snapshot, then dumps (or carries the last dump over) into one snapshot while
/// the row counts (and otherwise the fingerprint) are read beside it, in that snapshot too.
pub fn pg_backup(repo: &Repository, conn: &Conn, plan: &Plan, progress: &Bar) -> Result<Outcome> {
    let (server_version, dump_version) = conn.check_versions()?;
    let database = conn.database_name()?;
    let settings = conn.database_settings(&database)?;
    let mut session = Session::open(conn)?;
    // With --skip-if-unchanged the fingerprint decides whether to dump, so it
    // comes first; otherwise it and the row counts (full scans of every table)
    // are read beside the dump, in the same exported snapshot.
    let early_fp = if plan.skip_if_unchanged {
        Some(session.fingerprint(&plan.fingerprint)?)
    } else {
        None
    };
    let label = match &plan.label_query {
        Some(q) => Some(session.scalar(q).context("the --label-query failed")?),
        None => None,
    };
    let ext = match plan.format {
        DumpFormat::Custom => "dump",
        DumpFormat::Plain => "sql",
    };
    let dump_name = plan
        .dump_name
        .clone()
        .unwrap_or_else(|| format!("db/{}.{ext}", sanitize(&database)));
    let host = plan
        .host
        .clone()
        .unwrap_or_else(coffer_store::repo::hostname);
    let mut tags = plan.tags.clone();
    tags.sort();
    tags.dedup();

    let mut carried_from = None;
    let mut sources: Vec<Source> = plan.documents.iter().cloned().map(Source::Path).collect();
    if plan.skip_if_unchanged {
        let all = repo.snapshots()?;
        let last = all.iter().rev().find(|s| {
            s.snapshot.host == host
                && s.snapshot.tags == tags
                && meta(s, key::DATABASE) == Some(database.as_str())
        });
        let fp = early_fp.as_ref().map(|f| f.hex.as_str());
        if let Some(last) = last.filter(|l| fp.is_some() && meta(l, key::FINGERPRINT) == fp) {
            let path = meta(last, key::DUMP_PATH).unwrap_or_default();
            let node = tree::resolve_path(repo, &last.snapshot.root, path)?
                .ok_or_else(|| anyhow!("snapshot {} has no dump at {path}", last.id.short()))?;
            sources.push(Source::Carried {
                name: path.to_string(),
                node,
            });
            carried_from = Some(last.id.to_hex());
        }
    }
    // Rows are counted in the custom-format dump as it streams by (no second
    // scan of every table); what it cannot answer is counted with count(*).
    let dump_rows = (carried_from.is_none() && plan.format == DumpFormat::Custom)
        .then(|| Arc::new(Mutex::new(DumpRows::new())));
    if carried_from.is_none() {
        let tap = dump_rows.clone().map(|rows| -> StreamTap {
            Box::new(move |piece: &[u8]| {
                if let Ok(mut r) = rows.lock() {
                    r.feed(piece);
                }
            })
        });
        sources.push(Source::Command {
            name: dump_name.clone(),
            argv: conn.dump_argv(plan.format, Some(&session.snapshot)),
            tap,
        });
    }
    let dump_path = match (&carried_from, sources.last()) {
        (Some(_), Some(Source::Carried { name, .. })) => name.clone(),
        _ => dump_name,
    };
    let mut m: Vec<(String, String)> = vec![
        (key::DATABASE.into(), database.clone()),
        (key::SERVER_VERSION.into(), server_version),
        (key::PG_DUMP_VERSION.into(), dump_version),
        (key::FORMAT.into(), plan.format.name().into()),
        (key::DUMP_PATH.into(), dump_path),
    ];
    if let Some(fp) = &early_fp {
        m.push((key::FINGERPRINT.into(), fp.hex.clone()));
    }
    if let Some(e) = settings.encoding {
        m.push((key::ENCODING.into(), e));
    }
    if let Some(l) = label {
        m.push((key::LABEL.into(), l));
    }
    if let Some(c) = &carried_from {
        m.push((key::DUMP_FROM.into(), c.clone()));
    }
    let mut opts = BackupOptions::new(SystemTime::now());
    opts.host = host;
    opts.tags = tags;
    opts.excludes = plan.excludes.clone();
    opts.meta = m;
    // The carried dump's chunks are reused unlooked-up: its snapshot must still exist under the lock.
    opts.reuses_snapshots = carried_from
        .as_deref()
        .and_then(coffer_store::id::SnapshotId::from_hex)
        .into_iter()
        .collect();
    let fp_opts = plan.fingerprint.clone();
    let mut row_note = None;
    let result = std::thread::scope(|scope| {
        let beside = scope.spawn(
            move || -> coffer_pg::Result<(Session, Vec<(String, String)>)> {
                let mut late = Vec::new();
                if early_fp.is_none() {
                    let fp = session.fingerprint(&fp_opts)?;
                    late.push((key::FINGERPRINT.to_string(), fp.hex));
                }
                Ok((session, late))
            },
        );
        let row_note = &mut row_note;
        let late: backup::LateMeta<'_> = Box::new(move || {
            let (mut session, mut late) = match beside.join() {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    return Err(format!(
                        "reading the fingerprint beside the dump failed: {e}"
                    ));
                }
                Err(_) => {
                    return Err(
                        "the thread reading the fingerprint beside the dump panicked".into(),
                    );
                }
            };
            // The dump has ended: its rows are all counted, and pg_dump is done
            // with the exported snapshot, which the session still holds.
            let streamed = dump_rows.map(|rows| match Arc::try_unwrap(rows) {
                Ok(m) => m
                    .into_inner()
                    .map_err(|_| "poisoned".to_string())
                    .and_then(|r| r.finish().map_err(|e| e.to_string())),
                Err(_) => Err("the dump stream is still in use".to_string()),
            });
            let (counts, scanned) = session
                .row_counts_with(streamed.as_ref().and_then(|s| s.as_ref().ok()))
                .map_err(|e| format!("counting rows failed: {e}"))?;
            if let Some(Err(why)) = &streamed {
                *row_note = Some(format!(
                    "row counts: the dump stream was not understood ({why}); counted {scanned} tables with count(*)"
                ));
            }
            for c in counts {
                late.push((format!("{}{}", key::ROWS, c.table), c.rows.to_string()));
            }
            let _ = session.close();
            Ok(late)
        });
        backup::backup_with_late_meta(repo, sources, &opts, progress, late)
    });
    let result = result.map_err(|e| {
        // The store names the program by its file name (a wrapper's, say):
        // say that it was the dump that failed, and which program ran it.
        let dumping = matches!(e, coffer_store::Error::CommandFailed { .. });
        let e = anyhow::Error::new(e);
        if dumping {
            e.context(format!(
                "pg_dump ({}) did not complete the dump of database {database}",
                conn.pg_dump.display()
            ))
        } else {
            e
        }
    });
    Ok(Outcome {
        report: result?,
        carried_from,
        database,
        row_note,
    })
}

/// A database name as a file name.
fn sanitize(db: &str) -> String {
    db.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn backup_cmd(g: &Global, a: PgBackupArgs) -> Result<ExitCode> {
    let conn = conn(&a.conn)?;
    let plan = Plan {
        format: DumpFormat::parse(&a.format).unwrap_or(DumpFormat::Custom),
        label_query: a.label_query,
        skip_if_unchanged: a.skip_if_unchanged,
        fingerprint: FingerprintOptions {
            timestamp_columns: a.timestamp_columns,
            volatile_tables: a.volatile_tables,
            custom_query: a.fingerprint_query,
        },
        documents: a.documents,
        excludes: a.excludes,
        dump_name: a.dump_name,
        tags: a.tags,
        host: a.snapshot_host,
    };
    let repo = open::repository(g)?;
    let bar = Bar::new(g);
    let out = pg_backup(&repo, &conn, &plan, &bar);
    bar.finish();
    let host = plan.host.clone().unwrap_or_else(|| {
        coffer_store::backup::BackupOptions::new(std::time::SystemTime::now()).host
    });
    crate::cmd_backup::record(g, &host, &plan.tags, out.as_ref().ok().map(|o| &o.report));
    let out = out?;
    print_summary(g, &out)?;
    Ok(ExitCode::from(if out.report.snapshot.partial {
        crate::exit::PARTIAL
    } else {
        crate::exit::OK
    }))
}

fn print_summary(g: &Global, out: &Outcome) -> Result<()> {
    let r = &out.report;
    let s = &r.snapshot.summary;
    let m = |k: &str| {
        r.snapshot
            .meta
            .iter()
            .find(|(mk, _)| mk == k)
            .map(|(_, v)| v.clone())
    };
    if g.json {
        let rows: serde_json::Map<String, serde_json::Value> = r
            .snapshot
            .meta
            .iter()
            .filter_map(|(k, v)| {
                let t = k.strip_prefix(key::ROWS)?;
                Some((t.to_string(), v.parse::<u64>().ok()?.into()))
            })
            .collect();
        return output::json(&serde_json::json!({
            "message_type": "summary",
            "snapshot_id": r.snapshot_id.to_hex(),
            "database": out.database,
            "dump_skipped": out.carried_from.is_some(),
            "dump_carried_from": out.carried_from,
            "server_version": m(key::SERVER_VERSION),
            "pg_dump_version": m(key::PG_DUMP_VERSION),
            "label": m(key::LABEL),
            "fingerprint": m(key::FINGERPRINT),
            "rows": rows,
            "row_counts_note": out.row_note,
            "files_new": s.files_new,
            "files_changed": s.files_changed,
            "files_unmodified": s.files_unmodified,
            "bytes_read": s.bytes_read,
            "bytes_added": s.bytes_added,
            "duration_seconds": s.duration_ms as f64 / 1000.0,
        }));
    }
    if let Some(n) = &out.row_note {
        if !g.quiet {
            eprintln!("{n}");
        }
    }
    if g.quiet {
        return Ok(());
    }
    println!(
        "snapshot {} saved (database {})",
        r.snapshot_id.short(),
        out.database
    );
    match &out.carried_from {
        Some(from) => println!(
            "  dump skipped: the database is unchanged since snapshot {} (same fingerprint); its dump is carried over",
            &from[..8.min(from.len())]
        ),
        None => println!(
            "  dumped with pg_dump {} from server {}",
            m(key::PG_DUMP_VERSION).unwrap_or_default(),
            m(key::SERVER_VERSION).unwrap_or_default()
        ),
    }
    if let Some(l) = m(key::LABEL) {
        println!("  label: {l}");
    }
    println!(
        "  files: {} new, {} changed, {} unmodified; read {}, added {} in {:.1} s",
        s.files_new,
        s.files_changed,
        s.files_unmodified,
        output::bytes(s.bytes_read),
        output::bytes(s.bytes_added),
        s.duration_ms as f64 / 1000.0
    );
    Ok(())
}
