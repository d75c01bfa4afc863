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
    /// Open the control centre without starting any stage: watch (and stop / start /
    /// restart) the stages of the pipeline wherever they run.
    Attach,
    /// Run stages without the TUI, printing a status line per stage every few seconds.
    Run {
        /// Stages to run: exactly these (a dependency running elsewhere is waited for; one
        /// that can only run in this process, like the source of an embedded bus, is refused
        /// with the command to use).
        #[arg(required = true, value_name = "STAGE")]
        stages: Vec<String>,
        /// Seconds between status lines.
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
        every: f64,
    },
    /// Inspect and maintain the lake's Delta tables.
    Lake {
        #[command(subcommand)]
        command: LakeCommand,
    },
    /// Measure throughput (prints figures; see README).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Run one SQL query over the lake's tables (bronze, silver_ner, gold_trending_hashtags,
    /// gold_ai_tweets, dataset_*, labels, label_events, trending) and print the result.
    /// An SQL error exits 2 with the message and the position.
    Sql {
        /// The query, e.g. "select count(*) from bronze".
        #[arg(value_name = "QUERY", allow_hyphen_values = true)]
        query: String,
        /// How to print the result.
        #[arg(long, value_enum, default_value_t = crate::sql::Format::Table)]
        format: crate::sql::Format,
        /// Write the result to this file instead (.csv, .json, .jsonl or .parquet).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the row count and the time (opening the tables, planning, running) to stderr.
        #[arg(long)]
        timing: bool,
        /// Run the query this many times in the same engine (tables stay open, as in the SQL
        /// pane and live views); with --timing each run's time is printed. The last result is
        /// the output.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// With --repeat: each run in a new engine (tables opened and footers read anew, as a
        /// new process would, without the process start), for timing a cold query.
        #[arg(long)]
        fresh: bool,
    },
    /// Labelled datasets (built by the `collect` stage, labelled in the Label pane).
    Dataset {
        #[command(subcommand)]
        command: DatasetCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Versions with their split sizes and hand-label counts.
    List,
    /// Builds a NEW dataset version from the bronze table (the `collect` stage alone: it reads
    /// what bronze holds and waits for more; it never starts a source). Labels stay with the
    /// version they were given in.
    Collect,
    /// Writes train / dev / test (and weak_train) as Parquet and JSONL plus a README.
    Export {
        /// Dataset version (default: the newest).
        #[arg(long, value_name = "N")]
        version: Option<u32>,
        /// Output folder (created if missing; files in it are replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Version, files, rows and bytes per layer and table (from the Delta log), and the
    /// dead-letter count.
    Stats {
        /// Print JSON: {"bronze":{"version":N,"files":N,"rows":N,"bytes":N},"silver":{..},
        /// "gold":{..},"dead_letter":N,"tables":{..}} (silver = silver/ner; gold sums both
        /// gold tables, its version is gold/trending_hashtags')
        #[arg(long)]
        json: bool,
    },
    /// Compacts small files (per partition) into bigger ones; rows are unchanged and readers
    /// skip the rewrite. Prints files before / after.
    Optimize {
        /// One table (bronze, silver/ner, gold/trending_hashtags, gold/ai_tweets); default all.
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
    },
    /// Deletes files no longer referenced by any table version within the retention period
    /// (e.g. the small files an optimize replaced) and prints them.
    Vacuum {
        /// One table (bronze, silver/ner, gold/trending_hashtags, gold/ai_tweets); default all.
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
        /// Keep files removed less than this long ago (default 168, the tables' minimum).
        #[arg(long, value_name = "N")]
        retention_hours: Option<u64>,
        /// Allow --retention-hours below the tables' minimum: a reader further behind than
        /// that may find its files gone.
        #[arg(long)]
        allow_short_retention: bool,
        /// Only print what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Also delete files the log never referenced (left by crashed writers); lists the
        /// whole table folder.
        #[arg(long)]
        full: bool,
    },
    /// Turns a lake written by an earlier ssp-tui (plain Parquet folders) into Delta tables,
    /// in place (the files stay where they are).
    Convert {
        #[arg(long, value_enum, default_value_t = ConvertLayer::All)]
        layer: ConvertLayer,
    },
}

/// Layers `ssp-tui lake convert` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConvertLayer {
    Bronze,
    Silver,
    Gold,
    All,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Through a real Kafka broker ([kafka] bootstrap_servers): bare rdkafka producer /
    /// consumer vs the source / bronze stages, the embedded bus, and end-to-end latency.
    Kafka {
        /// A JSONL file of tweets (cycled to --count).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        #[arg(long, default_value_t = 50_000)]
        count: usize,
        /// Tweets per second for the latency run.
        #[arg(long, default_value_t = 1000)]
        latency_rate: u64,
        #[arg(long, default_value_t = 10)]
        latency_seconds: u64,
    },
    /// Trending: aggregation tweets/s over a big bronze lake (both rules), and latency from
    /// the bus to the store (p50 / p99) with bus and lake input. See scripts/bench-trending.sh.
    Trending {
        /// A JSONL file of tweets, repeated into a bronze lake (when the lake has none).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        #[arg(long, default_value_t = 1000)]
        repeat: usize,
        /// Build (or reuse) the bronze lake here instead of a temp folder.
        #[arg(long, value_name = "DIR")]
        lake: Option<PathBuf>,
        /// Timed runs per aggregation figure.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Probe tweets per latency run.
        #[arg(long, default_value_t = 200)]
        probes: usize,
        /// Background tweets per second during the latency runs.
        #[arg(long, default_value_t = 2000)]
        rate: u64,
        /// Bronze roll interval (seconds) for the lake-input latency run.
        #[arg(long, default_value_t = 1.0)]
        roll_seconds: f64,
        /// Only the aggregation figures.
        #[arg(long)]
        no_latency: bool,
    },
    /// The lake's costs against its history: Delta commits/s the bronze stage sustains per
    /// roll interval, and on a small vs a big bronze table (--commits): writer start, one
    /// LakeConsumer poll, new commit -> counted by trending (p50 / p99).
    Lake {
        /// Synthetic tweets per second for the commit-rate runs.
        #[arg(long, default_value_t = 2000)]
        rate: u64,
        /// Seconds measured per commit-rate run.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Roll intervals (seconds) to measure the commit rate at.
        #[arg(long, value_delimiter = ',', default_values_t = [1.0, 0.05])]
        roll_seconds: Vec<f64>,
        /// Bronze commits of the big table.
        #[arg(long, default_value_t = 5000)]
        commits: i64,
        /// Probes per figure on each table.
        #[arg(long, default_value_t = 20)]
        probes: usize,
        /// Build (or grow, or reuse) the big table here instead of a temp folder.
        #[arg(long, value_name = "DIR")]
        lake: Option<PathBuf>,
    },
    /// Parse-only vs replay -> embedded bus -> bronze Parquet, on the same JSONL file.
    Ingest {
        /// A JSONL file of tweets.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Repeat the file this many times (a bigger input).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Only the parse rates (a) and (a'), not the pipeline.
        #[arg(long)]
        parse_only: bool,
    },
}
