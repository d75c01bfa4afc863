//! Replay -> embedded bus -> the bronze Delta table, in process and through the headless
//! binary.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use ssp_tui::lake::{read_bronze_rows, BronzeRow, LakeLayout, LakeLocation};
use ssp_tui::stage::{StageState, Supervisor};

const BASE: u64 = 1_250_000_000_000_000_000;

/// Runs source + bronze in process over `replay` until bronze completed.
async fn run_to_completion(replay: &Path, lake: &Path, roll_rows: usize) -> Arc<Supervisor> {
    let s = settings(&[
        ("SSP__SOURCE__KIND", "replay".into()),
        ("SSP__SOURCE__PATH", replay.display().to_string()),
        ("SSP__SOURCE__RATE", "0".into()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_ROWS", roll_rows.to_string()),
    ]);
    let sup = ssp_tui::pipeline::build_supervisor(&s).unwrap();
    let started = sup.start("bronze").unwrap();
    assert_eq!(
        started,
        ["source", "bronze"],
        "bronze starts its source first"
    );
    wait_state(
        &sup,
        "bronze",
        StageState::Completed,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(sup.state("source"), Some(StageState::Completed));
    sup
}

/// Every sample exactly once, with the text / hash / source / hashtags rules applied.
fn check_rows(rows: &[BronzeRow], samples: &[Sample]) {
    let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
    let dupes: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "duplicated ids in bronze: {dupes:?}");
    let by_id: HashMap<&str, &BronzeRow> = rows.iter().map(|r| (r.id_str.as_str(), r)).collect();
    let missing: Vec<_> = samples
        .iter()
        .filter(|s| !by_id.contains_key(s.expect.id.as_str()))
        .map(|s| s.expect.id.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "{} ids missing from bronze, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(rows.len(), samples.len(), "no rows beyond the input");
    for s in samples {
        let r = by_id[s.expect.id.as_str()];
        let text = s.expect.text.clone();
        assert_eq!(r.text, text, "text of {}", s.expect.id);
        assert!(
            !r.text.contains(['\r', '\n']),
            "newlines left in {:?}",
            r.text
        );
        assert_eq!(r.hash, sha256_hex(&text), "hash of {}", s.expect.id);
        assert_eq!(r.source, s.expect.source, "source of {}", s.expect.id);
        assert_eq!(r.hashtags, s.expect.hashtags, "hashtags of {}", s.expect.id);
        assert_eq!(r.author, s.expect.author, "author of {}", s.expect.id);
        assert_eq!(
            r.created_at,
            Some(s.expect.created_at_ms),
            "created_at of {}",
            s.expect.id
        );
        assert_eq!(
            r.is_retweet, s.expect.is_retweet,
            "is_retweet of {}",
            s.expect.id
        );
        assert_eq!(r.topic, "twitter_data");
    }
    let positions: std::collections::BTreeSet<_> =
        rows.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(
        positions.len(),
        rows.len(),
        "every row has its own (partition, offset)"
    );
}

/// No temporary file anywhere, and no data file the bronze log does not reference.
fn assert_no_leftovers(lake: &Path) {
    assert!(
        temp_files(lake).is_empty(),
        "temporary files left: {:?}",
        temp_files(lake)
    );
    let table = lake.join("bronze");
    let left = unreferenced_files(&table, &delta_log(&table));
    assert!(left.is_empty(), "uncommitted files: {left:?}");
}

#[test]
fn the_sha256_oracle_is_sha256() {
    // The FIPS 180-2 example.
    assert_eq!(
        sha256_hex("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_jsonl_to_bronze_every_tweet_once() {
    let dir = tempfile::tempdir().unwrap();
    let samples = mixed_tweets(BASE, 5000);
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, samples.iter().map(|s| s.json.clone()));
    let lake = dir.path().join("lake");

    let sup = run_to_completion(&jsonl, &lake, 500).await;
    let bronze = status(&sup, "bronze");
    assert_eq!(
        (bronze.input, bronze.output, bronze.errors),
        (5000, 5000, 0)
    );
    assert_eq!(status(&sup, "source").output, 5000);

    let layout = LakeLayout::new(&lake);
    let rows = read_bronze_rows(&LakeLocation::local(&lake)).await.unwrap();
    check_rows(&rows, &samples);
    // A commit holds at most roll_rows rows (the stage never reads past the limit).
    let log = delta_log(&layout.bronze());
    let sizes: Vec<u64> = log.iter().map(|c| c.rows()).filter(|r| *r > 0).collect();
    assert!(sizes.iter().all(|r| *r <= 500), "commit sizes {sizes:?}");
    assert!(sizes.len() >= 10, "5000 rows need 10 commits: {sizes:?}");
    assert_eq!(ssp_tui::lake::count_dead_letters(&layout).unwrap(), 0);
    assert_no_leftovers(&lake);
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_folder_of_json_files_to_bronze() {
    let dir = tempfile::tempdir().unwrap();
    // The original playground's layout: data/streams/tweets/<one tweet>.json, pretty-printed.
    let folder = dir.path().join("data/streams/tweets");
    std::fs::create_dir_all(&folder).unwrap();
    let samples = mixed_tweets(BASE + 10_000, 120);
    for s in &samples {
        let name = folder.join(format!("tweet_{}.json", s.expect.id));
        std::fs::write(&name, serde_json::to_string_pretty(&s.json).unwrap() + "\n").unwrap();
    }
    // Not tweets: a note and a hidden half-written file must be skipped.
    std::fs::write(folder.join("README.txt"), "not a tweet").unwrap();
    std::fs::write(
        folder.join(".tweet_999.json"),
        serde_json::to_string(&small_tweet(999)).unwrap(),
    )
    .unwrap();
    let lake = dir.path().join("lake");

    let sup = run_to_completion(&folder, &lake, 50_000).await;
    let bronze = status(&sup, "bronze");
    assert_eq!((bronze.output, bronze.errors), (120, 0));

    let layout = LakeLayout::new(&lake);
    let rows = read_bronze_rows(&LakeLocation::local(&lake)).await.unwrap();
    check_rows(&rows, &samples);
    assert_eq!(ssp_tui::lake::count_dead_letters(&layout).unwrap(), 0);
    assert_no_leftovers(&lake);
    sup.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn headless_finite_replay_exits_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2500u64;
    let samples = mixed_tweets(BASE + 20_000, n);
    let jsonl = dir.path().join("tweets.jsonl");
    write_jsonl(&jsonl, samples.iter().map(|s| s.json.clone()));
    let lake = dir.path().join("lake");
    let logs = dir.path().join("logs");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let env = [
        ("SSP__SOURCE__KIND", "replay".to_string()),
        ("SSP__SOURCE__PATH", jsonl.display().to_string()),
        ("SSP__SOURCE__RATE", "0".to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LOG__DIR", logs.display().to_string()),
    ];

    let run = run_bin(
        &cwd,
        &env,
        &["run", "source", "bronze", "--every", "1"],
        Duration::from_secs(60),
    );
    assert_eq!(
        run.code(),
        Some(0),
        "headless run must exit 0 by itself:\n{run}"
    );
    assert!(run.stdout.contains("all stages finished"), "{run}");
    assert!(!run.stdout.contains("some failed"), "{run}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("bronze") && l.contains("completed")),
        "{run}"
    );
    assert!(
        logs.join("ssp-tui.log").exists(),
        "log file goes to SSP__LOG__DIR"
    );
    assert!(
        walk(&cwd).is_empty(),
        "nothing written to the working folder: {:?}",
        walk(&cwd)
    );

    // `lake stats` counts what the table's log holds.
    let stats = lake_stats(&cwd, &env);
    let (log, rows) = check_table(&lake);
    let files = live_files(&log);
    let bytes: u64 = files.values().map(|a| a.size).sum();
    assert!(!files.is_empty());
    assert_eq!(stats["bronze"]["rows"], json!(n), "{stats}");
    assert_eq!(stats["bronze"]["files"], json!(files.len()), "{stats}");
    assert_eq!(stats["bronze"]["bytes"], json!(bytes), "{stats}");
    assert_eq!(stats["silver"]["rows"], json!(0), "{stats}");
    assert_eq!(stats["gold"]["rows"], json!(0), "{stats}");
    assert_eq!(stats["dead_letter"], json!(0), "{stats}");
    check_rows(&rows, &samples);
    // Every row is dated by its ingestion day, in the partition the log says.
    for (path, add) in &files {
        let date = add.partition.get("date").cloned().flatten();
        assert!(
            date.as_deref()
                .is_some_and(|d| path.starts_with(&format!("date={d}/"))),
            "{path} is not under its partition {date:?}"
        );
    }
    assert_no_leftovers(&lake);
}

/// A headless run in `dir` at `rate` tweets/s that rolls nothing by time (60 s): what its
/// tables hold when it is interrupted, its stop flushed.
fn interrupted_run_env(dir: &Path, rate: u32) -> [(&'static str, String); 4] {
    [
        ("SSP__LAKE__ROOT", dir.join("lake").display().to_string()),
        ("SSP__LOG__DIR", dir.join("logs").display().to_string()),
        ("SSP__SOURCE__RATE", rate.to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "60".to_string()),
    ]
}

/// Ctrl-C.
fn interrupt(child: &std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

/// Ctrl-C on `run source bronze ner` stops the source and bronze first, so ner handles
/// bronze's last commit (here its only one: nothing rolls by time) before it stops: silver
/// holds every tweet of bronze, as Python's `deltalake` reads both. Twice on one lake: the
/// second time ner resumes from its checkpoint and has read nothing new when bronze commits.
#[test]
fn ctrl_c_leaves_silver_where_bronze_ends() {
    let Some(python) = pydelta_python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let env = interrupted_run_env(tmp.path(), 1000);
    let mut flushed = 0;
    for start in 1..=2 {
        let child = spawn(
            tmp.path(),
            &env,
            &["run", "source", "bronze", "ner", "--every", "0.5"],
        );
        std::thread::sleep(Duration::from_secs(3));
        interrupt(&child);
        let run = finish(child, Duration::from_secs(60));
        assert_eq!(run.code(), Some(0), "start {start}: {run}");
        let bronze = read_latest(&python, &lake, "bronze");
        let silver = read_latest(&python, &lake, "silver/ner");
        let (bronze, silver) = (bronze.by_id(), silver.by_id());
        assert!(
            bronze.len() > flushed + 500,
            "start {start}: {} rows in bronze after the stop, {flushed} before",
            bronze.len()
        );
        flushed = bronze.len();
        let mut b: Vec<&str> = bronze.keys().copied().collect();
        let mut s: Vec<&str> = silver.keys().copied().collect();
        b.sort_unstable();
        s.sort_unstable();
        assert_eq!(
            s.len(),
            b.len(),
            "start {start}: silver rows vs bronze rows"
        );
        assert_eq!(s, b, "start {start}: silver holds exactly bronze's tweets");
    }
}

/// `ssp-tui run source bronze | head -1`: the reader goes away after one line, the run goes
/// on, and Ctrl-C (SIGINT) still flushes bronze and exits 0.
#[test]
fn a_closed_stdout_never_fails_a_headless_run() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let env = interrupted_run_env(tmp.path(), 500);
    let mut child = spawn(
        tmp.path(),
        &env,
        &["run", "source", "bronze", "--every", "0.2"],
    );
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    // The reader is gone (its end of the pipe closed); status lines keep coming for a while.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running without a reader"
    );
    interrupt(&child);
    let run = finish(child, Duration::from_secs(60));
    assert_eq!(run.code(), Some(0), "{run}");
    // Nothing rolled by time (60 s): the rows are there because the stop flushed them.
    let rows = bronze_rows(&lake);
    assert!(rows.len() > 100, "{} rows flushed at the stop", rows.len());
}
