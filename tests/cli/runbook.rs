//! The deployment as it is shipped, run for real: `deploy/init.sh`, two nights
//! of `deploy/nightly.sh` (a real `coffer pg backup` of a real PostgreSQL
//! database and its documents, forget, a rolling check) with the profile of
//! `deploy/config.toml`, and `deploy/restore.sh`; then `deploy/RUNBOOK.md`'s
//! `sh runbook` blocks, in order, on a blank home folder that knows only the
//! bucket, its credentials and the password. Both restores must give back the
//! same rows and byte-identical documents.

use crate::documents::{assert_same_tree, write_documents};
use crate::harness::{Coffer, PASSWORD, RepoKind, skip};
use crate::metrics::{parse_prometheus, sample};
use crate::postgres::{self, A_DAY, Database};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The fenced blocks tagged `sh runbook`, in order.
pub fn runbook_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim() == "```sh runbook" => current = Some(String::new()),
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed runbook block");
    blocks
}

/// A folder holding `coffer`, put first on PATH as an installed binary would be.
fn bin_dir(c: &Coffer) -> PathBuf {
    let dir = c.path("bin");
    std::fs::create_dir_all(&dir).expect("mkdir bin");
    let link = dir.join("coffer");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_coffer"), &link).expect("symlink coffer");
    }
    dir
}

/// A shell with nothing of this process's environment but PATH, the
/// PostgreSQL client settings and the bucket credentials: like a new machine.
fn blank_shell(c: &Coffer, home: &Path, vars: &[(&str, String)]) -> Command {
    std::fs::create_dir_all(home).expect("mkdir home");
    let mut cmd = Command::new("sh");
    cmd.env_clear()
        .current_dir(home)
        .stdin(Stdio::null())
        .env("HOME", home)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir(c).display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    for k in [
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ALLOW_HTTP",
    ] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({:?})\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `deploy/config.toml` with this test's bucket, secrets and folders put in
/// place of the production values; every replaced key must be there.
fn deployed_config(c: &Coffer, endpoint: &str) -> PathBuf {
    let text = std::fs::read_to_string(deploy_dir().join("config.toml")).expect("config.toml");
    let secrets = c.path("etc/secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    std::fs::write(secrets.join("password"), format!("{PASSWORD}\n")).expect("password");
    std::fs::create_dir_all(c.path("textfile")).expect("mkdir");
    let values = [
        ("repository", c.location().to_string()),
        (
            "password-file",
            secrets.join("password").display().to_string(),
        ),
        ("cache-dir", c.path("prod-cache").display().to_string()),
        (
            "metrics-file",
            c.path("textfile/coffer.prom").display().to_string(),
        ),
        ("s3-endpoint", endpoint.to_string()),
        ("s3-region", "us-east-1".to_string()),
    ];
    let mut seen = Vec::new();
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            for (k, v) in &values {
                if l.starts_with(&format!("{k} = ")) {
                    seen.push(*k);
                    return format!("{k} = {v:?}");
                }
            }
            l.to_string()
        })
        .collect();
    for (k, _) in &values {
        assert!(seen.contains(k), "deploy/config.toml has no `{k} = ` line");
    }
    let path = c.path("etc/config.toml");
    std::fs::write(&path, out.join("\n") + "\n").expect("write config");
    path
}

