//! `--metrics-file` after backup, forget and check, read back by a strict
//! parser of Prometheus' text format (what node_exporter's textfile collector
//! accepts); `coffer metrics` ages per group, as JSON and as Prometheus text.

use crate::harness::{Coffer, RepoKind, num};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// metric name -> labels (sorted) -> value.
pub type Parsed = BTreeMap<String, BTreeMap<BTreeMap<String, String>, f64>>;

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",k2="v2"` with the format's escapes (`\\`, `\"`, `\n`).
fn parse_labels(s: &str, line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label without =\" in {line:?}"));
        assert!(valid_name(key), "bad label name {key:?} in {line:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        assert!(
            out.insert(key.to_string(), value).is_none(),
            "label twice: {line:?}"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    out
}

/// Parses the whole text strictly: every line a HELP, a TYPE (gauge, before
/// its samples, once per name) or a sample `name{labels} value`; no series twice.
pub fn parse_prometheus(text: &str) -> Parsed {
    assert!(
        text.ends_with('\n'),
        "the format ends with a newline: {text:?}"
    );
    let mut typed = BTreeSet::new();
    let mut helped = BTreeSet::new();
    let mut out = Parsed::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(valid_name(name) && !help.is_empty(), "{line:?}");
            assert!(helped.insert(name.to_string()), "HELP twice: {line:?}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert_eq!(kind, "gauge", "{line:?}");
            assert!(!out.contains_key(name), "TYPE after samples: {line:?}");
            assert!(typed.insert(name.to_string()), "TYPE twice: {line:?}");
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("value of {line:?}: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (
                n,
                parse_labels(l.strip_suffix('}').expect("labels end with }"), line),
            ),
            None => (series, BTreeMap::new()),
        };
        assert!(valid_name(name), "bad metric name in {line:?}");
        assert!(typed.contains(name), "sample before its TYPE: {line:?}");
        let dup = out
            .entry(name.to_string())
            .or_default()
            .insert(labels, value);
        assert!(dup.is_none(), "series twice: {line:?}");
    }
    out
}

pub fn sample(p: &Parsed, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    *p.get(name)
        .and_then(|s| s.get(&want))
        .unwrap_or_else(|| panic!("no sample {name}{want:?} in {p:#?}"))
}

