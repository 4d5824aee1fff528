//! `coffer prune`, `coffer locks`, `coffer unlock`: parse, call
//! `coffer_store::prune` / `coffer_store::lock`, render.

use crate::args::Global;
use crate::args_prune::{CompactArgs, LocksArgs, PruneArgs, PruneFlags, UnlockArgs};
use crate::{exit, open, output, progress, when};
use anyhow::{Result, bail};
use coffer_store::Repository;
use coffer_store::lock::{self, LockOptions};
use coffer_store::prune::{self, Fault, PruneOptions, PrunePlan, PruneReport};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// `30s`, `5m`, `1h`, `2d`, or a bare number of seconds.
pub(crate) fn duration(flag: &str, s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let Ok(n) = n.parse::<u64>() else {
        bail!("--{flag} {s}: give a duration like 30s, 5m, 1h or 2d");
    };
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--{flag} {s}: unknown unit {unit:?}; use s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

/// `5%` or `0.05`.
fn share(s: &str) -> Result<f64> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => bail!("--max-unused {s}: give a share between 0% and 100% (5%, or 0.05)"),
    }
}

/// The store serializes ids as their 32 bytes; scripts want the 64 hex
/// digits they see everywhere else. Every array of exactly 32 small integers
/// in these documents is an id.
fn hex_ids(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Array(items) => {
            let bytes: Option<[u8; 32]> = (items.len() == 32)
                .then(|| {
                    items
                        .iter()
                        .map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
                        .collect::<Option<Vec<u8>>>()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                })
                .flatten();
            match bytes {
                Some(b) => *v = coffer_store::id::PackId(b).to_hex().into(),
                None => items.iter_mut().for_each(hex_ids),
            }
        }
        serde_json::Value::Object(m) => m.values_mut().for_each(hex_ids),
        _ => {}
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(value)?;
    hex_ids(&mut v);
    Ok(v)
}

pub fn options(f: &PruneFlags) -> Result<PruneOptions> {
    // Test hook for crash tests: COFFER_TEST_PRUNE_FAULT=<step>[:abort].
    let fault = std::env::var("COFFER_TEST_PRUNE_FAULT").ok().map(|v| {
        let (step, abort) = match v.strip_suffix(":abort") {
            Some(s) => (s.to_string(), true),
            None => (v.clone(), false),
        };
        Fault { step, abort }
    });
    Ok(PruneOptions {
        max_unused: share(&f.max_unused)?,
        grace: duration("grace", &f.grace)?,
        clock_margin: duration("clock-margin", &f.clock_margin)?,
        lock: LockOptions {
            retry_for: duration("retry-lock", &f.retry_lock)?,
            ..LockOptions::default()
        },
        fault,
        assume_forgotten: Vec::new(),
    })
}

pub fn run(g: &Global, a: PruneArgs) -> Result<ExitCode> {
    let opts = options(&a.flags)?;
    let repo = open::repository(g)?;
    let (doc, text) = prune_and_render(g, &repo, &opts, a.dry_run)?;
    if g.json {
        output::json(&doc)?;
    } else if !g.quiet {
        print!("{text}");
    }
    Ok(ExitCode::from(exit::OK))
}

/// Runs (or plans) a prune; the JSON document (`Null` without `--json`) and
/// the text for people.
pub fn prune_and_render(
    g: &Global,
    repo: &Repository,
    opts: &PruneOptions,
    dry_run: bool,
) -> Result<(serde_json::Value, String)> {
    let bar = progress::Bar::new(g);
    if dry_run {
        let plan = prune::plan(repo, opts, &bar)?;
        bar.finish();
        let text = plan_text(&plan);
        let doc = if g.json {
            serde_json::json!({ "dry_run": true, "plan": plan })
        } else {
            serde_json::Value::Null
        };
        return Ok((doc, text));
    }
    let outcome = prune::run(repo, opts, &bar)?;
    bar.finish();
    let mut text = plan_text(&outcome.plan);
    text.push_str(&report_text(&outcome.report));
    if let Some(second) = &outcome.second {
        text.push_str(&report_text(&second.report));
    }
    let bytes = outcome.bytes_deleted();
    text.push_str(&format!("freed {}\n", output::bytes(bytes)));
    // Only for --json: it names every pack (thousands after years of nights).
    let mut doc = serde_json::Value::Null;
    if g.json {
        doc = to_json(&outcome)?;
        doc["dry_run"] = false.into();
        doc["bytes_deleted"] = bytes.into();
    }
    Ok((doc, text))
}

