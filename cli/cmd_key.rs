//! `coffer key list|add|remove|passwd`: the repository's passwords.

use crate::args::{Global, KeyArgs, KeyCommand};
use crate::{exit, open, output, password, when};
use anyhow::Result;
use coffer_store::crypto::KdfParams;
use coffer_store::keys::KeyInfo;
use std::process::ExitCode;
use std::time::SystemTime;

/// The documented `--json` shape of one key file (additive only).
fn to_json(k: &KeyInfo) -> serde_json::Value {
    serde_json::json!({
        "id": k.id.to_hex(),
        "short_id": k.id.short(),
        "current": k.current,
        "created": when::rfc3339(k.created_unix_ns),
        "host": k.host,
        "username": k.username,
        "kdf": {
            "algorithm": "argon2id",
            "memory_kib": k.kdf.memory_kib,
            "iterations": k.kdf.iterations,
            "parallelism": k.kdf.parallelism,
        },
    })
}

pub fn run(g: &Global, a: KeyArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let now = SystemTime::now();
    let (action, id) = match &a.command {
        KeyCommand::List => return list(g, &repo.keys()?),
        KeyCommand::Add(new) => {
            let pw = password::read_new(new)?;
            ("added", repo.add_key(&pw.0, KdfParams::DEFAULT, now)?)
        }
        KeyCommand::Remove { id } => ("removed", repo.remove_key(id)?),
        KeyCommand::Passwd(new) => {
            let pw = password::read_new(new)?;
            (
                "replaced",
                repo.change_password(&pw.0, KdfParams::DEFAULT, now)?,
            )
        }
    };
    if g.json {
        output::json(&serde_json::json!({
            "message_type": format!("key_{action}"),
            "id": id.to_hex(),
        }))?;
    } else if !g.quiet {
        match action {
            "replaced" => println!(
                "password changed: new key file {}, the old one is removed",
                id.short()
            ),
            _ => println!("key file {} {action}", id.short()),
        }
    }
    Ok(ExitCode::from(exit::OK))
}

fn list(g: &Global, keys: &[KeyInfo]) -> Result<ExitCode> {
    if g.json {
        output::json(&keys.iter().map(to_json).collect::<Vec<_>>())?;
        return Ok(ExitCode::from(exit::OK));
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                format!("{}{}", if k.current { "*" } else { " " }, k.id.short()),
                when::short(k.created_unix_ns),
                k.host.clone(),
                k.username.clone(),
            ]
        })
        .collect();
    output::table(&[" id", "created", "host", "user"], &rows)?;
    println!(
        "{} key file(s); * marks the one this password opened",
        keys.len()
    );
    Ok(ExitCode::from(exit::OK))
}
