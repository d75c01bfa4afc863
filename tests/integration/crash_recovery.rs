//! Crashes and restarts: SIGKILL of the binary mid-stream, then a rerun that resumes from the
//! bronze table; and in-process stop / start / restart of the bronze stage while the source
//! is still producing.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use ssp_tui::lake::{read_bronze_rows, LakeLocation};
use ssp_tui::stage::StageState;

const BASE: u64 = 1_270_000_000_000_000_000;

#[test]
fn sigkill_mid_stream_then_rerun_resumes_from_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let n = 30_000u64;
    let roll_rows = 10_000u64;
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, (0..n).map(|i| small_tweet(BASE + i)));
    let all_ids: BTreeSet<String> = (0..n).map(|i| (BASE + i).to_string()).collect();
    let lake = dir.path().join("lake");
    let bronze = lake.join("bronze");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut env = vec![
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "6000".to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_ROWS", roll_rows.to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "60".to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];

    // Run 1: killed right after its first commit with rows, while more rows are buffered.
    let mut child = spawn(&cwd, &env, &["run", "source", "bronze", "--every", "1"]);
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("run 1 ended by itself ({status:?}) before it could be killed: rate too fast?");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no bronze commit after 60 s"
        );
        if delta_log(&bronze).iter().any(|c| c.rows() > 0) {
            child.kill().unwrap(); // SIGKILL: no flush, no graceful anything
            break;
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    let _ = finish(child, Duration::from_secs(5));

    // Only committed rows are visible, every live file reads back whole, no duplicates.
    let (log1, rows1) = check_table(&lake);
    for c in log1.iter().filter(|c| !c.adds.is_empty()) {
        // Killed before any graceful flush: every commit was made by the row limit.
        assert_eq!(
            c.rows(),
            roll_rows,
            "commit {} is not a full roll",
            c.version
        );
    }
    let run1_rows = rows1.len();
    assert!(run1_rows > 0);
    let counts = id_counts(rows1.iter().map(|r| r.id_str.as_str()));
    assert_eq!(counts.len(), run1_rows, "no duplicates within run 1");
    assert!(counts.keys().all(|id| all_ids.contains(id)));
    let stats = lake_stats(&cwd, &env);
    assert_eq!(stats["bronze"]["rows"], run1_rows as u64, "{stats}");
    assert_eq!(stats["dead_letter"], 0, "{stats}");
    let left1 = leftovers(&lake, &log1);
    eprintln!(
        "killed after {:?} with {run1_rows} rows in {} commits; left behind: {left1:?}",
        started.elapsed(),
        log1.len(),
    );

    // Run 2: the embedded bus died with run 1; the replay continues where the table ends.
    env.retain(|(k, _)| *k != "SSP__SOURCE__RATE");
    env.push(("SSP__SOURCE__RATE", "0".to_string()));
    let run2 = run_bin(
        &cwd,
        &env,
        &["run", "source", "bronze", "--every", "1"],
        Duration::from_secs(90),
    );
    assert_eq!(run2.code(), Some(0), "{run2}");

    let (log2, rows2) = check_table(&lake);
    for c in &log1 {
        assert_eq!(
            log2[c.version as usize].raw, c.raw,
            "run 2 rewrote commit {}",
            c.version
        );
    }
    assert!(
        log2.iter().all(|c| c.removes.is_empty()),
        "nothing removed from bronze"
    );
    let added: u64 = log2[log1.len()..].iter().map(|c| c.rows()).sum();
    assert_eq!(
        added,
        n - run1_rows as u64,
        "run 2 wrote only what run 1 had not committed"
    );
    let total = id_counts(rows2.iter().map(|r| r.id_str.as_str()));
    assert_eq!(total.keys().cloned().collect::<BTreeSet<_>>(), all_ids);
    assert!(total.values().all(|c| *c == 1), "every tweet exactly once");
    assert_eq!(rows2.len(), n as usize);
    // The replay position recorded in the table reaches the last record of the file.
    let replay_max = txn_versions(&log2)
        .into_iter()
        .filter(|(app, _)| app.starts_with("ssp-replay/"))
        .map(|(_, v)| v)
        .max();
    assert_eq!(replay_max, Some(n as i64 - 1));
    let stats = lake_stats(&cwd, &env);
    assert_eq!(stats["bronze"]["rows"], n, "{stats}");
    // Leftovers of the killed run may stay (a vacuum's job); run 2 leaves none of its own.
    let left2 = leftovers(&lake, &log2);
    assert!(
        left2.is_subset(&left1),
        "run 2 left {:?}",
        left2.difference(&left1)
    );
}

/// Uncommitted data files and temporary files anywhere in the lake.
fn leftovers(lake: &std::path::Path, log: &[LogCommit]) -> BTreeSet<std::path::PathBuf> {
    let mut all: BTreeSet<_> = unreferenced_files(&lake.join("bronze"), log)
        .into_iter()
        .collect();
    all.extend(temp_files(lake));
    all
}