fn read(path: &Path) -> Parsed {
    parse_prometheus(&std::fs::read_to_string(path).expect("read the metrics file"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// RFC 3339 for `secs` before now, from date(1) (the tests have no time crate).
fn ago(secs: u64) -> String {
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("{secs} seconds ago"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

fn metrics_after_backup_forget_and_check(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let prom = c.path("textfile/coffer.prom");
    std::fs::create_dir_all(prom.parent().expect("parent")).expect("mkdir");
    let docs = c.path("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(docs.join("a.txt"), "invoice ".repeat(5000)).expect("write");
    let started = now();
    let with_metrics = |args: &[&str]| -> serde_json::Value {
        let mut all: Vec<OsString> = vec!["--metrics-file".into(), prom.clone().into()];
        all.extend(args.iter().map(OsString::from));
        c.json(all)
    };
    let d = docs.to_str().expect("utf-8 path");
    let mut summaries = BTreeMap::new();
    for tenant in ["tenant=a", "tenant=b"] {
        with_metrics(&[
            "backup",
            "--host",
            "erp1",
            "--tag",
            tenant,
            "--time",
            &ago(7200),
            d,
        ]);
        let s = with_metrics(&["backup", "--host", "erp1", "--tag", tenant, d]);
        summaries.insert(tenant, s);
    }
    let p = read(&prom);
    for (tenant, s) in &summaries {
        let l = [("operation", "backup"), ("host", "erp1"), ("tags", *tenant)];
        let t = sample(&p, "coffer_last_success_timestamp_seconds", &l);
        assert!(
            t >= started && t <= now(),
            "last success {t} not in this run"
        );
        assert_eq!(sample(&p, "coffer_last_run_success", &l), 1.0);
        assert!(sample(&p, "coffer_duration_seconds", &l) >= 0.0);
        #[allow(clippy::cast_precision_loss)]
        let f = |field: &str| num(s, field) as f64;
        assert_eq!(sample(&p, "coffer_bytes_read", &l), f("bytes_read"));
        assert_eq!(sample(&p, "coffer_bytes_added", &l), f("bytes_added"));
        assert_eq!(
            sample(&p, "coffer_files", &l),
            f("files_new") + f("files_changed") + f("files_unmodified")
        );
        // The second night added (almost) nothing: a high dedup ratio.
        assert!(sample(&p, "coffer_dedup_ratio", &l) > 1.0);
        assert_eq!(sample(&p, "coffer_errors", &l), 0.0);
    }

    // A failed run: run time and errors move, the last success stays.
    let l = [
        ("operation", "backup"),
        ("host", "erp1"),
        ("tags", "tenant=a"),
    ];
    let before = sample(&p, "coffer_last_success_timestamp_seconds", &l);
    let mut args: Vec<OsString> = vec!["--metrics-file".into(), prom.clone().into()];
    args.extend(["backup", "--host", "erp1", "--tag", "tenant=a"].map(OsString::from));
    args.push(c.path("no-such-folder").into());
    assert_ne!(c.run(args).code, Some(0));
    let p = read(&prom);
    assert_eq!(sample(&p, "coffer_last_run_success", &l), 0.0);
    assert_eq!(sample(&p, "coffer_errors", &l), 1.0);
    assert_eq!(
        sample(&p, "coffer_last_success_timestamp_seconds", &l),
        before
    );
    // The other group's samples were kept as they were.
    let lb = [
        ("operation", "backup"),
        ("host", "erp1"),
        ("tags", "tenant=b"),
    ];
    assert_eq!(sample(&p, "coffer_last_run_success", &lb), 1.0);

    with_metrics(&["forget", "--keep-last", "1", "--group-by", "host,tags"]);
    let p = read(&prom);
    for tenant in ["tenant=a", "tenant=b"] {
        let l = [("operation", "forget"), ("host", "erp1"), ("tags", tenant)];
        assert_eq!(sample(&p, "coffer_snapshots_kept", &l), 1.0);
        assert_eq!(sample(&p, "coffer_snapshots_forgotten", &l), 1.0);
        assert_eq!(sample(&p, "coffer_last_run_success", &l), 1.0);
        assert!(sample(&p, "coffer_last_success_timestamp_seconds", &l) >= started);
    }

    let report = with_metrics(&["check", "--read-data"]);
    let p = read(&prom);
    let l = [("operation", "check"), ("host", ""), ("tags", "")];
    assert_eq!(sample(&p, "coffer_last_run_success", &l), 1.0);
    assert_eq!(sample(&p, "coffer_errors", &l), 0.0);
    #[allow(clippy::cast_precision_loss)]
    let read_bytes = num(&report, "bytes_read") as f64;
    assert!(read_bytes > 0.0);
    assert_eq!(sample(&p, "coffer_bytes_read", &l), read_bytes);
    // Backup's samples survived forget and check.
    assert_eq!(sample(&p, "coffer_last_run_success", &lb), 1.0);
}

fn metrics_command_ages_per_group(kind: RepoKind) {
    let Some(c) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let docs = c.path("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(docs.join("a.txt"), "x").expect("write");
    let d = docs.to_str().expect("utf-8 path");
    // tenant=a backed up just now; tenant=late last 9 hours ago: the alert's case.
    c.json([
        "backup",
        "--host",
        "erp1",
        "--tag",
        "tenant=late",
        "--time",
        &ago(10 * 3600),
        d,
    ]);
    let late = c.json([
        "backup",
        "--host",
        "erp1",
        "--tag",
        "tenant=late",
        "--time",
        &ago(9 * 3600),
        d,
    ]);
    let fresh = c.json(["backup", "--host", "erp1", "--tag", "tenant=a", d]);
    let rows = c.json(["metrics"]);
    let rows = rows.as_array().expect("an array of groups");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |tag: &str| {
        rows.iter()
            .find(|r| r["tags"][0] == tag)
            .unwrap_or_else(|| panic!("no group {tag} in {rows:?}"))
    };
    let (a, l) = (row("tenant=a"), row("tenant=late"));
    assert_eq!(a["newest_id"], fresh["snapshot_id"]);
    assert_eq!(l["newest_id"], late["snapshot_id"]);
    assert_eq!(num(l, "snapshots"), 2);
    assert_eq!(a["host"], "erp1");
    let age = |r: &serde_json::Value| r["age_seconds"].as_f64().expect("age_seconds");
    assert!(age(a) >= 0.0 && age(a) < 3600.0, "{a}");
    assert!(age(l) > 8.0 * 3600.0 && age(l) < 10.0 * 3600.0, "{l}");

    let text = c.ok(["metrics", "--format", "prometheus"]).stdout_str();
    let p = parse_prometheus(&text);
    let lab = [("host", "erp1"), ("tags", "tenant=late")];
    let newest = sample(&p, "coffer_snapshot_newest_timestamp_seconds", &lab);
    assert!(now() - newest > 8.0 * 3600.0, "{text}");
    assert_eq!(sample(&p, "coffer_snapshots", &lab), 2.0);
    assert!(
        sample(
            &p,
            "coffer_snapshot_age_seconds",
            &[("host", "erp1"), ("tags", "tenant=a")]
        ) < 3600.0
    );
}

on_each_store!(
    metrics_after_backup_forget_and_check,
    metrics_command_ages_per_group
);
