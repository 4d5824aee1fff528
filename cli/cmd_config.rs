//! `coffer config`: the profile as this run resolved it, secrets left out.

use crate::args::Global;
use crate::args_ops::ConfigArgs;
use crate::{exit, output};
use anyhow::Result;
use std::process::ExitCode;

pub fn run(g: &Global, _a: ConfigArgs) -> Result<ExitCode> {
    let password_source = if let Some(c) = &g.password_command {
        serde_json::json!({ "command": c })
    } else if let Some(f) = &g.password_file {
        serde_json::json!({ "file": f })
    } else {
        serde_json::json!({ "env": g.password_env.as_deref().unwrap_or("COFFER_PASSWORD") })
    };
    let selected = g.selected.as_ref();
    let doc = serde_json::json!({
        "profile": selected.map(|s| &s.name),
        "config_file": selected.map_or_else(|| crate::config::file_path(g), |s| Some(s.file.clone())),
        "repository": g.repo,
        "password_source": password_source,
        "cache_dir": g.cache_dir,
        "metrics_file": g.metrics_file,
        "store": {
            "s3_endpoint": g.s3_endpoint,
            "s3_region": g.s3_region,
            "s3_path_style": g.s3_path_style,
            "retries": g.retries(),
            "request_timeout": g.request_timeout(),
        },
        "excludes": selected.map(|s| &s.profile.excludes),
        "exclude_files": selected.map(|s| &s.profile.exclude_files),
        "retention": selected.map(|s| &s.profile.retention),
    });
    if g.json {
        output::json(&doc)?;
    } else {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(ExitCode::from(exit::OK))
}
