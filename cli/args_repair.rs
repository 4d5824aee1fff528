//! `coffer repair index|snapshots` syntax.

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct RepairArgs {
    #[command(subcommand)]
    pub command: RepairCommand,
}

#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild the index from the packs' own trailers, then remove the old index files
    Index,
    /// Rewrite snapshots that lost data without the lost files (tagged `repaired`)
    Snapshots {
        /// Read every pack to find damaged data (else only missing data counts)
        #[arg(long)]
        read_data: bool,
        /// Remove each damaged original once its repaired copy is stored
        #[arg(long)]
        forget: bool,
    },
}
