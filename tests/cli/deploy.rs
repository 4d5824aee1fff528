//! `deploy/` checked where it cannot run here: the Kubernetes manifests parse
//! as YAML (no duplicate keys) and hang together (mounts, Secret and ConfigMap
//! keys, the scripts and config they carry are the files of `deploy/`), the
//! systemd units pass `systemd-analyze verify`, the crontab's lines are cron's,
//! and every `coffer ...` command anywhere in `deploy/` is one that
//! `tests/cli/runbook.rs` runs for real.

use crate::harness::skip;
use crate::runbook::{deploy_dir, runbook_blocks};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The documents of a YAML file as JSON, read by PyYAML with duplicate keys refused.
fn yaml_documents(path: &Path) -> Option<Vec<Value>> {
    const LOADER: &str = r#"
import json, sys, yaml
class Strict(yaml.SafeLoader):
    pass
def mapping(loader, node, deep=False):
    keys = set()
    for k, _ in node.value:
        key = loader.construct_object(k, deep=deep)
        if key in keys:
            raise SystemExit(f"duplicate key {key!r} at line {k.start_mark.line + 1}")
        keys.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)
Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
print(json.dumps(list(yaml.load_all(open(sys.argv[1]), Loader=Strict))))
"#;
    let probe = Command::new("python3").args(["-c", "import yaml"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip("python3 with PyYAML is not installed (bash .ci/install installs it with moto)");
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", LOADER])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{} is not valid YAML: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("python's JSON"))
}

fn file(rel: &str) -> String {
    std::fs::read_to_string(deploy_dir().join(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: {e}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// What the profile in deploy/config.toml says for `key`.
fn profile_value(key: &str) -> String {
    let text = file("config.toml");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("config.toml has no {key}"));
    let v = line.split_once(" = ").expect("key = value").1;
    v.split('"').nth(1).expect("a quoted value").to_string()
}

/// Checks one pod spec against the Secret and ConfigMap of coffer.yaml.
fn check_pod(pod: &Value, secret: &Value, config_map: &Value, what: &str) {
    assert_eq!(pod["restartPolicy"], "Never", "{what}");
    let secret_keys: BTreeSet<&str> = secret["stringData"]
        .as_object()
        .expect("stringData")
        .keys()
        .map(String::as_str)
        .collect();
    let data = config_map["data"].as_object().expect("ConfigMap data");
    let volumes = pod["volumes"].as_array().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{what}: a mount names volume {name}, which is not declared"))
    };
    for v in volumes {
        let items = v["configMap"]["items"]
            .as_array()
            .or(v["secret"]["items"].as_array());
        for item in items.into_iter().flatten() {
            let key = item["key"].as_str().expect("item key");
            if v.get("configMap").is_some() {
                assert_eq!(
                    v["configMap"]["name"], config_map["metadata"]["name"],
                    "{what}"
                );
                assert!(data.contains_key(key), "{what}: ConfigMap has no {key}");
            } else {
                assert_eq!(
                    v["secret"]["secretName"], secret["metadata"]["name"],
                    "{what}"
                );
                assert!(secret_keys.contains(key), "{what}: Secret has no {key}");
            }
        }
    }
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "{what}");
    let c = &containers[0];
    let mut mounted: Vec<(String, &Value)> = Vec::new();
    for m in c["volumeMounts"].as_array().expect("volumeMounts") {
        let v = volume(m["name"].as_str().expect("mount name"));
        mounted.push((m["mountPath"].as_str().expect("mountPath").to_string(), v));
    }
    let mut env = std::collections::BTreeMap::new();
    for e in c["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("env name");
        if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str() {
            assert!(
                secret_keys.contains(key),
                "{what}: env {name} wants Secret key {key}"
            );
        }
        env.insert(
            name.to_string(),
            e["value"].as_str().unwrap_or_default().to_string(),
        );
    }
    // The config file is mounted where COFFER_CONFIG says, and is deploy/config.toml.
    let config = &env["COFFER_CONFIG"];
    assert!(
        mounted
            .iter()
            .any(|(p, v)| p == config && v.get("configMap").is_some()),
        "{what}"
    );
    assert_eq!(env["COFFER_PROFILE"], "nightly", "{what}");
    // The command is one of the scripts, mounted from the ConfigMap.
    let command = strings(&c["command"]);
    let script = Path::new(command[0]);
    let (dir, name) = (
        script.parent().expect("dir"),
        script.file_name().expect("name"),
    );
    let (_, scripts) = mounted
        .iter()
        .find(|(p, _)| Path::new(p) == dir)
        .unwrap_or_else(|| panic!("{what}: {} is in no mounted folder", script.display()));
    let items = scripts["configMap"]["items"]
        .as_array()
        .expect("script items");
    assert!(
        items
            .iter()
            .any(|i| i["path"] == name.to_str().expect("utf-8")),
        "{what}"
    );
    assert!(
        deploy_dir().join(name).exists(),
        "{what}: no deploy/{name:?}"
    );
    // The profile's password file, cache and metrics folder are all mounted.
    for key in ["password-file", "metrics-file", "cache-dir"] {
        let path = PathBuf::from(profile_value(key));
        assert!(
            mounted.iter().any(|(p, _)| path.starts_with(p)),
            "{what}: the profile's {key} {} is on no volume",
            path.display()
        );
    }
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"], true,
        "{what}"
    );
}

