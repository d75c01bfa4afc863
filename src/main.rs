//! The `ssp-tui` binary: parses the command line, loads config, hands over to the library.

// Outside tests, a panic is a bug: errors are returned. The few real invariants that
// expect() are allowed where they are, with the reason.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ssp_tui::cli::{BenchCommand, Cli, Command, ConvertLayer, DatasetCommand, LakeCommand};
use ssp_tui::config::Settings;
use ssp_tui::{bench, headless, lake, logging, pipeline, tui};

/// mimalloc: tweets are parsed on every core and freed on another thread; glibc's malloc
/// returned their large buffers to the kernel and faulted fresh pages in for each one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages in this process: the kernel zeroes 2 MB at the first touch of
    // each, and bronze's Parquet buffers grow into fresh memory on every file (perf showed a
    // third of the writer thread there; from Kafka, 96k tweets/s without them, 89k with).
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(cli, settings) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli, settings: Settings) -> anyhow::Result<u8> {
    use std::io::IsTerminal as _;
    if matches!(cli.command, None | Some(Command::Attach)) {
        // `[keys]` clashes are a configuration error, found before the terminal is taken.
        let label_keys: Vec<char> = settings.learn.labels.iter().map(|l| l.key).collect();
        if let Err(e) = ssp_tui::tui::keymap::Keymap::new(&settings.keys, &label_keys) {
            eprintln!("{e}");
            return Ok(2);
        }
    }
    if matches!(cli.command, None | Some(Command::Attach))
        && !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal())
    {
        eprintln!(
            "ssp-tui needs a terminal; for headless use `ssp-tui run <stage>...` \
             (or `ssp-tui sql`, `ssp-tui lake stats`)"
        );
        return Ok(2);
    }
    let _log = logging::init(&settings.log)?;
    // The parse pool (bronze) gets a name of its own, told apart from the runtime in `top -H`.
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("ssp-parse-{i}"))
        .build_global();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ssp-worker")
        .build()?;
    if matches!(
        cli.command,
        None | Some(Command::Run { .. }) | Some(Command::Attach)
    ) {
        match runtime.block_on(lake::convert::check_layout(&settings.lake.tables)) {
            Err(e @ lake::convert::LayoutError::OldLayout { .. }) => {
                eprintln!("{e}");
                return Ok(2);
            }
            Err(e) => tracing::warn!(error = %e, "could not check the lake's layout"),
            Ok(()) => {}
        }
    }
    match cli.command {
        None => runtime
            .block_on(tui::run(settings, tui::Mode::Control))
            .map(|_| 0),
        Some(Command::Attach) => runtime
            .block_on(tui::run(settings, tui::Mode::Attach))
            .map(|_| 0),
        Some(Command::Run { stages, every }) => {
            let sup = pipeline::build_supervisor(&settings)?;
            let known = sup.names();
            if let Some(bad) = stages.iter().find(|s| !known.contains(s)) {
                eprintln!(
                    "unknown stage {bad:?}: expected one of {}",
                    known.join(", ")
                );
                return Ok(2);
            }
            if let Err(e) = sup.check_in_process(&stages) {
                eprintln!("{e}");
                return Ok(2);
            }
            let every = Duration::from_secs_f64(every.max(0.1));
            let mut out = std::io::stdout();
            let code = runtime.block_on(headless::run(sup, &stages, every, &mut out))?;
            Ok(code as u8)
        }
        Some(Command::Sql {
            query,
            format,
            out,
            timing,
            repeat,
            fresh,
        }) => {
            let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
            let opts = ssp_tui::sql::headless::Options {
                format,
                out_file: out.as_deref(),
                timing,
                repeat,
                fresh,
            };
            Ok(runtime.block_on(ssp_tui::sql::headless::run(
                &settings,
                &query,
                opts,
                &mut stdout,
                &mut stderr,
            )))
        }
        Some(Command::Lake { command }) => runtime.block_on(lake_command(&settings, command)),
        Some(Command::Bench {
            command:
                BenchCommand::Kafka {
                    input,
                    count,
                    latency_rate,
                    latency_seconds,
                },
        }) => {
            let b = ssp_tui::bench::kafka::KafkaBench {
                input: &input,
                count,
                latency_rate,
                latency_seconds,
            };
            runtime.block_on(ssp_tui::bench::kafka::run(&settings, b))?;
            Ok(0)
        }
        Some(Command::Dataset { command }) => match command {
            DatasetCommand::Collect => {
                let sup = pipeline::build_supervisor(&settings)?;
                let stages = vec!["collect".to_string()];
                println!(
                    "collect: building a new dataset version from bronze (Ctrl-C stops; nothing is written before the end)"
                );
                let mut out = std::io::stdout();
                let every = Duration::from_secs(5);
                let code = runtime.block_on(headless::run(sup, &stages, every, &mut out))?;
                Ok(code as u8)
            }
            DatasetCommand::List => {
                print!(
                    "{}",
                    runtime.block_on(ssp_tui::learn::export::list(&settings))?
                );
                Ok(0)
            }
            DatasetCommand::Export { version, out } => {
                let s =
                    runtime.block_on(ssp_tui::learn::export::export(&settings, version, &out))?;
                println!("exported dataset v{} to {}", s.version, s.dir.display());
                for (split, n) in &s.counts {
                    println!("  {split:<10} {n:>7} rows");
                }
                Ok(0)
            }
        },
        Some(Command::Bench {
            command:
                BenchCommand::Trending {
                    input,
                    repeat,
                    lake,
                    runs,
                    probes,
                    rate,
                    roll_seconds,
                    no_latency,
                },
        }) => {
            let b = ssp_tui::bench::trending::TrendingBench {
                input: &input,
                repeat: repeat.max(1),
                lake,
                runs,
                probes,
                rate,
                roll_seconds,
                skip_latency: no_latency,
            };
            runtime.block_on(ssp_tui::bench::trending::run(&settings, b))?;
            Ok(0)
        }
        Some(Command::Bench {
            command:
                BenchCommand::Lake {
                    rate,
                    seconds,
                    roll_seconds,
                    commits,
                    probes,
                    lake,
                },
        }) => {
            let b = ssp_tui::bench::lake::LakeBench {
                rate,
                seconds,
                rolls: roll_seconds,
                commits,
                probes,
                lake,
            };
            runtime.block_on(ssp_tui::bench::lake::run(&settings, b))?;
            Ok(0)
        }
        Some(Command::Bench {
            command:
                BenchCommand::Ingest {
                    input,
                    repeat,
                    parse_only,
                },
        }) => {
            runtime.block_on(bench::ingest(&settings, &input, repeat.max(1), parse_only))?;
            Ok(0)
        }
    }
}

