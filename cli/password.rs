//! Where the password comes from: the environment, a file, or a command.
//! Never from an argument (process listings would show it), never logged.

use crate::args::Global;
use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};

/// The repository password, zeroed... by being dropped quickly: it lives only
/// long enough to derive the key.
pub struct Password(pub Vec<u8>);

pub fn read(g: &Global) -> Result<Password> {
    if let Some(cmd) = &g.password_command {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run --password-command")?;
        if !out.status.success() {
            bail!("--password-command failed ({})", out.status);
        }
        return non_empty(
            first_line(out.stdout),
            "--password-command printed no password",
        );
    }
    if let Some(path) = &g.password_file {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read password file {}", path.display()))?;
        return non_empty(first_line(bytes), "the password file is empty");
    }
    if let Some(p) = std::env::var_os("COFFER_PASSWORD") {
        use std::os::unix::ffi::OsStringExt;
        return non_empty(p.into_vec(), "COFFER_PASSWORD is empty");
    }
    bail!(
        "no password given: set COFFER_PASSWORD, or use --password-file FILE or --password-command CMD"
    )
}

fn first_line(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(i) = bytes.iter().position(|&b| b == b'\n') {
        bytes.truncate(i);
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    bytes
}

fn non_empty(p: Vec<u8>, msg: &str) -> Result<Password> {
    if p.is_empty() {
        bail!("{msg}");
    }
    Ok(Password(p))
}
