//! Lake input of the trending stage against the real `bronze` Delta table: one run per lake
//! (lease), and a data file that does not read stops the checkpoint (a table version stored
//! with the counts) before it until it reads again. Every test runs on the embedded store and,
//! when `SSP_TEST_PG_URL` is set, on PostgreSQL as well (fresh schema).

use crate::trending_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ssp_tui::backoff::Backoff;
use ssp_tui::bus::embedded::Retention;
use ssp_tui::bus::EmbeddedBus;
use ssp_tui::config::Settings;
use ssp_tui::stage::trending::TrendingStage;
use ssp_tui::stage::{Pipeline, StageState, Supervisor};
use ssp_tui::store::{self, Store};
use trending_support::*;

const BASE: u64 = 1_320_000_000_000_000_000;

/// The stores to run on: embedded always, PostgreSQL when the test server is given.
fn stores() -> Vec<Option<String>> {
    let mut v = vec![None];
    match std::env::var("SSP_TEST_PG_URL") {
        Ok(u) if !u.trim().is_empty() => v.push(Some(u)),
        _ => eprintln!("(SSP_TEST_PG_URL not set: embedded store only)"),
    }
    v
}

/// Settings for `lake` on the embedded store or PostgreSQL (`url`, schema `schema`).
fn lake_settings(lake: &Path, pg: Option<(&str, &str)>) -> Settings {
    let mut env = vec![
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LOG__DIR", lake.join("logs").display().to_string()),
    ];
    if let Some((url, schema)) = pg {
        env.push(("SSP__PIPELINE__STORE", "postgres".into()));
        env.push(("SSP__POSTGRESQL__URL", url.into()));
        env.push(("SSP__POSTGRESQL__SCHEMA", schema.into()));
    }
    settings(&env)
}

fn standalone(s: &Settings) -> Arc<Supervisor> {
    let bus = Arc::new(EmbeddedBus::new(Retention {
        messages: 1_000,
        bytes: 1 << 20,
    }));
    Arc::new(Supervisor::new(
        Pipeline::new(s.clone(), bus),
        vec![Arc::new(TrendingStage::new(s).standalone())],
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2.0,
        },
    ))
}

async fn counts(st: &Arc<dyn Store>) -> BTreeMap<String, (String, u64)> {
    st.trending()
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key, (r.hashtag, r.count)))
        .collect()
}

async fn lake_version(st: &Arc<dyn Store>) -> Option<i64> {
    st.trending().checkpoint("", 0).await.unwrap().lake_version
}

/// Waits until the store holds exactly `want` with the checkpoint at `version`.
async fn wait_counted(st: &Arc<dyn Store>, want: &BTreeMap<String, (String, u64)>, version: i64) {
    eventually(
        &format!("counts up to bronze version {version}"),
        Duration::from_secs(30),
        || async {
            (counts(st).await == *want && lake_version(st).await == Some(version)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_file_is_an_error_and_the_version_stays_before_it() {
    for pg in stores() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let schema = fresh_schema();
        let s = lake_settings(&lake, pg.as_deref().map(|u| (u, schema.as_str())));
        let tweets = known_tweets(BASE, 300, 11);
        let v1 = write_bronze(&lake, &tweets[..100], 0).await;
        let v2 = write_bronze(&lake, &tweets[100..200], 100).await;
        let v3 = write_bronze(&lake, &tweets[200..], 200).await;
        // A committed data file of v2 is overwritten with garbage.
        let bad = bronze_files(&lake, v2).await.remove(0);
        let good = std::fs::read(&bad).unwrap();
        std::fs::write(&bad, b"garbage, not a Parquet file at all").unwrap();

        let sup = standalone(&s);
        sup.start("trending").unwrap();
        let st = wait_for(&sup, "the error shown", Duration::from_secs(30), |s| {
            s.errors > 0
                && s.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains(&format!("bronze version {v2}")))
        })
        .await;
        assert_eq!(st.state, StageState::Running, "{st:?}");
        let store = store::open(&s).unwrap();
        wait_counted(&store, &expected(&tweets[..100], false), v1).await;
        // Retried, never skipped: v3 reads fine but comes after the bad version.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(counts(&store).await, expected(&tweets[..100], false));
        assert_eq!(lake_version(&store).await, Some(v1));
        let st = status(&sup, "trending");
        assert!(st.detail.contains("retrying"), "{st:?}");

        // Fixed: the stage proceeds by itself.
        std::fs::write(&bad, &good).unwrap();
        wait_counted(&store, &expected(&tweets, false), v3).await;
        let st = wait_for(&sup, "the error cleared", Duration::from_secs(10), |s| {
            !s.detail.contains("retrying")
        })
        .await;
        assert_eq!(st.input, 300, "{st:?}");
        let logs = format!("{:?}", sup.log("trending").unwrap().snapshot());
        assert!(logs.contains("bronze reads again"), "{logs}");
        sup.shutdown(Duration::from_secs(10)).await;
        if let Some(url) = &pg {
            drop_schema(url, &schema).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_trending_on_the_same_lake_is_refused() {
    for pg in stores() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let schema = fresh_schema();
        let s = lake_settings(&lake, pg.as_deref().map(|u| (u, schema.as_str())));
        let tweets = known_tweets(BASE + 10_000, 250, 12);
        let v1 = write_bronze(&lake, &tweets[..100], 0).await;
        let first = standalone(&s);
        first.start("trending").unwrap();
        let store = store::open(&s).unwrap();
        wait_counted(&store, &expected(&tweets[..100], false), v1).await;

        let second = standalone(&s);
        second.start("trending").unwrap();
        wait_state(
            &second,
            "trending",
            StageState::Failed,
            Duration::from_secs(10),
        )
        .await;
        let st = status(&second, "trending");
        let e = st.last_error.clone().unwrap_or_default();
        assert!(
            e.contains("trending is already running against this lake"),
            "{e}"
        );
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert_eq!((st.restarts, st.output), (0, 0), "refused at once: {st:?}");

        // The first one goes on alone: every tweet once.
        let v2 = write_bronze(&lake, &tweets[100..200], 100).await;
        wait_counted(&store, &expected(&tweets[..200], false), v2).await;
        first.shutdown(Duration::from_secs(10)).await;

        // Once it let go, a new run takes over at the stored version.
        let third = standalone(&s);
        third.start("trending").unwrap();
        let v3 = write_bronze(&lake, &tweets[200..], 200).await;
        wait_counted(&store, &expected(&tweets, false), v3).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(counts(&store).await, expected(&tweets, false));
        let top = store
            .trending()
            .top(store::TopQuery {
                n: 1,
                window_ms: 60_000,
                bucket_ms: 1_000,
                now_ms: chrono::Utc::now().timestamp_millis(),
            })
            .await
            .unwrap();
        assert_eq!(top.tweets, 250, "nothing counted twice");
        assert_eq!(status(&third, "trending").input, 50, "resumed after v2");
        third.shutdown(Duration::from_secs(10)).await;
        if let Some(url) = &pg {
            drop_schema(url, &schema).await;
        }
    }
}
