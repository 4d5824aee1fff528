//! `coffer repair index|snapshots`.

use crate::args::Global;
use crate::args_repair::{RepairArgs, RepairCommand};
use crate::progress::Bar;
use crate::{exit, open, output};
use anyhow::Result;
use coffer_store::repair::{self, SnapshotRepairOptions};
use std::process::ExitCode;

pub fn run(g: &Global, a: RepairArgs) -> Result<ExitCode> {
    let repo = open::repository(g)?;
    let bar = Bar::new(g);
    match a.command {
        RepairCommand::Index => {
            let result = repair::rebuild_index(&repo, &bar);
            bar.finish();
            let r = result?;
            if g.json {
                output::json(&r)?;
            } else {
                for (pack, why) in &r.packs_unreadable {
                    eprintln!("warning: {pack}: {why}");
                }
                if !g.quiet {
                    println!(
                        "indexed {} blob(s) of {} pack(s) in {} new index file(s); removed {} old index file(s)",
                        r.blobs_indexed,
                        r.packs_indexed,
                        r.index_files_written,
                        r.index_files_removed
                    );
                }
            }
            Ok(ExitCode::from(if r.packs_unreadable.is_empty() {
                exit::OK
            } else {
                exit::PARTIAL
            }))
        }
        RepairCommand::Snapshots { read_data, forget } => {
            let result = repair::repair_snapshots(
                &repo,
                &SnapshotRepairOptions {
                    read_data,
                    forget_originals: forget,
                },
                &bar,
            );
            bar.finish();
            let fixed = result?;
            if g.json {
                output::json(&fixed)?;
            } else if !g.quiet {
                for f in &fixed {
                    println!(
                        "snapshot {} -> {} without {} path(s): {}{}",
                        &f.original[..8],
                        &f.repaired[..8],
                        f.removed.len(),
                        f.removed.join(", "),
                        if f.original_forgotten {
                            " (original removed)"
                        } else {
                            ""
                        }
                    );
                }
                if fixed.is_empty() {
                    println!("no snapshot needs repair");
                }
            }
            Ok(ExitCode::from(exit::OK))
        }
    }
}
