//! End-to-end latency from timestamps carried in the data: bronze keeps when each message
//! entered the bus (`bus_time`), trending reports bus -> counted p50 / p99, and a bronze
//! table written before the column existed gains it. Timestamps are checked against the
//! test's own clock and read back with the Python `deltalake` package.

use crate::{common, lake_support};

use std::time::Duration;

use common::*;
use ssp_tui::lake::{bronze_schema, LakeLocation};

const BASE: u64 = 1_270_000_000_000_000_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `p50 530 ms · p99 1.1 s` -> (530, 1100) in ms.
fn parse_latency(line: &str) -> Option<(f64, f64)> {
    let rest = &line[line.find("latency p50 ")? + "latency p50 ".len()..];
    let ms = |s: &str| -> Option<f64> {
        let mut words = s.split_whitespace();
        let n: f64 = words.next()?.parse().ok()?;
        match words.next()? {
            "ms" => Some(n),
            "s" => Some(n * 1000.0),
            "min" => Some(n * 60_000.0),
            _ => None,
        }
    };
    let (p50, p99) = rest.split_once(" · p99 ")?;
    Some((ms(p50)?, ms(p99)?))
}

#[test]
fn bronze_keeps_the_bus_time_and_trending_reports_the_latency() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1500u64;
    let samples = mixed_tweets(BASE, n);
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, samples.iter().map(|s| s.json.clone()));
    let lake = dir.path().join("lake");
    let env = [
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "500".to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "1".to_string()),
        ("SSP__TRENDING__INPUT", "lake".to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];
    let t0 = now_ms();
    let run = run_bin(
        dir.path(),
        &env,
        &["run", "source", "bronze", "trending", "--every", "1"],
        Duration::from_secs(120),
    );
    let t1 = now_ms();
    assert_eq!(run.code(), Some(0), "{run}");

    // Every row carries when it entered the bus: within the run, never after bronze wrote it.
    let loc = LakeLocation::local(&lake);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let py = rt.block_on(lake_support::pydelta(
        &loc,
        "bronze",
        &["bus_time", "ingest_time"],
    ));
    if let Some(py) = py {
        let times = |c: &str| -> Vec<i64> {
            py[c]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        };
        let (sent, ingested) = (times("bus_time"), times("ingest_time"));
        assert_eq!(sent.len() as u64, n, "every row has a bus_time: {py}");
        assert!(sent[0] >= t0 - 1 && *sent.last().unwrap() <= t1, "{sent:?}");
        assert!(sent[0] <= ingested[0], "first sent before first ingested");
        assert!(
            sent.last() <= ingested.last(),
            "last sent before last ingested"
        );
        // Paced at 500/s, the sends span about 3 s (not one instant: the time is per message).
        let span = sent.last().unwrap() - sent[0];
        assert!(
            span >= 2000,
            "bus times span {span} ms for {n} tweets at 500/s"
        );
    }

    // Trending says how late the counts are: p50 <= p99, both within the run.
    let latency = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("trending"))
        .filter_map(parse_latency)
        .next_back()
        .unwrap_or_else(|| panic!("no latency on trending's status lines:\n{run}"));
    let (p50, p99) = latency;
    assert!(
        p50 <= p99 && p99 <= (t1 - t0) as f64,
        "latency {latency:?} in a {} ms run",
        t1 - t0
    );
}

/// A bronze table made before `bus_time` existed gains the column when a writer opens it;
/// the Python reader sees it, null for nothing written since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bronze_table_of_an_older_release_gains_the_bus_time_column() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let loc = LakeLocation::local(&lake);
    let full = bronze_schema();
    let old = std::sync::Arc::new(arrow::datatypes::Schema::new(
        full.fields()
            .iter()
            .filter(|f| f.name() != "bus_time")
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let t = ssp_tui::lake::table::open_or_create(&loc, "bronze", &old, &["date"])
        .await
        .unwrap();
    let has_bus_time = |t: &deltalake::DeltaTable| {
        t.snapshot()
            .unwrap()
            .schema()
            .fields()
            .any(|f| f.name() == "bus_time")
    };
    assert!(!has_bus_time(&t), "the old schema");
    let t = ssp_tui::lake::table::open_or_create(&loc, "bronze", &full, &["date"])
        .await
        .unwrap();
    assert!(has_bus_time(&t), "the column was added");
    assert_eq!(t.version(), Some(1), "in one metadata commit");
    // Opening again changes nothing.
    let t = ssp_tui::lake::table::open_or_create(&loc, "bronze", &full, &["date"])
        .await
        .unwrap();
    assert_eq!(t.version(), Some(1));
    if let Some(py) = lake_support::pydelta(&loc, "bronze", &["bus_time"]).await {
        assert_eq!(py["rows"], 0, "{py}");
        assert_eq!(py["bus_time"], serde_json::json!([]), "{py}");
    }
}

/// `[source] speed = 20x`: 200 tweets written over 20 s (their `created_at`) enter the bus
/// over about 1 s, whatever `rate` says; the bus times in bronze show the pacing.
#[test]
fn a_replay_at_20x_keeps_the_original_timing() {
    let dir = tempfile::tempdir().unwrap();
    let n = 200u64;
    let start = chrono::Utc::now() - chrono::Duration::days(1);
    let tweets = mixed_tweets(BASE + 10_000, n)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut t = s.json;
            let at = start + chrono::Duration::milliseconds(i as i64 * 100);
            match t.get_mut("data") {
                // v2: RFC 3339 under `data`.
                Some(data) => data["created_at"] = at.to_rfc3339().into(),
                None => {
                    t["created_at"] = at.format("%a %b %d %H:%M:%S +0000 %Y").to_string().into()
                }
            }
            t
        });
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, tweets);
    let lake = dir.path().join("lake");
    let env = [
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        // One tweet a second would take 200 s: the speed replaces the rate.
        ("SSP__SOURCE__RATE", "1".to_string()),
        ("SSP__SOURCE__SPEED", "20x".to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];
    let run = run_bin(
        dir.path(),
        &env,
        &["run", "source", "bronze", "--every", "1"],
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), Some(0), "{run}");
    let loc = LakeLocation::local(&lake);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(py) = rt.block_on(lake_support::pydelta(&loc, "bronze", &["bus_time"])) else {
        return;
    };
    let sent: Vec<i64> = py["bus_time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(sent.len() as u64, n, "{py}");
    // The last tweet is dated 19 s after the first (second resolution): 950 ms at 20x.
    let span = sent.last().unwrap() - sent[0];
    assert!(
        (900..5_000).contains(&span),
        "200 tweets over 20 s at 20x entered the bus over {span} ms"
    );
}
