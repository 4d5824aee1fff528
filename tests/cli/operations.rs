//! Operations: `copy` to a second repository (folder <-> S3), the rolling
//! `check --read-data-subset`, the config file's refusal of a literal password, and
//! what a fast compression level stores.

use crate::documents::{assert_same_tree, noise, write_documents};
use crate::harness::{Coffer, PASSWORD, RepoKind, num};

on_each_store!(copy_to_the_other_kind_restores_the_same_bytes);

/// Source on `kind`, destination on the other kind.
fn copy_to_the_other_kind_restores_the_same_bytes(kind: RepoKind) {
    let other = match kind {
        RepoKind::Folder => RepoKind::S3,
        RepoKind::S3 => RepoKind::Folder,
    };
    let Some(src) = Coffer::init_on(kind, &[]) else {
        return;
    };
    let Some(dst) = Coffer::init_on(other, &[]) else {
        return;
    };
    let docs = write_documents(src.root());
    let dump = noise(7, 3 << 20);
    src.ok([
        "backup".into(),
        docs.root.clone().into_os_string(),
        "--tag".into(),
        "tenant=acme".into(),
    ]);
    src.run_with_stdin(["backup", "--stdin", "--stdin-name", "db/erp.dump"], &dump)
        .assert_code(0);

    let copy = |extra: &[&str]| {
        let mut cmd = src.command();
        // The destination bucket needs the endpoint; an S3 source already has it.
        if !src.location().starts_with("s3://") {
            if let Ok(e) = std::env::var("COFFER_TEST_S3_ENDPOINT") {
                cmd.arg("--s3-endpoint").arg(e);
            }
        }
        cmd.env("COFFER_TO_PASSWORD", PASSWORD)
            .args(["--json", "copy", "--to-repo", dst.location()])
            .args(extra);
        let run = crate::harness::Run::capture(cmd);
        run.assert_code(0);
        run.json()
    };
    let first = copy(&[]);
    assert_eq!(num(&first, "snapshots_copied"), 2, "{first}");
    assert!(num(&first, "bytes_added") > 3 << 20, "{first}");
    // Again: nothing to do, nothing sent.
    let again = copy(&[]);
    assert_eq!(num(&again, "snapshots_copied"), 0, "{again}");
    assert_eq!(num(&again, "snapshots_skipped"), 2, "{again}");
    assert_eq!(num(&again, "bytes_added"), 0, "{again}");

    let copied = dst.snapshots();
    assert_eq!(copied.len(), 2);
    let restored = dst.restore("latest", "restored-dump", &[]);
    assert_eq!(
        std::fs::read(restored.join("db/erp.dump")).expect("restored dump"),
        dump
    );
    let docs_snap = copied
        .iter()
        .find(|s| s["tags"][0] == "tenant=acme")
        .expect("the documents snapshot was copied with its tag");
    let id = docs_snap["id"].as_str().expect("id");
    let restored = dst.restore(id, "restored-docs", &[]);
    assert_same_tree(&docs.root, &restored.join("documents"));
    let check = dst.json(["check", "--read-data"]);
    assert_eq!(
        check["findings"].as_array().map(Vec::len),
        Some(0),
        "{check}"
    );
}

#[test]
fn seven_subsets_read_every_pack_exactly_once() {
    let c = Coffer::init_with(&["--pack-size", "1"]);
    c.run_with_stdin(["backup", "--stdin"], &noise(3, 12 << 20))
        .assert_code(0);
    let packs = c.objects("data/").len() as u64;
    assert!(packs >= 7, "only {packs} packs");
    let mut read = 0;
    for n in 1..=7 {
        let r = c.json(["check", "--read-data-subset", &format!("{n}/7")]);
        assert_eq!(r["findings"].as_array().map(Vec::len), Some(0), "{r}");
        // The same bucket again reads the same packs.
        let again = c.json(["check", "--read-data-subset", &format!("{n}/7")]);
        assert_eq!(r["packs_read"], again["packs_read"]);
        read += num(&r, "packs_read");
    }
    assert_eq!(
        read, packs,
        "the seven subsets together read every pack once"
    );
    let all = c.json(["check", "--read-data-subset", "100%"]);
    assert_eq!(num(&all, "packs_read"), packs);
    c.run(["check", "--read-data-subset", "8/7"])
        .assert_error(1, &["n must be between 1 and t"]);
}

#[test]
fn config_file_rejects_a_literal_password() {
    let c = Coffer::init();
    let file = c.path("config.toml");
    std::fs::write(
        &file,
        "[profile.prod]\nrepository = \"/nowhere\"\npassword = \"hunter2\"\n",
    )
    .expect("write config");
    c.run([
        "--config",
        file.to_str().expect("utf-8"),
        "--profile",
        "prod",
        "snapshots",
    ])
    .assert_error(1, &["password-file", "password-command"]);
    std::fs::write(
        &file,
        format!(
            "[profile.prod]\nrepository = {:?}\npassword-env = \"PROD_PW\"\n\
             [profile.prod.retention.\"tenant=basic\"]\nkeep-daily = 30\n",
            c.location()
        ),
    )
    .expect("write config");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_REPO")
        .env("PROD_PW", PASSWORD)
        .env("COFFER_PROFILE", "prod")
        .args(["--config", file.to_str().expect("utf-8"), "--cache-dir"])
        .arg(c.cache())
        .args(["--json", "config"]);
    let shown = crate::harness::Run::capture(cmd);
    shown.assert_code(0);
    let v = shown.json();
    assert_eq!(v["retention"]["tenant=basic"]["keep-daily"], 30, "{v}");
    assert_eq!(v["password_source"]["env"], "PROD_PW", "{v}");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_REPO")
        .env("PROD_PW", PASSWORD)
        .args([
            "--profile",
            "prod",
            "--config",
            file.to_str().expect("utf-8"),
            "--cache-dir",
        ])
        .arg(c.cache())
        .args(["--json", "snapshots"]);
    crate::harness::Run::capture(cmd).assert_code(0);
}

/// `init --compression -3` (one of zstd's fast levels) stores a text dump
/// larger than the default level 3 does, smaller than raw, and reads it back.
#[test]
fn a_fast_compression_level_stores_between_raw_and_the_default() {
    let mut dump = Vec::new();
    let mut row = 0u64;
    while dump.len() < 4 << 20 {
        row += 1;
        let x = row.wrapping_mul(0x9e37_79b9) % 0xff_ffff;
        dump.extend_from_slice(
            format!("{row}\tFA-{row:06}\tProduit {x:x}\t{}\n", row % 97).as_bytes(),
        );
    }
    let stored = |level: &str| {
        let c = Coffer::init_with(&["--compression", level]);
        c.run_with_stdin(["backup", "--stdin", "--stdin-name", "db.sql"], &dump)
            .assert_code(0);
        assert!(
            c.ok(["cat", "latest:db.sql"]).stdout == dump,
            "level {level} reads back otherwise"
        );
        c.objects("data").iter().map(|(_, size)| size).sum::<u64>()
    };
    let (raw, fast, default) = (stored("0"), stored("-3"), stored("3"));
    assert!(
        default < fast && fast < raw,
        "raw {raw}, fast {fast}, default {default}"
    );
}
