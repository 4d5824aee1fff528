//! `coffer check`.

use crate::args::{CheckArgs, Global};
use crate::progress::Bar;
use crate::{exit, open, output};
use anyhow::Result;
use coffer_store::check::{self, CheckOptions, Severity};
use std::process::ExitCode;

pub fn run(g: &Global, a: CheckArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let bar = Bar::new(g);
    let result = check::check(
        &repo,
        &CheckOptions {
            read_data: a.read_data,
        },
        &bar,
    );
    bar.finish();
    let report = result?;
    let failed = report.has_errors();
    if g.json {
        output::json(&report)?;
    } else {
        for f in &report.findings {
            let label = match f.severity {
                Severity::Error => "error",
                Severity::Info => "info",
            };
            eprintln!("{label}: {}: {}", f.object, f.message);
        }
        if !g.quiet {
            println!(
                "checked {} snapshot(s), {} tree blob(s), {} index file(s), {} pack(s){}: {}",
                report.snapshots,
                report.trees_checked,
                report.index_files,
                report.packs,
                if a.read_data {
                    format!(
                        ", read {} pack(s) and verified {} blob(s)",
                        report.packs_read, report.blobs_verified
                    )
                } else {
                    String::new()
                },
                if failed { "ERRORS FOUND" } else { "no errors" }
            );
        }
    }
    Ok(ExitCode::from(if failed {
        exit::FAILURE
    } else {
        exit::OK
    }))
}