async fn lake_command(settings: &Settings, command: LakeCommand) -> anyhow::Result<u8> {
    use lake::maintenance::{self, VacuumOptions};
    let location = &settings.lake.tables;
    match command {
        LakeCommand::Stats { json } => {
            let layout = lake::LakeLayout::new(settings.lake.root.clone());
            let stats = lake::StatsScanner::new(location.clone(), layout)
                .scan()
                .await?;
            if json {
                println!("{}", stats.to_json());
            } else {
                print!("{}", stats_table(&stats));
            }
        }
        LakeCommand::Optimize { table } => {
            for name in tables(table.as_deref())? {
                match maintenance::optimize(location, name).await? {
                    None => println!("{name}: no table"),
                    Some(o) => println!(
                        "{name}: {} -> {} files ({} rewritten into {}), {} -> {} rows, version {}",
                        o.before.files,
                        o.after.files,
                        o.files_removed,
                        o.files_added,
                        o.before.rows,
                        o.after.rows,
                        version(o.after.version)
                    ),
                }
            }
        }
        LakeCommand::Vacuum {
            table,
            retention_hours,
            allow_short_retention,
            dry_run,
            full,
        } => {
            let opts = VacuumOptions {
                retention_hours,
                allow_short_retention,
                dry_run,
                full,
            };
            for name in tables(table.as_deref())? {
                match maintenance::vacuum(location, name, &opts).await? {
                    None => println!("{name}: no table"),
                    Some(v) => {
                        let verb = if v.dry_run { "would delete" } else { "deleted" };
                        println!("{name}: {verb} {} files", v.files.len());
                        for f in &v.files {
                            println!("  {f}");
                        }
                    }
                }
            }
        }
        LakeCommand::Convert { layer } => {
            let layers = match layer {
                ConvertLayer::Bronze => vec![lake::Layer::Bronze],
                ConvertLayer::Silver => vec![lake::Layer::Silver],
                ConvertLayer::Gold => vec![lake::Layer::Gold],
                ConvertLayer::All => lake::Layer::ALL.to_vec(),
            };
            for (name, outcome) in lake::convert::convert(location, &layers).await? {
                match outcome {
                    lake::convert::Outcome::Converted(s) => println!(
                        "{name}: converted {} files, {} rows, into a Delta table (version {})",
                        s.files,
                        s.rows,
                        version(s.version)
                    ),
                    lake::convert::Outcome::AlreadyDelta => {
                        println!("{name}: already a Delta table")
                    }
                    lake::convert::Outcome::Nothing => println!("{name}: no Parquet files"),
                }
            }
        }
    }
    Ok(0)
}

fn tables(name: Option<&str>) -> anyhow::Result<Vec<&'static str>> {
    lake::maintenance::select_tables(name).map_err(anyhow::Error::msg)
}

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Per table: version, files, rows, bytes; then the dead letters.
fn stats_table(stats: &lake::LakeStats) -> String {
    let mut out = format!(
        "{:<24} {:>8} {:>8} {:>12} {:>14}\n",
        "table", "version", "files", "rows", "bytes"
    );
    for (name, t) in stats.tables() {
        out.push_str(&format!(
            "{name:<24} {:>8} {:>8} {:>12} {:>14}\n",
            version(t.version),
            t.files,
            t.rows,
            t.bytes
        ));
    }
    out.push_str(&format!("{:<24} {:>8}\n", "dead_letter", stats.dead_letter));
    out
}
