//! The `ssp-tui` binary: parses the command line, loads config, hands over to the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ssp_tui::cli::{BenchCommand, Cli, Command, DatasetCommand, LakeCommand};
use ssp_tui::config::Settings;
use ssp_tui::{app, bench, headless, lake, logging, tui};

fn main() -> ExitCode {
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
    let _log = logging::init(&settings.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ssp-worker")
        .build()?;
    match cli.command {
        None => runtime.block_on(tui::run(settings)).map(|_| 0),
        Some(Command::Run { stages, every }) => {
            let sup = app::build_supervisor(&settings)?;
            let known = sup.names();
            if let Some(bad) = stages.iter().find(|s| !known.contains(s)) {
                eprintln!(
                    "unknown stage {bad:?}: expected one of {}",
                    known.join(", ")
                );
                return Ok(2);
            }
            let every = Duration::from_secs_f64(every.max(0.1));
            let mut out = std::io::stdout();
            let code = runtime.block_on(headless::run(sup, &stages, every, &mut out))?;
            Ok(code as u8)
        }
        Some(Command::Lake {
            command: LakeCommand::Stats { json },
        }) => {
            let mut scanner =
                lake::StatsScanner::new(lake::LakeLayout::new(settings.lake.root.clone()));
            let stats = scanner.scan()?;
            if json {
                println!("{}", stats.to_json());
            } else {
                print!("{}", stats_table(&stats));
            }
            Ok(0)
        }
        Some(Command::Bench {
            command:
                BenchCommand::Kafka {
                    input,
                    count,
                    latency_rate,
                    latency_seconds,
                },
        }) => {
            let b = ssp_tui::bench_kafka::KafkaBench {
                input: &input,
                count,
                latency_rate,
                latency_seconds,
            };
            runtime.block_on(ssp_tui::bench_kafka::run(&settings, b))?;
            Ok(0)
        }
        Some(Command::Dataset { command }) => match command {
            DatasetCommand::List => {
                print!(
                    "{}",
                    runtime.block_on(ssp_tui::dataset_export::list(&settings))?
                );
                Ok(0)
            }
            DatasetCommand::Export { version, out } => {
                let s =
                    runtime.block_on(ssp_tui::dataset_export::export(&settings, version, &out))?;
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
            let b = ssp_tui::bench_trending::TrendingBench {
                input: &input,
                repeat: repeat.max(1),
                lake,
                runs,
                probes,
                rate,
                roll_seconds,
                skip_latency: no_latency,
            };
            runtime.block_on(ssp_tui::bench_trending::run(&settings, b))?;
            Ok(0)
        }
        Some(Command::Bench {
            command: BenchCommand::Ingest { input, repeat },
        }) => {
            runtime.block_on(bench::ingest(&settings, &input, repeat.max(1)))?;
            Ok(0)
        }
    }
}

fn stats_table(stats: &lake::LakeStats) -> String {
    let mut out = format!(
        "{:<12} {:>8} {:>12} {:>14}\n",
        "layer", "files", "rows", "bytes"
    );
    for (name, l) in [
        ("bronze", &stats.bronze),
        ("silver", &stats.silver),
        ("gold", &stats.gold),
    ] {
        out.push_str(&format!(
            "{name:<12} {:>8} {:>12} {:>14}\n",
            l.files, l.rows, l.bytes
        ));
    }
    out.push_str(&format!("{:<12} {:>8}\n", "dead_letter", stats.dead_letter));
    out
}