#[test]
fn kubernetes_manifests_hang_together() {
    let Some(main) = yaml_documents(&deploy_dir().join("kubernetes/coffer.yaml")) else {
        return;
    };
    let kinds: Vec<&str> = main.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["Secret", "ConfigMap", "CronJob"]);
    let (secret, config_map, cron) = (&main[0], &main[1], &main[2]);
    for f in ["config.toml", "nightly.sh", "restore.sh"] {
        assert_eq!(
            config_map["data"][f].as_str(),
            Some(file(f).as_str()),
            "the ConfigMap's {f} is not deploy/{f}: copy it in again"
        );
    }
    assert!(secret["stringData"]["password"].is_string());
    let schedule = cron["spec"]["schedule"].as_str().expect("schedule");
    assert_eq!(schedule.split_whitespace().count(), 5, "{schedule}");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    check_pod(pod, secret, config_map, "CronJob");
    assert_eq!(
        strings(&pod["containers"][0]["command"]),
        ["/usr/local/lib/coffer/nightly.sh"]
    );

    let restore = yaml_documents(&deploy_dir().join("kubernetes/restore-job.yaml"))
        .expect("python3 was there a moment ago");
    assert_eq!(restore.len(), 1);
    assert_eq!(restore[0]["kind"], "Job");
    let pod = &restore[0]["spec"]["template"]["spec"];
    check_pod(pod, secret, config_map, "restore Job");
    assert_eq!(
        strings(&pod["containers"][0]["command"]),
        ["/usr/local/lib/coffer/restore.sh"]
    );
}

#[test]
fn systemd_units_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let env_file = dir.path().join("env");
    std::fs::write(&env_file, "AWS_ACCESS_KEY_ID=x\n").expect("write");
    let mut units = Vec::new();
    for name in [
        "coffer-backup.service",
        "coffer-backup.timer",
        "coffer-restore.service",
    ] {
        let text = file(&format!("systemd/{name}"));
        // Where the units expect the installed scripts and secrets, the checkout's.
        let text = text
            .replace(
                "/usr/local/lib/coffer/",
                &format!("{}/", deploy_dir().display()),
            )
            .replace("/etc/coffer/secrets/env", &env_file.display().to_string());
        for line in text.lines().filter(|l| l.starts_with("ExecStart=")) {
            let script = line.trim_start_matches("ExecStart=");
            assert!(
                Path::new(script).is_file(),
                "{name}: {script} is not in deploy/"
            );
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write unit");
        units.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    // Unknown keys are only warnings to systemd: none are allowed here.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warned: {stderr}"
    );
}

