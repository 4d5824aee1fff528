//! `coffer check`.

use crate::args::{CheckArgs, Global};
use crate::metrics::{self, RunMetrics};
use crate::progress::Bar;
use crate::{exit, open, output};
use anyhow::Result;
use coffer_store::check::{self, Severity};
use coffer_store::data_subset::DataSubset;
use std::process::ExitCode;

pub fn run(g: &Global, a: CheckArgs) -> Result<ExitCode> {
    let subset = match &a.read_data_subset {
        Some(s) => Some(DataSubset::parse(s)?),
        None => a.read_data.then_some(DataSubset::All),
    };
    let repo = open::repository(g)?;
    let started = std::time::Instant::now();
    let bar = Bar::counting(g, "packs");
    let result = check::check_reading(&repo, subset, &bar);
    bar.finish();
    let labels = metrics::labels("check", "", &[]);
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            metrics::after_run(
                g,
                &labels,
                &RunMetrics {
                    errors: 1,
                    ..RunMetrics::default()
                },
            );
            return Err(e.into());
        }
    };
    let failed = report.has_errors();
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    metrics::after_run(
        g,
        &labels,
        &RunMetrics {
            success: !failed,
            duration_seconds: started.elapsed().as_secs_f64(),
            bytes_read: Some(report.bytes_read),
            errors: errors as u64,
            ..RunMetrics::default()
        },
    );
    if g.json {
        // The report's fields, plus the tag every `--json` summary carries.
        let mut j = serde_json::to_value(&report)?;
        j["message_type"] = "summary".into();
        output::json(&j)?;
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
                if subset.is_some() {
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
