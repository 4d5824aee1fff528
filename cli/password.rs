//! Where the password comes from: the environment, a file, or a command.
//! Never from an argument (process listings would show it), never logged.

use crate::args::{Global, NewPassword};
use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};

/// The repository password, zeroed... by being dropped quickly: it lives only
/// long enough to derive the key.
pub struct Password(pub Vec<u8>);

pub fn read(g: &Global) -> Result<Password> {
    from_sources(Sources {
        command: g.password_command.as_deref(),
        file: g.password_file.as_deref(),
        env: g.password_env.as_deref().unwrap_or("COFFER_PASSWORD"),
        what: "password",
        command_flag: "--password-command",
        flags: "--password-file FILE or --password-command CMD",
    })
}

/// A second password (`key add`, `key passwd`), from its own sources.
pub fn read_new(a: &NewPassword) -> Result<Password> {
    from_sources(Sources {
        command: a.new_password_command.as_deref(),
        file: a.new_password_file.as_deref(),
        env: "COFFER_NEW_PASSWORD",
        what: "new password",
        command_flag: "--new-password-command",
        flags: "--new-password-file FILE or --new-password-command CMD",
    })
}

/// The password of another repository (`--to-password-*`, `--from-password-*`).
/// `flag` names the flag family in messages, e.g. `--to-password`.
pub fn read_other(
    env: &'static str,
    file: Option<&std::path::Path>,
    command: Option<&str>,
    flag: &'static str,
) -> Result<Password> {
    let command_flag = format!("{flag}-command");
    let flags = format!("{flag}-file FILE or {flag}-command CMD");
    from_sources(Sources {
        command,
        file,
        env,
        what: "password",
        command_flag: &command_flag,
        flags: &flags,
    })
}

/// Where one password may come from, in order of precedence.
struct Sources<'a> {
    command: Option<&'a str>,
    file: Option<&'a std::path::Path>,
    env: &'a str,
    what: &'a str,
    command_flag: &'a str,
    flags: &'a str,
}

fn from_sources(s: Sources<'_>) -> Result<Password> {
    let what = s.what;
    if let Some(cmd) = s.command {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", s.command_flag))?;
        if !out.status.success() {
            bail!("{} failed ({})", s.command_flag, out.status);
        }
        return non_empty(
            first_line(out.stdout),
            &format!("{} printed no {what}", s.command_flag),
        );
    }
    if let Some(path) = s.file {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read {what} file {}", path.display()))?;
        return non_empty(first_line(bytes), &format!("the {what} file is empty"));
    }
    if let Some(p) = std::env::var_os(s.env) {
        use std::os::unix::ffi::OsStringExt;
        return non_empty(p.into_vec(), &format!("{} is empty", s.env));
    }
    bail!("no {what} given: set {}, or use {}", s.env, s.flags)
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
