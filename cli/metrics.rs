//! `--metrics-file`: Prometheus text format for node_exporter's textfile
//! collector, written after each run.
//!
//! One file can serve several jobs (one per tenant group, backup and check):
//! samples are keyed by their labels, and a run replaces only the samples of
//! its own operation and group, keeping the rest of the previous content. The
//! file is written to a temporary file beside it and renamed over it, so the
//! collector never reads half a file.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The metrics coffer writes, with their help text. All are gauges.
const METRICS: [(&str, &str); 12] = [
    (
        "coffer_last_run_timestamp_seconds",
        "When the operation last ended, successful or not.",
    ),
    (
        "coffer_last_run_success",
        "1 if the last run succeeded (a partial backup counts as 0), else 0.",
    ),
    (
        "coffer_last_success_timestamp_seconds",
        "When the operation last ended successfully.",
    ),
    (
        "coffer_duration_seconds",
        "Duration of the last successful run.",
    ),
    (
        "coffer_bytes_read",
        "Source bytes read by the last successful run (check: pack bytes downloaded).",
    ),
    (
        "coffer_bytes_added",
        "Bytes added to the repository by the last successful run.",
    ),
    (
        "coffer_files",
        "Files in the last successful backup (new, changed and unmodified).",
    ),
    (
        "coffer_dedup_ratio",
        "Bytes in the snapshot per byte added to the repository (higher is better).",
    ),
    (
        "coffer_errors",
        "Problems found by the last run: unreadable files, check errors.",
    ),
    (
        "coffer_snapshots_kept",
        "Snapshots of the group the last forget kept.",
    ),
    (
        "coffer_snapshots_forgotten",
        "Snapshots of the group the last forget removed.",
    ),
    (
        "coffer_snapshot_age_seconds",
        "Age of the newest snapshot of the group (coffer metrics).",
    ),
];

/// What one run measured. `None` fields are not written.
#[derive(Debug, Default, Clone)]
pub struct RunMetrics {
    pub success: bool,
    pub duration_seconds: f64,
    pub bytes_read: Option<u64>,
    pub bytes_added: Option<u64>,
    pub files: Option<u64>,
    pub dedup_ratio: Option<f64>,
    pub errors: u64,
    /// Further gauges of a successful run (forget: kept, forgotten).
    pub extra: Vec<(&'static str, f64)>,
}

/// The labels of one sample: the operation and the group (host and tags).
pub fn labels(operation: &str, host: &str, tags: &[String]) -> String {
    let mut tags = tags.to_vec();
    tags.sort();
    format!(
        "operation=\"{}\",host=\"{}\",tags=\"{}\"",
        escape(operation),
        escape(host),
        escape(&tags.join(","))
    )
}

/// Prometheus label value escaping: backslash, quote, newline.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one run's samples into `path`, keeping other groups' samples.
/// A failed run updates only the run time and success, so the last success
/// keeps its time (that is what the alert looks at).
pub fn record(path: &Path, labels: &str, m: &RunMetrics) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut samples = vec![
        ("coffer_last_run_timestamp_seconds", now),
        ("coffer_last_run_success", if m.success { 1.0 } else { 0.0 }),
    ];
    if m.success {
        samples.push(("coffer_last_success_timestamp_seconds", now));
        samples.push(("coffer_duration_seconds", m.duration_seconds));
        #[allow(clippy::cast_precision_loss)]
        let opt = |v: Option<u64>| v.map(|v| v as f64);
        for (name, v) in [
            ("coffer_bytes_read", opt(m.bytes_read)),
            ("coffer_bytes_added", opt(m.bytes_added)),
            ("coffer_files", opt(m.files)),
            ("coffer_dedup_ratio", m.dedup_ratio),
        ] {
            if let Some(v) = v {
                samples.push((name, v));
            }
        }
        samples.extend(m.extra.iter().copied());
    }
    #[allow(clippy::cast_precision_loss)]
    samples.push(("coffer_errors", m.errors as f64));
    let mut all = read_existing(path)?;
    for (name, v) in samples {
        all.entry(name.to_string())
            .or_default()
            .insert(labels.to_string(), v);
    }
    write_atomically(path, &render(&all))
}

/// metric name -> labels -> value.
pub type Samples = BTreeMap<String, BTreeMap<String, f64>>;

fn read_existing(path: &Path) -> Result<Samples> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Samples::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(parse(&text))
}

/// Reads back sample lines (`name{labels} value`); comments and lines it
/// does not understand are dropped (they are rewritten from [`METRICS`]).
pub fn parse(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').unwrap_or(rest)),
            None => (series, ""),
        };
        out.entry(name.to_string())
            .or_default()
            .insert(labels.to_string(), value);
    }
    out
}

pub fn render(all: &Samples) -> String {
    let mut out = String::new();
    for (name, series) in all {
        if let Some((_, help)) = METRICS.iter().find(|(n, _)| n == name) {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        }
        for (labels, v) in series {
            if labels.is_empty() {
                out.push_str(&format!("{name} {v}\n"));
            } else {
                out.push_str(&format!("{name}{{{labels}}} {v}\n"));
            }
        }
    }
    out
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // In the same folder, so the rename is atomic; the collector ignores
    // files not ending in .prom.
    let mut tmp = tempfile::Builder::new()
        .prefix(".coffer-metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write metrics into {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    // Readable by the node exporter, which usually runs as another user.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// For commands that run after this one (forget, prune): writes the run if
/// `--metrics-file` was given. A metrics file that cannot be written is a
/// warning, not a failed backup.
pub fn after_run(g: &crate::args::Global, labels: &str, m: &RunMetrics) {
    if let Some(path) = &g.metrics_file {
        if let Err(e) = record(path, labels, m) {
            eprintln!("warning: metrics not written: {e:#}");
        }
    }
}

/// After `forget`: one set of samples per group of the plan (its host and
/// tags as grouped; a part the grouping ignores is empty), with the counts
/// kept and forgotten. A failed run marks every group failed.
pub fn after_forget(
    g: &crate::args::Global,
    groups: &[coffer_store::retention::Group],
    duration_seconds: f64,
    success: bool,
) {
    for grp in groups {
        let host = grp.key.host.clone().unwrap_or_default();
        let tags = grp.key.tags.clone().unwrap_or_default();
        let kept = grp.snapshots.iter().filter(|v| v.keep).count();
        let forgotten = grp.snapshots.len() - kept;
        #[allow(clippy::cast_precision_loss)]
        let m = RunMetrics {
            success,
            duration_seconds,
            errors: u64::from(!success),
            extra: vec![
                ("coffer_snapshots_kept", kept as f64),
                ("coffer_snapshots_forgotten", forgotten as f64),
            ],
            ..RunMetrics::default()
        };
        after_run(g, &labels("forget", &host, &tags), &m);
    }
}