#[test]
fn crontab_lines_are_crons() {
    let text = file("crontab");
    let mut jobs = 0;
    let mut vars = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split_whitespace().next().expect("a word");
        if let Some((name, _)) = first.split_once('=') {
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{line}"
            );
            vars.insert(name.to_string());
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        for f in &fields[..5] {
            assert!(
                f.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c)),
                "not a cron time field {f:?}: {line}"
            );
        }
        assert_eq!(
            fields[5], "coffer",
            "/etc/cron.d lines name the user: {line}"
        );
        // cron turns an unescaped % of the command into a newline.
        assert!(
            !line.replace("\\%", "").contains('%'),
            "unescaped % in: {line}"
        );
        let script = fields[6..]
            .iter()
            .find_map(|w| w.strip_prefix("/usr/local/lib/coffer/"))
            .unwrap_or_else(|| panic!("the job runs no deploy script: {line}"));
        assert!(deploy_dir().join(script).is_file(), "no deploy/{script}");
        jobs += 1;
    }
    assert_eq!(jobs, 1);
    for v in [
        "COFFER_CONFIG",
        "COFFER_PROFILE",
        "ERP_DATABASE",
        "ERP_DOCUMENTS",
    ] {
        assert!(vars.contains(v), "crontab does not set {v}");
    }
}

/// Lines of `text` that run coffer: the word `coffer`, then flags, then a
/// subcommand (`kubectl ... coffer --from-file`, `-u coffer sh` are not).
fn coffer_lines(text: &str, subcommands: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if w.trim_start_matches(['`', '(', '$', '|', ';', '&']) != "coffer" {
                continue;
            }
            let mut after_flag = false;
            let mut hit = false;
            for t in &words[i + 1..] {
                if t.starts_with('-') {
                    hit |= *t == "--version" || *t == "--help";
                    after_flag = !t.contains('=');
                } else if subcommands.contains(t.trim_end_matches('`')) {
                    hit = true;
                    break;
                } else if after_flag {
                    after_flag = false;
                } else {
                    break;
                }
            }
            if hit {
                out.push(line.trim().to_string());
                break;
            }
        }
    }
    out
}

#[test]
fn every_coffer_command_in_deploy_is_run_by_a_test() {
    let help = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("--help")
        .output()
        .expect("coffer --help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let subcommands: BTreeSet<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert!(subcommands.contains("pg") && subcommands.contains("forget"));

    // What tests/cli/runbook.rs runs: the three scripts and the runbook's blocks.
    let mut run: BTreeSet<String> = BTreeSet::new();
    for f in ["init.sh", "nightly.sh", "restore.sh"] {
        run.extend(file(f).lines().map(|l| l.trim().to_string()));
    }
    let runbook = file("RUNBOOK.md");
    for b in runbook_blocks(&runbook) {
        run.extend(b.lines().map(|l| l.trim().to_string()));
    }
    assert!(
        coffer_lines(&file("nightly.sh"), &subcommands).len() >= 3,
        "the matcher finds nothing: it would pass anything"
    );

    let mut stack = vec![deploy_dir()];
    let mut unrun = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read deploy/") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            // In the runbook only code counts; its prose names commands too.
            let text = if path.extension().is_some_and(|x| x == "md") {
                code_of(&text)
            } else {
                text
            };
            for line in coffer_lines(&text, &subcommands) {
                if !run.contains(&line) {
                    unrun.push(format!("{}: {line}", path.display()));
                }
            }
        }
    }
    assert!(
        unrun.is_empty(),
        "coffer commands in deploy/ that no test runs (move them into a script or a \
         `sh runbook` block):\n{}",
        unrun.join("\n")
    );
}

/// The fenced code of a Markdown text, fences removed.
fn code_of(markdown: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
        } else if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
