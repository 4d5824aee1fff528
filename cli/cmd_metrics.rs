//! `coffer metrics`: the age of each group's newest snapshot, read from the
//! repository itself, so "no backup in 8 hours" is one alert rule that still
//! fires when the machine that runs the backups is gone.

use crate::args::Global;
use crate::args_ops::{MetricsArgs, MetricsFormat};
use crate::cmd_snapshots::filter;
use crate::{exit, metrics, open, output, when};
use anyhow::Result;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn run(g: &Global, a: MetricsArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let snaps = filter(&a.filter).apply(repo.snapshots()?);
    // (host, tags) -> (newest time, its id, snapshots in the group)
    let mut groups: BTreeMap<(String, Vec<String>), (i64, String, u64)> = BTreeMap::new();
    for e in &snaps {
        let s = &e.snapshot;
        let mut tags = s.tags.clone();
        tags.sort();
        let g = groups
            .entry((s.host.clone(), tags))
            .or_insert((i64::MIN, String::new(), 0));
        g.2 += 1;
        if s.time_unix_ns >= g.0 {
            g.0 = s.time_unix_ns;
            g.1 = e.id.to_hex();
        }
    }
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    #[allow(clippy::cast_precision_loss)]
    let secs = |ns: i64| ns as f64 / 1e9;
    let format = if g.json {
        MetricsFormat::Json
    } else {
        a.format
    };
    match format {
        MetricsFormat::Json => {
            let rows: Vec<_> = groups
                .iter()
                .map(|((host, tags), (t, id, n))| {
                    serde_json::json!({
                        "host": host,
                        "tags": tags,
                        "snapshots": n,
                        "newest_id": id,
                        "newest_time": when::rfc3339(*t),
                        "newest_timestamp_seconds": secs(*t),
                        "age_seconds": secs(now_ns.saturating_sub(*t)),
                    })
                })
                .collect();
            output::json(&rows)?;
        }
        MetricsFormat::Prometheus => {
            let mut out = String::new();
            out.push_str(
                "# HELP coffer_snapshot_newest_timestamp_seconds Time of the newest snapshot of the group.\n\
                 # TYPE coffer_snapshot_newest_timestamp_seconds gauge\n",
            );
            for ((host, tags), (t, _, _)) in &groups {
                let l = group_labels(host, tags);
                out.push_str(&format!(
                    "coffer_snapshot_newest_timestamp_seconds{{{l}}} {}\n",
                    secs(*t)
                ));
            }
            out.push_str(
                "# HELP coffer_snapshot_age_seconds Age of the newest snapshot of the group.\n\
                 # TYPE coffer_snapshot_age_seconds gauge\n",
            );
            for ((host, tags), (t, _, _)) in &groups {
                let l = group_labels(host, tags);
                out.push_str(&format!(
                    "coffer_snapshot_age_seconds{{{l}}} {}\n",
                    secs(now_ns.saturating_sub(*t))
                ));
            }
            out.push_str(
                "# HELP coffer_snapshots Snapshots in the group.\n# TYPE coffer_snapshots gauge\n",
            );
            for ((host, tags), (_, _, n)) in &groups {
                let l = group_labels(host, tags);
                out.push_str(&format!("coffer_snapshots{{{l}}} {n}\n"));
            }
            print!("{out}");
        }
        MetricsFormat::Table => {
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|((host, tags), (t, id, n))| {
                    vec![
                        host.clone(),
                        tags.join(","),
                        n.to_string(),
                        id[..8].to_string(),
                        when::rfc3339(*t),
                        age(now_ns.saturating_sub(*t)),
                    ]
                })
                .collect();
            output::table(
                &["host", "tags", "snapshots", "newest", "time", "age"],
                &rows,
            )?;
        }
    }
    Ok(ExitCode::from(exit::OK))
}

fn group_labels(host: &str, tags: &[String]) -> String {
    format!(
        "host=\"{}\",tags=\"{}\"",
        metrics::escape(host),
        metrics::escape(&tags.join(","))
    )
}

/// 3h12m, 2d4h: enough to read at 3 a.m.
fn age(ns: i64) -> String {
    let s = ns.max(0) / 1_000_000_000;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else {
        format!("{m}m{}s", s % 60)
    }
}