fn plan_text(p: &PrunePlan) -> String {
    let c = &p.condemn;
    let f = &p.finish;
    let sum = |v: &[prune::PackUse]| v.iter().map(|u| u.pack_bytes).sum::<u64>();
    let mut t = format!(
        "{} snapshot(s), {} blob(s) in use\n",
        p.snapshots, p.live_blobs
    );
    if !f.records.is_empty() {
        t.push_str(&format!(
            "phase 2: {} condemned record(s) due: delete {} index file(s) and {} pack(s) ({}), rescue {} pack(s)\n",
            f.records.len(),
            f.delete_index_files.len(),
            f.delete_packs.len(),
            output::bytes(f.delete_packs.iter().map(|(_, s)| s).sum()),
            f.rescue.len()
        ));
    }
    for w in &f.waiting {
        t.push_str(&format!(
            "condemned record {} (from {}) waits: {}\n",
            w.record.short(),
            when::short(w.created_unix_ns),
            w.reason
        ));
    }
    t.push_str(&format!(
        "phase 1: condemn {} pack(s) with nothing in use ({}), repack {} ({}), {} pack(s) in no index; \
         rewrite {} index file(s); {} pack(s) kept as they are ({} unused in them)\n",
        c.delete.len(),
        output::bytes(sum(&c.delete)),
        c.repack.len(),
        output::bytes(sum(&c.repack)),
        c.unindexed.len(),
        c.rewrite_index.len(),
        c.kept_packs,
        output::bytes(c.kept_unused_bytes)
    ));
    t
}

fn report_text(r: &PruneReport) -> String {
    let mut t = String::new();
    if let Some(why) = &r.deferred {
        t.push_str(&format!("phase 2 deferred: {why}\n"));
    }
    if r.records_finished > 0 {
        t.push_str(&format!(
            "deleted {} pack(s) ({}) and {} index file(s); rescued {} pack(s)\n",
            r.packs_deleted,
            output::bytes(r.bytes_deleted),
            r.index_files_deleted,
            r.packs_rescued
        ));
    }
    if let Some(id) = &r.record_written {
        t.push_str(&format!(
            "condemned {} pack(s) ({}) and {} index file(s) in record {}; repacked {} pack(s) into {} ({} blobs, {})\n",
            r.packs_condemned,
            output::bytes(r.bytes_condemned),
            r.index_files_condemned,
            id.short(),
            r.packs_repacked,
            r.packs_written,
            r.blobs_copied,
            output::bytes(r.bytes_written)
        ));
    }
    if r.unfinished_writes_removed > 0 {
        t.push_str(&format!(
            "removed {} unfinished write(s) of killed runs ({})\n",
            r.unfinished_writes_removed,
            output::bytes(r.unfinished_bytes_removed)
        ));
    }
    t
}

pub fn locks(g: &Global, _a: LocksArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let list = lock::list(&repo, SystemTime::now(), &LockOptions::default())?;
    if g.json {
        output::json(&to_json(&list)?)?;
        return Ok(ExitCode::from(exit::OK));
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|l| {
            vec![
                l.id.short(),
                l.kind.to_string(),
                l.host.clone(),
                l.pid.to_string(),
                l.username.clone(),
                when::short(l.created_unix_ns),
                format!("{}s", l.age_seconds),
                l.stale.clone().unwrap_or_else(|| "live".into()),
            ]
        })
        .collect();
    if !g.quiet {
        output::table(
            &[
                "ID",
                "Kind",
                "Host",
                "PID",
                "User",
                "Created",
                "Refreshed",
                "State",
            ],
            &rows,
        )?;
    }
    Ok(ExitCode::from(exit::OK))
}

pub fn unlock(g: &Global, a: UnlockArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let removed = lock::unlock(
        &repo,
        SystemTime::now(),
        &LockOptions::default(),
        a.remove_all,
    )?;
    if g.json {
        output::json(&serde_json::json!({ "removed": to_json(&removed)? }))?;
    } else if !g.quiet {
        for l in &removed {
            println!(
                "removed {} lock {} (pid {} on {}): {}",
                l.kind,
                l.id.short(),
                l.pid,
                l.host,
                l.stale
                    .as_deref()
                    .unwrap_or("live, removed by --remove-all")
            );
        }
        println!("{} lock(s) removed", removed.len());
    }
    Ok(ExitCode::from(exit::OK))
}

/// `coffer compact`: index compaction and a fresh snapshot catalogue, now.
pub fn compact(g: &Global, a: CompactArgs) -> Result<ExitCode> {
    use coffer_store::maintenance::{self, CompactOptions, catalogue};
    let repo = open::repository(g)?;
    let opts = CompactOptions {
        max_small_files: a.max_small_files,
        grace: duration("grace", &a.grace)?,
        ..CompactOptions::default()
    };
    let compaction = maintenance::compact(&repo, &opts)?;
    let catalogue = catalogue::refresh(&repo, true)?;
    if g.json {
        output::json(&serde_json::json!({
            "compaction": compaction,
            "catalogue": catalogue,
        }))?;
    } else if !g.quiet {
        println!(
            "merged {} index file(s) into {}; deleted {} superseded index file(s)",
            compaction.merged,
            compaction.written.len(),
            compaction.deleted
        );
        match catalogue.written {
            Some(id) => println!(
                "catalogue {} holds {} snapshot(s); removed {} older catalogue(s)",
                id.short(),
                catalogue.snapshots,
                catalogue.deleted
            ),
            None => println!("the snapshot catalogue is up to date"),
        }
    }
    Ok(ExitCode::from(exit::OK))
}
