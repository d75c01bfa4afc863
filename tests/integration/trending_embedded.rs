//! The trending stage on the embedded store (the zero-service default): exact counts, the
//! gold Delta table, restarts at the stored bronze version, and the headless binary draining
//! by itself.

use crate::trending_support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Int64Array, StringArray};
use ssp_tui::backoff::Backoff;
use ssp_tui::bus::embedded::Retention;
use ssp_tui::bus::EmbeddedBus;
use ssp_tui::config::Settings;
use ssp_tui::stage::trending::TrendingStage;
use ssp_tui::stage::{Pipeline, StageState, Supervisor};
use ssp_tui::store::{self, TagRow};
use trending_support::*;

const BASE: u64 = 1_310_000_000_000_000_000;

fn counts(rows: &[TagRow]) -> std::collections::BTreeMap<String, (String, u64)> {
    rows.iter()
        .map(|r| (r.key.clone(), (r.hashtag.clone(), r.count)))
        .collect()
}

fn replay_settings(lake: &std::path::Path, input: &std::path::Path, rule: &str) -> Settings {
    settings(&[
        ("SSP__SOURCE__KIND", "replay".into()),
        ("SSP__SOURCE__PATH", input.display().to_string()),
        ("SSP__SOURCE__RATE", "0".into()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_ROWS", "40".into()),
        ("SSP__TRENDING__RULE", rule.into()),
    ])
}

fn standalone(s: &Settings) -> Arc<Supervisor> {
    let bus = Arc::new(EmbeddedBus::new(Retention {
        messages: 100_000,
        bytes: 64 << 20,
    }));
    Arc::new(Supervisor::new(
        Pipeline::new(s.clone(), bus),
        vec![Arc::new(TrendingStage::new(s).standalone())],
        Backoff::default(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_exact_counts_gold_snapshot_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("in.jsonl");
    let tweets = known_tweets(BASE, 400, 7);
    write_jsonl(&input, &tweets);
    for rule in ["twitter", "seed"] {
        let lake = lake.join(rule);
        let s = replay_settings(&lake, &input, rule);
        let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
        sup.start("trending").unwrap();
        wait_state(
            &sup,
            "trending",
            StageState::Completed,
            Duration::from_secs(60),
        )
        .await;
        let st = store::open(&s).unwrap();
        let rows = st.trending().all().await.unwrap();
        assert_eq!(counts(&rows), expected(&tweets, rule == "seed"), "{rule}");
        // The state file is one JSON document under <lake>/store.
        assert!(lake.join("store/trending_hashtags.json").is_file());

        // The checkpoint is the last bronze version.
        let cp = st.trending().checkpoint("", 0).await.unwrap();
        assert_eq!(cp.lake_version, bronze_version(&lake).await);

        // Gold: the latest version of the Delta table holds the same counts, by count
        // descending (each snapshot replaces the last: one row per tag).
        let batches = gold_rows(&lake).await;
        let mut snap = std::collections::BTreeMap::new();
        let mut last = u64::MAX;
        for b in &batches {
            let tags = b
                .column_by_name("hashtag")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            let keys = b
                .column_by_name("tag_key")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            let n = b
                .column_by_name("count")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for i in 0..b.num_rows() {
                let c = n.value(i) as u64;
                assert!(c <= last, "sorted by count");
                last = c;
                snap.insert(keys.value(i).to_string(), (tags.value(i).to_string(), c));
            }
        }
        assert_eq!(
            snap,
            expected(&tweets, rule == "seed"),
            "{rule}: gold snapshot"
        );
    }

    // Restart over the same lake: nothing is counted twice, a new file is counted once.
    let lake = lake.join("twitter");
    let s = replay_settings(&lake, &input, "twitter");
    let sup = standalone(&s);
    sup.start("trending").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let extra = known_tweets(BASE + 10_000, 90, 8);
    let v = write_bronze(&lake, &extra, 1_000).await;
    let st = store::open(&s).unwrap();
    let mut all = tweets.clone();
    all.extend(extra.iter().cloned());
    let want = expected(&all, false);
    eventually("the new file counted", Duration::from_secs(30), || {
        let st = st.clone();
        let want = want.clone();
        async move {
            let rows = st.trending().all().await.unwrap();
            (counts(&rows) == want).then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(counts(&st.trending().all().await.unwrap()), want);
    assert_eq!(
        status(&sup, "trending").input,
        90,
        "only the new commit was read"
    );
    sup.shutdown(Duration::from_secs(10)).await;
    let cp = st.trending().checkpoint("", 0).await.unwrap();
    assert_eq!(cp.lake_version, Some(v));
}

/// The record batches of the gold table's latest version (its live files).
async fn gold_rows(lake: &std::path::Path) -> Vec<arrow::record_batch::RecordBatch> {
    use futures::TryStreamExt as _;
    let location = ssp_tui::lake::LakeLocation::local(lake);
    let t = ssp_tui::lake::table::open(&location, "gold/trending_hashtags")
        .await
        .unwrap()
        .expect("a gold snapshot was written");
    let files: Vec<String> = t
        .snapshot()
        .unwrap()
        .snapshot()
        .file_views(&t.log_store(), None)
        .map_ok(|f| f.path().to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(files.len(), 1, "one snapshot is live: {files:?}");
    let bytes = ssp_tui::lake::table::read_file(&t, &files[0])
        .await
        .unwrap();
    ssp_tui::lake::read_batches(bytes, &files[0]).unwrap()
}

#[test]
fn headless_run_source_bronze_trending_exits_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("in.jsonl");
    let tweets = known_tweets(BASE + 50_000, 300, 9);
    write_jsonl(&input, &tweets);
    let out = Command::new(env!("CARGO_BIN_EXE_ssp-tui"))
        .current_dir(dir.path())
        .args(["run", "source", "bronze", "trending", "--every", "1"])
        .env("SSP__SOURCE__KIND", "replay")
        .env("SSP__SOURCE__PATH", &input)
        .env("SSP__SOURCE__RATE", "0")
        .env("SSP__LAKE__ROOT", &lake)
        .env("SSP__LAKE__ROLL_ROWS", "64")
        .env("SSP__LOG__DIR", dir.path().join("logs"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all stages finished"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("trending") && l.contains("completed")),
        "{stdout}"
    );
    // Read back (another process wrote the embedded store).
    let s = settings(&[("SSP__LAKE__ROOT", lake.display().to_string())]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async { store::open(&s).unwrap().trending().all().await.unwrap() });
    assert_eq!(counts(&rows), expected(&tweets, false));
}
