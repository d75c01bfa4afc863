//! Benchmark (ignored by default): tweets/s through the `ner` stage, bronze -> silver, with
//! the built-in rules, and against the real spaCy service with batching (ssp API) and with
//! one request per tweet (the seed API, and the ssp API with batches of one).
//!
//! ```sh
//! export SSP_TEST_NER_URL=$(scripts/start-ner.sh start)        # or: scripts/test.sh
//! cargo test --release --test ner_bench -- --ignored --nocapture
//! ```
//! `SSP_BENCH_NER_TWEETS` sets the number of tweets (default 3000).

use crate::ner_common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ner_common::*;
use ssp_tui::config::Settings;
use ssp_tui::stage::ner::NerStage;
use ssp_tui::stage::{Exit, LogBuffer, Pipeline, Stage, StageContext, StageMetrics};
use tokio_util::sync::CancellationToken;

/// Runs the `ner` stage alone over the bronze already in `lake` (bronze marked completed, so
/// it drains); returns (tweets, seconds, errors).
async fn run_ner(lake: &Path, s: &Settings) -> (u64, f64, u64) {
    let _ = std::fs::remove_dir_all(lake.join("silver"));
    let bus = ssp_tui::pipeline::build_bus(s).unwrap();
    let pipeline = Pipeline::new(s.clone(), bus);
    pipeline.completed.mark("bronze");
    let metrics = Arc::new(StageMetrics::default());
    let ctx = StageContext {
        name: "ner".into(),
        cancel: CancellationToken::new(),
        metrics: metrics.clone(),
        log: LogBuffer::new(100),
        pipeline,
    };
    let stage = NerStage::new(s);
    let started = Instant::now();
    let exit = stage.run(ctx).await.expect("ner ran");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(exit, Exit::Drained);
    (metrics.output(), secs, metrics.errors())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release --test ner_bench -- --ignored --nocapture"]
async fn bench_ner_stage_throughput() {
    let n: usize = std::env::var("SSP_BENCH_NER_TWEETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    write_replay(&replay, 10_000_000, &generated_texts(2024, n));
    // Bronze first (source + bronze, then stop): the benchmark times NER alone.
    let base = settings(&lake, &replay, &[("SSP__LAKE__ROLL_ROWS", "1000".into())]);
    let sup = ssp_tui::pipeline::build_supervisor(&base).unwrap();
    sup.start("bronze").unwrap();
    wait_state(
        &sup,
        "bronze",
        ssp_tui::stage::StageState::Completed,
        Duration::from_secs(120),
    )
    .await;
    sup.shutdown(Duration::from_secs(10)).await;

    // NER runs: silver files close by time (0.5 s) or 50k rows, as configured by default.
    let ner_base = settings(&lake, &replay, &[]);
    let mut results: Vec<(String, u64, f64, u64)> = Vec::new();
    let (t, secs, e) = run_ner(&lake, &ner_base).await;
    results.push(("rules (built-in tagger), whole stage".into(), t, secs, e));
    let texts = generated_texts(2024, n);
    let tagger = ssp_tui::nlp::RuleTagger::builtin();
    let started = Instant::now();
    let found: usize = texts.iter().map(|t| tagger.tag(t).len()).sum();
    let secs = started.elapsed().as_secs_f64();
    assert!(found > 0);
    println!(
        "rules tagger alone (no I/O): {:.0} tweets/s ({found} entities in {n} tweets)",
        n as f64 / secs
    );

    match service_url("bench_ner_stage_throughput") {
        None => eprintln!("(no spaCy service: rules only)"),
        Some(url) => {
            let runs: [(&str, &str, &str, &str); 4] = [
                ("spaCy, ssp API, batch 32 x 4 in flight", "ssp", "32", "4"),
                ("spaCy, ssp API, batch 64 x 2 in flight", "ssp", "64", "2"),
                ("spaCy, ssp API, 1 tweet/request x 4", "ssp", "1", "4"),
                (
                    "spaCy, seed API, 1 tweet/request x 4",
                    "spacy-seed",
                    "1",
                    "4",
                ),
            ];
            for (name, api, batch, conc) in runs {
                let s = settings(
                    &lake,
                    &replay,
                    &[
                        ("SSP__NER__URL", url.clone()),
                        ("SSP__NER__API", api.into()),
                        ("SSP__NER__BATCH_SIZE", batch.into()),
                        ("SSP__NER__CONCURRENCY", conc.into()),
                        ("SSP__NER__TIMEOUT", "60".into()),
                    ],
                );
                let (t, secs, e) = run_ner(&lake, &s).await;
                results.push((name.into(), t, secs, e));
            }
        }
    }
    println!("\nNER stage throughput, {n} generated tweets, bronze -> silver:");
    println!(
        "{:<42} {:>8} {:>9} {:>12} {:>7}",
        "backend", "tweets", "seconds", "tweets/s", "errors"
    );
    for (name, t, secs, e) in &results {
        println!(
            "{name:<42} {t:>8} {secs:>9.2} {:>12.1} {e:>7}",
            *t as f64 / secs
        );
        assert_eq!(*t, n as u64, "{name}: every tweet through NER");
        assert_eq!(*e, 0, "{name}: no errors");
    }
    let rate = |prefix: &str| {
        results
            .iter()
            .find(|r| r.0.starts_with(prefix))
            .map(|r| r.1 as f64 / r.2)
    };
    if let (Some(batched), Some(seed)) = (rate("spaCy, ssp API, batch 32"), rate("spaCy, seed API"))
    {
        println!(
            "batching speed-up (ssp batch 32 vs seed API per tweet): {:.2}x",
            batched / seed
        );
    }
}
