//! Command-line interface (clap): the TUI by default, headless runs and tools as subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ssp-tui",
    version,
    about = "Terminal control centre for a single-machine streaming pipeline: tweets -> bus -> Parquet lake -> sinks",
    long_about = "Without a subcommand, opens the terminal control centre on the configured pipeline \
(the embedded default needs no services). Configuration: --config PATH, else ./config.ini when \
present, else built-in defaults; any key can be overridden with SSP__<SECTION>__<KEY>."
)]
pub struct Cli {
    /// Config file to read on top of the built-in defaults.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run stages without the TUI, printing a status line per stage every few seconds.
    Run {
        /// Stages to run (dependencies in this process are started too).
        #[arg(required = true, value_name = "STAGE")]
        stages: Vec<String>,
        /// Seconds between status lines.
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
        every: f64,
    },
    /// Inspect the Parquet lake.
    Lake {
        #[command(subcommand)]
        command: LakeCommand,
    },
    /// Measure throughput (prints figures; see README).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Files, rows and bytes per layer, and the dead-letter count.
    Stats {
        /// Print JSON: {"bronze":{"files":N,"rows":N,"bytes":N},...,"dead_letter":N}
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Parse-only vs replay -> embedded bus -> bronze Parquet, on the same JSONL file.
    Ingest {
        /// A JSONL file of tweets.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Repeat the file this many times (a bigger input).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
}
