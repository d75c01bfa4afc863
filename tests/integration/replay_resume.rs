//! A replay resumes from the bronze table: `ssp-tui run source bronze` SIGKILLed at random
//! points and run again holds every tweet of the file exactly once; a finished replay run again
//! adds nothing; the synthetic source never repeats ids across runs.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};

const BASE: u64 = 1_280_000_000_000_000_000;
const RUN: &[&str] = &["run", "source", "bronze", "--every", "1"];

/// A test folder with a lake, a working folder and the environment of a replay of `input`.
struct Setup {
    _dir: tempfile::TempDir,
    lake: PathBuf,
    cwd: PathBuf,
    env: Vec<(&'static str, String)>,
}

fn setup(input: impl FnOnce(&Path) -> Option<PathBuf>, rate: u32) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut env = vec![
        ("SSP__SOURCE__RATE", rate.to_string()),
        ("SSP__LAKE__ROOT", lake.display().to_string()),
        ("SSP__LAKE__ROLL_SECONDS", "0.5".to_string()),
        (
            "SSP__LOG__DIR",
            dir.path().join("logs").display().to_string(),
        ),
    ];
    match input(dir.path()) {
        Some(path) => {
            env.push(("SSP__SOURCE__KIND", "replay".to_string()));
            env.push(("SSP__SOURCE__PATH", path.display().to_string()));
        }
        None => env.push(("SSP__SOURCE__KIND", "synthetic".to_string())),
    }
    Setup {
        _dir: dir,
        lake,
        cwd,
        env,
    }
}

/// A JSONL file of `n` small tweets with ids `base..base + n`.
fn tweets_file(base: u64, n: u64) -> impl FnOnce(&Path) -> Option<PathBuf> {
    move |dir| {
        let path = dir.join("tweets.jsonl");
        write_jsonl(&path, (0..n).map(|i| small_tweet(base + i)));
        Some(path)
    }
}

/// The seed of this run: `SSP_TEST_SEED` when set (to repeat a run), else the clock.
fn seed() -> u64 {
    let seed = std::env::var("SSP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed {seed} (repeat with SSP_TEST_SEED={seed})");
    seed
}

/// The largest replay position the table records (over the topic's partitions).
fn replay_position(log: &[LogCommit]) -> Option<i64> {
    txn_versions(log)
        .into_iter()
        .filter(|(app, _)| app.starts_with("ssp-replay/"))
        .map(|(_, v)| v)
        .max()
}

#[test]
fn replay_killed_three_times_then_completed_holds_each_tweet_once() {
    let n = 20_000u64;
    // At 2000 tweets/s the whole file takes 10 s: kills within 3 s of a start (binary start-up
    // included) leave work for every round.
    let s = setup(tweets_file(BASE, n), 2000);
    let all: BTreeSet<String> = (0..n).map(|i| (BASE + i).to_string()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let mut before = 0;
    let mut left_by_kills = BTreeSet::new();
    for round in 0..3 {
        let delay = Duration::from_millis(rng.gen_range(500..3000));
        let mut child = common::spawn(&s.cwd, &s.env, RUN);
        let t0 = Instant::now();
        while t0.elapsed() < delay {
            if let Some(status) = child.try_wait().unwrap() {
                let run = finish(child, Duration::from_secs(5));
                panic!("round {round}: run ended by itself ({status:?}) before its kill:\n{run}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        assert_eq!(child.wait().unwrap().code(), None, "killed by a signal");
        let _ = finish(child, Duration::from_secs(5));

        let (log, rows) = check_table(&s.lake);
        let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
        assert_eq!(
            counts.len(),
            rows.len(),
            "round {round}: a tweet written twice"
        );
        assert!(
            counts.keys().all(|id| all.contains(id)),
            "round {round}: unknown ids"
        );
        assert!(rows.len() >= before, "round {round}: rows went missing");
        let table = s.lake.join("bronze");
        left_by_kills.extend(unreferenced_files(&table, &log));
        eprintln!(
            "round {round}: killed after {delay:?}: {} rows in {} versions, replay at {:?}",
            rows.len(),
            log.len(),
            replay_position(&log)
        );
        before = rows.len();
    }
    assert!(
        before < n as usize,
        "the kills came too late to interrupt anything"
    );

    let run = run_bin(&s.cwd, &s.env, RUN, Duration::from_secs(120));
    assert_eq!(run.code(), Some(0), "{run}");
    assert!(run.stdout.contains("all stages finished"), "{run}");
    let (log, rows) = check_table(&s.lake);
    let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(twice.is_empty(), "written twice, e.g. {twice:?}");
    let got: BTreeSet<String> = counts.keys().cloned().collect();
    let lost: Vec<_> = all.difference(&got).take(5).collect();
    assert!(lost.is_empty(), "lost, e.g. {lost:?}");
    assert_eq!(rows.len(), n as usize);
    for r in &rows {
        assert_eq!(r.text, format!("bulk tweet {} #Bulk", r.id_str));
        assert_eq!(r.hashtags, ["Bulk"]);
    }
    assert_eq!(replay_position(&log), Some(n as i64 - 1));
    let left = unreferenced_files(&s.lake.join("bronze"), &log);
    assert!(
        left.iter().all(|f| left_by_kills.contains(f)),
        "the completed run left uncommitted files: {left:?}"
    );
}

#[test]
fn a_completed_replay_run_again_adds_nothing() {
    let n = 3000u64;
    let s = setup(tweets_file(BASE + 100_000, n), 0);
    let first = run_bin(&s.cwd, &s.env, RUN, Duration::from_secs(60));
    assert_eq!(first.code(), Some(0), "{first}");
    let (log1, rows1) = check_table(&s.lake);
    assert_eq!(rows1.len(), n as usize);
    assert_eq!(replay_position(&log1), Some(n as i64 - 1));

    let again = run_bin(&s.cwd, &s.env, RUN, Duration::from_secs(60));
    assert_eq!(again.code(), Some(0), "{again}");
    assert!(again.stdout.contains("all stages finished"), "{again}");
    let (log2, rows2) = check_table(&s.lake);
    assert_eq!(rows2.len(), n as usize, "the second run added rows");
    assert!(
        log2[log1.len()..].iter().all(|c| c.adds.is_empty()),
        "the second run added files"
    );
    let ids = |rows: &[ssp_tui::lake::BronzeRow]| -> BTreeSet<String> {
        rows.iter().map(|r| r.id_str.clone()).collect()
    };
    assert_eq!(ids(&rows1), ids(&rows2));
}

#[test]
fn synthetic_source_started_twice_never_repeats_an_id() {
    let n = 2000u64;
    let mut s = setup(|_| None, 0);
    s.env.push(("SSP__SOURCE__LIMIT", n.to_string()));
    let first = run_bin(&s.cwd, &s.env, RUN, Duration::from_secs(60));
    assert_eq!(first.code(), Some(0), "{first}");
    let (_, rows) = check_table(&s.lake);
    assert_eq!(rows.len(), n as usize);
    assert_eq!(
        id_counts(rows.iter().map(|r| r.id_str.as_str())).len(),
        n as usize
    );

    let second = run_bin(&s.cwd, &s.env, RUN, Duration::from_secs(60));
    assert_eq!(second.code(), Some(0), "{second}");
    let (_, rows) = check_table(&s.lake);
    let counts = id_counts(rows.iter().map(|r| r.id_str.as_str()));
    assert_eq!(rows.len(), 2 * n as usize);
    assert_eq!(counts.len(), 2 * n as usize, "the second run repeated ids");
}
