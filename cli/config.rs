//! The configuration file: named profiles of settings for unattended runs.
//!
//! ```toml
//! [profile.prod]
//! repository = "s3://erp-backups/prod"
//! password-file = "/run/secrets/coffer-password"
//! excludes = ["*.tmp"]
//! [profile.prod.store]
//! s3-region = "eu-central-1"
//! [profile.prod.retention."tenant=basic"]
//! keep-daily = 30
//! ```
//!
//! Precedence: a flag or its environment variable, then the profile, then the
//! built-in default. Secrets never live in the file: only where to get them.

use crate::args::Global;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `[profile.NAME]` table.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Profile {
    pub repository: Option<String>,
    /// First line of this file is the password.
    pub password_file: Option<PathBuf>,
    /// This shell command prints the password.
    pub password_command: Option<String>,
    /// The password is in this environment variable.
    pub password_env: Option<String>,
    pub cache_dir: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    /// Exclude globs added to every backup of this profile.
    #[serde(default)]
    pub excludes: Vec<String>,
    #[serde(default)]
    pub exclude_files: Vec<PathBuf>,
    #[serde(default)]
    pub store: StoreSection,
    /// Retention per group: the key is a tag the group's snapshots carry
    /// (`tenant=basic`), or `*` for snapshots no other key matches.
    #[serde(default)]
    pub retention: BTreeMap<String, RetentionTier>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StoreSection {
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_path_style: Option<bool>,
    pub retries: Option<u32>,
    pub request_timeout: Option<u64>,
}

/// How many snapshots of a group to keep, restic's `forget --keep-*` terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RetentionTier {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// A duration such as `30d`, `1y6m`.
    pub keep_within: Option<String>,
}

/// A profile as selected for this run.
#[derive(Clone, Debug)]
pub struct Selected {
    pub name: String,
    pub file: PathBuf,
    pub profile: Profile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profile: BTreeMap<String, Profile>,
}

/// `--config`, else COFFER_CONFIG (both in `g.config`), else the user config folder.
pub fn file_path(g: &Global) -> Option<PathBuf> {
    g.config
        .clone()
        .or_else(|| dirs::config_dir().map(|d| d.join("coffer").join("config.toml")))
}

/// Reads and checks a whole configuration file.
fn load(path: &Path) -> Result<BTreeMap<String, Profile>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
    if let Some(toml::Value::Table(profiles)) = table.get("profile") {
        for (name, p) in profiles {
            if let toml::Value::Table(p) = p {
                if p.contains_key("password") {
                    bail!(
                        "config file {}: profile {name:?} has `password = ...`: a password is never \
                         written in the config file (it would end up in backups, version control and \
                         support tickets); use password-file = PATH, password-command = \"CMD\" or \
                         password-env = \"VARIABLE\"",
                        path.display()
                    );
                }
            }
        }
    }
    let file: ConfigFile =
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
    Ok(file.profile)
}

/// Fills what the command line left open from the selected profile.
pub fn apply(g: &mut Global) -> Result<()> {
    let explicit = g.config.is_some();
    let Some(path) = file_path(g) else {
        return match &g.profile {
            Some(name) => bail!("--profile {name}: no user config folder; give --config PATH"),
            None => Ok(()),
        };
    };
    let Some(name) = g.profile.clone() else {
        // An explicit file is checked even when no profile is used: a typo
        // should not wait for the night the profile is first needed.
        if explicit {
            load(&path)?;
        }
        return Ok(());
    };
    if !path.exists() {
        bail!(
            "--profile {name}: there is no config file at {} (give --config PATH or set COFFER_CONFIG)",
            path.display()
        );
    }
    let mut profiles = load(&path)?;
    let profile = profiles.remove(&name).ok_or_else(|| {
        let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
        anyhow!(
            "config file {} has no profile {name:?} (it has: {})",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })?;
    fill(g, &profile);
    g.selected = Some(Selected {
        name,
        file: path,
        profile,
    });
    Ok(())
}

fn fill(g: &mut Global, p: &Profile) {
    fn or<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    or(&mut g.repo, &p.repository);
    or(&mut g.cache_dir, &p.cache_dir);
    or(&mut g.metrics_file, &p.metrics_file);
    or(&mut g.s3_endpoint, &p.store.s3_endpoint);
    or(&mut g.s3_region, &p.store.s3_region);
    or(&mut g.retries, &p.store.retries);
    or(&mut g.request_timeout, &p.store.request_timeout);
    if !g.s3_path_style {
        g.s3_path_style = p.store.s3_path_style.unwrap_or(false);
    }
    // The profile's password source counts only when the run names none.
    let given = g.password_file.is_some()
        || g.password_command.is_some()
        || std::env::var_os("COFFER_PASSWORD").is_some();
    if !given {
        g.password_file.clone_from(&p.password_file);
        g.password_command.clone_from(&p.password_command);
        g.password_env.clone_from(&p.password_env);
    }
}