/// In one process the embedded bus keeps committed offsets, so stopping / restarting bronze
/// mid-stream resumes exactly after the last commit: no loss, no duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bronze_stop_start_and_restart_mid_stream_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000u64;
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, (0..n).map(|i| small_tweet(BASE + 100_000 + i)));
    let lake = dir.path().join("lake");
    let loc = LakeLocation::local(&lake);
    let s = settings(&[
        ("SSP__SOURCE__KIND", "replay".into()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "5000".into()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_ROWS", "1000".into()),
        ("SSP__LAKE__ROLL_SECONDS", "60".into()),
    ]);
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("bronze").unwrap();
    let long = Duration::from_secs(30);

    // Graceful stop mid-stream: everything taken is flushed before the stage stops.
    wait_until(&sup, "bronze", long, "3000 rows", |s| s.output >= 3000).await;
    sup.stop("bronze").unwrap();
    let stopped = wait_state(&sup, "bronze", StageState::Stopped, long).await;
    assert_eq!(
        sup.state("source"),
        Some(StageState::Running),
        "source keeps producing"
    );
    let durable = read_bronze_rows(&loc).await.unwrap().len() as u64;
    assert_eq!(
        durable, stopped.output,
        "a stopped bronze has flushed all it wrote"
    );
    assert!(durable < n);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        read_bronze_rows(&loc).await.unwrap().len() as u64,
        durable,
        "nothing written while stopped"
    );

    // Start again: only bronze (the running source satisfies the dependency).
    assert_eq!(sup.start("bronze").unwrap(), ["bronze"]);
    wait_until(&sup, "bronze", long, "more rows", |s| {
        s.output >= durable + 3000
    })
    .await;

    // Restart (stop + start once flushed) while the source is still producing.
    assert_eq!(
        sup.state("source"),
        Some(StageState::Running),
        "still mid-stream"
    );
    sup.restart("bronze").unwrap();
    wait_state(&sup, "bronze", StageState::Completed, long).await;
    assert_eq!(sup.state("source"), Some(StageState::Completed));

    let rows = read_bronze_rows(&loc).await.unwrap();
    let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
    let dupes: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(
        dupes.is_empty(),
        "duplicates after stop/start/restart: {dupes:?}"
    );
    let want: BTreeSet<String> = (0..n).map(|i| (BASE + 100_000 + i).to_string()).collect();
    let got: BTreeSet<String> = counts.keys().cloned().collect();
    let lost: Vec<_> = want.difference(&got).take(5).collect();
    assert!(lost.is_empty(), "lost tweets, e.g. {lost:?}");
    assert_eq!(rows.len(), n as usize);
    // Per partition the offsets are exactly 0..end: no gap, no repeat.
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        by_partition.entry(r.partition).or_default().push(r.offset);
    }
    for (p, offs) in &mut by_partition {
        offs.sort_unstable();
        assert!(
            offs.iter().enumerate().all(|(i, o)| *o == i as i64),
            "partition {p} offsets are not 0..{}",
            offs.len()
        );
    }
    // Three bronze runs committed rows (each writer has its own query id), and every data
    // file in the folder is one the log references: graceful stops leave nothing behind.
    let log = delta_log(&lake.join("bronze"));
    let writers: BTreeSet<String> = log
        .iter()
        .filter(|c| c.rows() > 0)
        .map(|c| c.query_id().expect("streaming commits carry a query id"))
        .collect();
    assert_eq!(writers.len(), 3, "three bronze runs: {writers:?}");
    assert_eq!(log.iter().map(|c| c.rows()).sum::<u64>(), n);
    let left = unreferenced_files(&lake.join("bronze"), &log);
    assert!(left.is_empty(), "uncommitted files: {left:?}");
    assert!(temp_files(&lake).is_empty(), "{:?}", temp_files(&lake));
    sup.shutdown(Duration::from_secs(5)).await;
}

/// A bronze run started after the source finished, with nothing left to read, drains at once
/// (partitions with nothing new count as reached) and adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bronze_started_again_after_completion_drains() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, (0..300).map(|i| small_tweet(BASE + 200_000 + i)));
    let lake = dir.path().join("lake");
    let s = settings(&[
        ("SSP__SOURCE__KIND", "replay".into()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "0".into()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
    ]);
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    sup.start("bronze").unwrap();
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(30),
    )
    .await;
    let before = delta_log(&lake.join("bronze")).len();
    assert_eq!(sup.start("bronze").unwrap(), ["bronze"]);
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(5),
    )
    .await;
    let log = delta_log(&lake.join("bronze"));
    assert!(
        log[before..].iter().all(|c| c.adds.is_empty()),
        "the second run added files"
    );
    let rows = read_bronze_rows(&LakeLocation::local(&lake)).await.unwrap();
    assert_eq!(rows.len(), 300);
    sup.shutdown(Duration::from_secs(5)).await;
}
