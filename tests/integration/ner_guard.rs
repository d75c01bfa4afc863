//! The `ner` stage's guards, on the built-in rules backend with real tables: one ner per lake
//! (a second one is refused while the first runs, and resumes from the table's checkpoint
//! after it stopped), and a bronze file that cannot be read is retried and shown as an error
//! without the checkpoint moving past it.

use crate::ner_common;

use std::sync::Arc;
use std::time::Duration;

use ner_common::*;
use ssp_tui::config::Settings;
use ssp_tui::lake::{LakeConsumer, LakeLocation, StartAt};
use ssp_tui::stage::ner::NerStage;
use ssp_tui::stage::supervisor::Fatal;
use ssp_tui::stage::{Exit, LogBuffer, Pipeline, Stage, StageContext, StageMetrics, StageState};
use tokio_util::sync::CancellationToken;

/// A `ner` run outside any supervisor (as another process would run it), with bronze
/// marked completed so that it drains.
fn lone_ner(s: &Settings) -> (StageContext, Arc<StageMetrics>) {
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
    (ctx, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ner_on_the_same_lake_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let ids = write_replay(&replay, 11_000_000, &generated_texts(21, 2000));
    let s = settings(
        &lake,
        &replay,
        &[
            ("SSP__SOURCE__RATE", "400".into()),
            ("SSP__LAKE__ROLL_ROWS", "100".into()),
        ],
    );
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("ner").unwrap();
    assert!(
        eventually(Duration::from_secs(30), || status(&sup, "ner").output > 0).await,
        "the first ner works"
    );

    let (ctx, _) = lone_ner(&s);
    let err = NerStage::new(&s)
        .run(ctx)
        .await
        .expect_err("a second ner must be refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("ner is already running against this lake"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(Fatal::is_in(&err), "not retried: {msg}");
    assert_eq!(
        status(&sup, "ner").state,
        StageState::Running,
        "the first goes on"
    );

    // Once the first stopped (bronze still going), another ner may take over: it resumes
    // from the table's checkpoint and finishes what bronze has.
    sup.stop("ner").unwrap();
    wait_state(&sup, "ner", StageState::Stopped, Duration::from_secs(20)).await;
    let cp = assert_silver_is_bronze_up_to_checkpoint(&lake);
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(60),
    )
    .await;
    let (ctx, metrics) = lone_ner(&s);
    let exit = NerStage::new(&s)
        .run(ctx)
        .await
        .expect("the lease is free again");
    assert_eq!(exit, Exit::Drained);
    assert!(metrics.output() > 0 && metrics.output() < ids.len() as u64);
    let last = assert_silver_is_bronze_up_to_checkpoint(&lake);
    assert!(last > cp);
    assert_eq!(Some(last), bronze_version(&lake));
    assert_eq!(by_id(&silver_rows(&lake)).len(), ids.len());
    sup.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_bronze_file_is_retried_and_never_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let replay = tmp.path().join("tweets.jsonl");
    let ids = write_replay(&replay, 12_000_000, &generated_texts(22, 400));
    let s = settings(&lake, &replay, &[("SSP__LAKE__ROLL_ROWS", "50".into())]);
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("bronze").unwrap();
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(60),
    )
    .await;
    sup.shutdown(Duration::from_secs(10)).await;

    // Break a data file of a bronze commit in the middle.
    let mut log = LakeConsumer::new(
        LakeLocation::local(&lake),
        "bronze",
        None,
        StartAt::FirstCommit,
    );
    let commits: Vec<_> = log
        .poll(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| !c.files.is_empty())
        .collect();
    assert!(
        commits.len() >= 4,
        "several bronze commits: {}",
        commits.len()
    );
    let broken = &commits[commits.len() / 2];
    let path = lake.join("bronze").join(&broken.files[0].path);
    let original = std::fs::read(&path).unwrap();
    std::fs::write(&path, b"not a parquet file").unwrap();

    let (ctx, metrics) = lone_ner(&s);
    let cancel = ctx.cancel.clone();
    let run = tokio::spawn(async move { NerStage::new(&s).run(ctx).await });
    assert!(
        eventually(Duration::from_secs(30), || metrics.errors() >= 2).await,
        "the read failure is retried and shown"
    );
    let shown = metrics.last_error().unwrap_or_default();
    assert!(
        shown.contains("cannot read bronze file") && shown.contains(&broken.files[0].path),
        "{shown}"
    );
    assert!(
        !run.is_finished(),
        "the stage waits, it does not fail or skip"
    );
    assert!(
        silver_rows(&lake)
            .iter()
            .all(|r| r.bronze_version < broken.version),
        "nothing from the broken commit or after it"
    );
    assert!(silver_checkpoint(&lake).is_none_or(|cp| cp < broken.version));

    // Repaired: the next attempt reads it and the stage drains with every tweet once.
    std::fs::write(&path, original).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("drains once the file is readable")
        .unwrap()
        .expect("ner ran");
    assert_eq!(exit, Exit::Drained);
    assert!(!cancel.is_cancelled());
    assert_eq!(
        assert_silver_is_bronze_up_to_checkpoint(&lake),
        bronze_version(&lake).unwrap()
    );
    assert_eq!(by_id(&silver_rows(&lake)).len(), ids.len());
}
