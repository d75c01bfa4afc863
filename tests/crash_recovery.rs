//! Crashes and restarts: SIGKILL of the binary mid-file, then a rerun; and in-process
//! stop / start / restart of the bronze stage while the source is still producing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use ssp_tui::lake::{read_batches, read_bronze_rows, BronzeRow};
use ssp_tui::stage::StageState;

const BASE: u64 = 1_270_000_000_000_000_000;

fn rows_of(file: &Path) -> usize {
    read_batches(file)
        .unwrap_or_else(|e| panic!("visible file {} does not read back: {e}", file.display()))
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

/// Rows of the files whose name carries `bronze-<pid>-`.
fn rows_of_pid(rows_by_file: &BTreeMap<PathBuf, Vec<BronzeRow>>, pid: u32) -> Vec<&BronzeRow> {
    let tag = format!("-bronze-{pid}-");
    rows_by_file
        .iter()
        .filter(|(p, _)| p.file_name().unwrap().to_string_lossy().contains(&tag))
        .flat_map(|(_, r)| r)
        .collect()
}

fn rows_by_file(bronze: &Path) -> BTreeMap<PathBuf, Vec<BronzeRow>> {
    part_files(bronze)
        .into_iter()
        .map(|f| {
            // One file at a time through the public reader (a dir holding just that file).
            let rows = read_one(&f);
            (f, rows)
        })
        .collect()
}

/// `read_bronze_rows` over a single file (copied into its own folder).
fn read_one(file: &Path) -> Vec<BronzeRow> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
    read_bronze_rows(dir.path()).unwrap()
}

#[test]
fn sigkill_mid_file_then_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let n = 30_000u64;
    let roll_rows = 10_000usize;
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

    // Run 1: killed once a file is complete and the next one is being written (temp file on
    // disk), or at the latest once two files are complete.
    let mut child = spawn(&cwd, &env, &["run", "source", "bronze", "--every", "1"]);
    let pid1 = child.id();
    let started = Instant::now();
    let temp_at_kill = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("run 1 ended by itself ({status:?}) before it could be killed: rate too fast?");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no bronze file after 60 s"
        );
        let complete = part_files(&bronze).len();
        let temps = temp_files(&bronze);
        if (complete >= 1 && !temps.is_empty()) || complete >= 2 {
            child.kill().unwrap(); // SIGKILL: no flush, no graceful anything
            break temps;
        }
        std::thread::sleep(Duration::from_millis(3));
    };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    let _ = finish(child, Duration::from_secs(5));
    eprintln!(
        "killed after {:?}; temp files at kill: {temp_at_kill:?}",
        started.elapsed()
    );

    // (i) only complete files are visible, and every one reads back whole.
    let after_kill = rows_by_file(&bronze);
    assert!(!after_kill.is_empty());
    let mut run1_rows = 0;
    for (file, rows) in &after_kill {
        let n_rows = rows_of(file);
        assert_eq!(rows.len(), n_rows);
        // Killed before any graceful flush: every visible file was closed by the row limit.
        assert!(
            (roll_rows..roll_rows + 2048).contains(&n_rows),
            "{} has {n_rows} rows: not a complete roll",
            file.display()
        );
        run1_rows += n_rows;
    }
    let visible = read_bronze_rows(&bronze).unwrap();
    assert_eq!(
        visible.len(),
        run1_rows,
        "temp files are ignored by read_bronze_rows"
    );
    let counts = id_counts(visible.iter().map(|r| r.id_str.as_str()));
    assert_eq!(counts.len(), run1_rows, "no duplicates within run 1");
    assert!(counts.keys().all(|id| all_ids.contains(id)));
    let stats = lake_stats(&cwd, &env);
    assert_eq!(stats["bronze"]["rows"], run1_rows as u64, "{stats}");
    assert_eq!(stats["bronze"]["files"], after_kill.len() as u64, "{stats}");
    assert_eq!(stats["dead_letter"], 0, "{stats}");

    // Run 2: the embedded bus died with run 1, so the replay starts again from the top.
    env.retain(|(k, _)| *k != "SSP__SOURCE__RATE");
    env.push(("SSP__SOURCE__RATE", "0".to_string()));
    let child = spawn(&cwd, &env, &["run", "source", "bronze", "--every", "1"]);
    let pid2 = child.id();
    let run2 = finish(child, Duration::from_secs(90));
    assert_eq!(run2.code(), Some(0), "{run2}");

    let after = rows_by_file(&bronze);
    for (file, rows) in &after_kill {
        assert_eq!(
            after.get(file),
            Some(rows),
            "run 2 must not touch run 1's files"
        );
    }
    // (iii) run 2 alone wrote every tweet exactly once.
    let second = rows_of_pid(&after, pid2);
    let second_counts = id_counts(second.iter().map(|r| r.id_str.as_str()));
    assert_eq!(second.len(), n as usize, "run 2 wrote every tweet once");
    assert_eq!(
        second_counts.keys().cloned().collect::<BTreeSet<_>>(),
        all_ids
    );
    assert_eq!(rows_of_pid(&after, pid1).len(), run1_rows);
    // (ii) every tweet present at least once; the duplicates are exactly run 1's durable rows.
    let everything = read_bronze_rows(&bronze).unwrap();
    let total = id_counts(everything.iter().map(|r| r.id_str.as_str()));
    assert_eq!(total.keys().cloned().collect::<BTreeSet<_>>(), all_ids);
    let twice = total.values().filter(|c| **c == 2).count();
    assert_eq!(twice, run1_rows, "ids written by both runs");
    assert!(total.values().all(|c| *c <= 2));
    eprintln!(
        "after restart: {} rows, {} distinct ids, {twice} duplicated (run 1 durable rows); \
         temp files left by the killed run: {:?}",
        everything.len(),
        total.len(),
        temp_files(&bronze)
    );
    let stats = lake_stats(&cwd, &env);
    assert_eq!(
        stats["bronze"]["rows"],
        (run1_rows + n as usize) as u64,
        "{stats}"
    );
    // A temp file of the killed run may remain; none of run 2's.
    let tag2 = format!("-bronze-{pid2}-");
    let leftovers = temp_files(&bronze);
    assert!(
        leftovers
            .iter()
            .all(|p| !p.to_string_lossy().contains(&tag2)),
        "run 2 left temp files: {leftovers:?}"
    );
    assert!(
        leftovers.len() <= temp_at_kill.len(),
        "{leftovers:?} vs {temp_at_kill:?}"
    );
}