#[test]
fn deployed_nightly_job_then_disaster_recovery_from_the_bucket_alone() {
    let Some(pg) = postgres::server() else { return };
    let Some(c) = Coffer::empty_on(RepoKind::S3) else {
        return;
    };
    if Command::new("jq").arg("--version").output().is_err() {
        skip("jq is not installed: the runbook's verification uses it");
        return;
    }
    let endpoint = std::env::var("COFFER_TEST_S3_ENDPOINT").expect("checked by empty_on");
    let erp = pg.create_erp_db("runbook");
    let docs = write_documents(c.root());
    let config = deployed_config(&c, &endpoint);
    let prod = c.path("prod-home");
    let script = |name: &str, vars: &[(&str, String)]| {
        let mut all = vec![("COFFER_CONFIG", config.display().to_string())];
        all.extend(vars.iter().cloned());
        let mut cmd = blank_shell(&c, &prod, &all);
        cmd.arg(deploy_dir().join(name));
        run_ok(cmd, name)
    };
    let night = [
        ("ERP_DATABASE", erp.name.clone()),
        ("ERP_DOCUMENTS", docs.root.display().to_string()),
        ("ERP_TENANT", "main".to_string()),
    ];
    script("init.sh", &[]);
    script("nightly.sh", &night);
    erp.psql(A_DAY);
    script("nightly.sh", &night);

    // Every step of the night left its samples in the profile's metrics file.
    let text = std::fs::read_to_string(c.path("textfile/coffer.prom")).expect("metrics file");
    let p = parse_prometheus(&text);
    let host = gethostname();
    for (op, host, tags) in [
        ("backup", host.as_str(), "tenant=main"),
        ("forget", host.as_str(), "tenant=main"),
        ("check", "", ""),
    ] {
        let l = [("operation", op), ("host", host), ("tags", tags)];
        assert_eq!(
            sample(&p, "coffer_last_run_success", &l),
            1.0,
            "{op}:\n{text}"
        );
    }

    // The restore counterpart, on the production machine.
    let side = format!("{}_side", erp.name);
    let side_docs = c.path("restore-side");
    script(
        "restore.sh",
        &[
            ("ERP_TENANT", "main".to_string()),
            ("RESTORE_DATABASE", side.clone()),
            ("RESTORE_DOCUMENTS", side_docs.display().to_string()),
        ],
    );
    // The nightly job's `--exclude '*/temp/*'` kept the temp folder's file out;
    // the rest must come back byte for byte.
    let excluded = docs.root.join("admin/temp/.keep");
    assert!(excluded.exists() && !side_docs.join("documents/admin/temp/.keep").exists());
    std::fs::remove_file(&excluded).expect("remove the excluded file");
    let side_db = Database::adopt(&pg, &side);
    assert_eq!(side_db.fingerprint(), erp.fingerprint());
    assert_same_tree(&docs.root, &side_docs.join("documents"));

    // The disaster: a new machine, only the bucket, its credentials and the password.
    let home = c.path("dr-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    // What the runbook's typed-in step does by hand.
    std::fs::write(home.join("coffer-password"), format!("{PASSWORD}\n")).expect("password");
    let markdown =
        std::fs::read_to_string(deploy_dir().join("RUNBOOK.md")).expect("read RUNBOOK.md");
    let blocks = runbook_blocks(&markdown);
    assert!(blocks.len() >= 5, "runbook blocks: {blocks:?}");
    let mut body = String::from("set -eu\n");
    for (i, b) in blocks.iter().enumerate() {
        body.push_str(&format!("echo '== runbook block {}' >&2\n{b}", i + 1));
    }
    let dr = format!("{}_dr", erp.name);
    let dr_docs = c.path("dr-www");
    let mut cmd = blank_shell(
        &c,
        &home,
        &[
            ("COFFER_REPO", c.location().to_string()),
            ("AWS_ENDPOINT", endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("RESTORE_DB", dr.clone()),
            ("DOCUMENTS", dr_docs.display().to_string()),
        ],
    );
    cmd.arg("-c").arg(&body);
    let out = run_ok(cmd, "the runbook's blocks");
    let dr_db = Database::adopt(&pg, &dr);
    assert_eq!(
        dr_db.fingerprint(),
        erp.fingerprint(),
        "runbook output:\n{out}"
    );
    assert_same_tree(&docs.root, &dr_docs.join("documents"));
    // It really was a blank machine: its cache was built from the bucket, under its HOME.
    assert!(
        home.join(".cache/coffer").is_dir(),
        "no cache under the new HOME"
    );
    assert!(!c.path("xdg-cache").exists());
}

fn gethostname() -> String {
    let out = Command::new("hostname").output().expect("run hostname");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