/// In one process the embedded bus keeps committed offsets, so stopping / restarting bronze
/// mid-stream resumes exactly after the last durable file: no loss, no duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bronze_stop_start_and_restart_mid_stream_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000u64;
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, (0..n).map(|i| small_tweet(BASE + 100_000 + i)));
    let lake = dir.path().join("lake");
    let bronze_dir = lake.join("bronze");
    let s = settings(&[
        ("SSP__SOURCE__KIND", "replay".into()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "5000".into()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_ROWS", "1000".into()),
        ("SSP__LAKE__ROLL_SECONDS", "60".into()),
    ]);
    let sup = ssp_tui::app::build_supervisor(&s).unwrap();
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
    let durable = read_bronze_rows(&bronze_dir).unwrap().len() as u64;
    assert_eq!(
        durable, stopped.output,
        "a stopped bronze has flushed all it wrote"
    );
    assert!(durable < n);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        read_bronze_rows(&bronze_dir).unwrap().len() as u64,
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

    let rows = read_bronze_rows(&bronze_dir).unwrap();
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
    // Three bronze runs wrote files (each run has its own file prefix).
    let prefixes: BTreeSet<String> = part_files(&bronze_dir)
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let at = name.find("-bronze-").unwrap();
            name[at..name.len() - "-000001.parquet".len()].to_string()
        })
        .collect();
    assert_eq!(prefixes.len(), 3, "three bronze runs: {prefixes:?}");
    assert!(temp_files(&lake).is_empty(), "{:?}", temp_files(&lake));
    sup.shutdown(Duration::from_secs(5)).await;
}

/// A bronze run started after the source finished, with nothing left to read, should drain at
/// once. It never does: `positions` in src/stage/bronze.rs only learns partitions it reads
/// messages from, so `TopicEnd::reached` stays false for partitions with nothing new.
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
    let sup = ssp_tui::app::build_supervisor(&s).unwrap();
    sup.start("bronze").unwrap();
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(sup.start("bronze").unwrap(), ["bronze"]);
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(read_bronze_rows(&lake.join("bronze")).unwrap().len(), 300);
    sup.shutdown(Duration::from_secs(5)).await;
}
